//! What happens when our packets are acknowledged or lost, and the channel bookkeeping
//! that follows: freed send buffers, retransmissions, forgotten channels, credit.

use super::*;
use crate::channel::{ChannelId, FinState, MAX_CONNECTION_FRAGMENTS};

impl Connection {
    pub(super) fn on_packet_acked(&mut self, p: SentFrames) {
        for &(ch, _, _) in &p.data {
            self.touch(ch);
        }
        for &ch in p.fins.iter().chain(&p.opens) {
            self.touch(ch);
        }
        for (ch, off, len) in p.data {
            if let Some(c) = self.channels.get_mut(&ch) {
                c.send.on_acked(off, len);
                if c.send.wants_writable && c.send.buffered() < self.config.channel_send_buffer {
                    c.send.wants_writable = false;
                    self.events.push_back(Event::ChannelWritable(ChannelId(ch)));
                }
            }
        }
        for ch in p.fins {
            if let Some(c) = self.channels.get_mut(&ch) {
                c.send.fin = FinState::Acked;
            }
        }
        for ch in p.opens {
            if let Some(c) = self.channels.get_mut(&ch) {
                c.open_pending = false;
                c.open_in_flight = false;
            }
        }
        for (path, floor) in p.ack_floors {
            // The peer saw that ACK: stop reporting (and accepting) what it covered.
            if let Some(i) = self.path_index(path) {
                self.paths[i].rx.raise_floor(floor);
            }
        }
        self.gc_channels();
    }

    pub(super) fn on_packet_lost(&mut self, p: SentFrames) {
        for &(ch, _, _) in &p.data {
            self.touch(ch);
        }
        for &ch in p.fins.iter().chain(&p.opens).chain(&p.max_channel_data) {
            self.touch(ch);
        }
        for (ch, off, len) in p.data {
            if let Some(c) = self.channels.get_mut(&ch) {
                c.send.on_lost(off, len);
            }
        }
        for ch in p.fins {
            if let Some(c) = self.channels.get_mut(&ch)
                && c.send.fin == FinState::Sent
            {
                c.send.fin = FinState::Pending;
            }
        }
        for ch in p.opens {
            if let Some(c) = self.channels.get_mut(&ch) {
                c.open_in_flight = false;
            }
        }
        for ch in p.max_channel_data {
            if let Some(c) = self.channels.get_mut(&ch) {
                c.recv.credit_update_pending = true;
            }
        }
        if p.max_data {
            self.flow.max_data_pending = true;
        }
        if let Some(id) = p.rehandshake {
            self.on_rehandshake_lost(id);
        }
        if !p.path_status.is_empty() || !p.path_abandons.is_empty() {
            self.on_path_signals_lost(&p.path_status, &p.path_abandons);
        }
    }

    /// Forgets channels that are finished in both directions. Their ids are never
    /// reused, so late frames for them are recognised and ignored.
    fn gc_channels(&mut self) {
        let (mut held, mut unread, mut fragments) = (0, 0, 0);
        // Only channels changed since the last look can have finished.
        let dirty = std::mem::take(&mut self.dirty);
        self.count_work(dirty.len() as u64);
        for id in dirty {
            let done = self.channels.get(&id).is_some_and(|c| {
                c.send.fin == FinState::Acked
                    && c.send.buffered() == 0
                    && (c.recv.finished_reported || c.recv_closed)
            });
            if done && let Some(c) = self.channels.remove(&id) {
                held += c.recv.held();
                unread += c.recv.unread_messages();
                fragments += c.recv.fragments() as u64;
                self.ready.remove(&id);
            }
        }
        // Their released bytes stay in `flow.released`; what they held (nothing, once
        // finished and read) leaves the budget.
        self.flow.held -= held;
        self.flow.unread -= unread;
        self.flow.fragments -= fragments;
        if self
            .flow
            .priority
            .is_some_and(|p| !self.channels.contains_key(&p))
        {
            self.flow.priority = None;
            self.grant_next_stretch();
        }
    }

    /// Whether a channel id that is not in the map was used and forgotten.
    pub(super) fn channel_was_closed(&self, id: u64) -> bool {
        if self.is_local_channel(id) {
            id < self.next_local_channel
        } else {
            id / 2 < self.peer_channels
        }
    }

    pub(super) fn is_local_channel(&self, id: u64) -> bool {
        id.is_multiple_of(2) == (self.side == Side::Initiator)
    }

    /// Graceful shutdown completes once everything we sent is acknowledged.
    pub(super) fn shutdown_complete(&self) -> bool {
        self.shutdown
            && self.state == State::Established
            && self
                .channels
                .values()
                .all(|c| c.send.fin == FinState::Acked && c.send.buffered() == 0)
    }

