//! Frames: the parsed representation, encoding, decoding and exact sizes.
//!
//! Every frame starts with its type as a varint; integer fields are varints.
//!
//! | type | frame              | fields                                                       |
//! |------|--------------------|--------------------------------------------------------------|
//! | 0x00 | PADDING            | (a single zero byte; runs are coalesced on decode)           |
//! | 0x01 | PING               |                                                              |
//! | 0x02 | ACK                | path_id, ack_delay_us, range_count, largest, first_range_len, (gap, range_len) * (range_count - 1) |
//! | 0x03 | CHANNEL_DATA       | channel, offset, length, data                                |
//! | 0x04 | DATAGRAM           | length, data                                                 |
//! | 0x05 | MAX_DATA           | max                                                          |
//! | 0x06 | MAX_CHANNEL_DATA   | channel, max                                                 |
//! | 0x07 | CHANNEL_OPEN       | channel, label length, label                                 |
//! | 0x08 | CHANNEL_CLOSE      | channel, final_size, error_code                              |
//! | 0x09 | CONNECTION_CLOSE   | error_code, reason length, reason                            |
//! | 0x0a | DATA_BLOCKED       | limit                                                        |
//! | 0x0b | CHANNEL_BLOCKED    | channel, limit                                               |
//! | 0x0c | PATH_CHALLENGE     | data (8 bytes)                                               |
//! | 0x0d | PATH_RESPONSE      | data (8 bytes)                                               |
//! | 0x0e | PATH_STATUS        | path_id, sequence, status (1 available, 2 standby)           |
//! | 0x0f | PATH_ABANDON       | path_id, error_code                                          |
//! | 0x10 | CHANNEL_PARITY     | channel, count, (offset, length) * count, parity length, parity |
//! | 0x11 | REHANDSHAKE        | id, generation, key (32 bytes)                               |
//!
//! Decoding is canonical: a frame that decodes re-encodes to exactly the bytes it was
//! decoded from (varints are minimal and every field is determined by the value).

use super::varint::{MAX_VARINT, varint_len, write_varint};
use super::{Reader, WireError};

/// Most ACK ranges one ACK frame may carry (decoders reject more).
pub const MAX_ACK_RANGES: usize = 64;
/// Longest channel label.
pub const MAX_LABEL_LEN: usize = 1024;
/// Longest close reason.
pub const MAX_REASON_LEN: usize = 1024;
/// Most chunks one CHANNEL_PARITY frame covers.
pub const MAX_PARITY_MEMBERS: usize = 16;

/// Frame type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    /// Zero bytes used to pad a packet.
    Padding = 0x00,
    /// Elicits an ACK; carries nothing.
    Ping = 0x01,
    /// Acknowledges received packet numbers of one path.
    Ack = 0x02,
    /// Bytes of a reliable, ordered channel at an offset.
    ChannelData = 0x03,
    /// An unreliable datagram.
    Datagram = 0x04,
    /// Connection-level flow control credit.
    MaxData = 0x05,
    /// Channel-level flow control credit.
    MaxChannelData = 0x06,
    /// Opens a channel with a label.
    ChannelOpen = 0x07,
    /// Closes the sending side of a channel.
    ChannelClose = 0x08,
    /// Closes the connection.
    ConnectionClose = 0x09,
    /// The sender is blocked by connection-level flow control.
    DataBlocked = 0x0a,
    /// The sender is blocked by channel-level flow control.
    ChannelBlocked = 0x0b,
    /// Asks the peer to echo 8 unpredictable bytes (path validation).
    PathChallenge = 0x0c,
    /// Echoes a PATH_CHALLENGE's bytes.
    PathResponse = 0x0d,
    /// Marks a path available or standby (multipath).
    PathStatus = 0x0e,
    /// Closes a path (multipath).
    PathAbandon = 0x0f,
    /// The XOR of several chunks of a channel (multipath parity).
    ChannelParity = 0x10,
    /// A fresh ephemeral key for a re-handshake (offer or answer).
    Rehandshake = 0x11,
}

