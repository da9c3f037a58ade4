//! Basic end-to-end behaviour over an ideal link.

mod common;

use common::*;
use netchan_tests::link::LinkConfig;
use netchan_tests::sim::Control;
use netchan_tests::workload::Stream;
use netchan_transport::{Event, TransportConfig};
use std::time::Duration;

#[test]
fn messages_flow_both_ways_over_an_ideal_link() {
    let link = LinkConfig::ideal(Duration::from_millis(10));
    let (mut sim, c, s) = connected_pair(
        1,
        TransportConfig::default(),
        TransportConfig::default(),
        link,
    );
    let cch = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .unwrap()
        .open_channel(b"up")
        .unwrap();
    let mut up = Stream::new(1, 2000, 8, 3000);
    let mut down = Stream::new(2, 2000, 8, 3000);
    let mut sch = None;
    sim.run(1_000_000, Duration::from_secs(120), |sim| {
        let conn = sim.nodes[CLIENT].endpoint.connection(c).unwrap();
        up.pump(conn, cch, u64::MAX).unwrap();
        down.drain(conn, cch).unwrap();
        for (_, e) in sim.events(SERVER) {
            if let Event::ChannelOpened { channel, label } = e {
                assert_eq!(&label[..], b"up");
                sch = Some(channel);
            }
        }
        if let Some(ch) = sch {
            let conn = sim.nodes[SERVER].endpoint.connection(s).unwrap();
            up.drain(conn, ch).unwrap();
            down.pump(conn, ch, u64::MAX).unwrap();
        }
        sim.events(CLIENT);
        if up.all_received() && down.all_received() {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert_eq!(up.received, 2000);
    assert_eq!(down.received, 2000);
}
