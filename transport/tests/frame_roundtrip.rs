//! Frame codec acceptance tests: literal byte vectors for every frame type, and property
//! tests for round-trips, canonical decoding, truncation and robustness on arbitrary input.

use netchan_transport::wire::{
    AckFrame, Frame, FrameType, Frames, Header, MAX_ACK_RANGES, MAX_LABEL_LEN, MAX_PARITY_MEMBERS,
    MAX_REASON_LEN, MAX_VARINT, PacketView, ParityFrame, Reader, WireError,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// Encodes `f` after some existing bytes (encoding must append), checks that exactly
/// `encoded_len` bytes were written and returns them.
fn encode(f: &Frame<'_>) -> Vec<u8> {
    let mut out = vec![0xee, 0xee];
    f.encode(&mut out);
    assert_eq!(
        &out[..2],
        &[0xee, 0xee],
        "encode must not touch existing bytes"
    );
    assert_eq!(out.len() - 2, f.encoded_len(), "encoded_len of {f:?}");
    out.split_off(2)
}

/// Decodes exactly one frame that must span all of `bytes`.
fn decode_exact(bytes: &[u8]) -> Frame<'_> {
    let mut r = Reader::new(bytes);
    let f = Frame::decode(&mut r).unwrap_or_else(|e| panic!("decode {bytes:02x?}: {e}"));
    assert!(r.is_empty(), "frame {f:?} left {} bytes", r.remaining());
    f
}

fn ack(path_id: u64, ack_delay_us: u64, ranges: &[(u64, u64)]) -> Frame<'static> {
    Frame::Ack(AckFrame {
        path_id,
        ack_delay_us,
        ranges: ranges.to_vec(),
    })
}

