//! `stripe` over two unequal paths: the aggregate approaches the sum of the path rates.
//!
//! The cases of Linux MPTCP's selftest `simult_flows.sh`: 16 MiB each way at once over
//! two links of 10+10 Mbit/s with 1 and 25 ms one-way delay, and 15+5 Mbit/s with the
//! delays either way round. Its bound: each direction completes within
//! `size · 8 / (0.9 · Σrate) + 450 ms`. [`stripe_aggregates`] runs both directions at
//! once, as the selftest does; [`stripe_aggregates_each_way`] one after the other.

use netchan_multipath::Scheduler;
use netchan_tests::link::LinkConfig;
use netchan_tests::multipath::{open_second_path, two_address_pair};
use netchan_tests::scenarios::{CLIENT, SERVER};
use netchan_tests::sim::{Control, Sim};
use netchan_tests::transfer::Transfer;
use netchan_tests::workload::Stream;
use netchan_transport::{ConnectionHandle, Event, TransportConfig};
use std::sync::Arc;
use std::time::Duration;

const SIZE: u64 = 16 << 20;
const MESSAGE: usize = 16 << 10;

fn link(mbit: u64, one_way_ms: u64) -> LinkConfig {
    LinkConfig {
        rate_bps: Some(mbit * 1_000_000),
        queue_packets: 64,
        ..LinkConfig::ideal(Duration::from_millis(one_way_ms))
    }
}

/// A pair on path 0 (`first`) with a validated second path (`second`) between further
/// addresses of both nodes.
fn striped_pair(
    seed: u64,
    first: LinkConfig,
    second: LinkConfig,
) -> (Sim, ConnectionHandle, ConnectionHandle) {
    let config = TransportConfig::default()
        .max_paths(4)
        .path_selector(Arc::new(Scheduler::default()));
    let configs = (config.clone(), config);
    let (mut sim, c, s) = two_address_pair(seed, configs, first, second).expect("connected");
    open_second_path(&mut sim, c, &mut Vec::new()).expect("the second path validates");
    (sim, c, s)
}

/// 16 MiB from node `from` to the other; returns how long it took.
fn one_way(
    sim: &mut Sim,
    from: usize,
    (c, s): (ConnectionHandle, ConnectionHandle),
    seed: u64,
) -> Duration {
    let n = SIZE / MESSAGE as u64;
    let mut xfer = Transfer::start_from(sim, from, (c, s), Stream::new(seed, n, MESSAGE, MESSAGE));
    let start = sim.elapsed();
    sim.run(50_000_000, start + Duration::from_secs(120), |sim| {
        for node in [CLIENT, SERVER] {
            for (_, e) in sim.events(node) {
                match e {
                    Event::ChannelOpened { channel, .. } if node == xfer.to() => {
                        xfer.inbound = Some(channel)
                    }
                    Event::Closed(why) => panic!("node {node}: connection closed: {why}"),
                    _ => {}
                }
            }
        }
        xfer.pump(sim)
    })
    .expect("the transfer completes");
    sim.elapsed() - start
}

/// Each direction in turn (16 MiB up, then 16 MiB down): both within the bound.
#[test]
fn stripe_aggregates_each_way() {
    let cases = [
        ("10+10 Mbit/s, 1/25 ms", (10, 1), (10, 25)),
        ("15+5 Mbit/s, 25/1 ms", (15, 25), (5, 1)),
        ("15+5 Mbit/s, 1/25 ms", (15, 1), (5, 25)),
    ];
    let mut missed = Vec::new();
    for (k, (name, a, b)) in cases.into_iter().enumerate() {
        let (mut sim, c, s) = striped_pair(k as u64 + 1, link(a.0, a.1), link(b.0, b.1));
        let up = one_way(&mut sim, CLIENT, (c, s), 1);
        let sent_up: Vec<u64> = path_bytes(&mut sim, CLIENT, c);
        let down = one_way(&mut sim, SERVER, (c, s), 2);
        let sent_down: Vec<u64> = path_bytes(&mut sim, SERVER, s);
        let rate = (a.0 + b.0) as f64 * 1e6;
        let budget =
            Duration::from_secs_f64(SIZE as f64 * 8.0 / (0.9 * rate)) + Duration::from_millis(450);
        let ideal = Duration::from_secs_f64(SIZE as f64 * 8.0 / rate);
        eprintln!(
            "stripe_aggregates_each_way {name}: 16 MiB up in {up:.2?}, down in {down:.2?} \
             (bound {budget:.2?}; at the sum of the rates {ideal:.2?}); bytes sent per path: \
             client {sent_up:?}, server {sent_down:?}"
        );
        if up > budget || down > budget {
            missed.push(name);
        }
    }
    assert!(missed.is_empty(), "over the bound: {missed:?}");
}

