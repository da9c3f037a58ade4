//! Congestion-control scenarios: small messages at a fixed rate (latency under loss), a
//! bulk flow over a deep buffer (standing queue), and flows sharing one bottleneck
//! (fairness). Each returns a report; the tests in `tests/tests/congestion.rs` assert on
//! them.

use crate::link::LinkConfig;
use crate::scenarios::{CLIENT, SERVER, ScenarioError, connected_pair, endpoint};
use crate::sim::{NodeId, Sim};
use crate::workload::Stream;
use netchan_transport::{
    ChannelId, CongestionControl, Connection, ConnectionHandle, ConnectionStats, Event,
    TransportConfig,
};
use std::time::Duration;

/// Latencies of a paced message stream.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    /// Messages sent.
    pub sent: u64,
    /// One-way latency of every message, from `send` to `recv`, sorted.
    pub latencies: Vec<Duration>,
    /// The sender's connection statistics at the end.
    pub stats: ConnectionStats,
}

impl LatencyReport {
    /// The `q`-quantile (0..=1) of the latencies (zero when nothing arrived).
    pub fn quantile(&self, q: f64) -> Duration {
        quantile(&self.latencies, q)
    }
}

/// The `q`-quantile (0..=1, nearest rank) of sorted durations; zero when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let n = sorted.len();
    if n == 0 {
        return Duration::ZERO;
    }
    let i = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n) - 1;
    sorted[i]
}

/// `per_second` messages of `size` bytes (at least 8: they carry their number) for
/// `duration`, client to server, each one-way latency measured in virtual time.
/// Messages must arrive exactly once and in order.
pub fn paced_messages(
    config: TransportConfig,
    link: LinkConfig,
    per_second: u64,
    size: usize,
    duration: Duration,
    seed: u64,
) -> Result<LatencyReport, ScenarioError> {
    let (mut sim, c, s) = connected_pair(seed, config.clone(), config, link)?;
    let ch = open(&mut sim, CLIENT, c)?;
    let interval = Duration::from_secs(1) / per_second.max(1) as u32;
    let total = (duration.as_secs_f64() * per_second as f64) as u64;
    let start = sim.now;
    let (mut sent, mut rx) = (0u64, None);
    let mut latencies = Vec::with_capacity(total as usize);
    let deadline = duration + Duration::from_secs(30);
    while (latencies.len() as u64) < total {
        if sim.elapsed() > deadline {
            return Err(ScenarioError::Closed(format!(
                "{} of {total} messages arrived in time",
                latencies.len()
            )));
        }
        // Every message due by now is sent now.
        while sent < total && start + interval * sent as u32 <= sim.now {
            let mut msg = vec![0u8; size.max(8)];
            msg[..8].copy_from_slice(&sent.to_le_bytes());
            conn(&mut sim, CLIENT, c)?
                .send(ch, &msg)
                .map_err(|e| ScenarioError::Closed(format!("send: {e}")))?;
            sent += 1;
        }
        let next_due = (start + interval * sent as u32).saturating_duration_since(sim.now);
        sim.step_bounded(Some(next_due.max(Duration::from_micros(1))));
        if rx.is_none() {
            rx = opened(&mut sim, SERVER)?;
        }
        let Some(r) = rx else { continue };
        let now = sim.now;
        let server = conn(&mut sim, SERVER, s)?;
        while let Some(msg) = server.recv(r) {
            let n = msg
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes);
            let expected = latencies.len() as u64;
            if n != Some(expected) {
                return Err(ScenarioError::Closed(format!(
                    "expected message {expected}, got {n:?}"
                )));
            }
            latencies.push(now - (start + interval * expected as u32));
        }
    }
    latencies.sort_unstable();
    let stats = conn(&mut sim, CLIENT, c)?.stats();
    Ok(LatencyReport {
        sent,
        latencies,
        stats,
    })
}

