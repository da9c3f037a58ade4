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

mod bbr;
mod cubic;
mod newreno;

pub use bbr::{Bbr, BbrState};
pub use cubic::Cubic;
pub use newreno::NewReno;

use super::{RateSample, RttEstimator};
use std::time::Instant;

/// Which controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CongestionControl {
    /// RFC 9002 §7 NewReno.
    NewReno,
    /// RFC 9438 CUBIC.
    Cubic,
    /// A BBR-style model-based controller (see [`Bbr`]); the default: full speed on
    /// lossy paths, a small standing queue (docs/PROTOCOL.md §11 compares them).
    #[default]
    Bbr,
}

impl CongestionControl {
    /// Builds a fresh controller.
    pub fn build(self, max_datagram_size: u16, now: Instant) -> Box<dyn Controller> {
        match self {
            Self::NewReno => Box::new(NewReno::new(max_datagram_size, now)),
            Self::Cubic => Box::new(Cubic::new(max_datagram_size, now)),
            Self::Bbr => Box::new(Bbr::new(max_datagram_size, now)),
        }
    }

    /// The controller's short name (`newreno`, `cubic`, `bbr`).
    pub fn name(self) -> &'static str {
        match self {
            Self::NewReno => "newreno",
            Self::Cubic => "cubic",
            Self::Bbr => "bbr",
        }
    }
}

impl std::str::FromStr for CongestionControl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "newreno" | "reno" => Ok(Self::NewReno),
            "cubic" => Ok(Self::Cubic),
            "bbr" => Ok(Self::Bbr),
            other => Err(format!(
                "unknown congestion controller {other:?} (bbr, cubic or newreno)"
            )),
        }
    }
}

/// What one ACK frame did, for controllers that model the path.
#[derive(Debug, Clone, Copy)]
pub struct AckEvent<'a> {
    /// When the ACK was processed.
    pub now: Instant,
    /// In-flight bytes it newly acknowledged.
    pub acked_bytes: u64,
    /// Bytes in flight after it (and after the losses it revealed).
    pub bytes_in_flight: u64,
    /// Total bytes delivered on the path so far.
    pub delivered: u64,
    /// The delivery-rate sample it produced, if valid.
    pub rate: Option<RateSample>,
    /// The RTT sample it produced (RFC 9002 §5.1), if any.
    pub rtt_sample: Option<std::time::Duration>,
    /// The path's RTT estimates.
    pub rtt: &'a RttEstimator,
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
    /// The floor of the window: it never drops below this, and persistent congestion
    /// collapses it to exactly this (two datagrams for NewReno and CUBIC, four for BBR).
    fn minimum_window(&self) -> u64;
    /// Short name ("newreno", "cubic", "bbr").
    fn name(&self) -> &'static str;
    /// After the per-packet `on_ack`s of one ACK frame: the frame as a whole, with its
    /// delivery-rate sample.
    fn on_ack_event(&mut self, e: &AckEvent<'_>) {
        let _ = e;
    }
    /// The rate to pace at, in bytes per second; `None`: the pacer derives it from the
    /// window and the smoothed RTT.
    fn pacing_rate(&self) -> Option<f64> {
        None
    }
    /// Every loss of the last congestion event turned out spurious (reordering): undo
    /// the reduction it caused.
    fn on_spurious_congestion(&mut self, now: Instant) {
        let _ = now;
    }
    /// The controller's estimate of the bottleneck bandwidth, bytes per second.
    fn bandwidth_estimate(&self) -> Option<f64> {
        None
    }
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
        assert_eq!(CongestionControl::default(), CongestionControl::Bbr);
    }
}
