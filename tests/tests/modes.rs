//! The multipath modes against each other: `backup` (a standby path takes over and hands
//! back), per-channel policy (a mirrored and a striped channel on one connection), and
//! `hedged` tail latency under random loss, each printing its figures.

use netchan_multipath::Scheduler;
use netchan_tests::flows::{Flow, FlowsReport, run_flows};
use netchan_tests::link::LinkConfig;
use netchan_tests::multipath::{open_second_path, ten_mbit, two_address_pair};
use netchan_tests::scenarios::{CLIENT, SERVER};
use netchan_tests::sim::{Sim, seeds};
use netchan_transport::{ConnectionHandle, PathEvent, PathMode, PathStats, TransportConfig};
use std::sync::Arc;
use std::time::Duration;

fn link(one_way_ms: u64) -> LinkConfig {
    ten_mbit(one_way_ms)
}

/// A pair over `first` (path 0) and `second` (validated); returns the second path's id.
fn pair(
    seed: u64,
    mode: PathMode,
    first: LinkConfig,
    second: LinkConfig,
) -> (Sim, ConnectionHandle, ConnectionHandle, u64) {
    let config = TransportConfig::default()
        .max_paths(4)
        .path_selector(Arc::new(Scheduler::default()))
        .path_mode(mode);
    let configs = (config.clone(), config);
    let (mut sim, c, s) = two_address_pair(seed, configs, first, second).expect("connected");
    let id = open_second_path(&mut sim, c, &mut Vec::new()).expect("second path");
    (sim, c, s, id)
}

/// Blackholes path 0 both ways over `[from, to)` (virtual time since the start).
fn hole_path0(sim: &mut Sim, first: &LinkConfig, (from, to): (Duration, Duration)) {
    for (a, b) in [(CLIENT, SERVER), (SERVER, CLIENT)] {
        let holed = LinkConfig {
            blackholes: vec![(from, to)],
            ..first.clone()
        };
        sim.link(a, b).expect("path 0 link").set_config(holed);
    }
}

fn paths(sim: &mut Sim, node: usize, h: ConnectionHandle) -> Vec<PathStats> {
    sim.nodes[node]
        .endpoint
        .connection(h)
        .map(|conn| conn.paths().collect())
        .unwrap_or_default()
}

/// Bytes the client sent on path `id` by each sample time.
fn bytes_on(samples: &[(Duration, Vec<PathStats>)], id: u64, at: Duration) -> u64 {
    samples
        .iter()
        .take_while(|(t, _)| *t <= at)
        .last()
        .and_then(|(_, ps)| ps.iter().find(|p| p.id == id))
        .map_or(0, |p| p.bytes_sent)
}

/// `backup`: path 0 (10 ms one way) active, the second path (25 ms) standby. The
/// standby carries only probes while path 0 works; when path 0 is blackholed, delivery
/// resumes on the standby within path 0's PTO plus the standby's RTT; when path 0
/// returns, traffic moves back.
#[test]
fn backup_takes_over() {
    const HOLE: (Duration, Duration) = (Duration::from_millis(1500), Duration::from_millis(2500));
    let flow = Flow {
        mode: PathMode::Backup,
        per_second: 500,
        size: 200,
    };
    for seed in seeds(&[1, 2, 3, 4, 5]) {
        let (first, second) = (link(10), link(25));
        let (mut sim, c, s, standby) = pair(seed, PathMode::Backup, first.clone(), second);
        let now = sim.now;
        sim.nodes[CLIENT]
            .endpoint
            .connection(c)
            .expect("client")
            .set_path_standby(standby, true)
            .expect("standby");
        let _ = now;
        let start = sim.elapsed();
        hole_path0(&mut sim, &first, (start + HOLE.0, start + HOLE.1));
        let mut samples: Vec<(Duration, Vec<PathStats>)> = Vec::new();
        let report = run_flows(&mut sim, (c, s), &[flow], Duration::from_secs(5), |sim| {
            let t = sim.elapsed() - start;
            if samples
                .last()
                .is_none_or(|(last, _)| t >= *last + Duration::from_millis(50))
            {
                samples.push((t, paths(sim, CLIENT, c)));
            }
        })
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let before = &samples
            .iter()
            .rev()
            .find(|(t, _)| *t < HOLE.0)
            .expect("a sample before the hole")
            .1;
        let (active, reserve) = (before[0], before[1]);
        let idle_standby = bytes_on(&samples, standby, Duration::from_millis(1400))
            - bytes_on(&samples, standby, Duration::from_millis(400));
        let took_over = bytes_on(&samples, standby, Duration::from_millis(2400))
            - bytes_on(&samples, standby, Duration::from_millis(1600));
        let handed_back = bytes_on(&samples, standby, Duration::from_millis(4900))
            - bytes_on(&samples, standby, Duration::from_millis(3900));
        let gap = report.flows[0].max_gap_after(start);
        let bound = active.pto + reserve.rtt;
        eprintln!(
            "backup_takes_over seed {seed}: standby sent {idle_standby} B in the second \
             before the outage, {took_over} B during it, {handed_back} B in the last \
             second; delivery gap {gap:?} (bound {bound:?})"
        );
        assert!(
            idle_standby <= 1_000,
            "seed {seed}: the standby carried data"
        );
        assert!(
            idle_standby > 0,
            "seed {seed}: the standby was never probed"
        );
        // 0.8 s of the flow's 100 kB/s.
        assert!(
            took_over >= 60_000,
            "seed {seed}: the standby did not take over"
        );
        assert!(
            handed_back <= 1_000,
            "seed {seed}: traffic did not move back"
        );
        assert!(gap <= bound, "seed {seed}: gap {gap:?} > {bound:?}");
        assert_eq!(report.flows[0].arrived_at.len(), 2500);
    }
}

