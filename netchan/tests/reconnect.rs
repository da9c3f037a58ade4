//! Reconnection without loss: the receiving node really goes away (thread and socket)
//! and comes back with the same identity on the same address; the stream continues
//! exactly once, in order.

use netchan::{Keypair, Node, NodeConfig, NodeEvent};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

const N: u64 = 100_000;

fn receiver_node(kp: &Keypair, addr: SocketAddr) -> Node {
    // The old socket is closed when the old node's thread has exited; binding the same
    // port again is then immediate.
    Node::new(NodeConfig::new().keypair(kp.clone()).bind(addr)).expect("rebind the same address")
}

#[test]
fn reconnect_exactly_once() {
    let kp = netchan::identity::generate([7; 32]);
    let b1 = Node::new(
        NodeConfig::new()
            .keypair(kp.clone())
            .bind("127.0.0.1:0".parse().unwrap()),
    )
    .unwrap();
    let b_addr = b1.local_addr();
    let a = Node::new(NodeConfig::new().bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let a_events = a.events();
    let peer_b = a.dial(&b1.address()).unwrap();
    let (tx, _rx_a) = peer_b.channel::<u64>("numbers", 64).unwrap();
    let sender = thread::spawn(move || {
        for i in 0..N {
            tx.send(i).expect("send");
        }
        tx
    });

    // First life of the receiver: take about half of the stream.
    let (_tx_b, rx) = b1
        .peer(a.public_key())
        .channel::<u64>("numbers", 64)
        .unwrap();
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while next < N / 2 {
        let v = rx.recv_deadline(deadline).expect("first receiver stalled");
        assert_eq!(v, next, "out of order or duplicate before the restart");
        next += 1;
    }
    let before = next;
    // Let the sender refill the buffer, so messages received but never taken die
    // with this node: they must be resent to the next one.
    thread::sleep(Duration::from_millis(100));
    let untaken = rx.len();
    assert!(
        untaken > 0,
        "the receive buffer should hold messages at the restart"
    );
    // The node goes away for real: its thread is joined and its socket closed. (Drop
    // the node before the receiver: dropping the receiver first would close the
    // channel for good, as it does in crossbeam-channel.)
    drop(b1);
    drop(rx);
    drop(_tx_b);
    thread::sleep(Duration::from_millis(200));

    // Second life: same identity, same address.
    let b2 = receiver_node(&kp, b_addr);
    let (_tx_b, rx) = b2
        .peer(a.public_key())
        .channel::<u64>("numbers", 64)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while next < N {
        let v = rx
            .recv_deadline(deadline)
            .unwrap_or_else(|e| panic!("second receiver stalled at {next}: {e}"));
        assert_eq!(
            v, next,
            "the stream did not resume exactly where it stopped"
        );
        next += 1;
    }
    let tx = sender.join().unwrap();
    drop(tx);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err() || rx.is_empty());
    let mut reconnected = false;
    let mut disconnected = false;
    for e in a_events.try_iter() {
        match e {
            NodeEvent::PeerDisconnected { .. } => disconnected = true,
            NodeEvent::PeerReconnected { .. } => reconnected = true,
            _ => {}
        }
    }
    assert!(
        disconnected && reconnected,
        "events: disconnected {disconnected}, reconnected {reconnected}"
    );
    println!(
        "reconnect_exactly_once: {N} numbers, {before} taken before the restart ({untaken} received but not taken died with the node), {} after; every number exactly once, in order",
        N - before
    );
}

/// A peer that never comes back: once the lease expires the sender gets its value back.
#[test]
fn lease_expiry_fails_senders_with_their_value() {
    let b = Node::bind("127.0.0.1:0").unwrap();
    let a = Node::new(
        NodeConfig::new()
            .bind("127.0.0.1:0".parse().unwrap())
            .reconnect_lease(Duration::from_millis(500)),
    )
    .unwrap();
    let peer_b = a.dial(&b.address()).unwrap();
    let (tx, _) = peer_b.channel::<String>("c", 1).unwrap();
    let (_t, rx) = b.peer(a.public_key()).channel::<String>("c", 1).unwrap();
    tx.send("one".into()).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "one");
    drop(b);
    let t0 = Instant::now();
    let mut v = "two".to_string();
    loop {
        match tx.send_timeout(v, Duration::from_secs(10)) {
            Ok(()) => {
                // Taken into the (now unreachable) buffer; the next one must fail.
                v = "three".into();
            }
            Err(e) => {
                assert!(e.is_disconnected(), "{e}");
                assert!(e.to_string().contains("lease"), "{e}");
                let back = e.into_inner();
                assert!(back == "two" || back == "three");
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(20));
    }
}
