//! # netchan-transport — the sans-IO protocol engine of netchan
//!
//! A reliable, multi-channel transport over UDP datagrams, in the family of QUIC and KCP,
//! written as a pure state machine: it never touches sockets, threads, clocks or a
//! thread-local RNG. Time is passed in, randomness comes from the [`Entropy`] the driver
//! hands in (the OS's generator in production).
//!
//! The normative wire format is in `docs/PROTOCOL.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod identity;
pub mod noise;
pub mod path;
pub mod ranges;
pub mod recovery;
pub mod replay;
pub mod wire;

mod admission;
mod channel;
mod config;
mod connection;
mod crypto;
mod endpoint;
mod entropy;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod timer;

pub use channel::ChannelId;
pub use config::{MAX_PATHS, TransportConfig, TransportParams};
pub use connection::{Connection, ConnectionStats, Event, Side, Transmit};
pub use crypto::{
    AeadProtection, CryptoConfig, CryptoError, HandshakeSession, NoiseConfig, NoiseHashChoice,
    PacketProtection, Secret, gate,
};
pub use endpoint::{ConnectionHandle, Endpoint, EndpointConfig, EndpointStats, MIN_INITIAL_SIZE};
pub use entropy::{Entropy, SeededEntropy};
pub use error::{
    ConnectError, ConnectionError, OpenError, PathError, SendError, TransportErrorCode,
};
pub use path::{
    PathEvent, PathMode, PathSelector, PathSelectorFactory, PathStats, PathStatus, PathView,
    SentData, UnknownPathMode,
};
pub use recovery::CongestionControl;
