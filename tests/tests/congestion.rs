//! Loss-tolerant congestion control in the deterministic kit.
//!
//! `bbr_lossy_goodput`: a 50 Mbit/s, 20 ms one-way bottleneck (one-BDP queue) with 0%, 1%
//! and 3% random loss: BBR reaches ≥ 95%, ≥ 85% and ≥ 70% of the link; CUBIC's and
//! NewReno's figures are printed beside it.

use netchan_tests::link::LinkConfig;
use netchan_tests::scenarios::bulk_transfer;
use netchan_transport::CongestionControl;
use std::time::Duration;

const RATE: u64 = 50_000_000;

fn lossy_link(loss: f64) -> LinkConfig {
    LinkConfig {
        rate_bps: Some(RATE),
        // One bandwidth-delay product at 40 ms RTT, in 1200-byte datagrams.
        queue_packets: 210,
        loss,
        ..LinkConfig::ideal(Duration::from_millis(20))
    }
}

fn goodput(cc: CongestionControl, loss: f64, bytes: u64) -> f64 {
    let r = bulk_transfer(cc, lossy_link(loss), bytes, 7).expect("transfer completes");
    assert_eq!(r.bytes, bytes);
    let fraction = r.goodput_bps / RATE as f64;
    eprintln!(
        "{:>8} loss {:>3.0}%: {:6.2} Mbit/s = {:5.1}% of the link ({:.2} s, {} packets, {} \
         declared lost)",
        cc.name(),
        loss * 100.0,
        r.goodput_bps / 1e6,
        fraction * 100.0,
        r.elapsed.as_secs_f64(),
        r.packets_sent,
        r.packets_lost,
    );
    fraction
}

#[test]
fn bbr_lossy_goodput() {
    let mut missed = Vec::new();
    for (loss, target) in [(0.0, 0.95), (0.01, 0.85), (0.03, 0.70)] {
        let bbr = goodput(CongestionControl::Bbr, loss, 100_000_000);
        for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
            goodput(cc, loss, 100_000_000);
        }
        if bbr < target {
            missed.push(format!(
                "{:.0}% loss: {:.1}% < {:.0}%",
                loss * 100.0,
                bbr * 100.0,
                target * 100.0
            ));
        }
    }
    assert!(missed.is_empty(), "BBR missed: {missed:?}");
}
