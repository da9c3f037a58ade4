//! The driver: one mio event loop thread per node. It owns the UDP sockets and the
//! sans-IO endpoint; application threads reach it through a command queue and a
//! `mio::Waker` (woken only when the loop is parked).

use crate::chan::{PeerKey, RecvCounter, SendLink, Shared, Sink, SinkError};
use crate::error::{ChannelError, Error};
use crate::node::{NodeEvent, PathStats, PeerStats};
use crate::wire::{Frame, OpenLabel};
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use netchan_transport::identity::PublicKey;
use netchan_transport::{ChannelId, ConnectionHandle, Endpoint, Event, Side};
use rustc_hash::FxHashMap as HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);
/// Datagrams read per socket per loop turn before other work gets a turn.
const READ_BATCH: usize = 1024;
/// Datagrams written per loop turn.
const WRITE_BATCH: usize = 1024;
/// Channels a peer may open that we have no port for yet (kept until we do).
const MAX_UNMATCHED: usize = 64;
/// How long the loop keeps polling without parking after traffic (see `run`).
const SPIN: Duration = Duration::from_micros(100);
/// Spins in a row that found no traffic before the driver stops spinning.
const IDLE_SPINS_OFF: u32 = 4;

/// State of the adaptive spin ([`Driver::should_spin`]).
#[derive(Debug)]
struct SpinState {
    enabled: bool,
    /// Consecutive spins that ended without new traffic.
    idle_spins: u32,
    /// The activity time the current spin started from.
    spin_from: Option<Instant>,
    /// The activity time when the loop last parked.
    parked_after: Option<Instant>,
}

impl Default for SpinState {
    fn default() -> Self {
        SpinState {
            enabled: true,
            idle_spins: 0,
            spin_from: None,
            parked_after: None,
        }
    }
}
/// How long a shut-down node waits for its peers to acknowledge what it sent.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Application close code when a duplicate connection to the same peer is dropped.
const CODE_DUPLICATE: u64 = 1;
/// Application close code for a node shutting down.
const CODE_SHUTDOWN: u64 = 0;

/// What application threads ask of the driver.
pub(crate) enum Command {
    Flush(u64),
    Consumed(Arc<RecvCounter>),
    AddPort(PortEntry, Sender<Result<(), Error>>),
    SendersGone(u64),
    ReceiversGone(u64),
    Dial {
        addr: SocketAddr,
        key: Option<PeerKey>,
        reply: Sender<Result<PeerKey, Error>>,
    },
    Stats(Sender<Vec<PeerStats>>),
    Shutdown,
}

/// The part of a node every handle shares.
pub(crate) struct DriverHandle {
    tx: Sender<Command>,
    waker: Waker,
    sleeping: AtomicBool,
    pub next_port: AtomicU64,
    pub public_key: PublicKey,
    pub local_addrs: Vec<SocketAddr>,
    pub max_message: usize,
    pub events: Receiver<NodeEvent>,
}

impl DriverHandle {
    pub fn notify(&self, c: Command) {
        if self.tx.send(c).is_err() {
            return; // the driver is gone; callers notice through their reply channels
        }
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }
}

/// Owns the driver thread: dropping it shuts the node down and joins the thread.
pub(crate) struct NodeInner {
    pub handle: Arc<DriverHandle>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        self.handle.notify(Command::Shutdown);
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

/// A port as the driver holds it.
pub(crate) struct PortEntry {
    pub shared: Arc<Shared>,
    pub sink: Box<dyn Sink>,
}

struct Port {
    shared: Arc<Shared>,
    sink: Box<dyn Sink>,
    senders_gone: bool,
    receivers_gone: bool,
}

/// Receive state of one peer's stream into one of our ports.
struct RecvSide {
    counter: Arc<RecvCounter>,
    /// Sequence number of the first message of this stream (counter 0).
    base: u64,
    next_expected: Option<u64>,
    remote_incarnation: u64,
    /// `SEND_CLOSED(end)` seen.
    end: Option<u64>,
    /// Protocol violation or finished: ignore further data.
    done: bool,
}

#[derive(Default)]
struct PeerLink {
    /// Transport channel we opened in the current connection (our DATA, their CONSUMED).
    ours: Option<ChannelId>,
    /// Transport channel the peer opened (their DATA, our CONSUMED).
    theirs: Option<ChannelId>,
    recv: Option<RecvSide>,
    send_closed_sent: bool,
    recv_closed_sent: bool,
}

struct PeerState {
    key: PeerKey,
    conn: Option<ConnectionHandle>,
    remote_addr: Option<SocketAddr>,
    /// Where we dialed this peer: we redial it after a connection loss.
    dial_addr: Option<SocketAddr>,
    redial_at: Option<Instant>,
    backoff: Duration,
    down_since: Option<Instant>,
    links: HashMap<u64, PeerLink>,
    /// Transport channel id → (port, is it ours).
    by_chan: HashMap<u64, (u64, bool)>,
    unmatched: Vec<(ChannelId, OpenLabel)>,
    ever_connected: bool,
}

impl PeerState {
    fn new(key: PeerKey) -> Self {
        Self {
            key,
            conn: None,
            remote_addr: None,
            dial_addr: None,
            redial_at: None,
            backoff: Duration::from_millis(50),
            down_since: None,
            links: HashMap::default(),
            by_chan: HashMap::default(),
            unmatched: Vec::new(),
            ever_connected: false,
        }
    }
}

struct DialInfo {
    addr: SocketAddr,
    reply: Option<Sender<Result<PeerKey, Error>>>,
}

struct ConnInfo {
    dial: Option<DialInfo>,
    peer: Option<PeerKey>,
}

pub(crate) struct DriverConfig {
    pub endpoint: Endpoint,
    pub sockets: Vec<std::net::UdpSocket>,
    pub lease: Duration,
    pub incarnation: u64,
    pub public_key: PublicKey,
    pub max_message: usize,
}

/// Starts the driver thread.
pub(crate) fn spawn(cfg: DriverConfig) -> Result<Arc<NodeInner>, Error> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| Error::Io { what, source }
    };
    let poll = Poll::new().map_err(io("creating the event loop"))?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(io("creating the waker"))?;
    let mut sockets = Vec::new();
    let mut local_addrs = Vec::new();
    for (i, s) in cfg.sockets.into_iter().enumerate() {
        local_addrs.push(s.local_addr().map_err(io("reading the local address"))?);
        let mut s = UdpSocket::from_std(s);
        crate::udp::enable_gro(&s);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)
            .map_err(io("registering a socket"))?;
        sockets.push(s);
    }
    let (tx, cmds) = crossbeam_channel::unbounded();
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(4096);
    let handle = Arc::new(DriverHandle {
        tx,
        waker,
        sleeping: AtomicBool::new(false),
        next_port: AtomicU64::new(1),
        public_key: cfg.public_key,
        local_addrs: local_addrs.clone(),
        max_message: cfg.max_message,
        events: ev_rx,
    });
    let driver = Driver {
        poll,
        sockets,
        local_addrs,
        endpoint: cfg.endpoint,
        cmds,
        handle: handle.clone(),
        ports: HashMap::default(),
        peers: HashMap::default(),
        conns: HashMap::default(),
        events: ev_tx,
        incarnation: cfg.incarnation,
        my_key: cfg.public_key.0,
        lease: cfg.lease,
        generation: 0,
        buf: Vec::with_capacity(65536),
        rbuf: vec![0; 65536],
        last_activity: Instant::now(),
        spin: SpinState::default(),
        scratch: Vec::with_capacity(256),
        pending_tx: std::collections::VecDeque::new(),
        batch: Vec::with_capacity(65536),
        gso: true,
        writable: true,
        shutdown_deadline: None,
        exit: false,
        stats_dropped_events: 0,
    };
    let thread = std::thread::Builder::new()
        .name("netchan-driver".into())
        .spawn(move || driver.run())
        .map_err(io("starting the driver thread"))?;
    Ok(Arc::new(NodeInner {
        handle,
        thread: Mutex::new(Some(thread)),
    }))
}

