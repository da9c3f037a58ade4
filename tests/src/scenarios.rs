//! Reusable scenarios: each builds a simulation, runs it to completion and returns a
//! report. The scenario tests assert on the reports; `netchan-bench` prints them.

use crate::link::LinkConfig;
use crate::sim::{Control, Sim, SimError};
use crate::workload::{Stream, StreamError};
use netchan_transport::identity::Keypair;
use netchan_transport::{
    CongestionControl, ConnectionHandle, EndpointConfig, Event, NoiseConfig, TransportConfig,
};
use std::sync::Arc;
use std::time::Duration;

/// Why a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The simulation did not reach its goal.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Delivery was not exactly once, in order, intact.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// A connection closed.
    #[error("connection closed: {0}")]
    Closed(String),
}

/// An endpoint config with a Noise identity derived from `seed`.
pub fn endpoint(seed: u64, transport: TransportConfig) -> EndpointConfig {
    let mut c = EndpointConfig::seeded_for_tests(Arc::new(NoiseConfig::new(keypair(seed))), seed);
    c.transport = Arc::new(transport);
    c
}

/// A deterministic keypair for tests.
pub fn keypair(seed: u64) -> Keypair {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    Keypair::from_seed(s)
}

/// Node 0 (client) and node 1 (server) with `link` both ways, connected.
pub fn connected_pair(
    seed: u64,
    client: TransportConfig,
    server: TransportConfig,
    link: LinkConfig,
) -> Result<(Sim, ConnectionHandle, ConnectionHandle), ScenarioError> {
    let mut sim = Sim::new(seed);
    let c = sim.add_node(endpoint(seed.wrapping_mul(2) + 1, client));
    let s = sim.add_node(endpoint(seed.wrapping_mul(2) + 2, server));
    sim.set_links(c, s, link);
    let ch = sim.connect(c, s);
    let (mut sh, mut up) = (None, false);
    sim.run(100_000, Duration::from_secs(60), |sim| {
        for (h, e) in sim.events(s) {
            sh = sh.or((e == Event::Connected).then_some(h));
        }
        up |= sim.events(c).iter().any(|(_, e)| *e == Event::Connected);
        if up && sh.is_some() {
            Control::Done
        } else {
            Control::Continue
        }
    })?;
    let sh = sh.ok_or(ScenarioError::Closed("server side never connected".into()))?;
    Ok((sim, ch, sh))
}

/// Client node id in [`connected_pair`].
pub const CLIENT: usize = 0;
/// Server node id in [`connected_pair`].
pub const SERVER: usize = 1;

/// Result of a one-way bulk transfer.
#[derive(Debug, Clone)]
pub struct TransferReport {
    /// Controller used.
    pub cc: CongestionControl,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Virtual time from `connect` to the last byte delivered.
    pub elapsed: Duration,
    /// Goodput in bits per second.
    pub goodput_bps: f64,
    /// Packets the sender sent.
    pub packets_sent: u64,
    /// Packets the sender declared lost.
    pub packets_lost: u64,
}

