//! One path of a connection: everything that belongs to one (local address, remote
//! address) pair and to its path id.
//!
//! A [`Path`] owns both packet-number spaces of its id (the numbers we send, with their
//! loss recovery, RTT, congestion controller and pacer; the numbers we receive, with the
//! replay window and what to acknowledge), the anti-amplification budget of its address,
//! its probes, timers and counters. When an authenticated packet of the path arrives from
//! another address, that address becomes the path's [`Candidate`] and is validated with
//! PATH_CHALLENGE before the path moves there (`migrate.rs`); the packet-number spaces
//! stay with the path id, so no nonce is reused and no replayed packet is accepted twice.

use super::SentFrames;
use crate::path::{PathStats, PathStatus, PathView};
use crate::ranges::RangeSet;
use crate::recovery::{PathRecovery, RecoveryConfig};
use crate::replay::ReplayWindow;
use crate::timer::{TimerKind, TimerTable};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most ranges the receive tracker keeps; older ranges are forgotten (their packets then
/// count as duplicates, so the sender retransmits their data instead).
pub(crate) const MAX_RX_RANGES: usize = 256;
/// Challenges kept per validation (any of them may be answered).
pub(crate) const MAX_CHALLENGES: usize = 3;

/// The timers of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathTimer {
    /// Loss detection or probe timeout of the path's recovery.
    Recovery,
    /// Delayed acknowledgement of the peer's packets.
    Ack,
    /// The pacer lets the next packet go.
    Pacing,
    /// Resend a PATH_CHALLENGE, or give the candidate (or the new path) up.
    Validation,
    /// An abandoned path's state is forgotten.
    Retire,
    /// A path that sent nothing ack-eliciting for a while is probed (multipath).
    Liveness,
    /// The oldest ack-eliciting packet in flight went a PTO unacknowledged: the selector
    /// is asked whether the path failed (multipath).
    Overdue,
}

impl TimerKind for PathTimer {
    const ALL: &'static [Self] = &[
        PathTimer::Recovery,
        PathTimer::Ack,
        PathTimer::Pacing,
        PathTimer::Validation,
        PathTimer::Retire,
        PathTimer::Liveness,
        PathTimer::Overdue,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// Receive-side packet-number state of a path: what to acknowledge.
#[derive(Debug, Default)]
pub(crate) struct RxState {
    pub received: RangeSet,
    /// Packets below this number are treated as duplicates.
    pub floor: u64,
    pub largest: Option<(u64, Instant)>,
    /// Ack-eliciting packets received since our last ACK.
    pub eliciting_unacked: u32,
    /// Something new to acknowledge since the last ACK we sent.
    pub ack_needed: bool,
    /// Send an ACK in the next packet, whatever else.
    pub ack_now: bool,
    /// When the latest packet was recorded.
    pub last_rx: Option<Instant>,
    /// Packets were recorded since this path's ACK last went out on another path.
    pub cross_pending: bool,
}

impl RxState {
    /// Whether `pn` is new: not below the floor and not received before.
    pub fn is_new(&self, pn: u64) -> bool {
        pn >= self.floor && !self.received.contains(pn)
    }

    /// Records an authenticated packet; returns whether it arrived in order.
    pub fn record(&mut self, pn: u64, now: Instant) -> bool {
        let in_order = self.largest.is_none_or(|(l, _)| pn == l + 1);
        self.received.insert(pn..pn + 1);
        if self.received.range_count() > MAX_RX_RANGES
            && let Some(r) = self.received.pop_first()
        {
            self.floor = self.floor.max(r.end);
        }
        if self.largest.is_none_or(|(l, _)| pn > l) {
            self.largest = Some((pn, now));
        }
        self.ack_needed = true;
        self.last_rx = Some(now);
        self.cross_pending = true;
        in_order
    }

    /// The peer saw an ACK of ours covering everything below `floor`.
    pub fn raise_floor(&mut self, floor: u64) {
        if floor > self.floor {
            self.floor = floor;
            self.received.remove_below(floor);
        }
    }
}

/// Anti-amplification budget of an address: until it is validated, at most three times
/// the bytes received from it may be sent to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Budget {
    pub validated: bool,
    pub received: u64,
    pub sent: u64,
}

impl Budget {
    /// A validated address: no limit.
    pub fn validated() -> Self {
        Budget {
            validated: true,
            ..Budget::default()
        }
    }

    /// Whether `bytes` more may be sent now.
    pub fn allows(&self, bytes: usize) -> bool {
        self.validated || self.sent + bytes as u64 <= self.received.saturating_mul(3)
    }

    /// Bytes that may still be sent (`usize::MAX` once validated).
    pub fn room(&self) -> usize {
        if self.validated {
            return usize::MAX;
        }
        let left = self.received.saturating_mul(3).saturating_sub(self.sent);
        usize::try_from(left).unwrap_or(usize::MAX)
    }

