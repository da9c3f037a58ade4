//! Request/response (RPC) over one netchan channel. Self-contained: a server node and a
//! client node in one process, over loopback.
//!
//! ```text
//! cargo run -p netchan --example request_response
//! ```
//!
//! * Both directions of a channel carry the same type, so requests and responses are
//!   two variants of one enum, [`Rpc`].
//! * Every request carries its own id and the response repeats it: the server answers
//!   requests concurrently (slow ones later), so responses arrive out of order and the
//!   client matches them to its pending requests by id.
//! * The server opens `rpc` with each client separately (`peer.channel`, when the
//!   client connects), so responses go back to the client that asked. A channel opened
//!   with every peer (`node.channel`) would hand each response to *some* peer.

use netchan::{Node, NodeConfig, NodeEvent, Receiver, RecvTimeoutError, Sender};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// What the server can compute.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Op {
    Add(i64, i64),
    Mul(i64, i64),
    Div(i64, i64),
}

impl Op {
    fn eval(&self) -> Result<i64, String> {
        match *self {
            Op::Add(a, b) => a.checked_add(b).ok_or_else(|| "overflow".into()),
            Op::Mul(a, b) => a.checked_mul(b).ok_or_else(|| "overflow".into()),
            Op::Div(_, 0) => Err("division by zero".into()),
            Op::Div(a, b) => a.checked_div(b).ok_or_else(|| "overflow".into()),
        }
    }
}

/// The message type of channel `rpc`, in both directions.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Rpc {
    Request {
        id: u64,
        op: Op,
    },
    Response {
        id: u64,
        result: Result<i64, String>,
    },
}

const REQUESTS: u64 = 10;
/// Every wait in this example ends by then: it must terminate by itself.
const TIME_LIMIT: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Each request's operation and its response, by request id.
type Answers = BTreeMap<u64, (Op, Result<i64, String>)>;

/// Serves one client: answers each request on its own thread, after a delay that
/// makes early requests the slow ones.
fn serve_client(tx: Sender<Rpc>, rx: Receiver<Rpc>, stop: &AtomicBool) {
    thread::scope(|s| {
        loop {
            let msg = match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => continue,
                // The client dropped its sender (or went away), or we are stopping.
                Err(_) => break,
            };
            let Rpc::Request { id, op } = msg else {
                eprintln!("server: ignoring a message that is not a request: {msg:?}");
                continue;
            };
            let tx = tx.clone();
            s.spawn(move || {
                thread::sleep(Duration::from_millis(10 * (REQUESTS - id.min(REQUESTS))));
                let result = op.eval();
                if let Err(e) = tx.send(Rpc::Response { id, result }) {
                    eprintln!("server: could not answer request {id}: {e}");
                }
            });
        }
    });
}

/// The server: a channel with every client that connects, until `stop`.
fn server(node: Node, stop: Arc<AtomicBool>) {
    let events = node.events();
    thread::scope(|s| {
        while !stop.load(Ordering::Relaxed) {
            let Ok(event) = events.recv_timeout(Duration::from_millis(50)) else {
                continue;
            };
            if let NodeEvent::PeerConnected { peer, addr } = event {
                println!("server: client {addr} connected");
                match node.peer(peer).channel::<Rpc>("rpc", 16) {
                    Ok((tx, rx)) => {
                        let stop = &*stop;
                        s.spawn(move || serve_client(tx, rx, stop));
                    }
                    Err(e) => eprintln!("server: cannot open rpc with {addr}: {e}"),
                }
            }
        }
    });
}

/// Runs the demo: returns each request with its response, by id.
fn run() -> Result<Answers, BoxError> {
    let deadline = Instant::now() + TIME_LIMIT;
    let server_node = Node::new(NodeConfig::new().bind("127.0.0.1:0".parse()?))?;
    let address = server_node.address();
    let stop = Arc::new(AtomicBool::new(false));
    let server_thread = {
        let stop = stop.clone();
        thread::spawn(move || server(server_node, stop))
    };

    let result = client(&address, deadline);
    stop.store(true, Ordering::Relaxed);
    server_thread.join().map_err(|_| "the server panicked")?;
    result
}

fn client(address: &str, deadline: Instant) -> Result<Answers, BoxError> {
    let node = Node::new(NodeConfig::new())?;
    let server = node.dial(address)?;
    let (tx, rx) = server.channel::<Rpc>("rpc", 16)?;

    let mut pending = HashMap::new();
    for id in 1..=REQUESTS {
        let a = id as i64;
        let op = match id % 3 {
            0 => Op::Add(a, 100),
            1 => Op::Mul(a, a),
            _ => Op::Div(100, a - 2), // id 2 divides by zero: an error response
        };
        pending.insert(id, op.clone());
        tx.send_deadline(Rpc::Request { id, op }, deadline)
            .map_err(|e| format!("request {id}: {e}"))?;
    }
    println!("client: {REQUESTS} requests sent");

    let mut answers = BTreeMap::new();
    while !pending.is_empty() {
        match rx.recv_deadline(deadline)? {
            Rpc::Response { id, result } => {
                let op = pending
                    .remove(&id)
                    .ok_or_else(|| format!("response to unknown request {id}"))?;
                println!("client: #{id:<2} {op:?} = {result:?}");
                answers.insert(id, (op, result));
            }
            other => return Err(format!("unexpected message {other:?}").into()),
        }
    }
    // Done: dropping the sender ends the server's handler for this client.
    drop(tx);
    Ok(answers)
}

// With `test = true` (Cargo.toml), `cargo test` builds this example as a test and runs
// `tests::runs` below instead of `main`.
#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), BoxError> {
    let answers = run()?;
    let order: Vec<u64> = answers.keys().copied().collect();
    println!("all {} responses matched: {order:?}", order.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        let answers = super::run().expect("the demo runs");
        assert_eq!(answers.len() as u64, super::REQUESTS);
        for (id, (op, result)) in &answers {
            assert_eq!(&op.eval(), result, "request {id}");
        }
        assert_eq!(answers[&2].1, Err("division by zero".to_string()));
    }
}
