//! The connection state machine.

mod handshake;
mod recv;
mod send;

pub(crate) use handshake::{Accepted, INITIAL_TRAILER, handshake_message, retry_datagram};

use crate::channel::{ChannelId, FinState, RecvState, SendState};
use crate::config::{TransportConfig, TransportParams};
use crate::crypto::{HandshakeSession, PacketProtection};
use crate::error::{ConnectionError, OpenError, SendError, TransportErrorCode};
use crate::ranges::RangeSet;
use crate::recovery::{PathRecovery, RecoveryStats, SentPacket};
use crate::wire::{ConnectionId, MAX_LABEL_LEN};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which side of the handshake a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The dialer: writes the first handshake message, opens even channel ids.
    Initiator,
    /// The listener: answers, opens odd channel ids.
    Responder,
}

/// Something the application must know about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed; channels can be used.
    Connected,
    /// The peer opened a channel.
    ChannelOpened {
        /// Its id.
        channel: ChannelId,
        /// The label the peer gave it.
        label: Bytes,
    },
    /// Messages are ready on the channel (edge-triggered: read until `recv` is `None`).
    ChannelReadable(ChannelId),
    /// Send-buffer space is available again after [`SendError::Blocked`].
    ChannelWritable(ChannelId),
    /// The peer finished the channel and every message was read.
    ChannelFinished(ChannelId),
    /// The peer aborted the channel with an error code; unread messages were discarded.
    ChannelReset {
        /// The channel.
        channel: ChannelId,
        /// The peer's code.
        code: u64,
    },
    /// Unreliable datagrams are ready (edge-triggered).
    DatagramReceived,
    /// The connection ended; the last event of a connection.
    Closed(ConnectionError),
}

/// A datagram to send, written into the caller's buffer by `poll_transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Which path (local socket) it belongs to.
    pub path_id: u64,
    /// Bytes written to the buffer.
    pub size: usize,
}

/// Counters of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConnectionStats {
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams received and accepted.
    pub packets_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received and accepted.
    pub bytes_received: u64,
    /// Packets dropped because they failed authentication.
    pub auth_failures: u64,
    /// Packets dropped as duplicates or too old.
    pub duplicate_packets: u64,
    /// Channel payload bytes delivered to the application.
    pub bytes_delivered: u64,
    /// Messages delivered to the application.
    pub messages_delivered: u64,
    /// Incoming datagrams dropped because the receive queue was full.
    pub datagrams_dropped: u64,
    /// Current smoothed RTT.
    pub rtt: Duration,
    /// Current congestion window in bytes.
    pub cwnd: u64,
    /// Loss recovery counters of the path.
    pub recovery: RecoveryStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Initiator waiting for the second handshake message.
    Handshaking,
    Established,
    /// We sent CONNECTION_CLOSE; answer stray packets with it until `close_deadline`.
    Closing,
    /// The peer closed; stay silent until `close_deadline`.
    Draining,
    Closed,
}

/// What one sent packet carried, to act on its acknowledgement or loss.
#[derive(Debug, Default)]
pub(crate) struct SentFrames {
    data: Vec<(u64, u64, u64)>,
    fins: Vec<u64>,
    opens: Vec<u64>,
    max_channel_data: Vec<u64>,
    max_data: bool,
    /// Receive floor the ACK frame in this packet allows once the peer has seen it:
    /// past its largest number if it reported every range, else its lowest reported one.
    ack_floor: Option<u64>,
}

/// Receive-side packet-number state of a path: what to acknowledge.
#[derive(Debug, Default)]
struct RxState {
    received: RangeSet,
    /// Packets below this number are treated as duplicates.
    floor: u64,
    largest: Option<(u64, Instant)>,
    /// Ack-eliciting packets received since our last ACK.
    eliciting_unacked: u32,
    /// Something new to acknowledge since the last ACK we sent.
    ack_needed: bool,
    /// Send an ACK in the next packet, whatever else.
    ack_now: bool,
    /// Delayed-ACK deadline.
    ack_due: Option<Instant>,
}

/// Most ranges the receive tracker keeps; older ranges are forgotten (their packets then
/// count as duplicates, so the sender retransmits their data instead).
const MAX_RX_RANGES: usize = 256;

