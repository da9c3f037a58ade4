//! The endpoint: one local socket's worth of connections.

use crate::config::TransportConfig;
use crate::connection::{Connection, Event, Transmit};
use crate::crypto::CryptoConfig;
use crate::error::ConnectError;
use crate::wire::{ConnectionId, Header, LongType, PacketView, Reader};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Smallest datagram that may carry an Initial packet (anti-amplification: the listener
/// answers with less than it received).
pub const MIN_INITIAL_SIZE: usize = 1200;

/// Identifies a connection within its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// Endpoint-wide settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Handshake implementation and identity.
    pub crypto: Arc<dyn CryptoConfig>,
    /// Settings for every connection of this endpoint.
    pub transport: Arc<TransportConfig>,
    /// Whether to accept incoming connections (a pure client sets false).
    pub accept_incoming: bool,
    /// Most simultaneous connections; further dialers are refused.
    pub max_connections: usize,
    /// Seed of the endpoint's RNG (connection IDs, ephemeral keys). Use fresh OS
    /// randomness in production; a fixed seed makes tests reproducible.
    pub seed: u64,
}

impl EndpointConfig {
    /// Defaults around a crypto configuration.
    pub fn new(crypto: Arc<dyn CryptoConfig>, seed: u64) -> Self {
        Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
            accept_incoming: true,
            max_connections: 4096,
            seed,
        }
    }
}

/// Endpoint counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams dropped before reaching a connection (malformed, unknown connection,
    /// failed handshake).
    pub datagrams_dropped: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connection attempts refused.
    pub refused: u64,
}

/// Most queued stateless replies (refusals); more are dropped.
const MAX_STATELESS_QUEUE: usize = 64;

