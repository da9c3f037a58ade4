//! The channel protocol of `docs/PROTOCOL.md` §15 on the session's links: opening both
//! directions of a named channel, DATA with sequence numbers, CONSUMED credit,
//! SEND_CLOSED / RECV_CLOSED, resuming after a reconnection, and the credit promised to
//! the application.

use super::link::{Link, Queued, RecvSide, StreamId};
use super::*;
use crate::wire::{Frame, OpenLabel};
use netchan_transport::ChannelId;
use netchan_transport::wire::MAX_VARINT;

impl Session {
    /// The next member of `port` (round robin) whose link has room and accepts a message
    /// of `size` bytes.
    pub(super) fn pick_link(&mut self, port: PortId, size: usize) -> Option<PeerKey> {
        let p = self.ports.get_mut(&port)?;
        let n = p.members.len();
        for i in 0..n {
            let idx = (p.cursor + i) % n;
            let k = p.members[idx];
            let fits = self
                .peers
                .get(&k)
                .and_then(|x| x.links.get(&port))
                .is_some_and(|l| l.send.room() > 0 && size <= l.send.remote_max);
            if fits {
                p.cursor = idx + 1;
                return Some(k);
            }
        }
        None
    }

    /// Gives a message a sequence number on the link to `peer` and transmits it.
    pub(super) fn place(&mut self, ep: &mut Endpoint, port: PortId, peer: PeerKey, mut q: Queued) {
        let Some(link) = self
            .peers
            .get_mut(&peer)
            .and_then(|p| p.links.get_mut(&port))
        else {
            return;
        };
        if link.send.remote_cap != 0
            && let Some(token) = q.token.take()
        {
            // Not a rendezvous: the send is complete once handed over.
            self.events.push_back(SessionEvent::SendDone {
                port,
                token,
                result: Ok(()),
            });
        }
        link.send.push(q);
        self.pump(ep, port, &peer);
    }

    /// Recomputes the port's credit and status after its links changed: queued messages
    /// are placed first, then new room is promised to the application.
    pub(super) fn refresh_port(&mut self, ep: &mut Endpoint, port: PortId) {
        // Bounded by the pending queue; in order, so it stops at the first message no
        // link can take now.
        while let Some(size) = self
            .ports
            .get(&port)
            .and_then(|p| p.pending.front())
            .map(|q| q.payload.len())
        {
            let Some(peer) = self.pick_link(port, size) else {
                break;
            };
            let Some(q) = self
                .ports
                .get_mut(&port)
                .and_then(|p| p.pending.pop_front())
            else {
                break;
            };
            self.place(ep, port, peer, q);
        }
        let Some(p) = self.ports.get(&port) else {
            return;
        };
        let mut room = 0u64;
        let mut status = PortStatus {
            ready_peers: 0,
            max_message: usize::MAX,
            rendezvous: false,
        };
        for k in &p.members {
            let Some(l) = self.peers.get(k).and_then(|x| x.links.get(&port)) else {
                continue;
            };
            room += l.send.room();
            if l.send.ready && l.send.dead.is_none() {
                status.ready_peers += 1;
                status.max_message = status.max_message.min(l.send.remote_max);
                status.rendezvous |= l.send.remote_cap == 0;
            }
        }
        let target = room.saturating_sub(p.pending.len() as u64);
        let (promised, old_status, closed) = (p.promised, p.status, p.send_closed);
        // The status first: a sender woken by the credit must already see, for example,
        // that the peer is a rendezvous.
        if old_status != status {
            self.events.push_back(SessionEvent::Status { port, status });
        }
        if let Some(p) = self.ports.get_mut(&port) {
            p.status = status;
            if target > promised && !closed {
                p.promised = target;
                self.events.push_back(SessionEvent::Credit {
                    port,
                    added: target - promised,
                });
            }
        }
    }

