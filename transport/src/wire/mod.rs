//! The wire format: variable-length integers, packet headers and frames.
//!
//! Byte views are kept apart from parsed values (the smoltcp `wire` habit):
//! [`PacketView`] checks and exposes header fields of a datagram without copying, while
//! [`Header`] and [`Frame`] are the parsed representations with `emit`/`encode`.
//! Every decoder is total: any input yields a value or a [`WireError`], never a panic, and
//! no allocation larger than a fixed bound happens before the input is validated.
//!
//! The normative description is `docs/PROTOCOL.md`.

mod frame;
mod header;
mod varint;

pub use frame::{
    AckFrame, Frame, FrameType, Frames, MAX_ACK_RANGES, MAX_LABEL_LEN, MAX_PARITY_MEMBERS,
    MAX_REASON_LEN, ParityFrame,
};
pub use header::{
    CID_LEN, ConnectionId, Header, LongHeader, LongType, PROTOCOL_VERSION, PacketView, ShortHeader,
};
pub use varint::{MAX_VARINT, Reader, VarInt, varint_len, write_varint};

/// A decoding failure. Every variant is a property of the input bytes, never of our state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before `what` was complete.
    #[error("truncated {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A variable-length integer used more bytes than needed.
    #[error("non-minimal varint encoding")]
    NonMinimalVarint,
    /// First byte outside the netchan range or with reserved bits set.
    #[error("invalid first byte {0:#04x}")]
    InvalidFirstByte(u8),
    /// A long-header packet type we do not know.
    #[error("unknown long packet type {0}")]
    UnknownLongType(u8),
    /// Protocol version we do not speak.
    #[error("unsupported protocol version {0:#010x}")]
    UnsupportedVersion(u32),
    /// A frame type we do not know.
    #[error("unknown frame type {0:#x}")]
    UnknownFrameType(u64),
    /// An ACK frame with more ranges than [`MAX_ACK_RANGES`].
    #[error("too many ACK ranges ({0})")]
    TooManyAckRanges(u64),
    /// An ACK frame whose ranges go below packet number zero or overlap.
    #[error("invalid ACK range")]
    InvalidAckRange,
    /// An offset + length that exceeds 2^62 - 1.
    #[error("offset or length overflow")]
    Overflow,
    /// A PATH_STATUS frame whose status is neither 1 (available) nor 2 (standby).
    #[error("invalid path status")]
    InvalidPathStatus,
    /// A CHANNEL_PARITY frame with no members or more than [`MAX_PARITY_MEMBERS`], or
    /// whose parity bytes are not as long as its longest member.
    #[error("invalid channel parity frame")]
    InvalidParity,
    /// A transport parameter that is repeated or out of its allowed range.
    #[error("invalid transport parameter")]
    InvalidParameter,
    /// A length field larger than the protocol allows for `what`.
    #[error("{what} too long ({len} bytes)")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its claimed length.
        len: u64,
    },
}
