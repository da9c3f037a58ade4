//! Multipath failover: a path blackholed while messages flow over two paths.
//!
//! The paths: 10 Mbit/s each, 10 ms one way (RTT 20 ms) on path 0 and 25 ms one way (RTT
//! 50 ms) on the second; one of them is blackholed both ways for a second in the middle
//! of the run. With `stripe` the failed path's data in flight goes to the other path at
//! its first probe timeout; with `mirror` the other path carried a copy all along; with
//! `backup` a standby path takes over. Every message arrives exactly once and in order
//! (checked by [`run_flows`]).

use netchan_multipath::Scheduler;
use netchan_tests::congestion::quantile;
use netchan_tests::flows::{Flow, FlowsReport, run_flows};
use netchan_tests::link::LinkConfig;
use netchan_tests::multipath::{open_second_path, second_addresses, ten_mbit, two_address_pair};
use netchan_tests::scenarios::{CLIENT, SERVER};
use netchan_tests::sim::{Sim, seeds};
use netchan_transport::{ConnectionHandle, PathEvent, PathMode, PathStats, TransportConfig};
use std::sync::Arc;
use std::time::Duration;

const FAST_MS: u64 = 10;
const SLOW_MS: u64 = 25;
/// The run, and the blackhole within it (from the start of the flows).
const RUN: Duration = Duration::from_secs(4);
const HOLE: (Duration, Duration) = (Duration::from_millis(1500), Duration::from_millis(2500));

fn link(one_way_ms: u64) -> LinkConfig {
    ten_mbit(one_way_ms)
}

/// Which path the hole is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    Fast,
    Slow,
}

/// A pair with both paths validated; returns the second path's id too.
fn pair(seed: u64, mode: PathMode) -> (Sim, ConnectionHandle, ConnectionHandle, u64) {
    let config = TransportConfig::default()
        .max_paths(4)
        .path_selector(Arc::new(Scheduler::default()))
        .path_mode(mode);
    let configs = (config.clone(), config);
    let (mut sim, c, s) =
        two_address_pair(seed, configs, link(FAST_MS), link(SLOW_MS)).expect("connected");
    let second = open_second_path(&mut sim, c, &mut Vec::new()).expect("second path");
    (sim, c, s, second)
}

/// Blackholes `which` both ways over `[from, to)` (virtual time since the start).
fn blackhole(sim: &mut Sim, which: Hole, (from, to): (Duration, Duration)) {
    let (fast, slow) = (link(FAST_MS), link(SLOW_MS));
    let holed = |l: LinkConfig| LinkConfig {
        blackholes: vec![(from, to)],
        ..l
    };
    match which {
        Hole::Fast => {
            for (a, b) in [(CLIENT, SERVER), (SERVER, CLIENT)] {
                sim.link(a, b)
                    .expect("path 0 link")
                    .set_config(holed(fast.clone()));
            }
        }
        Hole::Slow => {
            let (c1, s1) = second_addresses();
            for (a, b) in [(c1, s1), (s1, c1)] {
                let l = sim.path_link(a, b).expect("second path link");
                l.set_config(holed(slow.clone()));
            }
        }
    }
}

fn client_paths(sim: &mut Sim, c: ConnectionHandle) -> Vec<PathStats> {
    sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .map(|conn| conn.paths().collect())
        .unwrap_or_default()
}

/// One run: `flows` for [`RUN`] with the hole on `which`; returns the report and the
/// client's path statistics sampled just before the hole.
fn run(
    seed: u64,
    mode: PathMode,
    which: Hole,
    flows: &[Flow],
) -> (FlowsReport, Vec<PathStats>, Duration) {
    let (mut sim, c, s, _) = pair(seed, mode);
    let start = sim.elapsed();
    blackhole(&mut sim, which, (start + HOLE.0, start + HOLE.1));
    let mut before = Vec::new();
    let report = run_flows(&mut sim, (c, s), flows, RUN, |sim| {
        if sim.elapsed() < start + HOLE.0 {
            before = client_paths(sim, c);
        }
    })
    .unwrap_or_else(|e| panic!("seed {seed}, {mode} with the {which:?} path holed: {e}"));
    (report, before, start)
}

/// The (failed, surviving) paths of `before`.
fn split(before: &[PathStats], which: Hole) -> (PathStats, PathStats) {
    let (fast, slow) = (before[0], before[1]);
    match which {
        Hole::Fast => (fast, slow),
        Hole::Slow => (slow, fast),
    }
}

fn quantiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort_unstable();
    let q = |q| quantile(&v, q);
    (q(0.5), q(0.99), q(1.0))
}

/// 100 runs of `flow` (even seeds hole the fast path, odd ones the slow path); `bound`
/// gives each run's limit on the delivery gap from the hole and the client's paths
/// before it. Prints p50/p99/max of the gaps under `name`; fails on any gap over its
/// bound, or a run in which no path was declared failed when `must_fail`.
fn gaps_within(
    name: &str,
    flow: Flow,
    must_fail: bool,
    bound: impl Fn(Hole, &[PathStats]) -> Duration,
) {
    let mut gaps = Vec::new();
    let mut over = Vec::new();
    for seed in seeds(&(1..=100).collect::<Vec<_>>()) {
        let which = if seed % 2 == 0 {
            Hole::Fast
        } else {
            Hole::Slow
        };
        let (report, before, start) = run(seed, flow.mode, which, &[flow]);
        let gap = report.flows[0].max_gap_after(start);
        let limit = bound(which, &before);
        let failed = report
            .events
            .iter()
            .any(|(_, n, e)| *n == CLIENT && matches!(e, PathEvent::Failed { .. }));
        assert!(
            failed || !must_fail,
            "seed {seed}: no path was declared failed"
        );
        if gap > limit {
            over.push(format!("seed {seed} ({which:?}): gap {gap:?} > {limit:?}"));
        }
        gaps.push(gap);
    }
    let (p50, p99, max) = quantiles(gaps);
    eprintln!(
        "{name} ({}, {} msg/s x {} B, 10+10 Mbit/s at 10/25 ms one way, one path holed \
         1 s, 100 seeds): delivery gap p50 {p50:?} p99 {p99:?} max {max:?}",
        flow.mode, flow.per_second, flow.size
    );
    assert!(over.is_empty(), "gaps over the bound: {over:#?}");
}

/// `stripe`, 12 Mbit/s of 1000-byte messages (more than one path carries), either path
/// blackholed: nothing lost or duplicated, order kept, and the longest delivery gap at
/// most the failed path's PTO plus one RTT of the surviving path.
#[test]
fn failover_no_loss() {
    let flow = Flow {
        mode: PathMode::Stripe,
        per_second: 1500,
        size: 1000,
    };
    gaps_within("failover_no_loss", flow, true, |which, before| {
        let (failed, survivor) = split(before, which);
        failed.pto + survivor.rtt
    });
}

/// `mirror`, 6.4 Mbit/s (what each path carries alone), either path blackholed: no
/// delivery gap beyond the surviving path's one-way delay plus 5 ms.
#[test]
fn mirror_zero_stall() {
    let flow = Flow {
        mode: PathMode::Mirror,
        per_second: 800,
        size: 1000,
    };
    gaps_within("mirror_zero_stall", flow, false, |which, _| {
        let survivor_one_way = match which {
            Hole::Fast => SLOW_MS,
            Hole::Slow => FAST_MS,
        };
        Duration::from_millis(survivor_one_way + 5)
    });
}
