//! The channel session (netchan's channel layer, sans-IO) in virtual time: two nodes'
//! sessions over lossy, reordering links, the test acting as their applications.

use bytes::Bytes;
use netchan::NodeEvent;
use netchan::session::{
    DialToken, PortId, PortSpec, SendToken, SessionConfig, SessionEvent, SessionLimits, StreamId,
};
use netchan_tests::link::LinkConfig;
use netchan_tests::scenarios::{endpoint, keypair};
use netchan_tests::sim::{NodeId, Sim, seeds};
use netchan_transport::TransportConfig;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const PORT: PortId = PortId(1);
const ONE_WAY: Duration = Duration::from_millis(10);

fn transport() -> TransportConfig {
    TransportConfig::default()
        .idle_timeout(Duration::from_secs(3))
        .keepalive(Some(Duration::from_millis(500)))
}

fn lossy() -> LinkConfig {
    LinkConfig::ideal(ONE_WAY)
        .with_loss(0.10)
        .with_reorder(0.10, Duration::from_millis(5))
}

/// A sender node A and a receiver node B with a session each, one scoped port each way
/// named "numbers", B's capacity `capacity`; A dials B.
fn two_sessions(seed: u64, capacity: u32, link: LinkConfig) -> (Sim, NodeId, NodeId) {
    let mut sim = Sim::new(seed);
    let session = |k: u64, incarnation| SessionConfig {
        local_key: keypair(k).public().0,
        incarnation,
        lease: Duration::from_secs(60),
        local_addrs: Vec::new(),
        limits: SessionLimits::default(),
    };
    let a = sim.add_session_node(endpoint(10, transport()), session(10, 100 + seed));
    let b = sim.add_session_node(endpoint(20, transport()), session(20, 200 + seed));
    sim.set_links(a, b, link);
    let (ka, kb) = (keypair(10).public().0, keypair(20).public().0);
    let spec = |scope, capacity| PortSpec {
        name: "numbers".into(),
        type_hash: 7,
        type_name: "u64".into(),
        capacity,
        scope: Some(scope),
        max_message: 1 << 16,
        mode: None,
    };
    sim.session(a, |s, ep, now| s.open_port(now, ep, PORT, spec(kb, 16)))
        .expect("port on A");
    sim.session(b, |s, ep, now| {
        s.open_port(now, ep, PORT, spec(ka, capacity))
    })
    .expect("port on B");
    let (local, to) = (sim.nodes[a].local, sim.nodes[b].addr);
    sim.session(a, |s, ep, now| {
        s.dial(now, ep, (local, to), Some(kb), DialToken(1));
    });
    (sim, a, b)
}

fn payload(seq: u64) -> Bytes {
    let mut v = seq.to_le_bytes().to_vec();
    v.extend_from_slice(&seq.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    Bytes::from(v)
}

fn seq_of(p: &[u8]) -> u64 {
    let seq = u64::from_le_bytes(p[..8].try_into().expect("8 bytes"));
    assert_eq!(p, &payload(seq)[..], "message {seq} corrupted");
    seq
}

/// The receiving application: takes every delivery `take_after` after it arrived, in
/// order, and reports what it took.
struct Taker {
    take_after: Duration,
    queue: VecDeque<(Instant, StreamId, u64)>,
    taken: HashMap<StreamId, u64>,
    /// (sequence number, virtual time taken).
    log: Vec<(u64, Duration)>,
}

impl Taker {
    fn new(take_after: Duration) -> Self {
        Self {
            take_after,
            queue: VecDeque::new(),
            taken: HashMap::new(),
            log: Vec::new(),
        }
    }

    fn on_event(&mut self, sim: &Sim, e: &SessionEvent) {
        if let SessionEvent::Deliver {
            stream, payload, ..
        } = e
        {
            let seq = seq_of(payload);
            let expected = self.log.len() as u64 + self.queue.len() as u64;
            assert_eq!(seq, expected, "delivered out of order or twice");
            self.queue.push_back((sim.now, *stream, seq));
        }
    }

    fn take_due(&mut self, sim: &mut Sim, node: NodeId) {
        while let Some(&(at, stream, seq)) = self.queue.front() {
            if sim.now < at + self.take_after {
                break;
            }
            self.queue.pop_front();
            let n = self.taken.entry(stream).or_default();
            *n += 1;
            let total = *n;
            self.log.push((seq, sim.elapsed()));
            sim.session(node, |s, ep, _| s.consumed(ep, PORT, stream, total));
        }
    }
}

/// What one run of the exactly-once scenario produced (compared across runs).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    delivered: u64,
    elapsed: Duration,
    steps: u64,
    restarted_at: Duration,
    reconnected_at: Duration,
    /// Messages sent but not delivered when the receiver's transport restarted.
    in_flight_at_restart: u64,
}