/// Hand-computed encodings of every frame type.
fn fixed_vectors() -> Vec<(Frame<'static>, Vec<u8>)> {
    vec![
        // 0x00 PADDING
        (Frame::Padding { len: 1 }, vec![0x00]),
        (Frame::Padding { len: 3 }, vec![0x00, 0x00, 0x00]),
        // 0x01 PING
        (Frame::Ping, vec![0x01]),
        // 0x02 ACK: path 0, delay 100, ranges [95,100] [80,90] [10,10]:
        // largest 100, first len 5, gap 95-90-2 = 3, len 10, gap 80-10-2 = 68, len 0.
        (
            ack(0, 100, &[(95, 100), (80, 90), (10, 10)]),
            vec![
                0x02, 0x00, 0x40, 0x64, 0x03, 0x40, 0x64, 0x05, 0x03, 0x0a, 0x40, 0x44, 0x00,
            ],
        ),
        // ACK: path 1, delay 0, one range [0, 1_000_000] (0x0f4240, 4-byte varints).
        (
            ack(1, 0, &[(0, 1_000_000)]),
            vec![
                0x02, 0x01, 0x00, 0x01, 0x80, 0x0f, 0x42, 0x40, 0x80, 0x0f, 0x42, 0x40,
            ],
        ),
        // ACK: path 16383, delay 0, one packet 2^62 - 1.
        (
            ack(16383, 0, &[(MAX_VARINT, MAX_VARINT)]),
            vec![
                0x02, 0x7f, 0xff, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
            ],
        ),
        // 0x03 CHANNEL_DATA: channel 4, offset 16384, "hi".
        (
            Frame::ChannelData {
                channel: 4,
                offset: 16384,
                data: b"hi",
            },
            vec![0x03, 0x04, 0x80, 0x00, 0x40, 0x00, 0x02, 0x68, 0x69],
        ),
        // CHANNEL_DATA: channel 0, offset 2^30, empty.
        (
            Frame::ChannelData {
                channel: 0,
                offset: 1 << 30,
                data: b"",
            },
            vec![
                0x03, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,
            ],
        ),
        // 0x04 DATAGRAM
        (
            Frame::Datagram {
                data: &[0xde, 0xad, 0xbe, 0xef],
            },
            vec![0x04, 0x04, 0xde, 0xad, 0xbe, 0xef],
        ),
        (Frame::Datagram { data: b"" }, vec![0x04, 0x00]),
        // 0x05 MAX_DATA
        (Frame::MaxData { max: 0 }, vec![0x05, 0x00]),
        (Frame::MaxData { max: 16383 }, vec![0x05, 0x7f, 0xff]),
        // 0x06 MAX_CHANNEL_DATA
        (
            Frame::MaxChannelData {
                channel: 63,
                max: MAX_VARINT,
            },
            vec![0x06, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        // 0x07 CHANNEL_OPEN
        (
            Frame::ChannelOpen {
                channel: 2,
                label: b"chat",
            },
            vec![0x07, 0x02, 0x04, 0x63, 0x68, 0x61, 0x74],
        ),
        (
            Frame::ChannelOpen {
                channel: 64,
                label: b"",
            },
            vec![0x07, 0x40, 0x40, 0x00],
        ),
        // 0x08 CHANNEL_CLOSE: 300 = 0x012c.
        (
            Frame::ChannelClose {
                channel: 5,
                final_size: 300,
                error_code: 0,
            },
            vec![0x08, 0x05, 0x41, 0x2c, 0x00],
        ),
        // 0x09 CONNECTION_CLOSE
        (
            Frame::ConnectionClose {
                error_code: 1,
                reason: b"bye",
            },
            vec![0x09, 0x01, 0x03, 0x62, 0x79, 0x65],
        ),
        (
            Frame::ConnectionClose {
                error_code: 16384,
                reason: b"",
            },
            vec![0x09, 0x80, 0x00, 0x40, 0x00, 0x00],
        ),
        // 0x0a DATA_BLOCKED
        (Frame::DataBlocked { limit: 64 }, vec![0x0a, 0x40, 0x40]),
        // 0x0b CHANNEL_BLOCKED: 2^30 - 1.
        (
            Frame::ChannelBlocked {
                channel: 1,
                limit: (1 << 30) - 1,
            },
            vec![0x0b, 0x01, 0xbf, 0xff, 0xff, 0xff],
        ),
        // 0x0c PATH_CHALLENGE, 0x0d PATH_RESPONSE: 8 raw bytes.
        (
            Frame::PathChallenge {
                data: [1, 2, 3, 4, 5, 6, 7, 8],
            },
            vec![0x0c, 1, 2, 3, 4, 5, 6, 7, 8],
        ),
        (
            Frame::PathResponse { data: [0xff; 8] },
            vec![0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        // 0x0e PATH_STATUS: path, sequence, 1 available / 2 standby; 0x0f PATH_ABANDON.
        (
            Frame::PathStatus {
                path_id: 3,
                sequence: 64,
                standby: false,
            },
            vec![0x0e, 0x03, 0x40, 0x40, 0x01],
        ),
        (
            Frame::PathAbandon {
                path_id: 2,
                error_code: 0,
            },
            vec![0x0f, 0x02, 0x00],
        ),
    ]
}

#[test]
fn frame_roundtrip_fixed_vectors() {
    let vectors = fixed_vectors();
    // Every frame type is covered.
    for code in 0..=0x0du64 {
        let ty = FrameType::from_code(code).expect("known frame type");
        assert!(
            vectors.iter().any(|(f, _)| f.frame_type() == ty),
            "no vector for {ty:?}"
        );
    }
    for (frame, bytes) in &vectors {
        let encoded = encode(frame);
        assert_eq!(&encoded, bytes, "encoding of {frame:?}");
        assert_eq!(frame.encoded_len(), bytes.len(), "encoded_len of {frame:?}");
        assert_eq!(&decode_exact(bytes), frame, "decoding of {bytes:02x?}");
        assert_eq!(
            Frames::new(bytes).collect::<Vec<_>>(),
            vec![Ok(frame.clone())],
            "Frames over {bytes:02x?}"
        );
        assert_eq!(
            bytes.first().map(|&b| u64::from(b)),
            Some(frame.frame_type().code())
        );
        if let Frame::ChannelData {
            channel,
            offset,
            data,
        } = frame
        {
            assert_eq!(
                Frame::channel_data_overhead(*channel, *offset, data.len()) + data.len(),
                bytes.len()
            );
        }
    }
    // PADDING of length 0 writes nothing.
    assert_eq!(encode(&Frame::Padding { len: 0 }), Vec::<u8>::new());

    // All vectors back to back (the two leading paddings are adjacent: they coalesce).
    let all: Vec<u8> = vectors
        .iter()
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    let decoded: Vec<Frame<'_>> = Frames::new(&all)
        .collect::<Result<_, _>>()
        .expect("concatenation decodes");
    let mut expected = vec![Frame::Padding { len: 4 }];
    expected.extend(vectors.iter().skip(2).map(|(f, _)| f.clone()));
    assert_eq!(decoded, expected);
}

#[test]
fn frame_fixed_vectors_truncated() {
    for (frame, bytes) in fixed_vectors() {
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            let res = Frame::decode(&mut Reader::new(prefix));
            match frame {
                Frame::Padding { .. } if cut > 0 => {
                    assert_eq!(res, Ok(Frame::Padding { len: cut }));
                }
                _ => assert!(
                    matches!(res, Err(WireError::Truncated { .. })),
                    "{frame:?} cut at {cut}: {res:?}"
                ),
            }
        }
    }
}

#[test]
fn frame_decode_rejections() {
    let cases: &[(&[u8], WireError)] = &[
        (&[0x12], WireError::UnknownFrameType(0x12)),
        (&[0x10, 0x01, 0x00, 0x00], WireError::InvalidParity),
        (&[0x10, 0x01, 0x11], WireError::InvalidParity),
        (
            &[0x10, 0x01, 0x01, 0x00, 0x02, 0x01, 0x09],
            WireError::InvalidParity,
        ),
        (&[0x0e, 0x01, 0x00, 0x03], WireError::InvalidPathStatus),
        (&[0x40, 0x80], WireError::UnknownFrameType(0x80)),
        (&[0x40, 0x01], WireError::NonMinimalVarint),
        (&[0x01 | 0x40, 0x01], WireError::UnknownFrameType(0x101)),
        (&[0x05, 0x40, 0x3f], WireError::NonMinimalVarint),
        (&[0x02, 0x00, 0x00, 0x00], WireError::InvalidAckRange),
        (
            &[0x02, 0x00, 0x00, 0x40, 0x41],
            WireError::TooManyAckRanges(65),
        ),
        (
            &[0x02, 0x00, 0x00, 0x01, 0x03, 0x04],
            WireError::InvalidAckRange,
        ),
        (
            &[
                0x03, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
            ],
            WireError::Overflow,
        ),
        (
            &[0x03, 0x00, 0x00, 0x02, 0xaa],
            WireError::Truncated {
                what: "channel data",
            },
        ),
        (
            &[0x07, 0x00, 0x44, 0x01],
            WireError::TooLong {
                what: "label",
                len: 1025,
            },
        ),
        (
            &[0x09, 0x00, 0x44, 0x01],
            WireError::TooLong {
                what: "reason",
                len: 1025,
            },
        ),
    ];
    for (bytes, err) in cases {
        assert_eq!(
            Frame::decode(&mut Reader::new(bytes)).as_ref(),
            Err(err),
            "{bytes:02x?}"
        );
        // Preceded by a PING (and, unless the error is a truncation, followed by another
        // one), the iterator yields the PING, the error once, then stops.
        let mut with_ping = vec![0x01];
        with_ping.extend_from_slice(bytes);
        if !matches!(err, WireError::Truncated { .. }) {
            with_ping.push(0x01);
        }
        let mut it = Frames::new(&with_ping);
        assert_eq!(it.next(), Some(Ok(Frame::Ping)));
        assert_eq!(it.next(), Some(Err(err.clone())));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

/// An owned frame, so strategies can generate data that `Frame` then borrows.
#[derive(Debug, Clone)]
enum OwnedFrame {
    Padding(usize),
    Ping,
    Ack(AckFrame),
    ChannelData {
        channel: u64,
        offset: u64,
        data: Vec<u8>,
    },
    Datagram(Vec<u8>),
    MaxData(u64),
    MaxChannelData(u64, u64),
    ChannelOpen(u64, Vec<u8>),
    ChannelClose(u64, u64, u64),
    ConnectionClose(u64, Vec<u8>),
    DataBlocked(u64),
    ChannelBlocked(u64, u64),
    PathChallenge([u8; 8]),
    PathResponse([u8; 8]),
    PathStatus(u64, u64, bool),
    PathAbandon(u64, u64),
    ChannelParity(u64, Vec<(u64, u64)>, Vec<u8>),
}

impl OwnedFrame {
    fn as_frame(&self) -> Frame<'_> {
        match self {
            OwnedFrame::Padding(len) => Frame::Padding { len: *len },
            OwnedFrame::Ping => Frame::Ping,
            OwnedFrame::Ack(a) => Frame::Ack(a.clone()),
            OwnedFrame::ChannelData {
                channel,
                offset,
                data,
            } => Frame::ChannelData {
                channel: *channel,
                offset: *offset,
                data,
            },
            OwnedFrame::Datagram(data) => Frame::Datagram { data },
            OwnedFrame::MaxData(max) => Frame::MaxData { max: *max },
            OwnedFrame::MaxChannelData(channel, max) => Frame::MaxChannelData {
                channel: *channel,
                max: *max,
            },
            OwnedFrame::ChannelOpen(channel, label) => Frame::ChannelOpen {
                channel: *channel,
                label,
            },
            OwnedFrame::ChannelClose(channel, final_size, error_code) => Frame::ChannelClose {
                channel: *channel,
                final_size: *final_size,
                error_code: *error_code,
            },
            OwnedFrame::ConnectionClose(error_code, reason) => Frame::ConnectionClose {
                error_code: *error_code,
                reason,
            },
            OwnedFrame::DataBlocked(limit) => Frame::DataBlocked { limit: *limit },
            OwnedFrame::ChannelBlocked(channel, limit) => Frame::ChannelBlocked {
                channel: *channel,
                limit: *limit,
            },
            OwnedFrame::PathChallenge(data) => Frame::PathChallenge { data: *data },
            OwnedFrame::PathResponse(data) => Frame::PathResponse { data: *data },
            OwnedFrame::PathStatus(path_id, sequence, standby) => Frame::PathStatus {
                path_id: *path_id,
                sequence: *sequence,
                standby: *standby,
            },
            OwnedFrame::PathAbandon(path_id, error_code) => Frame::PathAbandon {
                path_id: *path_id,
                error_code: *error_code,
            },
            OwnedFrame::ChannelParity(channel, members, parity) => {
                Frame::ChannelParity(ParityFrame {
                    channel: *channel,
                    members: members.clone(),
                    parity,
                })
            }
        }
    }

    fn is_padding(&self) -> bool {
        matches!(self, OwnedFrame::Padding(_))
    }
}

/// Any varint value, spread over the four encoded lengths and their boundaries.
fn arb_varint() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0..64u64,
        2 => 64..16384u64,
        2 => 16384..(1u64 << 30),
        2 => (1u64 << 30)..=MAX_VARINT,
        1 => prop::sample::select(vec![
            0,
            63,
            64,
            16383,
            16384,
            (1 << 30) - 1,
            1 << 30,
            MAX_VARINT
        ]),
    ]
}

/// ACK gaps and range lengths: mostly small, sometimes wide enough for 8-byte varints,
/// yet 64 of them (plus 2 per gap) sum to far less than 2^62.
fn arb_ack_step() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0..64u64,
        2 => 64..16384u64,
        1 => 16384..(1u64 << 30),
        1 => (1u64 << 30)..(1u64 << 50),
    ]
}

