//! Paced message flows over one connection, each on its own channel with its own
//! [`PathMode`], every message's delivery time recorded: the kit of the multipath mode
//! tests (failover gaps, mirror, backup, hedged tail latency, per-channel policy).
//!
//! Each flow sends `per_second` messages of `size` bytes (at least 8: they carry their
//! number) from the client; the server checks that message `n` of a flow is the `n`-th
//! it receives there (so loss, duplication and reordering fail the run) and records when
//! it arrived.

use crate::congestion::conn;
use crate::scenarios::{CLIENT, SERVER, ScenarioError};
use crate::sim::{NodeId, Sim};
use netchan_transport::{ChannelId, ConnectionHandle, Event, PathEvent, PathMode, SendError};
use std::time::Duration;

/// One paced flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// The mode of its channel.
    pub mode: PathMode,
    /// Messages per second.
    pub per_second: u64,
    /// Bytes per message (at least 8).
    pub size: usize,
}

/// What one flow delivered.
#[derive(Debug, Clone, Default)]
pub struct FlowReport {
    /// When message `n` was sent (virtual time since the simulation began).
    pub sent_at: Vec<Duration>,
    /// When message `n` arrived.
    pub arrived_at: Vec<Duration>,
}

impl FlowReport {
    /// One-way latency of every message, sorted.
    pub fn latencies(&self) -> Vec<Duration> {
        let mut l: Vec<Duration> = self
            .arrived_at
            .iter()
            .zip(&self.sent_at)
            .map(|(a, s)| a.saturating_sub(*s))
            .collect();
        l.sort_unstable();
        l
    }

    /// The `q`-quantile (nearest rank) of the one-way latencies; zero when none arrived.
    pub fn latency_quantile(&self, q: f64) -> Duration {
        crate::congestion::quantile(&self.latencies(), q)
    }

    /// The longest time between two consecutive deliveries after `from`, beyond the
    /// interval at which the messages were sent (a flow delivering at its pace has a gap
    /// of zero).
    pub fn max_gap_after(&self, from: Duration) -> Duration {
        self.arrived_at
            .windows(2)
            .zip(self.sent_at.windows(2))
            .filter(|(a, _)| a[1] >= from)
            .map(|(a, s)| (a[1].saturating_sub(a[0])).saturating_sub(s[1].saturating_sub(s[0])))
            .max()
            .unwrap_or_default()
    }

    /// The worst one-way latency of a message sent in `[from, to)`.
    pub fn worst_latency_sent_in(&self, from: Duration, to: Duration) -> Duration {
        self.sent_at
            .iter()
            .zip(&self.arrived_at)
            .filter(|(s, _)| **s >= from && **s < to)
            .map(|(s, a)| a.saturating_sub(*s))
            .max()
            .unwrap_or_default()
    }
}

/// Everything a run of [`run_flows`] saw.
#[derive(Debug, Clone, Default)]
pub struct FlowsReport {
    /// Per flow, in the order given.
    pub flows: Vec<FlowReport>,
    /// Path events of both sides: (virtual time, node, event).
    pub events: Vec<(Duration, NodeId, PathEvent)>,
}

/// Runs `flows` from the client of `(c, s)` for `duration` of virtual time (then waits
/// for the last messages, up to 30 s more); calls `tick` at every step (to sample
/// statistics or act on the connection). Fails if a connection closes or delivery is
/// not exactly once and in order.
pub fn run_flows(
    sim: &mut Sim,
    (c, s): (ConnectionHandle, ConnectionHandle),
    flows: &[Flow],
    duration: Duration,
    mut tick: impl FnMut(&mut Sim),
) -> Result<FlowsReport, ScenarioError> {
    let mut out = Vec::with_capacity(flows.len());
    for (i, f) in flows.iter().enumerate() {
        let conn = conn(sim, CLIENT, c)?;
        let ch = conn
            .open_channel(format!("flow-{i}").as_bytes())
            .map_err(|e| ScenarioError::Closed(format!("could not open a channel: {e}")))?;
        conn.set_channel_mode(ch, f.mode)
            .map_err(|e| ScenarioError::Closed(format!("set_channel_mode: {e}")))?;
        out.push(ch);
    }
    let start = sim.elapsed();
    let totals: Vec<u64> = flows
        .iter()
        .map(|f| (duration.as_secs_f64() * f.per_second as f64) as u64)
        .collect();
    let mut inbound: Vec<Option<ChannelId>> = vec![None; flows.len()];
    let mut report = FlowsReport {
        flows: vec![FlowReport::default(); flows.len()],
        events: Vec::new(),
    };
    let deadline = start + duration + Duration::from_secs(30);
    loop {
        let done = report
            .flows
            .iter()
            .zip(&totals)
            .all(|(r, &t)| r.arrived_at.len() as u64 >= t);
        if done {
            // A little longer: a duplicate of a last message would show now.
            let until = sim.elapsed() + Duration::from_millis(500);
            while sim.elapsed() < until {
                sim.step_bounded(Some(Duration::from_millis(10)));
                take_events(sim, &mut report.events, &mut inbound)?;
                receive(sim, s, &inbound, &mut report.flows)?;
            }
            return Ok(report);
        }
        if sim.elapsed() > deadline {
            let got: Vec<usize> = report.flows.iter().map(|r| r.arrived_at.len()).collect();
            return Err(ScenarioError::Closed(format!(
                "flows incomplete at the deadline: {got:?} of {totals:?}"
            )));
        }
        let next = send_due(sim, c, (flows, &out, &totals), start, &mut report.flows)?;
        sim.step_bounded(Some(next.max(Duration::from_micros(1))));
        take_events(sim, &mut report.events, &mut inbound)?;
        receive(sim, s, &inbound, &mut report.flows)?;
        tick(sim);
    }
}

