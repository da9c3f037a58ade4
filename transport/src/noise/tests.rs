//! Unit tests of the Noise implementation. Byte-exactness against an independent
//! implementation is checked by `tests/handshake_matches_snow.rs`.

use proptest::prelude::*;

use super::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn unhex32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

/// Deterministic 32-byte test key number `n` with label `label`.
fn key(label: &str, n: u8) -> [u8; 32] {
    *blake3::hash(&[label.as_bytes(), &[n]].concat()).as_bytes()
}

#[derive(Debug, Clone, Copy)]
struct Case {
    pattern: Pattern,
    psk: bool,
}

const CASES: [Case; 4] = [
    Case {
        pattern: Pattern::IK,
        psk: false,
    },
    Case {
        pattern: Pattern::XX,
        psk: false,
    },
    Case {
        pattern: Pattern::IK,
        psk: true,
    },
    Case {
        pattern: Pattern::XX,
        psk: true,
    },
];

/// Static and ephemeral secrets and psk of one test handshake.
#[derive(Clone)]
struct Keys {
    initiator_static: [u8; 32],
    responder_static: [u8; 32],
    initiator_ephemeral: [u8; 32],
    responder_ephemeral: [u8; 32],
    psk: [u8; 32],
}

fn keys(seed: u8) -> Keys {
    Keys {
        initiator_static: key("initiator static", seed),
        responder_static: key("responder static", seed),
        initiator_ephemeral: key("initiator ephemeral", seed),
        responder_ephemeral: key("responder ephemeral", seed),
        psk: key("psk", seed),
    }
}

const PROLOGUE: &[u8] = b"netchan test prologue";

fn initiator_config(case: Case, k: &Keys) -> HandshakeConfig<'static> {
    HandshakeConfig {
        pattern: case.pattern,
        initiator: true,
        prologue: PROLOGUE,
        local_static: k.initiator_static,
        remote_static: (case.pattern == Pattern::IK).then(|| public_key(&k.responder_static)),
        psk: case.psk.then_some(k.psk),
        ephemeral: k.initiator_ephemeral,
    }
}

fn responder_config(case: Case, k: &Keys) -> HandshakeConfig<'static> {
    HandshakeConfig {
        pattern: case.pattern,
        initiator: false,
        prologue: PROLOGUE,
        local_static: k.responder_static,
        remote_static: None,
        psk: case.psk.then_some(k.psk),
        ephemeral: k.responder_ephemeral,
    }
}

fn pair<H: NoiseHash>(case: Case, k: &Keys) -> (HandshakeState<H>, HandshakeState<H>) {
    (
        HandshakeState::new(initiator_config(case, k)).unwrap(),
        HandshakeState::new(responder_config(case, k)).unwrap(),
    )
}

fn payload(index: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + index * 31) as u8).collect()
}

/// Runs a full handshake, checking each payload arrives; returns the messages and both
/// sides' transport keys.
fn run_handshake<H: NoiseHash>(
    mut initiator: HandshakeState<H>,
    mut responder: HandshakeState<H>,
    payload_len: usize,
) -> Result<(Vec<Vec<u8>>, TransportKeys, TransportKeys), NoiseError> {
    let total = initiator.messages_total();
    let mut messages = Vec::new();
    for index in 0..total {
        let (sender, receiver) = if index % 2 == 0 {
            (&mut initiator, &mut responder)
        } else {
            (&mut responder, &mut initiator)
        };
        assert!(sender.is_my_turn() && !receiver.is_my_turn());
        let sent = payload(index, payload_len);
        let mut message = Vec::new();
        sender.write_message(&sent, &mut message)?;
        let mut received = Vec::new();
        receiver.read_message(&message, &mut received)?;
        assert_eq!(received, sent);
        messages.push(message);
    }
    assert!(initiator.is_finished() && responder.is_finished());
    assert!(!initiator.is_my_turn() && !responder.is_my_turn());
    assert_eq!(initiator.handshake_hash(), responder.handshake_hash());
    assert_eq!(
        initiator.remote_static(),
        Some(responder.local_static_public())
    );
    assert_eq!(
        responder.remote_static(),
        Some(initiator.local_static_public())
    );
    Ok((messages, initiator.split()?, responder.split()?))
}

/// Runs a handshake without checking payloads; returns the first error.
fn drive_handshake<H: NoiseHash>(
    mut initiator: HandshakeState<H>,
    mut responder: HandshakeState<H>,
    payload_len: usize,
) -> Result<(), NoiseError> {
    for index in 0..initiator.messages_total() {
        let (sender, receiver) = if index % 2 == 0 {
            (&mut initiator, &mut responder)
        } else {
            (&mut responder, &mut initiator)
        };
        let mut message = Vec::new();
        sender.write_message(&payload(index, payload_len), &mut message)?;
        receiver.read_message(&message, &mut Vec::new())?;
    }
    Ok(())
}