fn path_bytes(sim: &mut Sim, node: usize, h: ConnectionHandle) -> Vec<u64> {
    sim.nodes[node]
        .endpoint
        .connection(h)
        .expect("connection")
        .paths()
        .map(|p| p.bytes_sent)
        .collect()
}

/// Both directions at once, as `simult_flows.sh` runs them: 16 MiB up and 16 MiB down
/// together, each within the bound.
#[test]
fn stripe_aggregates() {
    let cases = [
        ("10+10 Mbit/s, 1/25 ms", (10, 1), (10, 25)),
        ("15+5 Mbit/s, 25/1 ms", (15, 25), (5, 1)),
        ("15+5 Mbit/s, 1/25 ms", (15, 1), (5, 25)),
    ];
    let rate_budget = |a: (u64, u64), b: (u64, u64)| {
        let rate = (a.0 + b.0) as f64 * 1e6;
        Duration::from_secs_f64(SIZE as f64 * 8.0 / (0.9 * rate)) + Duration::from_millis(450)
    };
    let mut missed = Vec::new();
    for (k, (name, a, b)) in cases.into_iter().enumerate() {
        let (mut sim, c, s) = striped_pair(k as u64 + 11, link(a.0, a.1), link(b.0, b.1));
        let (up, down) = both_ways(&mut sim, (c, s));
        let budget = rate_budget(a, b);
        eprintln!(
            "stripe_aggregates {name}: 16 MiB each way at once: up {up:.2?}, down {down:.2?} \
             (bound {budget:.2?}); bytes sent per path: client {:?}, server {:?}",
            path_bytes(&mut sim, CLIENT, c),
            path_bytes(&mut sim, SERVER, s)
        );
        if up > budget || down > budget {
            missed.push(name);
        }
    }
    assert!(missed.is_empty(), "over the bound: {missed:?}");
}

/// 16 MiB from each node to the other at once; returns how long each direction took.
fn both_ways(sim: &mut Sim, (c, s): (ConnectionHandle, ConnectionHandle)) -> (Duration, Duration) {
    let n = SIZE / MESSAGE as u64;
    let stream = |seed| Stream::new(seed, n, MESSAGE, MESSAGE);
    let mut up = Transfer::start_from(sim, CLIENT, (c, s), stream(1));
    let mut down = Transfer::start_from(sim, SERVER, (c, s), stream(2));
    let start = sim.elapsed();
    let (mut t_up, mut t_down) = (None, None);
    sim.run(100_000_000, start + Duration::from_secs(120), |sim| {
        for node in [CLIENT, SERVER] {
            for (_, e) in sim.events(node) {
                match e {
                    Event::ChannelOpened { channel, .. } if node == SERVER => {
                        up.inbound = Some(channel)
                    }
                    Event::ChannelOpened { channel, .. } => down.inbound = Some(channel),
                    Event::Closed(why) => panic!("node {node}: connection closed: {why}"),
                    _ => {}
                }
            }
        }
        let now = sim.elapsed() - start;
        if up.pump(sim) == Control::Done {
            t_up.get_or_insert(now);
        }
        if down.pump(sim) == Control::Done {
            t_down.get_or_insert(now);
        }
        if t_up.is_some() && t_down.is_some() {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .expect("both transfers complete");
    (t_up.unwrap_or_default(), t_down.unwrap_or_default())
}
