//! Seed corpora made by the code itself.

#[allow(unused_imports)]
use super::*;

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
pub(super) fn pseudo_random(target: &str, index: usize, len: usize) -> Vec<u8> {
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
pub(super) fn every_frame_type() -> Vec<u8> {
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
pub(super) struct CapturedSession {
    /// Decrypted payloads the listener received (frames as the dialer sent them).
    pub(super) payloads: Vec<Vec<u8>>,
    /// The dialer's Finish of an XX handshake.
    pub(super) finish: Vec<u8>,
    /// A protected short-header packet.
    pub(super) short: Vec<u8>,
}

pub(super) fn capture_session() -> CapturedSession {
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
