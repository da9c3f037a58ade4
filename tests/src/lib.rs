//! # netchan-tests — the deterministic test kit and end-to-end tests
//!
//! - [`link`]: a seeded, virtual-time link emulator (latency, jitter, random and
//!   Gilbert-Elliott loss, duplication, reordering, corruption, rate limit with a bounded
//!   queue, blackholes).
//!
//! - [`sim`]: the virtual-time simulator driving endpoints (and netchan channel sessions
//!   above them) through those links, with address rebinding, attackers on links,
//!   bounded run loops and seed replay (`NETCHAN_SEED`). It is the one harness: every
//!   protocol test of the workspace runs on it.
//! - [`pair`]: the two-endpoint facade over the simulator used by the connection and
//!   security tests.
//!
//! - [`congestion`]: congestion-control scenarios (latency of paced messages under loss,
//!   standing queue, flows sharing a bottleneck).
//! - [`scenarios`]: complete scenarios returning reports (used by the tests and by
//!   `netchan-bench`).
//! - [`workload`]: numbered, hash-verified message streams (exactly once, in order).
//! - [`multipath`]: pairs with a second address on each node and a second path.
//! - [`flows`]: paced message flows, one channel and path mode each, with every
//!   message's delivery time (the multipath mode tests).
//! - [`transfer`]: a client → server transfer over a connected pair, verified, with the
//!   path events of both sides.
//!
//! The scenario tests live in `tests/tests/`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod congestion;
pub mod flows;
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzz;
pub mod link;
pub mod multipath;
pub mod pair;
pub mod scenarios;
pub mod sim;
pub mod transfer;
pub mod workload;