/// One message of a clean handshake, with the states around it, for mutation tests.
struct Step<H: NoiseHash> {
    /// The receiver just before reading `message`.
    receiver: HandshakeState<H>,
    /// The sender just after writing `message`.
    sender: HandshakeState<H>,
    message: Vec<u8>,
    payload_len: usize,
    /// Whether `message` authenticates nothing (XX message 1 without psk: `e` + clear payload).
    unauthenticated: bool,
}

fn transcript<H: NoiseHash>(case: Case, k: &Keys, payload_len: usize) -> Vec<Step<H>> {
    let (mut initiator, mut responder) = pair::<H>(case, k);
    let mut steps = Vec::new();
    for index in 0..initiator.messages_total() {
        let (sender, receiver) = if index % 2 == 0 {
            (&mut initiator, &mut responder)
        } else {
            (&mut responder, &mut initiator)
        };
        let mut message = Vec::new();
        sender
            .write_message(&payload(index, payload_len), &mut message)
            .unwrap();
        steps.push(Step {
            receiver: receiver.clone(),
            sender: sender.clone(),
            message: message.clone(),
            payload_len,
            unauthenticated: index == 0 && case.pattern == Pattern::XX && !case.psk,
        });
        receiver.read_message(&message, &mut Vec::new()).unwrap();
    }
    steps
}

/// Feeds `mutated` in place of `step.message`. Authenticated messages must be rejected by the
/// read itself (the error is returned); an unauthenticated message may be accepted, but then
/// the handshake must fail at the sender's next read (checked here).
fn feed_mutated<H: NoiseHash>(step: &Step<H>, mutated: &[u8]) -> Option<NoiseError> {
    let mut receiver = step.receiver.clone();
    let mut received = vec![0xAA];
    match receiver.read_message(mutated, &mut received) {
        Err(err) => {
            assert_eq!(received, [0xAA], "payload buffer changed on error");
            assert!(receiver.is_unusable());
            assert_eq!(
                receiver.read_message(&step.message, &mut received),
                Err(NoiseError::Unusable)
            );
            Some(err)
        }
        Ok(()) => {
            assert!(
                step.unauthenticated,
                "mutated authenticated message accepted"
            );
            let mut reply = Vec::new();
            receiver.write_message(b"reply", &mut reply).unwrap();
            let mut sender = step.sender.clone();
            assert_eq!(
                sender.read_message(&reply, &mut Vec::new()),
                Err(NoiseError::Decrypt)
            );
            None
        }
    }
}

