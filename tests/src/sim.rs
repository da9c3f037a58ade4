//! A deterministic, virtual-time simulator: N endpoints connected by seeded [`Link`]s.
//!
//! The simulator owns the clock. Each [`Sim::step`] moves every pending datagram from
//! the endpoints into the links, advances virtual time to the next event (a delivery or a
//! timer), delivers what is due and fires due timers. Tests drive application logic
//! between steps through [`Sim::run`], whose loop is bounded by a step budget and a
//! virtual-time deadline.
//!
//! Reproducibility: everything random derives from one seed. [`seeds`] reads
//! `NETCHAN_SEED` so a failing seed can be replayed by name:
//! `NETCHAN_SEED=42 cargo test -p netchan-tests --test adversity`.
//!
//! Channel sessions: a node added with [`Sim::add_session_node`] also runs a netchan
//! [`Session`] above its endpoint. The simulator feeds the endpoint's events and the
//! session's timers to it; tests act as the application through [`Sim::session`] and
//! read what it reports with [`Sim::session_events`]. [`Sim::restart_endpoint`] replaces
//! a node's endpoint (all connection state lost, same identity) under its session.
//!
//! Addresses: each node has a local address (what its endpoint sees as its own) and an
//! external one (what its peers see; the same unless a NAT is modelled). [`Sim::rebind`]
//! changes the external address (NAT rebinding): datagrams to the old one are then lost.
//! Datagrams to an address no node has are counted per address ([`Sim::unrouted`]), so
//! tests can see what a spoofed victim would have received. [`Sim::intercept`] lets an
//! attacker on a link copy datagrams and inject them (from any source address) before the
//! originals arrive.
//!
//! Several addresses (multipath): [`Sim::add_address`] gives a node another address of
//! its own (no NAT on it). Datagrams from or to such an address travel on a link of their
//! own per (source, destination) address pair ([`Sim::set_path_link`], default
//! [`LinkConfig::default`] when first used), so every path of a connection can have its
//! rate, delay, loss and outages.

use crate::link::{Link, LinkConfig};
use netchan::session::{Session, SessionConfig, SessionEvent};
use netchan_transport::{ConnectionHandle, Endpoint, EndpointConfig, Event};
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Index of a node in the simulation.
pub type NodeId = usize;

/// One simulated host: an endpoint and its addresses.
#[derive(Debug)]
pub struct Node {
    /// The sans-IO endpoint.
    pub endpoint: Endpoint,
    /// Its address as peers see it (after any NAT).
    pub addr: SocketAddr,
    /// Its address as it sees itself (the socket's).
    pub local: SocketAddr,
    /// Further addresses of the node (each its own, local and external alike).
    pub extra: Vec<SocketAddr>,
    /// The channel session above the endpoint, if the node has one.
    pub session: Option<Session>,
    /// What the session reported, for the test to read.
    session_events: VecDeque<SessionEvent>,
}

/// A datagram an [`Interceptor`] injects: delivered to the link's receiver `after` the
/// original was sent, claiming to come from `from`.
#[derive(Debug, Clone)]
pub struct Injection {
    /// Delay from the moment the original was sent.
    pub after: Duration,
    /// The source address it claims.
    pub from: SocketAddr,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Sees every datagram sent on a link (at the time it is sent) and returns datagrams to
/// inject towards the link's receiver.
pub type Interceptor = Box<dyn FnMut(Duration, &[u8]) -> Vec<Injection>>;

/// Datagrams and bytes sent to one address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams.
    pub datagrams: u64,
    /// UDP payload bytes.
    pub bytes: u64,
}

/// Why a run stopped without the test's condition being met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The step budget ran out.
    #[error("step budget exhausted after {steps} steps at t={elapsed:?}")]
    StepBudget {
        /// Steps taken.
        steps: u64,
        /// Virtual time elapsed.
        elapsed: Duration,
    },
    /// Virtual time passed the deadline.
    #[error("virtual-time deadline reached at t={0:?}")]
    Deadline(Duration),
    /// Nothing is scheduled any more: no timer, no datagram in flight.
    #[error("simulation went quiet at t={0:?}")]
    Quiet(Duration),
}