struct Driver {
    poll: Poll,
    sockets: Vec<UdpSocket>,
    local_addrs: Vec<SocketAddr>,
    endpoint: Endpoint,
    cmds: Receiver<Command>,
    handle: Arc<DriverHandle>,
    ports: HashMap<u64, Port>,
    peers: HashMap<PeerKey, PeerState>,
    conns: HashMap<ConnectionHandle, ConnInfo>,
    events: Sender<NodeEvent>,
    incarnation: u64,
    my_key: PeerKey,
    lease: Duration,
    generation: u64,
    buf: Vec<u8>,
    /// Receive buffer (one datagram).
    rbuf: Vec<u8>,
    /// Last time a datagram or command arrived: the loop spins briefly after it.
    last_activity: Instant,
    /// Adaptive spinning (see [`Driver::should_spin`]).
    spin: SpinState,
    scratch: Vec<u8>,
    /// Batches the socket refused with WouldBlock: (socket, destination, bytes,
    /// segment size).
    pending_tx: std::collections::VecDeque<(usize, SocketAddr, Vec<u8>, usize)>,
    /// GSO batch being built.
    batch: Vec<u8>,
    /// Whether segmentation offload is used (cleared when the kernel refuses it).
    gso: bool,
    writable: bool,
    shutdown_deadline: Option<Instant>,
    exit: bool,
    stats_dropped_events: u64,
}

fn key_text(k: &PeerKey) -> String {
    PublicKey(*k).to_string()
}

impl Driver {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.endpoint.set_wall_clock(Instant::now(), wall);
        loop {
            let now = Instant::now();
            self.drain_commands(now);
            let more_to_read = self.read_sockets(now);
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            self.housekeeping(now);
            self.process_events(now);
            let more_to_write = self.transmit(now);
            self.check_shutdown_done(Instant::now());
            if self.exit {
                break;
            }
            let spinning = self.should_spin(Instant::now());
            let timeout = if more_to_read || more_to_write && self.writable {
                Some(Duration::ZERO)
            } else if spinning {
                // Traffic just flowed: poll without sleeping for a short while, since
                // waking a parked thread costs tens of microseconds. Yield so other
                // threads (the application's) keep their core.
                std::thread::yield_now();
                continue;
            } else {
                self.next_deadline()
                    .map(|t| t.saturating_duration_since(Instant::now()))
            };
            self.spin.parked_after = Some(self.last_activity);
            self.handle.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if !self.cmds.is_empty() {
                self.handle.sleeping.store(false, Ordering::SeqCst);
                continue;
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
            self.handle.sleeping.store(false, Ordering::SeqCst);
            for ev in events.iter() {
                if ev.token() != WAKER && ev.is_writable() {
                    self.writable = true;
                }
            }
        }
        self.close_everything();
    }

    /// Whether to keep polling instead of parking. Spinning for [`SPIN`] after traffic
    /// saves the 25-50 µs wake-up of a parked thread when the next datagram or command
    /// follows quickly (a request/response exchange), but burns a core when traffic is
    /// spaced wider than the spin (a paced stream at tens of Mbit/s). So the driver
    /// learns: after [`IDLE_SPINS_OFF`] spins in a row that found nothing it stops
    /// spinning, and it starts again when, parked, it is woken by traffic that followed
    /// the previous traffic within [`SPIN`] (a spin would have caught it).
    fn should_spin(&mut self, now: Instant) -> bool {
        let s = &mut self.spin;
        if let Some(prev) = s.parked_after.take()
            && self.last_activity > prev
            && self.last_activity - prev < SPIN
        {
            s.enabled = true;
            s.idle_spins = 0;
        }
        if !s.enabled {
            return false;
        }
        if now.saturating_duration_since(self.last_activity) < SPIN {
            match s.spin_from {
                // New traffic arrived while spinning: the spin paid off.
                Some(from) if from != self.last_activity => s.idle_spins = 0,
                _ => {}
            }
            s.spin_from = Some(self.last_activity);
            return true;
        }
        if s.spin_from.take().is_some() {
            s.idle_spins += 1;
            if s.idle_spins >= IDLE_SPINS_OFF {
                s.enabled = false;
            }
        }
        false
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut t = self.endpoint.poll_timeout();
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for p in self.peers.values() {
            if p.conn.is_none() {
                consider(p.redial_at);
                consider(p.down_since.map(|d| d + self.lease));
            }
        }
        consider(self.shutdown_deadline);
        t
    }

