//! QUIC-style variable-length integers (RFC 9000 §16) and a bounds-checked reader.
//!
//! The two high bits of the first byte give the encoded length (`00` = 1, `01` = 2,
//! `10` = 4, `11` = 8 bytes); the remaining bits are the value, big-endian. Unlike
//! RFC 9000, netchan requires the *minimal* encoding: decoders reject anything longer
//! with [`WireError::NonMinimalVarint`], so every value has exactly one valid encoding.

use super::WireError;

/// Largest value a varint can carry: 2^62 - 1.
pub const MAX_VARINT: u64 = (1 << 62) - 1;

/// Largest value of a 1-byte varint.
const MAX_1: u64 = (1 << 6) - 1;
/// Largest value of a 2-byte varint.
const MAX_2: u64 = (1 << 14) - 1;
/// Largest value of a 4-byte varint.
const MAX_4: u64 = (1 << 30) - 1;

/// A value known to fit in a varint (at most [`MAX_VARINT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VarInt(u64);

impl VarInt {
    /// The largest representable value, 2^62 - 1.
    pub const MAX: VarInt = VarInt(MAX_VARINT);

    /// `Some` if `v` fits in a varint (`v <= MAX_VARINT`).
    pub const fn new(v: u64) -> Option<Self> {
        if v <= MAX_VARINT {
            Some(VarInt(v))
        } else {
            None
        }
    }

    /// Every `u32` fits.
    pub const fn from_u32(v: u32) -> Self {
        VarInt(v as u64)
    }

    /// The value.
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// Encoded size (1, 2, 4 or 8 bytes).
    pub fn encoded_len(self) -> usize {
        varint_len(self.0)
    }

    /// Appends the minimal encoding.
    pub fn encode(self, out: &mut Vec<u8>) {
        write_varint(out, self.0);
    }
}

impl From<u32> for VarInt {
    fn from(v: u32) -> Self {
        VarInt::from_u32(v)
    }
}

impl From<VarInt> for u64 {
    fn from(v: VarInt) -> Self {
        v.0
    }
}

/// Encoded size of `v` (1, 2, 4 or 8). `v` must be <= MAX_VARINT (debug-asserted).
///
/// For `v > MAX_VARINT` (a caller bug) this returns 8, matching what [`write_varint`]
/// writes in release builds.
pub fn varint_len(v: u64) -> usize {
    debug_assert!(v <= MAX_VARINT, "varint value {v} exceeds 2^62 - 1");
    if v <= MAX_1 {
        1
    } else if v <= MAX_2 {
        2
    } else if v <= MAX_4 {
        4
    } else {
        8
    }
}

