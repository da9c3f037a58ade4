//! A BBR-style model-based congestion controller (after BBRv3,
//! draft-cardwell-ccwg-bbr): it estimates the path's bottleneck bandwidth and minimum RTT
//! from delivery-rate samples, paces at the estimate and keeps about one or two
//! bandwidth-delay products in flight, instead of treating every loss as congestion.
//!
//! * **Model.** `max_bw`: the largest delivery rate of the current and the previous
//!   bandwidth-probing cycle (application-limited samples count only when they raise it);
//!   `min_rtt`: the smallest RTT of the last 10 s. `bdp = max_bw · min_rtt`.
//! * **States.** *Startup* (pacing gain 2.77, window gain 2) until the bandwidth grew by
//!   less than 25% in three rounds, or congestion; *Drain* (pacing 0.35) until the queue
//!   Startup built is gone; *ProbeBW*, cycling *Down* (0.9: drain, until in flight ≤ bdp),
//!   *Cruise* (0.99, for 2–3 s), *Refill* (1.0, one round) and *Up* (1.25, window gain
//!   2.25: probe for more, until in flight passes 1.25·bdp); *ProbeRTT* (window ½·bdp for
//!   200 ms) when no RTT sample came within 1/8 of `min_rtt` for 5 s (a flow whose Down
//!   phases empty the queue never needs it).
//! * **Congestion.** Loss alone is not congestion: a sample is congested when its loss
//!   rate (bytes lost over the bytes in flight when its packet was sent) is above
//!   [`LOSS_THRESH`] *and* the RTT shows a queue (a quarter of `min_rtt` above it, at
//!   least 1 ms), or when the loss rate is above [`HIGH_LOSS_THRESH`] whatever the RTT
//!   (a shallow buffer overflowing). Random loss of a few percent on an unqueued path
//!   therefore changes nothing: a lossy Wi-Fi path keeps its rate.
//! * **Reaction.** Congestion during Startup or Up ends the probe and caps the in-flight
//!   volume at what was in flight then (`inflight_hi`, never below 70% of the target);
//!   outside probing, a congested round lowers short-term bounds to what the round
//!   delivered (`bw_lo`, `inflight_lo`, forgotten at the next probe). While cruising the
//!   window leaves 15% of `inflight_hi` free for other flows.
//! * **Queue.** The window is at most `cwnd_gain · bdp` and Down drains what Up queued,
//!   so the standing queue stays well below a round trip.
//! * **Undo.** A congestion reaction whose losses all turn out spurious restores the
//!   bounds it lowered.
//! * **Demand after a trickle.** When the sender fills its window after at least four
//!   `min_rtt`s of application-limited samples, and an application-limited sample set
//!   the estimate, it was only the trickle's rate: the model restarts from Startup
//!   (bounds cleared) instead of growing 25% per 2–3 s probing cycle (a bulk flow that
//!   paused keeps its measured estimate). A 1000 msg/s stream whose path blackholed for 2 s drains its backlog
//!   in a few round trips (median latency 20 ms; 983 ms without this rule).

mod filter;

use super::{AckEvent, Controller, initial_window};
use filter::MaxFilter;
use std::time::{Duration, Instant};

