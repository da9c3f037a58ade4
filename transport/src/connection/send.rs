//! Outgoing packets: choosing frames, congestion control, pacing and protection.

use super::*;
use crate::wire::{AckFrame, Frame, FrameType, Header, MAX_ACK_RANGES, ShortHeader, write_varint};

impl Connection {
    /// Writes the next datagram to send into `buf` (which is cleared first).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        if self.handshake_resend
            && !self.handshake_datagram.is_empty()
            && !self.amplification_blocked(self.handshake_datagram.len())
        {
            self.handshake_resend = false;
            buf.extend_from_slice(&self.handshake_datagram);
            return Some(self.transmitted(now, buf.len()));
        }
        match self.state {
            State::Established => {
                if self.shutdown_complete() {
                    self.start_close(
                        now,
                        TransportErrorCode::NoError as u64,
                        Bytes::new(),
                        ConnectionError::LocallyClosed,
                    );
                    return self.poll_transmit(now, buf);
                }
                self.build_packet(now, buf)
            }
            State::Closing if self.close_pending => {
                self.close_pending = false;
                self.close_resends += 1;
                self.build_close_packet(buf)?;
                Some(self.transmitted(now, buf.len()))
            }
            _ => None,
        }
    }

    /// Starts a key update when the keys are old enough (time or packets).
    fn maybe_update_keys(&mut self, now: Instant) {
        let due = self.packets_since_key_update >= self.config.rekey_packets
            || now.saturating_duration_since(self.last_key_update) >= self.config.rekey_interval;
        // RFC 9001 §6.1: not before a packet sent with the current keys was acknowledged,
        // so the peer has the current generation before it sees the next.
        let phase = self.protection.as_ref().is_some_and(|p| p.key_phase());
        let confirmed = phase == self.send_phase // not just changed by answering the peer
            && self
                .path
                .recovery
                .largest_acked()
                .is_some_and(|l| l >= self.send_phase_first_pn);
        if due && confirmed && self.protection.as_mut().is_some_and(|p| p.update_keys()) {
            self.packets_since_key_update = 0;
            self.last_key_update = now;
        }
    }

    fn transmitted(&mut self, now: Instant, size: usize) -> Transmit {
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
        self.last_sent = now;
        self.packets_since_key_update += 1;
        if !self.validated {
            self.unvalidated_sent += size as u64;
        }
        Transmit {
            destination: self.path.remote,
            path_id: self.path.id,
            size,
        }
    }

    fn start_short_packet(&mut self, buf: &mut Vec<u8>) -> (u64, usize) {
        let pn = self.path.recovery.next_packet_number();
        let key_phase = self.protection.as_ref().is_some_and(|p| p.key_phase());
        if key_phase != self.send_phase {
            // A new generation, ours or an answer to the peer's: restart the rekey clocks.
            self.send_phase = key_phase;
            self.send_phase_first_pn = pn;
            self.last_key_update = self.last_sent;
            self.packets_since_key_update = 0;
        }
        let hdr = Header::Short(ShortHeader {
            key_phase,
            dcid: self.remote_cid,
            path_id: self.path.id,
            packet_number: pn,
        });
        let header_len = hdr.emit(buf);
        (pn, header_len)
    }

    fn build_close_packet(&mut self, buf: &mut Vec<u8>) -> Option<()> {
        let (code, reason) = self.close_frame.clone()?;
        let (pn, header_len) = self.start_short_packet(buf);
        Frame::ConnectionClose {
            error_code: code,
            reason: &reason,
        }
        .encode(buf);
        let protection = self.protection.as_mut()?;
        protection.seal(self.path.id, pn, buf, header_len);
        // Not tracked by recovery: a CLOSE is never retransmitted, only repeated on demand.
        self.path.recovery.on_packet_sent(
            self.last_sent,
            pn,
            SentPacket {
                time_sent: self.last_sent,
                size: buf.len() as u16,
                ack_eliciting: false,
                in_flight: false,
                payload: SentFrames::default(),
            },
        );
        Some(())
    }

    /// Assembles one short-header packet, or `None` when nothing may or needs to be sent.
    fn build_packet(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let tag_len = self.protection.as_ref()?.tag_len();
        let mds = usize::from(self.path.mds);
        if self.amplification_blocked(mds) {
            return None; // wait until the dialer proves its address
        }
        self.maybe_update_keys(now);
        let probe = self.probes > 0;
        let mut may_elicit = probe || self.path.recovery.can_send(mds as u64);
        if may_elicit
            && !probe
            && self.has_eliciting_work()
            && let Some(t) = self.path.recovery.pacing_delay(now, mds as u64)
        {
            self.pacing_deadline = Some(t);
            may_elicit = false;
        }
        let rx = &self.path.rx;
        let ack_due = rx.ack_needed && (rx.ack_now || (may_elicit && self.has_eliciting_work()));
        if !ack_due && !(may_elicit && (self.has_eliciting_work() || probe)) {
            if may_elicit && !self.has_eliciting_work() {
                self.path.recovery.on_app_limited(now);
            }
            return None;
        }
        let (pn, header_len) = self.start_short_packet(buf);
        let limit = mds - tag_len;
        let mut sent = SentFrames::default();
        if self.path.rx.ack_needed {
            self.write_ack(now, buf, limit, &mut sent);
        }
        let mut eliciting = false;
        if may_elicit {
            eliciting |= self.write_control(buf, limit, &mut sent);
            eliciting |= self.write_datagrams(buf, limit);
            eliciting |= self.write_channel_data(buf, limit, &mut sent);
            if (probe || self.ping_pending) && !eliciting && buf.len() < limit {
                Frame::Ping.encode(buf);
                eliciting = true;
            }
            if eliciting {
                self.ping_pending = false;
            }
        }
        if buf.len() == header_len {
            buf.clear();
            return None;
        }
        if probe && eliciting {
            self.probes -= 1;
        }
        if !self.has_eliciting_work() {
            self.path.recovery.on_app_limited(now);
        }
        let protection = self.protection.as_mut()?;
        protection.seal(self.path.id, pn, buf, header_len);
        let size = buf.len();
        self.path.recovery.on_packet_sent(
            now,
            pn,
            SentPacket {
                time_sent: now,
                size: size as u16,
                ack_eliciting: eliciting,
                in_flight: eliciting,
                payload: sent,
            },
        );
        if eliciting && !self.sent_eliciting_since_rx {
            self.sent_eliciting_since_rx = true;
            self.reset_idle(now);
        }
        Some(self.transmitted(now, size))
    }

    /// Whether anything ack-eliciting is waiting to be sent (within flow control).
    fn has_eliciting_work(&self) -> bool {
        if self.ping_pending || self.max_data_pending || !self.dgram_out.is_empty() {
            return true;
        }
        let conn_budget = self.peer_max_data.saturating_sub(self.sent_data);
        self.channels.values().any(|c| {
            (c.open_pending && !c.open_in_flight)
                || c.recv.credit_update_pending
                || c.send.has_retransmit()
                || (conn_budget > 0 && c.send.sendable_new() > 0)
                || c.send.fin_due()
                || (c.send.is_blocked() && c.send.blocked_sent_at != Some(c.send.max_data))
        })
    }

    fn write_ack(&mut self, now: Instant, buf: &mut Vec<u8>, limit: usize, sent: &mut SentFrames) {
        let rx = &mut self.path.rx;
        let ranges: Vec<(u64, u64)> = rx
            .received
            .iter()
            .rev()
            .take(MAX_ACK_RANGES)
            .map(|r| (r.start, r.end - 1))
            .collect();
        let Some(&(_, largest)) = ranges.first() else {
            rx.ack_needed = false;
            return;
        };
        let delay = rx
            .largest
            .map_or(Duration::ZERO, |(_, t)| now.saturating_duration_since(t));
        let mut f = Frame::Ack(AckFrame {
            path_id: self.path.id,
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
        sent.ack_floor = Some(if complete { largest + 1 } else { lowest });
        rx.ack_needed = false;
        rx.ack_now = false;
        rx.ack_due = None;
        rx.eliciting_unacked = 0;
    }

    /// Flow-control updates, channel opens and closes. Returns whether anything was written.
    fn write_control(&mut self, buf: &mut Vec<u8>, limit: usize, sent: &mut SentFrames) -> bool {
        let start = buf.len();
        if self.max_data_pending {
            let f = Frame::MaxData {
                max: self.local_max_data,
            };
            if buf.len() + f.encoded_len() <= limit {
                f.encode(buf);
                self.max_data_pending = false;
                sent.max_data = true;
            }
        }
        let conn_blocked = self.sent_data >= self.peer_max_data
            && self.channels.values().any(|c| c.send.sendable_new() > 0);
        if conn_blocked && self.data_blocked_sent != Some(self.peer_max_data) {
            let f = Frame::DataBlocked {
                limit: self.peer_max_data,
            };
            if buf.len() + f.encoded_len() <= limit {
                f.encode(buf);
                self.data_blocked_sent = Some(self.peer_max_data);
            }
        }
        for (&id, ch) in self.channels.iter_mut() {
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
        buf.len() > start
    }

    fn write_datagrams(&mut self, buf: &mut Vec<u8>, limit: usize) -> bool {
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

    /// Channel data, lost data first, channels served round-robin; CHANNEL_CLOSE after a
    /// channel's last byte.
    fn write_channel_data(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
    ) -> bool {
        let mut wrote = false;
        let mut ids = std::mem::take(&mut self.scratch_ids);
        ids.clear();
        ids.extend(
            self.channels
                .range(self.send_cursor..)
                .chain(self.channels.range(..self.send_cursor))
                .map(|(&id, _)| id),
        );
        let mut budget = self.peer_max_data.saturating_sub(self.sent_data);
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
                self.sent_data += new_bytes;
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
