//! Shared setup for the scenario tests.
#![allow(dead_code, unused_imports)]

use netchan_tests::link::LinkConfig;
pub use netchan_tests::scenarios::{CLIENT, SERVER, endpoint};
use netchan_tests::sim::Sim;
use netchan_transport::{ConnectionHandle, TransportConfig};

/// A connected client/server pair over `link` (panics if the handshake fails).
pub fn connected_pair(
    seed: u64,
    client: TransportConfig,
    server: TransportConfig,
    link: LinkConfig,
) -> (Sim, ConnectionHandle, ConnectionHandle) {
    netchan_tests::scenarios::connected_pair(seed, client, server, link).expect("handshake")
}
