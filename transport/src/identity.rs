//! Node identities: static X25519 keypairs and their printable public keys.
//!
//! A peer is identified by its static public key (`DESIGN.md` §4). The printable form
//! of a key is lowercase RFC 4648 base32 without padding: 52 characters from `a-z2-7`,
//! e.g. `quqpacmjgctvi5elpxolipxxlig36oqney4bv5hlusuy5ku3jzva` (the public key of
//! RFC 7748 §6.1's Alice). Parsing accepts upper and lower case but rejects any other
//! length, any other character and non-canonical encodings (non-zero trailing bits in the
//! last character), so every key has exactly one printable form up to case.
//!
//! A peer address is written `KEY@host:port` ([`parse_peer_address`]).
//!
//! This module is pure (no files, no OS randomness): key files live in the `netchan`
//! crate, and fresh keys are made with [`Keypair::from_seed`] from a seed the caller
//! obtained from a CSPRNG.
#![forbid(unsafe_code)]

use core::fmt;
use core::str::FromStr;

use data_encoding::{BASE32_NOPAD, BASE32_NOPAD_NOCASE, DecodeKind, HEXLOWER_PERMISSIVE};
use zeroize::{Zeroize, Zeroizing};

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a key's printable form (base32, no padding) in characters.
pub const KEY_TEXT_LEN: usize = 52;
/// Length of a secret key written as hexadecimal, in characters.
pub const KEY_HEX_LEN: usize = 64;

/// BLAKE3 `derive_key` context for [`Keypair::from_seed`].
const SEED_CONTEXT: &str = "netchan keypair v1";

/// Errors parsing keys and peer addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Raw key bytes of the wrong length (a key is exactly 32 bytes).
    #[error("a key must be exactly 32 bytes, got {found}")]
    ByteLength {
        /// Number of bytes given.
        found: usize,
    },
    /// A printable public key of the wrong length (it is exactly 52 base32 characters).
    #[error("a key must be 52 base32 characters, got {found}")]
    TextLength {
        /// Number of bytes of text given.
        found: usize,
    },
    /// A secret key text of the wrong length (52 base32 or 64 hex characters).
    #[error("a secret key must be 52 base32 or 64 hex characters, got {found}")]
    SecretTextLength {
        /// Number of bytes of text given.
        found: usize,
    },
    /// A character outside the alphabet (base32 `a-z2-7`, or hex `0-9a-f` for secrets).
    /// The character itself is not reported, since the text may be a secret.
    #[error("invalid character at position {position} in key")]
    InvalidCharacter {
        /// Byte offset of the offending character.
        position: usize,
    },
    /// The last base32 character has non-zero unused trailing bits: not the canonical
    /// encoding of any key.
    #[error("non-canonical key encoding (last character has non-zero trailing bits)")]
    NonCanonical,
    /// A peer address without the `@` between key and address.
    #[error("peer address must be KEY@host:port (missing '@')")]
    MissingAt,
    /// A peer address with nothing after the `@`.
    #[error("peer address has no host:port after '@'")]
    EmptyAddress,
}

/// A node's static X25519 public key: its identity on the network.
///
/// `Display` / `FromStr` use the printable form (see the [module docs](self)); `Debug`
/// shows it too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A public key from exactly 32 raw bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = b
            .try_into()
            .map_err(|_| KeyError::ByteLength { found: b.len() })?;
        Ok(Self(bytes))
    }
}

impl From<[u8; 32]> for PublicKey {
    fn from(b: [u8; 32]) -> Self {
        Self(b)
    }
}

/// Lowercase base32 of 32 bytes into `out`.
fn encode_text(bytes: &[u8; 32], out: &mut [u8; KEY_TEXT_LEN]) {
    BASE32_NOPAD.encode_mut(bytes, out);
    out.make_ascii_lowercase();
}

/// Decode exactly 52 base32 characters (either case) into 32 bytes.
fn decode_text(s: &[u8], out: &mut [u8; 32]) -> Result<(), KeyError> {
    if s.len() != KEY_TEXT_LEN {
        return Err(KeyError::TextLength { found: s.len() });
    }
    match BASE32_NOPAD_NOCASE.decode_mut(s, out) {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.error.kind {
            DecodeKind::Trailing => KeyError::NonCanonical,
            DecodeKind::Length => KeyError::TextLength { found: s.len() },
            DecodeKind::Symbol | DecodeKind::Padding => KeyError::InvalidCharacter {
                position: e.error.position,
            },
        }),
    }
}

