//! The kernel baselines' paths: kernel TCP (or MPTCP) between two network namespaces
//! joined by one pair of TUN devices per path, with the emulator forwarding IP packets
//! between each pair.
//!
//! ```text
//!  namespace A                          this process                       namespace B
//!  client ── nb0 10.77.0.1 ──▶ emulator path 0 (up)   ──▶ nb0 10.77.0.2 ── listener
//!                          ◀── emulator path 0 (down) ◀──
//!         ── nb1 10.77.1.1 ──▶ emulator path 1 (up)   ──▶ nb1 10.77.1.2
//!                          ◀── emulator path 1 (down) ◀──
//! ```
//!
//! Path `i` joins `nb{i}` (10.77.`i`.1) in A with `nb{i}` (10.77.`i`.2) in B. Plain TCP
//! uses path 0 only. MPTCP's first subflow runs over path 0; the in-kernel path manager
//! in A gets one `subflow` endpoint per further path, bound to that path's device
//! (`ip mptcp endpoint add 10.77.i.1 dev nbi subflow`, flagged `backup` for a standby
//! path), and `ip mptcp limits` in both namespaces admit exactly those subflows: one
//! subflow per path, as Linux's own `simult_flows.sh` selftest sets it up.
//!
//! Each namespace is created by a short-lived thread (`unshare(CLONE_NEWNET)`), which
//! creates the TUN devices and the sockets there and runs `ip` (iproute2) for the path
//! manager (a child process starts in its parent thread's namespace); sockets and devices
//! keep their namespace after the thread is gone. This needs root (CAP_SYS_ADMIN and
//! CAP_NET_ADMIN).

use crate::emu::{Emulator, Input, Output};
use crate::spec::PathSpec;
use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;

/// The listener's port.
pub const PORT: u16 = 5201;
/// The most paths the namespaces are built with (`ip mptcp limits` allows 8 subflows).
pub const MAX_PATHS: usize = 8;
/// `IPPROTO_MPTCP`.
const IPPROTO_MPTCP: i32 = 262;

/// Address of the client side (namespace A) of path `i`.
pub fn client_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, i as u8, 1)
}

/// Address of the server side (namespace B) of path `i`.
pub fn server_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, i as u8, 2)
}

/// Which kernel protocol crosses the paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Plain TCP over path 0.
    Tcp,
    /// MPTCP, one subflow per path; `backup`: the subflows beyond path 0 are standby.
    Mptcp {
        /// Flag the extra endpoints `backup`.
        backup: bool,
    },
}

/// Emulated paths for a kernel baseline.
pub struct KernelPaths {
    /// Forwards packets between the namespaces (drop it last).
    pub emulator: Emulator,
    /// An unconnected TCP (or MPTCP) socket in namespace A.
    pub client: socket2::Socket,
    /// Listening on path 0's [`server_ip`]:[`PORT`] in namespace B.
    pub listener: TcpListener,
    /// The kernel's congestion controller in namespace A (e.g. `cubic`).
    pub congestion: String,
}

struct TunIn(Arc<tun::Device>);
struct TunOut(Arc<tun::Device>);

impl Input for TunIn {
    fn register(&mut self, poll: &Poll, token: Token) -> io::Result<()> {
        let fd = self.0.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<std::time::Instant>)> {
        self.0.recv(buf).map(|n| (n, None))
    }
}

impl Output for TunOut {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.0.send(datagram).map(drop)
    }
}

/// Runs `f` on a fresh thread inside a new network namespace.
fn in_new_netns<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            io::Error::other(format!(
                "cannot create a network namespace ({e}): the kernel TCP/MPTCP baselines \
                 over emulated paths need root; rerun as root, or use a `direct` path or \
                 --transport netchan"
            ))
        })?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("namespace setup thread panicked"))?
}

fn tun_device(name: &str, local: Ipv4Addr, peer: Ipv4Addr) -> io::Result<Arc<tun::Device>> {
    let mut c = tun::Configuration::default();
    c.tun_name(name)
        .address(local)
        .destination(peer)
        .netmask(Ipv4Addr::new(255, 255, 255, 255))
        .mtu(1500)
        .up();
    let dev = tun::create(&c).map_err(|e| io::Error::other(format!("TUN device: {e}")))?;
    dev.set_nonblock()?;
    Ok(Arc::new(dev))
}

