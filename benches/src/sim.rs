//! `netchan-bench sim`: the protocol engine in **virtual time** (the seeded link emulator
//! of `netchan-tests` with the real handshake and packet protection): what the protocol
//! achieves on the emulated links, free of OS and CPU effects.

use crate::table::{Row, print_table};
use netchan_tests::scenarios::{blackhole, bulk_transfer, interop_link};
use netchan_transport::CongestionControl;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs the virtual-time suite and prints its table.
pub fn suite() -> ExitCode {
    let started = Instant::now();
    let mut rows = Vec::new();
    let controllers = [
        CongestionControl::Bbr,
        CongestionControl::Cubic,
        CongestionControl::NewReno,
    ];
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
