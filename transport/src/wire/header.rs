//! Packet headers: the byte view and the parsed representation.
//!
//! Every netchan datagram starts with a byte in `0x80..=0xBF` (the two high bits are
//! `10`), which keeps it apart from STUN (0–3) and DTLS (20–63) when multiplexed on one
//! socket (RFC 7983). That range is RTP/RTCP's in RFC 7983: netchan cannot share a
//! socket with RTP. Bit 5 (`0x20`) selects the header form:
//!
//! ```text
//! long  (handshake): 1 0 1 R T T T T | version u32 | dcid [8] | scid [8]    (21 bytes)
//!                    R = 0 reserved, TTTT = LongType
//! short (data):      1 0 0 0 0 K 0 0 | dcid [8] | path_id varint | packet_number varint
//!                    K = key phase, every other low bit reserved and zero
//! ```
//!
//! The payload is the rest of the datagram in both forms. Parsing is canonical: a header
//! that parses re-emits to exactly the bytes it was parsed from.

use super::WireError;
use super::varint::{Reader, varint_len, write_varint};

/// The protocol version this implementation speaks ("nc" v1).
pub const PROTOCOL_VERSION: u32 = 0x6e63_0001;
/// Connection IDs are always this long.
pub const CID_LEN: usize = 8;

/// The fixed high bits of every netchan first byte.
const FIXED_BITS: u8 = 0x80;
/// Mask of the two high bits of the first byte.
const FIXED_MASK: u8 = 0xc0;
/// Long-header form bit.
const LONG_BIT: u8 = 0x20;
/// Reserved bit of a long header (must be zero).
const LONG_RESERVED: u8 = 0x10;
/// Packet type bits of a long header.
const LONG_TYPE_MASK: u8 = 0x0f;
/// Key phase bit of a short header.
const KEY_PHASE_BIT: u8 = 0x04;
/// Reserved bits of a short header (bits 0, 1, 3 and 4; must be zero).
const SHORT_RESERVED: u8 = 0x1b;
/// Length of a long header: first byte, version, dcid, scid.
const LONG_HEADER_LEN: usize = 1 + 4 + CID_LEN + CID_LEN;
/// Offset of the dcid in a long header.
const LONG_DCID_OFFSET: usize = 1 + 4;
/// Offset of the dcid in a short header.
const SHORT_DCID_OFFSET: usize = 1;

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
    /// Stateless cookie reply, listener -> dialer (proves the dialer's address).
    Retry = 2,
    /// Third handshake message (XX pattern), dialer -> listener.
    Finish = 3,
}

impl LongType {
    /// The type from the low four bits of a long-header first byte.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(LongType::Initial),
            1 => Some(LongType::Handshake),
            2 => Some(LongType::Retry),
            3 => Some(LongType::Finish),
            _ => None,
        }
    }

    /// The type code carried in the low four bits of the first byte.
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

/// Parsed long header: `first | version u32 | dcid | scid`; the payload is the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader {
    /// Packet type.
    pub ty: LongType,
    /// Protocol version; parsed headers always carry [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Destination connection ID.
    pub dcid: ConnectionId,
    /// Source connection ID.
    pub scid: ConnectionId,
}

/// Parsed short header: `first | dcid | path_id varint | packet_number varint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortHeader {
    /// Key phase bit (selects the packet protection key generation).
    pub key_phase: bool,
    /// Destination connection ID.
    pub dcid: ConnectionId,
    /// Path the packet was sent on (multipath), at most [`MAX_VARINT`](super::MAX_VARINT).
    pub path_id: u64,
    /// Full packet number in the path's number space, at most
    /// [`MAX_VARINT`](super::MAX_VARINT).
    pub packet_number: u64,
}

/// Either header form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Handshake-phase header.
    Long(LongHeader),
    /// Data-phase header.
    Short(ShortHeader),
}

