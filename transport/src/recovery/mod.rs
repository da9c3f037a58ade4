//! Loss recovery and congestion control for one packet-number space (one path), in the
//! style of RFC 9002: RTT estimation with ack delay, packet- and time-threshold loss
//! detection that adapts to reordering and undoes spurious congestion events (`loss.rs`,
//! after RACK, RFC 8985), probe timeouts (PTO, the first one a tail-loss probe) with
//! capped exponential backoff, persistent congestion, delivery-rate samples (`rate.rs`),
//! a pluggable congestion [`Controller`] (NewReno, CUBIC, BBR) and a [`Pacer`].
//!
//! Sans-IO: time is always a parameter.

mod cc;
mod loss;
mod pacing;
mod rate;
mod rtt;

pub use cc::{AckEvent, Bbr, BbrState, CongestionControl, Controller, Cubic, NewReno};
pub use pacing::Pacer;
pub use rate::RateSample;
pub use rtt::RttEstimator;

use loss::{Reordering, Undo};
use rate::{RateSampler, SendSnapshot};

use crate::ranges::RangeSet;
use std::collections::{BTreeMap, VecDeque};
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
    /// Initial time threshold as a fraction of max(smoothed, latest) RTT (17/16; RFC
    /// 9002 uses 9/8). A packet is declared lost by time only once a later one was
    /// acknowledged, so without reordering little more than one RTT is needed (RACK
    /// waits no extra reordering window until it has seen reordering); every spurious
    /// loss makes the path's factor grow (see `loss.rs`).
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
            time_threshold: 17.0 / 16.0,
            granularity: Duration::from_millis(1),
            max_pto_interval: Duration::from_millis(500),
            pto_backoff: 2.0,
            persistent_congestion_threshold: 3,
            congestion: CongestionControl::default(),
            pacing: true,
        }
    }
}

