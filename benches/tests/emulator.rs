//! Accuracy of the real-time link emulator: what the harness reports is only as good as
//! the links it emulates. Rate within 5% and delay within 1 ms at up to 50 Mbit/s, and
//! scripted events (blackhole, loss change) take effect at their time.

use netchan_bench::emu::Emulator;
use netchan_bench::spec::{Event, PathSpec};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A sink socket on loopback, a client socket, and an emulator between them.
fn setup(spec: &str) -> (Emulator, UdpSocket, UdpSocket) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let emu = Emulator::udp(
        &[PathSpec::parse(spec).unwrap()],
        sink.local_addr().unwrap(),
        7,
    )
    .unwrap();
    (emu, client, sink)
}

/// Sends `n` datagrams of `size` bytes at `bps` (each carrying its send time) and
/// returns (arrival, send time in ns since `t0`, size) for each one received.
fn stream(
    client: &UdpSocket,
    sink: &UdpSocket,
    to: SocketAddr,
    n: usize,
    size: usize,
    bps: f64,
) -> Vec<(Instant, Instant, usize)> {
    let t0 = Instant::now();
    let gap = Duration::from_secs_f64(size as f64 * 8.0 / bps);
    let sink2 = sink.try_clone().unwrap();
    sink2
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let rx = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 2048];
        while let Ok(len) = sink2.recv(&mut buf) {
            let ns = u64::from_le_bytes(buf[..8].try_into().unwrap());
            got.push((Instant::now(), ns, len));
        }
        got
    });
    let mut msg = vec![0u8; size];
    for i in 0..n {
        let due = t0 + gap * i as u32;
        while Instant::now() < due {
            std::thread::sleep((due - Instant::now()).min(Duration::from_micros(200)));
        }
        let ns = Instant::now().duration_since(t0).as_nanos() as u64;
        msg[..8].copy_from_slice(&ns.to_le_bytes());
        client.send_to(&msg, to).unwrap();
    }
    rx.join()
        .unwrap()
        .into_iter()
        .map(|(at, ns, len)| (at, t0 + Duration::from_nanos(ns), len))
        .collect()
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Timing on this VM is noisy: now and then a sleeping thread is woken 1-5 ms late (the
/// vCPU itself was not running: `steal` in vmstat), which no userspace emulator can
/// prevent and which can spoil one measurement. Each accuracy check therefore gets up to
/// three attempts (all printed) and must meet its bound in one of them; a systematic
/// error (a doubled delay, a wrong rate) fails all three.
fn within_three_attempts(what: &str, mut attempt: impl FnMut() -> Result<String, String>) {
    let mut failures = Vec::new();
    for i in 1..=3 {
        match attempt() {
            Ok(report) => {
                eprintln!("{what}: {report} (attempt {i})");
                return;
            }
            Err(report) => {
                eprintln!("{what}: {report} (attempt {i}: out of bounds)");
                failures.push(report);
            }
        }
    }
    panic!("{what}: out of bounds in 3 attempts: {failures:?}");
}

#[test]
fn rate_within_five_percent() {
    for (rate, mbit) in [("10mbit", 10e6), ("50mbit", 50e6)] {
        within_three_attempts(&format!("rate {rate}"), || {
            // Offer 20% more than the rate, with a queue large enough to never drop: the
            // arrivals are spaced by the bottleneck.
            let (emu, client, sink) = setup(&format!("rate={rate},queue=100000"));
            let n = (mbit * 1.5 / 8.0 / 1200.0) as usize; // ~1.5 s of traffic
            let got = stream(&client, &sink, emu.paths[0].front, n, 1200, mbit * 1.2);
            if got.len() != n {
                return Err(format!("{} of {n} datagrams arrived", got.len()));
            }
            let span = got.last().unwrap().0 - got[0].0;
            let bits = (got.len() - 1) as f64 * 1200.0 * 8.0;
            let measured = bits / span.as_secs_f64();
            let report = format!(
                "measured {:.3} Mbit/s ({:+.2}%)",
                measured / 1e6,
                (measured / mbit - 1.0) * 100.0
            );
            if (measured / mbit - 1.0).abs() < 0.05 {
                Ok(report)
            } else {
                Err(report)
            }
        });
    }
}

#[test]
fn delay_within_one_millisecond() {
    // (spec, delay, link rate, offered rate)
    for (spec, delay_ms, link, bps) in [
        ("delay=10ms", 10.0, f64::INFINITY, 4e6),
        ("rate=50mbit,delay=20ms", 20.0, 50e6, 25e6),
        ("rate=10mbit,delay=5ms", 5.0, 10e6, 5e6),
    ] {
        within_three_attempts(spec, || {
            let (emu, client, sink) = setup(spec);
            // Half the link rate: the queue stays short, so the delay is the propagation
            // delay plus one datagram's serialisation.
            let got = stream(&client, &sink, emu.paths[0].front, 1000, 1200, bps);
            if got.len() != 1000 {
                return Err(format!("{} of 1000 datagrams arrived", got.len()));
            }
            let serialise = 1200.0 * 8.0 / link * 1e3;
            let mut d: Vec<f64> = got
                .iter()
                .map(|(at, sent, _)| (*at - *sent).as_secs_f64() * 1e3 - serialise)
                .collect();
            let mean = d.iter().sum::<f64>() / d.len() as f64;
            let (p50, p90, p99) = (
                percentile(&mut d, 0.5),
                percentile(&mut d, 0.9),
                percentile(&mut d, 0.99),
            );
            let report = format!(
                "one-way delay mean {mean:.3} ms, p50 {p50:.3} ms, p90 {p90:.3} ms, \
                 p99 {p99:.3} ms (configured {delay_ms} ms)"
            );
            // The median and the mean within 1 ms; p90/p99 are printed (single datagrams
            // suffer the VM's late wake-ups the most).
            if (p50 - delay_ms).abs() < 1.0 && (mean - delay_ms).abs() < 1.0 {
                Ok(report)
            } else {
                Err(report)
            }
        });
    }
}

#[test]
fn blackhole_event_drops_only_inside_its_window() {
    let (emu, client, sink) = setup("delay=1ms");
    let t0 = Instant::now();
    emu.begin(t0, &[Event::parse("blackhole=0@300ms..600ms").unwrap()]);
    // 1000 datagrams per second for 0.9 s.
    let got = stream(&client, &sink, emu.paths[0].front, 900, 100, 800_000.0);
    let mut sent_ms: Vec<f64> = got
        .iter()
        .map(|(_, sent, _)| (*sent - t0).as_secs_f64() * 1e3)
        .collect();
    sent_ms.sort_by(f64::total_cmp);
    let inside = sent_ms
        .iter()
        .filter(|&&t| (302.0..598.0).contains(&t))
        .count();
    let before = sent_ms.iter().filter(|&&t| t < 295.0).count();
    let after = sent_ms.iter().filter(|&&t| t > 605.0).count();
    eprintln!("blackhole: {before} before, {inside} inside, {after} after");
    assert_eq!(inside, 0, "datagrams sent inside the blackhole arrived");
    assert!(
        before >= 280 && after >= 280,
        "{before} before, {after} after"
    );
    let stats = emu.paths[0].up.stats.lock().unwrap().clone();
    assert!(stats.dropped_blackhole >= 290, "{stats:?}");
}

#[test]
fn loss_event_changes_the_loss_rate() {
    let (emu, client, sink) = setup("delay=1ms");
    let t0 = Instant::now();
    emu.begin(t0, &[Event::parse("loss=0:50%@500ms").unwrap()]);
    let got = stream(&client, &sink, emu.paths[0].front, 1000, 100, 800_000.0);
    let (mut first, mut second) = (0, 0);
    for (_, sent, _) in &got {
        if (*sent - t0) < Duration::from_millis(495) {
            first += 1;
        } else if (*sent - t0) > Duration::from_millis(505) {
            second += 1;
        }
    }
    eprintln!("loss event: {first}/~495 before, {second}/~495 after");
    assert!(first >= 490, "no loss before the event: {first}");
    assert!(
        (180..=320).contains(&second),
        "about half lost after: {second}"
    );
}