impl FrameType {
    /// The type code written on the wire.
    pub const fn code(self) -> u64 {
        self as u64
    }

    /// The frame type for a wire code, if known.
    pub const fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0x00 => FrameType::Padding,
            0x01 => FrameType::Ping,
            0x02 => FrameType::Ack,
            0x03 => FrameType::ChannelData,
            0x04 => FrameType::Datagram,
            0x05 => FrameType::MaxData,
            0x06 => FrameType::MaxChannelData,
            0x07 => FrameType::ChannelOpen,
            0x08 => FrameType::ChannelClose,
            0x09 => FrameType::ConnectionClose,
            0x0a => FrameType::DataBlocked,
            0x0b => FrameType::ChannelBlocked,
            0x0c => FrameType::PathChallenge,
            0x0d => FrameType::PathResponse,
            0x0e => FrameType::PathStatus,
            0x0f => FrameType::PathAbandon,
            0x10 => FrameType::ChannelParity,
            0x11 => FrameType::Rehandshake,
            _ => return None,
        })
    }
}

/// CHANNEL_PARITY: the XOR of up to [`MAX_PARITY_MEMBERS`] chunks of one channel's data
/// (each zero-padded to the longest), so a receiver holding all but one of them can
/// rebuild the missing one without a retransmission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParityFrame<'a> {
    /// Channel ID.
    pub channel: u64,
    /// The chunks covered, as `(offset, length)`: 1..=[`MAX_PARITY_MEMBERS`] of them,
    /// each ending at most at 2^62 - 1.
    pub members: Vec<(u64, u64)>,
    /// The XOR of the members' bytes: exactly as long as the longest member.
    pub parity: &'a [u8],
}

impl ParityFrame<'_> {
    fn body_len(&self) -> usize {
        let members: usize = self
            .members
            .iter()
            .map(|&(o, l)| varint_len(o) + varint_len(l))
            .sum();
        varint_len(self.channel)
            + varint_len(self.members.len() as u64)
            + members
            + prefixed_len(self.parity.len())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.channel);
        write_varint(out, self.members.len() as u64);
        for &(offset, len) in &self.members {
            write_varint(out, offset);
            write_varint(out, len);
        }
        write_prefixed(out, self.parity);
    }
}

impl<'a> ParityFrame<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let channel = r.varint("channel id")?;
        let count = r.varint("parity member count")?;
        if count == 0 || count > MAX_PARITY_MEMBERS as u64 {
            return Err(WireError::InvalidParity);
        }
        let mut members = Vec::with_capacity(count as usize);
        let mut longest = 0;
        for _ in 0..count {
            let offset = r.varint("parity member offset")?;
            let len = r.varint("parity member length")?;
            if offset.checked_add(len).is_none_or(|end| end > MAX_VARINT) {
                return Err(WireError::Overflow);
            }
            longest = longest.max(len);
            members.push((offset, len));
        }
        let len = r.varint("parity length")?;
        if len != longest {
            return Err(WireError::InvalidParity);
        }
        // A length that does not fit in usize cannot fit in the input either.
        let len = usize::try_from(len).map_err(|_| WireError::Truncated { what: "parity" })?;
        let parity = r.bytes(len, "parity")?;
        Ok(ParityFrame {
            channel,
            members,
            parity,
        })
    }
}

/// An ACK: ranges of received packet numbers of one path, highest first.
///
/// On the wire (QUIC style): `path_id, ack_delay_us, range_count, largest,
/// first_range_len, (gap, range_len) * (range_count - 1)`. The first range is
/// `[largest - first_range_len, largest]`; each next range has
/// `largest = previous smallest - gap - 2` and `smallest = largest - range_len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckFrame {
    /// Path whose packet number space is acknowledged.
    pub path_id: u64,
    /// Microseconds the receiver held the largest acknowledged packet before acking it.
    pub ack_delay_us: u64,
    /// Inclusive ranges `(smallest, largest)`, strictly descending and non-adjacent,
    /// 1..=MAX_ACK_RANGES of them.
    pub ranges: Vec<(u64, u64)>,
}

