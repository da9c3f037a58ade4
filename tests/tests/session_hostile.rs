//! Hostile peers against the channel session (issue 14, items 5 and 6), in virtual time:
//! a victim node serves a `listen`-style channel (any peer may join) to a good peer and
//! an attacker; the test acts as every node's application.

use bytes::Bytes;
use netchan::session::{
    DialToken, PortId, PortSpec, SessionConfig, SessionEvent, SessionLimits, StreamId,
};
use netchan_tests::link::LinkConfig;
use netchan_tests::scenarios::{endpoint, keypair};
use netchan_tests::sim::{NodeId, Sim};
use netchan_transport::TransportConfig;
use std::collections::HashMap;
use std::time::Duration;

const PORT: PortId = PortId(1);

fn session(k: u64) -> SessionConfig {
    SessionConfig {
        local_key: keypair(k).public().0,
        incarnation: 1000 + k,
        lease: Duration::from_secs(60),
        local_addrs: Vec::new(),
        limits: SessionLimits::default(),
    }
}

fn spec(scope: Option<[u8; 32]>, capacity: u32) -> PortSpec {
    PortSpec {
        name: "work".into(),
        type_hash: 7,
        type_name: "Job".into(),
        capacity,
        scope,
        max_message: 1 << 20,
        mode: None,
    }
}

/// The victim (any peer may join its port, capacity 1024), the good peer (capacity 64)
/// and the attacker (its label claims `u32::MAX`); both peers dial the victim.
fn three_sessions() -> (Sim, [NodeId; 3]) {
    let mut sim = Sim::new(3);
    let transport = TransportConfig::default().keepalive(Some(Duration::from_millis(500)));
    let ids =
        [30, 31, 32].map(|k| sim.add_session_node(endpoint(k, transport.clone()), session(k)));
    let [victim, good, attacker] = ids;
    let kv = keypair(30).public().0;
    for peer in [good, attacker] {
        sim.set_links(peer, victim, LinkConfig::ideal(Duration::from_millis(5)));
    }
    sim.session(victim, |s, ep, now| {
        s.open_port(now, ep, PORT, spec(None, 1024))
    })
    .expect("victim's port");
    for (node, cap) in [(good, 64), (attacker, u32::MAX)] {
        sim.session(node, |s, ep, now| {
            s.open_port(now, ep, PORT, spec(Some(kv), cap))
        })
        .expect("peer's port");
        let (local, to) = (sim.nodes[node].local, sim.nodes[victim].addr);
        sim.session(node, |s, ep, now| {
            s.dial(now, ep, (local, to), Some(kv), DialToken(1))
        });
    }
    (sim, ids)
}

/// What each node's application saw.
#[derive(Default)]
struct App {
    credit: u64,
    sent: u64,
    /// Deliveries per stream: (messages, bytes), and what was taken.
    delivered: HashMap<StreamId, (u64, u64)>,
    taken: HashMap<StreamId, u64>,
}

impl App {
    /// Applies events; takes (and reports) every delivery when `take`.
    fn on_events(&mut self, sim: &mut Sim, node: NodeId, take: bool) {
        for e in sim.session_events(node) {
            match e {
                SessionEvent::Credit { added, .. } => self.credit += added,
                SessionEvent::Deliver {
                    stream, payload, ..
                } => {
                    let d = self.delivered.entry(stream).or_default();
                    d.0 += 1;
                    d.1 += payload.len() as u64;
                    if take {
                        let n = self.taken.entry(stream).or_default();
                        *n += 1;
                        let total = *n;
                        sim.session(node, |s, ep, _| s.consumed(ep, PORT, stream, total));
                    }
                }
                SessionEvent::SendClosed { error, .. } => panic!("node {node}: {error}"),
                _ => {}
            }
        }
    }

