//! The channel session: netchan's channel layer (`docs/PROTOCOL.md` §15) as a sans-IO
//! state machine above the transport's [`Endpoint`].
//!
//! A [`Session`] owns the named channels of one node (its *ports*), what it knows of
//! every peer (connection, redial and lease timers) and, per peer and port, a *link*:
//! the sequence numbers, outbox and credit of our sending side and the receive state of
//! the peer's stream. It turns messages into channel-layer frames on transport channels
//! and transport events back into messages, credit and peer events.
//!
//! # Driving it
//!
//! The same shape as the transport (time passed in, no threads, sockets or clocks):
//! - **input from the transport**: every event the endpoint yields goes to
//!   [`handle_event`](Session::handle_event); timers to
//!   [`handle_timeout`](Session::handle_timeout).
//! - **input from the application**: [`open_port`](Session::open_port),
//!   [`send`](Session::send) (only within the credit promised by [`SessionEvent::Credit`]),
//!   [`consumed`](Session::consumed) (receivers took messages of a stream),
//!   [`senders_gone`](Session::senders_gone), [`receivers_gone`](Session::receivers_gone),
//!   [`dial`](Session::dial), [`shutdown`](Session::shutdown).
//! - **output**: [`poll_event`](Session::poll_event) yields [`SessionEvent`]s (messages to
//!   deliver, credit, completed rendezvous sends, closed ports, peer events, dial
//!   results); [`poll_timeout`](Session::poll_timeout) says when to call
//!   `handle_timeout`. Datagrams leave through the endpoint's own `poll_transmit`.
//!
//! After any input, drain the endpoint's events into the session, then the session's
//! events, and transmit what the endpoint has. Methods that act on connections take the
//! endpoint as a parameter; the session holds no reference to it.

mod channel;
mod link;
mod paths;
mod peer;
mod port;

pub use link::StreamId;
pub use port::{PortId, PortSpec, PortStatus};

use crate::error::{ChannelError, Error};
use crate::events::NodeEvent;
use bytes::Bytes;
use link::{Link, Queued};
use netchan_transport::identity::PublicKey;
use netchan_transport::{ConnectionHandle, Endpoint, Event};
use peer::{ConnInfo, Peer};
use port::Port;
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A node's identity: its static public key.
pub type PeerKey = [u8; 32];

/// Names a rendezvous send, to learn when the remote receiver took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendToken(pub u64);

/// Names a dial, to learn how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DialToken(pub u64);

/// Application close code when a duplicate connection to the same peer is dropped.
pub(crate) const CODE_DUPLICATE: u64 = 1;
/// Application close code for a node shutting down.
pub(crate) const CODE_SHUTDOWN: u64 = 0;
/// Channels a peer may open that we have no port for yet (kept until we do).
const MAX_UNMATCHED: usize = 64;

/// Settings of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// This node's public key (duplicate-connection tie-breaks).
    pub local_key: PeerKey,
    /// Random id of this node instance; peers resume streams only with the same one.
    pub incarnation: u64,
    /// How long a disconnected peer's channels wait for it before failing.
    pub lease: Duration,
    /// The node's local addresses: with multipath, a connection we dial opens a path
    /// from each of them to each of the peer's addresses.
    pub local_addrs: Vec<SocketAddr>,
    /// What one peer may make the session hold.
    pub limits: SessionLimits,
}

/// What one peer may make a session hold, per peer and channel. A peer decides how much
/// it asks for; these decide how much it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Largest capacity taken from a peer's open label: a peer claiming more (up to
    /// 2^32 − 1) gets this many messages of our outbox at most. Default 4096.
    pub max_peer_capacity: u32,
    /// Bytes of messages sent to one peer and not yet consumed by it that the outbox
    /// keeps (for resending after a reconnection); beyond them the peer gets no more
    /// until it consumes. One message always fits. Default 8 MiB.
    pub max_outbox_bytes: u64,
    /// Bytes of messages from one peer delivered to our receivers and not yet taken;
    /// beyond them the session stops reading that peer's stream and the transport's
    /// flow control holds the peer back. One message always fits. Default 8 MiB.
    pub max_inbox_bytes: u64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_peer_capacity: 4096,
            max_outbox_bytes: 8 << 20,
            max_inbox_bytes: 8 << 20,
        }
    }
}

