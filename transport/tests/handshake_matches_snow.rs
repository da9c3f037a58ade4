//! `netchan_transport::noise` against `snow` (an independent Noise implementation) as
//! referee: same protocols, static keys, ephemeral keys, prologue, psk and payloads must give
//! byte-identical handshake messages, the same handshake hash and the same transport keys.
//!
//! BLAKE2s protocols use snow's own BLAKE2s. snow has no BLAKE3: its `HashChoice` enum has
//! only SHA256, SHA512, BLAKE2s and BLAKE2b, and `HashChoice::from_str` maps any other name to
//! `UnsupportedHashType` (snow 0.10 `src/params/mod.rs`). But `NoiseParams`' fields are public,
//! snow hashes `params.name` verbatim in `InitializeSymmetric` (`handshakestate.rs`,
//! `symmetricstate.initialize(&params.name)`), and the `Hash` object comes from the resolver
//! (`resolver.resolve_hash(&params.hash)` in `builder.rs`), with HMAC and HKDF implemented
//! by the `Hash` trait's default methods (`types.rs`). So the BLAKE3 protocols are refereed by
//! parsing the BLAKE2s name, renaming it to `..._BLAKE3`, and building snow with a resolver
//! that returns a plain BLAKE3 hash (`block_len` 64) for `HashChoice::Blake2s`: snow's own
//! SymmetricState, HMAC and HKDF then run over BLAKE3.

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use netchan_transport::noise::{
    Blake2s, Blake3, HandshakeConfig, HandshakeState, NoiseHash, Pattern, TransportKeys, public_key,
};
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};

// ---------------------------------------------------------------------------------------------
// BLAKE3 for snow
// ---------------------------------------------------------------------------------------------

/// BLAKE3 (plain, unkeyed) as a snow `Hash`; HMAC/HKDF are snow's default trait methods.
#[derive(Default)]
struct SnowBlake3(blake3::Hasher);

impl Hash for SnowBlake3 {
    fn name(&self) -> &'static str {
        "BLAKE3"
    }
    fn block_len(&self) -> usize {
        64
    }
    fn hash_len(&self) -> usize {
        32
    }
    fn reset(&mut self) {
        self.0 = blake3::Hasher::new();
    }
    fn input(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn result(&mut self, out: &mut [u8]) {
        out[..32].copy_from_slice(self.0.finalize().as_bytes());
    }
}

/// snow's default resolver, except that `HashChoice::Blake2s` resolves to BLAKE3.
struct Blake3Resolver;

impl CryptoResolver for Blake3Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        DefaultResolver.resolve_rng()
    }
    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }
    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        match choice {
            HashChoice::Blake2s => Some(Box::<SnowBlake3>::default()),
            _ => None,
        }
    }
    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashKind {
    Blake2s,
    Blake3,
}

/// One handshake's inputs, shared by our implementation and snow.
#[derive(Debug, Clone)]
struct Scenario {
    pattern: Pattern,
    hash: HashKind,
    prologue: Vec<u8>,
    psk: Option<[u8; 32]>,
    initiator_static: [u8; 32],
    responder_static: [u8; 32],
    initiator_ephemeral: [u8; 32],
    responder_ephemeral: [u8; 32],
    /// One payload per handshake message.
    payloads: Vec<Vec<u8>>,
}

impl Scenario {
    fn name(&self) -> String {
        let psk = if self.psk.is_some() { "psk2" } else { "" };
        let pattern = match self.pattern {
            Pattern::IK => "IK",
            Pattern::XX => "XX",
        };
        let hash = match self.hash {
            HashKind::Blake2s => "BLAKE2s",
            HashKind::Blake3 => "BLAKE3",
        };
        format!("Noise_{pattern}{psk}_25519_ChaChaPoly_{hash}")
    }

    fn messages_total(&self) -> usize {
        match self.pattern {
            Pattern::IK => 2,
            Pattern::XX => 3,
        }
    }

    fn ours<H: NoiseHash>(&self, initiator: bool) -> HandshakeState<H> {
        let cfg = HandshakeConfig {
            pattern: self.pattern,
            initiator,
            prologue: &self.prologue,
            local_static: if initiator {
                self.initiator_static
            } else {
                self.responder_static
            },
            remote_static: (initiator && self.pattern == Pattern::IK)
                .then(|| public_key(&self.responder_static)),
            psk: self.psk,
            ephemeral: if initiator {
                self.initiator_ephemeral
            } else {
                self.responder_ephemeral
            },
        };
        let hs = HandshakeState::<H>::new(cfg).unwrap();
        assert_eq!(hs.protocol_name(), self.name());
        hs
    }

