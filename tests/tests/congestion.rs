//! Loss-tolerant congestion control in the deterministic kit.
//!
//! - `bbr_lossy_goodput`: a 50 Mbit/s, 20 ms one-way bottleneck (one-BDP queue) with 0%,
//!   1% and 3% random loss: BBR reaches ≥ 95%, ≥ 85% and ≥ 70% of the link; CUBIC's and
//!   NewReno's figures are printed beside it.
//! - `bbr_low_queue`: no loss, a 100 ms bottleneck buffer: BBR's queueing delay stays
//!   under half the base RTT (CUBIC fills the buffer; both printed).
//! - `two_flows_share`: two connections, 10 and 40 ms RTT, through one 20 Mbit/s
//!   bottleneck for 30 s: Jain's fairness index ≥ 0.9 (BBR with BBR; BBR with CUBIC is
//!   printed).
//! - `app_limited_latency_under_loss`: 1000 msg/s of 64 B, 10 ms one way, 2% loss both
//!   ways: one-way p50 ≤ 11 ms and p99 ≤ 35 ms with the default controller.
//!
//! Print the figures: `cargo test --release -p netchan-tests --test congestion -- --nocapture`.

use netchan_tests::congestion::{paced_messages, shared_bottleneck, standing_queue};
use netchan_tests::link::LinkConfig;
use netchan_tests::scenarios::bulk_transfer;
use netchan_transport::{CongestionControl, TransportConfig};
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

#[test]
fn bbr_low_queue() {
    const RATE: u64 = 20_000_000;
    // 100 ms of buffer at 20 Mbit/s in 1200-byte datagrams; 40 ms base RTT.
    let link = LinkConfig::ideal(Duration::from_millis(20)).with_rate(RATE, 208);
    let mut bbr_p99 = Duration::MAX;
    let mut base = Duration::ZERO;
    for cc in [CongestionControl::Bbr, CongestionControl::Cubic] {
        let r = standing_queue(
            cc,
            link.clone(),
            Duration::from_secs(20),
            Duration::from_secs(2),
            3,
        )
        .expect("transfer runs");
        eprintln!(
            "{:>6}: queueing delay p50 {:?} p99 {:?} max {:?} (base RTT {:?}), goodput {:.2} \
             Mbit/s, srtt {:?}, {} declared lost",
            cc.name(),
            r.quantile(0.5),
            r.quantile(0.99),
            r.quantile(1.0),
            r.base_rtt,
            r.goodput_bps / 1e6,
            r.stats.rtt,
            r.stats.recovery.packets_lost,
        );
        if cc == CongestionControl::Bbr {
            bbr_p99 = r.quantile(0.99);
            base = r.base_rtt;
            assert!(r.goodput_bps >= 0.9 * RATE as f64, "BBR underused the link");
        }
    }
    assert!(
        bbr_p99 < base / 2,
        "BBR's queueing delay p99 {bbr_p99:?} is not under half the base RTT {base:?}"
    );
}

#[test]
fn two_flows_share() {
    let rtts = [Duration::from_millis(5), Duration::from_millis(20)];
    let mut bbr_jain = 0.0;
    for pair in [
        [CongestionControl::Bbr, CongestionControl::Bbr],
        [CongestionControl::Bbr, CongestionControl::Cubic],
        [CongestionControl::Cubic, CongestionControl::Bbr],
    ] {
        let flows = [(pair[0], rtts[0]), (pair[1], rtts[1])];
        // A 50 ms buffer at 20 Mbit/s.
        let r = shared_bottleneck(&flows, 20_000_000, 104, Duration::from_secs(30), 5)
            .expect("flows run");
        let jain = r.jain_index();
        eprintln!(
            "{:>6} (10 ms RTT) {:6.2} Mbit/s + {:>6} (40 ms RTT) {:6.2} Mbit/s: Jain {jain:.3}",
            pair[0].name(),
            r.goodput_bps[0] / 1e6,
            pair[1].name(),
            r.goodput_bps[1] / 1e6,
        );
        if pair == [CongestionControl::Bbr, CongestionControl::Bbr] {
            bbr_jain = jain;
            let total: f64 = r.goodput_bps.iter().sum();
            assert!(
                total >= 0.85 * 20e6,
                "the flows left the link idle: {total}"
            );
        }
    }
    assert!(bbr_jain >= 0.9, "Jain's index {bbr_jain:.3} < 0.9");
}

#[test]
fn app_limited_latency_under_loss() {
    let link = LinkConfig {
        rate_bps: Some(RATE),
        queue_packets: 105,
        loss: 0.02,
        ..LinkConfig::ideal(Duration::from_millis(10))
    };
    let mut default = None;
    for cc in [
        None,
        Some(CongestionControl::Bbr),
        Some(CongestionControl::Cubic),
        Some(CongestionControl::NewReno),
    ] {
        let cfg = match cc {
            Some(cc) => TransportConfig::default().congestion(cc),
            None => TransportConfig::default(),
        };
        let r = paced_messages(cfg, link.clone(), 1000, 64, Duration::from_secs(10), 11)
            .expect("messages arrive");
        let (p50, p99) = (r.quantile(0.5), r.quantile(0.99));
        eprintln!(
            "{:>8}: p50 {p50:?} p90 {:?} p99 {p99:?} max {:?}; {} packets, {} declared lost",
            cc.map_or("default", |c| c.name()),
            r.quantile(0.9),
            r.quantile(1.0),
            r.stats.packets_sent,
            r.stats.recovery.packets_lost,
        );
        assert_eq!(r.latencies.len() as u64, r.sent);
        if cc.is_none() {
            default = Some((p50, p99));
        }
    }
    let (p50, p99) = default.expect("default ran");
    assert!(p50 <= Duration::from_millis(11), "p50 {p50:?} > 11 ms");
    assert!(p99 <= Duration::from_millis(35), "p99 {p99:?} > 35 ms");
}
