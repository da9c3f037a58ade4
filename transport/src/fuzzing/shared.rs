//! Helpers shared by the fuzz harnesses here and by the endpoint-level harnesses of the
//! test kit (`netchan_tests::fuzz`): input cursors, fixed keys and addresses, checks of
//! what an endpoint sends, event-lifecycle checks, seed material.

#[allow(unused_imports)]
use super::*;

/// Key pairs used by every harness (immutable, computed once).
pub struct Keys {
    /// The dialer.
    pub initiator: Keypair,
    /// The listener.
    pub responder: Keypair,
    /// A third node nobody expects.
    pub stranger: Keypair,
    pub psk: [u8; 32],
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        initiator: Keypair::from_seed([1; 32]),
        responder: Keypair::from_seed([2; 32]),
        stranger: Keypair::from_seed([3; 32]),
        psk: [0x5a; 32],
    })
}

/// Largest datagram any endpoint in these harnesses may send (the default
/// `max_datagram_size`; PROTOCOL.md §3.4).
pub const MDS: usize = 1200;

// ----- small input helpers ------------------------------------------------------------

/// A cursor over hand-formatted fuzz input; every read is total (short reads are clamped).
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A big-endian `u16` (a single remaining byte is read as the low byte).
    pub fn u16(&mut self) -> Option<u16> {
        let hi = self.u8()?;
        match self.u8() {
            Some(lo) => Some(u16::from_be_bytes([hi, lo])),
            None => Some(u16::from(hi)),
        }
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// `u16` length prefix, then that many bytes (clamped).
    pub fn prefixed(&mut self) -> &'a [u8] {
        let n = self.u16().unwrap_or(0);
        self.take(usize::from(n))
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Appends `u16 length ‖ bytes` (the inverse of [`Input::prefixed`]).
pub fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(n)]);
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks a datagram an endpoint wrote: within the size limit and well formed.
pub fn check_transmit(size: usize, buf: &[u8]) {
    assert_eq!(size, buf.len(), "Transmit::size is the bytes written");
    assert!(size <= MDS, "sent a {size}-byte datagram (limit {MDS})");
    let (header, header_len) = Header::parse(buf).expect("endpoints only send valid headers");
    match header {
        Header::Long(h) if h.ty == LongType::Initial => {
            assert!(size >= crate::MIN_INITIAL_SIZE, "Initial of {size} bytes");
        }
        Header::Long(_) => {}
        Header::Short(_) => assert!(
            size >= header_len + crate::noise::TAG_LEN,
            "short packet without room for a tag"
        ),
    }
}
pub const DIALER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    1000,
);
pub const LISTENER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    2000,
);
/// Addresses injected datagrams may claim to come from.
pub const SOURCES: [SocketAddr; 4] = [
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
pub fn with_header(first: u8, dcid: ConnectionId, scid: ConnectionId, payload: &[u8]) -> Vec<u8> {
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
pub struct EventLog {
    pub closed: HashSet<ConnectionHandle>,
    pub connected: HashSet<ConnectionHandle>,
    /// Opened channels seen, per connection (for application operations).
    pub channels: Vec<(ConnectionHandle, ChannelId)>,
}

impl EventLog {
    /// Drains the endpoint's events, reading every readable channel and datagram.
    pub fn drain(&mut self, ep: &mut Endpoint) {
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
pub fn drain_transmits(ep: &mut Endpoint, now: Instant, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
    let mut buf = Vec::new();
    for _ in 0..256 {
        let Some(t) = ep.poll_transmit(now, &mut buf) else {
            return;
        };
        check_transmit(t.size, &buf);
        out.push((t.destination, buf.clone()));
    }
}

/// Deterministic bytes for a seed (ChaCha8 keyed by the target name and index).
pub fn pseudo_random(target: &str, index: usize, len: usize) -> Vec<u8> {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    let mut key = *blake3::hash(target.as_bytes()).as_bytes();
    key[0] ^= index as u8;
    let mut rng = ChaCha8Rng::from_seed(key);
    let mut out = vec![0u8; len];
    rng.fill_bytes(&mut out);
    out
}

/// One payload holding a frame of every type.
pub fn every_frame_type() -> Vec<u8> {
    let frames = [
        Frame::Ping,
        Frame::Ack(AckFrame {
            path_id: 0,
            ack_delay_us: 1234,
            ranges: vec![(95, 100), (80, 90), (10, 10)],
        }),
        Frame::ChannelOpen {
            channel: 1,
            label: b"label",
        },
        Frame::ChannelData {
            channel: 1,
            offset: 0,
            data: b"\x05hello",
        },
        Frame::Datagram { data: b"datagram" },
        Frame::MaxData { max: 1 << 24 },
        Frame::MaxChannelData {
            channel: 1,
            max: 1 << 20,
        },
        Frame::DataBlocked { limit: 1 << 20 },
        Frame::ChannelBlocked {
            channel: 1,
            limit: 4096,
        },
        Frame::PathChallenge { data: [7; 8] },
        Frame::PathResponse { data: [9; 8] },
        Frame::PathStatus {
            path_id: 0,
            sequence: 1,
            standby: false,
        },
        Frame::ChannelParity(crate::wire::ParityFrame {
            channel: 1,
            members: vec![(0, 6), (6, 0)],
            parity: b"\x05hello",
        }),
        Frame::ChannelClose {
            channel: 1,
            final_size: 6,
            error_code: 0,
        },
        Frame::PathAbandon {
            path_id: 0,
            error_code: 0,
        },
        Frame::Rehandshake {
            id: 1,
            generation: 3,
            key: [9; 32],
        },
        Frame::Padding { len: 3 },
        Frame::ConnectionClose {
            error_code: 0x100,
            reason: b"bye",
        },
    ];
    let mut out = Vec::new();
    for f in &frames {
        f.encode(&mut out);
    }
    out
}
