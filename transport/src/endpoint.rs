//! The endpoint: one local socket's worth of connections.

use crate::admission::{AddrKey, Admission, AdmissionLimits, Admit, Initiations};
use crate::config::TransportConfig;
use crate::connection::{
    Accepted, Connection, Event, INITIAL_TRAILER, Origin, Transmit, handshake_message,
    retry_datagram,
};
use crate::crypto::CryptoConfig;
use crate::crypto::{Secret, gate};
use crate::entropy::{Entropy, SeededEntropy};
use crate::error::ConnectError;
use crate::wire::{ConnectionId, Header, LongType};
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Where connection IDs, ephemeral keys and cookie secrets come from: asked afresh
    /// each time, and in production the OS's generator, so that the endpoint holds no
    /// seed from which past keys could be recomputed.
    pub entropy: Arc<dyn Entropy>,
    /// Handshakes per second above which the listener requires a cookie (a Retry round
    /// trip proving the dialer's address) before doing any Diffie-Hellman.
    pub handshake_load_limit: u64,
    /// Handshakes per second accepted from one source IP (burst: twice that).
    pub handshakes_per_source_per_sec: u64,
    /// Most half-open responder connections (handshake answered, dialer not yet proven
    /// by an authenticated packet or a cookie); beyond them new dialers must answer a
    /// Retry first, which keeps no state.
    pub max_half_open: usize,
    /// Most half-open connections from one IPv4 address or IPv6 /64.
    pub max_half_open_per_address: u32,
    /// Most connections (half-open and established) from one IPv4 address or IPv6 /64;
    /// further dialers from it are refused.
    pub max_connections_per_address: u32,
}

impl EndpointConfig {
    /// **For deterministic tests only**: a configuration whose randomness is a stream
    /// expanded from 64 bits ([`SeededEntropy`]), so runs are reproducible. 64 bits are
    /// far too few for real use (an attacker could search them to recover ephemeral keys).
    pub fn seeded_for_tests(crypto: Arc<dyn CryptoConfig>, seed: u64) -> Self {
        Self::new(crypto, Arc::new(SeededEntropy::new(seed)))
    }

