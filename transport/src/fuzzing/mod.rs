//! Fuzzing entry points (feature `fuzzing`; not a public API).
//!
//! The parser- and state-level targets live here (one file per family); the two
//! endpoint-level targets (`endpoint`, `connection_frames`) run real endpoint pairs on the
//! test kit's simulator (`netchan_tests::fuzz`) and use the helpers of [`shared`].
//!
//! One total function per fuzz target in `fuzz/fuzz_targets/`: each takes the fuzzer's
//! bytes, drives one part of the engine through its internal API and returns normally on
//! any input. The only panics are `assert!`s stating real invariants (canonical round
//! trips, exact encoded sizes, agreement with a simple model, byte accounting, bounded
//! state) and the library's own debug assertions. The fuzz targets are one-liners calling
//! these functions, and `tests/fuzz_corpus_replay.rs` calls the same functions on every
//! file of `fuzz/corpus/<target>/`, so targets and replay never drift apart ([`TARGETS`]).
//!
//! Inputs that describe operation sequences are decoded with `arbitrary`; inputs that carry
//! packets are raw bytes, or small hand-written record formats documented on each target
//! so that real packets can be used as seeds ([`corpus_seeds`]). Expensive fixed setup
//! (key pairs, reference handshake transcripts) is computed once in `OnceLock`s and is
//! immutable; every call builds its own mutable state.

use crate::channel::{RecvError, RecvState, SendState};
use crate::config::{TransportConfig, TransportParams};
use crate::connection::handshake_message;
use crate::crypto::{CryptoConfig, CryptoError, NoiseConfig, NoiseHashChoice, PacketProtection};
use crate::endpoint::{ConnectionHandle, Endpoint, EndpointConfig};
use crate::identity::{KeyError, Keypair, PublicKey, parse_peer_address};
use crate::noise::{
    Blake2s, Blake3, HandshakeConfig, HandshakeState, NoiseError, NoiseHash, Pattern,
};
use crate::ranges::RangeSet;
use crate::recovery::{
    AckError, AckEvent, CongestionControl, Pacer, PathRecovery, RateSample, RecoveryConfig,
    RttEstimator, SentPacket, TimeoutOutcome,
};
use crate::replay::{ReplayWindow, WINDOW};
use crate::wire::{
    AckFrame, CID_LEN, ConnectionId, Frame, Frames, Header, LongHeader, LongType, MAX_LABEL_LEN,
    MAX_REASON_LEN, MAX_VARINT, PROTOCOL_VERSION, PacketView, Reader, varint_len, write_varint,
};
use crate::{ChannelId, Event};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

mod channel;
mod corpus;
mod noise;
pub mod plain;
mod ranges;
mod recovery;
mod replay;
pub mod replay_check;
mod retry;
pub mod shared;
mod wire;

pub use channel::channel_reassembly;
pub use corpus::corpus_seeds;
pub use noise::{NoiseMode, noise_initiator, noise_responder};
pub use ranges::range_set;
pub use recovery::{ack_ranges, congestion};
pub use replay::replay_window;
pub use retry::retry;
pub use wire::{frames, header_decode, identity_text, transport_params};
#[allow(unused_imports)]
use {
    channel::*, corpus::*, noise::*, ranges::*, recovery::*, replay::*, retry::*, shared::*,
    wire::*,
};

/// The function a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs` and the corpus
/// directory `fuzz/corpus/<name>/`) and the function it runs.
pub const TARGETS: &[(&str, Target)] = &[
    ("header_decode", header_decode),
    ("frames", frames),
    ("transport_params", transport_params),
    ("noise_responder", noise_responder),
    ("noise_initiator", noise_initiator),
    ("retry", retry),
    ("ack_ranges", ack_ranges),
    ("range_set", range_set),
    ("channel_reassembly", channel_reassembly),
    ("replay_window", replay_window),
    ("congestion", congestion),
    ("identity_text", identity_text),
];