/// A bulk flow's queueing delay at the bottleneck.
#[derive(Debug, Clone)]
pub struct QueueReport {
    /// Twice the one-way delay.
    pub base_rtt: Duration,
    /// Queueing delay sampled every millisecond after the first `warmup`, sorted.
    pub delays: Vec<Duration>,
    /// Payload bits per second delivered over the whole run.
    pub goodput_bps: f64,
    /// The sender's connection statistics at the end.
    pub stats: ConnectionStats,
}

impl QueueReport {
    /// The `q`-quantile of the sampled queueing delay.
    pub fn quantile(&self, q: f64) -> Duration {
        quantile(&self.delays, q)
    }
}

/// A bulk transfer for `duration` over `link` (its rate and queue are the bottleneck),
/// sampling how long the bottleneck queue takes to drain every millisecond after
/// `warmup`.
pub fn standing_queue(
    cc: CongestionControl,
    link: LinkConfig,
    duration: Duration,
    warmup: Duration,
    seed: u64,
) -> Result<QueueReport, ScenarioError> {
    let cfg = TransportConfig::default().congestion(cc);
    let base_rtt = link.latency * 2;
    let (mut sim, c, s) = connected_pair(seed, cfg.clone(), cfg, link)?;
    let ch = open(&mut sim, CLIENT, c)?;
    let mut stream = Stream::new(seed, u64::MAX >> 1, 62_500, 62_500);
    let (mut rx, mut delays) = (None, Vec::new());
    let start = sim.now;
    let mut next_sample = start + warmup;
    while sim.now < start + duration {
        let _ = stream.pump(conn(&mut sim, CLIENT, c)?, ch, 64);
        let until_sample = next_sample.saturating_duration_since(sim.now);
        sim.step_bounded(Some(until_sample.max(Duration::from_micros(1))));
        if sim.now >= next_sample {
            let now = sim.now;
            let link = sim.link(CLIENT, SERVER).expect("client → server link");
            delays.push(link.queue_delay(now));
            next_sample += Duration::from_millis(1);
        }
        if rx.is_none() {
            rx = opened(&mut sim, SERVER)?;
        }
        if let Some(r) = rx {
            stream.drain(conn(&mut sim, SERVER, s)?, r)?;
        }
    }
    delays.sort_unstable();
    let stats = conn(&mut sim, CLIENT, c)?.stats();
    Ok(QueueReport {
        base_rtt,
        delays,
        goodput_bps: stream.bytes_received as f64 * 8.0 / duration.as_secs_f64(),
        stats,
    })
}

/// Flows through one bottleneck.
#[derive(Debug, Clone)]
pub struct ShareReport {
    /// Payload bits per second each flow got over the run.
    pub goodput_bps: Vec<f64>,
    /// Each flow's sender statistics at the end.
    pub stats: Vec<ConnectionStats>,
}

impl ShareReport {
    /// Jain's fairness index of the goodputs: 1 when equal, `1/n` when one flow has all.
    pub fn jain_index(&self) -> f64 {
        let n = self.goodput_bps.len() as f64;
        let sum: f64 = self.goodput_bps.iter().sum();
        let squares: f64 = self.goodput_bps.iter().map(|x| x * x).sum();
        if squares == 0.0 {
            0.0
        } else {
            sum * sum / (n * squares)
        }
    }
}

