//! Parity (RAID-5-like): loss repair without a round trip.
//!
//! Sender: every chunk a channel in [`PathMode::Parity`] (or [`PathMode::Hedged`], if the
//! selector wants parity there too) sends joins the channel's open parity group; after as many chunks as the selector asked for
//! ([`PathSelector::parity_group`]), or when the group is older than a quarter of the
//! fastest path's minimum RTT as the next chunk joins, the XOR of its chunks goes out as a
//! CHANNEL_PARITY frame on the path the selector picks ([`PathSelector::parity_path`]),
//! ahead of data when that path has room; it is never retransmitted.
//!
//! Receiver: once a channel has carried a CHANNEL_PARITY frame, its CHANNEL_DATA chunks
//! are kept in a small ring (bounded in entries and bytes). A parity frame whose members
//! are all in the ring but one, which has not arrived, rebuilds that one (XOR) and feeds
//! it to the channel as if it had arrived; one that lacks two or more waits (a few are
//! kept) and is tried again as members arrive.

use super::recv::FrameOutcome;
use super::*;
use crate::path::PathMode;
use crate::wire::{Frame, MAX_PARITY_MEMBERS, ParityFrame};

/// Finished parity frames a path holds for sending (the oldest are dropped).
const MAX_PARITY_OUT: usize = 16;
/// Chunks the receive ring keeps, and their bytes.
const RING_ENTRIES: usize = 64;
const RING_BYTES: usize = 128 << 10;
/// Parity frames kept waiting for members.
const MAX_WAITING: usize = 8;

/// A channel's open parity group (sender).
#[derive(Debug, Default)]
pub(crate) struct ParityGroup {
    /// Chunks after which the group is finished.
    size: usize,
    started: Option<Instant>,
    members: Vec<(u64, u64)>,
    /// The path each member went on.
    paths: Vec<u64>,
    xor: Vec<u8>,
}

/// A parity frame's content, owned (to send, or waiting for members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedParity {
    channel: u64,
    members: Vec<(u64, u64)>,
    xor: Vec<u8>,
}

impl OwnedParity {
    fn frame(&self) -> Frame<'_> {
        Frame::ChannelParity(ParityFrame {
            channel: self.channel,
            members: self.members.clone(),
            parity: &self.xor,
        })
    }
}

/// Parity frames waiting to go out on one path.
#[derive(Debug, Default)]
pub(crate) struct ParityOut {
    queue: VecDeque<OwnedParity>,
}

