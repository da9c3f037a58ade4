//! `netchan-bench`: the netchan benchmark harness.
//!
//! Today it runs the built-in suite of the sans-IO engine in **virtual time**: the
//! protocol engine, loss recovery and congestion control driven through the seeded link
//! emulator of `netchan-tests`, with the real handshake and packet protection. The figures are what
//! the protocol achieves on the emulated links, free of OS and CPU effects. Runs over
//! real sockets (`netchan-bench run ...`, TCP baselines, JSON and plots) arrive with the
//! channel API, which they measure.

use netchan_tests::scenarios::{blackhole, bulk_transfer, interop_link};
use netchan_transport::CongestionControl;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const HELP: &str = "\
netchan-bench — the netchan benchmark harness

USAGE:
    netchan-bench            run the built-in suite and print a table (under a minute)
    netchan-bench --help     this text

The built-in suite drives the netchan protocol engine in virtual time through an emulated
link (10 Mbit/s, 15 ms one way, 25-packet queue: the QUIC interop runner's default) and
reports goodput per congestion controller, goodput under 2% random loss, and recovery
after a 2 s blackhole. Each scenario prints a verdict against its target.

Real-socket runs (`netchan-bench run --workload ... --mode ... --path ...`), TCP
baselines, --json and --plot are not built yet: they measure the channel API, which comes
first.
";

struct Row {
    scenario: String,
    figure: String,
    target: &'static str,
    pass: Option<bool>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => suite(),
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Some("run") => {
            eprintln!(
                "netchan-bench: `run` measures real sockets through the channel API, which is \
                 not built yet; only the built-in virtual-time suite exists (run \
                 `netchan-bench` with no arguments)"
            );
            ExitCode::from(2)
        }
        Some(other) => {
            eprintln!("netchan-bench: unknown argument `{other}`; see `netchan-bench --help`");
            ExitCode::from(2)
        }
    }
}

fn suite() -> ExitCode {
    let started = Instant::now();
    let mut rows = Vec::new();
    let controllers = [CongestionControl::Cubic, CongestionControl::NewReno];
    for (loss, target) in [(0.0, Some(0.90)), (0.02, None)] {
        for cc in controllers {
            let name = format!(
                "bulk 10 MB, interop link, {:.0}% loss, {cc:?}",
                loss * 100.0
            );
            eprintln!("[{:>5.1}s] {name} ...", started.elapsed().as_secs_f64());
            let row = match bulk_transfer(cc, interop_link(loss), 10_000_000, 1) {
                Ok(r) => {
                    let frac = r.goodput_bps / 10e6;
                    Row {
                        scenario: name,
                        figure: format!(
                            "{:.2} Mbit/s = {:.1}% of link ({:.2} s)",
                            r.goodput_bps / 1e6,
                            frac * 100.0,
                            r.elapsed.as_secs_f64()
                        ),
                        target: if target.is_some() {
                            ">= 90% of link"
                        } else {
                            "report"
                        },
                        pass: target.map(|t| frac >= t),
                    }
                }
                Err(e) => failed(name, e),
            };
            rows.push(row);
        }
    }
    let hole = (Duration::from_secs(3), Duration::from_secs(5));
    for cc in controllers {
        let name = format!("2 s blackhole mid-stream, 20 Mbit/s 20 ms, {cc:?}");
        eprintln!("[{:>5.1}s] {name} ...", started.elapsed().as_secs_f64());
        let row = match blackhole(cc, 1, hole) {
            Ok(r) => Row {
                scenario: name,
                figure: format!(
                    "resumed {:.0} ms after the link returned, {} msgs, none lost",
                    r.resumed_after.as_secs_f64() * 1e3,
                    r.delivered
                ),
                target: "resume <= 1 s, no loss",
                pass: Some(r.resumed_after <= Duration::from_secs(1)),
            },
            Err(e) => failed(name, e),
        };
        rows.push(row);
    }
    print_table(&rows);
    println!(
        "\nvirtual-time engine figures (Noise IK + ChaCha20-Poly1305); suite took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if rows.iter().all(|r| r.pass != Some(false)) {
        println!("verdict: all targets met");
        ExitCode::SUCCESS
    } else {
        println!("verdict: some targets missed");
        ExitCode::FAILURE
    }
}

fn failed(scenario: String, e: impl std::fmt::Display) -> Row {
    Row {
        scenario,
        figure: format!("failed: {e}"),
        target: "complete",
        pass: Some(false),
    }
}

fn print_table(rows: &[Row]) {
    let w0 = rows
        .iter()
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let w1 = rows
        .iter()
        .map(|r| r.figure.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w2 = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<w0$}  {:<w1$}  {:<w2$}  verdict",
        "scenario", "result", "target"
    );
    println!("{}", "-".repeat(w0 + w1 + w2 + 13));
    for r in rows {
        let verdict = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "info",
        };
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {verdict}",
            r.scenario, r.figure, r.target
        );
    }
}