/// The X25519 public keys of small order (and their non-canonical encodings), as listed by
/// libsodium: every X25519 with them gives zero.
fn low_order_points() -> Vec<[u8; 32]> {
    let mut points = vec![
        [0u8; 32],
        {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        },
        unhex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        unhex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        unhex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        unhex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        unhex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    // X25519 ignores the top bit, so these are low order too.
    let high: Vec<[u8; 32]> = points
        .iter()
        .map(|p| {
            let mut p = *p;
            p[31] |= 0x80;
            p
        })
        .collect();
    points.extend(high);
    points
}

// ---------------------------------------------------------------------------------------------
// Hash, HMAC, HKDF
// ---------------------------------------------------------------------------------------------

/// Known answers computed with Python's `hmac.new(key, data, hashlib.blake2s)` (RFC 2104 with
/// BLAKE2s, block size 64) and Noise's HKDF written on top of it.
#[test]
fn hmac_and_hkdf_blake2s_known_answers() {
    let k: Vec<u8> = (0u8..32).collect();
    assert_eq!(
        hex(&hmac::<Blake2s>(&k, &[b"netchan noise hmac test"])),
        "69818cb10bf28c989887acae552c3081e031be4f4f443dae649b9c8fd6f2b578"
    );
    // Split data gives the same result as joined data.
    assert_eq!(
        hex(&hmac::<Blake2s>(
            &k,
            &[b"netchan ", b"", b"noise hmac", b" test"]
        )),
        "69818cb10bf28c989887acae552c3081e031be4f4f443dae649b9c8fd6f2b578"
    );
    let many: Vec<&[u8]> = b"netchan noise hmac test".chunks(1).collect();
    assert_eq!(
        hex(&hmac::<Blake2s>(&k, &many)),
        "69818cb10bf28c989887acae552c3081e031be4f4f443dae649b9c8fd6f2b578"
    );
    let k64: Vec<u8> = (0u8..64).collect();
    assert_eq!(
        hex(&hmac::<Blake2s>(&k64, &[])),
        "4a4f8f181c931253202b2d7a77e2a612f65580f4b0d56108f7f275f22b63ae00"
    );
    let k100: Vec<u8> = (0u8..100).collect();
    assert_eq!(
        hex(&hmac::<Blake2s>(&k100, &[b"abc"])),
        "c1b751501db12b753069a918627b623179be55c8cc7ca5c4e14bdf32274ac656"
    );

    let ck = [0x11u8; 32];
    let ikm: Vec<u8> = (0u8..32).collect();
    let (o1, o2, o3) = hkdf3::<Blake2s>(&ck, &ikm);
    assert_eq!(
        hex(&o1),
        "a94c6194e0d18c89fc4ce1c0fdb8c9ddc2c0893010f7d06429144263c0d6f571"
    );
    assert_eq!(
        hex(&o2),
        "1d794310e8ab95e99d764bde54e8ccfa930da25482dad5a1c31f007fee04fb6c"
    );
    assert_eq!(
        hex(&o3),
        "6e84e8a39b07f5305045c9e5c05995e5a7f29af9434d384faad27f50895d3408"
    );
    assert_eq!(hkdf2::<Blake2s>(&ck, &ikm), (o1, o2));
    let (e1, e2) = hkdf2::<Blake2s>(&ck, &[]);
    assert_eq!(
        hex(&e1),
        "d927742402ed71d8c026cececc54caf94252982b3c00a9a6895682e42b6e61b1"
    );
    assert_eq!(
        hex(&e2),
        "23fe1877549215396836ea20562232f4a361a6ffc08b3701f03850ee669bc0ac"
    );
}

/// BLAKE3's HMAC is RFC 2104 over plain BLAKE3 with a 64-byte block, not BLAKE3's keyed mode.
#[test]
fn hmac_blake3_is_rfc2104_over_plain_blake3() {
    let k = key("hmac key", 0);
    let data = b"some data";
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..32 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = blake3::hash(&[&ipad[..], data].concat());
    let expected = blake3::hash(&[&opad[..], inner.as_bytes()].concat());
    assert_eq!(&hmac::<Blake3>(&k, &[data]), expected.as_bytes());
    assert_ne!(
        &hmac::<Blake3>(&k, &[data]),
        blake3::keyed_hash(&k, data).as_bytes()
    );
    assert_eq!(
        Blake3::hash(&[b"ab", b"c"]),
        *blake3::hash(b"abc").as_bytes()
    );
    assert_eq!(
        hex(&Blake2s::hash(&[
            b"Noise_IKpsk2_25519_",
            b"ChaChaPoly_BLAKE2s"
        ])),
        "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"
    );
}

#[test]
fn protocol_names() {
    assert_eq!(
        protocol_name::<Blake2s>(Pattern::IK, false),
        "Noise_IK_25519_ChaChaPoly_BLAKE2s"
    );
    assert_eq!(
        protocol_name::<Blake2s>(Pattern::XX, true),
        "Noise_XXpsk2_25519_ChaChaPoly_BLAKE2s"
    );
    assert_eq!(
        protocol_name::<Blake3>(Pattern::IK, true),
        "Noise_IKpsk2_25519_ChaChaPoly_BLAKE3"
    );
    // Exactly HASHLEN bytes: used as h directly, without hashing (Noise §5.2).
    let name = protocol_name::<Blake3>(Pattern::IK, false);
    assert_eq!(name.len(), 32);
    let (responder_static, prologue) = (key("s", 1), b"the prologue");
    let hs = HandshakeState::<Blake3>::new(HandshakeConfig {
        pattern: Pattern::XX,
        initiator: false,
        prologue,
        local_static: responder_static,
        remote_static: None,
        psk: None,
        ephemeral: key("e", 1),
    })
    .unwrap();
    // XX has no pre-message: h = HASH(padded name || prologue).
    let mut padded = [0u8; 32];
    padded.copy_from_slice(b"Noise_XX_25519_ChaChaPoly_BLAKE3");
    assert_eq!(hs.handshake_hash(), Blake3::hash(&[&padded, prologue]));
    assert_eq!(hs.protocol_name(), "Noise_XX_25519_ChaChaPoly_BLAKE3");
}

// ---------------------------------------------------------------------------------------------
// Successful handshakes
// ---------------------------------------------------------------------------------------------

fn handshakes_complete<H: NoiseHash>() {
    for case in CASES {
        for seed in 0..3u8 {
            for payload_len in [0, 1, 1000] {
                let k = keys(seed);
                let (initiator, responder) = pair::<H>(case, &k);
                assert_eq!(
                    initiator.messages_total(),
                    if case.pattern == Pattern::IK { 2 } else { 3 }
                );
                let (messages, ik, rk) = run_handshake(initiator, responder, payload_len).unwrap();
                assert_eq!(ik.initiator_to_responder, rk.initiator_to_responder);
                assert_eq!(ik.responder_to_initiator, rk.responder_to_initiator);
                assert_eq!(ik.handshake_hash, rk.handshake_hash);
                assert_ne!(ik.initiator_to_responder, ik.responder_to_initiator);
                // Message sizes: e = 32, encrypted s = 48, every message but XX's first has a
                // tag on its payload (with psk, XX's first too: `e` mixes into the key).
                let sizes: Vec<usize> = messages.iter().map(|m| m.len() - payload_len).collect();
                let expected: Vec<usize> = match (case.pattern, case.psk) {
                    (Pattern::IK, _) => vec![32 + 48 + 16, 32 + 16],
                    (Pattern::XX, false) => vec![32, 32 + 48 + 16, 48 + 16],
                    (Pattern::XX, true) => vec![32 + 16, 32 + 48 + 16, 48 + 16],
                };
                assert_eq!(sizes, expected, "{case:?}");
                // Deterministic: the same inputs give the same transcript.
                let (again, _, _) =
                    run_handshake(pair::<H>(case, &k).0, pair::<H>(case, &k).1, payload_len)
                        .unwrap();
                assert_eq!(messages, again);
            }
        }
    }
}

#[test]
fn handshakes_complete_blake2s() {
    handshakes_complete::<Blake2s>();
}

#[test]
fn handshakes_complete_blake3() {
    handshakes_complete::<Blake3>();
}

#[test]
fn hashes_give_different_transcripts() {
    let k = keys(0);
    let case = CASES[0];
    let (m2, _, _) =
        run_handshake(pair::<Blake2s>(case, &k).0, pair::<Blake2s>(case, &k).1, 4).unwrap();
    let (m3, _, _) =
        run_handshake(pair::<Blake3>(case, &k).0, pair::<Blake3>(case, &k).1, 4).unwrap();
    assert_eq!(m2[0][..32], m3[0][..32], "same ephemeral key");
    assert_ne!(m2[0][32..], m3[0][32..]);
}

#[test]
fn max_size_payloads() {
    for case in CASES {
        let k = keys(7);
        let (mut initiator, mut responder) = pair::<Blake3>(case, &k);
        // Message 1's fixed part: IK 96, XX 32 (+16 with psk).
        let fixed = match (case.pattern, case.psk) {
            (Pattern::IK, _) => 96,
            (Pattern::XX, false) => 32,
            (Pattern::XX, true) => 48,
        };
        let mut out = vec![1, 2, 3];
        let too_long = vec![0u8; MAX_MESSAGE_LEN - fixed + 1];
        assert_eq!(
            initiator.write_message(&too_long, &mut out),
            Err(NoiseError::MessageTooLong)
        );
        assert_eq!(out, [1, 2, 3]);
        assert!(
            initiator.is_my_turn(),
            "MessageTooLong on write leaves the state usable"
        );
        let longest = vec![0x5au8; MAX_MESSAGE_LEN - fixed];
        out.clear();
        initiator.write_message(&longest, &mut out).unwrap();
        assert_eq!(out.len(), MAX_MESSAGE_LEN);
        let mut received = Vec::new();
        responder.read_message(&out, &mut received).unwrap();
        assert_eq!(received, longest);
    }
    // A received message above the limit is refused.
    let (_, mut responder) = pair::<Blake2s>(CASES[1], &keys(7));
    assert_eq!(
        responder.read_message(&vec![0u8; MAX_MESSAGE_LEN + 1], &mut Vec::new()),
        Err(NoiseError::MessageTooLong)
    );
    assert!(responder.is_unusable());
}

#[test]
fn output_buffers_are_appended_to() {
    let (mut initiator, mut responder) = pair::<Blake2s>(CASES[0], &keys(1));
    let mut out = b"prefix".to_vec();
    initiator.write_message(b"hello", &mut out).unwrap();
    let mut payload = b"before:".to_vec();
    responder.read_message(&out[6..], &mut payload).unwrap();
    assert_eq!(payload, b"before:hello");
}

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

#[test]
fn ik_initiator_with_wrong_responder_key_is_rejected() {
    for psk in [false, true] {
        let case = Case {
            pattern: Pattern::IK,
            psk,
        };
        let k = keys(2);
        let mut cfg = initiator_config(case, &k);
        cfg.remote_static = Some(public_key(&key("someone else", 0)));
        let mut initiator = HandshakeState::<Blake2s>::new(cfg).unwrap();
        let mut responder = HandshakeState::<Blake2s>::new(responder_config(case, &k)).unwrap();
        let mut message = Vec::new();
        initiator.write_message(b"params", &mut message).unwrap();
        assert_eq!(
            responder.read_message(&message, &mut Vec::new()),
            Err(NoiseError::Decrypt)
        );
        assert!(responder.is_unusable());
    }
}

#[test]
fn ik_initiator_needs_remote_static() {
    let k = keys(0);
    for psk in [false, true] {
        let mut cfg = initiator_config(
            Case {
                pattern: Pattern::IK,
                psk,
            },
            &k,
        );
        cfg.remote_static = None;
        assert_eq!(
            HandshakeState::<Blake3>::new(cfg).err(),
            Some(NoiseError::MissingRemoteStatic)
        );
    }
}

#[test]
fn wrong_or_missing_psk_is_rejected() {
    for pattern in [Pattern::IK, Pattern::XX] {
        let case = Case { pattern, psk: true };
        let k = keys(3);
        // Wrong psk on one side: the handshake fails at the first message after the psk
        // token (the initiator reading message 2).
        let mut cfg = responder_config(case, &k);
        cfg.psk = Some(key("other psk", 0));
        let responder = HandshakeState::<Blake2s>::new(cfg).unwrap();
        let initiator = HandshakeState::<Blake2s>::new(initiator_config(case, &k)).unwrap();
        assert_eq!(
            run_handshake(initiator, responder, 10).err(),
            Some(NoiseError::Decrypt)
        );

        // psk on one side only: the protocol names differ, so the first authenticated
        // message fails.
        for psk_side_is_initiator in [false, true] {
            let no_psk = Case {
                pattern,
                psk: false,
            };
            let (icfg, rcfg) = if psk_side_is_initiator {
                (initiator_config(case, &k), responder_config(no_psk, &k))
            } else {
                (initiator_config(no_psk, &k), responder_config(case, &k))
            };
            let initiator = HandshakeState::<Blake2s>::new(icfg).unwrap();
            let responder = HandshakeState::<Blake2s>::new(rcfg).unwrap();
            // A psk responder expects a tag on XX message 1 that a non-psk initiator did not
            // add: with a 10-byte payload that message is too short for it.
            // XX message 1 is unauthenticated: a non-psk responder takes the psk initiator's
            // encrypted payload for clear text, so drive the handshake without checking
            // payloads.
            let err = drive_handshake(initiator, responder, 10).err();
            assert!(
                matches!(err, Some(NoiseError::Decrypt | NoiseError::Truncated)),
                "{err:?}"
            );
            if pattern == Pattern::IK {
                assert_eq!(err, Some(NoiseError::Decrypt));
            }
        }
    }
}

#[test]
fn prologue_mismatch_is_rejected() {
    for case in CASES {
        let k = keys(4);
        let mut cfg = responder_config(case, &k);
        cfg.prologue = b"another prologue";
        let initiator = HandshakeState::<Blake3>::new(initiator_config(case, &k)).unwrap();
        let responder = HandshakeState::<Blake3>::new(cfg).unwrap();
        assert_eq!(
            run_handshake(initiator, responder, 0).err(),
            Some(NoiseError::Decrypt)
        );
    }
}

#[test]
fn pinned_remote_static() {
    for case in CASES {
        let k = keys(5);
        // The responder pins the initiator's key (any pattern), the XX initiator pins the
        // responder's.
        let mut rcfg = responder_config(case, &k);
        rcfg.remote_static = Some(public_key(&k.initiator_static));
        let mut icfg = initiator_config(case, &k);
        icfg.remote_static = Some(public_key(&k.responder_static));
        let initiator = HandshakeState::<Blake2s>::new(icfg.clone()).unwrap();
        let responder = HandshakeState::<Blake2s>::new(rcfg).unwrap();
        run_handshake(initiator, responder, 3).unwrap();

        let mut rcfg = responder_config(case, &k);
        rcfg.remote_static = Some(public_key(&key("stranger", 0)));
        let initiator = HandshakeState::<Blake2s>::new(icfg).unwrap();
        let responder = HandshakeState::<Blake2s>::new(rcfg).unwrap();
        assert_eq!(
            run_handshake(initiator, responder, 3).err(),
            Some(NoiseError::RemoteStaticMismatch)
        );

        if case.pattern == Pattern::XX {
            let mut icfg = initiator_config(case, &k);
            icfg.remote_static = Some(public_key(&key("stranger", 0)));
            let initiator = HandshakeState::<Blake2s>::new(icfg).unwrap();
            let responder = HandshakeState::<Blake2s>::new(responder_config(case, &k)).unwrap();
            assert_eq!(
                run_handshake(initiator, responder, 3).err(),
                Some(NoiseError::RemoteStaticMismatch)
            );
        }
    }
}

fn truncations_rejected<H: NoiseHash>() {
    for case in CASES {
        for payload_len in [0, 20, 1000] {
            for step in transcript::<H>(case, &keys(6), payload_len) {
                let fixed = step.message.len() - step.payload_len;
                for len in 0..step.message.len() {
                    let result = feed_mutated(&step, &step.message[..len]);
                    if len < fixed {
                        assert_eq!(result, Some(NoiseError::Truncated), "{case:?} len {len}");
                    } else if step.unauthenticated {
                        assert_eq!(result, None);
                    } else {
                        assert_eq!(result, Some(NoiseError::Decrypt), "{case:?} len {len}");
                    }
                }
                // Extra bytes are rejected too (they become part of the payload ciphertext).
                let mut longer = step.message.clone();
                longer.push(0);
                let result = feed_mutated(&step, &longer);
                assert_eq!(
                    result,
                    if step.unauthenticated {
                        None
                    } else {
                        Some(NoiseError::Decrypt)
                    }
                );
            }
        }
    }
}

#[test]
fn every_truncation_is_rejected_blake2s() {
    truncations_rejected::<Blake2s>();
}

#[test]
fn every_truncation_is_rejected_blake3() {
    truncations_rejected::<Blake3>();
}

fn bit_flips_rejected<H: NoiseHash>() {
    for case in CASES {
        for payload_len in [0, 48] {
            for step in transcript::<H>(case, &keys(8), payload_len) {
                for byte in 0..step.message.len() {
                    for bit in 0..8 {
                        let mut mutated = step.message.clone();
                        mutated[byte] ^= 1 << bit;
                        match feed_mutated(&step, &mutated) {
                            None => assert!(step.unauthenticated),
                            Some(err) => assert!(
                                matches!(err, NoiseError::Decrypt | NoiseError::LowOrderPoint),
                                "{case:?} byte {byte} bit {bit}: {err:?}"
                            ),
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_bit_flip_is_rejected_blake2s() {
    bit_flips_rejected::<Blake2s>();
}

#[test]
fn every_bit_flip_is_rejected_blake3() {
    bit_flips_rejected::<Blake3>();
}

#[test]
fn low_order_ephemeral_is_rejected() {
    for case in CASES {
        for point in low_order_points() {
            // The initiator's ephemeral in message 1.
            let k = keys(9);
            let (mut initiator, mut responder) = pair::<Blake2s>(case, &k);
            initiator.override_public_keys_for_test(None, Some(point));
            let mut m1 = Vec::new();
            initiator.write_message(b"x", &mut m1).unwrap();
            assert_eq!(&m1[..32], &point);
            assert_eq!(
                responder.read_message(&m1, &mut Vec::new()),
                Err(NoiseError::LowOrderPoint),
                "{case:?} {}",
                hex(&point)
            );
            assert!(responder.is_unusable());

            // The responder's ephemeral in message 2.
            let (mut initiator, mut responder) = pair::<Blake2s>(case, &k);
            responder.override_public_keys_for_test(None, Some(point));
            let mut m1 = Vec::new();
            initiator.write_message(b"x", &mut m1).unwrap();
            responder.read_message(&m1, &mut Vec::new()).unwrap();
            let mut m2 = Vec::new();
            responder.write_message(b"y", &mut m2).unwrap();
            assert_eq!(
                initiator.read_message(&m2, &mut Vec::new()),
                Err(NoiseError::LowOrderPoint)
            );
        }
    }
}

#[test]
fn low_order_static_is_rejected() {
    for case in CASES {
        for point in low_order_points() {
            let k = keys(10);
            // Configured as the IK responder's key.
            if case.pattern == Pattern::IK {
                let mut cfg = initiator_config(case, &k);
                cfg.remote_static = Some(point);
                assert_eq!(
                    HandshakeState::<Blake3>::new(cfg).err(),
                    Some(NoiseError::LowOrderPoint)
                );
            }
            // Transmitted by the initiator (IK message 1, XX message 3).
            let (mut initiator, responder) = pair::<Blake3>(case, &k);
            initiator.override_public_keys_for_test(Some(point), None);
            assert_eq!(
                run_handshake(initiator, responder, 5).err(),
                Some(NoiseError::LowOrderPoint)
            );
            // Transmitted by the XX responder (message 2).
            if case.pattern == Pattern::XX {
                let (initiator, mut responder) = pair::<Blake3>(case, &k);
                responder.override_public_keys_for_test(Some(point), None);
                assert_eq!(
                    run_handshake(initiator, responder, 5).err(),
                    Some(NoiseError::LowOrderPoint)
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State machine
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_turn_is_reported_and_harmless() {
    for case in CASES {
        let k = keys(11);
        let (mut initiator, mut responder) = pair::<Blake2s>(case, &k);
        let mut buf = Vec::new();
        assert_eq!(
            responder.write_message(b"", &mut buf),
            Err(NoiseError::WrongTurn)
        );
        assert_eq!(
            initiator.read_message(&[0u8; 100], &mut buf),
            Err(NoiseError::WrongTurn)
        );
        assert!(buf.is_empty());
        assert_eq!(
            initiator.clone().split().err(),
            Some(NoiseError::NotFinished)
        );
        assert_eq!(
            responder.clone().split().err(),
            Some(NoiseError::NotFinished)
        );
        assert!(!initiator.is_unusable() && !responder.is_unusable());
        // The same states still complete the handshake.
        let mut done_initiator = initiator.clone();
        let mut done_responder = responder.clone();
        let total = initiator.messages_total();
        for index in 0..total {
            let (sender, receiver) = if index % 2 == 0 {
                (&mut done_initiator, &mut done_responder)
            } else {
                (&mut done_responder, &mut done_initiator)
            };
            let mut m = Vec::new();
            assert_eq!(
                receiver.write_message(b"", &mut m),
                Err(NoiseError::WrongTurn)
            );
            assert_eq!(
                sender.read_message(&[0u8; 100], &mut Vec::new()),
                Err(NoiseError::WrongTurn)
            );
            assert!(m.is_empty());
            sender.write_message(b"", &mut m).unwrap();
            receiver.read_message(&m, &mut Vec::new()).unwrap();
        }
        for side in [&mut done_initiator, &mut done_responder] {
            assert!(side.is_finished());
            assert_eq!(
                side.write_message(b"", &mut Vec::new()),
                Err(NoiseError::WrongTurn)
            );
            assert_eq!(
                side.read_message(&[0u8; 64], &mut Vec::new()),
                Err(NoiseError::WrongTurn)
            );
        }
        let a = done_initiator.split().unwrap();
        let b = done_responder.split().unwrap();
        assert_eq!(a.initiator_to_responder, b.initiator_to_responder);
    }
}

#[test]
fn unusable_after_error() {
    for case in CASES {
        let (mut initiator, mut responder) = pair::<Blake3>(case, &keys(12));
        let mut m1 = Vec::new();
        initiator.write_message(b"hi", &mut m1).unwrap();
        // Truncated below every fixed part.
        assert_eq!(
            responder.read_message(&m1[..10], &mut Vec::new()),
            Err(NoiseError::Truncated)
        );
        assert!(responder.is_unusable());
        assert!(!responder.is_my_turn());
        assert!(!responder.is_finished());
        assert_eq!(
            responder.read_message(&m1, &mut Vec::new()),
            Err(NoiseError::Unusable)
        );
        assert_eq!(
            responder.write_message(b"", &mut Vec::new()),
            Err(NoiseError::Unusable)
        );
        assert_eq!(responder.clone().split().err(), Some(NoiseError::Unusable));
        assert_eq!(
            responder.handshake_hash(),
            [0u8; 32],
            "secrets wiped on failure"
        );
    }
}

#[test]
fn clone_allows_ignoring_a_forged_message() {
    for case in CASES {
        // Message 2 is authenticated in every pattern.
        let (mut initiator, mut responder) = pair::<Blake2s>(case, &keys(13));
        let mut m1 = Vec::new();
        initiator.write_message(b"hi", &mut m1).unwrap();
        responder.read_message(&m1, &mut Vec::new()).unwrap();
        let mut m2 = Vec::new();
        responder.write_message(b"there", &mut m2).unwrap();
        let mut forged = m2.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let mut attempt = initiator.clone();
        assert_eq!(
            attempt.read_message(&forged, &mut Vec::new()),
            Err(NoiseError::Decrypt)
        );
        let mut payload = Vec::new();
        initiator.read_message(&m2, &mut payload).unwrap();
        assert_eq!(payload, b"there");
    }
}

#[test]
fn rekey_is_deterministic_and_changes_the_key() {
    let k = key("transport", 0);
    let k1 = rekey(&k);
    assert_eq!(k1, rekey(&k));
    assert_ne!(k1, k);
    assert_ne!(rekey(&k1), k1);
    assert_ne!(rekey(&key("transport", 1)), k1);
    // REKEY(k) = ENCRYPT(k, 2^64 − 1, "", zeros[32])[..32], with the ChaChaPoly nonce
    // 00000000 || LE64(n).
    use chacha20poly1305::aead::{AeadInOut, KeyInit};
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&k.into());
    let mut buf = [0u8; 32];
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&u64::MAX.to_le_bytes());
    cipher
        .encrypt_inout_detached(&nonce.into(), &[], buf.as_mut_slice().into())
        .unwrap();
    assert_eq!(k1, buf);
}

#[test]
fn public_key_matches_x25519_base_point_multiplication() {
    // RFC 7748 §6.1 test vector (Alice).
    let secret = unhex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    assert_eq!(
        hex(&public_key(&secret)),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let case = CASES[3];
    let k = keys(14);
    let icfg = initiator_config(case, &k);
    let (mut initiator, mut responder) = pair::<Blake2s>(case, &k);
    let mut secrets: Vec<[u8; 32]> = vec![
        k.initiator_static,
        k.responder_static,
        k.initiator_ephemeral,
        k.responder_ephemeral,
        k.psk,
    ];
    let mut debug = vec![
        format!("{icfg:?}"),
        format!("{initiator:?}"),
        format!("{responder:?}"),
    ];
    for index in 0..3 {
        let (s, r) = if index % 2 == 0 {
            (&mut initiator, &mut responder)
        } else {
            (&mut responder, &mut initiator)
        };
        let mut m = Vec::new();
        s.write_message(b"", &mut m).unwrap();
        r.read_message(&m, &mut Vec::new()).unwrap();
        debug.push(format!("{initiator:?}"));
        debug.push(format!("{responder:?}"));
    }
    let keys = initiator.split().unwrap();
    secrets.push(keys.initiator_to_responder);
    secrets.push(keys.responder_to_initiator);
    debug.push(format!("{keys:?}"));
    debug.push(format!("{keys:#?}"));
    for text in &debug {
        assert!(
            text.contains("redacted") || text.contains("HandshakeState"),
            "{text}"
        );
        for secret in &secrets {
            assert!(!text.contains(&hex(secret)), "secret hex in {text}");
            assert!(
                !text.contains(&hex(&secret[..8])),
                "secret prefix in {text}"
            );
            let as_list = format!("{:?}", &secret[..6]);
            assert!(
                !text.contains(&as_list[1..as_list.len() - 1]),
                "secret bytes in {text}"
            );
        }
    }
    // Public values are shown.
    assert!(debug[1].contains(&hex(&public_key(&k.initiator_static))));
    assert!(format!("{keys:?}").contains(&hex(&keys.handshake_hash)));
}

// ---------------------------------------------------------------------------------------------
// Random input never panics
// ---------------------------------------------------------------------------------------------

/// Reads `bytes` at `position` (0: the responder's first read, 1: the initiator's read of
/// message 2, 2: the XX responder's read of message 3) after a clean prefix.
fn read_random<H: NoiseHash>(case: Case, position: usize, bytes: &[u8]) {
    let steps = transcript::<H>(case, &keys(15), 16);
    let Some(step) = steps.get(position) else {
        return;
    };
    let mut receiver = step.receiver.clone();
    let mut payload = Vec::new();
    match receiver.read_message(bytes, &mut payload) {
        Ok(()) => assert!(
            step.unauthenticated,
            "random bytes accepted as an authenticated message"
        ),
        Err(_) => {
            assert!(payload.is_empty());
            assert_eq!(
                receiver.read_message(bytes, &mut payload),
                Err(NoiseError::Unusable)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn read_message_never_panics(
        case in 0usize..4,
        position in 0usize..3,
        blake3 in any::<bool>(),
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            proptest::collection::vec(any::<u8>(), 0..2000),
        ],
    ) {
        if blake3 {
            read_random::<Blake3>(CASES[case], position, &bytes);
        } else {
            read_random::<Blake2s>(CASES[case], position, &bytes);
        }
    }

    #[test]
    fn read_message_never_panics_on_near_valid_messages(
        case in 0usize..4,
        position in 0usize..3,
        cut in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let steps = transcript::<Blake2s>(CASES[case], &keys(16), 24);
        if let Some(step) = steps.get(position) {
            let mut message = step.message.clone();
            for (at, value) in &edits {
                let i = at.index(message.len());
                message[i] = *value;
            }
            message.truncate(cut.index(message.len() + 1));
            let changed = message != step.message;
            let mut receiver = step.receiver.clone();
            let result = receiver.read_message(&message, &mut Vec::new());
            if changed && !step.unauthenticated {
                prop_assert!(result.is_err());
            }
            if !changed {
                prop_assert!(result.is_ok());
            }
        }
    }
}
