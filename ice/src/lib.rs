//! # netchan-ice — NAT traversal (not yet implemented)
//!
//! This crate will hold netchan's sans-IO ICE agent (see `DESIGN.md` §7): host and
//! server-reflexive candidate gathering (STUN messages through `stun-rs`), candidate
//! priorities and pairing, paced connectivity checks with MESSAGE-INTEGRITY and
//! FINGERPRINT, nomination, role-conflict handling and consent freshness (RFC 8445,
//! RFC 7675), and relaying through a coordinator node when hole punching fails.
//!
//! It is empty today.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