/// Bookkeeping for one sent packet, carrying the caller's payload `T` (what to
/// retransmit if it is lost).
#[derive(Debug, Clone)]
pub struct SentPacket<T> {
    /// When the packet was sent.
    pub time_sent: Instant,
    /// Datagram size in bytes.
    pub size: u16,
    /// Whether the packet elicits an ACK (carries anything but ACK/padding frames).
    pub ack_eliciting: bool,
    /// Counts toward bytes in flight (everything but pure ACK/padding-only packets).
    pub in_flight: bool,
    /// The caller's record of what the packet carried.
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

impl<T> AckOutcome<T> {
    fn empty() -> Self {
        Self {
            acked: Vec::new(),
            lost: Vec::new(),
            rtt_sampled: false,
        }
    }
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
#[non_exhaustive]
pub enum AckError {
    /// The peer acknowledged a packet number we never sent (the largest number of the
    /// first offending range).
    #[error("ACK of unsent packet {0}")]
    UnsentPacket(u64),
}

/// Counters, for stats and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Packets recorded by `on_packet_sent`.
    pub packets_sent: u64,
    /// Packets newly acknowledged.
    pub packets_acked: u64,
    /// Packets declared lost (by an ACK or the loss timer; not by `drain_all`).
    pub packets_lost: u64,
    /// Bytes of all packets recorded by `on_packet_sent`.
    pub bytes_sent: u64,
    /// Bytes of the packets declared lost.
    pub bytes_lost: u64,
    /// Congestion events that started a new recovery period (losses of packets sent
    /// during the current recovery period are not counted again).
    pub congestion_events: u64,
    /// Times persistent congestion was established.
    pub persistent_congestion_events: u64,
    /// Probe timeouts fired.
    pub pto_count_total: u64,
    /// Packets declared lost and acknowledged later.
    pub spurious_losses: u64,
    /// Congestion events undone because every loss that caused them was spurious.
    pub undone_congestion_events: u64,
}

/// Largest number of disjoint ranges of lost packet numbers remembered (for spurious-loss
/// accounting and persistent congestion); the oldest are forgotten first.
const MAX_LOST_RANGES: usize = 1024;
/// Probe packets to send when the PTO fires (RFC 9002 §6.2.4: up to two).
const PROBES_PER_PTO: usize = 2;

/// A sent packet awaiting acknowledgement or loss.
#[derive(Debug)]
struct Outstanding<T> {
    packet: SentPacket<T>,
    /// The sender was application-limited when it sent this packet.
    app_limited: bool,
    /// Delivery state when it was sent (rate samples).
    snap: Option<SendSnapshot>,
}

/// Loss recovery + congestion control + pacing for one packet-number space.
///
/// Call order: `on_packet_sent` for every packet (strictly increasing numbers from
/// `next_packet_number`), `on_ack_received` for every ACK frame of this space,
/// `on_timeout` when `timeout()` is reached, and ask `can_send` / `pacing_delay` before
/// building a packet.
///
/// Outstanding packets live in a `BTreeMap` keyed by packet number: an ACK costs
/// O((newly acked + ranges) · log n), loss detection O((newly lost + 1) · log n), since
/// send times grow with packet numbers and the lost packets are always a prefix of the
/// outstanding ones.
#[derive(Debug)]
pub struct PathRecovery<T> {
    config: RecoveryConfig,
    /// Outstanding (neither acknowledged nor lost) packets.
    sent: BTreeMap<u64, Outstanding<T>>,
    next_pn: u64,
    largest_acked: Option<u64>,
    bytes_in_flight: u64,
    /// Outstanding ack-eliciting packets.
    ack_eliciting_outstanding: usize,
    time_of_last_ack_eliciting: Option<Instant>,
    /// Time-threshold loss timer.
    loss_time: Option<Instant>,
    /// When the first RTT sample was taken (persistent congestion only considers packets
    /// sent after it).
    first_rtt_sample: Option<Instant>,
    /// Start of the current recovery period, mirroring the controller's, for stats.
    recovery_start: Option<Instant>,
    /// Packet numbers declared lost (bounded by `MAX_LOST_RANGES`).
    lost_pns: RangeSet,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    pacer: Pacer,
    pto_count: u32,
    /// The sender said it was application-limited and has not filled the window since.
    app_limited: bool,
    stats: RecoveryStats,
    /// Scratch space for acks to hand to the controller: (time sent, bytes, app-limited).
    cc_acks: Vec<(Instant, u64, bool)>,
    /// Ack-eliciting packets in send order, (number, time sent); the front is always
    /// outstanding (entries behind it may have left and are dropped as they reach it).
    eliciting: VecDeque<(u64, Instant)>,
    max_datagram_size: u16,
    rate: RateSampler,
    /// Latest delivery rate measured (bytes per second; see `bandwidth_estimate`).
    delivery_rate: f64,
    reordering: Reordering,
    /// The current congestion event, while it may still be undone.
    undo: Option<Undo>,
}

impl<T> PathRecovery<T> {
    /// Fresh recovery state for a path whose datagrams are at most `max_datagram_size`.
    pub fn new(config: &RecoveryConfig, max_datagram_size: u16, now: Instant) -> Self {
        Self {
            config: config.clone(),
            sent: BTreeMap::new(),
            next_pn: 0,
            largest_acked: None,
            bytes_in_flight: 0,
            ack_eliciting_outstanding: 0,
            time_of_last_ack_eliciting: None,
            loss_time: None,
            first_rtt_sample: None,
            recovery_start: None,
            lost_pns: RangeSet::new(),
            rtt: RttEstimator::new(config.initial_rtt),
            cc: config.congestion.build(max_datagram_size, now),
            pacer: Pacer::new(max_datagram_size, now),
            pto_count: 0,
            app_limited: false,
            stats: RecoveryStats::default(),
            cc_acks: Vec::new(),
            eliciting: VecDeque::new(),
            max_datagram_size,
            rate: RateSampler::new(now),
            delivery_rate: 0.0,
            reordering: Reordering::new(config),
            undo: None,
        }
    }

