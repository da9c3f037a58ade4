//! The connection state machine.

mod app;
mod delivery;
mod handshake;
mod migrate;
mod multipath;
mod parity;
mod path;
mod recv;
mod redundancy;
mod rehandshake;
mod send;
mod write;

pub(crate) use handshake::{Accepted, INITIAL_TRAILER, handshake_message, retry_datagram};

use crate::channel::{RecvState, SendState};
use crate::config::{TransportConfig, TransportParams};
use crate::crypto::{HandshakeSession, PacketProtection};
use crate::entropy::Entropy;
use crate::error::{ConnectionError, TransportErrorCode};
use crate::path::{PathEvent, PathSelector, PathStats, PathView};
use crate::recovery::RecoveryStats;
use crate::timer::{TimerKind, TimerTable};
use crate::wire::ConnectionId;
use bytes::Bytes;
use path::{Path, PathTimer};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
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
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; channels can be used.
    Connected,
    /// The peer opened a channel.
    ChannelOpened {
        /// Its id.
        channel: crate::ChannelId,
        /// The label the peer gave it.
        label: Bytes,
    },
    /// Messages are ready on the channel (edge-triggered: read until `recv` is `None`).
    ChannelReadable(crate::ChannelId),
    /// Send-buffer space is available again after [`SendError::Blocked`](crate::SendError).
    ChannelWritable(crate::ChannelId),
    /// The peer finished the channel and every message was read.
    ChannelFinished(crate::ChannelId),
    /// The peer aborted the channel with an error code; unread messages were discarded.
    ChannelReset {
        /// The channel.
        channel: crate::ChannelId,
        /// The peer's code.
        code: u64,
    },
    /// Unreliable datagrams are ready (edge-triggered).
    DatagramReceived,
    /// A path changed: validation started, succeeded (the path moved) or failed.
    Path(PathEvent),
    /// The connection ended; the last event of a connection.
    Closed(ConnectionError),
}

/// Datagrams to send, written into the caller's buffer by `poll_transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send them.
    pub destination: SocketAddr,
    /// The local address (socket) to send them from.
    pub local: SocketAddr,
    /// Which path they belong to.
    pub path_id: u64,
    /// Bytes written to the buffer.
    pub size: usize,
    /// `Some(n)`: the buffer holds several datagrams of `n` bytes back to back (the last
    /// may be shorter), for one segmented (GSO) send; `None`: one datagram.
    pub segment_size: Option<usize>,
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
    /// Current smoothed RTT of the first path.
    pub rtt: Duration,
    /// Current congestion window of the first path in bytes.
    pub cwnd: u64,
    /// Smallest RTT seen on the first path.
    pub min_rtt: Duration,
    /// The first path's congestion controller (`"bbr"`, `"cubic"`, `"newreno"`).
    pub controller: &'static str,
    /// The first path's estimated bandwidth in bytes per second (see
    /// [`PathStats::bandwidth`]).
    pub bandwidth: f64,
    /// Loss recovery counters of the first path (declared losses in `packets_lost`,
    /// those acknowledged later in `spurious_losses`).
    pub recovery: RecoveryStats,
    /// CHANNEL_PARITY frames sent (parity mode).
    pub parity_sent: u64,
    /// Chunks rebuilt from the peer's CHANNEL_PARITY frames instead of waiting for a
    /// retransmission.
    pub parity_repairs: u64,
    /// What the channels hold received and not yet read now, as counted against the
    /// receive memory budget (bytes plus a per-entry overhead; see
    /// [`Connection::receive_budget`]).
    pub recv_held: u64,
    /// The most `recv_held` has been.
    pub recv_held_peak: u64,
    /// Unread complete messages held now, over all channels.
    pub recv_unread_messages: u64,
    /// The most unread messages held at once.
    pub recv_unread_peak: u64,
    /// Packets dropped unacknowledged because the receive memory budget was full (the
    /// peer retransmits them once the application reads).
    pub recv_budget_drops: u64,
    /// Units of bookkeeping work done so far: channels visited while looking for
    /// something to send or to forget, and frames handled. Work per datagram is bounded
    /// by the datagram's frames (plus the channels our own application keeps busy), not
    /// by how many channels the connection has.
    pub work: u64,
    /// Re-handshakes completed (fresh Diffie-Hellman secrets mixed into the keys).
    pub rehandshakes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the handshake to complete.
    Handshaking,
    Established,
    /// We sent CONNECTION_CLOSE; answer stray packets with it until the close timer.
    Closing,
    /// The peer closed; stay silent until the close timer.
    Draining,
    Closed,
}

