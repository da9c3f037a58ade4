//! Parsing of the command-line knobs: path specs, events, durations, sizes and rates.
//!
//! A **path spec** is `direct` (plain loopback, no emulator) or a comma-separated list of
//! `key=value` pairs, e.g. `rate=50mbit,delay=10ms,jitter=1ms,loss=1%`:
//!
//! | key | value | default |
//! |---|---|---|
//! | `rate` | bottleneck rate: `50mbit`, `800kbit`, `1gbit`, `1000000` (bit/s) | unlimited |
//! | `delay` | one-way delay: `10ms`, `500us`, `0.2s` | 0 |
//! | `jitter` | each datagram's delay varies by ±jitter (uniform; never reorders) | 0 |
//! | `loss` | random loss per datagram: `1%` or `0.01` | 0 |
//! | `reorder` | share of datagrams held back by `reorder-delay` so later ones overtake | 0 |
//! | `reorder-delay` | extra delay of a reordered datagram | 2 ms |
//! | `queue` | bottleneck queue in datagrams (tail drop) | 50 ms at the rate (min 32) |
//!
//! Impairments apply to both directions of the path.
//!
//! An **event** changes a path at a time measured from the start of the workload:
//! `blackhole=0@3s..6s` (path 0 drops everything from 3 s to 6 s), `loss=1:5%@2s`,
//! `rate=0:10mbit@5s`, `delay=0:50ms@4s`.

use netchan_tests::link::LinkConfig;
use std::fmt;
use std::time::Duration;

/// A parse error: what was wrong and the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

fn err<T>(msg: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError(msg.into()))
}

/// One emulated path (or `direct` loopback).
#[derive(Debug, Clone, PartialEq)]
pub struct PathSpec {
    /// Plain loopback without the emulator.
    pub direct: bool,
    /// Bottleneck rate in bit/s (`None`: unlimited).
    pub rate_bps: Option<u64>,
    /// One-way delay.
    pub delay: Duration,
    /// Delay variation (±).
    pub jitter: Duration,
    /// Random loss probability.
    pub loss: f64,
    /// Reordering probability.
    pub reorder: f64,
    /// Extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Queue capacity in datagrams (`None`: derived from the rate).
    pub queue: Option<usize>,
}

impl PathSpec {
    /// Plain loopback.
    pub fn direct() -> Self {
        PathSpec {
            direct: true,
            ..Self::ideal()
        }
    }

    /// An emulated path with no impairment.
    pub fn ideal() -> Self {
        PathSpec {
            direct: false,
            rate_bps: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(2),
            queue: None,
        }
    }

    /// Parses a path spec (see the module docs).
    pub fn parse(s: &str) -> Result<Self, SpecError> {
        let s = s.trim();
        if s == "direct" {
            return Ok(Self::direct());
        }
        let mut p = Self::ideal();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((k, v)) = item.split_once('=') else {
                return err(format!(
                    "path spec item `{item}` is not key=value (keys: rate, delay, jitter, loss, reorder, reorder-delay, queue)"
                ));
            };
            match k.trim() {
                "rate" => p.rate_bps = Some(parse_rate(v)?),
                "delay" => p.delay = parse_duration(v)?,
                "jitter" => p.jitter = parse_duration(v)?,
                "loss" => p.loss = parse_fraction(v)?,
                "reorder" => p.reorder = parse_fraction(v)?,
                "reorder-delay" | "reorder_delay" => p.reorder_delay = parse_duration(v)?,
                "queue" => {
                    p.queue = Some(
                        v.trim()
                            .parse()
                            .ok()
                            .filter(|&q: &usize| q > 0)
                            .ok_or_else(|| {
                                SpecError(format!(
                                    "queue `{v}` is not a positive number of datagrams"
                                ))
                            })?,
                    )
                }
                other => {
                    return err(format!(
                        "unknown path key `{other}` (keys: rate, delay, jitter, loss, reorder, reorder-delay, queue)"
                    ));
                }
            }
        }
        Ok(p)
    }

    /// The queue in datagrams: the configured one, or 50 ms (or two one-way delays, if
    /// longer) of 1200-byte datagrams at the rate, at least 32.
    pub fn queue_packets(&self) -> usize {
        if let Some(q) = self.queue {
            return q;
        }
        let Some(rate) = self.rate_bps else {
            return 100_000;
        };
        let window = Duration::from_millis(50).max(self.delay * 2);
        let bytes = rate as f64 / 8.0 * window.as_secs_f64();
        ((bytes / 1200.0).ceil() as usize).max(32)
    }

    /// The emulator configuration of one direction of this path.
    pub fn link_config(&self) -> LinkConfig {
        let mut c = LinkConfig::ideal(self.delay)
            .with_jitter(self.jitter)
            .with_loss(self.loss)
            .with_reorder(self.reorder, self.reorder_delay);
        c.queue_packets = self.queue_packets();
        c.rate_bps = self.rate_bps;
        c
    }
}