#[derive(Debug)]
struct Path {
    id: u64,
    remote: SocketAddr,
    recovery: PathRecovery<SentFrames>,
    rx: RxState,
    mds: u16,
}

#[derive(Debug)]
struct Channel {
    send: SendState,
    recv: RecvState,
    /// Label to announce in CHANNEL_OPEN (locally opened) / received label.
    label: Bytes,
    /// Locally opened and CHANNEL_OPEN not yet acknowledged.
    open_pending: bool,
    /// CHANNEL_OPEN is in flight (don't resend until lost).
    open_in_flight: bool,
    /// Peer-opened channel announced to the application.
    announced: bool,
    /// A ChannelReadable event is outstanding (cleared when recv returns None).
    readable_signaled: bool,
    /// The peer reset the channel: unread and further incoming data is discarded.
    recv_closed: bool,
}

/// A connection: the handshake, packet protection, loss recovery, congestion control,
/// flow control and channels of one peer, as a sans-IO state machine.
///
/// # Driving it
///
/// Connections live inside an [`Endpoint`](crate::Endpoint), which routes datagrams to
/// them; the application reaches one with [`Endpoint::connection`](crate::Endpoint).
/// Method groups:
/// - **input**: datagrams arrive through the endpoint; timers through
///   [`handle_timeout`](Self::handle_timeout) (the endpoint calls it).
/// - **output**: [`poll_transmit`](Self::poll_transmit) writes the next datagram;
///   [`poll_timeout`](Self::poll_timeout) tells when to call `handle_timeout` next;
///   [`poll_event`](Self::poll_event) yields [`Event`]s.
/// - **application**: [`open_channel`](Self::open_channel), [`send`](Self::send),
///   [`recv`](Self::recv), [`close_channel`](Self::close_channel),
///   [`send_datagram`](Self::send_datagram), [`recv_datagram`](Self::recv_datagram),
///   [`close`](Self::close), [`shutdown`](Self::shutdown), [`stats`](Self::stats).
///
/// After any input or application call, drain `poll_transmit` and `poll_event` until they
/// return `None`, then sleep until `poll_timeout`.
///
/// Timers are a small table (idle, loss/PTO, delayed ACK, pacing, keepalive, handshake
/// retransmission, close); `poll_timeout` is their minimum.
#[derive(Debug)]
pub struct Connection {
    side: Side,
    state: State,
    config: Arc<TransportConfig>,
    local_cid: ConnectionId,
    remote_cid: ConnectionId,
    handshake: Option<Box<dyn HandshakeSession>>,
    protection: Option<Box<dyn PacketProtection>>,
    /// Initiator: the Initial datagram; responder: the Handshake datagram (for resends).
    handshake_datagram: Vec<u8>,
    handshake_resend: bool,
    handshake_retx_at: Option<Instant>,
    handshake_backoff: Duration,
    handshake_deadline: Instant,
    /// Dialer: the Initial up to its MACs, the mac1 key, the cookie from a Retry.
    initial_body: Vec<u8>,
    initial_dcid: ConnectionId,
    mac1_key: crate::crypto::Secret<[u8; 32]>,
    cookie: Option<[u8; 16]>,
    retries: u8,
    /// Our encoded transport parameters (XX sends them in message 3).
    local_params_payload: Vec<u8>,
    /// Whether the peer's address is validated (anti-amplification, listener side).
    validated: bool,
    unvalidated_recv: u64,
    unvalidated_sent: u64,
    peer_identity: Option<[u8; 32]>,
    replay: crate::replay::ReplayWindow,
    last_key_update: Instant,
    packets_since_key_update: u64,
    /// Key phase of our last packet, and the first packet number sent in it.
    send_phase: bool,
    send_phase_first_pn: u64,
    peer_params: Option<TransportParams>,
    path: Path,
    channels: BTreeMap<u64, Channel>,
    next_local_channel: u64,
    peer_channels: u64,
    /// Connection credit granted by the peer, and new bytes sent against it.
    peer_max_data: u64,
    sent_data: u64,
    data_blocked_sent: Option<u64>,
    /// Connection credit we granted, and highest offsets received summed over channels.
    local_max_data: u64,
    received_data: u64,
    /// Bytes released by channels already forgotten (connection-level credit).
    released_closed: u64,
    max_data_pending: bool,
    dgram_out: VecDeque<Bytes>,
    dgram_in: VecDeque<Bytes>,
    dgram_signaled: bool,
    events: VecDeque<Event>,
    idle_deadline: Option<Instant>,
    sent_eliciting_since_rx: bool,
    last_sent: Instant,
    ping_pending: bool,
    probes: usize,
    pacing_deadline: Option<Instant>,
    close_deadline: Option<Instant>,
    close_frame: Option<(u64, Bytes)>,
    close_pending: bool,
    close_resends: u32,
    closed_reason: Option<ConnectionError>,
    shutdown: bool,
    send_cursor: u64,
    /// Reused list of channel ids (no allocation per packet).
    scratch_ids: Vec<u64>,
    stats: ConnectionStats,
}

