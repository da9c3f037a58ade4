//! CUBIC (RFC 9438).

use super::{Controller, in_recovery, initial_window, minimum_window};
use crate::recovery::RttEstimator;
use std::time::{Duration, Instant};

/// CUBIC scaling constant C (segments / s³).
const C: f64 = 0.4;
/// Multiplicative decrease factor β.
const BETA: f64 = 0.7;
/// Reno-friendly additive increase factor α = 3(1−β)/(1+β) (RFC 9438 §4.3).
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC state.
///
/// Window arithmetic is in segments of `mds` bytes and seconds, as in RFC 9438; the
/// window itself is kept in (fractional) bytes.
///
/// * Slow start, recovery, app-limited and persistent-congestion handling are the same
///   as [`NewReno`](super::NewReno).
/// * A congestion event sets `W_max` (with fast convergence), `cwnd = ssthresh =
///   max(β·cwnd, 2·mds)` and ends the current congestion-avoidance epoch.
/// * The epoch starts at the first ack in congestion avoidance: `t_epoch = now`,
///   `cwnd_epoch = cwnd`, `K = cbrt((W_max − cwnd_epoch)/C)` (0 and `W_max = cwnd` if the
///   window is already above `W_max`), `W_est = cwnd_epoch`.
/// * Each ack of `n` segments: `target = clamp(W_cubic(t + srtt), cwnd, 1.5·cwnd)`;
///   `W_est += α·n/cwnd` (α becomes 1 once `W_est ≥ cwnd_prior`); if
///   `W_cubic(t) < W_est` the window follows `W_est` (Reno-friendly region), else it grows
///   by `(target − cwnd)·n/cwnd`.
/// * Time spent application-limited (between an ack and a following app-limited ack) is
///   removed from `t`, so an idle sender does not accumulate a jump in the cubic curve.
#[derive(Debug, Clone)]
pub struct Cubic {
    /// Maximum datagram size in bytes.
    mds: u64,
    /// Congestion window in bytes (never below the minimum window).
    cwnd: f64,
    /// Slow-start threshold in bytes (`u64::MAX` until the first congestion event).
    ssthresh: u64,
    /// Start of the current recovery period, if any.
    recovery_start: Option<Instant>,
    /// Window before the last reduction, after fast convergence (segments).
    w_max: f64,
    /// Window at the last congestion event (segments).
    cwnd_prior: f64,
    /// Time for the cubic curve to reach `w_max` from the epoch start (seconds).
    k: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// Time spent app-limited since the epoch start, removed from the curve's clock.
    frozen: Duration,
    /// Reno-friendly window estimate (segments).
    w_est: f64,
    /// Time of the last ack (for app-limited accounting).
    last_ack: Option<Instant>,
    /// State before the last reduction, for undoing a spurious one.
    prior: Option<CubicPrior>,
}

/// What a congestion event changed, to restore it when the event was spurious.
#[derive(Debug, Clone, Copy)]
struct CubicPrior {
    cwnd: f64,
    ssthresh: u64,
    w_max: f64,
    cwnd_prior: f64,
}

impl Cubic {
    /// A controller at the initial window, in slow start.
    pub fn new(max_datagram_size: u16, now: Instant) -> Self {
        let _ = now;
        let mds = u64::from(max_datagram_size).max(1);
        Self {
            mds,
            cwnd: initial_window(mds) as f64,
            ssthresh: u64::MAX,
            recovery_start: None,
            w_max: 0.0,
            cwnd_prior: 0.0,
            k: 0.0,
            epoch_start: None,
            frozen: Duration::ZERO,
            w_est: 0.0,
            last_ack: None,
            prior: None,
        }
    }

    /// Slow-start threshold (`u64::MAX` before the first congestion event).
    pub fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    /// Whether a packet sent at `sent` belongs to the current recovery period.
    pub fn in_recovery(&self, sent: Instant) -> bool {
        in_recovery(self.recovery_start, sent)
    }

    /// `W_max` in segments (0 before the first congestion event).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// `K` in seconds for the current epoch (0 when no epoch has started).
    pub fn k(&self) -> f64 {
        self.k
    }

    /// `W_cubic(t) = C·(t − K)³ + W_max`, in segments, `t` in seconds since the epoch.
    pub fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    /// Starts a congestion-avoidance epoch at `now` with the current window.
    fn start_epoch(&mut self, now: Instant) -> Instant {
        let cwnd_epoch = self.cwnd / self.mds as f64;
        if self.w_max <= cwnd_epoch {
            // No reduction to recover from (or the window already passed W_max): the
            // curve starts at its plateau (RFC 9438 §4.10).
            self.k = 0.0;
            self.w_max = cwnd_epoch;
        } else {
            self.k = ((self.w_max - cwnd_epoch) / C).cbrt();
        }
        self.w_est = cwnd_epoch;
        self.frozen = Duration::ZERO;
        self.epoch_start = Some(now);
        now
    }

