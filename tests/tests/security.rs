//! Security acceptance tests: bad peers, key-gated silence, bit flips, amplification,
//! handshake floods and key updates under loss — all over the real Noise handshake and
//! ChaCha20-Poly1305 packet protection.

use netchan_tests::link::LinkConfig;
use netchan_tests::pair::Pair;
use netchan_tests::scenarios::{CLIENT, SERVER, keypair};
use netchan_tests::sim::Sim;
#[allow(unused_imports)]
use netchan_tests::sim::SimError as _;
use netchan_tests::workload::Stream;
use netchan_transport::gate;
use netchan_transport::wire::{
    ConnectionId, Header, LongHeader, LongType, PROTOCOL_VERSION, write_varint,
};
use netchan_transport::{
    ConnectionError, Endpoint, EndpointConfig, Event, NoiseConfig, TransportConfig,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(noise: NoiseConfig, seed: u64, transport: TransportConfig) -> EndpointConfig {
    let mut c = EndpointConfig::seeded_for_tests(Arc::new(noise), seed);
    c.transport = Arc::new(transport);
    c
}

fn short_handshake() -> TransportConfig {
    TransportConfig {
        handshake_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

/// The listener's address in the single-endpoint tests.
const SA: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, 2)),
    4433,
);

fn addr(i: u32) -> SocketAddr {
    SocketAddr::from((
        [198, 18, (i >> 8) as u8, i as u8],
        1000 + (i % 50000) as u16,
    ))
}

/// The client's first datagram for a connection to the server.
fn capture_initial(
    client: &mut Endpoint,
    now: Instant,
    to: SocketAddr,
    key: Option<[u8; 32]>,
) -> Vec<u8> {
    client
        .connect_with(now, "10.1.0.1:5000".parse().unwrap(), to, key)
        .unwrap();
    let mut buf = Vec::new();
    let t = client.poll_transmit(now, &mut buf).unwrap();
    buf.truncate(t.size);
    buf
}

/// Rebuilds an Initial around another handshake message, with a valid mac1 for a
/// listener without PSK whose key is `listener` (what any stranger can compute).
fn forge_initial(template: &[u8], msg: &[u8], listener: &[u8; 32]) -> Vec<u8> {
    let mut d = template[..21].to_vec();
    write_varint(&mut d, msg.len() as u64);
    d.extend_from_slice(msg);
    d.resize(d.len().max(1200 - 32), 0);
    let mac1 = gate::mac(&gate::mac1_key(None, Some(listener)), &d);
    d.extend_from_slice(&mac1);
    d.extend_from_slice(&[0; 16]);
    d
}

/// The handshake message inside an Initial.
fn initial_message(initial: &[u8]) -> Vec<u8> {
    let mut r = netchan_transport::wire::Reader::new(&initial[21..]);
    let len = r.varint("len").unwrap() as usize;
    r.bytes(len, "msg").unwrap().to_vec()
}

