//! The netchan session layer on top of transport channels (see `docs/PROTOCOL.md`,
//! "Channel layer").
//!
//! Every named channel a node has with a peer uses one transport channel per direction of
//! data: the side that opens it writes `DATA` and `SEND_CLOSED` frames on it; the other
//! side writes `CONSUMED` and `RECV_CLOSED` back on the same transport channel. The open
//! label carries the channel's name, message type, receive capacity and the resume point
//! after a reconnection. Everything here is total: hostile input gives an error.

use netchan_transport::wire::{Reader, WireError, write_varint};

/// Why bytes from a peer were not a valid channel-layer label or frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed channel-layer input: {0}")]
pub(crate) struct ProtoError(pub &'static str);

impl From<WireError> for ProtoError {
    fn from(_: WireError) -> Self {
        ProtoError("truncated or non-minimal field")
    }
}

/// First bytes of every label netchan opens a transport channel with.
pub(crate) const LABEL_MAGIC: &[u8; 3] = b"nc1";
/// Longest channel name.
pub const MAX_NAME_LEN: usize = 255;
/// Longest type name carried in a label (longer names are truncated; the hash decides).
pub(crate) const MAX_TYPE_NAME_LEN: usize = 512;

/// What one side says when it opens its data direction of a named channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenLabel {
    pub name: String,
    pub type_hash: u64,
    pub type_name: String,
    /// Messages the opener buffers for its receivers (0 = rendezvous).
    pub capacity: u32,
    /// Largest serialized message the opener accepts.
    pub max_message: u64,
    /// Random id of the opener's node instance (changes when the node restarts).
    pub incarnation: u64,
    /// `(your incarnation, next sequence number I expect from you)` when the opener
    /// still holds the receive state of an earlier connection.
    pub resume: Option<(u64, u64)>,
}

impl OpenLabel {
    pub fn encode(&self) -> Vec<u8> {
        let name = &self.name.as_bytes()[..self.name.len().min(MAX_NAME_LEN)];
        let tn = truncate_utf8(&self.type_name, MAX_TYPE_NAME_LEN);
        let mut out = Vec::with_capacity(48 + name.len() + tn.len());
        out.extend_from_slice(LABEL_MAGIC);
        write_varint(&mut out, name.len() as u64);
        out.extend_from_slice(name);
        out.extend_from_slice(&self.type_hash.to_be_bytes());
        write_varint(&mut out, tn.len() as u64);
        out.extend_from_slice(tn.as_bytes());
        write_varint(&mut out, u64::from(self.capacity));
        write_varint(
            &mut out,
            self.max_message.min(netchan_transport::wire::MAX_VARINT),
        );
        out.extend_from_slice(&self.incarnation.to_be_bytes());
        match self.resume {
            None => out.push(0),
            Some((inc, seq)) => {
                out.push(1);
                out.extend_from_slice(&inc.to_be_bytes());
                write_varint(&mut out, seq);
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<Self, ProtoError> {
        let mut r = Reader::new(b);
        if &r.array::<3>("label magic")? != LABEL_MAGIC {
            return Err(ProtoError("not a netchan channel label"));
        }
        let n = r.varint("name length")? as usize;
        if n > MAX_NAME_LEN {
            return Err(ProtoError("channel name too long"));
        }
        let name = utf8(r.bytes(n, "name")?)?;
        let type_hash = u64::from_be_bytes(r.array::<8>("type hash")?);
        let n = r.varint("type name length")? as usize;
        if n > MAX_TYPE_NAME_LEN {
            return Err(ProtoError("type name too long"));
        }
        let type_name = utf8(r.bytes(n, "type name")?)?;
        let capacity =
            u32::try_from(r.varint("capacity")?).map_err(|_| ProtoError("capacity too large"))?;
        let max_message = r.varint("max message")?;
        let incarnation = u64::from_be_bytes(r.array::<8>("incarnation")?);
        let resume = match r.u8("resume flag")? {
            0 => None,
            1 => {
                let inc = u64::from_be_bytes(r.array::<8>("resume incarnation")?);
                Some((inc, r.varint("resume sequence")?))
            }
            _ => return Err(ProtoError("bad resume flag")),
        };
        if !r.is_empty() {
            return Err(ProtoError("trailing bytes in channel label"));
        }
        Ok(Self {
            name,
            type_hash,
            type_name,
            capacity,
            max_message,
            incarnation,
            resume,
        })
    }
}

fn utf8(b: &[u8]) -> Result<String, ProtoError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| ProtoError("name is not UTF-8"))
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const DATA: u8 = 0;
const CONSUMED: u8 = 1;
const SEND_CLOSED: u8 = 2;
const RECV_CLOSED: u8 = 3;

/// One message of the channel layer (one transport message each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A serialized value with its sequence number (opener → peer).
    Data { seq: u64, payload: &'a [u8] },
    /// Every message below this sequence number was taken by a receiver (peer → opener).
    Consumed(u64),
    /// The opener's senders are gone; `end` is one past the last sequence number.
    SendClosed(u64),
    /// The peer's receivers are gone: stop sending (peer → opener).
    RecvClosed,
}

/// Most bytes `encode_data_header` writes.
pub(crate) const DATA_HEADER_MAX: usize = 9;

pub(crate) fn encode_data_header(out: &mut Vec<u8>, seq: u64) {
    out.push(DATA);
    write_varint(out, seq);
}

impl Frame<'_> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Frame::Data { seq, payload } => {
                encode_data_header(out, seq);
                out.extend_from_slice(payload);
            }
            Frame::Consumed(n) => {
                out.push(CONSUMED);
                write_varint(out, n);
            }
            Frame::SendClosed(n) => {
                out.push(SEND_CLOSED);
                write_varint(out, n);
            }
            Frame::RecvClosed => out.push(RECV_CLOSED),
        }
    }
}

