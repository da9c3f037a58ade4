//! What happens when our packets are acknowledged or lost, and the channel bookkeeping
//! that follows: freed send buffers, retransmissions, forgotten channels, credit.

use super::*;
use crate::channel::{ChannelId, FinState};

impl Connection {
    pub(super) fn on_packet_acked(&mut self, p: SentFrames) {
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
        if !p.path_status.is_empty() || !p.path_abandons.is_empty() {
            self.on_path_signals_lost(&p.path_status, &p.path_abandons);
        }
    }

    /// Forgets channels that are finished in both directions. Their ids are never
    /// reused, so late frames for them are recognised and ignored.
    fn gc_channels(&mut self) {
        let mut forgotten = 0;
        self.channels.retain(|_, c| {
            let done = c.send.fin == FinState::Acked
                && c.send.buffered() == 0
                && (c.recv.finished_reported || c.recv_closed);
            if done {
                forgotten += c.recv.released;
            }
            !done
        });
        // Their bytes stay released for connection-level credit.
        self.flow.released_closed += forgotten;
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

    pub(super) fn update_connection_credit(&mut self) {
        let released: u64 = self.flow.released_closed
            + self.channels.values().map(|c| c.recv.released).sum::<u64>();
        let window = self.config.connection_receive_window;
        let limit = released + window;
        if limit >= self.flow.local_max_data + window / 4 {
            self.flow.local_max_data = limit;
            self.flow.max_data_pending = true;
        }
    }
}