impl AckFrame {
    /// The largest acknowledged packet number (top of the first range).
    pub fn largest(&self) -> Option<u64> {
        self.ranges.first().map(|&(_, largest)| largest)
    }

    /// Whether this frame can be encoded into something a decoder accepts: 1..=
    /// [`MAX_ACK_RANGES`] ranges, each `smallest <= largest <= MAX_VARINT`, strictly
    /// descending with at least one missing packet number between neighbours, and
    /// `path_id`, `ack_delay_us` at most [`MAX_VARINT`].
    pub fn is_valid(&self) -> bool {
        let Some(&(_, top)) = self.ranges.first() else {
            return false;
        };
        self.ranges.len() <= MAX_ACK_RANGES
            && self.path_id <= MAX_VARINT
            && self.ack_delay_us <= MAX_VARINT
            && top <= MAX_VARINT
            && self.ranges.iter().all(|&(s, l)| s <= l)
            && self
                .ranges
                .windows(2)
                .all(|w| matches!(w, [(prev_smallest, _), (_, next_largest)] if next_largest.checked_add(2).is_some_and(|x| x <= *prev_smallest)))
    }

    /// The wire integers after `range_count`: `largest, first_range_len`, then
    /// `gap, range_len` per further range. For an invalid frame (a caller bug) the
    /// values are saturated rather than panicking.
    fn wire_fields(&self) -> impl Iterator<Item = u64> + '_ {
        let first = self
            .ranges
            .first()
            .map(|&(smallest, largest)| [largest, largest.saturating_sub(smallest)]);
        let rest = self.ranges.windows(2).flat_map(|w| match w {
            [(prev_smallest, _), (smallest, largest)] => [
                prev_smallest.saturating_sub(*largest).saturating_sub(2),
                largest.saturating_sub(*smallest),
            ],
            // `windows(2)` only yields 2-element slices.
            _ => [0, 0],
        });
        first.into_iter().flatten().chain(rest)
    }

    fn encoded_len(&self) -> usize {
        varint_len(self.path_id)
            + varint_len(self.ack_delay_us)
            + varint_len(self.ranges.len() as u64)
            + self.wire_fields().map(varint_len).sum::<usize>()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        debug_assert!(self.is_valid(), "invalid ACK frame {self:?}");
        write_varint(out, self.path_id);
        write_varint(out, self.ack_delay_us);
        write_varint(out, self.ranges.len() as u64);
        for v in self.wire_fields() {
            write_varint(out, v);
        }
    }

    /// Decodes the body (after the type).
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let path_id = r.varint("ack path id")?;
        let ack_delay_us = r.varint("ack delay")?;
        let count = r.varint("ack range count")?;
        if count == 0 {
            return Err(WireError::InvalidAckRange);
        }
        if count > MAX_ACK_RANGES as u64 {
            return Err(WireError::TooManyAckRanges(count));
        }
        // Bounded by MAX_ACK_RANGES just above.
        let mut ranges = Vec::with_capacity(count as usize);
        let largest = r.varint("ack largest")?;
        let first_len = r.varint("ack first range")?;
        let mut smallest = largest
            .checked_sub(first_len)
            .ok_or(WireError::InvalidAckRange)?;
        ranges.push((smallest, largest));
        for _ in 1..count {
            let gap = r.varint("ack gap")?;
            let len = r.varint("ack range length")?;
            let next_largest = smallest
                .checked_sub(gap)
                .and_then(|x| x.checked_sub(2))
                .ok_or(WireError::InvalidAckRange)?;
            smallest = next_largest
                .checked_sub(len)
                .ok_or(WireError::InvalidAckRange)?;
            ranges.push((smallest, next_largest));
        }
        Ok(AckFrame {
            path_id,
            ack_delay_us,
            ranges,
        })
    }
}

