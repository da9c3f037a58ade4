//! Congestion controllers.
//!
//! Both controllers share RFC 9002's framing:
//! * initial window `min(10·mds, max(14720, 2·mds))`, minimum window `2·mds`;
//! * slow start (`cwnd += acked bytes`) while `cwnd < ssthresh`;
//! * a recovery period starting at the congestion event: acks of packets sent before it
//!   do not grow the window and losses of packets sent before it do not reduce it again;
//! * no growth on acks of packets sent while application-limited;
//! * persistent congestion collapses the window to the minimum and starts a new
//!   recovery period at that instant.
//!
//! Recovery membership is `sent < recovery_start` (RFC 9002's pseudo-code says `<=`).
//! With virtual time, packets sent in reaction to the ACK that started recovery carry
//! the very same instant; they are sent *during* recovery, so their acks end it and
//! their loss is a new congestion event.
//!
//! After persistent congestion RFC 9002 resets the recovery start to 0, so the acks
//! processed with the very ACK that established it (packets sent before the collapse)
//! would immediately grow the minimum window again. We start a new recovery period
//! instead: the window leaves the minimum only with acks of packets sent after it.

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use super::RttEstimator;
use std::time::Instant;

/// Which controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionControl {
    /// RFC 9002 §7 NewReno.
    NewReno,
    /// RFC 9438 CUBIC.
    #[default]
    Cubic,
}

impl CongestionControl {
    /// Builds a fresh controller.
    pub fn build(self, max_datagram_size: u16, now: Instant) -> Box<dyn Controller> {
        match self {
            Self::NewReno => Box::new(NewReno::new(max_datagram_size, now)),
            Self::Cubic => Box::new(Cubic::new(max_datagram_size, now)),
        }
    }
}

/// A congestion controller for one path. All sizes in bytes.
pub trait Controller: Send + std::fmt::Debug {
    /// A packet was sent.
    fn on_sent(&mut self, now: Instant, bytes: u64) {
        let _ = (now, bytes);
    }
    /// A packet sent at `sent` was acknowledged. `app_limited`: the window was not full
    /// when it was sent (do not grow on such acks).
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    );
    /// Loss of packets, the newest sent at `sent`. At most one reduction per recovery
    /// period (a loss of a packet sent before the current recovery started is ignored).
    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        persistent: bool,
        lost_bytes: u64,
    );
    /// Current window.
    fn window(&self) -> u64;
    /// Short name ("newreno", "cubic").
    fn name(&self) -> &'static str;
}

/// RFC 9002 kInitialWindow: `min(10·mds, max(14720, 2·mds))`.
pub(crate) fn initial_window(mds: u64) -> u64 {
    (10 * mds).min(14_720u64.max(2 * mds))
}

/// RFC 9002 kMinimumWindow: `2·mds`.
pub(crate) fn minimum_window(mds: u64) -> u64 {
    2 * mds
}

/// Whether a packet sent at `sent` belongs to the recovery period started at `start`.
pub(crate) fn in_recovery(start: Option<Instant>, sent: Instant) -> bool {
    start.is_some_and(|start| sent < start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_and_minimum_windows() {
        assert_eq!(initial_window(1200), 12_000);
        assert_eq!(initial_window(1472), 14_720);
        assert_eq!(initial_window(1500), 14_720);
        assert_eq!(initial_window(9000), 18_000);
        assert_eq!(minimum_window(1200), 2400);
    }

    #[test]
    fn build_selects_the_controller() {
        let now = Instant::now();
        let reno = CongestionControl::NewReno.build(1200, now);
        assert_eq!(reno.name(), "newreno");
        assert_eq!(reno.window(), 12_000);
        let cubic = CongestionControl::Cubic.build(1200, now);
        assert_eq!(cubic.name(), "cubic");
        assert_eq!(cubic.window(), 12_000);
        assert_eq!(CongestionControl::default(), CongestionControl::Cubic);
    }
}
