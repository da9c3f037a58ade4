//! The in-memory endpoint pair the endpoint targets share, with a crypto config that
//! lets the harness see (and forge with) the real packet protection.

#[allow(unused_imports)]
use super::*;

// ===== endpoints: shared helpers ===============================================================

pub(super) const DIALER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    1000,
);
pub(super) const LISTENER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    2000,
);
/// Addresses injected datagrams may claim to come from.
pub(super) const SOURCES: [SocketAddr; 4] = [
    DIALER_ADDR,
    SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)),
        1000,
    ),
    SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3)),
        3000,
    ),
    LISTENER_ADDR,
];

/// A long or short header in front of `payload`.
pub(super) fn with_header(
    first: u8,
    dcid: ConnectionId,
    scid: ConnectionId,
    payload: &[u8],
) -> Vec<u8> {
    let mut d = Vec::with_capacity(21 + payload.len());
    if first & 0x20 != 0 {
        Header::Long(LongHeader {
            ty: LongType::from_bits(first & 0x0f).unwrap_or(LongType::Initial),
            version: PROTOCOL_VERSION,
            dcid,
            scid,
        })
        .emit(&mut d);
        // Keep the fuzzer's type bits, even invalid ones.
        d[0] = 0xa0 | (first & 0x1f);
    } else {
        d.push(0x80 | (first & 0x1f));
        d.extend_from_slice(&dcid.0);
    }
    d.extend_from_slice(payload);
    d
}

/// Events of one endpoint, checked: nothing is reported for a connection after its
/// `Closed`, which is its last event, and the endpoint then forgets it.
#[derive(Default)]
pub(super) struct EventLog {
    pub(super) closed: HashSet<ConnectionHandle>,
    pub(super) connected: HashSet<ConnectionHandle>,
    /// Opened channels seen, per connection (for application operations).
    pub(super) channels: Vec<(ConnectionHandle, ChannelId)>,
}

impl EventLog {
    /// Drains the endpoint's events, reading every readable channel and datagram.
    pub(super) fn drain(&mut self, ep: &mut Endpoint) {
        for _ in 0..10_000 {
            let Some((h, ev)) = ep.poll_event() else {
                return;
            };
            assert!(!self.closed.contains(&h), "event {ev:?} after Closed");
            match ev {
                Event::Connected => {
                    assert!(self.connected.insert(h), "Connected twice");
                }
                Event::Closed(_) => {
                    self.closed.insert(h);
                    assert!(
                        ep.connection(h).is_none(),
                        "a closed connection is forgotten"
                    );
                }
                Event::ChannelOpened { channel, .. } => {
                    if self.channels.len() < 64 {
                        self.channels.push((h, channel));
                    }
                }
                Event::ChannelReadable(c) => {
                    if let Some(conn) = ep.connection(h) {
                        for _ in 0..10_000 {
                            if conn.recv(c).is_none() {
                                break;
                            }
                        }
                    }
                }
                Event::DatagramReceived => {
                    if let Some(conn) = ep.connection(h) {
                        for _ in 0..10_000 {
                            if conn.recv_datagram().is_none() {
                                break;
                            }
                        }
                    }
                }
                Event::ChannelWritable(_)
                | Event::ChannelFinished(_)
                | Event::ChannelReset { .. }
                | Event::Path(_) => {}
            }
        }
    }
}

/// Drains an endpoint's datagrams (checked) into `out` as `(destination, bytes)`.
pub(super) fn drain_transmits(
    ep: &mut Endpoint,
    now: Instant,
    out: &mut Vec<(SocketAddr, Vec<u8>)>,
) {
    let mut buf = Vec::new();
    for _ in 0..256 {
        let Some(t) = ep.poll_transmit(now, &mut buf) else {
            return;
        };
        check_transmit(t.size, &buf);
        out.push((t.destination, buf.clone()));
    }
}

// ----- a crypto config that shares the real packet protection with the harness -------------

/// Packet protection shared between a connection and the harness.
pub(super) type SharedProtection = Arc<Mutex<Box<dyn PacketProtection>>>;

/// Protections created by one endpoint's handshakes, and optionally every plaintext they
/// opened (to capture real frame payloads for the corpus).
#[derive(Debug, Default, Clone)]
pub(super) struct Registry(pub(super) Arc<Mutex<RegistryInner>>);

#[derive(Debug, Default)]
pub(super) struct RegistryInner {
    pub(super) protections: Vec<SharedProtection>,
    pub(super) capture: bool,
    pub(super) opened: Vec<Vec<u8>>,
}

/// The real Noise configuration, whose sessions hand their `AeadProtection` to a
/// [`Registry`] as well as to the connection. Everything else is delegated.
#[derive(Debug)]
pub(super) struct CaptureCrypto {
    pub(super) inner: NoiseConfig,
    pub(super) registry: Registry,
}

impl CryptoConfig for CaptureCrypto {
    fn start_initiator(
        &self,
        seed: [u8; 32],
        peer: Option<[u8; 32]>,
        prologue: &[u8],
    ) -> Result<Box<dyn HandshakeSession>, CryptoError> {
        Ok(Box::new(CaptureSession {
            inner: self.inner.start_initiator(seed, peer, prologue)?,
            registry: self.registry.clone(),
        }))
    }

    fn start_responder(&self, seed: [u8; 32], prologue: &[u8]) -> Box<dyn HandshakeSession> {
        Box::new(CaptureSession {
            inner: self.inner.start_responder(seed, prologue),
            registry: self.registry.clone(),
        })
    }

    fn public_key(&self) -> Option<[u8; 32]> {
        CryptoConfig::public_key(&self.inner)
    }

    fn initiator_mac1_key(&self, peer: Option<&[u8; 32]>) -> [u8; 32] {
        self.inner.initiator_mac1_key(peer)
    }