/// One frame. Data-carrying variants borrow from the decrypted payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `len` zero bytes (decoders coalesce a run of zeros into one frame).
    Padding {
        /// Number of zero bytes, at least 1 when decoded (0 encodes to nothing).
        len: usize,
    },
    /// Elicits an ACK.
    Ping,
    /// Acknowledgement of received packets.
    Ack(AckFrame),
    /// Channel bytes `[offset, offset + data.len())`.
    ChannelData {
        /// Channel ID.
        channel: u64,
        /// Byte offset of `data` in the channel; `offset + data.len() <= MAX_VARINT`.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// An unreliable datagram.
    Datagram {
        /// The datagram body.
        data: &'a [u8],
    },
    /// Connection-level credit: the peer may send channel bytes up to `max` in total.
    MaxData {
        /// New limit.
        max: u64,
    },
    /// Channel-level credit: the peer may send up to offset `max` on `channel`.
    MaxChannelData {
        /// Channel ID.
        channel: u64,
        /// New limit.
        max: u64,
    },
    /// Opens `channel` with an application label.
    ChannelOpen {
        /// Channel ID.
        channel: u64,
        /// Label, at most [`MAX_LABEL_LEN`] bytes.
        label: &'a [u8],
    },
    /// The sender will send nothing more on `channel` beyond `final_size` bytes.
    ChannelClose {
        /// Channel ID.
        channel: u64,
        /// Total bytes sent on the channel.
        final_size: u64,
        /// Application error code (0 = graceful).
        error_code: u64,
    },
    /// Closes the connection.
    ConnectionClose {
        /// Error code (0 = graceful).
        error_code: u64,
        /// Human-readable reason, at most [`MAX_REASON_LEN`] bytes.
        reason: &'a [u8],
    },
    /// The sender has data but is blocked at connection-level limit `limit`.
    DataBlocked {
        /// The limit it is blocked at.
        limit: u64,
    },
    /// The sender has data for `channel` but is blocked at `limit`.
    ChannelBlocked {
        /// Channel ID.
        channel: u64,
        /// The limit it is blocked at.
        limit: u64,
    },
    /// Path validation: the receiver must echo `data` in a PATH_RESPONSE sent to the
    /// address the challenge came from.
    PathChallenge {
        /// Unpredictable bytes.
        data: [u8; 8],
    },
    /// The answer to a PATH_CHALLENGE.
    PathResponse {
        /// The challenge's bytes.
        data: [u8; 8],
    },
    /// The sender wants `path_id` used normally (`standby == false`) or kept in reserve.
    /// Of several PATH_STATUS frames for one path, the highest `sequence` counts.
    PathStatus {
        /// The path.
        path_id: u64,
        /// Increases with every PATH_STATUS the sender sends for the path.
        sequence: u64,
        /// Standby (wire value 2) rather than available (1).
        standby: bool,
    },
    /// The sender closed `path_id`: nothing more is sent on it, and its packets in flight
    /// are treated as lost.
    PathAbandon {
        /// The path.
        path_id: u64,
        /// Why (0: no error, the path is simply no longer wanted).
        error_code: u64,
    },
    /// Parity over chunks of a channel (see [`ParityFrame`]).
    ChannelParity(ParityFrame<'a>),
    /// A re-handshake step: the dialer offers a fresh X25519 public key for key
    /// generation `generation`; the listener answers with the same `id` and its own fresh
    /// key, or with `generation` 0 (and any key) to refuse.
    Rehandshake {
        /// Numbers the dialer's offers; an answer repeats its offer's.
        id: u64,
        /// The key generation the new secret goes into; 0 in a refusal.
        generation: u64,
        /// The sender's fresh ephemeral public key.
        key: [u8; 32],
    },
}

/// Encoded size of a length prefix followed by `len` bytes.
fn prefixed_len(len: usize) -> usize {
    varint_len(len as u64) + len
}

/// Appends a varint length prefix and the bytes.
fn write_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    write_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Reads a varint length (rejecting anything above `max` with `TooLong`) and the bytes.
fn read_prefixed<'a>(
    r: &mut Reader<'a>,
    max: usize,
    what: &'static str,
) -> Result<&'a [u8], WireError> {
    let len = r.varint(what)?;
    if len > max as u64 {
        return Err(WireError::TooLong { what, len });
    }
    // `len <= max`, a usize, so the conversion is lossless.
    r.bytes(len as usize, what)
}

