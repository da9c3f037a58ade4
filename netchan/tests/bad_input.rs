//! `bad_input_keeps_serving`: garbage datagrams, a wrong-type channel open, an
//! oversized message, an undecodable message and a peer that stops reading each give a
//! typed error or backpressure, and the node keeps serving its other peers.

use netchan::{ChannelError, Node, NodeConfig, NodeEvent, SendFailure, TrySendError};
use serde::{Deserialize, Deserializer, Serialize};
use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Serializes any number but refuses odd ones when deserializing: a stand-in for a
/// peer that sends bytes which are not a valid value of the channel's type.
#[derive(Serialize, Debug, PartialEq)]
struct Even(u32);

impl<'de> Deserialize<'de> for Even {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if v % 2 == 1 {
            return Err(serde::de::Error::custom("odd"));
        }
        Ok(Even(v))
    }
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// The good client's round trips through the server's echo.
fn check_stream(tx: &netchan::Sender<u64>, rx: &netchan::Receiver<u64>, from: u64, n: u64) {
    for i in from..from + n {
        tx.send_timeout(i, T).expect("good peer: send");
        assert_eq!(rx.recv_timeout(T).expect("good peer: recv"), i);
    }
}

#[test]
fn bad_input_keeps_serving() {
    let server = Node::new(
        NodeConfig::new()
            .bind("127.0.0.1:0".parse().unwrap())
            .reconnect_lease(Duration::from_secs(2)),
    )
    .unwrap();
    let events = server.events();

    // A well-behaved client with a steady stream.
    let good = Node::bind("127.0.0.1:0").unwrap();
    let s_from_good = good.dial(&server.address()).unwrap();
    // good → server on "stream", server → good on "echo": the server echoes.
    let (good_tx, _) = s_from_good.channel::<u64>("stream", 32).unwrap();
    let (_, good_rx) = s_from_good.channel::<u64>("echo", 32).unwrap();
    let good_peer = server.peer(good.public_key());
    let (_, echo_rx) = good_peer.channel::<u64>("stream", 32).unwrap();
    let (echo_back, _) = good_peer.channel::<u64>("echo", 32).unwrap();
    let echo = thread::spawn(move || {
        for v in echo_rx.iter() {
            if echo_back.send_timeout(v, T).is_err() {
                break;
            }
        }
    });
    check_stream(&good_tx, &good_rx, 0, 100);

    // 1. Garbage datagrams at the server's socket, interleaved with good traffic.
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut buf = vec![0u8; 1500];
    for round in 0..20u64 {
        for _ in 0..1000 {
            let len = (xorshift(&mut seed) % 1500) as usize;
            for b in buf[..len].iter_mut() {
                *b = xorshift(&mut seed) as u8;
            }
            // Some look like long-header Initials, most are random.
            if len > 0 && round % 2 == 0 {
                buf[0] = 0xc0 | (buf[0] & 0x0f);
            }
            let _ = junk.send_to(&buf[..len], target);
        }
        check_stream(&good_tx, &good_rx, 100 + round * 10, 10);
    }
    println!("garbage: 20,000 datagrams sent; the good peer kept streaming");

    // 2. A peer opening the channel with the wrong type: a typed error on both ends.
    let wrong = Node::bind("127.0.0.1:0").unwrap();
    let s_from_wrong = wrong.dial(&server.address()).unwrap();
    let (wrong_tx, _wrong_rx2) = s_from_wrong.channel::<String>("stream", 4).unwrap();
    let (server_to_wrong, _wrong_rx) = server
        .peer(wrong.public_key())
        .channel::<u64>("stream", 4)
        .unwrap();
    let e = wrong_tx.send_timeout("hello".into(), T).unwrap_err();
    assert!(e.is_disconnected(), "{e}");
    assert!(e.to_string().contains("type mismatch"), "{e}");
    let e = server_to_wrong.send_timeout(1, T).unwrap_err();
    assert!(e.to_string().contains("type mismatch"), "{e}");
    check_stream(&good_tx, &good_rx, 1000, 100);
    println!("wrong type: both ends got: {e}");

    // 3. An oversized message: refused with the value back, the channel still works.
    let big_node = Node::new(NodeConfig {
        transport: netchan::transport::TransportConfig::default().max_message_size(64 << 20),
        ..NodeConfig::new()
    })
    .unwrap();
    let s_from_big = big_node.dial(&server.address()).unwrap();
    let (big_tx, _) = s_from_big.channel::<Vec<u8>>("blobs", 4).unwrap();
    let (_, blobs_rx) = server
        .peer(big_node.public_key())
        .channel::<Vec<u8>>("blobs", 4)
        .unwrap();
    // The server accepts at most 16 MiB; the big node would send 32 MiB.
    let e = big_tx.send_timeout(vec![1u8; 32 << 20], T).unwrap_err();
    match e {
        netchan::SendTimeoutError::Failed(e) => {
            assert!(matches!(e.reason(), SendFailure::TooLarge { .. }), "{e}");
            assert_eq!(e.into_inner().len(), 32 << 20);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    big_tx.send_timeout(vec![2u8; 1 << 20], T).unwrap();
    assert_eq!(blobs_rx.recv_timeout(T).unwrap().len(), 1 << 20);
    check_stream(&good_tx, &good_rx, 2000, 100);
    println!("oversized: refused locally with the value back; 1 MiB still delivered");

    // 4. A peer sending bytes that do not decode as the channel's type: its channel
    //    ends with a protocol error (an event says so); everything else goes on.
    let liar = Node::bind("127.0.0.1:0").unwrap();
    let s_from_liar = liar.dial(&server.address()).unwrap();
    let (liar_tx, _) = s_from_liar.channel::<Even>("evens", 8).unwrap();
    let (_, evens_rx) = server
        .peer(liar.public_key())
        .channel::<Even>("evens", 8)
        .unwrap();
    liar_tx.send(Even(2)).unwrap();
    assert_eq!(evens_rx.recv_timeout(T).unwrap(), Even(2));
    liar_tx.send(Even(3)).unwrap();
    match evens_rx.recv_timeout(T) {
        Err(netchan::RecvTimeoutError::Disconnected(e)) => {
            assert!(matches!(e.0, ChannelError::Protocol { .. }), "{e}");
            println!("undecodable: receiver sees: {e}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    let deadline = Instant::now() + T;
    loop {
        match events
            .recv_deadline(deadline)
            .expect("no protocol error event")
        {
            NodeEvent::ChannelError {
                channel,
                error: ChannelError::Protocol { .. },
                ..
            } if channel == "evens" => break,
            _ => continue,
        }
    }
    check_stream(&good_tx, &good_rx, 3000, 100);

    // 5. A peer that stops reading: sends to it block (backpressure), sends to the
    //    good peer do not.
    let slow = Node::bind("127.0.0.1:0").unwrap();
    let s_from_slow = slow.dial(&server.address()).unwrap();
    let (_slow_tx, slow_rx) = s_from_slow.channel::<u64>("jobs", 4).unwrap();
    let (to_slow, _) = server
        .peer(slow.public_key())
        .channel::<u64>("jobs", 4)
        .unwrap();
    for i in 0..4 {
        to_slow.send_timeout(i, T).unwrap();
    }
    assert!(matches!(to_slow.try_send(4), Err(TrySendError::Full(4))));
    check_stream(&good_tx, &good_rx, 4000, 1000);
    assert!(matches!(to_slow.try_send(5), Err(TrySendError::Full(5))));
    assert_eq!(to_slow.len(), 4);
    // When it reads again, the blocked sender proceeds.
    assert_eq!(slow_rx.recv_timeout(T).unwrap(), 0);
    to_slow.send_timeout(4, T).unwrap();
    println!(
        "stopped reader: 4 buffered, further sends Full; the good peer moved 1,000 messages meanwhile"
    );

    drop(good_tx);
    drop(good);
    echo.join().unwrap();
}
