//! Loss detection (RFC 9002 §6.1, with RACK-style adaptation), persistent congestion and
//! the undoing of congestion events that turn out spurious.
//!
//! * A packet is lost once a later packet was acknowledged and either it is
//!   `reorder_threshold` numbers older than the largest acknowledged (packet threshold)
//!   or it was sent more than `loss_delay` before now (time threshold), where
//!   `loss_delay = reorder_factor · max(latest RTT, smoothed RTT)`.
//! * When a packet declared lost is acknowledged after all (a **spurious loss**: it was
//!   reordered, not lost), detection becomes more patient, as RACK does (RFC 8985
//!   §6.2.4): the packet threshold is switched off (time only) and the time factor grows
//!   by 1/4 per spurious round, up to 2 RTTs; after 64 RTTs without a spurious loss it
//!   steps back by 1/8 towards its configured value (and the packet threshold returns
//!   there).
//! * If every packet whose loss started a congestion event turns out spurious within the
//!   event's recovery period, the controller is told to **undo** its reduction.

use super::*;

/// Largest reordering time factor (loss delay in RTTs).
const MAX_REORDER_FACTOR: f64 = 2.0;
/// Growth of the time factor per spurious round.
const REORDER_STEP: f64 = 0.25;
/// Step back towards the configured factor after a quiet spell.
const REORDER_DECAY: f64 = 0.125;
/// RTTs without a spurious loss before the factor steps back.
const QUIET_RTTS: u32 = 64;
/// Most ranges of lost packet numbers a congestion event can be undone with.
const MAX_UNDO_RANGES: usize = 64;

/// Adaptive reordering tolerance of one path.
#[derive(Debug, Clone)]
pub(super) struct Reordering {
    /// Packet threshold in force (`u64::MAX`: time threshold only).
    pub threshold: u64,
    /// Loss delay in RTTs.
    pub factor: f64,
    /// When the factor last grew (one step per RTT at most), and when it may decay.
    last_growth: Option<Instant>,
}

impl Reordering {
    pub fn new(config: &RecoveryConfig) -> Self {
        Self {
            threshold: config.packet_threshold,
            factor: config.time_threshold,
            last_growth: None,
        }
    }
}

/// A congestion event that may still turn out spurious.
#[derive(Debug, Clone)]
pub(super) struct Undo {
    /// Packets declared lost in the event's recovery period and not acknowledged since.
    pub lost: RangeSet,
    /// Until when a spurious verdict may undo the event.
    pub until: Instant,
}

