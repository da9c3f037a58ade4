//! The workloads: `bulk`, `messages`, `pingpong` and `failover`, written once over the
//! message pipes of [`crate::conn`] so that netchan and TCP run exactly the same code.
//!
//! Every message starts with a 16-byte header (sequence number, send time in ns since the
//! start of the workload); the rest is padding up to `--size`. The receiver checks the
//! sequence numbers (duplicates, out-of-order, lost) and measures one-way latency with the
//! same clock (both ends live in this process).

use crate::conn::{Conn, MsgRecv, MsgSend, SenderStats, Transport, connect};
use crate::emu::BUCKET;
use crate::spec::{Event, EventKind, PathSpec};
use hdrhistogram::Histogram;
use netchan_tests::link::LinkStats;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Large messages flat out: goodput.
    Bulk,
    /// Small messages at `--rate` (or flat out): delivered rate and one-way latency.
    Messages,
    /// One message at a time, echoed back: round-trip latency.
    PingPong,
    /// A steady stream while a path blackholes: stall and loss.
    Failover,
}

impl Workload {
    /// Parses a workload name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bulk" => Workload::Bulk,
            "messages" => Workload::Messages,
            "pingpong" => Workload::PingPong,
            "failover" => Workload::Failover,
            _ => return None,
        })
    }

    /// The default message size.
    pub fn default_size(self) -> usize {
        match self {
            Workload::Bulk => 256 << 10,
            _ => 64,
        }
    }

    /// The default rate (messages/s, 0 = flat out).
    pub fn default_rate(self) -> f64 {
        match self {
            Workload::Failover => 1000.0,
            _ => 0.0,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::Bulk => "bulk",
            Workload::Messages => "messages",
            Workload::PingPong => "pingpong",
            Workload::Failover => "failover",
        })
    }
}

/// One run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// netchan or TCP.
    pub transport: Transport,
    /// What to run.
    pub workload: Workload,
    /// `single` (one path), or a multipath mode of netchan over every path: `stripe`,
    /// `mirror`, `parity`, `hedged`, `backup`.
    pub mode: String,
    /// The paths.
    pub paths: Vec<PathSpec>,
    /// Scripted events.
    pub events: Vec<Event>,
    /// How long the workload sends.
    pub duration: Duration,
    /// Message size in bytes (at least 16).
    pub size: usize,
    /// Messages per second (0 = flat out; ignored by `bulk` and `pingpong`).
    pub rate: f64,
    /// Seed of the emulator's randomness.
    pub seed: u64,
    /// The congestion controller (`None`: the transport's default; TCP uses the
    /// kernel's controller of the same name).
    pub cc: Option<netchan::CongestionControl>,
    /// Print progress to stderr every second.
    pub progress: bool,
}

