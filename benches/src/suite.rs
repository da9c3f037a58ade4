//! The default suite: what `netchan-bench` runs without arguments (under two minutes).
//! Each scenario runs netchan and kernel TCP over the same emulated path (TCP over the
//! first path of a multipath scenario), multipath scenarios also kernel MPTCP over the
//! same paths, and prints them side by side with a verdict against netchan's target.

use crate::conn::Transport;
use crate::report::{Report, fmt_us};
use crate::spec::{Event, PathSpec};
use crate::table::{print_rows, verdict};
use crate::workload::{Outcome, RunSpec, Workload, run};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// What a scenario's target looks at: netchan's run and, in a multipath scenario,
/// kernel MPTCP's over the same paths.
pub struct Runs<'a> {
    /// netchan's spec.
    pub spec: &'a RunSpec,
    /// netchan's outcome.
    pub netchan: &'a Outcome,
    /// MPTCP's outcome (`None`: a single-path scenario, or MPTCP failed).
    pub mptcp: Option<&'a Outcome>,
}

/// netchan's target in words and the check of the runs against it.
type Target = (&'static str, fn(&Runs<'_>) -> bool);

struct Scenario {
    name: &'static str,
    /// netchan's run (its mode says whether the scenario is multipath).
    spec: RunSpec,
    /// The figure shown for a run.
    figure: fn(&RunSpec, &Outcome) -> String,
    /// netchan's target and whether the runs meet it.
    target: Option<Target>,
}

impl Scenario {
    fn multipath(&self) -> bool {
        self.spec.paths.len() > 1
    }

    /// The spec each transport runs: netchan's as given; TCP over the first path only;
    /// MPTCP (multipath scenarios only) over every path with the kernel's scheduler.
    fn spec_for(&self, transport: Transport) -> Option<RunSpec> {
        let mut s = self.spec.clone();
        s.transport = transport;
        match transport {
            Transport::Netchan => {}
            Transport::Tcp => {
                s.mode = "single".into();
                s.paths.truncate(1);
                s.events.retain(|e| e.path == 0);
            }
            Transport::Mptcp if self.multipath() => s.mode = "stripe".into(),
            Transport::Mptcp => return None,
        }
        Some(s)
    }
}

fn spec(workload: Workload, paths: &[&str], secs: u64) -> RunSpec {
    RunSpec {
        transport: Transport::Netchan,
        workload,
        mode: "single".into(),
        // The suite's specs are literals: they parse.
        paths: paths
            .iter()
            .map(|p| PathSpec::parse(p).expect("suite path spec"))
            .collect(),
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
    match s.capacity_bps() {
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
        "stall {:.0} ms, lost {}, dup {}",
        o.max_stall.as_secs_f64() * 1e3,
        o.lost,
        o.duplicates
    )
}

/// Goodput of at least `share` of the paths' capacity.
fn at_least(r: &Runs<'_>, share: f64) -> bool {
    r.spec
        .capacity_bps()
        .is_some_and(|c| r.netchan.goodput_bps >= share * c)
}

/// Every message delivered exactly once, none lost.
fn exactly_once(o: &Outcome) -> bool {
    o.lost == 0 && o.duplicates == 0 && o.delivered > 0
}

fn single_path() -> Vec<Scenario> {
    let link = "rate=50mbit,delay=10ms";
    let mut lossy = spec(Workload::Messages, &["rate=50mbit,delay=10ms,loss=2%"], 5);
    lossy.rate = 1000.0;
    let mut failover = spec(Workload::Failover, &[link], 5);
    failover.events = vec![Event::parse("blackhole=0@2s..3.5s").expect("suite event")];
    vec![
        Scenario {
            name: "bulk 256 KiB msgs, 50 Mbit/s 10 ms",
            spec: spec(Workload::Bulk, &[link], 5),
            figure: goodput,
            target: Some((">= 90% of link", |r| at_least(r, 0.9))),
        },
        Scenario {
            name: "bulk 256 KiB msgs, 50 Mbit/s 20 ms, 1% loss",
            spec: spec(Workload::Bulk, &["rate=50mbit,delay=20ms,loss=1%"], 5),
            figure: goodput,
            target: Some((">= 80% of link", |r| at_least(r, 0.8))),
        },
        Scenario {
            name: "1000 msg/s x 64 B, 50 Mbit/s 10 ms, 2% loss",
            spec: lossy,
            figure: latency,
            target: Some(("none lost", |r| {
                r.netchan.lost == 0 && r.netchan.delivered > 0
            })),
        },
        Scenario {
            name: "1.5 s blackhole, 1000 msg/s, 50 Mbit/s 10 ms",
            spec: failover,
            figure: stall,
            target: Some(("none lost, stall < 2.5 s", |r| {
                exactly_once(r.netchan) && r.netchan.max_stall < Duration::from_millis(2500)
            })),
        },
    ]
}

/// Stripe's bulk over two unequal paths, and failover with path 0 blackholed for 1.5 s
/// (mirror, then stripe) over a 10 ms and a 30 ms path. The bulk row runs 10 s: every
/// transport's start-up ramp (about a second below capacity on the 30 ms path) counts,
/// but no longer half-decides a 90% goodput verdict within the VM's run-to-run noise.
fn multipath() -> Vec<Scenario> {
    let unequal = ["rate=40mbit,delay=10ms", "rate=20mbit,delay=30ms"];
    let mut bulk = spec(Workload::Bulk, &unequal, 10);
    bulk.mode = "stripe".into();
    bulk.size = 64 << 10;
    let failover = |mode: &str| {
        let mut s = spec(
            Workload::Failover,
            &["rate=20mbit,delay=10ms", "rate=20mbit,delay=30ms"],
            5,
        );
        s.mode = mode.into();
        s.events = vec![Event::parse("blackhole=0@2s..3.5s").expect("suite event")];
        s
    };
    vec![
        Scenario {
            name: "stripe bulk 64 KiB, 40 Mbit/s 10 ms + 20 Mbit/s 30 ms",
            spec: bulk,
            figure: goodput,
            target: Some((">= 90% of 60 Mbit/s, >= MPTCP", |r| {
                at_least(r, 0.9)
                    && r.mptcp
                        .is_some_and(|m| r.netchan.goodput_bps >= m.goodput_bps)
            })),
        },
        Scenario {
            name: "mirror, 1.5 s blackhole on 10 ms of 10 + 30 ms paths",
            spec: failover("mirror"),
            figure: stall,
            target: Some(("exactly once, stall <= 50 ms", |r| {
                exactly_once(r.netchan) && r.netchan.max_stall <= Duration::from_millis(50)
            })),
        },
        Scenario {
            name: "stripe, 1.5 s blackhole on 10 ms of 10 + 30 ms paths",
            spec: failover("stripe"),
            figure: stall,
            target: Some(("exactly once, stall <= 300 ms, < MPTCP", |r| {
                exactly_once(r.netchan)
                    && r.netchan.max_stall <= Duration::from_millis(300)
                    && r.mptcp.is_some_and(|m| r.netchan.max_stall < m.max_stall)
            })),
        },
    ]
}

fn loopback() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "ping-pong 64 B, loopback",
            spec: spec(Workload::PingPong, &["direct"], 2),
            figure: latency,
            target: None,
        },
        Scenario {
            name: "64 B msgs flat out, loopback",
            spec: spec(Workload::Messages, &["direct"], 2),
            figure: rate,
            target: None,
        },
    ]
}