    /// The link of `port` to `peer` can carry nothing more: rendezvous sends on it fail,
    /// and a port with only this peer closes for its senders.
    pub(super) fn kill_link(
        &mut self,
        ep: &mut Endpoint,
        port: PortId,
        peer: &PeerKey,
        why: ChannelError,
    ) {
        let Some(link) = self
            .peers
            .get_mut(peer)
            .and_then(|p| p.links.get_mut(&port))
        else {
            return;
        };
        link.send.kill(why.clone());
        let why = link.send.dead.clone().unwrap_or(why);
        for q in link.send.outbox.iter_mut() {
            if let Some(token) = q.token.take() {
                self.events.push_back(SessionEvent::SendDone {
                    port,
                    token,
                    result: Err(why.clone()),
                });
            }
        }
        if self
            .ports
            .get(&port)
            .is_some_and(|p| p.spec.scope.is_some())
        {
            self.close_send(port, why);
        }
        self.refresh_port(ep, port);
    }

    /// Opens our direction of `port` towards `key` on its current connection.
    pub(super) fn open_ours(
        &mut self,
        _now: Instant,
        ep: &mut Endpoint,
        key: &PeerKey,
        port: PortId,
    ) {
        let incarnation = self.config.incarnation;
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        p.add_member(*key);
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let Some(h) = peer.conn else { return };
        let link = peer.links.entry(port).or_insert_with(Link::new);
        if link.ours.is_some() {
            return;
        }
        let label = OpenLabel {
            name: p.spec.name.clone(),
            type_hash: p.spec.type_hash,
            type_name: p.spec.type_name.clone(),
            capacity: p.spec.capacity,
            max_message: p.spec.max_message as u64,
            incarnation,
            resume: link
                .recv
                .as_ref()
                .and_then(|r| r.next_expected.map(|n| (r.remote_incarnation, n))),
        };
        if let Some(conn) = ep.connection(h)
            && let Ok(ch) = conn.open_channel(&label.encode())
        {
            if let Some(mode) = p.spec.mode {
                let _ = conn.set_channel_mode(ch, mode);
            }
            link.ours = Some(ch);
            peer.by_chan.insert(ch.0, (port, true));
        }
    }

    /// Attaches channels `key` opened before we had a port of that name.
    pub(super) fn adopt_unmatched(&mut self, ep: &mut Endpoint, key: &PeerKey, port: PortId) {
        let Some(name) = self.ports.get(&port).map(|p| p.spec.name.clone()) else {
            return;
        };
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let (take, keep): (Vec<_>, Vec<_>) =
            p.unmatched.drain(..).partition(|(_, l)| l.name == name);
        p.unmatched = keep;
        for (ch, label) in take {
            self.attach_theirs(ep, key, port, ch, label);
        }
    }

    pub(super) fn on_opened(
        &mut self,
        ep: &mut Endpoint,
        h: ConnectionHandle,
        ch: ChannelId,
        label: &Bytes,
    ) {
        let Some(key) = self.current_peer(h) else {
            return;
        };
        let Ok(label) = OpenLabel::decode(label) else {
            // Not ours to understand: leave the channel unread (its window bounds it).
            return;
        };
        match self.find_port(&key, &label.name) {
            Some(port) => self.attach_theirs(ep, &key, port, ch, label),
            None => {
                if let Some(p) = self.peers.get_mut(&key)
                    && p.unmatched.len() < MAX_UNMATCHED
                {
                    p.unmatched.push((ch, label));
                }
            }
        }
    }

    fn find_port(&self, key: &PeerKey, name: &str) -> Option<PortId> {
        let mut any = None;
        for (id, p) in &self.ports {
            if p.spec.name != name {
                continue;
            }
            match p.spec.scope {
                Some(s) if s == *key => return Some(*id),
                None => any = Some(*id),
                _ => {}
            }
        }
        any
    }

