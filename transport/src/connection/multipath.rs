//! Several paths per connection (PROTOCOL.md §12.5): opening, accepting, standby and
//! abandoning paths.
//!
//! Multipath is on when both sides' `max_paths` transport parameter is above 1. Either
//! side may then open a path between any of its addresses and any of the peer's: the
//! dialer uses even path ids (path 0 is its handshake path), the listener odd ones,
//! each side in increasing order and never twice. A new path carries nothing but
//! PATH_CHALLENGE / PATH_RESPONSE probes until the peer echoed one of its challenges;
//! the side that did not open it also keeps the peer's new address within the 3×
//! anti-amplification budget until then. Paths change status with PATH_STATUS (standby:
//! carry only probes while another path is active) and end with PATH_ABANDON: the
//! abandoned path's packets in flight are declared lost at once, so their data goes out
//! again on the other paths, and its state is forgotten three PTOs later.
//!
//! Bounded: the table holds at most `min(local, peer max_paths)` ≤ [`MAX_PATHS`] paths
//! (abandoned ones included until retired); a packet for a path id the table cannot hold
//! is dropped before decryption, and a path is created only after its first packet
//! authenticated.

use super::path::Challenge;
use super::recv::FrameOutcome;
use super::*;
use crate::config::MAX_PATHS;
use crate::error::PathError;
use crate::path::PathStatus;
use crate::wire::Frame;

/// Largest path id a packet may carry (the nonce holds 32 bits of it, §6.6).
const MAX_PATH_ID: u64 = u32::MAX as u64;

impl Connection {
    /// The mode channel directions start in ([`TransportConfig::path_mode`](crate::TransportConfig)).
    pub fn default_path_mode(&self) -> crate::path::PathMode {
        self.config.path_mode
    }

    /// Whether both sides allowed several paths (transport parameter `max_paths`).
    pub fn multipath_enabled(&self) -> bool {
        self.path_limit() > 1
    }

    /// How many paths the table may hold: the smaller of both sides' `max_paths`.
    fn path_limit(&self) -> usize {
        let peer = self.peer_params.as_ref().map_or(1, |p| p.max_paths);
        let local = self.config.max_paths;
        // Both are at most MAX_PATHS (16) here.
        local.min(peer).clamp(1, MAX_PATHS) as usize
    }

    /// Paths holding state (everything but a retired path 0's tombstone).
    fn paths_held(&self) -> usize {
        self.paths.iter().filter(|p| !p.signals.retired).count()
    }

    /// Whether `id` belongs to the paths this side opens (even for the dialer).
    fn is_local_path_id(&self, id: u64) -> bool {
        id.is_multiple_of(2) == (self.side == Side::Initiator)
    }

    /// Whether `id` was used on this connection and is gone from the table.
    pub(super) fn path_was_retired(&self, id: u64) -> bool {
        let next = if self.is_local_path_id(id) {
            self.next_local_path
        } else {
            self.next_peer_path
        };
        id < next && self.path_index(id).is_none()
    }

