//! Cryptographic interfaces of the engine: the handshake and packet protection.
//!
//! The connection state machine only sees two traits:
//! - [`HandshakeSession`]: a two-message, one-round-trip handshake in the style of the
//!   Noise framework (`write_message` / `read_message`), which carries each side's
//!   transport parameters as its payload and yields
//! - [`PacketProtection`]: AEAD protection of short-header packets, with the header as
//!   associated data and a nonce built from the path id and the packet number.
//!
//! [`CryptoConfig`] creates sessions; [`NoiseConfig`] is the implementation (Noise IK/XX,
//! optional psk2, X25519, ChaCha20-Poly1305, BLAKE3). There is no plaintext or
//! unauthenticated mode.

use std::fmt::Debug;

mod aead;
pub mod gate;
mod noise;
pub use aead::{AeadProtection, INTEGRITY_LIMIT};
pub use noise::{NoiseConfig, NoiseHashChoice};

/// A secret value: redacted in `Debug`, zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T: zeroize::Zeroize>(pub T);

impl<T: zeroize::Zeroize> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: zeroize::Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A cryptographic failure. Never says more than needed about why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// randomness from the endpoint's RNG (ephemeral keys); `peer` is the listener's
    /// static public key when the dialer knows it (pinned); `prologue` binds the packet
    /// header fields of the first message into the handshake.
    fn start_initiator(
        &self,
        seed: [u8; 32],
        peer: Option<[u8; 32]>,
        prologue: &[u8],
    ) -> Result<Box<dyn HandshakeSession>, CryptoError>;
    /// A session for the listening side; it reads the first message.
    fn start_responder(&self, seed: [u8; 32], prologue: &[u8]) -> Box<dyn HandshakeSession>;
    /// This node's static public key, if its handshake has one.
    fn public_key(&self) -> Option<[u8; 32]> {
        None
    }
    /// Key of mac1 on Initials sent to a listener (`peer`: its key, when known).
    fn initiator_mac1_key(&self, peer: Option<&[u8; 32]>) -> [u8; 32] {
        gate::mac1_key(None, peer)
    }
    /// Whether an Initial's mac1 (over `covered`) is acceptable to this listener. Runs
    /// before any Diffie-Hellman; with a PSK configured, only dialers that know it pass.
    fn verify_mac1(&self, covered: &[u8], mac1: &[u8]) -> bool {
        gate::mac_eq(&gate::mac(&gate::mac1_key(None, None), covered), mac1)
    }
}

/// One side of a handshake of two (IK) or three (XX) messages, in the style of the
/// Noise framework: the initiator writes message 1, then the sides alternate.
///
/// Each side's transport parameters travel in its first *encrypted* message: the
/// session receives them with every `write_message` and decides where they go (other
/// messages carry no payload). `read_message` appends what the peer's message carried
/// (possibly nothing).
pub trait HandshakeSession: Send + Debug {
    /// Writes the next handshake message to `out`.
    fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError>;
    /// Reads the peer's next handshake message and appends its payload to `payload`.
    fn read_message(&mut self, message: &[u8], payload: &mut Vec<u8>) -> Result<(), CryptoError>;
    /// Whether every message has been processed.
    fn is_finished(&self) -> bool;
    /// Whether the next step is ours (a write).
    fn is_my_turn(&self) -> bool;
    /// The peer's static public key, once known.
    fn peer_identity(&self) -> Option<[u8; 32]>;
    /// The transport keys; only valid once finished.
    fn into_protection(self: Box<Self>) -> Result<Box<dyn PacketProtection>, CryptoError>;
}

/// AEAD protection of established-phase packets, for both directions.
pub trait PacketProtection: Send + Debug {
    /// Bytes `seal` appends.
    fn tag_len(&self) -> usize;
    /// The key-phase bit to put in the header of the next packet sealed.
    fn key_phase(&self) -> bool {
        false
    }
    /// Protects the packet at the end of `buf`, from `start`: `buf[start + header_len..]`
    /// is encrypted in place with `buf[start..start + header_len]` as associated data,
    /// and the tag is appended. (Several packets can so be built back to back in one
    /// buffer for a segmented send.)
    fn seal(
        &mut self,
        path_id: u64,
        packet_number: u64,
        buf: &mut Vec<u8>,
        start: usize,
        header_len: usize,
    );
    /// Verifies and unprotects `payload` (ciphertext + tag) in place; returns the
    /// plaintext length. `key_phase` is the header's bit. On failure the payload may be
    /// garbled but nothing about the session changes.
    fn open(
        &mut self,
        path_id: u64,
        packet_number: u64,
        key_phase: bool,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError>;
    /// Starts a key update of the sending direction; `false` when one is not allowed yet
    /// (the peer has not answered the previous one) or not supported.
    fn update_keys(&mut self) -> bool {
        false
    }
    /// Key updates performed so far (both started and answered).
    fn key_updates(&self) -> u64 {
        0
    }
    /// Packets that failed authentication so far.
    fn auth_failures(&self) -> u64 {
        0
    }
    /// Key generations reached (sending, receiving): 0 after the handshake, one more per
    /// update.
    fn generations(&self) -> (u64, u64) {
        (0, 0)
    }
    /// Mixes a re-handshake's fresh Diffie-Hellman `secret` into key generation
    /// `generation` of both directions, so that it and every later generation cannot be
    /// derived from the keys before it. `false` (nothing changes) when either direction
    /// has already reached `generation`, another mix is pending, or re-handshakes are not
    /// supported. The caller must make sure neither side derives `generation` before
    /// both have mixed (PROTOCOL.md, "Re-handshake").
    fn mix_secret(&mut self, generation: u64, secret: &[u8; 32]) -> bool {
        let _ = (generation, secret);
        false
    }
    /// Test hook (feature `fuzzing`): the current sending and receiving traffic keys.
    #[cfg(feature = "fuzzing")]
    fn traffic_keys(&self) -> Option<([u8; 32], [u8; 32])> {
        None
    }
}
