//! What a node reports about its peers: events and statistics.

use netchan_transport::ConnectionStats;
use netchan_transport::identity::PublicKey;
use std::net::SocketAddr;
use std::time::Duration;

/// Something that happened to a node's peers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A peer connected for the first time (or after its lease expired).
    PeerConnected {
        /// Its identity.
        peer: PublicKey,
        /// Its address.
        addr: SocketAddr,
    },
    /// A peer came back within the lease: its channels resumed.
    PeerReconnected {
        /// Its identity.
        peer: PublicKey,
        /// Its (possibly new) address.
        addr: SocketAddr,
    },
    /// A peer's connection ended; its channels wait for it for the lease.
    PeerDisconnected {
        /// Its identity.
        peer: PublicKey,
        /// Why the connection ended.
        reason: String,
    },
    /// A peer did not come back within the lease: its channels failed.
    PeerLost {
        /// Its identity.
        peer: PublicKey,
    },
    /// A path to a peer validated, or came back after failing (multipath).
    PathUp {
        /// The peer.
        peer: PublicKey,
        /// The path id.
        path: u64,
        /// Our address on it.
        local: SocketAddr,
        /// The peer's address on it.
        remote: SocketAddr,
    },
    /// A path to a peer failed (its data moved to the other paths; it is probed until it
    /// answers) or was abandoned.
    PathDown {
        /// The peer.
        peer: PublicKey,
        /// The path id.
        path: u64,
        /// Our address on it.
        local: SocketAddr,
        /// The peer's address on it.
        remote: SocketAddr,
        /// Abandoned for good, rather than failed.
        abandoned: bool,
    },
    /// A channel with a peer failed (type mismatch, protocol violation).
    ChannelError {
        /// The peer.
        peer: PublicKey,
        /// The channel.
        channel: String,
        /// What went wrong.
        error: crate::ChannelError,
    },
}

/// Statistics of one peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStats {
    /// The peer.
    pub peer: PublicKey,
    /// Whether a connection is up now.
    pub connected: bool,
    /// Its last known address.
    pub addr: Option<SocketAddr>,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Smallest RTT seen.
    pub min_rtt: Duration,
    /// The congestion controller (`"bbr"`, `"cubic"`, `"newreno"`; empty before the
    /// first connection).
    pub controller: &'static str,
    /// Estimated bandwidth in bytes per second (BBR's model of the bottleneck, otherwise
    /// the latest delivery-rate sample).
    pub bandwidth: f64,
    /// UDP payload bytes sent on the current connection.
    pub bytes_sent: u64,
    /// UDP payload bytes received on the current connection.
    pub bytes_received: u64,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams received.
    pub packets_received: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Of those, packets acknowledged later (reordered, not lost).
    pub spurious_losses: u64,
    /// Lost / sent packets.
    pub loss_rate: f64,
    /// Messages delivered to this node from the peer.
    pub messages_delivered: u64,
    /// Per path (several with [`NodeConfig::multipath`](crate::NodeConfig::multipath)).
    pub paths: Vec<PathStats>,
}

/// Statistics of one network path to a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PathStats {
    /// The path id.
    pub id: u64,
    /// Active, standby, validating or abandoned.
    pub status: netchan_transport::PathStatus,
    /// Failed (not acknowledged since its data moved to the other paths).
    pub failed: bool,
    /// Our address.
    pub local: Option<SocketAddr>,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Smallest RTT seen.
    pub min_rtt: Duration,
    /// The path's congestion controller.
    pub controller: &'static str,
    /// Estimated bandwidth in bytes per second.
    pub bandwidth: f64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Of those, packets acknowledged later.
    pub spurious_losses: u64,
}

impl PeerStats {
    pub(crate) fn new(peer: PublicKey, addr: Option<SocketAddr>) -> Self {
        Self {
            peer,
            connected: false,
            addr,
            rtt: Duration::ZERO,
            cwnd: 0,
            min_rtt: Duration::ZERO,
            controller: "",
            bandwidth: 0.0,
            bytes_sent: 0,
            bytes_received: 0,
            packets_sent: 0,
            packets_received: 0,
            packets_lost: 0,
            spurious_losses: 0,
            loss_rate: 0.0,
            messages_delivered: 0,
            paths: Vec::new(),
        }
    }

    /// Fills the connection-wide figures of a live connection.
    pub(crate) fn fill(&mut self, cs: &ConnectionStats) {
        self.connected = true;
        self.rtt = cs.rtt;
        self.cwnd = cs.cwnd;
        self.min_rtt = cs.min_rtt;
        self.controller = cs.controller;
        self.bandwidth = cs.bandwidth;
        self.spurious_losses = cs.recovery.spurious_losses;
        self.bytes_sent = cs.bytes_sent;
        self.bytes_received = cs.bytes_received;
        self.packets_sent = cs.packets_sent;
        self.packets_received = cs.packets_received;
        self.packets_lost = cs.recovery.packets_lost;
        self.messages_delivered = cs.messages_delivered;
        self.loss_rate = if cs.recovery.packets_sent == 0 {
            0.0
        } else {
            cs.recovery.packets_lost as f64 / cs.recovery.packets_sent as f64
        };
    }
}

impl From<netchan_transport::PathStats> for PathStats {
    fn from(p: netchan_transport::PathStats) -> Self {
        Self {
            id: p.id,
            status: p.status,
            failed: p.failed,
            local: Some(p.local),
            remote: p.remote,
            rtt: p.rtt,
            cwnd: p.cwnd,
            min_rtt: p.min_rtt,
            controller: p.controller,
            bandwidth: p.bandwidth,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            packets_lost: p.recovery.packets_lost,
            spurious_losses: p.recovery.spurious_losses,
        }
    }
}
