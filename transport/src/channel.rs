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
}

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
        self.buf.extend(prefix);
        self.buf.extend(msg);
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

/// The receiving half of a channel.
#[derive(Debug)]
pub(crate) struct RecvState {
    /// Out-of-order data above `contig`, keyed by offset, non-overlapping.
    pending: BTreeMap<u64, Bytes>,
    /// Offsets received at or above `contig`.
    received: RangeSet,
    /// All bytes below this offset are in `assembly` or were parsed.
    contig: u64,
    /// Contiguous bytes not yet split into complete messages (start at `parsed`).
    assembly: BytesMut,
    /// Offset just past the last complete message.
    parsed: u64,
    /// Complete messages not yet read by the application, with their end offsets.
    ready: VecDeque<(Bytes, u64)>,
    /// Offset up to which the application has read whole messages.
    consumed: u64,
    /// Offset credited to the connection-level window (monotonic).
    pub released: u64,
    /// End offset of the incomplete message at the front of `assembly`, once its length
    /// prefix is known.
    head_end: Option<u64>,
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

impl RecvState {
    pub fn new(window: u64, max_message: u64) -> Self {
        Self {
            pending: BTreeMap::new(),
            received: RangeSet::new(),
            contig: 0,
            assembly: BytesMut::new(),
            parsed: 0,
            ready: VecDeque::new(),
            consumed: 0,
            released: 0,
            head_end: None,
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
                        // In order: straight into the assembly buffer, no fragment copy.
                        self.assembly.extend_from_slice(slice);
                        self.contig = r.start;
                    } else {
                        self.pending.insert(cursor, Bytes::copy_from_slice(slice));
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

    /// Moves in-order fragments into the assembly buffer and splits complete messages.
    fn drain_contiguous(&mut self) -> Result<(), RecvError> {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.contig {
                break;
            }
            let chunk = entry.remove();
            self.contig += chunk.len() as u64;
            self.assembly.extend_from_slice(&chunk);
        }
        self.received.remove_below(self.contig);
        self.split_messages()
    }

    fn split_messages(&mut self) -> Result<(), RecvError> {
        loop {
            let Some(&first) = self.assembly.first() else {
                self.head_end = None;
                return Ok(());
            };
            let plen = 1usize << (first >> 6);
            if self.assembly.len() < plen {
                return Ok(());
            }
            let mut v = u64::from(first & 0x3f);
            for b in &self.assembly[1..plen] {
                v = (v << 8) | u64::from(*b);
            }
            if v > self.max_message {
                return Err(RecvError::MessageTooLarge);
            }
            if crate::wire::varint_len(v) != plen {
                return Err(RecvError::Malformed);
            }
            let total = plen as u64 + v;
            if (self.assembly.len() as u64) < total {
                self.head_end = Some(self.parsed + total);
                let held = self.parsed + self.assembly.len() as u64;
                self.released = self.released.max(held);
                self.credit_update_pending |= self.advertised < self.parsed + total;
                return Ok(());
            }
            let mut msg = self.assembly.split_to(total as usize);
            msg.advance(plen);
            self.parsed += total;
            self.ready.push_back((msg.freeze(), self.parsed));
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
        self.received = RangeSet::new();
        self.assembly.clear();
        self.ready.clear();
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
        let (msg, end) = self.ready.pop_front()?;
        self.consumed = end;
        self.released = self.released.max(end);
        if self.credit_limit() >= self.advertised + self.window / 4 {
            self.credit_update_pending = true;
        }
        Some(msg)
    }

    /// Whether a message is ready.
    pub fn has_message(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The credit we would grant now.
    pub fn credit_limit(&self) -> u64 {
        // When everything complete has been read, always room for the next length prefix
        // (≤ 8 bytes): with a window smaller than a prefix, the head message's end would
        // never become known (found by fuzzing). Only then, or unread messages would
        // unlock one prefix after another and backpressure would be lost.
        let prefix_room = if self.ready.is_empty() {
            self.parsed + 8
        } else {
            0
        };
        (self.consumed + self.window)
            .max(self.head_end.unwrap_or(0))
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
    fn credit_extends_to_a_large_head_message() {
        let msg = vec![9u8; 5000];
        let bytes = stream(&[&msg]);
        let mut r = RecvState::new(1000, 1 << 20);
        r.on_data(0, &bytes[..1000]).unwrap();
        assert!(r.credit_update_pending);
        assert!(r.credit_limit() >= bytes.len() as u64);
        assert_eq!(r.on_data(1000, &bytes[1000..]), Err(RecvError::FlowControl));
        r.advertised = r.credit_limit(); // what sending MAX_CHANNEL_DATA does
        r.on_data(1000, &bytes[1000..]).unwrap();
        assert_eq!(r.pop().unwrap(), msg);
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
