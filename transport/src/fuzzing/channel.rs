//! Target `channel_reassembly`: channel send and receive halves.

#[allow(unused_imports)]
use super::*;

// ===== channel send and receive halves ===========================================================

/// Receive-window and message-size settings of `channel_reassembly`.
#[derive(Debug, Arbitrary)]
pub(super) struct ChannelSetup {
    pub(super) window: u16,
    pub(super) max_message: u16,
}

/// One step of the `channel_reassembly` harness.
#[derive(Debug, Arbitrary)]
pub(super) enum ChannelOp {
    /// The application writes a message of `len % 1500` bytes.
    Write {
        len: u16,
    },
    /// The sender puts its next chunk (lost data first, else new data) in a packet.
    Send {
        max_len: u16,
        budget: u16,
    },
    /// A chunk in flight reaches the receiver (it stays in flight: duplicates happen).
    Deliver {
        index: u8,
    },
    Ack {
        index: u8,
    },
    Lose {
        index: u8,
    },
    /// The peer sends stream bytes `[offset, offset + len)` directly (any chunking,
    /// possibly beyond the credit).
    Raw {
        offset: u16,
        len: u16,
    },
    Pop,
    /// MAX_CHANNEL_DATA: the receiver grants credit, the sender learns it.
    Credit,
    /// CHANNEL_CLOSE with the true final size; no more writes.
    Finish,
    /// Rarely (`kind` 0 or 1) a misbehaving or aborting peer: 0 = CHANNEL_CLOSE with any
    /// final size, 1 = a reset, after which the receiver discards what it holds.
    Peer {
        kind: u16,
        value: u32,
    },
}

/// Most stream bytes a `channel_reassembly` run writes.
pub(super) const MAX_STREAM: usize = 64 * 1024;

/// The model of a channel: the messages written, the stream they make, what was read.
pub(super) struct ChannelModel {
    pub(super) messages: Vec<Vec<u8>>,
    pub(super) stream: Vec<u8>,
    /// End offset of each message in the stream.
    pub(super) ends: Vec<u64>,
    pub(super) popped: usize,
    pub(super) acked: Vec<bool>,
    /// First unacknowledged offset (acknowledgements are never undone).
    pub(super) first_unacked: usize,
    pub(super) final_size: Option<u64>,
    pub(super) highest: u64,
    pub(super) finished: bool,
    pub(super) discarded: bool,
}

impl ChannelModel {
    pub(super) fn write(&mut self, len: usize) -> Vec<u8> {
        let i = self.messages.len();
        let msg: Vec<u8> = (0..len)
            .map(|j| (i as u8).wrapping_mul(31) ^ (j as u8).wrapping_mul(7) ^ (j >> 8) as u8)
            .collect();
        write_varint(&mut self.stream, len as u64);
        self.stream.extend_from_slice(&msg);
        self.ends.push(self.stream.len() as u64);
        self.acked.resize(self.stream.len(), false);
        self.messages.push(msg.clone());
        msg
    }

    /// Offset up to which whole messages were read.
    pub(super) fn consumed(&self) -> u64 {
        self.popped.checked_sub(1).map_or(0, |i| self.ends[i])
    }

    /// Delivers stream bytes to the receiver and checks the outcome against the model.
    /// Returns false when the receiver hit a fatal error (the connection would close).
    pub(super) fn deliver(
        &mut self,
        r: &mut RecvState,
        offset: u64,
        len: u64,
        max_message: u64,
    ) -> bool {
        let end = offset + len;
        let data = &self.stream[offset as usize..end as usize];
        let advertised = r.advertised;
        let result = r.on_data(offset, data);
        match result {
            Err(RecvError::FlowControl) => {
                assert!(end > advertised, "FlowControl within the credit");
                true
            }
            Err(RecvError::FinalSize) => {
                assert!(end <= advertised, "FlowControl is checked first");
                assert!(
                    self.final_size.is_some_and(|f| end > f),
                    "FinalSize within the final size"
                );
                true
            }
            Err(RecvError::MessageTooLarge) => {
                assert!(end <= advertised);
                assert!(
                    self.messages.iter().any(|m| m.len() as u64 > max_message),
                    "MessageTooLarge without a message above {max_message} bytes"
                );
                false
            }
            Err(RecvError::Malformed) => panic!("minimal length prefixes reported malformed"),
            Err(RecvError::TooFragmented) => true,
            Ok(grown) => {
                assert!(end <= advertised, "data beyond the credit accepted");
                assert!(
                    self.final_size.is_none_or(|f| end <= f),
                    "data beyond the final size accepted"
                );
                assert_eq!(grown, end.saturating_sub(self.highest), "grown bytes");
                self.highest = self.highest.max(end);
                assert_eq!(r.highest, self.highest);
                true
            }
        }
    }