    pub fn on_received(&mut self, bytes: usize) {
        if !self.validated {
            self.received = self.received.saturating_add(bytes as u64);
        }
    }

    pub fn on_sent(&mut self, bytes: usize) {
        if !self.validated {
            self.sent = self.sent.saturating_add(bytes as u64);
        }
    }
}

/// An outstanding path validation: the unpredictable values sent in PATH_CHALLENGE
/// frames to a candidate address, any of which its PATH_RESPONSE may echo.
#[derive(Debug)]
pub(crate) struct Challenge {
    pub tokens: Vec<[u8; 8]>,
    /// A new challenge should be sent.
    pub due: bool,
    pub resend_at: Instant,
    pub give_up_at: Instant,
}

impl Challenge {
    /// The validation timer: the next resend or the end.
    pub fn deadline(&self) -> Instant {
        self.resend_at.min(self.give_up_at)
    }

    /// Remembers a new token (the oldest is forgotten past [`MAX_CHALLENGES`]).
    pub fn push(&mut self, token: [u8; 8]) {
        if self.tokens.len() >= MAX_CHALLENGES {
            self.tokens.remove(0);
        }
        self.tokens.push(token);
    }

    pub fn matches(&self, data: &[u8; 8]) -> bool {
        self.tokens
            .iter()
            .any(|t| crate::crypto::gate::mac_eq(t, data))
    }
}

/// A new address seen for a path, being validated before the path moves there.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub budget: Budget,
    pub challenge: Challenge,
    /// A PATH_RESPONSE owed to the candidate address (its own challenge).
    pub response: Option<[u8; 8]>,
}

impl Candidate {
    pub fn is(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.local == local && self.remote == remote
    }

    /// Whether a probe packet is waiting to go to the candidate.
    pub fn wants_probe(&self) -> bool {
        self.challenge.due || self.response.is_some()
    }
}

/// The PATH_STATUS and PATH_ABANDON state of a path (multipath, PROTOCOL.md §12.5).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Signals {
    /// We asked for the path to be kept in reserve.
    pub local_standby: bool,
    /// The peer asked for it (its newest PATH_STATUS, by sequence).
    pub peer_standby: bool,
    /// Sequence of our latest PATH_STATUS for the path (0: none sent yet).
    pub status_seq: u64,
    /// Our PATH_STATUS must be (re)sent.
    pub status_pending: bool,
    /// Sequence of the newest PATH_STATUS received.
    pub peer_status_seq: Option<u64>,
    /// Our PATH_ABANDON must be (re)sent (until acknowledged).
    pub abandon_pending: bool,
    /// The error code of our PATH_ABANDON.
    pub abandon_code: u64,
    /// The path's state is gone (path 0 stays in the table as a tombstone).
    pub retired: bool,
}

/// Per-path counters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub migrations: u64,
    pub failed_validations: u64,
}

/// One path: a (local, remote) address pair and the state of its path id.
#[derive(Debug)]
pub(crate) struct Path {
    pub id: u64,
    pub status: PathStatus,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Our packet-number space: loss recovery, RTT, congestion control, pacing.
    pub recovery: PathRecovery<SentFrames>,
    /// The peer's packet-number space: what to acknowledge.
    pub rx: RxState,
    pub replay: ReplayWindow,
    /// Anti-amplification budget of `remote`.
    pub budget: Budget,
    pub candidate: Option<Candidate>,
    /// A new path's own validation (multipath): challenges to `remote` until one is
    /// answered; the path carries nothing but probes meanwhile.
    pub validation: Option<Challenge>,
    pub signals: Signals,
    /// A PATH_RESPONSE owed to `remote`.
    pub response: Option<[u8; 8]>,
    /// Probe packets the PTO asked for.
    pub probes: usize,
    /// A liveness probe (a PING) is due: the path sent nothing ack-eliciting for the
    /// path keepalive interval.
    pub ping: bool,
    /// The selector declared the path failed; cleared by its next acknowledgement.
    pub failed: bool,
    /// The connection has several paths: this one is watched for going silent.
    pub watch: bool,
    /// The latest overdue deadline the selector was asked about (not armed again).
    pub overdue_checked: Option<Instant>,
    /// Channel data to send again on this path (mirror, hedged).
    pub copies: super::redundancy::CopyQueue,
    /// Parity frames to send on this path (parity).
    pub parity_out: super::parity::ParityOut,
    pub timers: TimerTable<PathTimer, 7>,
    pub mds: u16,
    pub counters: Counters,
}

