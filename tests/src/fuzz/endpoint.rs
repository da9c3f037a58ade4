//! Targets `endpoint` (a whole endpoint pair under a network the fuzzer controls) and
//! `connection_frames` (arbitrary frames in authentic packets of an established
//! connection), both on the simulator.

use super::pair::Pair;
use crate::sim::{NodeId, Sim};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use netchan_transport::fuzzing::NoiseMode;
use netchan_transport::fuzzing::shared::{
    DIALER_ADDR, EventLog, Input, LISTENER_ADDR, SOURCES, check_transmit, keys, lock, with_header,
};
use netchan_transport::wire::{ConnectionId, Header, PacketView};
use netchan_transport::{ChannelId, ConnectionHandle, EndpointConfig, TransportConfig};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIALER: NodeId = 0;
const LISTENER: NodeId = 1;

/// Endpoint settings decoded from the front of the `endpoint` input.
#[derive(Debug, Arbitrary)]
pub(crate) struct NetSetup {
    pub(crate) max_connections: u8,
    pub(crate) load_limit: u8,
    pub(crate) accept: bool,
    pub(crate) psk: bool,
    pub(crate) blake2s: bool,
    pub(crate) allow: u8,
    pub(crate) per_source: u8,
    pub(crate) short_idle: bool,
    pub(crate) keepalive: bool,
}

/// One step of the `endpoint` harness. `to_listener` picks the queue of datagrams in
/// flight towards the listener (else towards the dialer).
#[derive(Debug, Arbitrary)]
pub(crate) enum NetOp {
    Connect {
        pinned: bool,
        wrong_key: bool,
    },
    Deliver {
        to_listener: bool,
        index: u8,
    },
    DeliverAll,
    Drop {
        to_listener: bool,
        index: u8,
    },
    Duplicate {
        to_listener: bool,
        index: u8,
    },
    Corrupt {
        to_listener: bool,
        index: u8,
        at: u16,
        xor: u8,
    },
    Truncate {
        to_listener: bool,
        index: u8,
        len: u16,
    },
    Reroute {
        to_listener: bool,
        index: u8,
        from: u8,
    },
    Inject {
        to_listener: bool,
        from: u8,
        datagram: Vec<u8>,
    },
    InjectRouted {
        to_listener: bool,
        from: u8,
        first: u8,
        cid: u8,
        payload: Vec<u8>,
    },
    Advance {
        ms: u16,
    },
    AdvanceToTimer,
    App {
        listener_side: bool,
        conn: u8,
        action: AppAction,
    },
    SetAccept(bool),
}

/// An application call on one connection.
#[derive(Debug, Arbitrary)]
pub(crate) enum AppAction {
    Open,
    Send { channel: u8, len: u16 },
    SendDatagram { len: u8 },
    CloseChannel { channel: u8 },
    Close { code: u8 },
    Shutdown,
}

/// The `endpoint` harness state: the two endpoints on the simulator, and the datagrams
/// in flight each way, which the fuzzer delivers, drops, duplicates or alters.
pub(crate) struct Net {
    pub sim: Sim,
    pub dialer_log: EventLog,
    pub listener_log: EventLog,
    /// Datagrams in flight: `(source, bytes)`.
    pub to_listener: VecDeque<(SocketAddr, Vec<u8>)>,
    pub to_dialer: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Connection IDs seen on the wire (to route injected packets).
    pub cids: Vec<ConnectionId>,
    pub max_connections: usize,
}

/// Datagrams kept in flight per direction (the oldest are lost beyond).
pub(crate) const MAX_IN_FLIGHT: usize = 128;

impl Net {
    fn queue(&mut self, to_listener: bool) -> &mut VecDeque<(SocketAddr, Vec<u8>)> {
        if to_listener {
            &mut self.to_listener
        } else {
            &mut self.to_dialer
        }
    }

    fn take(&mut self, to_listener: bool, index: u8) -> Option<(SocketAddr, Vec<u8>)> {
        let q = self.queue(to_listener);
        if q.is_empty() {
            return None;
        }
        let i = usize::from(index) % q.len();
        q.remove(i)
    }

    fn deliver(&mut self, to_listener: bool, from: SocketAddr, d: &[u8]) {
        let node = if to_listener { LISTENER } else { DIALER };
        self.sim.deliver(node, from, d);
    }

