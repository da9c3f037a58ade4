//! The driver: one mio event-loop thread per node, I/O only. It owns the sockets
//! ([`Sockets`]), the sans-IO transport [`Endpoint`] and the sans-IO channel [`Session`],
//! and moves bytes and wake-ups between them and the application threads: commands
//! arrive on a crossbeam queue (with a `mio::Waker` rung only while the loop is parked),
//! messages leave through each channel's crossbeam channel, credit through its
//! [`Gate`](crate::handoff::Gate).

use crate::error::{ChannelError, Error};
use crate::handoff::{RecvCounter, Shared, Sink, SinkError};
use crate::io::Sockets;
use crate::node::{NodeEvent, PathStats, PeerStats};
use crate::session::{
    DialToken, PeerKey, PortId, PortSpec, SendToken, Session, SessionConfig, SessionEvent, StreamId,
};
use crate::spin::Spin;
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::{Events, Poll, Token, Waker};
use netchan_transport::Endpoint;
use netchan_transport::identity::PublicKey;
use rustc_hash::FxHashMap as HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);
/// How long a shut-down node waits for its peers to acknowledge what it sent.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What application threads ask of the driver.
pub(crate) enum Command {
    /// A message sent against credit taken from the port's gate; `done` is answered once
    /// a rendezvous peer took it.
    Send {
        port: PortId,
        payload: Bytes,
        done: Option<Sender<Result<(), ChannelError>>>,
    },
    Consumed(Arc<RecvCounter>),
    AddPort(PortEntry, Sender<Result<(), Error>>),
    SendersGone(PortId),
    ReceiversGone(PortId),
    Dial {
        addr: SocketAddr,
        /// The peer's further addresses (multipath).
        extra: Vec<SocketAddr>,
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
    /// The join handle, taken once on drop (a Mutex only so that `NodeInner` is `Sync`).
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

/// A port as the application hands it to the driver.
pub(crate) struct PortEntry {
    pub shared: Arc<Shared>,
    pub sink: Box<dyn Sink>,
}

/// A port's application side, as the driver holds it.
struct PortIo {
    shared: Arc<Shared>,
    sink: Box<dyn Sink>,
    /// Consumption counters of the streams into this port.
    counters: HashMap<StreamId, Arc<RecvCounter>>,
}

pub(crate) struct DriverConfig {
    pub endpoint: Endpoint,
    pub sockets: Vec<std::net::UdpSocket>,
    pub lease: Duration,
    pub incarnation: u64,
    pub public_key: PublicKey,
    pub max_message: usize,
    /// The transport's largest datagram (sizes segmented sends).
    pub max_datagram_size: u16,
    pub limits: crate::session::SessionLimits,
}

/// Starts the driver thread.
pub(crate) fn spawn(cfg: DriverConfig) -> Result<Arc<NodeInner>, Error> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| Error::Io { what, source }
    };
    let poll = Poll::new().map_err(io("creating the event loop"))?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(io("creating the waker"))?;
    let sockets = Sockets::new(cfg.sockets, poll.registry()).map_err(io("registering sockets"))?;
    let (tx, cmds) = crossbeam_channel::unbounded();
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(4096);
    let handle = Arc::new(DriverHandle {
        tx,
        waker,
        sleeping: AtomicBool::new(false),
        next_port: AtomicU64::new(1),
        public_key: cfg.public_key,
        local_addrs: sockets.local_addrs.clone(),
        max_message: cfg.max_message,
        events: ev_rx,
    });
    let session = Session::new(SessionConfig {
        local_key: cfg.public_key.0,
        incarnation: cfg.incarnation,
        lease: cfg.lease,
        local_addrs: sockets.local_addrs.clone(),
        limits: cfg.limits,
    });
    let mut endpoint = cfg.endpoint;
    endpoint.set_max_segments(sockets.max_segments(cfg.max_datagram_size));
    let driver = Driver {
        poll,
        sockets,
        endpoint,
        session,
        cmds,
        handle: handle.clone(),
        ports: HashMap::default(),
        dials: HashMap::default(),
        rendezvous: HashMap::default(),
        next_token: 0,
        events: ev_tx,
        last_activity: Instant::now(),
        spin: Spin::default(),
        shutdown_deadline: None,
        exit: false,
        dropped_events: 0,
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
    sockets: Sockets,
    endpoint: Endpoint,
    session: Session,
    cmds: Receiver<Command>,
    handle: Arc<DriverHandle>,
    ports: HashMap<PortId, PortIo>,
    dials: HashMap<DialToken, (SocketAddr, Sender<Result<PeerKey, Error>>)>,
    rendezvous: HashMap<SendToken, Sender<Result<(), ChannelError>>>,
    next_token: u64,
    events: Sender<NodeEvent>,
    /// Last time a datagram or command arrived: the loop spins briefly after it.
    last_activity: Instant,
    spin: Spin,
    shutdown_deadline: Option<Instant>,
    exit: bool,
    dropped_events: u64,
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
            let (read, more_to_read) = self.sockets.read(now, &mut self.endpoint);
            if read {
                self.last_activity = now;
            }
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            if self.session.poll_timeout().is_some_and(|t| t <= now) {
                self.session.handle_timeout(now, &mut self.endpoint);
            }
            self.process_events(now);
            // A fresh clock for what goes out: packets are stamped with it, and a stale
            // `now` (the thread was descheduled since the top of the loop) would shorten
            // every RTT sample taken from them.
            let now = Instant::now();
            let more_to_write = self
                .sockets
                .write(now, &mut self.endpoint, self.poll.registry());
            self.check_shutdown_done(Instant::now());
            if self.exit {
                break;
            }
            let timeout = if more_to_read || more_to_write && self.sockets.writable {
                Some(Duration::ZERO)
            } else if self.should_spin(Instant::now()) {
                // Traffic just flowed: poll without sleeping for a short while, since
                // waking a parked thread costs tens of microseconds. Yield so other
                // threads (the application's) keep their core.
                std::thread::yield_now();
                continue;
            } else {
                self.next_deadline()
                    .map(|t| t.saturating_duration_since(Instant::now()))
            };
            self.park(&mut events, timeout);
        }
        self.close_everything();
    }

    fn park(&mut self, events: &mut Events, timeout: Option<Duration>) {
        self.park_started();
        self.handle.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.cmds.is_empty() {
            match self.poll.poll(events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        self.handle.sleeping.store(false, Ordering::SeqCst);
        if events
            .iter()
            .any(|ev| ev.token() != WAKER && ev.is_writable())
        {
            self.sockets.writable = true;
        }
    }

    /// Whether to keep polling instead of parking (see [`Spin`]).
    fn should_spin(&mut self, now: Instant) -> bool {
        self.spin.should_spin(now, self.last_activity)
    }

    fn park_started(&mut self) {
        self.spin.parked(self.last_activity);
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.session.poll_timeout(),
            self.shutdown_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
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

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn command(&mut self, now: Instant, c: Command) {
        match c {
            Command::Send {
                port,
                payload,
                done,
            } => {
                let token = done.map(|tx| {
                    let t = SendToken(self.token());
                    self.rendezvous.insert(t, tx);
                    t
                });
                self.session.send(&mut self.endpoint, port, payload, token);
            }
            Command::Consumed(c) => {
                // A read-modify-write, so it is ordered with the receivers' `swap` and
                // the load below sees every take whose report was skipped meanwhile.
                c.notify_pending.swap(false, Ordering::AcqRel);
                let consumed = c.consumed.load(Ordering::Acquire);
                self.session
                    .consumed(&mut self.endpoint, c.port, c.stream, consumed);
            }
            Command::AddPort(entry, reply) => {
                let _ = reply.send(self.add_port(now, entry));
            }
            Command::SendersGone(port) => self.session.senders_gone(&mut self.endpoint, port),
            Command::ReceiversGone(port) => {
                if let Some(p) = self.ports.get_mut(&port) {
                    p.sink.close();
                }
                self.session.receivers_gone(&mut self.endpoint, port);
            }
            Command::Dial {
                addr,
                extra,
                key,
                reply,
            } => {
                let token = DialToken(self.token());
                self.dials.insert(token, (addr, reply));
                let local = self.sockets.local_for(&addr);
                self.session
                    .dial(now, &mut self.endpoint, (local, addr), key, token);
                self.session.add_dial_addresses(token, extra);
            }
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
        let spec = PortSpec {
            name: sh.name.clone(),
            type_hash: sh.type_hash,
            type_name: sh.type_name.to_string(),
            capacity: sh.capacity,
            scope: sh.scope,
            max_message: sh.max_message,
            mode: sh.mode,
        };
        let id = sh.id;
        self.ports.insert(
            id,
            PortIo {
                shared: entry.shared,
                sink: entry.sink,
                counters: HashMap::default(),
            },
        );
        let r = self.session.open_port(now, &mut self.endpoint, id, spec);
        if r.is_err() {
            self.ports.remove(&id);
        }
        r
    }

    // ----- events: endpoint → session → application ------------------------------

    fn process_events(&mut self, now: Instant) {
        // Bounded by the events the endpoint holds; handling one can queue a few more
        // (never unboundedly), so cap the turn anyway.
        for _ in 0..100_000 {
            let Some((h, ev)) = self.endpoint.poll_event() else {
                break;
            };
            self.session.handle_event(now, &mut self.endpoint, h, ev);
            self.session_events();
        }
        self.session_events();
    }

    fn session_events(&mut self) {
        // Bounded: each event is handled once; a decode failure adds at most one per
        // stream (its violation closes the stream).
        while let Some(e) = self.session.poll_event() {
            self.on_session_event(e);
        }
    }

    fn on_session_event(&mut self, e: SessionEvent) {
        match e {
            SessionEvent::Credit { port, added } => self.gate(port, |g| g.add_credit(added)),
            SessionEvent::Settled { port, count } => self.gate(port, |g| g.settle(count)),
            SessionEvent::Status { port, status } => self.gate(port, |g| {
                g.ready_peers.store(status.ready_peers, Ordering::Release);
                g.max_message.store(status.max_message, Ordering::Release);
                g.rendezvous.store(status.rendezvous, Ordering::Release);
            }),
            SessionEvent::SendDone { token, result, .. } => {
                if let Some(tx) = self.rendezvous.remove(&token) {
                    let _ = tx.send(result);
                }
            }
            SessionEvent::SendClosed { port, error } => self.gate(port, |g| g.close(error)),
            SessionEvent::StreamOpened { port, stream } => self.open_stream(port, stream),
            SessionEvent::Deliver {
                port,
                stream,
                payload,
            } => self.deliver(port, stream, &payload),
            SessionEvent::Reported {
                port,
                stream,
                consumed,
            } => {
                if let Some(c) = self.ports.get(&port).and_then(|p| p.counters.get(&stream)) {
                    c.reported.store(consumed, Ordering::Release);
                }
            }
            SessionEvent::ReceiveClosed { port, error } => {
                if let Some(p) = self.ports.get_mut(&port) {
                    let _ = p.shared.recv_closed.set(error);
                    p.sink.close();
                }
            }
            SessionEvent::Node(ev) => self.emit(ev),
            SessionEvent::Dialed {
                token,
                result,
                addr,
            } => {
                if let Some((_, reply)) = self.dials.remove(&token) {
                    let _ = reply.send(result.map_err(|reason| Error::Connect { addr, reason }));
                }
            }
        }
    }

    fn gate(&self, port: PortId, f: impl FnOnce(&crate::handoff::Gate)) {
        if let Some(p) = self.ports.get(&port) {
            f(&p.shared.gate);
        }
    }

    fn open_stream(&mut self, port: PortId, stream: StreamId) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        // Older streams of the peer are over; their deliveries keep their own counter.
        p.counters.retain(|s, _| s.peer != stream.peer);
        let counter = Arc::new(RecvCounter {
            port,
            stream,
            consumed: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            threshold: u64::from(p.shared.capacity / 4).max(1),
            notify_pending: AtomicBool::new(false),
            driver: self.handle.clone(),
        });
        p.counters.insert(stream, counter);
    }

    fn deliver(&mut self, port: PortId, stream: StreamId, payload: &[u8]) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        let Some(counter) = p.counters.get(&stream) else {
            return;
        };
        if let Err(SinkError::Decode(e)) = p.sink.deliver(payload, counter) {
            self.session
                .violation(port, &stream.peer, format!("undecodable message: {e}"));
        }
    }

    fn emit(&mut self, e: NodeEvent) {
        if let Err(TrySendError::Full(_)) = self.events.try_send(e) {
            self.dropped_events += 1;
        }
    }

    // ----- shutdown --------------------------------------------------------------

    fn start_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        tracing::debug!("node shutting down");
        self.shutdown_deadline = Some(now + SHUTDOWN_GRACE);
        // What the receivers took since their last report: senders must resend exactly
        // the rest.
        for (port, p) in &self.ports {
            for (stream, c) in &p.counters {
                let consumed = c.consumed.load(Ordering::Acquire);
                self.session
                    .consumed(&mut self.endpoint, *port, *stream, consumed);
            }
        }
        self.session.shutdown(now, &mut self.endpoint);
        self.session_events();
    }

    fn check_shutdown_done(&mut self, now: Instant) {
        let Some(d) = self.shutdown_deadline else {
            return;
        };
        // Done once every connection has sent its CONNECTION_CLOSE (a closing
        // connection only lingers to repeat it to stray packets).
        let handles: Vec<_> = self.endpoint.handles().collect();
        let all_closed = handles
            .iter()
            .all(|h| self.endpoint.connection(*h).is_none_or(|c| c.is_closed()));
        if !all_closed && now >= d {
            // Grace is over: close what is left at once, so peers learn it now rather
            // than at their idle timeout.
            for h in handles {
                if let Some(c) = self.endpoint.connection(h) {
                    c.close(now, crate::session::CODE_SHUTDOWN, b"node shut down");
                }
            }
            self.sockets
                .write(now, &mut self.endpoint, self.poll.registry());
        }
        self.exit = all_closed || now >= d;
    }

    fn close_everything(&mut self) {
        for p in self.ports.values_mut() {
            p.shared.gate.close(ChannelError::NodeClosed);
            p.sink.close();
        }
        for (_, (_, reply)) in self.dials.drain() {
            let _ = reply.send(Err(Error::NodeClosed));
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
        if self.dropped_events > 0 {
            tracing::debug!(
                dropped = self.dropped_events,
                "node events dropped (queue full)"
            );
        }
    }

    fn stats(&mut self) -> Vec<PeerStats> {
        let peers: Vec<_> = self.session.peers().collect();
        peers
            .into_iter()
            .map(|(key, conn, addr)| {
                let mut s = PeerStats::new(PublicKey(key), addr);
                if let Some(c) = conn.and_then(|h| self.endpoint.connection(h)) {
                    s.fill(&c.stats());
                    s.paths = c.paths().map(PathStats::from).collect();
                }
                s
            })
            .collect()
    }
}
