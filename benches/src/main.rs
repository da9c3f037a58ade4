//! `netchan-bench`: the netchan benchmark harness. See `netchan-bench --help` and the
//! crate docs of `netchan_bench`.

use clap::{Parser, Subcommand};
use netchan_bench::conn::Transport;
use netchan_bench::report::Report;
use netchan_bench::spec::{Event, EventKind, PathSpec, parse_duration, parse_size};
use netchan_bench::workload::{RunSpec, Workload, run};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The netchan benchmark harness: netchan, kernel TCP and kernel MPTCP over the same
/// emulated links.
///
/// Without a command it runs the default suite (under 2 minutes) and prints a table with a
/// verdict per scenario. Exit status: 0 when every target is met / the run completed, 1
/// when a target is missed or a run failed, 2 on bad arguments.
#[derive(Parser, Debug)]
#[command(name = "netchan-bench", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With the default suite: write one JSON object per run (one per line) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

const AFTER_HELP: &str = "\
Examples:
  netchan-bench
  netchan-bench run --workload bulk --path rate=50mbit,delay=10ms
  netchan-bench run --workload bulk --path rate=50mbit,delay=10ms --transport tcp
  netchan-bench run --workload bulk --path rate=50mbit,delay=20ms,loss=1% --cc cubic
  netchan-bench run --mode stripe --path rate=40mbit,delay=10ms --path rate=20mbit,delay=30ms
  netchan-bench run --mode stripe --transport mptcp \
      --path rate=40mbit,delay=10ms --path rate=20mbit,delay=30ms
  netchan-bench run --workload messages --rate 1000 --path rate=50mbit,delay=10ms,loss=2%
  netchan-bench run --workload failover --path rate=20mbit,delay=20ms \\
      --event blackhole=0@3s..5s --duration 8s --plot failover.svg --json out.jsonl

The TCP and MPTCP baselines over emulated paths run the kernel's protocol in two network
namespaces joined by one pair of TUN devices per path through the same emulator, which
needs root (and iproute2's `ip` for MPTCP's path manager); TCP over a `direct` path is
plain loopback.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one workload over emulated paths.
    Run(Box<RunArgs>),
    /// The protocol engine alone, in virtual time (no sockets, no threads).
    Sim,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// bulk (large messages flat out: goodput), messages (small messages at --rate or
    /// flat out: delivered rate, one-way latency), pingpong (one message at a time,
    /// echoed: round trip), failover (a steady stream while a path blackholes: stall and
    /// loss; without --event, path 0 blackholes from 30% to 50% of the duration).
    #[arg(long, short, default_value = "bulk")]
    workload: String,
    /// single (one path), or netchan's multipath over every --path: stripe, mirror,
    /// parity, hedged, backup (the paths beyond the first standby).
    #[arg(long, short, default_value = "single")]
    mode: String,
    /// A path, repeatable: `direct` (plain loopback, no emulator) or key=value pairs:
    /// rate=50mbit (bottleneck, kbit/mbit/gbit), delay=10ms (one way), jitter=1ms (±,
    /// never reorders), loss=1% (random), reorder=1% (held back by reorder-delay, default
    /// 2ms), queue=N (datagrams; default 50 ms at the rate). Applies to both directions.
    #[arg(
        long = "path",
        short,
        value_name = "SPEC",
        default_value = "rate=50mbit,delay=10ms"
    )]
    paths: Vec<String>,
    /// A scripted change, repeatable, times from the start of the workload:
    /// blackhole=PATH@T1..T2, loss=PATH:X%@T, rate=PATH:RATE@T, delay=PATH:D@T.
    #[arg(long = "event", short, value_name = "SPEC")]
    events: Vec<String>,
    /// How long the workload sends (e.g. 10s, 500ms).
    #[arg(long, short, default_value = "10s")]
    duration: String,
    /// Message size (e.g. 64, 1200, 64k, 1m); default 256k for bulk, 64 otherwise.
    #[arg(long, short)]
    size: Option<String>,
    /// Messages per second for messages/failover (0 = flat out; failover defaults to 1000).
    #[arg(long, short)]
    rate: Option<f64>,
    /// netchan; tcp (kernel TCP, length-prefixed messages, TCP_NODELAY, one path); or
    /// mptcp (kernel MPTCP over every --path, one subflow each: --mode stripe for the
    /// kernel's default scheduler, backup for standby subflows beyond the first).
    #[arg(long, short, default_value = "netchan")]
    transport: String,
    /// Congestion controller: bbr, cubic or newreno (default: the transport's own; with
    /// --transport tcp the kernel's controller of that name, newreno = reno).
    #[arg(long, value_name = "CC")]
    cc: Option<String>,
    /// Append the run's JSON object (one line) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw throughput per path and latency over time into an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Seed of the emulator's loss, jitter and reordering.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("netchan-bench: {msg}");
    ExitCode::from(2)
}