    /// Runs `f` on channel `id`'s receiving half and keeps the connection's totals
    /// (bytes released, bytes held, unread messages) in step with what it changed: O(1),
    /// whatever the number of channels.
    pub(super) fn with_recv<R>(
        &mut self,
        id: u64,
        f: impl FnOnce(&mut crate::channel::RecvState) -> R,
    ) -> Option<R> {
        self.touch(id);
        let ch = self.channels.get_mut(&id)?;
        let r = &mut ch.recv;
        let (released, held, unread, fragments) = (
            r.released,
            r.held(),
            r.unread_messages(),
            r.fragments() as u64,
        );
        let out = f(r);
        let flow = &mut self.flow;
        flow.released += r.released - released;
        flow.held = flow.held + r.held() - held;
        flow.unread = flow.unread + r.unread_messages() - unread;
        flow.fragments = flow.fragments + r.fragments() as u64 - fragments;
        if r.wants_stretch() && !r.stretch_queued {
            r.stretch_queued = true;
            flow.stretch_queue.push_back(id);
        }
        if flow.priority == Some(id) && r.stretch_done() {
            r.end_stretch();
            flow.priority = None;
        }
        let stats = &mut self.stats;
        stats.recv_held = flow.held;
        stats.recv_held_peak = stats.recv_held_peak.max(flow.held);
        stats.recv_unread_messages = flow.unread;
        stats.recv_unread_peak = stats.recv_unread_peak.max(flow.unread);
        if self.flow.priority.is_none() {
            self.grant_next_stretch();
        }
        Some(out)
    }

    /// Passes the one stretch (credit beyond the windows for a head message larger than
    /// them) to the first queued channel that still needs it. Amortised O(1): a channel
    /// is queued once per head message.
    fn grant_next_stretch(&mut self) {
        while let Some(id) = self.flow.stretch_queue.pop_front() {
            self.count_work(1);
            let Some(ch) = self.channels.get_mut(&id) else {
                continue; // forgotten meanwhile
            };
            self.ready.insert(id);
            let r = &mut ch.recv;
            r.stretch_queued = false;
            if !r.wants_stretch() {
                continue;
            }
            let released = r.released;
            r.grant_stretch();
            self.flow.released += r.released - released;
            self.flow.priority = Some(id);
            return;
        }
    }

    /// The receive memory budget: what the channels may hold received and not yet read,
    /// counted as bytes plus 64 bytes per out-of-order fragment: twice the connection
    /// receive window.
    ///
    /// Credit keeps a well-behaved peer under it: the channels' windows within the
    /// connection window, plus one head message larger than the windows at a time (the
    /// stretch, passed from channel to channel as those messages are read). Only many
    /// tiny messages (each counted with its overhead) or a peer ignoring credit reach
    /// it; then packets with channel data are dropped unacknowledged, except data
    /// completing the stretched message, which may use up to the maximum message size
    /// beyond it. So one connection never holds more than
    /// `2 × connection_receive_window + max_message_size` plus one packet's worth.
    pub fn receive_budget(&self) -> u64 {
        self.config.connection_receive_window.saturating_mul(2)
    }

    /// Whether channel data for `id` at `offset` may be taken now (see
    /// [`Connection::receive_budget`]); `false`: drop the packet.
    pub(super) fn budget_admits(&mut self, id: u64, offset: u64) -> bool {
        let budget = self.receive_budget();
        let fragment = self
            .channels
            .get(&id)
            .is_some_and(|c| offset > c.recv.contiguous());
        if fragment && self.flow.fragments >= MAX_CONNECTION_FRAGMENTS {
            self.stats.recv_budget_drops += 1;
            return false;
        }
        if self.flow.held < budget {
            return true;
        }
        let completes = self.flow.priority == Some(id)
            && self
                .channels
                .get(&id)
                .is_some_and(|c| c.recv.completes_stretch(offset));
        let extra = self.config.max_message_size;
        if completes && self.flow.held < budget.saturating_add(extra) {
            return true;
        }
        self.stats.recv_budget_drops += 1;
        false
    }

    pub(super) fn update_connection_credit(&mut self) {
        let window = self.config.connection_receive_window;
        // The stretched message gets the credit it still lacks: credit spent on data the
        // budget dropped, or on other channels, must not keep it from completing.
        let need = self
            .flow
            .priority
            .and_then(|p| self.channels.get(&p))
            .map_or(0, |c| c.recv.stretch_remaining());
        let limit = self.flow.released + window + need;
        let urgent = need > 0 && limit > self.flow.local_max_data;
        if urgent || limit >= self.flow.local_max_data + window / 4 {
            self.flow.local_max_data = limit;
            self.flow.max_data_pending = true;
        }
    }
}
