//! Incoming packets and frames.

use super::*;
use crate::channel::RecvError;
use crate::wire::{Frame, Frames, ShortHeader};

impl Connection {
    /// Handles a short-header packet: `packet` is the whole datagram (mutable for in-place
    /// decryption), `header_len` the length of its header.
    pub(crate) fn handle_short(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        hdr: &ShortHeader,
        packet: &mut [u8],
        header_len: usize,
    ) {
        if hdr.path_id != self.path.id {
            return; // unknown path: multipath is not negotiated yet
        }
        let pn = hdr.packet_number;
        // Cheap checks before decryption: the replay window, then our ACK floor.
        let rx = &self.path.rx;
        if !self.replay.check(pn) || pn < rx.floor || rx.received.contains(pn) {
            self.stats.duplicate_packets += 1;
            return;
        }
        let Some(protection) = self.protection.as_mut() else {
            return;
        };
        let size = packet.len();
        let (header, body) = packet.split_at_mut(header_len.min(size));
        let Ok(len) = protection.open(hdr.path_id, pn, hdr.key_phase, header, body) else {
            self.stats.auth_failures += 1;
            if protection.auth_failures() >= crate::crypto::INTEGRITY_LIMIT {
                self.closed_reason = Some(ConnectionError::IntegrityLimit);
                self.finish_closed();
            }
            return;
        };
        // The tag verified: only now may the window move.
        self.replay.update(pn);
        if !self.validated || !self.handshake_datagram.is_empty() {
            self.on_peer_confirmed();
        }
        if matches!(self.state, State::Draining | State::Closed) {
            return;
        }
        if self.state == State::Closing {
            if self.close_resends < MAX_CLOSE_RESENDS {
                self.close_pending = true;
            }
            return;
        }
        let plain = &body[..len];
        match self.process_frames(now, plain) {
            Ok(eliciting) => {
                self.on_packet_received(now, remote, pn, eliciting, size);
            }
            Err(FrameOutcome::Drop) => {}
            Err(FrameOutcome::Close(code, reason)) => self.protocol_error(now, code, reason),
        }
    }

    fn on_packet_received(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        pn: u64,
        eliciting: bool,
        size: usize,
    ) {
        self.stats.packets_received += 1;
        self.stats.bytes_received += size as u64;
        let rx = &mut self.path.rx;
        let in_order = rx.largest.is_none_or(|(l, _)| pn == l + 1);
        rx.received.insert(pn..pn + 1);
        if rx.received.range_count() > MAX_RX_RANGES
            && let Some(r) = rx.received.pop_first()
        {
            rx.floor = rx.floor.max(r.end);
        }
        if rx.largest.is_none_or(|(l, _)| pn > l) {
            rx.largest = Some((pn, now));
            if remote != self.path.remote {
                // The peer's address changed (NAT rebinding): follow the newest packet.
                self.path.remote = remote;
            }
        }
        rx.ack_needed = true;
        if eliciting {
            rx.eliciting_unacked += 1;
            if !in_order || rx.eliciting_unacked >= self.config.ack_frequency {
                rx.ack_now = true;
            } else if rx.ack_due.is_none() {
                rx.ack_due = Some(now + self.config.max_ack_delay);
            }
        }
        self.sent_eliciting_since_rx = false;
        if self.state == State::Established || self.state == State::Handshaking {
            self.reset_idle(now);
        }
    }

    /// Applies every frame of a packet. `Ok(ack_eliciting)`, or how to react to a bad one.
    fn process_frames(&mut self, now: Instant, plain: &[u8]) -> Result<bool, FrameOutcome> {
        let mut eliciting = false;
        // Bounded: every frame consumes at least one byte of `plain`.
        for frame in Frames::new(plain) {
            let frame = frame.map_err(|_| {
                FrameOutcome::Close(TransportErrorCode::FrameEncoding, "malformed frame")
            })?;
            eliciting |= frame.is_ack_eliciting();
            self.process_frame(now, frame)?;
            if self.state != State::Established {
                break;
            }
        }
        Ok(eliciting)
    }

