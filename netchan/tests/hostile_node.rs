//! `byte_credit_and_decode_bounds` (issue 14, items 5 and 6), on real nodes: decode bombs
//! sent to a node do not stall its driver thread (the good peer's round trips through the
//! same node are measured before and during). The byte bounds on credit (a peer claiming
//! capacity u32::MAX, messages never taken) are tested in virtual time:
//! `tests/tests/session_hostile.rs byte_credit_bounds_sim`.

use netchan::{ChannelError, Node, NodeConfig};
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::marker::PhantomData;
use std::thread;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Marker;

/// A claim of 2^63 sequence elements with none following: ten bytes.
struct Claim;

impl Serialize for Claim {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_seq(Some(1 << 63))?.end()
    }
}

/// A channel type both ends share: it serializes as the claim (shape 2: inside a
/// one-element sequence) and deserializes as an honest type: shape 0 `Vec<Marker>` (a
/// unit struct), 1 `Vec<PhantomData<u64>>`, 2 `Vec<Vec<()>>`. Without the decode bound
/// the victim's driver would loop for years on one such message.
struct Bomb<const SHAPE: u8>;

impl<const SHAPE: u8> Serialize for Bomb<SHAPE> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if SHAPE == 2 {
            let mut outer = s.serialize_seq(Some(1))?;
            outer.serialize_element(&Claim)?;
            outer.end()
        } else {
            Claim.serialize(s)
        }
    }
}

impl<'de, const SHAPE: u8> Deserialize<'de> for Bomb<SHAPE> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match SHAPE {
            0 => Vec::<Marker>::deserialize(d).map(|_| Bomb),
            1 => Vec::<PhantomData<u64>>::deserialize(d).map(|_| Bomb),
            _ => Vec::<Vec<()>>::deserialize(d).map(|_| Bomb),
        }
    }
}

impl<const SHAPE: u8> std::fmt::Debug for Bomb<SHAPE> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bomb<{SHAPE}>")
    }
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// Round trips of the good peer through the victim's echo, timed.
fn round_trips(
    tx: &netchan::Sender<u64>,
    rx: &netchan::Receiver<u64>,
    from: u64,
    n: u64,
) -> Vec<Duration> {
    (from..from + n)
        .map(|i| {
            let t = Instant::now();
            tx.send_timeout(i, T).expect("good peer: send");
            assert_eq!(rx.recv_timeout(T).expect("good peer: recv"), i);
            t.elapsed()
        })
        .collect()
}

/// Sends one bomb of shape `SHAPE` from a fresh attacker node; the victim's receiver of
/// that channel must end with a protocol error (a decode error), promptly.
fn bomb<const SHAPE: u8>(victim: &Node, name: &str) -> Duration {
    let attacker = Node::bind("127.0.0.1:0").unwrap();
    let peer = attacker.dial(&victim.address()).unwrap();
    let (tx, _) = peer.channel::<Bomb<SHAPE>>(name, 4).unwrap();
    let (_, rx) = victim
        .peer(attacker.public_key())
        .channel::<Bomb<SHAPE>>(name, 4)
        .unwrap();
    let t = Instant::now();
    tx.send_timeout(Bomb::<SHAPE>, T)
        .expect("the bomb is handed over");
    match rx.recv_timeout(T) {
        Err(netchan::RecvTimeoutError::Disconnected(e)) => {
            assert!(matches!(e.0, ChannelError::Protocol { .. }), "{e}");
            assert!(
                e.to_string().contains("decode bomb"),
                "a typed decode error: {e}"
            );
        }
        other => panic!("{name}: expected a decode error, got {other:?}"),
    }
    t.elapsed()
}

#[test]
fn byte_credit_and_decode_bounds() {
    let victim = Node::new(NodeConfig::new().bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let good = Node::bind("127.0.0.1:0").unwrap();
    let to_victim = good.dial(&victim.address()).unwrap();
    let (good_tx, _) = to_victim.channel::<u64>("ping", 32).unwrap();
    let (_, good_rx) = to_victim.channel::<u64>("pong", 32).unwrap();
    let from_good = victim.peer(good.public_key());
    let (_, ping_rx) = from_good.channel::<u64>("ping", 32).unwrap();
    let (pong_tx, _) = from_good.channel::<u64>("pong", 32).unwrap();
    let echo = thread::spawn(move || {
        for v in ping_rx.iter() {
            if pong_tx.send_timeout(v, T).is_err() {
                break;
            }
        }
    });
    round_trips(&good_tx, &good_rx, 0, 200); // warm up
    let before = p99(round_trips(&good_tx, &good_rx, 1_000, 1_000));

    // Decode bombs, while the good peer keeps measuring. A stalled driver would hold
    // every round trip until its 10 s timeout fails the test.
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let mut during = Vec::new();
    let took = thread::scope(|scope| {
        let bomber = scope.spawn(|| {
            let mut took = Vec::new();
            for round in 0..5 {
                took.push(bomb::<0>(&victim, &format!("units{round}")));
                took.push(bomb::<1>(&victim, &format!("phantoms{round}")));
                took.push(bomb::<2>(&victim, &format!("nested{round}")));
            }
            let _ = done_tx.send(());
            took
        });
        let mut next = 10_000;
        while done_rx.try_recv().is_err() {
            during.extend(round_trips(&good_tx, &good_rx, next, 50));
            next += 50;
        }
        bomber.join().unwrap()
    });
    let during_p99 = p99(during.clone());
    eprintln!(
        "15 decode bombs (Vec of a unit struct, of PhantomData, nested; each claiming 2^63 \
         elements in 10 bytes), each refused in at most {:?}; the good peer's round trip \
         p99 {before:?} before, {during_p99:?} during ({} round trips)",
        took.iter().max().unwrap(),
        during.len()
    );
    assert!(
        !during.is_empty(),
        "the good peer measured during the bombs"
    );

    drop(good_tx);
    drop(good);
    echo.join().unwrap();
}
