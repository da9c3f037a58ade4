//! The real-time link emulator: the seeded link model of `netchan-tests`
//! ([`netchan_tests::link::Link`]: rate with a bounded queue, delay, jitter, loss,
//! reordering, blackholes) driven by the wall clock, one thread per direction of each path.
//!
//! For netchan each path is a **UDP relay** on loopback: the client sends to the relay's
//! front socket, the relay forwards through its back socket to the server, and the
//! server's replies travel back the same way. For the TCP baseline the same relay loop
//! forwards IP packets between two TUN devices in two network namespaces (see
//! [`crate::netns`]), so kernel TCP crosses exactly the same link model.
//!
//! Timing: a direction thread sleeps in `epoll` (millisecond resolution) while the next
//! delivery is more than 2 ms away, then in short `nanosleep`s, so datagrams leave within
//! a few hundred microseconds of their scheduled time (tested in `tests/emulator.rs`).
//! Arrivals carry the kernel's receive timestamp, so a relay thread that was not
//! scheduled does not shift them, and [`LowLatency`] keeps CPUs out of deep idle states
//! while an emulator exists.

use crate::spec::{Event, EventKind, PathSpec};
use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token};
use netchan_tests::link::{Link, LinkStats};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Width of one bucket of the per-path throughput series.
pub const BUCKET: Duration = Duration::from_millis(100);
/// IPv4 + UDP header bytes: what a UDP relay's bottleneck charges per datagram beyond its
/// payload, so that a relayed datagram costs what it would on a wire (a TUN path's packets
/// already include their headers).
pub const UDP_HEADERS: usize = 28;
/// At most this many buckets are kept (about 2.8 hours).
const MAX_BUCKETS: usize = 100_000;

/// Where a direction reads its datagrams from.
pub trait Input: Send + 'static {
    /// Registers the input with `poll` under `token`.
    fn register(&mut self, poll: &Poll, token: Token) -> io::Result<()>;
    /// Reads one datagram without blocking (`WouldBlock` when there is none): its length
    /// and, if the kernel stamped it, when it arrived (so that a late read, when this
    /// thread was not scheduled, does not shift the datagram's place in the link).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<Instant>)>;
}

/// Where a direction delivers its datagrams.
pub trait Output: Send + 'static {
    /// Sends one datagram (errors are counted, not fatal: the far end may be gone).
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
}

/// What one direction of a path did, shared with the harness.
#[derive(Debug, Default)]
pub struct DirectionCounters {
    /// Bytes delivered per [`BUCKET`] since [`Emulator::begin`].
    pub series: Mutex<Vec<u64>>,
    /// The link's statistics (refreshed every 100 ms and at exit).
    pub stats: Mutex<LinkStats>,
    /// Kernel thread id of the direction's thread (for CPU accounting).
    pub tid: Mutex<Option<i32>>,
}

enum Control {
    Begin { epoch: Instant, events: Vec<Event> },
}

/// One emulated path: two directions.
pub struct EmuPath {
    /// The address a client sends to (the relay's front socket, or the server itself for
    /// a `direct` path).
    pub front: SocketAddr,
    /// Client → server direction.
    pub up: Arc<DirectionCounters>,
    /// Server → client direction.
    pub down: Arc<DirectionCounters>,
    controls: Vec<Sender<Control>>,
}

/// A set of emulated paths with their threads; dropping it stops them.
pub struct Emulator {
    /// The paths, in the order they were given.
    pub paths: Vec<EmuPath>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    _latency: LowLatency,
}

