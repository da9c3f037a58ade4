//! Paths as the layers above the connection see them: status, statistics, events, and
//! the path-selection seam.
//!
//! A connection has a table of paths (one until multipath is negotiated). Each path is a
//! (local address, remote address) pair with its own packet-number spaces, replay window,
//! loss recovery, RTT, congestion controller, pacer and anti-amplification budget; see
//! `docs/PROTOCOL.md` §12.4. Which path a packet goes on is policy: a [`PathSelector`],
//! built for each connection by the [`PathSelectorFactory`] in
//! [`TransportConfig::path_selector`](crate::TransportConfig), decides from a
//! [`PathView`] of every path. The default, [`SinglePath`], uses one path; the schedulers
//! of `netchan-multipath` implement the same trait.

use crate::recovery::RecoveryStats;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where a path is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathStatus {
    /// The peer's address on this path is not proven yet: at most 3× what it sent may be
    /// sent there (a listener's first path until the handshake confirms the dialer).
    Validating,
    /// Validated and usable.
    Active,
    /// Validated, kept in reserve: carries only probes while an active path exists.
    Standby,
    /// Given up; carries nothing more.
    Abandoned,
}

/// What a [`PathSelector`] sees of one path when choosing where the next packet goes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct PathView {
    /// The path id (carried in every packet header of the path).
    pub id: u64,
    /// Its status.
    pub status: PathStatus,
    /// Our address on the path.
    pub local: SocketAddr,
    /// The peer's address on the path.
    pub remote: SocketAddr,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Lowest round-trip time seen.
    pub min_rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Bytes sent and neither acknowledged nor declared lost.
    pub bytes_in_flight: u64,
    /// Whether a full-size packet fits in the congestion window now.
    pub can_send: bool,
    /// Probe timeouts in a row without an acknowledgement (a sign the path is failing).
    pub pto_count: u32,
    /// The probe timeout in force (RFC 9002's PTO, backed off after probe timeouts).
    pub pto: Duration,
    /// How long the oldest ack-eliciting packet in flight on the path has gone
    /// unacknowledged (zero when none is in flight): past [`pto`](Self::pto), the path
    /// went silent even though later packets on other paths may have been acknowledged.
    pub unacked_for: Duration,
    /// Packets declared lost / packets sent, over the path's life.
    pub loss_rate: f64,
    /// Largest datagram the path carries.
    pub max_datagram_size: u16,
    /// Estimated bandwidth in bytes per second (0 before the first sample; see
    /// [`PathStats::bandwidth`]).
    pub bandwidth: f64,
    /// Bytes the connection has waiting to be sent (new and lost channel data and
    /// datagrams, within flow control; counted up to 64 MiB): the same for every path.
    pub backlog: u64,
    /// How long until the path's pacer lets a full-size packet go (zero: now).
    pub pacing_wait: Duration,
    /// The selector declared the path failed at a probe timeout
    /// ([`PathSelector::is_failed`]) and no acknowledgement came on it since.
    pub failed: bool,
}

impl PathView {
    /// A view with the given identity and neutral figures (RTT 100 ms, a 12,000-byte
    /// window with room, nothing in flight, 1200-byte datagrams), for building views in
    /// tests of a selector; set the public fields to describe a path.
    pub fn new(id: u64, status: PathStatus, local: SocketAddr, remote: SocketAddr) -> Self {
        PathView {
            id,
            status,
            local,
            remote,
            rtt: Duration::from_millis(100),
            min_rtt: Duration::from_millis(100),
            cwnd: 12_000,
            bytes_in_flight: 0,
            can_send: true,
            pto_count: 0,
            pto: Duration::from_millis(300),
            unacked_for: Duration::ZERO,
            loss_rate: 0.0,
            max_datagram_size: 1200,
            bandwidth: 0.0,
            backlog: 0,
            pacing_wait: Duration::ZERO,
            failed: false,
        }
    }

    /// Whether a full-size packet may leave on the path now: room in the window and the
    /// pacer's leave.
    pub fn ready(&self) -> bool {
        self.can_send && self.pacing_wait.is_zero()
    }
}

/// How a channel's data is spread over the paths of a multipath connection ("RAID for
/// the network"). Each channel direction has one, the connection's default
/// ([`TransportConfig::path_mode`](crate::TransportConfig)) unless
/// [`Connection::set_channel_mode`](crate::Connection::set_channel_mode) chose another.
/// The transport only carries the mode to the [`PathSelector`], which gives it its
/// meaning ([`PathSelector::copies`]); with one path every mode is the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathMode {
    /// RAID-0: each packet on one path, for bandwidth.
    #[default]
    Stripe,
    /// RAID-1: the data on every healthy path, for zero-stall failover.
    Mirror,
    /// Striped, with parity so one loss per group repairs without a round trip.
    Parity,
    /// Striped, with small packets and message tails also on a second path.
    Hedged,
    /// Striped over the active paths only; standby paths take over when all failed.
    Backup,
}

