//! # netchan-tests — the deterministic test kit and end-to-end tests
//!
//! - [`link`]: a seeded, virtual-time link emulator (latency, jitter, random and
//!   Gilbert-Elliott loss, duplication, reordering, corruption, rate limit with a bounded
//!   queue, blackholes).
//!
//! - [`sim`]: a virtual-time simulator driving endpoints through those links, with
//!   bounded run loops and seed replay (`NETCHAN_SEED`).
//!
//! - [`scenarios`]: complete scenarios returning reports (used by the tests and by
//!   `netchan-bench`).
//! - [`workload`]: numbered, hash-verified message streams (exactly once, in order).
//!
//! The scenario tests live in `tests/tests/`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod link;
pub mod scenarios;
pub mod sim;
pub mod workload;
