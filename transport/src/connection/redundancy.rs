//! Multipath redundancy and failover: copies of channel data on further paths (the
//! selector's [`PathSelector::copies`]), failed paths whose data in flight moves to the
//! others at once ([`PathSelector::is_failed`]), and liveness probes on paths that carry
//! no data (standby or idle paths).
//!
//! A copy is a (channel, offset, length) range queued on a path's [`CopyQueue`]; when the
//! path builds a packet it sends the parts of its queued ranges the peer has not
//! acknowledged yet, ahead of new data. The receiver keeps the first copy that arrives
//! (channel data is placed by offset), so duplicates cost bandwidth, never correctness.

use super::*;
use crate::path::{PathMode, PathStatus, SentData};
use crate::ranges::RangeSet;
use crate::wire::{Frame, FrameType, write_varint};
use std::collections::HashMap;

/// Fewest bytes a path's copy queue may hold.
const MIN_COPY_BYTES: u64 = 256 << 10;
/// Most bytes a path's copy queue may hold, whatever its window.
const MAX_COPY_BYTES: u64 = 8 << 20;
/// Packets each surviving path may send beyond its window when another path fails.
const FAILOVER_PROBES: usize = 2;
/// Most ranges a path's copy queue holds.
const MAX_COPY_ENTRIES: usize = 4096;

/// Channel data ranges waiting to be sent again on one path, oldest first; bounded in
/// entries and bytes (the oldest are dropped first: they are the likeliest to have been
/// acknowledged through another path already).
#[derive(Debug, Default)]
pub(crate) struct CopyQueue {
    entries: VecDeque<(u64, u64, u64)>,
    bytes: u64,
}