impl fmt::Display for PathSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.direct {
            return f.write_str("direct");
        }
        let mut parts = Vec::new();
        if let Some(r) = self.rate_bps {
            parts.push(format!("rate={}", fmt_rate(r)));
        }
        parts.push(format!("delay={}", fmt_duration(self.delay)));
        if !self.jitter.is_zero() {
            parts.push(format!("jitter={}", fmt_duration(self.jitter)));
        }
        if self.loss > 0.0 {
            parts.push(format!("loss={}%", self.loss * 100.0));
        }
        if self.reorder > 0.0 {
            parts.push(format!("reorder={}%", self.reorder * 100.0));
        }
        f.write_str(&parts.join(","))
    }
}

/// What an event changes.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The path drops everything until `end`.
    Blackhole {
        /// End of the blackhole, from the start of the workload.
        end: Duration,
    },
    /// New random loss probability.
    Loss(f64),
    /// New bottleneck rate (bit/s).
    Rate(u64),
    /// New one-way delay.
    Delay(Duration),
}

/// A scripted change of one path at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Path index (order of `--path`).
    pub path: usize,
    /// When, from the start of the workload.
    pub at: Duration,
    /// The change.
    pub kind: EventKind,
}

impl Event {
    /// Parses `blackhole=P@T1..T2`, `loss=P:X%@T`, `rate=P:R@T` or `delay=P:D@T`.
    pub fn parse(s: &str) -> Result<Self, SpecError> {
        let usage =
            "events look like blackhole=0@3s..6s, loss=1:5%@2s, rate=0:10mbit@5s, delay=0:50ms@4s";
        let Some((k, rest)) = s.trim().split_once('=') else {
            return err(format!("event `{s}`: {usage}"));
        };
        let Some((what, at)) = rest.split_once('@') else {
            return err(format!("event `{s}` has no @time: {usage}"));
        };
        let path = |p: &str| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| SpecError(format!("event `{s}`: `{p}` is not a path index")))
        };
        if k.trim() == "blackhole" {
            let Some((t1, t2)) = at.split_once("..") else {
                return err(format!(
                    "event `{s}`: a blackhole needs a range like @3s..6s"
                ));
            };
            let (at, end) = (parse_duration(t1)?, parse_duration(t2)?);
            if end <= at {
                return err(format!("event `{s}`: the blackhole ends before it starts"));
            }
            return Ok(Event {
                path: path(what)?,
                at,
                kind: EventKind::Blackhole { end },
            });
        }
        let Some((p, v)) = what.split_once(':') else {
            return err(format!(
                "event `{s}`: expected PATH:VALUE before @ ({usage})"
            ));
        };
        let kind = match k.trim() {
            "loss" => EventKind::Loss(parse_fraction(v)?),
            "rate" => EventKind::Rate(parse_rate(v)?),
            "delay" => EventKind::Delay(parse_duration(v)?),
            other => return err(format!("unknown event `{other}`: {usage}")),
        };
        Ok(Event {
            path: path(p)?,
            at: parse_duration(at)?,
            kind,
        })
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, at) = (self.path, fmt_duration(self.at));
        match &self.kind {
            EventKind::Blackhole { end } => {
                write!(f, "blackhole={p}@{at}..{}", fmt_duration(*end))
            }
            EventKind::Loss(l) => write!(f, "loss={p}:{}%@{at}", l * 100.0),
            EventKind::Rate(r) => write!(f, "rate={p}:{}@{at}", fmt_rate(*r)),
            EventKind::Delay(d) => write!(f, "delay={p}:{}@{at}", fmt_duration(*d)),
        }
    }
}

/// Parses `10ms`, `500us`, `2s`, `1.5s`, `1m`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, SpecError> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ns") {
        (n, 1e-9)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale < 1e7 => {
            Ok(Duration::from_secs_f64(v * scale))
        }
        _ => err(format!(
            "`{s}` is not a duration (examples: 10ms, 500us, 2s)"
        )),
    }
}