    fn process_frame(&mut self, now: Instant, frame: Frame<'_>) -> Result<(), FrameOutcome> {
        use TransportErrorCode as E;
        match frame {
            Frame::Padding { .. } | Frame::Ping => {}
            Frame::Ack(ack) => {
                if ack.path_id != self.path.id {
                    return Err(FrameOutcome::Close(
                        E::ProtocolViolation,
                        "ACK for unknown path",
                    ));
                }
                let delay = Duration::from_micros(ack.ack_delay_us.min(1 << 32));
                let outcome = self
                    .path
                    .recovery
                    .on_ack_received(now, &ack.ranges, delay)
                    .map_err(|_| {
                        FrameOutcome::Close(E::ProtocolViolation, "ACK of unsent packet")
                    })?;
                for (_, p) in outcome.acked {
                    self.on_packet_acked(p.payload);
                }
                for (_, p) in outcome.lost {
                    self.on_packet_lost(p.payload);
                }
                if outcome.rtt_sampled || !self.path.recovery.has_ack_eliciting_in_flight() {
                    self.probes = 0;
                }
            }
            Frame::ChannelData {
                channel,
                offset,
                data,
            } => {
                self.on_channel_data(channel, offset, data)?;
            }
            Frame::Datagram { data } => {
                if self.dgram_in.len() >= self.config.datagram_queue {
                    self.dgram_in.pop_front();
                    self.stats.datagrams_dropped += 1;
                }
                self.dgram_in.push_back(Bytes::copy_from_slice(data));
                if !self.dgram_signaled {
                    self.dgram_signaled = true;
                    self.events.push_back(Event::DatagramReceived);
                }
            }
            Frame::MaxData { max } => self.peer_max_data = self.peer_max_data.max(max),
            Frame::MaxChannelData { channel, max } => {
                if let Some(ch) = self.channel_for_peer_frame(channel, true)? {
                    ch.send.max_data = ch.send.max_data.max(max);
                }
            }
            Frame::ChannelOpen { channel, label } => {
                if let Some(ch) = self.channel_for_peer_frame(channel, false)?
                    && !ch.announced
                {
                    ch.announced = true;
                    ch.label = Bytes::copy_from_slice(label);
                    let has_msg = ch.recv.has_message();
                    self.events.push_back(Event::ChannelOpened {
                        channel: ChannelId(channel),
                        label: Bytes::copy_from_slice(label),
                    });
                    if has_msg {
                        self.signal_readable(channel);
                    }
                }
            }
            Frame::ChannelClose {
                channel,
                final_size,
                error_code,
            } => {
                self.on_channel_close(channel, final_size, error_code)?;
            }
            Frame::ConnectionClose { error_code, reason } => {
                let reason = Bytes::copy_from_slice(reason);
                let why = if error_code >= 0x100 {
                    ConnectionError::ApplicationClosed {
                        code: error_code - 0x100,
                        reason,
                    }
                } else {
                    match TransportErrorCode::from_u64(error_code) {
                        Some(TransportErrorCode::NoError) => {
                            ConnectionError::ApplicationClosed { code: 0, reason }
                        }
                        Some(code) => ConnectionError::Transport {
                            code,
                            remote: true,
                            reason,
                        },
                        None => ConnectionError::UnknownCode(error_code),
                    }
                };
                self.closed_reason = Some(why);
                self.state = State::Draining;
                self.close_deadline = Some(now + self.path.recovery.pto_interval() * 3);
                self.path.recovery.drain_all();
            }
            Frame::DataBlocked { .. } => self.max_data_pending = true,
            Frame::ChannelBlocked { channel, .. } => {
                if let Some(ch) = self.channel_for_peer_frame(channel, false)? {
                    ch.recv.credit_update_pending = true;
                }
            }
        }
        Ok(())
    }