impl<'a> Frame<'a> {
    /// The frame's type code.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Padding { .. } => FrameType::Padding,
            Frame::Ping => FrameType::Ping,
            Frame::Ack(_) => FrameType::Ack,
            Frame::ChannelData { .. } => FrameType::ChannelData,
            Frame::Datagram { .. } => FrameType::Datagram,
            Frame::MaxData { .. } => FrameType::MaxData,
            Frame::MaxChannelData { .. } => FrameType::MaxChannelData,
            Frame::ChannelOpen { .. } => FrameType::ChannelOpen,
            Frame::ChannelClose { .. } => FrameType::ChannelClose,
            Frame::ConnectionClose { .. } => FrameType::ConnectionClose,
            Frame::DataBlocked { .. } => FrameType::DataBlocked,
            Frame::ChannelBlocked { .. } => FrameType::ChannelBlocked,
            Frame::PathChallenge { .. } => FrameType::PathChallenge,
            Frame::PathResponse { .. } => FrameType::PathResponse,
            Frame::PathStatus { .. } => FrameType::PathStatus,
            Frame::PathAbandon { .. } => FrameType::PathAbandon,
            Frame::ChannelParity(_) => FrameType::ChannelParity,
            Frame::Rehandshake { .. } => FrameType::Rehandshake,
        }
    }

    /// Exact number of bytes `encode` writes.
    pub fn encoded_len(&self) -> usize {
        // Every type code is below 64: one byte.
        let body = match self {
            Frame::Padding { len } => return *len,
            Frame::Ping => 0,
            Frame::Ack(ack) => ack.encoded_len(),
            Frame::ChannelData {
                channel,
                offset,
                data,
            } => varint_len(*channel) + varint_len(*offset) + prefixed_len(data.len()),
            Frame::Datagram { data } => prefixed_len(data.len()),
            Frame::MaxData { max } => varint_len(*max),
            Frame::MaxChannelData { channel, max } => varint_len(*channel) + varint_len(*max),
            Frame::ChannelOpen { channel, label } => {
                varint_len(*channel) + prefixed_len(label.len())
            }
            Frame::ChannelClose {
                channel,
                final_size,
                error_code,
            } => varint_len(*channel) + varint_len(*final_size) + varint_len(*error_code),
            Frame::ConnectionClose { error_code, reason } => {
                varint_len(*error_code) + prefixed_len(reason.len())
            }
            Frame::DataBlocked { limit } => varint_len(*limit),
            Frame::ChannelBlocked { channel, limit } => varint_len(*channel) + varint_len(*limit),
            Frame::PathChallenge { .. } | Frame::PathResponse { .. } => 8,
            Frame::PathStatus {
                path_id, sequence, ..
            } => varint_len(*path_id) + varint_len(*sequence) + 1,
            Frame::PathAbandon {
                path_id,
                error_code,
            } => varint_len(*path_id) + varint_len(*error_code),
            Frame::ChannelParity(p) => p.body_len(),
            Frame::Rehandshake { id, generation, .. } => {
                varint_len(*id) + varint_len(*generation) + 32
            }
        };
        1 + body
    }

    /// Appends the encoding.
    ///
    /// The caller guarantees the frame is valid: integers at most [`MAX_VARINT`], a valid
    /// [`AckFrame`] (see [`AckFrame::is_valid`]), `offset + data.len() <= MAX_VARINT`,
    /// labels and reasons within [`MAX_LABEL_LEN`] / [`MAX_REASON_LEN`]. These are
    /// `debug_assert!`ed; in release builds an invalid frame encodes to exactly
    /// [`encoded_len`](Self::encoded_len) bytes that the peer will reject.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        if let Frame::Padding { len } = self {
            // Saturating: an absurd `len` fails to allocate instead of wrapping around.
            out.resize(start.saturating_add(*len), 0);
            return;
        }
        write_varint(out, self.frame_type().code());
        match self {
            Frame::Padding { .. } | Frame::Ping => {}
            Frame::Ack(ack) => ack.encode(out),
            Frame::ChannelData {
                channel,
                offset,
                data,
            } => {
                debug_assert!(
                    offset
                        .checked_add(data.len() as u64)
                        .is_some_and(|end| end <= MAX_VARINT),
                    "channel data end exceeds 2^62 - 1"
                );
                write_varint(out, *channel);
                write_varint(out, *offset);
                write_prefixed(out, data);
            }
            Frame::Datagram { data } => write_prefixed(out, data),
            Frame::MaxData { max } => write_varint(out, *max),
            Frame::MaxChannelData { channel, max } => {
                write_varint(out, *channel);
                write_varint(out, *max);
            }
            Frame::ChannelOpen { channel, label } => {
                debug_assert!(label.len() <= MAX_LABEL_LEN, "label too long");
                write_varint(out, *channel);
                write_prefixed(out, label);
            }
            Frame::ChannelClose {
                channel,
                final_size,
                error_code,
            } => {
                write_varint(out, *channel);
                write_varint(out, *final_size);
                write_varint(out, *error_code);
            }
            Frame::ConnectionClose { error_code, reason } => {
                debug_assert!(reason.len() <= MAX_REASON_LEN, "reason too long");
                write_varint(out, *error_code);
                write_prefixed(out, reason);
            }
            Frame::DataBlocked { limit } => write_varint(out, *limit),
            Frame::ChannelBlocked { channel, limit } => {
                write_varint(out, *channel);
                write_varint(out, *limit);
            }
            Frame::PathChallenge { data } | Frame::PathResponse { data } => {
                out.extend_from_slice(data);
            }
            Frame::PathStatus {
                path_id,
                sequence,
                standby,
            } => {
                write_varint(out, *path_id);
                write_varint(out, *sequence);
                write_varint(out, if *standby { 2 } else { 1 });
            }
            Frame::PathAbandon {
                path_id,
                error_code,
            } => {
                write_varint(out, *path_id);
                write_varint(out, *error_code);
            }
            Frame::ChannelParity(p) => p.encode(out),
            Frame::Rehandshake {
                id,
                generation,
                key,
            } => {
                write_varint(out, *id);
                write_varint(out, *generation);
                out.extend_from_slice(key);
            }
        }
        debug_assert_eq!(out.len() - start, self.encoded_len());
    }

    /// Decodes one frame from the reader.
    ///
    /// A zero byte starts a PADDING frame that extends over every following zero byte.
    /// On error the reader position is unspecified (the [`Frames`] iterator stops).
    pub fn decode(r: &mut Reader<'a>) -> Result<Frame<'a>, WireError> {
        let code = r.varint("frame type")?;
        let ty = FrameType::from_code(code).ok_or(WireError::UnknownFrameType(code))?;
        Ok(match ty {
            FrameType::Padding => Frame::Padding {
                len: 1 + r.skip_zeros(),
            },
            FrameType::Ping => Frame::Ping,
            FrameType::Ack => Frame::Ack(AckFrame::decode(r)?),
            FrameType::ChannelData => {
                let channel = r.varint("channel id")?;
                let offset = r.varint("channel data offset")?;
                let len = r.varint("channel data length")?;
                if offset.checked_add(len).is_none_or(|end| end > MAX_VARINT) {
                    return Err(WireError::Overflow);
                }
                // A length that does not fit in usize cannot fit in the input either.
                let len = usize::try_from(len).map_err(|_| WireError::Truncated {
                    what: "channel data",
                })?;
                let data = r.bytes(len, "channel data")?;
                Frame::ChannelData {
                    channel,
                    offset,
                    data,
                }
            }
            FrameType::Datagram => {
                let len = r.varint("datagram length")?;
                let len =
                    usize::try_from(len).map_err(|_| WireError::Truncated { what: "datagram" })?;
                Frame::Datagram {
                    data: r.bytes(len, "datagram")?,
                }
            }
            FrameType::MaxData => Frame::MaxData {
                max: r.varint("max data")?,
            },
            FrameType::MaxChannelData => Frame::MaxChannelData {
                channel: r.varint("channel id")?,
                max: r.varint("max channel data")?,
            },
            FrameType::ChannelOpen => Frame::ChannelOpen {
                channel: r.varint("channel id")?,
                label: read_prefixed(r, MAX_LABEL_LEN, "label")?,
            },
            FrameType::ChannelClose => Frame::ChannelClose {
                channel: r.varint("channel id")?,
                final_size: r.varint("final size")?,
                error_code: r.varint("error code")?,
            },
            FrameType::ConnectionClose => Frame::ConnectionClose {
                error_code: r.varint("error code")?,
                reason: read_prefixed(r, MAX_REASON_LEN, "reason")?,
            },
            FrameType::DataBlocked => Frame::DataBlocked {
                limit: r.varint("data blocked limit")?,
            },
            FrameType::ChannelBlocked => Frame::ChannelBlocked {
                channel: r.varint("channel id")?,
                limit: r.varint("channel blocked limit")?,
            },
            FrameType::PathChallenge => Frame::PathChallenge {
                data: r.array("path challenge")?,
            },
            FrameType::PathResponse => Frame::PathResponse {
                data: r.array("path response")?,
            },
            FrameType::PathStatus => Frame::PathStatus {
                path_id: r.varint("path id")?,
                sequence: r.varint("path status sequence")?,
                standby: match r.varint("path status")? {
                    1 => false,
                    2 => true,
                    _ => return Err(WireError::InvalidPathStatus),
                },
            },
            FrameType::PathAbandon => Frame::PathAbandon {
                path_id: r.varint("path id")?,
                error_code: r.varint("error code")?,
            },
            FrameType::ChannelParity => Frame::ChannelParity(ParityFrame::decode(r)?),
            FrameType::Rehandshake => Frame::Rehandshake {
                id: r.varint("re-handshake id")?,
                generation: r.varint("key generation")?,
                key: r.array("re-handshake key")?,
            },
        })
    }

    /// Whether receiving this frame obliges the peer to send an ACK.
    ///
    /// Everything except PADDING, ACK and CONNECTION_CLOSE.
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(
            self,
            Frame::Padding { .. } | Frame::Ack(_) | Frame::ConnectionClose { .. }
        )
    }

    /// Whether this is a probing frame (RFC 9000 §9.1): PATH_CHALLENGE, PATH_RESPONSE or
    /// PADDING. A packet of probing frames only, arriving from a new address, is answered
    /// but never moves the path there.
    pub fn is_probing(&self) -> bool {
        matches!(
            self,
            Frame::Padding { .. } | Frame::PathChallenge { .. } | Frame::PathResponse { .. }
        )
    }

    /// Overhead of a ChannelData frame header carrying `len` bytes at `offset` on `channel`.
    ///
    /// `Frame::ChannelData { .. }.encoded_len() == channel_data_overhead(..) + len`.
    pub fn channel_data_overhead(channel: u64, offset: u64, len: usize) -> usize {
        1 + varint_len(channel) + varint_len(offset) + varint_len(len as u64)
    }
}

/// Iterator over the frames of a decrypted payload; stops after the first error.
///
/// Yields every frame until the payload is exhausted; after an error it yields that
/// error once and then `None` forever.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// Iterates over the frames of `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Self {
            r: Reader::new(payload),
            failed: false,
        }
    }

    /// Offset in the payload of the next frame (after an error: unspecified).
    pub fn position(&self) -> usize {
        self.r.position()
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let res = Frame::decode(&mut self.r);
        if res.is_err() {
            self.failed = true;
        }
        Some(res)
    }
}

impl std::iter::FusedIterator for Frames<'_> {}

#[cfg(test)]
mod tests;
