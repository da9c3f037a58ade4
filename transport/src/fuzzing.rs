//! Fuzzing entry points (feature `fuzzing`; not a public API).
//!
//! One total function per fuzz target in `fuzz/fuzz_targets/`: each takes the fuzzer's
//! bytes, drives one part of the engine through its internal API and returns normally on
//! any input. The only panics are `assert!`s stating real invariants (canonical round
//! trips, exact encoded sizes, agreement with a simple model, byte accounting, bounded
//! state) and the library's own debug assertions. The fuzz targets are one-liners calling
//! these functions, and `tests/fuzz_corpus_replay.rs` calls the same functions on every
//! file of `fuzz/corpus/<target>/`, so targets and replay never drift apart ([`TARGETS`]).
//!
//! Inputs that describe operation sequences are decoded with `arbitrary`; inputs that carry
//! packets are raw bytes, or small hand-written record formats documented on each target
//! so that real packets can be used as seeds ([`corpus_seeds`]). Expensive fixed setup
//! (key pairs, reference handshake transcripts) is computed once in `OnceLock`s and is
//! immutable; every call builds its own mutable state.

use crate::channel::{RecvError, RecvState, SendState};
use crate::config::{TransportConfig, TransportParams};
use crate::connection::handshake_message;
use crate::crypto::{
    CryptoConfig, CryptoError, HandshakeSession, NoiseConfig, NoiseHashChoice, PacketProtection,
};
use crate::endpoint::{ConnectionHandle, Endpoint, EndpointConfig};
use crate::identity::{KeyError, Keypair, PublicKey, parse_peer_address};
use crate::noise::{
    Blake2s, Blake3, HandshakeConfig, HandshakeState, NoiseError, NoiseHash, Pattern,
};
use crate::ranges::RangeSet;
use crate::recovery::{
    AckError, CongestionControl, Pacer, PathRecovery, RecoveryConfig, RttEstimator, SentPacket,
    TimeoutOutcome,
};
use crate::replay::{ReplayWindow, WINDOW};
use crate::wire::{
    AckFrame, CID_LEN, ConnectionId, Frame, Frames, Header, LongHeader, LongType, MAX_LABEL_LEN,
    MAX_REASON_LEN, MAX_VARINT, PROTOCOL_VERSION, PacketView, Reader, varint_len, write_varint,
};
use crate::{ChannelId, Event};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The function a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs` and the corpus
/// directory `fuzz/corpus/<name>/`) and the function it runs.
pub const TARGETS: &[(&str, Target)] = &[
    ("header_decode", header_decode),
    ("frames", frames),
    ("transport_params", transport_params),
    ("noise_responder", noise_responder),
    ("noise_initiator", noise_initiator),
    ("retry", retry),
    ("ack_ranges", ack_ranges),
    ("range_set", range_set),
    ("channel_reassembly", channel_reassembly),
    ("replay_window", replay_window),
    ("endpoint", endpoint),
    ("congestion", congestion),
    ("identity_text", identity_text),
    ("connection_frames", connection_frames),
];

/// Largest datagram any endpoint in these harnesses may send (the default
/// `max_datagram_size`; PROTOCOL.md §3.4).
const MDS: usize = 1200;

// ----- small input helpers ------------------------------------------------------------

/// A cursor over hand-formatted fuzz input; every read is total (short reads are clamped).
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A big-endian `u16` (a single remaining byte is read as the low byte).
    fn u16(&mut self) -> Option<u16> {
        let hi = self.u8()?;
        match self.u8() {
            Some(lo) => Some(u16::from_be_bytes([hi, lo])),
            None => Some(u16::from(hi)),
        }
    }

    /// Up to `n` bytes.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// `u16` length prefix, then that many bytes (clamped).
    fn prefixed(&mut self) -> &'a [u8] {
        let n = self.u16().unwrap_or(0);
        self.take(usize::from(n))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Appends `u16 length ‖ bytes` (the inverse of [`Input::prefixed`]).
fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(n)]);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks a datagram an endpoint wrote: within the size limit and well formed.
fn check_transmit(size: usize, buf: &[u8]) {
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

// ----- fixed keys and reference handshakes ------------------------------------------------

/// Key pairs used by every harness (immutable, computed once).
struct Keys {
    /// The dialer.
    initiator: Keypair,
    /// The listener.
    responder: Keypair,
    /// A third node nobody expects.
    stranger: Keypair,
    psk: [u8; 32],
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        initiator: Keypair::from_seed([1; 32]),
        responder: Keypair::from_seed([2; 32]),
        stranger: Keypair::from_seed([3; 32]),
        psk: [0x5a; 32],
    })
}

/// Prologue of the handshake harnesses (the endpoint uses the real one).
const PROLOGUE: &[u8] = b"netchan fuzz prologue";
/// Fixed ephemeral secrets, so that reference transcripts are reproducible.
const E_INITIATOR: [u8; 32] = [0x11; 32];
const E_RESPONDER: [u8; 32] = [0x22; 32];
/// Packet number and plaintext of the probe packets that prove two sides share keys.
const PROBE_PN: u64 = 7;
const PROBE_TEXT: &[u8] = b"probe: both sides derived the same packet keys";

/// Handshake variant: pattern, psk2 modifier, hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NoiseMode {
    ik: bool,
    psk: bool,
    blake2s: bool,
}

impl NoiseMode {
    /// Bits 0 (IK), 1 (psk) and 2 (BLAKE2s) of a flags byte.
    fn from_bits(b: u8) -> Self {
        Self {
            ik: b & 1 != 0,
            psk: b & 2 != 0,
            blake2s: b & 4 != 0,
        }
    }

    fn bits(self) -> u8 {
        u8::from(self.ik) | u8::from(self.psk) << 1 | u8::from(self.blake2s) << 2
    }

    fn all() -> impl Iterator<Item = Self> {
        (0..8).map(Self::from_bits)
    }

    fn pattern(self) -> Pattern {
        if self.ik { Pattern::IK } else { Pattern::XX }
    }

    /// A node's `NoiseConfig` in this mode.
    fn config(self, kp: &Keypair) -> NoiseConfig {
        let cfg = NoiseConfig::new(kp.clone()).with_hash(if self.blake2s {
            NoiseHashChoice::Blake2s
        } else {
            NoiseHashChoice::Blake3
        });
        if self.psk {
            cfg.with_psk(keys().psk)
        } else {
            cfg
        }
    }
}

/// The genuine handshake between the fixed initiator and responder in one mode.
struct Transcript {
    /// Session-level message 1 (starts with the pattern byte).
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    /// Empty for IK.
    msg3: Vec<u8>,
    /// A packet sealed by the initiator's packet protection (`[header ‖ sealed]`).
    initiator_probe: Vec<u8>,
    /// A packet sealed by the responder's packet protection.
    responder_probe: Vec<u8>,
}

/// Header of the probe packets (its length is the associated data).
const PROBE_HEADER: [u8; 11] = [0x80, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x07];

fn probe(p: &mut dyn PacketProtection) -> Vec<u8> {
    let mut pkt = PROBE_HEADER.to_vec();
    pkt.extend_from_slice(PROBE_TEXT);
    p.seal(0, PROBE_PN, &mut pkt, PROBE_HEADER.len());
    pkt
}

/// Asserts that `p` opens a probe sealed by the other side of the same handshake.
fn assert_opens_probe(p: &mut dyn PacketProtection, sealed: &[u8]) {
    let (header, body) = sealed.split_at(PROBE_HEADER.len());
    let mut body = body.to_vec();
    let len = p
        .open(0, PROBE_PN, false, header, &mut body)
        .expect("both sides of one handshake derive the same packet keys");
    assert_eq!(&body[..len], PROBE_TEXT);
}

/// Transport parameters the reference initiator sends.
fn initiator_params() -> Vec<u8> {
    let mut p = TransportConfig::default().local_params();
    p.timestamp_ms = Some(1_700_000_000_000);
    let mut out = Vec::new();
    p.encode(&mut out);
    out
}

/// Transport parameters the reference responder sends.
fn responder_params() -> Vec<u8> {
    let mut p = TransportConfig::default().local_params();
    p.connection_id = Some([0, 1, 2, 3, 4, 5, 6, 7]);
    let mut out = Vec::new();
    p.encode(&mut out);
    out
}

fn build_transcript(mode: NoiseMode) -> Transcript {
    let k = keys();
    let peer = mode.ik.then(|| k.responder.public().0);
    let mut i = mode
        .config(&k.initiator)
        .start_initiator(E_INITIATOR, peer, PROLOGUE)
        .expect("reference initiator");
    let mut r = mode
        .config(&k.responder)
        .start_responder(E_RESPONDER, PROLOGUE);
    let (mut msg1, mut msg2, mut msg3) = (Vec::new(), Vec::new(), Vec::new());
    let mut sink = Vec::new();
    i.write_message(&initiator_params(), &mut msg1)
        .expect("reference message 1");
    r.read_message(&msg1, &mut sink).expect("reference read 1");
    r.write_message(&responder_params(), &mut msg2)
        .expect("reference message 2");
    i.read_message(&msg2, &mut sink).expect("reference read 2");
    if !i.is_finished() {
        i.write_message(&initiator_params(), &mut msg3)
            .expect("reference message 3");
        r.read_message(&msg3, &mut sink).expect("reference read 3");
    }
    let mut ip = i.into_protection().expect("initiator keys");
    let mut rp = r.into_protection().expect("responder keys");
    Transcript {
        msg1,
        msg2,
        msg3,
        initiator_probe: probe(&mut *ip),
        responder_probe: probe(&mut *rp),
    }
}

fn transcript(mode: NoiseMode) -> &'static Transcript {
    static ALL: OnceLock<Vec<Transcript>> = OnceLock::new();
    let all = ALL.get_or_init(|| NoiseMode::all().map(build_transcript).collect());
    &all[usize::from(mode.bits())]
}

// ===== wire: headers, frames, transport parameters ========================================

/// Target `header_decode`: raw bytes as a datagram.
///
/// Checks that a header that parses has the length it reports and re-emits to exactly
/// the bytes it was parsed from, that the cheap demux (`peek_dcid`, `is_netchan`) agrees
/// with the full parse, that the view splits the datagram into header and payload, that
/// a long header's handshake message lies inside the payload, and that a varint at the
/// start re-encodes canonically.
pub fn header_decode(data: &[u8]) {
    let mut r = Reader::new(data);
    if let Ok(v) = r.varint("fuzz") {
        let n = r.position();
        assert!(v <= MAX_VARINT);
        assert_eq!(varint_len(v), n, "varint {v} decoded from {n} bytes");
        let mut out = Vec::new();
        write_varint(&mut out, v);
        assert_eq!(out, data[..n], "varints are canonical");
    }
    let peek = PacketView::peek_dcid(data);
    let Ok((header, len)) = Header::parse(data) else {
        assert!(PacketView::new_checked(data).is_err());
        return;
    };
    assert_eq!(len, header.len(), "parsed length is the encoded length");
    assert!(len <= data.len());
    let mut out = vec![0xee];
    assert_eq!(header.emit(&mut out), len);
    assert_eq!(out[1..], data[..len], "headers re-emit to the parsed bytes");
    assert_eq!(peek, Some(header.dcid()), "peek_dcid agrees with the parse");
    assert!(PacketView::is_netchan(data[0]));
    let view = PacketView::new_checked(data).expect("parsed once, parses again");
    assert_eq!(*view.header(), header);
    assert_eq!(view.header_len(), len);
    assert_eq!(view.header_bytes(), &data[..len]);
    assert_eq!(view.payload(), &data[len..]);
    assert_eq!(view.as_bytes(), data);
    match header {
        Header::Long(h) => {
            assert_eq!(h.version, PROTOCOL_VERSION);
            if let Some(msg) = handshake_message(view.payload()) {
                let prefix = varint_len(msg.len() as u64);
                assert!(prefix + msg.len() <= view.payload().len());
                assert_eq!(msg, &view.payload()[prefix..prefix + msg.len()]);
            }
        }
        Header::Short(h) => {
            assert!(h.path_id <= MAX_VARINT && h.packet_number <= MAX_VARINT);
        }
    }
}

/// Checks one decoded frame: exact size, canonical re-encoding and frame-specific limits.
fn check_frame(f: &Frame<'_>, wire: &[u8]) {
    assert_eq!(f.encoded_len(), wire.len(), "encoded_len of {f:?}");
    let mut out = vec![0xee];
    f.encode(&mut out);
    assert_eq!(out[0], 0xee, "encode appends");
    assert_eq!(
        out[1..],
        *wire,
        "frames re-encode to the decoded bytes: {f:?}"
    );
    let mut r = Reader::new(wire);
    let again = Frame::decode(&mut r).expect("an encoded frame decodes");
    assert!(r.is_empty());
    assert_eq!(again, *f);
    match f {
        Frame::Ack(ack) => {
            assert!(ack.is_valid(), "decoded ACK is valid: {ack:?}");
            assert_eq!(ack.largest(), ack.ranges.first().map(|r| r.1));
        }
        Frame::ChannelData {
            channel,
            offset,
            data,
        } => {
            assert!(
                offset
                    .checked_add(data.len() as u64)
                    .is_some_and(|e| e <= MAX_VARINT)
            );
            assert_eq!(
                Frame::channel_data_overhead(*channel, *offset, data.len()) + data.len(),
                wire.len()
            );
        }
        Frame::ChannelOpen { label, .. } => assert!(label.len() <= MAX_LABEL_LEN),
        Frame::ConnectionClose { reason, .. } => assert!(reason.len() <= MAX_REASON_LEN),
        Frame::Padding { len } => assert!(*len >= 1 && wire.iter().all(|&b| b == 0)),
        _ => {}
    }
    assert_eq!(
        f.is_ack_eliciting(),
        !matches!(
            f,
            Frame::Padding { .. } | Frame::Ack(_) | Frame::ConnectionClose { .. }
        )
    );
}

/// Target `frames`: raw bytes as a decrypted packet payload.
///
/// Every frame the iterator yields must re-encode to exactly the bytes it was decoded
/// from, with `encoded_len` equal to that size, and decode again to the same value; the
/// frames before the first error re-encode to exactly that prefix of the payload; the
/// iterator is fused after an error.
pub fn frames(data: &[u8]) {
    let mut it = Frames::new(data);
    let mut reencoded = Vec::new();
    loop {
        let before = it.position();
        match it.next() {
            None => break,
            Some(Ok(f)) => {
                let after = it.position();
                assert!(after > before, "every frame consumes input");
                check_frame(&f, &data[before..after]);
                f.encode(&mut reencoded);
            }
            Some(Err(_)) => {
                assert!(it.next().is_none(), "iterator stops after an error");
                break;
            }
        }
    }
    assert!(it.next().is_none());
    assert_eq!(
        reencoded,
        data[..reencoded.len()],
        "decoded frames re-encode to the payload prefix they came from"
    );
}

/// Target `transport_params`: raw bytes as a transport parameter block.
///
/// A block that decodes re-encodes to a block that decodes to the same value and is a
/// fixed point of encode∘decode; decoded values respect the documented limits; more
/// than `MAX_ENTRIES` entries never decode.
pub fn transport_params(data: &[u8]) {
    let Ok(p) = TransportParams::decode(data) else {
        return;
    };
    assert!(p.max_datagram_size >= 1200, "0x07 below 1200 is rejected");
    assert!(p.max_ack_delay_ms <= 1 << 14, "0x02 is clamped");
    if let Some(cid) = p.connection_id {
        assert!(cid[0] < 0x40, "a CID parameter is a varint: top bits zero");
    }
    let mut entries = 0;
    let mut r = Reader::new(data);
    while !r.is_empty() {
        r.varint("id").expect("decoded once");
        r.varint("value").expect("decoded once");
        entries += 1;
    }
    assert!(entries <= TransportParams::MAX_ENTRIES);
    let mut enc = Vec::new();
    p.encode(&mut enc);
    let again = TransportParams::decode(&enc).expect("an encoded block decodes");
    assert_eq!(again, p, "decode(encode(p)) == p");
    let mut enc2 = Vec::new();
    again.encode(&mut enc2);
    assert_eq!(enc, enc2, "encoding is deterministic");
}

// ===== identity ==============================================================================

/// Target `identity_text`: bytes as key text (UTF-8) or raw key bytes.
///
/// A printable public key that parses prints back as its lowercase form, and the
/// lowercase and uppercase forms parse to the same key; a secret key text that parses
/// gives a key pair whose own secret text parses to the same key pair; a peer address
/// that parses splits at its first `@` into a key and a non-empty address.
pub fn identity_text(data: &[u8]) {
    if let Ok(k) = PublicKey::from_slice(data) {
        assert_eq!(data.len(), 32);
        assert_eq!(k.to_string().parse::<PublicKey>(), Ok(k));
    }
    if data.len() == 32 {
        let kp = Keypair::from_bytes(data).expect("32 bytes are a secret");
        let again = Keypair::from_bytes(&kp.to_bytes()).expect("32 bytes");
        assert_eq!(again.public(), kp.public(), "clamping is idempotent");
        assert_eq!(again.to_bytes(), kp.to_bytes());
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match s.parse::<PublicKey>() {
        Ok(k) => {
            assert_eq!(s.len(), crate::identity::KEY_TEXT_LEN);
            assert_eq!(k.to_string(), s.to_ascii_lowercase(), "one printable form");
            assert_eq!(s.to_ascii_uppercase().parse::<PublicKey>(), Ok(k));
        }
        Err(KeyError::TextLength { found }) => assert_eq!(found, s.len()),
        Err(KeyError::InvalidCharacter { position }) => assert!(position < s.len()),
        Err(_) => {}
    }
    if let Ok(kp) = Keypair::from_secret_text(s) {
        assert!(
            s.len() == crate::identity::KEY_TEXT_LEN || s.len() == crate::identity::KEY_HEX_LEN
        );
        let text = kp.secret_text();
        assert_eq!(text.len(), crate::identity::KEY_TEXT_LEN);
        let again = Keypair::from_secret_text(&text).expect("own secret text parses");
        assert_eq!(again.public(), kp.public());
        assert_eq!(again.secret_bytes(), kp.secret_bytes());
    }
    match parse_peer_address(s) {
        Ok((k, addr)) => {
            assert!(!addr.is_empty());
            let (key_text, rest) = s.split_once('@').expect("has an @");
            assert_eq!(rest, addr);
            assert_eq!(key_text.parse::<PublicKey>(), Ok(k));
        }
        Err(KeyError::MissingAt) => assert!(!s.contains('@')),
        Err(KeyError::EmptyAddress) => assert!(s.ends_with('@')),
        Err(_) => {}
    }
}

// ===== Noise handshakes =========================================================================

/// Which static key an allow-list holds: bits 3–4 of a flags byte (0 or 3: no list).
fn allow_list(flags: u8, expected: &Keypair) -> Option<[u8; 32]> {
    match (flags >> 3) & 3 {
        1 => Some(expected.public().0),
        2 => Some(keys().stranger.public().0),
        _ => None,
    }
}

/// Target `noise_responder`: the listener reading handshake messages 1 and 3.
///
/// Input: `flags ‖ len (u16) ‖ message 1 ‖ message 3`. Flags: bits 0–2 the mode (IK,
/// psk, BLAKE2s; it selects the reference transcript and the psk/hash of the listener),
/// bits 3–4 an allow-list (none / the genuine dialer / a stranger), bit 5 the raw
/// `HandshakeState` instead of the endpoint's session (bit 6 then pins the dialer's key).
///
/// Session: a message that reads must leave the session ready to write message 2; an
/// authenticated dialer identity respects the allow-list; a finished handshake yields
/// packet keys, which match the reference dialer's for the genuine messages; a rejected
/// message 3 does not prevent the genuine one from completing the handshake. Raw state:
/// a failed read makes the state unusable for good, an out-of-turn read changes nothing.
pub fn noise_responder(data: &[u8]) {
    let mut input = Input(data);
    let Some(flags) = input.u8() else {
        return;
    };
    let mode = NoiseMode::from_bits(flags);
    let msg1 = input.prefixed();
    let msg3 = input.rest();
    if flags & 0x20 == 0 {
        responder_session(mode, flags, msg1, msg3);
    } else if mode.blake2s {
        responder_raw::<Blake2s>(mode, flags & 0x40 != 0, msg1, msg3);
    } else {
        responder_raw::<Blake3>(mode, flags & 0x40 != 0, msg1, msg3);
    }
}

fn responder_session(mode: NoiseMode, flags: u8, msg1: &[u8], msg3: &[u8]) {
    let k = keys();
    let genuine = transcript(mode);
    let allow = allow_list(flags, &k.initiator);
    let mut cfg = mode.config(&k.responder);
    if let Some(key) = allow {
        cfg = cfg.allow_only([PublicKey(key)]);
    }
    let mut s = cfg.start_responder(E_RESPONDER, PROLOGUE);
    let mut payload = Vec::new();
    if s.read_message(msg1, &mut payload).is_err() {
        assert!(payload.is_empty(), "a failed read yields no payload");
        assert!(!s.is_finished());
        return;
    }
    let identity = s.peer_identity();
    if msg1.first() == Some(&0x01) {
        assert!(identity.is_some(), "IK message 1 authenticates the dialer");
    } else {
        assert!(identity.is_none(), "XX message 1 carries no identity");
    }
    if let (Some(allowed), Some(id)) = (allow, identity) {
        assert_eq!(id, allowed, "allow-list bypassed");
    }
    assert!(s.is_my_turn(), "message 2 is due after message 1");
    let mut msg2 = Vec::new();
    s.write_message(&responder_params(), &mut msg2)
        .expect("message 2 can always be written after message 1");
    let is_genuine1 = msg1 == genuine.msg1;
    if is_genuine1 {
        assert_eq!(msg2, genuine.msg2, "the handshake is deterministic");
    }
    if !s.is_finished() {
        let mut p3 = Vec::new();
        match s.read_message(msg3, &mut p3) {
            Ok(()) => {}
            Err(_) => {
                assert!(p3.is_empty() && !s.is_finished());
                if !is_genuine1 {
                    return;
                }
                // Reads happen on a copy: the genuine message 3 still completes.
                let r = s.read_message(&genuine.msg3, &mut p3);
                if allow == Some(k.stranger.public().0) {
                    assert_eq!(r, Err(CryptoError::PeerRefused));
                    return;
                }
                r.expect("the genuine message 3 after a rejected one");
            }
        }
        let id = s
            .peer_identity()
            .expect("message 3 authenticates the dialer");
        if let Some(allowed) = allow {
            assert_eq!(id, allowed, "allow-list bypassed");
        }
    }
    assert!(s.is_finished());
    let mut p = s.into_protection().expect("a finished handshake has keys");
    if is_genuine1 {
        // After the genuine message 1 nobody but the genuine dialer can finish (its
        // ephemeral key is in every later key): the keys are the reference keys.
        assert_opens_probe(&mut *p, &genuine.initiator_probe);
    }
}

/// Raw handshake states prepared once per hash (creating one computes public keys):
/// fresh responders by `(ik, psk, pin)` and initiators that wrote message 1 by
/// `(ik, psk)`. Every input works on its own clone.
struct RawStates<H: NoiseHash> {
    responders: Vec<HandshakeState<H>>,
    initiators: Vec<HandshakeState<H>>,
}

/// A Noise hash with its [`RawStates`].
trait CachedHash: NoiseHash + Sized {
    fn states() -> &'static RawStates<Self>;
}

impl CachedHash for Blake3 {
    fn states() -> &'static RawStates<Self> {
        static STATES: OnceLock<RawStates<Blake3>> = OnceLock::new();
        STATES.get_or_init(|| RawStates::build(false))
    }
}

impl CachedHash for Blake2s {
    fn states() -> &'static RawStates<Self> {
        static STATES: OnceLock<RawStates<Blake2s>> = OnceLock::new();
        STATES.get_or_init(|| RawStates::build(true))
    }
}

impl<H: NoiseHash> RawStates<H> {
    fn build(blake2s: bool) -> Self {
        let k = keys();
        let mode = |i: u8| NoiseMode::from_bits(i & 3 | u8::from(blake2s) << 2);
        let responders = (0..8u8)
            .map(|i| {
                HandshakeState::new(HandshakeConfig {
                    pattern: mode(i).pattern(),
                    initiator: false,
                    prologue: PROLOGUE,
                    local_static: *k.responder.secret_bytes(),
                    remote_static: (i & 4 != 0).then(|| k.initiator.public().0),
                    psk: mode(i).psk.then_some(k.psk),
                    ephemeral: E_RESPONDER,
                })
                .expect("responder state")
            })
            .collect();
        let initiators = (0..4u8)
            .map(|i| {
                let mode = mode(i);
                let mut hs = HandshakeState::new(HandshakeConfig {
                    pattern: mode.pattern(),
                    initiator: true,
                    prologue: PROLOGUE,
                    local_static: *k.initiator.secret_bytes(),
                    remote_static: mode.ik.then(|| k.responder.public().0),
                    psk: mode.psk.then_some(k.psk),
                    ephemeral: E_INITIATOR,
                })
                .expect("initiator state");
                let mut msg1 = Vec::new();
                let p1 = if mode.ik {
                    initiator_params()
                } else {
                    Vec::new()
                };
                hs.write_message(&p1, &mut msg1).expect("message 1");
                assert_eq!(
                    msg1,
                    transcript(mode).msg1[1..],
                    "the raw handshake matches the session's"
                );
                hs
            })
            .collect();
        Self {
            responders,
            initiators,
        }
    }
}

fn responder_raw<H: CachedHash>(mode: NoiseMode, pin: bool, msg1: &[u8], msg3: &[u8]) {
    let k = keys();
    let index = usize::from(mode.bits() & 3 | u8::from(pin) << 2);
    let mut hs = H::states().responders[index].clone();
    let mut p = Vec::new();
    if hs.read_message(msg1, &mut p).is_err() {
        assert_raw_unusable(&mut hs, msg1, &p);
        return;
    }
    assert_eq!(
        hs.read_message(msg1, &mut Vec::new()),
        Err(NoiseError::WrongTurn),
        "a read out of turn is refused"
    );
    assert!(!hs.is_unusable(), "WrongTurn leaves the state usable");
    if mode.ik {
        assert!(hs.remote_static().is_some());
    }
    if pin && let Some(rs) = hs.remote_static() {
        assert_eq!(rs, k.initiator.public().0, "pinned key bypassed");
    }
    let mut msg2 = Vec::new();
    hs.write_message(&responder_params(), &mut msg2)
        .expect("message 2 after message 1");
    if !hs.is_finished() {
        let mut p3 = Vec::new();
        if hs.read_message(msg3, &mut p3).is_err() {
            assert_raw_unusable(&mut hs, msg3, &p3);
            assert!(matches!(hs.split(), Err(NoiseError::Unusable)));
            return;
        }
        let rs = hs
            .remote_static()
            .expect("XX message 3 carries the dialer's key");
        if pin {
            assert_eq!(rs, k.initiator.public().0, "pinned key bypassed");
        }
    }
    assert!(hs.is_finished() && !hs.is_my_turn());
    hs.split().expect("finished handshakes split");
}

/// After a failed read: nothing was output and the state refuses everything.
fn assert_raw_unusable<H: NoiseHash>(hs: &mut HandshakeState<H>, msg: &[u8], payload: &[u8]) {
    assert!(payload.is_empty(), "a failed read yields no payload");
    assert!(hs.is_unusable(), "a failed read makes the state unusable");
    assert_eq!(
        hs.read_message(msg, &mut Vec::new()),
        Err(NoiseError::Unusable)
    );
    let mut out = Vec::new();
    assert_eq!(hs.write_message(b"", &mut out), Err(NoiseError::Unusable));
    assert!(out.is_empty());
}

/// Target `noise_initiator`: the dialer reading message 2 after a real message 1.
///
/// Input: `flags ‖ message 2`. Flags: bits 0–2 the mode (IK = the listener's key is
/// pinned), bits 3–4 a dialer allow-list of listener keys, bit 5 the raw
/// `HandshakeState`.
///
/// Message 1 is identical to the reference (the handshake is deterministic). When the
/// listener is authenticated by a pinned key or a psk, only the listener's genuine
/// message 2 reads; after a read the handshake finishes (writing message 3 for XX) with
/// packet keys that match the listener's; a rejected message 2 leaves the session able
/// to complete with the genuine one (session) or unusable (raw state).
pub fn noise_initiator(data: &[u8]) {
    let mut input = Input(data);
    let Some(flags) = input.u8() else {
        return;
    };
    let mode = NoiseMode::from_bits(flags);
    let msg2 = input.rest();
    if flags & 0x20 == 0 {
        initiator_session(mode, flags, msg2);
    } else if mode.blake2s {
        initiator_raw::<Blake2s>(mode, msg2);
    } else {
        initiator_raw::<Blake3>(mode, msg2);
    }
}

fn initiator_session(mode: NoiseMode, flags: u8, msg2: &[u8]) {
    let k = keys();
    let genuine = transcript(mode);
    let allow = allow_list(flags, &k.responder);
    let mut cfg = mode.config(&k.initiator);
    if let Some(key) = allow {
        cfg = cfg.allow_only([PublicKey(key)]);
    }
    let peer = mode.ik.then(|| k.responder.public().0);
    let mut s = cfg
        .start_initiator(E_INITIATOR, peer, PROLOGUE)
        .expect("initiator session");
    let mut msg1 = Vec::new();
    s.write_message(&initiator_params(), &mut msg1)
        .expect("message 1");
    assert_eq!(msg1, genuine.msg1, "the handshake is deterministic");
    let mut payload = Vec::new();
    let read_genuine = match s.read_message(msg2, &mut payload) {
        Ok(()) => {
            if mode.ik || mode.psk {
                assert_eq!(msg2, genuine.msg2, "message 2 forged without the keys");
            }
            let id = s
                .peer_identity()
                .expect("message 2 identifies the listener");
            if mode.ik {
                assert_eq!(id, k.responder.public().0, "pinned key bypassed");
            }
            if let Some(allowed) = allow {
                assert_eq!(id, allowed, "allow-list bypassed");
            }
            msg2 == genuine.msg2
        }
        Err(_) => {
            assert!(payload.is_empty() && !s.is_finished());
            let r = s.read_message(&genuine.msg2, &mut payload);
            if allow == Some(k.stranger.public().0) {
                assert_eq!(r, Err(CryptoError::PeerRefused));
                return;
            }
            r.expect("the genuine message 2 after a rejected one");
            true
        }
    };
    if !s.is_finished() {
        let mut msg3 = Vec::new();
        s.write_message(&initiator_params(), &mut msg3)
            .expect("message 3 after message 2");
    }
    assert!(s.is_finished());
    let mut p = s.into_protection().expect("a finished handshake has keys");
    if read_genuine {
        assert_opens_probe(&mut *p, &genuine.responder_probe);
    }
}

fn initiator_raw<H: CachedHash>(mode: NoiseMode, msg2: &[u8]) {
    let genuine = transcript(mode);
    let mut hs = H::states().initiators[usize::from(mode.bits() & 3)].clone();
    let mut p = Vec::new();
    if hs.read_message(msg2, &mut p).is_err() {
        assert_raw_unusable(&mut hs, msg2, &p);
        return;
    }
    if mode.ik || mode.psk {
        assert_eq!(msg2, genuine.msg2, "message 2 forged without the keys");
    }
    assert!(hs.remote_static().is_some());
    if !hs.is_finished() {
        let mut msg3 = Vec::new();
        hs.write_message(&initiator_params(), &mut msg3)
            .expect("message 3 after message 2");
    }
    hs.split().expect("finished handshakes split");
}

// ===== endpoints: shared helpers ===============================================================

const DIALER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    1000,
);
const LISTENER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    2000,
);
/// Addresses injected datagrams may claim to come from.
const SOURCES: [SocketAddr; 4] = [
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
fn with_header(first: u8, dcid: ConnectionId, scid: ConnectionId, payload: &[u8]) -> Vec<u8> {
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
struct EventLog {
    closed: HashSet<ConnectionHandle>,
    connected: HashSet<ConnectionHandle>,
    /// Opened channels seen, per connection (for application operations).
    channels: Vec<(ConnectionHandle, ChannelId)>,
}

impl EventLog {
    /// Drains the endpoint's events, reading every readable channel and datagram.
    fn drain(&mut self, ep: &mut Endpoint) {
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
                | Event::ChannelReset { .. } => {}
            }
        }
    }
}

/// Drains an endpoint's datagrams (checked) into `out` as `(destination, bytes)`.
fn drain_transmits(ep: &mut Endpoint, now: Instant, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
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
type SharedProtection = Arc<Mutex<Box<dyn PacketProtection>>>;

/// Protections created by one endpoint's handshakes, and optionally every plaintext they
/// opened (to capture real frame payloads for the corpus).
#[derive(Debug, Default, Clone)]
struct Registry(Arc<Mutex<RegistryInner>>);

#[derive(Debug, Default)]
struct RegistryInner {
    protections: Vec<SharedProtection>,
    capture: bool,
    opened: Vec<Vec<u8>>,
}

/// The real Noise configuration, whose sessions hand their `AeadProtection` to a
/// [`Registry`] as well as to the connection. Everything else is delegated.
#[derive(Debug)]
struct CaptureCrypto {
    inner: NoiseConfig,
    registry: Registry,
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
struct CaptureSession {
    inner: Box<dyn HandshakeSession>,
    registry: Registry,
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
struct Shared {
    shared: SharedProtection,
    registry: Registry,
}

impl PacketProtection for Shared {
    fn tag_len(&self) -> usize {
        lock(&self.shared).tag_len()
    }

    fn key_phase(&self) -> bool {
        lock(&self.shared).key_phase()
    }

    fn seal(&mut self, path_id: u64, packet_number: u64, packet: &mut Vec<u8>, header_len: usize) {
        lock(&self.shared).seal(path_id, packet_number, packet, header_len);
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
struct Pair {
    client: Endpoint,
    server: Endpoint,
    client_registry: Registry,
    server_registry: Registry,
    client_log: EventLog,
    server_log: EventLog,
    now: Instant,
    /// Every datagram sent, when capturing (for the corpus).
    sent: Option<Vec<Vec<u8>>>,
    client_handle: Option<ConnectionHandle>,
}

impl Pair {
    fn new(now: Instant, transport: TransportConfig) -> Self {
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
    fn exchange(&mut self) -> usize {
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
                if i < from_client {
                    self.server.handle_datagram(self.now, DIALER_ADDR, &d);
                } else if dest == DIALER_ADDR {
                    self.client.handle_datagram(self.now, LISTENER_ADDR, &d);
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
    fn tick(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.exchange();
    }

    /// Connects (IK when `pinned`, else XX); true when both sides are connected.
    fn connect(&mut self, pinned: bool) -> bool {
        let key = pinned.then(|| keys().responder.public().0);
        let Ok(h) = self.client.connect_with(self.now, LISTENER_ADDR, key) else {
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

    fn server_handle(&self) -> Option<ConnectionHandle> {
        self.server_log.connected.iter().next().copied()
    }
}

// ===== the dialer facing its listener: Retry and Handshake packets ============================

/// Seed of the dialer endpoint in `retry` (and of its reference datagrams).
const RETRY_DIALER_SEED: u64 = 0xd1a1;
/// Seed of the reference listener.
const RETRY_LISTENER_SEED: u64 = 0x11de;

fn retry_dialer(now: Instant, pinned: bool) -> (Endpoint, ConnectionHandle) {
    let k = keys();
    let crypto = Arc::new(NoiseConfig::new(k.initiator.clone()));
    let mut ep = Endpoint::new(
        EndpointConfig::seeded_for_tests(crypto, RETRY_DIALER_SEED),
        now,
    );
    let peer = pinned.then(|| k.responder.public().0);
    let h = ep
        .connect_with(now, LISTENER_ADDR, peer)
        .expect("a fresh endpoint can dial");
    (ep, h)
}

/// The genuine datagrams of one dialer (pinned or not) and the reference listener.
struct RetryReference {
    initial: Vec<u8>,
    /// The listener's Retry when under load.
    retry: Vec<u8>,
    /// The listener's Handshake answer.
    handshake: Vec<u8>,
}

fn retry_reference(pinned: bool) -> &'static RetryReference {
    static REF: OnceLock<[RetryReference; 2]> = OnceLock::new();
    let all = REF.get_or_init(|| {
        [false, true].map(|pinned| {
            let now = Instant::now();
            let (mut dialer, _) = retry_dialer(now, pinned);
            let mut out = Vec::new();
            drain_transmits(&mut dialer, now, &mut out);
            let initial = out.swap_remove(0).1;
            let answer = |load_limit: u64| {
                let crypto = Arc::new(NoiseConfig::new(keys().responder.clone()));
                let mut cfg = EndpointConfig::seeded_for_tests(crypto, RETRY_LISTENER_SEED);
                cfg.handshake_load_limit = load_limit;
                let mut listener = Endpoint::new(cfg, now);
                listener.handle_datagram(now, DIALER_ADDR, &initial);
                let mut out = Vec::new();
                drain_transmits(&mut listener, now, &mut out);
                out.swap_remove(0).1
            };
            RetryReference {
                retry: answer(0),
                handshake: answer(200),
                initial,
            }
        })
    });
    &all[usize::from(pinned)]
}

/// Builds a datagram "from the listener" for `retry`; see there.
fn retry_datagram_from(hb: u8, body: &[u8], original: ConnectionId, own: ConnectionId) -> Vec<u8> {
    match hb & 3 {
        0 => body.to_vec(),
        1 => with_header(0xa0 | ((hb >> 2) & 0x0f), own, original, body),
        2 => {
            let (scid, rest) = body.split_at(body.len().min(CID_LEN));
            let mut cid = [0u8; CID_LEN];
            cid[..scid.len()].copy_from_slice(scid);
            with_header(0xa0 | ((hb >> 2) & 0x0f), own, ConnectionId(cid), rest)
        }
        _ => with_header(0x80 | (hb & 0x04), own, own, body),
    }
}

/// Target `retry`: a dialer that sent its Initial receives datagrams from the listener's
/// address (Retry, Handshake and anything else) and timer and application calls.
///
/// Input: `flags` (bit 0: the listener's key is pinned, IK) then records; a record's
/// first byte `op`: `op % 4` 0 or 1 = a datagram `hb ‖ len (u16) ‖ body`, 2 = advance
/// time by `8·b + 1` ms for the next byte `b`, 3 = an application call chosen by the next
/// byte. Datagram header byte `hb`: bits 0–1 = 0 raw body, 1 long header (type in bits
/// 2–5) to the dialer's CID with the original DCID as SCID, 2 the same with the SCID
/// taken from the body's first 8 bytes, 3 a short header to the dialer's CID (key phase
/// bit 2); bit 7: sent from an address other than the listener's.
///
/// Checks (PROTOCOL.md §4.1): every datagram sent is well formed and within the size
/// limit; an Initial is sent at once in answer to a datagram only for a Retry to the
/// dialer's CID whose SCID is the original DCID and whose payload is 32 bytes, at most 3
/// times; every Initial repeats the first one byte for byte up to and including mac1, with
/// a zero mac2 until a Retry was accepted and a non-zero one after; at most one
/// connection, `Connected` at most once.
pub fn retry(data: &[u8]) {
    let mut input = Input(data);
    let Some(flags) = input.u8() else {
        return;
    };
    let pinned = flags & 1 != 0;
    let reference = retry_reference(pinned);
    let mut now = Instant::now();
    let (mut d, h) = retry_dialer(now, pinned);
    let mut out = Vec::new();
    drain_transmits(&mut d, now, &mut out);
    assert_eq!(out.len(), 1, "the Initial leaves at once, alone");
    assert_eq!(out[0].1, reference.initial, "the dialer is deterministic");
    let Ok((Header::Long(initial_hdr), _)) = Header::parse(&reference.initial) else {
        unreachable!("the reference Initial parses");
    };
    let (original, own) = (initial_hdr.dcid, initial_hdr.scid);
    let covered = reference.initial.len() - crate::crypto::gate::MAC_LEN;
    let mut log = EventLog::default();
    let mut answered = 0;
    let mut cookie = false;
    for _ in 0..64 {
        let Some(op) = input.u8() else {
            break;
        };
        let mut retry_like = false;
        let mut from_timer = false;
        match op % 4 {
            0 | 1 => {
                let hb = input.u8().unwrap_or(0);
                let body = input.prefixed();
                let datagram = retry_datagram_from(hb, body, original, own);
                let from = if hb & 0x80 != 0 {
                    SOURCES[1]
                } else {
                    LISTENER_ADDR
                };
                retry_like = datagram.len() == 21 + 2 * crate::crypto::gate::MAC_LEN
                    && matches!(
                        Header::parse(&datagram),
                        Ok((Header::Long(l), _))
                            if l.ty == LongType::Retry && l.dcid == own && l.scid == original
                    );
                d.handle_datagram(now, from, &datagram);
            }
            2 => {
                let ms = u64::from(input.u8().unwrap_or(0)) * 8 + 1;
                now += Duration::from_millis(ms);
                d.handle_timeout(now);
                from_timer = true;
            }
            _ => {
                let c = input.u8().unwrap_or(0);
                if let Some(conn) = d.connection(h) {
                    match c % 4 {
                        0 => {
                            if let Ok(ch) = conn.open_channel(b"fuzz") {
                                let _ = conn.send(ch, b"hello");
                            }
                        }
                        1 => {
                            let _ = conn.send_datagram(Bytes::from_static(b"datagram"));
                        }
                        2 => conn.close(now, u64::from(c), b"fuzz"),
                        _ => conn.shutdown(),
                    }
                }
            }
        }
        out.clear();
        drain_transmits(&mut d, now, &mut out);
        for (dest, dg) in &out {
            assert_eq!(
                *dest, LISTENER_ADDR,
                "the dialer only talks to its listener"
            );
            if dg.first() != Some(&0xa0) {
                continue;
            }
            assert_eq!(dg.len(), reference.initial.len());
            assert_eq!(
                dg[..covered],
                reference.initial[..covered],
                "an Initial repeats the first one up to and including mac1"
            );
            let mac2_zero = dg[covered..].iter().all(|&b| b == 0);
            if !from_timer {
                assert!(
                    retry_like,
                    "an Initial answered a datagram that is no Retry"
                );
                answered += 1;
                assert!(answered <= 3, "more than 3 Retries followed");
                cookie = true;
            }
            assert_eq!(
                mac2_zero, !cookie,
                "mac2 is set exactly once a Retry was accepted"
            );
        }
        log.drain(&mut d);
        assert!(d.connection_count() <= 1);
    }
}

// ===== a whole endpoint pair under an adversarial network =====================================

/// Endpoint settings decoded from the front of the `endpoint` input.
#[derive(Debug, Arbitrary)]
struct NetSetup {
    max_connections: u8,
    load_limit: u8,
    accept: bool,
    psk: bool,
    blake2s: bool,
    allow: u8,
    per_source: u8,
    short_idle: bool,
    keepalive: bool,
}

/// One step of the `endpoint` harness. `to_listener` picks the queue of datagrams in
/// flight towards the listener (else towards the dialer).
#[derive(Debug, Arbitrary)]
enum NetOp {
    Connect {
        pinned: bool,
        wrong_key: bool,
    },
    Deliver {
        to_listener: bool,
        index: u8,
    },
    DeliverAll,
    Drop {
        to_listener: bool,
        index: u8,
    },
    Duplicate {
        to_listener: bool,
        index: u8,
    },
    Corrupt {
        to_listener: bool,
        index: u8,
        at: u16,
        xor: u8,
    },
    Truncate {
        to_listener: bool,
        index: u8,
        len: u16,
    },
    Reroute {
        to_listener: bool,
        index: u8,
        from: u8,
    },
    Inject {
        to_listener: bool,
        from: u8,
        datagram: Vec<u8>,
    },
    InjectRouted {
        to_listener: bool,
        from: u8,
        first: u8,
        cid: u8,
        payload: Vec<u8>,
    },
    Advance {
        ms: u16,
    },
    AdvanceToTimer,
    App {
        listener_side: bool,
        conn: u8,
        action: AppAction,
    },
    SetAccept(bool),
}

/// An application call on one connection.
#[derive(Debug, Arbitrary)]
enum AppAction {
    Open,
    Send { channel: u8, len: u16 },
    SendDatagram { len: u8 },
    CloseChannel { channel: u8 },
    Close { code: u8 },
    Shutdown,
}

/// The `endpoint` harness state.
struct Net {
    dialer: Endpoint,
    listener: Endpoint,
    dialer_log: EventLog,
    listener_log: EventLog,
    /// Datagrams in flight: `(source, bytes)`.
    to_listener: VecDeque<(SocketAddr, Vec<u8>)>,
    to_dialer: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Connection IDs seen on the wire (to route injected packets).
    cids: Vec<ConnectionId>,
    max_connections: usize,
    now: Instant,
}

/// Datagrams kept in flight per direction (the oldest are lost beyond).
const MAX_IN_FLIGHT: usize = 128;

impl Net {
    fn queue(&mut self, to_listener: bool) -> &mut VecDeque<(SocketAddr, Vec<u8>)> {
        if to_listener {
            &mut self.to_listener
        } else {
            &mut self.to_dialer
        }
    }

    fn take(&mut self, to_listener: bool, index: u8) -> Option<(SocketAddr, Vec<u8>)> {
        let q = self.queue(to_listener);
        if q.is_empty() {
            return None;
        }
        let i = usize::from(index) % q.len();
        q.remove(i)
    }

    fn deliver(&mut self, to_listener: bool, from: SocketAddr, d: &[u8]) {
        if to_listener {
            self.listener.handle_datagram(self.now, from, d);
        } else {
            self.dialer.handle_datagram(self.now, from, d);
        }
    }

    /// Collects both sides' output into the queues and checks the invariants.
    fn settle(&mut self) {
        let mut out = Vec::new();
        drain_transmits(&mut self.dialer, self.now, &mut out);
        let from_dialer = out.len();
        drain_transmits(&mut self.listener, self.now, &mut out);
        for (i, (dest, d)) in out.into_iter().enumerate() {
            if let Some(cid) = PacketView::peek_dcid(&d)
                && self.cids.len() < 32
                && !self.cids.contains(&cid)
            {
                self.cids.push(cid);
            }
            let (to_listener, source) = if i < from_dialer {
                (true, DIALER_ADDR)
            } else if dest == DIALER_ADDR {
                (false, LISTENER_ADDR)
            } else {
                continue; // a reply to a spoofed source: lost
            };
            let q = self.queue(to_listener);
            if q.len() >= MAX_IN_FLIGHT {
                q.pop_front();
            }
            q.push_back((source, d));
        }
        self.dialer_log.drain(&mut self.dialer);
        self.listener_log.drain(&mut self.listener);
        assert!(
            self.listener.connection_count() <= self.max_connections,
            "{} connections, limit {}",
            self.listener.connection_count(),
            self.max_connections
        );
        assert!(self.dialer.connection_count() <= 3);
    }

    fn timers(&mut self) {
        self.dialer.handle_timeout(self.now);
        self.listener.handle_timeout(self.now);
    }

    fn app(&mut self, listener_side: bool, conn: u8, action: AppAction) {
        let (ep, log) = if listener_side {
            (&mut self.listener, &self.listener_log)
        } else {
            (&mut self.dialer, &self.dialer_log)
        };
        let handles: Vec<ConnectionHandle> = ep.handles().collect();
        if handles.is_empty() {
            return;
        }
        let h = handles[usize::from(conn) % handles.len()];
        let now = self.now;
        let channel = |c: u8| {
            let known: Vec<ChannelId> = log
                .channels
                .iter()
                .filter(|(x, _)| *x == h)
                .map(|(_, c)| *c)
                .collect();
            match known.get(usize::from(c)) {
                Some(&id) => id,
                None => ChannelId(u64::from(c % 8)),
            }
        };
        let Some(c) = ep.connection(h) else {
            return;
        };
        match action {
            AppAction::Open => {
                let _ = c.open_channel(b"fuzz");
            }
            AppAction::Send { channel: ch, len } => {
                let msg = vec![0x6d; usize::from(len % 4096)];
                let _ = c.send(channel(ch), &msg);
            }
            AppAction::SendDatagram { len } => {
                let _ = c.send_datagram(Bytes::from(vec![0x64; usize::from(len)]));
            }
            AppAction::CloseChannel { channel: ch } => {
                let _ = c.close_channel(channel(ch));
            }
            AppAction::Close { code } => c.close(now, u64::from(code), b"fuzz close"),
            AppAction::Shutdown => c.shutdown(),
        }
    }
}

/// Target `endpoint`: a dialer endpoint and a listener endpoint (real Noise identities)
/// joined by a network the fuzzer controls.
///
/// Input (`arbitrary`): the listener's settings (connection limit 1–3, handshake load
/// limit, acceptance, psk, hash, allow-list, per-source rate, timeouts), then operations:
/// dial, deliver / drop / duplicate / corrupt / truncate / re-source datagrams in flight,
/// inject arbitrary datagrams (raw, or with a header routed to a connection ID seen on
/// the wire) from several addresses, advance time, application calls. At the end the
/// network delivers everything for a while.
///
/// Checks: nothing panics; every datagram sent is well formed and at most 1200 bytes;
/// the listener never holds more connections than its limit; events follow the
/// connection lifecycle (one `Connected`, nothing after `Closed`, closed connections
/// forgotten).
pub fn endpoint(data: &[u8]) {
    endpoint_run(data);
}

/// `endpoint`; returns how far the input got (for seed selection).
fn endpoint_run(data: &[u8]) -> u64 {
    let mut u = Unstructured::new(data);
    let Ok(setup) = u.arbitrary::<NetSetup>() else {
        return 0;
    };
    let k = keys();
    let now = Instant::now();
    let mode = NoiseMode {
        ik: true,
        psk: setup.psk,
        blake2s: setup.blake2s,
    };
    let mut transport = TransportConfig::default();
    if setup.short_idle {
        transport.idle_timeout = Duration::from_secs(2);
        transport.handshake_timeout = Duration::from_secs(2);
    }
    if setup.keepalive {
        transport.keepalive_interval = Some(Duration::from_millis(500));
    }
    let transport = Arc::new(transport);
    let mut listener_crypto = mode.config(&k.responder);
    match setup.allow % 3 {
        1 => listener_crypto = listener_crypto.allow_only([k.initiator.public()]),
        2 => listener_crypto = listener_crypto.allow_only([k.stranger.public()]),
        _ => {}
    }
    let max_connections = 1 + usize::from(setup.max_connections % 3);
    let mut lc = EndpointConfig::seeded_for_tests(Arc::new(listener_crypto), 2);
    lc.transport = transport.clone();
    lc.max_connections = max_connections;
    lc.accept_incoming = setup.accept;
    lc.handshake_load_limit = [0, 1, 2, 200][usize::from(setup.load_limit % 4)];
    lc.handshakes_per_source_per_sec = 1 + u64::from(setup.per_source % 40);
    let mut dc = EndpointConfig::seeded_for_tests(Arc::new(mode.config(&k.initiator)), 1);
    dc.transport = transport;
    let mut net = Net {
        dialer: Endpoint::new(dc, now),
        listener: Endpoint::new(lc, now),
        dialer_log: EventLog::default(),
        listener_log: EventLog::default(),
        to_listener: VecDeque::new(),
        to_dialer: VecDeque::new(),
        cids: Vec::new(),
        max_connections,
        now,
    };
    let mut dials = 0;
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<NetOp>() else {
            break;
        };
        match op {
            NetOp::Connect { pinned, wrong_key } => {
                if dials < 3 {
                    dials += 1;
                    let key = match (pinned, wrong_key) {
                        (false, _) => None,
                        (true, false) => Some(k.responder.public().0),
                        (true, true) => Some(k.stranger.public().0),
                    };
                    let _ = net.dialer.connect_with(net.now, LISTENER_ADDR, key);
                }
            }
            NetOp::Deliver { to_listener, index } => {
                if let Some((from, d)) = net.take(to_listener, index) {
                    net.deliver(to_listener, from, &d);
                }
            }
            NetOp::DeliverAll => {
                for to_listener in [true, false] {
                    while let Some((from, d)) = net.queue(to_listener).pop_front() {
                        net.deliver(to_listener, from, &d);
                    }
                }
            }
            NetOp::Drop { to_listener, index } => {
                net.take(to_listener, index);
            }
            NetOp::Duplicate { to_listener, index } => {
                if let Some((from, d)) = net.take(to_listener, index) {
                    net.deliver(to_listener, from, &d);
                    net.deliver(to_listener, from, &d);
                }
            }
            NetOp::Corrupt {
                to_listener,
                index,
                at,
                xor,
            } => {
                if let Some((from, mut d)) = net.take(to_listener, index) {
                    if !d.is_empty() {
                        let i = usize::from(at) % d.len();
                        d[i] ^= xor.max(1);
                    }
                    net.deliver(to_listener, from, &d);
                }
            }
            NetOp::Truncate {
                to_listener,
                index,
                len,
            } => {
                if let Some((from, d)) = net.take(to_listener, index) {
                    let n = usize::from(len) % (d.len() + 1);
                    net.deliver(to_listener, from, &d[..n]);
                }
            }
            NetOp::Reroute {
                to_listener,
                index,
                from,
            } => {
                if let Some((_, d)) = net.take(to_listener, index) {
                    let src = SOURCES[usize::from(from) % SOURCES.len()];
                    net.deliver(to_listener, src, &d);
                }
            }
            NetOp::Inject {
                to_listener,
                from,
                datagram,
            } => {
                let src = SOURCES[usize::from(from) % SOURCES.len()];
                net.deliver(to_listener, src, &datagram[..datagram.len().min(2048)]);
            }
            NetOp::InjectRouted {
                to_listener,
                from,
                first,
                cid,
                payload,
            } => {
                let src = SOURCES[usize::from(from) % SOURCES.len()];
                let pick = |i: u8| {
                    if net.cids.is_empty() {
                        ConnectionId::default()
                    } else {
                        net.cids[usize::from(i) % net.cids.len()]
                    }
                };
                let d = with_header(
                    first,
                    pick(cid),
                    pick(cid.wrapping_add(1)),
                    &payload[..payload.len().min(2048)],
                );
                net.deliver(to_listener, src, &d);
            }
            NetOp::Advance { ms } => {
                net.now += Duration::from_millis(u64::from(ms));
                net.timers();
            }
            NetOp::AdvanceToTimer => {
                let next = [net.dialer.poll_timeout(), net.listener.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(t) = next {
                    net.now = net.now.max(t);
                }
                net.timers();
            }
            NetOp::App {
                listener_side,
                conn,
                action,
            } => net.app(listener_side, conn, action),
            NetOp::SetAccept(accept) => net.listener.set_accept_incoming(accept),
        }
        net.settle();
    }
    // Calm network: deliver everything, with time running to the next timer (at most
    // 1 s at once), so that retransmissions can finish what the network disturbed.
    for _ in 0..24 {
        for to_listener in [true, false] {
            while let Some((from, d)) = net.queue(to_listener).pop_front() {
                net.deliver(to_listener, from, &d);
            }
        }
        net.settle();
        let next = [net.dialer.poll_timeout(), net.listener.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(net.now);
        net.now = next.clamp(
            net.now + Duration::from_millis(1),
            net.now + Duration::from_secs(1),
        );
        net.timers();
        net.settle();
    }
    let s = net.listener.stats();
    100 * (net.dialer_log.connected.len() + net.listener_log.connected.len()) as u64
        + 10 * net.listener_log.channels.len() as u64
        + s.accepted
        + s.datagrams_received
}

// ===== frames through the real packet protection of an established connection ================

/// Seals `payload` as the next packet of the `from_client` side of `pair` and delivers
/// it to the other side. The sender really builds (and numbers) a packet carrying one
/// unreliable datagram; the harness replaces its payload, seals it with the sender's own
/// `AeadProtection` under the same header, and delivers that instead (the datagram is
/// lost, which is allowed). Returns false when the sender cannot send any more.
fn inject_frames(pair: &mut Pair, from_client: bool, payload: &[u8]) -> bool {
    let handle = if from_client {
        pair.client_handle
    } else {
        pair.server_handle()
    };
    let (sender, registry) = if from_client {
        (&mut pair.client, &pair.client_registry)
    } else {
        (&mut pair.server, &pair.server_registry)
    };
    let Some(conn) = handle.and_then(|h| sender.connection(h)) else {
        return false;
    };
    if !conn.is_established() || conn.send_datagram(Bytes::from_static(b"!")).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut packet = None;
    for _ in 0..8 {
        if let Some(t) = sender.poll_transmit(pair.now, &mut buf) {
            check_transmit(t.size, &buf);
            if let Ok((Header::Short(h), len)) = Header::parse(&buf) {
                packet = Some((h, len));
                break;
            }
        } else {
            // Paced: let time pass.
            pair.now += Duration::from_millis(1);
            sender.handle_timeout(pair.now);
        }
    }
    let Some((hdr, header_len)) = packet else {
        return false;
    };
    let Some(protection) = lock(&registry.0).protections.first().cloned() else {
        return false;
    };
    let mut forged = buf[..header_len].to_vec();
    forged.extend_from_slice(payload);
    lock(&protection).seal(hdr.path_id, hdr.packet_number, &mut forged, header_len);
    let (receiver, source) = if from_client {
        (&mut pair.server, DIALER_ADDR)
    } else {
        (&mut pair.client, LISTENER_ADDR)
    };
    receiver.handle_datagram(pair.now, source, &forged);
    true
}

/// Target `connection_frames`: arbitrary frames in authenticated packets of an
/// established connection.
///
/// Input: `flags ‖ payload`. Flags: bit 0 the frames go to the listener (else to the
/// dialer); bit 1 both sides first open a channel and exchange a message; bit 2 both
/// sides shut down afterwards; bit 3 the payload is a sequence of `u16 length ‖ bytes`
/// packets (else it is one packet). A dialer and a listener connect (IK) in memory;
/// each payload is sealed with the sender's real packet protection as its next packet
/// (see `inject_frames`), and the connection then runs for a few rounds.
///
/// Checks: nothing panics whatever the frames say; every datagram sent afterwards is
/// well formed and at most 1200 bytes; events follow the connection lifecycle.
pub fn connection_frames(data: &[u8]) {
    let mut input = Input(data);
    let Some(flags) = input.u8() else {
        return;
    };
    let mut pair = Pair::new(Instant::now(), TransportConfig::default());
    assert!(pair.connect(true), "an in-memory IK handshake completes");
    if flags & 2 != 0 {
        let server = pair.server_handle();
        for (ep, h) in [
            (&mut pair.client, pair.client_handle),
            (&mut pair.server, server),
        ] {
            if let Some(c) = h.and_then(|h| ep.connection(h))
                && let Ok(ch) = c.open_channel(b"fuzz")
            {
                let _ = c.send(ch, b"before the frames");
            }
        }
        for _ in 0..4 {
            pair.tick(1);
        }
    }
    let from_client = flags & 1 != 0;
    let payloads: Vec<&[u8]> = if flags & 8 != 0 {
        (0..16)
            .map_while(|_| (!input.0.is_empty()).then(|| input.prefixed()))
            .collect()
    } else {
        vec![input.rest()]
    };
    for payload in payloads {
        if !inject_frames(&mut pair, from_client, payload) {
            break;
        }
        pair.exchange();
    }
    if flags & 4 != 0 {
        let server = pair.server_handle();
        for (ep, h) in [
            (&mut pair.client, pair.client_handle),
            (&mut pair.server, server),
        ] {
            if let Some(c) = h.and_then(|h| ep.connection(h)) {
                c.shutdown();
            }
        }
    }
    for _ in 0..6 {
        pair.tick(5);
    }
}

// ===== loss recovery: ACK processing ============================================================

/// One step of the `ack_ranges` harness.
#[derive(Debug, Arbitrary)]
enum RecoveryOp {
    Send {
        size: u16,
        ack_eliciting: bool,
        in_flight: bool,
    },
    /// `raw`: the ranges as given (any order, overlaps, unsent numbers); else each
    /// bound is taken modulo the next packet number and the ranges sorted highest first.
    Ack {
        ranges: Vec<(u64, u64)>,
        raw: bool,
        delay_ms: u16,
    },
    /// An ACK frame from the wire (its ranges, if it decodes).
    WireAck {
        frame: Vec<u8>,
    },
    Advance {
        ms: u16,
    },
    Timeout,
    AppLimited,
    Drain,
}

/// Model state of one sent packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Outstanding,
    Acked,
    Lost,
    LostThenAcked,
    Drained,
}

/// `(size, ack-eliciting, in flight, fate)` per packet number.
struct RecoveryModel(Vec<(u16, bool, bool, Fate)>);

impl RecoveryModel {
    fn outstanding(&self) -> impl Iterator<Item = (u64, &(u16, bool, bool, Fate))> {
        (0u64..)
            .zip(&self.0)
            .filter(|(_, p)| p.3 == Fate::Outstanding)
    }

    fn count(&self, fate: Fate) -> u64 {
        self.0.iter().filter(|p| p.3 == fate).count() as u64
    }

    fn retire(&mut self, packets: &[(u64, SentPacket<u64>)], to: Fate) {
        for (pn, p) in packets {
            assert_eq!(p.payload, *pn, "payload travels with its packet");
            let entry = usize::try_from(*pn)
                .ok()
                .and_then(|i| self.0.get_mut(i))
                .expect("only sent packets are retired");
            assert_eq!(entry.3, Fate::Outstanding, "packet {pn} retired twice");
            assert_eq!(
                (p.size, p.ack_eliciting, p.in_flight),
                (entry.0, entry.1, entry.2)
            );
            entry.3 = to;
        }
    }

    fn check(&self, r: &PathRecovery<u64>, mds: u64) {
        let in_flight: u64 = self
            .outstanding()
            .filter(|(_, p)| p.2)
            .map(|(_, p)| u64::from(p.0))
            .sum();
        assert_eq!(r.bytes_in_flight(), in_flight, "bytes in flight");
        let eliciting = self.outstanding().any(|(_, p)| p.1);
        assert_eq!(r.has_ack_eliciting_in_flight(), eliciting);
        if eliciting {
            assert!(
                r.timeout().is_some(),
                "PTO armed while ack-eliciting packets are out"
            );
        }
        assert_eq!(r.outstanding_packets(), self.outstanding().count());
        let stats = r.stats();
        assert_eq!(stats.packets_sent, self.0.len() as u64);
        assert_eq!(stats.packets_acked, self.count(Fate::Acked));
        assert_eq!(
            stats.packets_lost,
            self.count(Fate::Lost) + self.count(Fate::LostThenAcked)
        );
        assert!(stats.spurious_losses <= self.count(Fate::LostThenAcked));
        assert!(
            r.congestion_window() >= 2 * mds,
            "cwnd below the minimum window"
        );
        assert!(stats.congestion_events <= stats.packets_lost);
        assert!(stats.persistent_congestion_events <= stats.packets_lost);
    }
}

/// Target `ack_ranges`: `PathRecovery` (loss detection, RTT, congestion control, pacing)
/// under sends, arbitrary ACK ranges, time and timeouts, checked against a model of each
/// packet's fate.
///
/// Checks (as the recovery module's own property test, plus raw and wire ranges): an ACK
/// reaching an unsent number is an error that changes nothing; otherwise exactly the
/// outstanding packets in the ranges are acknowledged, in ascending order; lost packets
/// are below the largest acknowledged; each packet is retired once; bytes in flight,
/// counters and outstanding packets match the model; the window never drops below two
/// datagrams; a pacing delay is in the future.
pub fn ack_ranges(data: &[u8]) {
    ack_run(data);
}

/// `ack_ranges`; returns how far the input got (for seed selection).
fn ack_run(data: &[u8]) -> u64 {
    let mut u = Unstructured::new(data);
    let (Ok(newreno), Ok(pacing)) = (u.arbitrary::<bool>(), u.arbitrary::<bool>()) else {
        return 0;
    };
    const MDS16: u16 = 1200;
    let t0 = Instant::now();
    let config = RecoveryConfig {
        congestion: if newreno {
            CongestionControl::NewReno
        } else {
            CongestionControl::Cubic
        },
        pacing,
        ..RecoveryConfig::default()
    };
    let mut r = PathRecovery::<u64>::new(&config, MDS16, t0);
    let mut m = RecoveryModel(Vec::new());
    let mut now = t0;
    for _ in 0..512 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<RecoveryOp>() else {
            break;
        };
        let (ranges, delay) = match op {
            RecoveryOp::Send {
                size,
                ack_eliciting,
                in_flight,
            } => {
                let size = size % 1500 + 1;
                if let Some(at) = r.pacing_delay(now, u64::from(size)) {
                    assert!(at > now, "a pacing delay lies in the future");
                }
                let pn = r.next_packet_number();
                assert_eq!(pn, m.0.len() as u64);
                r.on_packet_sent(
                    now,
                    pn,
                    SentPacket {
                        time_sent: now,
                        size,
                        ack_eliciting,
                        in_flight,
                        payload: pn,
                    },
                );
                m.0.push((size, ack_eliciting, in_flight, Fate::Outstanding));
                (None, 0)
            }
            RecoveryOp::Ack {
                ranges,
                raw,
                delay_ms,
            } => {
                let next = r.next_packet_number();
                let mut ranges: Vec<(u64, u64)> = ranges.into_iter().take(80).collect();
                if !raw {
                    if next == 0 {
                        ranges.clear();
                    }
                    for x in &mut ranges {
                        let (a, b) = (x.0 % next.max(1), x.1 % next.max(1));
                        *x = (a.min(b), a.max(b));
                    }
                    ranges.sort_unstable_by_key(|x| std::cmp::Reverse(x.1));
                }
                (Some(ranges), delay_ms)
            }
            RecoveryOp::WireAck { frame } => {
                let mut reader = Reader::new(&frame);
                match Frame::decode(&mut reader) {
                    Ok(Frame::Ack(AckFrame { ranges, .. })) => (Some(ranges), 0),
                    _ => (None, 0),
                }
            }
            RecoveryOp::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                (None, 0)
            }
            RecoveryOp::Timeout => {
                let due = r.timeout();
                if let Some(at) = due {
                    now = now.max(at);
                }
                let pto_before = r.pto_count();
                match r.on_timeout(now) {
                    TimeoutOutcome::Lost(lost) => {
                        assert!(lost.is_sorted_by_key(|(pn, _)| *pn));
                        m.retire(&lost, Fate::Lost);
                    }
                    TimeoutOutcome::Probe(n) => {
                        assert!(n > 0 && due.is_some());
                        assert_eq!(r.pto_count(), pto_before.saturating_add(1));
                    }
                    TimeoutOutcome::None => assert!(due.is_none(), "a due timer did nothing"),
                }
                (None, 0)
            }
            RecoveryOp::AppLimited => {
                r.on_app_limited(now);
                (None, 0)
            }
            RecoveryOp::Drain => {
                let drained = r.drain_all();
                m.retire(&drained, Fate::Drained);
                (None, 0)
            }
        };
        if let Some(ranges) = ranges {
            apply_ack(&mut r, &mut m, now, &ranges, delay);
        }
        m.check(&r, u64::from(MDS16));
    }
    let expected: Vec<u64> = m.outstanding().map(|(pn, _)| pn).collect();
    let drained = r.drain_all();
    assert_eq!(
        drained.iter().map(|(pn, _)| *pn).collect::<Vec<_>>(),
        expected
    );
    m.retire(&drained, Fate::Drained);
    m.check(&r, u64::from(MDS16));
    let stats = r.stats();
    stats.packets_acked * 4
        + stats.packets_lost * 2
        + stats.spurious_losses * 8
        + stats.congestion_events * 8
        + stats.persistent_congestion_events * 32
}

/// Everything observable, to check that a rejected ACK changed nothing.
fn recovery_snapshot(r: &PathRecovery<u64>) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        r.stats(),
        r.bytes_in_flight(),
        r.timeout(),
        r.largest_acked(),
        r.outstanding_packets(),
        r.congestion_window(),
        r.pto_count(),
        r.rtt().has_sample(),
        r.rtt().smoothed(),
        r.next_packet_number(),
        r.has_ack_eliciting_in_flight(),
    )
}

fn apply_ack(
    r: &mut PathRecovery<u64>,
    m: &mut RecoveryModel,
    now: Instant,
    ranges: &[(u64, u64)],
    delay_ms: u16,
) {
    let next = r.next_packet_number();
    let unsent = ranges
        .iter()
        .find(|(lo, hi)| lo <= hi && *hi >= next)
        .map(|x| x.1);
    let before = recovery_snapshot(r);
    match r.on_ack_received(now, ranges, Duration::from_millis(u64::from(delay_ms))) {
        Err(AckError::UnsentPacket(pn)) => {
            assert_eq!(Some(pn), unsent, "the first offending range is reported");
            assert_eq!(
                recovery_snapshot(r),
                before,
                "a rejected ACK changes nothing"
            );
        }
        Ok(out) => {
            assert_eq!(unsent, None, "an ACK of an unsent packet was accepted");
            let covered = |pn: u64| ranges.iter().any(|&(lo, hi)| lo <= pn && pn <= hi);
            let expected: Vec<u64> = m
                .outstanding()
                .map(|(pn, _)| pn)
                .filter(|&pn| covered(pn))
                .collect();
            let acked: Vec<u64> = out.acked.iter().map(|(pn, _)| *pn).collect();
            assert_eq!(
                acked, expected,
                "exactly the outstanding packets in the ranges"
            );
            for (pn, p) in (0u64..).zip(m.0.iter_mut()) {
                if p.3 == Fate::Lost && covered(pn) {
                    p.3 = Fate::LostThenAcked;
                }
            }
            m.retire(&out.acked, Fate::Acked);
            let lost: Vec<u64> = out.lost.iter().map(|(pn, _)| *pn).collect();
            assert!(lost.is_sorted());
            assert!(lost.iter().all(|&pn| Some(pn) <= r.largest_acked()));
            m.retire(&out.lost, Fate::Lost);
            if out.acked.is_empty() {
                assert!(out.lost.is_empty() && !out.rtt_sampled);
            }
        }
    }
}

// ===== range sets ===============================================================================

/// One step of the `range_set` harness (values in a small domain so ranges collide).
#[derive(Debug, Arbitrary)]
enum RangeOp {
    Insert { start: u16, len: u8 },
    Remove { start: u16, len: u8 },
    RemoveBelow(u16),
    PopFirst,
    Query { start: u16, len: u8 },
}

/// Domain of `range_set` values (small, so that ranges collide and checks stay cheap).
const RANGE_DOMAIN: u64 = 256;

/// Target `range_set`: `RangeSet` (received packet numbers, acknowledged and received
/// channel bytes) against a `BTreeSet` of its values.
///
/// Checks: `insert` reports exactly the new values; after every step the ranges are
/// ascending, non-empty, disjoint and non-adjacent and hold exactly the model's values;
/// `contains`, `contains_range`, `intersecting`, `min`, `max`, `first`, `pop_first` and
/// `range_count` agree with the model.
pub fn range_set(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut set = RangeSet::new();
    let mut model = BTreeSet::<u64>::new();
    let span = |start: u16, len: u8| {
        let s = u64::from(start) % RANGE_DOMAIN;
        s..s + u64::from(len % 48)
    };
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<RangeOp>() else {
            break;
        };
        match op {
            RangeOp::Insert { start, len } => {
                let r = span(start, len);
                let new = r.clone().filter(|v| !model.contains(v)).count() as u64;
                assert_eq!(
                    set.insert(r.clone()),
                    new,
                    "insert({r:?}) counts new values"
                );
                model.extend(r);
            }
            RangeOp::Remove { start, len } => {
                let r = span(start, len);
                set.remove(r.clone());
                for v in r {
                    model.remove(&v);
                }
            }
            RangeOp::RemoveBelow(v) => {
                let v = u64::from(v) % (RANGE_DOMAIN + 64);
                set.remove_below(v);
                model.retain(|&x| x >= v);
            }
            RangeOp::PopFirst => {
                let expected = first_run(&model);
                assert_eq!(set.first(), expected);
                assert_eq!(set.pop_first(), expected);
                if let Some(r) = expected {
                    for v in r {
                        model.remove(&v);
                    }
                }
            }
            RangeOp::Query { start, len } => {
                let r = span(start, len);
                assert_eq!(
                    set.contains_range(r.clone()),
                    r.clone().all(|v| model.contains(&v))
                );
                let got: Vec<u64> = set.intersecting(r.clone()).flatten().collect();
                let want: Vec<u64> = model.range(r.clone()).copied().collect();
                assert_eq!(got, want, "intersecting({r:?})");
                for piece in set.intersecting(r.clone()) {
                    assert!(
                        piece.start < piece.end && r.start <= piece.start && piece.end <= r.end
                    );
                }
                assert_eq!(set.contains(r.start), model.contains(&r.start));
            }
        }
        let ranges: Vec<std::ops::Range<u64>> = set.iter().collect();
        for w in ranges.windows(2) {
            assert!(
                w[0].end < w[1].start,
                "ranges disjoint and non-adjacent: {ranges:?}"
            );
        }
        assert!(ranges.iter().all(|r| r.start < r.end));
        let values: Vec<u64> = ranges.iter().cloned().flatten().collect();
        assert!(
            values.iter().eq(model.iter()),
            "set holds exactly the model's values"
        );
        assert_eq!(set.range_count(), ranges.len());
        assert_eq!(set.is_empty(), model.is_empty());
        assert_eq!(set.min(), model.first().copied());
        assert_eq!(set.max(), model.last().copied());
    }
}

/// The lowest run of consecutive values of `model`.
fn first_run(model: &BTreeSet<u64>) -> Option<std::ops::Range<u64>> {
    let &start = model.first()?;
    let mut end = start;
    while model.contains(&end) {
        end += 1;
    }
    Some(start..end)
}

// ===== channel send and receive halves ===========================================================

/// Receive-window and message-size settings of `channel_reassembly`.
#[derive(Debug, Arbitrary)]
struct ChannelSetup {
    window: u16,
    max_message: u16,
}

/// One step of the `channel_reassembly` harness.
#[derive(Debug, Arbitrary)]
enum ChannelOp {
    /// The application writes a message of `len % 1500` bytes.
    Write {
        len: u16,
    },
    /// The sender puts its next chunk (lost data first, else new data) in a packet.
    Send {
        max_len: u16,
        budget: u16,
    },
    /// A chunk in flight reaches the receiver (it stays in flight: duplicates happen).
    Deliver {
        index: u8,
    },
    Ack {
        index: u8,
    },
    Lose {
        index: u8,
    },
    /// The peer sends stream bytes `[offset, offset + len)` directly (any chunking,
    /// possibly beyond the credit).
    Raw {
        offset: u16,
        len: u16,
    },
    Pop,
    /// MAX_CHANNEL_DATA: the receiver grants credit, the sender learns it.
    Credit,
    /// CHANNEL_CLOSE with the true final size; no more writes.
    Finish,
    /// Rarely (`kind` 0 or 1) a misbehaving or aborting peer: 0 = CHANNEL_CLOSE with any
    /// final size, 1 = a reset, after which the receiver discards what it holds.
    Peer {
        kind: u16,
        value: u32,
    },
}

/// Most stream bytes a `channel_reassembly` run writes.
const MAX_STREAM: usize = 64 * 1024;

/// The model of a channel: the messages written, the stream they make, what was read.
struct ChannelModel {
    messages: Vec<Vec<u8>>,
    stream: Vec<u8>,
    /// End offset of each message in the stream.
    ends: Vec<u64>,
    popped: usize,
    acked: Vec<bool>,
    /// First unacknowledged offset (acknowledgements are never undone).
    first_unacked: usize,
    final_size: Option<u64>,
    highest: u64,
    finished: bool,
    discarded: bool,
}

impl ChannelModel {
    fn write(&mut self, len: usize) -> Vec<u8> {
        let i = self.messages.len();
        let msg: Vec<u8> = (0..len)
            .map(|j| (i as u8).wrapping_mul(31) ^ (j as u8).wrapping_mul(7) ^ (j >> 8) as u8)
            .collect();
        write_varint(&mut self.stream, len as u64);
        self.stream.extend_from_slice(&msg);
        self.ends.push(self.stream.len() as u64);
        self.acked.resize(self.stream.len(), false);
        self.messages.push(msg.clone());
        msg
    }

    /// Offset up to which whole messages were read.
    fn consumed(&self) -> u64 {
        self.popped.checked_sub(1).map_or(0, |i| self.ends[i])
    }

    /// Delivers stream bytes to the receiver and checks the outcome against the model.
    /// Returns false when the receiver hit a fatal error (the connection would close).
    fn deliver(&mut self, r: &mut RecvState, offset: u64, len: u64, max_message: u64) -> bool {
        let end = offset + len;
        let data = &self.stream[offset as usize..end as usize];
        let advertised = r.advertised;
        let result = r.on_data(offset, data);
        match result {
            Err(RecvError::FlowControl) => {
                assert!(end > advertised, "FlowControl within the credit");
                true
            }
            Err(RecvError::FinalSize) => {
                assert!(end <= advertised, "FlowControl is checked first");
                assert!(
                    self.final_size.is_some_and(|f| end > f),
                    "FinalSize within the final size"
                );
                true
            }
            Err(RecvError::MessageTooLarge) => {
                assert!(end <= advertised);
                assert!(
                    self.messages.iter().any(|m| m.len() as u64 > max_message),
                    "MessageTooLarge without a message above {max_message} bytes"
                );
                false
            }
            Err(RecvError::Malformed) => panic!("minimal length prefixes reported malformed"),
            Err(RecvError::TooFragmented) => true,
            Ok(grown) => {
                assert!(end <= advertised, "data beyond the credit accepted");
                assert!(
                    self.final_size.is_none_or(|f| end <= f),
                    "data beyond the final size accepted"
                );
                assert_eq!(grown, end.saturating_sub(self.highest), "grown bytes");
                self.highest = self.highest.max(end);
                assert_eq!(r.highest, self.highest);
                true
            }
        }
    }

    fn pop(&mut self, r: &mut RecvState) {
        let ready = r.has_message();
        let got = r.pop();
        assert_eq!(ready, got.is_some(), "has_message agrees with pop");
        if let Some(msg) = got {
            assert!(!self.discarded, "a message after the channel was discarded");
            let want = self
                .messages
                .get(self.popped)
                .expect("more messages than written");
            assert_eq!(&msg[..], &want[..], "message {} corrupted", self.popped);
            self.popped += 1;
        }
    }

    fn check(&self, s: &SendState, r: &RecvState, window: u64) {
        assert_eq!(s.end(), self.stream.len() as u64);
        assert!(s.next <= s.end());
        let base = s.end() - s.buffered();
        assert_eq!(
            base, self.first_unacked as u64,
            "the send buffer frees exactly the acked prefix"
        );
        assert!(r.released <= r.highest, "released bytes never received");
        assert!(r.credit_limit() >= self.consumed() + window);
        assert_eq!(r.final_size, self.final_size);
        assert_eq!(r.is_finished(), self.final_size == Some(self.consumed()));
    }
}

/// Target `channel_reassembly`: a channel's sending half (`SendState`) and receiving
/// half (`RecvState`) joined by a lossy, duplicating, reordering network of chunks,
/// checked against a model: the byte stream of length-prefixed messages.
///
/// Checks: the sender's chunks carry exactly the model stream's bytes, lost data first
/// and never acknowledged bytes; the send buffer frees exactly the acknowledged prefix;
/// the receiver reports FlowControl / FinalSize / MessageTooLarge exactly when the model
/// says so and never Malformed, counts new bytes exactly and pops exactly the messages
/// written, in order; `is_finished` follows the final size. At the end, with credit
/// granted and everything delivered, every message arrives and the sender's buffer
/// empties.
pub fn channel_reassembly(data: &[u8]) {
    channel_run(data);
}

/// `channel_reassembly`; returns how far the input got (for seed selection).
fn channel_run(data: &[u8]) -> u64 {
    let mut u = Unstructured::new(data);
    let Ok(setup) = u.arbitrary::<ChannelSetup>() else {
        return 0;
    };
    let window = u64::from(setup.window) + 1;
    let max_message = u64::from(setup.max_message);
    let mut s = SendState::new(window);
    let mut r = RecvState::new(window, max_message);
    let mut m = ChannelModel {
        messages: Vec::new(),
        stream: Vec::new(),
        ends: Vec::new(),
        popped: 0,
        acked: Vec::new(),
        first_unacked: 0,
        final_size: None,
        highest: 0,
        finished: false,
        discarded: false,
    };
    let mut in_flight: Vec<(u64, u64)> = Vec::new();
    for _ in 0..1024 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<ChannelOp>() else {
            break;
        };
        match op {
            ChannelOp::Write { len } => {
                let len = usize::from(len % 1500);
                if !m.finished && m.stream.len() + len + 2 <= MAX_STREAM {
                    let msg = m.write(len);
                    s.write_message(&msg);
                }
            }
            ChannelOp::Send { max_len, budget } => {
                let Some((off, len, is_new)) =
                    s.next_chunk(u64::from(max_len) + 1, u64::from(budget))
                else {
                    continue;
                };
                assert!(len > 0 && off + len <= s.end());
                if is_new {
                    assert_eq!(off, s.next, "new data continues the stream");
                    assert!(off + len <= s.max_data, "new data beyond the peer's credit");
                } else {
                    assert!(off + len <= s.next, "a retransmission of unsent bytes");
                    assert!(
                        m.acked[off as usize..(off + len) as usize]
                            .iter()
                            .all(|a| !a),
                        "retransmitting acknowledged bytes"
                    );
                }
                let mut bytes = Vec::new();
                s.copy_to(off, len, &mut bytes);
                assert_eq!(
                    bytes,
                    m.stream[off as usize..(off + len) as usize],
                    "the sender's bytes are the stream's"
                );
                s.on_sent(off, len);
                if in_flight.len() < 256 {
                    in_flight.push((off, len));
                }
            }
            ChannelOp::Deliver { index } => {
                if in_flight.is_empty() || m.discarded {
                    continue;
                }
                let (off, len) = in_flight[usize::from(index) % in_flight.len()];
                let before = r.advertised;
                if !m.deliver(&mut r, off, len, max_message) {
                    return m.popped as u64;
                }
                // An honest sender never exceeds the credit it was given.
                assert!(off + len <= before.max(window));
            }
            ChannelOp::Ack { index } => {
                if in_flight.is_empty() {
                    continue;
                }
                let (off, len) = in_flight.swap_remove(usize::from(index) % in_flight.len());
                s.on_acked(off, len);
                m.acked[off as usize..(off + len) as usize].fill(true);
                while m.acked.get(m.first_unacked) == Some(&true) {
                    m.first_unacked += 1;
                }
            }
            ChannelOp::Lose { index } => {
                if in_flight.is_empty() {
                    continue;
                }
                let (off, len) = in_flight.swap_remove(usize::from(index) % in_flight.len());
                s.on_lost(off, len);
            }
            ChannelOp::Raw { offset, len } => {
                let total = m.stream.len() as u64;
                if total == 0 || m.discarded {
                    continue;
                }
                let off = u64::from(offset) % total;
                let len = u64::from(len) % (total - off + 1);
                if !m.deliver(&mut r, off, len, max_message) {
                    return m.popped as u64;
                }
            }
            ChannelOp::Pop => m.pop(&mut r),
            ChannelOp::Credit => {
                r.advertised = r.credit_limit().max(r.advertised);
                s.max_data = s.max_data.max(r.advertised);
            }
            ChannelOp::Finish => {
                m.finished = true;
                let end = m.stream.len() as u64;
                final_size(&mut m, &mut r, end);
            }
            ChannelOp::Peer { kind, value } => match kind {
                0 => final_size(&mut m, &mut r, u64::from(value)),
                1 => {
                    r.discard();
                    m.discarded = true;
                    assert_eq!(r.released, r.highest, "discarded bytes are released");
                }
                _ => {}
            },
        }
        m.check(&s, &r, window);
    }
    // Liveness: grant credit and deliver everything up to the final size, then every
    // message inside it must be read.
    if m.discarded {
        return m.popped as u64;
    }
    let total = m.stream.len() as u64;
    let limit = m.final_size.map_or(total, |f| f.min(total));
    let expected = m.ends.iter().filter(|&&e| e <= limit).count();
    for _ in 0..4096 {
        r.advertised = r.credit_limit().max(r.advertised);
        let upto = limit.min(r.advertised);
        if !m.deliver(&mut r, 0, upto, max_message) {
            return m.popped as u64;
        }
        while r.has_message() {
            m.pop(&mut r);
        }
        if m.popped >= expected {
            break;
        }
    }
    assert_eq!(
        m.popped, expected,
        "every message arrives once credit allows"
    );
    assert!(!r.has_message(), "no message beyond the final size");
    s.on_acked(0, total);
    assert_eq!(s.buffered(), 0, "everything acknowledged frees the buffer");
    assert_eq!(r.is_finished(), m.final_size == Some(m.consumed()));
    1000 + m.popped as u64
}

fn final_size(m: &mut ChannelModel, r: &mut RecvState, value: u64) {
    let expect_err = value < m.highest || m.final_size.is_some_and(|f| f != value);
    let result = r.on_final_size(value);
    assert_eq!(
        result.is_err(),
        expect_err,
        "final size {value}: {result:?}"
    );
    if result.is_ok() {
        m.final_size = Some(value);
    }
}

// ===== anti-replay window =====================================================================

/// A counter relative to the window's state.
#[derive(Debug, Arbitrary)]
enum Counter {
    Below(u16),
    Above(u16),
    FarAbove(u64),
    Absolute(u64),
}

/// One step of the `replay_window` harness.
#[derive(Debug, Arbitrary)]
enum ReplayOp {
    Check(Counter),
    Update(Counter),
}

/// Target `replay_window`: `ReplayWindow` against a set of accepted counters.
///
/// Checks: `check(c)` is true exactly when `c` was never accepted and is above the
/// highest accepted counter or less than `WINDOW` below it; `update` accepts exactly
/// what `check` accepts and a refused update changes nothing; `highest` follows.
pub fn replay_window(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut w = ReplayWindow::new();
    let mut accepted = BTreeSet::<u64>::new();
    let mut highest: Option<u64> = None;
    for _ in 0..2048 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<ReplayOp>() else {
            break;
        };
        let resolve = |c: &Counter| {
            let h = highest.unwrap_or(0);
            match *c {
                Counter::Below(d) => h.saturating_sub(u64::from(d)),
                Counter::Above(d) => h.saturating_add(u64::from(d)),
                Counter::FarAbove(d) => h.saturating_add(d),
                Counter::Absolute(v) => v,
            }
        };
        let (counter, update) = match &op {
            ReplayOp::Check(c) => (resolve(c), false),
            ReplayOp::Update(c) => (resolve(c), true),
        };
        let fresh = match highest {
            None => true,
            Some(h) => counter > h || (h - counter < WINDOW && !accepted.contains(&counter)),
        };
        assert_eq!(
            w.check(counter),
            fresh,
            "check({counter}), highest {highest:?}"
        );
        if update {
            let before = w.clone();
            assert_eq!(w.update(counter), fresh, "update({counter})");
            if fresh {
                accepted.insert(counter);
                highest = highest.max(Some(counter));
                // Forget what the window no longer needs (bounded model).
                let h = highest.unwrap_or(0);
                if h >= WINDOW {
                    accepted = accepted.split_off(&(h - WINDOW));
                }
            } else {
                assert_eq!(w, before, "a refused update changes nothing");
            }
        }
        assert_eq!(w.highest(), highest);
    }
}

// ===== congestion control and pacing ===========================================================

/// One step of the `congestion` harness.
#[derive(Debug, Arbitrary)]
enum CcOp {
    Sent {
        bytes: u16,
    },
    Ack {
        sent_ago_ms: u16,
        bytes: u16,
        app_limited: bool,
    },
    Congestion {
        sent_ago_ms: u16,
        persistent: bool,
        lost: u16,
    },
    Advance {
        us: u32,
    },
    RttSample {
        latest_ms: u16,
        ack_delay_ms: u8,
    },
    Pace {
        bytes: u16,
    },
}

/// Target `congestion`: a controller built by `CongestionControl::build` (NewReno or
/// CUBIC, any datagram size), with an RTT estimator and a pacer, under sends, acks,
/// congestion events, RTT samples and time.
///
/// Checks: the window never drops below the minimum window (two datagrams); an ack never
/// shrinks it (up to float rounding), and an ack of an app-limited packet or of a packet
/// sent before the current recovery period leaves it unchanged; a congestion event never
/// grows it, one inside the recovery period changes nothing, and persistent congestion
/// sets exactly the minimum window (recovery periods modelled as RFC 9002 §7.3.2 with
/// `sent < start`). The RTT estimator keeps `min <= smoothed` and `min <= latest`. A pacing
/// delay lies in the future, at most 60 s ahead, and asking again at that instant
/// (same RTT and window) lets the packet go.
pub fn congestion(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(newreno), Ok(mds)) = (u.arbitrary::<bool>(), u.arbitrary::<u16>()) else {
        return;
    };
    let t0 = Instant::now();
    let kind = if newreno {
        CongestionControl::NewReno
    } else {
        CongestionControl::Cubic
    };
    let mut cc = kind.build(mds, t0);
    let mut rtt = RttEstimator::new(Duration::from_millis(100));
    let mut pacer = Pacer::new(mds, t0);
    let min_window = 2 * u64::from(mds.max(1));
    let mut recovery_start: Option<Instant> = None;
    let mut now = t0;
    let in_recovery = |start: Option<Instant>, sent: Instant| start.is_some_and(|s| sent < s);
    for _ in 0..1024 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<CcOp>() else {
            break;
        };
        let before = cc.window();
        let sent_at = |ago: u16| {
            now.checked_sub(Duration::from_millis(u64::from(ago)))
                .unwrap_or(t0)
                .max(t0)
        };
        match op {
            CcOp::Sent { bytes } => {
                cc.on_sent(now, u64::from(bytes));
                pacer.on_sent(u64::from(bytes));
            }
            CcOp::Ack {
                sent_ago_ms,
                bytes,
                app_limited,
            } => {
                let sent = sent_at(sent_ago_ms);
                cc.on_ack(now, sent, u64::from(bytes), app_limited, &rtt);
                let after = cc.window();
                if app_limited || in_recovery(recovery_start, sent) {
                    assert_eq!(
                        after, before,
                        "an ack that must not grow the window changed it"
                    );
                } else {
                    assert!(
                        after + 1 >= before,
                        "an ack shrank the window {before} -> {after}"
                    );
                }
            }
            CcOp::Congestion {
                sent_ago_ms,
                persistent,
                lost,
            } => {
                let sent = sent_at(sent_ago_ms);
                let during = in_recovery(recovery_start, sent);
                cc.on_congestion_event(now, sent, persistent, u64::from(lost));
                let after = cc.window();
                if !during {
                    recovery_start = Some(now);
                }
                if persistent {
                    recovery_start = Some(now);
                    assert_eq!(after, min_window, "persistent congestion: minimum window");
                } else if during {
                    assert_eq!(after, before, "a second reduction in one recovery period");
                } else {
                    assert!(after <= before, "a congestion event grew the window");
                }
            }
            CcOp::Advance { us } => {
                now += Duration::from_micros(u64::from(us % 10_000_000));
            }
            CcOp::RttSample {
                latest_ms,
                ack_delay_ms,
            } => {
                rtt.update(
                    Duration::from_millis(u64::from(latest_ms)),
                    Duration::from_millis(u64::from(ack_delay_ms)),
                );
                assert!(rtt.min() <= rtt.latest() && rtt.min() <= rtt.smoothed());
                assert!(rtt.pto_base(Duration::from_millis(1)) >= rtt.smoothed());
            }
            CcOp::Pace { bytes } => {
                let (srtt, cwnd) = (rtt.smoothed(), cc.window());
                if let Some(at) = pacer.delay(now, u64::from(bytes), srtt, cwnd) {
                    assert!(at > now, "a pacing delay lies in the future");
                    let wait = at - now;
                    assert!(wait <= Duration::from_secs(60), "pacing wait {wait:?}");
                    if wait < Duration::from_secs(60) {
                        let mut again = pacer.clone();
                        assert_eq!(
                            again.delay(at, u64::from(bytes), srtt, cwnd),
                            None,
                            "asking again at the returned instant lets the packet go"
                        );
                    }
                }
            }
        }
        let w = cc.window();
        assert!(w >= min_window, "window {w} below the minimum {min_window}");
    }
}

// ===== seed corpora ================================================================================

/// Seed inputs for every target, made by the code itself: real datagrams and handshake
/// messages from in-memory sessions, frames of every type, encoded parameters, printable
/// keys, and (for targets decoded with `arbitrary`) fixed pseudo-random operation
/// sequences. Returns `(target, file name, bytes)`; `tests/fuzz_corpus_replay.rs` writes
/// them to `fuzz/corpus/<target>/seed-<name>` when `NETCHAN_WRITE_FUZZ_SEEDS` is set.
/// Deterministic: regenerating gives the same files while the code is unchanged.
pub fn corpus_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };
    let session = capture_session();

    // Packet headers: real datagrams of every kind.
    let retry_ref = retry_reference(true);
    add("header_decode", "initial", retry_ref.initial.clone());
    add("header_decode", "retry", retry_ref.retry.clone());
    add("header_decode", "handshake", retry_ref.handshake.clone());
    add("header_decode", "finish", session.finish.clone());
    add("header_decode", "short", session.short.clone());

    // Frames: every type in one payload, and real decrypted payloads.
    add("frames", "every_type", every_frame_type());
    for (i, p) in session.payloads.iter().enumerate() {
        add("frames", &format!("captured_{i}"), p.clone());
    }

    // Transport parameters.
    add("transport_params", "dialer", initiator_params());
    add("transport_params", "listener", responder_params());
    let mut refused = TransportConfig::default().local_params();
    refused.refused = true;
    let mut b = Vec::new();
    refused.encode(&mut b);
    b.extend_from_slice(&[0x30, 0x07]); // an unknown id, ignored
    add("transport_params", "refused_and_unknown", b);

    // Handshakes: genuine messages of several modes.
    for (flags, name) in [
        (0x01, "ik"),
        (0x00, "xx"),
        (0x03, "ik_psk"),
        (0x04, "xx_blake2s"),
        (0x0a, "xx_psk_allow_dialer"),
    ] {
        let t = transcript(NoiseMode::from_bits(flags));
        let mut r = vec![flags];
        put_prefixed(&mut r, &t.msg1);
        r.extend_from_slice(&t.msg3);
        add("noise_responder", name, r);
        let mut i = vec![flags];
        i.extend_from_slice(&t.msg2);
        add("noise_initiator", name, i);
    }
    for (flags, name) in [(0x21u8, "raw_ik"), (0x62, "raw_xx_psk_pinned")] {
        let t = transcript(NoiseMode::from_bits(flags));
        let mut r = vec![flags];
        put_prefixed(&mut r, &t.msg1[1..]);
        r.extend_from_slice(&t.msg3);
        add("noise_responder", name, r);
        let mut i = vec![flags];
        i.extend_from_slice(&t.msg2);
        add("noise_initiator", name, i);
    }

    // The dialer's view: genuine Retries and Handshakes from its listener.
    for (pinned, mode) in [(true, "ik"), (false, "xx")] {
        let reference = retry_reference(pinned);
        let retry_record = |out: &mut Vec<u8>| {
            out.extend_from_slice(&[0, 1 | (LongType::Retry.bits() << 2)]);
            put_prefixed(out, &reference.retry[21..]);
        };
        let handshake_record = |out: &mut Vec<u8>| {
            out.extend_from_slice(&[0, 2 | (LongType::Handshake.bits() << 2)]);
            put_prefixed(out, &reference.handshake[13..]);
        };
        let flags = u8::from(pinned);
        let mut one = vec![flags];
        retry_record(&mut one);
        add("retry", &format!("{mode}_retry"), one);
        let mut four = vec![flags];
        for _ in 0..4 {
            retry_record(&mut four);
        }
        add("retry", &format!("{mode}_four_retries"), four);
        let mut hs = vec![flags];
        retry_record(&mut hs);
        handshake_record(&mut hs);
        hs.extend_from_slice(&[2, 40, 3, 0]); // wait 321 ms, then open a channel
        add("retry", &format!("{mode}_retry_then_handshake"), hs);
    }

    // Printable keys.
    let k = keys();
    add(
        "identity_text",
        "public",
        k.responder.public().to_string().into_bytes(),
    );
    add(
        "identity_text",
        "public_upper",
        k.responder
            .public()
            .to_string()
            .to_ascii_uppercase()
            .into_bytes(),
    );
    add(
        "identity_text",
        "secret_base32",
        k.stranger.secret_text().as_bytes().to_vec(),
    );
    let hex: String = k
        .initiator
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    add("identity_text", "secret_hex", hex.into_bytes());
    add(
        "identity_text",
        "peer_address",
        format!("{}@127.0.0.1:4000", k.responder.public()).into_bytes(),
    );
    add("identity_text", "raw_32", k.initiator.public().0.to_vec());

    // Frames sealed into a live connection.
    for (i, p) in session.payloads.iter().take(3).enumerate() {
        let mut input = vec![0x03];
        input.extend_from_slice(p);
        add("connection_frames", &format!("to_listener_{i}"), input);
    }
    let mut multi = vec![0x0f];
    for p in &session.payloads {
        put_prefixed(&mut multi, p);
    }
    add("connection_frames", "sequence_then_shutdown", multi);
    let mut to_dialer = vec![0x02];
    to_dialer.extend_from_slice(&every_frame_type());
    add("connection_frames", "every_type_to_dialer", to_dialer);

    // Operation sequences (decoded with `arbitrary`): fixed pseudo-random bytes; where a
    // harness reports how far an input got, the best of several candidates.
    for (target, lengths) in [
        ("range_set", &[64usize, 512, 4096][..]),
        ("replay_window", &[64, 512, 4096][..]),
        ("congestion", &[64, 512, 4096][..]),
    ] {
        for (i, &len) in lengths.iter().enumerate() {
            add(
                target,
                &format!("random_{len}"),
                pseudo_random(target, i, len),
            );
        }
    }
    let select = |target: &str, prefix: &[u8], len: usize, run: fn(&[u8]) -> u64| {
        (0..48)
            .map(|i| {
                let mut input = prefix.to_vec();
                input.extend_from_slice(&pseudo_random(target, i + len, len));
                (run(&input), i, input)
            })
            .max_by_key(|(score, i, _)| (*score, std::cmp::Reverse(*i)))
            .map(|(_, _, input)| input)
            .unwrap_or_default()
    };
    for len in [256, 1024, 4096] {
        add(
            "ack_ranges",
            &format!("selected_{len}"),
            select("ack_ranges", &[], len, ack_run),
        );
    }
    for len in [256, 1024, 4096] {
        let name = format!("selected_{len}");
        add(
            "channel_reassembly",
            &name,
            select("channel_reassembly", &[], len, channel_run),
        );
    }
    // Listener settings: limit 3 connections, no load limit, accepting, (psk), BLAKE3,
    // no allow-list, 40 handshakes/s per source, default timeouts.
    for (psk, len) in [(0u8, 512), (0, 2048), (1, 1024)] {
        let setup = [2, 3, 1, psk, 0, 0, 39, 0, 0];
        let name = format!("selected{}_{len}", if psk == 1 { "_psk" } else { "" });
        add(
            "endpoint",
            &name,
            select("endpoint", &setup, len, endpoint_run),
        );
    }
    seeds
}

/// Deterministic bytes for a seed (ChaCha8 keyed by the target name and index).
fn pseudo_random(target: &str, index: usize, len: usize) -> Vec<u8> {
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
fn every_frame_type() -> Vec<u8> {
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
        Frame::ChannelClose {
            channel: 1,
            final_size: 6,
            error_code: 0,
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

/// Real traffic of an in-memory session, for seeds.
struct CapturedSession {
    /// Decrypted payloads the listener received (frames as the dialer sent them).
    payloads: Vec<Vec<u8>>,
    /// The dialer's Finish of an XX handshake.
    finish: Vec<u8>,
    /// A protected short-header packet.
    short: Vec<u8>,
}

fn capture_session() -> CapturedSession {
    let now = Instant::now();
    let mut pair = Pair::new(now, TransportConfig::default());
    lock(&pair.server_registry.0).capture = true;
    pair.sent = Some(Vec::new());
    assert!(pair.connect(true), "capture session connects");
    let h = pair.client_handle.expect("dialed");
    if let Some(c) = pair.client.connection(h)
        && let Ok(ch) = c.open_channel(b"chat")
    {
        let _ = c.send(ch, b"hello");
        let _ = c.send(ch, &[7u8; 3000]);
        let _ = c.send_datagram(Bytes::from_static(b"unreliable"));
        let _ = c.close_channel(ch);
    }
    for _ in 0..6 {
        pair.tick(1);
    }
    if let Some(c) = pair.client.connection(h) {
        c.close(pair.now, 7, b"done");
    }
    pair.tick(1);
    let opened = std::mem::take(&mut lock(&pair.server_registry.0).opened);
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    for p in opened {
        // Keep one payload per combination of frame types.
        let kinds: BTreeSet<u8> = Frames::new(&p)
            .filter_map(Result::ok)
            .map(|f| f.frame_type() as u8)
            .collect();
        let seen = payloads.iter().any(|q| {
            Frames::new(q)
                .filter_map(Result::ok)
                .map(|f| f.frame_type() as u8)
                .collect::<BTreeSet<u8>>()
                == kinds
        });
        if !seen && payloads.len() < 5 {
            payloads.push(p);
        }
    }
    let sent = pair.sent.take().unwrap_or_default();
    let short = sent
        .iter()
        .find(|d| d.first() == Some(&0x80))
        .cloned()
        .unwrap_or_default();
    let mut xx = Pair::new(now, TransportConfig::default());
    xx.sent = Some(Vec::new());
    assert!(xx.connect(false), "XX capture session connects");
    let finish = xx
        .sent
        .take()
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.first() == Some(&0xa3))
        .unwrap_or_default();
    CapturedSession {
        payloads,
        finish,
        short,
    }
}
