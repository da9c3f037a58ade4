//! Pacing: spread a congestion window over an RTT instead of bursting it.
#![allow(missing_docs, clippy::todo, unused)] // skeleton

use std::time::{Duration, Instant};

/// A token-bucket pacer refilled at `rate = 1.25 · cwnd / srtt`, with a burst of a few
/// datagrams.
#[derive(Debug, Clone)]
pub struct Pacer {
    _todo: (),
}

impl Pacer {
    pub fn new(max_datagram_size: u16, now: Instant) -> Self {
        todo!()
    }
    /// `None` if `bytes` may leave now, else the earliest instant they may.
    pub fn delay(&mut self, now: Instant, bytes: u64, srtt: Duration, cwnd: u64) -> Option<Instant> {
        todo!()
    }
    /// Consume tokens for a sent packet.
    pub fn on_sent(&mut self, bytes: u64) {
        todo!()
    }
}