    /// The number the next packet must carry.
    pub fn next_packet_number(&self) -> u64 {
        self.next_pn
    }

    /// Records a sent packet (its number must be `next_packet_number()`).
    ///
    /// A number below `next_packet_number()` is a caller bug (debug assertion); release
    /// builds ignore such a packet rather than corrupt the accounting. A number above it
    /// (also a debug assertion) leaves the skipped numbers unsent.
    pub fn on_packet_sent(&mut self, now: Instant, pn: u64, packet: SentPacket<T>) {
        debug_assert_eq!(pn, self.next_pn, "packet numbers must be consecutive");
        if pn < self.next_pn {
            return;
        }
        self.next_pn = pn.saturating_add(1);
        let size = u64::from(packet.size);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size;
        if packet.ack_eliciting {
            self.ack_eliciting_outstanding += 1;
            self.time_of_last_ack_eliciting = Some(now);
            self.eliciting.push_back((pn, now));
        }
        let mut snap = None;
        if packet.in_flight {
            if self.config.pacing {
                self.refill_pacer(now);
                self.pacer.on_sent(size);
            }
            let before = self.bytes_in_flight;
            self.bytes_in_flight += size;
            snap = Some(self.rate.on_sent(now, before, self.bytes_in_flight));
            self.cc.on_sent(now, size);
            if self.bytes_in_flight >= self.cc.window() {
                // The window is full: the sender is no longer application-limited.
                self.app_limited = false;
            }
        }
        let app_limited = self.app_limited;
        self.sent.insert(
            pn,
            Outstanding {
                packet,
                app_limited,
                snap,
            },
        );
    }

    /// Processes an ACK. `ranges` are inclusive (smallest, largest), highest first.
    ///
    /// The ranges come from the network: any order and overlaps are tolerated, and a range
    /// with `smallest > largest` is ignored. A range reaching a number never sent is a
    /// protocol violation: `Err(AckError::UnsentPacket)` and no state change.
    pub fn on_ack_received(
        &mut self,
        now: Instant,
        ranges: &[(u64, u64)],
        ack_delay: Duration,
    ) -> Result<AckOutcome<T>, AckError> {
        self.on_ack(now, ranges, ack_delay, true)
    }

    /// [`on_ack_received`](Self::on_ack_received) for an ACK that came back over another
    /// path (multipath): it acknowledges as usual but takes no RTT sample, since its
    /// round trip was not this path's.
    pub fn on_ack_received_elsewhere(
        &mut self,
        now: Instant,
        ranges: &[(u64, u64)],
    ) -> Result<AckOutcome<T>, AckError> {
        self.on_ack(now, ranges, Duration::ZERO, false)
    }