impl Header {
    /// Parses the header at the start of `datagram`; returns it and the header length.
    ///
    /// Errors, in the order they are checked: an empty datagram is
    /// [`WireError::Truncated`]; a first byte outside `0x80..=0xBF` or with a reserved bit
    /// set is [`WireError::InvalidFirstByte`]; an unknown long type is
    /// [`WireError::UnknownLongType`]; a version other than [`PROTOCOL_VERSION`] is
    /// [`WireError::UnsupportedVersion`]; a missing field is [`WireError::Truncated`]; a
    /// non-minimal varint is [`WireError::NonMinimalVarint`].
    pub fn parse(datagram: &[u8]) -> Result<(Header, usize), WireError> {
        let mut r = Reader::new(datagram);
        let first = r.u8("first byte")?;
        if first & FIXED_MASK != FIXED_BITS {
            return Err(WireError::InvalidFirstByte(first));
        }
        let header = if first & LONG_BIT != 0 {
            if first & LONG_RESERVED != 0 {
                return Err(WireError::InvalidFirstByte(first));
            }
            let bits = first & LONG_TYPE_MASK;
            let ty = LongType::from_bits(bits).ok_or(WireError::UnknownLongType(bits))?;
            let version = r.u32("version")?;
            if version != PROTOCOL_VERSION {
                return Err(WireError::UnsupportedVersion(version));
            }
            let dcid = ConnectionId(r.array("dcid")?);
            let scid = ConnectionId(r.array("scid")?);
            Header::Long(LongHeader {
                ty,
                version,
                dcid,
                scid,
            })
        } else {
            if first & SHORT_RESERVED != 0 {
                return Err(WireError::InvalidFirstByte(first));
            }
            let dcid = ConnectionId(r.array("dcid")?);
            let path_id = r.varint("path id")?;
            let packet_number = r.varint("packet number")?;
            Header::Short(ShortHeader {
                key_phase: first & KEY_PHASE_BIT != 0,
                dcid,
                path_id,
                packet_number,
            })
        };
        Ok((header, r.position()))
    }

    /// Appends the encoding; returns the number of bytes written.
    ///
    /// `path_id` and `packet_number` must be at most [`MAX_VARINT`](super::MAX_VARINT)
    /// (debug-asserted, see [`write_varint`]).
    pub fn emit(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        match self {
            Header::Long(h) => {
                out.push(FIXED_BITS | LONG_BIT | h.ty.bits());
                out.extend_from_slice(&h.version.to_be_bytes());
                out.extend_from_slice(&h.dcid.0);
                out.extend_from_slice(&h.scid.0);
            }
            Header::Short(h) => {
                let kp = if h.key_phase { KEY_PHASE_BIT } else { 0 };
                out.push(FIXED_BITS | kp);
                out.extend_from_slice(&h.dcid.0);
                write_varint(out, h.path_id);
                write_varint(out, h.packet_number);
            }
        }
        let written = out.len() - start;
        debug_assert_eq!(written, self.len());
        written
    }

    /// Exact encoded length.
    #[expect(
        clippy::len_without_is_empty,
        reason = "a header is never empty; `len` is its encoded size"
    )]
    pub fn len(&self) -> usize {
        match self {
            Header::Long(_) => LONG_HEADER_LEN,
            Header::Short(h) => 1 + CID_LEN + varint_len(h.path_id) + varint_len(h.packet_number),
        }
    }

    /// Destination connection ID.
    pub fn dcid(&self) -> ConnectionId {
        match self {
            Header::Long(h) => h.dcid,
            Header::Short(h) => h.dcid,
        }
    }
}

/// A checked, zero-copy view of one datagram: header bytes and payload bytes.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    buf: &'a [u8],
    header: Header,
    /// Invariant: `header_len <= buf.len()` (it is what `Header::parse` consumed).
    header_len: usize,
}