    /// Collects both sides' output into the queues and checks the invariants.
    fn settle(&mut self) {
        let from_dialer = self.sim.take_transmits(DIALER);
        let from_listener = self.sim.take_transmits(LISTENER);
        let dialer_count = from_dialer.len();
        for (i, (dest, d)) in from_dialer.into_iter().chain(from_listener).enumerate() {
            check_transmit(d.len(), &d);
            if let Some(cid) = PacketView::peek_dcid(&d)
                && self.cids.len() < 32
                && !self.cids.contains(&cid)
            {
                self.cids.push(cid);
            }
            let (to_listener, source) = if i < dialer_count {
                (true, DIALER_ADDR)
            } else if dest == DIALER_ADDR {
                (false, LISTENER_ADDR)
            } else {
                continue; // a reply to a spoofed source: lost
            };
            let q = self.queue(to_listener);
            if q.len() >= MAX_IN_FLIGHT {
                q.pop_front();
            }
            q.push_back((source, d));
        }
        self.dialer_log.drain(&mut self.sim.nodes[DIALER].endpoint);
        self.listener_log
            .drain(&mut self.sim.nodes[LISTENER].endpoint);
        let listener = &self.sim.nodes[LISTENER].endpoint;
        // Established connections within the limit; half-open ones (an XX handshake
        // waiting for message 3) within their own quota.
        let (half_open, peak_half_open) = listener.half_open();
        assert!(
            listener.connection_count() - half_open <= self.max_connections,
            "{} connections ({half_open} half-open), limit {}",
            listener.connection_count(),
            self.max_connections
        );
        assert!(peak_half_open <= 256, "half-open quota");
        assert!(self.sim.nodes[DIALER].endpoint.connection_count() <= 3);
    }

    /// Advances time by `d` and fires due timers.
    fn advance(&mut self, d: Duration) {
        self.sim.advance(d);
    }

    /// The earliest timer of either endpoint.
    fn next_timer(&self) -> Option<Instant> {
        self.sim
            .nodes
            .iter()
            .filter_map(|n| n.endpoint.poll_timeout())
            .min()
    }

    fn app(&mut self, listener_side: bool, conn: u8, action: AppAction) {
        let now = self.sim.now;
        let (ep, log) = if listener_side {
            (&mut self.sim.nodes[LISTENER].endpoint, &self.listener_log)
        } else {
            (&mut self.sim.nodes[DIALER].endpoint, &self.dialer_log)
        };
        let handles: Vec<ConnectionHandle> = ep.handles().collect();
        if handles.is_empty() {
            return;
        }
        let h = handles[usize::from(conn) % handles.len()];
        let channel = |c: u8| {
            let known: Vec<ChannelId> = log
                .channels
                .iter()
                .filter(|(x, _)| *x == h)
                .map(|(_, c)| *c)
                .collect();
            match known.get(usize::from(c)) {
                Some(&id) => id,
                None => ChannelId(u64::from(c % 8)),
            }
        };
        let Some(c) = ep.connection(h) else {
            return;
        };
        match action {
            AppAction::Open => {
                let _ = c.open_channel(b"fuzz");
            }
            AppAction::Send { channel: ch, len } => {
                let msg = vec![0x6d; usize::from(len % 4096)];
                let _ = c.send(channel(ch), &msg);
            }
            AppAction::SendDatagram { len } => {
                let _ = c.send_datagram(Bytes::from(vec![0x64; usize::from(len)]));
            }
            AppAction::CloseChannel { channel: ch } => {
                let _ = c.close_channel(channel(ch));
            }
            AppAction::Close { code } => c.close(now, u64::from(code), b"fuzz close"),
            AppAction::Shutdown => c.shutdown(),
        }
    }
}

