//! Channel state: a reliable, ordered stream of length-prefixed messages per direction.
//!
//! On the wire a channel direction is a byte stream (offsets from 0) in which each message
//! is `varint length || bytes`. This packs small messages into shared frames and packets
//! and fragments large ones across packets for free. Flow control is credit-based: the
//! receiver grants a maximum offset (`MAX_CHANNEL_DATA`).

use crate::ranges::RangeSet;
use crate::wire::write_varint;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};

/// Identifies a channel within a connection. The dialer opens even ids, the listener odd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub u64);

impl std::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ch{}", self.0)
    }
}

/// Progress of the sender's CHANNEL_CLOSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinState {
    Open,
    /// Closed locally; CHANNEL_CLOSE must be (re)sent once all data is sent.
    Pending,
    Sent,
    Acked,
}

/// The sending half of a channel.
#[derive(Debug)]
pub(crate) struct SendState {
    /// Bytes from `base` to `end`: unacknowledged or unsent.
    buf: VecDeque<u8>,
    /// Offset of `buf[0]`; everything below is acknowledged and freed.
    base: u64,
    /// First offset never sent.
    pub next: u64,
    /// Lost ranges waiting for retransmission (all below `next`).
    retransmit: RangeSet,
    /// Acknowledged ranges at or above `base`.
    acked: RangeSet,
    /// The peer's credit: we may send bytes below this offset.
    pub max_data: u64,
    pub fin: FinState,
    /// Error code when the channel was reset instead of finished.
    pub reset_code: u64,
    /// Whether the application was told `Blocked` and waits for a writable event.
    pub wants_writable: bool,
    /// The credit limit we last reported as blocking us (CHANNEL_BLOCKED sent).
    pub blocked_sent_at: Option<u64>,
    /// Start and end offsets of the unsent messages of at least [`LARGE_MESSAGE`] bytes
    /// (at most one per `LARGE_MESSAGE` bytes buffered), to tell when the message being
    /// sent cannot complete within the peer's credit.
    large: VecDeque<(u64, u64)>,
}

/// Messages this large may need credit beyond the peer's channel window to complete
/// (the receiver's stretch, see `RecvState::grant_stretch`); the sender tracks where
/// they end.
pub(crate) const LARGE_MESSAGE: usize = 64 << 10;

impl SendState {
    pub fn new(max_data: u64) -> Self {
        Self {
            buf: VecDeque::new(),
            base: 0,
            next: 0,
            retransmit: RangeSet::new(),
            acked: RangeSet::new(),
            max_data,
            fin: FinState::Open,
            reset_code: 0,
            wants_writable: false,
            blocked_sent_at: None,
            large: VecDeque::new(),
        }
    }