/// The connection-wide timers (each path has its own: see `path.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnTimer {
    /// Nothing received for the idle timeout (or the handshake timeout while handshaking).
    Idle,
    /// Nothing sent for the keepalive interval: send a PING.
    Keepalive,
    /// Resend the last handshake datagram.
    Handshake,
    /// The closing or draining period is over.
    Close,
    /// Time for the dialer's next re-handshake.
    Rehandshake,
}

impl TimerKind for ConnTimer {
    const ALL: &'static [Self] = &[
        ConnTimer::Idle,
        ConnTimer::Keepalive,
        ConnTimer::Handshake,
        ConnTimer::Close,
        ConnTimer::Rehandshake,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// What one sent packet carried, to act on its acknowledgement or loss.
#[derive(Debug, Default, Clone)]
pub(crate) struct SentFrames {
    data: Vec<(u64, u64, u64)>,
    fins: Vec<u64>,
    opens: Vec<u64>,
    max_channel_data: Vec<u64>,
    max_data: bool,
    /// Receive floors the ACK frames in this packet allow once the peer has seen them,
    /// per acknowledged path: past the largest number if every range was reported, else
    /// the lowest reported one.
    ack_floors: Vec<(u64, u64)>,
    /// PATH_STATUS frames: (path, sequence).
    path_status: Vec<(u64, u64)>,
    /// PATH_ABANDON frames: path ids.
    path_abandons: Vec<u64>,
    /// A REHANDSHAKE frame: its id.
    rehandshake: Option<u64>,
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
    /// How the channel's data is spread over the paths (multipath).
    mode: crate::path::PathMode,
    /// The open parity group of what we send (parity mode).
    parity: parity::ParityGroup,
    /// The peer sent parity for what it sends: its chunks are kept for repairs.
    parity_seen: bool,
}

impl Channel {
    /// Whether the channel has a frame to send: its CHANNEL_OPEN, a credit update, lost
    /// or new data (new data only `with_credit` at the connection level), its
    /// CHANNEL_CLOSE, or a CHANNEL_BLOCKED report.
    fn has_send_work(&self, with_credit: bool) -> bool {
        (self.open_pending && !self.open_in_flight)
            || self.recv.credit_update_pending
            || self.send.has_retransmit()
            || (with_credit && self.send.sendable_new() > 0)
            || self.send.fin_due()
            || (self.send.is_blocked() && self.send.blocked_sent_at != Some(self.send.max_data))
    }
}

/// Connection-level flow control, both directions.
#[derive(Debug, Default)]
struct Flow {
    /// Credit granted by the peer, and new bytes sent against it.
    peer_max_data: u64,
    sent_data: u64,
    data_blocked_sent: Option<u64>,
    /// Credit we granted, and highest offsets received summed over channels.
    local_max_data: u64,
    received_data: u64,
    /// Bytes credited back by every channel, forgotten ones included (the sum of their
    /// `recv.released`, kept as they change).
    released: u64,
    max_data_pending: bool,
    /// What every channel holds received and not yet read (the sum of their
    /// `recv.held()`, kept as they change), and their unread messages.
    held: u64,
    unread: u64,
    /// Out-of-order fragments held over all channels (capped at
    /// [`MAX_CONNECTION_FRAGMENTS`](crate::channel::MAX_CONNECTION_FRAGMENTS)).
    fragments: u64,
    /// The one channel whose head message has credit beyond the windows (the stretch;
    /// see [`Connection::receive_budget`]), and the channels waiting for it, in order.
    priority: Option<u64>,
    stretch_queue: VecDeque<u64>,
}

/// When the packet protection keys were last updated, for the rekey policy.
#[derive(Debug)]
struct KeyClock {
    last_update: Instant,
    packets_since: u64,
    /// Key phase of our last packet, and (path, packet number) of the first packet of
    /// that phase on each path that sent one (at most one entry per path of the table).
    send_phase: bool,
    phase_starts: Vec<(u64, u64)>,
}

/// The close in progress.
#[derive(Debug, Default)]
struct Closing {
    frame: Option<(u64, Bytes)>,
    /// Send (or repeat) the CONNECTION_CLOSE.
    pending: bool,
    resends: u32,
    reason: Option<ConnectionError>,
}

/// A connection: the handshake, packet protection, paths (loss recovery, congestion
/// control, path validation), flow control and channels of one peer, as a sans-IO state
/// machine.
///
/// # Driving it
///
/// Connections live inside an [`Endpoint`](crate::Endpoint), which routes datagrams to
/// them; the application reaches one with [`Endpoint::connection`](crate::Endpoint).
/// Method groups:
/// - **input**: datagrams arrive through the endpoint; timers through
///   [`handle_timeout`](Self::handle_timeout) (the endpoint calls it).
/// - **output**: [`poll_transmit`](Self::poll_transmit) writes the next datagrams;
///   [`poll_timeout`](Self::poll_timeout) tells when to call `handle_timeout` next;
///   [`poll_event`](Self::poll_event) yields [`Event`]s.
/// - **application**: [`open_channel`](Self::open_channel), [`send`](Self::send),
///   [`recv`](Self::recv), [`close_channel`](Self::close_channel),
///   [`send_datagram`](Self::send_datagram), [`recv_datagram`](Self::recv_datagram),
///   [`close`](Self::close), [`shutdown`](Self::shutdown), [`stats`](Self::stats),
///   [`paths`](Self::paths).
///
/// After any input or application call, drain `poll_transmit` and `poll_event` until they
/// return `None`, then sleep until `poll_timeout`.
///
/// # Paths and timers
///
/// State that belongs to one network path (packet numbers, replay window, recovery, RTT,
/// congestion controller, pacer, anti-amplification budget, validation, probes) lives in
/// the path table, one entry per path id; which path a packet goes on is decided by the
/// configured [`PathSelector`]. Timers are tables (kind → deadline): the connection's
/// (idle, keepalive, handshake retransmission, close) and each path's (loss/PTO, delayed
/// ACK, pacing, validation); `poll_timeout` is the minimum over all of them.
#[derive(Debug)]
pub struct Connection {
    side: Side,
    state: State,
    /// The peer proved its address (always, for a dialer): a responder is proven by a
    /// cookie, by `XX` message 3, or (for now) by an `IK` first message; until then it
    /// is half-open and announces nothing.
    proven: bool,
    config: Arc<TransportConfig>,
    local_cid: ConnectionId,
    remote_cid: ConnectionId,
    handshake: Option<Box<dyn HandshakeSession>>,
    protection: Option<Box<dyn PacketProtection>>,
    hs: handshake::HandshakeData,
    peer_identity: Option<[u8; 32]>,
    keys: KeyClock,
    peer_params: Option<TransportParams>,
    /// The path table, ascending id; never empty (path 0 stays, as a tombstone once
    /// abandoned and retired).
    paths: Vec<Path>,
    /// The next path id this side may open (ids are never reused).
    next_local_path: u64,
    /// Peer path ids below this were used (or skipped) by the peer.
    next_peer_path: u64,
    selector: Box<dyn PathSelector>,
    /// Unpredictable challenge values.
    rng: ChaCha8Rng,
    channels: BTreeMap<u64, Channel>,
    next_local_channel: u64,
    peer_channels: u64,
    flow: Flow,
    dgram_out: VecDeque<Bytes>,
    dgram_in: VecDeque<Bytes>,
    dgram_signaled: bool,
    events: VecDeque<Event>,
    timers: TimerTable<ConnTimer, 5>,
    sent_eliciting_since_rx: bool,
    last_sent: Instant,
    ping_pending: bool,
    close: Closing,
    shutdown: bool,
    send_cursor: u64,
    /// Channels that may have something to send (a superset; pruned as they turn out
    /// idle), and channels changed since the last look for finished ones: what the send
    /// path and the forgetting of channels walk instead of every channel.
    ready: std::collections::BTreeSet<u64>,
    dirty: std::collections::BTreeSet<u64>,
    /// Work counter (see [`ConnectionStats::work`]); a `Cell` so read-only scans count.
    work: std::cell::Cell<u64>,
    /// Reused list of channel ids (no allocation per packet).
    scratch_ids: Vec<u64>,
    /// Reused path views for the selector.
    scratch_views: Vec<PathView>,
    /// Recent chunks of the peer's parity channels and parity waiting for members.
    parity_rx: parity::ParityRx,
    rehandshake: rehandshake::Rehandshake,
    entropy: Arc<dyn Entropy>,
    stats: ConnectionStats,
}

/// Longest idle timeout honoured (one week); larger advertised values are clamped.
const MAX_IDLE_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;

/// How many times a closing endpoint answers stray packets with CONNECTION_CLOSE.
const MAX_CLOSE_RESENDS: u32 = 8;

/// Addresses and randomness a new connection starts from.
pub(crate) struct Origin {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Seeds the connection's RNG (path challenges).
    pub seed: [u8; 32],
    /// Fresh randomness for re-handshake keys.
    pub entropy: Arc<dyn Entropy>,
}

impl Connection {
    fn new(
        side: Side,
        config: Arc<TransportConfig>,
        (local_cid, remote_cid): (ConnectionId, ConnectionId),
        origin: Origin,
        handshake: Box<dyn HandshakeSession>,
        now: Instant,
    ) -> Self {
        let mds = config.max_datagram_size;
        // The dialer chose the address; the listener must first see it proven.
        let validated = side == Side::Initiator;
        let path = Path::new(
            0,
            validated,
            (origin.local, origin.remote),
            &config.recovery,
            mds,
            now,
        );
        let mut timers = TimerTable::default();
        timers.set(ConnTimer::Idle, Some(now + config.handshake_timeout));
        Self {
            side,
            proven: side == Side::Initiator,
            state: State::Handshaking,
            local_cid,
            remote_cid,
            handshake: Some(handshake),
            protection: None,
            hs: handshake::HandshakeData::new(&config, remote_cid, now),
            peer_identity: None,
            keys: KeyClock {
                last_update: now,
                packets_since: 0,
                send_phase: false,
                phase_starts: vec![(0, 0)],
            },
            peer_params: None,
            paths: vec![path],
            next_local_path: match side {
                Side::Initiator => 2,
                Side::Responder => 1,
            },
            next_peer_path: match side {
                Side::Initiator => 1,
                Side::Responder => 2,
            },
            selector: config.path_selector.build(),
            rng: ChaCha8Rng::from_seed(origin.seed),
            entropy: origin.entropy,
            rehandshake: Default::default(),
            channels: BTreeMap::new(),
            next_local_channel: match side {
                Side::Initiator => 0,
                Side::Responder => 1,
            },
            peer_channels: 0,
            flow: Flow {
                local_max_data: config.connection_receive_window,
                ..Flow::default()
            },
            dgram_out: VecDeque::new(),
            dgram_in: VecDeque::new(),
            dgram_signaled: false,
            events: VecDeque::new(),
            timers,
            sent_eliciting_since_rx: false,
            last_sent: now,
            ping_pending: false,
            close: Closing::default(),
            shutdown: false,
            send_cursor: 0,
            ready: Default::default(),
            dirty: Default::default(),
            work: std::cell::Cell::new(0),
            scratch_ids: Vec::new(),
            scratch_views: Vec::new(),
            parity_rx: Default::default(),
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

    /// The peer's current address (on the first path not abandoned).
    pub fn remote_address(&self) -> SocketAddr {
        self.paths[self.primary()].remote
    }

    /// Our address on the first path not abandoned.
    pub fn local_address(&self) -> SocketAddr {
        self.paths[self.primary()].local
    }

    /// The index of the first path not abandoned (0 if every path is).
    fn primary(&self) -> usize {
        self.paths
            .iter()
            .position(|p| p.status != crate::path::PathStatus::Abandoned)
            .unwrap_or(0)
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

    /// Counters, with the RTT, window and recovery counters of the first path not
    /// abandoned.
    pub fn stats(&self) -> ConnectionStats {
        let mut s = self.stats;
        let path = &self.paths[self.primary()];
        s.rtt = path.recovery.rtt().smoothed();
        s.cwnd = path.recovery.congestion_window();
        s.min_rtt = path.recovery.rtt().min();
        s.controller = path.recovery.controller_name();
        s.bandwidth = path.recovery.bandwidth_estimate();
        s.recovery = path.recovery.stats();
        s.work = self.work.get();
        s
    }

    /// Channel `id` changed: it may have something to send now, or be finished.
    pub(super) fn touch(&mut self, id: u64) {
        self.ready.insert(id);
        self.dirty.insert(id);
    }

    /// Counts `n` units of work.
    pub(super) fn count_work(&self, n: u64) {
        self.work.set(self.work.get() + n);
    }

    /// Every path's addresses, status and counters, ascending id.
    pub fn paths(&self) -> impl Iterator<Item = PathStats> + '_ {
        self.paths.iter().map(Path::stats)
    }

    /// Channels the connection still tracks (finished channels are forgotten once both
    /// directions are done).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Name of the congestion controller of the (first) path.
    pub fn congestion_controller(&self) -> &'static str {
        self.paths[self.primary()].recovery.controller_name()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The peer's key as short text for logs (`-` before it is known).
    fn peer_label(&self) -> String {
        self.peer_identity.map_or_else(
            || "-".to_string(),
            |k| crate::identity::PublicKey(k).short(),
        )
    }

    fn path_index(&self, id: u64) -> Option<usize> {
        self.paths.iter().position(|p| p.id == id)
    }

    // ----- closing ------------------------------------------------------------------

    fn start_close(&mut self, now: Instant, wire_code: u64, reason: Bytes, why: ConnectionError) {
        if matches!(self.state, State::Closing | State::Draining | State::Closed) {
            return;
        }
        let had_keys = self.protection.is_some();
        self.close.reason = Some(why);
        if !had_keys {
            self.finish_closed();
            return;
        }
        self.state = State::Closing;
        self.close.frame = Some((wire_code, reason));
        self.close.pending = true;
        self.enter_close_period(now);
    }

    /// Closing or draining: only the close timer runs, nothing is in flight.
    fn enter_close_period(&mut self, now: Instant) {
        let pto = self.paths[self.primary()].recovery.pto_interval();
        self.timers.clear();
        self.timers.set(ConnTimer::Close, Some(now + pto * 3));
        for p in &mut self.paths {
            p.recovery.drain_all();
            p.timers.clear();
            p.candidate = None;
        }
    }

    /// Closes because we detected a protocol error.
    fn protocol_error(&mut self, now: Instant, code: TransportErrorCode, reason: &'static str) {
        tracing::debug!(peer = %self.peer_label(), ?code, reason, "closing connection on protocol error");
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
            .close
            .reason
            .clone()
            .unwrap_or(ConnectionError::LocallyClosed);
        tracing::info!(peer = %self.peer_label(), side = ?self.side, reason = %why, "connection closed");
        self.events.push_back(Event::Closed(why));
        self.channels.clear();
        self.dgram_out.clear();
        self.timers.clear();
        for p in &mut self.paths {
            p.timers.clear();
        }
    }

    // ----- timers ----------------------------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the minimum of
    /// the connection's and every path's timer table.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            // Only the end of the period matters (no path timer can act any more).
            State::Closing | State::Draining => self.timers.get(ConnTimer::Close),
            State::Handshaking | State::Established => {
                let paths = self.paths.iter().filter_map(|p| p.timers.next());
                self.timers.next().into_iter().chain(paths).min()
            }
        }
    }