    // ----- commands ----------------------------------------------------------------

    fn drain_commands(&mut self, now: Instant) {
        // Bounded: at most what was queued when we started, so a flood of commands
        // cannot starve the network side.
        let n = self.cmds.len();
        for _ in 0..n.max(1) {
            let Ok(c) = self.cmds.try_recv() else { break };
            self.last_activity = now;
            self.command(now, c);
        }
    }

    fn command(&mut self, now: Instant, c: Command) {
        match c {
            Command::Flush(port) => {
                if let Some(p) = self.ports.get(&port) {
                    p.shared.lock().flush_queued = false;
                }
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in keys {
                    self.pump(port, &k);
                }
            }
            Command::Consumed(counter) => {
                counter.notify_pending.store(false, Ordering::Release);
                self.report_consumed(&counter.peer, counter.port, Some(counter.generation));
            }
            Command::AddPort(entry, reply) => {
                let r = self.add_port(now, entry);
                let _ = reply.send(r);
            }
            Command::SendersGone(port) => {
                if let Some(p) = self.ports.get_mut(&port) {
                    p.senders_gone = true;
                }
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in keys {
                    self.pump(port, &k);
                }
            }
            Command::ReceiversGone(port) => {
                if let Some(p) = self.ports.get_mut(&port) {
                    p.receivers_gone = true;
                    p.sink.close();
                }
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in keys {
                    self.send_recv_closed(port, &k);
                }
            }
            Command::Dial { addr, key, reply } => self.dial(now, addr, key, reply),
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            Command::Shutdown => self.start_shutdown(now),
        }
    }