    /// Offset just past the last written byte.
    pub fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Bytes held (unacknowledged).
    pub fn buffered(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Appends one length-prefixed message.
    pub fn write_message(&mut self, msg: &[u8]) {
        let mut prefix = Vec::with_capacity(8);
        write_varint(&mut prefix, msg.len() as u64);
        let start = self.end();
        self.buf.extend(prefix);
        self.buf.extend(msg);
        if msg.len() >= LARGE_MESSAGE {
            self.large.push_back((start, self.end()));
        }
    }

    /// Whether the next new byte belongs to a large message that the peer's channel
    /// credit does not cover to its end: sending more of it cannot complete a message
    /// until the receiver stretches the credit, so other channels' data goes first
    /// (their messages can complete, and the connection credit they use comes back).
    pub fn awaits_stretch(&mut self) -> bool {
        while self.large.front().is_some_and(|&(_, end)| end <= self.next) {
            self.large.pop_front();
        }
        self.large
            .front()
            .is_some_and(|&(start, end)| start <= self.next && end > self.max_data)
    }

    /// Whether there is lost data to resend.
    pub fn has_retransmit(&self) -> bool {
        !self.retransmit.is_empty()
    }

    /// Bytes waiting to be retransmitted, counted up to `cap` (the walk stops there).
    pub fn retransmit_bytes(&self, cap: u64) -> u64 {
        let mut total = 0;
        for r in self.retransmit.iter() {
            total += r.end - r.start;
            if total >= cap {
                break;
            }
        }
        total.min(cap)
    }

    /// New bytes that could be sent given channel credit (connection credit not applied).
    pub fn sendable_new(&self) -> u64 {
        self.end().min(self.max_data).saturating_sub(self.next)
    }

    /// Whether unsent data is held back only by the peer's channel credit.
    pub fn is_blocked(&self) -> bool {
        self.end() > self.next && self.next >= self.max_data
    }

    /// The next chunk to send: a lost range first, else new data up to `new_budget` bytes
    /// (connection credit); at most `max_len` bytes. Returns `(offset, len, is_new)`.
    pub fn next_chunk(&self, max_len: u64, new_budget: u64) -> Option<(u64, u64, bool)> {
        if let Some(r) = self.retransmit.first() {
            let len = (r.end - r.start).min(max_len);
            return (len > 0).then_some((r.start, len, false));
        }
        let len = self.sendable_new().min(new_budget).min(max_len);
        (len > 0).then_some((self.next, len, true))
    }

    /// Copies `[offset, offset+len)` (must be held) to `out`.
    pub fn copy_to(&self, offset: u64, len: u64, out: &mut Vec<u8>) {
        let start = (offset - self.base) as usize;
        let end = start + len as usize;
        let (a, b) = self.buf.as_slices();
        if start < a.len() {
            out.extend_from_slice(&a[start..end.min(a.len())]);
        }
        if end > a.len() {
            out.extend_from_slice(&b[start.saturating_sub(a.len())..end - a.len()]);
        }
    }

    /// Records that `[offset, offset+len)` was put in a packet.
    pub fn on_sent(&mut self, offset: u64, len: u64) {
        self.retransmit.remove(offset..offset + len);
        self.next = self.next.max(offset + len);
    }

    /// Records an acknowledgement; frees acknowledged bytes at the front.
    pub fn on_acked(&mut self, offset: u64, len: u64) {
        let end = (offset + len).min(self.end());
        if end <= self.base.max(offset) {
            return;
        }
        self.acked.insert(offset.max(self.base)..end);
        self.retransmit.remove(offset..end);
        if let Some(r) = self.acked.first()
            && r.start <= self.base
        {
            let drop = (r.end - self.base) as usize;
            self.buf.drain(..drop.min(self.buf.len()));
            self.base = r.end;
            self.acked.pop_first();
        }
    }

    /// Records a loss: the unacknowledged parts of the range are queued for resending.
    pub fn on_lost(&mut self, offset: u64, len: u64) {
        let (start, end) = (offset.max(self.base), (offset + len).min(self.next));
        if start >= end {
            return;
        }
        let mut cursor = start;
        let acked: Vec<_> = self.acked.intersecting(start..end).collect();
        for a in acked {
            if a.start > cursor {
                self.retransmit.insert(cursor..a.start);
            }
            cursor = a.end;
        }
        if cursor < end {
            self.retransmit.insert(cursor..end);
        }
    }

    /// The first part of `[offset, end)` that was sent and is neither acknowledged nor
    /// freed, as `(start, end)`; `None` when there is none.
    pub fn first_unacked(&self, offset: u64, end: u64) -> Option<(u64, u64)> {
        let (mut start, end) = (offset.max(self.base), end.min(self.next));
        if start >= end {
            return None;
        }
        for a in self.acked.intersecting(start..end) {
            if a.start > start {
                return Some((start, a.start));
            }
            start = start.max(a.end);
        }
        (start < end).then_some((start, end))
    }

    /// Whether CHANNEL_CLOSE should be sent now (all data sent, close pending).
    pub fn fin_due(&self) -> bool {
        self.fin == FinState::Pending && self.next == self.end() && self.retransmit.is_empty()
    }
}

/// Why received data was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvError {
    /// Data beyond the credit we granted.
    FlowControl,
    /// Data beyond the final size, or a final size that contradicts what we have.
    FinalSize,
    /// A length prefix larger than our maximum message size.
    MessageTooLarge,
    /// Too many out-of-order fragments held: the packet is dropped unacknowledged.
    TooFragmented,
    /// A message length prefix that is not a minimal varint.
    Malformed,
}

/// Most out-of-order fragments a channel holds; beyond that packets are dropped
/// (unacknowledged, so the sender retransmits them later).
pub(crate) const MAX_FRAGMENTS: usize = 4096;

/// Most out-of-order fragments held over all channels of a connection. Full-size
/// fragments this many would exceed the connection window, so only a peer sending tiny
/// fragments reaches it; its packets then wait (dropped unacknowledged).
pub(crate) const MAX_CONNECTION_FRAGMENTS: u64 = 16_384;