/// Target `endpoint`: a dialer endpoint and a listener endpoint (real Noise identities)
/// joined by a network the fuzzer controls.
///
/// Input (`arbitrary`): the listener's settings (connection limit 1–3, handshake load
/// limit, acceptance, psk, hash, allow-list, per-source rate, timeouts), then operations:
/// dial, deliver / drop / duplicate / corrupt / truncate / re-source datagrams in flight,
/// inject arbitrary datagrams (raw, or with a header routed to a connection ID seen on
/// the wire) from several addresses, advance time, application calls. At the end the
/// network delivers everything for a while.
///
/// Checks: nothing panics; every datagram sent is well formed and at most 1200 bytes;
/// the listener never holds more connections than its limit; events follow the
/// connection lifecycle (one `Connected`, nothing after `Closed`, closed connections
/// forgotten).
pub fn endpoint(data: &[u8]) {
    endpoint_run(data);
}

/// `endpoint`; returns how far the input got (for seed selection).
pub(crate) fn endpoint_run(data: &[u8]) -> u64 {
    let mut u = Unstructured::new(data);
    let Ok(setup) = u.arbitrary::<NetSetup>() else {
        return 0;
    };
    let k = keys();
    let mode = NoiseMode {
        ik: true,
        psk: setup.psk,
        blake2s: setup.blake2s,
    };
    let mut transport = TransportConfig::default();
    if setup.short_idle {
        transport.idle_timeout = Duration::from_secs(2);
        transport.handshake_timeout = Duration::from_secs(2);
    }
    if setup.keepalive {
        transport.keepalive_interval = Some(Duration::from_millis(500));
    }
    let transport = Arc::new(transport);
    let mut listener_crypto = mode.config(&k.responder);
    match setup.allow % 3 {
        1 => listener_crypto = listener_crypto.allow_only([k.initiator.public()]),
        2 => listener_crypto = listener_crypto.allow_only([k.stranger.public()]),
        _ => {}
    }
    let max_connections = 1 + usize::from(setup.max_connections % 3);
    let mut lc = EndpointConfig::seeded_for_tests(Arc::new(listener_crypto), 2);
    lc.transport = transport.clone();
    lc.max_connections = max_connections;
    lc.accept_incoming = setup.accept;
    lc.handshake_load_limit = [0, 1, 2, 200][usize::from(setup.load_limit % 4)];
    lc.handshakes_per_source_per_sec = 1 + u64::from(setup.per_source % 40);
    let mut dc = EndpointConfig::seeded_for_tests(Arc::new(mode.config(&k.initiator)), 1);
    dc.transport = transport;
    let mut sim = Sim::new(0);
    sim.add_node_at(dc, DIALER_ADDR);
    sim.add_node_at(lc, LISTENER_ADDR);
    let mut net = Net {
        sim,
        dialer_log: EventLog::default(),
        listener_log: EventLog::default(),
        to_listener: VecDeque::new(),
        to_dialer: VecDeque::new(),
        cids: Vec::new(),
        max_connections,
    };
    let mut dials = 0;
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<NetOp>() else {
            break;
        };
        match op {
            NetOp::Connect { pinned, wrong_key } => {
                if dials < 3 {
                    dials += 1;
                    let key = match (pinned, wrong_key) {
                        (false, _) => None,
                        (true, false) => Some(k.responder.public().0),
                        (true, true) => Some(k.stranger.public().0),
                    };
                    let now = net.sim.now;
                    let _ = net.sim.nodes[DIALER].endpoint.connect_with(
                        now,
                        DIALER_ADDR,
                        LISTENER_ADDR,
                        key,
                    );
                }
            }
            NetOp::Deliver { to_listener, index } => {
                if let Some((from, d)) = net.take(to_listener, index) {
                    net.deliver(to_listener, from, &d);
                }
            }
            NetOp::DeliverAll => {
                for to_listener in [true, false] {
                    while let Some((from, d)) = net.queue(to_listener).pop_front() {
                        net.deliver(to_listener, from, &d);
                    }
                }
            }
            NetOp::Drop { to_listener, index } => {
                net.take(to_listener, index);
            }
            NetOp::Duplicate { to_listener, index } => {
                if let Some((from, d)) = net.take(to_listener, index) {
                    net.deliver(to_listener, from, &d);
                    net.deliver(to_listener, from, &d);
                }
            }
            NetOp::Corrupt {
                to_listener,
                index,
                at,
                xor,
            } => {
                if let Some((from, mut d)) = net.take(to_listener, index) {
                    if !d.is_empty() {
                        let i = usize::from(at) % d.len();
                        d[i] ^= xor.max(1);
                    }
                    net.deliver(to_listener, from, &d);
                }
            }
            NetOp::Truncate {
                to_listener,
                index,
                len,
            } => {
                if let Some((from, d)) = net.take(to_listener, index) {
                    let n = usize::from(len) % (d.len() + 1);
                    net.deliver(to_listener, from, &d[..n]);
                }
            }
            NetOp::Reroute {
                to_listener,
                index,
                from,
            } => {
                if let Some((_, d)) = net.take(to_listener, index) {
                    let src = SOURCES[usize::from(from) % SOURCES.len()];
                    net.deliver(to_listener, src, &d);
                }
            }
            NetOp::Inject {
                to_listener,
                from,
                datagram,
            } => {
                let src = SOURCES[usize::from(from) % SOURCES.len()];
                net.deliver(to_listener, src, &datagram[..datagram.len().min(2048)]);
            }
            NetOp::InjectRouted {
                to_listener,
                from,
                first,
                cid,
                payload,
            } => {
                let src = SOURCES[usize::from(from) % SOURCES.len()];
                let pick = |i: u8| {
                    if net.cids.is_empty() {
                        ConnectionId::default()
                    } else {
                        net.cids[usize::from(i) % net.cids.len()]
                    }
                };
                let d = with_header(
                    first,
                    pick(cid),
                    pick(cid.wrapping_add(1)),
                    &payload[..payload.len().min(2048)],
                );
                net.deliver(to_listener, src, &d);
            }
            NetOp::Advance { ms } => net.advance(Duration::from_millis(u64::from(ms))),
            NetOp::AdvanceToTimer => {
                let now = net.sim.now;
                let wait = net
                    .next_timer()
                    .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
                net.advance(wait);
            }
            NetOp::App {
                listener_side,
                conn,
                action,
            } => net.app(listener_side, conn, action),
            NetOp::SetAccept(accept) => {
                net.sim.nodes[LISTENER].endpoint.set_accept_incoming(accept)
            }
        }
        net.settle();
    }
    // Calm network: deliver everything, with time running to the next timer (at most
    // 1 s at once), so that retransmissions can finish what the network disturbed.
    for _ in 0..24 {
        for to_listener in [true, false] {
            while let Some((from, d)) = net.queue(to_listener).pop_front() {
                net.deliver(to_listener, from, &d);
            }
        }
        net.settle();
        let now = net.sim.now;
        let wait = net
            .next_timer()
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        net.advance(wait.clamp(Duration::from_millis(1), Duration::from_secs(1)));
        net.settle();
    }
    let s = net.sim.nodes[LISTENER].endpoint.stats();
    100 * (net.dialer_log.connected.len() + net.listener_log.connected.len()) as u64
        + 10 * net.listener_log.channels.len() as u64
        + s.accepted
        + s.datagrams_received
}