impl PublicKey {
    /// The first 8 characters of the text form: enough to tell peers apart in logs.
    pub fn short(&self) -> String {
        let mut s = self.to_string();
        s.truncate(8);
        s
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; KEY_TEXT_LEN];
        encode_text(&self.0, &mut buf);
        // The base32 alphabet is ASCII.
        f.write_str(core::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let mut out = [0u8; 32];
        decode_text(s.as_bytes(), &mut out)?;
        Ok(Self(out))
    }
}

/// A node's static X25519 keypair. The secret is zeroized on drop and redacted in
/// `Debug`.
///
/// The stored secret is clamped (RFC 7748 §5) when the keypair is made, which is what
/// X25519 does implicitly with any scalar: [`from_secret`](Self::from_secret) of an
/// unclamped scalar and of its clamped form give the same keypair, and
/// [`secret_bytes`](Self::secret_bytes) / [`to_bytes`](Self::to_bytes) return the
/// clamped form.
#[derive(Clone)]
pub struct Keypair {
    secret: [u8; 32],
    public: PublicKey,
}

impl Drop for Keypair {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for Keypair {}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &format_args!("{}", self.public))
            .field("secret", &format_args!("<redacted>"))
            .finish()
    }
}

/// RFC 7748 clamping of an X25519 scalar.
fn clamp(s: &mut [u8; 32]) {
    s[0] &= 248;
    s[31] &= 127;
    s[31] |= 64;
}

impl Keypair {
    /// The keypair of an X25519 secret scalar (clamped as X25519 does implicitly); the
    /// public key is computed with x25519-dalek.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let mut secret = Zeroizing::new(secret);
        clamp(&mut secret);
        let public = PublicKey(x25519_dalek::x25519(
            *secret,
            x25519_dalek::X25519_BASEPOINT_BYTES,
        ));
        Self {
            secret: *secret,
            public,
        }
    }

    /// A deterministic keypair from a 32-byte seed: the secret is BLAKE3
    /// `derive_key("netchan keypair v1", seed)`. Use a seed from a CSPRNG for a fresh
    /// identity; the same seed always gives the same keypair (useful in tests).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let seed = Zeroizing::new(seed);
        let derived = Zeroizing::new(blake3::derive_key(SEED_CONTEXT, &*seed));
        Self::from_secret(*derived)
    }

    /// The (clamped) secret scalar, for the handshake. Handle with care.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The (clamped) secret scalar as 32 bytes; [`from_bytes`](Self::from_bytes) is the
    /// inverse. The caller should zeroize the copy when done.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.secret
    }

    /// A keypair from a secret of exactly 32 raw bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, KeyError> {
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            b.try_into()
                .map_err(|_| KeyError::ByteLength { found: b.len() })?,
        );
        Ok(Self::from_secret(*secret))
    }

    /// A keypair from the secret written as text: 52 base32 characters (the form of
    /// [`secret_text`](Self::secret_text)) or 64 hex characters, either case. The text
    /// must be exactly that: no whitespace, no newline.
    pub fn from_secret_text(s: &str) -> Result<Self, KeyError> {
        let s = s.as_bytes();
        let mut secret = Zeroizing::new([0u8; 32]);
        match s.len() {
            KEY_TEXT_LEN => decode_text(s, &mut secret)?,
            KEY_HEX_LEN => {
                HEXLOWER_PERMISSIVE
                    .decode_mut(s, &mut *secret)
                    .map_err(|e| KeyError::InvalidCharacter {
                        position: e.error.position,
                    })?;
            }
            n => return Err(KeyError::SecretTextLength { found: n }),
        }
        Ok(Self::from_secret(*secret))
    }

    /// The secret as 52 lowercase base32 characters, in a buffer zeroized on drop.
    pub fn secret_text(&self) -> Zeroizing<String> {
        let mut buf = Zeroizing::new([0u8; KEY_TEXT_LEN]);
        encode_text(&self.secret, &mut buf);
        let mut out = Zeroizing::new(String::with_capacity(KEY_TEXT_LEN));
        // Base32 output is ASCII: push byte by byte so no unzeroized copy is made.
        out.extend(buf.iter().map(|&b| char::from(b)));
        out
    }
}