/// One TUN device per path in the calling thread's namespace (`side`: 1 = A, 2 = B),
/// IPv4 only (no IPv6 router solicitations on the emulated paths).
fn devices(n: usize, side: u8) -> io::Result<Vec<Arc<tun::Device>>> {
    // /proc/sys/net is the calling thread's namespace's.
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    (0..n)
        .map(|i| {
            let (local, peer) = match side {
                1 => (client_ip(i), server_ip(i)),
                _ => (server_ip(i), client_ip(i)),
            };
            tun_device(&format!("nb{i}"), local, peer)
        })
        .collect()
}

/// Runs `ip ARGS` (iproute2) in the calling thread's namespace.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        io::Error::other(format!(
            "running `ip {}`: {e} (the MPTCP baseline needs iproute2's `ip`)",
            args.join(" ")
        ))
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// The in-kernel path manager's limits: `subflows` extra subflows, no ADD_ADDR.
fn mptcp_limits(subflows: usize) -> io::Result<()> {
    ip(&[
        "mptcp",
        "limits",
        "set",
        "subflows",
        &subflows.to_string(),
        "add_addr_accepted",
        "0",
    ])
}

fn stream_socket(kernel: Kernel) -> io::Result<socket2::Socket> {
    let protocol = match kernel {
        Kernel::Tcp => None,
        Kernel::Mptcp { .. } => Some(socket2::Protocol::from(IPPROTO_MPTCP)),
    };
    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, protocol).map_err(|e| {
        match kernel {
            Kernel::Mptcp { .. } => io::Error::other(format!(
                "MPTCP socket: {e} (is net.mptcp.enabled = 1 and the kernel built with MPTCP?)"
            )),
            Kernel::Tcp => e,
        }
    })
}

/// Namespace B: the devices, the path manager's limits and the listener.
fn server_side(n: usize, kernel: Kernel) -> io::Result<(Vec<Arc<tun::Device>>, TcpListener)> {
    let devs = devices(n, 2)?;
    if matches!(kernel, Kernel::Mptcp { .. }) {
        mptcp_limits(n - 1)?;
    }
    let l = stream_socket(kernel)?;
    l.set_reuse_address(true)?;
    l.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT).into())?;
    l.listen(16)?;
    Ok((devs, l.into()))
}

/// Namespace A: the devices, one subflow endpoint per extra path and the client socket.
fn client_side(
    n: usize,
    kernel: Kernel,
) -> io::Result<(Vec<Arc<tun::Device>>, socket2::Socket, String)> {
    let devs = devices(n, 1)?;
    if let Kernel::Mptcp { backup } = kernel {
        mptcp_limits(n - 1)?;
        for i in 1..n {
            let (addr, dev) = (client_ip(i).to_string(), format!("nb{i}"));
            let mut args = vec!["mptcp", "endpoint", "add", &addr, "dev", &dev, "subflow"];
            if backup {
                args.push("backup");
            }
            ip(&args)?;
        }
    }
    let s = stream_socket(kernel)?;
    let cc = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Ok((devs, s, cc))
}

/// Builds the two namespaces, one TUN pair per path and the emulator between them.
/// Plain TCP uses the first path only.
pub fn kernel_paths(specs: &[PathSpec], seed: u64, kernel: Kernel) -> io::Result<KernelPaths> {
    let n = match kernel {
        Kernel::Tcp => 1,
        Kernel::Mptcp { .. } => specs.len(),
    };
    if n == 0 || n > MAX_PATHS {
        return Err(io::Error::other(format!(
            "the kernel baselines run over 1 to {MAX_PATHS} paths, not {n}"
        )));
    }
    let (devs_b, listener) = in_new_netns(move || server_side(n, kernel))?;
    let (devs_a, client, congestion) = in_new_netns(move || client_side(n, kernel))?;
    let mut emulator = Emulator::empty();
    for (i, (a, b)) in devs_a.into_iter().zip(devs_b).enumerate() {
        emulator.add_path(
            i,
            &specs[i],
            SocketAddr::from((server_ip(i), PORT)),
            (TunIn(a.clone()), TunOut(b.clone())),
            (TunIn(b), TunOut(a)),
            (seed, 0),
        )?;
    }
    Ok(KernelPaths {
        emulator,
        client,
        listener,
        congestion,
    })
}
