//! Multipath through the node API on loopback: a dial naming two of the listener's
//! addresses from a node bound to two addresses opens four paths; a mirrored channel
//! (chosen per channel) puts its data on every path, a striped one does not need to;
//! path events and per-path statistics report them.

use netchan::{ChannelOptions, Node, NodeConfig, NodeEvent, PathMode};
use std::time::{Duration, Instant};

fn node(addrs: &[&str]) -> Node {
    let mut config = NodeConfig::new().multipath(PathMode::Stripe);
    for a in addrs {
        config = config.bind(a.parse().expect("address"));
    }
    Node::new(config).expect("node")
}

#[test]
fn four_paths_and_a_mirrored_channel() {
    let b = node(&["127.0.8.1:0", "127.0.8.2:0"]);
    let a = node(&["127.0.8.3:0", "127.0.8.4:0"]);
    let events = b.events();
    let addrs: Vec<String> = b.local_addrs().iter().map(|x| x.to_string()).collect();
    let peer = a
        .dial(&format!("{}@{}", b.public_key(), addrs.join(",")))
        .expect("dial");
    let (tx, _rx) = peer
        .channel_with::<Vec<u8>>("mirrored", 64, ChannelOptions::mode(PathMode::Mirror))
        .expect("channel");
    let (_tx_b, rx_b) = b
        .peer(a.public_key())
        .channel::<Vec<u8>>("mirrored", 64)
        .expect("channel");
    // Wait for the listener to see three more paths come up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut up = 0;
    while up < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = events
            .recv_timeout(left)
            .expect("path events before the deadline");
        if let NodeEvent::PathUp { .. } = e {
            up += 1;
        }
    }
    let sender = std::thread::spawn(move || {
        for i in 0..2000u32 {
            tx.send(vec![i as u8; 1000]).expect("send");
        }
        tx
    });
    for i in 0..2000u32 {
        let v = rx_b.recv_timeout(Duration::from_secs(10)).expect("value");
        assert_eq!(v, vec![i as u8; 1000], "exactly once, in order");
    }
    let _tx = sender.join().expect("sender");
    let stats = peer.stats().expect("peer stats");
    assert_eq!(stats.paths.len(), 4, "{:#?}", stats.paths);
    let sent: Vec<u64> = stats.paths.iter().map(|p| p.bytes_sent).collect();
    eprintln!("four_paths_and_a_mirrored_channel: bytes sent per path {sent:?}");
    // 2 MB mirrored: every path carried a large share of it.
    assert!(sent.iter().all(|&s| s > 500_000), "{sent:?}");
}