/// Appends the minimal encoding of `v` (<= MAX_VARINT).
///
/// Callers guarantee `v <= MAX_VARINT`; this is checked with `debug_assert!`. In release
/// builds an out-of-range value is not silently "fixed": the 8-byte form of
/// `v & MAX_VARINT` is written (exactly [`varint_len`]`(v)` bytes, so length accounting
/// stays consistent), which is a wrong value the peer may reject — it is a caller bug.
pub fn write_varint(out: &mut Vec<u8>, v: u64) {
    debug_assert!(v <= MAX_VARINT, "varint value {v} exceeds 2^62 - 1");
    if v <= MAX_1 {
        // Lossless: v < 2^6.
        out.push(v as u8);
    } else if v <= MAX_2 {
        // Lossless: v < 2^14.
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v <= MAX_4 {
        // Lossless: v < 2^30.
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.extend_from_slice(&((v & MAX_VARINT) | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

/// A cursor over untrusted bytes. Every read is bounds-checked and returns a typed error.
///
/// A failed read leaves the cursor where it was.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    /// Invariant: `pos <= buf.len()`.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Bytes consumed so far (the offset of the next read in the original buffer).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unconsumed bytes, without consuming them.
    fn remaining_slice(&self) -> &'a [u8] {
        // `pos <= buf.len()` always holds, so this is never the empty fallback in practice.
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads exactly `N` bytes.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let arr = *self
            .remaining_slice()
            .first_chunk::<N>()
            .ok_or(WireError::Truncated { what })?;
        // Cannot overflow: N bytes were available after `pos`.
        self.pos += N;
        Ok(arr)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        let [b] = self.array::<1>(what)?;
        Ok(b)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array::<4>(what)?))
    }

    /// Reads a minimally encoded varint.
    ///
    /// Fails with [`WireError::Truncated`] if the input ends inside it and with
    /// [`WireError::NonMinimalVarint`] if a shorter encoding of the same value exists.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, WireError> {
        let rest = self.remaining_slice();
        let first = *rest.first().ok_or(WireError::Truncated { what })?;
        let len = 1usize << (first >> 6);
        let bytes = rest.get(..len).ok_or(WireError::Truncated { what })?;
        let value = bytes
            .iter()
            .skip(1)
            .fold(u64::from(first & 0x3f), |acc, &b| (acc << 8) | u64::from(b));
        let min = match len {
            1 => 0,
            2 => MAX_1 + 1,
            4 => MAX_2 + 1,
            _ => MAX_4 + 1,
        };
        if value < min {
            return Err(WireError::NonMinimalVarint);
        }
        // Cannot overflow: `len` bytes were available after `pos`.
        self.pos += len;
        Ok(value)
    }

    /// Reads `len` bytes, borrowing them from the input.
    pub fn bytes(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let out = self
            .remaining_slice()
            .get(..len)
            .ok_or(WireError::Truncated { what })?;
        // Cannot overflow: `len` bytes were available after `pos`.
        self.pos += len;
        Ok(out)
    }

    /// The next byte, without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.remaining_slice().first().copied()
    }

    /// Consumes a run of zero bytes; returns how many there were.
    pub fn skip_zeros(&mut self) -> usize {
        let rest = self.remaining_slice();
        let n = rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
        // Cannot overflow: `n <= remaining`.
        self.pos += n;
        n
    }

    /// Returns and consumes everything remaining.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.remaining_slice();
        self.pos = self.buf.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (value, exact minimal encoding) at every length boundary.
    const BOUNDARIES: &[(u64, &[u8])] = &[
        (0, &[0x00]),
        (1, &[0x01]),
        (37, &[0x25]),
        (63, &[0x3f]),
        (64, &[0x40, 0x40]),
        (15293, &[0x7b, 0xbd]),
        (16383, &[0x7f, 0xff]),
        (16384, &[0x80, 0x00, 0x40, 0x00]),
        (494_878_333, &[0x9d, 0x7f, 0x3e, 0x7d]),
        ((1 << 30) - 1, &[0xbf, 0xff, 0xff, 0xff]),
        (1 << 30, &[0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00]),
        (
            151_288_809_941_952_652,
            &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
        ),
        (
            (1 << 62) - 1,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];

    #[test]
    fn wire_varint_boundaries_encode_exactly() {
        for &(v, bytes) in BOUNDARIES {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(out, bytes, "encoding of {v}");
            assert_eq!(varint_len(v), bytes.len(), "varint_len({v})");
            let vi = VarInt::new(v).expect("boundary values fit");
            assert_eq!(vi.encoded_len(), bytes.len());
            let mut out2 = Vec::new();
            vi.encode(&mut out2);
            assert_eq!(out2, bytes);
        }
    }

    #[test]
    fn wire_varint_boundaries_decode_exactly() {
        for &(v, bytes) in BOUNDARIES {
            let mut r = Reader::new(bytes);
            assert_eq!(r.varint("v"), Ok(v), "decoding {bytes:02x?}");
            assert!(r.is_empty());
            assert_eq!(r.position(), bytes.len());
            // Trailing bytes are left alone.
            let mut with_tail = bytes.to_vec();
            with_tail.extend_from_slice(&[0xaa, 0xbb]);
            let mut r = Reader::new(&with_tail);
            assert_eq!(r.varint("v"), Ok(v));
            assert_eq!(r.rest(), &[0xaa, 0xbb]);
        }
    }

    #[test]
    fn wire_varint_len_classes() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(63), 1);
        assert_eq!(varint_len(64), 2);
        assert_eq!(varint_len(16383), 2);
        assert_eq!(varint_len(16384), 4);
        assert_eq!(varint_len((1 << 30) - 1), 4);
        assert_eq!(varint_len(1 << 30), 8);
        assert_eq!(varint_len(MAX_VARINT), 8);
    }

    #[test]
    fn wire_varint_rejects_non_minimal() {
        let cases: &[&[u8]] = &[
            &[0x40, 0x00],
            &[0x40, 0x25], // RFC 9000 accepts this for 37; we do not.
            &[0x40, 0x3f],
            &[0x80, 0x00, 0x00, 0x00],
            &[0x80, 0x00, 0x00, 0x3f],
            &[0x80, 0x00, 0x3f, 0xff],
            &[0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            &[0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f],
            &[0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0xff],
            &[0xc0, 0x00, 0x00, 0x00, 0x3f, 0xff, 0xff, 0xff],
        ];
        for &bytes in cases {
            let mut r = Reader::new(bytes);
            assert_eq!(
                r.varint("v"),
                Err(WireError::NonMinimalVarint),
                "{bytes:02x?}"
            );
            assert_eq!(r.position(), 0, "a failed read must not consume");
        }
    }

    #[test]
    fn wire_varint_truncated_at_every_length() {
        for &(_, bytes) in BOUNDARIES {
            for cut in 0..bytes.len() {
                let mut r = Reader::new(&bytes[..cut]);
                assert_eq!(
                    r.varint("field"),
                    Err(WireError::Truncated { what: "field" }),
                    "prefix {cut} of {bytes:02x?}"
                );
                assert_eq!(r.position(), 0);
            }
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "exceeds 2^62 - 1")]
    fn wire_varint_write_out_of_range_debug_asserts() {
        write_varint(&mut Vec::new(), MAX_VARINT + 1);
    }

    #[test]
    fn wire_varint_type_conversions() {
        assert_eq!(VarInt::new(MAX_VARINT), Some(VarInt::MAX));
        assert_eq!(VarInt::new(MAX_VARINT + 1), None);
        assert_eq!(VarInt::new(u64::MAX), None);
        assert_eq!(u64::from(VarInt::from(u32::MAX)), u64::from(u32::MAX));
        assert_eq!(VarInt::from_u32(7).into_inner(), 7);
    }

    #[test]
    fn wire_reader_primitives() {
        let buf = [0x01, 0x02, 0x03, 0x04, 0x05, 0x00, 0x00, 0x09];
        let mut r = Reader::new(&buf);
        assert_eq!(r.remaining(), 8);
        assert_eq!(r.peek_u8(), Some(0x01));
        assert_eq!(r.u8("a"), Ok(0x01));
        assert_eq!(r.u32("b"), Ok(0x0203_0405));
        assert_eq!(r.position(), 5);
        assert_eq!(r.skip_zeros(), 2);
        assert_eq!(r.skip_zeros(), 0);
        assert_eq!(r.bytes(2, "c"), Err(WireError::Truncated { what: "c" }));
        assert_eq!(r.position(), 7);
        assert_eq!(r.bytes(0, "c"), Ok(&[][..]));
        assert_eq!(r.rest(), &[0x09]);
        assert!(r.is_empty());
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.peek_u8(), None);
        assert_eq!(r.rest(), &[] as &[u8]);
        assert_eq!(r.u8("d"), Err(WireError::Truncated { what: "d" }));
        assert_eq!(r.u32("e"), Err(WireError::Truncated { what: "e" }));
        assert_eq!(r.varint("f"), Err(WireError::Truncated { what: "f" }));
        assert_eq!(
            r.bytes(usize::MAX, "g"),
            Err(WireError::Truncated { what: "g" })
        );
    }

    #[test]
    fn wire_reader_u32_is_big_endian_and_truncates() {
        let buf = [0xde, 0xad, 0xbe, 0xef];
        assert_eq!(Reader::new(&buf).u32("x"), Ok(0xdead_beef));
        for cut in 0..4 {
            let mut r = Reader::new(&buf[..cut]);
            assert_eq!(r.u32("x"), Err(WireError::Truncated { what: "x" }));
            assert_eq!(r.position(), 0);
        }
    }

    #[test]
    fn wire_reader_bytes_exact_and_huge() {
        let buf = [1u8, 2, 3];
        let mut r = Reader::new(&buf);
        assert_eq!(r.bytes(3, "x"), Ok(&buf[..]));
        let mut r = Reader::new(&buf);
        assert_eq!(r.bytes(4, "x"), Err(WireError::Truncated { what: "x" }));
        r.u8("skip").unwrap();
        assert_eq!(
            r.bytes(usize::MAX, "x"),
            Err(WireError::Truncated { what: "x" })
        );
        assert_eq!(r.remaining(), 2);
    }

    proptest! {
        #[test]
        fn wire_varint_roundtrip_property(v in 0..=MAX_VARINT) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.varint("v"), Ok(v));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn wire_varint_decode_arbitrary_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..10)) {
            let mut r = Reader::new(&bytes);
            if let Ok(v) = r.varint("v") {
                let mut out = Vec::new();
                write_varint(&mut out, v);
                prop_assert_eq!(&out[..], &bytes[..r.position()]);
            } else {
                prop_assert_eq!(r.position(), 0);
            }
        }
    }
}