/// While alive, asks the kernel to keep CPUs out of deep idle states
/// (`/dev/cpu_dma_latency` = 0, as `cyclictest` and tuned's latency profiles do), so that
/// a sleeping emulator or endpoint thread wakes on time. Without it, on this project's VM
/// (cpuidle-haltpoll) a 200 µs sleep overshot by up to 4-10 ms; with it, by at most
/// 0.13 ms. Needs root; without the privilege it does nothing.
pub struct LowLatency(#[allow(dead_code)] Option<std::fs::File>);

impl LowLatency {
    /// Requests low wake-up latency until the value is dropped.
    pub fn request() -> LowLatency {
        use std::io::Write;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/cpu_dma_latency")
            .and_then(|mut f| f.write_all(&0i32.to_ne_bytes()).map(|()| f));
        LowLatency(f.ok())
    }
}

struct UdpIn {
    sock: mio::net::UdpSocket,
    learned: Option<Arc<Mutex<Option<SocketAddr>>>>,
}

impl Input for UdpIn {
    fn register(&mut self, poll: &Poll, token: Token) -> io::Result<()> {
        poll.registry()
            .register(&mut self.sock, token, Interest::READABLE)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<Instant>)> {
        let (n, from, at) = recv_stamped(&self.sock, buf)?;
        if let Some(l) = &self.learned {
            let mut g = l.lock().unwrap_or_else(|e| e.into_inner());
            if *g != Some(from) {
                *g = Some(from);
            }
        }
        Ok((n, at))
    }
}

struct UdpOut {
    sock: UdpSocket,
    fixed: Option<SocketAddr>,
    learned: Option<Arc<Mutex<Option<SocketAddr>>>>,
}

impl Output for UdpOut {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let to = match (self.fixed, &self.learned) {
            (Some(a), _) => a,
            (None, Some(l)) => match *l.lock().unwrap_or_else(|e| e.into_inner()) {
                Some(a) => a,
                None => return Ok(()),
            },
            (None, None) => return Ok(()),
        };
        self.sock.send_to(datagram, to).map(drop)
    }
}

/// Receives one datagram with its kernel receive timestamp (`SO_TIMESTAMPNS`, wall
/// clock), converted to an `Instant`.
#[cfg(target_os = "linux")]
fn recv_stamped(
    sock: &mio::net::UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Instant>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg};
    use std::os::fd::AsRawFd;
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let from = msg
        .address
        .map(|a| SocketAddr::from(std::net::SocketAddrV4::from(a)))
        .ok_or(io::ErrorKind::InvalidData)?;
    let mut at = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                let stamped = std::time::UNIX_EPOCH
                    + Duration::new(
                        ts.tv_sec().max(0) as u64,
                        ts.tv_nsec().clamp(0, 999_999_999) as u32,
                    );
                let (now_i, now_s) = (Instant::now(), std::time::SystemTime::now());
                at = now_s
                    .duration_since(stamped)
                    .ok()
                    .filter(|age| *age < Duration::from_secs(1))
                    .and_then(|age| now_i.checked_sub(age));
            }
        }
    }
    Ok((msg.bytes, from, at))
}

#[cfg(not(target_os = "linux"))]
fn recv_stamped(
    sock: &mio::net::UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Instant>)> {
    let (n, from) = sock.recv_from(buf)?;
    Ok((n, from, None))
}

/// A UDP socket on 127.0.0.1 with 4 MiB buffers, so that bursts are shaped by the
/// emulator's queue and not lost in the kernel.
fn relay_socket() -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        // Beyond net.core.rmem_max when allowed (root); the kernel's receive timestamps.
        let _ = setsockopt(&s, sockopt::RcvBufForce, &(4 << 20));
        let _ = setsockopt(&s, sockopt::ReceiveTimestampns, &true);
    }
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    Ok(s.into())
}