/// Parses `50mbit`, `800kbit`, `1gbit`, `1000bit`; a bare number is bit/s.
pub fn parse_rate(s: &str) -> Result<u64, SpecError> {
    let t = s.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(n) = t.strip_suffix("gbit") {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix("mbit") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix("kbit") {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix("bit") {
        (n, 1.0)
    } else {
        (t.as_str(), 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * scale >= 1000.0 && v * scale <= 1e12 => {
            Ok((v * scale).round() as u64)
        }
        _ => err(format!(
            "`{s}` is not a rate between 1kbit and 1000gbit (examples: 50mbit, 800kbit)"
        )),
    }
}

/// Parses `1%`, `0.5%` or a fraction `0.01`.
pub fn parse_fraction(s: &str) -> Result<f64, SpecError> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => err(format!("`{s}` is not a probability (examples: 2%, 0.02)")),
    }
}

/// Parses `1200`, `64k`/`64kb`/`64KiB` (×1024), `1m`/`1mb`/`1MiB` (×1024²).
pub fn parse_size(s: &str) -> Result<usize, SpecError> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches("ib").trim_end_matches('b');
    let (num, scale) = if let Some(n) = t.strip_suffix('k') {
        (n, 1024.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 1024.0 * 1024.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale <= 64.0 * 1024.0 * 1024.0 => {
            Ok((v * scale) as usize)
        }
        _ => err(format!(
            "`{s}` is not a size up to 64 MiB (examples: 64, 1200, 64k, 1m)"
        )),
    }
}

/// `50mbit`, `800kbit`, ...
pub fn fmt_rate(bps: u64) -> String {
    if bps.is_multiple_of(1_000_000_000) {
        format!("{}gbit", bps / 1_000_000_000)
    } else if bps.is_multiple_of(1_000_000) {
        format!("{}mbit", bps / 1_000_000)
    } else if bps.is_multiple_of(1000) {
        format!("{}kbit", bps / 1000)
    } else {
        format!("{bps}bit")
    }
}

/// `10ms`, `2s`, `500us`.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1000) {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_specs() {
        let p = PathSpec::parse("rate=50mbit,delay=10ms,jitter=1ms,loss=1%").unwrap();
        assert_eq!(p.rate_bps, Some(50_000_000));
        assert_eq!(p.delay, Duration::from_millis(10));
        assert_eq!(p.jitter, Duration::from_millis(1));
        assert!((p.loss - 0.01).abs() < 1e-12);
        assert_eq!(p.to_string(), "rate=50mbit,delay=10ms,jitter=1ms,loss=1%");
        // 50 ms at 50 Mbit/s = 312.5 kB = 261 datagrams of 1200 B.
        assert_eq!(p.queue_packets(), 261);
        assert!(PathSpec::parse("direct").unwrap().direct);
        assert_eq!(PathSpec::parse("queue=10").unwrap().queue_packets(), 10);
        for bad in [
            "rate=fast",
            "delay=-1ms",
            "loss=150%",
            "bogus=1",
            "rate",
            "queue=0",
        ] {
            let e = PathSpec::parse(bad).unwrap_err();
            assert!(!e.0.is_empty(), "{bad}");
        }
    }

    #[test]
    fn events() {
        let e = Event::parse("blackhole=0@3s..6s").unwrap();
        assert_eq!(e.path, 0);
        assert_eq!(e.at, Duration::from_secs(3));
        assert_eq!(
            e.kind,
            EventKind::Blackhole {
                end: Duration::from_secs(6)
            }
        );
        let e = Event::parse("loss=1:5%@2s").unwrap();
        assert_eq!((e.path, e.at), (1, Duration::from_secs(2)));
        assert_eq!(e.kind, EventKind::Loss(0.05));
        assert_eq!(e.to_string(), "loss=1:5%@2s");
        assert_eq!(
            Event::parse("rate=0:10mbit@500ms").unwrap().kind,
            EventKind::Rate(10_000_000)
        );
        for bad in [
            "blackhole=0@6s..3s",
            "blackhole=x@1s..2s",
            "loss=5%@2s",
            "spin=0:1@1s",
            "loss=0:5%",
        ] {
            assert!(Event::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn units() {
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_rate("800kbit").unwrap(), 800_000);
        assert_eq!(parse_rate("1gbit").unwrap(), 1_000_000_000);
        assert!(parse_rate("0").is_err());
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("1200").unwrap(), 1200);
        assert!(parse_size("65m").is_err());
        assert_eq!(parse_fraction("2%").unwrap(), 0.02);
        assert!(parse_fraction("2").is_err());
    }
}