/// Longest idle timeout honoured (one week); larger advertised values are clamped.
const MAX_IDLE_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;

/// How many times a closing endpoint answers stray packets with CONNECTION_CLOSE.
const MAX_CLOSE_RESENDS: u32 = 8;

impl Connection {
    #[allow(clippy::too_many_arguments)]
    fn new(
        side: Side,
        config: Arc<TransportConfig>,
        local_cid: ConnectionId,
        remote_cid: ConnectionId,
        remote: SocketAddr,
        handshake: Box<dyn HandshakeSession>,
        now: Instant,
    ) -> Self {
        let mds = config.max_datagram_size;
        let recovery = PathRecovery::new(&config.recovery, mds, now);
        let backoff = config.recovery.initial_rtt * 3;
        Self {
            side,
            state: State::Handshaking,
            local_cid,
            remote_cid,
            handshake: Some(handshake),
            protection: None,
            handshake_datagram: Vec::new(),
            handshake_resend: false,
            handshake_retx_at: None,
            handshake_backoff: backoff,
            handshake_deadline: now + config.handshake_timeout,
            initial_body: Vec::new(),
            initial_dcid: remote_cid,
            mac1_key: crate::crypto::Secret([0; 32]),
            cookie: None,
            retries: 0,
            local_params_payload: Vec::new(),
            validated: side == Side::Initiator,
            unvalidated_recv: 0,
            unvalidated_sent: 0,
            peer_identity: None,
            replay: crate::replay::ReplayWindow::new(),
            last_key_update: now,
            packets_since_key_update: 0,
            send_phase: false,
            send_phase_first_pn: 0,
            peer_params: None,
            path: Path {
                id: 0,
                remote,
                recovery,
                rx: RxState::default(),
                mds,
            },
            channels: BTreeMap::new(),
            next_local_channel: match side {
                Side::Initiator => 0,
                Side::Responder => 1,
            },
            peer_channels: 0,
            peer_max_data: 0,
            sent_data: 0,
            data_blocked_sent: None,
            local_max_data: config.connection_receive_window,
            received_data: 0,
            released_closed: 0,
            max_data_pending: false,
            dgram_out: VecDeque::new(),
            dgram_in: VecDeque::new(),
            dgram_signaled: false,
            events: VecDeque::new(),
            idle_deadline: Some(now + config.handshake_timeout),
            sent_eliciting_since_rx: false,
            last_sent: now,
            ping_pending: false,
            probes: 0,
            pacing_deadline: None,
            close_deadline: None,
            close_frame: None,
            close_pending: false,
            close_resends: 0,
            closed_reason: None,
            shutdown: false,
            send_cursor: 0,
            scratch_ids: Vec::new(),
            stats: ConnectionStats::default(),
            config,
        }
    }

    /// Which side this connection is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Our connection ID (the peer puts it in packets to us).
    pub fn local_cid(&self) -> ConnectionId {
        self.local_cid
    }

    /// The peer's current address.
    pub fn remote_address(&self) -> SocketAddr {
        self.path.remote
    }

    /// Whether the handshake completed and the connection is not closing.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the connection has fully ended (its `Closed` event was queued).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The peer's static public key, when the handshake authenticates one.
    /// Known only once the handshake has proven it (a key pinned by the dialer is not
    /// reported before the listener's answer authenticated it).
    pub fn peer_identity(&self) -> Option<[u8; 32]> {
        self.peer_identity
    }

    /// Key updates performed on this connection (started or answered).
    pub fn key_updates(&self) -> u64 {
        self.protection.as_ref().map_or(0, |p| p.key_updates())
    }

