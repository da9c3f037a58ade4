//! Peers and their connections: dialing, duplicate connections, disconnection, redial
//! with backoff, the reconnection lease, and shutdown.

use super::*;

/// First redial delay after a connection loss; doubled per failed attempt up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the session knows of one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub key: PeerKey,
    pub conn: Option<ConnectionHandle>,
    pub remote_addr: Option<SocketAddr>,
    /// Where we dialed this peer: we redial it after a connection loss.
    pub dial_addr: Option<SocketAddr>,
    /// Our local address for that dial.
    pub dial_local: Option<SocketAddr>,
    /// The peer's further addresses (multipath: paths open to them too).
    pub dial_extra: Vec<SocketAddr>,
    pub redial_at: Option<Instant>,
    pub backoff: Duration,
    pub down_since: Option<Instant>,
    pub links: HashMap<PortId, Link>,
    /// Transport channel id → (port, is it ours).
    pub by_chan: HashMap<u64, (PortId, bool)>,
    pub unmatched: Vec<(netchan_transport::ChannelId, crate::wire::OpenLabel)>,
    pub ever_connected: bool,
}

impl Peer {
    pub fn new(key: PeerKey) -> Self {
        Self {
            key,
            conn: None,
            remote_addr: None,
            dial_addr: None,
            dial_local: None,
            dial_extra: Vec::new(),
            redial_at: None,
            backoff: FIRST_BACKOFF,
            down_since: None,
            links: HashMap::default(),
            by_chan: HashMap::default(),
            unmatched: Vec::new(),
            ever_connected: false,
        }
    }
}

/// A dial in progress.
#[derive(Debug)]
pub(crate) struct Dial {
    pub local: SocketAddr,
    pub addr: SocketAddr,
    /// `None` for automatic redials.
    pub token: Option<DialToken>,
    /// The peer's further addresses given with the dial.
    pub extra: Vec<SocketAddr>,
}

/// What the session knows of one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnInfo {
    pub dial: Option<Dial>,
    pub peer: Option<PeerKey>,
}

impl Session {
    /// Dials `addr` from `local`, pinning `key` when given; the outcome comes as
    /// [`SessionEvent::Dialed`]. A peer already connected answers at once.
    pub fn dial(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        (local, addr): (SocketAddr, SocketAddr),
        key: Option<PeerKey>,
        token: DialToken,
    ) {
        if self.shutting_down {
            self.events.push_back(SessionEvent::Dialed {
                token,
                result: Err(Error::NodeClosed.to_string()),
                addr,
            });
            return;
        }
        if let Some(k) = key
            && let Some(p) = self.peers.get_mut(&k)
            && p.conn.is_some()
        {
            p.dial_addr.get_or_insert(addr);
            p.dial_local.get_or_insert(local);
            self.events.push_back(SessionEvent::Dialed {
                token,
                result: Ok(k),
                addr,
            });
            return;
        }
        match ep.connect_with(now, local, addr, key) {
            Ok(h) => {
                tracing::debug!(%addr, pinned = key.is_some(), "dialing");
                let dial = Dial {
                    local,
                    addr,
                    token: Some(token),
                    extra: Vec::new(),
                };
                self.conns.insert(
                    h,
                    ConnInfo {
                        dial: Some(dial),
                        peer: key,
                    },
                );
            }
            Err(e) => self.events.push_back(SessionEvent::Dialed {
                token,
                result: Err(e.to_string()),
                addr,
            }),
        }
    }