/// One connection, a mirrored and a striped channel, path 0 (the faster) blackholed: the
/// mirrored channel shows no gap beyond the surviving path's one-way delay plus 5 ms,
/// the striped one recovers within path 0's PTO plus the surviving path's RTT, both
/// exactly once and in order.
#[test]
fn per_channel_policy() {
    const HOLE: (Duration, Duration) = (Duration::from_millis(1500), Duration::from_millis(2500));
    let flows = [
        Flow {
            mode: PathMode::Mirror,
            per_second: 400,
            size: 500,
        },
        Flow {
            mode: PathMode::Stripe,
            per_second: 400,
            size: 500,
        },
    ];
    for seed in seeds(&[1, 2, 3, 4, 5]) {
        let (first, second) = (link(10), link(25));
        let (mut sim, c, s, _) = pair(seed, PathMode::Stripe, first.clone(), second);
        let start = sim.elapsed();
        hole_path0(&mut sim, &first, (start + HOLE.0, start + HOLE.1));
        let mut before = Vec::new();
        let report = run_flows(&mut sim, (c, s), &flows, Duration::from_secs(4), |sim| {
            if sim.elapsed() < start + HOLE.0 {
                before = paths(sim, CLIENT, c);
            }
        })
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let (mirrored, striped) = (&report.flows[0], &report.flows[1]);
        let (mg, sg) = (mirrored.max_gap_after(start), striped.max_gap_after(start));
        let striped_bound = before[0].pto + before[1].rtt;
        eprintln!(
            "per_channel_policy seed {seed}: mirrored channel gap {mg:?} (bound 30ms), \
             striped channel gap {sg:?} (bound {striped_bound:?})"
        );
        assert!(
            mg <= Duration::from_millis(30),
            "seed {seed}: mirrored gap {mg:?}"
        );
        assert!(sg <= striped_bound, "seed {seed}: striped gap {sg:?}");
        assert!(
            failed_once(&report),
            "seed {seed}: path 0 was never declared failed"
        );
    }
}

fn failed_once(report: &FlowsReport) -> bool {
    report
        .events
        .iter()
        .any(|(_, n, e)| *n == CLIENT && matches!(e, PathEvent::Failed { path: 0, .. }))
}

