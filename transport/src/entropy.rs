//! Randomness the engine draws on, handed in by the driver.
//!
//! The engine is sans-IO: it never reads the OS's random number generator itself.
//! Every connection ID, ephemeral key and cookie secret comes from the [`Entropy`] in the
//! [`EndpointConfig`](crate::EndpointConfig), asked afresh each time. A production driver
//! hands in the OS's generator (netchan's `OsEntropy`), so nothing in the endpoint holds a
//! seed from which earlier (or later) ephemeral keys could be recomputed: forward secrecy
//! survives a later disclosure of the endpoint's memory. [`SeededEntropy`] is for
//! deterministic tests.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::fmt::Debug;
use std::sync::Mutex;

/// A source of fresh randomness for the engine.
///
/// Implementations must be cryptographically secure and should not let past output be
/// recomputed from their state (the OS's generator does this; a seeded stream cipher
/// kept for a process's life does not).
pub trait Entropy: Send + Sync + Debug {
    /// Fills `out` with fresh random bytes.
    fn fill(&self, out: &mut [u8]);

    /// A fresh 64-bit value.
    fn u64(&self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }
}

impl dyn Entropy {
    /// 32 fresh bytes.
    pub fn bytes32(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        b
    }
}

/// **For deterministic tests only**: a ChaCha8 stream expanded from a 64-bit seed, so
/// simulated runs are reproducible. 64 bits are far too few for real use, and the
/// stream's state recomputes every key it produced.
pub struct SeededEntropy(Mutex<ChaCha8Rng>);

impl SeededEntropy {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        s[8..16].copy_from_slice(b"netchan!");
        Self::from_bytes(s)
    }

    /// The stream for a 32-byte seed.
    pub fn from_bytes(seed: [u8; 32]) -> Self {
        Self(Mutex::new(ChaCha8Rng::from_seed(seed)))
    }
}

impl Debug for SeededEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeededEntropy(<for tests>)")
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, out: &mut [u8]) {
        // A poisoned lock only means another thread panicked while drawing: the stream
        // itself is intact.
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rng.fill_bytes(out);
    }

    fn u64(&self) -> u64 {
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rng.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn seeded_streams_are_reproducible_and_distinct() {
        let a: Arc<dyn Entropy> = Arc::new(SeededEntropy::new(1));
        let b: Arc<dyn Entropy> = Arc::new(SeededEntropy::new(1));
        let c: Arc<dyn Entropy> = Arc::new(SeededEntropy::new(2));
        let (x, y, z) = (a.bytes32(), b.bytes32(), c.bytes32());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(a.bytes32(), x, "each draw is fresh");
    }
}
