//! Path validation and migration (after RFC 9000 §8.2 and §9).
//!
//! An authenticated packet of a path arriving from an address that is not the path's own
//! is processed as usual, but nothing moves: if it is the newest packet of the path and
//! carries more than probing frames (or carries a PATH_CHALLENGE), its address becomes
//! the path's *candidate*. The candidate gets PATH_CHALLENGE frames with unpredictable
//! values, resent every validation interval, and never more than three times the bytes
//! it sent us (its own anti-amplification budget). Data keeps flowing on the path's
//! validated address meanwhile. When a PATH_RESPONSE echoes one of the values the path
//! moves to the candidate (the old address is abandoned; RTT and congestion state start
//! afresh if the IP changed); when none does within three intervals the candidate is
//! dropped and the path stays where it was. NAT rebinding is exactly this: the rebound
//! address validates within a round trip and the path follows it. A spoofed address
//! (an attacker replaying captured packets from it) never answers and costs the victim
//! at most 3× the replayed bytes.

use super::path::{Budget, Candidate, Challenge};
use super::recv::PacketKind;
use super::*;
use crate::wire::Frame;
use rand_core::Rng;

/// Smallest room worth a probe: header, one 9-byte frame, tag.
const MIN_PROBE: usize = 64;

impl Connection {
    /// An authenticated packet of path `i` arrived from `addr`, which is not the path's
    /// address; its frames were processed.
    pub(super) fn on_packet_from_new_address(
        &mut self,
        now: Instant,
        i: usize,
        addr: (SocketAddr, SocketAddr),
        size: usize,
        largest: bool,
        kind: PacketKind,
    ) {
        let path = &mut self.paths[i];
        if path.is(addr.0, addr.1) {
            return; // the packet's PATH_RESPONSE just moved the path there
        }
        if let Some(c) = path.candidate.as_mut().filter(|c| c.is(addr.0, addr.1)) {
            c.budget.on_received(size);
            if kind.challenge.is_some() {
                c.response = kind.challenge;
            }
            return;
        }
        let opens = (largest && !kind.probing) || kind.challenge.is_some();
        if !opens || self.state != State::Established {
            return;
        }
        let interval = self.validation_interval(i);
        let path = &mut self.paths[i];
        path.candidate = Some(Candidate {
            local: addr.0,
            remote: addr.1,
            budget: Budget {
                validated: false,
                received: size as u64,
                sent: 0,
            },
            challenge: Challenge {
                tokens: Vec::new(),
                due: true,
                resend_at: now + interval,
                give_up_at: now + interval * 3,
            },
            response: kind.challenge,
        });
        path.sync_timers();
        let (id, from) = (path.id, path.remote);
        tracing::info!(
            peer = %self.peer_label(),
            path = id,
            %from,
            candidate = %addr.1,
            "new address for path: validating"
        );
        self.events
            .push_back(Event::Path(PathEvent::ValidationStarted {
                path: self.paths[i].id,
                remote: addr.1,
            }));
    }

    /// How often a challenge is resent (and a third of how long a candidate has):
    /// the larger of the path's PTO and a PTO at the initial RTT (RFC 9000 §8.2.4).
    fn validation_interval(&self, i: usize) -> Duration {
        let rc = &self.config.recovery;
        let fresh = rc.initial_rtt * 3 + rc.max_ack_delay;
        self.paths[i].recovery.pto_interval().max(fresh)
    }

    /// A PATH_RESPONSE arrived (from any address): if it echoes a candidate's challenge,
    /// that candidate is proven and its path moves there.
    pub(super) fn on_path_response(
        &mut self,
        now: Instant,
        _from: (SocketAddr, SocketAddr),
        data: &[u8; 8],
    ) {
        let found = self.paths.iter().position(|p| {
            p.candidate
                .as_ref()
                .is_some_and(|c| c.challenge.matches(data))
        });
        if let Some(i) = found {
            self.migrate(now, i);
        }
        let own = self.paths.iter().position(|p| {
            p.validation
                .as_ref()
                .is_some_and(|v| !v.tokens.is_empty() && v.matches(data))
        });
        if let Some(i) = own {
            self.on_path_validated(i);
        }
    }

    fn migrate(&mut self, now: Instant, i: usize) {
        let path = &mut self.paths[i];
        let Some(c) = path.candidate.take() else {
            return;
        };
        let from = path.remote;
        if from.ip() != c.remote.ip() {
            path.recovery.reset_path_estimates(now);
        }
        path.local = c.local;
        path.remote = c.remote;
        path.budget = Budget::validated();
        path.response = path.response.or(c.response);
        path.counters.migrations += 1;
        path.sync_timers();
        let id = path.id;
        tracing::info!(peer = %self.peer_label(), path = id, %from, to = %c.remote, "path validated: migrated");
        self.events.push_back(Event::Path(PathEvent::Migrated {
            path: id,
            from,
            to: c.remote,
        }));
    }

