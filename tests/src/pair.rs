//! Two endpoints, a client and a server, on the simulator: the facade the connection and
//! security tests use (a thin layer over [`Sim`], not a second harness).
//!
//! The links are ideal with 1 ms one way; [`Pair::run`] advances virtual time by whole
//! milliseconds and records every endpoint event. Tests that play the network by hand
//! take datagrams with [`Sim::take_transmits`] and hand them over with [`Sim::deliver`].

use crate::link::LinkConfig;
use crate::sim::{NodeId, Sim};
use netchan_transport::{ConnectionHandle, Endpoint, EndpointConfig, Event};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The client's node id.
pub const CLIENT: NodeId = 0;
/// The server's node id.
pub const SERVER: NodeId = 1;

/// A client and a server endpoint joined by ideal 1 ms links.
#[derive(Debug)]
pub struct Pair {
    /// The simulation (node [`CLIENT`] and node [`SERVER`]).
    pub sim: Sim,
    /// Every event of the client's endpoint so far.
    pub client_events: Vec<(ConnectionHandle, Event)>,
    /// Every event of the server's endpoint so far.
    pub server_events: Vec<(ConnectionHandle, Event)>,
}

impl Pair {
    /// A pair from two endpoint configurations.
    pub fn new(client: EndpointConfig, server: EndpointConfig) -> Self {
        let mut sim = Sim::new(1);
        assert_eq!(sim.add_node(client), CLIENT);
        assert_eq!(sim.add_node(server), SERVER);
        sim.set_links(CLIENT, SERVER, LinkConfig::ideal(Duration::from_millis(1)));
        Self {
            sim,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// The client's endpoint.
    pub fn client(&mut self) -> &mut Endpoint {
        &mut self.sim.nodes[CLIENT].endpoint
    }

    /// The server's endpoint.
    pub fn server(&mut self) -> &mut Endpoint {
        &mut self.sim.nodes[SERVER].endpoint
    }

    /// The client's address.
    pub fn ca(&self) -> SocketAddr {
        self.sim.nodes[CLIENT].addr
    }

    /// The server's address.
    pub fn sa(&self) -> SocketAddr {
        self.sim.nodes[SERVER].addr
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.sim.now
    }

    /// Advances virtual time by `ms` milliseconds (delivering and firing everything due),
    /// recording the endpoints' events.
    pub fn run(&mut self, ms: u64) {
        let until = self.sim.elapsed() + Duration::from_millis(ms);
        // Bounded: each step advances time or delivers; the cap guards a runaway.
        for _ in 0..10_000_000u64 {
            self.drain_events();
            if self.sim.elapsed() >= until {
                break;
            }
            let left = until - self.sim.elapsed();
            self.sim
                .step_bounded(Some(left.min(Duration::from_millis(1))));
        }
        self.drain_events();
    }

    /// Sends what the endpoints have now into the links and delivers what is due now,
    /// without advancing time.
    pub fn flush(&mut self) {
        self.sim.step_bounded(Some(Duration::ZERO));
        self.drain_events();
    }

    /// Records the endpoints' pending events.
    pub fn drain_events(&mut self) {
        self.client_events.extend(self.sim.events(CLIENT));
        self.server_events.extend(self.sim.events(SERVER));
    }

    /// Dials the server pinning its key (Noise IK) and runs until both sides are
    /// connected; returns the client's and the server's handle.
    pub fn connect(&mut self) -> (ConnectionHandle, ConnectionHandle) {
        let c = self.sim.connect(CLIENT, SERVER);
        self.run(10);
        let s = self
            .server_events
            .iter()
            .find(|(_, e)| *e == Event::Connected)
            .map(|(h, _)| *h)
            .expect("server side connected");
        assert!(self.client_events.contains(&(c, Event::Connected)));
        (c, s)
    }

    /// Dials the server from the client (Noise IK when `key` is the server's key, XX
    /// with `None`) without running anything.
    pub fn dial(&mut self, key: Option<[u8; 32]>) -> ConnectionHandle {
        let (now, ca, sa) = (self.now(), self.ca(), self.sa());
        self.client()
            .connect_with(now, ca, sa, key)
            .expect("the client can dial")
    }

    /// What the client wants to send now, taken off the network (datagrams only).
    pub fn take_client(&mut self) -> Vec<Vec<u8>> {
        self.sim
            .take_transmits(CLIENT)
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    }

    /// What the server wants to send now: (destination, datagram).
    pub fn take_server(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.sim.take_transmits(SERVER)
    }

    /// Hands the server a datagram from the client's address now.
    pub fn deliver_to_server(&mut self, d: &[u8]) {
        let from = self.ca();
        self.sim.deliver(SERVER, from, d);
    }

    /// Hands the client a datagram from the server's address now.
    pub fn deliver_to_client(&mut self, d: &[u8]) {
        let from = self.sa();
        self.sim.deliver(CLIENT, from, d);
    }

    /// The first `Closed` reason the client saw.
    pub fn client_closed(&self) -> Option<netchan_transport::ConnectionError> {
        self.client_events.iter().find_map(|(_, e)| match e {
            Event::Closed(why) => Some(why.clone()),
            _ => None,
        })
    }

    /// Whether the server saw a connection complete.
    pub fn server_connected(&self) -> bool {
        self.server_events
            .iter()
            .any(|(_, e)| *e == Event::Connected)
    }
}
