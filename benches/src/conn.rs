//! Connections under test: a pair of message pipes (client → server and server → client)
//! over netchan, kernel TCP or kernel MPTCP, all through the emulator.

use crate::emu::Emulator;
use crate::netns::Kernel;
use crate::spec::PathSpec;
use netchan::{
    CongestionControl, Node, NodeConfig, PathMode, PeerStats, RecvTimeoutError, SendTimeoutError,
};
use serde_bytes::ByteBuf;
use std::any::Any;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Sends messages; blocks while the transport pushes back.
pub trait MsgSend: Send {
    /// Sends one message. Fails when the connection is gone or the run is stopping.
    fn send(&mut self, msg: Vec<u8>) -> Result<(), String>;
}

/// Receives messages.
pub trait MsgRecv: Send {
    /// The next message, `Ok(None)` after `timeout` without one.
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String>;
}

/// The sending and the receiving end of one direction.
pub type Pipe = (Box<dyn MsgSend>, Box<dyn MsgRecv>);

/// Which transport carries the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// netchan channels (`Sender<ByteBuf>` / `Receiver<ByteBuf>`).
    Netchan,
    /// Kernel TCP, length-prefixed messages, `TCP_NODELAY`, over the first path.
    Tcp,
    /// Kernel MPTCP (the in-kernel path manager and default scheduler), one subflow per
    /// path, otherwise as [`Transport::Tcp`].
    Mptcp,
}

impl Transport {
    /// `netchan` or `tcp`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Netchan => "netchan",
            Transport::Tcp => "tcp",
            Transport::Mptcp => "mptcp",
        }
    }

    /// The transport `name` names (`netchan`, `tcp`, `mptcp`).
    pub fn parse(name: &str) -> Option<Transport> {
        [Transport::Netchan, Transport::Tcp, Transport::Mptcp]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// A connection under test.
pub struct Conn {
    /// Client → server pipe (taken by the workload).
    pub up: Option<Pipe>,
    /// Server → client pipe (taken by the workload).
    pub down: Option<Pipe>,
    /// The emulator (`None` for TCP on a direct path).
    pub emulator: Option<Emulator>,
    /// What the transport is, in words (e.g. `kernel TCP (cubic)`).
    pub description: String,
    /// The congestion controller (netchan's, or the kernel's for TCP).
    pub controller: String,
    /// netchan: the client's and the server's view of each other (transport statistics).
    pub peers: Option<(netchan::Peer, netchan::Peer)>,
    stop: Arc<AtomicBool>,
    tcp: Vec<TcpStream>,
    keep: Keep,
}

impl Conn {
    /// Makes every blocked `send`/`recv` return an error soon.
    pub fn abort(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in &self.tcp {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.abort();
        // Nodes first (they close their connections through the emulator), then the emulator.
        self.keep.clear();
        self.emulator.take();
    }
}

/// Connects a client and a server over `paths` (netchan: one relay per path).
/// `size` is the message size: netchan's channel capacity (network-wide, in messages) is
/// 4 MiB worth of messages (between 4 and 8192), well over the bandwidth-delay product of
/// the paths the suite uses, and comparable to what TCP's autotuned buffers hold.
/// `cc` selects the congestion controller (TCP: the kernel's of the same name, `reno`
/// for NewReno); `None` keeps each transport's default.
pub fn connect(
    transport: Transport,
    paths: &[PathSpec],
    size: usize,
    seed: u64,
    (cc, mode): (Option<CongestionControl>, Option<PathMode>),
) -> io::Result<Conn> {
    match transport {
        Transport::Netchan => {
            let cap = (4 << 20) / size.max(1);
            netchan_conn(paths, cap.clamp(4, 8192) as u32, seed, (cc, mode))
        }
        Transport::Tcp => tcp_conn(paths, seed, cc.map(kernel_cc), Kernel::Tcp),
        Transport::Mptcp => {
            let backup = mode == Some(PathMode::Backup);
            tcp_conn(paths, seed, cc.map(kernel_cc), Kernel::Mptcp { backup })
        }
    }
}

/// The kernel's name for a controller.
fn kernel_cc(cc: CongestionControl) -> &'static str {
    match cc {
        CongestionControl::NewReno => "reno",
        other => other.name(),
    }
}

/// One direction's transport figures (netchan only), as the sending node sees them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SenderStats {
    /// Smoothed RTT, ms.
    pub srtt_ms: f64,
    /// Smallest RTT seen, ms.
    pub min_rtt_ms: f64,
    /// Congestion window, bytes.
    pub cwnd_bytes: u64,
    /// Bandwidth estimate, Mbit/s (BBR's model, else the latest delivery rate).
    pub bandwidth_mbps: f64,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Packets declared lost.
    pub declared_lost: u64,
    /// Of those, acknowledged later (spurious).
    pub spurious_losses: u64,
}