fn exactly_once_run(seed: u64, total: u64) -> Outcome {
    let (mut sim, a, b) = two_sessions(seed, 256, lossy());
    // The receiver lags 20 ms behind, so its buffer holds messages at the restart.
    let mut taker = Taker::new(Duration::from_millis(20));
    let (mut credit, mut sent) = (0u64, 0u64);
    let (mut restarted_at, mut reconnected_at) = (None, None);
    let mut in_flight_at_restart = 0;
    let mut disconnected = false;
    // Bounded by the step budget below.
    for _ in 0..20_000_000u64 {
        for e in sim.session_events(a) {
            match e {
                SessionEvent::Credit { added, .. } => credit += added,
                SessionEvent::Node(NodeEvent::PeerDisconnected { .. }) => disconnected = true,
                SessionEvent::Node(NodeEvent::PeerReconnected { .. }) => {
                    reconnected_at = Some(sim.elapsed());
                }
                SessionEvent::Dialed { result, .. } => {
                    result.expect("the first dial connects");
                }
                SessionEvent::SendClosed { error, .. } => panic!("sending failed: {error}"),
                _ => {}
            }
        }
        for e in sim.session_events(b) {
            taker.on_event(&sim, &e);
        }
        taker.take_due(&mut sim, b);
        while credit > 0 && sent < total {
            sim.session(a, |s, ep, _| s.send(ep, PORT, payload(sent), None));
            credit -= 1;
            sent += 1;
        }
        let in_flight = sent - taker.log.len() as u64 - taker.queue.len() as u64;
        if restarted_at.is_none() && taker.log.len() as u64 >= total / 2 && in_flight > 0 {
            // The receiver's transport crashes while messages are on the wire: every
            // connection state is lost; its channel session (and identity, address)
            // survive.
            sim.restart_endpoint(b, restarted_endpoint(20, seed));
            restarted_at = Some(sim.elapsed());
            in_flight_at_restart = in_flight;
        }
        if taker.log.len() as u64 == total {
            break;
        }
        assert!(
            sim.elapsed() < Duration::from_secs(600),
            "stalled at {}",
            taker.log.len()
        );
        sim.step_bounded(Some(Duration::from_millis(5)));
    }
    assert_eq!(taker.log.len() as u64, total, "every message delivered");
    assert!(disconnected, "the sender saw the connection die");
    Outcome {
        delivered: taker.log.len() as u64,
        elapsed: sim.elapsed(),
        steps: sim.steps,
        restarted_at: restarted_at.expect("restarted"),
        reconnected_at: reconnected_at.expect("the sender reconnected"),
        in_flight_at_restart,
    }
}

/// Node `k`'s endpoint configuration with a different random stream (fresh connection
/// IDs and keys after a restart).
fn restarted_endpoint(k: u64, seed: u64) -> netchan_transport::EndpointConfig {
    let mut config = endpoint(k, transport());
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&k.to_le_bytes());
    s[8..16].copy_from_slice(b"netchan!");
    s[16..24].copy_from_slice(&(seed ^ 0x5eed).to_le_bytes());
    config.entropy = std::sync::Arc::new(netchan_transport::SeededEntropy::from_bytes(s));
    config
}

#[test]
fn session_exactly_once_sim() {
    for seed in seeds(&[1]) {
        let first = exactly_once_run(seed, 100_000);
        eprintln!(
            "session_exactly_once_sim seed {seed}: {} messages over 10% loss and 10% \
             reordering, receiver's transport restarted at {:?} with {} messages in flight, \
             sender reconnected at {:?}; exactly once, in order, in {:?} virtual ({} steps); \
             a second run of the seed was identical",
            first.delivered,
            first.restarted_at,
            first.in_flight_at_restart,
            first.reconnected_at,
            first.elapsed,
            first.steps
        );
        assert!(
            first.in_flight_at_restart > 0,
            "the restart interrupted the stream"
        );
        let again = exactly_once_run(seed, 100_000);
        assert_eq!(first, again, "seed {seed} is not deterministic");
    }
}