/// Pacing and window gain of Startup (2/ln 2).
const STARTUP_PACING_GAIN: f64 = 2.77;
const STARTUP_CWND_GAIN: f64 = 2.0;
/// Pacing gain of Drain.
const DRAIN_PACING_GAIN: f64 = 0.35;
/// Window gain in ProbeBW, and while probing up.
const CWND_GAIN: f64 = 2.0;
const UP_CWND_GAIN: f64 = 2.25;
/// Pacing gains of the ProbeBW phases.
const DOWN_GAIN: f64 = 0.9;
const UP_GAIN: f64 = 1.25;
/// Cruising runs this much below the estimate, so a queue left by an error drains.
const CRUISE_GAIN: f64 = 1.0;
/// Loss rate above which a sample that also shows a queue is congestion.
pub const LOSS_THRESH: f64 = 0.02;
/// Loss rate above which a sample is congestion whatever the RTT.
pub const HIGH_LOSS_THRESH: f64 = 0.15;
/// ... counted only from this many lost datagrams on (a small flight's single loss is
/// not a rate).
const HIGH_LOSS_MIN_PACKETS: u64 = 4;
/// A queue is evident when the RTT is this share of `min_rtt` above it ...
const QUEUE_SHARE: f64 = 0.25;
/// ... and at least this much.
const QUEUE_MIN: Duration = Duration::from_millis(1);
/// Multiplicative cut of the bounds on congestion.
const BETA: f64 = 0.7;
/// Share of `inflight_hi` left free while cruising, for other flows.
const HEADROOM: f64 = 0.15;
/// Startup ends when the bandwidth grew by less than this in `FULL_BW_ROUNDS` rounds.
const FULL_BW_GROWTH: f64 = 1.25;
const FULL_BW_ROUNDS: u32 = 3;
/// Length of the `min_rtt` window.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// ProbeRTT runs when no sample came within `1/MIN_RTT_CONFIRM` of `min_rtt` for this long.
const PROBE_RTT_INTERVAL: Duration = Duration::from_secs(5);
const MIN_RTT_CONFIRM: u32 = 8;
const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// Window during ProbeRTT, as a share of the bdp.
const PROBE_RTT_CWND_GAIN: f64 = 0.5;
/// Cruising time before the next probe for bandwidth: 2 s plus up to 1 s.
const PROBE_WAIT_BASE: Duration = Duration::from_secs(2);
/// Probing cycles the bandwidth filter spans.
const BW_CYCLES: usize = 2;
/// The window's headroom above the bdp is at least this much of the bandwidth.
const HEADROOM_RTT: Duration = Duration::from_millis(30);
/// An application-limited spell this many `min_rtt`s long makes the estimate a lower
/// bound: demand after it restarts Startup.
const APP_LIMITED_RTTS: u32 = 4;
/// Smallest window, in datagrams.
const MIN_CWND_PACKETS: u64 = 4;

/// Where BBR is in its cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BbrState {
    /// Doubling the rate every round to find the bottleneck.
    Startup,
    /// Draining the queue Startup built.
    Drain,
    /// Steady state: slightly below the estimate, draining what probing queued.
    ProbeBwDown,
    /// Steady state at the estimate.
    ProbeBwCruise,
    /// One round at the estimate before probing.
    ProbeBwRefill,
    /// Probing for more bandwidth.
    ProbeBwUp,
    /// Briefly draining the pipe to re-measure the base RTT.
    ProbeRtt,
}

/// The bounds a congestion reaction lowered, kept for undo.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    bw_lo: f64,
    inflight_lo: u64,
    inflight_hi: u64,
}

/// The BBR controller (see the module documentation).
#[derive(Debug, Clone)]
pub struct Bbr {
    mds: u64,
    state: BbrState,
    cwnd: u64,
    pacing_rate: f64,
    /// Bandwidth filter (bytes per second) over probing cycles, and its cycle counter.
    max_bw: MaxFilter<BW_CYCLES>,
    cycle: u64,
    /// Long- and short-term bounds (`bw_lo`: bytes per second).
    bounds: Bounds,
    /// Bounds before the last congestion reaction.
    undo: Option<Bounds>,
    /// Largest delivery rate and volume of the current round.
    bw_latest: f64,
    inflight_latest: u64,
    min_rtt: Option<Duration>,
    min_rtt_stamp: Instant,
    /// Last RTT sample within `1/MIN_RTT_CONFIRM` of `min_rtt`.
    confirmed_stamp: Instant,
    /// Round counting by delivered bytes.
    round: u64,
    next_round_delivered: u64,
    round_start: bool,
    rounds_in_phase: u64,
    /// Startup exit.
    full_bw: f64,
    full_bw_count: u32,
    filled_pipe: bool,
    /// A congested sample was seen in the current round.
    congested_in_round: bool,
    /// ProbeBW bookkeeping.
    cycle_start: Instant,
    probe_wait: Duration,
    /// ProbeRTT bookkeeping: when it may end, and the window to restore.
    probe_rtt_done: Option<Instant>,
    prior_cwnd: u64,
    delivered: u64,
    /// Congested samples seen, for statistics.
    congestion_signals: u64,
    /// The latest rate sample was application-limited.
    app_limited: bool,
    /// Since when every sample was application-limited (`None`: the last was not).
    app_limited_since: Option<Instant>,
    /// The sample that last raised the bandwidth estimate was application-limited.
    bw_app_limited: bool,
}