impl PathMode {
    /// Every mode, in declaration order.
    pub const ALL: [PathMode; 5] = [
        PathMode::Stripe,
        PathMode::Mirror,
        PathMode::Parity,
        PathMode::Hedged,
        PathMode::Backup,
    ];

    /// The mode's name as the CLI and the harness spell it.
    pub fn name(self) -> &'static str {
        match self {
            PathMode::Stripe => "stripe",
            PathMode::Mirror => "mirror",
            PathMode::Parity => "parity",
            PathMode::Hedged => "hedged",
            PathMode::Backup => "backup",
        }
    }
}

impl std::fmt::Display for PathMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for PathMode {
    type Err = UnknownPathMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PathMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownPathMode(s.to_owned()))
    }
}

/// A name that is none of the [`PathMode`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown path mode {0:?} (expected stripe, mirror, parity, hedged or backup)")]
pub struct UnknownPathMode(pub String);

/// Channel data that just left on one path, as [`PathSelector::copies`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentData {
    /// The path it went on.
    pub path: u64,
    /// The mode of its channel.
    pub mode: PathMode,
    /// Bytes of channel data.
    pub bytes: u64,
    /// It reaches the end of what the application has written to the channel so far (the
    /// tail of the latest message).
    pub tail: bool,
}

impl SentData {
    /// `bytes` of channel data in `mode` sent on path `path`, not a message tail (for
    /// tests of a selector).
    pub fn new(path: u64, mode: PathMode, bytes: u64) -> Self {
        SentData {
            path,
            mode,
            bytes,
            tail: false,
        }
    }
}

/// Chooses the path of each packet a connection sends (the multipath scheduler seam),
/// which of them carry copies, and when a path has failed.
///
/// [`select`](Self::select) is called once per packet with a view of every path of the
/// connection that may carry data (never empty, ascending id). The connection then fills
/// the packet for that path within its congestion window, pacing and anti-amplification
/// budget; path validation probes do not go through the selector. After the packet,
/// [`copies`](Self::copies) is asked once per channel mode other than `Stripe` whose data
/// it carried; [`is_failed`](Self::is_failed) is asked when a path may be failing while
/// another path is usable; [`parity_group`](Self::parity_group) and
/// [`parity_path`](Self::parity_path) when a parity channel starts and finishes a group.
pub trait PathSelector: Send + Debug {
    /// The id of the path the next packet goes on, or `None` to send nothing now.
    fn select(&mut self, now: Instant, paths: &[PathView]) -> Option<u64>;

    /// Channel data described by `sent` just left on path `sent.path`: push onto `out` the
    /// ids of the other paths that should carry a copy of it. The transport queues the
    /// copies there (bounded in bytes; the oldest are dropped first), sends them ahead of
    /// new data when the path has room, and skips whatever the peer has acknowledged by
    /// then; the receiver keeps the first copy that arrives. Default: no copies.
    fn copies(&mut self, now: Instant, sent: &SentData, paths: &[PathView], out: &mut Vec<u64>) {
        let _ = (now, sent, paths, out);
    }

    /// Path `path` may be failing and another path is usable: whether it has failed.
    /// Asked when its probe timer fires (`path.pto_count` counts it) and when its oldest
    /// ack-eliciting packet in flight has gone a PTO without an acknowledgement
    /// (`path.unacked_for`). A failed path's data in flight is queued
    /// again at once for the other paths, its probes (backed off as probe timeouts are)
    /// carry nothing but a PING until it is acknowledged again, and its view says
    /// [`failed`](PathView::failed) meanwhile. Default: never.
    fn is_failed(&mut self, now: Instant, path: &PathView, paths: &[PathView]) -> bool {
        let _ = (now, path, paths);
        false
    }

    /// A channel in [`PathMode::Parity`] or [`PathMode::Hedged`] (`mode`) starts a parity
    /// group: after how many of its chunks a CHANNEL_PARITY frame (their XOR) follows, at
    /// most [`MAX_PARITY_MEMBERS`](crate::wire::MAX_PARITY_MEMBERS); `None` for no parity
    /// now. Default: none.
    fn parity_group(&mut self, now: Instant, mode: PathMode, paths: &[PathView]) -> Option<usize> {
        let _ = (now, mode, paths);
        None
    }

    /// The path a finished parity group's CHANNEL_PARITY frame goes on; `members` are the
    /// paths its chunks went on (one entry per chunk). `None` drops it. Default: none (a
    /// selector that asks for parity groups places them too).
    fn parity_path(&mut self, now: Instant, members: &[u64], paths: &[PathView]) -> Option<u64> {
        let _ = (now, members, paths);
        None
    }
}