    /// Defaults around a crypto configuration. `entropy` must be a cryptographically
    /// secure source, the OS's generator in production (netchan's `OsEntropy`).
    pub fn new(crypto: Arc<dyn CryptoConfig>, entropy: Arc<dyn Entropy>) -> Self {
        Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
            accept_incoming: true,
            max_connections: 4096,
            entropy,
            handshake_load_limit: 200,
            handshakes_per_source_per_sec: 20,
            max_half_open: 256,
            max_half_open_per_address: 16,
            max_connections_per_address: 256,
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
    /// Initials dropped silently because their mac1 did not verify (no PSK, or not for us).
    pub gated: u64,
    /// Retries (cookies) sent while under load.
    pub retries_sent: u64,
    /// Initials dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// First messages that failed the handshake (authentication, policy).
    pub handshake_failures: u64,
    /// Authenticated first messages rejected as replays (timestamp not newer).
    pub replays_rejected: u64,
}

/// A reply sent without connection state: (local address, destination, bytes).
type Stateless = (SocketAddr, SocketAddr, Vec<u8>);

/// Most queued stateless replies (refusals, Retries); more are dropped.
const MAX_STATELESS_QUEUE: usize = 64;
/// Most source addresses the handshake rate limiter tracks (then it starts afresh).
const MAX_TRACKED_SOURCES: usize = 4096;
/// Most dialer identities whose last initiation timestamp is remembered.
const MAX_TRACKED_IDENTITIES: usize = 65536;
/// How often the cookie secret rotates.
const COOKIE_ROTATION: Duration = Duration::from_secs(120);

/// A set of connections sharing a node's sockets: demultiplexes datagrams by connection
/// ID, accepts or refuses new connections, and multiplexes their output.
///
/// Sans-IO, with the same call pattern as [`Connection`]: feed
/// [`handle_datagram`](Self::handle_datagram) and [`handle_timeout`](Self::handle_timeout),
/// then drain [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event)
/// until `None`, and sleep until [`poll_timeout`](Self::poll_timeout).
///
/// Every datagram in or out names the local address (socket) it belongs to: a caller
/// with several sockets passes the receiving socket's address to `handle_datagram` and
/// sends each [`Transmit`] from the socket of [`Transmit::local`]. With
/// [`set_max_segments`](Self::set_max_segments) above 1, a transmit may hold several
/// datagrams for one segmented (GSO) send.
///
/// ```
/// use netchan_transport::identity::Keypair;
/// use netchan_transport::{Endpoint, EndpointConfig, Event, NoiseConfig, SeededEntropy};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// let mut now = Instant::now();
/// let server_id = NoiseConfig::new(Keypair::from_seed([2; 32])); // use OS randomness
/// let server_key = server_id.public_key();
/// // In production the entropy is the OS's generator (netchan's `OsEntropy`, or an
/// // `Entropy` calling the getrandom crate); a seeded stream is for tests only.
/// let entropy = |seed| Arc::new(SeededEntropy::new(seed));
/// let mut server = Endpoint::new(EndpointConfig::new(Arc::new(server_id), entropy(7)), now);
/// let client_id = NoiseConfig::new(Keypair::from_seed([1; 32]));
/// let mut client = Endpoint::new(EndpointConfig::new(Arc::new(client_id), entropy(8)), now);
/// let (ca, sa) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
/// // Pinning the server's key selects the one-round-trip Noise IK handshake.
/// let conn = client.connect_with(now, ca, sa, Some(server_key.0)).unwrap();
/// let ch = client.connection(conn).unwrap().open_channel(b"greetings").unwrap();
/// client.connection(conn).unwrap().send(ch, b"hello").unwrap();
/// let mut buf = Vec::new();
/// let mut got = None;
/// for _ in 0..100 {
///     // Datagrams are decrypted in place, so the receiver gets a mutable slice.
///     while let Some(t) = client.poll_transmit(now, &mut buf) {
///         server.handle_datagram(now, t.destination, t.local, &mut buf[..t.size]);
///     }
///     while let Some(t) = server.poll_transmit(now, &mut buf) {
///         client.handle_datagram(now, t.destination, t.local, &mut buf[..t.size]);
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
/// ```
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    conns: HashMap<ConnectionHandle, Connection>,
    by_cid: HashMap<ConnectionId, ConnectionHandle>,
    /// (peer address, the dialer's initial destination CID) → connection, so that a
    /// repeated Initial reaches the connection it created.
    by_initial: HashMap<(SocketAddr, ConnectionId), ConnectionHandle>,
    next_handle: u64,
    stateless: VecDeque<Stateless>,
    events: VecDeque<(ConnectionHandle, Event)>,
    order: Vec<ConnectionHandle>,
    cursor: usize,
    /// Most datagrams one transmit may carry (segmentation offload).
    max_segments: usize,
    stats: EndpointStats,
    created: Instant,
    wall_clock: Option<(Instant, u64)>,
    last_timestamp: u64,
    cookie_secret: Secret<[u8; 32]>,
    previous_cookie_secret: Secret<[u8; 32]>,
    cookie_secret_at: Instant,
    load_window_start: Instant,
    handshakes_this_window: u64,
    /// Token buckets per source (IPv4 address or IPv6 /64).
    sources: HashMap<AddrKey, (f64, Instant)>,
    peak_sources: usize,
    initiations: Initiations,
    admission: Admission,
}

impl Endpoint {
    /// A new endpoint. `now` starts its clocks (cookie rotation, load windows).
    pub fn new(config: EndpointConfig, now: Instant) -> Self {
        let cookie_secret = config.entropy.bytes32();
        Self {
            created: now,
            wall_clock: None,
            last_timestamp: 0,
            cookie_secret: Secret(cookie_secret),
            previous_cookie_secret: Secret(cookie_secret),
            cookie_secret_at: now,
            load_window_start: now,
            handshakes_this_window: 0,
            sources: HashMap::default(),
            peak_sources: 0,
            initiations: Initiations::new(MAX_TRACKED_IDENTITIES),
            admission: Admission::new(AdmissionLimits {
                max_half_open: config.max_half_open,
                max_half_open_per_address: config.max_half_open_per_address,
                max_per_address: config.max_connections_per_address,
            }),
            config,
            conns: HashMap::default(),
            by_cid: HashMap::default(),
            by_initial: HashMap::default(),
            next_handle: 0,
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            order: Vec::new(),
            cursor: 0,
            max_segments: 1,
            stats: EndpointStats::default(),
        }
    }

