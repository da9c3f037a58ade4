//! Outgoing packets: choosing the path and frames, congestion control, pacing,
//! protection, and segmented (GSO) batches of one path's packets.

use super::*;
use crate::recovery::SentPacket;
use crate::wire::{AckFrame, Frame, Header, MAX_ACK_RANGES, ShortHeader};

/// Header, AEAD tag and frame headers of a small packet (an estimate for sizing).
const PACKET_OVERHEAD: u64 = 48;
/// The backlog a path selector is shown is counted up to this many bytes.
const MAX_BACKLOG_VIEW: u64 = 64 << 20;

impl Connection {
    /// Writes the next datagrams to send into `buf` (which is cleared first): one, or up
    /// to `max_segments` packets of one path back to back, all of the first one's size
    /// except possibly the last, for one segmented send ([`Transmit::segment_size`]).
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        max_segments: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        buf.clear();
        if let Some(t) = self.poll_handshake_datagram(now, buf) {
            return Some(t);
        }
        self.prune_ready();
        match self.state {
            State::Established => {
                if self.shutdown_complete() {
                    self.start_close(
                        now,
                        TransportErrorCode::NoError as u64,
                        Bytes::new(),
                        ConnectionError::LocallyClosed,
                    );
                    return self.poll_transmit(now, max_segments, buf);
                }
                if let Some(t) = self.poll_validation_probe(now, buf) {
                    return Some(t);
                }
                self.poll_packets(now, max_segments.max(1), buf)
            }
            State::Closing if self.close.pending => {
                self.close.pending = false;
                self.close.resends += 1;
                let i = self.primary();
                let size = self.build_close_packet(i, buf)?;
                self.on_datagram_sent(now, i, size);
                Some(self.transmit_on(i, size, None))
            }
            _ => None,
        }
    }

    /// The last handshake datagram, when it is due and the path's budget allows it.
    fn poll_handshake_datagram(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let d = self.hs.due()?;
        if !self.paths[0].budget.allows(d.len()) {
            return None;
        }
        buf.extend_from_slice(d);
        self.hs.resend = false;
        let size = buf.len();
        self.on_datagram_sent(now, 0, size);
        Some(self.transmit_on(0, size, None))
    }

    pub(super) fn transmit_on(
        &self,
        i: usize,
        size: usize,
        segment_size: Option<usize>,
    ) -> Transmit {
        let path = &self.paths[i];
        Transmit {
            destination: path.remote,
            local: path.local,
            path_id: path.id,
            size,
            segment_size,
        }
    }

    /// Counts a datagram of `size` bytes sent on path `i` to the path's own address.
    pub(super) fn on_datagram_sent(&mut self, now: Instant, i: usize, size: usize) {
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
        self.last_sent = now;
        self.keys.packets_since += 1;
        let path = &mut self.paths[i];
        path.counters.packets_sent += 1;
        path.counters.bytes_sent += size as u64;
        path.budget.on_sent(size);
        self.arm_keepalive(now);
    }

    /// The path the selector wants the next packet on.
    fn select_path(&mut self, now: Instant) -> Option<usize> {
        let mut views = std::mem::take(&mut self.scratch_views);
        views.clear();
        // One path: the choice is made, skip counting the backlog.
        let backlog = if self.paths.len() > 1 {
            self.pending_payload(MAX_BACKLOG_VIEW).0
        } else {
            0
        };
        let keepalive = self.config.path_keepalive;
        for p in self.paths.iter_mut().filter(|p| p.selectable()) {
            if p.watch && p.timers.get(PathTimer::Liveness).is_none() {
                // A path that never sent data (a new standby path) is probed too.
                p.timers.set(PathTimer::Liveness, Some(now + keepalive));
            }
            let mut v = p.view(now);
            v.backlog = backlog;
            let mds = u64::from(p.mds);
            if let Some(t) = p.recovery.pacing_delay(now, mds) {
                v.pacing_wait = t.saturating_duration_since(now);
                if backlog > 0 {
                    // Wake up when this path may send, even if the selector now skips it.
                    p.timers.set(PathTimer::Pacing, Some(t));
                }
            }
            views.push(v);
        }
        let chosen = if views.is_empty() {
            None
        } else {
            self.selector.select(now, &views)
        };
        // A path passed over while it could send is limited by the scheduler, not by the
        // network: its rate samples must not cap its estimate (so it ramps up at once
        // when it has to carry more, as when another path fails).
        for v in views.iter().filter(|v| Some(v.id) != chosen && v.ready()) {
            if let Some(i) = self.path_index(v.id) {
                self.paths[i].recovery.on_app_limited(now);
            }
        }
        self.scratch_views = views;
        chosen.and_then(|id| self.path_index(id))
    }

    /// Whether path `i` must send on its own account whatever the selector prefers: a
    /// probe timeout's probes and liveness PINGs test that very path (probes carry data
    /// like any packet where the path may carry data); an immediate ACK goes back on the
    /// path it acknowledges (so each path's RTT samples measure that path) and a
    /// PATH_RESPONSE to the address that challenged it; copies queued for the path go
    /// when its window has room.
    fn has_own_duty(&self, i: usize) -> bool {
        if self.paths.len() == 1 {
            return false; // single path: the selector's path is the only one
        }
        let p = &self.paths[i];
        let copies = !(p.copies.is_empty() && p.parity_out.is_empty())
            && p.recovery.can_send(u64::from(p.mds))
            && self.carries_data(i);
        p.selectable()
            && (p.probes > 0
                || p.ping
                || (p.rx.ack_needed && p.rx.ack_now)
                || p.response.is_some()
                || copies)
    }

    /// Packets of one path (one with a duty of its own, else the selected one), batched
    /// while they are full-size.
    fn poll_packets(
        &mut self,
        now: Instant,
        max_segments: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        for i in 0..self.paths.len() {
            if !self.has_own_duty(i) {
                continue;
            }
            let p = &self.paths[i];
            let ack_only =
                p.probes == 0 && !p.ping && p.copies.is_empty() && p.parity_out.is_empty();
            if let Some(t) = self.poll_packets_on(now, i, max_segments, buf, ack_only) {
                return Some(t);
            }
        }
        let i = self.select_path(now)?;
        self.poll_packets_on(now, i, max_segments, buf, false)
    }

    fn poll_packets_on(
        &mut self,
        now: Instant,
        i: usize,
        max_segments: usize,
        buf: &mut Vec<u8>,
        ack_only: bool,
    ) -> Option<Transmit> {
        if ack_only {
            let size = self.build_ack_packet(now, i, buf)?;
            return Some(self.transmit_on(i, size, None));
        }
        let segment = self.build_packet(now, i, buf, usize::MAX)?;
        let (mut count, mut last) = (1, segment);
        // Only a full-size first packet starts a batch: every later segment is at most
        // the first one's size, so a small first packet (an ACK, a message's tail) would
        // otherwise cut a whole train of data into small packets. Bounded by `max_segments`.
        let full = usize::from(self.paths[i].mds);
        while count < max_segments && last == segment && segment == full {
            let Some(n) = self.build_packet(now, i, buf, segment) else {
                break;
            };
            count += 1;
            last = n;
        }
        let segment_size = (count > 1).then_some(segment);
        Some(self.transmit_on(i, buf.len(), segment_size))
    }

    /// Starts a key update when the keys are old enough (time or packets).
    fn maybe_update_keys(&mut self, now: Instant) {
        self.check_rehandshake(now);
        let (send_gen, _) = self.protection.as_ref().map_or((0, 0), |p| p.generations());
        if self.rehandshake.holds_updates(self.side) {
            return;
        }
        let due = self.keys.packets_since >= self.config.rekey_packets
            || now.saturating_duration_since(self.keys.last_update) >= self.config.rekey_interval
            || self.rehandshake.update_due(self.side, send_gen);
        // RFC 9001 §6.1: not before a packet sent with the current keys was acknowledged,
        // so the peer has the current generation before it sees the next.
        let phase = self.protection.as_ref().is_some_and(|p| p.key_phase());
        let confirmed = phase == self.keys.send_phase // not just changed by answering the peer
            && self.keys.phase_starts.iter().any(|&(path, first)| {
                self.path_index(path)
                    .and_then(|i| self.paths[i].recovery.largest_acked())
                    .is_some_and(|l| l >= first)
            });
        if due && confirmed && self.protection.as_mut().is_some_and(|p| p.update_keys()) {
            self.keys.packets_since = 0;
            self.keys.last_update = now;
            tracing::debug!(peer = %self.peer_label(), "key update started");
        }
    }

    /// Appends a short header for path `i`; returns the packet number and header length.
    pub(super) fn start_short_packet(&mut self, i: usize, buf: &mut Vec<u8>) -> (u64, usize) {
        let path = &self.paths[i];
        let pn = path.recovery.next_packet_number();
        let path_id = path.id;
        let key_phase = self.protection.as_ref().is_some_and(|p| p.key_phase());
        if key_phase != self.keys.send_phase {
            // A new generation, ours or an answer to the peer's: restart the rekey clocks.
            self.keys.send_phase = key_phase;
            self.keys.phase_starts.clear();
            self.keys.last_update = self.last_sent;
            self.keys.packets_since = 0;
        }
        let starts = &mut self.keys.phase_starts;
        if !starts.iter().any(|&(p, _)| p == path_id) {
            // Entries of retired paths go first: at most one per path of the table.
            let paths = &self.paths;
            starts.retain(|&(p, _)| paths.iter().any(|x| x.id == p));
            starts.push((path_id, pn));
        }
        let hdr = Header::Short(ShortHeader {
            key_phase,
            dcid: self.remote_cid,
            path_id,
            packet_number: pn,
        });
        let header_len = hdr.emit(buf);
        (pn, header_len)
    }

    /// Seals the packet at `buf[start..]` and records it in path `i`'s recovery.
    pub(super) fn seal_and_record(
        &mut self,
        now: Instant,
        (i, pn): (usize, u64),
        buf: &mut Vec<u8>,
        (start, header_len): (usize, usize),
        (eliciting, sent): (bool, SentFrames),
    ) -> Option<usize> {
        let path_id = self.paths[i].id;
        self.protection
            .as_mut()?
            .seal(path_id, pn, buf, start, header_len);
        let size = buf.len() - start;
        let path = &mut self.paths[i];
        let in_flight = eliciting && !path.failed;
        path.recovery.on_packet_sent(
            now,
            pn,
            SentPacket {
                time_sent: now,
                size: size as u16,
                ack_eliciting: eliciting,
                in_flight,
                payload: sent,
            },
        );
        path.sync_timers();
        Some(size)
    }

    fn build_close_packet(&mut self, i: usize, buf: &mut Vec<u8>) -> Option<usize> {
        let (code, reason) = self.close.frame.clone()?;
        let (pn, header_len) = self.start_short_packet(i, buf);
        Frame::ConnectionClose {
            error_code: code,
            reason: &reason,
        }
        .encode(buf);
        // Not tracked as in flight: a CLOSE is never retransmitted, only repeated.
        let now = self.last_sent;
        self.seal_untracked(now, (i, pn), buf, header_len)
    }

    /// Seals the packet that starts `buf` and records its number on path `i`, neither
    /// in flight nor ack-eliciting (a close, a probe to an unproven address).
    pub(super) fn seal_untracked(
        &mut self,
        now: Instant,
        (i, pn): (usize, u64),
        buf: &mut Vec<u8>,
        header_len: usize,
    ) -> Option<usize> {
        self.seal_and_record(
            now,
            (i, pn),
            buf,
            (0, header_len),
            (false, SentFrames::default()),
        )
    }

    /// A packet of path `i` carrying only its ACK and the PATH_RESPONSE it owes (a path
    /// the selector did not choose).
    fn build_ack_packet(&mut self, now: Instant, i: usize, buf: &mut Vec<u8>) -> Option<usize> {
        let tag_len = self.protection.as_ref()?.tag_len();
        let mds = usize::from(self.paths[i].mds);
        if !self.paths[i].budget.allows(mds) {
            return None;
        }
        let (pn, header_len) = self.start_short_packet(i, buf);
        let mut sent = SentFrames::default();
        self.write_acks(now, i, buf, mds - tag_len, &mut sent);
        let response = self.paths[i].response.take();
        if let Some(data) = response {
            Frame::PathResponse { data }.encode(buf);
        }
        if buf.len() == header_len {
            buf.clear();
            return None;
        }
        let eliciting = response.is_some();
        let size = self.seal_and_record(now, (i, pn), buf, (0, header_len), (eliciting, sent))?;
        self.on_datagram_sent(now, i, size);
        Some(size)
    }

    /// Appends one short-header packet for path `i`, at most `max_size` bytes; returns
    /// its size, or `None` (buffer unchanged) when nothing may or needs to be sent.
    fn build_packet(
        &mut self,
        now: Instant,
        i: usize,
        buf: &mut Vec<u8>,
        max_size: usize,
    ) -> Option<usize> {
        let tag_len = self.protection.as_ref()?.tag_len();
        let mds = usize::from(self.paths[i].mds).min(max_size);
        if !self.paths[i].budget.allows(mds) {
            return None; // wait until the peer proves its address
        }
        self.maybe_update_keys(now);
        let probe = self.paths[i].probes > 0 || self.paths[i].ping;
        // A failed path, or a standby one while an active path works, carries only
        // acknowledgements and probes.
        let data_ok = self.carries_data(i);
        if data_ok {
            self.prune_copies(i);
        }
        let work = data_ok && self.has_eliciting_work(i);
        // A packet that will carry less than a datagram asks the window and the pacer
        // only for what it carries (an application-limited flow's small messages never
        // wait for room it does not use); lost data that fits in one packet is repaired
        // at once, unpaced.
        let (pending, lost) = if data_ok {
            let (pending, lost) = self.pending_payload(mds as u64);
            let path = &self.paths[i];
            (
                pending + path.copies.bytes() + path.parity_out.bytes(),
                lost,
            )
        } else {
            (0, 0)
        };
        let size = (pending + PACKET_OVERHEAD).min(mds as u64);
        let repair = lost > 0 && lost + PACKET_OVERHEAD <= mds as u64;
        let path = &mut self.paths[i];
        let mut may_elicit = probe || path.recovery.can_send(size);
        if may_elicit
            && !probe
            && work
            && !repair
            && let Some(t) = path.recovery.pacing_delay(now, size)
        {
            path.timers.set(PathTimer::Pacing, Some(t));
            may_elicit = false;
        }
        let rx = &path.rx;
        let ack_due = rx.ack_needed && (rx.ack_now || (may_elicit && work));
        if !ack_due && !(may_elicit && (work || probe)) {
            if may_elicit && !work {
                path.recovery.on_app_limited(now);
            }
            return None;
        }
        let start = buf.len();
        let (pn, header_len) = self.start_short_packet(i, buf);
        let limit = start + mds - tag_len;
        let mut sent = SentFrames::default();
        self.write_acks(now, i, buf, limit, &mut sent);
        let mut eliciting = false;
        if may_elicit && data_ok {
            eliciting |= self.write_control(i, buf, limit, &mut sent);
            eliciting |= self.write_datagrams(buf, limit);
            eliciting |= self.write_parity(i, buf, limit);
            let copies = self.write_copies(i, buf, limit, &mut sent);
            eliciting |= copies > 0;
            eliciting |= self.write_channel_data(buf, limit, &mut sent);
            if self.paths.len() > 1 && sent.data.len() > copies {
                let fresh = &sent.data[copies..];
                self.queue_copies(now, i, fresh);
                self.add_to_parity(now, i, fresh);
            }
        } else if may_elicit && let Some(data) = self.paths[i].response.take() {
            Frame::PathResponse { data }.encode(buf);
            eliciting = true;
        }
        if may_elicit
            && (probe || (data_ok && self.ping_pending))
            && !eliciting
            && buf.len() < limit
        {
            Frame::Ping.encode(buf);
            eliciting = true;
        }
        if eliciting && data_ok {
            self.ping_pending = false;
        }
        if buf.len() == start + header_len {
            buf.truncate(start);
            return None;
        }
        let keepalive = self.config.path_keepalive;
        let multipath = self.paths.len() > 1;
        let path = &mut self.paths[i];
        if probe && eliciting && path.probes > 0 {
            path.probes -= 1;
        }
        if eliciting {
            path.ping = false;
        }
        if eliciting && multipath {
            path.timers.set(PathTimer::Liveness, Some(now + keepalive));
        }
        if !self.has_eliciting_work(i) {
            self.paths[i].recovery.on_app_limited(now);
        }
        let size =
            self.seal_and_record(now, (i, pn), buf, (start, header_len), (eliciting, sent))?;
        if eliciting && !self.sent_eliciting_since_rx {
            self.sent_eliciting_since_rx = true;
            self.reset_idle(now);
        }
        self.on_datagram_sent(now, i, size);
        Some(size)
    }

    /// Whether anything ack-eliciting is waiting to be sent on path `i` (within flow
    /// control).
    /// Payload bytes the next packet would carry, counted up to `cap`: channel data (lost
    /// and new, within credit) plus a datagram's worth for queued datagrams; and of that,
    /// the lost bytes.
    fn pending_payload(&self, cap: u64) -> (u64, u64) {
        let conn_budget = self.flow.peer_max_data.saturating_sub(self.flow.sent_data);
        let mut new = self.dgram_out.front().map_or(0, |d| d.len() as u64);
        let mut lost = 0;
        for c in self.ready.iter().filter_map(|id| self.channels.get(id)) {
            self.count_work(1);
            if lost + new >= cap {
                break;
            }
            lost += c.send.retransmit_bytes(cap);
            new += c.send.sendable_new().min(conn_budget);
        }
        ((lost + new).min(cap), lost.min(cap))
    }

    fn has_eliciting_work(&self, i: usize) -> bool {
        let f = &self.flow;
        if self.ping_pending
            || f.max_data_pending
            || !self.dgram_out.is_empty()
            || self.paths[i].response.is_some()
            || !self.paths[i].copies.is_empty()
            || !self.paths[i].parity_out.is_empty()
            || self.has_path_signals()
            || self.rehandshake.has_frame()
        {
            return true;
        }
        let conn_budget = f.peer_max_data.saturating_sub(f.sent_data);
        self.ready
            .iter()
            .filter_map(|id| self.channels.get(id))
            .any(|c| {
                self.count_work(1);
                c.has_send_work(conn_budget > 0)
            })
    }

    /// Drops from the ready set the channels with nothing to send (each touched channel
    /// is looked at once more, then forgotten until touched again: work bounded by the
    /// touches, that is by the frames received and the application's calls).
    fn prune_ready(&mut self) {
        let channels = &self.channels;
        let before = self.ready.len();
        // `true`: also those waiting only for connection credit stay (they send once it
        // comes, without being touched).
        self.ready
            .retain(|id| channels.get(id).is_some_and(|c| c.has_send_work(true)));
        self.count_work(before as u64);
        #[cfg(debug_assertions)]
        for (id, c) in &self.channels {
            debug_assert!(
                !c.has_send_work(true) || self.ready.contains(id),
                "channel {id} has something to send but is not in the ready set"
            );
        }
    }

    /// The ACK frame of path `i`, if it has something to acknowledge. Each path's ACKs
    /// travel on the path itself, so an RTT sample measures one path both ways; a copy
    /// of the ACK of another path that has gone quiet (nothing received for a quarter of
    /// its RTT since packets arrived) rides along once, so the peer learns what that
    /// path delivered before it went silent even if that path's own ACKs are lost with it.
    fn write_acks(
        &mut self,
        now: Instant,
        i: usize,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
    ) {
        if self.paths[i].rx.ack_needed {
            self.write_ack(now, i, buf, limit, sent, true);
        }
        self.paths[i].rx.cross_pending = false;
        for k in (0..self.paths.len()).filter(|&k| k != i) {
            let p = &self.paths[k];
            let quiet = (p.recovery.rtt().smoothed() / 4).max(Duration::from_millis(2));
            let quiet = p.rx.cross_pending
                && p.rx
                    .last_rx
                    .is_some_and(|t| now.saturating_duration_since(t) >= quiet);
            if quiet && p.status != crate::path::PathStatus::Abandoned {
                // A copy: the path still owes its own ACK (its RTT samples need it).
                self.write_ack(now, k, buf, limit, sent, false);
                self.paths[k].rx.cross_pending = false;
            }
        }
    }

    fn write_ack(
        &mut self,
        now: Instant,
        i: usize,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
        own: bool,
    ) {
        let path = &mut self.paths[i];
        let rx = &mut path.rx;
        let ranges: Vec<(u64, u64)> = rx
            .received
            .iter()
            .rev()
            .take(MAX_ACK_RANGES)
            .map(|r| (r.start, r.end - 1))
            .collect();
        let Some(&(_, largest)) = ranges.first() else {
            rx.ack_needed &= !own;
            return;
        };
        let delay = rx
            .largest
            .map_or(Duration::ZERO, |(_, t)| now.saturating_duration_since(t));
        let mut f = Frame::Ack(AckFrame {
            path_id: path.id,
            ack_delay_us: delay.as_micros().min(u128::from(u32::MAX)) as u64,
            ranges,
        });
        // Bounded by MAX_ACK_RANGES: drop the lowest ranges until the frame fits.
        while buf.len() + f.encoded_len() > limit {
            match &mut f {
                Frame::Ack(a) if a.ranges.len() > 1 => {
                    a.ranges.pop();
                }
                _ => break,
            }
        }
        let Frame::Ack(frame) = &f else { return };
        let complete = frame.ranges.len() == rx.received.range_count();
        let lowest = frame.ranges.last().map_or(largest, |r| r.0);
        if buf.len() + f.encoded_len() > limit {
            return;
        }
        f.encode(buf);
        let floor = if complete { largest + 1 } else { lowest };
        sent.ack_floors.push((path.id, floor));
        if !own {
            return;
        }
        rx.ack_needed = false;
        rx.ack_now = false;
        rx.eliciting_unacked = 0;
        path.timers.stop(PathTimer::Ack);
    }
}