    fn add_port(&mut self, now: Instant, entry: PortEntry) -> Result<(), Error> {
        if self.shutdown_deadline.is_some() {
            return Err(Error::NodeClosed);
        }
        let sh = &entry.shared;
        for p in self.ports.values() {
            let o = &p.shared;
            if o.name == sh.name && (o.scope.is_none() || sh.scope.is_none() || o.scope == sh.scope)
            {
                return Err(Error::DuplicateChannel(sh.name.clone()));
            }
        }
        let id = sh.id;
        let scope = sh.scope;
        let name = sh.name.clone();
        self.ports.insert(
            id,
            Port {
                shared: entry.shared,
                sink: entry.sink,
                senders_gone: false,
                receivers_gone: false,
            },
        );
        // Connected peers: open our direction, and adopt any channel they opened first.
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(k, p)| p.conn.is_some() && scope.is_none_or(|s| s == **k))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.open_ours(now, &k, id);
            let waiting = {
                let p = self.peers.get_mut(&k).expect("peer exists");
                let (take, keep): (Vec<_>, Vec<_>) =
                    p.unmatched.drain(..).partition(|(_, l)| l.name == name);
                p.unmatched = keep;
                take
            };
            for (ch, label) in waiting {
                self.attach_theirs(&k, id, ch, label);
            }
        }
        Ok(())
    }

    fn dial(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        key: Option<PeerKey>,
        reply: Sender<Result<PeerKey, Error>>,
    ) {
        if self.shutdown_deadline.is_some() {
            let _ = reply.send(Err(Error::NodeClosed));
            return;
        }
        if let Some(k) = key
            && let Some(p) = self.peers.get_mut(&k)
            && p.conn.is_some()
        {
            p.dial_addr.get_or_insert(addr);
            let _ = reply.send(Ok(k));
            return;
        }
        let local = self.local_addrs[self.socket_for(&addr, &addr)];
        match self.endpoint.connect_with(now, local, addr, key) {
            Ok(h) => {
                self.conns.insert(
                    h,
                    ConnInfo {
                        dial: Some(DialInfo {
                            addr,
                            reply: Some(reply),
                        }),
                        peer: key,
                    },
                );
            }
            Err(e) => {
                let _ = reply.send(Err(Error::Connect {
                    addr,
                    reason: e.to_string(),
                }));
            }
        }
    }

    // ----- sockets -----------------------------------------------------------------

    /// Reads every socket until it would block (or a batch is done). Returns true when
    /// a socket may still hold datagrams.
    fn read_sockets(&mut self, now: Instant) -> bool {
        let mut more = false;
        let mut buf = std::mem::take(&mut self.rbuf);
        for i in 0..self.sockets.len() {
            let mut n = 0;
            loop {
                if n == READ_BATCH {
                    more = true;
                    break;
                }
                match crate::udp::recv(&self.sockets[i], &mut buf) {
                    Ok(r) => {
                        n += 1;
                        self.last_activity = now;
                        let len = r.len.min(buf.len());
                        let data = &mut buf[..len];
                        // Coalesced by GRO: datagrams of `segment` bytes, the last
                        // possibly shorter.
                        let seg = r.segment.unwrap_or(len).max(1);
                        let local = self.local_addrs[i];
                        for d in data.chunks_mut(seg) {
                            self.endpoint.handle_datagram(now, local, r.from, d);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // ICMP errors (port unreachable) surface here on Linux; the
                    // transport's timers deal with unreachable peers.
                    Err(_) => {
                        n += 1;
                    }
                }
            }
        }
        self.rbuf = buf;
        more
    }

    fn socket_for(&self, local: &SocketAddr, dest: &SocketAddr) -> usize {
        self.local_addrs
            .iter()
            .position(|a| a == local)
            .or_else(|| {
                self.local_addrs
                    .iter()
                    .position(|a| a.is_ipv4() == dest.is_ipv4())
            })
            .unwrap_or(0)
    }

    /// Sends what the endpoint has, batching equal-size datagrams to one destination
    /// into one GSO send. Returns true when it stopped with more to send.
    fn transmit(&mut self, now: Instant) -> bool {
        while let Some((i, dest, bytes, seg)) = self.pending_tx.pop_front() {
            if let Err(e) = self.send_batch(i, dest, &bytes, seg)
                && e.kind() == ErrorKind::WouldBlock
            {
                self.pending_tx.push_front((i, dest, bytes, seg));
                self.want_writable(i);
                return true;
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        // (socket, destination, segment size, segments, last segment was short)
        let mut cur: Option<(usize, SocketAddr, usize, usize, bool)> = None;
        let mut more = false;
        let mut blocked = false;
        for n in 0..=WRITE_BATCH {
            if n == WRITE_BATCH {
                more = true;
                break;
            }
            buf.clear();
            let Some(t) = self.endpoint.poll_transmit(now, &mut buf) else {
                break;
            };
            let i = self.socket_for(&t.local, &t.destination);
            let dgram = &buf[..t.size.min(buf.len())];
            let fits = cur.is_some_and(|(ci, cd, seg, count, short)| {
                self.gso
                    && ci == i
                    && cd == t.destination
                    && !short
                    && dgram.len() <= seg
                    && count < crate::udp::MAX_SEGMENTS
                    && batch.len() + dgram.len() <= crate::udp::MAX_BATCH_BYTES
            });
            if !fits && let Some((ci, cd, seg, _, _)) = cur.take() {
                if self.flush_batch(ci, cd, &batch, seg) {
                    blocked = true;
                }
                batch.clear();
            }
            match cur.as_mut() {
                Some(c) => {
                    c.3 += 1;
                    c.4 = dgram.len() < c.2;
                }
                None => cur = Some((i, t.destination, dgram.len(), 1, false)),
            }
            batch.extend_from_slice(dgram);
            if blocked {
                break;
            }
        }
        if let Some((ci, cd, seg, _, _)) = cur.take()
            && self.flush_batch(ci, cd, &batch, seg)
        {
            blocked = true;
        }
        self.buf = buf;
        self.batch = batch;
        more || blocked
    }

    /// Sends a batch; on WouldBlock keeps it for later and returns true.
    fn flush_batch(&mut self, i: usize, dest: SocketAddr, batch: &[u8], seg: usize) -> bool {
        match self.send_batch(i, dest, batch, seg) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.pending_tx.push_back((i, dest, batch.to_vec(), seg));
                self.want_writable(i);
                true
            }
            // Unreachable destinations and the like: the datagrams are lost, which the
            // transport recovers from like any loss.
            _ => false,
        }
    }

    fn send_batch(
        &mut self,
        i: usize,
        dest: SocketAddr,
        batch: &[u8],
        seg: usize,
    ) -> std::io::Result<()> {
        let Some(sock) = self.sockets.get(i) else {
            return Ok(());
        };
        if batch.len() <= seg {
            return sock.send_to(batch, dest).map(|_| ());
        }
        match crate::udp::send_segments(sock, dest, batch, seg) {
            Err(e) if e.kind() != ErrorKind::WouldBlock => {
                // The kernel or device refuses segmentation offload: stop using it.
                self.gso = false;
                for d in batch.chunks(seg.max(1)) {
                    sock.send_to(d, dest)?;
                }
                Ok(())
            }
            r => r,
        }
    }

    fn want_writable(&mut self, i: usize) {
        self.writable = false;
        let _ = self.poll.registry().reregister(
            &mut self.sockets[i],
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        );
    }

    // ----- endpoint events ---------------------------------------------------------

    fn process_events(&mut self, now: Instant) {
        // Bounded by the events the endpoint holds; handling one can queue a few more
        // (never unboundedly), so cap the turn anyway.
        for _ in 0..100_000 {
            let Some((h, ev)) = self.endpoint.poll_event() else {
                break;
            };
            match ev {
                Event::Connected => self.on_connected(now, h),
                Event::ChannelOpened { channel, label } => self.on_opened(h, channel, &label),
                Event::ChannelReadable(ch) => self.on_readable(h, ch),
                Event::ChannelWritable(ch) => {
                    if let Some(k) = self.conns.get(&h).and_then(|c| c.peer)
                        && let Some(&(port, true)) =
                            self.peers.get(&k).and_then(|p| p.by_chan.get(&ch.0))
                    {
                        self.pump(port, &k);
                    }
                }
                Event::DatagramReceived => {
                    if let Some(c) = self.endpoint.connection(h) {
                        while c.recv_datagram().is_some() {}
                    }
                }
                Event::Closed(err) => self.on_closed(now, h, err.to_string()),
                _ => {}
            }
        }
    }

    fn emit(&mut self, e: NodeEvent) {
        if let Err(TrySendError::Full(_)) = self.events.try_send(e) {
            self.stats_dropped_events += 1;
        }
    }

    fn on_connected(&mut self, now: Instant, h: ConnectionHandle) {
        let Some(conn) = self.endpoint.connection(h) else {
            return;
        };
        let Some(key) = conn.peer_identity() else {
            conn.close(now, CODE_DUPLICATE, b"no identity");
            return;
        };
        let side = conn.side();
        let remote = conn.remote_address();
        let info = self.conns.entry(h).or_insert(ConnInfo {
            dial: None,
            peer: None,
        });
        info.peer = Some(key);
        let dial_addr = info.dial.as_ref().map(|d| d.addr);
        if let Some(reply) = info.dial.as_mut().and_then(|d| d.reply.take()) {
            let _ = reply.send(Ok(key));
        }
        let peer = self.peers.entry(key).or_insert_with(|| PeerState::new(key));
        if dial_addr.is_some() {
            peer.dial_addr = dial_addr;
        }
        // Two connections to one peer (both dialed at once, or a redial racing the old
        // connection): both ends keep the one dialed by the smaller key, else the newer.
        if let Some(old) = peer.conn {
            let old_dialer = self.conns.get(&old).map(|c| c.dial.is_some());
            let new_dialer_is_me = side == Side::Initiator;
            let keep_new = match old_dialer {
                Some(old_is_me) if old_is_me != new_dialer_is_me => {
                    let new_dialer = if new_dialer_is_me { self.my_key } else { key };
                    let old_dialer = if old_is_me { self.my_key } else { key };
                    new_dialer < old_dialer
                }
                _ => true,
            };
            let loser = if keep_new { old } else { h };
            if let Some(c) = self.endpoint.connection(loser) {
                c.close(now, CODE_DUPLICATE, b"duplicate connection");
            }
            if !keep_new {
                return;
            }
            self.detach_connection(&key);
        }
        let peer = self.peers.get_mut(&key).expect("peer exists");
        peer.conn = Some(h);
        peer.remote_addr = Some(remote);
        peer.redial_at = None;
        peer.backoff = Duration::from_millis(50);
        let was_down = peer.down_since.take().is_some();
        let first = !peer.ever_connected;
        peer.ever_connected = true;
        let pk = PublicKey(key);
        self.emit(if first || !was_down {
            NodeEvent::PeerConnected {
                peer: pk,
                addr: remote,
            }
        } else {
            NodeEvent::PeerReconnected {
                peer: pk,
                addr: remote,
            }
        });
        let ports: Vec<u64> = self
            .ports
            .values()
            .filter(|p| p.shared.scope.is_none_or(|s| s == key))
            .map(|p| p.shared.id)
            .collect();
        for port in ports {
            self.open_ours(now, &key, port);
        }
    }

    /// Opens our direction of `port` with `peer` on the current connection.
    fn open_ours(&mut self, _now: Instant, key: &PeerKey, port: u64) {
        let Some(p) = self.ports.get(&port) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let Some(h) = peer.conn else { return };
        let link = peer.links.entry(port).or_default();
        if link.ours.is_some() {
            return;
        }
        let label = OpenLabel {
            name: p.shared.name.clone(),
            type_hash: p.shared.type_hash,
            type_name: p.shared.type_name.to_string(),
            capacity: p.shared.capacity,
            max_message: p.shared.max_message as u64,
            incarnation: self.incarnation,
            resume: link
                .recv
                .as_ref()
                .and_then(|r| r.next_expected.map(|n| (r.remote_incarnation, n))),
        };
        let Some(conn) = self.endpoint.connection(h) else {
            return;
        };
        if let Ok(ch) = conn.open_channel(&label.encode()) {
            link.ours = Some(ch);
            peer.by_chan.insert(ch.0, (port, true));
        }
        // Make sure a send link exists, so senders of a scoped port see the peer.
        let mut st = p.shared.lock();
        if !st.links.iter().any(|l| l.peer == *key) {
            st.links.push(SendLink::new(*key));
        }
    }

    fn on_opened(&mut self, h: ConnectionHandle, ch: ChannelId, label: &Bytes) {
        let Some(key) = self.conns.get(&h).and_then(|c| c.peer) else {
            return;
        };
        let Ok(label) = OpenLabel::decode(label) else {
            // Not ours to understand: leave the channel unread (its window bounds it).
            return;
        };
        let port = self.find_port(&key, &label.name);
        match port {
            Some(port) => self.attach_theirs(&key, port, ch, label),
            None => {
                if let Some(p) = self.peers.get_mut(&key)
                    && p.unmatched.len() < MAX_UNMATCHED
                {
                    p.unmatched.push((ch, label));
                }
            }
        }
    }

    fn find_port(&self, key: &PeerKey, name: &str) -> Option<u64> {
        let mut any = None;
        for p in self.ports.values() {
            if p.shared.name != name {
                continue;
            }
            match p.shared.scope {
                Some(s) if s == *key => return Some(p.shared.id),
                None => any = Some(p.shared.id),
                _ => {}
            }
        }
        any
    }

    fn attach_theirs(&mut self, key: &PeerKey, port: u64, ch: ChannelId, label: OpenLabel) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let link = peer.links.entry(port).or_default();
        if link.theirs.is_some() {
            return; // a second open of the same name on one connection: ignore it
        }
        link.theirs = Some(ch);
        peer.by_chan.insert(ch.0, (port, false));
        let sh = p.shared.clone();
        if label.type_hash != sh.type_hash {
            let err = ChannelError::TypeMismatch {
                name: sh.name.clone(),
                local: sh.type_name.to_string(),
                remote: label.type_name.clone(),
            };
            if let Some(r) = link.recv.as_mut() {
                r.done = true;
            }
            {
                let mut st = sh.lock();
                if let Some(l) = st.links.iter_mut().find(|l| l.peer == *key) {
                    l.dead.get_or_insert(err.clone());
                    l.ready = false;
                }
            }
            sh.cond.notify_all();
            if sh.scope.is_some() {
                *sh.recv_closed.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.clone());
                p.sink.close();
            }
            let pk = PublicKey(*key);
            self.emit(NodeEvent::ChannelError {
                peer: pk,
                channel: sh.name.clone(),
                error: err,
            });
            return;
        }
        // Receive side: a new stream unless it is the same incarnation of the peer.
        let fresh = link
            .recv
            .as_ref()
            .is_none_or(|r| r.remote_incarnation != label.incarnation);
        if fresh {
            self.generation += 1;
            let threshold = u64::from(sh.capacity / 4).max(1);
            link.recv = Some(RecvSide {
                counter: Arc::new(RecvCounter {
                    port,
                    peer: *key,
                    generation: self.generation,
                    consumed: AtomicU64::new(0),
                    reported: AtomicU64::new(0),
                    delivered: AtomicU64::new(0),
                    threshold,
                    notify_pending: AtomicBool::new(false),
                    driver: self.handle.clone(),
                }),
                base: 0,
                next_expected: None,
                remote_incarnation: label.incarnation,
                end: None,
                done: false,
            });
        }
        // Send side: the peer's capacity is our window; resume where it says.
        {
            let mut st = sh.lock();
            let idx = match st.links.iter().position(|l| l.peer == *key) {
                Some(i) => i,
                None => {
                    st.links.push(SendLink::new(*key));
                    st.links.len() - 1
                }
            };
            let l = &mut st.links[idx];
            l.remote_cap = label.capacity;
            l.remote_max = usize::try_from(label.max_message).unwrap_or(usize::MAX);
            let from = match label.resume {
                Some((inc, seq)) if inc == self.incarnation => seq.clamp(l.consumed, l.sent),
                _ => l.consumed,
            };
            l.transmitted = from;
            if l.dead.is_none() {
                l.ready = link.ours.is_some();
            }
        }
        sh.cond.notify_all();
        let recv_gone = p.receivers_gone;
        if recv_gone {
            self.send_recv_closed(port, key);
        } else {
            self.report_consumed(key, port, None);
        }
        self.pump(port, key);
    }

    fn on_readable(&mut self, h: ConnectionHandle, ch: ChannelId) {
        let Some(key) = self.conns.get(&h).and_then(|c| c.peer) else {
            return;
        };
        let Some(&(port, ours)) = self.peers.get(&key).and_then(|p| p.by_chan.get(&ch.0)) else {
            return; // unmatched: stays unread until a port adopts it
        };
        // Bounded by what the transport buffered (its window).
        loop {
            let Some(conn) = self.endpoint.connection(h) else {
                return;
            };
            let Some(msg) = conn.recv(ch) else { return };
            let frame = match Frame::decode(&msg) {
                Ok(f) => f,
                Err(e) => {
                    self.violation(&key, port, e.to_string());
                    continue;
                }
            };
            match (frame, ours) {
                (Frame::Consumed(upto), true) => self.on_consumed(&key, port, upto),
                (Frame::RecvClosed, true) => {
                    if let Some(p) = self.ports.get(&port) {
                        let sh = p.shared.clone();
                        let err = ChannelError::ReceiverClosed {
                            name: sh.name.clone(),
                        };
                        if let Some(l) = sh.lock().links.iter_mut().find(|l| l.peer == key) {
                            // The first reason sticks (a type mismatch stays one).
                            l.dead.get_or_insert(err);
                            l.ready = false;
                        }
                        sh.cond.notify_all();
                    }
                }
                (Frame::Data { seq, payload }, false) => self.on_data(&key, port, seq, payload),
                (Frame::SendClosed(end), false) => {
                    if let Some(r) = self
                        .peers
                        .get_mut(&key)
                        .and_then(|p| p.links.get_mut(&port))
                        .and_then(|l| l.recv.as_mut())
                    {
                        r.end = Some(end);
                    }
                    self.check_finished(&key, port);
                }
                _ => self.violation(&key, port, "frame sent in the wrong direction".into()),
            }
        }
    }

    fn on_consumed(&mut self, key: &PeerKey, port: u64, upto: u64) {
        let Some(p) = self.ports.get(&port) else {
            return;
        };
        let sh = p.shared.clone();
        let ok = {
            let mut st = sh.lock();
            match st.links.iter_mut().find(|l| l.peer == *key) {
                Some(l) if upto >= l.consumed => l.on_consumed(upto),
                Some(_) => true, // stale (reordered across a reconnection): ignore
                None => false,
            }
        };
        if ok {
            sh.cond.notify_all();
            self.pump(port, key);
        } else {
            self.violation(
                key,
                port,
                format!("credit report {upto} beyond what was sent"),
            );
        }
    }

    fn on_data(&mut self, key: &PeerKey, port: u64, seq: u64, payload: &[u8]) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        let cap = u64::from(p.shared.capacity.max(1));
        let Some(r) = self
            .peers
            .get_mut(key)
            .and_then(|x| x.links.get_mut(&port))
            .and_then(|l| l.recv.as_mut())
        else {
            return;
        };
        if r.done {
            return;
        }
        let r_end_known = r.end.is_some();
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
        let err = if seq > next {
            Some(format!("message {seq} skips ahead of {next}"))
        } else if seq
            >= r.base
                .saturating_add(r.counter.reported.load(Ordering::Acquire))
                .saturating_add(cap)
        {
            Some(format!("message {seq} exceeds the granted credit"))
        } else {
            match p.sink.deliver(payload, &r.counter) {
                Ok(()) | Err(SinkError::Gone) => {
                    r.next_expected = Some(next + 1);
                    None
                }
                Err(SinkError::Decode(e)) => Some(format!("undecodable message: {e}")),
            }
        };
        match err {
            Some(e) => self.violation(key, port, e),
            None => {
                if r_end_known {
                    self.check_finished(key, port);
                }
            }
        }
    }

    fn check_finished(&mut self, key: &PeerKey, port: u64) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        let Some(r) = self
            .peers
            .get_mut(key)
            .and_then(|x| x.links.get_mut(&port))
            .and_then(|l| l.recv.as_mut())
        else {
            return;
        };
        let Some(end) = r.end else { return };
        if r.done || r.next_expected.unwrap_or(end) < end {
            return;
        }
        r.done = true;
        if p.shared.scope.is_some() {
            *p.shared
                .recv_closed
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(ChannelError::SenderClosed {
                name: p.shared.name.clone(),
            });
            p.sink.close();
        }
    }

    /// The peer broke the channel protocol on `port`: stop reading its stream there and
    /// tell the application; other channels and peers are unaffected.
    fn violation(&mut self, key: &PeerKey, port: u64, detail: String) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        if let Some(r) = self
            .peers
            .get_mut(key)
            .and_then(|x| x.links.get_mut(&port))
            .and_then(|l| l.recv.as_mut())
        {
            if r.done {
                return;
            }
            r.done = true;
        }
        let err = ChannelError::Protocol {
            name: p.shared.name.clone(),
            detail,
        };
        if p.shared.scope.is_some() {
            *p.shared
                .recv_closed
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(err.clone());
            p.sink.close();
        }
        let name = p.shared.name.clone();
        self.emit(NodeEvent::ChannelError {
            peer: PublicKey(*key),
            channel: name,
            error: err,
        });
    }

    /// Moves queued messages of `port` towards `key` into the transport.
    fn pump(&mut self, port: u64, key: &PeerKey) {
        let Some(p) = self.ports.get(&port) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let Some(h) = peer.conn else { return };
        let Some(link) = peer.links.get_mut(&port) else {
            return;
        };
        let Some(ours) = link.ours else { return };
        let Some(conn) = self.endpoint.connection(h) else {
            return;
        };
        let mut st = p.shared.lock();
        let Some(l) = st.links.iter_mut().find(|l| l.peer == *key) else {
            return;
        };
        if !l.ready {
            return;
        }
        let mut dead = None;
        while l.transmitted < l.sent {
            let idx = (l.transmitted - l.consumed) as usize;
            let Some(payload) = l.outbox.get(idx) else {
                break;
            };
            self.scratch.clear();
            crate::wire::encode_data_header(&mut self.scratch, l.transmitted);
            self.scratch.extend_from_slice(payload);
            match conn.send(ours, &self.scratch) {
                Ok(()) => l.transmitted += 1,
                Err(netchan_transport::SendError::TooLarge { size, limit }) => {
                    dead = Some(format!(
                        "message of {size} bytes over the peer's limit {limit}"
                    ));
                    break;
                }
                Err(_) => break, // blocked: ChannelWritable resumes; closed: reconnection does
            }
        }
        let finished = l.transmitted == l.sent;
        if let Some(d) = dead {
            l.dead = Some(ChannelError::Protocol {
                name: p.shared.name.clone(),
                detail: d,
            });
            l.ready = false;
            p.shared.cond.notify_all();
        }
        let end = l.sent;
        drop(st);
        if finished && p.senders_gone && !link.send_closed_sent {
            self.scratch.clear();
            Frame::SendClosed(end).encode(&mut self.scratch);
            if conn.send(ours, &self.scratch).is_ok() {
                link.send_closed_sent = true;
            }
        }
    }

    fn send_recv_closed(&mut self, port: u64, key: &PeerKey) {
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
        if let Some(conn) = self.endpoint.connection(h) {
            self.scratch.clear();
            Frame::RecvClosed.encode(&mut self.scratch);
            if conn.send(theirs, &self.scratch).is_ok() {
                link.recv_closed_sent = true;
            }
        }
    }

    /// Sends our consumption of the peer's stream on `port` (its credit).
    fn report_consumed(&mut self, key: &PeerKey, port: u64, generation: Option<u64>) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let (Some(h), Some(link)) = (peer.conn, peer.links.get_mut(&port)) else {
            return;
        };
        let (Some(theirs), Some(r)) = (link.theirs, link.recv.as_ref()) else {
            return;
        };
        if generation.is_some_and(|g| g != r.counter.generation) || r.next_expected.is_none() {
            return;
        }
        let c = r.counter.consumed.load(Ordering::Acquire);
        let upto = r.base + c;
        if let Some(conn) = self.endpoint.connection(h) {
            self.scratch.clear();
            Frame::Consumed(upto).encode(&mut self.scratch);
            if conn.send(theirs, &self.scratch).is_ok() {
                r.counter.reported.store(c, Ordering::Release);
            }
        }
    }

    /// Forgets the transport channels of a peer's current connection (after it closed
    /// or was replaced); channel state survives for the lease.
    fn detach_connection(&mut self, key: &PeerKey) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        peer.conn = None;
        peer.by_chan.clear();
        peer.unmatched.clear();
        for (port, link) in peer.links.iter_mut() {
            link.ours = None;
            link.theirs = None;
            link.send_closed_sent = false;
            link.recv_closed_sent = false;
            if let Some(p) = self.ports.get(port) {
                let mut st = p.shared.lock();
                if let Some(l) = st.links.iter_mut().find(|l| l.peer == *key) {
                    l.ready = false;
                    l.transmitted = l.consumed;
                }
            }
        }
    }

    fn on_closed(&mut self, now: Instant, h: ConnectionHandle, reason: String) {
        let Some(info) = self.conns.remove(&h) else {
            return;
        };
        if let Some(d) = info.dial.as_ref()
            && let Some(reply) = d.reply.as_ref()
        {
            let _ = reply.send(Err(Error::Connect {
                addr: d.addr,
                reason: reason.clone(),
            }));
        }
        let Some(key) = info.peer else { return };
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.conn != Some(h) {
            // A failed redial, or the losing duplicate.
            if peer.conn.is_none() && info.dial.is_some() && peer.dial_addr.is_some() {
                peer.backoff = (peer.backoff * 2).min(Duration::from_secs(2));
                peer.redial_at = Some(now + peer.backoff);
            }
            return;
        }
        self.detach_connection(&key);
        if self.shutdown_deadline.is_some() {
            return;
        }
        let peer = self.peers.get_mut(&key).expect("peer exists");
        peer.down_since = Some(now);
        if peer.dial_addr.is_some() {
            peer.redial_at = Some(now + peer.backoff);
        }
        self.emit(NodeEvent::PeerDisconnected {
            peer: PublicKey(key),
            reason,
        });
    }

    fn housekeeping(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        let mut expired = Vec::new();
        let mut redial = Vec::new();
        for (k, p) in &self.peers {
            if p.conn.is_some() {
                continue;
            }
            if p.down_since.is_some_and(|d| now >= d + self.lease) {
                expired.push(*k);
            } else if p.redial_at.is_some_and(|t| now >= t)
                && let Some(a) = p.dial_addr
            {
                redial.push((*k, a));
            }
        }
        for (k, addr) in redial {
            let pending = self
                .conns
                .values()
                .any(|c| c.peer == Some(k) && c.dial.is_some());
            if let Some(p) = self.peers.get_mut(&k) {
                p.redial_at = None;
            }
            if pending {
                continue;
            }
            let local = self.local_addrs[self.socket_for(&addr, &addr)];
            if let Ok(h) = self.endpoint.connect_with(now, local, addr, Some(k)) {
                self.conns.insert(
                    h,
                    ConnInfo {
                        dial: Some(DialInfo { addr, reply: None }),
                        peer: Some(k),
                    },
                );
            }
        }
        for k in expired {
            self.expire(&k);
        }
    }

    fn check_shutdown_done(&mut self, now: Instant) {
        let Some(d) = self.shutdown_deadline else {
            return;
        };
        // Done once every connection has sent its CONNECTION_CLOSE (a closing
        // connection only lingers to repeat it to stray packets).
        let handles: Vec<ConnectionHandle> = self.endpoint.handles().collect();
        let all_closed = handles
            .into_iter()
            .all(|h| self.endpoint.connection(h).is_none_or(|c| c.is_closed()));
        if all_closed {
            self.exit = true;
        } else if now >= d {
            // Grace is over: close what is left at once, so peers learn it now rather
            // than at their idle timeout.
            let handles: Vec<ConnectionHandle> = self.endpoint.handles().collect();
            for h in handles {
                if let Some(c) = self.endpoint.connection(h) {
                    c.close(now, CODE_SHUTDOWN, b"node shut down");
                }
            }
            self.transmit(now);
            self.exit = true;
        }
    }

    /// The peer did not come back within the lease: its channels fail.
    fn expire(&mut self, key: &PeerKey) {
        let Some(peer) = self.peers.remove(key) else {
            return;
        };
        let err = ChannelError::LeaseExpired {
            peer: key_text(key),
        };
        for port in peer.links.keys() {
            let Some(p) = self.ports.get_mut(port) else {
                continue;
            };
            {
                let mut st = p.shared.lock();
                if let Some(l) = st.links.iter_mut().find(|l| l.peer == *key) {
                    l.dead.get_or_insert(err.clone());
                    l.ready = false;
                }
                // Unscoped ports forget dead peers once nobody can wait on them.
                if p.shared.scope.is_none() {
                    st.links.retain(|l| l.dead.is_none() || l.sent > l.consumed);
                    st.next = 0;
                }
            }
            p.shared.cond.notify_all();
            if p.shared.scope.is_some() {
                *p.shared
                    .recv_closed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(err.clone());
                p.sink.close();
            }
        }
        self.emit(NodeEvent::PeerLost {
            peer: PublicKey(*key),
        });
    }

    fn start_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now + SHUTDOWN_GRACE);
        // Report every consumption so senders resend exactly what was not taken.
        let pairs: Vec<(PeerKey, u64)> = self
            .peers
            .iter()
            .flat_map(|(k, p)| p.links.keys().map(move |port| (*k, *port)))
            .collect();
        for (k, port) in pairs {
            self.report_consumed(&k, port, None);
        }
        let handles: Vec<ConnectionHandle> = self.endpoint.handles().collect();
        for h in handles {
            if let Some(c) = self.endpoint.connection(h) {
                if c.is_established() {
                    c.shutdown();
                } else {
                    c.close(now, CODE_SHUTDOWN, b"node shut down");
                }
            }
        }
        for info in self.conns.values_mut() {
            if let Some(reply) = info.dial.as_mut().and_then(|d| d.reply.take()) {
                let _ = reply.send(Err(Error::NodeClosed));
            }
        }
    }

    fn close_everything(&mut self) {
        for p in self.ports.values_mut() {
            p.shared.lock().closed = Some(ChannelError::NodeClosed);
            p.shared.cond.notify_all();
            p.sink.close();
        }
        // Commands still queued: answer the ones that wait for a reply.
        while let Ok(c) = self.cmds.try_recv() {
            match c {
                Command::AddPort(_, r) => {
                    let _ = r.send(Err(Error::NodeClosed));
                }
                Command::Dial { reply, .. } => {
                    let _ = reply.send(Err(Error::NodeClosed));
                }
                _ => {}
            }
        }
    }

    fn stats(&mut self) -> Vec<PeerStats> {
        let mut out = Vec::new();
        let local = self.local_addrs.first().copied();
        for p in self.peers.values() {
            let mut s = PeerStats {
                peer: PublicKey(p.key),
                connected: p.conn.is_some(),
                addr: p.remote_addr,
                rtt: Duration::ZERO,
                cwnd: 0,
                bytes_sent: 0,
                bytes_received: 0,
                packets_sent: 0,
                packets_received: 0,
                packets_lost: 0,
                loss_rate: 0.0,
                messages_delivered: 0,
                paths: Vec::new(),
            };
            if let Some(c) = p.conn.and_then(|h| self.endpoint.connection(h)) {
                let cs = c.stats();
                s.rtt = cs.rtt;
                s.cwnd = cs.cwnd;
                s.bytes_sent = cs.bytes_sent;
                s.bytes_received = cs.bytes_received;
                s.packets_sent = cs.packets_sent;
                s.packets_received = cs.packets_received;
                s.packets_lost = cs.recovery.packets_lost;
                s.messages_delivered = cs.messages_delivered;
                s.loss_rate = if cs.recovery.packets_sent == 0 {
                    0.0
                } else {
                    cs.recovery.packets_lost as f64 / cs.recovery.packets_sent as f64
                };
                s.paths.push(PathStats {
                    local,
                    remote: c.remote_address(),
                    rtt: cs.rtt,
                    cwnd: cs.cwnd,
                    bytes_sent: cs.bytes_sent,
                    bytes_received: cs.bytes_received,
                    packets_lost: cs.recovery.packets_lost,
                });
            }
            out.push(s);
        }
        out
    }
}
