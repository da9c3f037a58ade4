//! ChaChaPoly cipher functions and the `CipherState` object (Noise §4.2, §5.1, §12.3).

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{KEY_LEN, NoiseError, TAG_LEN};

/// Noise's ChaChaPoly nonce: 32 bits of zeros followed by the little-endian encoding of `n`
/// (Noise §12.3).
fn nonce(n: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::from(bytes)
}

/// `ENCRYPT(k, n, ad, plaintext)`: appends `ciphertext || tag` to `out`, or leaves `out`
/// unchanged and fails.
fn encrypt(
    k: &[u8; KEY_LEN],
    n: u64,
    ad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), NoiseError> {
    let cipher = ChaCha20Poly1305::new(&Key::from(*k));
    let start = out.len();
    out.extend_from_slice(plaintext);
    match cipher.encrypt_inout_detached(&nonce(n), ad, out[start..].as_mut().into()) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(())
        }
        // ChaCha20Poly1305 only fails for plaintexts longer than 2^38 − 64 bytes.
        Err(_) => {
            out[start..].zeroize();
            out.truncate(start);
            Err(NoiseError::MessageTooLong)
        }
    }
}

/// `DECRYPT(k, n, ad, ciphertext)`: appends the plaintext to `out`, or leaves `out`
/// unchanged and fails.
fn decrypt(
    k: &[u8; KEY_LEN],
    n: u64,
    ad: &[u8],
    ciphertext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), NoiseError> {
    let Some(body_len) = ciphertext.len().checked_sub(TAG_LEN) else {
        return Err(NoiseError::Truncated);
    };
    let (body, tag) = ciphertext.split_at(body_len);
    let Ok(tag) = Tag::try_from(tag) else {
        // The split above leaves exactly TAG_LEN bytes, so this branch is unreachable.
        return Err(NoiseError::Truncated);
    };
    let cipher = ChaCha20Poly1305::new(&Key::from(*k));
    let start = out.len();
    out.extend_from_slice(body);
    match cipher.decrypt_inout_detached(&nonce(n), ad, out[start..].as_mut().into(), &tag) {
        Ok(()) => Ok(()),
        Err(_) => {
            out[start..].zeroize();
            out.truncate(start);
            Err(NoiseError::Decrypt)
        }
    }
}

/// Noise's default `REKEY(k)` for ChaChaPoly (§4.2): the first 32 bytes of
/// `ENCRYPT(k, 2^64 − 1, zerolen, zeros)` where `zeros` is 32 zero bytes.
pub fn rekey(key: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut buf = Vec::with_capacity(KEY_LEN + TAG_LEN);
    encrypt(key, u64::MAX, &[], &[0u8; KEY_LEN], &mut buf)
        // Cannot fail: ChaCha20Poly1305 rejects only plaintexts longer than 2^38 − 64 bytes
        // and this one is 32 bytes.
        .expect("encrypting 32 bytes cannot fail");
    let mut new_key = [0u8; KEY_LEN];
    new_key.copy_from_slice(&buf[..KEY_LEN]);
    buf.zeroize();
    new_key
}

/// A `CipherState` (Noise §5.1): an optional key `k` and a nonce counter `n`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub(super) struct CipherState {
    k: Option<[u8; KEY_LEN]>,
    n: u64,
}

impl core::fmt::Debug for CipherState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CipherState")
            .field("k", &self.k.as_ref().map(|_| "<redacted>"))
            .field("n", &self.n)
            .finish()
    }
}

impl CipherState {
    /// `InitializeKey(key)`: sets `k = key` and `n = 0`.
    pub(super) fn initialize_key(&mut self, key: [u8; KEY_LEN]) {
        self.k.zeroize();
        self.k = Some(key);
        self.n = 0;
    }

    /// `HasKey()`.
    pub(super) fn has_key(&self) -> bool {
        self.k.is_some()
    }

    /// `EncryptWithAd(ad, plaintext)`: appends the ciphertext (or the plaintext, without a
    /// key) to `out`.
    pub(super) fn encrypt_with_ad(
        &mut self,
        ad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        match &self.k {
            None => out.extend_from_slice(plaintext),
            Some(k) => {
                if self.n == u64::MAX {
                    return Err(NoiseError::NonceExhausted);
                }
                encrypt(k, self.n, ad, plaintext, out)?;
                self.n += 1;
            }
        }
        Ok(())
    }

    /// `DecryptWithAd(ad, ciphertext)`: appends the plaintext to `out`. On failure `out` and
    /// `n` are unchanged.
    pub(super) fn decrypt_with_ad(
        &mut self,
        ad: &[u8],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        match &self.k {
            None => out.extend_from_slice(ciphertext),
            Some(k) => {
                if self.n == u64::MAX {
                    return Err(NoiseError::NonceExhausted);
                }
                decrypt(k, self.n, ad, ciphertext, out)?;
                self.n += 1;
            }
        }
        Ok(())
    }
}
