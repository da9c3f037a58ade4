//! Endpoint-level fuzz targets, built on the simulator (feature `fuzz`; not a public
//! API). Each takes the fuzzer's bytes, drives two real endpoints through the kit's
//! [`Sim`](crate::sim::Sim) and returns normally on any input; the only panics are
//! `assert!`s of real invariants. The cargo-fuzz targets in `fuzz/fuzz_targets/` are
//! one-liners calling these functions, and `tests/fuzz_corpus_replay.rs` replays their
//! committed corpora. Parser- and state-level targets live in `netchan_transport::fuzzing`,
//! whose shared helpers (input cursor, keys, checks) these use.

mod capture;
mod corpus;
mod endpoint;
mod pair;
#[cfg(test)]
mod rehandshake;
mod session;

pub use corpus::corpus_seeds;
pub use endpoint::{connection_frames, endpoint};
pub use session::session_frames;

/// The function a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// The kit's fuzz targets: name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`)
/// and function.
pub const TARGETS: &[(&str, Target)] = &[
    ("endpoint", endpoint),
    ("connection_frames", connection_frames),
    ("session_frames", session_frames),
];
