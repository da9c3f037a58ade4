//! Noise handshake targets (`noise_responder`, `noise_initiator`) and the fixed keys and
//! reference transcripts every endpoint target shares.

#[allow(unused_imports)]
use super::*;

// ----- fixed keys and reference handshakes ------------------------------------------------

/// Prologue of the handshake harnesses (the endpoint uses the real one).
pub(super) const PROLOGUE: &[u8] = b"netchan fuzz prologue";
/// Fixed ephemeral secrets, so that reference transcripts are reproducible.
pub(super) const E_INITIATOR: [u8; 32] = [0x11; 32];
pub(super) const E_RESPONDER: [u8; 32] = [0x22; 32];
/// Packet number and plaintext of the probe packets that prove two sides share keys.
pub(super) const PROBE_PN: u64 = 7;
pub(super) const PROBE_TEXT: &[u8] = b"probe: both sides derived the same packet keys";

/// Handshake variant: pattern, psk2 modifier, hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseMode {
    pub ik: bool,
    pub psk: bool,
    pub blake2s: bool,
}

impl NoiseMode {
    /// Bits 0 (IK), 1 (psk) and 2 (BLAKE2s) of a flags byte.
    pub fn from_bits(b: u8) -> Self {
        Self {
            ik: b & 1 != 0,
            psk: b & 2 != 0,
            blake2s: b & 4 != 0,
        }
    }

    pub(super) fn bits(self) -> u8 {
        u8::from(self.ik) | u8::from(self.psk) << 1 | u8::from(self.blake2s) << 2
    }

    pub(super) fn all() -> impl Iterator<Item = Self> {
        (0..8).map(Self::from_bits)
    }

    pub(super) fn pattern(self) -> Pattern {
        if self.ik { Pattern::IK } else { Pattern::XX }
    }

    /// A node's `NoiseConfig` in this mode.
    pub fn config(self, kp: &Keypair) -> NoiseConfig {
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
pub(super) struct Transcript {
    /// Session-level message 1 (starts with the pattern byte).
    pub(super) msg1: Vec<u8>,
    pub(super) msg2: Vec<u8>,
    /// Empty for IK.
    pub(super) msg3: Vec<u8>,
    /// A packet sealed by the initiator's packet protection (`[header ‖ sealed]`).
    pub(super) initiator_probe: Vec<u8>,
    /// A packet sealed by the responder's packet protection.
    pub(super) responder_probe: Vec<u8>,
}

/// Header of the probe packets (its length is the associated data).
pub(super) const PROBE_HEADER: [u8; 11] = [0x80, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x07];

pub(super) fn probe(p: &mut dyn PacketProtection) -> Vec<u8> {
    let mut pkt = PROBE_HEADER.to_vec();
    pkt.extend_from_slice(PROBE_TEXT);
    p.seal(0, PROBE_PN, &mut pkt, 0, PROBE_HEADER.len());
    pkt
}

/// Asserts that `p` opens a probe sealed by the other side of the same handshake.
pub(super) fn assert_opens_probe(p: &mut dyn PacketProtection, sealed: &[u8]) {
    let (header, body) = sealed.split_at(PROBE_HEADER.len());
    let mut body = body.to_vec();
    let len = p
        .open(0, PROBE_PN, false, header, &mut body)
        .expect("both sides of one handshake derive the same packet keys");
    assert_eq!(&body[..len], PROBE_TEXT);
}

/// Transport parameters the reference initiator sends.
pub(super) fn initiator_params() -> Vec<u8> {
    let mut p = TransportConfig::default().local_params();
    p.timestamp_ms = Some(1_700_000_000_000);
    let mut out = Vec::new();
    p.encode(&mut out);
    out
}

/// Transport parameters the reference responder sends.
pub(super) fn responder_params() -> Vec<u8> {
    let mut p = TransportConfig::default().local_params();
    p.connection_id = Some([0, 1, 2, 3, 4, 5, 6, 7]);
    let mut out = Vec::new();
    p.encode(&mut out);
    out
}

pub(super) fn build_transcript(mode: NoiseMode) -> Transcript {
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

pub(super) fn transcript(mode: NoiseMode) -> &'static Transcript {
    static ALL: OnceLock<Vec<Transcript>> = OnceLock::new();
    let all = ALL.get_or_init(|| NoiseMode::all().map(build_transcript).collect());
    &all[usize::from(mode.bits())]
}

// ===== Noise handshakes =========================================================================

/// Which static key an allow-list holds: bits 3–4 of a flags byte (0 or 3: no list).
pub(super) fn allow_list(flags: u8, expected: &Keypair) -> Option<[u8; 32]> {
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

pub(super) fn responder_session(mode: NoiseMode, flags: u8, msg1: &[u8], msg3: &[u8]) {
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
pub(super) struct RawStates<H: NoiseHash> {
    pub(super) responders: Vec<HandshakeState<H>>,
    pub(super) initiators: Vec<HandshakeState<H>>,
}

/// A Noise hash with its [`RawStates`].
pub(super) trait CachedHash: NoiseHash + Sized {
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
    pub(super) fn build(blake2s: bool) -> Self {
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

pub(super) fn responder_raw<H: CachedHash>(mode: NoiseMode, pin: bool, msg1: &[u8], msg3: &[u8]) {
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
pub(super) fn assert_raw_unusable<H: NoiseHash>(
    hs: &mut HandshakeState<H>,
    msg: &[u8],
    payload: &[u8],
) {
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

pub(super) fn initiator_session(mode: NoiseMode, flags: u8, msg2: &[u8]) {
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

pub(super) fn initiator_raw<H: CachedHash>(mode: NoiseMode, msg2: &[u8]) {
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
