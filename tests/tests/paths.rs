//! Path validation and migration: a new address for a path is proven with PATH_CHALLENGE
//! before the path moves there, and never gets more than 3× what it sent meanwhile.

use netchan_tests::link::LinkConfig;
use netchan_tests::scenarios::{CLIENT, SERVER, connected_pair};
use netchan_tests::sim::{Injection, Sim};
use netchan_tests::transfer::Transfer;
use netchan_tests::workload::Stream;
use netchan_transport::wire::{Header, PacketView};
use netchan_transport::{ConnectionHandle, PathEvent, PathStats, TransportConfig};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

const ONE_WAY: Duration = Duration::from_millis(10);

/// The server's one path.
fn server_path(xfer: &Transfer, sim: &mut Sim) -> PathStats {
    let conn = sim.nodes[SERVER]
        .endpoint
        .connection(xfer.server)
        .expect("server");
    let paths: Vec<PathStats> = conn.paths().collect();
    assert_eq!(paths.len(), 1, "one path until multipath");
    paths[0]
}

fn transfer(sim: &mut Sim, c: ConnectionHandle, s: ConnectionHandle, n: u64) -> Transfer {
    Transfer::start(sim, c, s, Stream::new(7, n, 200, 1200))
}

/// Client and server over 20 Mbit/s, 10 ms one way (so a transfer of 10,000 messages
/// lasts about three seconds).
fn pair(seed: u64) -> (Sim, ConnectionHandle, ConnectionHandle) {
    let cfg = TransportConfig::default();
    let link = LinkConfig {
        rate_bps: Some(20_000_000),
        queue_packets: 100,
        ..LinkConfig::ideal(ONE_WAY)
    };
    connected_pair(seed, cfg.clone(), cfg, link).expect("connected")
}

/// The validation interval for a fresh address: a PTO at the initial RTT (RFC 9000 §8.2.4).
fn fresh_pto() -> Duration {
    let rc = TransportConfig::default().recovery;
    rc.initial_rtt * 3 + rc.max_ack_delay
}

fn is_short(d: &[u8]) -> bool {
    matches!(
        PacketView::new_checked(d).map(|v| *v.header()),
        Ok(Header::Short(_))
    )
}

#[test]
fn path_validation() {
    let (mut sim, c, s) = pair(1);
    let client_addr = sim.nodes[CLIENT].addr;
    let new_addr: SocketAddr = "198.51.100.7:5555".parse().expect("address");
    // At 200 ms, one of the client's packets also arrives from a new address, ahead of
    // the original (a second interface, or a forwarder): authentic, newest, never answers.
    let injected = Rc::new(RefCell::new(0u64));
    let counter = injected.clone();
    sim.intercept(
        CLIENT,
        SERVER,
        Box::new(move |t, d| {
            if t < Duration::from_millis(200) || *counter.borrow() > 0 || !is_short(d) {
                return Vec::new();
            }
            *counter.borrow_mut() += d.len() as u64;
            vec![Injection {
                after: Duration::ZERO,
                from: new_addr,
                bytes: d.to_vec(),
            }]
        }),
    );
    let mut xfer = transfer(&mut sim, c, s, 10_000);
    sim.run(10_000_000, Duration::from_secs(120), |sim| xfer.step(sim))
        .expect("transfer completes");
    let sent_in = *injected.borrow();
    let to_new = sim.unrouted(new_addr);
    let started = xfer.events.iter().find_map(|(t, n, e)| match e {
        PathEvent::ValidationStarted { remote, .. } if *n == SERVER && *remote == new_addr => {
            Some(*t)
        }
        _ => None,
    });
    let failed = xfer.events.iter().find_map(|(t, n, e)| match e {
        PathEvent::ValidationFailed { remote, .. } if *n == SERVER && *remote == new_addr => {
            Some(*t)
        }
        _ => None,
    });
    let path = server_path(&xfer, &mut sim);
    let (started, failed) = (
        started.expect("validation started"),
        failed.expect("gave up"),
    );
    let gave_up_after = failed - started;
    eprintln!(
        "path_validation: the new 4-tuple sent {sent_in} bytes and received {} bytes in {} \
         datagrams before the challenge was given up ({:.2}× its input); gave up after \
         {gave_up_after:?} = {:.1} PTOs of a fresh path ({:?}); the connection stayed on \
         {} and delivered {} messages",
        to_new.bytes,
        to_new.datagrams,
        to_new.bytes as f64 / sent_in as f64,
        gave_up_after.as_secs_f64() / fresh_pto().as_secs_f64(),
        fresh_pto(),
        path.remote,
        xfer.stream.received
    );
    assert!(sent_in > 0, "a packet was injected");
    assert!(to_new.bytes > 0, "the new address was challenged");
    assert!(
        to_new.bytes <= 3 * sent_in,
        "amplification: {} > 3 × {sent_in}",
        to_new.bytes
    );
    let ptos = gave_up_after.as_secs_f64() / fresh_pto().as_secs_f64();
    assert!((2.5..=3.5).contains(&ptos), "gave up after {ptos:.2} PTOs");
    assert_eq!(path.remote, client_addr, "the old path stays");
    assert_eq!((path.migrations, path.failed_validations), (0, 1));
    assert!(
        !xfer
            .events
            .iter()
            .any(|(_, _, e)| matches!(e, PathEvent::Migrated { .. })),
        "no migration"
    );
}