impl RunSpec {
    /// The sum of the paths' rates, bits/s (`None` if one is unlimited).
    pub fn capacity_bps(&self) -> Option<f64> {
        self.paths
            .iter()
            .map(|p| p.rate_bps.map(|r| r as f64))
            .sum()
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The transport in words.
    pub description: String,
    /// Messages handed to the transport before the deadline.
    pub sent: u64,
    /// Distinct messages delivered (during the run and the drain after it).
    pub delivered: u64,
    /// Messages delivered more than once.
    pub duplicates: u64,
    /// Messages delivered after one with a higher sequence number.
    pub out_of_order: u64,
    /// Messages sent but never delivered (after a drain of up to 5 s + 4 delays).
    pub lost: u64,
    /// Payload bits/s delivered within the run's duration.
    pub goodput_bps: f64,
    /// One-way latency (round trip for `pingpong`), if any message arrived.
    pub latency_us: Option<Percentiles>,
    /// Longest gap between two deliveries.
    pub max_stall: Duration,
    /// CPU seconds of both endpoints (the emulator's threads excluded).
    pub cpu_s: f64,
    /// Peak resident memory of the process, MB.
    pub peak_rss_mb: f64,
    /// Payload bytes delivered per [`BUCKET`].
    pub goodput_series: Vec<u64>,
    /// Highest latency (µs) per [`BUCKET`] (`None`: nothing delivered in it).
    pub latency_series: Vec<Option<u64>>,
    /// Wire bytes the emulator delivered per [`BUCKET`] and path, client → server.
    pub path_series: Vec<Vec<u64>>,
    /// Emulator statistics per path (client → server, server → client); `None` for a
    /// `direct` path.
    pub link_stats: Vec<Option<(LinkStats, LinkStats)>>,
    /// The congestion controller that ran.
    pub controller: String,
    /// netchan's transport figures at the end of the workload (client → server, server
    /// → client); `None` for TCP.
    pub sender_stats: Option<(SenderStats, SenderStats)>,
}

const HEADER: usize = 16;

fn message(seq: u64, t_ns: u64, size: usize) -> Vec<u8> {
    let mut m = vec![0u8; size.max(HEADER)];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m[8..16].copy_from_slice(&t_ns.to_le_bytes());
    m
}

fn header(m: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_le_bytes(m.get(..8)?.try_into().ok()?);
    let t = u64::from_le_bytes(m.get(8..16)?.try_into().ok()?);
    Some((seq, t))
}

fn nanos_since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// Receiver-side bookkeeping.
struct Tally {
    epoch: Instant,
    window_end: Instant,
    seen: Vec<u64>,
    highest: Option<u64>,
    delivered: u64,
    duplicates: u64,
    out_of_order: u64,
    bytes_in_window: u64,
    hist: Histogram<u64>,
    last: Option<Instant>,
    max_stall: Duration,
    goodput: Vec<u64>,
    latency: Vec<Option<u64>>,
    live: Arc<Live>,
}

/// Counters the progress printer reads.
#[derive(Default)]
struct Live {
    delivered: AtomicU64,
    bytes: AtomicU64,
    sent: AtomicU64,
}

impl Tally {
    fn new(epoch: Instant, duration: Duration, live: Arc<Live>) -> Self {
        Tally {
            epoch,
            window_end: epoch + duration,
            seen: Vec::new(),
            highest: None,
            delivered: 0,
            duplicates: 0,
            out_of_order: 0,
            bytes_in_window: 0,
            // 1 µs .. 1 hour, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            last: None,
            max_stall: Duration::ZERO,
            goodput: Vec::new(),
            latency: Vec::new(),
            live,
        }
    }

    fn on_message(&mut self, m: &[u8], now: Instant) {
        let Some((seq, t_ns)) = header(m) else {
            return;
        };
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word > 1 << 26 {
            return; // not a sequence number this run produced
        }
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= 1 << bit;
        self.delivered += 1;
        if self.highest.is_some_and(|h| seq < h) {
            self.out_of_order += 1;
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        let lat_us = nanos_since(self.epoch, now).saturating_sub(t_ns) / 1000;
        let _ = self.hist.record(lat_us.clamp(1, 3_600_000_000));
        if let Some(last) = self.last {
            self.max_stall = self.max_stall.max(now - last);
        }
        self.last = Some(now);
        let b = (nanos_since(self.epoch, now) / BUCKET.as_nanos() as u64) as usize;
        if now <= self.window_end {
            self.bytes_in_window += m.len() as u64;
            if self.goodput.len() <= b {
                self.goodput.resize(b + 1, 0);
                self.latency.resize(b + 1, None);
            }
            self.goodput[b] += m.len() as u64;
            self.latency[b] = Some(self.latency[b].map_or(lat_us, |l| l.max(lat_us)));
        }
        self.live.delivered.fetch_add(1, Ordering::Relaxed);
        self.live.bytes.fetch_add(m.len() as u64, Ordering::Relaxed);
    }

    fn percentiles(&self) -> Option<Percentiles> {
        (!self.hist.is_empty()).then(|| Percentiles {
            p50: self.hist.value_at_quantile(0.50) as f64,
            p90: self.hist.value_at_quantile(0.90) as f64,
            p99: self.hist.value_at_quantile(0.99) as f64,
            max: self.hist.max() as f64,
        })
    }
}

/// CPU seconds (user + system) of this process so far, and its peak RSS in MB.
fn process_usage() -> (f64, f64) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        if let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) {
            let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            return (
                tv(u.user_time()) + tv(u.system_time()),
                u.max_rss() as f64 / 1024.0,
            );
        }
    }
    (0.0, 0.0)
}