/// Builds a [`PathSelector`] for each new connection (like a congestion-controller
/// factory): set it in [`TransportConfig::path_selector`](crate::TransportConfig).
pub trait PathSelectorFactory: Send + Sync + Debug {
    /// A selector for one connection.
    fn build(&self) -> Box<dyn PathSelector>;
}

/// The default policy: every packet on the first active path (lowest id); while no
/// path is active, the first standby one, else the first validating one (a listener
/// before the dialer's address is confirmed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinglePath;

impl PathSelector for SinglePath {
    fn select(&mut self, _now: Instant, paths: &[PathView]) -> Option<u64> {
        let first = |status| paths.iter().find(|p| p.status == status).map(|p| p.id);
        first(PathStatus::Active)
            .or_else(|| first(PathStatus::Standby))
            .or_else(|| first(PathStatus::Validating))
    }
}

impl PathSelectorFactory for SinglePath {
    fn build(&self) -> Box<dyn PathSelector> {
        Box::new(SinglePath)
    }
}

/// Statistics and addresses of one path.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct PathStats {
    /// The path id.
    pub id: u64,
    /// Its status.
    pub status: PathStatus,
    /// Our address on the path.
    pub local: SocketAddr,
    /// The peer's address on the path.
    pub remote: SocketAddr,
    /// Datagrams sent on the path.
    pub packets_sent: u64,
    /// Authenticated datagrams received on the path.
    pub packets_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received (authenticated).
    pub bytes_received: u64,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// The probe timeout in force (RFC 9002's PTO, backed off after probe timeouts).
    pub pto: Duration,
    /// Smallest RTT seen on the path.
    pub min_rtt: Duration,
    /// The congestion controller's name (`"bbr"`, `"cubic"`, `"newreno"`).
    pub controller: &'static str,
    /// Estimated bandwidth in bytes per second: BBR's bottleneck bandwidth, otherwise the
    /// latest delivery-rate sample (0 before the first).
    pub bandwidth: f64,
    /// Declared failed at a probe timeout and not acknowledged since (multipath).
    pub failed: bool,
    /// Times the path moved to a new address after validating it.
    pub migrations: u64,
    /// Path validations that got no answer in time.
    pub failed_validations: u64,
    /// Loss recovery counters.
    pub recovery: RecoveryStats,
}

/// Something that happened to a path, reported as [`Event::Path`](crate::Event::Path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathEvent {
    /// An authenticated packet came from a new address: it is a candidate for the path,
    /// being validated (PATH_CHALLENGE); the path stays where it is meanwhile.
    ValidationStarted {
        /// The path.
        path: u64,
        /// The candidate address.
        remote: SocketAddr,
    },
    /// The candidate answered: the path moved there and the old address was abandoned.
    Migrated {
        /// The path.
        path: u64,
        /// The address it left.
        from: SocketAddr,
        /// Its new (validated) address.
        to: SocketAddr,
    },
    /// The candidate (or a new path's address) never answered; the path stays at its
    /// address (a new path is abandoned).
    ValidationFailed {
        /// The path.
        path: u64,
        /// The address that did not answer.
        remote: SocketAddr,
    },
    /// A new path (multipath) proved its address and now carries traffic.
    Validated {
        /// The path.
        path: u64,
        /// Our address on it.
        local: SocketAddr,
        /// The peer's address on it.
        remote: SocketAddr,
    },
    /// The path became active or standby (our own or the peer's PATH_STATUS).
    StatusChanged {
        /// The path.
        path: u64,
        /// Its new status.
        status: PathStatus,
    },
    /// The selector declared the path failed at a probe timeout: its data in flight was
    /// handed to the other paths, and it is probed until it answers.
    Failed {
        /// The path.
        path: u64,
        /// Probe timeouts in a row when it was declared failed.
        pto_count: u32,
    },
    /// A failed path was acknowledged again and carries traffic once more.
    Recovered {
        /// The path.
        path: u64,
    },
    /// The path was abandoned (by us or the peer); its packets in flight were handed to
    /// the other paths.
    Abandoned {
        /// The path.
        path: u64,
        /// The peer abandoned it (PATH_ABANDON), rather than this side.
        by_peer: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: u64, status: PathStatus) -> PathView {
        let a: SocketAddr = "10.0.0.1:1".parse().expect("address");
        PathView::new(id, status, a, a)
    }

    #[test]
    fn single_path_prefers_the_first_active_path() {
        let mut s = SinglePath.build();
        let now = Instant::now();
        let paths = [
            view(0, PathStatus::Validating),
            view(1, PathStatus::Standby),
            view(2, PathStatus::Active),
            view(3, PathStatus::Active),
        ];
        assert_eq!(s.select(now, &paths), Some(2));
        assert_eq!(s.select(now, &paths[..2]), Some(1));
        assert_eq!(s.select(now, &paths[..1]), Some(0));
        assert_eq!(s.select(now, &[view(1, PathStatus::Abandoned)]), None);
    }
}
