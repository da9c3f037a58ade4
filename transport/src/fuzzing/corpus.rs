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

    // Packet headers: real datagrams of every kind.
    let retry_ref = retry_reference(true);
    add("header_decode", "initial", retry_ref.initial.clone());
    add("header_decode", "retry", retry_ref.retry.clone());
    add("header_decode", "handshake", retry_ref.handshake.clone());

    // Frames: every type in one payload (real decrypted payloads come from the test
    // kit's sessions: `netchan_tests::fuzz::corpus_seeds`).
    add("frames", "every_type", every_frame_type());

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
    seeds
}
