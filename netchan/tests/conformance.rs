//! Channel conformance between two nodes over loopback, in the spirit of
//! crossbeam-channel's and Go's channel tests (the ones that make sense across a
//! network). Every wait has a deadline.

use netchan::{
    ChannelError, Node, NodeConfig, NodeEvent, Peer, RecvTimeoutError, SendFailure,
    SendTimeoutError, TryRecvError, TrySendError,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Two connected nodes: `(a, b, b as seen from a, a as seen from b)`.
fn two_nodes() -> (Node, Node, Peer, Peer) {
    let b = Node::bind("127.0.0.1:0").unwrap();
    let a = Node::new(NodeConfig::new().bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let b_from_a = a.dial(&b.address()).unwrap();
    let a_from_b = b.peer(a.public_key());
    (a, b, b_from_a, a_from_b)
}

#[test]
fn messages_arrive_in_order_exactly_once() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<u64>("nums", 16).unwrap();
    let (_, rx) = pa.channel::<u64>("nums", 16).unwrap();
    let h = thread::spawn(move || {
        for i in 0..10_000u64 {
            tx.send(i).unwrap();
        }
    });
    for i in 0..10_000u64 {
        assert_eq!(rx.recv_timeout(T).unwrap(), i);
    }
    h.join().unwrap();
    // The sender is gone and everything was taken: disconnected, and it says why.
    match rx.recv_timeout(T) {
        Err(RecvTimeoutError::Disconnected(e)) => {
            assert!(matches!(e.0, ChannelError::SenderClosed { .. }))
        }
        other => panic!("expected disconnection, got {other:?}"),
    }
}

#[test]
fn both_directions_on_one_name() {
    let (_a, _b, pb, pa) = two_nodes();
    let (atx, arx) = pb.channel::<String>("chat", 4).unwrap();
    let (btx, brx) = pa.channel::<String>("chat", 4).unwrap();
    atx.send("from a".into()).unwrap();
    btx.send("from b".into()).unwrap();
    assert_eq!(brx.recv_timeout(T).unwrap(), "from a");
    assert_eq!(arx.recv_timeout(T).unwrap(), "from b");
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Empty,
    Point(i32, i32),
    Named {
        name: String,
        tags: Vec<String>,
        data: Option<Vec<u8>>,
    },
}

#[test]
fn structured_values_round_trip() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<Shape>("shapes", 8).unwrap();
    let (_, rx) = pa.channel::<Shape>("shapes", 8).unwrap();
    let vals = vec![
        Shape::Empty,
        Shape::Point(-5, i32::MAX),
        Shape::Named {
            name: "ünïcödé".into(),
            tags: vec!["a".into(), String::new()],
            data: Some(vec![0; 100_000]),
        },
        Shape::Named {
            name: String::new(),
            tags: vec![],
            data: None,
        },
    ];
    for v in &vals {
        tx.send(v.clone()).unwrap();
    }
    for v in &vals {
        assert_eq!(&rx.recv_timeout(T).unwrap(), v);
    }
}

#[test]
fn try_recv_and_recv_timeout_on_empty_channel() {
    let (_a, _b, pb, pa) = two_nodes();
    let (_tx, _) = pb.channel::<u8>("x", 4).unwrap();
    let (_, rx) = pa.channel::<u8>("x", 4).unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(rx.try_iter().next().is_none());
    let t0 = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(50)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(t0.elapsed() >= Duration::from_millis(50));
}

