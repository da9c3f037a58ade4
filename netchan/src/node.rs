//! Nodes, peers, events and statistics.

use crate::chan::{self, Receiver, Sender};
use crate::driver::{self, Command, DriverConfig, DriverHandle, NodeInner, PortEntry};
use crate::error::Error;
pub use crate::events::{NodeEvent, PathStats, PeerStats};
use crate::handoff::{Gate, Shared, TypedSink};
use crate::session::{PeerKey, PortId};
use netchan_transport::identity::{Keypair, PublicKey};
use netchan_transport::{
    CongestionControl, Endpoint, EndpointConfig, NoiseConfig, TransportConfig,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Paths a peer may keep open per connection with [`NodeConfig::multipath`].
pub const MULTIPATH_PATHS: u64 = 8;

/// Options of a channel beyond its name and capacity ([`Peer::channel_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelOptions {
    /// How this node's data on the channel is spread over a peer's paths (multipath;
    /// `None`: the node's default mode). Mirror control traffic, stripe bulk.
    pub mode: Option<netchan_transport::PathMode>,
}

impl ChannelOptions {
    /// Options with the given path mode.
    pub fn mode(mode: netchan_transport::PathMode) -> Self {
        ChannelOptions { mode: Some(mode) }
    }
}

/// Room left in a transport message for the channel layer's header.
const HEADER_ROOM: usize = crate::wire::DATA_HEADER_MAX;

/// How a node is set up. Every field has a default; start from [`NodeConfig::new`].
#[derive(Clone)]
pub struct NodeConfig {
    /// Local UDP addresses to bind (default `0.0.0.0:0`: any interface, a free port).
    pub bind: Vec<SocketAddr>,
    /// The node's identity (default: a fresh random one).
    pub keypair: Option<Keypair>,
    /// A 32-byte pre-shared key: only nodes holding it can connect (the handshake is
    /// silent towards everyone else).
    pub psk: Option<crate::identity::Psk>,
    /// Accept only these peers (default: anyone who completes the handshake).
    pub allow: Option<Vec<PublicKey>>,
    /// Accept incoming connections (default true; every node is client and server).
    pub accept_incoming: bool,
    /// Transport settings (congestion control, timeouts, windows, message size).
    pub transport: TransportConfig,
    /// How long a disconnected peer's channels wait for it to come back before their
    /// senders fail with [`ChannelError::LeaseExpired`](crate::ChannelError).
    pub reconnect_lease: Duration,
    /// Requested socket buffer size in bytes (send and receive).
    pub socket_buffer: usize,
    /// What one peer may make this node hold per channel: the largest capacity taken
    /// from a peer's channel, and the bytes kept for it on the sending and receiving
    /// sides (see [`SessionLimits`](crate::session::SessionLimits)).
    pub limits: crate::session::SessionLimits,
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("bind", &self.bind)
            .field("psk", &self.psk)
            .field("allow", &self.allow)
            .field("accept_incoming", &self.accept_incoming)
            .field("transport", &self.transport)
            .field("reconnect_lease", &self.reconnect_lease)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeConfig {
    /// Defaults: bind `0.0.0.0:0`, fresh identity, BBR, keepalive every 2 s, idle
    /// timeout 10 s, reconnection lease 30 s, 4 MiB receive window per channel.
    pub fn new() -> Self {
        let mut transport = TransportConfig::default()
            .idle_timeout(Duration::from_secs(10))
            .keepalive(Some(Duration::from_secs(2)));
        // Large messages need a window of several messages to stream.
        transport.channel_receive_window = 4 << 20;
        transport.channel_send_buffer = 4 << 20;
        Self {
            bind: Vec::new(),
            keypair: None,
            psk: None,
            allow: None,
            accept_incoming: true,
            transport,
            reconnect_lease: Duration::from_secs(30),
            socket_buffer: 4 << 20,
            limits: crate::session::SessionLimits::default(),
        }
    }
    /// Adds a local address to bind.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind.push(addr);
        self
    }
    /// Sets the identity.
    pub fn keypair(mut self, kp: Keypair) -> Self {
        self.keypair = Some(kp);
        self
    }
    /// Requires a pre-shared key of every peer.
    pub fn psk(mut self, psk: impl Into<crate::identity::Psk>) -> Self {
        self.psk = Some(psk.into());
        self
    }
    /// Accepts only these peers.
    pub fn allow(mut self, keys: impl IntoIterator<Item = PublicKey>) -> Self {
        self.allow = Some(keys.into_iter().collect());
        self
    }
    /// Selects the congestion controller.
    pub fn congestion(mut self, cc: CongestionControl) -> Self {
        self.transport = self.transport.congestion(cc);
        self
    }
    /// Sets the reconnection lease.
    pub fn reconnect_lease(mut self, d: Duration) -> Self {
        self.reconnect_lease = d;
        self
    }
    /// Several paths per peer connection ("RAID for the network"): a connection this node
    /// dials opens a path from each of its bound addresses to each address the dial names
    /// (`KEY@HOST:PORT,HOST2:PORT2`), and every channel spreads its data over them in
    /// `mode` unless it chose another ([`ChannelOptions`]). Both nodes need it. In
    /// `backup` mode the paths beyond the first carry only probes until it fails.
    pub fn multipath(mut self, mode: netchan_transport::PathMode) -> Self {
        self.transport = self
            .transport
            .max_paths(MULTIPATH_PATHS)
            .path_selector(Arc::new(netchan_multipath::Scheduler::default()))
            .path_mode(mode);
        self
    }
    /// The low-latency profile: acknowledge every packet at once (1 ms maximum ACK
    /// delay), keepalive every 500 ms and a 3 s idle timeout, so losses and dead
    /// peers are noticed sooner, at the cost of more ACK traffic.
    pub fn low_latency(mut self) -> Self {
        self.transport.max_ack_delay = Duration::from_millis(1);
        self.transport.ack_frequency = 1;
        self.transport.keepalive_interval = Some(Duration::from_millis(500));
        self.transport.idle_timeout = Duration::from_secs(3);
        self
    }
}

