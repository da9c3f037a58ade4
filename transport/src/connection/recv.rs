//! Incoming packets and frames.

use super::*;
use crate::channel::{ChannelId, RecvError};
use crate::path::PathStatus;
use crate::wire::{AckFrame, Frame, Frames, ShortHeader};

impl Connection {
    /// Handles a short-header packet that arrived on `(local, remote)`: `packet` is the
    /// whole datagram, decrypted in place; `header_len` the length of its header.
    pub(crate) fn handle_short(
        &mut self,
        now: Instant,
        (local, remote): (SocketAddr, SocketAddr),
        hdr: &ShortHeader,
        packet: &mut [u8],
        header_len: usize,
    ) {
        let known = self.path_index(hdr.path_id);
        if known.is_none() && !self.may_accept_path(hdr.path_id) {
            return; // no such path, and none the peer may open now
        }
        let pn = hdr.packet_number;
        // Cheap checks before decryption: the replay window, then our ACK floor.
        if let Some(i) = known {
            let path = &self.paths[i];
            if path.status == PathStatus::Abandoned {
                return;
            }
            if !path.replay.check(pn) || !path.rx.is_new(pn) {
                self.stats.duplicate_packets += 1;
                return;
            }
        }
        let Some(protection) = self.protection.as_mut() else {
            return;
        };
        let size = packet.len();
        let (header, body) = packet.split_at_mut(header_len.min(size));
        let Ok(len) = protection.open(hdr.path_id, pn, hdr.key_phase, header, body) else {
            self.stats.auth_failures += 1;
            if protection.auth_failures() >= crate::crypto::INTEGRITY_LIMIT {
                self.close.reason = Some(ConnectionError::IntegrityLimit);
                self.finish_closed();
            }
            return;
        };
        // The tag verified: only now may a new path exist, and the window move.
        let i = match known {
            Some(i) => i,
            None => self.accept_path(now, hdr.path_id, (local, remote), size),
        };
        self.paths[i].replay.update(pn);
        let on_path = self.paths[i].is(local, remote);
        if known.is_some() && on_path {
            self.paths[i].budget.on_received(size); // a path still proving the address
        }
        if i == 0
            && (self.hs.in_progress()
                || (on_path && self.paths[0].status == PathStatus::Validating))
        {
            self.on_peer_confirmed(on_path);
        }
        if matches!(self.state, State::Draining | State::Closed) {
            return;
        }
        if self.state == State::Closing {
            if self.close.resends < MAX_CLOSE_RESENDS {
                self.close.pending = true;
            }
            return;
        }
        let plain = &body[..len];
        let largest = self.paths[i].rx.largest.is_none_or(|(l, _)| pn > l);
        match self.process_frames(now, i, (local, remote), plain) {
            // A CONNECTION_CLOSE in the packet ended the connection: nothing to track.
            Ok(_) if !matches!(self.state, State::Established | State::Handshaking) => {}
            Ok(kind) => {
                if !on_path {
                    self.on_packet_from_new_address(now, i, (local, remote), size, largest, kind);
                }
                self.on_packet_received(now, i, pn, kind.eliciting, size);
            }
            Err(FrameOutcome::Drop) => {}
            Err(FrameOutcome::Close(code, reason)) => self.protocol_error(now, code, reason),
        }
    }

    fn on_packet_received(
        &mut self,
        now: Instant,
        i: usize,
        pn: u64,
        eliciting: bool,
        size: usize,
    ) {
        self.stats.packets_received += 1;
        self.stats.bytes_received += size as u64;
        let ack_frequency = self.config.ack_frequency;
        let max_ack_delay = self.config.max_ack_delay;
        let path = &mut self.paths[i];
        path.counters.packets_received += 1;
        path.counters.bytes_received += size as u64;
        let in_order = path.rx.record(pn, now);
        if eliciting {
            path.rx.eliciting_unacked += 1;
            if !in_order || path.rx.eliciting_unacked >= ack_frequency {
                path.rx.ack_now = true;
            } else if path.timers.get(PathTimer::Ack).is_none() {
                path.timers.set(PathTimer::Ack, Some(now + max_ack_delay));
            }
        }
        self.sent_eliciting_since_rx = false;
        if self.state == State::Established || self.state == State::Handshaking {
            self.reset_idle(now);
        }
    }

    /// Applies every frame of a packet that arrived on path `i` from `addr`: what kind of
    /// packet it was, or how to react to a bad one.
    fn process_frames(
        &mut self,
        now: Instant,
        i: usize,
        addr: (SocketAddr, SocketAddr),
        plain: &[u8],
    ) -> Result<PacketKind, FrameOutcome> {
        let mut kind = PacketKind {
            eliciting: false,
            probing: true,
            challenge: None,
        };
        // Bounded: every frame consumes at least one byte of `plain`.
        for frame in Frames::new(plain) {
            let frame = frame.map_err(|_| {
                FrameOutcome::Close(TransportErrorCode::FrameEncoding, "malformed frame")
            })?;
            self.count_work(1);
            kind.eliciting |= frame.is_ack_eliciting();
            kind.probing &= frame.is_probing();
            match frame {
                Frame::PathChallenge { data } => kind.challenge = Some(data),
                Frame::PathResponse { data } => self.on_path_response(now, addr, &data),
                Frame::Ack(ack) => self.on_ack(now, &ack, i)?,
                frame => self.process_frame(now, frame)?,
            }
            if self.state != State::Established {
                break;
            }
        }
        if let Some(data) = kind.challenge
            && self.paths[i].is(addr.0, addr.1)
        {
            self.paths[i].response = Some(data); // answered on the path itself
        }
        Ok(kind)
    }

