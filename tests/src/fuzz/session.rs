//! Target `session_frames`: a hostile peer against the netchan channel session (issue 14).
//!
//! A victim node runs a [`Session`](netchan::session::Session) with two ports — one any
//! peer may join (`work`, capacity 32) and one scoped to another key — under small limits
//! (8 KiB inbox and outbox per link, 512-byte messages, peer capacities clamped to 16). The attacker is a
//! raw endpoint whose application is the fuzzer: it opens transport channels with
//! arbitrary (or well-formed, with fuzzed fields) open labels, writes arbitrary or
//! well-formed channel-layer frames on them (DATA with any sequence number and size,
//! CONSUMED, SEND_CLOSED, RECV_CLOSED), closes them, reads or ignores what the victim
//! sends, and lets time pass; the victim's application sends, takes or ignores messages.
//! The handshake and packet protection are [`PlainCrypto`] (no cryptography: the target
//! is the session, and X25519 would cost more than everything else).
//!
//! Operations act at once; the network and the timers run only during `Wait` (event to
//! event) and for half a simulated second at the end. Invariants after every simulator step:
//! nothing panics; the session's [`Footprint`] stays within
//! its limits — bytes delivered and not taken per stream ≤ inbox limit + one message,
//! outbox bytes per link ≤ outbox limit + one message, granted capacity ≤ the clamp,
//! peers ≤ 2 (the attacker and the scoped port's key), links ≤ 3, unmatched channels ≤ the transport's channel limit — and
//! the transport connection's receive memory stays within its budget.
//!
//! [`Footprint`]: netchan::session::Footprint

use crate::sim::Sim;
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use netchan::fuzzing::peer;
use netchan::session::{PortId, PortSpec, SessionConfig, SessionEvent, SessionLimits};
use netchan_transport::fuzzing::plain::PlainCrypto;
use netchan_transport::{ChannelId, ConnectionHandle, EndpointConfig, TransportConfig};
use std::sync::Arc;
use std::time::Duration;

const VICTIM: usize = 0;
const ATTACKER: usize = 1;
const OPEN: PortId = PortId(1);
const SCOPED: PortId = PortId(2);
const MAX_MESSAGE: u64 = 512;
const TYPE_HASH: u64 = 7;
const LIMITS: SessionLimits = SessionLimits {
    max_peer_capacity: 16,
    max_outbox_bytes: 8 << 10,
    max_inbox_bytes: 8 << 10,
};
/// Operations per input.
const MAX_OPS: usize = 48;
/// Peer-opened channels the transport allows (its default).
const MAX_PEER_CHANNELS: usize = 1024;

/// A label field: a name the victim knows or any bytes.
#[derive(Arbitrary, Debug)]
enum Name {
    Work,
    Scoped,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Label {
    /// Well formed, with fuzzed fields.
    Valid {
        name: Name,
        type_matches: bool,
        capacity: u32,
        max_message: u16,
        incarnation: u8,
        resume: Option<(u8, u16)>,
    },
    /// Any bytes.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Message {
    Data { seq: u16, len: u16, fill: u8 },
    Consumed(u16),
    SendClosed(u16),
    RecvClosed,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// The attacker opens a transport channel.
    Open(Label),
    /// The attacker writes one channel-layer message on its `k`-th channel.
    Write { k: u8, message: Message },
    /// The attacker closes its `k`-th channel.
    Close(u8),
    /// A stream of `n` consecutive DATA frames of `len` bytes from sequence `from`.
    Flood { k: u8, from: u16, n: u8, len: u16 },
    /// The victim's application sends `n` messages of `len` bytes on a port.
    VictimSends { scoped: bool, n: u8, len: u16 },
    /// The victim's application takes what was delivered (or keeps ignoring it).
    VictimTakes,
    /// The attacker reads what the victim sent on every channel (else it lets it pile up).
    AttackerReads,
    /// Time passes.
    Wait(u16),
}

struct Run {
    sim: Sim,
    conn: ConnectionHandle,
    channels: Vec<ChannelId>,
    credit: u64,
    taken: std::collections::HashMap<(PortId, netchan::session::StreamId), u64>,
    /// Channel errors the victim reported (protocol violations of the attacker).
    errors: u64,
}

fn spec(name: &str, scope: Option<[u8; 32]>) -> PortSpec {
    PortSpec {
        name: name.into(),
        type_hash: TYPE_HASH,
        type_name: "Job".into(),
        capacity: 32,
        scope,
        max_message: MAX_MESSAGE as usize,
        mode: None,
    }
}

fn transport() -> TransportConfig {
    let mut t = TransportConfig::default()
        .rehandshake(None)
        .keepalive(Some(Duration::from_millis(500)));
    t.channel_receive_window = 8 << 10;
    t.connection_receive_window = 32 << 10;
    t
}

impl Run {
    /// Victim and attacker connected, the victim's ports open; `None` if the (plaintext)
    /// handshake did not complete, which would be a bug of the harness.
    fn new() -> Option<Self> {
        let mut sim = Sim::new(0);
        let (kv, ka) = ([0x56; 32], [0xa7; 32]);
        let config = |key| {
            let mut c = EndpointConfig::seeded_for_tests(Arc::new(PlainCrypto { public: key }), 1);
            c.transport = Arc::new(transport());
            c
        };
        let session = SessionConfig {
            local_key: kv,
            incarnation: 1,
            lease: Duration::from_secs(5),
            local_addrs: Vec::new(),
            limits: LIMITS,
        };
        let victim = sim.add_session_node(config(kv), session);
        let attacker = sim.add_node(config(ka));
        debug_assert_eq!((victim, attacker), (VICTIM, ATTACKER));
        sim.session(VICTIM, |s, ep, now| {
            s.open_port(now, ep, OPEN, spec("work", None))
        })
        .ok()?;
        sim.session(VICTIM, |s, ep, now| {
            s.open_port(now, ep, SCOPED, spec("scoped", Some([0x33; 32])))
        })
        .ok()?;
        let conn = sim.connect(ATTACKER, VICTIM);
        for _ in 0..200 {
            sim.step_bounded(Some(Duration::from_millis(5)));
            let up = sim
                .events(ATTACKER)
                .iter()
                .any(|(h, e)| *h == conn && *e == netchan_transport::Event::Connected);
            if up {
                return Some(Run {
                    sim,
                    conn,
                    channels: Vec::new(),
                    credit: 0,
                    taken: Default::default(),
                    errors: 0,
                });
            }
        }
        None
    }