/// A bounded channel: with capacity 4 and a receiver that does not read, exactly 4
/// sends succeed; the fifth reports "full" and gives the value back, and succeeds once
/// the receiver takes one message.
#[test]
fn capacity_is_a_network_wide_buffer() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<u32>("bounded", 8).unwrap();
    let (_, rx) = pa.channel::<u32>("bounded", 4).unwrap();
    for i in 0..4 {
        tx.send_timeout(i, T).unwrap();
    }
    match tx.try_send(99) {
        Err(TrySendError::Full(v)) => assert_eq!(v, 99),
        other => panic!("expected Full, got {other:?}"),
    }
    match tx.send_timeout(98, Duration::from_millis(100)) {
        Err(SendTimeoutError::Timeout(v)) => assert_eq!(v, 98),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(tx.len(), 4);
    // The four are buffered at the receiver.
    let deadline = Instant::now() + T;
    while rx.len() < 4 {
        assert!(Instant::now() < deadline, "messages did not arrive");
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rx.recv_timeout(T).unwrap(), 0);
    tx.send_timeout(4, T).unwrap();
    for i in 1..=4 {
        assert_eq!(rx.recv_timeout(T).unwrap(), i);
    }
    let deadline = Instant::now() + T;
    while !tx.is_empty() {
        assert!(Instant::now() < deadline, "credit did not come back");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Capacity 0: `send` returns only after the remote receiver took the value. The
/// receiver sleeps before each `recv`; the order of events is checked, not durations.
#[test]
fn rendezvous_is_synchronous() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<u32>("meet", 0).unwrap();
    let (_, rx) = pa.channel::<u32>("meet", 0).unwrap();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l2 = log.clone();
    let receiver = thread::spawn(move || {
        for i in 0..5 {
            thread::sleep(Duration::from_millis(30));
            // Nothing was taken yet: the sender must still be blocked in send(i).
            l2.lock().unwrap().push(format!("recv-start {i}"));
            let v = rx.recv_timeout(T).unwrap();
            assert_eq!(v, i);
        }
        rx
    });
    for i in 0..5 {
        tx.send(i).unwrap();
        log.lock().unwrap().push(format!("send-done {i}"));
    }
    let rx = receiver.join().unwrap();
    let log = log.lock().unwrap().clone();
    let pos = |s: String| log.iter().position(|x| *x == s).unwrap();
    for i in 0..5 {
        assert!(
            pos(format!("recv-start {i}")) < pos(format!("send-done {i}")),
            "send({i}) returned before the receiver took it: {log:?}"
        );
    }
    assert!(rx.is_empty());
}

#[test]
fn rendezvous_try_send_needs_a_free_slot() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<u32>("meet", 0).unwrap();
    let (_, rx) = pa.channel::<u32>("meet", 0).unwrap();
    // Wait until the channel is open both ways (a peer is ready).
    let deadline = Instant::now() + T;
    while tx.ready_peers() == 0 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    tx.try_send(1).unwrap();
    assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    assert_eq!(rx.recv_timeout(T).unwrap(), 1);
}

#[test]
fn cloned_senders_and_receivers_share_the_channel() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<(u8, u32)>("mpmc", 32).unwrap();
    let (_, rx) = pa.channel::<(u8, u32)>("mpmc", 32).unwrap();
    let producers: Vec<_> = (0..4u8)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    tx.send((p, i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv_timeout(Duration::from_millis(500)) {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<(u8, u32)> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert_eq!(all.len(), 4000);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4000, "a message was delivered twice");
}

/// Dropping every sender disconnects the remote receiver once it has drained the
/// channel: `iter` ends, `recv` reports why.
#[test]
fn dropping_senders_disconnects_receivers_after_draining() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _rx_a) = pb.channel::<u32>("fin", 8).unwrap();
    let (_tx_b, rx) = pa.channel::<u32>("fin", 8).unwrap();
    let tx2 = tx.clone();
    for i in 0..20 {
        // A failed send shows up in the assertion on what arrived, below.
        let _ = if i % 2 == 0 { &tx } else { &tx2 }.send_timeout(i, T);
        if i == 7 {
            break;
        }
    }
    drop(tx);
    drop(tx2);
    let got: Vec<u32> = rx.iter().collect();
    assert_eq!(got, (0..8).collect::<Vec<_>>());
    match rx.recv() {
        Err(e) => assert!(matches!(e.0, ChannelError::SenderClosed { .. }), "{e}"),
        Ok(v) => panic!("got {v} after disconnection"),
    }
}