#[test]
fn handshake_rejects_bad_peers() {
    let server_kp = keypair(2);
    let server_key = server_kp.public().0;
    let loose = || {
        let mut c = config(NoiseConfig::new(keypair(2)), 2, short_handshake());
        c.handshake_load_limit = u64::MAX; // every forged Initial reaches the handshake
        c.handshakes_per_source_per_sec = 1_000_000;
        c
    };

    // Wrong pinned key: the listener cannot read message 1; the dialer times out.
    let mut n = Pair::new(
        config(NoiseConfig::new(keypair(1)), 1, short_handshake()),
        loose(),
    );
    n.dial(Some(keypair(99).public().0));
    n.run(3000);
    assert_eq!(n.client_closed(), Some(ConnectionError::HandshakeTimedOut));
    // mac1 is keyed by the pinned key: the listener drops it before any Diffie-Hellman.
    assert!(n.server().stats().gated >= 1);
    assert_eq!(n.server().connection_count(), 0);
    assert!(!n.server_connected());

    // Not on the allow-list, IK (refused at message 1) and XX (refused at message 3).
    for pinned in [true, false] {
        let only_someone_else = NoiseConfig::new(keypair(2)).allow_only([keypair(50).public()]);
        let mut n = Pair::new(
            config(NoiseConfig::new(keypair(1)), 1, short_handshake()),
            config(only_someone_else, 2, short_handshake()),
        );
        let key = pinned.then_some(server_key);
        n.dial(key);
        n.run(3000);
        assert!(!n.server_connected(), "pinned={pinned}");
        assert!(matches!(
            n.client_closed(),
            Some(ConnectionError::HandshakeTimedOut | ConnectionError::HandshakeFailed)
        ));
        assert_eq!(n.server().connection_count(), 0, "pinned={pinned}");
    }

    // Missing and wrong PSK: dropped at the mac1 gate, before any Diffie-Hellman.
    for client_psk in [None, Some([9u8; 32])] {
        let mut dialer = NoiseConfig::new(keypair(1));
        if let Some(p) = client_psk {
            dialer = dialer.with_psk(p);
        }
        let mut n = Pair::new(
            config(dialer, 1, short_handshake()),
            config(
                NoiseConfig::new(keypair(2)).with_psk([7; 32]),
                2,
                short_handshake(),
            ),
        );
        n.dial(Some(server_key));
        n.run(3000);
        assert_eq!(n.client_closed(), Some(ConnectionError::HandshakeTimedOut));
        assert!(n.server().stats().gated >= 1);
        assert_eq!(
            n.server().stats().handshake_failures,
            0,
            "no DH for strangers"
        );
        assert_eq!(n.sim.sent_total(SERVER).bytes, 0, "no reply at all");
    }
    // Control: the right PSK connects.
    let mut n = Pair::new(
        config(
            NoiseConfig::new(keypair(1)).with_psk([7; 32]),
            1,
            short_handshake(),
        ),
        config(
            NoiseConfig::new(keypair(2)).with_psk([7; 32]),
            2,
            short_handshake(),
        ),
    );
    n.dial(Some(server_key));
    n.run(50);
    assert!(n.server_connected());

    // Truncated, bit-flipped and low-order first messages, with a valid mac1 so they
    // reach the handshake: every one rejected, no session.
    let mut server = Endpoint::new(loose(), Instant::now());
    let now = Instant::now();
    let mut dialer = Endpoint::new(
        config(NoiseConfig::new(keypair(1)), 1, short_handshake()),
        now,
    );
    dialer.set_wall_clock(now, 1_790_000_000_000);
    let initial = capture_initial(
        &mut dialer,
        now,
        "10.1.0.2:4433".parse().unwrap(),
        Some(server_key),
    );
    let msg = initial_message(&initial);
    let mut forged = Vec::new();
    for cut in 0..msg.len() {
        forged.push(forge_initial(&initial, &msg[..cut], &server_key));
    }
    for bit in 0..msg.len() * 8 {
        let mut m = msg.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        forged.push(forge_initial(&initial, &m, &server_key));
    }
    let mut low_order = msg.clone();
    low_order[1..33].copy_from_slice(&[0; 32]); // the ephemeral key: the all-zero point
    forged.push(forge_initial(&initial, &low_order, &server_key));
    for (i, d) in forged.iter().enumerate() {
        server.handle_datagram(now, SA, addr(i as u32), &mut d.to_vec());
    }
    let stats = server.stats();
    eprintln!(
        "forged first messages: {} sent, {} handshake failures, {} gated, {} sessions",
        forged.len(),
        stats.handshake_failures,
        stats.gated,
        server.connection_count()
    );
    assert_eq!(server.connection_count(), 0);
    assert_eq!(stats.accepted, 0);
    assert_eq!(
        stats.handshake_failures + stats.datagrams_dropped,
        forged.len() as u64
    );
    // The genuine Initial still works afterwards.
    server.handle_datagram(now, SA, addr(1_000_000), &mut initial.to_vec());
    assert_eq!(server.connection_count(), 1);

    // A tampered second message does not break the dialer's handshake: ignored, and the
    // genuine one completes it.
    let mut n = Pair::new(
        config(NoiseConfig::new(keypair(1)), 1, short_handshake()),
        loose(),
    );
    n.dial(Some(server_key));
    for d in n.take_client() {
        n.deliver_to_server(&d);
    }
    let genuine = n.take_server().swap_remove(0).1;
    for bit in (21 * 8..genuine.len() * 8).step_by(3) {
        let mut m = genuine.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        n.deliver_to_client(&m);
    }
    assert!(
        n.client().poll_event().is_none(),
        "no session from tampered answers"
    );
    n.deliver_to_client(&genuine);
    assert_eq!(
        n.client().poll_event().map(|(_, e)| e),
        Some(Event::Connected)
    );
}

