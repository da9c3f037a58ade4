use super::*;
use crate::recovery::{RateSample, RttEstimator};

const MDS: u16 = 1200;

/// A fluid model of one bottleneck: `bw` bytes/s, `rtt` base RTT, random loss of
/// `loss_every`-th round trip's share. Drives the controller with one ACK event per
/// ~packet-train and returns it.
struct Model {
    bbr: Bbr,
    now: Instant,
    rtt: RttEstimator,
    delivered: u64,
}

impl Model {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            bbr: Bbr::new(MDS, now),
            now,
            rtt: RttEstimator::new(Duration::from_millis(100)),
            delivered: 0,
        }
    }

    /// One round trip at the bottleneck `bw`: delivers `min(cwnd, bdp)` bytes (plus a
    /// queueing-delay share when the window exceeds the bdp), `lost` of them lost.
    fn round(&mut self, bw: f64, base: Duration, lost: u64, app_limited: bool) {
        let cwnd = self.bbr.window();
        let bdp = (bw * base.as_secs_f64()) as u64;
        let queue = cwnd.saturating_sub(bdp);
        let rtt = base + Duration::from_secs_f64(queue as f64 / bw);
        let sent =
            cwnd.min(self.bbr.pacing_rate.max(1.0) as u64 * rtt.as_millis() as u64 / 1000 + 1);
        let sent = sent.max(u64::from(MDS));
        let delivered = sent.saturating_sub(lost);
        let prior_delivered = self.delivered;
        self.now += rtt;
        self.delivered += delivered;
        self.rtt.update(rtt, Duration::ZERO);
        self.bbr
            .on_ack(self.now, self.now - rtt, delivered, app_limited, &self.rtt);
        if lost > 0 {
            self.bbr
                .on_congestion_event(self.now, self.now - rtt, false, lost);
        }
        let rate = RateSample {
            delivery_rate: delivered as f64 / rtt.as_secs_f64(),
            is_app_limited: app_limited,
            delivered,
            prior_delivered,
            prior_in_flight: sent,
            lost,
            interval: rtt,
        };
        let e = AckEvent {
            now: self.now,
            acked_bytes: delivered,
            bytes_in_flight: sent.min(bdp),
            delivered: self.delivered,
            rate: Some(rate),
            rtt_sample: Some(rtt),
            rtt: &self.rtt,
        };
        self.bbr.on_ack_event(&e);
    }
}

#[test]
fn startup_finds_the_bottleneck_and_leaves_startup() {
    let mut m = Model::new();
    let bw = 50e6 / 8.0;
    let base = Duration::from_millis(40);
    for _ in 0..40 {
        m.round(bw, base, 0, false);
    }
    assert_ne!(m.bbr.state(), BbrState::Startup);
    let est = m.bbr.bandwidth_estimate().unwrap();
    assert!(est > 0.8 * bw && est < 1.3 * bw, "estimate {est} vs {bw}");
    let bdp = bw * base.as_secs_f64();
    assert!(
        (m.bbr.window() as f64) < 2.6 * bdp,
        "window {} bdp {bdp}",
        m.bbr.window()
    );
}

#[test]
fn random_loss_below_the_threshold_keeps_the_rate() {
    let mut m = Model::new();
    let bw = 50e6 / 8.0;
    let base = Duration::from_millis(40);
    for _ in 0..30 {
        m.round(bw, base, 0, false);
    }
    let before = m.bbr.bandwidth_estimate().unwrap();
    for i in 0..200 {
        let cwnd = m.bbr.window();
        // 1% of what is sent, every round.
        let lost = if i % 2 == 0 { cwnd / 100 } else { 0 };
        m.round(bw, base, lost, false);
    }
    let after = m.bbr.bandwidth_estimate().unwrap();
    assert!(
        after > 0.8 * before,
        "estimate fell from {before} to {after}"
    );
}

