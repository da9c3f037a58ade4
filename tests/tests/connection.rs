//! Connection behaviours over the kit's lossless pair (scenario tests with loss,
//! reordering and rate limits live beside this file).

use netchan_tests::pair::{CLIENT, Pair, SERVER};
use netchan_transport::{
    ConnectionError, Endpoint, EndpointConfig, Event, NoiseConfig, SendError, TransportConfig,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(seed: u64, t: TransportConfig) -> EndpointConfig {
    let kp = netchan_transport::identity::Keypair::from_seed([seed as u8; 32]);
    let mut c = EndpointConfig::seeded_for_tests(Arc::new(NoiseConfig::new(kp)), seed);
    c.transport = Arc::new(t);
    c
}

fn pair(client: TransportConfig, server: TransportConfig) -> Pair {
    Pair::new(config(1, client), config(2, server))
}

#[test]
fn refused_connection_reports_refused() {
    let mut p = pair(TransportConfig::default(), TransportConfig::default());
    p.server().set_accept_incoming(false);
    let (now, ca, sa) = (p.now(), p.ca(), p.sa());
    let c = p.client().connect(now, ca, sa).unwrap();
    p.run(5);
    assert!(
        p.client_events
            .contains(&(c, Event::Closed(ConnectionError::Refused)))
    );
    assert_eq!(p.server().connection_count(), 0);
    assert_eq!(p.server().stats().refused, 1);
}

#[test]
fn handshake_times_out_without_a_listener() {
    let cfg = TransportConfig {
        handshake_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let now = Instant::now();
    let mut ep = Endpoint::new(config(1, cfg), now);
    let c = ep
        .connect(
            now,
            "127.0.0.1:1000".parse().unwrap(),
            "127.0.0.1:9".parse().unwrap(),
        )
        .unwrap();
    let mut buf = Vec::new();
    let mut sent = 0;
    let mut t = now;
    let mut closed = None;
    for _ in 0..10_000 {
        while ep.poll_transmit(t, &mut buf).is_some() {
            sent += 1;
        }
        if let Some((h, Event::Closed(why))) = ep.poll_event() {
            closed = Some((h, why, t - now));
            break;
        }
        t = ep.poll_timeout().expect("a timer while handshaking");
        ep.handle_timeout(t);
    }
    let (h, why, after) = closed.expect("closed");
    assert_eq!((h, why), (c, ConnectionError::HandshakeTimedOut));
    assert!(
        after >= Duration::from_secs(2) && after < Duration::from_secs(3),
        "{after:?}"
    );
    assert!(
        (3..=10).contains(&sent),
        "Initial retransmitted with backoff: {sent}"
    );
}

#[test]
fn oversized_message_is_refused_locally() {
    let server = TransportConfig::default().max_message_size(1000);
    let mut p = pair(TransportConfig::default(), server);
    let (c, _) = p.connect();
    let conn = p.client().connection(c).unwrap();
    let ch = conn.open_channel(b"x").unwrap();
    assert_eq!(
        conn.send(ch, &[0; 1001]),
        Err(SendError::TooLarge {
            size: 1001,
            limit: 1000
        })
    );
    assert_eq!(conn.send(ch, &[0; 1000]), Ok(()));
}

#[test]
fn backpressure_blocks_then_resumes() {
    let client = TransportConfig {
        channel_send_buffer: 10_000,
        ..Default::default()
    };
    let server = TransportConfig {
        channel_receive_window: 4_000,
        ..Default::default()
    };
    let mut p = pair(client, server);
    let (c, s) = p.connect();
    let ch = p
        .client()
        .connection(c)
        .unwrap()
        .open_channel(b"x")
        .unwrap();
    let mut queued = 0;
    while p
        .client()
        .connection(c)
        .unwrap()
        .send(ch, &[7; 1000])
        .is_ok()
    {
        queued += 1;
        assert!(queued < 100);
    }
    assert!(queued >= 9, "buffer admits ~10 KB, got {queued}");
    p.run(50);
    // The receiver has not read: its window filled and was acknowledged, so the sender
    // had room for a little more, and then blocks again. The whole network-wide buffer is
    // the receive window plus the send buffer.
    let rch = netchan_transport::ChannelId(ch.0);
    while p
        .client()
        .connection(c)
        .unwrap()
        .send(ch, &[7; 1000])
        .is_ok()
    {
        queued += 1;
        assert!(queued < 100);
    }
    p.run(50);
    assert!(
        p.client()
            .connection(c)
            .unwrap()
            .send(ch, &[7; 1000])
            .is_err()
    );
    assert!(queued <= (10_000 + 4_000) / 1000 + 2, "bounded: {queued}");
    let writable_before = p.client_events.contains(&(c, Event::ChannelWritable(ch)));
    // Reading releases credit; keep reading until everything arrived.
    let mut got = 0;
    for _ in 0..100 {
        p.run(5);
        while p.server().connection(s).unwrap().recv(rch).is_some() {
            got += 1;
        }
    }
    assert!(!writable_before || queued > 10);
    assert_eq!(got, queued);
    assert!(p.client_events.contains(&(c, Event::ChannelWritable(ch))));
}

#[test]
fn graceful_shutdown_delivers_everything_then_closes() {
    let mut p = pair(TransportConfig::default(), TransportConfig::default());
    let (c, s) = p.connect();
    let conn = p.client().connection(c).unwrap();
    let ch = conn.open_channel(b"x").unwrap();
    for i in 0..100u32 {
        conn.send(ch, &i.to_be_bytes()).unwrap();
    }
    conn.shutdown();
    assert_eq!(conn.send(ch, b"late"), Err(SendError::NotConnected));
    let mut got = Vec::new();
    // Long enough for the delayed ACK and both sides' 3-PTO closing/draining periods
    // (the server has no RTT sample: its PTO is based on the 100 ms initial RTT).
    for _ in 0..1500 {
        p.run(1);
        if let Some(conn) = p.server().connection(s) {
            while let Some(m) = conn.recv(ch) {
                got.push(u32::from_be_bytes(m[..].try_into().unwrap()));
            }
        }
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert!(p.server_events.contains(&(s, Event::ChannelFinished(ch))));
    assert!(
        p.server_events.iter().any(|(h, e)| *h == s
            && matches!(
                e,
                Event::Closed(ConnectionError::ApplicationClosed { code: 0, .. })
            )),
        "{:?} / client {:?}",
        p.server_events,
        p.client_events
    );
    assert!(
        p.client_events
            .contains(&(c, Event::Closed(ConnectionError::LocallyClosed)))
    );
}

#[test]
fn application_close_reaches_the_peer_with_code_and_reason() {
    let mut p = pair(TransportConfig::default(), TransportConfig::default());
    let (c, s) = p.connect();
    let now = p.now();
    p.client().connection(c).unwrap().close(now, 7, b"bye");
    p.run(2000);
    let want = Event::Closed(ConnectionError::ApplicationClosed {
        code: 7,
        reason: bytes::Bytes::from_static(b"bye"),
    });
    assert!(
        p.server_events.contains(&(s, want)),
        "{:?}",
        p.server_events
    );
    assert_eq!(p.client().connection_count(), 0, "closing period ended");
    assert_eq!(p.server().connection_count(), 0, "draining period ended");
}

#[test]
fn unreliable_datagrams_arrive() {
    let mut p = pair(TransportConfig::default(), TransportConfig::default());
    let (c, s) = p.connect();
    let conn = p.client().connection(c).unwrap();
    let max = conn.max_datagram_payload();
    assert!(conn.send_datagram(vec![0; max + 1].into()).is_err());
    conn.send_datagram(vec![1; max].into()).unwrap();
    conn.send_datagram(bytes::Bytes::from_static(b"small"))
        .unwrap();
    p.run(3);
    assert!(p.server_events.contains(&(s, Event::DatagramReceived)));
    let conn = p.server().connection(s).unwrap();
    assert_eq!(conn.recv_datagram().unwrap().len(), max);
    assert_eq!(&conn.recv_datagram().unwrap()[..], b"small");
    assert!(conn.recv_datagram().is_none());
}

#[test]
fn huge_peer_idle_timeout_is_clamped_not_a_panic() {
    // Our idle timeout disabled: the peer's (maximal) value would be used as is.
    let client = TransportConfig::default().idle_timeout(Duration::ZERO);
    let mut params = TransportConfig::default().local_params();
    params.idle_timeout_ms = netchan_transport::wire::MAX_VARINT;
    let mut encoded = Vec::new();
    params.encode(&mut encoded);
    let decoded = netchan_transport::TransportParams::decode(&encoded).unwrap();
    assert_eq!(decoded.idle_timeout_ms, netchan_transport::wire::MAX_VARINT);
    let server = TransportConfig::default().idle_timeout(Duration::from_secs(u64::MAX / 4000));
    let mut p = pair(client, server);
    let (c, _) = p.connect();
    let t = p.client().connection(c).unwrap().poll_timeout().unwrap();
    assert!(t > p.now() && t < p.now() + Duration::from_secs(8 * 24 * 3600));
}

#[test]
fn connection_credit_survives_many_finished_channels() {
    // 20 channels × 16 KB through a 64 KB connection window: credit released by channels
    // that were finished and forgotten must still count.
    let server = TransportConfig {
        connection_receive_window: 64_000,
        ..Default::default()
    };
    let mut p = pair(TransportConfig::default(), server);
    let (c, s) = p.connect();
    let mut delivered = 0usize;
    for i in 0..20u8 {
        let conn = p.client().connection(c).unwrap();
        let ch = conn.open_channel(&[i]).unwrap();
        conn.send(ch, &vec![i; 16_000]).unwrap();
        conn.close_channel(ch).unwrap();
        let mut got = false;
        for _ in 0..2000 {
            p.run(1);
            let sconn = p.server().connection(s).unwrap();
            if let Some(m) = sconn.recv(ch) {
                assert_eq!(m.len(), 16_000);
                assert!(m.iter().all(|b| *b == i));
                sconn.close_channel(ch).unwrap();
                got = true;
                delivered += 1;
                break;
            }
        }
        assert!(got, "channel {i} stalled");
        p.run(100); // let both finishes be acknowledged so the channel is forgotten
    }
    assert_eq!(delivered, 20);
    assert!(
        p.client().connection(c).unwrap().channel_count() < 20,
        "finished channels are forgotten"
    );
}

#[test]
fn shutdown_waits_for_data_acknowledgement_under_loss() {
    // Drop every other client packet for a while: shutdown must not close before the
    // peer acknowledged all data.
    let mut p = pair(TransportConfig::default(), TransportConfig::default());
    let (c, s) = p.connect();
    let conn = p.client().connection(c).unwrap();
    let ch = conn.open_channel(b"x").unwrap();
    for i in 0..200u32 {
        conn.send(ch, &[i as u8; 500]).unwrap();
    }
    conn.shutdown();
    let mut n = 0u32;
    let mut got = 0;
    for _ in 0..3000 {
        let ca = p.ca();
        for (_, d) in p.sim.take_transmits(CLIENT) {
            n += 1;
            if n.is_multiple_of(2) && n < 100 {
                continue; // lost
            }
            p.sim.deliver(SERVER, ca, &d);
        }
        p.run(1);
        if let Some(conn) = p.server().connection(s) {
            while conn.recv(ch).is_some() {
                got += 1;
            }
        }
    }
    assert_eq!(got, 200, "every message delivered before the close");
    assert!(
        p.client_events
            .contains(&(c, Event::Closed(ConnectionError::LocallyClosed)))
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let psk = [0x5a; 32];
    let kp = netchan_transport::identity::Keypair::from_seed([1; 32]);
    let server_kp = netchan_transport::identity::Keypair::from_seed([2; 32]);
    let server_key = server_kp.public().0;
    let now = Instant::now();
    let cfg = EndpointConfig::seeded_for_tests(
        Arc::new(NoiseConfig::new(kp.clone()).with_psk(psk)),
        0x6b,
    );
    let mut ep = Endpoint::new(cfg, now);
    let h = ep
        .connect_with(
            now,
            "127.0.0.1:1000".parse().unwrap(),
            "127.0.0.1:9".parse().unwrap(),
            Some(server_key),
        )
        .unwrap();
    let mac1_key = netchan_transport::gate::mac1_key(Some(&psk), Some(&server_key));
    let conn_text = format!("{:?}", ep.connection(h).unwrap());
    let text = format!("{ep:?} {conn_text}");
    for secret in [&psk[..], &mac1_key[..], &kp.secret_bytes()[..]] {
        assert!(
            !text.contains(&format!("{secret:?}")),
            "secret bytes in Debug output"
        );
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&hex));
    }
    assert!(text.contains("redacted"));
}

#[test]
fn two_initiations_in_the_same_millisecond_are_not_replays() {
    let mut p = pair(TransportConfig::default(), TransportConfig::default());
    let key = p.server().public_key();
    let (now, ca, sa) = (p.now(), p.ca(), p.sa());
    let a = p.client().connect_with(now, ca, sa, key).unwrap();
    let b = p.client().connect_with(now, ca, sa, key).unwrap();
    p.run(10);
    assert!(p.client_events.contains(&(a, Event::Connected)));
    assert!(p.client_events.contains(&(b, Event::Connected)));
    assert_eq!(p.server().stats().replays_rejected, 0);
    assert_eq!(p.server().connection_count(), 2);
}
