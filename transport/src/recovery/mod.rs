//! Loss recovery and congestion control for one packet-number space (one path), in the
//! style of RFC 9002: RTT estimation with ack delay, packet- and time-threshold loss
//! detection, probe timeouts (PTO) with capped exponential backoff, persistent congestion,
//! a pluggable congestion [`Controller`] (NewReno, CUBIC) and a [`Pacer`].
//!
//! Sans-IO: time is always a parameter.
#![allow(missing_docs, clippy::todo, unused)] // skeleton: implemented by the recovery task

mod cc;
mod pacing;
mod rtt;

pub use cc::{Controller, CongestionControl, Cubic, NewReno};
pub use pacing::Pacer;
pub use rtt::RttEstimator;

use std::time::{Duration, Instant};

/// Knobs of loss recovery. Defaults follow RFC 9002 except where noted.
#[derive(Debug, Clone)]
pub struct RecoveryConfig {
    /// RTT assumed before the first sample (RFC 9002: 333 ms; we use 100 ms).
    pub initial_rtt: Duration,
    /// The peer's maximum ACK delay (from its transport parameters).
    pub max_ack_delay: Duration,
    /// Reordering threshold in packets (RFC 9002 kPacketThreshold = 3).
    pub packet_threshold: u64,
    /// Time threshold as a fraction of max(smoothed, latest) RTT (9/8).
    pub time_threshold: f64,
    /// Timer granularity (1 ms).
    pub granularity: Duration,
    /// Upper bound of a backed-off PTO interval. Never below the un-backed-off PTO.
    /// Default 500 ms, so a path that comes back is probed again quickly.
    pub max_pto_interval: Duration,
    /// PTO backoff multiplier per consecutive PTO (2.0 as RFC 9002; a low-latency profile
    /// uses 1.5).
    pub pto_backoff: f64,
    /// Persistent congestion threshold in PTO periods (3).
    pub persistent_congestion_threshold: u32,
    /// Which congestion controller to build.
    pub congestion: CongestionControl,
    /// Whether to pace.
    pub pacing: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            initial_rtt: Duration::from_millis(100),
            max_ack_delay: Duration::from_millis(25),
            packet_threshold: 3,
            time_threshold: 9.0 / 8.0,
            granularity: Duration::from_millis(1),
            max_pto_interval: Duration::from_millis(500),
            pto_backoff: 2.0,
            persistent_congestion_threshold: 3,
            congestion: CongestionControl::Cubic,
            pacing: true,
        }
    }
}

/// Bookkeeping for one sent packet, carrying the caller's payload `T` (what to
/// retransmit if it is lost).
#[derive(Debug, Clone)]
pub struct SentPacket<T> {
    pub time_sent: Instant,
    /// Datagram size in bytes.
    pub size: u16,
    pub ack_eliciting: bool,
    /// Counts toward bytes in flight (everything but pure ACK/padding-only packets).
    pub in_flight: bool,
    pub payload: T,
}

/// What an ACK did.
#[derive(Debug)]
pub struct AckOutcome<T> {
    /// Packets newly acknowledged, ascending packet number.
    pub acked: Vec<(u64, SentPacket<T>)>,
    /// Packets declared lost by this ACK, ascending packet number.
    pub lost: Vec<(u64, SentPacket<T>)>,
    /// Whether an RTT sample was taken.
    pub rtt_sampled: bool,
}

/// What a timeout did.
#[derive(Debug)]
pub enum TimeoutOutcome<T> {
    /// The loss timer fired: these packets are lost.
    Lost(Vec<(u64, SentPacket<T>)>),
    /// The PTO fired: the caller should send this many ack-eliciting probe packets now
    /// (new data if available, otherwise retransmitted data, otherwise PING), bypassing
    /// the congestion window.
    Probe(usize),
    /// Nothing was due.
    None,
}

/// A protocol violation seen in an ACK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The peer acknowledged a packet number we never sent.
    #[error("ACK of unsent packet {0}")]
    UnsentPacket(u64),
}

/// Counters, for stats and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    pub packets_sent: u64,
    pub packets_acked: u64,
    pub packets_lost: u64,
    pub bytes_sent: u64,
    pub bytes_lost: u64,
    pub congestion_events: u64,
    pub persistent_congestion_events: u64,
    pub pto_count_total: u64,
    pub spurious_losses: u64,
}

/// Loss recovery + congestion control + pacing for one packet-number space.
///
/// Call order: `on_packet_sent` for every packet (strictly increasing numbers from
/// `next_packet_number`), `on_ack_received` for every ACK frame of this space,
/// `on_timeout` when `timeout()` is reached, and ask `can_send` / `pacing_delay` before
/// building a packet.
#[derive(Debug)]
pub struct PathRecovery<T> {
    _todo: std::marker::PhantomData<T>,
}

impl<T> PathRecovery<T> {
    pub fn new(config: &RecoveryConfig, max_datagram_size: u16, now: Instant) -> Self {
        todo!()
    }
    /// The number the next packet must carry.
    pub fn next_packet_number(&self) -> u64 {
        todo!()
    }
    /// Records a sent packet (its number must be `next_packet_number()`).
    pub fn on_packet_sent(&mut self, now: Instant, pn: u64, packet: SentPacket<T>) {
        todo!()
    }
    /// Processes an ACK. `ranges` are inclusive (smallest, largest), highest first.
    pub fn on_ack_received(
        &mut self,
        now: Instant,
        ranges: &[(u64, u64)],
        ack_delay: Duration,
    ) -> Result<AckOutcome<T>, AckError> {
        todo!()
    }
    /// Earliest of the loss timer and the PTO, if armed.
    pub fn timeout(&self) -> Option<Instant> {
        todo!()
    }
    /// Handles the timer firing at `now` (no-op if not yet due).
    pub fn on_timeout(&mut self, now: Instant) -> TimeoutOutcome<T> {
        todo!()
    }
    /// Whether a packet of `bytes` fits the congestion window now.
    pub fn can_send(&self, bytes: u64) -> bool {
        todo!()
    }
    /// When pacing allows the next packet of `bytes`; `None` = now.
    pub fn pacing_delay(&mut self, now: Instant, bytes: u64) -> Option<Instant> {
        todo!()
    }
    /// Tell the controller the sender had nothing to send (app-limited) at `now`.
    pub fn on_app_limited(&mut self, now: Instant) {
        todo!()
    }
    pub fn rtt(&self) -> &RttEstimator {
        todo!()
    }
    pub fn congestion_window(&self) -> u64 {
        todo!()
    }
    pub fn bytes_in_flight(&self) -> u64 {
        todo!()
    }
    /// Whether ack-eliciting packets are outstanding.
    pub fn has_ack_eliciting_in_flight(&self) -> bool {
        todo!()
    }
    /// Current PTO interval including backoff.
    pub fn pto_interval(&self) -> Duration {
        todo!()
    }
    /// Consecutive PTOs without an ACK.
    pub fn pto_count(&self) -> u32 {
        todo!()
    }
    pub fn stats(&self) -> RecoveryStats {
        todo!()
    }
    /// Name of the congestion controller in use.
    pub fn controller_name(&self) -> &'static str {
        todo!()
    }
    /// Removes every outstanding packet (connection closing) and returns them.
    pub fn drain_all(&mut self) -> Vec<(u64, SentPacket<T>)> {
        todo!()
    }
}
