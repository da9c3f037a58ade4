//! NewReno (RFC 9002 §7).

use super::{Controller, in_recovery, initial_window, minimum_window};
use crate::recovery::RttEstimator;
use std::time::Instant;

/// NewReno state.
///
/// Slow start adds the acknowledged bytes; congestion avoidance adds one datagram per
/// window of acknowledged bytes; a congestion event halves the window (never below the
/// minimum window) once per recovery period; persistent congestion sets the minimum
/// window.
#[derive(Debug, Clone)]
pub struct NewReno {
    /// Maximum datagram size.
    mds: u64,
    /// Congestion window in bytes.
    cwnd: u64,
    /// Slow-start threshold in bytes (`u64::MAX` until the first congestion event).
    ssthresh: u64,
    /// Bytes acknowledged in congestion avoidance not yet turned into window growth.
    bytes_acked: u64,
    /// Start of the current recovery period, if any.
    recovery_start: Option<Instant>,
    /// (window, ssthresh) before the last reduction, for undoing a spurious one.
    prior: Option<(u64, u64)>,
}

impl NewReno {
    /// Loss reduction factor (RFC 9002 kLossReductionFactor).
    pub const LOSS_REDUCTION_FACTOR: f64 = 0.5;

    /// A controller at the initial window, in slow start.
    pub fn new(max_datagram_size: u16, now: Instant) -> Self {
        let _ = now;
        let mds = u64::from(max_datagram_size).max(1);
        Self {
            mds,
            cwnd: initial_window(mds),
            ssthresh: u64::MAX,
            bytes_acked: 0,
            recovery_start: None,
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
}

impl Controller for NewReno {
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        let _ = (now, rtt);
        if app_limited || self.in_recovery(sent) {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(bytes);
        } else {
            self.bytes_acked = self.bytes_acked.saturating_add(bytes);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mds);
            }
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
            self.prior = Some((self.cwnd, self.ssthresh));
            self.ssthresh = (self.cwnd / 2).max(self.minimum_window());
            self.cwnd = self.ssthresh;
            self.bytes_acked = 0;
        }
        if persistent {
            self.cwnd = self.minimum_window();
            self.recovery_start = Some(now);
            self.bytes_acked = 0;
            self.prior = None;
        }
    }

    fn on_spurious_congestion(&mut self, now: Instant) {
        let _ = now;
        if let Some((cwnd, ssthresh)) = self.prior.take() {
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = ssthresh;
            self.recovery_start = None;
        }
    }

    fn minimum_window(&self) -> u64 {
        minimum_window(self.mds)
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn name(&self) -> &'static str {
        "newreno"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MDS: u64 = 1200;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Acks `bytes` in datagram-sized acks, all sent at `sent`.
    fn ack_bytes(cc: &mut NewReno, now: Instant, sent: Instant, bytes: u64, app_limited: bool) {
        let rtt = RttEstimator::new(ms(100));
        let mut left = bytes;
        while left > 0 {
            let b = left.min(MDS);
            cc.on_ack(now, sent, b, app_limited, &rtt);
            left -= b;
        }
    }

    /// One RTT of full-window acks.
    fn ack_window(cc: &mut NewReno, now: Instant, sent: Instant) {
        let w = cc.window();
        ack_bytes(cc, now, sent, w, false);
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let t0 = Instant::now();
        let mut cc = NewReno::new(1200, t0);
        assert_eq!(cc.window(), 12_000);
        assert_eq!(cc.ssthresh(), u64::MAX);
        for round in 1..=5u64 {
            let now = t0 + ms(100 * round);
            ack_window(&mut cc, now, now - ms(100));
            assert_eq!(cc.window(), 12_000 << round);
        }
    }

    #[test]
    fn loss_halves_once_per_recovery_period() {
        let t0 = Instant::now();
        let mut cc = NewReno::new(1200, t0);
        ack_window(&mut cc, t0 + ms(100), t0); // 24000
        ack_window(&mut cc, t0 + ms(200), t0 + ms(100)); // 48000
        assert_eq!(cc.window(), 48_000);

        let t_loss = t0 + ms(300);
        cc.on_congestion_event(t_loss, t0 + ms(250), false, 1200);
        assert_eq!(cc.window(), 24_000);
        assert_eq!(cc.ssthresh(), 24_000);
        // More losses of packets sent before recovery started: no further reduction.
        cc.on_congestion_event(t0 + ms(310), t0 + ms(290), false, 1200);
        cc.on_congestion_event(t0 + ms(320), t0 + ms(299), false, 1200);
        assert_eq!(cc.window(), 24_000);
        // Acks of packets sent before recovery: no growth.
        ack_bytes(&mut cc, t0 + ms(330), t0 + ms(260), 24_000, false);
        assert_eq!(cc.window(), 24_000);
        // A loss of a packet sent at (or after) the recovery start is a new event.
        cc.on_congestion_event(t0 + ms(400), t_loss, false, 1200);
        assert_eq!(cc.window(), 12_000);
        assert_eq!(cc.ssthresh(), 12_000);
    }

    #[test]
    fn congestion_avoidance_adds_one_datagram_per_window() {
        let t0 = Instant::now();
        let mut cc = NewReno::new(1200, t0);
        ack_window(&mut cc, t0 + ms(100), t0); // 24000
        cc.on_congestion_event(t0 + ms(150), t0 + ms(100), false, 1200); // 12000
        assert_eq!(cc.window(), 12_000);
        let mut now = t0 + ms(200);
        for i in 1..=10u64 {
            // One full window of acks of packets sent during recovery exits it and grows
            // the window by exactly one datagram.
            let before = cc.window();
            ack_bytes(&mut cc, now, now - ms(50), before, false);
            assert_eq!(cc.window(), 12_000 + i * MDS);
            now += ms(100);
        }
        // Less than a window of acks: no growth yet (the remainder is kept).
        let before = cc.window();
        ack_bytes(&mut cc, now, now - ms(50), before - MDS, false);
        assert_eq!(cc.window(), before);
        ack_bytes(&mut cc, now, now - ms(50), MDS, false);
        assert_eq!(cc.window(), before + MDS);
    }

    #[test]
    fn app_limited_acks_do_not_grow() {
        let t0 = Instant::now();
        let mut cc = NewReno::new(1200, t0);
        ack_bytes(&mut cc, t0 + ms(100), t0, 120_000, true);
        assert_eq!(cc.window(), 12_000);
        cc.on_congestion_event(t0 + ms(150), t0 + ms(100), false, 1200);
        ack_bytes(&mut cc, t0 + ms(300), t0 + ms(200), 120_000, true);
        assert_eq!(cc.window(), 6000);
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum_window() {
        let t0 = Instant::now();
        let mut cc = NewReno::new(1200, t0);
        ack_window(&mut cc, t0 + ms(100), t0);
        ack_window(&mut cc, t0 + ms(200), t0 + ms(100)); // 48000
        cc.on_congestion_event(t0 + ms(900), t0 + ms(500), true, 30_000);
        assert_eq!(cc.window(), cc.minimum_window());
        assert_eq!(cc.window(), 2400);
        assert_eq!(cc.ssthresh(), 24_000);
        // A new recovery period started: acks of packets sent before the collapse do not
        // grow the window, acks of packets sent after it resume slow start.
        ack_bytes(&mut cc, t0 + ms(1000), t0 + ms(600), 2400, false);
        assert_eq!(cc.window(), 2400);
        ack_bytes(&mut cc, t0 + ms(1000), t0 + ms(900), 2400, false);
        assert_eq!(cc.window(), 4800);
        // Also while already in recovery, persistent congestion collapses the window.
        let mut cc = NewReno::new(1200, t0);
        cc.on_congestion_event(t0 + ms(100), t0 + ms(50), false, 1200);
        assert_eq!(cc.window(), 6000);
        cc.on_congestion_event(t0 + ms(200), t0 + ms(60), true, 1200);
        assert_eq!(cc.window(), 2400);
    }

    #[test]
    fn window_never_below_minimum() {
        let t0 = Instant::now();
        let mut cc = NewReno::new(1200, t0);
        for i in 1..=10u64 {
            cc.on_congestion_event(t0 + ms(100 * i), t0 + ms(100 * i - 1), false, 1200);
            assert!(cc.window() >= 2400);
        }
        assert_eq!(cc.window(), 2400);
    }
}