impl<'a> Frame<'a> {
    pub fn decode(b: &'a [u8]) -> Result<Self, ProtoError> {
        let mut r = Reader::new(b);
        let f = match r.u8("frame type")? {
            DATA => {
                let seq = r.varint("sequence")?;
                let payload = r.bytes(r.remaining(), "payload")?;
                return Ok(Frame::Data { seq, payload });
            }
            CONSUMED => Frame::Consumed(r.varint("consumed")?),
            SEND_CLOSED => Frame::SendClosed(r.varint("end")?),
            RECV_CLOSED => Frame::RecvClosed,
            _ => return Err(ProtoError("unknown channel frame")),
        };
        if !r.is_empty() {
            return Err(ProtoError("trailing bytes in channel frame"));
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_round_trip_and_truncation() {
        let l = OpenLabel {
            name: "jobs".into(),
            type_hash: 0x0102_0304_0506_0708,
            type_name: "alloc::string::String".into(),
            capacity: 16,
            max_message: 1 << 24,
            incarnation: 42,
            resume: Some((7, 1_000_000)),
        };
        let b = l.encode();
        assert_eq!(OpenLabel::decode(&b).unwrap(), l);
        for n in 0..b.len() {
            assert!(OpenLabel::decode(&b[..n]).is_err(), "prefix {n} accepted");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(OpenLabel::decode(&extra).is_err());
        let l2 = OpenLabel { resume: None, ..l };
        assert_eq!(OpenLabel::decode(&l2.encode()).unwrap(), l2);
        // The label fits the transport's label limit even with the longest names.
        let big = OpenLabel {
            name: "n".repeat(1000),
            type_name: "é".repeat(1000),
            ..l2
        };
        let enc = big.encode();
        assert!(enc.len() <= netchan_transport::wire::MAX_LABEL_LEN);
        let dec = OpenLabel::decode(&enc).unwrap();
        assert_eq!(dec.name.len(), MAX_NAME_LEN);
        assert!(dec.type_name.len() <= MAX_TYPE_NAME_LEN);
    }

    #[test]
    fn frames_round_trip() {
        for f in [
            Frame::Data {
                seq: 0,
                payload: b"",
            },
            Frame::Data {
                seq: 1 << 40,
                payload: b"hello",
            },
            Frame::Consumed(12345),
            Frame::SendClosed(9),
            Frame::RecvClosed,
        ] {
            let mut b = Vec::new();
            f.encode(&mut b);
            assert_eq!(Frame::decode(&b).unwrap(), f);
        }
        assert!(Frame::decode(&[]).is_err());
        assert!(Frame::decode(&[9]).is_err());
        assert!(Frame::decode(&[CONSUMED, 1, 2]).is_err());
    }
}