impl CopyQueue {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes queued (some may have been acknowledged since).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Queues `(channel, offset, len)`, keeping at most `max_bytes`.
    fn push(&mut self, range: (u64, u64, u64), max_bytes: u64) {
        self.entries.push_back(range);
        self.bytes += range.2;
        while self.bytes > max_bytes || self.entries.len() > MAX_COPY_ENTRIES {
            let Some((_, _, len)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= len;
        }
    }

    fn pop(&mut self) -> Option<(u64, u64, u64)> {
        let e = self.entries.pop_front()?;
        self.bytes -= e.2;
        Some(e)
    }

    fn push_front(&mut self, range: (u64, u64, u64)) {
        self.bytes += range.2;
        self.entries.push_front(range);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// The parts of the `data` chunks not in `covered`.
fn uncovered(covered: &HashMap<u64, RangeSet>, data: &[(u64, u64, u64)]) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::with_capacity(data.len());
    for &(ch, off, len) in data {
        let Some(c) = covered.get(&ch) else {
            out.push((ch, off, len));
            continue;
        };
        let (mut cursor, end) = (off, off + len);
        for r in c.intersecting(off..end) {
            if r.start > cursor {
                out.push((ch, cursor, r.start - cursor));
            }
            cursor = cursor.max(r.end);
        }
        if cursor < end {
            out.push((ch, cursor, end - cursor));
        }
    }
    out
}

impl Connection {
    /// The views of the selectable paths, as the selector sees them (backlog and pacing
    /// not filled in).
    pub(super) fn plain_views(&self, now: Instant) -> Vec<PathView> {
        self.paths
            .iter()
            .filter(|p| p.selectable())
            .map(|p| p.view(now))
            .collect()
    }

    /// Whether another path than `i` could carry data now.
    fn has_other_usable_path(&self, i: usize) -> bool {
        self.paths
            .iter()
            .enumerate()
            .any(|(j, p)| j != i && p.selectable() && !p.failed)
    }

    /// Whether a packet on path `i` may carry new or repaired data: not a failed path,
    /// and not a standby path while an active path works (those carry only probes).
    pub(super) fn carries_data(&self, i: usize) -> bool {
        let path = &self.paths[i];
        if self.paths.len() == 1 {
            return true;
        }
        if path.failed {
            return !self.has_other_usable_path(i);
        }
        path.status != PathStatus::Standby
            || !self
                .paths
                .iter()
                .any(|p| p.status == PathStatus::Active && p.selectable() && !p.failed)
    }

    /// Path `i`'s probe timer fired, or its oldest packet in flight is overdue: if other
    /// paths are usable and the selector calls it failed, its data in flight is queued
    /// again for them.
    pub(super) fn on_path_suspect(&mut self, now: Instant, i: usize) {
        if self.paths.len() == 1 || self.paths[i].failed || !self.has_other_usable_path(i) {
            return;
        }
        let view = self.paths[i].view(now);
        let views = self.plain_views(now);
        if !self.selector.is_failed(now, &view, &views) {
            return;
        }
        let path = &mut self.paths[i];
        path.failed = true;
        path.copies.clear();
        path.parity_out.clear();
        // Its packets in flight leave its books without a congestion signal (an outage
        // is not congestion: the path returns with the window it had) and their data
        // goes to the others; a PING at once starts its probes, backed off from there.
        // Probes of a failed path are not counted in flight either.
        path.probes = path.probes.max(1);
        let id = path.id;
        let in_flight: Vec<SentFrames> = path
            .recovery
            .drain_all()
            .into_iter()
            .map(|(_, p)| p.payload)
            .collect();
        tracing::info!(
            peer = %self.peer_label(),
            path = id,
            pto_count = view.pto_count,
            packets = in_flight.len(),
            "path failed: its data in flight goes to the other paths"
        );
        // What another path carries already (mirrored data in flight or queued there)
        // is not sent again.
        let covered = self.carried_elsewhere(i);
        for mut p in in_flight {
            p.data = uncovered(&covered, &p.data);
            self.on_packet_lost(p);
        }
        // The oldest of that data holds up the receiver: it goes at once, ahead of the
        // windows of the paths that take it over (as a probe timeout's probes do).
        for j in 0..self.paths.len() {
            if j != i && self.paths[j].selectable() && self.carries_data(j) {
                let path = &mut self.paths[j];
                path.probes = path.probes.max(FAILOVER_PROBES);
            }
        }
        self.events.push_back(Event::Path(PathEvent::Failed {
            path: id,
            pto_count: view.pto_count,
        }));
    }

    /// The channel data in flight or queued as copies on the healthy paths other than
    /// `i`, per channel.
    fn carried_elsewhere(&self, i: usize) -> HashMap<u64, RangeSet> {
        let mut covered: HashMap<u64, RangeSet> = HashMap::new();
        let others = self
            .paths
            .iter()
            .enumerate()
            .filter(|&(j, p)| j != i && p.selectable() && !p.failed);
        for (_, p) in others {
            let in_flight = p.recovery.outstanding_payloads().flat_map(|s| &s.data);
            for &(ch, off, len) in in_flight.chain(p.copies.entries.iter()) {
                covered.entry(ch).or_default().insert(off..off + len);
            }
        }
        covered
    }

    /// An acknowledgement arrived for path `i`: a failed path is back.
    pub(super) fn on_path_acknowledged(&mut self, i: usize) {
        let path = &mut self.paths[i];
        if path.failed && path.recovery.pto_count() == 0 {
            path.failed = false;
            let id = path.id;
            tracing::info!(peer = %self.peer_label(), path = id, "path recovered");
            self.events
                .push_back(Event::Path(PathEvent::Recovered { path: id }));
        }
    }

    /// After a packet on path `i` carried `data` (new or repaired, not copies): asks the
    /// selector which paths get a copy of each non-stripe channel's share and queues it.
    pub(super) fn queue_copies(&mut self, now: Instant, i: usize, data: &[(u64, u64, u64)]) {
        if self.paths.len() == 1 || data.is_empty() {
            return;
        }
        let mut modes: Vec<(PathMode, u64, bool)> = Vec::new();
        for &(ch, off, len) in data {
            let Some(c) = self.channels.get(&ch) else {
                continue;
            };
            if c.mode == PathMode::Stripe {
                continue;
            }
            let tail = off + len >= c.send.end();
            match modes.iter_mut().find(|m| m.0 == c.mode) {
                Some(m) => {
                    m.1 += len;
                    m.2 |= tail;
                }
                None => modes.push((c.mode, len, tail)),
            }
        }
        if modes.is_empty() {
            return;
        }
        // The selector's reused view buffer (this runs per packet of mirrored data).
        let mut views = std::mem::take(&mut self.scratch_views);
        views.clear();
        views.extend(
            self.paths
                .iter()
                .filter(|p| p.selectable())
                .map(|p| p.view(now)),
        );
        let mut targets = Vec::new();
        for (mode, bytes, tail) in modes {
            targets.clear();
            let sent = SentData {
                path: self.paths[i].id,
                mode,
                bytes,
                tail,
            };
            self.selector.copies(now, &sent, &views, &mut targets);
            for &id in &targets {
                self.queue_copy_on(id, i, mode, data);
            }
        }
        self.scratch_views = views;
    }

    /// Queues the chunks of `data` whose channel is in `mode` on path `id` (not `from`).
    fn queue_copy_on(&mut self, id: u64, from: usize, mode: PathMode, data: &[(u64, u64, u64)]) {
        let Some(j) = self.path_index(id).filter(|&j| j != from) else {
            return;
        };
        if !self.paths[j].selectable() || self.paths[j].failed {
            return;
        }
        let cwnd = self.paths[j].recovery.congestion_window();
        let max = (cwnd.saturating_mul(4)).clamp(MIN_COPY_BYTES, MAX_COPY_BYTES);
        for &(ch, off, len) in data {
            if self.channels.get(&ch).is_some_and(|c| c.mode == mode) {
                self.paths[j].copies.push((ch, off, len), max);
            }
        }
    }

    /// Drops the front of path `i`'s copy queue that the peer has acknowledged already.
    pub(super) fn prune_copies(&mut self, i: usize) {
        let channels = &self.channels;
        let q = &mut self.paths[i].copies;
        while let Some((ch, off, len)) = q.pop() {
            let unacked = channels
                .get(&ch)
                .and_then(|c| c.send.first_unacked(off, off + len));
            if let Some((start, _)) = unacked {
                q.push_front((ch, start, off + len - start));
                break;
            }
        }
    }

    /// Writes the unacknowledged parts of path `i`'s queued copies, oldest first, within
    /// `limit`; returns how many chunks it wrote (recorded in `sent.data`).
    pub(super) fn write_copies(
        &mut self,
        i: usize,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
    ) -> usize {
        let mut written = 0;
        // Bounded: each turn writes a chunk, drops a range, or stops.
        while buf.len() + 8 < limit {
            let Some((ch, off, len)) = self.paths[i].copies.pop() else {
                break;
            };
            let Some(c) = self.channels.get_mut(&ch) else {
                continue;
            };
            let Some((start, end)) = c.send.first_unacked(off, off + len) else {
                continue;
            };
            let room = limit.saturating_sub(buf.len()) as u64;
            let overhead = Frame::channel_data_overhead(ch, start, (end - start) as usize) as u64;
            if room <= overhead {
                self.paths[i].copies.push_front((ch, off, len));
                break;
            }
            let n = (end - start).min(room - overhead);
            write_varint(buf, FrameType::ChannelData as u64);
            write_varint(buf, ch);
            write_varint(buf, start);
            write_varint(buf, n);
            c.send.copy_to(start, n, buf);
            c.send.on_sent(start, n);
            sent.data.push((ch, start, n));
            written += 1;
            if start + n < off + len {
                self.paths[i]
                    .copies
                    .push_front((ch, start + n, off + len - start - n));
            }
        }
        written
    }
}
