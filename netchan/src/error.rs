//! Error types. Every error of a send operation gives the value back
//! (`into_inner`): a message is never silently dropped.

use std::fmt;
use std::net::SocketAddr;

/// Why a channel (or one peer's end of it) can no longer carry messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The local node was shut down (dropped).
    #[error("the node is shut down")]
    NodeClosed,
    /// Every receiver on the remote end was dropped.
    #[error("the remote receivers of channel {name:?} were dropped")]
    ReceiverClosed {
        /// The channel.
        name: String,
    },
    /// Every sender on the remote end was dropped and all its messages were received.
    #[error("the remote senders of channel {name:?} were dropped")]
    SenderClosed {
        /// The channel.
        name: String,
    },
    /// The peer did not come back within the reconnection lease.
    #[error("peer {peer} did not reconnect within the lease")]
    LeaseExpired {
        /// The peer's public key (base32).
        peer: String,
    },
    /// Both ends opened the channel with different message types.
    #[error("channel {name:?}: message type mismatch (local {local}, remote {remote})")]
    TypeMismatch {
        /// The channel.
        name: String,
        /// Our message type.
        local: String,
        /// The peer's message type.
        remote: String,
    },
    /// The peer broke the channel protocol (undecodable message, credit overrun, ...).
    #[error("channel {name:?}: protocol violation by the peer: {detail}")]
    Protocol {
        /// The channel.
        name: String,
        /// What happened.
        detail: String,
    },
}

/// A value that could not be sent, and why. `into_inner` gives the value back.
#[derive(PartialEq, Eq, Clone)]
pub struct SendError<T> {
    value: T,
    reason: SendFailure,
}

/// Why a send failed (other than "full" or "timed out").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendFailure {
    /// The channel is disconnected.
    #[error(transparent)]
    Disconnected(#[from] ChannelError),
    /// The serialized value exceeds the maximum message size.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Serialized size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The value could not be serialized.
    #[error("could not serialize the value: {0}")]
    Encode(String),
}

impl<T> SendError<T> {
    pub(crate) fn new(value: T, reason: SendFailure) -> Self {
        Self { value, reason }
    }
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.value
    }
    /// Why.
    pub fn reason(&self) -> &SendFailure {
        &self.reason
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}
impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sending failed: {}", self.reason)
    }
}
impl<T> std::error::Error for SendError<T> {}

/// Error of [`Sender::try_send`](crate::Sender::try_send).
#[derive(PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// No credit right now: the remote buffer is full (or no peer is ready yet).
    Full(T),
    /// The send cannot succeed.
    Failed(SendError<T>),
}

/// Error of [`Sender::send_timeout`](crate::Sender::send_timeout).
#[derive(PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum SendTimeoutError<T> {
    /// No credit arrived before the deadline.
    Timeout(T),
    /// The send cannot succeed.
    Failed(SendError<T>),
}

macro_rules! send_variants {
    ($t:ident, $full:ident, $what:literal) => {
        impl<T> $t<T> {
            /// The value that was not sent.
            pub fn into_inner(self) -> T {
                match self {
                    Self::$full(v) => v,
                    Self::Failed(e) => e.into_inner(),
                }
            }
            /// True for the transient case (full / timed out).
            pub fn is_transient(&self) -> bool {
                matches!(self, Self::$full(_))
            }
            /// True if the channel is disconnected.
            pub fn is_disconnected(&self) -> bool {
                matches!(self, Self::Failed(e) if matches!(e.reason(), SendFailure::Disconnected(_)))
            }
        }
        impl<T> From<SendError<T>> for $t<T> {
            fn from(e: SendError<T>) -> Self {
                Self::Failed(e)
            }
        }
        impl<T> fmt::Debug for $t<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::$full(_) => f.write_str(concat!(stringify!($full), "(..)")),
                    Self::Failed(e) => write!(f, "Failed({e:?})"),
                }
            }
        }
        impl<T> fmt::Display for $t<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::$full(_) => f.write_str($what),
                    Self::Failed(e) => e.fmt(f),
                }
            }
        }
        impl<T> std::error::Error for $t<T> {}
    };
}
send_variants!(TrySendError, Full, "sending on a full channel");
send_variants!(
    SendTimeoutError,
    Timeout,
    "timed out waiting for channel credit"
);

/// The channel is empty and disconnected: no message will ever arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receiving on a closed channel: {0}")]
pub struct RecvError(pub ChannelError);

/// Error of [`Receiver::try_recv`](crate::Receiver::try_recv).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing to receive right now.
    #[error("receiving on an empty channel")]
    Empty,
    /// Empty and disconnected.
    #[error(transparent)]
    Disconnected(#[from] RecvError),
}

/// Error of [`Receiver::recv_timeout`](crate::Receiver::recv_timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// Nothing arrived before the deadline.
    #[error("timed out waiting on a channel")]
    Timeout,
    /// Empty and disconnected.
    #[error(transparent)]
    Disconnected(#[from] RecvError),
}

/// Errors of node operations (creating a node, dialing, opening a channel).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An address could not be parsed or resolved.
    #[error("bad address {0:?}: expected HOST:PORT or KEY@HOST:PORT")]
    BadAddress(String),
    /// A host name could not be resolved.
    #[error("cannot resolve {addr:?}: {reason}")]
    Resolve {
        /// The address given.
        addr: String,
        /// The resolver's error.
        reason: String,
    },
    /// The connection attempt failed.
    #[error("could not connect to {addr}: {reason}")]
    Connect {
        /// Where we dialed.
        addr: SocketAddr,
        /// Why it failed.
        reason: String,
    },
    /// A channel with this name already exists for this peer (or for every peer).
    #[error("a channel named {0:?} already exists")]
    DuplicateChannel(String),
    /// The channel name is longer than 255 bytes.
    #[error("channel name longer than {} bytes", crate::wire::MAX_NAME_LEN)]
    NameTooLong,
    /// The node is shut down.
    #[error("the node is shut down")]
    NodeClosed,
    /// A key or key file problem.
    #[error(transparent)]
    Key(#[from] crate::identity::KeyFileError),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}