    /// An ACK frame that arrived on path `via`: for that path (a round trip of it: RTT
    /// sample, and a failed path is back), or for another path that went quiet (the
    /// peer's copy of that path's ACK, multipath).
    fn on_ack(&mut self, now: Instant, ack: &AckFrame, via: usize) -> Result<(), FrameOutcome> {
        use TransportErrorCode as E;
        let Some(i) = self.path_index(ack.path_id) else {
            if self.path_was_retired(ack.path_id) {
                return Ok(()); // a late ACK for a path we forgot
            }
            return Err(FrameOutcome::Close(
                E::ProtocolViolation,
                "ACK for unknown path",
            ));
        };
        let delay = Duration::from_micros(ack.ack_delay_us.min(1 << 32));
        let persistent = self.paths[i].recovery.stats().persistent_congestion_events;
        let own = i == via;
        let recovery = &mut self.paths[i].recovery;
        let outcome = if own {
            recovery.on_ack_received(now, &ack.ranges, delay)
        } else {
            recovery.on_ack_received_elsewhere(now, &ack.ranges)
        }
        .map_err(|_| FrameOutcome::Close(E::ProtocolViolation, "ACK of unsent packet"))?;
        self.log_persistent_congestion(i, persistent);
        for (_, p) in outcome.acked {
            self.on_packet_acked(p.payload);
        }
        for (_, p) in outcome.lost {
            self.on_packet_lost(p.payload);
        }
        let path = &mut self.paths[i];
        if outcome.rtt_sampled || !path.recovery.has_ack_eliciting_in_flight() {
            path.probes = 0;
        }
        path.sync_timers();
        if own {
            self.on_path_acknowledged(i);
        }
        Ok(())
    }

    fn process_frame(&mut self, now: Instant, frame: Frame<'_>) -> Result<(), FrameOutcome> {
        match frame {
            Frame::Padding { .. }
            | Frame::Ping
            | Frame::PathChallenge { .. }
            | Frame::PathResponse { .. } => {}
            Frame::Ack(_) => {} // handled with its arrival path in `process_frames`
            Frame::PathStatus {
                path_id,
                sequence,
                standby,
            } => self.on_path_status(path_id, sequence, standby)?,
            Frame::PathAbandon {
                path_id,
                error_code,
            } => self.on_path_abandon(now, path_id, error_code)?,
            Frame::ChannelData {
                channel,
                offset,
                data,
            } => {
                self.on_channel_data(channel, offset, data)?;
                self.on_data_for_parity(channel, offset, data)?;
            }
            Frame::ChannelParity(p) => self.on_parity(&p)?,
            Frame::Rehandshake {
                id,
                generation,
                key,
            } => self.on_rehandshake_frame(now, id, generation, key)?,
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
            Frame::MaxData { max } => self.flow.peer_max_data = self.flow.peer_max_data.max(max),
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
                tracing::debug!(peer = %self.peer_label(), reason = %why, "peer closed the connection");
                self.close.reason = Some(why);
                self.state = State::Draining;
                self.enter_close_period(now);
            }
            Frame::DataBlocked { .. } => self.flow.max_data_pending = true,
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
    pub(super) fn channel_for_peer_frame(
        &mut self,
        id: u64,
        _sending: bool,
    ) -> Result<Option<&mut Channel>, FrameOutcome> {
        if !self.channels.contains_key(&id) {
            if self.channel_was_closed(id) {
                return Ok(None);
            }
            if self.is_local_channel(id) {
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
        if self.channels.contains_key(&id) {
            self.touch(id);
        }
        Ok(self.channels.get_mut(&id))
    }

    pub(super) fn on_channel_data(
        &mut self,
        id: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<(), FrameOutcome> {
        use TransportErrorCode as E;
        let local_max_data = self.flow.local_max_data;
        let received_data = self.flow.received_data;
        let Some(ch) = self.channel_for_peer_frame(id, false)? else {
            return Ok(());
        };
        if ch.recv_closed {
            return Ok(());
        }
        if !self.budget_admits(id, offset) {
            return Err(FrameOutcome::Drop);
        }
        let result = self.with_recv(id, |r| r.on_data(offset, data));
        let Some(result) = result else {
            return Ok(());
        };
        let grown = result.map_err(|e| match e {
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
        self.flow.received_data += grown;
        if let Some(ch) = self.channels.get(&id)
            && ch.recv.has_message()
            && ch.announced
            && !ch.readable_signaled
        {
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
                ch.recv.finished_reported = true;
                self.with_recv(id, |r| r.discard());
                self.update_connection_credit();
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

/// What a packet's frames were, for the path logic.
#[derive(Debug, Clone, Copy)]
pub(super) struct PacketKind {
    /// Something in it asks for an ACK.
    pub eliciting: bool,
    /// Only PATH_CHALLENGE, PATH_RESPONSE and PADDING: it never moves a path.
    pub probing: bool,
    /// A PATH_CHALLENGE's data, to echo to the address it came from.
    pub challenge: Option<[u8; 8]>,
}

/// How a frame-processing failure is handled.
pub(crate) enum FrameOutcome {
    /// Drop the packet without acknowledging it (a resource limit; the peer retransmits).
    Drop,
    /// A protocol error: close the connection.
    Close(TransportErrorCode, &'static str),
}
