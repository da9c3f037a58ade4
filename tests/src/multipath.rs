//! Pairs with two paths for the multipath tests: both nodes get a second address, joined
//! by a link of its own, and the client opens a path between them.

use crate::link::LinkConfig;
use crate::scenarios::{CLIENT, SERVER, ScenarioError, connected_pair};
use crate::sim::{Control, NodeId, Sim};
use crate::transfer::collect_events;
use netchan_transport::{ConnectionHandle, PathEvent, TransportConfig};
use std::net::SocketAddr;
use std::time::Duration;

/// A 10 Mbit/s link (50-packet queue, ±1 ms jitter) with the given one-way delay: the
/// paths of the multipath mode tests.
pub fn ten_mbit(one_way_ms: u64) -> LinkConfig {
    LinkConfig {
        rate_bps: Some(10_000_000),
        queue_packets: 50,
        jitter: Duration::from_millis(1),
        ..LinkConfig::ideal(Duration::from_millis(one_way_ms))
    }
}

/// The client's and the server's second addresses in [`two_address_pair`].
pub fn second_addresses() -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from(([10, 0, 1, 1], 4433)),
        SocketAddr::from(([10, 0, 1, 2], 4433)),
    )
}

/// A connected pair over `first` (path 0) whose nodes also have the
/// [`second_addresses`], joined by `second` both ways; no second path is open yet.
pub fn two_address_pair(
    seed: u64,
    (client, server): (TransportConfig, TransportConfig),
    first: LinkConfig,
    second: LinkConfig,
) -> Result<(Sim, ConnectionHandle, ConnectionHandle), ScenarioError> {
    let (mut sim, c, s) = connected_pair(seed, client, server, first)?;
    let (c1, s1) = second_addresses();
    sim.add_address(CLIENT, c1);
    sim.add_address(SERVER, s1);
    sim.set_path_links(c1, s1, second);
    Ok((sim, c, s))
}

/// Opens the path between the [`second_addresses`] from the client and runs until both
/// sides validated it; returns its id. Path events seen meanwhile go to `events`.
pub fn open_second_path(
    sim: &mut Sim,
    c: ConnectionHandle,
    events: &mut Vec<(Duration, NodeId, PathEvent)>,
) -> Result<u64, ScenarioError> {
    let (c1, s1) = second_addresses();
    let now = sim.now;
    let conn = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .ok_or_else(|| ScenarioError::Closed("client connection gone".into()))?;
    let id = conn
        .open_path(now, c1, s1)
        .map_err(|e| ScenarioError::Closed(format!("open_path: {e}")))?;
    let mut inbound = None;
    sim.run(100_000, sim.elapsed() + Duration::from_secs(5), |sim| {
        collect_events(sim, events, &mut inbound);
        let validated = |n| {
            events.iter().any(|(_, node, e)| {
                *node == n && matches!(e, PathEvent::Validated { path, .. } if *path == id)
            })
        };
        if validated(CLIENT) && validated(SERVER) {
            Control::Done
        } else {
            Control::Continue
        }
    })?;
    Ok(id)
}