    fn attacker_channel(&self, k: u8) -> Option<ChannelId> {
        (!self.channels.is_empty()).then(|| self.channels[usize::from(k) % self.channels.len()])
    }

    fn write(&mut self, ch: ChannelId, bytes: &[u8]) {
        if let Some(c) = self.sim.nodes[ATTACKER].endpoint.connection(self.conn) {
            let _ = c.send(ch, bytes); // Blocked: the victim's flow control holds us back
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Open(label) => {
                let bytes = match label {
                    Label::Valid {
                        name,
                        type_matches,
                        capacity,
                        max_message,
                        incarnation,
                        resume,
                    } => {
                        let name = match &name {
                            Name::Work => "work",
                            Name::Scoped => "scoped",
                            Name::Other(s) => s.as_str(),
                        };
                        let ty = if type_matches {
                            (TYPE_HASH, "Job")
                        } else {
                            (8, "Other")
                        };
                        let resume = resume.map(|(i, n)| (u64::from(i), u64::from(n)));
                        peer::label(
                            name,
                            ty,
                            capacity,
                            u64::from(max_message),
                            u64::from(incarnation),
                            resume,
                        )
                    }
                    Label::Raw(b) => b,
                };
                if let Some(c) = self.sim.nodes[ATTACKER].endpoint.connection(self.conn)
                    && let Ok(ch) = c.open_channel(&bytes)
                {
                    self.channels.push(ch);
                }
            }
            Op::Write { k, message } => {
                let Some(ch) = self.attacker_channel(k) else {
                    return;
                };
                let bytes = match message {
                    Message::Data { seq, len, fill } => {
                        peer::data(u64::from(seq), &vec![fill; usize::from(len) % 1024])
                    }
                    Message::Consumed(n) => peer::consumed(u64::from(n)),
                    Message::SendClosed(n) => peer::send_closed(u64::from(n)),
                    Message::RecvClosed => peer::recv_closed(),
                    Message::Raw(b) => b,
                };
                self.write(ch, &bytes);
            }
            Op::Close(k) => {
                if let Some(ch) = self.attacker_channel(k)
                    && let Some(c) = self.sim.nodes[ATTACKER].endpoint.connection(self.conn)
                {
                    let _ = c.close_channel(ch);
                }
            }
            Op::Flood { k, from, n, len } => {
                let Some(ch) = self.attacker_channel(k) else {
                    return;
                };
                // Up to 32 messages of up to a little more than the port's maximum.
                let payload = vec![0x5a; usize::from(len) % 600];
                for seq in u64::from(from)..u64::from(from) + u64::from(n % 33) {
                    self.write(ch, &peer::data(seq, &payload));
                }
            }
            Op::VictimSends { scoped, n, len } => {
                let port = if scoped { SCOPED } else { OPEN };
                let payload = Bytes::from(vec![0xc3; usize::from(len) % 1024]);
                for _ in 0..n.min(64) {
                    if self.credit == 0 {
                        break;
                    }
                    self.credit -= 1;
                    let p = payload.clone();
                    self.sim
                        .session(VICTIM, |s, ep, _| s.send(ep, port, p, None));
                }
            }
            Op::VictimTakes => {
                let taken: Vec<_> = self.taken.iter().map(|(k, v)| (*k, *v)).collect();
                for ((port, stream), total) in taken {
                    self.sim
                        .session(VICTIM, |s, ep, _| s.consumed(ep, port, stream, total));
                }
            }
            Op::AttackerReads => {
                if let Some(c) = self.sim.nodes[ATTACKER].endpoint.connection(self.conn) {
                    for i in 0..4096u64 {
                        for parity in [0, 1] {
                            let ch = ChannelId(2 * i + parity);
                            while c.recv(ch).is_some() {}
                        }
                        if i > 64 {
                            break;
                        }
                    }
                }
            }
            Op::Wait(ms) => {
                let until = self.sim.elapsed() + Duration::from_millis(u64::from(ms) % 1000);
                // Event to event (bounded: the connection's timers and the links'),
                // checking the bounds after every step.
                for _ in 0..10_000 {
                    let left = until.saturating_sub(self.sim.elapsed());
                    if left.is_zero() || !self.sim.step_bounded(Some(left)) {
                        break;
                    }
                    self.victim_app();
                    self.check();
                }
            }
        }
    }