    fn on_ack(
        &mut self,
        now: Instant,
        ranges: &[(u64, u64)],
        ack_delay: Duration,
        sample_rtt: bool,
    ) -> Result<AckOutcome<T>, AckError> {
        let mut largest = None;
        for &(lo, hi) in ranges {
            if lo > hi {
                continue;
            }
            if hi >= self.next_pn {
                return Err(AckError::UnsentPacket(hi));
            }
            largest = largest.max(Some(hi));
        }
        let Some(largest) = largest else {
            return Ok(AckOutcome::empty());
        };
        self.largest_acked = self.largest_acked.max(Some(largest));

        // Lowest range first, so well-formed ACKs produce ascending numbers.
        let mut acked: Vec<(u64, SentPacket<T>)> = Vec::new();
        self.cc_acks.clear();
        for &(lo, hi) in ranges.iter().rev() {
            if lo > hi {
                continue;
            }
            // `hi < next_pn`, so `hi + 1` does not overflow.
            let end = hi + 1;
            // Late acks of packets declared lost. Each pass removes one range of the set.
            loop {
                let Some(spurious) = self.lost_pns.intersecting(lo..end).next() else {
                    break;
                };
                self.on_spurious(now, spurious);
            }
            // Each pass removes one outstanding packet.
            while let Some(pn) = self.sent.range(lo..=hi).next().map(|(&pn, _)| pn) {
                let Some(entry) = self.sent.remove(&pn) else {
                    break;
                };
                self.forget(&entry.packet);
                if entry.packet.in_flight {
                    let p = &entry.packet;
                    let size = u64::from(p.size);
                    self.cc_acks.push((p.time_sent, size, entry.app_limited));
                    if let Some(snap) = &entry.snap {
                        self.rate.on_acked(now, size, p.time_sent, snap);
                    }
                }
                acked.push((pn, entry.packet));
            }
        }
        self.prune_eliciting();
        if acked.is_empty() {
            return Ok(AckOutcome::empty());
        }
        if !acked.is_sorted_by_key(|(pn, _)| *pn) {
            acked.sort_unstable_by_key(|(pn, _)| *pn);
        }
        self.stats.packets_acked += acked.len() as u64;
        self.pto_count = 0;

        // RFC 9002 §5.1: sample when the largest acknowledged is newly acknowledged and
        // something ack-eliciting was newly acknowledged.
        let mut rtt_sampled = false;
        if let Some((pn, newest)) = acked.last()
            && sample_rtt
            && *pn == largest
            && acked.iter().any(|(_, p)| p.ack_eliciting)
        {
            let latest = now.saturating_duration_since(newest.time_sent);
            self.rtt
                .update(latest, ack_delay.min(self.config.max_ack_delay));
            self.first_rtt_sample.get_or_insert(now);
            rtt_sampled = true;
        }

        // RFC 9002 order: losses (and the congestion event) before window growth.
        let lost = self.detect_lost(now);
        self.on_lost(now, &lost);
        let mut acked_bytes = 0;
        for &(sent, bytes, app_limited) in &self.cc_acks {
            self.cc.on_ack(now, sent, bytes, app_limited, &self.rtt);
            acked_bytes += bytes;
        }
        self.cc_acks.clear();
        let rate = self.rate.take_sample(now, self.rtt.min());
        // An application-limited sample only counts when it shows more than we knew.
        if let Some(r) = rate.as_ref().filter(|r| {
            r.delivery_rate.is_finite()
                && (!r.is_app_limited || r.delivery_rate > self.delivery_rate)
        }) {
            self.delivery_rate = r.delivery_rate;
        }
        self.cc.on_ack_event(&AckEvent {
            now,
            acked_bytes,
            bytes_in_flight: self.bytes_in_flight,
            delivered: self.rate.delivered(),
            rate,
            rtt_sample: rtt_sampled.then(|| self.rtt.latest()),
            rtt: &self.rtt,
        });
        self.decay_reordering(now);
        Ok(AckOutcome {
            acked,
            lost,
            rtt_sampled,
        })
    }

    /// Earliest of the loss timer and the PTO, if armed.
    ///
    /// The loss timer takes precedence; the PTO is armed while ack-eliciting packets are
    /// outstanding, `pto_interval()` after the last ack-eliciting packet was sent.
    pub fn timeout(&self) -> Option<Instant> {
        if self.loss_time.is_some() {
            return self.loss_time;
        }
        self.pto_deadline()
    }

    /// When the PTO fires, if armed.
    fn pto_deadline(&self) -> Option<Instant> {
        if self.ack_eliciting_outstanding == 0 {
            return None;
        }
        self.time_of_last_ack_eliciting?
            .checked_add(self.probe_timeout())
    }

