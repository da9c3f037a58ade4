//! # netchan-multipath — "RAID for the network"
//!
//! The sans-IO multipath policies of netchan (see `DESIGN.md` §6), plugged into the
//! transport through its path-selection seam: the [`Scheduler`] is a
//! [`PathSelectorFactory`] set in
//! [`TransportConfig::path_selector`](netchan_transport::TransportConfig), and the
//! transport asks it for the path of every packet, for the paths that carry copies of a
//! channel's data, and whether a path whose probe timer fired has failed. The
//! mechanism — several paths per connection, their validation, status and abandonment,
//! per-path recovery and congestion control, copy queues, failover of a failed path's
//! data in flight — is the transport's (`docs/PROTOCOL.md` §12.5).
//!
//! Each channel direction has a [`PathMode`] (the connection's default,
//! [`TransportConfig::path_mode`](netchan_transport::TransportConfig), or its own via
//! [`Connection::set_channel_mode`](netchan_transport::Connection::set_channel_mode)):
//!
//! - `stripe` (RAID-0, [`stripe`]): each packet on the path that delivers it earliest, so
//!   the aggregate approaches the sum of the path rates without head-of-line stalls on
//!   the slow path;
//! - `mirror` (RAID-1, [`copies`]): the data on every healthy active path, the first copy
//!   to arrive wins;
//! - `hedged` ([`copies`]): striped, small packets and message tails also on the best
//!   other path, everything from a degrading path copied, and parity over its chunks
//!   while paths lose packets (a message lost on both paths is rebuilt, not resent);
//! - `backup`: striped over the active paths; standby paths carry only liveness probes
//!   until every active path has failed, then take over, and hand back when one returns;
//! - `parity` (RAID-5-like, [`parity`]): striped, and after every `k` chunks their XOR on
//!   another path, so one loss per group is repaired without a round trip; `k` follows
//!   the measured loss (no parity while nothing is lost).
//!
//! A path fails by the [`health`] rule; its data in flight moves to the others at once.
//!
//! ```
//! use netchan_multipath::Scheduler;
//! use netchan_transport::{PathMode, TransportConfig};
//! use std::sync::Arc;
//!
//! // Both sides allow four paths; channels are mirrored unless they choose otherwise.
//! let config = TransportConfig::default()
//!     .max_paths(4)
//!     .path_selector(Arc::new(Scheduler::default()))
//!     .path_mode(PathMode::Mirror);
//! assert_eq!(config.max_paths, 4);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod copies;
pub mod health;
pub mod parity;
pub mod stripe;

pub use copies::Copies;
pub use health::Health;
pub use netchan_transport::PathMode;
pub use parity::Parity;

use netchan_transport::{PathSelector, PathSelectorFactory, PathView, SentData};
use std::time::Instant;

/// The multipath scheduler: every mode of [`PathMode`], one instance per connection
/// (stateless; the factory is its own product).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scheduler {
    /// When a path has failed.
    pub health: Health,
    /// Which paths carry copies (mirror, hedged).
    pub copies: Copies,
    /// Parity group sizes and paths (parity).
    pub parity: Parity,
}

impl PathSelectorFactory for Scheduler {
    fn build(&self) -> Box<dyn PathSelector> {
        Box::new(*self)
    }
}

impl PathSelector for Scheduler {
    fn select(&mut self, _now: Instant, paths: &[PathView]) -> Option<u64> {
        stripe::choose(paths)
    }

    fn copies(&mut self, _now: Instant, sent: &SentData, paths: &[PathView], out: &mut Vec<u64>) {
        self.copies.targets(sent, paths, out);
    }

    fn is_failed(&mut self, _now: Instant, path: &PathView, _paths: &[PathView]) -> bool {
        self.health.is_failed(path)
    }

    fn parity_group(&mut self, _now: Instant, mode: PathMode, paths: &[PathView]) -> Option<usize> {
        // Hedged data gets parity too: a small message lost on both of its paths is then
        // rebuilt without a round trip.
        matches!(mode, PathMode::Parity | PathMode::Hedged)
            .then(|| self.parity.group_size(paths))
            .flatten()
    }

    fn parity_path(&mut self, _now: Instant, members: &[u64], paths: &[PathView]) -> Option<u64> {
        self.parity.path(members, paths)
    }
}