/// What the layer above (the driver, or a test) must act on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// `added` more messages may be sent on `port`.
    Credit {
        /// The port.
        port: PortId,
        /// New credit, in messages.
        added: u64,
    },
    /// `count` messages sent on `port` were taken by remote receivers.
    Settled {
        /// The port.
        port: PortId,
        /// Messages.
        count: u64,
    },
    /// The senders' view of `port` changed.
    Status {
        /// The port.
        port: PortId,
        /// The new view.
        status: PortStatus,
    },
    /// A rendezvous send finished: taken by the remote receiver, or failed.
    SendDone {
        /// The port.
        port: PortId,
        /// The send.
        token: SendToken,
        /// `Err` when the link died first.
        result: Result<(), ChannelError>,
    },
    /// Sending on `port` fails from now on.
    SendClosed {
        /// The port.
        port: PortId,
        /// Why.
        error: ChannelError,
    },
    /// A peer's stream into `port` begins; its messages follow as `Deliver`.
    StreamOpened {
        /// The port.
        port: PortId,
        /// The stream.
        stream: StreamId,
    },
    /// A message for `port`'s receivers.
    Deliver {
        /// The port.
        port: PortId,
        /// The stream it belongs to (report its consumption with `consumed`).
        stream: StreamId,
        /// The serialized value.
        payload: Bytes,
    },
    /// `consumed` messages of `stream` were reported to its sender.
    Reported {
        /// The port.
        port: PortId,
        /// The stream.
        stream: StreamId,
        /// The consumed count the sender now knows.
        consumed: u64,
    },
    /// Nothing more will arrive on `port` (receivers see this reason once drained).
    ReceiveClosed {
        /// The port.
        port: PortId,
        /// Why.
        error: ChannelError,
    },
    /// Something happened to a peer.
    Node(NodeEvent),
    /// A dial ended: the peer's key, or why not.
    Dialed {
        /// The dial.
        token: DialToken,
        /// Its outcome.
        result: Result<PeerKey, String>,
        /// Where it went.
        addr: SocketAddr,
    },
}

/// The channel session of one node. See the [module documentation](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    ports: BTreeMap<PortId, Port>,
    peers: HashMap<PeerKey, Peer>,
    conns: HashMap<ConnectionHandle, ConnInfo>,
    generation: u64,
    shutting_down: bool,
    events: VecDeque<SessionEvent>,
    scratch: Vec<u8>,
}

fn key_text(k: &PeerKey) -> String {
    PublicKey(*k).to_string()
}

/// What a session holds for its peers now: the quantities its memory bounds are about
/// (for tests, fuzzing and operators' diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Peers known (connected, or waiting out their lease).
    pub peers: usize,
    /// Named channels with a peer, over all peers.
    pub links: usize,
    /// Channels peers opened for names we have no port for (kept until a port opens or
    /// the channel closes), and the bytes of their labels.
    pub unmatched: usize,
    /// See `unmatched`.
    pub unmatched_label_bytes: usize,
    /// The most bytes one peer's stream holds delivered and not taken.
    pub max_inbox_bytes: u64,
    /// The most bytes one link's outbox holds sent and not consumed.
    pub max_outbox_bytes: u64,
    /// The largest capacity any peer was granted.
    pub max_peer_capacity: u32,
    /// Events not yet taken by the application.
    pub events: usize,
}

impl Session {
    /// What the session holds now (see [`Footprint`]); walks every peer and link.
    pub fn footprint(&self) -> Footprint {
        let mut f = Footprint {
            peers: self.peers.len(),
            events: self.events.len(),
            ..Footprint::default()
        };
        for p in self.peers.values() {
            f.links += p.links.len();
            f.unmatched += p.unmatched.len();
            f.unmatched_label_bytes += p
                .unmatched
                .iter()
                .map(|(_, l)| l.name.len() + l.type_name.len())
                .sum::<usize>();
            for l in p.links.values() {
                f.max_outbox_bytes = f.max_outbox_bytes.max(l.send.outbox_bytes);
                f.max_peer_capacity = f.max_peer_capacity.max(l.send.remote_cap);
                if let Some(r) = &l.recv {
                    f.max_inbox_bytes = f.max_inbox_bytes.max(r.held_bytes);
                }
            }
        }
        f
    }

