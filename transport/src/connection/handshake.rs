//! The handshake phase: long-header packets carrying handshake messages.
//!
//! | packet    | direction           | carries                                         |
//! |-----------|---------------------|-------------------------------------------------|
//! | Initial   | dialer → listener   | message 1, padded to ≥ 1200 bytes, mac1, mac2   |
//! | Handshake | listener → dialer   | message 2 (the listener's transport parameters) |
//! | Finish    | dialer → listener   | message 3 (XX only: the dialer's parameters)    |
//! | Retry     | listener → dialer   | a cookie (listener under load)                  |
//!
//! Each side resends its last handshake datagram until the peer's next step shows it
//! arrived: the dialer on a timer, the listener when a repeated Initial arrives.

use super::*;
use crate::crypto::{CryptoConfig, CryptoError, gate};
use crate::wire::{Header, LongHeader, LongType, PROTOCOL_VERSION, Reader, write_varint};

/// Bytes of mac1 + mac2 at the end of an Initial.
pub(crate) const INITIAL_TRAILER: usize = 2 * gate::MAC_LEN;
/// Most Retries a dialer follows.
const MAX_RETRIES: u8 = 3;

/// Handshake-phase state of a connection (what is resent, and the dialer's Initial).
#[derive(Debug)]
pub(crate) struct HandshakeData {
    /// Initiator: the Initial datagram; responder: the Handshake datagram (for resends).
    pub(super) datagram: Vec<u8>,
    /// The datagram must be (re)sent.
    pub(super) resend: bool,
    pub(super) backoff: Duration,
    pub(super) deadline: Instant,
    /// Dialer: the Initial up to its MACs, the mac1 key, the cookie from a Retry.
    pub(super) initial_body: Vec<u8>,
    pub(super) initial_dcid: ConnectionId,
    pub(super) mac1_key: crate::crypto::Secret<[u8; 32]>,
    pub(super) cookie: Option<[u8; 16]>,
    pub(super) retries: u8,
    /// Our encoded transport parameters (XX sends them in message 3).
    pub(super) local_params_payload: Vec<u8>,
}

impl HandshakeData {
    pub(super) fn new(config: &TransportConfig, initial_dcid: ConnectionId, now: Instant) -> Self {
        HandshakeData {
            datagram: Vec::new(),
            resend: false,
            backoff: config.recovery.initial_rtt * 3,
            deadline: now + config.handshake_timeout,
            initial_body: Vec::new(),
            initial_dcid,
            mac1_key: crate::crypto::Secret([0; 32]),
            cookie: None,
            retries: 0,
            local_params_payload: Vec::new(),
        }
    }

    /// Whether a handshake datagram is still kept for resending.
    pub(super) fn in_progress(&self) -> bool {
        !self.datagram.is_empty()
    }

    /// The last handshake datagram, if it must be (re)sent now.
    pub(super) fn due(&self) -> Option<&[u8]> {
        (self.resend && !self.datagram.is_empty()).then_some(&self.datagram[..])
    }

    fn done(&mut self) {
        self.datagram = Vec::new();
        self.resend = false;
    }
}

/// The prologue binding an Initial's header fields into the handshake.
pub(crate) fn prologue(dcid: &ConnectionId, scid: &ConnectionId) -> Vec<u8> {
    let mut p = b"netchan/1".to_vec();
    p.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    p.extend_from_slice(&dcid.0);
    p.extend_from_slice(&scid.0);
    p
}

fn long_datagram(ty: LongType, dcid: ConnectionId, scid: ConnectionId, msg: &[u8]) -> Vec<u8> {
    let hdr = Header::Long(LongHeader {
        ty,
        version: PROTOCOL_VERSION,
        dcid,
        scid,
    });
    let mut d = Vec::with_capacity(msg.len() + 32);
    hdr.emit(&mut d);
    write_varint(&mut d, msg.len() as u64);
    d.extend_from_slice(msg);
    d
}

/// Reads `varint length || message` from a long-header payload.
pub(crate) fn handshake_message(payload: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(payload);
    let len = r.varint("handshake length").ok()?;
    r.bytes(usize::try_from(len).ok()?, "handshake message")
        .ok()
}

/// What the listener makes of a first message.
pub(crate) enum Accepted {
    /// A new connection, and the datagram to answer with (already queued in it).
    Connection(Box<Connection>),
    /// Refused: answer with this datagram and keep nothing.
    Refused(Vec<u8>),
}

