//! The `SymmetricState` object (Noise §5.2).

use core::marker::PhantomData;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::cipher::CipherState;
use super::hash::{NoiseHash, hkdf2, hkdf3};
use super::{HASH_LEN, KEY_LEN, NoiseError};

/// A `SymmetricState`: chaining key `ck`, handshake hash `h` and a [`CipherState`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct SymmetricState<H: NoiseHash> {
    ck: [u8; HASH_LEN],
    h: [u8; HASH_LEN],
    cipher: CipherState,
    #[zeroize(skip)]
    _hash: PhantomData<fn() -> H>,
}

impl<H: NoiseHash> Clone for SymmetricState<H> {
    fn clone(&self) -> Self {
        Self {
            ck: self.ck,
            h: self.h,
            cipher: self.cipher.clone(),
            _hash: PhantomData,
        }
    }
}

impl<H: NoiseHash> core::fmt::Debug for SymmetricState<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SymmetricState")
            .field("ck", &"<redacted>")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl<H: NoiseHash> SymmetricState<H> {
    /// `InitializeSymmetric(protocol_name)`: `h` is the name padded with zeros when it fits
    /// in `HASHLEN` bytes, else `HASH(protocol_name)`; `ck = h`; no cipher key.
    pub(super) fn initialize(protocol_name: &[u8]) -> Self {
        let mut h = [0u8; HASH_LEN];
        if protocol_name.len() <= HASH_LEN {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            h = H::hash(&[protocol_name]);
        }
        Self {
            ck: h,
            h,
            cipher: CipherState::default(),
            _hash: PhantomData,
        }
    }

    /// `MixKey(input_key_material)`.
    pub(super) fn mix_key(&mut self, input_key_material: &[u8]) {
        let (ck, mut temp_k) = hkdf2::<H>(&self.ck, input_key_material);
        self.ck.zeroize();
        self.ck = ck;
        // HASHLEN is 32, so temp_k needs no truncation.
        self.cipher.initialize_key(temp_k);
        temp_k.zeroize();
    }

    /// `MixHash(data)`: `h = HASH(h || data)`.
    pub(super) fn mix_hash(&mut self, data: &[u8]) {
        self.h = H::hash(&[&self.h, data]);
    }

    /// `MixKeyAndHash(input_key_material)` (used for psk tokens).
    pub(super) fn mix_key_and_hash(&mut self, input_key_material: &[u8]) {
        let (ck, mut temp_h, mut temp_k) = hkdf3::<H>(&self.ck, input_key_material);
        self.ck.zeroize();
        self.ck = ck;
        self.mix_hash(&temp_h);
        temp_h.zeroize();
        self.cipher.initialize_key(temp_k);
        temp_k.zeroize();
    }

    /// `GetHandshakeHash()`.
    pub(super) fn handshake_hash(&self) -> [u8; HASH_LEN] {
        self.h
    }

    /// Whether the cipher state has a key (`HasKey()`).
    pub(super) fn has_key(&self) -> bool {
        self.cipher.has_key()
    }

    /// `EncryptAndHash(plaintext)`: appends the ciphertext to `out` and mixes it into `h`.
    pub(super) fn encrypt_and_hash(
        &mut self,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let start = out.len();
        self.cipher.encrypt_with_ad(&self.h, plaintext, out)?;
        self.mix_hash(&out[start..]);
        Ok(())
    }

    /// `DecryptAndHash(ciphertext)`: appends the plaintext to `out` and mixes the ciphertext
    /// into `h`. On failure `out` is unchanged.
    pub(super) fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        self.cipher.decrypt_with_ad(&self.h, ciphertext, out)?;
        self.mix_hash(ciphertext);
        Ok(())
    }

    /// `Split()`: the two transport keys `(initiator → responder, responder → initiator)`.
    pub(super) fn split(&self) -> ([u8; KEY_LEN], [u8; KEY_LEN]) {
        hkdf2::<H>(&self.ck, &[])
    }
}