impl Emulator {
    /// Starts one UDP relay per non-`direct` path, forwarding to `server`. A `direct`
    /// path's front address is `server` itself.
    pub fn udp(paths: &[PathSpec], server: SocketAddr, seed: u64) -> io::Result<Emulator> {
        let mut emu = Emulator::empty();
        for (i, spec) in paths.iter().enumerate() {
            if spec.direct {
                emu.paths.push(EmuPath {
                    front: server,
                    up: Arc::default(),
                    down: Arc::default(),
                    controls: Vec::new(),
                });
                continue;
            }
            let front = relay_socket()?;
            let back = relay_socket()?;
            let front_addr = front.local_addr()?;
            let client = Arc::new(Mutex::new(None));
            front.set_nonblocking(true)?;
            back.set_nonblocking(true)?;
            let up_in = UdpIn {
                sock: mio::net::UdpSocket::from_std(front.try_clone()?),
                learned: Some(client.clone()),
            };
            let up_out = UdpOut {
                sock: back.try_clone()?,
                fixed: Some(server),
                learned: None,
            };
            let down_in = UdpIn {
                sock: mio::net::UdpSocket::from_std(back),
                learned: None,
            };
            let down_out = UdpOut {
                sock: front,
                fixed: None,
                learned: Some(client),
            };
            emu.add_path(
                i,
                spec,
                front_addr,
                (up_in, up_out),
                (down_in, down_out),
                (seed, UDP_HEADERS),
            )?;
        }
        Ok(emu)
    }

    /// An emulator with no paths yet (see [`Emulator::add_path`]).
    pub fn empty() -> Emulator {
        Emulator {
            paths: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            _latency: LowLatency::request(),
        }
    }

    /// Adds path number `index` with its two directions and starts their threads.
    /// `(seed, header_bytes)`: the seed of the link's randomness, and what the bottleneck
    /// charges per datagram beyond its length ([`UDP_HEADERS`] for a UDP relay, 0 for
    /// whole IP packets from a TUN device).
    pub fn add_path(
        &mut self,
        index: usize,
        spec: &PathSpec,
        front: SocketAddr,
        up: (impl Input, impl Output),
        down: (impl Input, impl Output),
        (seed, header_bytes): (u64, usize),
    ) -> io::Result<()> {
        let up_c = Arc::new(DirectionCounters::default());
        let down_c = Arc::new(DirectionCounters::default());
        let mut controls = Vec::new();
        for (dir, (input, output), counters, salt) in [
            ("up", erase(up), up_c.clone(), 1u64),
            ("down", erase(down), down_c.clone(), 2u64),
        ] {
            let (tx, rx) = crossbeam_channel::unbounded();
            controls.push(tx);
            let mut config = spec.link_config();
            config.header_bytes = header_bytes;
            let link = Link::new(config, seed ^ (index as u64) << 8 ^ salt, Instant::now());
            let stop = self.stop.clone();
            let t = std::thread::Builder::new()
                .name(format!("emu-p{index}-{dir}"))
                .spawn(move || {
                    *counters.tid.lock().unwrap_or_else(|e| e.into_inner()) = Some(current_tid());
                    if let Err(e) = run_direction(link, input, output, rx, &stop, &counters) {
                        eprintln!("netchan-bench: emulator path {index} {dir} stopped: {e}");
                    }
                })?;
            self.threads.push(t);
        }
        self.paths.push(EmuPath {
            front,
            up: up_c,
            down: down_c,
            controls,
        });
        Ok(())
    }

    /// Starts the clock of the workload: the throughput series count from `epoch`, and
    /// the events (times relative to `epoch`) are scheduled on their paths.
    pub fn begin(&self, epoch: Instant, events: &[Event]) {
        for (i, p) in self.paths.iter().enumerate() {
            let mine: Vec<Event> = events.iter().filter(|e| e.path == i).cloned().collect();
            for c in &p.controls {
                let _ = c.send(Control::Begin {
                    epoch,
                    events: mine.clone(),
                });
            }
        }
    }

