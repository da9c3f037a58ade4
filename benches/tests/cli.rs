//! The `netchan-bench` command line: the JSON contract of `--json`, the `--plot` SVG, and
//! clean refusals (exit status 2 with one line saying why).

use serde_json::Value;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netchan-bench"))
        .args(args)
        .output()
        .expect("run netchan-bench")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {v}"))
}

/// The JSON objects of a `--json` file, one per line.
fn json_lines(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not a non-negative integer in {v}"))
}

/// Checks one JSON object against the contract of issue 5 / `report.rs`.
fn check_contract(v: &Value, transport: &str, workload: &str) {
    assert_eq!(v["transport"], transport);
    assert_eq!(v["workload"], workload);
    assert_eq!(v["mode"], "single");
    let paths = v["paths"].as_array().expect("paths is an array");
    assert_eq!(paths.len(), 1);
    assert_eq!(number(&paths[0], "rate_mbps"), 20.0);
    assert_eq!(number(&paths[0], "delay_ms"), 5.0);
    assert_eq!(number(&paths[0], "loss_pct"), 0.0);
    assert!(number(v, "duration_s") == 2.0);
    assert_eq!(number(v, "capacity_mbps"), 20.0);
    let goodput = number(v, "goodput_mbps");
    assert!(goodput > 0.0 && goodput <= 20.0, "goodput {goodput}");
    let (sent, delivered) = (count(v, "messages_sent"), count(v, "messages_delivered"));
    assert!(
        sent > 0 && delivered <= sent,
        "{sent} sent, {delivered} delivered"
    );
    assert_eq!(count(v, "lost"), sent - delivered);
    count(v, "duplicates");
    count(v, "out_of_order");
    let lat = &v["latency_us"];
    let (p50, p90, p99, max) = (
        number(lat, "p50"),
        number(lat, "p90"),
        number(lat, "p99"),
        number(lat, "max"),
    );
    // One-way latency over a 5 ms path is at least 5 ms.
    assert!(
        4_900.0 <= p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{lat}"
    );
    assert!(number(v, "max_stall_ms") >= 0.0);
    assert!(number(v, "cpu_s") >= 0.0);
    assert!(number(v, "peak_rss_mb") > 0.0);
    assert!(v["emulator"][0]["up"]["sent"].as_u64().unwrap() > 0);
    let controller = v["controller"].as_str().expect("controller is a string");
    assert!(
        ["bbr", "cubic", "newreno", "reno"].contains(&controller),
        "{v}"
    );
    match transport {
        "netchan" => {
            for dir in ["up", "down"] {
                let t = &v["transport_stats"][dir];
                let (srtt, min_rtt) = (number(t, "srtt_ms"), number(t, "min_rtt_ms"));
                // A 5 ms path: 10 ms round trip at least.
                assert!(10.0 <= min_rtt && min_rtt <= srtt, "{t}");
                assert!(count(t, "cwnd_bytes") > 0, "{t}");
                assert!(number(t, "bandwidth_mbps") >= 0.0, "{t}");
                assert!(count(t, "packets_sent") > 0, "{t}");
                assert!(
                    count(t, "spurious_losses") <= count(t, "declared_lost"),
                    "{t}"
                );
            }
            // The sender measured a rate (its size depends on the machine: a driver
            // that wakes late sends and receives in bursts, which samples see).
            let up = number(&v["transport_stats"]["up"], "bandwidth_mbps");
            assert!(up > 0.0 && up.is_finite(), "{v}");
        }
        _ => assert!(v["transport_stats"].is_null(), "{v}"),
    }
}