/// A set of connections sharing one socket: demultiplexes datagrams by connection ID,
/// accepts or refuses new connections, and multiplexes their output.
///
/// Sans-IO, with the same call pattern as [`Connection`]: feed
/// [`handle_datagram`](Self::handle_datagram) and [`handle_timeout`](Self::handle_timeout),
/// then drain [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event)
/// until `None`, and sleep until [`poll_timeout`](Self::poll_timeout).
///
/// ```
/// # #[cfg(feature = "insecure-test-crypto")] {
/// use netchan_transport::{Endpoint, EndpointConfig, Event, InsecureTestCrypto};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// let crypto = Arc::new(InsecureTestCrypto);
/// let mut client = Endpoint::new(EndpointConfig::new(crypto.clone(), 1));
/// let mut server = Endpoint::new(EndpointConfig::new(crypto, 2));
/// let (ca, sa) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
/// let mut now = Instant::now();
/// let conn = client.connect(now, sa).unwrap();
/// let ch = client.connection(conn).unwrap().open_channel(b"greetings").unwrap();
/// client.connection(conn).unwrap().send(ch, b"hello").unwrap();
/// let mut buf = Vec::new();
/// let mut got = None;
/// for _ in 0..100 {
///     while let Some(t) = client.poll_transmit(now, &mut buf) {
///         server.handle_datagram(now, ca, &buf[..t.size]);
///     }
///     while let Some(t) = server.poll_transmit(now, &mut buf) {
///         client.handle_datagram(now, sa, &buf[..t.size]);
///     }
///     while let Some((h, ev)) = server.poll_event() {
///         if let Event::ChannelReadable(c) = ev {
///             got = server.connection(h).unwrap().recv(c);
///         }
///     }
///     if got.is_some() { break; }
///     now += Duration::from_millis(5);
///     client.handle_timeout(now);
///     server.handle_timeout(now);
/// }
/// assert_eq!(got.as_deref(), Some(&b"hello"[..]));
/// # }
/// ```
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: ChaCha8Rng,
    conns: HashMap<ConnectionHandle, Connection>,
    by_cid: HashMap<ConnectionId, ConnectionHandle>,
    /// (peer address, the dialer's initial destination CID) → connection, so that a
    /// repeated Initial reaches the connection it created.
    by_initial: HashMap<(SocketAddr, ConnectionId), ConnectionHandle>,
    next_handle: u64,
    stateless: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<(ConnectionHandle, Event)>,
    order: Vec<ConnectionHandle>,
    cursor: usize,
    scratch: Vec<u8>,
    stats: EndpointStats,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: EndpointConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Self {
            config,
            rng,
            conns: HashMap::default(),
            by_cid: HashMap::default(),
            by_initial: HashMap::default(),
            next_handle: 0,
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            order: Vec::new(),
            cursor: 0,
            scratch: Vec::with_capacity(2048),
            stats: EndpointStats::default(),
        }
    }

    /// Whether incoming connections are accepted.
    pub fn set_accept_incoming(&mut self, accept: bool) {
        self.config.accept_incoming = accept;
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// A connection by handle.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.conns.get_mut(&handle)
    }

    /// Handles of all live connections.
    pub fn handles(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.order.iter().copied()
    }

    fn fresh_cid(&mut self) -> ConnectionId {
        // Bounded: a collision among 2^64 values is practically impossible; stop anyway.
        for _ in 0..16 {
            let cid = ConnectionId(self.rng.next_u64().to_be_bytes());
            if !self.by_cid.contains_key(&cid) {
                return cid;
            }
        }
        ConnectionId(self.rng.next_u64().to_be_bytes())
    }

    fn seed32(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        self.rng.fill_bytes(&mut s);
        s
    }

    fn insert(&mut self, conn: Connection) -> ConnectionHandle {
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.by_cid.insert(conn.local_cid(), h);
        self.conns.insert(h, conn);
        self.order.push(h);
        h
    }

    /// Starts a connection to `remote`.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, ConnectError> {
        if self.conns.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let local = self.fresh_cid();
        let initial = ConnectionId(self.rng.next_u64().to_be_bytes());
        let seed = self.seed32();
        let hs = self.config.crypto.start_initiator(seed);
        let conn = Connection::connect(
            self.config.transport.clone(),
            hs,
            local,
            initial,
            remote,
            now,
        )
        .map_err(|_| ConnectError::InvalidConfig("handshake could not start"))?;
        Ok(self.insert(conn))
    }

    /// Handles one received datagram from `remote`. Anything malformed or unauthentic is
    /// dropped (and counted); nothing from the network can make this panic.
    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_received += 1;
        let view = match PacketView::new_checked(datagram) {
            Ok(v) => v,
            Err(_) => {
                self.stats.datagrams_dropped += 1;
                return;
            }
        };
        match *view.header() {
            Header::Short(hdr) => {
                let Some(&h) = self.by_cid.get(&hdr.dcid) else {
                    self.stats.datagrams_dropped += 1;
                    return;
                };
                let header_len = view.header_bytes().len();
                self.scratch.clear();
                self.scratch.extend_from_slice(datagram);
                if let Some(c) = self.conns.get_mut(&h) {
                    c.handle_short(now, remote, &hdr, &mut self.scratch, header_len);
                }
            }
            Header::Long(hdr) => match hdr.ty {
                LongType::Initial => {
                    self.handle_initial(now, remote, &hdr, view.payload(), datagram.len())
                }
                LongType::Handshake => {
                    let Some(&h) = self.by_cid.get(&hdr.dcid) else {
                        self.stats.datagrams_dropped += 1;
                        return;
                    };
                    if let Some(c) = self.conns.get_mut(&h) {
                        c.handle_long(now, &hdr, view.payload());
                    }
                }
                LongType::Retry => self.stats.datagrams_dropped += 1,
            },
        }
    }

    fn handle_initial(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        hdr: &crate::wire::LongHeader,
        payload: &[u8],
        size: usize,
    ) {
        if size < MIN_INITIAL_SIZE {
            self.stats.datagrams_dropped += 1;
            return;
        }
        if let Some(&h) = self.by_initial.get(&(remote, hdr.dcid)) {
            if let Some(c) = self.conns.get_mut(&h) {
                c.on_repeated_initial();
            }
            return;
        }
        let mut r = Reader::new(payload);
        let msg = r
            .varint("handshake length")
            .and_then(|len| r.bytes(len.min(usize::MAX as u64) as usize, "handshake message"));
        let Ok(msg1) = msg else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        let refuse =
            !self.config.accept_incoming || self.conns.len() >= self.config.max_connections;
        let local = self.fresh_cid();
        let seed = self.seed32();
        let hs = self.config.crypto.start_responder(seed);
        let result = Connection::accept(
            self.config.transport.clone(),
            hs,
            local,
            hdr,
            msg1,
            remote,
            now,
            refuse,
        );
        match result {
            Err(_) => self.stats.datagrams_dropped += 1,
            Ok((None, reply)) => {
                self.stats.refused += 1;
                if self.stateless.len() < MAX_STATELESS_QUEUE {
                    self.stateless.push_back((remote, reply));
                }
            }
            Ok((Some(mut conn), _)) => {
                self.stats.accepted += 1;
                conn.on_repeated_initial(); // send the answer
                let h = self.insert(conn);
                self.by_initial.insert((remote, hdr.dcid), h);
            }
        }
    }

    /// Writes the next datagram to send into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((dest, bytes)) = self.stateless.pop_front() {
            buf.clear();
            buf.extend_from_slice(&bytes);
            return Some(Transmit {
                destination: dest,
                path_id: 0,
                size: bytes.len(),
            });
        }
        let n = self.order.len();
        // Bounded: each connection is asked at most once per call.
        for i in 0..n {
            let idx = (self.cursor + i) % n;
            let h = self.order[idx];
            if let Some(c) = self.conns.get_mut(&h)
                && let Some(t) = c.poll_transmit(now, buf)
            {
                self.cursor = (idx + 1) % n;
                return Some(t);
            }
        }
        None
    }

    /// Earliest timer of any connection.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns.values().filter_map(|c| c.poll_timeout()).min()
    }

    /// Runs every connection's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for c in self.conns.values_mut() {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
    }

    /// The next event of any connection. A connection is forgotten after its
    /// [`Event::Closed`] has been returned.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let mut closed = None;
        for &h in &self.order {
            let Some(c) = self.conns.get_mut(&h) else {
                continue;
            };
            if let Some(ev) = c.poll_event() {
                if matches!(ev, Event::Closed(_)) {
                    closed = Some(h);
                }
                self.events.push_back((h, ev));
                break;
            }
        }
        if let Some(h) = closed {
            self.remove(h);
        }
        self.events.pop_front()
    }

    fn remove(&mut self, h: ConnectionHandle) {
        if let Some(c) = self.conns.remove(&h) {
            self.by_cid.remove(&c.local_cid());
        }
        self.by_initial.retain(|_, v| *v != h);
        self.order.retain(|x| *x != h);
        self.cursor = 0;
    }
}