    /// CPU time (ns) the emulator's threads have used so far.
    pub fn cpu_ns(&self) -> u64 {
        self.paths
            .iter()
            .flat_map(|p| [&p.up, &p.down])
            .filter_map(|c| *c.tid.lock().unwrap_or_else(|e| e.into_inner()))
            .map(thread_cpu_ns)
            .sum()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn erase((i, o): (impl Input, impl Output)) -> (Box<dyn Input>, Box<dyn Output>) {
    (Box::new(i), Box::new(o))
}

impl Input for Box<dyn Input> {
    fn register(&mut self, poll: &Poll, token: Token) -> io::Result<()> {
        (**self).register(poll, token)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<Instant>)> {
        (**self).recv(buf)
    }
}

impl Output for Box<dyn Output> {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        (**self).send(datagram)
    }
}

/// The kernel id of the calling thread.
pub fn current_tid() -> i32 {
    #[cfg(target_os = "linux")]
    {
        nix::unistd::gettid().as_raw()
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// CPU time (ns) of thread `tid` of this process, from `/proc/self/task/TID/schedstat`
/// (0 if unavailable).
pub fn thread_cpu_ns(tid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

/// A scheduled change of the link configuration.
struct Pending {
    at: Instant,
    kind: EventKind,
}

fn apply(link: &mut Link, kind: &EventKind) {
    let mut c = link.config().clone();
    match *kind {
        EventKind::Loss(l) => c.loss = l,
        EventKind::Rate(r) => c.rate_bps = Some(r),
        EventKind::Delay(d) => c.latency = d,
        EventKind::Blackhole { .. } => {}
    }
    link.set_config(c);
}

fn run_direction(
    mut link: Link,
    mut input: Box<dyn Input>,
    mut output: Box<dyn Output>,
    control: Receiver<Control>,
    stop: &AtomicBool,
    counters: &DirectionCounters,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(8);
    input.register(&poll, Token(0))?;
    let mut buf = vec![0u8; 65_536];
    let mut epoch: Option<Instant> = None;
    let mut pending: Vec<Pending> = Vec::new();
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(Control::Begin { epoch: e, events }) = control.try_recv() {
            epoch = Some(e);
            let mut c = link.config().clone();
            let offset = e.saturating_duration_since(link.epoch());
            for ev in events {
                match ev.kind {
                    EventKind::Blackhole { end } => {
                        c.blackholes.push((offset + ev.at, offset + end))
                    }
                    kind => pending.push(Pending {
                        at: e + ev.at,
                        kind,
                    }),
                }
            }
            link.set_config(c);
        }
        let now = Instant::now();
        pending.retain(|p| {
            if p.at <= now {
                apply(&mut link, &p.kind);
                false
            } else {
                true
            }
        });
        while let Some(d) = link.poll_deliver(now) {
            let _ = output.send(&d);
            if let Some(e) = epoch {
                let b = (now.saturating_duration_since(e).as_nanos() / BUCKET.as_nanos()) as usize;
                if b < MAX_BUCKETS {
                    let mut s = counters.series.lock().unwrap_or_else(|e| e.into_inner());
                    if s.len() <= b {
                        s.resize(b + 1, 0);
                    }
                    s[b] += d.len() as u64;
                }
            }
        }
        // Read what is waiting (bounded per round so deliveries are not starved).
        let mut got = 0;
        while got < 512 {
            match input.recv(&mut buf) {
                Ok((n, at)) => {
                    let now = Instant::now();
                    // A kernel timestamp from the future (clock step) is not trusted.
                    link.send(at.filter(|&t| t <= now).unwrap_or(now), buf[..n].to_vec());
                    got += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable) surface on UDP reads: skip them.
                Err(_) => {
                    got += 1;
                }
            }
        }
        if now.duration_since(last_stats) >= Duration::from_millis(100) {
            *counters.stats.lock().unwrap_or_else(|e| e.into_inner()) = link.stats().clone();
            last_stats = now;
        }
        if got > 0 {
            continue;
        }
        let mut next = now + Duration::from_millis(20);
        if let Some(d) = link.next_delivery() {
            next = next.min(d);
        }
        if let Some(p) = pending.iter().map(|p| p.at).min() {
            next = next.min(p);
        }
        let wait = next.saturating_duration_since(Instant::now());
        if wait >= Duration::from_millis(2) {
            // epoll rounds up to whole milliseconds: wake a millisecond early.
            poll.poll(&mut events, Some(wait - Duration::from_millis(1)))?;
        } else if !wait.is_zero() {
            std::thread::sleep(wait.min(Duration::from_micros(200)));
        }
    }
    *counters.stats.lock().unwrap_or_else(|e| e.into_inner()) = link.stats().clone();
    Ok(())
}
