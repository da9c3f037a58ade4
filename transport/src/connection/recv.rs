//! Incoming packets and frames.

use super::*;
use crate::channel::RecvError;
use crate::wire::{Frame, Frames, Header, LongHeader, LongType, Reader, ShortHeader};

impl Connection {
    /// Creates the responder side from a first handshake message. Returns `None` when the
    /// message does not authenticate (nothing is kept).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept(
        config: Arc<TransportConfig>,
        mut handshake: Box<dyn HandshakeSession>,
        local_cid: ConnectionId,
        hdr: &LongHeader,
        msg1: &[u8],
        remote: SocketAddr,
        now: Instant,
        refuse: bool,
    ) -> Result<(Option<Self>, Vec<u8>), crate::crypto::CryptoError> {
        let mut payload = Vec::new();
        handshake.read_message(msg1, &mut payload)?;
        let peer = TransportParams::decode(&payload)
            .map_err(|_| crate::crypto::CryptoError::Authentication)?;
        let mut params = config.local_params();
        params.refused = refuse;
        let mut p = Vec::new();
        params.encode(&mut p);
        let mut msg2 = Vec::new();
        handshake.write_message(&p, &mut msg2)?;
        let reply_hdr = Header::Long(LongHeader {
            ty: LongType::Handshake,
            version: crate::wire::PROTOCOL_VERSION,
            dcid: hdr.scid,
            scid: local_cid,
        });
        let mut datagram = Vec::with_capacity(msg2.len() + 32);
        reply_hdr.emit(&mut datagram);
        crate::wire::write_varint(&mut datagram, msg2.len() as u64);
        datagram.extend_from_slice(&msg2);
        if refuse {
            return Ok((None, datagram));
        }
        let mut conn = Connection::new(
            Side::Responder,
            config,
            local_cid,
            hdr.scid,
            remote,
            handshake,
            now,
        );
        let protection = conn
            .handshake
            .take()
            .map(|h| h.into_protection())
            .transpose()?;
        conn.protection = protection;
        conn.apply_peer_params(peer);
        conn.state = State::Established;
        conn.handshake_datagram = datagram.clone();
        conn.reset_idle(now);
        conn.events.push_back(Event::Connected);
        Ok((Some(conn), datagram))
    }

    /// Creates the initiator side; the Initial datagram is queued for `poll_transmit`.
    pub(crate) fn connect(
        config: Arc<TransportConfig>,
        mut handshake: Box<dyn HandshakeSession>,
        local_cid: ConnectionId,
        initial_dcid: ConnectionId,
        remote: SocketAddr,
        now: Instant,
    ) -> Result<Self, crate::crypto::CryptoError> {
        let mut p = Vec::new();
        config.local_params().encode(&mut p);
        let mut msg1 = Vec::new();
        handshake.write_message(&p, &mut msg1)?;
        let hdr = Header::Long(LongHeader {
            ty: LongType::Initial,
            version: crate::wire::PROTOCOL_VERSION,
            dcid: initial_dcid,
            scid: local_cid,
        });
        let mut datagram = Vec::with_capacity(1200);
        hdr.emit(&mut datagram);
        crate::wire::write_varint(&mut datagram, msg1.len() as u64);
        datagram.extend_from_slice(&msg1);
        // Pad the first flight so the listener may answer without amplifying.
        let min = usize::from(config.max_datagram_size).max(crate::MIN_INITIAL_SIZE);
        datagram.resize(datagram.len().max(min), 0);
        let mut conn = Connection::new(
            Side::Initiator,
            config,
            local_cid,
            initial_dcid,
            remote,
            handshake,
            now,
        );
        conn.handshake_datagram = datagram;
        conn.handshake_resend = true;
        conn.handshake_retx_at = Some(now + conn.handshake_backoff);
        Ok(conn)
    }

    fn apply_peer_params(&mut self, p: TransportParams) {
        self.peer_max_data = p.initial_max_data;
        self.path.mds = self
            .path
            .mds
            .min(p.max_datagram_size.min(u64::from(u16::MAX)) as u16);
        for ch in self.channels.values_mut() {
            ch.send.max_data = ch.send.max_data.max(p.initial_max_channel_data);
        }
        self.peer_params = Some(p);
    }

    /// A retransmitted Initial reached the responder: answer again (the endpoint checks
    /// the amplification budget: the Initial was at least as large as our answer).
    pub(crate) fn on_repeated_initial(&mut self) {
        if self.side == Side::Responder && self.state == State::Established {
            self.handshake_resend = true;
        }
    }

    /// Handles a long-header packet routed to this connection.
    pub(crate) fn handle_long(&mut self, now: Instant, hdr: &LongHeader, payload: &[u8]) {
        if hdr.ty != LongType::Handshake || self.side != Side::Initiator {
            return;
        }
        if self.state != State::Handshaking {
            return; // a duplicate of the answer we already processed
        }
        let mut r = Reader::new(payload);
        let Ok(len) = r.varint("handshake length") else {
            return;
        };
        let Ok(msg2) = r.bytes(len.min(usize::MAX as u64) as usize, "handshake message") else {
            return;
        };
        let Some(hs) = self.handshake.as_mut() else {
            return;
        };
        let mut params = Vec::new();
        if hs.read_message(msg2, &mut params).is_err() {
            self.stats.auth_failures += 1;
            return;
        }
        let Ok(peer) = TransportParams::decode(&params) else {
            self.closed_reason = Some(ConnectionError::Transport {
                code: TransportErrorCode::ProtocolViolation,
                remote: false,
                reason: Bytes::from_static(b"bad transport parameters"),
            });
            self.finish_closed();
            return;
        };
        if peer.refused {
            self.closed_reason = Some(ConnectionError::Refused);
            self.finish_closed();
            return;
        }
        let Some(hs) = self.handshake.take() else {
            return;
        };
        match hs.into_protection() {
            Ok(p) => self.protection = Some(p),
            Err(_) => {
                self.closed_reason = Some(ConnectionError::Transport {
                    code: TransportErrorCode::Internal,
                    remote: false,
                    reason: Bytes::from_static(b"handshake incomplete"),
                });
                self.finish_closed();
                return;
            }
        }
        self.remote_cid = hdr.scid;
        self.apply_peer_params(peer);
        self.state = State::Established;
        self.handshake_resend = false;
        self.handshake_retx_at = None;
        self.handshake_datagram = Vec::new();
        self.stats.packets_received += 1;
        self.stats.bytes_received += payload.len() as u64;
        self.reset_idle(now);
        self.events.push_back(Event::Connected);
    }

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
        let rx = &self.path.rx;
        let duplicate = pn < rx.floor || rx.received.contains(pn);
        let Some(protection) = self.protection.as_mut() else {
            return;
        };
        let size = packet.len();
        let (header, body) = packet.split_at_mut(header_len.min(size));
        let Ok(len) = protection.open(hdr.path_id, pn, header, body) else {
            self.stats.auth_failures += 1;
            return;
        };
        if duplicate {
            self.stats.duplicate_packets += 1;
            return;
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