impl From<&PeerStats> for SenderStats {
    fn from(s: &PeerStats) -> Self {
        SenderStats {
            srtt_ms: s.rtt.as_secs_f64() * 1e3,
            min_rtt_ms: s.min_rtt.as_secs_f64() * 1e3,
            cwnd_bytes: s.cwnd,
            bandwidth_mbps: s.bandwidth * 8.0 / 1e6,
            packets_sent: s.packets_sent,
            declared_lost: s.packets_lost,
            spurious_losses: s.spurious_losses,
        }
    }
}

impl Conn {
    /// netchan's transport figures now: (client → server, server → client).
    pub fn sender_stats(&self) -> Option<(SenderStats, SenderStats)> {
        let (c, s) = self.peers.as_ref()?;
        Some(((&c.stats()?).into(), (&s.stats()?).into()))
    }
}

struct NcSend {
    tx: netchan::Sender<ByteBuf>,
    stop: Arc<AtomicBool>,
}

impl MsgSend for NcSend {
    fn send(&mut self, msg: Vec<u8>) -> Result<(), String> {
        let mut v = ByteBuf::from(msg);
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err("stopped".into());
            }
            match self.tx.send_timeout(v, Duration::from_millis(50)) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(back)) => v = back,
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

struct NcRecv(netchan::Receiver<ByteBuf>);

impl MsgRecv for NcRecv {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        match self.0.recv_timeout(timeout) {
            Ok(b) => Ok(Some(b.into_vec())),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn node(cc: CongestionControl, mode: Option<PathMode>) -> io::Result<Node> {
    let mut config = NodeConfig::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .congestion(cc);
    if let Some(mode) = mode {
        config = config.multipath(mode);
    }
    Node::new(config).map_err(|e| io::Error::other(e.to_string()))
}

fn netchan_conn(
    paths: &[PathSpec],
    capacity: u32,
    seed: u64,
    (cc, mode): (Option<CongestionControl>, Option<PathMode>),
) -> io::Result<Conn> {
    let cc = cc.unwrap_or(NodeConfig::new().transport.recovery.congestion);
    let server = node(cc, mode)?;
    let client = node(cc, mode)?;
    let emulator = Emulator::udp(paths, server.local_addr(), seed)?;
    // Multipath: every path's front address is one of the server's addresses to the
    // client, which opens a path to each.
    let fronts: Vec<String> = match mode {
        Some(_) => emulator.paths.iter().map(|p| p.front.to_string()).collect(),
        None => vec![emulator.paths[0].front.to_string()],
    };
    let peer = client
        .dial(&format!("{}@{}", server.public_key(), fronts.join(",")))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let back = server.peer(client.public_key());
    let other = |e: netchan::Error| io::Error::other(e.to_string());
    let (up_tx, down_rx) = peer.channel::<ByteBuf>("up", capacity).map_err(other)?;
    let (down_tx, up_rx) = back.channel::<ByteBuf>("up", capacity).map_err(other)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut conn = Conn {
        up: Some((
            Box::new(NcSend {
                tx: up_tx,
                stop: stop.clone(),
            }),
            Box::new(NcRecv(up_rx)),
        )),
        down: Some((
            Box::new(NcSend {
                tx: down_tx,
                stop: stop.clone(),
            }),
            Box::new(NcRecv(down_rx)),
        )),
        emulator: Some(emulator),
        description: format!("netchan ({}, Noise IK + ChaCha20-Poly1305)", cc.name()),
        controller: cc.name().into(),
        peers: Some((peer, back)),
        stop,
        tcp: Vec::new(),
        keep: vec![Box::new(client), Box::new(server)],
    };
    // Open both directions before the clock starts (handshake + channel open).
    handshake(&mut conn)?;
    Ok(conn)
}

/// One message each way so that connection and channels are open before measuring.
fn handshake(conn: &mut Conn) -> io::Result<()> {
    let deadline = Duration::from_secs(10);
    let (Some(up), Some(down)) = (conn.up.as_mut(), conn.down.as_mut()) else {
        return Err(io::Error::other("pipes already taken"));
    };
    up.0.send(vec![0; 16]).map_err(io::Error::other)?;
    match up.1.recv(deadline) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(io::Error::other("no message within 10 s of connecting")),
        Err(e) => return Err(io::Error::other(e)),
    }
    down.0.send(vec![0; 16]).map_err(io::Error::other)?;
    match down.1.recv(deadline) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(io::Error::other("no reply within 10 s of connecting")),
        Err(e) => Err(io::Error::other(e)),
    }
}

