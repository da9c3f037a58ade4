//! `blackhole_recovers`: a 2 s blackhole (both directions) in the middle of a transfer;
//! the connection survives, delivery resumes within 1 s of the link coming back, and
//! nothing is lost.

mod common;

use common::*;
use netchan_tests::link::LinkConfig;
use netchan_tests::sim::{Control, seeds};
use netchan_tests::workload::Stream;
use netchan_transport::{CongestionControl, Event, TransportConfig};
use std::time::Duration;

fn run(seed: u64, cc: CongestionControl) {
    let start = Duration::from_secs(3);
    let end = Duration::from_secs(5);
    let link = LinkConfig {
        rate_bps: Some(20_000_000),
        queue_packets: 100,
        ..LinkConfig::ideal(Duration::from_millis(20))
    };
    let cfg = TransportConfig::default().congestion(cc);
    let (mut sim, c, s) = connected_pair(seed, cfg.clone(), cfg, link.clone());
    // Blackhole both directions from t=3 s to t=5 s after the epoch.
    let holed = LinkConfig { blackholes: vec![(start, end)], ..link };
    sim.link(CLIENT, SERVER).unwrap().set_config(holed.clone());
    sim.link(SERVER, CLIENT).unwrap().set_config(holed);
    let ch = sim.nodes[CLIENT].endpoint.connection(c).unwrap().open_channel(b"bulk").unwrap();
    let total = 8_000;
    let mut stream = Stream::new(seed, total, 100, 2000);
    let mut rx = None;
    let mut last_before = Duration::ZERO;
    let mut first_after = None;
    sim.run(10_000_000, Duration::from_secs(120), |sim| {
        for (_, e) in sim.events(SERVER).into_iter().chain(sim.events(CLIENT)) {
            match e {
                Event::ChannelOpened { channel, .. } => rx = Some(channel),
                Event::Closed(why) => panic!("connection closed: {why}"),
                _ => {}
            }
        }
        // A steady stream: at most 50 messages per millisecond of virtual time.
        let budget = (sim.elapsed().as_millis() as u64 * 5).saturating_sub(stream.sent);
        let conn = sim.nodes[CLIENT].endpoint.connection(c).unwrap();
        stream.pump(conn, ch, budget).unwrap();
        if let Some(r) = rx {
            let conn = sim.nodes[SERVER].endpoint.connection(s).unwrap();
            let n = stream.drain(conn, r).unwrap();
            let t = sim.elapsed();
            if n > 0 && t < start {
                last_before = t;
            }
            if n > 0 && t >= end && first_after.is_none() {
                first_after = Some(t);
            }
        }
        if stream.all_received() { Control::Done } else { Control::Continue }
    })
    .unwrap();
    let first_after = first_after.expect("delivery after the blackhole");
    let resumed = first_after - end;
    eprintln!(
        "seed {seed} {cc:?}: last delivery before the hole at {last_before:?}, first after at \
         {first_after:?} ({resumed:?} after the link came back); all {total} messages delivered"
    );
    assert!(last_before > start - Duration::from_millis(100), "the transfer was running");
    assert!(resumed <= Duration::from_secs(1), "delivery resumed {resumed:?} after the hole");
    assert_eq!(stream.received, total);
    assert!(sim.nodes[CLIENT].endpoint.connection(c).unwrap().is_established());
}

#[test]
fn blackhole_recovers() {
    for seed in seeds(&[1, 2]) {
        run(seed, CongestionControl::Cubic);
        run(seed, CongestionControl::NewReno);
    }
}
