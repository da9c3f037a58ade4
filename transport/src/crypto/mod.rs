//! Cryptographic interfaces of the engine: the handshake and packet protection.
//!
//! The connection state machine only sees two traits:
//! - [`HandshakeSession`]: a two-message, one-round-trip handshake in the style of the
//!   Noise framework (`write_message` / `read_message`), which carries each side's
//!   transport parameters as its payload and yields
//! - [`PacketProtection`]: AEAD protection of short-header packets, with the header as
//!   associated data and a nonce built from the path id and the packet number.
//!
//! [`CryptoConfig`] creates sessions. The real Noise implementation is a later layer;
//! until it lands, the `insecure-test-crypto` feature provides [`InsecureTestCrypto`], an
//! authenticated-but-public-key scheme for tests only.

use std::fmt::Debug;

/// A cryptographic failure. Never says more than needed about why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A packet or handshake message failed authentication (or was malformed).
    #[error("authentication failed")]
    Authentication,
    /// A handshake message arrived in a state that does not expect it.
    #[error("unexpected handshake message")]
    UnexpectedMessage,
    /// The peer's identity was refused by local policy.
    #[error("peer refused by policy")]
    PeerRefused,
}

/// Creates handshake sessions for one endpoint (its identity and policy).
pub trait CryptoConfig: Send + Sync + Debug {
    /// A session for the dialing side; it writes the first message. `seed` is fresh
    /// randomness from the endpoint's RNG (ephemeral keys).
    fn start_initiator(&self, seed: [u8; 32]) -> Box<dyn HandshakeSession>;
    /// A session for the listening side; it reads the first message.
    fn start_responder(&self, seed: [u8; 32]) -> Box<dyn HandshakeSession>;
}

/// One side of a one-round-trip handshake: the initiator writes message 1, the responder
/// reads it and writes message 2, the initiator reads message 2. Each message carries an
/// opaque payload (the transport parameters) that the handshake authenticates.
pub trait HandshakeSession: Send + Debug {
    /// Writes the next handshake message carrying `payload` to `out`.
    fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError>;
    /// Reads the peer's next handshake message and appends its payload to `payload`.
    fn read_message(&mut self, message: &[u8], payload: &mut Vec<u8>) -> Result<(), CryptoError>;
    /// Whether both messages have been processed.
    fn is_finished(&self) -> bool;
    /// The peer's static public key, once known.
    fn peer_identity(&self) -> Option<[u8; 32]>;
    /// The transport keys; only valid once finished.
    fn into_protection(self: Box<Self>) -> Result<Box<dyn PacketProtection>, CryptoError>;
}

/// AEAD protection of established-phase packets, for both directions.
pub trait PacketProtection: Send + Debug {
    /// Bytes `seal` appends.
    fn tag_len(&self) -> usize;
    /// Protects `packet[header_len..]` in place with `packet[..header_len]` as associated
    /// data and appends the tag.
    fn seal(&mut self, path_id: u64, packet_number: u64, packet: &mut Vec<u8>, header_len: usize);
    /// Verifies and unprotects `payload` (ciphertext + tag) in place; returns the
    /// plaintext length. On failure nothing about the session changes.
    fn open(
        &mut self,
        path_id: u64,
        packet_number: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError>;
}

#[cfg(any(test, feature = "insecure-test-crypto"))]
pub use insecure::InsecureTestCrypto;

#[cfg(any(test, feature = "insecure-test-crypto"))]
mod insecure {
    //! Test-only crypto: integrity with a fixed public key, no secrecy at all.
    use super::*;

    const SECRET_SEED: u64 = 0x6e65_7463_6861_6e31; // "netchan1", public
    const TAG: usize = 16;

    /// A 128-bit XXH3 checksum chained over `parts` under a public seed: detects
    /// corruption, resists nothing.
    fn mac(parts: &[&[u8]]) -> [u8; TAG] {
        let mut seed = SECRET_SEED;
        let mut h = 0u128;
        for p in parts {
            h = xxhash_rust::xxh3::xxh3_128_with_seed(p, seed);
            seed = h as u64 ^ (h >> 64) as u64;
        }
        h.to_le_bytes()
    }

    /// **Insecure** test crypto: handshake messages and packets carry a 128-bit XXH3
    /// checksum under a seed that is in this source file, and are not encrypted. It
    /// detects corruption and nothing else. Only compiled with the `insecure-test-crypto`
    /// feature, which no release build enables.
    #[derive(Debug, Clone, Default)]
    pub struct InsecureTestCrypto;

