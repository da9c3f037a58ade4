//! Error types of the engine's public API.

use bytes::Bytes;

/// Transport error codes carried in CONNECTION_CLOSE (values below 0x100). Application
/// codes are sent as `0x100 + code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum TransportErrorCode {
    /// Graceful close.
    NoError = 0x00,
    /// An implementation error.
    Internal = 0x01,
    /// The peer broke a protocol rule (for example an ACK of an unsent packet).
    ProtocolViolation = 0x02,
    /// Data beyond granted credit.
    FlowControl = 0x03,
    /// More channels than allowed.
    ChannelLimit = 0x04,
    /// A frame for a channel in a state that forbids it.
    ChannelState = 0x05,
    /// A final size contradicting received data.
    FinalSize = 0x06,
    /// A frame that failed to decode.
    FrameEncoding = 0x07,
    /// A message larger than the advertised maximum.
    MessageTooLarge = 0x08,
    /// The listener does not accept the connection.
    Refused = 0x09,
}

impl TransportErrorCode {
    /// Maps a wire value below 0x100.
    pub fn from_u64(v: u64) -> Option<Self> {
        use TransportErrorCode::*;
        Some(match v {
            0 => NoError,
            1 => Internal,
            2 => ProtocolViolation,
            3 => FlowControl,
            4 => ChannelLimit,
            5 => ChannelState,
            6 => FinalSize,
            7 => FrameEncoding,
            8 => MessageTooLarge,
            9 => Refused,
            _ => return None,
        })
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Nothing was received for the idle timeout.
    #[error("connection timed out (idle)")]
    TimedOut,
    /// The handshake did not complete within the handshake timeout.
    #[error("handshake timed out")]
    HandshakeTimedOut,
    /// The listener refused the connection.
    #[error("connection refused by the peer")]
    Refused,
    /// The handshake failed: the listener refused our authenticated identity (not on its
    /// allow-list), or the handshake could not complete. (A wrong pinned key or PSK is
    /// dropped silently by the listener and ends as [`HandshakeTimedOut`](Self::HandshakeTimedOut).)
    #[error("handshake failed: peer not authenticated")]
    HandshakeFailed,
    /// Too many forged packets arrived (the AEAD integrity limit).
    #[error("AEAD integrity limit reached")]
    IntegrityLimit,
    /// The peer closed the connection with an application code.
    #[error("closed by peer (application code {code})")]
    ApplicationClosed {
        /// The peer's application error code.
        code: u64,
        /// The peer's reason text (untrusted bytes).
        reason: Bytes,
    },
    /// A transport-level error, detected by us (`remote == false`) or by the peer.
    #[error("transport error {code:?} ({})", if *remote { "reported by peer" } else { "detected locally" })]
    Transport {
        /// What went wrong.
        code: TransportErrorCode,
        /// Who detected it.
        remote: bool,
        /// Details.
        reason: Bytes,
    },
    /// An unknown code from the peer.
    #[error("closed by peer with unknown code {0:#x}")]
    UnknownCode(u64),
    /// We closed it.
    #[error("closed locally")]
    LocallyClosed,
}

/// Why a message could not be queued. The message is not kept; the caller still owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The channel's send buffer is full; wait for [`Event::ChannelWritable`](crate::Event).
    #[error("send buffer full")]
    Blocked,
    /// The message is larger than the peer accepts.
    #[error("message of {size} bytes exceeds the peer's limit of {limit}")]
    TooLarge {
        /// The message size.
        size: u64,
        /// The peer's maximum message size.
        limit: u64,
    },
    /// No such channel, or it was closed for sending.
    #[error("channel closed or unknown")]
    ChannelClosed,
    /// The connection is not established or is closing.
    #[error("connection not established or closing")]
    NotConnected,
}

/// Why a channel could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The peer's channel limit is reached.
    #[error("peer's channel limit reached")]
    Limit,
    /// The label is longer than the protocol allows.
    #[error("label too long")]
    LabelTooLong,
    /// The connection is closing or closed.
    #[error("connection closing or closed")]
    NotConnected,
}

/// Why a connection could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint is at its connection limit.
    #[error("too many connections")]
    TooManyConnections,
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Why a path could not be opened or changed ([`Connection::open_path`](crate::Connection::open_path)
/// and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The connection is not established (or is closing).
    #[error("connection not established")]
    NotConnected,
    /// One side does not allow more than one path (transport parameter `max_paths`).
    #[error("multipath not negotiated")]
    MultipathDisabled,
    /// As many paths are open as both sides allow.
    #[error("path limit reached")]
    TooManyPaths,
    /// A live path already joins these two addresses.
    #[error("a path between these addresses exists")]
    Exists,
    /// No live path has this id.
    #[error("unknown path")]
    UnknownPath,
    /// The path is the connection's last usable one (close the connection instead).
    #[error("the last path cannot be abandoned")]
    LastPath,
    /// Every path id this side may use is spent (ids are never reused).
    #[error("path ids exhausted")]
    IdsExhausted,
}