#[test]
fn session_rendezvous_sim() {
    for (name, link) in [
        ("no loss", LinkConfig::ideal(ONE_WAY)),
        ("10% loss", lossy()),
    ] {
        let (mut sim, a, b) = two_sessions(5, 0, link);
        // The receiver takes each value 50 ms after it arrived.
        let mut taker = Taker::new(Duration::from_millis(50));
        let total = 40u64;
        let (mut credit, mut sent) = (0u64, 0u64);
        let mut done: Vec<(u64, Duration)> = Vec::new();
        let mut sent_at: Vec<Duration> = Vec::new();
        let mut rendezvous_known = false;
        for _ in 0..10_000_000u64 {
            for e in sim.session_events(a) {
                match e {
                    SessionEvent::Status { status, .. } => rendezvous_known |= status.rendezvous,
                    SessionEvent::Credit { added, .. } => {
                        // A sender woken by credit must already know the peer is a
                        // rendezvous (or its first send returns early).
                        assert!(
                            rendezvous_known,
                            "{name}: credit before the rendezvous status"
                        );
                        credit += added;
                    }
                    SessionEvent::SendDone { token, result, .. } => {
                        result.expect("rendezvous send completes");
                        done.push((token.0, sim.elapsed()));
                    }
                    _ => {}
                }
            }
            for e in sim.session_events(b) {
                taker.on_event(&sim, &e);
            }
            taker.take_due(&mut sim, b);
            // A blocking sender: the next value only after the previous send returned.
            if credit > 0 && sent < total && done.len() as u64 == sent {
                sim.session(a, |s, ep, _| {
                    s.send(ep, PORT, payload(sent), Some(SendToken(sent)));
                });
                sent_at.push(sim.elapsed());
                credit -= 1;
                sent += 1;
            }
            if done.len() as u64 == total {
                break;
            }
            assert!(sim.elapsed() < Duration::from_secs(300), "{name}: stalled");
            sim.step_bounded(Some(Duration::from_millis(1)));
        }
        assert_eq!(done.len() as u64, total, "{name}");
        let mut min_gap = Duration::MAX;
        for (i, &(token, at)) in done.iter().enumerate() {
            assert_eq!(token, i as u64, "{name}: completions in order");
            let (seq, taken) = taker.log[i];
            assert_eq!(seq, i as u64);
            assert!(
                at >= taken + ONE_WAY,
                "{name}: send {i} completed at {at:?}, before the receiver took it at \
                 {taken:?} plus the one-way delay"
            );
            assert!(taken >= sent_at[i] + ONE_WAY + Duration::from_millis(50));
            min_gap = min_gap.min(at - taken);
        }
        eprintln!(
            "session_rendezvous_sim ({name}): {total} sends, each completed only after the \
             remote receiver took the value (take to completion at least {min_gap:?}, \
             one-way {ONE_WAY:?}); {:?} virtual",
            sim.elapsed()
        );
    }
}

#[test]
fn session_simultaneous_dial_sim() {
    for seed in seeds(&[9, 10, 11, 12, 13, 14, 15, 16]) {
        simultaneous_dial(seed);
    }
}

fn simultaneous_dial(seed: u64) {
    // Both nodes dial each other at the same instant: each ends with one connection (the
    // one dialed by the smaller key), and events of the losing connection never reach
    // the channels. Then both directions carry a stream, exactly once, over loss.
    let (mut sim, a, b) = two_sessions(seed, 64, lossy());
    let ka = keypair(10).public().0;
    let (local, to) = (sim.nodes[b].local, sim.nodes[a].addr);
    sim.session(b, |s, ep, now| {
        s.dial(now, ep, (local, to), Some(ka), DialToken(2));
    });
    let total = 2_000u64;
    let mut takers = [Taker::new(Duration::ZERO), Taker::new(Duration::ZERO)];
    let (mut credit, mut sent) = ([0u64; 2], [0u64; 2]);
    let mut dialed = 0;
    for _ in 0..10_000_000u64 {
        for (i, node) in [a, b].into_iter().enumerate() {
            for e in sim.session_events(node) {
                match &e {
                    SessionEvent::Credit { added, .. } => credit[i] += added,
                    SessionEvent::Dialed { result, .. } => {
                        result
                            .as_ref()
                            .expect("each dial connects (or joins the winner)");
                        dialed += 1;
                    }
                    SessionEvent::SendClosed { error, .. } => panic!("node {i}: {error}"),
                    _ => {}
                }
                takers[i].on_event(&sim, &e);
            }
            takers[i].take_due(&mut sim, node);
            while credit[i] > 0 && sent[i] < total {
                let seq = sent[i];
                sim.session(node, |s, ep, _| s.send(ep, PORT, payload(seq), None));
                credit[i] -= 1;
                sent[i] += 1;
            }
        }
        if takers.iter().all(|t| t.log.len() as u64 == total) {
            break;
        }
        assert!(sim.elapsed() < Duration::from_secs(300), "stalled");
        sim.step_bounded(Some(Duration::from_millis(5)));
    }
    let conns = |n: NodeId| sim.nodes[n].endpoint.connection_count();
    eprintln!(
        "session_simultaneous_dial_sim seed {seed}: both dialed at once ({dialed} dials answered); {} \
         and {} messages each way exactly once, in order; {} / {} connections left; {:?} \
         virtual",
        takers[0].log.len(),
        takers[1].log.len(),
        conns(a),
        conns(b),
        sim.elapsed()
    );
    assert_eq!(dialed, 2);
    assert_eq!(
        (conns(a), conns(b)),
        (1, 1),
        "the duplicate was closed on both sides"
    );
}
