//! `endpoint_survives_garbage`: no panic, no unbounded allocation: 100,000 random
//! datagrams, and truncations and bit flips of valid packets, fed to an endpoint that has
//! a live connection; afterwards the connection still carries messages.

mod common;

use common::*;
use netchan_tests::link::LinkConfig;
use netchan_tests::sim::{Control, Sim};
use netchan_transport::{ConnectionHandle, Event, TransportConfig};
use proptest::prelude::*;
use std::net::SocketAddr;
use std::time::Duration;

/// A connected pair plus real packets captured from its traffic.
fn setup() -> (Sim, ConnectionHandle, ConnectionHandle, Vec<Vec<u8>>) {
    let link = LinkConfig::ideal(Duration::from_millis(5));
    let (mut sim, c, s) = connected_pair(
        9,
        TransportConfig::default(),
        TransportConfig::default(),
        link,
    );
    let ch = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .unwrap()
        .open_channel(b"x")
        .unwrap();
    for i in 0..50u32 {
        let conn = sim.nodes[CLIENT].endpoint.connection(c).unwrap();
        conn.send(ch, &vec![i as u8; 10 + 97 * i as usize]).unwrap();
    }
    let mut buf = Vec::new();
    let now = sim.now;
    let mut captured: Vec<Vec<u8>> = sim
        .take_transmits(CLIENT)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    // Also capture a real Initial from a fresh dialer.
    let mut dialer =
        netchan_transport::Endpoint::new(endpoint(77, TransportConfig::default()), now);
    dialer
        .connect(now, sim.nodes[CLIENT].local, sim.nodes[SERVER].addr)
        .unwrap();
    if let Some(t) = dialer.poll_transmit(now, &mut buf) {
        captured.push(buf[..t.size].to_vec());
    }
    assert!(captured.len() >= 10);
    (sim, c, s, captured)
}

fn attacker() -> SocketAddr {
    "192.0.2.66:666".parse().unwrap()
}

/// Feeds datagrams to the server from the attacker's address and the client's address.
fn feed(sim: &mut Sim, datagrams: &[Vec<u8>]) {
    let now = sim.now;
    let client_addr = sim.nodes[CLIENT].addr;
    for (i, d) in datagrams.iter().enumerate() {
        let from = if i % 2 == 0 { attacker() } else { client_addr };
        sim.deliver(SERVER, from, d);
    }
    // Drain whatever the endpoint wants to send (e.g. ACKs); bounded by the endpoint.
    let mut buf = Vec::new();
    let mut n = 0;
    while sim.nodes[SERVER]
        .endpoint
        .poll_transmit(now, &mut buf)
        .is_some()
    {
        n += 1;
        assert!(n < 100_000, "runaway transmit");
    }
    while sim.nodes[SERVER].endpoint.poll_event().is_some() {}
}

/// After the abuse, the original connection still works both ways.
fn still_serves(sim: &mut Sim, c: ConnectionHandle, s: ConnectionHandle) {
    let conn = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .expect("client connection alive");
    let ch = conn.open_channel(b"after").unwrap();
    conn.send(ch, b"still here").unwrap();
    let mut got = false;
    sim.run(100_000, sim.elapsed() + Duration::from_secs(30), |sim| {
        for (h, e) in sim.events(SERVER) {
            if let Event::ChannelReadable(rch) = e {
                let conn = sim.nodes[SERVER].endpoint.connection(h).unwrap();
                while let Some(m) = conn.recv(rch) {
                    got |= &m[..] == b"still here";
                }
            }
            assert!(
                !matches!(e, Event::Closed(_)),
                "server connection closed: {e:?}"
            );
        }
        if got {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert!(sim.nodes[SERVER].endpoint.connection(s).is_some());
}

fn arb_datagram(cid: [u8; 8]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Fully random bytes.
        proptest::collection::vec(any::<u8>(), 0..1500),
        // A short header aimed at the live connection, random rest.
        (0u8..0x20, proptest::collection::vec(any::<u8>(), 0..1400)).prop_map(move |(f, rest)| {
            let mut d = vec![0x80 | f];
            d.extend_from_slice(&cid);
            d.extend(rest);
            d
        }),
        // A long-header Initial of a valid size, random content.
        proptest::collection::vec(any::<u8>(), 1200..1400).prop_map(|mut d| {
            d[0] = 0xa0;
            d[1..5].copy_from_slice(&0x6e63_0001u32.to_be_bytes());
            d
        }),
    ]
}

#[test]
fn endpoint_survives_garbage() {
    let (sim, c, s, captured) = setup();
    let sim = std::cell::RefCell::new(sim);
    let cid = sim.borrow_mut().nodes[SERVER]
        .endpoint
        .connection(s)
        .unwrap()
        .local_cid()
        .0;
    // 1,000 cases × 100 datagrams = 100,000 random datagrams.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 1000,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &proptest::collection::vec(arb_datagram(cid), 100),
            |batch| {
                let mut sim = sim.borrow_mut();
                feed(&mut sim, &batch);
                prop_assert!(sim.nodes[SERVER].endpoint.connection_count() <= 1);
                Ok(())
            },
        )
        .unwrap();
    // Truncations and bit flips of valid packets.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    });
    let n = captured.len();
    runner
        .run(
            &(0..n, any::<usize>(), any::<u8>(), any::<bool>()),
            |(i, pos, bit, truncate)| {
                let mut d = captured[i].clone();
                if truncate {
                    d.truncate(pos % d.len());
                } else {
                    let p = pos % d.len();
                    d[p] ^= 1 << (bit % 8);
                }
                let mut sim = sim.borrow_mut();
                feed(&mut sim, &[d]);
                // A bit flip in the header of the captured Initial yields another valid
                // Initial (new connection IDs), which may be accepted: bounded by the flips.
                prop_assert!(sim.nodes[SERVER].endpoint.connection_count() <= 1 + 2000);
                Ok(())
            },
        )
        .unwrap();
    let mut sim = sim.into_inner();
    let stats = sim.nodes[SERVER].endpoint.stats();
    let cstats = sim.nodes[SERVER].endpoint.connection(s).unwrap().stats();
    eprintln!(
        "server endpoint after garbage: {stats:?}; connection auth failures {}",
        cstats.auth_failures
    );
    assert!(stats.datagrams_received >= 102_000);
    assert!(
        cstats.auth_failures > 0,
        "forged packets reached the connection and were rejected"
    );
    still_serves(&mut sim, c, s);
}
