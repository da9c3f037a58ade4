//! Messages up to the default maximum (16 MiB) are fragmented and reassembled over a
//! lossy, reordering link with the default (1 MiB) channel window, so the receiver's
//! credit must stretch to cover one whole message; one byte more is refused locally.

mod common;

use common::*;
use netchan_tests::link::LinkConfig;
use netchan_tests::sim::Control;
use netchan_tests::workload::Stream;
use netchan_transport::{Event, SendError, TransportConfig};
use std::time::Duration;

#[test]
fn sixteen_mib_messages_survive_loss_and_reordering() {
    let link = LinkConfig {
        loss: 0.02,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(5),
        rate_bps: Some(200_000_000),
        queue_packets: 500,
        ..LinkConfig::ideal(Duration::from_millis(10))
    };
    let cfg = TransportConfig::default();
    assert_eq!(cfg.max_message_size, 16 << 20);
    let (mut sim, c, s) = connected_pair(5, cfg.clone(), cfg, link);
    let conn = sim.nodes[CLIENT].endpoint.connection(c).unwrap();
    let ch = conn.open_channel(b"big").unwrap();
    assert_eq!(
        conn.send(ch, &vec![0; (16 << 20) + 1]),
        Err(SendError::TooLarge {
            size: (16 << 20) + 1,
            limit: 16 << 20
        })
    );
    let mut stream = Stream::new(5, 3, 16 << 20, 16 << 20);
    let mut rx = None;
    sim.run(10_000_000, Duration::from_secs(600), |sim| {
        for (_, e) in sim.events(SERVER) {
            if let Event::ChannelOpened { channel, .. } = e {
                rx = Some(channel);
            }
        }
        sim.events(CLIENT);
        stream
            .pump(
                sim.nodes[CLIENT].endpoint.connection(c).unwrap(),
                ch,
                u64::MAX,
            )
            .unwrap();
        if let Some(r) = rx {
            stream
                .drain(sim.nodes[SERVER].endpoint.connection(s).unwrap(), r)
                .unwrap();
        }
        if stream.all_received() {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert_eq!(stream.bytes_received, 3 * (16 << 20));
    eprintln!("3 × 16 MiB delivered in {:?} virtual", sim.elapsed());
}
