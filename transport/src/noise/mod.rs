//! Noise Protocol Framework handshakes (revision 34, <https://noiseprotocol.org/noise.html>).
//!
//! This module is a spec-exact, sans-IO implementation of the four handshakes netchan uses:
//! `IK`, `XX`, `IKpsk2` and `XXpsk2`, over X25519, ChaChaPoly and a 32-byte hash
//! (`BLAKE2s` or `BLAKE3`), for example `Noise_IKpsk2_25519_ChaChaPoly_BLAKE3`. It never reads
//! a clock or the OS RNG: the caller passes the ephemeral secret in
//! [`HandshakeConfig::ephemeral`].
//!
//! The pieces, bottom up, named as in the spec:
//!
//! - **Hash functions** (§4.3) — [`NoiseHash`] with [`Blake2s`] and [`Blake3`]; [`hmac`] is
//!   RFC 2104 HMAC with the hash's `BLOCKLEN` (64 for both), and [`hkdf2`]/[`hkdf3`] are the
//!   spec's `HKDF(chaining_key, input_key_material, num_outputs)`.
//! - **DH functions** (§4.1) — X25519 via `x25519-dalek`; [`public_key`] derives a public key
//!   from a secret. A DH result that is all zeros (the peer sent a low-order point) is rejected
//!   with [`NoiseError::LowOrderPoint`].
//! - **Cipher functions** (§4.2, §5.1) — ChaChaPoly (RFC 8439) with Noise's nonce encoding:
//!   32 zero bits followed by the little-endian 64-bit counter. The `CipherState` (private)
//!   holds `k` and `n`; [`rekey`] is the spec's default `REKEY(k)`.
//! - **SymmetricState** (§5.2, private) — `ck`, `h` and a `CipherState`, with `MixKey`,
//!   `MixHash`, `MixKeyAndHash`, `EncryptAndHash`, `DecryptAndHash` and `Split`.
//! - **HandshakeState** (§5.3) — [`HandshakeState`] runs a [`Pattern`] (§7.5: `IK`, `XX`)
//!   with an optional `psk2` modifier (§9) token by token, writing and reading handshake
//!   messages; when finished, [`HandshakeState::split`] yields the [`TransportKeys`].
//!
//! Messages are at most [`MAX_MESSAGE_LEN`] (65535) bytes (§3). Reading is total: any byte
//! string gives either `Ok` or a typed [`NoiseError`], never a panic, and after a failed read
//! the state refuses every later call ([`NoiseError::Unusable`]); clone the state before a read
//! if a failed message should be ignored instead. Secrets (`s`, `e`, `k`, `ck`, psk and the
//! transport keys) are zeroized on drop and redacted from `Debug`.

mod cipher;
mod dh;
mod handshake;
mod hash;
mod symmetric;

#[cfg(test)]
mod tests;

pub use cipher::rekey;
pub use dh::public_key;
pub use handshake::{HandshakeConfig, HandshakeState, Pattern, TransportKeys, protocol_name};
pub use hash::{Blake2s, Blake3, NoiseHash, hkdf2, hkdf3, hmac};

/// The largest Noise message, in bytes (Noise §3).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Length of an X25519 public key, secret key and DH output (`DHLEN`, Noise §4.1).
pub const DH_LEN: usize = 32;
/// Length of a hash output (`HASHLEN`, Noise §4.3); both supported hashes give 32 bytes.
pub const HASH_LEN: usize = 32;
/// Length of a ChaChaPoly key.
pub const KEY_LEN: usize = 32;
/// Length of a ChaChaPoly authentication tag (Noise §4.2).
pub const TAG_LEN: usize = 16;
/// Length of a pre-shared key (Noise §9).
pub const PSK_LEN: usize = 32;

/// Why a Noise operation failed.
///
/// After any error from [`HandshakeState::read_message`], and after errors from
/// [`HandshakeState::write_message`] other than [`NoiseError::WrongTurn`] and
/// [`NoiseError::MessageTooLong`], the handshake state is unusable: every later call returns
/// [`NoiseError::Unusable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// An authentication tag did not verify: the message was corrupted or forged, or the two
    /// sides disagree on keys, prologue, psk or protocol.
    #[error("noise: decryption failed (authentication tag mismatch)")]
    Decrypt,
    /// The message is shorter than the fixed parts (keys, tags) its pattern requires.
    #[error("noise: message truncated")]
    Truncated,
    /// A Diffie-Hellman result was all zeros: the peer's public key is a low-order point.
    #[error("noise: low-order X25519 public key")]
    LowOrderPoint,
    /// The pattern needs the responder's static public key in advance (`IK` initiator) and
    /// none was configured.
    #[error("noise: remote static key required by this pattern but not configured")]
    MissingRemoteStatic,
    /// The static key the peer transmitted differs from the one configured as expected.
    #[error("noise: remote static key differs from the expected one")]
    RemoteStaticMismatch,
    /// [`HandshakeState::split`] was called before the handshake finished.
    #[error("noise: handshake not finished")]
    NotFinished,
    /// A write when a read was due, a read when a write was due, or either after the
    /// handshake finished. The state is unchanged and still usable.
    #[error("noise: operation out of turn")]
    WrongTurn,
    /// The state is unusable because an earlier operation on it failed.
    #[error("noise: handshake state unusable after an earlier error")]
    Unusable,
    /// The message (read) or the message being built (write) would exceed
    /// [`MAX_MESSAGE_LEN`] bytes.
    #[error("noise: message longer than 65535 bytes")]
    MessageTooLong,
    /// The cipher nonce reached 2^64 − 1, which Noise reserves (§5.1).
    #[error("noise: nonce exhausted")]
    NonceExhausted,
}
