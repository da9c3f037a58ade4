//! RTT estimation (RFC 9002 §5).
#![allow(missing_docs, clippy::todo, unused)] // skeleton

use std::time::Duration;

/// Smoothed RTT, variance, min and latest sample.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    latest: Duration,
    smoothed: Option<Duration>,
    var: Duration,
    min: Duration,
    initial: Duration,
}

impl RttEstimator {
    pub fn new(initial: Duration) -> Self {
        todo!()
    }
    /// RFC 9002 §5.3 update; `ack_delay` is already clamped by the caller to max_ack_delay.
    pub fn update(&mut self, latest: Duration, ack_delay: Duration) {
        todo!()
    }
    /// Smoothed RTT (initial RTT before any sample).
    pub fn smoothed(&self) -> Duration {
        todo!()
    }
    pub fn var(&self) -> Duration {
        todo!()
    }
    pub fn min(&self) -> Duration {
        todo!()
    }
    pub fn latest(&self) -> Duration {
        todo!()
    }
    pub fn has_sample(&self) -> bool {
        todo!()
    }
    /// smoothed + max(4·rttvar, granularity) (without max_ack_delay).
    pub fn pto_base(&self, granularity: Duration) -> Duration {
        todo!()
    }
}
