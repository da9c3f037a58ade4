//! Several paths per connection (PROTOCOL.md §12.5): opening a second path between two
//! further addresses, validating it, carrying data over both, standby, abandoning a path
//! mid-transfer (its data in flight goes out again on the other path), and the limits a
//! peer cannot exceed.
//!
//! The scheduler here is a plain round-robin over active paths (the policies proper live
//! in netchan-multipath); what is tested is the transport's mechanism under it.

use netchan_tests::link::LinkConfig;
use netchan_tests::multipath::{self, second_addresses};
use netchan_tests::scenarios::{CLIENT, SERVER};
use netchan_tests::sim::{Control, Sim};
use netchan_tests::transfer::{Transfer, collect_events};
use netchan_tests::workload::Stream;
use netchan_transport::{
    ConnectionHandle, PathError, PathEvent, PathSelector, PathSelectorFactory, PathStats,
    PathStatus, PathView, TransportConfig,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Round-robin over the active paths with window room (else the first active one);
/// standby paths only when no path is active.
#[derive(Debug, Default)]
struct RoundRobin {
    next: usize,
}

impl PathSelector for RoundRobin {
    fn select(&mut self, _now: Instant, paths: &[PathView]) -> Option<u64> {
        let active: Vec<&PathView> = paths
            .iter()
            .filter(|p| p.status == PathStatus::Active)
            .collect();
        if active.is_empty() {
            return paths
                .iter()
                .find(|p| p.status == PathStatus::Standby)
                .or(paths.first())
                .map(|p| p.id);
        }
        let n = active.len();
        let pick = (0..n)
            .map(|k| (self.next + k) % n)
            .find(|&k| active[k].can_send)
            .unwrap_or(self.next % n);
        self.next = pick + 1;
        Some(active[pick].id)
    }
}

#[derive(Debug)]
struct RoundRobinFactory;

impl PathSelectorFactory for RoundRobinFactory {
    fn build(&self) -> Box<dyn PathSelector> {
        Box::new(RoundRobin::default())
    }
}

fn config(max_paths: u64) -> TransportConfig {
    TransportConfig::default()
        .max_paths(max_paths)
        .path_selector(Arc::new(RoundRobinFactory))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// 20 Mbit/s at `ms` one way.
fn link(ms: u64) -> LinkConfig {
    LinkConfig {
        rate_bps: Some(20_000_000),
        queue_packets: 100,
        ..LinkConfig::ideal(Duration::from_millis(ms))
    }
}

/// A connected pair (first path 10 ms one way) whose nodes have second addresses joined
/// by a 30 ms link, allowing `client` and `server` paths.
fn two_address_pair(
    seed: u64,
    client: u64,
    server: u64,
) -> (Sim, ConnectionHandle, ConnectionHandle) {
    let configs = (config(client), config(server));
    multipath::two_address_pair(seed, configs, link(10), link(30)).expect("connected")
}

/// Every path event of both sides, with the time and the node it happened on.
type Log = Vec<(Duration, usize, PathEvent)>;

fn transfer(sim: &mut Sim, c: ConnectionHandle, s: ConnectionHandle, n: u64) -> Transfer {
    Transfer::start(sim, c, s, Stream::new(11, n, 200, 1200))
}

fn paths(sim: &mut Sim, node: usize, h: ConnectionHandle) -> Vec<PathStats> {
    sim.nodes[node]
        .endpoint
        .connection(h)
        .expect("connection")
        .paths()
        .collect()
}

/// Opens the second path from the client and runs until both sides validated it.
fn open_second_path(sim: &mut Sim, c: ConnectionHandle, log: &mut Log) -> u64 {
    multipath::open_second_path(sim, c, log).expect("both sides validate the new path")
}

#[test]
fn second_path_opens_and_carries_data() {
    let (mut sim, c, s) = two_address_pair(1, 4, 4);
    let mut log = Vec::new();
    let opened_at = sim.elapsed();
    let id = open_second_path(&mut sim, c, &mut log);
    assert_eq!(id, 2, "the dialer's first extra path id");
    let took = sim.elapsed() - opened_at;
    let server_paths = paths(&mut sim, SERVER, s);
    let (c1, s1) = second_addresses();
    assert_eq!(server_paths.len(), 2);
    assert_eq!(
        (
            server_paths[1].id,
            server_paths[1].local,
            server_paths[1].remote
        ),
        (2, s1, c1),
        "the server's view of the new path"
    );
    assert_eq!(server_paths[1].status, PathStatus::Active);
    let mut xfer = transfer(&mut sim, c, s, 20_000);
    sim.run(10_000_000, Duration::from_secs(120), |sim| xfer.step(sim))
        .expect("transfer completes");
    let client_paths = paths(&mut sim, CLIENT, c);
    let bytes: Vec<u64> = client_paths.iter().map(|p| p.bytes_sent).collect();
    let total: u64 = bytes.iter().sum();
    eprintln!(
        "second_path_opens_and_carries_data: validated in {took:?}; 20,000 messages exactly \
         once; client bytes per path {bytes:?} (path 2: {:.0}%); RTTs {:?}",
        100.0 * bytes[1] as f64 / total as f64,
        client_paths.iter().map(|p| p.rtt).collect::<Vec<_>>()
    );
    assert!(
        took < Duration::from_millis(500),
        "validation took {took:?}"
    );
    assert!(
        bytes.iter().all(|&b| b * 5 > total),
        "both paths carry at least a fifth: {bytes:?}"
    );
    // Each path's RTT is its own (ACKs return on the path they acknowledge).
    assert!(
        client_paths[0].rtt < Duration::from_millis(45),
        "{:?}",
        client_paths[0].rtt
    );
    assert!(
        client_paths[1].rtt > Duration::from_millis(55),
        "{:?}",
        client_paths[1].rtt
    );
}

#[test]
fn abandoned_path_hands_its_data_to_the_other() {
    let (mut sim, c, s) = two_address_pair(2, 4, 4);
    let mut log = Vec::new();
    let id = open_second_path(&mut sim, c, &mut log);
    let (c1, s1) = second_addresses();
    // The second path goes dark 300 ms into the transfer; 100 ms later the client
    // abandons it with data in flight there.
    let t0 = sim.elapsed();
    let dark = (t0 + Duration::from_millis(300), Duration::from_secs(3600));
    sim.set_path_links(c1, s1, link(30).with_blackhole(dark.0, dark.1));
    let mut xfer = transfer(&mut sim, c, s, 20_000);
    xfer.events = log;
    let mut abandoned = false;
    sim.run(10_000_000, Duration::from_secs(120), |sim| {
        if !abandoned && sim.elapsed() >= t0 + Duration::from_millis(400) {
            let now = sim.now;
            let conn = sim.nodes[CLIENT].endpoint.connection(c).expect("client");
            let in_flight = conn
                .paths()
                .find(|p| p.id == id)
                .map(|p| p.recovery.packets_sent - p.recovery.packets_acked);
            eprintln!("abandoning path {id}: {in_flight:?} packets sent and not acknowledged");
            conn.abandon_path(now, id).expect("abandon");
            assert_eq!(conn.abandon_path(now, id), Err(PathError::UnknownPath));
            assert_eq!(conn.abandon_path(now, 0), Err(PathError::LastPath));
            abandoned = true;
        }
        xfer.step(sim)
    })
    .expect("transfer completes on the remaining path");
    // Let both sides retire the abandoned path.
    let until = sim.elapsed() + Duration::from_secs(3);
    while sim.elapsed() < until {
        sim.step_bounded(Some(Duration::from_millis(10)));
    }
    xfer.collect(&mut sim);
    let by = |n: usize| {
        xfer.events.iter().find_map(|(t, node, e)| match e {
            PathEvent::Abandoned { path, by_peer } if *node == n && *path == id => {
                Some((*t, *by_peer))
            }
            _ => None,
        })
    };
    let (client_at, client_by_peer) = by(CLIENT).expect("client abandoned");
    let (server_at, server_by_peer) = by(SERVER).expect("server told");
    eprintln!(
        "abandoned_path_hands_its_data_to_the_other: 20,000 messages exactly once; the \
         server learnt of the abandon {:?} after the client (on the surviving path)",
        server_at - client_at
    );
    assert!(!client_by_peer && server_by_peer);
    assert!(server_at - client_at < Duration::from_millis(100));
    let (cp, sp) = (paths(&mut sim, CLIENT, c), paths(&mut sim, SERVER, s));
    assert_eq!(
        cp.iter().map(|p| p.id).collect::<Vec<_>>(),
        [0],
        "client retired path {id}"
    );
    assert_eq!(
        sp.iter().map(|p| p.id).collect::<Vec<_>>(),
        [0],
        "server retired path {id}"
    );
}

#[test]
fn standby_path_carries_no_data() {
    let (mut sim, c, s) = two_address_pair(3, 4, 4);
    let mut log = Vec::new();
    let id = open_second_path(&mut sim, c, &mut log);
    // The server asks for the path to be kept in reserve; the client stops using it.
    sim.nodes[SERVER]
        .endpoint
        .connection(s)
        .expect("server")
        .set_path_standby(id, true)
        .expect("standby");
    let mut inbound = None;
    sim.run(100_000, sim.elapsed() + Duration::from_secs(2), |sim| {
        collect_events(sim, &mut log, &mut inbound);
        let told = log.iter().any(|(_, n, e)| {
            *n == CLIENT
                && matches!(e, PathEvent::StatusChanged { path, status: PathStatus::Standby } if *path == id)
        });
        if told { Control::Done } else { Control::Continue }
    })
    .expect("the client learns of the standby");
    let before = paths(&mut sim, CLIENT, c)[1].bytes_sent;
    let mut xfer = transfer(&mut sim, c, s, 5_000);
    sim.run(10_000_000, Duration::from_secs(120), |sim| xfer.step(sim))
        .expect("transfer completes");
    let cp = paths(&mut sim, CLIENT, c);
    let on_standby = cp[1].bytes_sent - before;
    eprintln!(
        "standby_path_carries_no_data: 5,000 messages; {} bytes on path 0, {on_standby} on the \
         standby path",
        cp[0].bytes_sent
    );
    assert_eq!(cp[1].status, PathStatus::Standby);
    assert!(
        on_standby < 2_000,
        "only ACKs on the standby path: {on_standby} bytes"
    );
}

#[test]
fn path_limits_hold() {
    // The server allows two paths: the client's second extra path is refused locally.
    let (mut sim, c, _s) = two_address_pair(4, 4, 2);
    let mut log = Vec::new();
    open_second_path(&mut sim, c, &mut log);
    let now = sim.now;
    let conn = sim.nodes[CLIENT].endpoint.connection(c).expect("client");
    let (c1, s1) = second_addresses();
    assert_eq!(conn.open_path(now, c1, s1), Err(PathError::TooManyPaths));
    // Without multipath on both sides nothing opens.
    let (mut sim, c, _s) = two_address_pair(5, 4, 1);
    let now = sim.now;
    let conn = sim.nodes[CLIENT].endpoint.connection(c).expect("client");
    assert!(!conn.multipath_enabled());
    assert_eq!(
        conn.open_path(now, c1, s1),
        Err(PathError::MultipathDisabled)
    );
    let (mut sim, c, _s) = two_address_pair(6, 4, 4);
    let now = sim.now;
    let conn = sim.nodes[CLIENT].endpoint.connection(c).expect("client");
    let (first_local, first_remote) = (conn.local_address(), conn.remote_address());
    assert_eq!(
        conn.open_path(now, first_local, first_remote),
        Err(PathError::Exists)
    );
}

#[test]
fn new_path_that_never_answers_is_abandoned() {
    let (mut sim, c, _s) = two_address_pair(7, 4, 4);
    let (c1, _) = second_addresses();
    let nowhere = addr("192.0.2.99:4433");
    let now = sim.now;
    let id = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .expect("client")
        .open_path(now, c1, nowhere)
        .expect("open");
    let mut log = Vec::new();
    let mut inbound = None;
    let start = sim.elapsed();
    sim.run(100_000, start + Duration::from_secs(5), |sim| {
        collect_events(sim, &mut log, &mut inbound);
        if log
            .iter()
            .any(|(_, _, e)| matches!(e, PathEvent::Abandoned { path, .. } if *path == id))
        {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .expect("the path is given up");
    let failed = log
        .iter()
        .find_map(|(t, _, e)| {
            matches!(e, PathEvent::ValidationFailed { path, .. } if *path == id).then_some(*t)
        })
        .expect("validation failed first");
    let probes = sim.unrouted(nowhere);
    eprintln!(
        "new_path_that_never_answers_is_abandoned: gave up after {:?}, {} challenges ({} bytes)",
        failed - start,
        probes.datagrams,
        probes.bytes
    );
    assert!(probes.datagrams <= 4, "{probes:?}");
    assert!(failed - start < Duration::from_secs(2));
}