    /// This endpoint's static public key (its identity), if its handshake has one.
    pub fn public_key(&self) -> Option<[u8; 32]> {
        self.config.crypto.public_key()
    }

    /// Whether incoming connections are accepted.
    pub fn set_accept_incoming(&mut self, accept: bool) {
        self.config.accept_incoming = accept;
    }

    /// Lets [`poll_transmit`](Self::poll_transmit) put up to `n` datagrams of one path
    /// in one transmit (default 1): for callers that can send them with one segmented
    /// (UDP GSO) system call.
    pub fn set_max_segments(&mut self, n: usize) {
        self.max_segments = n.max(1);
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
            // 62 bits, so the ID also fits a transport parameter (a varint).
            let cid =
                ConnectionId((self.config.entropy.u64() & crate::wire::MAX_VARINT).to_be_bytes());
            if !self.by_cid.contains_key(&cid) {
                return cid;
            }
        }
        ConnectionId((self.config.entropy.u64() & crate::wire::MAX_VARINT).to_be_bytes())
    }

    fn seed32(&mut self) -> [u8; 32] {
        self.config.entropy.bytes32()
    }

    fn insert(&mut self, conn: Connection) -> ConnectionHandle {
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.by_cid.insert(conn.local_cid(), h);
        self.conns.insert(h, conn);
        self.order.push(h);
        h
    }

    /// Starts a connection from local address `local` to `remote` whose static key is
    /// unknown (the XX pattern: the listener's identity is learned, not checked, and is
    /// available afterwards from [`Connection::peer_identity`]).
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.connect_with(now, local, remote, None)
    }

    /// Starts a connection from `local` to `remote`, optionally pinning its static public
    /// key (the IK pattern: one round trip, and the handshake fails unless the listener
    /// holds that key).
    pub fn connect_with(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        peer_key: Option<[u8; 32]>,
    ) -> Result<ConnectionHandle, ConnectError> {
        let unix_ms = Some(self.unix_ms(now));
        self.dial(now, (local, remote), peer_key, unix_ms)
    }

    /// Starts a dial whose first message carries `unix_ms` as its timestamp (`None`:
    /// none, which only a test does).
    fn dial(
        &mut self,
        now: Instant,
        (local, remote): (SocketAddr, SocketAddr),
        peer_key: Option<[u8; 32]>,
        unix_ms: Option<u64>,
    ) -> Result<ConnectionHandle, ConnectError> {
        if self.conns.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let local_cid = self.fresh_cid();
        let initial = ConnectionId(self.config.entropy.u64().to_be_bytes());
        let seed = self.seed32();
        let origin = Origin {
            local,
            remote,
            seed: self.seed32(),
            entropy: self.config.entropy.clone(),
        };
        let conn = Connection::connect(
            self.config.transport.clone(),
            &*self.config.crypto,
            seed,
            peer_key,
            (local_cid, initial),
            origin,
            now,
            unix_ms,
        )
        .map_err(|_| ConnectError::InvalidConfig("handshake could not start"))?;
        Ok(self.insert(conn))
    }

    /// Tells the endpoint the wall-clock time (ms since the Unix epoch) at `now`. Dialers
    /// put it in their first message so listeners can reject replays; call it once at
    /// start-up (the engine never reads a clock itself).
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.wall_clock = Some((now, unix_ms));
    }

    /// Wall-clock ms for a new initiation, strictly increasing per endpoint so that two
    /// connections in the same millisecond are not mistaken for a replay.
    fn unix_ms(&mut self, now: Instant) -> u64 {
        let (at, ms) = self.wall_clock.unwrap_or((self.created, 0));
        let t = ms.saturating_add(now.saturating_duration_since(at).as_millis() as u64);
        let t = t.max(self.last_timestamp.saturating_add(1));
        self.last_timestamp = t;
        t
    }

    /// Handles one datagram received on local address `local` from `remote`. It is
    /// decrypted in place, so `datagram` is left garbled. Anything malformed or
    /// unauthentic is dropped (and counted); nothing from the network can make this panic.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &mut [u8],
    ) {
        self.stats.datagrams_received += 1;
        let Ok((header, header_len)) = Header::parse(datagram) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        if let Header::Long(hdr) = header
            && hdr.ty == LongType::Initial
        {
            self.handle_initial(now, (local, remote), &hdr, datagram, header_len);
            return;
        }
        let Some(&h) = self.by_cid.get(&header.dcid()) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        match header {
            Header::Short(hdr) => c.handle_short(now, (local, remote), &hdr, datagram, header_len),
            Header::Long(hdr) => {
                let size = datagram.len();
                let payload = datagram.get(header_len..).unwrap_or_default();
                c.handle_long(now, &hdr, payload, size);
            }
        }
    }

    fn handle_initial(
        &mut self,
        now: Instant,
        (local, remote): (SocketAddr, SocketAddr),
        hdr: &crate::wire::LongHeader,
        datagram: &[u8],
        header_len: usize,
    ) {
        let size = datagram.len();
        if size < MIN_INITIAL_SIZE {
            self.stats.datagrams_dropped += 1;
            return;
        }
        // Cheapest first: mac1 (a keyed hash) before anything else, and silence on failure.
        let mac1_at = size - INITIAL_TRAILER;
        let mac2_at = size - gate::MAC_LEN;
        if !self
            .config
            .crypto
            .verify_mac1(&datagram[..mac1_at], &datagram[mac1_at..mac2_at])
        {
            self.stats.gated += 1;
            return;
        }
        if let Some(&h) = self.by_initial.get(&(remote, hdr.dcid)) {
            if let Some(c) = self.conns.get_mut(&h) {
                c.on_repeated_initial(size);
            }
            return;
        }
        self.rotate_cookie_secret(now);
        let cookie = self.valid_mac2(remote, datagram);
        let admit = self.admission.admit(remote, cookie);
        if (self.under_load(now) || admit == Admit::Retry) && !cookie {
            // Stateless: a cookie for this address, nothing kept.
            self.stats.retries_sent += 1;
            tracing::trace!(%remote, "under handshake load: Retry sent");
            let cookie = gate::cookie(&self.cookie_secret.0, remote);
            if self.stateless.len() < MAX_STATELESS_QUEUE {
                self.stateless
                    .push_back((local, remote, retry_datagram(hdr, datagram, &cookie)));
            }
            return;
        }
        if !self.rate_limit(now, remote) {
            self.stats.rate_limited += 1;
            return;
        }
        let Some(msg1) = handshake_message(&datagram[header_len..mac1_at]) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        self.handshakes_this_window += 1;
        let established = self.conns.len() - self.admission.half_open();
        let refuse = !self.config.accept_incoming
            || established >= self.config.max_connections
            || admit == Admit::Refuse;
        let proven = matches!(admit, Admit::Create { proven: true });
        let local_cid = self.fresh_cid();
        let seed = self.seed32();
        let origin = Origin {
            local,
            remote,
            seed: self.seed32(),
            entropy: self.config.entropy.clone(),
        };
        let result = Connection::accept(
            self.config.transport.clone(),
            &*self.config.crypto,
            seed,
            local_cid,
            (hdr, msg1),
            origin,
            now,
            size,
            (refuse, proven),
        );
        match result {
            Err(e) => {
                self.stats.handshake_failures += 1;
                tracing::trace!(%remote, error = %e, "first handshake message rejected");
            }
            Ok(Accepted::Refused(reply)) => {
                self.stats.refused += 1;
                tracing::debug!(%remote, "incoming connection refused (not accepting, or at the connection limit)");
                if self.stateless.len() < MAX_STATELESS_QUEUE {
                    self.stateless.push_back((local, remote, reply));
                }
            }
            Ok(Accepted::Connection(conn)) => {
                if !self.fresh_initiation(&conn) {
                    self.stats.replays_rejected += 1;
                    return;
                }
                self.stats.accepted += 1;
                tracing::debug!(%remote, local = %local, proven, "incoming connection accepted");
                let proven = conn.is_proven();
                let h = self.insert(*conn);
                self.admission.on_created(h, remote, proven);
                self.by_initial.insert((remote, hdr.dcid), h);
            }
        }
    }

    /// Whether an authenticated first message is newer than the last one from the same
    /// identity (replay protection for one-round-trip handshakes). An `IK` initiation
    /// without a timestamp is refused.
    fn fresh_initiation(&mut self, conn: &Connection) -> bool {
        let Some(id) = conn.peer_identity() else {
            return true; // no identity yet (XX): message 3 will prove liveness
        };
        let Some(ts) = conn.peer_params().and_then(|p| p.timestamp_ms) else {
            return false;
        };
        self.initiations.fresh(id, ts)
    }

    /// Half-open responder connections now (answered, dialer not yet proven), and the
    /// most held at once.
    pub fn half_open(&self) -> (usize, usize) {
        (self.admission.half_open(), self.admission.peak_half_open())
    }

    /// Handshake load: Initials that reached the handshake in the current second.
    fn under_load(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.load_window_start) >= Duration::from_secs(1) {
            self.load_window_start = now;
            self.handshakes_this_window = 0;
        }

        self.handshakes_this_window >= self.config.handshake_load_limit
    }

    /// Rotates the cookie secret every [`COOKIE_ROTATION`], lazily (when an Initial
    /// arrives) but by elapsed time: after two or more periods without an Initial both
    /// the current and the previous secret are replaced, so no cookie outlives two
    /// periods however quiet the listener was.
    fn rotate_cookie_secret(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.cookie_secret_at);
        if elapsed < COOKIE_ROTATION {
            return;
        }
        if elapsed >= COOKIE_ROTATION * 2 {
            self.config.entropy.fill(&mut self.previous_cookie_secret.0);
        } else {
            self.previous_cookie_secret = Secret(self.cookie_secret.0);
        }
        self.config.entropy.fill(&mut self.cookie_secret.0);
        self.cookie_secret_at = now;
    }

    fn valid_mac2(&self, remote: SocketAddr, datagram: &[u8]) -> bool {
        let at = datagram.len() - gate::MAC_LEN;
        [&self.cookie_secret.0, &self.previous_cookie_secret.0]
            .iter()
            .any(|secret| {
                let cookie = gate::cookie(secret, remote);
                gate::mac_eq(&gate::mac2(&cookie, &datagram[..at]), &datagram[at..])
            })
    }

    /// Per-source token bucket for handshakes; the table is bounded.
    fn rate_limit(&mut self, now: Instant, remote: SocketAddr) -> bool {
        let rate = self.config.handshakes_per_source_per_sec as f64;
        let burst = rate * 2.0;
        // Per IPv6 /64: one host usually owns a whole /64 and could rotate through it.
        let key = AddrKey::of(remote.ip());
        if self.sources.len() >= MAX_TRACKED_SOURCES && !self.sources.contains_key(&key) {
            self.sources.clear();
        }
        let tracked = self.sources.len() + usize::from(!self.sources.contains_key(&key));
        self.peak_sources = self.peak_sources.max(tracked);
        let entry = self.sources.entry(key).or_insert((burst, now));
        let elapsed = now.saturating_duration_since(entry.1).as_secs_f64();
        entry.0 = (entry.0 + elapsed * rate).min(burst);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Most per-source entries ever held by the rate limiter (a bound on per-source state).
    pub fn peak_tracked_sources(&self) -> usize {
        self.peak_sources
    }

    /// Writes the next datagrams to send into `buf`: one, or up to the
    /// [`set_max_segments`](Self::set_max_segments) limit of one path for a segmented send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((local, dest, bytes)) = self.stateless.pop_front() {
            buf.clear();
            buf.extend_from_slice(&bytes);
            return Some(Transmit {
                destination: dest,
                local,
                path_id: 0,
                size: bytes.len(),
                segment_size: None,
            });
        }
        let max_segments = self.max_segments;
        let n = self.order.len();
        // Bounded: each connection is asked at most once per call.
        for i in 0..n {
            let idx = (self.cursor + i) % n;
            let h = self.order[idx];
            if let Some(c) = self.conns.get_mut(&h)
                && let Some(t) = c.poll_transmit(now, max_segments, buf)
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
        let mut closed = Vec::new();
        for &h in &self.order {
            let Some(c) = self.conns.get_mut(&h) else {
                continue;
            };
            // A half-open connection announces nothing until its dialer is proven (its
            // Connected comes first); what it had before is dropped. Bounded: each call
            // takes at most one event of a connection that announces.
            while let Some(ev) = c.poll_event() {
                if matches!(ev, Event::Closed(_)) {
                    closed.push(h);
                }
                if self.admission.is_half_open(h) {
                    if ev != Event::Connected {
                        continue;
                    }
                    self.admission.on_proven(h);
                }
                self.events.push_back((h, ev));
                break;
            }
            if !self.events.is_empty() {
                break;
            }
        }
        for h in closed {
            self.remove(h);
        }
        self.events.pop_front()
    }

    fn remove(&mut self, h: ConnectionHandle) {
        self.admission.on_removed(h);
        if let Some(c) = self.conns.remove(&h) {
            self.by_cid.remove(&c.local_cid());
        }
        self.by_initial.retain(|_, v| *v != h);
        self.order.retain(|x| *x != h);
        self.cursor = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::NoiseConfig;
    use crate::identity::Keypair;

    /// Issue 14 item 3: an `IK` initiation without a timestamp is refused (it was
    /// accepted, contrary to PROTOCOL.md §4.3 step 12); the same dial with one connects.
    #[test]
    fn ik_initiation_without_timestamp_is_refused() {
        let now = Instant::now();
        let listener_kp = Keypair::from_seed([9; 32]);
        let key = listener_kp.public().0;
        let config = |kp: Keypair, seed| {
            EndpointConfig::seeded_for_tests(Arc::new(NoiseConfig::new(kp)), seed)
        };
        let mut listener = Endpoint::new(config(listener_kp, 2), now);
        let mut dialer = Endpoint::new(config(Keypair::from_seed([8; 32]), 3), now);
        dialer.set_wall_clock(now, 1_790_000_000_000);
        let (d, l): (SocketAddr, SocketAddr) =
            ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        let mut buf = Vec::new();
        for (timestamp, accepted) in [(None, false), (Some(1_790_000_000_000), true)] {
            dialer.dial(now, (d, l), Some(key), timestamp).unwrap();
            let t = dialer.poll_transmit(now, &mut buf).expect("the Initial");
            let mut datagram = buf[..t.size].to_vec();
            let before = listener.stats();
            listener.handle_datagram(now, l, d, &mut datagram);
            let after = listener.stats();
            assert_eq!(
                after.accepted - before.accepted,
                u64::from(accepted),
                "{timestamp:?}"
            );
            assert_eq!(
                after.replays_rejected - before.replays_rejected,
                u64::from(!accepted),
                "{timestamp:?}"
            );
            while dialer.poll_transmit(now, &mut buf).is_some() {}
        }
        assert_eq!(listener.connection_count(), 1);
    }

    /// Issue 14 item 8: the cookie secret rotates by elapsed time, so after a quiet
    /// spell of two periods or more no earlier cookie stays valid.
    #[test]
    fn cookie_secrets_rotate_by_elapsed_time() {
        let t0 = Instant::now();
        let crypto = Arc::new(NoiseConfig::new(Keypair::from_seed([7; 32])));
        let mut ep = Endpoint::new(EndpointConfig::seeded_for_tests(crypto, 1), t0);
        let first = ep.cookie_secret.0;
        ep.rotate_cookie_secret(t0 + COOKIE_ROTATION / 2);
        assert_eq!(ep.cookie_secret.0, first, "not yet");
        ep.rotate_cookie_secret(t0 + COOKIE_ROTATION);
        assert_eq!(
            ep.previous_cookie_secret.0, first,
            "one period: the old one stays"
        );
        let second = ep.cookie_secret.0;
        assert_ne!(second, first);
        // A quiet hour, then an Initial: neither earlier secret is accepted any more.
        ep.rotate_cookie_secret(t0 + Duration::from_secs(3600));
        for old in [first, second] {
            assert_ne!(ep.cookie_secret.0, old);
            assert_ne!(ep.previous_cookie_secret.0, old);
        }
    }
}
