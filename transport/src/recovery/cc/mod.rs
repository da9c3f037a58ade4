//! Congestion controllers.
#![allow(missing_docs, clippy::todo, unused)] // skeleton

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
        todo!()
    }
}

/// A congestion controller for one path. All sizes in bytes.
pub trait Controller: Send + std::fmt::Debug {
    /// A packet was sent.
    fn on_sent(&mut self, now: Instant, bytes: u64) {}
    /// A packet sent at `sent` was acknowledged. `app_limited`: the window was not full
    /// when it was sent (do not grow on such acks).
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, rtt: &RttEstimator);
    /// Loss of packets, the newest sent at `sent`. At most one reduction per recovery
    /// period (a loss of a packet sent before the current recovery started is ignored).
    fn on_congestion_event(&mut self, now: Instant, sent: Instant, persistent: bool, lost_bytes: u64);
    /// Current window.
    fn window(&self) -> u64;
    /// Short name ("newreno", "cubic").
    fn name(&self) -> &'static str;
}
