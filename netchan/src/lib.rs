//! # netchan — Go-style typed channels that span machines
//!
//! A [`Node`] owns UDP sockets and an event-loop thread running netchan's own
//! encrypted, reliable transport ([`transport`]). Nodes dial each other by address
//! (pinning the peer's public key with `KEY@host:port`) and open **named, typed
//! channels** with the shape of crossbeam-channel: [`Sender<T>`] and [`Receiver<T>`]
//! with `send` / `try_send` / `send_timeout`, `recv` / `try_recv` / `recv_timeout` /
//! `iter`, cloning, and disconnection when the last handle drops.
//!
//! A channel's capacity is a **network-wide buffer**: `send` blocks while the remote
//! side already holds `capacity` messages its receivers have not taken. Capacity 0 is a
//! rendezvous: `send` returns only once a remote receiver has the value. Messages are
//! delivered exactly once and in order per channel, also across a reconnection within
//! the peer's lease (unacknowledged messages are resent and deduplicated).
//!
//! ## Tutorial
//!
//! Two nodes in one process, over loopback (in real use they are two programs):
//!
//! ```
//! use netchan::{Node, NodeConfig};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Job { id: u32, text: String }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server listens on a port. Its address includes its public key.
//! let server = Node::bind("127.0.0.1:0")?;
//! let address = server.address(); // "KEY@127.0.0.1:PORT"
//!
//! // A client dials it; the handshake authenticates the server's key.
//! let client = Node::new(NodeConfig::new())?;
//! let server_peer = client.dial(&address)?;
//!
//! // Both sides open the channel "jobs" with the same type. The client buffers up to
//! // 16 replies; the server buffers up to 16 jobs.
//! let (jobs_tx, _replies_rx) = server_peer.channel::<Job>("jobs", 16)?;
//! let client_peer = server.peer(client.public_key());
//! let (_reply_tx, jobs_rx) = client_peer.channel::<Job>("jobs", 16)?;
//!
//! jobs_tx.send(Job { id: 1, text: "hello".into() })?;
//! assert_eq!(jobs_rx.recv()?, Job { id: 1, text: "hello".into() });
//! # Ok(())
//! # }
//! ```
//!
//! The simple form of Go's netchan: [`listen`] and [`dial`] each return a
//! sender/receiver pair; the listener's sender gives each message to one connected
//! peer, its receiver merges every peer:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (_tx, rx) = netchan::listen::<String>("127.0.0.1:47001")?;
//! let (tx, _rx) = netchan::dial::<String>("127.0.0.1:47001")?;
//! tx.send("ping".to_string())?;
//! assert_eq!(rx.recv()?, "ping");
//! # Ok(())
//! # }
//! ```
//!
//! ## Selecting
//!
//! [`Receiver::as_crossbeam`] exposes the underlying crossbeam receiver for
//! `crossbeam_channel::select!`; the selected item is a [`Delivery`], whose
//! `into_inner` gives the value and frees the sender's slot.
//!
//! ## Errors
//!
//! Sending errors give the value back ([`SendError::into_inner`]) and say why
//! ([`SendFailure`], [`ChannelError`]): disconnection, a peer that did not come back
//! within its lease, a type mismatch, a value over the message size limit. Nothing a
//! peer sends can crash a node: malformed input ends that peer's channel with
//! [`ChannelError::Protocol`] and an event on [`Node::events`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chan;
mod codec;
mod driver;
mod entropy;
mod error;
mod events;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handoff;
pub mod identity;
mod io;
mod node;
pub mod session;
mod spin;
mod udp;
mod wire;

pub use chan::{Delivery, IntoIter, Iter, Receiver, Sender, TryIter};
pub use codec::decode_untrusted;
pub use entropy::OsEntropy;
pub use error::{
    ChannelError, Error, RecvError, RecvTimeoutError, SendError, SendFailure, SendTimeoutError,
    TryRecvError, TrySendError,
};
pub use netchan_transport as transport;
pub use netchan_transport::identity::{Keypair, PublicKey};
pub use netchan_transport::{CongestionControl, PathMode};
pub use node::{
    ChannelOptions, DEFAULT_CAPACITY, DEFAULT_CHANNEL, Node, NodeConfig, NodeEvent, PathStats,
    Peer, PeerStats, dial, listen,
};
pub use wire::MAX_NAME_LEN;

/// The README's Rust examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