    fn send(&mut self, sim: &mut Sim, node: NodeId, size: usize, total: u64) {
        while self.credit > 0 && self.sent < total {
            let payload = Bytes::from(vec![(self.sent % 251) as u8; size]);
            sim.session(node, |s, ep, _| s.send(ep, PORT, payload, None));
            self.credit -= 1;
            self.sent += 1;
        }
    }

    fn bytes_from(&self, peer: [u8; 32]) -> (u64, u64) {
        self.delivered
            .iter()
            .filter(|(s, _)| s.peer == peer)
            .fold((0, 0), |acc, (_, d)| (acc.0 + d.0, acc.1 + d.1))
    }
}

/// Item 6: the attacker claims capacity `u32::MAX` and never consumes what the victim
/// sends it; item 5: it sends the victim large messages within the message credit that
/// the victim's application never takes. The victim keeps at most the clamped window
/// (4096 messages) or 8 MiB for it in its outbox, holds at most 8 MiB of its messages
/// delivered and not taken, and the good peer gets the rest of the victim's stream.
#[test]
fn byte_credit_bounds_sim() {
    let limits = SessionLimits::default();
    for (size, total) in [(1024usize, 20_000u64), (16 << 10, 5_000)] {
        let (mut sim, [victim, good, attacker]) = three_sessions();
        let (ka, kv) = (keypair(32).public().0, keypair(30).public().0);
        let (mut v, mut g, mut a) = (App::default(), App::default(), App::default());
        let mut attack_sent_bytes = 0u64;
        for _ in 0..5_000_000u64 {
            v.on_events(&mut sim, victim, false);
            g.on_events(&mut sim, good, true);
            a.on_events(&mut sim, attacker, false);
            // The victim's stream (round robin over the peers with room), and the
            // attacker's 64 KiB messages to the victim.
            v.send(&mut sim, victim, size, total);
            let before = a.sent;
            a.send(&mut sim, attacker, 64 << 10, 4096);
            attack_sent_bytes += (a.sent - before) * (64 << 10);
            if v.sent == total && sim.elapsed() > Duration::from_secs(5) {
                break;
            }
            assert!(
                sim.elapsed() < Duration::from_secs(120),
                "stalled at {}",
                v.sent
            );
            sim.step_bounded(Some(Duration::from_millis(5)));
        }
        let (to_attacker, to_attacker_bytes) = a.bytes_from(kv);
        let (to_good, _) = g.bytes_from(kv);
        let (held_msgs, held_bytes) = v.bytes_from(ka);
        let outbox_bound =
            u64::from(limits.max_peer_capacity).min(limits.max_outbox_bytes / size as u64 + 1);
        eprintln!(
            "{size} B messages: the victim sent {} ({} to the good peer); the attacker \
             claiming capacity {} holds {to_attacker} unconsumed ({:.1} MiB; bound {} \
             messages); of the attacker's {:.1} MiB sent, the victim holds {held_msgs} \
             messages, {:.1} MiB delivered and not taken (bound {:.1} MiB + one message)",
            v.sent,
            to_good,
            u32::MAX,
            to_attacker_bytes as f64 / (1 << 20) as f64,
            outbox_bound,
            attack_sent_bytes as f64 / (1 << 20) as f64,
            held_bytes as f64 / (1 << 20) as f64,
            limits.max_inbox_bytes as f64 / (1 << 20) as f64,
        );
        assert_eq!(v.sent, total, "the victim's stream did not stall");
        assert_eq!(to_good + to_attacker, total, "every message went somewhere");
        assert!(
            to_attacker <= outbox_bound,
            "outbox for the attacker: {to_attacker}"
        );
        assert!(
            to_attacker >= outbox_bound / 2,
            "the attacker did take its share ({to_attacker}): the test tests something"
        );
        assert!(held_bytes <= limits.max_inbox_bytes + (64 << 10));
        assert!(
            attack_sent_bytes > 2 * limits.max_inbox_bytes,
            "the attacker tried to make the victim hold more"
        );
    }
}
