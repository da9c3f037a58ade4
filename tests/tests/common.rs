//! Shared setup for the scenario tests.
#![allow(dead_code)]

use netchan_tests::link::LinkConfig;
use netchan_tests::sim::{NodeId, Sim};
use netchan_transport::{
    ConnectionHandle, EndpointConfig, Event, InsecureTestCrypto, TransportConfig,
};
use std::sync::Arc;

/// An endpoint config with test crypto and the given transport config.
pub fn endpoint(seed: u64, transport: TransportConfig) -> EndpointConfig {
    let mut c = EndpointConfig::new(Arc::new(InsecureTestCrypto), seed);
    c.transport = Arc::new(transport);
    c
}

/// A client (node 0) and server (node 1) with `link` in both directions, connected.
/// Returns the sim and both connection handles.
pub fn connected_pair(
    seed: u64,
    client: TransportConfig,
    server: TransportConfig,
    link: LinkConfig,
) -> (Sim, ConnectionHandle, ConnectionHandle) {
    let mut sim = Sim::new(seed);
    let c = sim.add_node(endpoint(seed.wrapping_mul(2) + 1, client));
    let s = sim.add_node(endpoint(seed.wrapping_mul(2) + 2, server));
    sim.set_links(c, s, link);
    let ch = sim.connect(c, s);
    let mut sh = None;
    let mut client_up = false;
    sim.run(100_000, std::time::Duration::from_secs(60), |sim| {
        for (h, e) in sim.events(s) {
            if e == Event::Connected {
                sh = Some(h);
            }
        }
        for (_, e) in sim.events(c) {
            if e == Event::Connected {
                client_up = true;
            }
        }
        if client_up && sh.is_some() {
            netchan_tests::sim::Control::Done
        } else {
            netchan_tests::sim::Control::Continue
        }
    })
    .expect("handshake completes");
    (sim, ch, sh.expect("server connection"))
}

/// Node ids used by `connected_pair`.
pub const CLIENT: NodeId = 0;
/// Node ids used by `connected_pair`.
pub const SERVER: NodeId = 1;