/// A valid ACK with 1..=MAX_ACK_RANGES ranges: the first range length, the
/// (gap, range length) pairs, and some headroom below `largest` are generated, and the
/// ranges are built top-down exactly as the decoder does.
fn arb_ack() -> impl Strategy<Value = AckFrame> {
    let count = prop_oneof![
        6 => 1..=MAX_ACK_RANGES,
        1 => Just(1usize),
        1 => Just(MAX_ACK_RANGES),
    ];
    count
        .prop_flat_map(|n| {
            (
                arb_varint(),
                arb_varint(),
                arb_ack_step(),
                prop::collection::vec((arb_ack_step(), arb_ack_step()), n - 1),
                arb_varint(),
            )
        })
        .prop_map(|(path_id, ack_delay_us, first_len, steps, headroom)| {
            let span = first_len + steps.iter().map(|(gap, len)| gap + 2 + len).sum::<u64>();
            assert!(span <= MAX_VARINT);
            let largest = span.saturating_add(headroom).min(MAX_VARINT);
            let mut smallest = largest - first_len;
            let mut ranges = vec![(smallest, largest)];
            for (gap, len) in steps {
                let top = smallest - gap - 2;
                smallest = top - len;
                ranges.push((smallest, top));
            }
            AckFrame {
                path_id,
                ack_delay_us,
                ranges,
            }
        })
}