    pub(super) fn on_connected(&mut self, now: Instant, ep: &mut Endpoint, h: ConnectionHandle) {
        let Some(conn) = ep.connection(h) else {
            return;
        };
        let Some(key) = conn.peer_identity() else {
            conn.close(now, CODE_DUPLICATE, b"no identity");
            return;
        };
        let (side, remote) = (conn.side(), conn.remote_address());
        let info = self.conns.entry(h).or_default();
        info.peer = Some(key);
        let dial = info.dial.as_mut().map(|d| {
            (
                d.local,
                d.addr,
                d.token.take(),
                std::mem::take(&mut d.extra),
            )
        });
        if let Some((_, addr, Some(token), _)) = &dial {
            let (addr, token) = (*addr, *token);
            self.events.push_back(SessionEvent::Dialed {
                token,
                result: Ok(key),
                addr,
            });
        }
        let peer = self.peers.entry(key).or_insert_with(|| Peer::new(key));
        if let Some((local, addr, _, extra)) = dial {
            peer.dial_addr = Some(addr);
            peer.dial_local = Some(local);
            if !extra.is_empty() {
                peer.dial_extra = extra;
            }
        }
        if let Some(old) = peer.conn
            && !self.keep_new_connection(now, ep, &key, old, h, side)
        {
            return;
        }
        let peer = self.peers.get_mut(&key).expect("peer exists");
        peer.conn = Some(h);
        peer.remote_addr = Some(remote);
        peer.redial_at = None;
        peer.backoff = FIRST_BACKOFF;
        let was_down = peer.down_since.take().is_some();
        let first = !peer.ever_connected;
        peer.ever_connected = true;
        let pk = PublicKey(key);
        tracing::info!(peer = %pk.short(), %remote, ?side, path = 0, reconnected = !first && was_down, "peer connected");
        self.events
            .push_back(SessionEvent::Node(if first || !was_down {
                NodeEvent::PeerConnected {
                    peer: pk,
                    addr: remote,
                }
            } else {
                NodeEvent::PeerReconnected {
                    peer: pk,
                    addr: remote,
                }
            }));
        let ports: Vec<PortId> = self
            .ports
            .iter()
            .filter(|(_, p)| p.admits(&key))
            .map(|(id, _)| *id)
            .collect();
        for port in ports {
            self.open_ours(now, ep, &key, port);
        }
        if side == netchan_transport::Side::Initiator {
            self.open_extra_paths(now, ep, &key);
        }
    }

    /// Two connections to one peer (both dialed at once, or a redial racing the old
    /// connection): both ends keep the one dialed by the smaller key, else the newer.
    /// Closes the loser; returns whether the new one (`h`) is kept.
    fn keep_new_connection(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        key: &PeerKey,
        old: ConnectionHandle,
        h: ConnectionHandle,
        side: netchan_transport::Side,
    ) -> bool {
        let old_dialer = self.conns.get(&old).map(|c| c.dial.is_some());
        let new_dialer_is_me = side == netchan_transport::Side::Initiator;
        let keep_new = match old_dialer {
            Some(old_is_me) if old_is_me != new_dialer_is_me => {
                let mine = self.config.local_key;
                let new_dialer = if new_dialer_is_me { mine } else { *key };
                let old_dialer = if old_is_me { mine } else { *key };
                new_dialer < old_dialer
            }
            _ => true,
        };
        let loser = if keep_new { old } else { h };
        if let Some(c) = ep.connection(loser) {
            c.close(now, CODE_DUPLICATE, b"duplicate connection");
        }
        tracing::debug!(peer = %PublicKey(*key).short(), keep_new, "duplicate connection closed");
        if keep_new {
            self.detach_connection(ep, key);
        }
        keep_new
    }

