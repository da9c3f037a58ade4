//! A port: one named channel on this node, with its senders' credit.
//!
//! Credit is counted in messages. The application may send as many messages as the
//! session has *promised*; the promise follows the room of the port's links (the sum over
//! peers of their window minus what is unconsumed). A promise cannot be taken back, so
//! when a link loses room that was promised (it disconnected or died) messages can arrive
//! with no link able to take them: they wait in `pending` until room appears, and new
//! credit is promised only once they are placed. `pending` is bounded by the room lost.

use super::PeerKey;
use super::link::Queued;
use std::collections::VecDeque;

/// What a port is, as the application opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The channel's name (both ends use the same).
    pub name: String,
    /// Hash of the message type (both ends must agree).
    pub type_hash: u64,
    /// The message type's name, for error messages.
    pub type_name: String,
    /// Messages this node buffers for its receivers, per peer (0 = rendezvous).
    pub capacity: u32,
    /// `Some(key)`: the channel is with that peer only; `None`: with every peer.
    pub scope: Option<PeerKey>,
    /// Largest serialized message this node accepts on it.
    pub max_message: usize,
    /// How our data on it is spread over a peer's paths (multipath; `None`: the
    /// connection's default mode).
    pub mode: Option<netchan_transport::PathMode>,
}

/// Identifies a port of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u64);

/// The senders' view of a port, published when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStatus {
    /// Peers that can take messages now (connected, opened both ways, types match).
    pub ready_peers: usize,
    /// Largest message every ready peer accepts (`usize::MAX` with none ready).
    pub max_message: usize,
    /// Some ready peer is a rendezvous (capacity 0): sends to it complete only once taken.
    pub rendezvous: bool,
}

#[derive(Debug)]
pub(crate) struct Port {
    pub spec: PortSpec,
    pub senders_gone: bool,
    pub receivers_gone: bool,
    /// Credit given to the application and not used yet.
    pub promised: u64,
    /// Messages sent against credit that no link had room for (see the module docs).
    pub pending: VecDeque<Queued>,
    /// Peers with a link on this port, in round-robin order.
    pub members: Vec<PeerKey>,
    /// Where the next round-robin search starts.
    pub cursor: usize,
    pub status: PortStatus,
    /// The senders were told the port is dead.
    pub send_closed: bool,
    /// The receivers were told nothing more will arrive.
    pub recv_closed: bool,
}

impl Port {
    pub fn new(spec: PortSpec) -> Self {
        Self {
            spec,
            senders_gone: false,
            receivers_gone: false,
            promised: 0,
            pending: VecDeque::new(),
            members: Vec::new(),
            cursor: 0,
            status: PortStatus {
                ready_peers: 0,
                max_message: usize::MAX,
                rendezvous: false,
            },
            send_closed: false,
            recv_closed: false,
        }
    }

    /// Whether the port talks to `peer`.
    pub fn admits(&self, peer: &PeerKey) -> bool {
        self.spec.scope.is_none_or(|s| s == *peer)
    }

    pub fn add_member(&mut self, peer: PeerKey) {
        if !self.members.contains(&peer) {
            self.members.push(peer);
        }
    }
}
