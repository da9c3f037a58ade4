//! `goodput_interop_link`: on a 10 Mbit/s, 15 ms one-way, 25-packet-queue link (the QUIC
//! interop runner's default), a 10 MB transfer in virtual time reaches ≥ 90% of the link
//! rate with CUBIC and with NewReno. The same run with 2% random loss completes and
//! prints its goodput per controller.

mod common;

use common::*;
use netchan_tests::link::LinkConfig;
use netchan_tests::sim::Control;
use netchan_tests::workload::Stream;
use netchan_transport::{CongestionControl, Event, TransportConfig};
use std::time::Duration;

const RATE: u64 = 10_000_000;

fn interop_link(loss: f64) -> LinkConfig {
    LinkConfig {
        rate_bps: Some(RATE),
        queue_packets: 25,
        loss,
        ..LinkConfig::ideal(Duration::from_millis(15))
    }
}

/// Returns goodput as a fraction of the link rate.
fn transfer(cc: CongestionControl, loss: f64, seed: u64) -> f64 {
    let cfg = TransportConfig::default().congestion(cc);
    let mut sim = netchan_tests::sim::Sim::new(seed);
    let cn = sim.add_node(endpoint(seed * 2 + 1, cfg.clone()));
    let sn = sim.add_node(endpoint(seed * 2 + 2, cfg));
    sim.set_links(cn, sn, interop_link(loss));
    let start = sim.elapsed();
    let c = sim.connect(cn, sn);
    let ch = sim.nodes[cn].endpoint.connection(c).unwrap().open_channel(b"bulk").unwrap();
    // 10 MB as 160 messages of 62,500 bytes.
    let mut stream = Stream::new(seed, 160, 62_500, 62_500);
    let mut rx = None;
    sim.run(50_000_000, Duration::from_secs(600), |sim| {
        for (h, e) in sim.events(sn) {
            match e {
                Event::ChannelOpened { channel, .. } => rx = Some((h, channel)),
                Event::Closed(why) => panic!("server closed: {why}"),
                _ => {}
            }
        }
        sim.events(cn);
        if let Some(conn) = sim.nodes[cn].endpoint.connection(c) {
            stream.pump(conn, ch, u64::MAX).unwrap();
        }
        if let Some((h, r)) = rx {
            let conn = sim.nodes[sn].endpoint.connection(h).unwrap();
            stream.drain(conn, r).unwrap();
        }
        if stream.all_received() { Control::Done } else { Control::Continue }
    })
    .unwrap();
    let secs = (sim.elapsed() - start).as_secs_f64();
    let goodput = stream.bytes_received as f64 * 8.0 / secs;
    let stats = sim.nodes[cn].endpoint.connection(c).unwrap().stats();
    let link = sim.link(cn, sn).unwrap().stats().clone();
    eprintln!(
        "{cc:?} loss {:.0}%: {} bytes in {secs:.2} s virtual = {:.2} Mbit/s goodput = {:.1}% of \
         the link; packets sent {}, lost {}, queue drops {}, random drops {}",
        loss * 100.0,
        stream.bytes_received,
        goodput / 1e6,
        goodput / RATE as f64 * 100.0,
        stats.packets_sent,
        stats.recovery.packets_lost,
        link.dropped_queue,
        link.lost_random,
    );
    goodput / RATE as f64
}

#[test]
fn goodput_interop_link() {
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        let fraction = transfer(cc, 0.0, 1);
        assert!(fraction >= 0.90, "{cc:?} reached only {:.1}% of the link rate", fraction * 100.0);
    }
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        let fraction = transfer(cc, 0.02, 1);
        assert!(fraction > 0.0);
    }
}