/// Sends `bytes` (as messages of 62,500 bytes) from client to server over `link` (both
/// directions), starting the clock at `connect`.
pub fn bulk_transfer(
    cc: CongestionControl,
    link: LinkConfig,
    bytes: u64,
    seed: u64,
) -> Result<TransferReport, ScenarioError> {
    let cfg = TransportConfig::default().congestion(cc);
    let mut sim = Sim::new(seed);
    let cn = sim.add_node(endpoint(seed * 2 + 1, cfg.clone()));
    let sn = sim.add_node(endpoint(seed * 2 + 2, cfg));
    sim.set_links(cn, sn, link);
    let c = sim.connect(cn, sn);
    let ch = sim.nodes[cn]
        .endpoint
        .connection(c)
        .and_then(|conn| conn.open_channel(b"bulk").ok())
        .ok_or(ScenarioError::Closed("could not open a channel".into()))?;
    let mut stream = Stream::new(seed, bytes.div_ceil(62_500), 62_500, 62_500);
    let mut rx = None;
    let mut failure: Option<ScenarioError> = None;
    sim.run(100_000_000, Duration::from_secs(24 * 3600), |sim| {
        for (h, e) in sim.events(sn).into_iter().chain(sim.events(cn)) {
            match e {
                Event::ChannelOpened { channel, .. } => rx = Some((h, channel)),
                Event::Closed(why) => failure = Some(ScenarioError::Closed(why.to_string())),
                _ => {}
            }
        }
        if let Some(conn) = sim.nodes[cn].endpoint.connection(c) {
            let _ = stream.pump(conn, ch, u64::MAX);
        }
        if let Some((h, r)) = rx
            && let Some(conn) = sim.nodes[sn].endpoint.connection(h)
            && let Err(e) = stream.drain(conn, r)
        {
            failure = Some(e.into());
        }
        if failure.is_some() || stream.all_received() {
            Control::Done
        } else {
            Control::Continue
        }
    })?;
    if let Some(f) = failure {
        return Err(f);
    }
    let elapsed = sim.elapsed();
    let stats = sim.nodes[cn]
        .endpoint
        .connection(c)
        .map(|c| c.stats())
        .unwrap_or_default();
    Ok(TransferReport {
        cc,
        bytes: stream.bytes_received,
        elapsed,
        goodput_bps: stream.bytes_received as f64 * 8.0 / elapsed.as_secs_f64(),
        packets_sent: stats.packets_sent,
        packets_lost: stats.recovery.packets_lost,
    })
}

/// The QUIC interop runner's default link: 10 Mbit/s, 15 ms one way, 25-packet queue.
pub fn interop_link(loss: f64) -> LinkConfig {
    LinkConfig {
        rate_bps: Some(10_000_000),
        queue_packets: 25,
        loss,
        ..LinkConfig::ideal(Duration::from_millis(15))
    }
}

/// Result of the blackhole scenario.
#[derive(Debug, Clone)]
pub struct BlackholeReport {
    /// Last delivery before the hole opened.
    pub last_before: Duration,
    /// First delivery after the hole closed.
    pub first_after: Duration,
    /// `first_after` minus the end of the hole.
    pub resumed_after: Duration,
    /// Messages delivered (all of them, or the scenario fails).
    pub delivered: u64,
}

/// A steady stream over a 20 Mbit/s, 20 ms link that is blackholed both ways from
/// `hole.0` to `hole.1`.
pub fn blackhole(
    cc: CongestionControl,
    seed: u64,
    hole: (Duration, Duration),
) -> Result<BlackholeReport, ScenarioError> {
    let link = LinkConfig {
        rate_bps: Some(20_000_000),
        queue_packets: 100,
        ..LinkConfig::ideal(Duration::from_millis(20))
    };
    let cfg = TransportConfig::default().congestion(cc);
    let (mut sim, c, s) = connected_pair(seed, cfg.clone(), cfg, link.clone())?;
    let holed = LinkConfig {
        blackholes: vec![hole],
        ..link
    };
    for (a, b) in [(CLIENT, SERVER), (SERVER, CLIENT)] {
        if let Some(l) = sim.link(a, b) {
            l.set_config(holed.clone());
        }
    }
    let ch = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .and_then(|conn| conn.open_channel(b"stream").ok())
        .ok_or(ScenarioError::Closed("could not open a channel".into()))?;
    let total = 8_000;
    let mut stream = Stream::new(seed, total, 100, 2000);
    let (mut rx, mut last_before, mut first_after) = (None, Duration::ZERO, None);
    let mut failure: Option<ScenarioError> = None;
    sim.run(10_000_000, Duration::from_secs(120), |sim| {
        for (_, e) in sim.events(SERVER).into_iter().chain(sim.events(CLIENT)) {
            match e {
                Event::ChannelOpened { channel, .. } => rx = Some(channel),
                Event::Closed(why) => failure = Some(ScenarioError::Closed(why.to_string())),
                _ => {}
            }
        }
        // A steady stream: 5 messages per millisecond of virtual time.
        let budget = (sim.elapsed().as_millis() as u64 * 5).saturating_sub(stream.sent);
        if let Some(conn) = sim.nodes[CLIENT].endpoint.connection(c) {
            let _ = stream.pump(conn, ch, budget);
        }
        if let (Some(r), Some(conn)) = (rx, sim.nodes[SERVER].endpoint.connection(s)) {
            match stream.drain(conn, r) {
                Ok(n) if n > 0 => {
                    let t = sim.elapsed();
                    if t < hole.0 {
                        last_before = t;
                    } else if t >= hole.1 && first_after.is_none() {
                        first_after = Some(t);
                    }
                }
                Ok(_) => {}
                Err(e) => failure = Some(e.into()),
            }
        }
        if failure.is_some() || stream.all_received() {
            Control::Done
        } else {
            Control::Continue
        }
    })?;
    if let Some(f) = failure {
        return Err(f);
    }
    let first_after = first_after.ok_or(ScenarioError::Closed(
        "no delivery after the blackhole".into(),
    ))?;
    Ok(BlackholeReport {
        last_before,
        first_after,
        resumed_after: first_after.saturating_sub(hole.1),
        delivered: stream.received,
    })
}