#[test]
fn spoofed_migration_refused() {
    let (mut sim, c, s) = pair(2);
    let client_addr = sim.nodes[CLIENT].addr;
    let victim: SocketAddr = "203.0.113.50:443".parse().expect("address");
    // An on-path attacker copies the client's packets. Every 20th it replays from the
    // victim's address ahead of the original; besides, every 20th it replays an old
    // packet (already delivered) from there too. The victim never answers.
    let replayed = Rc::new(RefCell::new((0u64, 0u64)));
    let log = replayed.clone();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    sim.intercept(
        CLIENT,
        SERVER,
        Box::new(move |_, d| {
            if !is_short(d) {
                return Vec::new();
            }
            seen.push(d.to_vec());
            let n = seen.len();
            let mut out = Vec::new();
            if n.is_multiple_of(20) {
                out.push(d.to_vec());
            }
            if n % 20 == 10 && n > 100 {
                out.push(seen[n - 100].clone());
            }
            let mut l = log.borrow_mut();
            for b in &out {
                l.0 += 1;
                l.1 += b.len() as u64;
            }
            out.into_iter()
                .map(|bytes| Injection {
                    after: Duration::ZERO,
                    from: victim,
                    bytes,
                })
                .collect()
        }),
    );
    let mut xfer = transfer(&mut sim, c, s, 10_000);
    sim.run(10_000_000, Duration::from_secs(300), |sim| xfer.step(sim))
        .expect("the transfer completes despite the attack");
    let (packets, bytes) = *replayed.borrow();
    let to_victim = sim.unrouted(victim);
    let path = server_path(&xfer, &mut sim);
    let validations = xfer
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, PathEvent::ValidationStarted { .. }))
        .count();
    eprintln!(
        "spoofed_migration_refused: {packets} captured packets ({bytes} bytes) replayed from \
         the victim's address; the victim received {} bytes in {} datagrams ({:.2}× the \
         replayed bytes) over {validations} validation attempts; the connection stayed on \
         {} ({} migrations) and delivered {} messages exactly once in {:?}",
        to_victim.bytes,
        to_victim.datagrams,
        to_victim.bytes as f64 / bytes as f64,
        path.remote,
        path.migrations,
        xfer.stream.received,
        sim.elapsed()
    );
    assert!(packets > 10, "the attack ran during the transfer");
    assert!(
        to_victim.bytes <= 3 * bytes,
        "victim got {} > 3 × {bytes}",
        to_victim.bytes
    );
    assert_eq!(path.remote, client_addr, "the connection stays on its path");
    assert_eq!(path.migrations, 0);
    assert!(validations >= 1, "the replays were seen as a new address");
}

#[test]
fn nat_rebinding_migrates() {
    let (mut sim, c, s) = pair(3);
    let old = sim.nodes[CLIENT].addr;
    let rebound: SocketAddr = SocketAddr::new(old.ip(), 40_001);
    let mut xfer = transfer(&mut sim, c, s, 10_000);
    let mut rebound_at = None;
    sim.run(10_000_000, Duration::from_secs(120), |sim| {
        if rebound_at.is_none() && sim.elapsed() >= Duration::from_millis(300) {
            // The client's NAT picks a new external port mid-transfer.
            sim.rebind(CLIENT, rebound);
            rebound_at = Some(sim.elapsed());
        }
        xfer.step(sim)
    })
    .expect("the transfer completes after the rebinding");
    let rebound_at = rebound_at.expect("rebound");
    let migrated = xfer.events.iter().find_map(|(t, n, e)| match e {
        PathEvent::Migrated { from, to, .. } if *n == SERVER => Some((*t, *from, *to)),
        _ => None,
    });
    let (at, from, to) = migrated.expect("the server migrated the path");
    let path = server_path(&xfer, &mut sim);
    let lost_to_old = sim.unrouted(old);
    eprintln!(
        "nat_rebinding_migrates: client port {} -> {} at {rebound_at:?}; the server \
         validated the new address and moved the path at {at:?} ({:?} later, RTT {:?}); \
         {} datagrams had gone to the old mapping; {} messages delivered exactly once, in \
         order",
        old.port(),
        rebound.port(),
        at - rebound_at,
        path.rtt,
        lost_to_old.datagrams,
        xfer.stream.received
    );
    assert_eq!((from, to), (old, rebound));
    assert_eq!(path.remote, rebound);
    assert_eq!(path.migrations, 1);
    assert_eq!(xfer.stream.received, 10_000);
    assert!(
        at - rebound_at < Duration::from_millis(200),
        "validated within a few round trips"
    );
}