/// Sends every message due by now; returns the time until the next one is due.
fn send_due(
    sim: &mut Sim,
    c: ConnectionHandle,
    (flows, channels, totals): (&[Flow], &[ChannelId], &[u64]),
    start: Duration,
    reports: &mut [FlowReport],
) -> Result<Duration, ScenarioError> {
    let now = sim.elapsed();
    let mut next = Duration::from_secs(1);
    for (i, f) in flows.iter().enumerate() {
        let interval = Duration::from_secs(1) / f.per_second.max(1) as u32;
        let r = &mut reports[i];
        while (r.sent_at.len() as u64) < totals[i] {
            let n = r.sent_at.len() as u64;
            let due = start + interval * n as u32;
            if due > now {
                next = next.min(due - now);
                break;
            }
            let mut msg = vec![0u8; f.size.max(8)];
            msg[..8].copy_from_slice(&n.to_le_bytes());
            match conn(sim, CLIENT, c)?.send(channels[i], &msg) {
                Ok(()) => r.sent_at.push(due),
                // Backpressure: the message waits (its latency counts from when it was due).
                Err(SendError::Blocked) => {
                    next = next.min(Duration::from_millis(1));
                    break;
                }
                Err(e) => return Err(ScenarioError::Closed(format!("send: {e}"))),
            }
        }
    }
    Ok(next)
}

/// Both sides' events: path events recorded, the server's channels matched to flows by
/// label, a closed connection an error.
fn take_events(
    sim: &mut Sim,
    events: &mut Vec<(Duration, NodeId, PathEvent)>,
    inbound: &mut [Option<ChannelId>],
) -> Result<(), ScenarioError> {
    let now = sim.elapsed();
    for node in [CLIENT, SERVER] {
        for (_, e) in sim.events(node) {
            match e {
                Event::Path(p) => events.push((now, node, p)),
                Event::ChannelOpened { channel, label } if node == SERVER => {
                    let i = std::str::from_utf8(&label)
                        .ok()
                        .and_then(|l| l.strip_prefix("flow-"))
                        .and_then(|n| n.parse::<usize>().ok());
                    if let Some(slot) = i.and_then(|i| inbound.get_mut(i)) {
                        *slot = Some(channel);
                    }
                }
                Event::Closed(why) => {
                    return Err(ScenarioError::Closed(format!("node {node}: {why}")));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Takes what arrived on every flow's channel, checking the order.
fn receive(
    sim: &mut Sim,
    s: ConnectionHandle,
    inbound: &[Option<ChannelId>],
    reports: &mut [FlowReport],
) -> Result<(), ScenarioError> {
    let now = sim.elapsed();
    let server = conn(sim, SERVER, s)?;
    for (i, ch) in inbound.iter().enumerate() {
        let Some(ch) = *ch else { continue };
        let r = &mut reports[i];
        while let Some(msg) = server.recv(ch) {
            let n = msg
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes);
            let expected = r.arrived_at.len() as u64;
            if n != Some(expected) {
                return Err(ScenarioError::Closed(format!(
                    "flow {i}: expected message {expected}, got {n:?}"
                )));
            }
            r.arrived_at.push(now);
        }
    }
    Ok(())
}