#[test]
fn psk_gated_silence() {
    let psk = [7u8; 32];
    let server_key = keypair(2).public().0;
    let mut n = Pair::new(
        config(
            NoiseConfig::new(keypair(1)).with_psk(psk),
            1,
            TransportConfig::default(),
        ),
        config(
            NoiseConfig::new(keypair(2)).with_psk(psk),
            2,
            TransportConfig::default(),
        ),
    );
    // A legitimate client connects and exchanges data; we keep its packets for replays.
    let c = n.dial(Some(server_key));
    let mut legit = Vec::new();
    let first = n.take_client().swap_remove(0);
    n.deliver_to_server(&first);
    legit.push(first);
    n.run(20);
    let ch = n
        .client()
        .connection(c)
        .unwrap()
        .open_channel(b"x")
        .unwrap();
    for i in 0..20u8 {
        n.client()
            .connection(c)
            .unwrap()
            .send(ch, &[i; 100])
            .unwrap();
        for d in n.take_client() {
            n.deliver_to_server(&d);
            legit.push(d);
        }
        n.run(2);
    }
    assert!(n.server_connected());

    let stranger: SocketAddr = "203.0.113.9:7777".parse().unwrap();
    let mut probes: Vec<Vec<u8>> = Vec::new();
    // Valid-looking initiations without the PSK: IK (knows the key) and XX.
    for (i, key) in [Some(server_key), None].into_iter().enumerate() {
        let mut e = Endpoint::new(
            config(
                NoiseConfig::new(keypair(30 + i as u64)),
                30,
                TransportConfig::default(),
            ),
            n.now(),
        );
        probes.push(capture_initial(&mut e, n.now(), n.sa(), key));
    }
    // Garbage: random bytes, random long and short headers of every size class.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for len in [0usize, 1, 20, 21, 60, 1199, 1200, 1300, 1500] {
        for first in [0x00u8, 0x80, 0xa0, 0xa3, 0xff] {
            let mut d = vec![0u8; len];
            rng.fill_bytes(&mut d);
            if let Some(b) = d.first_mut() {
                *b = first;
            }
            probes.push(d);
        }
    }
    // Replays of the legitimate client's packets, Initial included, from elsewhere.
    probes.extend(legit.iter().cloned());
    let sent_before = n.sim.sent(SERVER, stranger).bytes;
    for p in &probes {
        n.sim.deliver(SERVER, stranger, p);
        n.flush();
    }
    n.run(2000); // let every timer fire
    let to_stranger = n.sim.sent(SERVER, stranger).bytes - sent_before;
    eprintln!(
        "{} probes from a stranger (no-PSK initiations, garbage, replays): {} bytes answered; \
         server stats {:?}",
        probes.len(),
        to_stranger,
        n.server().stats()
    );
    assert_eq!(to_stranger, 0, "the port must look closed");
    assert!(n.server().stats().gated >= 2);
    assert_eq!(
        n.server().connection_count(),
        1,
        "only the legitimate connection"
    );
}

#[test]
fn bit_flips_rejected() {
    let server_key = keypair(2).public().0;
    let mut n = Pair::new(
        config(NoiseConfig::new(keypair(1)), 1, TransportConfig::default()),
        config(NoiseConfig::new(keypair(2)), 2, TransportConfig::default()),
    );
    let c = n.dial(Some(server_key));
    n.run(10);
    let s = n.server().handles().next().unwrap();
    let ch = n
        .client()
        .connection(c)
        .unwrap()
        .open_channel(b"flip")
        .unwrap();
    let (mut packets, mut flips, mut truncations) = (0u64, 0u64, 0u64);
    while packets < 10_000 {
        n.client()
            .connection(c)
            .unwrap()
            .send(ch, &packets.to_be_bytes())
            .unwrap();
        for pkt in n.take_client() {
            let before = n.server().connection(s).unwrap().stats();
            for bit in 0..pkt.len() * 8 {
                let mut m = pkt.clone();
                m[bit / 8] ^= 1 << (bit % 8);
                n.deliver_to_server(&m);
            }
            for len in [0, 1, 9, pkt.len() / 2, pkt.len() - 17, pkt.len() - 1] {
                n.deliver_to_server(&pkt[..len]);
            }
            flips += pkt.len() as u64 * 8;
            truncations += 6;
            let after = n.server().connection(s).unwrap().stats();
            assert_eq!(
                before.packets_received, after.packets_received,
                "a mutation was accepted"
            );
            assert_eq!(before.bytes_delivered, after.bytes_delivered);
            n.deliver_to_server(&pkt);
            let accepted = n.server().connection(s).unwrap().stats();
            assert_eq!(
                accepted.packets_received,
                before.packets_received + 1,
                "the original still opens"
            );
            packets += 1;
        }
        n.run(1);
        while n.server().connection(s).unwrap().recv(ch).is_some() {}
    }
    let st = n.server().connection(s).unwrap().stats();
    eprintln!(
        "{packets} valid packets, {flips} single-bit flips and {truncations} truncations: all \
         rejected ({} authentication failures, the rest dropped before decryption); every \
         original accepted afterwards",
        st.auth_failures
    );
    assert!(st.auth_failures > flips / 2);
}