    /// The PTO in force: the first one is a tail-loss probe (RFC 8985 §7.2: two smoothed
    /// RTTs, plus the peer's ACK delay when a single packet is in flight), never later
    /// than the RFC 9002 PTO; further ones back off as [`pto_interval`](Self::pto_interval).
    pub fn probe_timeout(&self) -> Duration {
        let pto = self.pto_interval();
        if self.pto_count > 0 || !self.rtt.has_sample() {
            return pto;
        }
        let mut tlp = self.rtt.smoothed().saturating_mul(2);
        if self.ack_eliciting_outstanding == 1 {
            tlp = tlp.saturating_add(self.config.max_ack_delay);
        }
        tlp.max(self.config.granularity.saturating_mul(2)).min(pto)
    }

    /// The reordering tolerance in force: the packet threshold (`None`: time only) and
    /// the loss delay in RTTs.
    pub fn reordering(&self) -> (Option<u64>, f64) {
        let r = &self.reordering;
        ((r.threshold != u64::MAX).then_some(r.threshold), r.factor)
    }

    /// Handles the timer firing at `now` (no-op if not yet due).
    pub fn on_timeout(&mut self, now: Instant) -> TimeoutOutcome<T> {
        if let Some(loss_time) = self.loss_time {
            if now < loss_time {
                return TimeoutOutcome::None;
            }
            let lost = self.detect_lost(now);
            self.on_lost(now, &lost);
            return TimeoutOutcome::Lost(lost);
        }
        match self.pto_deadline() {
            Some(deadline) if now >= deadline => {
                self.pto_count = self.pto_count.saturating_add(1);
                self.stats.pto_count_total += 1;
                TimeoutOutcome::Probe(PROBES_PER_PTO)
            }
            _ => TimeoutOutcome::None,
        }
    }

    /// Whether a packet of `bytes` fits the congestion window now.
    pub fn can_send(&self, bytes: u64) -> bool {
        self.bytes_in_flight.saturating_add(bytes) <= self.cc.window()
    }

    /// When pacing allows the next packet of `bytes`; `None` = now.
    pub fn pacing_delay(&mut self, now: Instant, bytes: u64) -> Option<Instant> {
        if !self.config.pacing {
            return None;
        }
        let cwnd = self.cc.window();
        match self.cc.pacing_rate() {
            Some(rate) => self
                .pacer
                .delay_with(now, bytes, rate, self.pacer.capacity(cwnd)),
            None => self.pacer.delay(now, bytes, self.rtt.smoothed(), cwnd),
        }
    }

    /// Refills the pacer at the controller's rate, or from the window and RTT.
    fn refill_pacer(&mut self, now: Instant) {
        let cwnd = self.cc.window();
        match self.cc.pacing_rate() {
            Some(rate) => self.pacer.refill_with(now, rate, self.pacer.capacity(cwnd)),
            None => self.pacer.refill(now, self.rtt.smoothed(), cwnd),
        }
    }

    /// Tell the controller the sender had nothing to send (app-limited) at `now`.
    ///
    /// Packets sent from now until the window is next filled are marked app-limited and
    /// their acknowledgements do not grow the window. Ignored while the window is full.
    pub fn on_app_limited(&mut self, now: Instant) {
        let _ = now;
        if self.bytes_in_flight < self.cc.window() {
            self.app_limited = true;
            self.rate.on_app_limited(self.bytes_in_flight);
        }
    }

    /// The RTT estimator.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Congestion window in bytes.
    pub fn congestion_window(&self) -> u64 {
        self.cc.window()
    }

    /// Bytes of outstanding in-flight packets.
    pub fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// Whether ack-eliciting packets are outstanding.
    pub fn has_ack_eliciting_in_flight(&self) -> bool {
        self.ack_eliciting_outstanding > 0
    }

    /// Current PTO interval including backoff.
    ///
    /// `base = smoothed + max(4·rttvar, granularity) + max_ack_delay`, multiplied by
    /// `pto_backoff^pto_count` (a backoff below 1 counts as 1) and capped at
    /// `max(base, max_pto_interval)`.
    pub fn pto_interval(&self) -> Duration {
        let base = self
            .rtt
            .pto_base(self.config.granularity)
            .saturating_add(self.config.max_ack_delay);
        let cap = base.max(self.config.max_pto_interval);
        if self.pto_count == 0 {
            return base;
        }
        let factor = self.config.pto_backoff.max(1.0);
        let exponent = i32::try_from(self.pto_count).unwrap_or(i32::MAX);
        let secs = base.as_secs_f64() * factor.powi(exponent);
        if secs.is_finite() && secs < cap.as_secs_f64() {
            Duration::try_from_secs_f64(secs).map_or(cap, |d| d.min(cap))
        } else {
            cap
        }
    }