    /// Opens a path from our address `local` to the peer's address `remote`; returns its
    /// id. The path validates the address first (PATH_CHALLENGE) and reports
    /// [`PathEvent::Validated`], or [`PathEvent::ValidationFailed`] and abandons itself.
    pub fn open_path(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<u64, PathError> {
        if self.state != State::Established {
            return Err(PathError::NotConnected);
        }
        if !self.multipath_enabled() {
            return Err(PathError::MultipathDisabled);
        }
        if self.paths_held() >= self.path_limit() {
            return Err(PathError::TooManyPaths);
        }
        let live = |p: &&Path| p.status != PathStatus::Abandoned;
        if self.paths.iter().filter(live).any(|p| p.is(local, remote)) {
            return Err(PathError::Exists);
        }
        let id = self.next_local_path;
        if id > MAX_PATH_ID {
            return Err(PathError::IdsExhausted);
        }
        self.next_local_path += 2;
        // We chose the address: no amplification budget, but no data before it answers.
        let i = self.insert_path(now, id, (local, remote), true);
        tracing::info!(peer = %self.peer_label(), path = id, %local, %remote, "opening path");
        self.paths[i].sync_timers();
        Ok(id)
    }

    /// Adds a path in validation; returns its index.
    fn insert_path(
        &mut self,
        now: Instant,
        id: u64,
        addr: (SocketAddr, SocketAddr),
        validated: bool,
    ) -> usize {
        let mds = self.paths[0].mds;
        let mut path = Path::new(id, validated, addr, &self.config.recovery, mds, now);
        path.status = PathStatus::Validating;
        let interval = self.fresh_validation_interval();
        path.validation = Some(Challenge {
            tokens: Vec::new(),
            due: true,
            resend_at: now + interval,
            give_up_at: now + interval * 3,
        });
        let i = self.paths.partition_point(|p| p.id < id);
        self.paths.insert(i, path);
        // Several paths: each is watched for going silent (failover).
        for p in &mut self.paths {
            p.watch = true;
        }
        i
    }

    /// The validation interval of an address with no RTT sample yet (a PTO at the
    /// initial RTT, RFC 9000 §8.2.4).
    fn fresh_validation_interval(&self) -> Duration {
        let rc = &self.config.recovery;
        rc.initial_rtt * 3 + rc.max_ack_delay
    }

    /// Whether an authenticated packet of the unknown path `id` could open a peer path
    /// now (checked before decryption: no state for packets that do not qualify).
    pub(super) fn may_accept_path(&self, id: u64) -> bool {
        self.state == State::Established
            && self.multipath_enabled()
            && !self.is_local_path_id(id)
            && id >= self.next_peer_path
            && id <= MAX_PATH_ID
            && self.paths_held() < self.path_limit()
    }

    /// The first authenticated packet of peer path `id` arrived on `addr` (`size` bytes):
    /// the path exists from now on, in validation; returns its index.
    pub(super) fn accept_path(
        &mut self,
        now: Instant,
        id: u64,
        addr: (SocketAddr, SocketAddr),
        size: usize,
    ) -> usize {
        self.next_peer_path = id + 2;
        let i = self.insert_path(now, id, addr, false);
        self.paths[i].budget.on_received(size);
        self.paths[i].sync_timers();
        tracing::info!(
            peer = %self.peer_label(),
            path = id,
            local = %addr.0,
            remote = %addr.1,
            "peer opened a path: validating"
        );
        i
    }

    /// A PATH_RESPONSE echoed path `i`'s own challenge: the path is usable.
    pub(super) fn on_path_validated(&mut self, i: usize) {
        let path = &mut self.paths[i];
        path.confirm();
        path.sync_timers();
        let (id, local, remote, status) = (path.id, path.local, path.remote, path.status);
        tracing::info!(peer = %self.peer_label(), path = id, %local, %remote, ?status, "path validated");
        self.events.push_back(Event::Path(PathEvent::Validated {
            path: id,
            local,
            remote,
        }));
    }

    /// Path `i`'s own validation timer: resend the challenge, or give the path up.
    pub(super) fn on_own_validation_timer(&mut self, now: Instant, i: usize) {
        let interval = self.fresh_validation_interval();
        let path = &mut self.paths[i];
        let Some(v) = path.validation.as_mut() else {
            return;
        };
        if now >= v.give_up_at {
            path.counters.failed_validations += 1;
            let (id, remote) = (path.id, path.remote);
            tracing::warn!(peer = %self.peer_label(), path = id, %remote, "new path never answered: abandoning it");
            self.events
                .push_back(Event::Path(PathEvent::ValidationFailed {
                    path: id,
                    remote,
                }));
            self.abandon(now, i, 0, false);
        } else if now >= v.resend_at {
            v.due = true;
            v.resend_at = now + interval;
        }
    }

    /// Asks for path `id` to be kept in reserve (`standby`) or used normally; the peer is
    /// told with PATH_STATUS.
    pub fn set_path_standby(&mut self, id: u64, standby: bool) -> Result<(), PathError> {
        if self.state != State::Established {
            return Err(PathError::NotConnected);
        }
        let i = self.live_path(id)?;
        let path = &mut self.paths[i];
        if path.signals.local_standby == standby && path.signals.status_seq > 0 {
            return Ok(());
        }
        path.signals.local_standby = standby;
        path.signals.status_seq += 1;
        path.signals.status_pending = true;
        self.update_status(i);
        Ok(())
    }

    /// Abandons path `id`: nothing more is sent on it, its packets in flight go out
    /// again on the other paths, and the peer is told with PATH_ABANDON.
    pub fn abandon_path(&mut self, now: Instant, id: u64) -> Result<(), PathError> {
        if self.state != State::Established {
            return Err(PathError::NotConnected);
        }
        let i = self.live_path(id)?;
        if !self.has_other_live_path(i) {
            return Err(PathError::LastPath);
        }
        self.abandon(now, i, 0, false);
        Ok(())
    }

    fn live_path(&self, id: u64) -> Result<usize, PathError> {
        self.path_index(id)
            .filter(|&i| self.paths[i].status != PathStatus::Abandoned)
            .ok_or(PathError::UnknownPath)
    }

    fn has_other_live_path(&self, i: usize) -> bool {
        (0..self.paths.len()).any(|j| j != i && self.paths[j].status != PathStatus::Abandoned)
    }

    /// Recomputes path `i`'s Active/Standby status and reports a change.
    fn update_status(&mut self, i: usize) {
        let before = self.paths[i].status;
        self.paths[i].apply_standby();
        let path = &self.paths[i];
        if path.status != before {
            let (id, status) = (path.id, path.status);
            tracing::info!(peer = %self.peer_label(), path = id, ?status, "path status changed");
            self.events
                .push_back(Event::Path(PathEvent::StatusChanged { path: id, status }));
        }
    }

    /// Marks path `i` abandoned: its packets in flight are lost (their data is queued
    /// again for the other paths), a PATH_ABANDON is queued, and its state is retired
    /// after three PTOs.
    fn abandon(&mut self, now: Instant, i: usize, code: u64, by_peer: bool) {
        let path = &mut self.paths[i];
        if path.status == PathStatus::Abandoned {
            return;
        }
        path.status = PathStatus::Abandoned;
        path.validation = None;
        path.candidate = None;
        path.response = None;
        path.probes = 0;
        path.signals.abandon_pending = true;
        path.signals.abandon_code = code;
        path.signals.status_pending = false;
        path.rx.ack_needed = false;
        let retire_at = now + path.recovery.pto_interval() * 3;
        let lost = path.recovery.drain_all();
        path.timers.clear();
        path.timers.set(PathTimer::Retire, Some(retire_at));
        let id = path.id;
        tracing::info!(peer = %self.peer_label(), path = id, by_peer, in_flight = lost.len(), "path abandoned");
        for (_, p) in lost {
            self.on_packet_lost(p.payload);
        }
        self.events
            .push_back(Event::Path(PathEvent::Abandoned { path: id, by_peer }));
    }

    /// Path `i`'s retire timer: forget it (path 0 stays as a tombstone, so the table's
    /// first entry always exists).
    pub(super) fn retire_path(&mut self, i: usize) {
        let id = self.paths[i].id;
        tracing::debug!(peer = %self.peer_label(), path = id, "abandoned path retired");
        if i == 0 {
            let p = &mut self.paths[0];
            p.signals.retired = true;
            p.signals.abandon_pending = false;
            p.timers.clear();
        } else {
            self.paths.remove(i);
        }
    }

    /// A PATH_STATUS frame from the peer.
    pub(super) fn on_path_status(
        &mut self,
        path_id: u64,
        sequence: u64,
        standby: bool,
    ) -> Result<(), FrameOutcome> {
        let Some(i) = self.known_path(path_id)? else {
            return Ok(());
        };
        let s = &mut self.paths[i].signals;
        if s.peer_status_seq.is_some_and(|seen| sequence <= seen) {
            return Ok(()); // older than what we know
        }
        s.peer_status_seq = Some(sequence);
        s.peer_standby = standby;
        self.update_status(i);
        Ok(())
    }

    /// A PATH_ABANDON frame from the peer.
    pub(super) fn on_path_abandon(
        &mut self,
        now: Instant,
        path_id: u64,
        code: u64,
    ) -> Result<(), FrameOutcome> {
        let Some(i) = self.known_path(path_id)? else {
            if !self.is_local_path_id(path_id) && path_id >= self.next_peer_path {
                // A path of the peer's that never reached us: its id is spent.
                self.next_peer_path = path_id + 2;
            }
            return Ok(());
        };
        if self.paths[i].status == PathStatus::Abandoned {
            return Ok(());
        }
        if !self.has_other_live_path(i) {
            return Err(FrameOutcome::Close(
                TransportErrorCode::ProtocolViolation,
                "PATH_ABANDON of the last path",
            ));
        }
        tracing::debug!(peer = %self.peer_label(), path = path_id, code, "peer abandoned path");
        self.abandon(now, i, 0, true);
        Ok(())
    }

    /// The index of a path a frame names; `Ok(None)` for a retired path (a late frame)
    /// or a path the peer opened whose packets never reached us; an error for an id of
    /// ours never used.
    fn known_path(&self, id: u64) -> Result<Option<usize>, FrameOutcome> {
        match self.path_index(id) {
            Some(i) if !self.paths[i].signals.retired => Ok(Some(i)),
            Some(_) => Ok(None),
            None if self.path_was_retired(id) => Ok(None),
            None if !self.is_local_path_id(id) && id <= MAX_PATH_ID => Ok(None),
            None => Err(FrameOutcome::Close(
                TransportErrorCode::ProtocolViolation,
                "frame for an unknown path",
            )),
        }
    }

    /// PATH_STATUS and PATH_ABANDON frames that are due, for any path; returns whether
    /// anything was written.
    pub(super) fn write_path_signals(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
    ) -> bool {
        let start = buf.len();
        for p in &mut self.paths {
            let s = &mut p.signals;
            if s.status_pending {
                let f = Frame::PathStatus {
                    path_id: p.id,
                    sequence: s.status_seq,
                    standby: s.local_standby,
                };
                if buf.len() + f.encoded_len() <= limit {
                    f.encode(buf);
                    s.status_pending = false;
                    sent.path_status.push((p.id, s.status_seq));
                }
            }
            if s.abandon_pending {
                let f = Frame::PathAbandon {
                    path_id: p.id,
                    error_code: s.abandon_code,
                };
                if buf.len() + f.encoded_len() <= limit {
                    f.encode(buf);
                    s.abandon_pending = false;
                    sent.path_abandons.push(p.id);
                }
            }
        }
        buf.len() > start
    }

    /// Whether a PATH_STATUS or PATH_ABANDON waits to be sent.
    pub(super) fn has_path_signals(&self) -> bool {
        self.paths
            .iter()
            .any(|p| p.signals.status_pending || p.signals.abandon_pending)
    }

    /// A packet carrying path signals was lost: send the ones still current again.
    pub(super) fn on_path_signals_lost(&mut self, status: &[(u64, u64)], abandons: &[u64]) {
        for &(id, seq) in status {
            if let Some(i) = self.path_index(id) {
                let p = &mut self.paths[i];
                if p.signals.status_seq == seq && p.status != PathStatus::Abandoned {
                    p.signals.status_pending = true;
                }
            }
        }
        for &id in abandons {
            if let Some(i) = self.path_index(id)
                && !self.paths[i].signals.retired
            {
                self.paths[i].signals.abandon_pending = true;
            }
        }
    }
}
