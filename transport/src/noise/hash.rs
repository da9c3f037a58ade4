//! Hash functions, HMAC and HKDF as Noise defines them (Noise §4.3).

use zeroize::Zeroize;

use super::HASH_LEN;

/// A Noise hash function with a 32-byte output (`HASHLEN = 32`, Noise §4.3).
///
/// Implementations are zero-sized marker types selecting the hash at compile time;
/// [`HandshakeState`](super::HandshakeState) is generic over them.
pub trait NoiseHash: Send + Sync + 'static {
    /// The hash's name in Noise protocol names, e.g. `"BLAKE2s"`.
    const NAME: &'static str;
    /// The hash's internal block length in bytes (`BLOCKLEN`), used by [`hmac`].
    const BLOCKLEN: usize;

    /// `HASH(parts[0] || parts[1] || …)`: the hash of the concatenation of `parts`.
    fn hash(parts: &[&[u8]]) -> [u8; HASH_LEN];
}

/// BLAKE2s with a 32-byte output (Noise name `BLAKE2s`, `BLOCKLEN` 64).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Blake2s;

impl NoiseHash for Blake2s {
    const NAME: &'static str = "BLAKE2s";
    const BLOCKLEN: usize = 64;

    fn hash(parts: &[&[u8]]) -> [u8; HASH_LEN] {
        use blake2::Digest;
        let mut hasher = blake2::Blake2s256::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    }
}

/// BLAKE3 in its plain (unkeyed) hash mode with a 32-byte output (Noise name `BLAKE3`,
/// `BLOCKLEN` 64). Its HMAC is the generic RFC 2104 construction of [`hmac`], not BLAKE3's
/// keyed mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Blake3;

impl NoiseHash for Blake3 {
    const NAME: &'static str = "BLAKE3";
    const BLOCKLEN: usize = 64;

    fn hash(parts: &[&[u8]]) -> [u8; HASH_LEN] {
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            hasher.update(part);
        }
        *hasher.finalize().as_bytes()
    }
}

/// Largest `BLOCKLEN` supported by [`hmac`]'s stack buffers.
const MAX_BLOCKLEN: usize = 128;

/// `HMAC-HASH(key, data[0] || data[1] || …)` per RFC 2104 with the hash's `BLOCKLEN`
/// (Noise §4.3). Keys longer than `BLOCKLEN` are hashed first, as RFC 2104 prescribes (Noise
/// itself only uses 32-byte keys).
///
/// A custom [`NoiseHash`] whose `BLOCKLEN` is below 32 or above 128 is rejected at compile
/// time.
pub fn hmac<H: NoiseHash>(key: &[u8], data: &[&[u8]]) -> [u8; HASH_LEN] {
    const {
        assert!(
            H::BLOCKLEN >= HASH_LEN && H::BLOCKLEN <= MAX_BLOCKLEN,
            "NoiseHash::BLOCKLEN must be between 32 and 128"
        );
    }
    let block_len = H::BLOCKLEN;
    let mut hashed_key = [0u8; HASH_LEN];
    let key = if key.len() > block_len {
        hashed_key = H::hash(&[key]);
        &hashed_key[..]
    } else {
        key
    };
    let mut ipad = [0x36u8; MAX_BLOCKLEN];
    let mut opad = [0x5cu8; MAX_BLOCKLEN];
    for (i, byte) in key.iter().enumerate() {
        ipad[i] ^= byte;
        opad[i] ^= byte;
    }
    hashed_key.zeroize();

    // Inner hash: HASH((K ^ ipad) || data).
    let mut parts: [&[u8]; 8] = [&[]; 8];
    let mut inner = if data.len() < parts.len() {
        parts[0] = &ipad[..block_len];
        parts[1..=data.len()].copy_from_slice(data);
        H::hash(&parts[..=data.len()])
    } else {
        let mut joined =
            Vec::with_capacity(block_len + data.iter().map(|d| d.len()).sum::<usize>());
        joined.extend_from_slice(&ipad[..block_len]);
        for part in data {
            joined.extend_from_slice(part);
        }
        let inner = H::hash(&[&joined]);
        joined.zeroize();
        inner
    };
    // Outer hash: HASH((K ^ opad) || inner).
    let out = H::hash(&[&opad[..block_len], &inner]);
    ipad.zeroize();
    opad.zeroize();
    inner.zeroize();
    out
}

/// Noise's `HKDF(chaining_key, input_key_material, 2)` (Noise §4.3): returns
/// `(output1, output2)`.
pub fn hkdf2<H: NoiseHash>(
    chaining_key: &[u8; HASH_LEN],
    input_key_material: &[u8],
) -> ([u8; HASH_LEN], [u8; HASH_LEN]) {
    let mut temp_key = hmac::<H>(chaining_key, &[input_key_material]);
    let output1 = hmac::<H>(&temp_key, &[&[0x01]]);
    let output2 = hmac::<H>(&temp_key, &[&output1, &[0x02]]);
    temp_key.zeroize();
    (output1, output2)
}

/// Noise's `HKDF(chaining_key, input_key_material, 3)` (Noise §4.3): returns
/// `(output1, output2, output3)`.
pub fn hkdf3<H: NoiseHash>(
    chaining_key: &[u8; HASH_LEN],
    input_key_material: &[u8],
) -> ([u8; HASH_LEN], [u8; HASH_LEN], [u8; HASH_LEN]) {
    let mut temp_key = hmac::<H>(chaining_key, &[input_key_material]);
    let output1 = hmac::<H>(&temp_key, &[&[0x01]]);
    let output2 = hmac::<H>(&temp_key, &[&output1, &[0x02]]);
    let output3 = hmac::<H>(&temp_key, &[&output2, &[0x03]]);
    temp_key.zeroize();
    (output1, output2, output3)
}