impl<'a> PacketView<'a> {
    /// Validates the header; the payload is whatever follows.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        let (header, header_len) = Header::parse(buf)?;
        Ok(Self {
            buf,
            header,
            header_len,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Length of the header in bytes.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Raw header bytes (the AEAD associated data).
    pub fn header_bytes(&self) -> &'a [u8] {
        // `header_len <= buf.len()` by construction, so the fallback is never taken.
        self.buf.get(..self.header_len).unwrap_or_default()
    }

    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        // `header_len <= buf.len()` by construction, so the fallback is never taken.
        self.buf.get(self.header_len..).unwrap_or_default()
    }

    /// Cheap demux without a full parse: is the first byte in the netchan range?
    pub fn is_netchan(first: u8) -> bool {
        first & FIXED_MASK == FIXED_BITS
    }

    /// Cheap demux: the destination CID, if the datagram is long enough.
    ///
    /// Looks only at the first byte's form bit; reserved bits and the version are not
    /// checked, so a `Some` does not mean the header parses.
    pub fn peek_dcid(buf: &[u8]) -> Option<ConnectionId> {
        let &first = buf.first()?;
        if !Self::is_netchan(first) {
            return None;
        }
        let offset = if first & LONG_BIT != 0 {
            LONG_DCID_OFFSET
        } else {
            SHORT_DCID_OFFSET
        };
        let cid = buf.get(offset..)?.first_chunk::<CID_LEN>()?;
        Some(ConnectionId(*cid))
    }
}

#[cfg(test)]
mod tests {
    use super::super::MAX_VARINT;
    use super::*;
    use proptest::prelude::*;

