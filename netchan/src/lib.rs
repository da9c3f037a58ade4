//! # netchan — Go-style typed channels that span machines (API not yet implemented)
//!
//! This crate will be the user-facing API (see `DESIGN.md` §8–9): a mio event loop that
//! owns the UDP sockets and drives the sans-IO engine, and on top of it `Sender<T>` /
//! `Receiver<T>` in the shape of crossbeam-channel, named channels with network-wide
//! backpressure, rendezvous, broadcast, work distribution, nested channels and
//! reconnection without loss.
//!
//! Today it only re-exports the transport engine, which is usable on its own as a
//! sans-IO library: [`transport`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod identity;

pub use netchan_transport as transport;