#[test]
fn json_lines_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("runs.jsonl");
    let json = json.to_str().unwrap();
    for transport in ["netchan", "tcp"] {
        let o = bench(&[
            "run",
            "--workload",
            "messages",
            "--rate",
            "500",
            "--duration",
            "2s",
            "--path",
            "rate=20mbit,delay=5ms",
            "--transport",
            transport,
            "--json",
            json,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("goodput"), "{out}");
    }
    let lines = json_lines(json);
    assert_eq!(lines.len(), 2, "one object per run, appended");
    check_contract(&lines[0], "netchan", "messages");
    check_contract(&lines[1], "tcp", "messages");
    for v in &lines {
        // 500 msg/s for 2 s, reliable transports: all of them, none twice.
        assert_eq!(count(v, "messages_sent"), 1000, "{v}");
        assert_eq!(count(v, "messages_delivered"), 1000, "{v}");
        assert_eq!(count(v, "duplicates"), 0);
        assert_eq!(number(v, "rate_msgs_per_s"), 500.0);
    }
}

#[test]
fn plot_shows_the_blackhole() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("failover.svg");
    let json = dir.path().join("failover.jsonl");
    let o = bench(&[
        "run",
        "-w",
        "failover",
        "-d",
        "3s",
        "-p",
        "rate=20mbit,delay=5ms",
        "-e",
        "blackhole=0@1s..2s",
        "--plot",
        svg.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<svg"), "not an SVG");
    assert!(s.trim_end().ends_with("</svg>"), "SVG not closed");
    assert!(s.contains("blackhole on path 0"), "no blackhole legend");
    assert!(s.contains("path 0 (wire bytes"), "no per-path series");
    assert!(s.matches("<polyline").count() >= 2, "no lines drawn");
    assert!(s.matches("<circle").count() >= 10, "no latency points");
    let v: Value = serde_json::from_str(std::fs::read_to_string(&json).unwrap().trim()).unwrap();
    // The stream stalls through the 1 s blackhole and loses nothing.
    assert!(number(&v, "max_stall_ms") >= 900.0, "{v}");
    assert_eq!(count(&v, "lost"), 0, "{v}");
    assert!(
        v["emulator"][0]["up"]["dropped_blackhole"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn refusals_are_clean() {
    for (args, needle) in [
        (&["run", "--mode", "stripe"][..], "at least two `--path`s"),
        (
            &[
                "run",
                "--mode",
                "mirror",
                "--transport",
                "tcp",
                "--path",
                "direct",
                "--path",
                "direct",
            ][..],
            "transport `tcp` runs `single` only",
        ),
        (
            &[
                "run",
                "--transport",
                "tcp",
                "--path",
                "direct",
                "--path",
                "direct",
            ][..],
            "tcp runs over exactly one path",
        ),
        (
            &[
                "run",
                "--transport",
                "mptcp",
                "--path",
                "direct",
                "--path",
                "direct",
            ][..],
            "runs mode `stripe`",
        ),
        (
            &["run", "--transport", "mptcp", "--mode", "stripe"][..],
            "2 to 8 paths",
        ),
        (
            &[
                "run",
                "--transport",
                "mptcp",
                "--mode",
                "stripe",
                "--path",
                "direct",
                "--path",
                "direct",
            ][..],
            "emulated paths only",
        ),
        (&["run", "--mode", "raid0"][..], "unknown mode"),
        (&["run", "--path", "rate=fast"][..], "not a rate"),
        (&["run", "--workload", "nope"][..], "unknown workload"),
        (
            &["run", "--event", "blackhole=3@1s..2s"][..],
            "does not exist",
        ),
        (
            &["run", "--path", "direct", "--path", "direct"][..],
            "exactly one path",
        ),
        (&["run", "--transport", "quic"][..], "unknown transport"),
        (&["run", "--cc", "vegas"][..], "--cc"),
        (&["run", "--size", "8"][..], "at least 16"),
        (&["--bogus"][..], "unexpected argument"),
    ] {
        let o = bench(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let o = bench(&["run", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for knob in [
        "--workload",
        "--path",
        "--event",
        "blackhole=",
        "--json",
        "--plot",
        "jitter",
        "--cc",
    ] {
        assert!(help.contains(knob), "--help does not explain {knob}");
    }
}

#[test]
fn pingpong_over_loopback_both_transports() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("pp.jsonl");
    for t in ["netchan", "tcp"] {
        let o = bench(&[
            "run",
            "-w",
            "pingpong",
            "-p",
            "direct",
            "-d",
            "1s",
            "-t",
            t,
            "-q",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("round trip: p50"), "{out}");
        assert!(out.contains(" 0 lost"), "{out}");
    }
    for line in std::fs::read_to_string(&json).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        // A direct path: no emulator, no rate, no capacity; round trips were measured.
        assert!(v["emulator"][0].is_null(), "{v}");
        assert!(v["paths"][0]["rate_mbps"].is_null(), "{v}");
        assert!(v["capacity_mbps"].is_null(), "{v}");
        assert!(v["rate_msgs_per_s"].is_null(), "{v}");
        assert!(count(&v, "messages_delivered") > 100, "{v}");
        assert!(number(&v["latency_us"], "p50") > 0.0, "{v}");
    }
}

#[test]
fn cc_selects_the_controller_of_both_transports() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("cc.jsonl");
    let json = json.to_str().unwrap();
    for (transport, cc, expect) in [
        ("netchan", "cubic", "cubic"),
        ("netchan", "newreno", "newreno"),
        ("netchan", "bbr", "bbr"),
        ("tcp", "newreno", "reno"),
        ("tcp", "cubic", "cubic"),
    ] {
        let o = bench(&[
            "run",
            "--workload",
            "bulk",
            "--duration",
            "1s",
            "--path",
            "rate=20mbit,delay=5ms",
            "--transport",
            transport,
            "--cc",
            cc,
            "--json",
            json,
            "--quiet",
        ]);
        assert!(o.status.success(), "{transport} {cc}: {}", text(&o));
        let last = json_lines(json).pop().expect("a JSON line");
        assert_eq!(last["controller"], expect, "{last}");
        assert!(
            last["description"].as_str().unwrap().contains(expect),
            "{last}"
        );
    }
}

/// The bytes each emulated path delivered client → server.
fn path_bytes(v: &Value) -> Vec<u64> {
    v["emulator"]
        .as_array()
        .expect("emulator is an array")
        .iter()
        .map(|p| {
            p["up"]["bytes_delivered"]
                .as_u64()
                .expect("bytes_delivered")
        })
        .collect()
}

/// Kernel MPTCP over two emulated paths (TUN pairs between two namespaces, one subflow
/// each): both paths carry data, everything arrives once and in order, and the JSON
/// says which transport and mode ran; netchan's stripe over the same paths likewise.
#[test]
fn mptcp_crosses_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("runs.jsonl");
    let json = json.to_str().unwrap();
    for transport in ["mptcp", "netchan"] {
        let o = bench(&[
            "run",
            "--transport",
            transport,
            "--mode",
            "stripe",
            "--workload",
            "bulk",
            "--size",
            "64k",
            "--duration",
            "3s",
            "--path",
            "rate=10mbit,delay=5ms",
            "--path",
            "rate=10mbit,delay=5ms",
            "--json",
            json,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let lines = json_lines(json);
    assert_eq!(lines.len(), 2);
    for (v, transport) in lines.iter().zip(["mptcp", "netchan"]) {
        assert_eq!(v["transport"], transport);
        assert_eq!(v["mode"], "stripe");
        assert_eq!(number(v, "capacity_mbps"), 20.0);
        let description = v["description"].as_str().unwrap();
        if transport == "mptcp" {
            assert!(description.contains("MPTCP") && description.contains("2 subflows"));
        }
        assert_eq!(count(v, "lost"), 0, "{v}");
        assert_eq!(count(v, "duplicates"), 0, "{v}");
        assert_eq!(count(v, "out_of_order"), 0, "{v}");
        // Two equal 10 Mbit/s paths: each carried at least a quarter of the bytes, and
        // together more than one path could.
        let bytes = path_bytes(v);
        let total: u64 = bytes.iter().sum();
        assert!(
            bytes.iter().all(|&b| b * 4 >= total),
            "{transport}: {bytes:?}"
        );
        let goodput = number(v, "goodput_mbps");
        assert!(goodput > 12.0 && goodput <= 20.0, "{transport}: {goodput}");
    }
}