/// What one out-of-order fragment is counted as in the receive memory budget besides
/// its bytes: the map entry, the `Bytes` handle and the allocator's header. (Unread
/// messages share one buffer and cost their bytes only.)
pub(crate) const ENTRY_OVERHEAD: u64 = 64;

/// The receiving half of a channel.
#[derive(Debug)]
pub(crate) struct RecvState {
    /// Out-of-order data above `contig`, keyed by offset, non-overlapping.
    pending: BTreeMap<u64, Bytes>,
    /// Offsets received at or above `contig`.
    received: RangeSet,
    /// All bytes below this offset were read or are in `buf`.
    contig: u64,
    /// The contiguous bytes not yet read, `[consumed, contig)`, length prefixes
    /// included: complete messages up to `parsed`, then the incomplete head message. One
    /// buffer, so an unread message costs its bytes and nothing more, however small.
    buf: BytesMut,
    /// Offset just past the last complete message.
    parsed: u64,
    /// Complete messages in `buf` not yet read by the application.
    ready_count: u64,
    /// Bytes of the fragments in `pending`.
    pending_bytes: u64,
    /// Everything was dropped (the peer reset the channel): all of it is released.
    discarded: bool,
    /// Offset up to which the application has read whole messages.
    consumed: u64,
    /// Bytes credited back to the connection-level window (monotonic): the bytes read
    /// (or discarded), plus the bytes of an incomplete head message held so far (so that
    /// a message larger than the connection window can complete), never the bytes of
    /// unread complete messages.
    pub released: u64,
    /// End offset of the incomplete message at the front of `assembly`, once its length
    /// prefix is known.
    head_end: Option<u64>,
    /// End offset of a head message granted credit beyond the window (see
    /// [`RecvState::grant_stretch`]), until it is read.
    stretch: Option<u64>,
    /// Whether the connection has this channel in its queue for a stretch.
    pub stretch_queued: bool,
    /// The credit we granted.
    pub advertised: u64,
    /// Highest offset received (for connection-level accounting).
    pub highest: u64,
    /// Final size from the peer's CHANNEL_CLOSE.
    pub final_size: Option<u64>,
    pub finished_reported: bool,
    /// Whether a MAX_CHANNEL_DATA update should be sent.
    pub credit_update_pending: bool,
    window: u64,
    max_message: u64,
}

/// The length prefix at the front of `bytes`: `Ok(None)` while incomplete, else its
/// length and the message length it announces (a minimal varint, at most `max`).
fn parse_prefix(bytes: &[u8], max: u64) -> Result<Option<(usize, u64)>, RecvError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let plen = 1usize << (first >> 6);
    if bytes.len() < plen {
        return Ok(None);
    }
    let mut v = u64::from(first & 0x3f);
    for b in &bytes[1..plen] {
        v = (v << 8) | u64::from(*b);
    }
    if v > max {
        return Err(RecvError::MessageTooLarge);
    }
    if crate::wire::varint_len(v) != plen {
        return Err(RecvError::Malformed);
    }
    Ok(Some((plen, v)))
}

impl RecvState {
    pub fn new(window: u64, max_message: u64) -> Self {
        Self {
            pending: BTreeMap::new(),
            received: RangeSet::new(),
            contig: 0,
            buf: BytesMut::new(),
            parsed: 0,
            ready_count: 0,
            pending_bytes: 0,
            discarded: false,
            consumed: 0,
            released: 0,
            head_end: None,
            stretch: None,
            stretch_queued: false,
            advertised: window,
            highest: 0,
            final_size: None,
            finished_reported: false,
            credit_update_pending: false,
            window,
            max_message,
        }
    }

    /// Accepts a CHANNEL_DATA frame. Returns the number of new bytes beyond `highest`
    /// (for connection-level flow control).
    pub fn on_data(&mut self, offset: u64, data: &[u8]) -> Result<u64, RecvError> {
        if self.discarded {
            return Ok(0); // reset: nothing more is kept (the connection ignores it too)
        }
        let end = offset + data.len() as u64; // no overflow: the wire caps both at 2^62
        if end > self.advertised {
            return Err(RecvError::FlowControl);
        }
        if self.final_size.is_some_and(|f| end > f) {
            return Err(RecvError::FinalSize);
        }
        let grown = end.saturating_sub(self.highest);
        let start = offset.max(self.contig);
        if start < end && !self.received.contains_range(start..end) {
            if start > self.contig && self.pending.len() >= MAX_FRAGMENTS {
                return Err(RecvError::TooFragmented);
            }
            let mut cursor = start;
            let have: Vec<_> = self.received.intersecting(start..end).collect();
            for r in have.into_iter().chain(std::iter::once(end..end)) {
                if r.start > cursor {
                    let slice = &data[(cursor - offset) as usize..(r.start - offset) as usize];
                    if cursor == self.contig {
                        // In order: straight into the buffer, no fragment copy.
                        self.buf.extend_from_slice(slice);
                        self.contig = r.start;
                    } else {
                        self.pending.insert(cursor, Bytes::copy_from_slice(slice));
                        self.pending_bytes += slice.len() as u64;
                        self.received.insert(cursor..r.start);
                    }
                }
                cursor = cursor.max(r.end);
            }
        }
        self.highest = self.highest.max(end);
        self.drain_contiguous()?;
        Ok(grown)
    }