/// What the test's driver closure wants after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep stepping.
    Continue,
    /// The test's goal is reached.
    Done,
}

/// The simulator.
pub struct Sim {
    /// Simulation start.
    pub epoch: Instant,
    /// Current virtual time.
    pub now: Instant,
    /// The hosts.
    pub nodes: Vec<Node>,
    links: HashMap<(NodeId, NodeId), Link>,
    /// The links' keys in a fixed order (deterministic delivery order).
    link_order: Vec<(NodeId, NodeId)>,
    /// Links between two addresses, for paths that use a node's further addresses.
    path_links: HashMap<(SocketAddr, SocketAddr), Link>,
    path_link_order: Vec<(SocketAddr, SocketAddr)>,
    by_addr: HashMap<SocketAddr, NodeId>,
    seed: u64,
    buf: Vec<u8>,
    interceptors: HashMap<(NodeId, NodeId), Interceptor>,
    /// Injected datagrams: (due, sequence, to, from, bytes), kept sorted by due time.
    injected: Vec<(Instant, u64, NodeId, SocketAddr, Vec<u8>)>,
    injected_seq: u64,
    unrouted: HashMap<SocketAddr, Traffic>,
    /// Everything each node sent, by destination.
    sent: HashMap<(NodeId, SocketAddr), Traffic>,
    /// Steps taken so far.
    pub steps: u64,
    /// Datagrams sent to an address no node has.
    pub misrouted: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("elapsed", &self.elapsed())
            .field("nodes", &self.nodes.len())
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

/// Most datagrams one simulated segmented send carries (the endpoints are told so).
const SIM_SEGMENTS: usize = 8;

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64) -> Self {
        let epoch = Instant::now();
        Self {
            epoch,
            now: epoch,
            nodes: Vec::new(),
            links: HashMap::default(),
            link_order: Vec::new(),
            path_links: HashMap::default(),
            path_link_order: Vec::new(),
            by_addr: HashMap::default(),
            seed,
            buf: Vec::with_capacity(2048),
            interceptors: HashMap::default(),
            injected: Vec::new(),
            injected_seq: 0,
            unrouted: HashMap::default(),
            sent: HashMap::default(),
            steps: 0,
            misrouted: 0,
        }
    }

    /// Adds an endpoint; its address is `10.0.0.<n>:4433`-style, unique per node.
    pub fn add_node(&mut self, config: EndpointConfig) -> NodeId {
        let id = self.nodes.len();
        let addr: SocketAddr = SocketAddr::from(([10, 0, (id >> 8) as u8, id as u8 + 1], 4433));
        self.add_node_at(config, addr)
    }

    /// Adds an endpoint at a chosen address (local and external).
    pub fn add_node_at(&mut self, config: EndpointConfig, addr: SocketAddr) -> NodeId {
        let id = self.nodes.len();
        let mut endpoint = Endpoint::new(config, self.now);
        // Exercise segmented transmits everywhere: the sim splits them again.
        endpoint.set_max_segments(SIM_SEGMENTS);
        self.nodes.push(Node {
            endpoint,
            addr,
            local: addr,
            extra: Vec::new(),
            session: None,
            session_events: VecDeque::new(),
        });
        self.by_addr.insert(addr, id);
        // Distinct, increasing wall clocks (replay protection needs one).
        let unix_ms = 1_790_000_000_000 + id as u64;
        self.nodes[id].endpoint.set_wall_clock(self.now, unix_ms);
        id
    }

    /// Gives node `n` a further address of its own (a second interface).
    pub fn add_address(&mut self, n: NodeId, addr: SocketAddr) {
        self.by_addr.insert(addr, n);
        self.nodes[n].extra.push(addr);
    }

    /// Sets the link carrying datagrams from address `from` to address `to` (one
    /// direction), used when either is a further address of its node.
    pub fn set_path_link(&mut self, from: SocketAddr, to: SocketAddr, config: LinkConfig) {
        let h = |a: SocketAddr| {
            let ip = match a.ip() {
                std::net::IpAddr::V4(v4) => u64::from(u32::from(v4)),
                std::net::IpAddr::V6(v6) => u128::from(v6) as u64,
            };
            ip << 16 | u64::from(a.port())
        };
        let seed =
            self.seed ^ (h(from).rotate_left(17) ^ h(to)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.path_links
            .insert((from, to), Link::new(config, seed, self.epoch));
    }

    /// Sets both directions between addresses `a` and `b` (see
    /// [`set_path_link`](Self::set_path_link)).
    pub fn set_path_links(&mut self, a: SocketAddr, b: SocketAddr, config: LinkConfig) {
        self.set_path_link(a, b, config.clone());
        self.set_path_link(b, a, config);
    }

    /// The link from address `from` to address `to`, if configured.
    pub fn path_link(&mut self, from: SocketAddr, to: SocketAddr) -> Option<&mut Link> {
        self.path_links.get_mut(&(from, to))
    }

    /// Whether `addr` is one of node `n`'s further addresses.
    fn is_extra(&self, n: NodeId, addr: SocketAddr) -> bool {
        self.nodes[n].extra.contains(&addr)
    }

    /// Adds a node whose endpoint runs a netchan channel session.
    pub fn add_session_node(&mut self, config: EndpointConfig, session: SessionConfig) -> NodeId {
        let id = self.add_node(config);
        self.nodes[id].session = Some(Session::new(session));
        id
    }

    /// Calls `f` with node `n`'s session, its endpoint and the current time (the test
    /// acting as the application), then lets the session handle what followed.
    ///
    /// Panics if the node has no session.
    pub fn session<R>(
        &mut self,
        n: NodeId,
        f: impl FnOnce(&mut Session, &mut Endpoint, Instant) -> R,
    ) -> R {
        let now = self.now;
        let node = &mut self.nodes[n];
        let session = node.session.as_mut().expect("a session node");
        let r = f(session, &mut node.endpoint, now);
        self.pump_session(n);
        r
    }

    /// Takes what node `n`'s session reported since the last call.
    pub fn session_events(&mut self, n: NodeId) -> Vec<SessionEvent> {
        self.nodes[n].session_events.drain(..).collect()
    }

    /// Replaces node `n`'s endpoint by a fresh one from `config` (same address; use the
    /// same identity and a new seed): every connection's state is lost, as in a crash of
    /// the transport. A session above it is told, and its peers reconnect.
    pub fn restart_endpoint(&mut self, n: NodeId, config: EndpointConfig) {
        let now = self.now;
        let mut endpoint = Endpoint::new(config, now);
        endpoint.set_max_segments(SIM_SEGMENTS);
        endpoint.set_wall_clock(
            now,
            1_790_000_000_000 + 1_000 + self.elapsed().as_millis() as u64,
        );
        let node = &mut self.nodes[n];
        node.endpoint = endpoint;
        if let Some(s) = node.session.as_mut() {
            s.transport_reset(now, &mut node.endpoint);
        }
        self.pump_session(n);
    }

    /// Feeds node `n`'s endpoint events and due timers to its session.
    fn pump_session(&mut self, n: NodeId) {
        let now = self.now;
        let node = &mut self.nodes[n];
        let Some(session) = node.session.as_mut() else {
            return;
        };
        // Bounded by the events the endpoint and session hold.
        for _ in 0..1_000_000 {
            if let Some((h, ev)) = node.endpoint.poll_event() {
                session.handle_event(now, &mut node.endpoint, h, ev);
            } else if session.poll_timeout().is_some_and(|t| t <= now) {
                session.handle_timeout(now, &mut node.endpoint);
            } else {
                break;
            }
        }
        node.session_events
            .extend(std::iter::from_fn(|| session.poll_event()));
    }

    /// Sets the link from `a` to `b` (one direction).
    pub fn set_link(&mut self, a: NodeId, b: NodeId, config: LinkConfig) {
        let seed = self.seed ^ ((a as u64) << 32 | b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.links
            .insert((a, b), Link::new(config, seed, self.epoch));
    }

    /// Makes the link `from` feed the bottleneck queue of the link `into` (two flows
    /// through one router port; see [`Link::share_bottleneck`]). Both links must exist.
    pub fn share_bottleneck(&mut self, from: (NodeId, NodeId), into: (NodeId, NodeId)) {
        let Some(mut link) = self.links.remove(&from) else {
            panic!("share_bottleneck: no link {from:?}");
        };
        match self.links.get(&into) {
            Some(target) => link.share_bottleneck(target),
            None => panic!("share_bottleneck: no link {into:?}"),
        }
        self.links.insert(from, link);
    }

    /// Sets both directions between `a` and `b` to the same configuration.
    pub fn set_links(&mut self, a: NodeId, b: NodeId, config: LinkConfig) {
        self.set_link(a, b, config.clone());
        self.set_link(b, a, config);
    }

    /// Changes the address node `n`'s peers see (a NAT rebinding its mapping): datagrams
    /// from it carry `external` as their source from now on; datagrams still addressed to
    /// the old external address are unrouted.
    pub fn rebind(&mut self, n: NodeId, external: SocketAddr) {
        let old = self.nodes[n].addr;
        self.by_addr.remove(&old);
        self.by_addr.insert(external, n);
        self.nodes[n].addr = external;
    }

    /// Installs an interceptor on the link from `a` to `b` (see [`Interceptor`]).
    pub fn intercept(&mut self, a: NodeId, b: NodeId, f: Interceptor) {
        self.interceptors.insert((a, b), f);
    }

    /// Takes what node `n` wants to send now, without sending it: (destination, datagram)
    /// pairs, segmented transmits split.
    pub fn take_transmits(&mut self, n: NodeId) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        // Bounded like `flush`.
        for _ in 0..100_000 {
            let Some(t) = self.nodes[n]
                .endpoint
                .poll_transmit(self.now, &mut self.buf)
            else {
                break;
            };
            let segment = t.segment_size.unwrap_or(t.size).max(1);
            for d in self.buf[..t.size].chunks(segment) {
                let traffic = self.sent.entry((n, t.destination)).or_default();
                traffic.datagrams += 1;
                traffic.bytes += d.len() as u64;
                out.push((t.destination, d.to_vec()));
            }
        }
        out
    }

    /// Hands node `to` a datagram from `from` now (the caller plays the network).
    pub fn deliver(&mut self, to: NodeId, from: SocketAddr, datagram: &[u8]) {
        let (now, local) = (self.now, self.nodes[to].local);
        let mut d = datagram.to_vec();
        self.nodes[to]
            .endpoint
            .handle_datagram(now, local, from, &mut d);
    }

    /// What was sent to `addr`, which no node has (a spoofed or abandoned address).
    pub fn unrouted(&self, addr: SocketAddr) -> Traffic {
        self.unrouted.get(&addr).copied().unwrap_or_default()
    }

    /// What node `from` sent to `addr` (routed or not) since the simulation began.
    pub fn sent(&self, from: NodeId, addr: SocketAddr) -> Traffic {
        self.sent.get(&(from, addr)).copied().unwrap_or_default()
    }

    /// What node `from` sent, to any address.
    pub fn sent_total(&self, from: NodeId) -> Traffic {
        self.sent
            .iter()
            .filter(|((n, _), _)| *n == from)
            .fold(Traffic::default(), |acc, (_, t)| Traffic {
                datagrams: acc.datagrams + t.datagrams,
                bytes: acc.bytes + t.bytes,
            })
    }

    /// The link from `a` to `b`, if configured.
    pub fn link(&mut self, a: NodeId, b: NodeId) -> Option<&mut Link> {
        self.links.get_mut(&(a, b))
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// Starts a connection from `a` to `b`, pinning `b`'s public key (Noise IK).
    pub fn connect(&mut self, a: NodeId, b: NodeId) -> ConnectionHandle {
        let (local, to) = (self.nodes[a].local, self.nodes[b].addr);
        let key = self.nodes[b].endpoint.public_key();
        let now = self.now;
        self.nodes[a]
            .endpoint
            .connect_with(now, local, to, key)
            .expect("connect")
    }

    /// Starts a connection from `a` to `b` without knowing `b`'s key (Noise XX).
    pub fn connect_unpinned(&mut self, a: NodeId, b: NodeId) -> ConnectionHandle {
        let (local, to) = (self.nodes[a].local, self.nodes[b].addr);
        let now = self.now;
        self.nodes[a]
            .endpoint
            .connect(now, local, to)
            .expect("connect")
    }

    /// Moves every datagram the endpoints want to send into the links (splitting
    /// segmented transmits into their datagrams).
    fn flush(&mut self) {
        for from in 0..self.nodes.len() {
            // Bounded: an endpoint emits finitely many packets per instant (congestion
            // window, pacing); the cap guards against a runaway implementation.
            for _ in 0..100_000 {
                let Some(t) = self.nodes[from]
                    .endpoint
                    .poll_transmit(self.now, &mut self.buf)
                else {
                    break;
                };
                let extra = self.is_extra(from, t.local);
                assert!(
                    t.local == self.nodes[from].local || extra,
                    "sent from a foreign address"
                );
                let buf = std::mem::take(&mut self.buf);
                let segment = t.segment_size.unwrap_or(t.size).max(1);
                for d in buf[..t.size].chunks(segment) {
                    if extra {
                        self.send_from(from, t.local, t.destination, d);
                    } else {
                        self.send(from, t.destination, d);
                    }
                }
                self.buf = buf;
            }
        }
    }

    /// One datagram from node `from`'s further address `source` to `destination`, on
    /// the link of that address pair.
    fn send_from(&mut self, from: NodeId, source: SocketAddr, destination: SocketAddr, d: &[u8]) {
        let t = self.sent.entry((from, destination)).or_default();
        t.datagrams += 1;
        t.bytes += d.len() as u64;
        if !self.by_addr.contains_key(&destination) {
            self.misrouted += 1;
            let u = self.unrouted.entry(destination).or_default();
            u.datagrams += 1;
            u.bytes += d.len() as u64;
            return;
        }
        self.send_on_path_link(source, destination, d);
    }

    fn send_on_path_link(&mut self, source: SocketAddr, destination: SocketAddr, d: &[u8]) {
        if !self.path_links.contains_key(&(source, destination)) {
            self.set_path_link(source, destination, LinkConfig::default());
        }
        if let Some(link) = self.path_links.get_mut(&(source, destination)) {
            link.send(self.now, d.to_vec());
        }
    }

    /// Delivers what the address-pair links have due at `now`.
    fn deliver_path_links(&mut self, now: Instant) {
        if self.path_link_order.len() != self.path_links.len() {
            self.path_link_order = self.path_links.keys().copied().collect();
            self.path_link_order.sort_unstable();
        }
        for k in 0..self.path_link_order.len() {
            let (from, to) = self.path_link_order[k];
            let Some(&n) = self.by_addr.get(&to) else {
                continue;
            };
            let local = if self.is_extra(n, to) {
                to
            } else {
                self.nodes[n].local
            };
            // Bounded by the link's in-flight count.
            while let Some(mut d) = self
                .path_links
                .get_mut(&(from, to))
                .and_then(|l| l.poll_deliver(now))
            {
                self.nodes[n]
                    .endpoint
                    .handle_datagram(now, local, from, &mut d);
            }
        }
    }

    /// One datagram from node `from` to `destination`.
    fn send(&mut self, from: NodeId, destination: SocketAddr, d: &[u8]) {
        let t = self.sent.entry((from, destination)).or_default();
        t.datagrams += 1;
        t.bytes += d.len() as u64;
        let Some(&to) = self.by_addr.get(&destination) else {
            self.misrouted += 1;
            let u = self.unrouted.entry(destination).or_default();
            u.datagrams += 1;
            u.bytes += d.len() as u64;
            return;
        };
        if self.is_extra(to, destination) {
            // To a further address: that address pair's own link.
            let source = self.nodes[from].addr;
            self.send_on_path_link(source, destination, d);
            return;
        }
        if !self.links.contains_key(&(from, to)) {
            self.set_link(from, to, LinkConfig::default());
        }
        let elapsed = self.elapsed();
        if let Some(f) = self.interceptors.get_mut(&(from, to)) {
            for inj in f(elapsed, d) {
                let seq = self.injected_seq;
                self.injected_seq += 1;
                self.injected
                    .push((self.now + inj.after, seq, to, inj.from, inj.bytes));
            }
            self.injected.sort_by_key(|(t, seq, ..)| (*t, *seq));
        }
        if let Some(link) = self.links.get_mut(&(from, to)) {
            link.send(self.now, d.to_vec());
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let timers = self.nodes.iter().filter_map(|n| n.endpoint.poll_timeout());
        let deliveries = self
            .links
            .values()
            .chain(self.path_links.values())
            .filter_map(|l| l.next_delivery());
        let injected = self.injected.first().map(|(t, ..)| *t);
        let sessions = self
            .nodes
            .iter()
            .filter_map(|n| n.session.as_ref()?.poll_timeout());
        timers
            .chain(deliveries)
            .chain(injected)
            .chain(sessions)
            .min()
    }

    /// One step: flush, advance to the next event, deliver and fire timers. Returns
    /// `false` when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        self.step_bounded(None)
    }

    /// Like [`step`](Self::step), but never advances the clock by more than `max` (and
    /// advances it by `max` when nothing is scheduled): for tests that inject traffic on
    /// a schedule of their own.
    pub fn step_bounded(&mut self, max: Option<Duration>) -> bool {
        self.steps += 1;
        self.flush();
        let limit = max.map(|m| self.now + m);
        let next = match (self.next_event(), limit) {
            (Some(n), Some(l)) => n.min(l),
            (Some(n), None) => n,
            (None, Some(l)) => l,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        let now = self.now;
        if self.link_order.len() != self.links.len() {
            self.link_order = self.links.keys().copied().collect();
            self.link_order.sort_unstable();
        }
        // Injected datagrams first: an attacker racing the link.
        let due = self.injected.partition_point(|(t, ..)| *t <= now);
        for (_, _, to, from, mut d) in self.injected.drain(..due).collect::<Vec<_>>() {
            let local = self.nodes[to].local;
            self.nodes[to]
                .endpoint
                .handle_datagram(now, local, from, &mut d);
        }
        for i in 0..self.link_order.len() {
            let (from, to) = self.link_order[i];
            let from_addr = self.nodes[from].addr;
            let local = self.nodes[to].local;
            // Bounded by the link's in-flight count.
            while let Some(mut d) = self
                .links
                .get_mut(&(from, to))
                .and_then(|l| l.poll_deliver(now))
            {
                self.nodes[to]
                    .endpoint
                    .handle_datagram(now, local, from_addr, &mut d);
            }
        }
        self.deliver_path_links(now);
        for n in &mut self.nodes {
            n.endpoint.handle_timeout(now);
        }
        for n in 0..self.nodes.len() {
            self.pump_session(n);
        }
        self.flush();
        true
    }

    /// Advances the clock by `d` and fires due timers, without moving any datagram: for
    /// tests that play the network by hand ([`take_transmits`](Self::take_transmits),
    /// [`deliver`](Self::deliver)).
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        for n in &mut self.nodes {
            n.endpoint.handle_timeout(now);
        }
        for n in 0..self.nodes.len() {
            self.pump_session(n);
        }
    }

    /// Steps until `drive` returns [`Control::Done`]; fails after `max_steps` steps or
    /// when virtual time passes `deadline` (measured from the epoch).
    pub fn run(
        &mut self,
        max_steps: u64,
        deadline: Duration,
        mut drive: impl FnMut(&mut Sim) -> Control,
    ) -> Result<(), SimError> {
        for _ in 0..max_steps {
            if drive(self) == Control::Done {
                return Ok(());
            }
            if self.elapsed() > deadline {
                return Err(SimError::Deadline(self.elapsed()));
            }
            if !self.step() {
                if drive(self) == Control::Done {
                    return Ok(());
                }
                return Err(SimError::Quiet(self.elapsed()));
            }
        }
        Err(SimError::StepBudget {
            steps: max_steps,
            elapsed: self.elapsed(),
        })
    }

    /// Drains node `n`'s events into a vector.
    pub fn events(&mut self, n: NodeId) -> Vec<(ConnectionHandle, Event)> {
        let mut v = Vec::new();
        while let Some(e) = self.nodes[n].endpoint.poll_event() {
            v.push(e);
        }
        v
    }
}

/// The seeds a randomized test should run: `NETCHAN_SEED` (comma-separated) when set,
/// else `default`.
pub fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("NETCHAN_SEED") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}