/// `hedged` against `stripe` and `mirror`: 1000 messages/s of 64 bytes over paths of 20
/// and 30 ms one way, each losing 3% of its packets at random, three seeds of 10 s.
///
/// Hedged's p99 one-way latency is at most 36 ms in every seed. Two copies alone do not
/// get there: a message lost on both paths (0.09% of them) would wait for a
/// retransmission (about 45 ms) with the messages behind it on the ordered channel (2–3%
/// of them past 36 ms, as `mirror` shows); hedged data also carries parity, which
/// rebuilds such a message from the next parity frame.
#[test]
fn hedged_tail_latency() {
    let lossy = |ms| LinkConfig {
        loss: 0.03,
        ..link(ms)
    };
    let mut rows = Vec::new();
    for mode in [PathMode::Hedged, PathMode::Stripe, PathMode::Mirror] {
        let mut p99s = Vec::new();
        let mut bytes = 0;
        for seed in seeds(&[1, 2, 3]) {
            let (mut sim, c, s, _) = pair(seed, mode, lossy(20), lossy(30));
            let flow = Flow {
                mode,
                per_second: 1000,
                size: 64,
            };
            let start_bytes: u64 = paths(&mut sim, CLIENT, c)
                .iter()
                .map(|p| p.bytes_sent)
                .sum();
            let mut end_bytes = start_bytes;
            let report = run_flows(&mut sim, (c, s), &[flow], Duration::from_secs(10), |sim| {
                end_bytes = paths(sim, CLIENT, c).iter().map(|p| p.bytes_sent).sum();
            })
            .unwrap_or_else(|e| panic!("{mode}, seed {seed}: {e}"));
            p99s.push(report.flows[0].latency_quantile(0.99));
            bytes += end_bytes - start_bytes;
        }
        p99s.sort_unstable();
        eprintln!(
            "hedged_tail_latency {mode}: p99 one-way per seed {p99s:?}, client bytes sent {bytes}"
        );
        rows.push((mode, p99s, bytes));
    }
    let worst = |m: PathMode| {
        rows.iter()
            .find(|r| r.0 == m)
            .map(|r| *r.1.last().unwrap())
            .unwrap()
    };
    let hedged = worst(PathMode::Hedged);
    assert!(hedged <= Duration::from_millis(36), "hedged p99 {hedged:?}");
    assert!(hedged < worst(PathMode::Stripe));
}

/// `parity` against `stripe`: 500 messages/s of 1000 bytes over paths of 20 and 30 ms one
/// way, each losing 3% of its packets at random, three seeds of 10 s. A message "needed
/// a retransmission round trip" when it arrived later than the slower path's one-way
/// delay plus half the faster path's RTT (50 ms): a parity repair comes sooner, a
/// retransmission (loss detection after about an RTT, then the trip) later. With parity
/// that fraction falls at least 5× against stripe; both are printed with the bytes each
/// sent.
#[test]
fn parity_repairs() {
    let lossy = |ms| LinkConfig {
        loss: 0.03,
        ..link(ms)
    };
    let late = Duration::from_millis(50);
    let mut rows = Vec::new();
    for mode in [PathMode::Parity, PathMode::Stripe] {
        let (mut slow, mut total, mut bytes, mut repairs) = (0usize, 0usize, 0u64, 0u64);
        for seed in seeds(&[1, 2, 3]) {
            let (mut sim, c, s, _) = pair(seed, mode, lossy(20), lossy(30));
            let flow = Flow {
                mode,
                per_second: 500,
                size: 1000,
            };
            let sent_before: u64 = paths(&mut sim, CLIENT, c)
                .iter()
                .map(|p| p.bytes_sent)
                .sum();
            let mut sent_after = sent_before;
            let report = run_flows(&mut sim, (c, s), &[flow], Duration::from_secs(10), |sim| {
                sent_after = paths(sim, CLIENT, c).iter().map(|p| p.bytes_sent).sum();
            })
            .unwrap_or_else(|e| panic!("{mode}, seed {seed}: {e}"));
            let lat = report.flows[0].latencies();
            slow += lat.iter().filter(|l| **l > late).count();
            total += lat.len();
            bytes += sent_after - sent_before;
            repairs += sim.nodes[SERVER]
                .endpoint
                .connection(s)
                .map_or(0, |conn| conn.stats().parity_repairs);
        }
        let fraction = slow as f64 / total as f64;
        eprintln!(
            "parity_repairs {mode}: {slow} of {total} messages ({:.2}%) later than {late:?}, \
             client bytes sent {bytes}, chunks repaired by parity {repairs}",
            fraction * 100.0
        );
        rows.push((mode, fraction, bytes));
    }
    let (parity, stripe) = (rows[0], rows[1]);
    eprintln!(
        "parity_repairs: {:.1}x fewer late messages than stripe, {:.1}% more bytes",
        stripe.1 / parity.1.max(1e-9),
        (parity.2 as f64 / stripe.2 as f64 - 1.0) * 100.0
    );
    assert!(
        parity.1 * 5.0 <= stripe.1,
        "parity {:.3}% vs stripe {:.3}%",
        parity.1 * 100.0,
        stripe.1 * 100.0
    );
}