    /// Counters and path state.
    pub fn stats(&self) -> ConnectionStats {
        let mut s = self.stats;
        s.rtt = self.path.recovery.rtt().smoothed();
        s.cwnd = self.path.recovery.congestion_window();
        s.recovery = self.path.recovery.stats();
        s
    }

    /// Name of the congestion controller of the (first) path.
    pub fn congestion_controller(&self) -> &'static str {
        self.path.recovery.controller_name()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- application API ------------------------------------------------------------

    /// Opens a channel with a label the peer sees in [`Event::ChannelOpened`].
    pub fn open_channel(&mut self, label: &[u8]) -> Result<ChannelId, OpenError> {
        if !matches!(self.state, State::Handshaking | State::Established) || self.shutdown {
            return Err(OpenError::NotConnected);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(OpenError::LabelTooLong);
        }
        let opened = self.next_local_channel / 2;
        if let Some(p) = &self.peer_params
            && opened >= p.max_channels
        {
            return Err(OpenError::Limit);
        }
        let id = self.next_local_channel;
        self.next_local_channel += 2;
        let mut ch = self.new_channel(true);
        ch.label = Bytes::copy_from_slice(label);
        ch.open_pending = true;
        self.channels.insert(id, ch);
        Ok(ChannelId(id))
    }

    fn new_channel(&self, local: bool) -> Channel {
        let credit = self
            .peer_params
            .as_ref()
            .map_or(0, |p| p.initial_max_channel_data);
        let mut send = SendState::new(credit);
        if self.shutdown {
            send.fin = FinState::Pending; // shutting down: this side sends nothing more
        }
        Channel {
            send,
            recv: RecvState::new(
                self.config.channel_receive_window,
                self.config.max_message_size,
            ),
            label: Bytes::new(),
            open_pending: false,
            open_in_flight: false,
            announced: local,
            readable_signaled: false,
            recv_closed: false,
        }
    }

    /// Queues one message on a channel. Fails without keeping the message when the
    /// channel's send buffer is full ([`SendError::Blocked`]: wait for
    /// [`Event::ChannelWritable`]), when it exceeds the peer's maximum message size, or
    /// when the channel or connection is closed.
    pub fn send(&mut self, channel: ChannelId, msg: &[u8]) -> Result<(), SendError> {
        if !matches!(self.state, State::Handshaking | State::Established) || self.shutdown {
            return Err(SendError::NotConnected);
        }
        let limit = self
            .peer_params
            .as_ref()
            .map_or(self.config.max_message_size, |p| p.max_message_size);
        if msg.len() as u64 > limit {
            return Err(SendError::TooLarge {
                size: msg.len() as u64,
                limit,
            });
        }
        let buffer_limit = self.config.channel_send_buffer;
        let ch = self
            .channels
            .get_mut(&channel.0)
            .ok_or(SendError::ChannelClosed)?;
        if ch.send.fin != FinState::Open {
            return Err(SendError::ChannelClosed);
        }
        if ch.send.buffered() > 0 && ch.send.buffered() + msg.len() as u64 > buffer_limit {
            ch.send.wants_writable = true;
            return Err(SendError::Blocked);
        }
        ch.send.write_message(msg);
        Ok(())
    }

    /// Bytes the channel still holds unacknowledged (0 when everything was delivered).
    pub fn send_buffered(&self, channel: ChannelId) -> u64 {
        self.channels
            .get(&channel.0)
            .map_or(0, |c| c.send.buffered())
    }

    /// Takes the next complete message of a channel.
    pub fn recv(&mut self, channel: ChannelId) -> Option<Bytes> {
        let ch = self.channels.get_mut(&channel.0)?;
        let Some(msg) = ch.recv.pop() else {
            ch.readable_signaled = false;
            return None;
        };
        self.stats.messages_delivered += 1;
        self.stats.bytes_delivered += msg.len() as u64;
        if ch.recv.is_finished() && !ch.recv.finished_reported {
            ch.recv.finished_reported = true;
            self.events.push_back(Event::ChannelFinished(channel));
        }
        self.update_connection_credit();
        Some(msg)
    }

