//! Fuzzing entry points (feature `fuzzing`; not a public API).
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
use crate::crypto::{
    CryptoConfig, CryptoError, HandshakeSession, NoiseConfig, NoiseHashChoice, PacketProtection,
};
use crate::endpoint::{ConnectionHandle, Endpoint, EndpointConfig};
use crate::identity::{KeyError, Keypair, PublicKey, parse_peer_address};
use crate::noise::{
    Blake2s, Blake3, HandshakeConfig, HandshakeState, NoiseError, NoiseHash, Pattern,
};
use crate::ranges::RangeSet;
use crate::recovery::{
    AckError, CongestionControl, Pacer, PathRecovery, RecoveryConfig, RttEstimator, SentPacket,
    TimeoutOutcome,
};
use crate::replay::{ReplayWindow, WINDOW};
use crate::wire::{
    AckFrame, CID_LEN, ConnectionId, Frame, Frames, Header, LongHeader, LongType, MAX_LABEL_LEN,
    MAX_REASON_LEN, MAX_VARINT, PROTOCOL_VERSION, PacketView, Reader, varint_len, write_varint,
};
use crate::{ChannelId, Event};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

mod channel;
mod corpus;
mod endpoint;
mod noise;
mod pair;
mod ranges;
mod recovery;
mod replay;
mod retry;
mod wire;

pub use channel::channel_reassembly;
pub use corpus::corpus_seeds;
pub use endpoint::{connection_frames, endpoint};
pub use noise::{noise_initiator, noise_responder};
pub use ranges::range_set;
pub use recovery::{ack_ranges, congestion};
pub use replay::replay_window;
pub use retry::retry;
pub use wire::{frames, header_decode, identity_text, transport_params};
#[allow(unused_imports)]
use {
    channel::*, corpus::*, endpoint::*, noise::*, pair::*, ranges::*, recovery::*, replay::*,
    retry::*, wire::*,
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
    ("endpoint", endpoint),
    ("congestion", congestion),
    ("identity_text", identity_text),
    ("connection_frames", connection_frames),
];

/// Largest datagram any endpoint in these harnesses may send (the default
/// `max_datagram_size`; PROTOCOL.md §3.4).
pub(super) const MDS: usize = 1200;

// ----- small input helpers ------------------------------------------------------------

/// A cursor over hand-formatted fuzz input; every read is total (short reads are clamped).
pub(super) struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub(super) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A big-endian `u16` (a single remaining byte is read as the low byte).
    pub(super) fn u16(&mut self) -> Option<u16> {
        let hi = self.u8()?;
        match self.u8() {
            Some(lo) => Some(u16::from_be_bytes([hi, lo])),
            None => Some(u16::from(hi)),
        }
    }

    /// Up to `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// `u16` length prefix, then that many bytes (clamped).
    pub(super) fn prefixed(&mut self) -> &'a [u8] {
        let n = self.u16().unwrap_or(0);
        self.take(usize::from(n))
    }

    pub(super) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Appends `u16 length ‖ bytes` (the inverse of [`Input::prefixed`]).
pub(super) fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(n)]);
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks a datagram an endpoint wrote: within the size limit and well formed.
pub(super) fn check_transmit(size: usize, buf: &[u8]) {
    assert_eq!(size, buf.len(), "Transmit::size is the bytes written");
    assert!(size <= MDS, "sent a {size}-byte datagram (limit {MDS})");
    let (header, header_len) = Header::parse(buf).expect("endpoints only send valid headers");
    match header {
        Header::Long(h) if h.ty == LongType::Initial => {
            assert!(size >= crate::MIN_INITIAL_SIZE, "Initial of {size} bytes");
        }
        Header::Long(_) => {}
        Header::Short(_) => assert!(
            size >= header_len + crate::noise::TAG_LEN,
            "short packet without room for a tag"
        ),
    }
}
