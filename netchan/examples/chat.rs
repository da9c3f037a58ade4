//! A tiny chat room: one node listens, others dial it; every line typed on stdin goes
//! to the other side(s) with your nickname.
//!
//! ```text
//! # terminal 1: the room (prints its address, KEY@127.0.0.1:4000)
//! cargo run -p netchan --example chat -- listen 127.0.0.1:4000 --nick alice
//! # terminal 2 (and 3, ...): join it
//! cargo run -p netchan --example chat -- dial KEY@127.0.0.1:4000 --nick bob
//! ```
//!
//! The room opens channel `chat` with each member separately (`peer.channel`, when the
//! member connects), prints what members say and relays it to the other members. A
//! channel with every peer (`node.channel`) would not do here: its sender hands each
//! message to *one* peer (work distribution), not to all of them.
//!
//! End with Ctrl-D (end of input) or Ctrl-C.

use netchan::{Node, NodeConfig, NodeEvent, PublicKey, Receiver, Sender};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::BufRead;
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One chat message.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct ChatLine {
    nick: String,
    text: String,
}

/// Messages buffered per member before a sender waits.
const CAPACITY: u32 = 64;
/// How long the room waits for a slow member before skipping a line for them.
const SLOW_MEMBER: Duration = Duration::from_secs(1);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The members of a room: a sender to each.
type Members = Arc<Mutex<HashMap<PublicKey, Sender<ChatLine>>>>;

const USAGE: &str = "usage: chat listen HOST:PORT [--nick NAME]\n       \
                     chat dial KEY@HOST:PORT [--nick NAME]";

fn main() {
    if let Err(e) = start() {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}

fn start() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut nick = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--nick" => nick = Some(args.next().ok_or("--nick needs a NAME")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => positional.push(a),
        }
    }
    match positional.as_slice() {
        [mode, addr] if mode == "listen" => room(addr, nick.unwrap_or_else(|| "host".into())),
        [mode, addr] if mode == "dial" => join(addr, nick.unwrap_or_else(|| "guest".into())),
        _ => Err(USAGE.into()),
    }
}

/// Listen mode: run the room.
fn room(addr: &str, nick: String) -> Result<(), BoxError> {
    let bind = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{addr} resolves to nothing"))?;
    let node = Arc::new(Node::new(NodeConfig::new().bind(bind))?);
    println!("chat room at {}", node.address());
    println!(
        "join with: cargo run -p netchan --example chat -- dial {}",
        node.address()
    );
    let members: Members = Arc::default();

    let events = node.events();
    {
        let members = members.clone();
        let node = node.clone();
        thread::spawn(move || {
            for event in events.iter() {
                match event {
                    NodeEvent::PeerConnected { peer, addr } => {
                        println!("* {} joined from {addr}", short(&peer));
                        match node.peer(peer).channel::<ChatLine>("chat", CAPACITY) {
                            Ok((tx, rx)) => {
                                members.lock().unwrap().insert(peer, tx);
                                let members = members.clone();
                                thread::spawn(move || relay(peer, rx, &members));
                            }
                            Err(e) => println!("* cannot talk to {}: {e}", short(&peer)),
                        }
                    }
                    NodeEvent::PeerDisconnected { peer, .. } => {
                        println!("* {} disconnected (may come back)", short(&peer));
                    }
                    NodeEvent::PeerLost { peer } => {
                        println!("* {} left", short(&peer));
                        members.lock().unwrap().remove(&peer);
                    }
                    _ => {}
                }
            }
        });
    }
    // The room's own lines: typed here, sent to every member.
    for line in std::io::stdin().lock().lines() {
        let line = ChatLine {
            nick: nick.clone(),
            text: line?,
        };
        broadcast(&members, None, &line);
    }
    Ok(())
}

/// Prints what `from` says and passes it on to the other members.
fn relay(from: PublicKey, rx: Receiver<ChatLine>, members: &Members) {
    for line in rx.iter() {
        println!("[{}] {}", line.nick, line.text);
        broadcast(members, Some(from), &line);
    }
    members.lock().unwrap().remove(&from);
}

/// Sends `line` to every member but `except`; a member too slow to take it misses it.
fn broadcast(members: &Members, except: Option<PublicKey>, line: &ChatLine) {
    // Send outside the lock: a slow member must not block joins and leaves.
    let targets: Vec<(PublicKey, Sender<ChatLine>)> = members
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| Some(**k) != except)
        .map(|(k, tx)| (*k, tx.clone()))
        .collect();
    for (key, tx) in targets {
        if let Err(e) = tx.send_timeout(line.clone(), SLOW_MEMBER) {
            println!("* could not pass a line to {}: {e}", short(&key));
        }
    }
}

/// Dial mode: join a room.
fn join(addr: &str, nick: String) -> Result<(), BoxError> {
    let node = Node::new(NodeConfig::new())?;
    let room = node.dial(addr)?;
    let (tx, rx) = room.channel::<ChatLine>("chat", CAPACITY)?;
    println!("joined {addr} as {nick}; type a line and press Enter");
    thread::spawn(move || {
        for line in rx.iter() {
            println!("[{}] {}", line.nick, line.text);
        }
        println!("* the room closed");
        std::process::exit(0);
    });
    for text in std::io::stdin().lock().lines() {
        tx.send(ChatLine {
            nick: nick.clone(),
            text: text?,
        })?;
    }
    // End of input: leave. Dropping the node closes the connection gracefully.
    drop(tx);
    drop(node);
    Ok(())
}

/// The first characters of a key, enough to tell members apart.
fn short(key: &PublicKey) -> String {
    key.to_string()[..8].to_string()
}