impl Connection {
    /// Creates the dialer side; the Initial is queued for `poll_transmit`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connect(
        config: Arc<TransportConfig>,
        crypto: &dyn CryptoConfig,
        seed: [u8; 32],
        peer_key: Option<[u8; 32]>,
        (local_cid, initial_dcid): (ConnectionId, ConnectionId),
        origin: Origin,
        now: Instant,
        unix_ms: Option<u64>,
    ) -> Result<Self, CryptoError> {
        let mut session =
            crypto.start_initiator(seed, peer_key, &prologue(&initial_dcid, &local_cid))?;
        let mut params = config.local_params();
        params.timestamp_ms = unix_ms;
        let mut p = Vec::new();
        params.encode(&mut p);
        let mut msg1 = Vec::new();
        session.write_message(&p, &mut msg1)?;
        let mut body = long_datagram(LongType::Initial, initial_dcid, local_cid, &msg1);
        // Pad so the listener may answer without amplifying.
        let min = usize::from(config.max_datagram_size).max(crate::MIN_INITIAL_SIZE);
        body.resize(body.len().max(min - INITIAL_TRAILER), 0);
        let mut conn = Connection::new(
            Side::Initiator,
            config,
            (local_cid, initial_dcid),
            origin,
            session,
            now,
        );
        let hs = &mut conn.hs;
        hs.local_params_payload = p;
        hs.mac1_key = crate::crypto::Secret(crypto.initiator_mac1_key(peer_key.as_ref()));
        hs.initial_body = body;
        hs.resend = true;
        conn.rebuild_initial();
        conn.timers
            .set(ConnTimer::Handshake, Some(now + conn.hs.backoff));
        Ok(conn)
    }

    /// The Initial datagram: body, mac1, and mac2 (zeros without a cookie).
    fn rebuild_initial(&mut self) {
        let hs = &mut self.hs;
        let mut d = hs.initial_body.clone();
        let mac1 = gate::mac(&hs.mac1_key.0, &d);
        d.extend_from_slice(&mac1);
        let mac2 = hs
            .cookie
            .map_or([0u8; gate::MAC_LEN], |c| gate::mac2(&c, &d));
        d.extend_from_slice(&mac2);
        hs.datagram = d;
    }

    /// The dialer's handshake retransmission timer fired; false when it gave up.
    pub(super) fn on_handshake_timer(&mut self, now: Instant) -> bool {
        if now >= self.hs.deadline {
            self.close.reason = Some(ConnectionError::HandshakeTimedOut);
            self.finish_closed();
            return false;
        }
        self.hs.resend = true;
        self.hs.backoff = (self.hs.backoff * 2).min(Duration::from_secs(1));
        self.timers
            .set(ConnTimer::Handshake, Some(now + self.hs.backoff));
        true
    }

    /// Creates the listener side from a first message (already past the gates).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept(
        config: Arc<TransportConfig>,
        crypto: &dyn CryptoConfig,
        seed: [u8; 32],
        local_cid: ConnectionId,
        (hdr, msg1): (&LongHeader, &[u8]),
        origin: Origin,
        now: Instant,
        initial_size: usize,
        (refuse, proven): (bool, bool),
    ) -> Result<Accepted, CryptoError> {
        let mut session = crypto.start_responder(seed, &prologue(&hdr.dcid, &hdr.scid));
        let mut payload = Vec::new();
        session.read_message(msg1, &mut payload)?;
        // Only an authenticated first message (IK: it proves the dialer's key) may carry
        // parameters; XX's first message is cleartext and its payload is ignored.
        let peer = if payload.is_empty() || session.peer_identity().is_none() {
            None
        } else {
            Some(TransportParams::decode(&payload).map_err(|_| CryptoError::Authentication)?)
        };
        let mut params = config.local_params();
        params.refused = refuse;
        params.connection_id = Some(local_cid.0);
        let mut p = Vec::new();
        params.encode(&mut p);
        let mut msg2 = Vec::new();
        session.write_message(&p, &mut msg2)?;
        let datagram = long_datagram(LongType::Handshake, hdr.scid, local_cid, &msg2);
        if refuse {
            return Ok(Accepted::Refused(datagram));
        }
        let mut conn = Connection::new(
            Side::Responder,
            config,
            (local_cid, hdr.scid),
            origin,
            session,
            now,
        );
        conn.paths[0].budget.on_received(initial_size);
        // A cookie proved the dialer's address. An `IK` first message alone proves only
        // that someone once held the dialer's key, yet counts as proven for now: keeping
        // it half-open until the dialer's first packet shifts every connection's start
        // by a round trip (see SECURITY.md, known weaknesses). `XX` waits for message 3.
        conn.proven = proven || peer.is_some();
        conn.hs.datagram = datagram;
        conn.hs.resend = true;
        if let Some(peer) = peer {
            conn.apply_peer_params(peer);
        }
        if conn.handshake.as_ref().is_some_and(|h| h.is_finished()) {
            conn.complete_handshake(now)?;
        }
        Ok(Accepted::Connection(Box::new(conn)))
    }

    /// The peer's transport parameters, when known.
    pub(crate) fn peer_params(&self) -> Option<&TransportParams> {
        self.peer_params.as_ref()
    }

    fn apply_peer_params(&mut self, p: TransportParams) {
        self.flow.peer_max_data = p.initial_max_data;
        let peer_mds = p.max_datagram_size.min(u64::from(u16::MAX)) as u16;
        for path in &mut self.paths {
            path.mds = path.mds.min(peer_mds);
        }
        for ch in self.channels.values_mut() {
            ch.send.max_data = ch.send.max_data.max(p.initial_max_channel_data);
        }
        // Once per connection: channels opened before the handshake may send now.
        self.ready.extend(self.channels.keys().copied());
        self.peer_params = Some(p);
    }

    /// The handshake finished: switch to packet protection.
    fn complete_handshake(&mut self, now: Instant) -> Result<(), CryptoError> {
        if self.peer_params.is_none() {
            return Err(CryptoError::Authentication);
        }
        let Some(hs) = self.handshake.take() else {
            return Err(CryptoError::UnexpectedMessage);
        };
        self.peer_identity = hs.peer_identity();
        self.protection = Some(hs.into_protection()?);
        self.state = State::Established;
        self.keys.last_update = now;
        self.announce_established(now);
        Ok(())
    }

    /// Whether the connection is proven (see the field): a half-open responder is not.
    pub fn is_proven(&self) -> bool {
        self.proven
    }

    fn announce_established(&mut self, now: Instant) {
        self.reset_idle(now);
        self.arm_keepalive(now);
        self.arm_rehandshake(now);
        let path = &self.paths[0];
        tracing::info!(
            peer = %self.peer_label(),
            side = ?self.side,
            path = path.id,
            local = %path.local,
            remote = %path.remote,
            "connection established"
        );
        self.events.push_back(Event::Connected);
    }

    /// A repeated Initial reached the listener: answer again, within the amplification
    /// budget, which the Initial's bytes extend.
    pub(crate) fn on_repeated_initial(&mut self, size: usize) {
        if self.side == Side::Responder {
            self.paths[0].budget.on_received(size);
            if self.hs.in_progress() {
                self.hs.resend = true;
            }
        }
    }

    /// Handles a long-header packet routed to this connection.
    pub(crate) fn handle_long(
        &mut self,
        now: Instant,
        hdr: &LongHeader,
        payload: &[u8],
        size: usize,
    ) {
        match (hdr.ty, self.side) {
            (LongType::Handshake, Side::Initiator) => self.on_handshake_packet(now, hdr, payload),
            (LongType::Finish, Side::Responder) => self.on_finish_packet(now, payload, size),
            (LongType::Retry, Side::Initiator) => self.on_retry(now, hdr, payload),
            _ => {}
        }
    }

    fn fail_handshake(&mut self, why: ConnectionError) {
        tracing::info!(side = ?self.side, reason = %why, "handshake failed");
        self.close.reason = Some(why);
        self.finish_closed();
    }

    fn on_handshake_packet(&mut self, now: Instant, hdr: &LongHeader, payload: &[u8]) {
        if self.state != State::Handshaking {
            return; // a duplicate of the answer we already processed
        }
        let Some(msg2) = handshake_message(payload) else {
            return;
        };
        let Some(hs) = self.handshake.as_mut() else {
            return;
        };
        let mut params = Vec::new();
        if hs.read_message(msg2, &mut params).is_err() {
            // Forged, corrupted, or not from the listener we pinned: ignored (the session
            // is unchanged); the genuine answer may still come.
            self.stats.auth_failures += 1;
            return;
        }
        let peer = match TransportParams::decode(&params) {
            Ok(p) if p.connection_id == Some(hdr.scid.0) => p,
            _ => {
                self.fail_handshake(ConnectionError::Transport {
                    code: TransportErrorCode::ProtocolViolation,
                    remote: false,
                    reason: Bytes::from_static(b"bad transport parameters"),
                });
                return;
            }
        };
        if peer.refused {
            self.fail_handshake(ConnectionError::Refused);
            return;
        }
        self.stats.packets_received += 1;
        self.stats.bytes_received += payload.len() as u64;
        self.remote_cid = hdr.scid;
        self.apply_peer_params(peer);
        self.hs.done();
        self.timers.stop(ConnTimer::Handshake);
        if self.handshake.as_ref().is_some_and(|h| h.is_my_turn()) {
            // XX: the third message carries our parameters; resend it until the listener
            // answers with a protected packet.
            let mut msg3 = Vec::new();
            let written = self
                .handshake
                .as_mut()
                .map(|h| h.write_message(&self.hs.local_params_payload, &mut msg3));
            if !matches!(written, Some(Ok(()))) {
                self.fail_handshake(ConnectionError::HandshakeFailed);
                return;
            }
            self.hs.datagram =
                long_datagram(LongType::Finish, self.remote_cid, self.local_cid, &msg3);
            self.hs.resend = true;
            self.hs.backoff = self.config.recovery.initial_rtt * 3;
            self.timers
                .set(ConnTimer::Handshake, Some(now + self.hs.backoff));
        }
        if self.complete_handshake(now).is_err() {
            self.fail_handshake(ConnectionError::HandshakeFailed);
        }
    }

    fn on_finish_packet(&mut self, now: Instant, payload: &[u8], size: usize) {
        if self.state == State::Established {
            self.ping_pending = true; // our confirmation was lost: answer again
            return;
        }
        if self.state != State::Handshaking {
            return;
        }
        self.paths[0].budget.on_received(size);
        let Some(msg3) = handshake_message(payload) else {
            return;
        };
        let Some(hs) = self.handshake.as_mut() else {
            return;
        };
        let mut params = Vec::new();
        match hs.read_message(msg3, &mut params) {
            Ok(()) => {}
            Err(CryptoError::PeerRefused) => {
                // Authenticated, but not allowed here: end the half-open connection.
                self.fail_handshake(ConnectionError::HandshakeFailed);
                return;
            }
            Err(_) => {
                self.stats.auth_failures += 1; // ignored; the session is unchanged
                return;
            }
        }
        match TransportParams::decode(&params) {
            Ok(p) if !params.is_empty() => self.apply_peer_params(p),
            _ => {
                self.fail_handshake(ConnectionError::HandshakeFailed);
                return;
            }
        }
        self.paths[0].confirm(); // message 3 is authenticated and came from the address
        self.hs.done();
        self.proven = true; // it answered our message 2 at its address
        if self.complete_handshake(now).is_err() {
            self.fail_handshake(ConnectionError::HandshakeFailed);
            return;
        }
        self.ping_pending = true; // confirm at once so the dialer stops resending
    }

    fn on_retry(&mut self, now: Instant, hdr: &LongHeader, payload: &[u8]) {
        if self.state != State::Handshaking
            || self.hs.retries >= MAX_RETRIES
            || hdr.scid != self.hs.initial_dcid
            || payload.len() != 2 * gate::MAC_LEN
        {
            return;
        }
        let d = &self.hs.initial_body;
        let mac1 = gate::mac(&self.hs.mac1_key.0, d);
        let (cookie, tag) = payload.split_at(gate::MAC_LEN);
        let mut covered = Vec::with_capacity(21 + gate::MAC_LEN);
        Header::Long(*hdr).emit(&mut covered);
        covered.extend_from_slice(cookie);
        if !gate::mac_eq(&gate::mac(&gate::retry_key(&mac1), &covered), tag) {
            return;
        }
        let mut c = [0u8; gate::MAC_LEN];
        c.copy_from_slice(cookie);
        self.hs.cookie = Some(c);
        self.hs.retries += 1;
        self.rebuild_initial();
        self.hs.resend = true;
        self.timers
            .set(ConnTimer::Handshake, Some(now + self.hs.backoff));
    }

    /// An authenticated packet of path 0 arrived: the handshake is over for both sides
    /// (XX dialer: the listener has message 3), wherever it came from; and when it came
    /// from the path's own address (`on_path`), a listener knows that address is real.
    pub(crate) fn on_peer_confirmed(&mut self, on_path: bool) {
        if on_path {
            self.paths[0].confirm();
        }
        if self.hs.in_progress() {
            self.hs.done();
            self.timers.stop(ConnTimer::Handshake);
        }
    }
}

/// Builds a Retry for an Initial: `initial` is the whole datagram.
pub(crate) fn retry_datagram(
    hdr: &LongHeader,
    initial: &[u8],
    cookie: &[u8; gate::MAC_LEN],
) -> Vec<u8> {
    let reply = Header::Long(LongHeader {
        ty: LongType::Retry,
        version: PROTOCOL_VERSION,
        dcid: hdr.scid,
        scid: hdr.dcid,
    });
    let mut d = Vec::with_capacity(21 + 2 * gate::MAC_LEN);
    reply.emit(&mut d);
    d.extend_from_slice(cookie);
    let mac1 = &initial[initial.len() - INITIAL_TRAILER..initial.len() - gate::MAC_LEN];
    let tag = gate::mac(&gate::retry_key(mac1), &d);
    d.extend_from_slice(&tag);
    d
}