fn scenarios() -> Vec<Scenario> {
    let mut all = single_path();
    all.extend(multipath());
    all.extend(loopback());
    all
}

/// Runs the scenarios' specs, each distinct spec once (the failover scenarios share
/// their TCP and MPTCP runs), and writes each run's JSON line.
struct Runner {
    started: Instant,
    json: Option<std::fs::File>,
    done: HashMap<String, Result<Outcome, String>>,
}

impl Runner {
    fn run(&mut self, name: &str, spec: &RunSpec) -> Result<Outcome, String> {
        let key = format!("{spec:?}");
        if let Some(r) = self.done.get(&key) {
            return r.clone();
        }
        eprintln!(
            "[{:>5.1} s] {name} — {}",
            self.started.elapsed().as_secs_f64(),
            spec.transport.name()
        );
        let r = run(spec);
        match &r {
            Ok(o) => {
                if let Some(f) = self.json.as_mut() {
                    let _ = writeln!(f, "{}", Report::new(spec, o).to_json_line());
                }
            }
            Err(e) => eprintln!("    {}: {e}", spec.transport.name()),
        }
        self.done.insert(key, r.clone());
        r
    }
}

/// The cell of a run that failed.
fn failed(e: &str) -> String {
    if e.contains("need root") || e.contains("needs root") {
        "needs root (see above)".into()
    } else {
        "failed (see above)".into()
    }
}

/// Runs one scenario: its row (scenario, netchan, MPTCP, TCP, target, verdict).
fn row(runner: &mut Runner, sc: &Scenario) -> Vec<String> {
    let mut cells = Vec::new();
    let mut outcomes = Vec::new();
    for transport in [Transport::Netchan, Transport::Mptcp, Transport::Tcp] {
        let Some(spec) = sc.spec_for(transport) else {
            cells.push("-".to_string());
            outcomes.push(None);
            continue;
        };
        let r = runner.run(sc.name, &spec);
        cells.push(match &r {
            Ok(o) => (sc.figure)(&spec, o),
            Err(e) => failed(e),
        });
        outcomes.push(r.ok());
    }
    let pass = match (&outcomes[0], sc.target) {
        (Some(n), Some((_, ok))) => Some(ok(&Runs {
            spec: &sc.spec,
            netchan: n,
            mptcp: outcomes[1].as_ref(),
        })),
        (None, _) => Some(false),
        (Some(_), None) => None,
    };
    let mut row = vec![sc.name.to_string()];
    row.extend(cells);
    row.push(sc.target.map_or("report", |t| t.0).to_string());
    row.push(verdict(pass).to_string());
    row
}

/// Runs the default suite; writes one JSON object per run to `json` if given.
pub fn suite(json: Option<&std::path::Path>) -> ExitCode {
    let json = match json.map(std::fs::File::create).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("netchan-bench: cannot create the JSON file: {e}");
            return ExitCode::from(2);
        }
    };
    let mut runner = Runner {
        started: Instant::now(),
        json,
        done: HashMap::new(),
    };
    let rows: Vec<Vec<String>> = scenarios().iter().map(|sc| row(&mut runner, sc)).collect();
    print_rows(
        &[
            "scenario",
            "netchan",
            "kernel MPTCP (same paths)",
            "kernel TCP (first path)",
            "netchan target",
            "verdict",
        ],
        &rows,
    );
    println!(
        "\nsuite took {:.0} s; latency is one-way except ping-pong (round trip); \
         multipath rows: netchan in the named mode, MPTCP with the kernel's scheduler",
        runner.started.elapsed().as_secs_f64()
    );
    if rows.iter().any(|r| r[5] == "FAIL") {
        println!("verdict: some targets missed");
        ExitCode::FAILURE
    } else {
        println!("verdict: all targets met");
        ExitCode::SUCCESS
    }
}