impl Path {
    pub fn new(
        id: u64,
        validated: bool,
        (local, remote): (SocketAddr, SocketAddr),
        config: &RecoveryConfig,
        mds: u16,
        now: Instant,
    ) -> Self {
        Path {
            id,
            status: if validated {
                PathStatus::Active
            } else {
                PathStatus::Validating
            },
            local,
            remote,
            recovery: PathRecovery::new(config, mds, now),
            rx: RxState::default(),
            replay: ReplayWindow::new(),
            budget: if validated {
                Budget::validated()
            } else {
                Budget::default()
            },
            candidate: None,
            validation: None,
            signals: Signals::default(),
            response: None,
            probes: 0,
            ping: false,
            failed: false,
            watch: false,
            overdue_checked: None,
            copies: Default::default(),
            parity_out: Default::default(),
            timers: TimerTable::default(),
            mds,
            counters: Counters::default(),
        }
    }

    pub fn is(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.local == local && self.remote == remote
    }

    /// The peer proved it receives at `remote`: no amplification limit any more.
    pub fn confirm(&mut self) {
        self.budget = Budget::validated();
        self.validation = None;
        if self.status == PathStatus::Validating {
            self.status = PathStatus::Active;
            self.apply_standby();
        }
    }

    /// Active or Standby, from both sides' PATH_STATUS (a path either side wants in
    /// reserve is standby); other statuses stay.
    pub fn apply_standby(&mut self) {
        if matches!(self.status, PathStatus::Active | PathStatus::Standby) {
            let s = &self.signals;
            self.status = if s.local_standby || s.peer_standby {
                PathStatus::Standby
            } else {
                PathStatus::Active
            };
        }
    }

    /// Whether the path may carry packets the selector places: not abandoned, and not
    /// a new path still proving its address (path 0 before the handshake confirmed the
    /// dialer is selectable, within its budget).
    pub fn selectable(&self) -> bool {
        self.status != PathStatus::Abandoned && self.validation.is_none()
    }

    /// Re-arms the timers that follow other state (recovery, validation).
    pub fn sync_timers(&mut self) {
        self.timers
            .set(PathTimer::Recovery, self.recovery.timeout());
        let candidate = self.candidate.as_ref().map(|c| c.challenge.deadline());
        let own = self.validation.as_ref().map(|c| c.deadline());
        let validation = candidate.into_iter().chain(own).min();
        self.timers.set(PathTimer::Validation, validation);
        self.timers.set(PathTimer::Overdue, self.overdue_deadline());
    }

    /// When the oldest ack-eliciting packet in flight goes a PTO unacknowledged, if the
    /// path is watched, not failed, and the selector was not asked about that instant.
    pub fn overdue_deadline(&self) -> Option<Instant> {
        if !self.watch || self.failed || self.status == PathStatus::Abandoned {
            return None;
        }
        let at = self.recovery.oldest_eliciting_sent()? + self.recovery.pto_interval();
        self.overdue_checked.is_none_or(|c| at > c).then_some(at)
    }

    pub fn view(&self, now: Instant) -> PathView {
        let rs = self.recovery.stats();
        let oldest = self.recovery.oldest_eliciting_sent();
        PathView {
            id: self.id,
            status: self.status,
            local: self.local,
            remote: self.remote,
            rtt: self.recovery.rtt().smoothed(),
            min_rtt: self.recovery.rtt().min(),
            cwnd: self.recovery.congestion_window(),
            bytes_in_flight: self.recovery.bytes_in_flight(),
            can_send: self.recovery.can_send(u64::from(self.mds)),
            pto_count: self.recovery.pto_count(),
            pto: self.recovery.pto_interval(),
            unacked_for: oldest.map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
            loss_rate: if rs.packets_sent == 0 {
                0.0
            } else {
                rs.packets_lost as f64 / rs.packets_sent as f64
            },
            max_datagram_size: self.mds,
            bandwidth: self.recovery.bandwidth_estimate(),
            backlog: 0,
            pacing_wait: Duration::ZERO,
            failed: self.failed,
        }
    }

    pub fn stats(&self) -> PathStats {
        let c = &self.counters;
        PathStats {
            id: self.id,
            status: self.status,
            local: self.local,
            remote: self.remote,
            packets_sent: c.packets_sent,
            packets_received: c.packets_received,
            bytes_sent: c.bytes_sent,
            bytes_received: c.bytes_received,
            rtt: self.recovery.rtt().smoothed(),
            cwnd: self.recovery.congestion_window(),
            pto: self.recovery.pto_interval(),
            min_rtt: self.recovery.rtt().min(),
            controller: self.recovery.controller_name(),
            bandwidth: self.recovery.bandwidth_estimate(),
            failed: self.failed,
            migrations: c.migrations,
            failed_validations: c.failed_validations,
            recovery: self.recovery.stats(),
        }
    }
}