/// Two verified streams over one connection, one each way, each on its own channel: the
/// drive step of the bidirectional scenarios (adversity, rekey under loss).
#[derive(Debug)]
pub struct Duplex {
    /// Client → server messages.
    pub up: Stream,
    /// Server → client messages.
    pub down: Stream,
    client: ConnectionHandle,
    server: ConnectionHandle,
    client_out: netchan_transport::ChannelId,
    server_out: netchan_transport::ChannelId,
    client_in: Option<netchan_transport::ChannelId>,
    server_in: Option<netchan_transport::ChannelId>,
}

impl Duplex {
    /// Opens a channel on each side of the connection (`CLIENT`/`SERVER` nodes).
    pub fn new(
        sim: &mut Sim,
        client: ConnectionHandle,
        server: ConnectionHandle,
        up: Stream,
        down: Stream,
    ) -> Self {
        let open = |sim: &mut Sim, node: usize, h: ConnectionHandle, label: &[u8]| {
            sim.nodes[node]
                .endpoint
                .connection(h)
                .and_then(|c| c.open_channel(label).ok())
                .expect("open a channel on a live connection")
        };
        let client_out = open(sim, CLIENT, client, b"up");
        let server_out = open(sim, SERVER, server, b"down");
        Self {
            up,
            down,
            client,
            server,
            client_out,
            server_out,
            client_in: None,
            server_in: None,
        }
    }

    /// Handles events (panicking if a connection closes), queues up to 64 messages per
    /// side and verifies everything received. `Done` when both streams are complete.
    pub fn step(&mut self, sim: &mut Sim) -> Control {
        for (node, slot) in [(SERVER, &mut self.server_in), (CLIENT, &mut self.client_in)] {
            for (_, e) in sim.events(node) {
                match e {
                    Event::ChannelOpened { channel, .. } => *slot = Some(channel),
                    Event::Closed(why) => {
                        panic!(
                            "node {node}: connection closed: {why} at {:?}",
                            sim.elapsed()
                        )
                    }
                    _ => {}
                }
            }
        }
        let conn = sim.nodes[CLIENT]
            .endpoint
            .connection(self.client)
            .expect("client connection");
        self.up
            .pump(conn, self.client_out, 64)
            .expect("client send");
        if let Some(ch) = self.client_in {
            self.down.drain(conn, ch).expect("down stream verified");
        }
        let conn = sim.nodes[SERVER]
            .endpoint
            .connection(self.server)
            .expect("server connection");
        self.down
            .pump(conn, self.server_out, 64)
            .expect("server send");
        if let Some(ch) = self.server_in {
            self.up.drain(conn, ch).expect("up stream verified");
        }
        if self.up.all_received() && self.down.all_received() {
            Control::Done
        } else {
            Control::Continue
        }
    }
}
