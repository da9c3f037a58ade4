//! Results: the JSON object of a run (`--json FILE`, one object per line) and its
//! human-readable form.
//!
//! The JSON contract (other tools rely on it; `tests/json_contract.rs` checks it):
//! `transport`, `workload`, `mode`, `paths` (each with `spec`, `rate_mbps` (null when
//! unlimited), `delay_ms`, `jitter_ms`, `loss_pct`, `reorder_pct`), `events`, `duration_s`,
//! `size_bytes`, `rate_msgs_per_s` (null = flat out), `goodput_mbps`, `capacity_mbps` (sum
//! of the path rates; null when a path is unlimited), `messages_sent`,
//! `messages_delivered`, `duplicates`, `out_of_order`, `lost`, `latency_us` {`p50`, `p90`,
//! `p99`, `max`} (one-way; round trip for `pingpong`; null if nothing arrived),
//! `max_stall_ms`, `cpu_s` (both endpoints, emulator excluded), `peak_rss_mb` (the whole
//! process), `description`, `emulator` (per path and direction: datagrams `sent`,
//! `delivered`, `lost_random`, `dropped_queue`, `dropped_blackhole`, and `bytes_sent`,
//! `bytes_delivered`: UDP payload for netchan, whole IP packets for the kernel
//! baselines; the bottleneck also charges each UDP datagram 28 header bytes), `controller` (the
//! congestion controller: netchan's, or the kernel's for TCP), `transport_stats` (netchan
//! only, null for TCP: `up` and `down`, each as its sending node saw it: `srtt_ms`,
//! `min_rtt_ms`, `cwnd_bytes`, `bandwidth_mbps` (BBR's bottleneck estimate, else the
//! latest delivery rate), `packets_sent`, `declared_lost`, `spurious_losses`).

use crate::conn::SenderStats;
use crate::spec::PathSpec;
use crate::workload::{Outcome, Percentiles, RunSpec};
use netchan_tests::link::LinkStats;
use serde::Serialize;

/// One path in the JSON.
#[derive(Debug, Clone, Serialize)]
pub struct PathJson {
    /// The spec as given (normalised).
    pub spec: String,
    /// Bottleneck rate, Mbit/s (null: unlimited).
    pub rate_mbps: Option<f64>,
    /// One-way delay, ms.
    pub delay_ms: f64,
    /// Jitter, ms.
    pub jitter_ms: f64,
    /// Random loss, percent.
    pub loss_pct: f64,
    /// Reordering, percent.
    pub reorder_pct: f64,
}

impl From<&PathSpec> for PathJson {
    fn from(p: &PathSpec) -> Self {
        PathJson {
            spec: p.to_string(),
            rate_mbps: p.rate_bps.map(|r| r as f64 / 1e6),
            delay_ms: p.delay.as_secs_f64() * 1e3,
            jitter_ms: p.jitter.as_secs_f64() * 1e3,
            loss_pct: p.loss * 100.0,
            reorder_pct: p.reorder * 100.0,
        }
    }
}

/// What the emulator did on one direction of a path.
#[derive(Debug, Clone, Serialize)]
pub struct LinkJson {
    /// Datagrams offered to the link.
    pub sent: u64,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Dropped by random loss.
    pub lost_random: u64,
    /// Dropped because the bottleneck queue was full.
    pub dropped_queue: u64,
    /// Dropped by a blackhole.
    pub dropped_blackhole: u64,
    /// Bytes offered to the link (datagram lengths: UDP payload for netchan, whole IP
    /// packets for the kernel baselines).
    pub bytes_sent: u64,
    /// Bytes delivered.
    pub bytes_delivered: u64,
}

impl From<&LinkStats> for LinkJson {
    fn from(s: &LinkStats) -> Self {
        LinkJson {
            sent: s.sent,
            delivered: s.delivered,
            lost_random: s.lost_random + s.lost_bursty,
            dropped_queue: s.dropped_queue,
            dropped_blackhole: s.dropped_blackhole,
            bytes_sent: s.bytes_sent,
            bytes_delivered: s.bytes_delivered,
        }
    }
}

/// Emulator figures of one path.
#[derive(Debug, Clone, Serialize)]
pub struct EmuJson {
    /// Client → server.
    pub up: LinkJson,
    /// Server → client.
    pub down: LinkJson,
}

/// The JSON object of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `netchan` or `tcp`.
    pub transport: String,
    /// The workload.
    pub workload: String,
    /// The multipath mode.
    pub mode: String,
    /// The transport in words.
    pub description: String,
    /// The paths.
    pub paths: Vec<PathJson>,
    /// The events, as given.
    pub events: Vec<String>,
    /// Duration of the workload, s.
    pub duration_s: f64,
    /// Message size, bytes.
    pub size_bytes: usize,
    /// Offered message rate (null: flat out).
    pub rate_msgs_per_s: Option<f64>,
    /// Payload Mbit/s delivered within the duration.
    pub goodput_mbps: f64,
    /// Sum of the path rates, Mbit/s (null: some path unlimited).
    pub capacity_mbps: Option<f64>,
    /// Messages sent.
    pub messages_sent: u64,
    /// Distinct messages delivered.
    pub messages_delivered: u64,
    /// Messages delivered more than once.
    pub duplicates: u64,
    /// Messages delivered out of order.
    pub out_of_order: u64,
    /// Messages never delivered.
    pub lost: u64,
    /// Latency percentiles, µs.
    pub latency_us: Option<Percentiles>,
    /// Longest gap between deliveries, ms.
    pub max_stall_ms: f64,
    /// CPU seconds of both endpoints.
    pub cpu_s: f64,
    /// Peak RSS of the process, MB.
    pub peak_rss_mb: f64,
    /// Emulator figures per path (null for a `direct` path).
    pub emulator: Vec<Option<EmuJson>>,
    /// The congestion controller (netchan's, or the kernel's for TCP).
    pub controller: String,
    /// netchan's own figures per direction at the end of the workload (null for TCP).
    pub transport_stats: Option<TransportJson>,
}