    fn verify_mac1(&self, covered: &[u8], mac1: &[u8]) -> bool {
        self.inner.verify_mac1(covered, mac1)
    }
}

#[derive(Debug)]
pub(super) struct CaptureSession {
    pub(super) inner: Box<dyn HandshakeSession>,
    pub(super) registry: Registry,
}

impl HandshakeSession for CaptureSession {
    fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.inner.write_message(payload, out)
    }

    fn read_message(&mut self, message: &[u8], payload: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.inner.read_message(message, payload)
    }

    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    fn is_my_turn(&self) -> bool {
        self.inner.is_my_turn()
    }

    fn peer_identity(&self) -> Option<[u8; 32]> {
        self.inner.peer_identity()
    }

    fn into_protection(self: Box<Self>) -> Result<Box<dyn PacketProtection>, CryptoError> {
        let CaptureSession { inner, registry } = *self;
        let shared: SharedProtection = Arc::new(Mutex::new(inner.into_protection()?));
        lock(&registry.0).protections.push(shared.clone());
        Ok(Box::new(Shared { shared, registry }))
    }
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) shared: SharedProtection,
    pub(super) registry: Registry,
}

impl PacketProtection for Shared {
    fn tag_len(&self) -> usize {
        lock(&self.shared).tag_len()
    }

    fn key_phase(&self) -> bool {
        lock(&self.shared).key_phase()
    }

    fn seal(
        &mut self,
        path_id: u64,
        packet_number: u64,
        buf: &mut Vec<u8>,
        start: usize,
        header_len: usize,
    ) {
        lock(&self.shared).seal(path_id, packet_number, buf, start, header_len);
    }

    fn open(
        &mut self,
        path_id: u64,
        packet_number: u64,
        key_phase: bool,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let len = lock(&self.shared).open(path_id, packet_number, key_phase, header, payload)?;
        let mut reg = lock(&self.registry.0);
        if reg.capture && reg.opened.len() < 256 {
            reg.opened.push(payload[..len].to_vec());
        }
        Ok(len)
    }

    fn update_keys(&mut self) -> bool {
        lock(&self.shared).update_keys()
    }

    fn key_updates(&self) -> u64 {
        lock(&self.shared).key_updates()
    }

    fn auth_failures(&self) -> u64 {
        lock(&self.shared).auth_failures()
    }
}

/// A dialer and a listener in memory, with lossless delivery on demand.
pub(super) struct Pair {
    pub(super) client: Endpoint,
    pub(super) server: Endpoint,
    pub(super) client_registry: Registry,
    pub(super) server_registry: Registry,
    pub(super) client_log: EventLog,
    pub(super) server_log: EventLog,
    pub(super) now: Instant,
    /// Every datagram sent, when capturing (for the corpus).
    pub(super) sent: Option<Vec<Vec<u8>>>,
    pub(super) client_handle: Option<ConnectionHandle>,
}

impl Pair {
    pub(super) fn new(now: Instant, transport: TransportConfig) -> Self {
        let k = keys();
        let transport = Arc::new(transport);
        let make = |kp: &Keypair, seed: u64, registry: &Registry| {
            let crypto = CaptureCrypto {
                inner: NoiseConfig::new(kp.clone()),
                registry: registry.clone(),
            };
            let mut cfg = EndpointConfig::seeded_for_tests(Arc::new(crypto), seed);
            cfg.transport = transport.clone();
            Endpoint::new(cfg, now)
        };
        let (client_registry, server_registry) = (Registry::default(), Registry::default());
        Self {
            client: make(&k.initiator, 1, &client_registry),
            server: make(&k.responder, 2, &server_registry),
            client_registry,
            server_registry,
            client_log: EventLog::default(),
            server_log: EventLog::default(),
            now,
            sent: None,
            client_handle: None,
        }
    }

    /// Delivers everything both sides have to send, until both are quiet (bounded).
    /// Returns the number of datagrams delivered.
    pub(super) fn exchange(&mut self) -> usize {
        let mut delivered = 0;
        for _ in 0..16 {
            let mut out = Vec::new();
            drain_transmits(&mut self.client, self.now, &mut out);
            let from_client = out.len();
            drain_transmits(&mut self.server, self.now, &mut out);
            if out.is_empty() {
                break;
            }
            for (i, (dest, d)) in out.into_iter().enumerate() {
                let mut copy = d.clone();
                if i < from_client {
                    self.server
                        .handle_datagram(self.now, LISTENER_ADDR, DIALER_ADDR, &mut copy);
                } else if dest == DIALER_ADDR {
                    self.client
                        .handle_datagram(self.now, DIALER_ADDR, LISTENER_ADDR, &mut copy);
                }
                if let Some(sent) = &mut self.sent {
                    sent.push(d);
                }
                delivered += 1;
            }
            self.client_log.drain(&mut self.client);
            self.server_log.drain(&mut self.server);
        }
        delivered
    }

    /// Advances time by `ms`, fires timers and exchanges.
    pub(super) fn tick(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.exchange();
    }

    /// Connects (IK when `pinned`, else XX); true when both sides are connected.
    pub(super) fn connect(&mut self, pinned: bool) -> bool {
        let key = pinned.then(|| keys().responder.public().0);
        let Ok(h) = self
            .client
            .connect_with(self.now, DIALER_ADDR, LISTENER_ADDR, key)
        else {
            return false;
        };
        self.client_handle = Some(h);
        for _ in 0..8 {
            self.tick(1);
            if self.client_log.connected.contains(&h) && !self.server_log.connected.is_empty() {
                return true;
            }
        }
        false
    }

    pub(super) fn server_handle(&self) -> Option<ConnectionHandle> {
        self.server_log.connected.iter().next().copied()
    }
}
