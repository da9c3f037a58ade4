//! A transfer on one channel of a connected pair
//! ([`scenarios::connected_pair`](crate::scenarios::connected_pair)), client → server or
//! the reverse, verified exactly once and in order, recording every path event of both
//! sides and when it happened.

use crate::scenarios::{CLIENT, SERVER};
use crate::sim::{Control, NodeId, Sim};
use crate::workload::Stream;
use netchan_transport::{ChannelId, ConnectionHandle, Event, PathEvent};
use std::time::Duration;

/// The transfer's state, advanced by [`step`](Self::step) from a [`Sim::run`] loop.
#[derive(Debug)]
pub struct Transfer {
    /// The client's connection.
    pub client: ConnectionHandle,
    /// The server's connection.
    pub server: ConnectionHandle,
    /// The client's channel.
    pub out: ChannelId,
    /// The server's side of it, once announced.
    pub inbound: Option<ChannelId>,
    /// The messages, sent and verified.
    pub stream: Stream,
    /// Path events: (virtual time, node, event).
    pub events: Vec<(Duration, NodeId, PathEvent)>,
    /// The sending node ([`CLIENT`] or [`SERVER`]).
    pub from: NodeId,
}

impl Transfer {
    /// Opens the client's channel; `stream` says what to send.
    pub fn start(
        sim: &mut Sim,
        client: ConnectionHandle,
        server: ConnectionHandle,
        stream: Stream,
    ) -> Self {
        Self::start_from(sim, CLIENT, (client, server), stream)
    }

    /// Opens a channel from node `from` ([`CLIENT`] or [`SERVER`]) to the other.
    pub fn start_from(
        sim: &mut Sim,
        from: NodeId,
        (client, server): (ConnectionHandle, ConnectionHandle),
        stream: Stream,
    ) -> Self {
        let h = if from == CLIENT { client } else { server };
        let out = sim.nodes[from]
            .endpoint
            .connection(h)
            .and_then(|c| c.open_channel(b"transfer").ok())
            .expect("channel");
        Transfer {
            client,
            server,
            out,
            inbound: None,
            stream,
            events: Vec::new(),
            from,
        }
    }

    /// The receiving node.
    pub fn to(&self) -> NodeId {
        if self.from == CLIENT { SERVER } else { CLIENT }
    }

    /// Takes both sides' events (see [`collect_events`]).
    pub fn collect(&mut self, sim: &mut Sim) {
        collect_events(sim, &mut self.events, &mut self.inbound);
    }

    /// One drive step: events, then [`pump`](Self::pump). (Only for a client → server
    /// transfer: the events of both sides are taken.)
    pub fn step(&mut self, sim: &mut Sim) -> Control {
        self.collect(sim);
        self.pump(sim)
    }

    /// Up to 32 more messages, verification of what arrived; `Done` once all did. The
    /// caller takes the events and sets [`inbound`](Self::inbound).
    pub fn pump(&mut self, sim: &mut Sim) -> Control {
        let (to, handle) = (self.to(), self.handle(self.from));
        let conn = sim.nodes[self.from]
            .endpoint
            .connection(handle)
            .expect("sender");
        self.stream.pump(conn, self.out, 32).expect("send");
        if let Some(ch) = self.inbound {
            let handle = self.handle(to);
            let conn = sim.nodes[to].endpoint.connection(handle).expect("receiver");
            self.stream.drain(conn, ch).expect("exactly once, in order");
        }
        if self.stream.all_received() {
            Control::Done
        } else {
            Control::Continue
        }
    }
}

impl Transfer {
    fn handle(&self, node: NodeId) -> ConnectionHandle {
        if node == CLIENT {
            self.client
        } else {
            self.server
        }
    }
}

/// Takes both sides' events: path events go to `events` with the time and node, the
/// server's new channel to `inbound`; a closed connection panics (the test fails).
pub fn collect_events(
    sim: &mut Sim,
    events: &mut Vec<(Duration, NodeId, PathEvent)>,
    inbound: &mut Option<ChannelId>,
) {
    for node in [SERVER, CLIENT] {
        for (_, e) in sim.events(node) {
            match e {
                Event::ChannelOpened { channel, .. } => *inbound = Some(channel),
                Event::Path(p) => events.push((sim.elapsed(), node, p)),
                Event::Closed(why) => panic!("node {node}: connection closed: {why}"),
                _ => {}
            }
        }
    }
}
