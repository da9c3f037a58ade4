//! # netchan-multipath — "RAID for the network" (not yet implemented)
//!
//! This crate will hold the sans-IO multipath policies of netchan (see `DESIGN.md` §6):
//!
//! - the **path manager**: path validation (challenge/response), health, failover and
//!   recovery of dead paths;
//! - the **schedulers**: `stripe` (RAID-0, spread by capacity and RTT), `mirror` (RAID-1,
//!   every packet on every healthy path), `parity` (RAID-5-like XOR repair packets on
//!   another path) and `hedged`;
//! - receive-side deduplication.
//!
//! It is empty today: `netchan-transport` already carries per-path packet-number spaces
//! (one path per connection for now), which is what these policies will plug into.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