    fn attach_theirs(
        &mut self,
        ep: &mut Endpoint,
        key: &PeerKey,
        port: PortId,
        ch: ChannelId,
        label: OpenLabel,
    ) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        p.add_member(*key);
        let (spec, receivers_gone) = (p.spec.clone(), p.receivers_gone);
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let link = peer.links.entry(port).or_insert_with(Link::new);
        if link.theirs.is_some() {
            return; // a second open of the same name on one connection: ignore it
        }
        link.theirs = Some(ch);
        peer.by_chan.insert(ch.0, (port, false));
        if label.type_hash != spec.type_hash {
            self.type_mismatch(ep, key, port, &spec, label.type_name);
            return;
        }
        // Receive side: a new stream unless it is the same incarnation of the peer.
        let fresh = link
            .recv
            .as_ref()
            .is_none_or(|r| r.remote_incarnation != label.incarnation);
        if fresh {
            self.generation += 1;
            let stream = StreamId {
                peer: *key,
                generation: self.generation,
            };
            link.recv = Some(RecvSide::new(stream, label.incarnation));
            self.events
                .push_back(SessionEvent::StreamOpened { port, stream });
        }
        // Send side: the peer's capacity, clamped, is our window; resume where it says.
        let limits = self.config.limits;
        if label.capacity > limits.max_peer_capacity {
            tracing::debug!(peer = %PublicKey(*key).short(), channel = %spec.name,
                claimed = label.capacity, granted = limits.max_peer_capacity,
                "peer's channel capacity clamped");
        }
        let s = &mut link.send;
        s.remote_cap = label.capacity.min(limits.max_peer_capacity);
        s.max_outbox_bytes = limits.max_outbox_bytes;
        s.remote_max = usize::try_from(label.max_message).unwrap_or(usize::MAX);
        s.transmitted = match label.resume {
            Some((inc, seq)) if inc == self.config.incarnation => seq.clamp(s.consumed, s.sent),
            _ => s.consumed,
        };
        if s.dead.is_none() {
            s.ready = link.ours.is_some();
        }
        if receivers_gone {
            self.send_recv_closed(ep, port, key);
        } else {
            self.report(ep, key, port, true);
        }
        self.refresh_port(ep, port);
        self.pump(ep, port, key);
    }

    fn type_mismatch(
        &mut self,
        ep: &mut Endpoint,
        key: &PeerKey,
        port: PortId,
        spec: &PortSpec,
        remote: String,
    ) {
        let err = ChannelError::TypeMismatch {
            name: spec.name.clone(),
            local: spec.type_name.clone(),
            remote,
        };
        tracing::warn!(peer = %PublicKey(*key).short(), channel = %spec.name, error = %err, "channel type mismatch");
        if let Some(r) = self
            .peers
            .get_mut(key)
            .and_then(|p| p.links.get_mut(&port))
            .and_then(|l| l.recv.as_mut())
        {
            r.done = true;
        }
        self.kill_link(ep, port, key, err.clone());
        if spec.scope.is_some() {
            self.close_receive(port, err.clone());
        }
        self.events
            .push_back(SessionEvent::Node(NodeEvent::ChannelError {
                peer: PublicKey(*key),
                channel: spec.name.clone(),
                error: err,
            }));
    }

    pub(super) fn on_readable(&mut self, ep: &mut Endpoint, h: ConnectionHandle, ch: ChannelId) {
        let Some(key) = self.current_peer(h) else {
            return;
        };
        let Some(&(port, ours)) = self.peers.get(&key).and_then(|p| p.by_chan.get(&ch.0)) else {
            return; // unmatched: stays unread until a port adopts it
        };
        let max_inbox = self.config.limits.max_inbox_bytes;
        // Bounded by what the transport buffered (its window).
        loop {
            if !ours && self.pause_if_full(&key, port, max_inbox) {
                return; // resumed when receivers take messages (`Session::consumed`)
            }
            let Some(msg) = ep.connection(h).and_then(|c| c.recv(ch)) else {
                return;
            };
            let frame = match Frame::decode(&msg) {
                Ok(f) => f,
                Err(e) => {
                    self.violation(port, &key, e.to_string());
                    continue;
                }
            };
            match (frame, ours) {
                (Frame::Consumed(upto), true) => self.on_consumed(ep, &key, port, upto),
                (Frame::RecvClosed, true) => {
                    let name = self
                        .ports
                        .get(&port)
                        .map(|p| p.spec.name.clone())
                        .unwrap_or_default();
                    self.kill_link(ep, port, &key, ChannelError::ReceiverClosed { name });
                }
                (Frame::Data { seq, payload }, false) => {
                    let payload = msg.slice(msg.len() - payload.len()..);
                    self.on_data(&key, port, seq, payload);
                }
                (Frame::SendClosed(end), false) => {
                    if let Some(r) = self.recv_mut(&key, port) {
                        r.end = Some(end);
                    }
                    self.check_finished(&key, port);
                }
                _ => self.violation(port, &key, "frame sent in the wrong direction".into()),
            }
        }
    }

    /// Whether the peer's stream into `port` holds `max_inbox` bytes delivered and not
    /// yet taken; if so it is marked paused.
    fn pause_if_full(&mut self, key: &PeerKey, port: PortId, max_inbox: u64) -> bool {
        let Some(r) = self.recv_mut(key, port) else {
            return false;
        };
        if r.held_bytes >= max_inbox && !r.done {
            r.paused = true;
        }
        r.paused
    }

    /// Reads on from the peer's transport channel of `port` after a pause.
    pub(super) fn resume_reading(&mut self, ep: &mut Endpoint, key: &PeerKey, port: PortId) {
        let Some(peer) = self.peers.get(key) else {
            return;
        };
        let (Some(h), Some(theirs)) = (peer.conn, peer.links.get(&port).and_then(|l| l.theirs))
        else {
            return;
        };
        self.on_readable(ep, h, theirs);
    }

    fn recv_mut(&mut self, key: &PeerKey, port: PortId) -> Option<&mut RecvSide> {
        self.peers
            .get_mut(key)
            .and_then(|x| x.links.get_mut(&port))
            .and_then(|l| l.recv.as_mut())
    }

    fn on_consumed(&mut self, ep: &mut Endpoint, key: &PeerKey, port: PortId, upto: u64) {
        let Some(link) = self.peers.get_mut(key).and_then(|p| p.links.get_mut(&port)) else {
            return;
        };
        if upto < link.send.consumed {
            return; // stale (reordered across a reconnection): ignore
        }
        let Some(settled) = link.send.on_consumed(upto) else {
            self.violation(
                port,
                key,
                format!("credit report {upto} beyond what was sent"),
            );
            return;
        };
        if settled.is_empty() {
            return;
        }
        self.events.push_back(SessionEvent::Settled {
            port,
            count: settled.len() as u64,
        });
        for q in settled {
            if let Some(token) = q.token {
                self.events.push_back(SessionEvent::SendDone {
                    port,
                    token,
                    result: Ok(()),
                });
            }
        }
        self.refresh_port(ep, port);
        self.pump(ep, port, key);
    }

    fn on_data(&mut self, key: &PeerKey, port: PortId, seq: u64, payload: Bytes) {
        let Some((cap, max_message)) = self
            .ports
            .get(&port)
            .map(|p| (u64::from(p.spec.capacity.max(1)), p.spec.max_message))
        else {
            return;
        };
        let Some(r) = self.recv_mut(key, port) else {
            return;
        };
        if r.done {
            return;
        }
        let next = match r.next_expected {
            Some(n) => n,
            None => {
                r.base = seq;
                r.next_expected = Some(seq);
                seq
            }
        };
        if seq < next {
            return; // a resent message we already have
        }
        let err = if payload.len() > max_message {
            // Our label said how large a message may be: a larger one is refused
            // before it is held (it would otherwise count against the inbox bound).
            Some(format!(
                "message {seq} of {} bytes exceeds the channel's maximum of {max_message}",
                payload.len()
            ))
        } else if seq > next {
            Some(format!("message {seq} skips ahead of {next}"))
        } else if seq >= MAX_VARINT {
            // Our credit report names the sequence after it, which must fit a varint.
            Some(format!("message {seq} is beyond the sequence space"))
        } else if seq >= r.base.saturating_add(r.reported).saturating_add(cap) {
            Some(format!("message {seq} exceeds the granted credit"))
        } else {
            r.next_expected = Some(next + 1);
            r.on_delivered(payload.len());
            let stream = r.stream;
            let end_known = r.end.is_some();
            self.events.push_back(SessionEvent::Deliver {
                port,
                stream,
                payload,
            });
            if end_known {
                self.check_finished(key, port);
            }
            None
        };
        if let Some(e) = err {
            self.violation(port, key, e);
        }
    }

    fn check_finished(&mut self, key: &PeerKey, port: PortId) {
        let Some(r) = self.recv_mut(key, port) else {
            return;
        };
        let Some(end) = r.end else { return };
        if r.done || r.next_expected.unwrap_or(end) < end {
            return;
        }
        r.done = true;
        let Some(p) = self.ports.get(&port) else {
            return;
        };
        if p.spec.scope.is_some() {
            let name = p.spec.name.clone();
            self.close_receive(port, ChannelError::SenderClosed { name });
        }
    }

    /// Moves queued messages of `port` towards `key` into the transport.
    pub(super) fn pump(&mut self, ep: &mut Endpoint, port: PortId, key: &PeerKey) {
        let Some(senders_gone) = self.ports.get(&port).map(|p| p.senders_gone) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let Some(h) = peer.conn else { return };
        let Some(link) = peer.links.get_mut(&port) else {
            return;
        };
        let (Some(ours), true) = (link.ours, link.send.ready) else {
            return;
        };
        let Some(conn) = ep.connection(h) else {
            return;
        };
        let s = &mut link.send;
        let mut too_large = None;
        // Bounded by the outbox; stops when the transport's buffer is full.
        while s.transmitted < s.sent {
            let idx = (s.transmitted - s.consumed) as usize;
            let Some(q) = s.outbox.get(idx) else {
                break;
            };
            self.scratch.clear();
            crate::wire::encode_data_header(&mut self.scratch, s.transmitted);
            self.scratch.extend_from_slice(&q.payload);
            match conn.send(ours, &self.scratch) {
                Ok(()) => s.transmitted += 1,
                Err(netchan_transport::SendError::TooLarge { size, limit }) => {
                    too_large = Some(format!(
                        "message of {size} bytes over the peer's limit {limit}"
                    ));
                    break;
                }
                Err(_) => break, // blocked: ChannelWritable resumes; closed: reconnection does
            }
        }
        let (finished, end) = (s.transmitted == s.sent, s.sent);
        if finished && senders_gone && !link.send_closed_sent {
            self.scratch.clear();
            Frame::SendClosed(end).encode(&mut self.scratch);
            if conn.send(ours, &self.scratch).is_ok() {
                link.send_closed_sent = true;
            }
        }
        if let Some(detail) = too_large {
            let name = self
                .ports
                .get(&port)
                .map(|p| p.spec.name.clone())
                .unwrap_or_default();
            self.kill_link(ep, port, key, ChannelError::Protocol { name, detail });
        }
    }

    pub(super) fn send_recv_closed(&mut self, ep: &mut Endpoint, port: PortId, key: &PeerKey) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let (Some(h), Some(link)) = (peer.conn, peer.links.get_mut(&port)) else {
            return;
        };
        let Some(theirs) = link.theirs else { return };
        if link.recv_closed_sent {
            return;
        }
        if let Some(conn) = ep.connection(h) {
            self.scratch.clear();
            Frame::RecvClosed.encode(&mut self.scratch);
            if conn.send(theirs, &self.scratch).is_ok() {
                link.recv_closed_sent = true;
            }
        }
    }

    /// Reports our consumption of `key`'s stream on `port` when it changed (or always,
    /// with `force`): the sender's credit.
    pub(super) fn report(&mut self, ep: &mut Endpoint, key: &PeerKey, port: PortId, force: bool) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let (Some(h), Some(link)) = (peer.conn, peer.links.get_mut(&port)) else {
            return;
        };
        let (Some(theirs), Some(r)) = (link.theirs, link.recv.as_mut()) else {
            return;
        };
        if r.next_expected.is_none() || (!force && r.consumed == r.reported) {
            return;
        }
        let Some(conn) = ep.connection(h) else {
            return;
        };
        self.scratch.clear();
        Frame::Consumed(r.base + r.consumed).encode(&mut self.scratch);
        if conn.send(theirs, &self.scratch).is_ok() {
            r.reported = r.consumed;
            self.events.push_back(SessionEvent::Reported {
                port,
                stream: r.stream,
                consumed: r.consumed,
            });
        }
    }

    pub(super) fn report_consumed(&mut self, ep: &mut Endpoint, key: &PeerKey, port: PortId) {
        self.report(ep, key, port, false);
    }
}
