//! Packet headers: the byte view and the parsed representation.
#![allow(missing_docs, clippy::todo, unused)] // skeleton: implemented by the wire task

use super::WireError;

/// The protocol version this implementation speaks ("nc" v1).
pub const PROTOCOL_VERSION: u32 = 0x6e63_0001;
/// Connection IDs are always this long.
pub const CID_LEN: usize = 8;

/// An 8-byte connection ID chosen by the endpoint that receives packets carrying it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnectionId(pub [u8; CID_LEN]);

impl std::fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Long-header packet types (handshake phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongType {
    /// First handshake message, dialer -> listener.
    Initial = 0,
    /// Second handshake message, listener -> dialer.
    Handshake = 1,
    /// Stateless cookie reply (reserved for the security layer).
    Retry = 2,
}

/// Parsed long header: `first | version u32 | dcid | scid`; the payload is the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader {
    pub ty: LongType,
    pub version: u32,
    pub dcid: ConnectionId,
    pub scid: ConnectionId,
}

/// Parsed short header: `first | dcid | path_id varint | packet_number varint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortHeader {
    pub key_phase: bool,
    pub dcid: ConnectionId,
    pub path_id: u64,
    pub packet_number: u64,
}

/// Either header form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    Long(LongHeader),
    Short(ShortHeader),
}

impl Header {
    /// Parses the header at the start of `datagram`; returns it and the header length.
    pub fn parse(datagram: &[u8]) -> Result<(Header, usize), WireError> {
        todo!()
    }
    /// Appends the encoding; returns the number of bytes written.
    pub fn emit(&self, out: &mut Vec<u8>) -> usize {
        todo!()
    }
    /// Exact encoded length.
    pub fn len(&self) -> usize {
        todo!()
    }
    /// Destination connection ID.
    pub fn dcid(&self) -> ConnectionId {
        todo!()
    }
}

/// A checked, zero-copy view of one datagram: header bytes and payload bytes.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    buf: &'a [u8],
    header: Header,
    header_len: usize,
}

impl<'a> PacketView<'a> {
    /// Validates the header; the payload is whatever follows.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        todo!()
    }
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// Raw header bytes (the AEAD associated data).
    pub fn header_bytes(&self) -> &'a [u8] {
        todo!()
    }
    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        todo!()
    }
    /// Cheap demux without a full parse: is the first byte in the netchan range?
    pub fn is_netchan(first: u8) -> bool {
        todo!()
    }
    /// Cheap demux: the destination CID, if the datagram is long enough.
    pub fn peek_dcid(buf: &[u8]) -> Option<ConnectionId> {
        todo!()
    }
}
