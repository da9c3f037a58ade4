//! The driver's sockets: one non-blocking UDP socket per local address, read into the
//! endpoint (GRO-coalesced datagrams split again) and written from its transmits (one
//! segmented GSO send per transmit, with a fallback to one datagram per call).

use crate::udp;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use netchan_transport::Endpoint;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::Instant;

/// Datagram reads per socket per loop turn before other work gets a turn.
const READ_BATCH: usize = 1024;
/// Transmits written per loop turn.
const WRITE_BATCH: usize = 1024;

/// A transmit the socket refused with WouldBlock: (socket, destination, bytes, segment).
type Parked = (usize, SocketAddr, Vec<u8>, usize);

pub(crate) struct Sockets {
    sockets: Vec<UdpSocket>,
    pub local_addrs: Vec<SocketAddr>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    parked: VecDeque<Parked>,
    /// Whether segmentation offload is used (cleared when the kernel refuses it).
    gso: bool,
    /// False while a socket said WouldBlock, until it is writable again.
    pub writable: bool,
}

impl Sockets {
    /// Registers `sockets` with tokens `0..n`.
    pub fn new(list: Vec<std::net::UdpSocket>, registry: &Registry) -> io::Result<Self> {
        let mut sockets = Vec::new();
        let mut local_addrs = Vec::new();
        for (i, s) in list.into_iter().enumerate() {
            local_addrs.push(s.local_addr()?);
            let mut s = UdpSocket::from_std(s);
            udp::enable_gro(&s);
            registry.register(&mut s, Token(i), Interest::READABLE)?;
            sockets.push(s);
        }
        Ok(Self {
            sockets,
            local_addrs,
            rbuf: vec![0; 65536],
            wbuf: Vec::with_capacity(65536),
            parked: VecDeque::new(),
            gso: true,
            writable: true,
        })
    }

    /// How many datagrams of up to `mds` bytes one transmit may carry.
    pub fn max_segments(&self, mds: u16) -> usize {
        if !self.gso {
            return 1;
        }
        let by_size = udp::MAX_BATCH_BYTES / usize::from(mds.max(1));
        udp::MAX_SEGMENTS.min(by_size).max(1)
    }

    /// The socket bound to `local`, else the first of the destination's family.
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

    /// Our local address to dial `dest` from.
    pub fn local_for(&self, dest: &SocketAddr) -> SocketAddr {
        self.local_addrs[self.socket_for(dest, dest)]
    }

    /// Reads every socket until it would block (or a batch is done) into the endpoint.
    /// Returns whether anything arrived and whether a socket may still hold datagrams.
    pub fn read(&mut self, now: Instant, ep: &mut Endpoint) -> (bool, bool) {
        let (mut any, mut more) = (false, false);
        for i in 0..self.sockets.len() {
            let local = self.local_addrs[i];
            let mut n = 0;
            loop {
                if n == READ_BATCH {
                    more = true;
                    break;
                }
                match udp::recv(&self.sockets[i], &mut self.rbuf) {
                    Ok(r) => {
                        n += 1;
                        any = true;
                        let len = r.len.min(self.rbuf.len());
                        // Coalesced by GRO: datagrams of `segment` bytes, the last
                        // possibly shorter; each is decrypted in place.
                        let seg = r.segment.unwrap_or(len).max(1);
                        for d in self.rbuf[..len].chunks_mut(seg) {
                            ep.handle_datagram(now, local, r.from, d);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // ICMP errors (port unreachable) surface here on Linux; the
                    // transport's timers deal with unreachable peers.
                    Err(_) => n += 1,
                }
            }
        }
        (any, more)
    }

    /// Sends what the endpoint has. Returns true when it stopped with more to send.
    pub fn write(&mut self, now: Instant, ep: &mut Endpoint, registry: &Registry) -> bool {
        while let Some((i, dest, bytes, seg)) = self.parked.pop_front() {
            if let Err(e) = self.send(i, dest, &bytes, seg)
                && e.kind() == ErrorKind::WouldBlock
            {
                self.parked.push_front((i, dest, bytes, seg));
                self.want_writable(i, registry);
                return true;
            }
        }
        let mut buf = std::mem::take(&mut self.wbuf);
        let mut more = true;
        for _ in 0..WRITE_BATCH {
            let Some(t) = ep.poll_transmit(now, &mut buf) else {
                more = false;
                break;
            };
            let i = self.socket_for(&t.local, &t.destination);
            let size = t.size.min(buf.len());
            let seg = t.segment_size.unwrap_or(size);
            match self.send(i, t.destination, &buf[..size], seg) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.parked
                        .push_back((i, t.destination, buf[..size].to_vec(), seg));
                    self.want_writable(i, registry);
                    break;
                }
                // Unreachable destinations and the like: the datagrams are lost, which
                // the transport recovers from like any loss.
                _ => {}
            }
        }
        self.wbuf = buf;
        if !self.gso {
            ep.set_max_segments(1);
        }
        more || !self.parked.is_empty()
    }

    fn send(&mut self, i: usize, dest: SocketAddr, data: &[u8], seg: usize) -> io::Result<()> {
        let Some(sock) = self.sockets.get(i) else {
            return Ok(());
        };
        if data.len() <= seg {
            return sock.send_to(data, dest).map(|_| ());
        }
        match udp::send_segments(sock, dest, data, seg) {
            Err(e) if e.kind() != ErrorKind::WouldBlock => {
                // The kernel or device refuses segmentation offload: stop using it.
                tracing::debug!(error = %e, "UDP segmentation offload refused; sending datagrams one by one");
                self.gso = false;
                for d in data.chunks(seg.max(1)) {
                    sock.send_to(d, dest)?;
                }
                Ok(())
            }
            r => r,
        }
    }

    fn want_writable(&mut self, i: usize, registry: &Registry) {
        self.writable = false;
        let _ = registry.reregister(
            &mut self.sockets[i],
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        );
    }
}