#[test]
fn amplification_limit() {
    let server_key = keypair(2).public().0;
    // 1. A spoofed dialer: the victim's address never answers. The listener's application
    //    starts streaming at once (IK allows it), yet the victim gets ≤ 3× what "it" sent.
    let mut server = Endpoint::new(
        config(NoiseConfig::new(keypair(2)), 2, TransportConfig::default()),
        Instant::now(),
    );
    let mut now = Instant::now();
    let victim: SocketAddr = "192.0.2.77:9999".parse().unwrap();
    let mut attacker = Endpoint::new(
        config(NoiseConfig::new(keypair(3)), 3, TransportConfig::default()),
        now,
    );
    attacker.set_wall_clock(now, 1_790_000_000_000);
    let initial = capture_initial(
        &mut attacker,
        now,
        "10.1.0.2:4433".parse().unwrap(),
        Some(server_key),
    );
    let mut received_from_victim = 0u64;
    let mut sent_to_victim = 0u64;
    let mut buf = Vec::new();
    for i in 0..3 {
        // The "victim" sends the Initial (and two retransmissions of it).
        server.handle_datagram(now, SA, victim, &mut initial.to_vec());
        received_from_victim += initial.len() as u64;
        while let Some((h, e)) = server.poll_event() {
            if e == Event::Connected {
                let conn = server.connection(h).unwrap();
                let ch = conn.open_channel(b"eager").unwrap();
                conn.send(ch, &vec![0u8; 100_000]).unwrap();
            }
        }
        for _ in 0..2000 {
            while let Some(t) = server.poll_transmit(now, &mut buf) {
                if t.destination == victim {
                    sent_to_victim += t.size as u64;
                }
                assert!(
                    sent_to_victim <= 3 * received_from_victim,
                    "round {i}: amplification"
                );
            }
            now += Duration::from_millis(1);
            server.handle_timeout(now);
        }
    }
    eprintln!(
        "spoofed dialer: victim received {sent_to_victim} bytes for {received_from_victim} sent (limit 3×)"
    );
    assert!(sent_to_victim > 0, "the handshake answer itself is allowed");

    // 2. Normal handshakes (IK and XX) over a link that loses the dialer's first packets:
    //    before the dialer's address is validated the listener never exceeds 3×.
    for pinned in [true, false] {
        let mut n = Pair::new(
            config(NoiseConfig::new(keypair(1)), 1, TransportConfig::default()),
            config(NoiseConfig::new(keypair(2)), 2, TransportConfig::default()),
        );
        let key = pinned.then_some(server_key);
        let c = n.dial(key);
        let (mut inb, mut outb, mut validated) = (0u64, 0u64, false);
        let mut dropped = 0;
        for _ in 0..3000 {
            for d in n.take_client() {
                if dropped < 2 {
                    dropped += 1; // lose the first two client datagrams
                    continue;
                }
                validated |= d[0] & 0x20 == 0 || d[0] & 0x0f == LongType::Finish as u8;
                inb += d.len() as u64;
                n.deliver_to_server(&d);
            }
            for (_, d) in n.take_server() {
                outb += d.len() as u64;
                if !validated {
                    assert!(outb <= 3 * inb, "pinned={pinned}: {outb} > 3 × {inb}");
                }
                n.deliver_to_client(&d);
            }
            while let Some((h, e)) = n.server().poll_event() {
                if e == Event::Connected {
                    let conn = n.server().connection(h).unwrap();
                    let ch = conn.open_channel(b"eager").unwrap();
                    conn.send(ch, &vec![1u8; 50_000]).unwrap();
                }
            }
            n.sim.advance(Duration::from_millis(1));
        }
        assert!(
            n.client().connection(c).unwrap().is_established(),
            "pinned={pinned}"
        );
        assert!(
            validated && outb > 50_000,
            "the transfer went through after validation"
        );
    }
}

/// A random first message with a valid mac1 (anyone who knows the listener's public key
/// can compute it): the listener must do Diffie-Hellman to find it is garbage.
fn spoofed_initial(rng: &mut ChaCha8Rng, listener: &[u8; 32]) -> Vec<u8> {
    let mut cid = [0u8; 16];
    rng.fill_bytes(&mut cid);
    let hdr = Header::Long(LongHeader {
        ty: LongType::Initial,
        version: PROTOCOL_VERSION,
        dcid: ConnectionId(cid[..8].try_into().unwrap()),
        scid: ConnectionId(cid[8..].try_into().unwrap()),
    });
    let mut template = Vec::new();
    hdr.emit(&mut template);
    let mut msg = vec![0u8; 160];
    rng.fill_bytes(&mut msg);
    msg[0] = 0x01; // IK
    forge_initial(&template, &msg, listener)
}