/// Dropping every receiver makes remote sends fail with the value back.
#[test]
fn dropping_receivers_fails_remote_senders() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<String>("gone", 4).unwrap();
    let (_, rx) = pa.channel::<String>("gone", 4).unwrap();
    tx.send_timeout("first".into(), T).unwrap();
    assert_eq!(rx.recv_timeout(T).unwrap(), "first");
    drop(rx);
    let deadline = Instant::now() + T;
    loop {
        match tx.send_timeout("later".into(), Duration::from_millis(20)) {
            Err(SendTimeoutError::Failed(e)) => {
                assert!(matches!(
                    e.reason(),
                    SendFailure::Disconnected(ChannelError::ReceiverClosed { .. })
                ));
                assert_eq!(e.into_inner(), "later");
                break;
            }
            _ => assert!(
                Instant::now() < deadline,
                "sender never saw the receivers go"
            ),
        }
    }
}

#[test]
fn type_mismatch_is_a_clear_error() {
    let (a, _b, pb, pa) = two_nodes();
    let events = a.events();
    let (tx, _) = pb.channel::<u64>("typed", 4).unwrap();
    let (_, rx) = pa.channel::<String>("typed", 4).unwrap();
    match tx.send_timeout(7, T) {
        Err(SendTimeoutError::Failed(e)) => match e.reason() {
            SendFailure::Disconnected(ChannelError::TypeMismatch { local, remote, .. }) => {
                assert_eq!(local, "u64");
                assert_eq!(remote, "alloc::string::String");
                assert_eq!(e.into_inner(), 7);
            }
            r => panic!("wrong reason {r:?}"),
        },
        other => panic!("expected a type mismatch, got {other:?}"),
    }
    match rx.recv_timeout(T) {
        Err(RecvTimeoutError::Disconnected(e)) => {
            assert!(matches!(e.0, ChannelError::TypeMismatch { .. }))
        }
        other => panic!("expected a type mismatch, got {other:?}"),
    }
    let deadline = Instant::now() + T;
    loop {
        let ev = events
            .recv_deadline(deadline)
            .expect("no channel error event");
        if let NodeEvent::ChannelError { channel, error, .. } = ev {
            assert_eq!(channel, "typed");
            assert!(error.to_string().contains("mismatch"), "{error}");
            break;
        }
    }
}

#[test]
fn oversized_values_are_refused_locally() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx, _) = pb.channel::<Vec<u8>>("big", 4).unwrap();
    let (_, rx) = pa.channel::<Vec<u8>>("big", 4).unwrap();
    let big = vec![7u8; 17 << 20];
    let e = tx.send(big).unwrap_err();
    assert!(matches!(e.reason(), SendFailure::TooLarge { .. }), "{e}");
    assert_eq!(e.into_inner().len(), 17 << 20);
    // A 4 MiB value is fine.
    tx.send(vec![1u8; 4 << 20]).unwrap();
    assert_eq!(rx.recv_timeout(T).unwrap().len(), 4 << 20);
}

#[test]
fn select_over_two_receivers() {
    let (_a, _b, pb, pa) = two_nodes();
    let (tx1, _) = pb.channel::<u32>("one", 4).unwrap();
    let (tx2, _) = pb.channel::<String>("two", 4).unwrap();
    let (_, rx1) = pa.channel::<u32>("one", 4).unwrap();
    let (_, rx2) = pa.channel::<String>("two", 4).unwrap();
    tx1.send(1).unwrap();
    tx2.send("two".into()).unwrap();
    let (mut n, mut s) = (None, None);
    for _ in 0..2 {
        crossbeam_channel::select! {
            recv(rx1.as_crossbeam()) -> m => n = Some(m.unwrap().into_inner()),
            recv(rx2.as_crossbeam()) -> m => s = Some(m.unwrap().into_inner()),
            default(T) => panic!("select timed out"),
        }
    }
    assert_eq!(n, Some(1));
    assert_eq!(s.as_deref(), Some("two"));
    // Credit came back through the selected deliveries: more sends go through.
    for i in 0..20 {
        tx1.send_timeout(i, T).unwrap();
        assert_eq!(rx1.recv_timeout(T).unwrap(), i);
    }
}

#[test]
fn duplicate_channel_names_are_refused() {
    let (a, _b, pb, _pa) = two_nodes();
    let _c = pb.channel::<u8>("dup", 1).unwrap();
    assert!(matches!(
        pb.channel::<u8>("dup", 1),
        Err(netchan::Error::DuplicateChannel(_))
    ));
    assert!(matches!(
        a.channel::<u8>("dup", 1),
        Err(netchan::Error::DuplicateChannel(_))
    ));
}