    /// Finds (or, for a new peer-opened id, creates) the channel a frame refers to.
    /// `Ok(None)`: the channel existed and is gone, ignore the frame.
    fn channel_for_peer_frame(
        &mut self,
        id: u64,
        _sending: bool,
    ) -> Result<Option<&mut Channel>, FrameOutcome> {
        if !self.channels.contains_key(&id) {
            if self.channel_was_closed(id) {
                return Ok(None);
            }
            let local = id.is_multiple_of(2) == (self.side == Side::Initiator);
            if local {
                return Err(FrameOutcome::Close(
                    TransportErrorCode::ChannelState,
                    "frame for a channel we never opened",
                ));
            }
            if id / 2 >= self.config.max_channels {
                return Err(FrameOutcome::Close(
                    TransportErrorCode::ChannelLimit,
                    "channel limit",
                ));
            }
            // Implicitly open every lower peer id too (their frames may be in flight).
            while self.peer_channels <= id / 2 {
                let nid = self.peer_channels * 2 + (id % 2);
                let ch = self.new_channel(false);
                self.channels.insert(nid, ch);
                self.peer_channels += 1;
            }
        }
        Ok(self.channels.get_mut(&id))
    }

    fn on_channel_data(&mut self, id: u64, offset: u64, data: &[u8]) -> Result<(), FrameOutcome> {
        use TransportErrorCode as E;
        let local_max_data = self.local_max_data;
        let received_data = self.received_data;
        let Some(ch) = self.channel_for_peer_frame(id, false)? else {
            return Ok(());
        };
        if ch.recv_closed {
            return Ok(());
        }
        let grown = ch.recv.on_data(offset, data).map_err(|e| match e {
            RecvError::FlowControl => {
                FrameOutcome::Close(E::FlowControl, "channel credit exceeded")
            }
            RecvError::FinalSize => FrameOutcome::Close(E::FinalSize, "data beyond final size"),
            RecvError::MessageTooLarge => {
                FrameOutcome::Close(E::MessageTooLarge, "message larger than allowed")
            }
            RecvError::TooFragmented => FrameOutcome::Drop,
            RecvError::Malformed => {
                FrameOutcome::Close(E::FrameEncoding, "non-minimal message length")
            }
        })?;
        if received_data + grown > local_max_data {
            return Err(FrameOutcome::Close(
                E::FlowControl,
                "connection credit exceeded",
            ));
        }
        let ready = ch.recv.has_message() && ch.announced && !ch.readable_signaled;
        self.received_data += grown;
        if ready {
            self.signal_readable(id);
        }
        self.update_connection_credit();
        Ok(())
    }

    fn signal_readable(&mut self, id: u64) {
        if let Some(ch) = self.channels.get_mut(&id)
            && !ch.readable_signaled
        {
            ch.readable_signaled = true;
            self.events.push_back(Event::ChannelReadable(ChannelId(id)));
        }
    }

    fn on_channel_close(
        &mut self,
        id: u64,
        final_size: u64,
        code: u64,
    ) -> Result<(), FrameOutcome> {
        let Some(ch) = self.channel_for_peer_frame(id, false)? else {
            return Ok(());
        };
        if code != 0 {
            if !ch.recv_closed {
                ch.recv_closed = true;
                ch.recv.discard();
                ch.recv.finished_reported = true;
                self.events.push_back(Event::ChannelReset {
                    channel: ChannelId(id),
                    code,
                });
            }
            return Ok(());
        }
        ch.recv.on_final_size(final_size).map_err(|_| {
            FrameOutcome::Close(TransportErrorCode::FinalSize, "inconsistent final size")
        })?;
        if ch.recv.is_finished() && !ch.recv.finished_reported && ch.announced {
            ch.recv.finished_reported = true;
            self.events.push_back(Event::ChannelFinished(ChannelId(id)));
        }
        Ok(())
    }
}

/// How a frame-processing failure is handled.
pub(crate) enum FrameOutcome {
    /// Drop the packet without acknowledging it (a resource limit; the peer retransmits).
    Drop,
    /// A protocol error: close the connection.
    Close(TransportErrorCode, &'static str),
}
