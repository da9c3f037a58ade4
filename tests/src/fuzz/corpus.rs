//! Seed corpora of the kit's targets, and real traffic for the transport's parser targets.

use super::endpoint::endpoint_run;
use super::pair::Pair;
use bytes::Bytes;
use netchan_transport::TransportConfig;
use netchan_transport::fuzzing::shared::{every_frame_type, lock, pseudo_random, put_prefixed};
use netchan_transport::wire::Frames;
use std::collections::BTreeSet;

/// Seeds made by the code itself: inputs for `endpoint` and `connection_frames`, and
/// captured datagrams and decrypted payloads of real in-memory sessions for the
/// transport's `header_decode` and `frames`. Returns `(target, file name, bytes)`;
/// `tests/fuzz_corpus_replay.rs` writes them to `fuzz/corpus/<target>/seed-<name>` when
/// `NETCHAN_WRITE_FUZZ_SEEDS` is set.
pub fn corpus_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };
    let session = capture_session();
    add("header_decode", "finish", session.finish.clone());
    add("header_decode", "short", session.short.clone());
    for (i, p) in session.payloads.iter().enumerate() {
        add("frames", &format!("captured_{i}"), p.clone());
    }
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
    // Listener settings: limit 3 connections, no load limit, accepting, (psk), BLAKE3,
    // no allow-list, 40 handshakes/s per source, default timeouts; then the operation
    // sequence that got furthest among fixed pseudo-random candidates.
    for (psk, len) in [(0u8, 512), (0, 2048), (1, 1024)] {
        let setup = [2, 3, 1, psk, 0, 0, 39, 0, 0];
        let name = format!("selected{}_{len}", if psk == 1 { "_psk" } else { "" });
        let best = (0..48)
            .map(|i| {
                let mut input = setup.to_vec();
                input.extend_from_slice(&pseudo_random("endpoint", i + len, len));
                (endpoint_run(&input), i, input)
            })
            .max_by_key(|(score, i, _)| (*score, std::cmp::Reverse(*i)))
            .map(|(_, _, input)| input)
            .unwrap_or_default();
        add("endpoint", &name, best);
    }
    // Operation sequences for the session target (decoded with `arbitrary`).
    for (i, len) in [(0usize, 256usize), (1, 1024), (2, 4096)] {
        add(
            "session_frames",
            &format!("random_{len}"),
            pseudo_random("session_frames", i, len),
        );
    }
    seeds
}

/// Real traffic of an in-memory session, for seeds.
pub(crate) struct CapturedSession {
    /// Decrypted payloads the listener received (frames as the dialer sent them).
    pub(crate) payloads: Vec<Vec<u8>>,
    /// The dialer's Finish of an XX handshake.
    pub(crate) finish: Vec<u8>,
    /// A protected short-header packet.
    pub(crate) short: Vec<u8>,
}

pub(crate) fn capture_session() -> CapturedSession {
    let mut pair = Pair::new(TransportConfig::default());
    lock(&pair.server_registry.0).capture = true;
    pair.sent = Some(Vec::new());
    assert!(pair.connect(true), "capture session connects");
    let h = pair.client_handle.expect("dialed");
    if let Some(c) = pair.client().connection(h)
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
    let now = pair.now();
    if let Some(c) = pair.client().connection(h) {
        c.close(now, 7, b"done");
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
    let mut xx = Pair::new(TransportConfig::default());
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