    pub(super) fn pop(&mut self, r: &mut RecvState) {
        let ready = r.has_message();
        let got = r.pop();
        assert_eq!(ready, got.is_some(), "has_message agrees with pop");
        if let Some(msg) = got {
            assert!(!self.discarded, "a message after the channel was discarded");
            let want = self
                .messages
                .get(self.popped)
                .expect("more messages than written");
            assert_eq!(&msg[..], &want[..], "message {} corrupted", self.popped);
            self.popped += 1;
        }
    }

    pub(super) fn check(&self, s: &SendState, r: &RecvState, window: u64) {
        assert_eq!(s.end(), self.stream.len() as u64);
        assert!(s.next <= s.end());
        let base = s.end() - s.buffered();
        assert_eq!(
            base, self.first_unacked as u64,
            "the send buffer frees exactly the acked prefix"
        );
        assert!(r.released <= r.highest, "released bytes never received");
        r.audit();
        assert!(r.credit_limit() >= self.consumed() + window);
        assert_eq!(r.final_size, self.final_size);
        assert_eq!(r.is_finished(), self.final_size == Some(self.consumed()));
    }
}

/// Target `channel_reassembly`: a channel's sending half (`SendState`) and receiving
/// half (`RecvState`) joined by a lossy, duplicating, reordering network of chunks,
/// checked against a model: the byte stream of length-prefixed messages.
///
/// Checks: the sender's chunks carry exactly the model stream's bytes, lost data first
/// and never acknowledged bytes; the send buffer frees exactly the acknowledged prefix;
/// the receiver reports FlowControl / FinalSize / MessageTooLarge exactly when the model
/// says so and never Malformed, counts new bytes exactly and pops exactly the messages
/// written, in order; `is_finished` follows the final size. At the end, with credit
/// granted and everything delivered, every message arrives and the sender's buffer
/// empties.
pub fn channel_reassembly(data: &[u8]) {
    channel_run(data);
}