/// Bytes: often short, sometimes up to 4 KiB.
fn arb_data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..16),
        1 => prop::collection::vec(any::<u8>(), 0..=max),
    ]
}

fn arb_frame() -> impl Strategy<Value = OwnedFrame> {
    prop_oneof![
        (1..300usize).prop_map(OwnedFrame::Padding),
        Just(OwnedFrame::Ping),
        arb_ack().prop_map(OwnedFrame::Ack),
        (arb_varint(), arb_varint(), arb_data(4096)).prop_map(|(channel, offset, data)| {
            // Keep offset + len <= 2^62 - 1.
            let offset = offset.min(MAX_VARINT - data.len() as u64);
            OwnedFrame::ChannelData {
                channel,
                offset,
                data,
            }
        }),
        arb_data(4096).prop_map(OwnedFrame::Datagram),
        arb_varint().prop_map(OwnedFrame::MaxData),
        (arb_varint(), arb_varint()).prop_map(|(c, m)| OwnedFrame::MaxChannelData(c, m)),
        (arb_varint(), arb_data(MAX_LABEL_LEN)).prop_map(|(c, l)| OwnedFrame::ChannelOpen(c, l)),
        (arb_varint(), arb_varint(), arb_varint())
            .prop_map(|(c, f, e)| OwnedFrame::ChannelClose(c, f, e)),
        (arb_varint(), arb_data(MAX_REASON_LEN))
            .prop_map(|(e, r)| OwnedFrame::ConnectionClose(e, r)),
        arb_varint().prop_map(OwnedFrame::DataBlocked),
        (arb_varint(), arb_varint()).prop_map(|(c, l)| OwnedFrame::ChannelBlocked(c, l)),
        any::<[u8; 8]>().prop_map(OwnedFrame::PathChallenge),
        any::<[u8; 8]>().prop_map(OwnedFrame::PathResponse),
        (arb_varint(), arb_varint(), any::<bool>())
            .prop_map(|(p, q, s)| OwnedFrame::PathStatus(p, q, s)),
        (arb_varint(), arb_varint()).prop_map(|(p, e)| OwnedFrame::PathAbandon(p, e)),
        arb_parity(),
    ]
}

