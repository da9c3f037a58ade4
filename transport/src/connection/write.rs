//! The frames a data packet carries besides ACKs: control frames (credit, path
//! signals, channel opens, CHANNEL_BLOCKED), MAX_DATA / DATA_BLOCKED, datagrams, and
//! channel data in round-robin order.

use super::*;
use crate::channel::FinState;
use crate::wire::{Frame, FrameType, write_varint};

impl Connection {
    /// Flow-control updates, path responses, channel opens and closes. Returns whether
    /// anything was written.
    pub(super) fn write_control(
        &mut self,
        i: usize,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
    ) -> bool {
        let start = buf.len();
        if let Some(data) = self.paths[i].response {
            let f = Frame::PathResponse { data };
            if buf.len() + f.encoded_len() <= limit {
                f.encode(buf);
                self.paths[i].response = None;
            }
        }
        self.write_connection_credit(buf, limit, sent);
        self.write_path_signals(buf, limit, sent);
        self.write_rehandshake(buf, limit, sent);
        let mut ids = std::mem::take(&mut self.scratch_ids);
        ids.clear();
        ids.extend(self.ready.iter().copied());
        self.count_work(ids.len() as u64);
        for &id in &ids {
            let Some(ch) = self.channels.get_mut(&id) else {
                continue;
            };
            if ch.open_pending && !ch.open_in_flight {
                let f = Frame::ChannelOpen {
                    channel: id,
                    label: &ch.label,
                };
                if buf.len() + f.encoded_len() > limit {
                    break;
                }
                f.encode(buf);
                ch.open_in_flight = true;
                sent.opens.push(id);
            }
            if ch.recv.credit_update_pending {
                let max = ch.recv.credit_limit().max(ch.recv.advertised);
                let f = Frame::MaxChannelData { channel: id, max };
                if buf.len() + f.encoded_len() > limit {
                    break;
                }
                f.encode(buf);
                ch.recv.advertised = max;
                ch.recv.credit_update_pending = false;
                sent.max_channel_data.push(id);
            }
            if ch.send.is_blocked() && ch.send.blocked_sent_at != Some(ch.send.max_data) {
                let f = Frame::ChannelBlocked {
                    channel: id,
                    limit: ch.send.max_data,
                };
                if buf.len() + f.encoded_len() > limit {
                    break;
                }
                f.encode(buf);
                ch.send.blocked_sent_at = Some(ch.send.max_data);
            }
        }
        self.scratch_ids = ids;
        buf.len() > start
    }

    /// MAX_DATA and DATA_BLOCKED.
    fn write_connection_credit(&mut self, buf: &mut Vec<u8>, limit: usize, sent: &mut SentFrames) {
        let flow = &mut self.flow;
        if flow.max_data_pending {
            let f = Frame::MaxData {
                max: flow.local_max_data,
            };
            if buf.len() + f.encoded_len() <= limit {
                f.encode(buf);
                flow.max_data_pending = false;
                sent.max_data = true;
            }
        }
        let channels = &self.channels;
        let conn_blocked = flow.sent_data >= flow.peer_max_data
            && self
                .ready
                .iter()
                .filter_map(|id| channels.get(id))
                .any(|c| c.send.sendable_new() > 0);
        if conn_blocked && flow.data_blocked_sent != Some(flow.peer_max_data) {
            let f = Frame::DataBlocked {
                limit: flow.peer_max_data,
            };
            if buf.len() + f.encoded_len() <= limit {
                f.encode(buf);
                flow.data_blocked_sent = Some(flow.peer_max_data);
            }
        }
    }

    pub(super) fn write_datagrams(&mut self, buf: &mut Vec<u8>, limit: usize) -> bool {
        let mut wrote = false;
        let max = self.max_datagram_payload();
        while let Some(d) = self.dgram_out.front() {
            if d.len() > max {
                self.dgram_out.pop_front(); // the path shrank below it: it can never fit
                continue;
            }
            let f = Frame::Datagram { data: d };
            if buf.len() + f.encoded_len() > limit {
                break;
            }
            f.encode(buf);
            self.dgram_out.pop_front();
            wrote = true;
        }
        wrote
    }

    /// Channel data, lost data first, channels served round-robin, those whose message
    /// cannot complete within the peer's credit last (see `SendState::awaits_stretch`);
    /// CHANNEL_CLOSE after a channel's last byte.
    pub(super) fn write_channel_data(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
    ) -> bool {
        let mut wrote = false;
        let mut ids = std::mem::take(&mut self.scratch_ids);
        ids.clear();
        ids.extend(
            self.ready
                .range(self.send_cursor..)
                .chain(self.ready.range(..self.send_cursor))
                .copied(),
        );
        self.count_work(ids.len() as u64);
        // Stable: round-robin order within each group.
        let channels = &mut self.channels;
        ids.sort_by_key(|id| {
            channels
                .get_mut(id)
                .is_some_and(|c| !c.send.has_retransmit() && c.send.awaits_stretch())
        });
        let mut budget = self.flow.peer_max_data.saturating_sub(self.flow.sent_data);
        for &id in &ids {
            if buf.len() + 4 >= limit {
                break;
            }
            let Some(ch) = self.channels.get_mut(&id) else {
                continue;
            };
            // Bounded: each iteration either writes bytes or breaks.
            loop {
                let room = limit.saturating_sub(buf.len()) as u64;
                let Some((off, want, _)) = ch.send.next_chunk(room, budget) else {
                    break;
                };
                let overhead = Frame::channel_data_overhead(id, off, want as usize) as u64;
                if room <= overhead {
                    break;
                }
                let len = want.min(room - overhead);
                write_varint(buf, FrameType::ChannelData as u64);
                write_varint(buf, id);
                write_varint(buf, off);
                write_varint(buf, len);
                ch.send.copy_to(off, len, buf);
                let new_bytes = (off + len).saturating_sub(ch.send.next);
                ch.send.on_sent(off, len);
                self.flow.sent_data += new_bytes;
                budget -= new_bytes.min(budget);
                sent.data.push((id, off, len));
                wrote = true;
            }
            if ch.send.fin_due() {
                let f = Frame::ChannelClose {
                    channel: id,
                    final_size: ch.send.end(),
                    error_code: ch.send.reset_code,
                };
                if buf.len() + f.encoded_len() <= limit {
                    f.encode(buf);
                    ch.send.fin = FinState::Sent;
                    sent.fins.push(id);
                    wrote = true;
                }
            }
            self.send_cursor = id + 1;
        }
        self.scratch_ids = ids;
        wrote
    }
}