/// A netchan node: an identity, UDP sockets and an event loop thread. Every node dials
/// and accepts. Dropping it shuts it down: connections close gracefully (what was
/// received and taken is reported to the senders first), channels disconnect.
pub struct Node {
    inner: Arc<NodeInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("key", &self.public_key().to_string())
            .field("addrs", &self.inner.handle.local_addrs)
            .finish()
    }
}

fn os_random<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Config(format!("no OS randomness: {e}")))?;
    Ok(b)
}

fn udp_socket(addr: SocketAddr, buffer: usize) -> Result<std::net::UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let io = |what: String| move |source| Error::Io { what, source };
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(io(format!("creating a UDP socket for {addr}")))?;
    // Best effort: the kernel caps these at its maximum.
    let _ = s.set_recv_buffer_size(buffer);
    let _ = s.set_send_buffer_size(buffer);
    if addr.is_ipv6() {
        let _ = s.set_only_v6(false);
    }
    s.set_nonblocking(true)
        .map_err(io("making the socket non-blocking".into()))?;
    s.bind(&addr.into())
        .map_err(io(format!("binding {addr}")))?;
    Ok(s.into())
}

impl Node {
    /// Starts a node.
    pub fn new(config: NodeConfig) -> Result<Node, Error> {
        let keypair = match config.keypair.clone() {
            Some(k) => k,
            None => crate::identity::generate(os_random()?),
        };
        let public_key = keypair.public();
        let mut noise = NoiseConfig::new(keypair);
        if let Some(psk) = &config.psk {
            noise = noise.with_psk(*psk.as_bytes());
        }
        if let Some(allow) = config.allow.clone() {
            noise = noise.allow_only(allow);
        }
        let mut ec = EndpointConfig::new(Arc::new(noise), Arc::new(crate::OsEntropy));
        ec.accept_incoming = config.accept_incoming;
        let max_message = (config.transport.max_message_size as usize).saturating_sub(HEADER_ROOM);
        ec.transport = Arc::new(config.transport.clone());
        let endpoint = Endpoint::new(ec, Instant::now());
        let binds = if config.bind.is_empty() {
            vec![SocketAddr::from(([0, 0, 0, 0], 0))]
        } else {
            config.bind.clone()
        };
        let sockets = binds
            .iter()
            .map(|a| udp_socket(*a, config.socket_buffer))
            .collect::<Result<Vec<_>, _>>()?;
        let inner = driver::spawn(DriverConfig {
            endpoint,
            sockets,
            lease: config.reconnect_lease,
            incarnation: u64::from_le_bytes(os_random()?),
            public_key,
            max_message,
            max_datagram_size: config.transport.max_datagram_size,
            limits: config.limits,
        })?;
        Ok(Node { inner })
    }

    /// Starts a node with default settings and a fresh identity on `addr`.
    pub fn bind(addr: impl ToSocketAddrs) -> Result<Node, Error> {
        let addr = resolve(addr)?;
        Node::new(NodeConfig::new().bind(addr))
    }

