//! The TCP baseline's path: kernel TCP between two network namespaces joined by TUN
//! devices, with the emulator forwarding IP packets between the devices.
//!
//! ```text
//!  namespace A                      this process                     namespace B
//!  TCP client ── nb0 10.77.0.1 ──▶ emulator (up)   ──▶ nb0 10.77.0.2 ── TCP listener
//!                              ◀── emulator (down) ◀──
//! ```
//!
//! Each namespace is created by a short-lived thread (`unshare(CLONE_NEWNET)`), which
//! creates the TUN device and the sockets there; sockets and devices keep their namespace
//! after the thread is gone. This needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).

use crate::emu::{Emulator, Input, Output};
use crate::spec::PathSpec;
use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;

/// Address of the client side (namespace A).
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Address of the server side (namespace B).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The listener's port.
pub const PORT: u16 = 5201;

/// An emulated path for kernel TCP.
pub struct TcpPath {
    /// Forwards packets between the namespaces (drop it last).
    pub emulator: Emulator,
    /// An unconnected TCP socket in namespace A.
    pub client: socket2::Socket,
    /// Listening on [`SERVER_IP`]:[`PORT`] in namespace B.
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
                "cannot create a network namespace ({e}): the TCP baseline over an emulated \
                 path needs root; rerun as root, or use a `direct` path or --transport netchan"
            ))
        })?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("namespace setup thread panicked"))?
}

fn tun_device(local: Ipv4Addr, peer: Ipv4Addr) -> io::Result<Arc<tun::Device>> {
    let mut c = tun::Configuration::default();
    c.tun_name("nb0")
        .address(local)
        .destination(peer)
        .netmask(Ipv4Addr::new(255, 255, 255, 255))
        .mtu(1500)
        .up();
    let dev = tun::create(&c).map_err(|e| io::Error::other(format!("TUN device: {e}")))?;
    dev.set_nonblock()?;
    Ok(Arc::new(dev))
}

/// Builds the two namespaces, their TUN devices and the emulator between them.
pub fn tcp_path(spec: &PathSpec, seed: u64) -> io::Result<TcpPath> {
    let (dev_b, listener) = in_new_netns(|| {
        let dev = tun_device(SERVER_IP, CLIENT_IP)?;
        let l = TcpListener::bind(SocketAddrV4::new(SERVER_IP, PORT))?;
        Ok((dev, l))
    })?;
    let (dev_a, client, congestion) = in_new_netns(|| {
        let dev = tun_device(CLIENT_IP, SERVER_IP)?;
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        let cc = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Ok((dev, s, cc))
    })?;
    let mut emulator = Emulator::empty();
    emulator.add_path(
        0,
        spec,
        SocketAddr::from((SERVER_IP, PORT)),
        (TunIn(dev_a.clone()), TunOut(dev_b.clone())),
        (TunIn(dev_b), TunOut(dev_a)),
        seed,
    )?;
    Ok(TcpPath {
        emulator,
        client,
        listener,
        congestion,
    })
}