/// Seals `payload` as the next packet of the `from_client` side of `pair` and delivers
/// it to the other side. The sender really builds (and numbers) a packet carrying one
/// unreliable datagram; the harness replaces its payload, seals it with the sender's own
/// `AeadProtection` under the same header, and delivers that instead (the datagram is
/// lost, which is allowed). Returns false when the sender cannot send any more.
pub(crate) fn inject_frames(pair: &mut Pair, from_client: bool, payload: &[u8]) -> bool {
    let handle = if from_client {
        pair.client_handle
    } else {
        pair.server_handle()
    };
    let (node, registry) = if from_client {
        (super::pair::CLIENT, pair.client_registry.clone())
    } else {
        (super::pair::SERVER, pair.server_registry.clone())
    };
    let Some(conn) = handle.and_then(|h| pair.sim.nodes[node].endpoint.connection(h)) else {
        return false;
    };
    if !conn.is_established() || conn.send_datagram(Bytes::from_static(b"!")).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut packet = None;
    for _ in 0..8 {
        let now = pair.now();
        if let Some(t) = pair.sim.nodes[node].endpoint.poll_transmit(now, &mut buf) {
            // One datagram (the sender's first) is enough: keep only it.
            let size = t.segment_size.unwrap_or(t.size).min(t.size);
            buf.truncate(size);
            check_transmit(size, &buf);
            if let Ok((Header::Short(h), len)) = Header::parse(&buf) {
                packet = Some((h, len));
                break;
            }
        } else {
            // Paced: let time pass.
            pair.sim.advance(Duration::from_millis(1));
        }
    }
    let Some((hdr, header_len)) = packet else {
        return false;
    };
    let Some(protection) = lock(&registry.0).protections.first().cloned() else {
        return false;
    };
    let mut forged = buf[..header_len].to_vec();
    forged.extend_from_slice(payload);
    lock(&protection).seal(hdr.path_id, hdr.packet_number, &mut forged, 0, header_len);
    let (receiver, source) = if from_client {
        (super::pair::SERVER, DIALER_ADDR)
    } else {
        (super::pair::CLIENT, LISTENER_ADDR)
    };
    pair.sim.deliver(receiver, source, &forged);
    true
}