const UNBOUNDED: Bounds = Bounds {
    bw_lo: f64::INFINITY,
    inflight_lo: u64::MAX,
    inflight_hi: u64::MAX,
};

impl Bbr {
    /// A controller in Startup with the RFC 9002 initial window (at least the minimum
    /// window of four datagrams, which is larger for datagrams above 3680 bytes).
    pub fn new(max_datagram_size: u16, now: Instant) -> Self {
        let mds = u64::from(max_datagram_size).max(1);
        let cwnd = initial_window(mds).max(MIN_CWND_PACKETS * mds);
        Self {
            mds,
            state: BbrState::Startup,
            cwnd,
            // Until the first sample: the initial window over the initial RTT (100 ms).
            pacing_rate: STARTUP_PACING_GAIN * cwnd as f64 / 0.1,
            max_bw: MaxFilter::default(),
            cycle: 0,
            bounds: UNBOUNDED,
            undo: None,
            bw_latest: 0.0,
            inflight_latest: 0,
            min_rtt: None,
            min_rtt_stamp: now,
            confirmed_stamp: now,
            round: 0,
            next_round_delivered: 0,
            round_start: false,
            rounds_in_phase: 0,
            full_bw: 0.0,
            full_bw_count: 0,
            filled_pipe: false,
            congested_in_round: false,
            cycle_start: now,
            probe_wait: PROBE_WAIT_BASE,
            probe_rtt_done: None,
            prior_cwnd: cwnd,
            delivered: 0,
            congestion_signals: 0,
            app_limited: false,
            app_limited_since: None,
            bw_app_limited: false,
        }
    }

    /// The state it is in.
    pub fn state(&self) -> BbrState {
        self.state
    }

    /// The minimum RTT of the model, once measured.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// Samples judged congested so far (loss with a queue, or very high loss).
    pub fn congestion_signals(&self) -> u64 {
        self.congestion_signals
    }

    /// The bandwidth the model controls with: the filter's max, bounded by `bw_lo`.
    fn bw(&self) -> f64 {
        self.max_bw.get(self.cycle).min(self.bounds.bw_lo)
    }

    fn min_cwnd(&self) -> u64 {
        MIN_CWND_PACKETS * self.mds
    }

    /// `gain · bdp` in bytes (the initial window while there is no estimate).
    fn inflight(&self, gain: f64) -> u64 {
        let bw = self.bw();
        match self.min_rtt {
            Some(rtt) if bw > 0.0 => {
                let bytes = gain * bw * rtt.as_secs_f64();
                // Finite and non-negative; `as` saturates.
                (bytes as u64).max(self.min_cwnd())
            }
            _ => initial_window(self.mds).max(self.min_cwnd()),
        }
    }

    fn pacing_gain(&self) -> f64 {
        match self.state {
            BbrState::Startup => STARTUP_PACING_GAIN,
            BbrState::Drain => DRAIN_PACING_GAIN,
            BbrState::ProbeBwDown => DOWN_GAIN,
            BbrState::ProbeBwUp => UP_GAIN,
            BbrState::ProbeBwCruise => CRUISE_GAIN,
            BbrState::ProbeBwRefill | BbrState::ProbeRtt => 1.0,
        }
    }

    fn cwnd_gain(&self) -> f64 {
        match self.state {
            BbrState::Startup | BbrState::Drain => STARTUP_CWND_GAIN,
            BbrState::ProbeBwUp => UP_CWND_GAIN,
            _ => CWND_GAIN,
        }
    }

    fn probing(&self) -> bool {
        matches!(self.state, BbrState::Startup | BbrState::ProbeBwUp)
    }

    fn enter(&mut self, state: BbrState, now: Instant) {
        tracing::trace!(from = ?self.state, to = ?state, bw = self.bw(), cwnd = self.cwnd, "bbr state");
        self.state = state;
        self.rounds_in_phase = 0;
        match state {
            BbrState::ProbeBwDown => {
                // A new probing cycle: the filter forgets the cycle before the last. Not
                // while application-limited: a probe that could not fill the pipe
                // measured nothing, and ageing the filter then would let the trickle's
                // samples replace the path's rate.
                if !self.app_limited {
                    self.cycle += 1;
                }
                self.cycle_start = now;
                // A deterministic spread of the probing wait over [2 s, 3 s).
                let spread = (self.round.wrapping_mul(0x9e37_79b9) % 8) as u32;
                self.probe_wait = PROBE_WAIT_BASE + Duration::from_millis(125) * spread;
            }
            BbrState::ProbeBwRefill => {
                // A fresh probe: forget the short-term bounds.
                self.bounds.bw_lo = f64::INFINITY;
                self.bounds.inflight_lo = u64::MAX;
            }
            _ => {}
        }
    }

