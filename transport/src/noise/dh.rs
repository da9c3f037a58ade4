//! The 25519 DH functions (Noise §4.1, §12.1), via `x25519-dalek`.

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{DH_LEN, NoiseError};

/// The X25519 public key of a 32-byte secret (the secret is clamped as X25519 prescribes, so
/// any 32 bytes are a valid secret).
pub fn public_key(secret: &[u8; DH_LEN]) -> [u8; DH_LEN] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// A Noise key pair (`GENERATE_KEYPAIR()`'s result, here built from caller-supplied secret
/// bytes).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(super) struct KeyPair {
    secret: [u8; DH_LEN],
    public: [u8; DH_LEN],
}

impl core::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyPair")
            .field("secret", &"<redacted>")
            .field("public", &Hex(&self.public))
            .finish()
    }
}

impl KeyPair {
    /// The key pair whose secret key is `secret`.
    pub(super) fn from_secret(secret: [u8; DH_LEN]) -> Self {
        let public = public_key(&secret);
        Self { secret, public }
    }

    /// The public key.
    pub(super) fn public(&self) -> &[u8; DH_LEN] {
        &self.public
    }

    /// Test hook: advertise `public` while keeping the secret (to send arbitrary keys).
    #[cfg(test)]
    pub(super) fn set_public_for_test(&mut self, public: [u8; DH_LEN]) {
        self.public = public;
    }

    /// `DH(key_pair, public_key)`, rejecting an all-zero result (a low-order `public_key`)
    /// with [`NoiseError::LowOrderPoint`]. The check is constant time.
    pub(super) fn dh(&self, remote: &[u8; DH_LEN]) -> Result<Zeroizing<[u8; DH_LEN]>, NoiseError> {
        let secret = StaticSecret::from(self.secret);
        let shared = secret.diffie_hellman(&PublicKey::from(*remote));
        if !shared.was_contributory() {
            return Err(NoiseError::LowOrderPoint);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

/// Formats bytes as lowercase hex (for public values in `Debug` output).
pub(super) struct Hex<'a>(pub(super) &'a [u8]);

impl core::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}
