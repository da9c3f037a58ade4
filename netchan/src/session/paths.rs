//! Several paths per peer connection (multipath): the paths a dialed connection opens
//! from each of the node's addresses to each of the peer's, and the path events peers
//! report as [`NodeEvent::PathUp`] / [`NodeEvent::PathDown`].

use super::*;
use netchan_transport::{PathEvent, PathMode};

/// Whether `local` can reach `remote`: the same address family, and loopback only to
/// loopback.
fn reachable(local: &SocketAddr, remote: &SocketAddr) -> bool {
    local.is_ipv4() == remote.is_ipv4() && local.ip().is_loopback() == remote.ip().is_loopback()
}

impl Session {
    /// The peer's further addresses for the dial `token` (given with `KEY@A,B,...`): once
    /// the connection is up and multipath negotiated, paths open to them too.
    pub fn add_dial_addresses(&mut self, token: DialToken, extra: Vec<SocketAddr>) {
        let dial = self
            .conns
            .values_mut()
            .filter_map(|c| c.dial.as_mut())
            .find(|d| d.token == Some(token));
        if let Some(d) = dial {
            d.extra = extra;
        }
    }

    /// A connection we dialed to `key` is up: with multipath, opens a path for every
    /// (local address, peer address) pair that can work, besides the handshake's (in
    /// `backup` mode the new paths are standby).
    pub(super) fn open_extra_paths(&mut self, now: Instant, ep: &mut Endpoint, key: &PeerKey) {
        let Some(p) = self.peers.get(key) else {
            return;
        };
        let (Some(h), Some(first)) = (p.conn, p.dial_addr) else {
            return;
        };
        let remotes: Vec<SocketAddr> = std::iter::once(first)
            .chain(p.dial_extra.iter().copied())
            .collect();
        let locals = self.config.local_addrs.clone();
        let Some(conn) = ep.connection(h) else {
            return;
        };
        if !conn.multipath_enabled() {
            return;
        }
        let backup = conn.default_path_mode() == PathMode::Backup;
        let (used_local, used_remote) = (conn.local_address(), conn.remote_address());
        for remote in &remotes {
            for local in locals.iter().filter(|l| reachable(l, remote)) {
                if (*local, *remote) == (used_local, used_remote) {
                    continue;
                }
                match conn.open_path(now, *local, *remote) {
                    Ok(id) => {
                        tracing::debug!(peer = %PublicKey(*key).short(), path = id, %local, %remote, "opening a path");
                        if backup {
                            let _ = conn.set_path_standby(id, true);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(peer = %PublicKey(*key).short(), %local, %remote, error = %e, "no further path");
                    }
                }
            }
        }
    }

    /// A path event of connection `h`: logged, the peer's address followed, and path
    /// up/down reported.
    pub(super) fn on_path_event(&mut self, ep: &mut Endpoint, h: ConnectionHandle, e: PathEvent) {
        let Some(key) = self.peer_of(h) else {
            return;
        };
        if let PathEvent::Migrated { to, .. } = e
            && let Some(p) = self.peers.get_mut(&key)
        {
            p.remote_addr = Some(to);
        }
        tracing::debug!(peer = %PublicKey(key).short(), event = ?e, "path event");
        let (path, up) = match e {
            PathEvent::Validated { path, .. } | PathEvent::Recovered { path } => (path, true),
            PathEvent::Failed { path, .. } | PathEvent::Abandoned { path, .. } => (path, false),
            _ => return,
        };
        let Some(stats) = ep
            .connection(h)
            .and_then(|c| c.paths().find(|p| p.id == path))
        else {
            return;
        };
        let (peer, local, remote) = (PublicKey(key), stats.local, stats.remote);
        let event = if up {
            NodeEvent::PathUp {
                peer,
                path,
                local,
                remote,
            }
        } else {
            NodeEvent::PathDown {
                peer,
                path,
                local,
                remote,
                abandoned: matches!(e, PathEvent::Abandoned { .. }),
            }
        };
        self.events.push_back(SessionEvent::Node(event));
    }
}