/// Largest message the TCP baseline accepts (netchan's default limit).
const TCP_MAX_MESSAGE: usize = 16 << 20;

struct TcpSend {
    s: TcpStream,
    /// Length prefix + message, written with one call so that `TCP_NODELAY` sends one
    /// segment per small message, not two.
    frame: Vec<u8>,
}

impl MsgSend for TcpSend {
    fn send(&mut self, msg: Vec<u8>) -> Result<(), String> {
        if msg.len() > TCP_MAX_MESSAGE {
            return Err("message too large".into());
        }
        self.frame.clear();
        self.frame
            .extend_from_slice(&(msg.len() as u32).to_le_bytes());
        self.frame.extend_from_slice(&msg);
        self.s.write_all(&self.frame).map_err(|e| e.to_string())
    }
}

struct TcpRecv {
    s: TcpStream,
    /// Received bytes; `buf[start..]` is not consumed yet.
    buf: Vec<u8>,
    start: usize,
    chunk: Vec<u8>,
}

impl TcpRecv {
    fn new(s: TcpStream) -> Self {
        TcpRecv {
            s,
            buf: Vec::new(),
            start: 0,
            chunk: vec![0; 256 * 1024],
        }
    }

    /// A complete message at the front of the unconsumed bytes, if there is one.
    fn take(&mut self) -> Result<Option<Vec<u8>>, String> {
        let rest = &self.buf[self.start..];
        let Some(prefix) = rest.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len > TCP_MAX_MESSAGE {
            return Err(format!("message of {len} bytes announced"));
        }
        if rest.len() < 4 + len {
            return Ok(None);
        }
        let msg = rest[4..4 + len].to_vec();
        self.start += 4 + len;
        Ok(Some(msg))
    }

    /// Appends received bytes, first dropping what was consumed.
    fn append(&mut self, n: usize) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(&self.chunk[..n]);
    }
}