/// Sends messages until the deadline (paced at `rate` if non-zero).
fn send_stream(
    mut tx: Box<dyn MsgSend>,
    epoch: Instant,
    deadline: Instant,
    size: usize,
    rate: f64,
    live: &Live,
) -> Result<(), String> {
    let mut seq = 0u64;
    loop {
        // Paced: the message's time is when it was due, not when the transport took it,
        // so time spent blocked in `send` (backpressure, a dead path) counts as latency
        // (no coordinated omission).
        let stamp = if rate > 0.0 {
            let due = epoch + Duration::from_secs_f64(seq as f64 / rate);
            if due >= deadline {
                return Ok(());
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            due
        } else {
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            now
        };
        tx.send(message(seq, nanos_since(epoch, stamp), size))?;
        seq += 1;
        live.sent.store(seq, Ordering::Release);
    }
}

/// Receives until the deadline, then drains until every sent message arrived (the sender
/// must be done: `sender_done`) or the drain limit passes.
fn receive_stream(
    rx: &mut dyn MsgRecv,
    tally: &mut Tally,
    drain_until: Instant,
    sender_done: &AtomicBool,
) -> Result<(), String> {
    loop {
        let now = Instant::now();
        if now >= tally.window_end
            && sender_done.load(Ordering::Acquire)
            && tally.delivered >= tally.live.sent.load(Ordering::Acquire)
        {
            return Ok(());
        }
        if now >= drain_until {
            return Ok(());
        }
        match rx.recv(Duration::from_millis(50))? {
            Some(m) => tally.on_message(&m, Instant::now()),
            None => continue,
        }
    }
}

/// Prints a line per second while `running`.
fn progress(spec: &RunSpec, epoch: Instant, live: Arc<Live>, running: Arc<AtomicBool>) {
    let total = spec.duration.as_secs_f64();
    let name = format!("{} {} {}", spec.transport.name(), spec.workload, spec.mode);
    std::thread::spawn(move || {
        let mut last_bytes = 0;
        let mut tick = 1;
        while running.load(Ordering::Relaxed) {
            let due = epoch + Duration::from_secs(tick);
            let now = Instant::now();
            if due > now {
                std::thread::sleep((due - now).min(Duration::from_millis(100)));
                continue;
            }
            let bytes = live.bytes.load(Ordering::Relaxed);
            let t = tick as f64;
            let phase = if t > total { " (draining)" } else { "" };
            eprintln!(
                "  [{t:>4.0} s / {total:.0} s] {name}: {:.2} Mbit/s, {} msgs delivered{phase}",
                (bytes - last_bytes) as f64 * 8.0 / 1e6,
                live.delivered.load(Ordering::Relaxed)
            );
            last_bytes = bytes;
            tick += 1;
        }
    });
}

/// The longest one-way delay over the paths (for drain limits).
fn max_delay(paths: &[PathSpec]) -> Duration {
    paths
        .iter()
        .map(|p| p.delay + p.jitter + p.reorder_delay)
        .fold(Duration::ZERO, Duration::max)
}

/// Checks the spec, connects and runs it.
pub fn run(spec: &RunSpec) -> Result<Outcome, String> {
    validate(spec)?;
    // Both transports get the same low-latency wake-ups, emulated path or not.
    let _latency = crate::emu::LowLatency::request();
    let mode = multipath_mode(&spec.mode);
    let mut conn = connect(
        spec.transport,
        &spec.paths,
        spec.size,
        spec.seed,
        (spec.cc, mode),
    )
    .map_err(|e| format!("setting up {}: {e}", spec.transport.name()))?;
    let emu_cpu0 = conn.emulator.as_ref().map_or(0, |e| e.cpu_ns());
    let (cpu0, _) = process_usage();
    let epoch = Instant::now();
    if let Some(e) = &conn.emulator {
        e.begin(epoch, &spec.events);
    }
    let live = Arc::new(Live::default());
    let running = Arc::new(AtomicBool::new(true));
    if spec.progress {
        progress(spec, epoch, live.clone(), running.clone());
    }
    let mut tally = Tally::new(epoch, spec.duration, live.clone());
    let result = match spec.workload {
        Workload::PingPong => pingpong(&mut conn, spec, &mut tally),
        _ => stream(&mut conn, spec, &mut tally),
    };
    running.store(false, Ordering::Relaxed);
    let (cpu1, rss) = process_usage();
    let emu_cpu1 = conn.emulator.as_ref().map_or(0, |e| e.cpu_ns());
    let sender_stats = conn.sender_stats();
    conn.abort();
    result?;
    let (mut path_series, mut link_stats) = (Vec::new(), Vec::new());
    for (i, p) in spec.paths.iter().enumerate() {
        let emulated = conn.emulator.as_ref().and_then(|e| e.paths.get(i));
        match emulated.filter(|_| !p.direct) {
            Some(e) => {
                let stats = |c: &crate::emu::DirectionCounters| {
                    c.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
                };
                path_series.push(
                    e.up.series
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                );
                link_stats.push(Some((stats(&e.up), stats(&e.down))));
            }
            None => {
                path_series.push(Vec::new());
                link_stats.push(None);
            }
        }
    }
    let sent = live.sent.load(Ordering::Acquire);
    Ok(Outcome {
        description: conn.description.clone(),
        sent,
        delivered: tally.delivered,
        duplicates: tally.duplicates,
        out_of_order: tally.out_of_order,
        lost: sent.saturating_sub(tally.delivered),
        goodput_bps: tally.bytes_in_window as f64 * 8.0 / spec.duration.as_secs_f64(),
        latency_us: tally.percentiles(),
        max_stall: tally.max_stall,
        cpu_s: (cpu1 - cpu0 - (emu_cpu1.saturating_sub(emu_cpu0)) as f64 / 1e9).max(0.0),
        peak_rss_mb: rss,
        goodput_series: tally.goodput.clone(),
        latency_series: tally.latency.clone(),
        path_series,
        link_stats,
        controller: conn.controller.clone(),
        sender_stats,
    })
}

/// The netchan multipath mode `mode` names (`None` for `single` or an unknown name).
pub fn multipath_mode(mode: &str) -> Option<netchan::PathMode> {
    mode.parse().ok()
}

fn validate_netchan_mode(spec: &RunSpec) -> Result<(), String> {
    let n = spec.paths.len();
    match (spec.mode.as_str(), multipath_mode(&spec.mode)) {
        ("single", _) if n != 1 => Err(format!(
            "mode `single` uses exactly one path; {n} were given (a multipath mode such as \
             `--mode stripe` uses them all)"
        )),
        ("single", _) => Ok(()),
        (m, Some(_)) if n < 2 => Err(format!(
            "mode `{m}` spreads traffic over several paths; give at least two `--path`s"
        )),
        (_, Some(_)) => Ok(()),
        (m, None) => Err(format!(
            "unknown mode `{m}` (modes: single, stripe, mirror, parity, hedged, backup)"
        )),
    }
}

fn validate_tcp_mode(spec: &RunSpec) -> Result<(), String> {
    if spec.mode != "single" {
        return Err(format!(
            "mode `{}` is multipath; transport `tcp` runs `single` only (kernel \
             multipath: `--transport mptcp`)",
            spec.mode
        ));
    }
    if spec.paths.len() != 1 {
        return Err("--transport tcp runs over exactly one path".into());
    }
    Ok(())
}

fn validate_mptcp_mode(spec: &RunSpec) -> Result<(), String> {
    let n = spec.paths.len();
    if !matches!(spec.mode.as_str(), "stripe" | "backup") {
        return Err(format!(
            "transport `mptcp` runs mode `stripe` (the kernel's default scheduler) or \
             `backup` (the subflows beyond the first standby), not `{}`",
            spec.mode
        ));
    }
    if !(2..=crate::netns::MAX_PATHS).contains(&n) {
        return Err(format!(
            "transport `mptcp` runs over 2 to {} paths, not {n}",
            crate::netns::MAX_PATHS
        ));
    }
    if spec.paths.iter().any(|p| p.direct) {
        return Err(
            "transport `mptcp` runs over emulated paths only (not `direct`): each path is \
             a TUN pair between two network namespaces"
                .into(),
        );
    }
    Ok(())
}

/// Refuses what cannot run, with a message saying why.
pub fn validate(spec: &RunSpec) -> Result<(), String> {
    match spec.transport {
        Transport::Netchan => validate_netchan_mode(spec)?,
        Transport::Tcp => validate_tcp_mode(spec)?,
        Transport::Mptcp => validate_mptcp_mode(spec)?,
    }
    for e in &spec.events {
        if e.path >= spec.paths.len() {
            return Err(format!(
                "event `{e}` names path {}, which does not exist",
                e.path
            ));
        }
        if spec.paths[e.path].direct {
            return Err(format!(
                "event `{e}`: path {} is `direct` (no emulator), so it cannot change",
                e.path
            ));
        }
    }
    if spec.duration.is_zero() {
        return Err("--duration must be positive".into());
    }
    if spec.size < HEADER {
        return Err(format!(
            "--size must be at least {HEADER} bytes (the message header)"
        ));
    }
    if spec.size > 16 << 20 {
        return Err("--size must be at most 16 MiB (netchan's default message limit)".into());
    }
    Ok(())
}

/// `bulk`, `messages`, `failover`: a stream client → server.
fn stream(conn: &mut Conn, spec: &RunSpec, tally: &mut Tally) -> Result<(), String> {
    let (tx, mut rx) = conn.up.take().ok_or("pipes already used")?;
    let epoch = tally.epoch;
    let deadline = tally.window_end;
    let rate = if spec.workload == Workload::Bulk {
        0.0
    } else {
        spec.rate
    };
    let size = spec.size;
    let done = Arc::new(AtomicBool::new(false));
    let live = tally.live.clone();
    let d2 = done.clone();
    let sender = std::thread::spawn(move || {
        let r = send_stream(tx, epoch, deadline, size, rate, &live);
        d2.store(true, Ordering::Release);
        // A send that fails after the deadline was cut short by the abort at the end.
        r.or_else(|e| {
            if Instant::now() < deadline {
                Err(e)
            } else {
                Ok(())
            }
        })
    });
    let events_end = spec
        .events
        .iter()
        .map(|e| match e.kind {
            EventKind::Blackhole { end } => end,
            _ => e.at,
        })
        .max()
        .unwrap_or_default();
    let drain = Duration::from_secs(5) + max_delay(&spec.paths) * 4;
    let drain_until = deadline.max(epoch + events_end) + drain;
    let r = receive_stream(rx.as_mut(), tally, drain_until, &done);
    conn.abort();
    let s = sender
        .join()
        .map_err(|_| "the sending thread panicked".to_string())?;
    r?;
    s
}

/// `pingpong`: one message at a time, echoed by the server.
fn pingpong(conn: &mut Conn, spec: &RunSpec, tally: &mut Tally) -> Result<(), String> {
    let (mut ping_tx, mut ping_rx) = conn.up.take().ok_or("pipes already used")?;
    let (mut pong_tx, mut pong_rx) = conn.down.take().ok_or("pipes already used")?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let echo = std::thread::spawn(move || -> Result<(), String> {
        while !stop2.load(Ordering::Relaxed) {
            if let Some(m) = ping_rx.recv(Duration::from_millis(50))? {
                pong_tx.send(m)?;
            }
        }
        Ok(())
    });
    let epoch = tally.epoch;
    let mut seq = 0u64;
    let mut result = Ok(());
    while Instant::now() < tally.window_end {
        let sent_at = nanos_since(epoch, Instant::now());
        if let Err(e) = ping_tx.send(message(seq, sent_at, spec.size)) {
            result = Err(e);
            break;
        }
        seq += 1;
        tally.live.sent.store(seq, Ordering::Release);
        // Wait for this pong (stale ones from a timed-out round are counted too).
        let wait_until = Instant::now() + Duration::from_secs(5) + max_delay(&spec.paths) * 4;
        loop {
            let left = wait_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match pong_rx.recv(left.min(Duration::from_millis(100))) {
                Ok(Some(m)) => {
                    tally.on_message(&m, Instant::now());
                    if header(&m).is_some_and(|(s, _)| s + 1 == seq) {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_err() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    conn.abort();
    let _ = echo.join();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: &str, paths: usize, transport: Transport) -> RunSpec {
        RunSpec {
            transport,
            workload: Workload::Bulk,
            mode: mode.into(),
            paths: (0..paths)
                .map(|_| PathSpec::parse("rate=10mbit,delay=5ms").expect("path"))
                .collect(),
            events: Vec::new(),
            duration: Duration::from_secs(1),
            size: 1 << 16,
            rate: 0.0,
            seed: 1,
            cc: None,
            progress: false,
        }
    }

    #[test]
    fn modes_and_path_counts() {
        assert!(validate(&spec("single", 1, Transport::Netchan)).is_ok());
        assert!(validate(&spec("single", 2, Transport::Netchan)).is_err());
        for m in ["stripe", "mirror", "parity", "hedged", "backup"] {
            assert!(validate(&spec(m, 2, Transport::Netchan)).is_ok(), "{m}");
            assert!(validate(&spec(m, 1, Transport::Netchan)).is_err(), "{m}");
            assert!(validate(&spec(m, 2, Transport::Tcp)).is_err(), "{m}");
            let mptcp = validate(&spec(m, 2, Transport::Mptcp));
            assert_eq!(
                mptcp.is_ok(),
                m == "stripe" || m == "backup",
                "{m}: {mptcp:?}"
            );
            assert!(validate(&spec(m, 1, Transport::Mptcp)).is_err(), "{m}");
        }
        let err = validate(&spec("raid6", 2, Transport::Netchan)).unwrap_err();
        assert!(err.contains("unknown mode"), "{err}");
    }
}
