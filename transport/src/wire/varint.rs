//! QUIC-style variable-length integers (RFC 9000 §16) and a bounds-checked reader.
#![allow(missing_docs, clippy::todo)] // skeleton: implemented by the wire task

use super::WireError;

/// Largest value a varint can carry: 2^62 - 1.
pub const MAX_VARINT: u64 = (1 << 62) - 1;

/// A value known to fit in a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VarInt(u64);

/// Encoded size of `v` (1, 2, 4 or 8). `v` must be <= MAX_VARINT (debug-asserted).
pub fn varint_len(v: u64) -> usize {
    todo!()
}

/// Appends the minimal encoding of `v` (<= MAX_VARINT).
pub fn write_varint(out: &mut Vec<u8>, v: u64) {
    todo!()
}

/// A cursor over untrusted bytes. Every read is bounds-checked and returns a typed error.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        todo!()
    }
    pub fn position(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        todo!()
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        todo!()
    }
    pub fn varint(&mut self, what: &'static str) -> Result<u64, WireError> {
        todo!()
    }
    pub fn bytes(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        todo!()
    }
    pub fn peek_u8(&self) -> Option<u8> {
        todo!()
    }
    pub fn rest(&mut self) -> &'a [u8] {
        todo!()
    }
}