impl MsgRecv for TcpRecv {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.take()? {
                return Ok(Some(m));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.s
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            match self.s.read(&mut self.chunk) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => self.append(n),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// The kernel's side of a connection: client and server sockets, the emulator (none on
/// loopback), the description and the controller.
type KernelEnds = (TcpStream, TcpStream, Option<Emulator>, String, String);

/// What the kernel baseline keeps open besides the sockets: MPTCP's listener must outlive
/// `accept`, because every further subflow joins through it.
type Keep = Vec<Box<dyn Any + Send>>;

fn tcp_conn(paths: &[PathSpec], seed: u64, cc: Option<&str>, kernel: Kernel) -> io::Result<Conn> {
    let mut keep: Keep = Vec::new();
    let (client, server, emulator, description, controller) = if paths[0].direct {
        loopback_tcp(cc)?
    } else {
        emulated_kernel(paths, seed, cc, kernel, &mut keep)?
    };
    if let Some(cc) = cc {
        // Both directions carry data: the server's socket uses the same controller.
        socket2::SockRef::from(&server)
            .set_tcp_congestion(cc.as_bytes())
            .map_err(|e| io::Error::other(format!("TCP congestion control `{cc}`: {e}")))?;
    }
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let mut conn = Conn {
        up: Some((
            Box::new(TcpSend {
                s: client.try_clone()?,
                frame: Vec::new(),
            }),
            Box::new(TcpRecv::new(server.try_clone()?)),
        )),
        down: Some((
            Box::new(TcpSend {
                s: server.try_clone()?,
                frame: Vec::new(),
            }),
            Box::new(TcpRecv::new(client.try_clone()?)),
        )),
        emulator,
        description,
        controller,
        peers: None,
        stop: Arc::new(AtomicBool::new(false)),
        tcp: vec![client, server],
        keep,
    };
    handshake(&mut conn)?;
    if let (Kernel::Mptcp { .. }, Some(e)) = (kernel, conn.emulator.as_ref()) {
        wait_for_subflows(e)?;
    }
    Ok(conn)
}

fn loopback_tcp(cc: Option<&str>) -> io::Result<KernelEnds> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let controller = set_congestion(&c, cc)?;
    c.connect(&l.local_addr()?.into())?;
    let (s, _) = l.accept()?;
    let desc = format!("kernel TCP ({controller}) over loopback");
    Ok((TcpStream::from(c), s, None, desc, controller))
}

fn emulated_kernel(
    paths: &[PathSpec],
    seed: u64,
    cc: Option<&str>,
    kernel: Kernel,
    keep: &mut Keep,
) -> io::Result<KernelEnds> {
    let p = crate::netns::kernel_paths(paths, seed, kernel)?;
    let controller = set_congestion(&p.client, cc)?;
    let addr = SocketAddr::from((crate::netns::server_ip(0), crate::netns::PORT));
    p.client
        .connect_timeout(&addr.into(), Duration::from_secs(10))?;
    let (s, _) = p.listener.accept()?;
    keep.push(Box::new(p.listener));
    let desc = match kernel {
        Kernel::Tcp => format!("kernel TCP ({controller}) through TUN + emulator"),
        Kernel::Mptcp { backup } => format!(
            "kernel MPTCP ({controller}, {} subflows{}) through TUN + emulator",
            paths.len(),
            if backup { ", extra ones backup" } else { "" }
        ),
    };
    Ok((
        TcpStream::from(p.client),
        s,
        Some(p.emulator),
        desc,
        controller,
    ))
}

/// Waits until every path beyond the first has carried a subflow's handshake (SYN and
/// third ACK up, SYN-ACK and the join's ACK down; the namespaces' devices carry no IPv6,
/// so nothing else crosses an idle path), so a run never measures MPTCP with fewer
/// subflows than paths without saying so.
fn wait_for_subflows(emulator: &Emulator) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let crossed = |c: &crate::emu::DirectionCounters| {
        c.stats.lock().unwrap_or_else(|e| e.into_inner()).delivered
    };
    for (i, p) in emulator.paths.iter().enumerate().skip(1) {
        while crossed(&p.up) < 2 || crossed(&p.down) < 2 {
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "MPTCP opened no subflow over path {i} within 5 s (see `ip mptcp \
                     endpoint` / `limits` in crate::netns)"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Selects the kernel's congestion controller of a TCP socket (`None`: the namespace's
/// default); returns the controller in force.
fn set_congestion(s: &socket2::Socket, cc: Option<&str>) -> io::Result<String> {
    if let Some(cc) = cc {
        s.set_tcp_congestion(cc.as_bytes()).map_err(|e| {
            io::Error::other(format!(
                "TCP congestion control `{cc}`: {e} (is the kernel module loaded? see \
                 /proc/sys/net/ipv4/tcp_available_congestion_control)"
            ))
        })?;
    }
    let name = s.tcp_congestion()?;
    Ok(String::from_utf8_lossy(&name)
        .trim_end_matches('\0')
        .to_string())
}
