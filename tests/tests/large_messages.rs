//! Messages up to the default maximum (16 MiB) are fragmented and reassembled over a
//! lossy, reordering link with the default (1 MiB) channel window, so the receiver's
//! credit must stretch to cover one whole message; one byte more is refused locally.

mod common;

use common::*;
use netchan_tests::link::LinkConfig;
use netchan_tests::sim::Control;
use netchan_tests::workload::Stream;
use netchan_transport::{Event, SendError, TransportConfig};
use std::time::Duration;

#[test]
fn sixteen_mib_messages_survive_loss_and_reordering() {
    let link = LinkConfig {
        loss: 0.02,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(5),
        rate_bps: Some(200_000_000),
        queue_packets: 500,
        ..LinkConfig::ideal(Duration::from_millis(10))
    };
    let cfg = TransportConfig::default();
    assert_eq!(cfg.max_message_size, 16 << 20);
    let (mut sim, c, s) = connected_pair(5, cfg.clone(), cfg, link);
    let conn = sim.nodes[CLIENT].endpoint.connection(c).unwrap();
    let ch = conn.open_channel(b"big").unwrap();
    assert_eq!(
        conn.send(ch, &vec![0; (16 << 20) + 1]),
        Err(SendError::TooLarge {
            size: (16 << 20) + 1,
            limit: 16 << 20
        })
    );
    let mut stream = Stream::new(5, 3, 16 << 20, 16 << 20);
    let mut rx = None;
    sim.run(10_000_000, Duration::from_secs(600), |sim| {
        for (_, e) in sim.events(SERVER) {
            if let Event::ChannelOpened { channel, .. } = e {
                rx = Some(channel);
            }
        }
        sim.events(CLIENT);
        stream
            .pump(
                sim.nodes[CLIENT].endpoint.connection(c).unwrap(),
                ch,
                u64::MAX,
            )
            .unwrap();
        if let Some(r) = rx {
            stream
                .drain(sim.nodes[SERVER].endpoint.connection(s).unwrap(), r)
                .unwrap();
        }
        if stream.all_received() {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert_eq!(stream.bytes_received, 3 * (16 << 20));
    eprintln!("3 × 16 MiB delivered in {:?} virtual", sim.elapsed());
}

/// Four channels each send two 16 MiB messages at once: together their head messages
/// exceed the connection window (16 MiB) and the receive memory budget (twice that)
/// before any of them completes. One head message at a time gets credit beyond the
/// windows (the stretch), so the receiver always has a whole message to read, and all
/// eight arrive intact without a packet dropped for the budget.
#[test]
fn concurrent_large_messages_do_not_deadlock_the_budget() {
    concurrent_large_messages(4, 16 << 20);
}

/// Forty channels each send two 2 MiB messages: their 1 MiB channel windows together
/// exceed the connection window, so the stretched message must get connection credit
/// that the other channels' partial messages do not use up.
#[test]
fn many_channels_with_messages_beyond_their_windows() {
    concurrent_large_messages(40, 2 << 20);
}

fn concurrent_large_messages(n: usize, size: usize) {
    let link = LinkConfig {
        rate_bps: Some(400_000_000),
        queue_packets: 1000,
        ..LinkConfig::ideal(Duration::from_millis(5))
    };
    let cfg = TransportConfig::default();
    let (mut sim, c, s) = connected_pair(9, cfg.clone(), cfg, link);
    let conn = sim.nodes[CLIENT].endpoint.connection(c).unwrap();
    let channels: Vec<_> = (0..n)
        .map(|i| conn.open_channel(&[b'L', i as u8]).unwrap())
        .collect();
    let msgs: Vec<Vec<Vec<u8>>> = (0..n)
        .map(|ch| (0..2).map(|k| vec![(ch * 2 + k) as u8; size]).collect())
        .collect();
    let mut queued = vec![0usize; n];
    let mut rx = Vec::new();
    let mut got = 0usize;
    let outcome = sim.run(50_000_000, Duration::from_secs(60), |sim| {
        for (_, e) in sim.events(SERVER) {
            match e {
                Event::ChannelOpened { channel, label } => rx.push((label[1] as usize, channel)),
                e @ Event::Closed { .. } => panic!("server: {e:?}"),
                _ => {}
            }
        }
        for (_, e) in sim.events(CLIENT) {
            assert!(!matches!(e, Event::Closed { .. }), "client: {e:?}");
        }
        let conn = sim.nodes[CLIENT].endpoint.connection(c).unwrap();
        for (i, &ch) in channels.iter().enumerate() {
            while queued[i] < 2 && conn.send(ch, &msgs[i][queued[i]]).is_ok() {
                queued[i] += 1;
            }
        }
        let server = sim.nodes[SERVER].endpoint.connection(s).unwrap();
        for &(i, ch) in &rx {
            while let Some(m) = server.recv(ch) {
                assert_eq!(m.len(), size);
                assert!(
                    m.iter().all(|&b| usize::from(b) / 2 == i),
                    "channel {i} corrupted"
                );
                got += 1;
            }
        }
        if got == 2 * n {
            Control::Done
        } else {
            Control::Continue
        }
    });
    let st = sim.nodes[SERVER].endpoint.connection(s).unwrap().stats();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "{got} of {} x {} MiB over {n} channels in {:?} virtual ({outcome:?}); receiver \
         held at most {:.1} MiB (budget 32 MiB), {} packets dropped for the budget",
        2 * n,
        size >> 20,
        sim.elapsed(),
        mib(st.recv_held_peak),
        st.recv_budget_drops
    );
    assert_eq!(got, 2 * n, "every message delivered");
    assert!(outcome.is_ok());
    assert!(st.recv_held_peak <= (48 << 20) + 100_000);
}