    /// The victim's application: notes credit and deliveries (taking them is an op).
    fn victim_app(&mut self) {
        for e in self.sim.session_events(VICTIM) {
            match e {
                SessionEvent::Credit { added, .. } => self.credit += added,
                SessionEvent::Deliver { port, stream, .. } => {
                    *self.taken.entry((port, stream)).or_default() += 1;
                }
                SessionEvent::Node(netchan::NodeEvent::ChannelError { .. }) => self.errors += 1,
                _ => {}
            }
        }
        let _ = self.sim.events(ATTACKER);
    }

    #[cfg(test)]
    fn settle(&mut self) {
        for _ in 0..8 {
            if !self.sim.step_bounded(Some(Duration::from_millis(2))) {
                break;
            }
            self.victim_app();
        }
    }

    fn check(&mut self) {
        let f = self.sim.session(VICTIM, |s, _, _| s.footprint());
        let one = MAX_MESSAGE + 64;
        assert!(
            f.max_inbox_bytes <= LIMITS.max_inbox_bytes + one,
            "inbox {f:?}"
        );
        assert!(
            f.max_outbox_bytes <= LIMITS.max_outbox_bytes + 1024,
            "outbox {f:?}"
        );
        assert!(
            f.max_peer_capacity <= LIMITS.max_peer_capacity,
            "capacity {f:?}"
        );
        // The attacker and the key the scoped port names (known from its opening).
        assert!(f.peers <= 2 && f.links <= 3, "tables {f:?}");
        assert!(f.unmatched <= MAX_PEER_CHANNELS, "unmatched {f:?}");
        assert!(
            f.unmatched_label_bytes <= MAX_PEER_CHANNELS * 1024,
            "labels {f:?}"
        );
        let conns: Vec<ConnectionHandle> = self.sim.nodes[VICTIM].endpoint.handles().collect();
        for h in conns {
            if let Some(c) = self.sim.nodes[VICTIM].endpoint.connection(h) {
                let bound = c.receive_budget() + 1500 * 65;
                assert!(
                    c.stats().recv_held_peak <= bound,
                    "transport receive memory"
                );
            }
        }
    }
}

/// See the module docs. Input: a sequence of operations (decoded with `arbitrary`; at
/// most [`MAX_OPS`] are applied).
pub fn session_frames(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Some(mut run) = Run::new() else {
        panic!("the plaintext handshake completes");
    };
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break; // (`arbitrary` would go on making default operations)
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        run.apply(op);
    }
    run.apply(Op::Wait(500));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target runs on a few fixed inputs (the corpus replay covers the rest), and a
    /// flood of data the victim never takes is held back within the inbox bound.
    #[test]
    fn session_frames_smoke() {
        session_frames(&[]);
        let mut run = Run::new().expect("connected");
        run.apply(Op::Open(Label::Valid {
            name: Name::Work,
            type_matches: true,
            capacity: u32::MAX,
            max_message: 512,
            incarnation: 9,
            resume: None,
        }));
        run.settle();
        for round in 0..40u16 {
            run.apply(Op::Flood {
                k: 0,
                from: round * 16,
                n: 16,
                len: 500,
            });

            run.apply(Op::Wait(50));
            run.check();
        }
        let f = run.sim.session(VICTIM, |s, _, _| s.footprint());
        eprintln!("session_frames_smoke: after 640 × 500 B never taken: {f:?}");
        assert!(
            f.max_inbox_bytes >= LIMITS.max_inbox_bytes,
            "the flood reached the bound: the check tests something"
        );
        // A message larger than the port's maximum is refused, not held.
        let mut run = Run::new().expect("connected");
        run.apply(Op::Open(Label::Valid {
            name: Name::Work,
            type_matches: true,
            capacity: 16,
            max_message: 512,
            incarnation: 9,
            resume: None,
        }));
        run.settle();
        run.apply(Op::Write {
            k: 0,
            message: Message::Data {
                seq: 0,
                len: MAX_MESSAGE as u16 + 1,
                fill: 1,
            },
        });
        run.settle();
        let f = run.sim.session(VICTIM, |s, _, _| s.footprint());
        assert_eq!(f.max_inbox_bytes, 0, "{f:?}");
        assert_eq!(run.errors, 1, "the oversized message is a channel error");
    }
}