    const DCID: ConnectionId = ConnectionId([1, 2, 3, 4, 5, 6, 7, 8]);
    const SCID: ConnectionId = ConnectionId([0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);

    fn long(ty: LongType) -> Header {
        Header::Long(LongHeader {
            ty,
            version: PROTOCOL_VERSION,
            dcid: DCID,
            scid: SCID,
        })
    }

    /// (header, exact bytes) fixed vectors.
    fn vectors() -> Vec<(Header, Vec<u8>)> {
        vec![
            (
                long(LongType::Initial),
                vec![
                    0xa0, 0x6e, 0x63, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                ],
            ),
            (
                long(LongType::Handshake),
                vec![
                    0xa1, 0x6e, 0x63, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                ],
            ),
            (
                long(LongType::Retry),
                vec![
                    0xa2, 0x6e, 0x63, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                ],
            ),
            (
                Header::Short(ShortHeader {
                    key_phase: false,
                    dcid: ConnectionId([0xaa; 8]),
                    path_id: 0,
                    packet_number: 0,
                }),
                vec![
                    0x80, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0x00, 0x00,
                ],
            ),
            (
                Header::Short(ShortHeader {
                    key_phase: true,
                    dcid: DCID,
                    path_id: 1,
                    packet_number: 16384,
                }),
                vec![
                    0x84, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x01, 0x80, 0x00, 0x40,
                    0x00,
                ],
            ),
            (
                Header::Short(ShortHeader {
                    key_phase: false,
                    dcid: SCID,
                    path_id: 64,
                    packet_number: MAX_VARINT,
                }),
                vec![
                    0x80, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x40, 0x40, 0xff, 0xff,
                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
            ),
        ]
    }

    #[test]
    fn wire_header_fixed_vectors_emit() {
        for (h, bytes) in vectors() {
            let mut out = vec![0xee]; // emit appends
            let n = h.emit(&mut out);
            assert_eq!(&out[1..], &bytes[..], "{h:?}");
            assert_eq!(n, bytes.len());
            assert_eq!(h.len(), bytes.len());
        }
    }

    #[test]
    fn wire_header_fixed_vectors_parse() {
        for (h, bytes) in vectors() {
            assert_eq!(Header::parse(&bytes), Ok((h, bytes.len())), "{bytes:02x?}");
            // With a payload behind it.
            let mut dgram = bytes.clone();
            dgram.extend_from_slice(b"payload");
            assert_eq!(Header::parse(&dgram), Ok((h, bytes.len())));
            let view = PacketView::new_checked(&dgram).unwrap();
            assert_eq!(view.header(), &h);
            assert_eq!(view.header_len(), bytes.len());
            assert_eq!(view.header_bytes(), &bytes[..]);
            assert_eq!(view.payload(), b"payload");
            assert_eq!(view.as_bytes(), &dgram[..]);
            assert_eq!(PacketView::peek_dcid(&dgram), Some(h.dcid()));
            assert_eq!(PacketView::peek_dcid(&bytes), Some(h.dcid()));
        }
    }

    #[test]
    fn wire_header_long_is_21_bytes() {
        assert_eq!(long(LongType::Initial).len(), 21);
        assert_eq!(LONG_HEADER_LEN, 21);
    }

    #[test]
    fn wire_header_dcid_accessor() {
        assert_eq!(long(LongType::Initial).dcid(), DCID);
        let s = Header::Short(ShortHeader {
            key_phase: true,
            dcid: SCID,
            path_id: 0,
            packet_number: 0,
        });
        assert_eq!(s.dcid(), SCID);
    }

    /// Classifies every possible first byte with an otherwise valid, long-enough tail.
    /// The expectation is written out independently of the implementation's masks.
    #[test]
    fn wire_header_every_first_byte() {
        let valid: &[u8] = &[0x80, 0x84, 0xa0, 0xa1, 0xa2, 0xa3];
        for first in 0..=255u8 {
            // Tail valid for both forms: the version, then enough bytes for 2 CIDs; for a
            // short header: dcid = 6e 63 00 01 01 02 03 04, path_id = 0x05,
            // packet number = 0x06.
            let mut dgram = vec![first];
            dgram.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
            dgram.extend_from_slice(&DCID.0);
            dgram.extend_from_slice(&SCID.0);
            let res = Header::parse(&dgram);
            if valid.contains(&first) {
                let (h, len) = res.unwrap_or_else(|e| panic!("{first:#04x}: {e}"));
                let mut out = Vec::new();
                h.emit(&mut out);
                assert_eq!(&out[..], &dgram[..len], "{first:#04x}");
            } else if (0xa4..=0xaf).contains(&first) {
                assert_eq!(
                    res,
                    Err(WireError::UnknownLongType(first & 0x0f)),
                    "{first:#04x}"
                );
            } else {
                assert_eq!(res, Err(WireError::InvalidFirstByte(first)), "{first:#04x}");
            }
            let netchan = (0x80..=0xbf).contains(&first);
            assert_eq!(PacketView::is_netchan(first), netchan, "{first:#04x}");
            assert_eq!(
                PacketView::new_checked(&dgram).is_ok(),
                valid.contains(&first)
            );
            // Even a one-byte datagram is classified by its first byte alone.
            match Header::parse(&[first]) {
                Err(WireError::Truncated { .. }) => assert!(valid.contains(&first)),
                Err(WireError::UnknownLongType(t)) => assert_eq!(t, first & 0x0f),
                Err(WireError::InvalidFirstByte(b)) => assert_eq!(b, first),
                other => panic!("{first:#04x}: {other:?}"),
            }
        }
    }

    #[test]
    fn wire_header_reserved_bits_rejected() {
        // Long header: reserved bit 0x10 set, with any type.
        for first in 0xb0..=0xbfu8 {
            let mut dgram = vec![first];
            dgram.extend_from_slice(&[0x6e, 0x63, 0x00, 0x01]);
            dgram.extend_from_slice(&[0; 16]);
            assert_eq!(
                Header::parse(&dgram),
                Err(WireError::InvalidFirstByte(first))
            );
        }
        // Short header: each reserved bit alone and together with the key phase.
        for bit in [0x01u8, 0x02, 0x08, 0x10] {
            for kp in [0x00u8, 0x04] {
                let first = 0x80 | bit | kp;
                let mut dgram = vec![first];
                dgram.extend_from_slice(&[0; 10]);
                assert_eq!(
                    Header::parse(&dgram),
                    Err(WireError::InvalidFirstByte(first))
                );
            }
        }
        // Outside the netchan range: STUN, DTLS, RTP and the 11xxxxxx block.
        for first in [
            0x00u8, 0x01, 0x03, 0x14, 0x17, 0x3f, 0x40, 0x7f, 0xc0, 0xe0, 0xff,
        ] {
            let mut dgram = vec![first];
            dgram.extend_from_slice(&[0; 24]);
            assert_eq!(
                Header::parse(&dgram),
                Err(WireError::InvalidFirstByte(first))
            );
            assert_eq!(PacketView::peek_dcid(&dgram), None);
        }
    }

    #[test]
    fn wire_header_unknown_long_type() {
        for ty in 4..=15u8 {
            let first = 0xa0 | ty;
            let mut dgram = vec![first];
            dgram.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
            dgram.extend_from_slice(&[0; 16]);
            assert_eq!(Header::parse(&dgram), Err(WireError::UnknownLongType(ty)));
        }
    }

    #[test]
    fn wire_header_bad_version() {
        for version in [0u32, 1, 0x6e63_0000, 0x6e63_0002, 0x0000_0001, 0xffff_ffff] {
            let mut dgram = vec![0xa0];
            dgram.extend_from_slice(&version.to_be_bytes());
            dgram.extend_from_slice(&[0; 16]);
            assert_eq!(
                Header::parse(&dgram),
                Err(WireError::UnsupportedVersion(version))
            );
        }
        // The version is checked before the CIDs are required.
        assert_eq!(
            Header::parse(&[0xa1, 0x00, 0x00, 0x00, 0x01]),
            Err(WireError::UnsupportedVersion(1))
        );
    }

    #[test]
    fn wire_header_truncations() {
        assert_eq!(
            Header::parse(&[]),
            Err(WireError::Truncated { what: "first byte" })
        );
        for (h, bytes) in vectors() {
            for cut in 0..bytes.len() {
                let res = Header::parse(&bytes[..cut]);
                assert!(
                    matches!(res, Err(WireError::Truncated { .. })),
                    "{h:?} cut at {cut}: {res:?}"
                );
                assert!(PacketView::new_checked(&bytes[..cut]).is_err());
            }
        }
        // Field names in the errors.
        let long_bytes = &vectors()[0].1;
        assert_eq!(
            Header::parse(&long_bytes[..3]),
            Err(WireError::Truncated { what: "version" })
        );
        assert_eq!(
            Header::parse(&long_bytes[..12]),
            Err(WireError::Truncated { what: "dcid" })
        );
        assert_eq!(
            Header::parse(&long_bytes[..20]),
            Err(WireError::Truncated { what: "scid" })
        );
        let short_bytes = &vectors()[4].1;
        assert_eq!(
            Header::parse(&short_bytes[..8]),
            Err(WireError::Truncated { what: "dcid" })
        );
        assert_eq!(
            Header::parse(&short_bytes[..9]),
            Err(WireError::Truncated { what: "path id" })
        );
        assert_eq!(
            Header::parse(&short_bytes[..12]),
            Err(WireError::Truncated {
                what: "packet number"
            })
        );
    }

    #[test]
    fn wire_header_short_non_minimal_varints() {
        let mut dgram = vec![0x80];
        dgram.extend_from_slice(&DCID.0);
        dgram.extend_from_slice(&[0x40, 0x01, 0x00]); // path_id 1 in two bytes
        assert_eq!(Header::parse(&dgram), Err(WireError::NonMinimalVarint));
        let mut dgram = vec![0x80];
        dgram.extend_from_slice(&DCID.0);
        dgram.extend_from_slice(&[0x00, 0x80, 0x00, 0x00, 0x01]); // pn 1 in four bytes
        assert_eq!(Header::parse(&dgram), Err(WireError::NonMinimalVarint));
    }

    #[test]
    fn wire_header_peek_dcid_lengths() {
        let short = [0x80, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(PacketView::peek_dcid(&short), Some(DCID));
        assert_eq!(PacketView::peek_dcid(&short[..8]), None);
        let long = [0xa0, 0x6e, 0x63, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(PacketView::peek_dcid(&long), Some(DCID));
        assert_eq!(PacketView::peek_dcid(&long[..12]), None);
        assert_eq!(PacketView::peek_dcid(&[]), None);
        assert_eq!(PacketView::peek_dcid(&[0x7f, 1, 2, 3, 4, 5, 6, 7, 8]), None);
        assert_eq!(PacketView::peek_dcid(&[0xc0, 1, 2, 3, 4, 5, 6, 7, 8]), None);
    }

    #[test]
    fn wire_header_is_netchan_bounds() {
        assert!(!PacketView::is_netchan(0x00));
        assert!(!PacketView::is_netchan(0x7f));
        assert!(PacketView::is_netchan(0x80));
        assert!(PacketView::is_netchan(0xbf));
        assert!(!PacketView::is_netchan(0xc0));
        assert!(!PacketView::is_netchan(0xff));
    }

    fn arb_varint() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..64u64,
            64..16384u64,
            16384..(1u64 << 30),
            (1u64 << 30)..=MAX_VARINT,
        ]
    }

    fn arb_header() -> impl Strategy<Value = Header> {
        let cid = any::<[u8; 8]>().prop_map(ConnectionId);
        prop_oneof![
            (
                prop_oneof![
                    Just(LongType::Initial),
                    Just(LongType::Handshake),
                    Just(LongType::Retry),
                    Just(LongType::Finish)
                ],
                cid.clone(),
                cid.clone()
            )
                .prop_map(|(ty, dcid, scid)| Header::Long(LongHeader {
                    ty,
                    version: PROTOCOL_VERSION,
                    dcid,
                    scid
                })),
            (any::<bool>(), cid, arb_varint(), arb_varint()).prop_map(
                |(key_phase, dcid, path_id, packet_number)| Header::Short(ShortHeader {
                    key_phase,
                    dcid,
                    path_id,
                    packet_number
                })
            ),
        ]
    }

    proptest! {
        #[test]
        fn wire_header_roundtrip_property(
            h in arb_header(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut dgram = Vec::new();
            let n = h.emit(&mut dgram);
            prop_assert_eq!(n, h.len());
            prop_assert_eq!(dgram.len(), n);
            dgram.extend_from_slice(&payload);
            prop_assert_eq!(Header::parse(&dgram), Ok((h, n)));
            let view = PacketView::new_checked(&dgram).unwrap();
            prop_assert_eq!(view.header_bytes(), &dgram[..n]);
            prop_assert_eq!(view.payload(), &payload[..]);
            prop_assert_eq!(PacketView::peek_dcid(&dgram), Some(h.dcid()));
        }

        #[test]
        fn wire_header_parse_arbitrary_never_panics(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40),
                (0x80..=0xbfu8, proptest::collection::vec(any::<u8>(), 0..40))
                    .prop_map(|(f, rest)| { let mut v = vec![f]; v.extend(rest); v }),
                (0xa0..=0xa3u8, proptest::collection::vec(any::<u8>(), 0..30))
                    .prop_map(|(f, rest)| {
                        let mut v = vec![f];
                        v.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
                        v.extend(rest);
                        v
                    }),
            ]
        ) {
            match Header::parse(&bytes) {
                Ok((h, len)) => {
                    prop_assert!(len <= bytes.len());
                    prop_assert_eq!(h.len(), len);
                    let mut out = Vec::new();
                    h.emit(&mut out);
                    prop_assert_eq!(&out[..], &bytes[..len]);
                    prop_assert_eq!(PacketView::peek_dcid(&bytes), Some(h.dcid()));
                }
                Err(_) => prop_assert!(PacketView::new_checked(&bytes).is_err()),
            }
        }
    }
}