#[test]
fn handshake_flood_bounded() {
    let mut sim = Sim::new(7);
    let c = sim.add_node(netchan_tests::scenarios::endpoint(
        1,
        TransportConfig::default(),
    ));
    let s = sim.add_node(netchan_tests::scenarios::endpoint(
        2,
        TransportConfig::default(),
    ));
    assert_eq!((c, s), (CLIENT, SERVER));
    sim.set_links(c, s, LinkConfig::ideal(Duration::from_millis(10)));
    let server_key = sim.nodes[s].endpoint.public_key().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let total = 100_000u64;
    let (mut injected, mut peak_conns) = (0u64, 0usize);
    let mut connect_at = None;
    let mut connected_at = None;
    let mut handle = None;
    // 100,000 spoofed initiations over 10 s (10,000/s); the real dialer starts at 2.5 s, mid-way through a load window.
    for _ in 0..10_000_000u64 {
        let due = (sim.elapsed().as_micros() as u64 / 100).min(total);
        while injected < due {
            let d = spoofed_initial(&mut rng, &server_key);
            let from = addr(injected as u32 + 1);
            sim.deliver(SERVER, from, &d);
            injected += 1;
        }
        peak_conns = peak_conns.max(sim.nodes[SERVER].endpoint.connection_count());
        if handle.is_none() && sim.elapsed() >= Duration::from_millis(2500) {
            handle = Some(sim.connect(CLIENT, SERVER));
            connect_at = Some(sim.elapsed());
        }
        for (_, e) in sim.events(CLIENT) {
            if e == Event::Connected {
                connected_at = Some(sim.elapsed());
            }
        }
        sim.events(SERVER);
        if injected == total && connected_at.is_some() {
            break;
        }
        sim.step_bounded(Some(Duration::from_micros(500)));
    }
    assert_eq!(injected, total);
    let stats = sim.nodes[SERVER].endpoint.stats();
    let took = connected_at.unwrap() - connect_at.unwrap();
    let peak_sources = sim.nodes[SERVER].endpoint.peak_tracked_sources();
    eprintln!(
        "flood of {total} spoofed initiations: real dialer connected in {took:?} (RTT 20 ms); \
         listener did {} Diffie-Hellman handshakes that failed, sent {} Retries; peak per-source \
         entries {peak_sources}, peak connections {peak_conns}",
        stats.handshake_failures, stats.retries_sent
    );
    // One cookie round trip at most: Initial → Retry → Initial with mac2 → answer.
    assert!(took <= Duration::from_millis(2 * 20 + 5), "took {took:?}");
    assert!(
        took >= Duration::from_millis(2 * 20),
        "the dialer went through a Retry"
    );
    assert!(
        stats.retries_sent > 90_000,
        "the flood was answered statelessly"
    );
    assert!(peak_sources <= 4096, "per-source state bounded");
    assert!(peak_conns <= 2, "no state for spoofed sources");
}

#[test]
fn rekey_under_loss() {
    let cfg = TransportConfig {
        rekey_packets: 8,
        ..Default::default()
    };
    let link = LinkConfig {
        loss: 0.05,
        ..LinkConfig::ideal(Duration::from_millis(5))
    };
    let (mut sim, c, s) =
        netchan_tests::scenarios::connected_pair(3, cfg.clone(), cfg, link).unwrap();
    let up = Stream::new(1, 100_000, 1, 2000);
    let down = Stream::new(2, 100_000, 1, 2000);
    let mut duplex = netchan_tests::scenarios::Duplex::new(&mut sim, c, s, up, down);
    sim.run(50_000_000, Duration::from_secs(3600), |sim| {
        duplex.step(sim)
    })
    .unwrap();
    let cu = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .unwrap()
        .key_updates();
    let su = sim.nodes[SERVER]
        .endpoint
        .connection(s)
        .unwrap()
        .key_updates();
    eprintln!(
        "rekey under 5% loss: client {cu} and server {su} key updates; 100,000 messages each \
         way delivered exactly once, in order, in {:?} virtual",
        sim.elapsed()
    );
    assert!(
        cu >= 1000 && su >= 1000,
        "key updates: client {cu}, server {su}"
    );
}