    /// Congestion-avoidance growth for `bytes` acknowledged at `now`.
    fn congestion_avoidance(&mut self, now: Instant, bytes: u64, rtt: &RttEstimator) {
        let epoch = match self.epoch_start {
            Some(epoch) => epoch,
            None => self.start_epoch(now),
        };
        let mds = self.mds as f64;
        let cwnd = self.cwnd / mds;
        let acked = bytes as f64 / mds;
        let t = now
            .saturating_duration_since(epoch)
            .saturating_sub(self.frozen)
            .as_secs_f64();
        let srtt = rtt.smoothed().as_secs_f64();
        // max-then-min rather than clamp: never panics, and NaN-free inputs give the
        // same result.
        let target = self.w_cubic(t + srtt).max(cwnd).min(1.5 * cwnd);
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        self.w_est += alpha * acked / cwnd;
        let next = if self.w_cubic(t) < self.w_est {
            self.w_est.max(cwnd)
        } else {
            cwnd + (target - cwnd) * acked / cwnd
        };
        if next.is_finite() {
            self.cwnd = (next * mds).max(self.minimum_window() as f64);
        }
    }
}

impl Controller for Cubic {
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        let previous_ack = self.last_ack.replace(now);
        if self.in_recovery(sent) {
            return;
        }
        if app_limited {
            if let (Some(_), Some(previous)) = (self.epoch_start, previous_ack) {
                self.frozen = self
                    .frozen
                    .saturating_add(now.saturating_duration_since(previous));
            }
            return;
        }
        if self.cwnd < self.ssthresh as f64 {
            self.cwnd += bytes as f64;
        } else {
            self.congestion_avoidance(now, bytes, rtt);
        }
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        persistent: bool,
        lost_bytes: u64,
    ) {
        let _ = lost_bytes;
        if !self.in_recovery(sent) {
            self.recovery_start = Some(now);
            self.prior = Some(CubicPrior {
                cwnd: self.cwnd,
                ssthresh: self.ssthresh,
                w_max: self.w_max,
                cwnd_prior: self.cwnd_prior,
            });
            let cwnd = self.cwnd / self.mds as f64;
            // Fast convergence (RFC 9438 §4.7): release bandwidth to newer flows when the
            // window did not reach the previous maximum.
            self.w_max = if cwnd < self.w_max {
                cwnd * (1.0 + BETA) / 2.0
            } else {
                cwnd
            };
            self.cwnd_prior = cwnd;
            let reduced = (self.cwnd * BETA).max(self.minimum_window() as f64);
            // `reduced` is finite and at least the minimum window; `as` saturates.
            self.ssthresh = reduced as u64;
            self.cwnd = reduced;
            self.epoch_start = None;
        }
        if persistent {
            self.cwnd = self.minimum_window() as f64;
            self.recovery_start = Some(now);
            self.epoch_start = None;
            self.prior = None;
        }
    }

    fn on_spurious_congestion(&mut self, now: Instant) {
        let _ = now;
        if let Some(p) = self.prior.take() {
            self.cwnd = self.cwnd.max(p.cwnd);
            self.ssthresh = p.ssthresh;
            self.w_max = p.w_max;
            self.cwnd_prior = p.cwnd_prior;
            self.recovery_start = None;
            self.epoch_start = None;
        }
    }

    fn minimum_window(&self) -> u64 {
        minimum_window(self.mds)
    }

    fn window(&self) -> u64 {
        // Finite and positive; rounding hides float noise such as 0.7 · 84000 = 58799.99….
        self.cwnd.round() as u64
    }

    fn name(&self) -> &'static str {
        "cubic"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MDS: u64 = 1200;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn rtt_of(d: Duration) -> RttEstimator {
        let mut r = RttEstimator::new(d);
        r.update(d, Duration::ZERO);
        r
    }

    /// Acks `bytes` in datagram-sized acks, all sent at `sent`.
    fn ack_bytes(
        cc: &mut Cubic,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        let mut left = bytes;
        while left > 0 {
            let b = left.min(MDS);
            cc.on_ack(now, sent, b, app_limited, rtt);
            left -= b;
        }
    }

    /// Grows a fresh controller to `segments` full datagrams by slow start.
    fn grown_to(segments: u64, t0: Instant) -> Cubic {
        let mut cc = Cubic::new(1200, t0);
        let rtt = rtt_of(ms(100));
        let missing = segments * MDS - cc.window();
        ack_bytes(&mut cc, t0, t0, missing, false, &rtt);
        assert_eq!(cc.window(), segments * MDS);
        cc
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let t0 = Instant::now();
        let mut cc = Cubic::new(1200, t0);
        let rtt = rtt_of(ms(100));
        assert_eq!(cc.window(), 12_000);
        for round in 1..=5u64 {
            let now = t0 + ms(100 * round);
            let w = cc.window();
            ack_bytes(&mut cc, now, now - ms(100), w, false, &rtt);
            assert_eq!(cc.window(), 12_000 << round);
        }
    }

    #[test]
    fn loss_reduces_to_seventy_percent_once_per_recovery_period() {
        let t0 = Instant::now();
        let mut cc = grown_to(100, t0);
        let t_loss = t0 + ms(500);
        cc.on_congestion_event(t_loss, t0 + ms(400), false, 1200);
        assert_eq!(cc.window(), 84_000); // 0.7 · W_max
        assert_eq!(cc.ssthresh(), 84_000);
        assert!((cc.w_max() - 100.0).abs() < 1e-9);
        cc.on_congestion_event(t0 + ms(510), t0 + ms(450), false, 1200);
        cc.on_congestion_event(t0 + ms(520), t0 + ms(499), false, 1200);
        assert_eq!(cc.window(), 84_000);
        // Acks of packets sent before the recovery started do not grow the window.
        let rtt = rtt_of(ms(100));
        ack_bytes(&mut cc, t0 + ms(530), t0 + ms(450), 84_000, false, &rtt);
        assert_eq!(cc.window(), 84_000);
        // A loss of a packet sent during recovery is a new event; fast convergence
        // lowers W_max since the window did not get back to it.
        cc.on_congestion_event(t0 + ms(600), t_loss, false, 1200);
        assert_eq!(cc.window(), 58_800);
        assert!((cc.w_max() - 70.0 * 1.7 / 2.0).abs() < 1e-9);
    }

    #[test]
    fn app_limited_acks_do_not_grow() {
        let t0 = Instant::now();
        let mut cc = Cubic::new(1200, t0);
        let rtt = rtt_of(ms(100));
        ack_bytes(&mut cc, t0 + ms(100), t0, 120_000, true, &rtt);
        assert_eq!(cc.window(), 12_000);
        let mut cc = grown_to(100, t0);
        cc.on_congestion_event(t0 + ms(100), t0 + ms(50), false, 1200);
        for i in 2..50u64 {
            ack_bytes(
                &mut cc,
                t0 + ms(100 * i),
                t0 + ms(100 * i - 100),
                84_000,
                true,
                &rtt,
            );
        }
        assert_eq!(cc.window(), 84_000);
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum_window() {
        let t0 = Instant::now();
        let mut cc = grown_to(100, t0);
        cc.on_congestion_event(t0 + ms(900), t0 + ms(500), true, 30_000);
        assert_eq!(cc.window(), 2400);
        assert_eq!(cc.ssthresh(), 84_000);
        // Acks of packets sent before the collapse do not grow the window; later ones
        // slow-start again up to ssthresh.
        let rtt = rtt_of(ms(100));
        ack_bytes(&mut cc, t0 + ms(1000), t0 + ms(850), 2400, false, &rtt);
        assert_eq!(cc.window(), 2400);
        ack_bytes(&mut cc, t0 + ms(1000), t0 + ms(950), 2400, false, &rtt);
        assert_eq!(cc.window(), 4800);
        // In recovery already: persistent congestion still collapses the window.
        let mut cc = grown_to(100, t0);
        cc.on_congestion_event(t0 + ms(100), t0 + ms(50), false, 1200);
        cc.on_congestion_event(t0 + ms(200), t0 + ms(60), true, 1200);
        assert_eq!(cc.window(), 2400);
        for i in 1..=10u64 {
            cc.on_congestion_event(t0 + ms(300 * i), t0 + ms(300 * i - 1), false, 1200);
            assert_eq!(cc.window(), 2400);
        }
    }

    /// Window (segments) after each RTT of full-window acks following a loss at
    /// `w_max` segments; index `i` is `i` RTTs after the first congestion-avoidance ack.
    fn curve_after_loss(w_max: u64, rtt: Duration, rounds: u64) -> (Cubic, Vec<f64>) {
        let t0 = Instant::now();
        let mut cc = grown_to(w_max, t0);
        let estimator = rtt_of(rtt);
        let t_loss = t0 + rtt;
        cc.on_congestion_event(t_loss, t0, false, 1200);
        let mut curve = Vec::new();
        for i in 1..=rounds {
            let now = t_loss + rtt * u32::try_from(i).expect("small");
            let w = cc.window();
            ack_bytes(&mut cc, now, now - rtt, w, false, &estimator);
            curve.push(cc.window() as f64 / MDS as f64);
        }
        (cc, curve)
    }

    #[test]
    fn window_curve_is_concave_then_convex_around_k() {
        // W_max = 1000 segments, RTT 100 ms: K = cbrt(1000 · 0.3 / 0.4) ≈ 9.09 s, and the
        // Reno-friendly estimate (≈ 700 + 0.53 per RTT) stays far below the cubic curve.
        let rtt = ms(100);
        let (cc, curve) = curve_after_loss(1000, rtt, 130);
        let k = (1000.0f64 * (1.0 - BETA) / C).cbrt();
        assert!((cc.k() - k).abs() < 1e-9, "K = {}", cc.k());
        assert!((cc.w_max() - 1000.0).abs() < 1e-9);
        // The epoch starts with the first ack, one RTT after the loss: sample `i` is
        // taken at t = i·rtt since the epoch.
        let t_of = |i: usize| i as f64 * rtt.as_secs_f64();
        let k_index = (k / rtt.as_secs_f64()).round() as usize;
        // Near t = K the window is back at (about) W_max...
        let at_k = curve[k_index];
        assert!((at_k - 1000.0).abs() < 3.0, "cwnd at K: {at_k}");
        // ...below it well before K, above it well after.
        for (i, w) in curve.iter().enumerate() {
            if t_of(i) < k - 1.0 {
                assert!(*w < 1000.0, "round {i}: {w}");
            }
            if t_of(i) > k + 1.0 {
                assert!(*w > 1000.0, "round {i}: {w}");
            }
        }
        assert!(curve.windows(2).all(|p| p[1] >= p[0]));
        let inc: Vec<f64> = curve.windows(2).map(|p| p[1] - p[0]).collect();
        // Concave: per-RTT increments shrink up to K (minus a margin)...
        let concave_end = k_index - 5;
        assert!(
            inc[..concave_end].windows(2).all(|p| p[1] <= p[0] + 0.01),
            "{inc:?}"
        );
        assert!(inc[0] > 10.0 * inc[concave_end], "{inc:?}");
        // ...then convex: they grow after K (plus a margin).
        let convex_start = k_index + 5;
        assert!(
            inc[convex_start..].windows(2).all(|p| p[1] >= p[0] - 0.01),
            "{inc:?}"
        );
        assert!(
            *inc.last().expect("non-empty") > 10.0 * inc[convex_start],
            "{inc:?}"
        );
        // The window follows the cubic curve on both sides of K: the target looks one RTT
        // ahead, so the window lies between W_cubic(t) and W_cubic(t + RTT).
        for (i, w) in curve.iter().enumerate() {
            let low = cc.w_cubic(t_of(i));
            let high = cc.w_cubic(t_of(i) + rtt.as_secs_f64());
            assert!(
                *w >= low - 0.5 && *w <= high + 0.5,
                "round {i}: {w} not in [{low}, {high}]"
            );
        }
    }

    #[test]
    fn growth_is_capped_at_one_and_a_half_per_rtt() {
        // Long RTT: W_cubic(t + RTT) runs far ahead of the window; the target clamp limits
        // growth to ×1.5 per RTT of acks.
        let (_, curve) = curve_after_loss(20, Duration::from_secs(10), 6);
        for pair in curve.windows(2) {
            // Per-ack clamping against the growing window: ×1.5 up to rounding of bytes.
            assert!(pair[1] <= pair[0] * 1.5 + 0.01, "{pair:?}");
        }
        assert!(curve[5] > curve[0] * 4.0, "{curve:?}");
    }

    #[test]
    fn reno_friendly_region_on_short_rtt_small_window() {
        // W_max = 10 segments, RTT 10 ms: K ≈ 1.96 s, while Reno adds α ≈ 0.53 segment per
        // RTT until W_est reaches cwnd_prior (10), then one segment per RTT.
        let (cc, curve) = curve_after_loss(10, ms(10), 20);
        let cubic_at_20 = cc.w_cubic(0.2);
        assert!(cubic_at_20 < 8.0);
        // ≈ 3/0.53 ≈ 5.7 RTTs to regain 10 segments, then ~14 more.
        assert!(curve[19] > 22.0 && curve[19] < 26.0, "{curve:?}");
    }
}