    /// A session with no ports and no peers.
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            ports: BTreeMap::new(),
            peers: HashMap::default(),
            conns: HashMap::default(),
            generation: 0,
            shutting_down: false,
            events: VecDeque::new(),
            scratch: Vec::with_capacity(256),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next (redials and
    /// lease expiries of disconnected peers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.shutting_down {
            return None;
        }
        self.peers
            .values()
            .filter(|p| p.conn.is_none())
            .flat_map(|p| [p.redial_at, p.down_since.map(|d| d + self.config.lease)])
            .flatten()
            .min()
    }

    /// Opens port `id` (a named channel on this node; the caller picks unique ids) and
    /// its direction towards every connected peer it admits.
    pub fn open_port(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        id: PortId,
        spec: PortSpec,
    ) -> Result<(), Error> {
        if self.shutting_down {
            return Err(Error::NodeClosed);
        }
        if spec.name.len() > crate::wire::MAX_NAME_LEN {
            return Err(Error::NameTooLong);
        }
        let clash = self.ports.values().any(|p| {
            let o = &p.spec;
            o.name == spec.name
                && (o.scope.is_none() || spec.scope.is_none() || o.scope == spec.scope)
        });
        if clash || self.ports.contains_key(&id) {
            return Err(Error::DuplicateChannel(spec.name));
        }
        let scope = spec.scope;
        let mut port = Port::new(spec);
        if let Some(k) = scope {
            port.add_member(k);
        }
        self.ports.insert(id, port);
        if let Some(k) = scope {
            self.peers
                .entry(k)
                .or_insert_with(|| Peer::new(k))
                .links
                .entry(id)
                .or_insert_with(Link::new);
        }
        let connected: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(k, p)| p.conn.is_some() && scope.is_none_or(|s| s == **k))
            .map(|(k, _)| *k)
            .collect();
        for k in connected {
            self.open_ours(now, ep, &k, id);
            self.adopt_unmatched(ep, &k, id);
        }
        Ok(())
    }

    /// Credit promised to the application and not used yet (what a caller without its
    /// own counter, such as a test, may still send).
    pub fn credit(&self, port: PortId) -> u64 {
        self.ports.get(&port).map_or(0, |p| p.promised)
    }

    /// Sends one message on `port`, against credit previously promised (a send without
    /// credit is queued until some link has room). `token`: complete it with
    /// [`SessionEvent::SendDone`] once a rendezvous peer took the message (a non-
    /// rendezvous peer completes it at once).
    pub fn send(
        &mut self,
        ep: &mut Endpoint,
        port: PortId,
        payload: Bytes,
        token: Option<SendToken>,
    ) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        p.promised = p.promised.saturating_sub(1);
        if p.send_closed {
            if let Some(token) = token {
                self.events.push_back(SessionEvent::SendDone {
                    port,
                    token,
                    result: Err(ChannelError::NodeClosed),
                });
            }
            return;
        }
        let size = payload.len();
        let q = Queued { payload, token };
        // Behind queued messages, or on a link with room that accepts its size.
        let queued = self.ports.get(&port).is_some_and(|p| !p.pending.is_empty());
        match self.pick_link(port, size).filter(|_| !queued) {
            Some(peer) => self.place(ep, port, peer, q),
            None => {
                if let Some(p) = self.ports.get_mut(&port) {
                    p.pending.push_back(q);
                }
            }
        }
    }

    /// The application's receivers have taken `consumed` messages of `stream` in total:
    /// tells the sender when that frees enough of its credit.
    pub fn consumed(&mut self, ep: &mut Endpoint, port: PortId, stream: StreamId, consumed: u64) {
        let max_inbox = self.config.limits.max_inbox_bytes;
        let Some(r) = self
            .peers
            .get_mut(&stream.peer)
            .and_then(|p| p.links.get_mut(&port))
            .and_then(|l| l.recv.as_mut())
            .filter(|r| r.stream == stream)
        else {
            return;
        };
        r.consumed = r.consumed.max(consumed);
        r.on_taken(r.consumed);
        let resume = r.paused && r.held_bytes < max_inbox;
        if resume {
            r.paused = false;
        }
        self.report_consumed(ep, &stream.peer, port);
        if resume {
            self.resume_reading(ep, &stream.peer, port);
        }
    }

    /// Every sender of `port` is gone: peers learn it once they have every message.
    pub fn senders_gone(&mut self, ep: &mut Endpoint, port: PortId) {
        if let Some(p) = self.ports.get_mut(&port) {
            p.senders_gone = true;
        }
        for k in self.members(port) {
            self.pump(ep, port, &k);
        }
    }

    /// Every receiver of `port` is gone: peers' senders fail with `ReceiverClosed`.
    pub fn receivers_gone(&mut self, ep: &mut Endpoint, port: PortId) {
        if let Some(p) = self.ports.get_mut(&port) {
            p.receivers_gone = true;
        }
        for k in self.members(port) {
            self.send_recv_closed(ep, port, &k);
        }
    }

    /// Peers with a link on `port`.
    fn members(&self, port: PortId) -> Vec<PeerKey> {
        self.ports
            .get(&port)
            .map(|p| p.members.clone())
            .unwrap_or_default()
    }

    /// Handles one event of the endpoint.
    pub fn handle_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        h: ConnectionHandle,
        ev: Event,
    ) {
        match ev {
            Event::Connected => self.on_connected(now, ep, h),
            Event::ChannelOpened { channel, label } => self.on_opened(ep, h, channel, &label),
            Event::ChannelReadable(ch) => self.on_readable(ep, h, ch),
            Event::ChannelWritable(ch) => {
                if let Some(k) = self.current_peer(h)
                    && let Some(&(port, true)) =
                        self.peers.get(&k).and_then(|p| p.by_chan.get(&ch.0))
                {
                    self.pump(ep, port, &k);
                }
            }
            Event::DatagramReceived => {
                if let Some(c) = ep.connection(h) {
                    // Bounded by the connection's datagram queue.
                    while c.recv_datagram().is_some() {}
                }
            }
            Event::Path(e) => self.on_path_event(ep, h, e),
            Event::Closed(err) => self.on_closed(now, ep, h, err.to_string()),
            _ => {}
        }
    }

    /// The peer behind a connection, once it is known.
    pub fn peer_of(&self, h: ConnectionHandle) -> Option<PeerKey> {
        self.conns.get(&h).and_then(|c| c.peer)
    }

    /// The peer whose current connection is `h`: events of any other connection (the
    /// loser of a duplicate, one being replaced) must not touch its channels, whose ids
    /// belong to the current connection.
    fn current_peer(&self, h: ConnectionHandle) -> Option<PeerKey> {
        let key = self.peer_of(h)?;
        (self.peers.get(&key)?.conn == Some(h)).then_some(key)
    }

    /// Every known peer: its key, current connection and last known address.
    pub fn peers(
        &self,
    ) -> impl Iterator<Item = (PeerKey, Option<ConnectionHandle>, Option<SocketAddr>)> + '_ {
        self.peers.values().map(|p| (p.key, p.conn, p.remote_addr))
    }

    /// Why a port's link to `peer` is dead, if it is.
    pub fn link_error(&self, port: PortId, peer: &PeerKey) -> Option<ChannelError> {
        self.peers
            .get(peer)
            .and_then(|p| p.links.get(&port))
            .and_then(|l| l.send.dead.clone())
    }

    /// The peer broke the channel protocol on `port` (for example an undecodable
    /// message): stop reading its stream there and tell the application; other channels
    /// and peers are unaffected.
    pub fn violation(&mut self, port: PortId, peer: &PeerKey, detail: String) {
        let Some(r) = self
            .peers
            .get_mut(peer)
            .and_then(|x| x.links.get_mut(&port))
            .and_then(|l| l.recv.as_mut())
        else {
            return;
        };
        if r.done {
            return;
        }
        r.done = true;
        let Some((name, scoped)) = self
            .ports
            .get(&port)
            .map(|p| (p.spec.name.clone(), p.spec.scope.is_some()))
        else {
            return;
        };
        let err = ChannelError::Protocol {
            name: name.clone(),
            detail,
        };
        tracing::warn!(peer = %PublicKey(*peer).short(), channel = %name, error = %err, "channel protocol violation");
        if scoped {
            self.close_receive(port, err.clone());
        }
        self.events
            .push_back(SessionEvent::Node(NodeEvent::ChannelError {
                peer: PublicKey(*peer),
                channel: name,
                error: err,
            }));
    }

    fn close_receive(&mut self, port: PortId, error: ChannelError) {
        if let Some(p) = self.ports.get_mut(&port)
            && !p.recv_closed
        {
            p.recv_closed = true;
            self.events
                .push_back(SessionEvent::ReceiveClosed { port, error });
        }
    }

    /// Fails (and drops) the rendezvous sends among the port's queued messages: their
    /// senders get the value back, so it must never be delivered afterwards.
    fn fail_pending_tokens(&mut self, port: PortId, error: &ChannelError) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        let mut failed = Vec::new();
        p.pending.retain(|q| match q.token {
            Some(token) => {
                failed.push(token);
                false
            }
            None => true,
        });
        for token in failed {
            self.events.push_back(SessionEvent::SendDone {
                port,
                token,
                result: Err(error.clone()),
            });
        }
    }

    fn close_send(&mut self, port: PortId, error: ChannelError) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        if p.send_closed {
            return;
        }
        p.send_closed = true;
        let pending: Vec<Queued> = p.pending.drain(..).collect();
        for q in pending {
            if let Some(token) = q.token {
                self.events.push_back(SessionEvent::SendDone {
                    port,
                    token,
                    result: Err(error.clone()),
                });
            }
        }
        self.events
            .push_back(SessionEvent::SendClosed { port, error });
    }
}