/// A valid CHANNEL_PARITY: 1..=16 members within 2^62 - 1, parity as long as the longest.
fn arb_parity() -> impl Strategy<Value = OwnedFrame> {
    let member =
        (arb_varint(), 0..1500u64).prop_map(|(offset, len)| (offset.min(MAX_VARINT - len), len));
    (
        arb_varint(),
        prop::collection::vec(member, 1..=MAX_PARITY_MEMBERS),
        any::<u8>(),
    )
        .prop_map(|(channel, members, fill)| {
            let longest = members.iter().map(|m| m.1).max().unwrap_or(0) as usize;
            OwnedFrame::ChannelParity(channel, members, vec![fill; longest])
        })
}

/// The frames a decoder yields for the concatenation of `frames`: adjacent paddings
/// coalesce into one, and zero-length paddings vanish.
fn coalesce<'a>(frames: impl IntoIterator<Item = Frame<'a>>) -> Vec<Frame<'a>> {
    let mut out: Vec<Frame<'a>> = Vec::new();
    for f in frames {
        match (out.last_mut(), &f) {
            (_, Frame::Padding { len: 0 }) => {}
            (Some(Frame::Padding { len }), Frame::Padding { len: more }) => *len += more,
            _ => out.push(f),
        }
    }
    out
}