    /// Processes every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Closing | State::Draining => {
                if self.timers.take_due(ConnTimer::Close, now) {
                    self.finish_closed();
                }
            }
            State::Handshaking | State::Established => self.handle_live_timeout(now),
        }
    }

    fn handle_live_timeout(&mut self, now: Instant) {
        if self.timers.is_due(ConnTimer::Idle, now) {
            self.close.reason = Some(if self.state == State::Handshaking {
                ConnectionError::HandshakeTimedOut
            } else {
                ConnectionError::TimedOut
            });
            tracing::info!(peer = %self.peer_label(), "idle timeout");
            self.finish_closed();
            return;
        }
        if self.timers.take_due(ConnTimer::Handshake, now) && !self.on_handshake_timer(now) {
            return;
        }
        if self.state != State::Established {
            return;
        }
        // Backwards: a path retired by its timer leaves the table.
        for i in (0..self.paths.len()).rev() {
            self.handle_path_timeout(now, i);
        }
        if self.timers.take_due(ConnTimer::Keepalive, now) {
            self.ping_pending = true;
        }
        if self.timers.take_due(ConnTimer::Rehandshake, now) {
            self.on_rehandshake_timer(now);
        }
    }

    /// Logs a persistent congestion that the last recovery step established.
    fn log_persistent_congestion(&self, i: usize, before: u64) {
        let path = &self.paths[i];
        if path.recovery.stats().persistent_congestion_events > before {
            tracing::info!(
                peer = %self.peer_label(),
                path = path.id,
                cwnd = path.recovery.congestion_window(),
                "persistent congestion: window collapsed to the minimum"
            );
        }
    }

    fn handle_path_timeout(&mut self, now: Instant, i: usize) {
        let persistent = self.paths[i].recovery.stats().persistent_congestion_events;
        let path = &mut self.paths[i];
        if path.timers.is_due(PathTimer::Recovery, now) {
            match path.recovery.on_timeout(now) {
                crate::recovery::TimeoutOutcome::Lost(lost) => {
                    for (_, p) in lost {
                        self.on_packet_lost(p.payload);
                    }
                }
                crate::recovery::TimeoutOutcome::Probe(n) => {
                    path.probes = n;
                    tracing::debug!(
                        path = path.id,
                        pto_count = path.recovery.pto_count(),
                        "probe timeout"
                    );
                    self.on_path_suspect(now, i);
                }
                crate::recovery::TimeoutOutcome::None => {}
            }
        }
        self.log_persistent_congestion(i, persistent);
        let path = &mut self.paths[i];
        if path.timers.take_due(PathTimer::Ack, now) {
            path.rx.ack_now = true;
        }
        path.timers.take_due(PathTimer::Pacing, now);
        if path.timers.take_due(PathTimer::Liveness, now) && path.selectable() {
            path.ping = true;
        }
        if let Some(at) = path.timers.get(PathTimer::Overdue).filter(|&t| t <= now) {
            path.timers.stop(PathTimer::Overdue);
            path.overdue_checked = Some(at);
            self.on_path_suspect(now, i);
        }
        if self.paths[i].timers.is_due(PathTimer::Validation, now) {
            self.on_validation_timer(now, i);
            self.on_own_validation_timer(now, i);
        }
        if self.paths[i].timers.take_due(PathTimer::Retire, now) {
            self.retire_path(i);
            return;
        }
        self.paths[i].sync_timers();
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
        let pto = self.paths[self.primary()].recovery.pto_interval();
        self.timers
            .set(ConnTimer::Idle, t.map(|t| now + t.max(pto * 3)));
    }

    /// Re-arms the keepalive after sending at `now` (established connections only).
    fn arm_keepalive(&mut self, now: Instant) {
        let at = self
            .config
            .keepalive_interval
            .filter(|_| self.state == State::Established && !self.ping_pending)
            .map(|k| now + k);
        self.timers.set(ConnTimer::Keepalive, at);
    }
}