/// Split a peer address `KEY@host:port` into the peer's public key and the `host:port`
/// part (not resolved here: no DNS in this crate).
///
/// Errors: [`KeyError::MissingAt`] without `@`, the key's parse error for a bad key,
/// [`KeyError::EmptyAddress`] when nothing follows the `@`.
pub fn parse_peer_address(s: &str) -> Result<(PublicKey, &str), KeyError> {
    let (key, addr) = s.split_once('@').ok_or(KeyError::MissingAt)?;
    let key: PublicKey = key.parse()?;
    if addr.is_empty() {
        return Err(KeyError::EmptyAddress);
    }
    Ok((key, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> [u8; 32] {
        let v = HEXLOWER_PERMISSIVE.decode(s.as_bytes()).unwrap();
        v.try_into().unwrap()
    }

    const ALICE_SECRET: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const ALICE_PUBLIC: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

    #[test]
    fn rfc7748_vector() {
        let kp = Keypair::from_secret(unhex(ALICE_SECRET));
        assert_eq!(kp.public().0, unhex(ALICE_PUBLIC));
        assert_eq!(
            kp.public().to_string(),
            "quqpacmjgctvi5elpxolipxxlig36oqney4bv5hlusuy5ku3jzva"
        );
        // Bob's from the same section.
        let bob = Keypair::from_secret(unhex(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        assert_eq!(
            bob.public().0,
            unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        // Hex secret text gives the same keypair, either case.
        let t = Keypair::from_secret_text(ALICE_SECRET).unwrap();
        assert_eq!(t.public(), kp.public());
        let t = Keypair::from_secret_text(&ALICE_SECRET.to_uppercase()).unwrap();
        assert_eq!(t.public(), kp.public());
    }

    #[test]
    fn clamping_is_implicit() {
        let raw = unhex(ALICE_SECRET);
        let kp = Keypair::from_secret(raw);
        let mut clamped = raw;
        clamp(&mut clamped);
        assert_eq!(kp.secret_bytes(), &clamped);
        assert_eq!(Keypair::from_secret(clamped).public(), kp.public());
        // Same as x25519-dalek's StaticSecret.
        let s = x25519_dalek::StaticSecret::from(raw);
        assert_eq!(x25519_dalek::PublicKey::from(&s).to_bytes(), kp.public().0);
    }

    #[test]
    fn seed_is_deterministic() {
        let a = Keypair::from_seed([7; 32]);
        let b = Keypair::from_seed([7; 32]);
        let c = Keypair::from_seed([8; 32]);
        assert_eq!(a.public(), b.public());
        assert_eq!(a.secret_bytes(), b.secret_bytes());
        assert_ne!(a.public(), c.public());
    }

    #[test]
    fn bytes_round_trip() {
        let kp = Keypair::from_seed([1; 32]);
        let back = Keypair::from_bytes(&kp.to_bytes()).unwrap();
        assert_eq!(back.public(), kp.public());
        assert_eq!(back.secret_bytes(), kp.secret_bytes());
        assert_eq!(
            Keypair::from_bytes(&[0; 31]).unwrap_err(),
            KeyError::ByteLength { found: 31 }
        );
        assert_eq!(
            Keypair::from_bytes(&[0; 33]).unwrap_err(),
            KeyError::ByteLength { found: 33 }
        );
        assert_eq!(
            PublicKey::from_slice(&[0; 3]).unwrap_err(),
            KeyError::ByteLength { found: 3 }
        );
    }

    #[test]
    fn printable_round_trip() {
        for seed in 0..50u8 {
            let pk = Keypair::from_seed([seed; 32]).public();
            let s = pk.to_string();
            assert_eq!(s.len(), 52);
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
            );
            assert_eq!(s.parse::<PublicKey>().unwrap(), pk);
            assert_eq!(s.to_uppercase().parse::<PublicKey>().unwrap(), pk);
            assert_eq!(format!("{pk:?}"), format!("PublicKey({s})"));
        }
        // All-ones key: the last character carries 1 data bit and 4 trailing bits.
        let pk = PublicKey([0xff; 32]);
        assert_eq!(pk.to_string().parse::<PublicKey>().unwrap(), pk);
    }

    #[test]
    fn secret_text_round_trip() {
        let kp = Keypair::from_seed([9; 32]);
        let t = kp.secret_text();
        assert_eq!(t.len(), 52);
        let back = Keypair::from_secret_text(&t).unwrap();
        assert_eq!(back.secret_bytes(), kp.secret_bytes());
        assert_eq!(
            Keypair::from_secret_text("abc").unwrap_err(),
            KeyError::SecretTextLength { found: 3 }
        );
        let mut bad_hex = ALICE_SECRET.to_string();
        bad_hex.replace_range(10..11, "g");
        assert_eq!(
            Keypair::from_secret_text(&bad_hex).unwrap_err(),
            KeyError::InvalidCharacter { position: 10 }
        );
    }

    #[test]
    fn parse_errors_are_typed() {
        let s = Keypair::from_seed([3; 32]).public().to_string();
        assert_eq!(
            s[..51].parse::<PublicKey>().unwrap_err(),
            KeyError::TextLength { found: 51 }
        );
        assert_eq!(
            format!("{s}a").parse::<PublicKey>().unwrap_err(),
            KeyError::TextLength { found: 53 }
        );
        assert_eq!(
            "".parse::<PublicKey>().unwrap_err(),
            KeyError::TextLength { found: 0 }
        );
        for (i, bad) in [(0, "1"), (5, "8"), (20, "="), (30, "!"), (51, "0")] {
            let mut t = s.clone();
            t.replace_range(i..i + 1, bad);
            assert_eq!(
                t.parse::<PublicKey>().unwrap_err(),
                KeyError::InvalidCharacter { position: i },
                "{t}"
            );
        }
        // Non-ASCII of the right byte length.
        let mut t = s.clone();
        t.replace_range(0..2, "é");
        assert!(matches!(
            t.parse::<PublicKey>().unwrap_err(),
            KeyError::InvalidCharacter { .. }
        ));
        // Non-canonical: 52 chars carry 260 bits for 256, so the last character holds 1
        // data bit (its top bit) and 4 trailing bits that must be zero. Keep the data bit
        // and set a trailing bit.
        let mut t = Keypair::from_seed([4; 32]).public().to_string();
        let last = t.as_bytes()[51];
        let v = if last.is_ascii_lowercase() {
            last - b'a'
        } else {
            last - b'2' + 26
        };
        assert_eq!(v & 0b01111, 0, "canonical encoding has zero trailing bits");
        let nv = (v & 0b10000) | 0b00001;
        let nc = if nv < 26 { b'a' + nv } else { b'2' + nv - 26 };
        t.replace_range(51..52, core::str::from_utf8(&[nc]).unwrap());
        assert_eq!(t.parse::<PublicKey>().unwrap_err(), KeyError::NonCanonical);
    }

    #[test]
    fn peer_address() {
        let pk = Keypair::from_seed([5; 32]).public();
        let s = format!("{pk}@example.org:4433");
        assert_eq!(parse_peer_address(&s).unwrap(), (pk, "example.org:4433"));
        let s = format!("{}@[::1]:9", pk.to_string().to_uppercase());
        assert_eq!(parse_peer_address(&s).unwrap(), (pk, "[::1]:9"));
        assert_eq!(
            parse_peer_address("example.org:4433").unwrap_err(),
            KeyError::MissingAt
        );
        assert_eq!(
            parse_peer_address(&format!("{pk}@")).unwrap_err(),
            KeyError::EmptyAddress
        );
        assert_eq!(
            parse_peer_address("abc@host:1").unwrap_err(),
            KeyError::TextLength { found: 3 }
        );
        assert_eq!(
            parse_peer_address("@host:1").unwrap_err(),
            KeyError::TextLength { found: 0 }
        );
    }

    #[test]
    fn debug_redacts_secret() {
        let kp = Keypair::from_secret(unhex(ALICE_SECRET));
        let d = format!("{kp:?}");
        let d_alt = format!("{kp:#?}");
        let hex = HEXLOWER_PERMISSIVE.encode(kp.secret_bytes());
        let b32 = kp.secret_text();
        for d in [&d, &d_alt] {
            assert!(!d.contains(&hex), "{d}");
            assert!(!d.contains(&hex.to_uppercase()), "{d}");
            assert!(!d.contains(b32.as_str()), "{d}");
            assert!(!d.contains(&b32.to_uppercase()), "{d}");
            assert!(!d.contains(&format!("{:?}", kp.secret_bytes())), "{d}");
            assert!(d.contains("redacted"));
            assert!(d.contains(&kp.public().to_string()));
        }
    }

    #[test]
    fn keyerror_messages_are_short() {
        for e in [
            KeyError::ByteLength { found: 1 },
            KeyError::TextLength { found: 1 },
            KeyError::SecretTextLength { found: 1 },
            KeyError::InvalidCharacter { position: 1 },
            KeyError::NonCanonical,
            KeyError::MissingAt,
            KeyError::EmptyAddress,
        ] {
            let m = e.to_string();
            assert!(!m.is_empty() && m.len() < 80, "{m}");
        }
    }
}