/// Decodes `bytes` frame by frame with a `Reader`, checking that every decoded frame
/// re-encodes to exactly the bytes it came from and that `Frames` agrees. Returns the
/// frames and the error that stopped decoding, if any. Must never panic.
fn decode_canonically(bytes: &[u8]) -> Result<(Vec<Frame<'_>>, Option<WireError>), TestCaseError> {
    let mut r = Reader::new(bytes);
    let mut frames = Vec::new();
    let mut error = None;
    while !r.is_empty() {
        let start = r.position();
        match Frame::decode(&mut r) {
            Ok(f) => {
                let end = r.position();
                prop_assert!(start < end && end <= bytes.len());
                let mut re = Vec::new();
                f.encode(&mut re);
                prop_assert_eq!(&re[..], &bytes[start..end], "re-encoding of {:?}", f);
                prop_assert_eq!(f.encoded_len(), end - start);
                frames.push(f);
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let mut expected: Vec<Result<Frame<'_>, WireError>> = frames.iter().cloned().map(Ok).collect();
    if let Some(e) = &error {
        expected.push(Err(e.clone()));
    }
    let mut it = Frames::new(bytes);
    let got: Vec<_> = it.by_ref().collect();
    prop_assert_eq!(got, expected);
    prop_assert_eq!(it.next(), None);
    Ok((frames, error))
}

/// Decodes arbitrary bytes as a header; must never panic, and a parsed header re-emits
/// to exactly the bytes it was parsed from.
fn parse_header_canonically(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Header::parse(bytes) {
        Ok((h, len)) => {
            prop_assert!(len <= bytes.len());
            let mut out = Vec::new();
            prop_assert_eq!(h.emit(&mut out), len);
            prop_assert_eq!(&out[..], &bytes[..len]);
            let view = PacketView::new_checked(bytes).expect("header parsed");
            prop_assert_eq!(
                view.header_bytes().len() + view.payload().len(),
                bytes.len()
            );
            prop_assert_eq!(PacketView::peek_dcid(bytes), Some(h.dcid()));
        }
        Err(_) => prop_assert!(PacketView::new_checked(bytes).is_err()),
    }
    Ok(())
}

/// Encodes `v` in `1 << class` bytes, or in its minimal length if that is longer: often
/// a valid varint, sometimes a non-minimal one (which decoders must reject).
fn varint_with_len(v: u64, class: u32) -> Vec<u8> {
    let minimal = match v {
        0..=63 => 0,
        64..=16383 => 1,
        16384..=0x3fff_ffff => 2,
        _ => 3,
    };
    let class = class.clamp(minimal, 3);
    let len = 1usize << class;
    let tagged = (v & MAX_VARINT) | (u64::from(class) << 62);
    tagged.to_be_bytes()[8 - len..].to_vec()
}

/// A "token" of plausible frame syntax: a frame type code, a varint (sometimes
/// non-minimal), or a few raw bytes.
fn arb_token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (0..=0x0eu8).prop_map(|t| vec![t]),
        4 => (arb_varint(), prop_oneof![4 => Just(0u32), 1 => 0..4u32])
            .prop_map(|(v, class)| varint_with_len(v, class)),
        1 => (0..8u64).prop_map(|v| vec![v as u8]),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ]
}

/// Input for the robustness tests: random bytes, random bytes rich in frame type codes,
/// sequences of frame-like tokens, and valid encodings with a few bytes overwritten and
/// possibly truncated.
fn arb_garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(arb_token(), 0..48).prop_map(|t| t.concat()),
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(prop_oneof![0..=0x0eu8, any::<u8>()], 0..512),
        (
            prop::collection::vec(arb_frame(), 1..6),
            prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
            any::<Index>(),
            any::<bool>(),
        )
            .prop_map(|(frames, edits, cut, truncate)| {
                let mut bytes = Vec::new();
                for f in &frames {
                    f.as_frame().encode(&mut bytes);
                }
                if !bytes.is_empty() {
                    for (at, b) in edits {
                        let i = at.index(bytes.len());
                        bytes[i] = b;
                    }
                    if truncate {
                        bytes.truncate(cut.index(bytes.len()));
                    }
                }
                bytes
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// One arbitrary valid frame: decode(encode(f)) == f, `encoded_len` is exact, and every
    /// strict prefix of a non-padding frame fails with `Truncated`.
    #[test]
    fn frame_roundtrip_property(owned in arb_frame()) {
        let f = owned.as_frame();
        let bytes = encode(&f);
        prop_assert_eq!(bytes.len(), f.encoded_len());
        if let Frame::Ack(a) = &f {
            prop_assert!(a.is_valid());
            prop_assert!((1..=MAX_ACK_RANGES).contains(&a.ranges.len()));
        }
        if let Frame::ChannelData { channel, offset, data } = &f {
            prop_assert_eq!(
                Frame::channel_data_overhead(*channel, *offset, data.len()) + data.len(),
                bytes.len()
            );
        }

        let mut r = Reader::new(&bytes);
        let decoded = Frame::decode(&mut r);
        prop_assert_eq!(decoded.as_ref(), Ok(&f));
        prop_assert!(r.is_empty());
        prop_assert_eq!(Frames::new(&bytes).collect::<Vec<_>>(), vec![Ok(f.clone())]);

        // Followed by other bytes, decoding stops exactly at the frame's end.
        let mut followed = bytes.clone();
        followed.extend_from_slice(&[0x01, 0xaa]);
        let mut r = Reader::new(&followed);
        let again = Frame::decode(&mut r);
        prop_assert_eq!(again.as_ref(), Ok(&f));
        prop_assert_eq!(r.position(), bytes.len());

        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            let res = Frame::decode(&mut Reader::new(prefix));
            if owned.is_padding() && cut > 0 {
                prop_assert_eq!(res, Ok(Frame::Padding { len: cut }));
            } else {
                prop_assert!(
                    matches!(res, Err(WireError::Truncated { .. })),
                    "prefix {} of {:?} gave {:?}", cut, f, res
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A concatenation of random frames decodes back to the same sequence (with adjacent
    /// paddings coalesced), and every strict prefix yields only complete leading frames
    /// followed by a truncation error (or a shorter trailing padding).
    #[test]
    fn frame_sequence_roundtrip_property(
        owned in prop::collection::vec(arb_frame(), 0..16),
        cuts in prop::collection::vec(any::<Index>(), 8),
    ) {
        let frames: Vec<Frame<'_>> = owned.iter().map(OwnedFrame::as_frame).collect();
        let mut bytes = Vec::new();
        for f in &frames {
            let before = bytes.len();
            f.encode(&mut bytes);
            prop_assert_eq!(bytes.len() - before, f.encoded_len());
        }
        prop_assert_eq!(bytes.len(), frames.iter().map(Frame::encoded_len).sum::<usize>());

        let expected = coalesce(frames.iter().cloned());
        let decoded: Vec<Frame<'_>> = Frames::new(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("decode error {e}")))?;
        prop_assert_eq!(&decoded, &expected);
        let (canon, err) = decode_canonically(&bytes)?;
        prop_assert_eq!(&canon, &expected);
        prop_assert_eq!(err, None);

        // Frame boundaries of the coalesced sequence.
        let mut bounds = Vec::with_capacity(expected.len());
        let mut end = 0;
        for f in &expected {
            bounds.push((end, end + f.encoded_len()));
            end += f.encoded_len();
        }
        prop_assert_eq!(end, bytes.len());

        if bytes.is_empty() {
            return Ok(());
        }
        for cut in cuts.iter().map(|i| i.index(bytes.len())) {
            let got: Vec<_> = Frames::new(&bytes[..cut]).collect();
            let complete = bounds.iter().take_while(|&&(_, e)| e <= cut).count();
            let mut want: Vec<Result<Frame<'_>, WireError>> =
                expected.iter().take(complete).cloned().map(Ok).collect();
            if let Some(&(start, _)) = bounds.get(complete).filter(|&&(s, _)| s < cut) {
                match &expected[complete] {
                    Frame::Padding { .. } => want.push(Ok(Frame::Padding { len: cut - start })),
                    _ => {
                        prop_assert!(
                            matches!(got.last(), Some(Err(WireError::Truncated { .. }))),
                            "cut {} inside {:?}: {:?}", cut, expected[complete], got.last()
                        );
                        want.push(got.last().cloned().unwrap_or(Ok(Frame::Ping)));
                    }
                }
            }
            prop_assert_eq!(&got, &want, "cut at {}", cut);
            prop_assert!(got.iter().filter(|r| r.is_ok()).count() <= expected.len());
            prop_assert_ne!(&got, &expected.iter().cloned().map(Ok).collect::<Vec<_>>());
        }
    }

    /// Arbitrary bytes fed to `Frames` and `Header::parse` never panic, and whatever
    /// decodes re-encodes to exactly the bytes it was decoded from.
    #[test]
    fn frame_decode_arbitrary_bytes_is_total_and_canonical(bytes in arb_garbage()) {
        decode_canonically(&bytes)?;
        parse_header_canonically(&bytes)?;
        // As a datagram payload behind a valid short header too.
        let mut dgram = vec![0x80, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x00];
        dgram.extend_from_slice(&bytes);
        parse_header_canonically(&dgram)?;
        let view = PacketView::new_checked(&dgram).expect("valid short header");
        prop_assert_eq!(view.payload(), &bytes[..]);
        decode_canonically(view.payload())?;
    }
}