    /// This node's public key: what peers pin when they dial `KEY@host:port`.
    pub fn public_key(&self) -> PublicKey {
        self.inner.handle.public_key
    }

    /// The first local address (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.handle.local_addrs[0]
    }

    /// Every local address.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.inner.handle.local_addrs
    }

    /// `KEY@ip:port` for the first local address, with `0.0.0.0`/`::` replaced by the
    /// loopback address: what a peer on this machine passes to [`Node::dial`].
    pub fn address(&self) -> String {
        let mut a = self.local_addr();
        if a.ip().is_unspecified() {
            a.set_ip(if a.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("{}@{}", self.public_key(), a)
    }

    /// Connects to a peer and waits for the handshake. `addr` is `HOST:PORT` (the
    /// peer's key is learned) or `KEY@HOST:PORT` (the peer must hold that key: the
    /// safe form). After a connection loss the node redials by itself. With
    /// [`NodeConfig::multipath`] the address may list more of the peer's addresses,
    /// `KEY@HOST:PORT,HOST2:PORT2`: the first is dialed, and paths open from every bound
    /// address to each of them.
    pub fn dial(&self, addr: &str) -> Result<Peer, Error> {
        dial_handle(&self.inner.handle, addr).map(|key| Peer {
            key,
            handle: self.inner.handle.clone(),
        })
    }

    /// A handle for a peer known by its key (connected now or later, by either side).
    pub fn peer(&self, key: PublicKey) -> Peer {
        Peer {
            key: key.0,
            handle: self.inner.handle.clone(),
        }
    }

    /// A named channel with **every** peer: the sender gives each message to exactly
    /// one peer with free credit (work distribution); the receiver merges all peers.
    /// `capacity` is how many messages this node buffers for its receivers (per peer).
    pub fn channel<T>(&self, name: &str, capacity: u32) -> Result<(Sender<T>, Receiver<T>), Error>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        open_port(
            &self.inner.handle,
            name,
            capacity,
            None,
            ChannelOptions::default(),
        )
    }

    /// [`channel`](Self::channel) with options (a path mode of its own).
    pub fn channel_with<T>(
        &self,
        name: &str,
        capacity: u32,
        options: ChannelOptions,
    ) -> Result<(Sender<T>, Receiver<T>), Error>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        open_port(&self.inner.handle, name, capacity, None, options)
    }

    /// Peer events (connected, disconnected, reconnected, lost, channel errors). All
    /// clones share one queue of 4,096 events; when nobody reads it, newer events are
    /// dropped.
    pub fn events(&self) -> crossbeam_channel::Receiver<NodeEvent> {
        self.inner.handle.events.clone()
    }

    /// Statistics of every known peer.
    pub fn stats(&self) -> Vec<PeerStats> {
        stats(&self.inner.handle)
    }

    pub(crate) fn into_inner(self) -> Arc<NodeInner> {
        self.inner
    }
}

fn stats(h: &DriverHandle) -> Vec<PeerStats> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    h.notify(Command::Stats(tx));
    rx.recv().unwrap_or_default()
}

fn resolve(addr: impl ToSocketAddrs) -> Result<SocketAddr, Error> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Error::BadAddress("unresolvable address".into()))
}

