//! Frames: the parsed representation, encoding, decoding and exact sizes.
#![allow(missing_docs, clippy::todo, unused)] // skeleton: implemented by the wire task

use super::{Reader, WireError};

/// Most ACK ranges one ACK frame may carry (decoders reject more).
pub const MAX_ACK_RANGES: usize = 64;
/// Longest channel label.
pub const MAX_LABEL_LEN: usize = 1024;
/// Longest close reason.
pub const MAX_REASON_LEN: usize = 1024;

/// Frame type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    Padding = 0x00,
    Ping = 0x01,
    Ack = 0x02,
    ChannelData = 0x03,
    Datagram = 0x04,
    MaxData = 0x05,
    MaxChannelData = 0x06,
    ChannelOpen = 0x07,
    ChannelClose = 0x08,
    ConnectionClose = 0x09,
    DataBlocked = 0x0a,
    ChannelBlocked = 0x0b,
}

/// An ACK: ranges of received packet numbers of one path, highest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckFrame {
    pub path_id: u64,
    /// Microseconds the receiver held the largest acknowledged packet before acking it.
    pub ack_delay_us: u64,
    /// Inclusive ranges `(smallest, largest)`, strictly descending and non-adjacent,
    /// 1..=MAX_ACK_RANGES of them.
    pub ranges: Vec<(u64, u64)>,
}

/// One frame. Data-carrying variants borrow from the decrypted payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `len` zero bytes (decoders coalesce a run of zeros into one frame).
    Padding { len: usize },
    Ping,
    Ack(AckFrame),
    ChannelData { channel: u64, offset: u64, data: &'a [u8] },
    Datagram { data: &'a [u8] },
    MaxData { max: u64 },
    MaxChannelData { channel: u64, max: u64 },
    ChannelOpen { channel: u64, label: &'a [u8] },
    ChannelClose { channel: u64, final_size: u64, error_code: u64 },
    ConnectionClose { error_code: u64, reason: &'a [u8] },
    DataBlocked { limit: u64 },
    ChannelBlocked { channel: u64, limit: u64 },
}

impl<'a> Frame<'a> {
    pub fn frame_type(&self) -> FrameType {
        todo!()
    }
    /// Exact number of bytes `encode` writes.
    pub fn encoded_len(&self) -> usize {
        todo!()
    }
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        todo!()
    }
    /// Decodes one frame from the reader.
    pub fn decode(r: &mut Reader<'a>) -> Result<Frame<'a>, WireError> {
        todo!()
    }
    /// Whether receiving this frame obliges the peer to send an ACK.
    pub fn is_ack_eliciting(&self) -> bool {
        todo!()
    }
    /// Overhead of a ChannelData frame header carrying `len` bytes at `offset` on `channel`.
    pub fn channel_data_overhead(channel: u64, offset: u64, len: usize) -> usize {
        todo!()
    }
}

/// Iterator over the frames of a decrypted payload; stops after the first error.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Frames<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        Self { r: Reader::new(payload), failed: false }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        todo!()
    }
}
