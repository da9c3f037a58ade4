//! The default suite: what `netchan-bench` runs without arguments (under two minutes).
//! Each scenario runs netchan and kernel TCP over the same emulated path and prints them
//! side by side, with a verdict against netchan's target.

use crate::conn::Transport;
use crate::report::{Report, fmt_us};
use crate::spec::{Event, PathSpec};
use crate::table::{print_rows, verdict};
use crate::workload::{Outcome, RunSpec, Workload, run};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// netchan's target in words and the check of an outcome against it.
type Target = (&'static str, fn(&RunSpec, &Outcome) -> bool);

struct Scenario {
    name: &'static str,
    spec: RunSpec,
    /// The figure shown for a run.
    figure: fn(&RunSpec, &Outcome) -> String,
    /// netchan's target and whether an outcome meets it.
    target: Option<Target>,
}

fn spec(workload: Workload, path: &str, secs: u64) -> RunSpec {
    RunSpec {
        transport: Transport::Netchan,
        workload,
        mode: "single".into(),
        // The suite's specs are literals: they parse.
        paths: vec![PathSpec::parse(path).expect("suite path spec")],
        events: Vec::new(),
        duration: Duration::from_secs(secs),
        size: workload.default_size(),
        rate: workload.default_rate(),
        seed: 1,
        cc: None,
        progress: false,
    }
}

fn goodput(s: &RunSpec, o: &Outcome) -> String {
    let cap = s.paths[0].rate_bps.map(|r| r as f64);
    match cap {
        Some(c) => format!(
            "{:.1} Mbit/s ({:.1}%), cpu {:.1} s",
            o.goodput_bps / 1e6,
            o.goodput_bps / c * 100.0,
            o.cpu_s
        ),
        None => format!("{:.1} Mbit/s", o.goodput_bps / 1e6),
    }
}

fn latency(_: &RunSpec, o: &Outcome) -> String {
    match o.latency_us {
        Some(l) => format!(
            "p50 {} p99 {}, lost {}",
            fmt_us(l.p50),
            fmt_us(l.p99),
            o.lost
        ),
        None => "nothing delivered".into(),
    }
}

fn rate(s: &RunSpec, o: &Outcome) -> String {
    format!(
        "{:.0} k msg/s, p50 {}",
        o.delivered as f64 / s.duration.as_secs_f64() / 1e3,
        o.latency_us.map_or("-".into(), |l| fmt_us(l.p50))
    )
}

fn stall(_: &RunSpec, o: &Outcome) -> String {
    format!(
        "stall {:.0} ms, lost {}",
        o.max_stall.as_secs_f64() * 1e3,
        o.lost
    )
}

fn scenarios() -> Vec<Scenario> {
    let link = "rate=50mbit,delay=10ms";
    let mut lossy = spec(Workload::Messages, "rate=50mbit,delay=10ms,loss=2%", 5);
    lossy.rate = 1000.0;
    let mut failover = spec(Workload::Failover, link, 5);
    failover.events = vec![Event::parse("blackhole=0@2s..3.5s").expect("suite event")];
    vec![
        Scenario {
            name: "bulk 256 KiB msgs, 50 Mbit/s 10 ms",
            spec: spec(Workload::Bulk, link, 5),
            figure: goodput,
            target: Some((">= 90% of link", |s, o| {
                o.goodput_bps >= 0.9 * s.paths[0].rate_bps.unwrap_or(0) as f64
            })),
        },
        Scenario {
            name: "bulk 256 KiB msgs, 50 Mbit/s 20 ms, 1% loss",
            spec: spec(Workload::Bulk, "rate=50mbit,delay=20ms,loss=1%", 5),
            figure: goodput,
            target: Some((">= 80% of link", |s, o| {
                o.goodput_bps >= 0.8 * s.paths[0].rate_bps.unwrap_or(0) as f64
            })),
        },
        Scenario {
            name: "1000 msg/s x 64 B, 50 Mbit/s 10 ms, 2% loss",
            spec: lossy,
            figure: latency,
            target: Some(("none lost", |_, o| o.lost == 0 && o.delivered > 0)),
        },
        Scenario {
            name: "1.5 s blackhole, 1000 msg/s, 50 Mbit/s 10 ms",
            spec: failover,
            figure: stall,
            target: Some(("none lost, stall < 2.5 s", |_, o| {
                o.lost == 0 && o.delivered > 0 && o.max_stall < Duration::from_millis(2500)
            })),
        },
        Scenario {
            name: "ping-pong 64 B, loopback",
            spec: spec(Workload::PingPong, "direct", 2),
            figure: latency,
            target: None,
        },
        Scenario {
            name: "64 B msgs flat out, loopback",
            spec: spec(Workload::Messages, "direct", 2),
            figure: rate,
            target: None,
        },
    ]
}

/// Runs the default suite; writes one JSON object per run to `json` if given.
pub fn suite(json: Option<&std::path::Path>) -> ExitCode {
    let started = Instant::now();
    let mut out = match json.map(std::fs::File::create).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("netchan-bench: cannot create the JSON file: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rows = Vec::new();
    for sc in scenarios() {
        let mut cells = Vec::new();
        let mut pass = None;
        for transport in [Transport::Netchan, Transport::Tcp] {
            let mut spec = sc.spec.clone();
            spec.transport = transport;
            eprintln!(
                "[{:>5.1} s] {} — {}",
                started.elapsed().as_secs_f64(),
                sc.name,
                transport.name()
            );
            let cell = match run(&spec) {
                Ok(o) => {
                    if let Some(f) = out.as_mut() {
                        let _ = writeln!(f, "{}", Report::new(&spec, &o).to_json_line());
                    }
                    if let (Transport::Netchan, Some((_, ok))) = (transport, sc.target) {
                        pass = Some(ok(&spec, &o));
                    }
                    (sc.figure)(&spec, &o)
                }
                Err(e) => {
                    if transport == Transport::Netchan {
                        pass = Some(false);
                    }
                    eprintln!("    {}: {e}", transport.name());
                    if e.contains("needs root") {
                        "needs root (see above)".into()
                    } else {
                        "failed (see above)".into()
                    }
                }
            };
            cells.push(cell);
        }
        rows.push(vec![
            sc.name.to_string(),
            cells[0].clone(),
            cells[1].clone(),
            sc.target.map_or("report", |t| t.0).to_string(),
            verdict(pass).to_string(),
        ]);
    }
    print_rows(
        &[
            "scenario",
            "netchan",
            "kernel TCP (same path)",
            "netchan target",
            "verdict",
        ],
        &rows,
    );
    println!(
        "\nsuite took {:.0} s; single path (multipath runs: `run --mode ...`); \
         latency is one-way except ping-pong (round trip)",
        started.elapsed().as_secs_f64()
    );
    if rows.iter().any(|r| r[4] == "FAIL") {
        println!("verdict: some targets missed");
        ExitCode::FAILURE
    } else {
        println!("verdict: all targets met");
        ExitCode::SUCCESS
    }
}