    impl CryptoConfig for InsecureTestCrypto {
        fn start_initiator(&self, _seed: [u8; 32]) -> Box<dyn HandshakeSession> {
            Box::new(Session {
                initiator: true,
                step: 0,
            })
        }
        fn start_responder(&self, _seed: [u8; 32]) -> Box<dyn HandshakeSession> {
            Box::new(Session {
                initiator: false,
                step: 0,
            })
        }
    }

    #[derive(Debug)]
    struct Session {
        initiator: bool,
        /// Messages processed so far (0..=2).
        step: u8,
    }

    impl HandshakeSession for Session {
        fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
            let expected = if self.initiator { 0 } else { 1 };
            if self.step != expected {
                return Err(CryptoError::UnexpectedMessage);
            }
            out.extend_from_slice(payload);
            out.extend_from_slice(&mac(&[&[self.step], payload]));
            self.step += 1;
            Ok(())
        }
        fn read_message(
            &mut self,
            message: &[u8],
            payload: &mut Vec<u8>,
        ) -> Result<(), CryptoError> {
            let expected = if self.initiator { 1 } else { 0 };
            if self.step != expected {
                return Err(CryptoError::UnexpectedMessage);
            }
            let split = message
                .len()
                .checked_sub(TAG)
                .ok_or(CryptoError::Authentication)?;
            let (body, tag) = message.split_at(split);
            if mac(&[&[self.step], body]).as_slice() != tag {
                return Err(CryptoError::Authentication);
            }
            payload.extend_from_slice(body);
            self.step += 1;
            Ok(())
        }
        fn is_finished(&self) -> bool {
            self.step == 2
        }
        fn peer_identity(&self) -> Option<[u8; 32]> {
            None
        }
        fn into_protection(self: Box<Self>) -> Result<Box<dyn PacketProtection>, CryptoError> {
            if !self.is_finished() {
                return Err(CryptoError::UnexpectedMessage);
            }
            Ok(Box::new(TestProtection))
        }
    }

    /// Path id and packet number, as the real AEAD nonce would bind them.
    fn nonce(path_id: u64, pn: u64) -> [u8; 16] {
        let mut n = [0u8; 16];
        n[..8].copy_from_slice(&path_id.to_be_bytes());
        n[8..].copy_from_slice(&pn.to_be_bytes());
        n
    }

    #[derive(Debug)]
    struct TestProtection;

    impl PacketProtection for TestProtection {
        fn tag_len(&self) -> usize {
            TAG
        }
        fn seal(&mut self, path_id: u64, pn: u64, packet: &mut Vec<u8>, header_len: usize) {
            let nonce = nonce(path_id, pn);
            let (header, payload) = packet.split_at(header_len.min(packet.len()));
            let tag = mac(&[&nonce, header, payload]);
            packet.extend_from_slice(&tag);
        }
        fn open(
            &mut self,
            path_id: u64,
            pn: u64,
            header: &[u8],
            payload: &mut [u8],
        ) -> Result<usize, CryptoError> {
            let split = payload
                .len()
                .checked_sub(TAG)
                .ok_or(CryptoError::Authentication)?;
            let (body, tag) = payload.split_at(split);
            let want = mac(&[&nonce(path_id, pn), header, body]);
            if want.as_slice() != tag {
                return Err(CryptoError::Authentication);
            }
            Ok(split)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn handshake_and_protection_detect_tampering() {
            let c = InsecureTestCrypto;
            let mut i = c.start_initiator([0; 32]);
            let mut r = c.start_responder([0; 32]);
            let (mut m1, mut p) = (Vec::new(), Vec::new());
            i.write_message(b"params-i", &mut m1).unwrap();
            let mut bad = m1.clone();
            bad[0] ^= 1;
            assert_eq!(
                r.read_message(&bad, &mut p),
                Err(CryptoError::Authentication)
            );
            r.read_message(&m1, &mut p).unwrap();
            assert_eq!(p, b"params-i");
            let mut m2 = Vec::new();
            r.write_message(b"params-r", &mut m2).unwrap();
            p.clear();
            i.read_message(&m2, &mut p).unwrap();
            assert_eq!(p, b"params-r");
            let mut si = i.into_protection().unwrap();
            let mut sr = r.into_protection().unwrap();
            let mut pkt = b"HDRpayload".to_vec();
            si.seal(0, 7, &mut pkt, 3);
            let (h, body) = pkt.split_at_mut(3);
            let mut body2 = body.to_vec();
            assert_eq!(sr.open(0, 7, h, &mut body2).unwrap(), 7);
            let mut body3 = body.to_vec();
            assert!(sr.open(1, 7, h, &mut body3).is_err(), "path id is bound");
            let mut body4 = body.to_vec();
            assert!(
                sr.open(0, 8, h, &mut body4).is_err(),
                "packet number is bound"
            );
        }
    }
}