    fn snow(&self, initiator: bool) -> snow::HandshakeState {
        let name = self.name();
        let mut params: NoiseParams = name.replace("BLAKE3", "BLAKE2s").parse().unwrap();
        let builder = match self.hash {
            HashKind::Blake2s => snow::Builder::new(params),
            HashKind::Blake3 => {
                params.name = name;
                snow::Builder::with_resolver(params, Box::new(Blake3Resolver))
            }
        };
        let responder_public = public_key(&self.responder_static);
        let (local, ephemeral) = if initiator {
            (&self.initiator_static, &self.initiator_ephemeral)
        } else {
            (&self.responder_static, &self.responder_ephemeral)
        };
        let mut builder = builder
            .local_private_key(local)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(ephemeral)
            .prologue(&self.prologue)
            .unwrap();
        if let Some(psk) = &self.psk {
            builder = builder.psk(2, psk).unwrap();
        }
        if initiator && self.pattern == Pattern::IK {
            builder = builder.remote_public_key(&responder_public).unwrap();
        }
        if initiator {
            builder.build_initiator()
        } else {
            builder.build_responder()
        }
        .unwrap()
    }
}

fn test_key(label: &str, n: u64) -> [u8; 32] {
    *blake3::hash(format!("{label} {n}").as_bytes()).as_bytes()
}

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut counter = 0u64;
    while out.len() < len {
        out.extend_from_slice(test_key("payload", seed * 1_000_003 + counter).as_slice());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Several key sets, prologues and payload sizes (empty, 1, ~1000 bytes, and large) for each
/// pattern/psk combination.
fn scenarios(hash: HashKind) -> Vec<Scenario> {
    let payload_sets: [[usize; 3]; 5] = [
        [0, 0, 0],
        [1, 0, 13],
        [1000, 999, 1001],
        [0, 1000, 0],
        [40_000, 60_000, 65_000],
    ];
    let mut out = Vec::new();
    let mut seed = 0u64;
    for pattern in [Pattern::IK, Pattern::XX] {
        for with_psk in [false, true] {
            for (set, sizes) in payload_sets.iter().enumerate() {
                seed += 1;
                out.push(Scenario {
                    pattern,
                    hash,
                    prologue: if set % 2 == 0 {
                        Vec::new()
                    } else {
                        bytes(seed, 7 + set * 50)
                    },
                    psk: with_psk.then(|| test_key("psk", seed)),
                    initiator_static: test_key("initiator static", seed),
                    responder_static: test_key("responder static", seed),
                    initiator_ephemeral: test_key("initiator ephemeral", seed),
                    responder_ephemeral: test_key("responder ephemeral", seed),
                    payloads: sizes
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| bytes(seed * 10 + i as u64, n))
                        .collect(),
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

/// Noise's ChaChaPoly nonce for counter `n`: 4 zero bytes then LE64(n).
fn nonce(n: u64) -> chacha20poly1305::Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    bytes.into()
}

fn encrypt(key: &[u8; 32], n: u64, plaintext: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    let mut buf = plaintext.to_vec();
    cipher.encrypt_in_place(&nonce(n), &[], &mut buf).unwrap();
    buf
}

fn decrypt(key: &[u8; 32], n: u64, ciphertext: &[u8]) -> Option<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    let mut buf = ciphertext.to_vec();
    cipher.decrypt_in_place(&nonce(n), &[], &mut buf).ok()?;
    Some(buf)
}

/// Checks that our keys (`ours`, for the side `ours_is_initiator`) agree with the snow peer's
/// transport state, in both directions, on a few transport messages.
fn check_transport(
    sc: &Scenario,
    ours: &TransportKeys,
    ours_is_initiator: bool,
    mut snow_peer: snow::TransportState,
) {
    let (our_send, our_recv) = if ours_is_initiator {
        (&ours.initiator_to_responder, &ours.responder_to_initiator)
    } else {
        (&ours.responder_to_initiator, &ours.initiator_to_responder)
    };
    let mut buf = vec![0u8; 65535];
    for (n, len) in [(0u64, 0usize), (1, 100), (2, 1200)] {
        // Ours → snow, nonce n.
        let plaintext = bytes(n + 77, len);
        let ciphertext = encrypt(our_send, n, &plaintext);
        let got = snow_peer.read_message(&ciphertext, &mut buf).unwrap();
        assert_eq!(
            &buf[..got],
            &plaintext[..],
            "{}: ours → snow, nonce {n}",
            sc.name()
        );
        // snow → ours, nonce n.
        let plaintext = bytes(n + 99, len);
        let written = snow_peer.write_message(&plaintext, &mut buf).unwrap();
        let opened = decrypt(our_recv, n, &buf[..written]).expect("our key opens snow's message");
        assert_eq!(opened, plaintext, "{}: snow → ours, nonce {n}", sc.name());
    }
}

/// Runs two handshakes in lockstep: A = our initiator ↔ snow responder, B = snow initiator ↔
/// our responder. At every step the two writers have the same role and inputs, so their
/// messages must be byte-identical; each message is read by the other implementation.
fn check_scenario<H: NoiseHash>(sc: &Scenario) {
    let name = sc.name();
    let mut our_initiator = sc.ours::<H>(true);
    let mut snow_responder = sc.snow(false);
    let mut snow_initiator = sc.snow(true);
    let mut our_responder = sc.ours::<H>(false);
    let mut buf = vec![0u8; 65535];
    let mut payload_buf = vec![0u8; 65535];

    assert_eq!(our_initiator.messages_total(), sc.messages_total());
    for (index, payload) in sc.payloads.iter().take(sc.messages_total()).enumerate() {
        let initiator_writes = index % 2 == 0;
        assert_eq!(our_initiator.is_my_turn(), initiator_writes);
        assert_eq!(our_responder.is_my_turn(), !initiator_writes);
        assert_eq!(snow_initiator.is_my_turn(), initiator_writes);
        assert_eq!(snow_responder.is_my_turn(), !initiator_writes);

        let mut ours = Vec::new();
        let mut payload_out = Vec::new();
        if initiator_writes {
            // Both initiators write; the messages must be identical.
            our_initiator.write_message(payload, &mut ours).unwrap();
            let len = snow_initiator.write_message(payload, &mut buf).unwrap();
            assert_eq!(
                ours,
                &buf[..len],
                "{name}: message {index} differs from snow's"
            );
            // A: snow responder reads ours.
            let n = snow_responder
                .read_message(&ours, &mut payload_buf)
                .unwrap();
            assert_eq!(
                &payload_buf[..n],
                &payload[..],
                "{name}: msg {index} payload (A)"
            );
            // B: our responder reads snow's.
            our_responder
                .read_message(&buf[..len], &mut payload_out)
                .unwrap();
        } else {
            // Both responders write; the messages must be identical.
            let len = snow_responder.write_message(payload, &mut buf).unwrap();
            our_responder.write_message(payload, &mut ours).unwrap();
            assert_eq!(
                ours,
                &buf[..len],
                "{name}: message {index} differs from snow's"
            );
            // A: our initiator reads snow's.
            our_initiator
                .read_message(&buf[..len], &mut payload_out)
                .unwrap();
            // B: snow initiator reads ours.
            let n = snow_initiator
                .read_message(&ours, &mut payload_buf)
                .unwrap();
            assert_eq!(
                &payload_buf[..n],
                &payload[..],
                "{name}: msg {index} payload (B)"
            );
        }
        assert_eq!(
            payload_out, *payload,
            "{name}: msg {index} payload read by us"
        );
        // The running handshake hash agrees after every message.
        assert_eq!(
            our_initiator.handshake_hash(),
            snow_responder.get_handshake_hash()
        );
        assert_eq!(
            our_responder.handshake_hash(),
            snow_initiator.get_handshake_hash()
        );
    }

    for snow_side in [&snow_initiator, &snow_responder] {
        assert!(snow_side.is_handshake_finished(), "{name}");
    }
    assert!(
        our_initiator.is_finished() && our_responder.is_finished(),
        "{name}"
    );
    assert_eq!(
        our_initiator.remote_static(),
        Some(public_key(&sc.responder_static)),
        "{name}"
    );
    assert_eq!(
        our_responder.remote_static(),
        Some(public_key(&sc.initiator_static)),
        "{name}"
    );
    assert_eq!(
        snow_responder.get_remote_static(),
        Some(&public_key(&sc.initiator_static)[..])
    );
    assert_eq!(
        snow_initiator.get_remote_static(),
        Some(&public_key(&sc.responder_static)[..])
    );

    let our_i = our_initiator.split().unwrap();
    let our_r = our_responder.split().unwrap();
    // Handshake hashes: ours and snow's, all four equal (the two transcripts are identical).
    assert_eq!(
        our_i.handshake_hash,
        snow_responder.get_handshake_hash(),
        "{name}"
    );
    assert_eq!(
        our_r.handshake_hash,
        snow_initiator.get_handshake_hash(),
        "{name}"
    );
    assert_eq!(our_i.handshake_hash, our_r.handshake_hash, "{name}");
    // Raw Split() outputs.
    let (snow_r_i2r, snow_r_r2i) = snow_responder.dangerously_get_raw_split();
    let (snow_i_i2r, snow_i_r2i) = snow_initiator.dangerously_get_raw_split();
    for (i2r, r2i) in [(snow_r_i2r, snow_r_r2i), (snow_i_i2r, snow_i_r2i)] {
        assert_eq!(our_i.initiator_to_responder, i2r, "{name}");
        assert_eq!(our_i.responder_to_initiator, r2i, "{name}");
        assert_eq!(our_r.initiator_to_responder, i2r, "{name}");
        assert_eq!(our_r.responder_to_initiator, r2i, "{name}");
    }
    // Transport messages between the implementations.
    check_transport(
        sc,
        &our_i,
        true,
        snow_responder.into_transport_mode().unwrap(),
    );
    check_transport(
        sc,
        &our_r,
        false,
        snow_initiator.into_transport_mode().unwrap(),
    );
}

/// The BLAKE2s protocols, refereed by snow's own primitives.
#[test]
fn handshake_matches_snow() {
    let all = scenarios(HashKind::Blake2s);
    let names: std::collections::BTreeSet<String> = all.iter().map(Scenario::name).collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "Noise_IK_25519_ChaChaPoly_BLAKE2s",
            "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s",
            "Noise_XX_25519_ChaChaPoly_BLAKE2s",
            "Noise_XXpsk2_25519_ChaChaPoly_BLAKE2s",
        ]
    );
    for sc in &all {
        check_scenario::<Blake2s>(sc);
    }
}

/// The BLAKE3 protocols, refereed by snow's state machine, HMAC and HKDF over a plain BLAKE3
/// `Hash` plugged in through a custom resolver (see the module docs).
#[test]
fn handshake_matches_snow_blake3() {
    for sc in &scenarios(HashKind::Blake3) {
        check_scenario::<Blake3>(sc);
    }
}

/// Why the BLAKE3 referee needs the resolver trick: snow does not know the name.
#[test]
fn snow_does_not_parse_blake3_names() {
    assert!(
        "Noise_IK_25519_ChaChaPoly_BLAKE3"
            .parse::<NoiseParams>()
            .is_err()
    );
    assert!(
        "Noise_IK_25519_ChaChaPoly_BLAKE2s"
            .parse::<NoiseParams>()
            .is_ok()
    );
}

/// The BLAKE3 referee really hashes with BLAKE3: with the same inputs, the BLAKE2s and
/// BLAKE3 protocols diverge after the ephemeral key.
#[test]
fn snow_blake3_referee_is_not_blake2s() {
    let sc3 = scenarios(HashKind::Blake3).remove(1);
    let mut sc2 = sc3.clone();
    sc2.hash = HashKind::Blake2s;
    let mut buf3 = vec![0u8; 65535];
    let mut buf2 = vec![0u8; 65535];
    let n3 = sc3
        .snow(true)
        .write_message(&sc3.payloads[0], &mut buf3)
        .unwrap();
    let n2 = sc2
        .snow(true)
        .write_message(&sc2.payloads[0], &mut buf2)
        .unwrap();
    assert_eq!(n2, n3);
    assert_eq!(buf2[..32], buf3[..32]);
    assert_ne!(buf2[32..n2], buf3[32..n3]);
}

/// Both implementations reject the same corrupted message (one flipped bit in the last
/// message, or the wrong psk).
#[test]
fn snow_and_ours_agree_on_rejections() {
    for sc in scenarios(HashKind::Blake2s)
        .iter()
        .filter(|sc| sc.payloads[0].len() < 2000)
    {
        let total = sc.messages_total();
        let mut our_initiator = sc.ours::<Blake2s>(true);
        let mut snow_initiator = sc.snow(true);
        let mut our_responder = sc.ours::<Blake2s>(false);
        let mut snow_responder = sc.snow(false);
        let mut buf = vec![0u8; 65535];
        for index in 0..total {
            let initiator_writes = index % 2 == 0;
            let mut message = Vec::new();
            if initiator_writes {
                our_initiator
                    .write_message(&sc.payloads[index], &mut message)
                    .unwrap();
                snow_initiator
                    .write_message(&sc.payloads[index], &mut buf)
                    .unwrap();
            } else {
                our_responder
                    .write_message(&sc.payloads[index], &mut message)
                    .unwrap();
                snow_responder
                    .write_message(&sc.payloads[index], &mut buf)
                    .unwrap();
            }
            let (ours, snow) = if initiator_writes {
                (&mut our_responder, &mut snow_responder)
            } else {
                (&mut our_initiator, &mut snow_initiator)
            };
            if index + 1 == total {
                let mut forged = message.clone();
                forged[message.len() / 2] ^= 0x10;
                assert!(ours.clone().read_message(&forged, &mut Vec::new()).is_err());
                assert!(snow.read_message(&forged, &mut buf).is_err());
            } else {
                ours.read_message(&message, &mut Vec::new()).unwrap();
                snow.read_message(&message, &mut buf).unwrap();
            }
        }
    }
}