/// netchan's transport figures, as each sending node saw them.
#[derive(Debug, Clone, Serialize)]
pub struct TransportJson {
    /// Client → server.
    pub up: SenderStats,
    /// Server → client.
    pub down: SenderStats,
}

impl Report {
    /// Builds the report of a run.
    pub fn new(spec: &RunSpec, o: &Outcome) -> Report {
        let capacity = spec.capacity_bps().map(|c| c / 1e6);
        let streams = !matches!(
            spec.workload,
            crate::workload::Workload::Bulk | crate::workload::Workload::PingPong
        );
        Report {
            transport: spec.transport.name().into(),
            workload: spec.workload.to_string(),
            mode: spec.mode.clone(),
            description: o.description.clone(),
            paths: spec.paths.iter().map(PathJson::from).collect(),
            events: spec.events.iter().map(|e| e.to_string()).collect(),
            duration_s: spec.duration.as_secs_f64(),
            size_bytes: spec.size,
            rate_msgs_per_s: (streams && spec.rate > 0.0).then_some(spec.rate),
            goodput_mbps: o.goodput_bps / 1e6,
            capacity_mbps: capacity,
            messages_sent: o.sent,
            messages_delivered: o.delivered,
            duplicates: o.duplicates,
            out_of_order: o.out_of_order,
            lost: o.lost,
            latency_us: o.latency_us,
            max_stall_ms: o.max_stall.as_secs_f64() * 1e3,
            cpu_s: o.cpu_s,
            peak_rss_mb: o.peak_rss_mb,
            emulator: o
                .link_stats
                .iter()
                .map(|s| {
                    s.as_ref().map(|(u, d)| EmuJson {
                        up: u.into(),
                        down: d.into(),
                    })
                })
                .collect(),
            controller: o.controller.clone(),
            transport_stats: o
                .sender_stats
                .clone()
                .map(|(up, down)| TransportJson { up, down }),
        }
    }

    /// One line of JSON.
    pub fn to_json_line(&self) -> String {
        // Serialising plain numbers and strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The human-readable block printed after a run.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} {} (mode {}) over {} for {} s\n  transport      {}\n",
            self.transport,
            self.workload,
            self.mode,
            self.paths
                .iter()
                .map(|p| p.spec.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            self.duration_s,
            self.description
        );
        if !self.events.is_empty() {
            s += &format!("  events         {}\n", self.events.join(", "));
        }
        s += &format!("  goodput        {:.2} Mbit/s", self.goodput_mbps);
        if let Some(c) = self.capacity_mbps {
            s += &format!(
                " = {:.1}% of the {c} Mbit/s capacity",
                self.goodput_mbps / c * 100.0
            );
        }
        s += &format!(
            "\n  messages       {} sent, {} delivered ({:.0}/s), {} lost, {} duplicates, {} out of order\n",
            self.messages_sent,
            self.messages_delivered,
            self.messages_delivered as f64 / self.duration_s,
            self.lost,
            self.duplicates,
            self.out_of_order
        );
        let what = if self.workload == "pingpong" {
            "round trip"
        } else {
            "one-way"
        };
        match &self.latency_us {
            Some(l) => {
                s += &format!(
                    "  latency        {what}: p50 {}, p90 {}, p99 {}, max {}\n",
                    fmt_us(l.p50),
                    fmt_us(l.p90),
                    fmt_us(l.p99),
                    fmt_us(l.max)
                )
            }
            None => s += "  latency        nothing delivered\n",
        }
        s += &format!(
            "  longest stall  {:.1} ms\n  cpu            {:.2} s (both endpoints), peak RSS {:.0} MB\n",
            self.max_stall_ms, self.cpu_s, self.peak_rss_mb
        );
        for (i, e) in self.emulator.iter().enumerate() {
            let Some(e) = e else { continue };
            s += &format!(
                "  emulator p{i}    up: {} datagrams ({:.1} MB), {} random loss, {} queue drops, {} blackholed; down: {} datagrams ({:.1} MB), {} random loss, {} queue drops, {} blackholed\n",
                e.up.sent,
                e.up.bytes_sent as f64 / 1e6,
                e.up.lost_random,
                e.up.dropped_queue,
                e.up.dropped_blackhole,
                e.down.sent,
                e.down.bytes_sent as f64 / 1e6,
                e.down.lost_random,
                e.down.dropped_queue,
                e.down.dropped_blackhole
            );
        }
        if let Some(t) = &self.transport_stats {
            for (dir, d) in [("up", &t.up), ("down", &t.down)] {
                s += &format!(
                    "  {:<14} {dir}: srtt {:.1} ms, min rtt {:.1} ms, cwnd {} B, bw est. {:.1} Mbit/s, {} packets, {} declared lost ({} spurious)\n",
                    self.controller,
                    d.srtt_ms,
                    d.min_rtt_ms,
                    d.cwnd_bytes,
                    d.bandwidth_mbps,
                    d.packets_sent,
                    d.declared_lost,
                    d.spurious_losses
                );
            }
        }
        s
    }
}

/// `812 µs`, `12.3 ms`, `1.20 s`.
pub fn fmt_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}