    /// Forgets the transport channels of a peer's current connection (after it closed
    /// or was replaced); channel state survives for the lease.
    fn detach_connection(&mut self, ep: &mut Endpoint, key: &PeerKey) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        peer.conn = None;
        peer.by_chan.clear();
        peer.unmatched.clear();
        let ports: Vec<PortId> = peer.links.keys().copied().collect();
        for link in peer.links.values_mut() {
            link.detach();
        }
        for port in ports {
            self.refresh_port(ep, port);
        }
    }

    pub(super) fn on_closed(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        h: ConnectionHandle,
        reason: String,
    ) {
        let Some(info) = self.conns.remove(&h) else {
            return;
        };
        if let Some(d) = info.dial.as_ref()
            && let Some(token) = d.token
        {
            self.events.push_back(SessionEvent::Dialed {
                token,
                result: Err(reason.clone()),
                addr: d.addr,
            });
        }
        let Some(key) = info.peer else { return };
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.conn != Some(h) {
            // A failed redial, or the losing duplicate.
            if peer.conn.is_none() && info.dial.is_some() && peer.dial_addr.is_some() {
                peer.backoff = (peer.backoff * 2).min(MAX_BACKOFF);
                peer.redial_at = Some(now + peer.backoff);
            }
            return;
        }
        self.detach_connection(ep, &key);
        if self.shutting_down {
            return;
        }
        let peer = self.peers.get_mut(&key).expect("peer exists");
        peer.down_since = Some(now);
        if peer.dial_addr.is_some() {
            peer.redial_at = Some(now + peer.backoff);
        }
        tracing::info!(peer = %PublicKey(key).short(), %reason, lease = ?self.config.lease, redial = peer.dial_addr.is_some(), "peer disconnected");
        self.events
            .push_back(SessionEvent::Node(NodeEvent::PeerDisconnected {
                peer: PublicKey(key),
                reason,
            }));
    }

    /// The endpoint was replaced (its connections are gone without events): every
    /// connection counts as lost now, so peers redial and their channels resume.
    pub fn transport_reset(&mut self, now: Instant, ep: &mut Endpoint) {
        let handles: Vec<ConnectionHandle> = self.conns.keys().copied().collect();
        for h in handles {
            self.on_closed(now, ep, h, "transport restarted".into());
        }
    }

    /// Redials and lease expiries due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, ep: &mut Endpoint) {
        if self.shutting_down {
            return;
        }
        let lease = self.config.lease;
        let mut expired = Vec::new();
        let mut redial = Vec::new();
        for (k, p) in &self.peers {
            if p.conn.is_some() {
                continue;
            }
            if p.down_since.is_some_and(|d| now >= d + lease) {
                expired.push(*k);
            } else if p.redial_at.is_some_and(|t| now >= t)
                && let (Some(a), Some(l)) = (p.dial_addr, p.dial_local)
            {
                redial.push((*k, l, a));
            }
        }
        for (k, local, addr) in redial {
            self.redial(now, ep, k, local, addr);
        }
        for k in expired {
            self.expire(ep, &k);
        }
    }

    fn redial(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        k: PeerKey,
        local: SocketAddr,
        addr: SocketAddr,
    ) {
        let pending = self
            .conns
            .values()
            .any(|c| c.peer == Some(k) && c.dial.is_some());
        if let Some(p) = self.peers.get_mut(&k) {
            p.redial_at = None;
        }
        if pending {
            return;
        }
        if let Ok(h) = ep.connect_with(now, local, addr, Some(k)) {
            tracing::debug!(peer = %PublicKey(k).short(), %addr, "redialing");
            let dial = Dial {
                local,
                addr,
                token: None,
                extra: Vec::new(),
            };
            self.conns.insert(
                h,
                ConnInfo {
                    dial: Some(dial),
                    peer: Some(k),
                },
            );
        }
    }

    /// The peer did not come back within the lease: its channels fail.
    fn expire(&mut self, ep: &mut Endpoint, key: &PeerKey) {
        let Some(peer) = self.peers.get(key) else {
            return;
        };
        let ports: Vec<PortId> = peer.links.keys().copied().collect();
        let err = ChannelError::LeaseExpired {
            peer: key_text(key),
        };
        tracing::warn!(peer = %PublicKey(*key).short(), lease = ?self.config.lease, "reconnection lease expired: the peer's channels fail");
        for port in &ports {
            self.kill_link(ep, *port, key, err.clone());
            if self.ports.get(port).is_some_and(|p| p.spec.scope.is_some()) {
                self.close_receive(*port, err.clone());
            }
        }
        if let Some(peer) = self.peers.remove(key) {
            for port in peer.links.keys() {
                if let Some(p) = self.ports.get_mut(port) {
                    p.members.retain(|m| m != key);
                }
            }
        }
        for port in ports {
            // Nobody left to take the port's queued messages: rendezvous senders waiting
            // on them get their value back (plain sends stay queued for the next peer).
            if self.ports.get(&port).is_some_and(|p| p.members.is_empty()) {
                self.fail_pending_tokens(port, &err);
            }
            self.refresh_port(ep, port);
        }
        self.events
            .push_back(SessionEvent::Node(NodeEvent::PeerLost {
                peer: PublicKey(*key),
            }));
    }

    /// Starts a graceful shutdown: every consumption is reported (so senders resend
    /// exactly what was not taken), connections are shut down, pending dials fail.
    pub fn shutdown(&mut self, now: Instant, ep: &mut Endpoint) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        let pairs: Vec<(PeerKey, PortId)> = self
            .peers
            .iter()
            .flat_map(|(k, p)| p.links.keys().map(move |port| (*k, *port)))
            .collect();
        for (k, port) in pairs {
            self.report(ep, &k, port, true);
        }
        let handles: Vec<ConnectionHandle> = ep.handles().collect();
        for h in handles {
            if let Some(c) = ep.connection(h) {
                if c.is_established() {
                    c.shutdown();
                } else {
                    c.close(now, CODE_SHUTDOWN, b"node shut down");
                }
            }
        }
        for info in self.conns.values_mut() {
            if let Some(d) = info.dial.as_mut()
                && let Some(token) = d.token.take()
            {
                self.events.push_back(SessionEvent::Dialed {
                    token,
                    result: Err(Error::NodeClosed.to_string()),
                    addr: d.addr,
                });
            }
        }
    }
}