/// The memory invariant of the receive budget, on both sides: what a connection holds
/// received and not yet read never exceeds the budget plus one maximum-size message and
/// one packet's worth of fragments.
fn check_receive_memory(pair: &mut Pair) {
    let handles = [pair.client_handle, pair.server_handle()];
    for (node, h) in handles.into_iter().enumerate() {
        if let Some(c) = h.and_then(|h| pair.sim.nodes[node].endpoint.connection(h)) {
            let bound = c.receive_budget() + (16 << 20) + 1500 * 65;
            let held = c.stats().recv_held_peak;
            assert!(held <= bound, "held {held} > {bound}");
        }
    }
}

/// Target `connection_frames`: arbitrary frames in authenticated packets of an
/// established connection.
///
/// Input: `flags ‖ payload`. Flags: bit 0 the frames go to the listener (else to the
/// dialer); bit 1 both sides first open a channel and exchange a message; bit 2 both
/// sides shut down afterwards; bit 3 the payload is a sequence of `u16 length ‖ bytes`
/// packets (else it is one packet); bit 4 both sides allow four paths (multipath on, so
/// PATH_STATUS and PATH_ABANDON act). A dialer and a listener connect (IK) in memory;
/// each payload is sealed with the sender's real packet protection as its next packet
/// (see `inject_frames`), and the connection then runs for a few rounds.
///
/// Checks: nothing panics whatever the frames say; every datagram sent afterwards is
/// well formed and at most 1200 bytes; events follow the connection lifecycle; what a
/// connection holds received and not yet read stays within its receive budget.
pub fn connection_frames(data: &[u8]) {
    let mut input = Input(data);
    let Some(flags) = input.u8() else {
        return;
    };
    let paths = if flags & 16 != 0 { 4 } else { 1 };
    let mut pair = Pair::new(TransportConfig::default().max_paths(paths));
    assert!(pair.connect(true), "an in-memory IK handshake completes");
    if flags & 2 != 0 {
        let handles = [pair.client_handle, pair.server_handle()];
        for (node, h) in handles.into_iter().enumerate() {
            if let Some(c) = h.and_then(|h| pair.sim.nodes[node].endpoint.connection(h))
                && let Ok(ch) = c.open_channel(b"fuzz")
            {
                let _ = c.send(ch, b"before the frames");
            }
        }
        for _ in 0..4 {
            pair.tick(1);
        }
    }
    let from_client = flags & 1 != 0;
    let payloads: Vec<&[u8]> = if flags & 8 != 0 {
        (0..16)
            .map_while(|_| (!input.0.is_empty()).then(|| input.prefixed()))
            .collect()
    } else {
        vec![input.rest()]
    };
    for payload in payloads {
        if !inject_frames(&mut pair, from_client, payload) {
            break;
        }
        pair.exchange();
        check_receive_memory(&mut pair);
    }
    if flags & 4 != 0 {
        let handles = [pair.client_handle, pair.server_handle()];
        for (node, h) in handles.into_iter().enumerate() {
            if let Some(c) = h.and_then(|h| pair.sim.nodes[node].endpoint.connection(h)) {
                c.shutdown();
            }
        }
    }
    for _ in 0..6 {
        pair.tick(5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netchan_transport::wire::Frame;

    /// Item 4 of the hostile-peer issue: with 1,024 open channels, 10,000 datagrams of
    /// empty CHANNEL_DATA frames on random channels. Before, every packet the victim
    /// built walked every channel (several times: work to send, payload, control frames,
    /// data, finished channels), so one datagram cost thousands of steps whatever it
    /// carried. Now the engine's work counter per datagram stays within a constant of
    /// the datagram's frame count.
    #[test]
    fn empty_frames_work_bounded() {
        let mut pair = Pair::new(TransportConfig::default());
        assert!(pair.connect(true));
        // One frame on the highest id opens all 1,024 peer channels at the victim.
        let mut open = Vec::new();
        Frame::ChannelData {
            channel: 2046,
            offset: 0,
            data: &[],
        }
        .encode(&mut open);
        assert!(inject_frames(&mut pair, true, &open));
        pair.exchange();
        let server = super::super::pair::SERVER;
        let h = pair.server_handle().expect("connected");
        let count = |pair: &mut Pair| {
            pair.sim.nodes[server]
                .endpoint
                .connection(h)
                .map(|c| c.stats().work)
        };
        assert_eq!(
            pair.sim.nodes[server]
                .endpoint
                .connection(h)
                .unwrap()
                .channel_count(),
            1024
        );
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let (mut worst, mut total, mut frames_total) = (0u64, 0u64, 0u64);
        let mut worst_ratio = 0f64;
        for _ in 0..10_000 {
            let mut payload = Vec::new();
            let frames = 1 + (seed % 200);
            for _ in 0..frames {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                Frame::ChannelData {
                    channel: 2 * (seed % 1024),
                    offset: 0,
                    data: &[],
                }
                .encode(&mut payload);
            }
            let before = count(&mut pair).expect("open");
            assert!(inject_frames(&mut pair, true, &payload), "injected");
            pair.exchange();
            let work = count(&mut pair).expect("the connection stays open") - before;
            worst = worst.max(work);
            worst_ratio = worst_ratio.max(work as f64 / frames as f64);
            total += work;
            frames_total += frames;
        }
        eprintln!(
            "10,000 datagrams of {frames_total} empty frames in all, 1,024 channels open: \
             work per datagram at most {worst}, {:.2} per frame on average, at most {:.2} \
             per frame in one datagram",
            total as f64 / frames_total as f64,
            worst_ratio
        );
        assert!(
            worst_ratio <= 8.0,
            "work per datagram grows with the channels, not the frames: {worst_ratio:.1}"
        );
    }

    /// Item 1 of the hostile-peer issue, the fragment side: a peer sends one-byte
    /// CHANNEL_DATA frames at every other offset of 64 channels (each an out-of-order
    /// fragment the victim must hold, each costing a map entry): 32,768 fragments, twice
    /// the connection-wide cap. The victim holds at most the cap's worth and drops the
    /// rest unacknowledged; the connection stays open.
    #[test]
    fn tiny_fragment_flood_is_capped() {
        let mut pair = Pair::new(TransportConfig::default());
        assert!(pair.connect(true));
        let (channels, per_channel) = (64u64, 512u64);
        let mut frames = Vec::new();
        for ch in 0..channels {
            for k in 0..per_channel {
                frames.push(Frame::ChannelData {
                    channel: ch * 2,
                    offset: 2 * k + 1,
                    data: &[0x55],
                });
            }
        }
        let mut injected = 0;
        for chunk in frames.chunks(150) {
            let mut payload = Vec::new();
            for f in chunk {
                f.encode(&mut payload);
            }
            assert!(inject_frames(&mut pair, true, &payload), "injected");
            injected += chunk.len();
            pair.exchange();
        }
        let h = pair.server_handle().expect("connected");
        let conn = pair.sim.nodes[super::super::pair::SERVER]
            .endpoint
            .connection(h)
            .expect("the connection stays open");
        let st = conn.stats();
        let cap = 16_384u64;
        eprintln!(
            "{injected} one-byte fragments sent: the victim held at most {} bytes ({} per \
             fragment counted), dropped {} packets",
            st.recv_held_peak,
            1 + 64,
            st.recv_budget_drops
        );
        assert!(
            st.recv_held_peak <= cap * (1 + 64),
            "held {}",
            st.recv_held_peak
        );
        assert!(
            st.recv_held_peak >= cap * (1 + 64) / 2,
            "the flood reached the cap"
        );
        assert!(st.recv_budget_drops > 0);
        assert!(!conn.is_closed());
    }
}
