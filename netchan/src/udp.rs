//! UDP send/receive with segmentation offload where the OS has it (Linux UDP GSO/GRO):
//! several equal-size datagrams to one destination leave in one `sendmsg`, and the
//! kernel may hand several received datagrams back in one `recvmsg`. Elsewhere, and
//! whenever the kernel refuses, one datagram per system call.

use mio::net::UdpSocket;
use std::io;
use std::net::SocketAddr;

/// Most segments in one GSO send (the kernel's limit is 64).
pub(crate) const MAX_SEGMENTS: usize = 64;
/// Most bytes in one GSO send.
pub(crate) const MAX_BATCH_BYTES: usize = 65_000;

/// A received chunk: `len` bytes from `from`, made of datagrams of `segment` bytes each
/// (the last may be shorter) when the kernel coalesced them.
pub(crate) struct Received {
    pub len: usize,
    pub from: SocketAddr,
    pub segment: Option<usize>,
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use nix::sys::socket::{
        ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg,
        setsockopt, sockopt,
    };
    use std::io::{IoSlice, IoSliceMut};
    use std::os::fd::AsRawFd;

    pub fn enable_gro(sock: &UdpSocket) -> bool {
        setsockopt(sock, sockopt::UdpGroSegment, &true).is_ok()
    }

    pub fn send_segments(
        sock: &UdpSocket,
        dest: SocketAddr,
        buf: &[u8],
        segment: usize,
    ) -> io::Result<()> {
        let addr = SockaddrStorage::from(dest);
        let seg = u16::try_from(segment).map_err(|_| io::ErrorKind::InvalidInput)?;
        let cmsg = [ControlMessage::UdpGsoSegments(&seg)];
        let cmsgs: &[ControlMessage<'_>] = if buf.len() > segment { &cmsg } else { &[] };
        sendmsg(
            sock.as_raw_fd(),
            &[IoSlice::new(buf)],
            cmsgs,
            MsgFlags::empty(),
            Some(&addr),
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }

    pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
        let mut cmsg = nix::cmsg_space!(i32);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        let mut segment = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::UdpGroSegments(s) = c {
                    segment = usize::try_from(s).ok().filter(|&s| s > 0);
                }
            }
        }
        let from = msg
            .address
            .and_then(|a| {
                if let Some(v4) = a.as_sockaddr_in() {
                    Some(SocketAddr::from(std::net::SocketAddrV4::from(*v4)))
                } else {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
                }
            })
            .ok_or(io::ErrorKind::InvalidData)?;
        Ok(Received {
            len: msg.bytes,
            from,
            segment,
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    pub fn enable_gro(_: &UdpSocket) -> bool {
        false
    }

    pub fn send_segments(
        sock: &UdpSocket,
        dest: SocketAddr,
        buf: &[u8],
        segment: usize,
    ) -> io::Result<()> {
        for chunk in buf.chunks(segment.max(1)) {
            sock.send_to(chunk, dest)?;
        }
        Ok(())
    }

    pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
        let (len, from) = sock.recv_from(buf)?;
        Ok(Received {
            len,
            from,
            segment: None,
        })
    }
}

pub(crate) use imp::{enable_gro, recv, send_segments};