fn resolve_host(host: &str) -> Result<SocketAddr, Error> {
    host.to_socket_addrs()
        .map_err(|e| Error::Resolve {
            addr: host.to_string(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| Error::Resolve {
            addr: host.to_string(),
            reason: "no addresses".into(),
        })
}

fn dial_handle(h: &DriverHandle, addr: &str) -> Result<PeerKey, Error> {
    let (key, host) = if addr.contains('@') {
        let (k, host) = netchan_transport::identity::parse_peer_address(addr)
            .map_err(|_| Error::BadAddress(addr.to_string()))?;
        (Some(k.0), host)
    } else {
        (None, addr)
    };
    let mut addrs = Vec::new();
    for host in host.split(',') {
        if !host.contains(':') {
            return Err(Error::BadAddress(addr.to_string()));
        }
        addrs.push(resolve_host(host)?);
    }
    let (first, extra) = addrs
        .split_first()
        .ok_or_else(|| Error::BadAddress(addr.to_string()))?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    h.notify(Command::Dial {
        addr: *first,
        extra: extra.to_vec(),
        key,
        reply: tx,
    });
    rx.recv().unwrap_or(Err(Error::NodeClosed))
}

/// A peer of a node: open named channels with it, read its statistics.
#[derive(Clone)]
pub struct Peer {
    key: PeerKey,
    handle: Arc<DriverHandle>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("key", &self.public_key().to_string())
            .finish()
    }
}

impl Peer {
    /// The peer's identity.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key)
    }

    /// A named channel with this peer. Both sides call it with the same name and
    /// message type; `capacity` is how many messages this side buffers for its
    /// receivers, so the peer's `send` blocks while that many are waiting here.
    /// Capacity 0 is a rendezvous: the peer's `send` returns once a receiver here has
    /// taken the value. Sending waits until the peer has opened the channel too; a
    /// different message type on the other side fails both ends with
    /// [`ChannelError::TypeMismatch`](crate::ChannelError::TypeMismatch).
    pub fn channel<T>(&self, name: &str, capacity: u32) -> Result<(Sender<T>, Receiver<T>), Error>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        open_port(
            &self.handle,
            name,
            capacity,
            Some(self.key),
            ChannelOptions::default(),
        )
    }

    /// [`channel`](Self::channel) with options: for example
    /// `ChannelOptions::mode(PathMode::Mirror)` for control messages that must not stall
    /// when a path dies, while bulk channels stripe.
    pub fn channel_with<T>(
        &self,
        name: &str,
        capacity: u32,
        options: ChannelOptions,
    ) -> Result<(Sender<T>, Receiver<T>), Error>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        open_port(&self.handle, name, capacity, Some(self.key), options)
    }

    /// This peer's statistics (`None` if the node does not know it).
    pub fn stats(&self) -> Option<PeerStats> {
        stats(&self.handle)
            .into_iter()
            .find(|s| s.peer.0 == self.key)
    }
}

fn open_port<T>(
    h: &Arc<DriverHandle>,
    name: &str,
    capacity: u32,
    scope: Option<PeerKey>,
    options: ChannelOptions,
) -> Result<(Sender<T>, Receiver<T>), Error>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    if name.len() > crate::wire::MAX_NAME_LEN {
        return Err(Error::NameTooLong);
    }
    let (type_name, type_hash) = crate::codec::type_id::<T>();
    let (tx, rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        id: PortId(h.next_port.fetch_add(1, Ordering::Relaxed)),
        name: name.to_string(),
        type_name,
        type_hash,
        capacity,
        scope,
        max_message: h.max_message,
        mode: options.mode,
        gate: Gate::new(),
        driver: h.clone(),
        senders: AtomicUsize::new(0),
        receivers: AtomicUsize::new(0),
        recv_closed: OnceLock::new(),
    });
    let (rtx, rrx) = crossbeam_channel::bounded(1);
    h.notify(Command::AddPort(
        PortEntry {
            shared: shared.clone(),
            sink: Box::new(TypedSink { tx: Some(tx) }),
        },
        rtx,
    ));
    rrx.recv().unwrap_or(Err(Error::NodeClosed))?;
    Ok(chan::pair(shared, rx, None))
}

/// The channel name of the simple [`listen`] / [`dial`] forms.
pub const DEFAULT_CHANNEL: &str = "netchan";
/// The capacity of the simple forms' channel.
pub const DEFAULT_CAPACITY: u32 = 128;

/// Go netchan's simple form, listening side: a node on `addr` with a fresh identity
/// and one channel with every peer that dials it. The sender gives each message to
/// exactly one connected peer (the first with free credit; it blocks while none is
/// connected); the receiver merges all peers. The node lives as long as either handle.
pub fn listen<T>(addr: impl ToSocketAddrs) -> Result<(Sender<T>, Receiver<T>), Error>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let node = Node::bind(addr)?;
    let (tx, rx) = node.channel(DEFAULT_CHANNEL, DEFAULT_CAPACITY)?;
    Ok(own(node.into_inner(), tx, rx))
}

/// Go netchan's simple form, dialing side: a node with a fresh identity connected to
/// `addr` (`HOST:PORT` or `KEY@HOST:PORT`), and the channel the listener offers.
pub fn dial<T>(addr: &str) -> Result<(Sender<T>, Receiver<T>), Error>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let node = Node::new(NodeConfig::new())?;
    let peer = node.dial(addr)?;
    let (tx, rx) = peer.channel(DEFAULT_CHANNEL, DEFAULT_CAPACITY)?;
    Ok(own(node.into_inner(), tx, rx))
}

fn own<T>(inner: Arc<NodeInner>, tx: Sender<T>, rx: Receiver<T>) -> (Sender<T>, Receiver<T>) {
    (tx.with_owner(inner.clone()), rx.with_owner(inner))
}