#[test]
fn app_limited_samples_do_not_lower_the_estimate() {
    let mut m = Model::new();
    let bw = 20e6 / 8.0;
    let base = Duration::from_millis(20);
    for _ in 0..30 {
        m.round(bw, base, 0, false);
    }
    let before = m.bbr.bandwidth_estimate().unwrap();
    let mut low = Model::new();
    std::mem::swap(&mut low.bbr, &mut m.bbr);
    for _ in 0..30 {
        // The application sends a trickle: samples are 1/10 of the path's rate.
        low.round(bw / 10.0, base, 0, true);
    }
    let after = low.bbr.bandwidth_estimate().unwrap();
    assert!(
        after >= before * 0.99,
        "estimate fell from {before} to {after}"
    );
}

#[test]
fn persistent_congestion_collapses_the_window() {
    let mut m = Model::new();
    for _ in 0..20 {
        m.round(10e6, Duration::from_millis(10), 0, false);
    }
    m.bbr.on_congestion_event(m.now, m.now, true, 10_000);
    assert_eq!(m.bbr.window(), MIN_CWND_PACKETS * u64::from(MDS));
}

#[test]
fn pacing_rate_tracks_the_estimate() {
    let mut m = Model::new();
    let bw = 10e6 / 8.0;
    for _ in 0..60 {
        m.round(bw, Duration::from_millis(30), 0, false);
    }
    let rate = m.bbr.pacing_rate().unwrap();
    assert!(rate > 0.8 * bw && rate < 1.4 * bw, "pacing {rate} vs {bw}");
}

#[test]
fn demand_after_an_application_limited_spell_restarts_startup() {
    let mut m = Model::new();
    let bw = 20e6 / 8.0;
    let base = Duration::from_millis(40);
    // A trickle (1/20 of the path) from the start, then a blackhole's losses end
    // Startup: the model now believes in the trickle's rate.
    for _ in 0..20 {
        m.round(bw / 20.0, base, 0, true);
    }
    for _ in 0..3 {
        let cwnd = m.bbr.window();
        m.round(bw / 20.0, base, cwnd * 9 / 10, true);
    }
    assert_ne!(m.bbr.state(), BbrState::Startup);
    let low = m.bbr.bandwidth_estimate().unwrap();
    assert!(low < 0.2 * bw, "estimate {low} after the trickle");
    // Then a backlog: the sender fills its window every round.
    let mut rounds = 0;
    while m.bbr.bandwidth_estimate().unwrap() < 0.8 * bw {
        m.round(bw, base, 0, false);
        rounds += 1;
        assert!(
            rounds <= 15,
            "estimate {} after {rounds} rounds",
            m.bbr.bandwidth_estimate().unwrap()
        );
    }
}

#[test]
fn a_paused_bulk_flow_keeps_its_measured_estimate() {
    let mut m = Model::new();
    let bw = 20e6 / 8.0;
    let base = Duration::from_millis(40);
    for _ in 0..30 {
        m.round(bw, base, 0, false);
    }
    let before = m.bbr.bandwidth_estimate().unwrap();
    // A pause of ten round trips with a trickle, then the bulk resumes.
    for _ in 0..10 {
        m.round(bw / 10.0, base, 0, true);
    }
    m.round(bw, base, 0, false);
    assert_ne!(
        m.bbr.state(),
        BbrState::Startup,
        "no restart for a measured estimate"
    );
    assert!(m.bbr.bandwidth_estimate().unwrap() >= 0.99 * before);
}

#[test]
fn the_window_starts_at_least_at_the_minimum() {
    // 14720 bytes are fewer than four 9000-byte datagrams: start at the minimum, not below.
    let now = Instant::now();
    let bbr = Bbr::new(9000, now);
    assert_eq!(bbr.minimum_window(), 36_000);
    assert_eq!(bbr.window(), 36_000);
    assert_eq!(
        Bbr::new(MDS, now).window(),
        12_000,
        "ten 1200-byte datagrams"
    );
}