impl ParityOut {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes of the parity waiting (for sizing the next packet).
    pub fn bytes(&self) -> u64 {
        self.queue.iter().map(|p| p.xor.len() as u64 + 16).sum()
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

/// The receiver's side: recent chunks of parity channels and parity frames waiting.
#[derive(Debug, Default)]
pub(crate) struct ParityRx {
    ring: VecDeque<(u64, u64, Bytes)>,
    ring_bytes: usize,
    waiting: VecDeque<OwnedParity>,
}

impl ParityRx {
    fn record(&mut self, channel: u64, offset: u64, data: &[u8]) {
        if data.is_empty() || data.len() > RING_BYTES {
            return;
        }
        self.ring
            .push_back((channel, offset, Bytes::copy_from_slice(data)));
        self.ring_bytes += data.len();
        while self.ring.len() > RING_ENTRIES || self.ring_bytes > RING_BYTES {
            let Some((_, _, b)) = self.ring.pop_front() else {
                break;
            };
            self.ring_bytes -= b.len();
        }
    }

    fn find(&self, channel: u64, (offset, len): (u64, u64)) -> Option<&Bytes> {
        self.ring
            .iter()
            .find(|(c, o, b)| *c == channel && *o == offset && b.len() as u64 == len)
            .map(|(_, _, b)| b)
    }
}

/// What a parity frame can do now.
enum Repair {
    /// Rebuild member `(offset, bytes)`.
    Rebuild(u64, Vec<u8>),
    /// Nothing to rebuild (all arrived) or nothing it could rebuild: forget it.
    Done,
    /// Two or more members missing: wait for them.
    Wait,
}

impl Connection {
    /// After a packet on path `i` carried `data` (new or repaired, not copies): the chunks
    /// of parity channels join their groups.
    pub(super) fn add_to_parity(&mut self, now: Instant, i: usize, data: &[(u64, u64, u64)]) {
        let path_id = self.paths[i].id;
        let mut chunk = Vec::new();
        for &(ch, off, len) in data {
            let Some(mode) = self
                .channels
                .get(&ch)
                .map(|c| c.mode)
                .filter(|m| matches!(m, PathMode::Parity | PathMode::Hedged))
            else {
                continue;
            };
            self.flush_stale_group(now, ch);
            if self.channels.get(&ch).is_some_and(|c| c.parity.size == 0) {
                let views = self.plain_views(now);
                let size = self.selector.parity_group(now, mode, &views).unwrap_or(0);
                let Some(c) = self.channels.get_mut(&ch) else {
                    continue;
                };
                c.parity.size = size.min(MAX_PARITY_MEMBERS);
                if c.parity.size == 0 {
                    continue; // no parity now
                }
                c.parity.started = Some(now);
            }
            let Some(c) = self.channels.get_mut(&ch) else {
                continue;
            };
            chunk.clear();
            c.send.copy_to(off, len, &mut chunk);
            let g = &mut c.parity;
            if g.xor.len() < chunk.len() {
                g.xor.resize(chunk.len(), 0);
            }
            for (x, b) in g.xor.iter_mut().zip(&chunk) {
                *x ^= b;
            }
            g.members.push((off, len));
            g.paths.push(path_id);
            if g.members.len() >= g.size {
                self.finish_group(now, ch);
            }
        }
    }

    /// Finishes channel `ch`'s group if it has waited longer than a quarter of the
    /// fastest path's minimum RTT (a trickle still gets its parity).
    fn flush_stale_group(&mut self, now: Instant, ch: u64) {
        let rtt = self
            .paths
            .iter()
            .filter(|p| p.selectable())
            .map(|p| p.recovery.rtt().min())
            .min()
            .unwrap_or_default();
        let stale = self.channels.get(&ch).is_some_and(|c| {
            !c.parity.members.is_empty()
                && c.parity
                    .started
                    .is_some_and(|t| now.saturating_duration_since(t) > rtt / 4)
        });
        if stale {
            self.finish_group(now, ch);
        }
    }

    /// Queues channel `ch`'s group as a parity frame on the selector's path.
    fn finish_group(&mut self, now: Instant, ch: u64) {
        let Some(c) = self.channels.get_mut(&ch) else {
            return;
        };
        let g = std::mem::take(&mut c.parity);
        if g.members.is_empty() {
            return;
        }
        let views = self.plain_views(now);
        let Some(j) = self
            .selector
            .parity_path(now, &g.paths, &views)
            .and_then(|id| self.path_index(id))
        else {
            return;
        };
        let q = &mut self.paths[j].parity_out.queue;
        if q.len() >= MAX_PARITY_OUT {
            q.pop_front();
        }
        q.push_back(OwnedParity {
            channel: ch,
            members: g.members,
            xor: g.xor,
        });
    }

    /// Writes the parity frames path `i` holds that fit within `limit`; returns whether
    /// it wrote any.
    pub(super) fn write_parity(&mut self, i: usize, buf: &mut Vec<u8>, limit: usize) -> bool {
        let mut wrote = false;
        while let Some(p) = self.paths[i].parity_out.queue.front() {
            let f = p.frame();
            if buf.len() + f.encoded_len() > limit {
                break;
            }
            f.encode(buf);
            self.paths[i].parity_out.queue.pop_front();
            self.stats.parity_sent += 1;
            wrote = true;
        }
        wrote
    }

    /// A CHANNEL_DATA chunk arrived and was accepted: kept for parity if its channel
    /// carries parity, and any parity waiting for it tried again.
    pub(super) fn on_data_for_parity(
        &mut self,
        channel: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<(), FrameOutcome> {
        if !self.channels.get(&channel).is_some_and(|c| c.parity_seen) {
            return Ok(());
        }
        self.parity_rx.record(channel, offset, data);
        let member = (offset, data.len() as u64);
        let waiting = self
            .parity_rx
            .waiting
            .iter()
            .position(|p| p.channel == channel && p.members.contains(&member));
        if let Some(k) = waiting
            && let Some(p) = self.parity_rx.waiting.remove(k)
        {
            self.apply_parity(p)?;
        }
        Ok(())
    }

    /// A CHANNEL_PARITY frame arrived.
    pub(super) fn on_parity(&mut self, f: &ParityFrame<'_>) -> Result<(), FrameOutcome> {
        let Some(ch) = self.channel_for_peer_frame(f.channel, false)? else {
            return Ok(());
        };
        ch.parity_seen = true;
        self.apply_parity(OwnedParity {
            channel: f.channel,
            members: f.members.clone(),
            xor: f.parity.to_vec(),
        })
    }

    /// Rebuilds what `p` can rebuild, or keeps it waiting.
    fn apply_parity(&mut self, p: OwnedParity) -> Result<(), FrameOutcome> {
        match self.repair_of(&p) {
            Repair::Done => Ok(()),
            Repair::Wait => {
                let w = &mut self.parity_rx.waiting;
                if w.len() >= MAX_WAITING {
                    w.pop_front();
                }
                w.push_back(p);
                Ok(())
            }
            Repair::Rebuild(offset, bytes) => {
                self.stats.parity_repairs += 1;
                tracing::trace!(
                    channel = p.channel,
                    offset,
                    len = bytes.len(),
                    "parity repair"
                );
                self.on_channel_data(p.channel, offset, &bytes)?;
                self.parity_rx.record(p.channel, offset, &bytes);
                Ok(())
            }
        }
    }

    /// What parity `p` can do now (work bounded by its members and the ring).
    fn repair_of(&self, p: &OwnedParity) -> Repair {
        let Some(ch) = self.channels.get(&p.channel) else {
            return Repair::Done;
        };
        let mut absent = p
            .members
            .iter()
            .filter(|&&m| self.parity_rx.find(p.channel, m).is_none());
        let Some(&(offset, len)) = absent.next() else {
            return Repair::Done;
        };
        let arrived = |(o, l): (u64, u64)| ch.recv.has_range(o, o + l);
        if let Some(&second) = absent.next() {
            // Two not in the ring: waiting helps only while one of them is still due.
            let due = !arrived((offset, len)) || !arrived(second) || absent.next().is_some();
            return if due { Repair::Wait } else { Repair::Done };
        }
        if arrived((offset, len)) {
            return Repair::Done;
        }
        let mut out = p.xor.clone();
        for &m in p.members.iter().filter(|&&m| m != (offset, len)) {
            if let Some(b) = self.parity_rx.find(p.channel, m) {
                for (x, y) in out.iter_mut().zip(b.iter()) {
                    *x ^= y;
                }
            }
        }
        out.truncate(len as usize);
        Repair::Rebuild(offset, out)
    }
}
