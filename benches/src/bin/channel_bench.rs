//! `channel-bench`: the channel API over loopback, measured end to end (serde, driver
//! threads, sockets, encryption): one-way 64-byte message rate, 64-byte ping-pong round
//! trip, 1 MiB message throughput, and the CPU an idle pair of nodes uses. Payloads are
//! `serde_bytes::ByteBuf` (serde's efficient byte string; a plain `Vec<u8>` serializes
//! element by element).
//!
//! `cargo run --release -p netchan-bench --bin channel-bench [-- [--quick] [oneway] [pingpong] [bulk] [idle]]`

use netchan::{Node, NodeConfig, Peer};
use serde_bytes::ByteBuf;
use std::time::{Duration, Instant};

fn config() -> NodeConfig {
    let mut c = NodeConfig::new().bind("127.0.0.1:0".parse().unwrap());
    if let Some(mds) = std::env::var("NC_MDS").ok().and_then(|v| v.parse().ok()) {
        c.transport.max_datagram_size = mds;
    }
    c
}

fn pair() -> (Node, Node, Peer, Peer) {
    let b = Node::new(config()).expect("bind");
    let a = Node::new(config()).expect("node");
    let pb = a.dial(&b.address()).expect("dial");
    let pa = b.peer(a.public_key());
    (a, b, pb, pa)
}

/// CPU time (ns) of every thread of this process, from /proc.
fn process_cpu_ns() -> u64 {
    let mut total = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                total += s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    total
}

fn one_way(n: u64) -> f64 {
    let (_a, _b, pb, pa) = pair();
    let (tx, _) = pb.channel::<ByteBuf>("rate", 8192).unwrap();
    let (_, rx) = pa.channel::<ByteBuf>("rate", 8192).unwrap();
    tx.send(ByteBuf::from(vec![0; 64])).unwrap(); // wait for the channel to open both ways
    rx.recv().unwrap();
    let t0 = Instant::now();
    let s = std::thread::spawn(move || {
        let m = ByteBuf::from(vec![7u8; 64]);
        for _ in 0..n {
            tx.send(m.clone()).unwrap();
        }
        tx
    });
    for _ in 0..n {
        rx.recv().unwrap();
    }
    let el = t0.elapsed();
    drop(s.join());
    n as f64 / el.as_secs_f64()
}

fn ping_pong(n: usize) -> (Duration, Duration, Duration) {
    let (_a, _b, pb, pa) = pair();
    let (ping_tx, pong_rx) = pb.channel::<ByteBuf>("pp", 16).unwrap();
    let (pong_tx, ping_rx) = pa.channel::<ByteBuf>("pp", 16).unwrap();
    let echo = std::thread::spawn(move || {
        for m in ping_rx.iter() {
            if pong_tx.send(m).is_err() {
                break;
            }
        }
    });
    let mut rtts = Vec::with_capacity(n);
    let m = ByteBuf::from(vec![1u8; 64]);
    for i in 0..n + 200 {
        let t = Instant::now();
        ping_tx.send(m.clone()).unwrap();
        pong_rx.recv().unwrap();
        if i >= 200 {
            rtts.push(t.elapsed());
        }
    }
    drop(ping_tx);
    drop(pong_rx);
    drop((_a, _b));
    let _ = echo.join();
    rtts.sort();
    (
        rtts[rtts.len() / 2],
        rtts[rtts.len() * 99 / 100],
        rtts[rtts.len() - 1],
    )
}

fn bulk(n: usize) -> f64 {
    let (_a, _b, pb, pa) = pair();
    let (tx, _) = pb.channel::<ByteBuf>("bulk", 8).unwrap();
    let (_, rx) = pa.channel::<ByteBuf>("bulk", 8).unwrap();
    let m = ByteBuf::from(vec![3u8; 1 << 20]);
    tx.send(m.clone()).unwrap();
    rx.recv().unwrap();
    let t0 = Instant::now();
    let s = std::thread::spawn(move || {
        for _ in 0..n {
            tx.send(m.clone()).unwrap();
        }
        tx
    });
    for _ in 0..n {
        assert_eq!(rx.recv().unwrap().len(), 1 << 20);
    }
    let el = t0.elapsed();
    drop(s.join());
    if let Some(st) = pb.stats() {
        eprintln!(
            "  sender: {} packets, {} lost, cwnd {} B, rtt {:?}",
            st.packets_sent, st.packets_lost, st.cwnd, st.rtt
        );
    }
    (n << 20) as f64 / el.as_secs_f64() / 1e6
}

fn idle(secs: u64) -> f64 {
    let (a, b, pb, pa) = pair();
    let (_t1, _r1) = pb.channel::<u8>("idle", 1).unwrap();
    let (_t2, _r2) = pa.channel::<u8>("idle", 1).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let c0 = process_cpu_ns();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = (process_cpu_ns() - c0) as f64 / 1e9;
    let wall = t0.elapsed().as_secs_f64();
    drop((a, b));
    // Two nodes ran: per node, as a percentage of one core.
    cpu / wall / 2.0 * 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let run = |name: &str| only.is_empty() || only.contains(&name);
    let (n_msgs, n_pp, n_bulk, idle_s) = if quick {
        (200_000, 2_000, 50, 2)
    } else {
        (2_000_000, 20_000, 500, 10)
    };
    eprintln!("channel-bench: loopback, two nodes in one process (each with its driver thread)");
    if run("oneway") {
        eprintln!("  one-way 64-byte messages ({n_msgs})...");
        let rate = one_way(n_msgs);
        println!(
            "one-way 64-byte messages: {:.0} msg/s ({:.2} M/s)",
            rate,
            rate / 1e6
        );
    }
    if run("pingpong") {
        eprintln!("  ping-pong 64 bytes ({n_pp} round trips)...");
        let (p50, p99, max) = ping_pong(n_pp);
        println!(
            "ping-pong 64-byte round trip: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            max.as_secs_f64() * 1e6
        );
    }
    if run("bulk") {
        eprintln!("  1 MiB messages ({n_bulk})...");
        let mbps = bulk(n_bulk);
        println!("1 MiB message throughput: {mbps:.0} MB/s");
    }
    if run("idle") {
        eprintln!("  idle pair for {idle_s} s...");
        let cpu = idle(idle_s);
        println!("idle node CPU: {cpu:.3}% of one core");
    }
}