/// One bulk flow per entry of `flows` (its controller and one-way delay), from its own
/// client node to one server, all through one bottleneck of `rate_bps` with a queue of
/// `queue_packets` datagrams (the client → server links share it; ACKs come back over
/// unshared links of the same delay). All flows start together and run for `duration`.
pub fn shared_bottleneck(
    flows: &[(CongestionControl, Duration)],
    rate_bps: u64,
    queue_packets: usize,
    duration: Duration,
    seed: u64,
) -> Result<ShareReport, ScenarioError> {
    let mut sim = Sim::new(seed);
    let server = sim.add_node(endpoint(seed * 16 + 1, TransportConfig::default()));
    let mut clients: Vec<(NodeId, ConnectionHandle, Option<ChannelId>, Stream)> = Vec::new();
    for (i, &(cc, one_way)) in flows.iter().enumerate() {
        let cfg = TransportConfig::default().congestion(cc);
        let n = sim.add_node(endpoint(seed * 16 + 2 + i as u64, cfg));
        let up = LinkConfig::ideal(one_way).with_rate(rate_bps, queue_packets);
        sim.set_link(n, server, up);
        sim.set_link(server, n, LinkConfig::ideal(one_way));
        if i > 0 {
            sim.share_bottleneck((n, server), (clients[0].0, server));
        }
        let h = sim.connect(n, server);
        let stream = Stream::new(seed + i as u64, u64::MAX >> 1, 62_500, 62_500);
        clients.push((n, h, None, stream));
    }
    // The server's handle of each flow, found by the peer's address.
    let mut inbound: Vec<(ConnectionHandle, ChannelId)> = Vec::new();
    let start = sim.now;
    while sim.now < start + duration {
        for (n, h, ch, stream) in &mut clients {
            let Some(c) = sim.nodes[*n].endpoint.connection(*h) else {
                return Err(ScenarioError::Closed(format!("flow from node {n} closed")));
            };
            if ch.is_none() {
                *ch = c.open_channel(b"bulk").ok();
            }
            if let Some(ch) = *ch {
                let _ = stream.pump(c, ch, 64);
            }
        }
        sim.step_bounded(Some(Duration::from_millis(1)));
        for (h, e) in sim.events(server) {
            match e {
                Event::ChannelOpened { channel, .. } => inbound.push((h, channel)),
                Event::Closed(why) => return Err(ScenarioError::Closed(why.to_string())),
                _ => {}
            }
        }
        for &(h, ch) in &inbound {
            let Some(from) = sim.nodes[server]
                .endpoint
                .connection(h)
                .map(|c| c.remote_address())
            else {
                continue;
            };
            let flow = clients.iter_mut().find(|f| sim.nodes[f.0].addr == from);
            if let (Some(flow), Some(c)) = (flow, sim.nodes[server].endpoint.connection(h)) {
                flow.3.drain(c, ch)?;
            }
        }
    }
    let secs = duration.as_secs_f64();
    let mut report = ShareReport {
        goodput_bps: Vec::new(),
        stats: Vec::new(),
    };
    for (n, h, _, stream) in &mut clients {
        report
            .goodput_bps
            .push(stream.bytes_received as f64 * 8.0 / secs);
        let stats = sim.nodes[*n].endpoint.connection(*h).map(|c| c.stats());
        report.stats.push(stats.unwrap_or_default());
    }
    Ok(report)
}

pub(crate) fn conn(
    sim: &mut Sim,
    node: NodeId,
    h: ConnectionHandle,
) -> Result<&mut Connection, ScenarioError> {
    sim.nodes[node]
        .endpoint
        .connection(h)
        .ok_or_else(|| ScenarioError::Closed(format!("node {node}: connection gone")))
}

fn open(sim: &mut Sim, node: NodeId, h: ConnectionHandle) -> Result<ChannelId, ScenarioError> {
    conn(sim, node, h)?
        .open_channel(b"flow")
        .map_err(|e| ScenarioError::Closed(format!("could not open a channel: {e}")))
}

/// The channel the peer opened, if it did since the last call; a closed connection is
/// an error.
fn opened(sim: &mut Sim, node: NodeId) -> Result<Option<ChannelId>, ScenarioError> {
    let mut found = None;
    for (_, e) in sim.events(node) {
        match e {
            Event::ChannelOpened { channel, .. } => found = found.or(Some(channel)),
            Event::Closed(why) => {
                return Err(ScenarioError::Closed(format!("node {node}: {why}")));
            }
            _ => {}
        }
    }
    Ok(found)
}