    /// Finishes the sending half of a channel: messages already queued are still
    /// delivered, then the peer sees [`Event::ChannelFinished`].
    pub fn close_channel(&mut self, channel: ChannelId) -> Result<(), SendError> {
        let ch = self
            .channels
            .get_mut(&channel.0)
            .ok_or(SendError::ChannelClosed)?;
        if ch.send.fin != FinState::Open {
            return Err(SendError::ChannelClosed);
        }
        ch.send.fin = FinState::Pending;
        Ok(())
    }

    /// Queues an unreliable datagram (it must fit in one packet). When the queue is full
    /// the oldest queued datagram is dropped.
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), SendError> {
        if !matches!(self.state, State::Handshaking | State::Established) {
            return Err(SendError::NotConnected);
        }
        let limit = self.max_datagram_payload() as u64;
        if data.len() as u64 > limit {
            return Err(SendError::TooLarge {
                size: data.len() as u64,
                limit,
            });
        }
        if self.dgram_out.len() >= self.config.datagram_queue {
            self.dgram_out.pop_front();
        }
        self.dgram_out.push_back(data);
        Ok(())
    }

    /// Largest datagram payload `send_datagram` accepts.
    pub fn max_datagram_payload(&self) -> usize {
        // header: 1 + 8 + path id (1) + packet number (<= 8); frame: type + length (<= 3)
        (self.path.mds as usize).saturating_sub(1 + 8 + 1 + 8 + 16 + 1 + 2)
    }

    /// Takes the next received datagram.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        let d = self.dgram_in.pop_front();
        if d.is_none() {
            self.dgram_signaled = false;
        }
        d
    }

    /// Closes the connection now with an application code: queued data is abandoned,
    /// the peer is told, and the connection drains for three PTOs.
    pub fn close(&mut self, now: Instant, code: u64, reason: &[u8]) {
        let reason =
            Bytes::copy_from_slice(&reason[..reason.len().min(crate::wire::MAX_REASON_LEN)]);
        self.start_close(
            now,
            0x100u64.saturating_add(code),
            reason,
            ConnectionError::LocallyClosed,
        );
    }

    /// Graceful close: every channel is finished, and once all queued messages are
    /// acknowledged the connection closes with code 0.
    pub fn shutdown(&mut self) {
        self.shutdown = true;
        for ch in self.channels.values_mut() {
            if ch.send.fin == FinState::Open {
                ch.send.fin = FinState::Pending;
            }
        }
    }

    fn start_close(&mut self, now: Instant, wire_code: u64, reason: Bytes, why: ConnectionError) {
        if matches!(self.state, State::Closing | State::Draining | State::Closed) {
            return;
        }
        let had_keys = self.protection.is_some();
        self.closed_reason = Some(why);
        if !had_keys {
            self.finish_closed();
            return;
        }
        self.state = State::Closing;
        self.close_frame = Some((wire_code, reason));
        self.close_pending = true;
        self.close_deadline = Some(now + self.path.recovery.pto_interval() * 3);
        self.path.recovery.drain_all();
    }

    /// Closes because we detected a protocol error.
    fn protocol_error(&mut self, now: Instant, code: TransportErrorCode, reason: &'static str) {
        tracing::debug!(?code, reason, "closing connection on protocol error");
        let why = ConnectionError::Transport {
            code,
            remote: false,
            reason: Bytes::from_static(reason.as_bytes()),
        };
        self.start_close(now, code as u64, Bytes::from_static(reason.as_bytes()), why);
    }

    fn finish_closed(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        let why = self
            .closed_reason
            .clone()
            .unwrap_or(ConnectionError::LocallyClosed);
        self.events.push_back(Event::Closed(why));
        self.channels.clear();
        self.dgram_out.clear();
    }

    // ----- timers ----------------------------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Closing | State::Draining => self.close_deadline,
            State::Handshaking => [self.handshake_retx_at, self.idle_deadline]
                .into_iter()
                .flatten()
                .min(),
            State::Established => [
                self.idle_deadline,
                self.path.recovery.timeout(),
                self.path.rx.ack_due,
                self.pacing_deadline,
                self.keepalive_deadline(),
                self.handshake_retx_at,
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        let k = self.config.keepalive_interval?;
        (!self.ping_pending).then_some(self.last_sent + k)
    }

    /// Processes every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Closing | State::Draining => {
                if self.close_deadline.is_some_and(|d| now >= d) {
                    self.finish_closed();
                }
            }
            State::Handshaking | State::Established => self.handle_live_timeout(now),
        }
    }

    fn handle_live_timeout(&mut self, now: Instant) {
        if self.idle_deadline.is_some_and(|d| now >= d) {
            self.closed_reason = Some(if self.state == State::Handshaking {
                ConnectionError::HandshakeTimedOut
            } else {
                ConnectionError::TimedOut
            });
            self.finish_closed();
            return;
        }
        if self.handshake_retx_at.is_some_and(|t| now >= t) {
            if now >= self.handshake_deadline {
                self.closed_reason = Some(ConnectionError::HandshakeTimedOut);
                self.finish_closed();
                return;
            }
            self.handshake_resend = true;
            self.handshake_backoff = (self.handshake_backoff * 2).min(Duration::from_secs(1));
            self.handshake_retx_at = Some(now + self.handshake_backoff);
        }
        if self.state != State::Established {
            return;
        }
        if self.path.recovery.timeout().is_some_and(|t| now >= t) {
            match self.path.recovery.on_timeout(now) {
                crate::recovery::TimeoutOutcome::Lost(lost) => {
                    for (_, p) in lost {
                        self.on_packet_lost(p.payload);
                    }
                }
                crate::recovery::TimeoutOutcome::Probe(n) => self.probes = n,
                crate::recovery::TimeoutOutcome::None => {}
            }
        }
        if self.path.rx.ack_due.is_some_and(|t| now >= t) {
            self.path.rx.ack_now = true;
            self.path.rx.ack_due = None;
        }
        if self.pacing_deadline.is_some_and(|t| now >= t) {
            self.pacing_deadline = None;
        }
        if self.keepalive_deadline().is_some_and(|t| now >= t) {
            self.ping_pending = true;
        }
    }

    fn reset_idle(&mut self, now: Instant) {
        let local = self.config.idle_timeout;
        // The peer's value is untrusted: clamp it so `now + t` cannot overflow.
        let peer = self.peer_params.as_ref().map_or(Duration::ZERO, |p| {
            Duration::from_millis(p.idle_timeout_ms.min(MAX_IDLE_TIMEOUT_MS))
        });
        let t = match (local.is_zero(), peer.is_zero()) {
            (true, true) => None,
            (true, false) => Some(peer),
            (false, true) => Some(local),
            (false, false) => Some(local.min(peer)),
        };
        // Never time out faster than three PTOs (RFC 9000 §10.1).
        self.idle_deadline = t.map(|t| now + t.max(self.path.recovery.pto_interval() * 3));
    }

    // ----- acknowledgement and loss of our packets ---------------------------------------

    fn on_packet_acked(&mut self, p: SentFrames) {
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
        if let Some(floor) = p.ack_floor {
            // The peer saw that ACK: stop reporting (and accepting) what it covered.
            let rx = &mut self.path.rx;
            if floor > rx.floor {
                rx.floor = floor;
                rx.received.remove_below(floor);
            }
        }
        self.gc_channels();
    }

    fn on_packet_lost(&mut self, p: SentFrames) {
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
            self.max_data_pending = true;
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
        self.released_closed += forgotten;
    }

    /// Whether a channel id that is not in the map was used and forgotten.
    fn channel_was_closed(&self, id: u64) -> bool {
        let local = id.is_multiple_of(2) == (self.side == Side::Initiator);
        if local {
            id < self.next_local_channel
        } else {
            id / 2 < self.peer_channels
        }
    }

    /// Graceful shutdown completes once everything we sent is acknowledged.
    fn shutdown_complete(&self) -> bool {
        self.shutdown
            && self.state == State::Established
            && self
                .channels
                .values()
                .all(|c| c.send.fin == FinState::Acked && c.send.buffered() == 0)
    }

    fn update_connection_credit(&mut self) {
        let released: u64 =
            self.released_closed + self.channels.values().map(|c| c.recv.released).sum::<u64>();
        let limit = released + self.config.connection_receive_window;
        if limit >= self.local_max_data + self.config.connection_receive_window / 4 {
            self.local_max_data = limit;
            self.max_data_pending = true;
        }
    }
}

#[cfg(test)]
mod tests;