impl<T> PathRecovery<T> {
    /// RFC 9002 §6.1.2: `max(time_threshold · max(latest, smoothed), granularity)`.
    pub(super) fn loss_delay(&self) -> Duration {
        let rtt = self.rtt.latest().max(self.rtt.smoothed());
        let secs = rtt.as_secs_f64() * self.reordering.factor;
        let delay = if secs.is_nan() || secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
        };
        delay.max(self.config.granularity)
    }

    /// RFC 9002 §6.1: removes and returns the outstanding packets below the largest
    /// acknowledged that are `packet_threshold` numbers or the loss delay older than it,
    /// and re-arms the loss timer for the oldest remaining one.
    ///
    /// Send times grow with packet numbers, so the lost packets are a prefix of the
    /// outstanding ones: the scan stops at the first survivor.
    pub(super) fn detect_lost(&mut self, now: Instant) -> Vec<(u64, SentPacket<T>)> {
        self.loss_time = None;
        let mut lost = Vec::new();
        let Some(largest) = self.largest_acked else {
            return lost;
        };
        let loss_delay = self.loss_delay();
        let lost_send_time = now.checked_sub(loss_delay);
        // Each pass removes one packet or ends the loop.
        while let Some(entry) = self.sent.first_entry() {
            let pn = *entry.key();
            if pn > largest {
                break;
            }
            let time_sent = entry.get().packet.time_sent;
            let by_count = largest - pn >= self.reordering.threshold;
            let by_time = lost_send_time.is_some_and(|t| time_sent <= t);
            if !(by_count || by_time) {
                self.loss_time = time_sent.checked_add(loss_delay);
                break;
            }
            let packet = entry.remove().packet;
            self.forget(&packet);
            lost.push((pn, packet));
        }
        self.prune_eliciting();
        lost
    }

    /// Accounting, persistent congestion and the congestion event for newly lost packets
    /// (ascending packet numbers).
    pub(super) fn on_lost(&mut self, now: Instant, lost: &[(u64, SentPacket<T>)]) {
        if lost.is_empty() {
            return;
        }
        let mut newest_sent: Option<Instant> = None;
        let mut lost_bytes = 0u64;
        for (pn, packet) in lost {
            let size = u64::from(packet.size);
            self.stats.packets_lost += 1;
            self.stats.bytes_lost += size;
            // `pn < next_pn`, so `pn + 1` does not overflow.
            self.lost_pns.insert(*pn..pn + 1);
            if packet.in_flight {
                lost_bytes += size;
                newest_sent = newest_sent.max(Some(packet.time_sent));
                self.rate.on_lost(size);
            }
        }
        let persistent = self.persistent_congestion(lost);
        // Forget the oldest losses; each pass removes one range.
        while self.lost_pns.range_count() > MAX_LOST_RANGES {
            self.lost_pns.pop_first();
        }
        let Some(sent) = newest_sent else {
            return;
        };
        if !cc::in_recovery(self.recovery_start, sent) {
            self.stats.congestion_events += 1;
            self.recovery_start = Some(now);
            // A new event: undoable until about two RTTs from now, if all its losses
            // turn out spurious.
            self.undo = Some(Undo {
                lost: RangeSet::new(),
                until: now + self.rtt.smoothed().saturating_mul(2),
            });
        }
        if let Some(undo) = self.undo.as_mut() {
            for (pn, p) in lost.iter().filter(|(_, p)| p.in_flight) {
                let _ = p;
                undo.lost.insert(*pn..pn + 1);
            }
            if undo.lost.range_count() > MAX_UNDO_RANGES {
                self.undo = None; // too scattered to be reordering
            }
        }
        if persistent {
            self.stats.persistent_congestion_events += 1;
            self.recovery_start = Some(now);
            self.undo = None;
        }
        self.cc
            .on_congestion_event(now, sent, persistent, lost_bytes);
    }

    /// RFC 9002 §7.6: two ack-eliciting packets of `lost`, sent after the first RTT
    /// sample, with every packet between them declared lost (none acknowledged), sent
    /// more than the persistent congestion duration apart.
    fn persistent_congestion(&self, lost: &[(u64, SentPacket<T>)]) -> bool {
        let Some(first_sample) = self.first_rtt_sample else {
            return false;
        };
        let duration = self
            .rtt
            .pto_base(self.config.granularity)
            .saturating_add(self.config.max_ack_delay)
            .saturating_mul(self.config.persistent_congestion_threshold);
        // (previous eligible packet number, send time of the first packet of the run)
        let mut run: Option<(u64, Instant)> = None;
        for (pn, packet) in lost {
            if !packet.ack_eliciting || packet.time_sent <= first_sample {
                continue;
            }
            match run {
                // `pn < next_pn`, so `pn + 1` does not overflow.
                Some((previous, start)) if self.lost_pns.contains_range(previous..pn + 1) => {
                    if packet.time_sent.saturating_duration_since(start) > duration {
                        return true;
                    }
                    run = Some((*pn, start));
                }
                _ => run = Some((*pn, packet.time_sent)),
            }
        }
        false
    }

    /// Late acknowledgements of packets declared lost (`range`): count them, make loss
    /// detection more patient, and undo the congestion event they caused if none of its
    /// losses was real.
    pub(super) fn on_spurious(&mut self, now: Instant, range: std::ops::Range<u64>) {
        self.stats.spurious_losses += range.end - range.start;
        self.lost_pns.remove(range.clone());
        let srtt = self.rtt.smoothed();
        let r = &mut self.reordering;
        r.threshold = u64::MAX;
        if r.last_growth.is_none_or(|t| now >= t + srtt) {
            r.factor = (r.factor + REORDER_STEP).min(MAX_REORDER_FACTOR);
            r.last_growth = Some(now);
        }
        let Some(undo) = self.undo.as_mut() else {
            return;
        };
        undo.lost.remove(range);
        if undo.lost.is_empty() {
            let valid = now <= undo.until;
            self.undo = None;
            if valid {
                self.stats.undone_congestion_events += 1;
                self.recovery_start = None;
                self.cc.on_spurious_congestion(now);
            }
        }
    }

    /// After a quiet spell without spurious losses, reordering tolerance steps back.
    pub(super) fn decay_reordering(&mut self, now: Instant) {
        let quiet = self.rtt.smoothed().saturating_mul(QUIET_RTTS);
        let initial = (self.config.packet_threshold, self.config.time_threshold);
        let r = &mut self.reordering;
        let Some(t) = r.last_growth else {
            return;
        };
        if now < t + quiet {
            return;
        }
        r.factor = (r.factor - REORDER_DECAY).max(initial.1);
        r.last_growth = Some(now);
        if r.factor <= initial.1 {
            r.threshold = initial.0;
            r.last_growth = None;
        }
    }
}
