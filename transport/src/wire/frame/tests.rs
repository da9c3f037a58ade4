//! Frame encoding and decoding tests.
use super::*;

fn decode_all(bytes: &[u8]) -> Vec<Result<Frame<'_>, WireError>> {
    Frames::new(bytes).collect()
}

fn decode_one(bytes: &[u8]) -> Result<Frame<'_>, WireError> {
    Frame::decode(&mut Reader::new(bytes))
}

#[test]
fn wire_frame_type_codes_roundtrip() {
    for code in 0..=0x11u64 {
        let ty = FrameType::from_code(code).expect("known code");
        assert_eq!(ty.code(), code);
    }
    assert_eq!(FrameType::from_code(0x12), None);
    assert_eq!(FrameType::from_code(u64::MAX), None);
}

#[test]
fn wire_frame_unknown_types() {
    assert_eq!(decode_one(&[0x12]), Err(WireError::UnknownFrameType(0x12)));
    assert_eq!(decode_one(&[0x3f]), Err(WireError::UnknownFrameType(0x3f)));
    assert_eq!(
        decode_one(&[0x40, 0x40]),
        Err(WireError::UnknownFrameType(0x40))
    );
    assert_eq!(
        decode_one(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Err(WireError::UnknownFrameType(MAX_VARINT))
    );
}

#[test]
fn wire_frame_type_must_be_minimal() {
    // PING (1) and PADDING (0) written in two bytes.
    assert_eq!(decode_one(&[0x40, 0x01]), Err(WireError::NonMinimalVarint));
    assert_eq!(decode_one(&[0x40, 0x00]), Err(WireError::NonMinimalVarint));
    assert_eq!(
        decode_one(&[0x80, 0x00, 0x00, 0x02]),
        Err(WireError::NonMinimalVarint)
    );
}

#[test]
fn wire_frame_padding_coalesces() {
    assert_eq!(
        decode_all(&[0, 0, 0, 1, 0, 0]),
        vec![
            Ok(Frame::Padding { len: 3 }),
            Ok(Frame::Ping),
            Ok(Frame::Padding { len: 2 })
        ]
    );
    let mut out = Vec::new();
    Frame::Padding { len: 0 }.encode(&mut out);
    assert!(out.is_empty());
    assert_eq!(Frame::Padding { len: 0 }.encoded_len(), 0);
    Frame::Padding { len: 5 }.encode(&mut out);
    assert_eq!(out, [0; 5]);
    assert_eq!(decode_all(&[]), vec![]);
}

#[test]
fn wire_frame_ack_range_count_bounds() {
    // range_count 0.
    assert_eq!(
        decode_one(&[0x02, 0x00, 0x00, 0x00, 0x05, 0x00]),
        Err(WireError::InvalidAckRange)
    );
    // range_count 65, nothing behind it: rejected before reading (or allocating) ranges.
    assert_eq!(
        decode_one(&[0x02, 0x00, 0x00, 0x40, 0x41]),
        Err(WireError::TooManyAckRanges(65))
    );
    assert_eq!(
        decode_one(&[
            0x02, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]),
        Err(WireError::TooManyAckRanges(MAX_VARINT))
    );
    // Exactly 64 ranges of one packet each, gap 0: 0, 2, 4, ..., 126.
    let mut bytes = vec![0x02, 0x00, 0x00, 0x40, 0x40, 0x40, 126, 0x00];
    for _ in 1..64 {
        bytes.extend_from_slice(&[0x00, 0x00]);
    }
    let Ok(Frame::Ack(ack)) = decode_one(&bytes) else {
        panic!("64 ranges must decode");
    };
    assert_eq!(ack.ranges.len(), 64);
    assert_eq!(ack.ranges.first(), Some(&(126, 126)));
    assert_eq!(ack.ranges.last(), Some(&(0, 0)));
    assert!(ack.is_valid());
}

#[test]
fn wire_frame_ack_underflow() {
    // first_range_len > largest.
    assert_eq!(
        decode_one(&[0x02, 0x00, 0x00, 0x01, 0x05, 0x06]),
        Err(WireError::InvalidAckRange)
    );
    // largest 5, first len 5 -> smallest 0; next: 0 - 0 - 2 underflows.
    assert_eq!(
        decode_one(&[0x02, 0x00, 0x00, 0x02, 0x05, 0x05, 0x00, 0x00]),
        Err(WireError::InvalidAckRange)
    );
    // largest 5, smallest 2; gap 1 -> next largest = 2 - 1 - 2 underflows.
    assert_eq!(
        decode_one(&[0x02, 0x00, 0x00, 0x02, 0x05, 0x03, 0x01, 0x00]),
        Err(WireError::InvalidAckRange)
    );
    // largest 5, smallest 2; gap 0 -> next largest 0; range len 1 underflows.
    assert_eq!(
        decode_one(&[0x02, 0x00, 0x00, 0x02, 0x05, 0x03, 0x00, 0x01]),
        Err(WireError::InvalidAckRange)
    );
    // ... while range len 0 is fine: ranges [2, 5] and [0, 0].
    assert_eq!(
        decode_one(&[0x02, 0x00, 0x00, 0x02, 0x05, 0x03, 0x00, 0x00]),
        Ok(Frame::Ack(AckFrame {
            path_id: 0,
            ack_delay_us: 0,
            ranges: vec![(2, 5), (0, 0)]
        }))
    );
}

#[test]
fn wire_frame_ack_validity() {
    let ack = |ranges: Vec<(u64, u64)>| AckFrame {
        path_id: 0,
        ack_delay_us: 0,
        ranges,
    };
    assert!(ack(vec![(0, 0)]).is_valid());
    assert!(ack(vec![(5, 9), (0, 3)]).is_valid());
    assert!(!ack(vec![]).is_valid());
    assert!(!ack(vec![(5, 9), (0, 4)]).is_valid(), "adjacent");
    assert!(!ack(vec![(5, 9), (0, 5)]).is_valid(), "overlapping");
    assert!(!ack(vec![(0, 3), (5, 9)]).is_valid(), "ascending");
    assert!(!ack(vec![(3, 2)]).is_valid(), "empty range");
    assert!(!ack(vec![(0, MAX_VARINT + 1)]).is_valid());
    assert!(!ack((0..65).rev().map(|i| (i * 2, i * 2)).collect()).is_valid());
    assert!(ack((0..64).rev().map(|i| (i * 2, i * 2)).collect()).is_valid());
    assert_eq!(ack(vec![(5, 9), (0, 3)]).largest(), Some(9));
    assert_eq!(ack(vec![]).largest(), None);
}

#[test]
fn wire_frame_channel_data_overflow() {
    // offset 2^62 - 1, length 1: end overflows 2^62 - 1, checked before the data.
    let mut bytes = vec![0x03, 0x00];
    bytes.extend_from_slice(&[0xff; 8]);
    bytes.extend_from_slice(&[0x01, 0xaa]);
    assert_eq!(decode_one(&bytes), Err(WireError::Overflow));
    // offset 2^62 - 1, length 0 is fine.
    let mut bytes = vec![0x03, 0x00];
    bytes.extend_from_slice(&[0xff; 8]);
    bytes.push(0x00);
    assert_eq!(
        decode_one(&bytes),
        Ok(Frame::ChannelData {
            channel: 0,
            offset: MAX_VARINT,
            data: &[]
        })
    );
    // Both maximal: overflows u64 addition too, still Overflow.
    let mut bytes = vec![0x03, 0x00];
    bytes.extend_from_slice(&[0xff; 16]);
    assert_eq!(decode_one(&bytes), Err(WireError::Overflow));
}

#[test]
fn wire_frame_lengths_beyond_input_truncate() {
    assert_eq!(
        decode_one(&[0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4]),
        Err(WireError::Truncated {
            what: "channel data"
        })
    );
    // A huge claimed length is not allocated, just rejected.
    assert_eq!(
        decode_one(&[0x04, 0xbf, 0xff, 0xff, 0xff, 1]),
        Err(WireError::Truncated { what: "datagram" })
    );
    assert_eq!(
        decode_one(&[0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Err(WireError::Truncated { what: "datagram" })
    );
}

#[test]
fn wire_frame_label_and_reason_limits() {
    // Label length 1025 (0x4401), checked before the bytes are read.
    assert_eq!(
        decode_one(&[0x07, 0x00, 0x44, 0x01]),
        Err(WireError::TooLong {
            what: "label",
            len: 1025
        })
    );
    assert_eq!(
        decode_one(&[0x09, 0x00, 0x44, 0x01]),
        Err(WireError::TooLong {
            what: "reason",
            len: 1025
        })
    );
    assert_eq!(
        decode_one(&[0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Err(WireError::TooLong {
            what: "reason",
            len: MAX_VARINT
        })
    );
    // Exactly 1024 (0x4400) is accepted.
    let mut bytes = vec![0x07, 0x00, 0x44, 0x00];
    bytes.extend_from_slice(&[b'x'; 1024]);
    assert_eq!(
        decode_one(&bytes),
        Ok(Frame::ChannelOpen {
            channel: 0,
            label: &[b'x'; 1024]
        })
    );
    let mut bytes = vec![0x09, 0x00, 0x44, 0x00];
    bytes.extend_from_slice(&[b'y'; 1024]);
    assert_eq!(
        decode_one(&bytes),
        Ok(Frame::ConnectionClose {
            error_code: 0,
            reason: &[b'y'; 1024]
        })
    );
}

#[test]
fn wire_frame_iterator_stops_after_error() {
    let mut it = Frames::new(&[0x01, 0x12, 0x01, 0x01]);
    assert_eq!(it.next(), Some(Ok(Frame::Ping)));
    assert_eq!(it.position(), 1);
    assert_eq!(it.next(), Some(Err(WireError::UnknownFrameType(0x12))));
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
    let mut it = Frames::new(&[0x01, 0x05]);
    assert_eq!(it.next(), Some(Ok(Frame::Ping)));
    assert_eq!(
        it.next(),
        Some(Err(WireError::Truncated { what: "max data" }))
    );
    assert_eq!(it.next(), None);
}

#[test]
fn wire_frame_ack_eliciting() {
    assert!(!Frame::Padding { len: 1 }.is_ack_eliciting());
    assert!(
        !Frame::Ack(AckFrame {
            path_id: 0,
            ack_delay_us: 0,
            ranges: vec![(0, 0)]
        })
        .is_ack_eliciting()
    );
    assert!(
        !Frame::ConnectionClose {
            error_code: 0,
            reason: b""
        }
        .is_ack_eliciting()
    );
    for f in [
        Frame::Ping,
        Frame::ChannelData {
            channel: 0,
            offset: 0,
            data: b"",
        },
        Frame::Datagram { data: b"" },
        Frame::MaxData { max: 0 },
        Frame::MaxChannelData { channel: 0, max: 0 },
        Frame::ChannelOpen {
            channel: 0,
            label: b"",
        },
        Frame::ChannelClose {
            channel: 0,
            final_size: 0,
            error_code: 0,
        },
        Frame::DataBlocked { limit: 0 },
        Frame::ChannelBlocked {
            channel: 0,
            limit: 0,
        },
        Frame::PathChallenge { data: [1; 8] },
        Frame::PathResponse { data: [2; 8] },
        Frame::PathStatus {
            path_id: 1,
            sequence: 0,
            standby: true,
        },
        Frame::PathAbandon {
            path_id: 1,
            error_code: 0,
        },
        Frame::Rehandshake {
            id: 0,
            generation: 1,
            key: [3; 32],
        },
    ] {
        assert!(f.is_ack_eliciting(), "{f:?}");
    }
}

#[test]
fn wire_frame_path_validation_frames() {
    let data = [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3];
    for (f, code) in [
        (Frame::PathChallenge { data }, 0x0c),
        (Frame::PathResponse { data }, 0x0d),
    ] {
        let mut out = Vec::new();
        f.encode(&mut out);
        let mut expected = vec![code];
        expected.extend_from_slice(&data);
        assert_eq!(out, expected);
        assert_eq!(f.encoded_len(), 9);
        assert_eq!(decode_one(&out), Ok(f.clone()));
        assert!(f.is_probing());
        // Seven bytes of data are a truncated frame.
        assert!(matches!(
            decode_one(&out[..8]),
            Err(WireError::Truncated { .. })
        ));
    }
    assert!(Frame::Padding { len: 3 }.is_probing());
    assert!(!Frame::Ping.is_probing());
}

#[test]
fn wire_frame_channel_data_overhead_matches() {
    for (channel, offset, len) in [
        (0u64, 0u64, 0usize),
        (63, 63, 63),
        (64, 64, 64),
        (16384, 1 << 30, 16384),
        (MAX_VARINT, 0, 1),
    ] {
        let data = vec![0u8; len];
        let f = Frame::ChannelData {
            channel,
            offset,
            data: &data,
        };
        assert_eq!(
            f.encoded_len(),
            Frame::channel_data_overhead(channel, offset, len) + len
        );
    }
    assert_eq!(Frame::channel_data_overhead(0, 0, 0), 4);
    assert_eq!(
        Frame::channel_data_overhead(64, 16384, 1 << 30),
        1 + 2 + 4 + 8
    );
}

#[test]
fn wire_frame_path_status_and_abandon() {
    let status = Frame::PathStatus {
        path_id: 2,
        sequence: 300,
        standby: true,
    };
    let mut out = Vec::new();
    status.encode(&mut out);
    assert_eq!(out, [0x0e, 0x02, 0x41, 0x2c, 0x02]);
    assert_eq!(status.encoded_len(), 5);
    assert_eq!(decode_one(&out), Ok(status));
    for bad in [0u8, 3, 0x3f] {
        assert_eq!(
            decode_one(&[0x0e, 0x02, 0x00, bad]),
            Err(WireError::InvalidPathStatus)
        );
    }
    let available = [0x0e, 0x01, 0x00, 0x01];
    assert_eq!(
        decode_one(&available),
        Ok(Frame::PathStatus {
            path_id: 1,
            sequence: 0,
            standby: false
        })
    );
    let abandon = Frame::PathAbandon {
        path_id: 4,
        error_code: 0x0a,
    };
    let mut out = Vec::new();
    abandon.encode(&mut out);
    assert_eq!(out, [0x0f, 0x04, 0x0a]);
    assert_eq!(decode_one(&out), Ok(abandon.clone()));
    assert!(matches!(
        decode_one(&out[..2]),
        Err(WireError::Truncated { .. })
    ));
    assert!(!abandon.is_probing());
}

#[test]
fn wire_frame_channel_parity() {
    let parity = [7u8, 8, 9];
    let f = Frame::ChannelParity(ParityFrame {
        channel: 5,
        members: vec![(100, 3), (103, 2)],
        parity: &parity,
    });
    let mut out = Vec::new();
    f.encode(&mut out);
    assert_eq!(out, [0x10, 5, 2, 0x40, 100, 3, 0x40, 103, 2, 3, 7, 8, 9]);
    assert_eq!(f.encoded_len(), out.len());
    assert_eq!(decode_one(&out), Ok(f.clone()));
    assert!(f.is_ack_eliciting() && !f.is_probing());
    // Truncated anywhere: an error, never a panic.
    for cut in 0..out.len() {
        assert!(decode_one(&out[..cut]).is_err(), "cut at {cut}");
    }
    // No members, too many, parity not as long as the longest member.
    assert_eq!(decode_one(&[0x10, 5, 0, 0]), Err(WireError::InvalidParity));
    assert_eq!(decode_one(&[0x10, 5, 17]), Err(WireError::InvalidParity));
    assert_eq!(
        decode_one(&[0x10, 5, 1, 0, 2, 1, 9]),
        Err(WireError::InvalidParity)
    );
    // A member past 2^62 - 1.
    let mut big = vec![0x10, 5, 1];
    write_varint(&mut big, MAX_VARINT);
    write_varint(&mut big, 1);
    assert_eq!(decode_one(&big), Err(WireError::Overflow));
}

#[test]
fn wire_frame_rehandshake_round_trips_and_truncations_fail() {
    let f = Frame::Rehandshake {
        id: 300,
        generation: 7,
        key: [0xab; 32],
    };
    let mut out = Vec::new();
    f.encode(&mut out);
    assert_eq!(out[0], 0x11);
    assert_eq!(out.len(), f.encoded_len());
    assert_eq!(Frame::decode(&mut Reader::new(&out)).unwrap(), f);
    for len in 0..out.len() {
        assert!(
            Frame::decode(&mut Reader::new(&out[..len])).is_err(),
            "{len}"
        );
    }
}
