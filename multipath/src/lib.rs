//! # netchan-multipath — "RAID for the network"
//!
//! The sans-IO multipath policies of netchan (see `DESIGN.md` §6), plugged into the
//! transport through its path-selection seam: each scheduler here is a
//! [`PathSelectorFactory`](netchan_transport::PathSelectorFactory) set in
//! [`TransportConfig::path_selector`](netchan_transport::TransportConfig), and the
//! transport asks it for the path of every packet it sends. The mechanism — several
//! paths per connection, their validation, status and abandonment, per-path recovery and
//! congestion control — is the transport's (`docs/PROTOCOL.md` §12.5).
//!
//! - [`Stripe`] (RAID-0): each packet on the path that delivers it earliest, so the
//!   aggregate approaches the sum of the path rates without head-of-line stalls on the
//!   slow path.
//!
//! Still to come: `mirror`, `parity`, `hedged` and `backup`, and a path manager that
//! moves a failed path's data in flight at once.
//!
//! ```
//! use netchan_multipath::Stripe;
//! use netchan_transport::TransportConfig;
//! use std::sync::Arc;
//!
//! // Both sides allow four paths; packets are striped over the validated ones.
//! let config = TransportConfig::default()
//!     .max_paths(4)
//!     .path_selector(Arc::new(Stripe));
//! assert_eq!(config.max_paths, 4);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod stripe;

pub use stripe::Stripe;