    /// Moves in-order fragments into the buffer and finds the complete messages.
    fn drain_contiguous(&mut self) -> Result<(), RecvError> {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.contig {
                break;
            }
            let chunk = entry.remove();
            self.pending_bytes -= chunk.len() as u64;
            self.contig += chunk.len() as u64;
            self.buf.extend_from_slice(&chunk);
        }
        self.received.remove_below(self.contig);
        self.split_messages()
    }

    /// Advances `parsed` past every complete message after it; notes the end of the
    /// incomplete head message once its length prefix is here. Work: one length prefix
    /// per complete message, plus one.
    fn split_messages(&mut self) -> Result<(), RecvError> {
        loop {
            let head = &self.buf[(self.parsed - self.consumed) as usize..];
            let Some((plen, len)) = parse_prefix(head, self.max_message)? else {
                self.head_end = None; // not known until the whole length prefix is here
                return Ok(());
            };
            let total = plen as u64 + len;
            if (head.len() as u64) < total {
                self.head_end = Some(self.parsed + total);
                self.release();
                return Ok(());
            }
            self.parsed += total;
            self.ready_count += 1;
        }
    }

    /// Drops everything received and not yet read (the peer reset the channel).
    /// Whether every byte of `[start, end)` has arrived (read, assembled or held).
    pub fn has_range(&self, start: u64, end: u64) -> bool {
        if end <= self.contig {
            return true;
        }
        self.received.contains_range(start.max(self.contig)..end)
    }

    pub fn discard(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
        self.received = RangeSet::new();
        self.buf.clear();
        self.ready_count = 0;
        self.discarded = true;
        // Discarded bytes no longer occupy the connection window.
        self.released = self.released.max(self.highest);
    }

    /// Accepts the peer's final size.
    pub fn on_final_size(&mut self, final_size: u64) -> Result<(), RecvError> {
        if final_size < self.highest || self.final_size.is_some_and(|f| f != final_size) {
            return Err(RecvError::FinalSize);
        }
        self.final_size = Some(final_size);
        Ok(())
    }

    /// Pops the next complete message.
    pub fn pop(&mut self) -> Option<Bytes> {
        if self.ready_count == 0 {
            return None;
        }
        // Validated when the message completed.
        let (plen, len) = parse_prefix(&self.buf, self.max_message).ok()??;
        let mut msg = self.buf.split_to(plen + len as usize);
        msg.advance(plen);
        self.ready_count -= 1;
        self.consumed += (plen as u64) + len;
        self.release();
        if self.credit_limit() >= self.advertised + self.window / 4 {
            self.credit_update_pending = true;
        }
        Some(msg.freeze())
    }

    /// Credits back what was read, plus the bytes held so far of a stretched head
    /// message (it may be larger than any window, and must complete).
    fn release(&mut self) {
        let head = match (self.head_end, self.stretch) {
            (Some(end), Some(s)) if end == s => self.contig - self.parsed,
            _ => 0,
        };
        self.released = self.released.max(self.consumed + head);
    }

    /// Whether the incomplete head message ends beyond the credit the window gives, so
    /// it can only complete with a stretch. Not while complete messages wait to be read:
    /// reading them gives credit, and a stretch held by a channel nobody reads would
    /// keep the other channels' large messages waiting.
    pub fn wants_stretch(&self) -> bool {
        self.ready_count == 0
            && self
                .head_end
                .is_some_and(|end| end > self.consumed + self.window && self.stretch != Some(end))
    }

    /// Grants the incomplete head message credit up to its end, beyond the window, and
    /// credits its bytes back to the connection window as they arrive. The connection
    /// grants one stretch at a time, so a connection holds at most one message beyond
    /// its windows; the stretch lasts until that message is read.
    pub fn grant_stretch(&mut self) {
        if let Some(end) = self.head_end {
            self.stretch = Some(end);
            self.release();
            self.credit_update_pending |= self.advertised < end;
        }
    }

    /// Whether the stretched message was read (or discarded): the stretch may pass on.
    pub fn stretch_done(&self) -> bool {
        self.discarded || self.stretch.is_none_or(|end| self.consumed >= end)
    }

    /// Ends the stretch (after [`RecvState::stretch_done`]).
    pub fn end_stretch(&mut self) {
        self.stretch = None;
    }

    /// What this channel holds received and not yet read, as counted in the connection's
    /// receive memory budget: the bytes of unread messages, of the message being
    /// assembled and of out-of-order fragments, plus [`ENTRY_OVERHEAD`] per fragment.
    pub fn held(&self) -> u64 {
        self.buf.len() as u64 + self.pending_bytes + self.pending.len() as u64 * ENTRY_OVERHEAD
    }

    /// Out-of-order fragments held.
    pub fn fragments(&self) -> usize {
        self.pending.len()
    }

    /// Offset below which everything has arrived.
    pub fn contiguous(&self) -> u64 {
        self.contig
    }

    /// Checks the receive accounting against a recount (for the fuzz targets and tests):
    /// the counters match the buffers, and the credit released beyond what was read is
    /// at most one head message (length prefix included).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn audit(&self) {
        let pending: u64 = self.pending.values().map(|b| b.len() as u64).sum();
        assert_eq!(
            pending, self.pending_bytes,
            "fragment bytes counted exactly"
        );
        if self.discarded {
            assert!(
                self.buf.is_empty() && self.ready_count == 0,
                "a reset drops it all"
            );
            return;
        }
        assert_eq!(
            self.buf.len() as u64,
            self.contig - self.consumed,
            "the buffer holds exactly the unread contiguous bytes"
        );
        let (mut at, mut count) = (0, 0);
        while at < self.parsed - self.consumed {
            let (plen, len) = parse_prefix(&self.buf[at as usize..], self.max_message)
                .expect("valid prefix")
                .expect("complete prefix");
            at += plen as u64 + len;
            count += 1;
        }
        assert_eq!(at, self.parsed - self.consumed, "messages end at `parsed`");
        assert_eq!(count, self.ready_count, "unread messages counted exactly");
        assert!(self.released >= self.consumed, "read bytes are released");
        assert!(
            self.discarded || self.released - self.consumed <= self.max_message + 8,
            "credit released for unread bytes beyond one head message"
        );
    }

    /// Unread complete messages.
    pub fn unread_messages(&self) -> u64 {
        self.ready_count
    }

    /// Whether `offset` lies within a stretched head message that is still incomplete
    /// (data that brings it closer to complete).
    pub fn completes_stretch(&self, offset: u64) -> bool {
        self.stretch
            .is_some_and(|end| self.head_end == Some(end) && offset < end)
    }

    /// Bytes a stretched head message still lacks (0 when there is none).
    pub fn stretch_remaining(&self) -> u64 {
        match (self.head_end, self.stretch) {
            (Some(end), Some(s)) if end == s => end.saturating_sub(self.contig),
            _ => 0,
        }
    }

    /// Whether a message is ready.
    pub fn has_message(&self) -> bool {
        self.ready_count > 0
    }

    /// The credit we would grant now.
    pub fn credit_limit(&self) -> u64 {
        // When everything complete has been read, always room for the next length prefix
        // (≤ 8 bytes): with a window smaller than a prefix, the head message's end would
        // never become known (found by fuzzing). Only then, or unread messages would
        // unlock one prefix after another and backpressure would be lost.
        let prefix_room = if self.ready_count == 0 {
            self.parsed + 8
        } else {
            0
        };
        (self.consumed + self.window)
            .max(self.stretch.unwrap_or(0))
            .max(prefix_room)
    }

    /// Whether every message up to the final size was read.
    pub fn is_finished(&self) -> bool {
        self.final_size.is_some_and(|f| self.consumed == f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(msgs: &[&[u8]]) -> Vec<u8> {
        let mut s = SendState::new(u64::MAX);
        for m in msgs {
            s.write_message(m);
        }
        let mut out = Vec::new();
        s.copy_to(0, s.end(), &mut out);
        out
    }

    #[test]
    fn reassembles_out_of_order_and_duplicates() {
        let bytes = stream(&[b"hello", b"", &[7u8; 300], b"x"]);
        let mut r = RecvState::new(1 << 20, 1 << 20);
        // deliver in reverse 10-byte chunks, each twice
        let chunks: Vec<_> = bytes.chunks(10).enumerate().collect();
        for (i, c) in chunks.iter().rev() {
            r.on_data((*i * 10) as u64, c).unwrap();
            r.on_data((*i * 10) as u64, c).unwrap();
        }
        assert_eq!(r.pop().unwrap(), &b"hello"[..]);
        assert_eq!(r.pop().unwrap(), &b""[..]);
        assert_eq!(r.pop().unwrap(), &[7u8; 300][..]);
        assert_eq!(r.pop().unwrap(), &b"x"[..]);
        assert!(r.pop().is_none());
        assert!(r.pending.is_empty());
    }

    #[test]
    fn flow_control_and_message_limits() {
        let mut r = RecvState::new(100, 50);
        assert_eq!(r.on_data(95, &[0; 10]), Err(RecvError::FlowControl));
        let big = stream(&[&[1u8; 60]]);
        assert_eq!(r.on_data(0, &big[..20]), Err(RecvError::MessageTooLarge));
    }

    #[test]
    fn a_window_smaller_than_a_length_prefix_still_progresses() {
        // Regression (fuzz/corpus/channel_reassembly/regress-window-below-length-prefix-stalls).
        let msg = vec![3u8; 20_000];
        let bytes = stream(&[&msg]);
        let mut r = RecvState::new(1, 1 << 20);
        let mut offset = 0;
        for _ in 0..100 {
            if r.wants_stretch() {
                r.grant_stretch(); // what the connection does for its one stretch
            }
            let end = r.credit_limit().min(bytes.len() as u64);
            r.advertised = r.advertised.max(r.credit_limit());
            if end > offset {
                r.on_data(offset, &bytes[offset as usize..end as usize])
                    .unwrap();
                offset = end;
            }
            if let Some(m) = r.pop() {
                assert_eq!(m, msg);
                return;
            }
        }
        panic!("stalled at offset {offset}");
    }

    #[test]
    fn credit_extends_to_a_large_head_message_when_stretched() {
        let msg = vec![9u8; 5000];
        let bytes = stream(&[&msg]);
        let mut r = RecvState::new(1000, 1 << 20);
        r.on_data(0, &bytes[..1000]).unwrap();
        assert!(r.wants_stretch());
        assert!(
            !r.credit_update_pending,
            "no stretch until the connection grants it"
        );
        assert_eq!(r.credit_limit(), 1000);
        assert_eq!(r.released, 0, "an unstretched head is not credited back");
        r.grant_stretch();
        assert!(!r.wants_stretch());
        assert_eq!(
            r.released, 1000,
            "the stretched head's bytes are credited back"
        );
        assert!(r.credit_update_pending);
        assert!(r.credit_limit() >= bytes.len() as u64);
        assert_eq!(r.on_data(1000, &bytes[1000..]), Err(RecvError::FlowControl));
        r.advertised = r.credit_limit(); // what sending MAX_CHANNEL_DATA does
        r.on_data(1000, &bytes[1000..]).unwrap();
        assert!(
            !r.stretch_done(),
            "the stretch lasts until the message is read"
        );
        assert_eq!(r.pop().unwrap(), msg);
        assert!(r.stretch_done());
    }

    #[test]
    fn sender_retransmits_only_unacked_parts() {
        let mut s = SendState::new(u64::MAX);
        s.write_message(&[0u8; 100]);
        let (off, len, new) = s.next_chunk(40, u64::MAX).unwrap();
        assert_eq!((off, len, new), (0, 40, true));
        s.on_sent(0, 40);
        assert_eq!(s.end(), 102, "2-byte length prefix + 100 bytes");
        s.on_sent(40, 62);
        s.on_acked(10, 10);
        s.on_lost(0, 40);
        assert_eq!(s.next_chunk(100, 0), Some((0, 10, false)));
        s.on_sent(0, 10);
        assert_eq!(s.next_chunk(100, 0), Some((20, 20, false)));
        s.on_acked(0, 101);
        assert_eq!(s.buffered(), 1);
        s.on_acked(101, 1);
        assert_eq!(s.buffered(), 0);
        assert_eq!(s.next_chunk(100, u64::MAX), None);
    }
}