/// Go netchan's simple form: the listener's sender gives each message to exactly one
/// dialer; its receiver merges every dialer.
#[test]
fn listen_and_dial_distribute_and_merge() {
    let node_probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = node_probe.local_addr().unwrap();
    drop(node_probe);
    let (ltx, lrx) = netchan::listen::<u32>(addr).unwrap();
    let dialers: Vec<_> = (0..3)
        .map(|_| netchan::dial::<u32>(&addr.to_string()).unwrap())
        .collect();
    for (i, (tx, _)) in dialers.iter().enumerate() {
        tx.send(100 + i as u32).unwrap();
    }
    let mut merged: Vec<u32> = (0..3).map(|_| lrx.recv_timeout(T).unwrap()).collect();
    merged.sort();
    assert_eq!(merged, vec![100, 101, 102]);
    // Work distribution: 300 jobs, each to exactly one dialer.
    let deadline = Instant::now() + T;
    while ltx.ready_peers() < 3 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    let sender = thread::spawn(move || {
        for j in 0..300 {
            ltx.send(j).unwrap();
        }
        ltx
    });
    let mut got = Vec::new();
    let deadline = Instant::now() + T;
    while got.len() < 300 {
        assert!(Instant::now() < deadline, "only {} jobs arrived", got.len());
        for (_, rx) in &dialers {
            got.extend(rx.try_iter());
        }
        thread::sleep(Duration::from_millis(1));
    }
    let _ltx = sender.join().unwrap();
    got.sort();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
}

#[test]
fn events_and_stats() {
    let b = Node::bind("127.0.0.1:0").unwrap();
    let events = b.events();
    let a = Node::bind("127.0.0.1:0").unwrap();
    let pb = a.dial(&b.address()).unwrap();
    let pa = b.peer(a.public_key());
    let (tx, _) = pb.channel::<Vec<u8>>("s", 4).unwrap();
    let (_, rx) = pa.channel::<Vec<u8>>("s", 4).unwrap();
    for _ in 0..10 {
        tx.send(vec![0; 10_000]).unwrap();
        rx.recv_timeout(T).unwrap();
    }
    match events.recv_timeout(T).unwrap() {
        NodeEvent::PeerConnected { peer, .. } => assert_eq!(peer, a.public_key()),
        e => panic!("unexpected {e:?}"),
    }
    let s = pb.stats().expect("stats of a connected peer");
    assert!(s.connected);
    assert!(s.rtt > Duration::ZERO);
    assert!(s.bytes_sent >= 100_000, "{s:?}");
    assert_eq!(s.paths.len(), 1);
    // The controller and its model: BBR by default, an RTT floor no larger than the
    // smoothed RTT, a bandwidth measured from the 100 kB just sent, losses counted.
    assert_eq!(s.controller, "bbr");
    assert_eq!(s.paths[0].controller, "bbr");
    assert!(s.min_rtt > Duration::ZERO && s.min_rtt <= s.rtt, "{s:?}");
    assert!(s.bandwidth > 0.0, "{s:?}");
    assert_eq!(s.paths[0].min_rtt, s.min_rtt);
    assert!(s.spurious_losses <= s.packets_lost, "{s:?}");
    let s = pa.stats().unwrap();
    assert!(s.bytes_received >= 100_000);
    assert!(s.messages_delivered >= 10, "{s:?}");
    drop(a);
    let deadline = Instant::now() + T;
    loop {
        match events.recv_deadline(deadline).expect("no disconnect event") {
            NodeEvent::PeerDisconnected { peer, .. } => {
                assert_eq!(peer, pa.public_key());
                break;
            }
            _ => continue,
        }
    }
}

#[test]
fn dropping_the_node_disconnects_its_channels() {
    let (a, _b, pb, _pa) = two_nodes();
    let (tx, rx) = pb.channel::<u8>("n", 4).unwrap();
    drop(a);
    let e = tx.send(1).unwrap_err();
    assert!(matches!(
        e.reason(),
        SendFailure::Disconnected(ChannelError::NodeClosed)
    ));
    assert!(rx.recv().is_err());
}