fn parse_run(a: &RunArgs) -> Result<RunSpec, String> {
    let workload = Workload::parse(&a.workload).ok_or_else(|| {
        format!(
            "unknown workload `{}` (bulk, messages, pingpong, failover)",
            a.workload
        )
    })?;
    let transport = Transport::parse(&a.transport)
        .ok_or_else(|| format!("unknown transport `{}` (netchan, tcp, mptcp)", a.transport))?;
    let paths = a
        .paths
        .iter()
        .map(|p| PathSpec::parse(p).map_err(|e| format!("--path {p}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut events = a
        .events
        .iter()
        .map(|e| Event::parse(e).map_err(|x| format!("--event {e}: {x}")))
        .collect::<Result<Vec<_>, _>>()?;
    let duration = parse_duration(&a.duration).map_err(|e| format!("--duration: {e}"))?;
    if workload == Workload::Failover
        && !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Blackhole { .. }))
    {
        events.push(Event {
            path: 0,
            at: duration.mul_f64(0.3),
            kind: EventKind::Blackhole {
                end: duration.mul_f64(0.5),
            },
        });
    }
    let size = match &a.size {
        Some(s) => parse_size(s).map_err(|e| format!("--size: {e}"))?,
        None => workload.default_size(),
    };
    let cc =
        a.cc.as_deref()
            .map(|c| c.parse::<netchan::CongestionControl>())
            .transpose()
            .map_err(|e| format!("--cc: {e}"))?;
    let rate = a.rate.unwrap_or(workload.default_rate());
    if !(rate.is_finite() && rate >= 0.0) {
        return Err("--rate must be a non-negative number of messages per second".into());
    }
    let spec = RunSpec {
        transport,
        workload,
        mode: a.mode.clone(),
        paths,
        events,
        duration,
        size,
        rate,
        seed: a.seed,
        cc,
        progress: !a.quiet && duration >= Duration::from_secs(3),
    };
    netchan_bench::workload::validate(&spec)?;
    Ok(spec)
}

fn run_one(a: &RunArgs) -> ExitCode {
    let spec = match parse_run(a) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let outcome = match run(&spec) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("netchan-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = Report::new(&spec, &outcome);
    print!("{}", report.to_text());
    if let Some(path) = &a.json {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{}", report.to_json_line()));
        if let Err(e) = written {
            eprintln!("netchan-bench: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("  json           appended to {}", path.display());
    }
    if let Some(path) = &a.plot {
        if let Err(e) = netchan_bench::plot::plot(path, &spec, &outcome) {
            eprintln!("netchan-bench: {e}");
            return ExitCode::FAILURE;
        }
        println!("  plot           {}", path.display());
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        None => netchan_bench::suite::suite(cli.json.as_deref()),
        Some(Command::Sim) => netchan_bench::sim::suite(),
        Some(Command::Run(a)) => run_one(a),
    }
}