    /// The validation timer of path `i`: resend a challenge, or give the candidate up.
    pub(super) fn on_validation_timer(&mut self, now: Instant, i: usize) {
        let interval = self.validation_interval(i);
        let path = &mut self.paths[i];
        let Some(c) = path.candidate.as_mut() else {
            return;
        };
        if now >= c.challenge.give_up_at {
            let remote = c.remote;
            let budget = c.budget;
            path.candidate = None;
            path.counters.failed_validations += 1;
            let id = path.id;
            tracing::warn!(
                peer = %self.peer_label(),
                path = id,
                candidate = %remote,
                received = budget.received,
                sent = budget.sent,
                "path validation failed: no answer; staying on the validated address"
            );
            self.events
                .push_back(Event::Path(PathEvent::ValidationFailed {
                    path: id,
                    remote,
                }));
            return;
        }
        if now >= c.challenge.resend_at {
            c.challenge.due = true;
            c.challenge.resend_at = now + interval;
        }
    }

    /// A datagram to a candidate address, or to a new path's address (challenge and/or
    /// response, padded as far as its budget allows), if one is waiting and fits the
    /// budget.
    pub(super) fn poll_validation_probe(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        if let Some(t) = self.poll_new_path_probe(now, buf) {
            return Some(t);
        }
        let i = self.paths.iter().position(|p| {
            p.candidate
                .as_ref()
                .is_some_and(|c| c.wants_probe() && c.budget.room() >= MIN_PROBE)
        })?;
        let token = self.rng.next_u64().to_be_bytes();
        let tag_len = self.protection.as_ref()?.tag_len();
        let (pn, header_len) = self.start_short_packet(i, buf);
        let path = &mut self.paths[i];
        let c = path.candidate.as_mut()?;
        let size = usize::from(path.mds).min(c.budget.room());
        write_probe_frames(buf, &mut c.challenge, token, c.response.take());
        let path_id = path.id;
        let size = self.seal_probe(now, (i, pn), buf, header_len, size.saturating_sub(tag_len))?;
        let path = &mut self.paths[i];
        let c = path.candidate.as_mut()?;
        c.budget.on_sent(size);
        let (local, remote) = (c.local, c.remote);
        tracing::trace!(path = path_id, %remote, size, "path challenge sent");
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
        path.counters.packets_sent += 1;
        path.counters.bytes_sent += size as u64;
        Some(Transmit {
            destination: remote,
            local,
            path_id,
            size,
            segment_size: None,
        })
    }

    /// A probe on a new path that is proving its address (multipath): its challenge
    /// and/or the response it owes, padded as far as its budget allows.
    fn poll_new_path_probe(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let i = self.paths.iter().position(|p| {
            p.validation
                .as_ref()
                .is_some_and(|v| v.due || p.response.is_some())
                && p.budget.room() >= MIN_PROBE
        })?;
        let token = self.rng.next_u64().to_be_bytes();
        let tag_len = self.protection.as_ref()?.tag_len();
        let (pn, header_len) = self.start_short_packet(i, buf);
        let path = &mut self.paths[i];
        let size = usize::from(path.mds).min(path.budget.room());
        let v = path.validation.as_mut()?;
        write_probe_frames(buf, v, token, path.response.take());
        let size = self.seal_probe(now, (i, pn), buf, header_len, size.saturating_sub(tag_len))?;
        tracing::trace!(path = self.paths[i].id, size, "new path probe sent");
        self.on_datagram_sent(now, i, size);
        Some(self.transmit_on(i, size, None))
    }
}

impl Connection {
    /// Pads the probe packet in `buf` to `target` bytes before its tag (RFC 9000 §8.2.1
    /// expands challenges to 1200 bytes when the amplification limit allows) and seals
    /// it. Recorded so the number is used once, but neither in flight nor ack-eliciting:
    /// an address that never answers must not look like congestion on the path.
    fn seal_probe(
        &mut self,
        now: Instant,
        (i, pn): (usize, u64),
        buf: &mut Vec<u8>,
        header_len: usize,
        target: usize,
    ) -> Option<usize> {
        let target = target.max(buf.len());
        Frame::Padding {
            len: target - buf.len(),
        }
        .encode(buf);
        self.seal_untracked(now, (i, pn), buf, header_len)
    }
}

/// A PATH_CHALLENGE when one is due (remembering its token) and the PATH_RESPONSE owed.
fn write_probe_frames(
    buf: &mut Vec<u8>,
    challenge: &mut Challenge,
    token: [u8; 8],
    response: Option<[u8; 8]>,
) {
    if challenge.due {
        challenge.due = false;
        challenge.push(token);
        Frame::PathChallenge { data: token }.encode(buf);
    }
    if let Some(data) = response {
        Frame::PathResponse { data }.encode(buf);
    }
}