    /// Round counting: a round ends when a packet sent after the previous round's end
    /// is acknowledged.
    fn update_round(&mut self, e: &AckEvent<'_>) {
        self.round_start = false;
        let Some(rs) = e.rate else { return };
        if rs.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = e.delivered;
            self.round += 1;
            self.round_start = true;
            self.rounds_in_phase += 1;
        }
    }

    fn update_model(&mut self, e: &AckEvent<'_>) {
        if let Some(rtt) = e.rtt_sample {
            let expired = e.now.saturating_duration_since(self.min_rtt_stamp) > MIN_RTT_WINDOW;
            if self.min_rtt.is_none_or(|m| rtt <= m) || expired {
                self.min_rtt = Some(rtt);
                self.min_rtt_stamp = e.now;
            }
            if self.min_rtt.is_some_and(|m| rtt <= m + m / MIN_RTT_CONFIRM) {
                self.confirmed_stamp = e.now;
            }
        }
        let Some(rs) = e.rate else { return };
        self.app_limited = rs.is_app_limited;
        self.check_demand(e.now, rs.is_app_limited);
        let before = self.max_bw.get(self.cycle);
        if !rs.is_app_limited || rs.delivery_rate >= before {
            self.max_bw.update(self.cycle, rs.delivery_rate);
        }
        if self.max_bw.get(self.cycle) > before {
            self.bw_app_limited = rs.is_app_limited;
        }
        self.bw_latest = self.bw_latest.max(rs.delivery_rate);
        self.inflight_latest = self.inflight_latest.max(rs.delivered);
    }

    /// After a spell of application-limited samples, an estimate that an
    /// application-limited sample set is only a lower bound of the path (a trickle
    /// measured itself, not the bottleneck). When the sender then fills its window (a
    /// backlog after a blackhole, a burst after chat traffic), the model is rebuilt from
    /// Startup instead of growing 25% per probing cycle. An estimate a window-filling
    /// sample set (a bulk flow that paused) stands.
    fn check_demand(&mut self, now: Instant, app_limited: bool) {
        if app_limited {
            self.app_limited_since.get_or_insert(now);
            return;
        }
        let Some(since) = self.app_limited_since.take() else {
            return;
        };
        let spell = self
            .min_rtt
            .map_or(Duration::ZERO, |r| r * APP_LIMITED_RTTS);
        let long = now.saturating_duration_since(since) >= spell;
        if self.filled_pipe && self.bw_app_limited && long {
            tracing::trace!(
                bw = self.bw(),
                "bbr: demand after an application-limited spell, startup"
            );
            self.filled_pipe = false;
            self.full_bw = 0.0;
            self.full_bw_count = 0;
            self.bounds = UNBOUNDED;
            self.enter(BbrState::Startup, now);
        }
    }

    /// Whether the ACK's sample shows congestion (see the module documentation).
    fn congested(&self, e: &AckEvent<'_>) -> bool {
        let Some(rs) = e.rate else { return false };
        if rs.lost == 0 {
            return false;
        }
        let rate = rs.lost as f64 / rs.prior_in_flight.max(self.mds) as f64;
        if rate > HIGH_LOSS_THRESH && rs.lost >= HIGH_LOSS_MIN_PACKETS * self.mds {
            return true;
        }
        let (Some(min), Some(rtt)) = (self.min_rtt, e.rtt_sample.or(Some(e.rtt.latest()))) else {
            return false;
        };
        let queue = Duration::from_secs_f64(min.as_secs_f64() * QUEUE_SHARE).max(QUEUE_MIN);
        rate > LOSS_THRESH && rtt > min + queue
    }

    /// Reaction to congestion: at once while probing, once per round otherwise.
    fn adapt_to_congestion(&mut self, e: &AckEvent<'_>) {
        if self.congested(e) {
            self.congestion_signals += 1;
            self.congested_in_round = true;
            if self.probing() {
                self.undo = Some(self.bounds);
                let tx = e.rate.map_or(self.cwnd, |rs| rs.prior_in_flight);
                let floor = (BETA * self.inflight(self.cwnd_gain()) as f64) as u64;
                self.bounds.inflight_hi = tx.max(floor).max(self.min_cwnd());
                if self.state == BbrState::Startup {
                    self.filled_pipe = true;
                    self.enter(BbrState::Drain, e.now);
                } else {
                    self.enter(BbrState::ProbeBwDown, e.now);
                }
            }
        }
        if !self.round_start {
            return;
        }
        if self.congested_in_round && !self.probing() && self.state != BbrState::ProbeBwRefill {
            self.lower_bounds();
        }
        self.congested_in_round = false;
        self.bw_latest = 0.0;
        self.inflight_latest = 0;
    }

    /// What the last round delivered is what the path carries now.
    fn lower_bounds(&mut self) {
        self.undo = Some(self.bounds);
        let b = &mut self.bounds;
        let bw_lo = if b.bw_lo.is_finite() {
            b.bw_lo
        } else {
            self.max_bw.get(self.cycle)
        };
        b.bw_lo = self.bw_latest.max(BETA * bw_lo);
        let lo = if b.inflight_lo == u64::MAX {
            self.cwnd
        } else {
            b.inflight_lo
        };
        b.inflight_lo = self.inflight_latest.max((BETA * lo as f64) as u64);
    }

    fn check_startup_done(&mut self, e: &AckEvent<'_>) {
        if self.filled_pipe || !self.round_start {
            return;
        }
        if e.rate.is_some_and(|rs| rs.is_app_limited) {
            return;
        }
        let bw = self.max_bw.get(self.cycle);
        if bw >= self.full_bw * FULL_BW_GROWTH {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        if self.full_bw_count >= FULL_BW_ROUNDS {
            self.filled_pipe = true;
        }
    }

    fn update_state(&mut self, e: &AckEvent<'_>) {
        self.check_startup_done(e);
        let now = e.now;
        match self.state {
            BbrState::Startup if self.filled_pipe => self.enter(BbrState::Drain, now),
            BbrState::Drain if e.bytes_in_flight <= self.inflight(1.0) => {
                self.enter(BbrState::ProbeBwDown, now);
            }
            BbrState::ProbeBwDown => {
                let target = self.inflight(1.0).min(self.headroom_cap());
                if e.bytes_in_flight <= target {
                    self.enter(BbrState::ProbeBwCruise, now);
                }
            }
            BbrState::ProbeBwCruise
                if now.saturating_duration_since(self.cycle_start) >= self.probe_wait =>
            {
                self.enter(BbrState::ProbeBwRefill, now);
            }
            BbrState::ProbeBwRefill if self.round_start => {
                self.enter(BbrState::ProbeBwUp, now);
            }
            BbrState::ProbeBwUp => {
                if self.round_start {
                    // Each round of probing without congestion lets the cap grow.
                    self.raise_inflight_hi();
                }
                if self.rounds_in_phase >= 1 && e.bytes_in_flight > self.inflight(UP_GAIN) {
                    self.enter(BbrState::ProbeBwDown, now);
                }
            }
            _ => {}
        }
        self.check_probe_rtt(e);
    }

    /// While probing up without congestion, the long-term cap grows exponentially.
    fn raise_inflight_hi(&mut self) {
        let hi = &mut self.bounds.inflight_hi;
        if *hi != u64::MAX {
            let step = self.mds << self.rounds_in_phase.min(20);
            *hi = hi.saturating_add(step);
        }
    }

    /// `inflight_hi` less the headroom left for other flows.
    fn headroom_cap(&self) -> u64 {
        let hi = self.bounds.inflight_hi;
        if hi == u64::MAX {
            return u64::MAX;
        }
        let free = (HEADROOM * hi as f64) as u64;
        (hi - free.min(hi)).max(self.min_cwnd())
    }

    fn check_probe_rtt(&mut self, e: &AckEvent<'_>) {
        let now = e.now;
        if self.state != BbrState::ProbeRtt {
            let stale = now.saturating_duration_since(self.confirmed_stamp) > PROBE_RTT_INTERVAL;
            if stale && self.filled_pipe && self.min_rtt.is_some() {
                self.prior_cwnd = self.cwnd;
                self.enter(BbrState::ProbeRtt, now);
                self.probe_rtt_done = None;
            }
            return;
        }
        let low = self.inflight(PROBE_RTT_CWND_GAIN);
        if self.probe_rtt_done.is_none() && e.bytes_in_flight <= low {
            self.probe_rtt_done = Some(now + PROBE_RTT_DURATION);
        }
        if self.probe_rtt_done.is_some_and(|t| now >= t) {
            self.confirmed_stamp = now;
            self.cwnd = self.cwnd.max(self.prior_cwnd);
            self.enter(BbrState::ProbeBwDown, now);
        }
    }

    fn update_pacing_rate(&mut self, e: &AckEvent<'_>) {
        let bw = self.bw();
        if bw <= 0.0 || !bw.is_finite() {
            // No rate sample yet: the window over the measured RTT (the handshake's),
            // not over the 100 ms guess the controller started with.
            let srtt = e.rtt.smoothed().as_secs_f64();
            if srtt > 0.0 && !self.filled_pipe {
                let rate = STARTUP_PACING_GAIN * self.cwnd as f64 / srtt;
                self.pacing_rate = self.pacing_rate.max(rate);
            }
            return;
        }
        let rate = self.pacing_gain() * bw;
        // In Startup the rate never falls (the estimate is still catching up).
        if self.filled_pipe || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    /// The window target: one bdp plus `(cwnd_gain − 1)` bandwidth-times-RTT of headroom,
    /// the RTT floored at [`HEADROOM_RTT`] so that a short-RTT flow's allowance does not
    /// shrink with its RTT (a shared queue then costs it no larger share of its window
    /// than a long-RTT flow's).
    fn cwnd_target(&self) -> u64 {
        let gain = self.cwnd_gain();
        match self.min_rtt {
            Some(rtt) if self.filled_pipe && rtt < HEADROOM_RTT => {
                let extra = (gain - 1.0) * HEADROOM_RTT.as_secs_f64() / rtt.as_secs_f64();
                self.inflight(1.0 + extra)
            }
            _ => self.inflight(gain),
        }
    }

    fn update_cwnd(&mut self, e: &AckEvent<'_>) {
        let target = self.cwnd_target();
        self.cwnd = if self.filled_pipe {
            (self.cwnd + e.acked_bytes).min(target)
        } else if self.cwnd < target || self.delivered < initial_window(self.mds) {
            self.cwnd + e.acked_bytes
        } else {
            self.cwnd
        };
        let b = &self.bounds;
        let mut cap = b.inflight_hi;
        if self.state == BbrState::ProbeRtt {
            cap = cap.min(self.inflight(PROBE_RTT_CWND_GAIN));
        }
        if !matches!(self.state, BbrState::ProbeBwUp | BbrState::ProbeBwRefill) {
            cap = cap.min(self.headroom_cap()).min(b.inflight_lo);
        }
        self.cwnd = self.cwnd.min(cap).max(self.min_cwnd());
    }
}

impl Controller for Bbr {
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &crate::recovery::RttEstimator,
    ) {
        let _ = (now, sent, app_limited, rtt);
        self.delivered += bytes;
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        persistent: bool,
        lost_bytes: u64,
    ) {
        let _ = (now, sent, lost_bytes);
        if persistent {
            // Everything in flight for several PTOs was lost: restart from the minimum
            // window; acks grow it back to the model's target within a few rounds.
            self.prior_cwnd = self.cwnd;
            self.cwnd = self.min_cwnd();
            self.bounds.bw_lo = f64::INFINITY;
            self.bounds.inflight_lo = u64::MAX;
        }
    }

    fn on_ack_event(&mut self, e: &AckEvent<'_>) {
        self.update_round(e);
        self.update_model(e);
        self.adapt_to_congestion(e);
        self.update_state(e);
        self.update_pacing_rate(e);
        self.update_cwnd(e);
    }

    fn on_spurious_congestion(&mut self, now: Instant) {
        let _ = now;
        if let Some(b) = self.undo.take() {
            self.bounds = b;
        }
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn minimum_window(&self) -> u64 {
        self.min_cwnd()
    }

    fn name(&self) -> &'static str {
        "bbr"
    }

    fn pacing_rate(&self) -> Option<f64> {
        Some(self.pacing_rate)
    }

    fn bandwidth_estimate(&self) -> Option<f64> {
        let bw = self.bw();
        (bw > 0.0 && bw.is_finite()).then_some(bw)
    }
}

#[cfg(test)]
mod tests;