/// `channel_reassembly`; returns how far the input got (for seed selection).
pub(super) fn channel_run(data: &[u8]) -> u64 {
    let mut u = Unstructured::new(data);
    let Ok(setup) = u.arbitrary::<ChannelSetup>() else {
        return 0;
    };
    let window = u64::from(setup.window) + 1;
    let max_message = u64::from(setup.max_message);
    let mut s = SendState::new(window);
    let mut r = RecvState::new(window, max_message);
    let mut m = ChannelModel {
        messages: Vec::new(),
        stream: Vec::new(),
        ends: Vec::new(),
        popped: 0,
        acked: Vec::new(),
        first_unacked: 0,
        final_size: None,
        highest: 0,
        finished: false,
        discarded: false,
    };
    let mut in_flight: Vec<(u64, u64)> = Vec::new();
    for _ in 0..1024 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<ChannelOp>() else {
            break;
        };
        match op {
            ChannelOp::Write { len } => {
                let len = usize::from(len % 1500);
                if !m.finished && m.stream.len() + len + 2 <= MAX_STREAM {
                    let msg = m.write(len);
                    s.write_message(&msg);
                }
            }
            ChannelOp::Send { max_len, budget } => {
                let Some((off, len, is_new)) =
                    s.next_chunk(u64::from(max_len) + 1, u64::from(budget))
                else {
                    continue;
                };
                assert!(len > 0 && off + len <= s.end());
                if is_new {
                    assert_eq!(off, s.next, "new data continues the stream");
                    assert!(off + len <= s.max_data, "new data beyond the peer's credit");
                } else {
                    assert!(off + len <= s.next, "a retransmission of unsent bytes");
                    assert!(
                        m.acked[off as usize..(off + len) as usize]
                            .iter()
                            .all(|a| !a),
                        "retransmitting acknowledged bytes"
                    );
                }
                let mut bytes = Vec::new();
                s.copy_to(off, len, &mut bytes);
                assert_eq!(
                    bytes,
                    m.stream[off as usize..(off + len) as usize],
                    "the sender's bytes are the stream's"
                );
                s.on_sent(off, len);
                if in_flight.len() < 256 {
                    in_flight.push((off, len));
                }
            }
            ChannelOp::Deliver { index } => {
                if in_flight.is_empty() || m.discarded {
                    continue;
                }
                let (off, len) = in_flight[usize::from(index) % in_flight.len()];
                let before = r.advertised;
                if !m.deliver(&mut r, off, len, max_message) {
                    return m.popped as u64;
                }
                // An honest sender never exceeds the credit it was given.
                assert!(off + len <= before.max(window));
            }
            ChannelOp::Ack { index } => {
                if in_flight.is_empty() {
                    continue;
                }
                let (off, len) = in_flight.swap_remove(usize::from(index) % in_flight.len());
                s.on_acked(off, len);
                m.acked[off as usize..(off + len) as usize].fill(true);
                while m.acked.get(m.first_unacked) == Some(&true) {
                    m.first_unacked += 1;
                }
            }
            ChannelOp::Lose { index } => {
                if in_flight.is_empty() {
                    continue;
                }
                let (off, len) = in_flight.swap_remove(usize::from(index) % in_flight.len());
                s.on_lost(off, len);
            }
            ChannelOp::Raw { offset, len } => {
                let total = m.stream.len() as u64;
                if total == 0 || m.discarded {
                    continue;
                }
                let off = u64::from(offset) % total;
                let len = u64::from(len) % (total - off + 1);
                if !m.deliver(&mut r, off, len, max_message) {
                    return m.popped as u64;
                }
            }
            ChannelOp::Pop => m.pop(&mut r),
            ChannelOp::Credit => {
                if r.wants_stretch() {
                    r.grant_stretch(); // the connection's one stretch (a single channel here)
                }
                r.advertised = r.credit_limit().max(r.advertised);
                s.max_data = s.max_data.max(r.advertised);
            }
            ChannelOp::Finish => {
                m.finished = true;
                let end = m.stream.len() as u64;
                final_size(&mut m, &mut r, end);
            }
            ChannelOp::Peer { kind, value } => match kind {
                0 => final_size(&mut m, &mut r, u64::from(value)),
                1 => {
                    r.discard();
                    m.discarded = true;
                    assert_eq!(r.released, r.highest, "discarded bytes are released");
                }
                _ => {}
            },
        }
        m.check(&s, &r, window);
    }
    // Liveness: grant credit and deliver everything up to the final size, then every
    // message inside it must be read.
    if m.discarded {
        return m.popped as u64;
    }
    let total = m.stream.len() as u64;
    let limit = m.final_size.map_or(total, |f| f.min(total));
    let expected = m.ends.iter().filter(|&&e| e <= limit).count();
    for _ in 0..4096 {
        if r.wants_stretch() {
            r.grant_stretch();
        }
        r.advertised = r.credit_limit().max(r.advertised);
        let upto = limit.min(r.advertised);
        if !m.deliver(&mut r, 0, upto, max_message) {
            return m.popped as u64;
        }
        while r.has_message() {
            m.pop(&mut r);
        }
        if m.popped >= expected {
            break;
        }
    }
    assert_eq!(
        m.popped, expected,
        "every message arrives once credit allows"
    );
    assert!(!r.has_message(), "no message beyond the final size");
    s.on_acked(0, total);
    assert_eq!(s.buffered(), 0, "everything acknowledged frees the buffer");
    assert_eq!(r.is_finished(), m.final_size == Some(m.consumed()));
    1000 + m.popped as u64
}

pub(super) fn final_size(m: &mut ChannelModel, r: &mut RecvState, value: u64) {
    let expect_err = value < m.highest || m.final_size.is_some_and(|f| f != value);
    let result = r.on_final_size(value);
    assert_eq!(
        result.is_err(),
        expect_err,
        "final size {value}: {result:?}"
    );
    if result.is_ok() {
        m.final_size = Some(value);
    }
}
