//! Fuzzing entry points (feature `fuzzing`; not a public API).
//!
//! One total function per fuzz target in `fuzz/fuzz_targets/` that calls
//! `netchan::fuzzing::<name>`; `tests/fuzz_corpus_replay.rs` runs the same functions on
//! every file of `fuzz/corpus/<name>/`. The only panics are assertions of real
//! invariants (exact re-encoding, codec round trips).

use crate::codec;
use crate::wire::{Frame, OpenLabel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A fuzz target.
pub type Target = fn(&[u8]);

/// Every netchan fuzz target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("channel_label", channel_label),
    ("channel_frame", channel_frame),
    ("message_codec", message_codec),
];

/// The label a peer opens a channel with: a decoded label re-encodes to exactly the
/// input (the format is canonical), and decodes again to the same value.
pub fn channel_label(data: &[u8]) {
    if let Ok(l) = OpenLabel::decode(data) {
        let enc = l.encode();
        assert_eq!(enc, data, "label re-encoding differs");
        assert_eq!(OpenLabel::decode(&enc).as_ref(), Ok(&l));
        assert!(enc.len() <= netchan_transport::wire::MAX_LABEL_LEN + 64);
    }
}

/// One channel-layer frame (DATA / CONSUMED / SEND_CLOSED / RECV_CLOSED): a decoded
/// frame re-encodes to exactly the input.
pub fn channel_frame(data: &[u8]) {
    if let Ok(f) = Frame::decode(data) {
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, data, "frame re-encoding differs");
    }
}

#[derive(Serialize, Deserialize, Debug)]
enum Kind {
    A,
    B(i32),
    C { x: f64, y: Option<u8> },
}

#[derive(Serialize, Deserialize, Debug)]
struct Job {
    id: u64,
    name: String,
    tags: Vec<String>,
    payload: Option<Vec<u8>>,
    kind: Kind,
    map: BTreeMap<String, u32>,
    nested: Vec<Vec<u16>>,
    tuple: (u8, i128, char, bool),
}

fn round_trip<T>(data: &[u8])
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let Ok(v) = codec::decode::<T>(data) else {
        return;
    };
    let enc = codec::encode(&v).expect("a decoded value encodes");
    assert!(
        enc.len() <= data.len(),
        "canonical encoding ({}) longer than the accepted input ({})",
        enc.len(),
        data.len()
    );
    let v2: T = codec::decode(&enc).expect("an encoded value decodes");
    assert_eq!(
        codec::encode(&v2).expect("encodes"),
        enc,
        "codec round trip is not stable"
    );
}

/// The message codec on untrusted bytes, as the driver runs it on every received
/// message: the first byte picks a message type (strings, byte vectors, integer
/// vectors, a struct with nested enums, options, maps and tuples); decoding never
/// panics and allocates only in proportion to the input; a decoded value re-encodes
/// no longer than the input and round-trips stably.
pub fn message_codec(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 6 {
        0 => round_trip::<String>(rest),
        1 => round_trip::<Vec<u8>>(rest),
        2 => round_trip::<Vec<u64>>(rest),
        3 => round_trip::<Job>(rest),
        4 => round_trip::<Vec<Job>>(rest),
        _ => round_trip::<(Option<String>, Vec<(u32, Kind)>)>(rest),
    }
}

/// Seeds for the corpora: real labels, frames and messages.
pub fn corpus_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let label = OpenLabel {
        name: "jobs".into(),
        type_hash: codec::type_id::<String>().1,
        type_name: "alloc::string::String".into(),
        capacity: 16,
        max_message: 16 << 20,
        incarnation: 0x1234_5678_9abc_def0,
        resume: None,
    };
    out.push(("channel_label", "fresh".into(), label.encode()));
    let resumed = OpenLabel {
        resume: Some((42, 100_000)),
        capacity: 0,
        ..label
    };
    out.push(("channel_label", "resume".into(), resumed.encode()));
    for (name, f) in [
        (
            "data",
            Frame::Data {
                seq: 70_000,
                payload: b"\x05hello",
            },
        ),
        ("consumed", Frame::Consumed(1 << 30)),
        ("send_closed", Frame::SendClosed(9)),
        ("recv_closed", Frame::RecvClosed),
    ] {
        let mut b = Vec::new();
        f.encode(&mut b);
        out.push(("channel_frame", name.into(), b));
    }
    let job = Job {
        id: 7,
        name: "render".into(),
        tags: vec!["a".into(), "ü".into()],
        payload: Some(vec![1, 2, 3]),
        kind: Kind::C { x: 1.5, y: Some(3) },
        map: [("k".to_string(), 9)].into_iter().collect(),
        nested: vec![vec![1, 2], vec![]],
        tuple: (1, -5, 'λ', true),
    };
    let mut with = |sel: u8, name: &str, bytes: Vec<u8>| {
        let mut v = vec![sel];
        v.extend(bytes);
        out.push(("message_codec", name.to_string(), v));
    };
    with(0, "string", codec::encode(&"hello").unwrap());
    with(1, "bytes", codec::encode(&vec![0u8; 64]).unwrap());
    with(
        2,
        "u64s",
        codec::encode(&vec![1u64, 300, u64::MAX]).unwrap(),
    );
    with(3, "job", codec::encode(&job).unwrap());
    with(4, "jobs", codec::encode(&vec![&job, &job]).unwrap());
    with(
        5,
        "tuple",
        codec::encode(&(Some("x"), vec![(1u32, Kind::B(-1)), (2, Kind::A)])).unwrap(),
    );
    out
}

/// Encodings of the channel layer, for fuzz targets that play a hostile peer of a
/// session (`netchan_tests::fuzz::session_frames`).
pub mod peer {
    use crate::wire::{Frame, OpenLabel};

    /// An open label as a peer sends it.
    pub fn label(
        name: &str,
        (type_hash, type_name): (u64, &str),
        capacity: u32,
        max_message: u64,
        incarnation: u64,
        resume: Option<(u64, u64)>,
    ) -> Vec<u8> {
        OpenLabel {
            name: name.to_owned(),
            type_hash,
            type_name: type_name.to_owned(),
            capacity,
            max_message,
            incarnation,
            resume,
        }
        .encode()
    }

    /// A DATA frame (one transport message).
    pub fn data(seq: u64, payload: &[u8]) -> Vec<u8> {
        encode(Frame::Data { seq, payload })
    }

    /// CONSUMED(n).
    pub fn consumed(n: u64) -> Vec<u8> {
        encode(Frame::Consumed(n))
    }

    /// SEND_CLOSED(end).
    pub fn send_closed(end: u64) -> Vec<u8> {
        encode(Frame::SendClosed(end))
    }

    /// RECV_CLOSED.
    pub fn recv_closed() -> Vec<u8> {
        encode(Frame::RecvClosed)
    }

    fn encode(f: Frame<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        f.encode(&mut out);
        out
    }
}
