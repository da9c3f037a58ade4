//! A dialer and a listener on the simulator, with lossless delivery on demand and the
//! real packet protection shared with the harness (`connection_frames`, seed capture).

use super::capture::{CaptureCrypto, Registry};
use crate::sim::{NodeId, Sim};
use netchan_transport::fuzzing::shared::{
    DIALER_ADDR, EventLog, LISTENER_ADDR, check_transmit, keys,
};
use netchan_transport::identity::Keypair;
use netchan_transport::{ConnectionHandle, Endpoint, EndpointConfig, NoiseConfig, TransportConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const CLIENT: NodeId = 0;
pub(crate) const SERVER: NodeId = 1;

pub(crate) struct Pair {
    pub sim: Sim,
    pub client_registry: Registry,
    pub server_registry: Registry,
    pub client_log: EventLog,
    pub server_log: EventLog,
    /// Every datagram sent, when capturing (for the corpus).
    pub sent: Option<Vec<Vec<u8>>>,
    pub client_handle: Option<ConnectionHandle>,
}

impl Pair {
    pub fn new(transport: TransportConfig) -> Self {
        let k = keys();
        let transport = Arc::new(transport);
        let config = |kp: &Keypair, seed: u64, registry: &Registry| {
            let crypto = CaptureCrypto {
                inner: NoiseConfig::new(kp.clone()),
                registry: registry.clone(),
            };
            let mut cfg = EndpointConfig::seeded_for_tests(Arc::new(crypto), seed);
            cfg.transport = transport.clone();
            cfg
        };
        let (client_registry, server_registry) = (Registry::default(), Registry::default());
        let mut sim = Sim::new(0);
        let c = sim.add_node_at(config(&k.initiator, 1, &client_registry), DIALER_ADDR);
        let s = sim.add_node_at(config(&k.responder, 2, &server_registry), LISTENER_ADDR);
        debug_assert_eq!((c, s), (CLIENT, SERVER));
        Self {
            sim,
            client_registry,
            server_registry,
            client_log: EventLog::default(),
            server_log: EventLog::default(),
            sent: None,
            client_handle: None,
        }
    }

    pub fn now(&self) -> Instant {
        self.sim.now
    }

    pub fn client(&mut self) -> &mut Endpoint {
        &mut self.sim.nodes[CLIENT].endpoint
    }

    /// Delivers everything both sides have to send, until both are quiet (bounded).
    /// Returns the number of datagrams delivered.
    pub fn exchange(&mut self) -> usize {
        let mut delivered = 0;
        for _ in 0..16 {
            let from_client = self.sim.take_transmits(CLIENT);
            let from_server = self.sim.take_transmits(SERVER);
            if from_client.is_empty() && from_server.is_empty() {
                break;
            }
            for (_, d) in &from_client {
                check_transmit(d.len(), d);
                self.sim.deliver(SERVER, DIALER_ADDR, d);
            }
            for (dest, d) in &from_server {
                check_transmit(d.len(), d);
                if *dest == DIALER_ADDR {
                    self.sim.deliver(CLIENT, LISTENER_ADDR, d);
                }
            }
            delivered += from_client.len() + from_server.len();
            if let Some(sent) = &mut self.sent {
                sent.extend(from_client.into_iter().chain(from_server).map(|(_, d)| d));
            }
            self.client_log.drain(&mut self.sim.nodes[CLIENT].endpoint);
            self.server_log.drain(&mut self.sim.nodes[SERVER].endpoint);
        }
        self.check_timers();
        delivered
    }

    /// Liveness: once `handle_timeout(now)` ran, no timer is left due at `now` (a stuck
    /// deadline would make a driver spin and a simulation stop advancing).
    fn check_timers(&mut self) {
        let now = self.now();
        for node in [CLIENT, SERVER] {
            let ep = &mut self.sim.nodes[node].endpoint;
            ep.handle_timeout(now);
            let next = ep.poll_timeout();
            assert!(
                next.is_none_or(|t| t > now),
                "node {node}: a timer due now survived handle_timeout"
            );
        }
    }

    /// Advances time by `ms`, fires timers and exchanges.
    pub fn tick(&mut self, ms: u64) {
        self.sim.advance(Duration::from_millis(ms));
        self.exchange();
    }

    /// Connects (IK when `pinned`, else XX); true when both sides are connected.
    pub fn connect(&mut self, pinned: bool) -> bool {
        let key = pinned.then(|| keys().responder.public().0);
        let now = self.now();
        let Ok(h) = self
            .client()
            .connect_with(now, DIALER_ADDR, LISTENER_ADDR, key)
        else {
            return false;
        };
        self.client_handle = Some(h);
        for _ in 0..8 {
            self.tick(1);
            if self.client_log.connected.contains(&h) && !self.server_log.connected.is_empty() {
                return true;
            }
        }
        false
    }

    pub fn server_handle(&self) -> Option<ConnectionHandle> {
        self.server_log.connected.iter().next().copied()
    }
}