    /// Consecutive PTOs without an ACK.
    pub fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// Counters.
    pub fn stats(&self) -> RecoveryStats {
        self.stats
    }

    /// Name of the congestion controller in use.
    pub fn controller_name(&self) -> &'static str {
        self.cc.name()
    }

    /// Estimated bandwidth of the path in bytes per second: the controller's model
    /// (BBR's bottleneck bandwidth) or else the latest delivery-rate sample; 0 before
    /// the first sample.
    pub fn bandwidth_estimate(&self) -> f64 {
        self.cc.bandwidth_estimate().unwrap_or(self.delivery_rate)
    }

    /// Largest packet number the peer acknowledged so far.
    pub fn largest_acked(&self) -> Option<u64> {
        self.largest_acked
    }

    /// Number of outstanding (neither acknowledged nor lost) packets.
    pub fn outstanding_packets(&self) -> usize {
        self.sent.len()
    }

    /// Forgets what was learned about the network path (RTT, congestion window, pacing)
    /// when the path moved to a new address (RFC 9000 §9.4); outstanding packets stay
    /// tracked and are acknowledged or declared lost as usual.
    pub fn reset_path_estimates(&mut self, now: Instant) {
        self.rtt = RttEstimator::new(self.config.initial_rtt);
        self.cc = self.config.congestion.build(self.max_datagram_size, now);
        self.pacer = Pacer::new(self.max_datagram_size, now);
        self.first_rtt_sample = None;
        self.recovery_start = None;
        self.pto_count = 0;
        self.app_limited = false;
    }

    /// When the oldest outstanding ack-eliciting packet was sent (`None`: none is); O(1).
    pub fn oldest_eliciting_sent(&self) -> Option<Instant> {
        if self.ack_eliciting_outstanding == 0 {
            return None;
        }
        self.eliciting.front().map(|&(_, t)| t)
    }

    /// Drops the front of the send-order list while its packets are no longer outstanding
    /// (after acknowledgements or losses; amortised O(1) per packet).
    fn prune_eliciting(&mut self) {
        while let Some(&(pn, _)) = self.eliciting.front() {
            if self.sent.contains_key(&pn) {
                break;
            }
            self.eliciting.pop_front();
        }
    }

    /// The payloads of the outstanding packets, oldest first (left tracked: a failed
    /// path's data is queued again elsewhere while its packets may still be acknowledged).
    pub fn outstanding_payloads(&self) -> impl Iterator<Item = &T> + '_ {
        self.sent.values().map(|o| &o.packet.payload)
    }

    /// Removes every outstanding packet (connection closing) and returns them.
    ///
    /// They are neither acknowledged nor lost: stats and the controller are unchanged.
    pub fn drain_all(&mut self) -> Vec<(u64, SentPacket<T>)> {
        self.bytes_in_flight = 0;
        self.ack_eliciting_outstanding = 0;
        self.loss_time = None;
        self.eliciting.clear();
        std::mem::take(&mut self.sent)
            .into_iter()
            .map(|(pn, entry)| (pn, entry.packet))
            .collect()
    }

    /// Removes a packet that left the outstanding set from the in-flight accounting.
    fn forget(&mut self, packet: &SentPacket<T>) {
        if packet.in_flight {
            self.bytes_in_flight -= u64::from(packet.size);
        }
        if packet.ack_eliciting {
            self.ack_eliciting_outstanding -= 1;
        }
    }
}

#[cfg(test)]
mod tests;
