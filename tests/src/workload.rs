//! Numbered, verifiable message streams for scenario tests.
//!
//! A [`Stream`] generates message `i` deterministically from `(seed, i)`: pseudo-random
//! bytes (a window of a seeded random pool) with a size drawn from a range, beginning with the 8-byte little-endian sequence
//! number when the message is at least 8 bytes long. The sender records each message's
//! 128-bit XXH3 hash; the receiver checks the `n`-th message it gets against hash `n` (and the
//! embedded number where there is one), so loss, duplication, reordering and corruption
//! all show, and the final count proves exactly-once delivery.

use bytes::Bytes;
use netchan_transport::{ChannelId, Connection, SendError};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use xxhash_rust::xxh3::xxh3_128;

/// Extra pool bytes beyond the largest message (room for per-message offsets).
const POOL_SLACK: usize = 4096;

/// One direction of a verified message stream.
#[derive(Debug)]
pub struct Stream {
    total: u64,
    min_size: usize,
    max_size: usize,
    sizes: ChaCha8Rng,
    /// Content hashes (XXH3-128) of messages queued so far, by sequence number.
    hashes: Vec<u128>,
    /// A message that was generated but refused with `Blocked`.
    pending: Option<Vec<u8>>,
    /// Random bytes message bodies are cut from.
    pool: Vec<u8>,
    /// Messages queued into the connection.
    pub sent: u64,
    /// Messages received and verified.
    pub received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
}

/// A verification failure: the transport lost, duplicated, reordered or corrupted data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A sequence number other than the next expected one.
    #[error("expected message {expected}, got {got}")]
    OutOfOrder {
        /// Next expected number.
        expected: u64,
        /// Received number.
        got: u64,
    },
    /// A message received that was never sent.
    #[error("message {0} was never sent")]
    NeverSent(u64),
    /// Content differs from what was sent.
    #[error("message {0} content hash mismatch")]
    Corrupted(u64),
}

impl Stream {
    /// A stream of `total` messages of sizes uniform in `min_size..=max_size`.
    pub fn new(seed: u64, total: u64, min_size: usize, max_size: usize) -> Self {
        Self {
            total,
            min_size,
            max_size: max_size.max(min_size),
            sizes: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            hashes: Vec::new(),
            pending: None,
            pool: {
                let mut pool = vec![0u8; max_size.max(min_size) + POOL_SLACK];
                ChaCha8Rng::seed_from_u64(seed ^ 0xb0d1).fill_bytes(&mut pool);
                pool
            },
            sent: 0,
            received: 0,
            bytes_received: 0,
        }
    }

    /// Whether all messages were queued.
    pub fn all_sent(&self) -> bool {
        self.sent == self.total
    }

    /// Whether all messages were received.
    pub fn all_received(&self) -> bool {
        self.received == self.total
    }

    fn generate(&mut self, i: u64) -> Vec<u8> {
        let span = (self.max_size - self.min_size + 1) as u64;
        let size = self.min_size + (self.sizes.next_u64() % span) as usize;
        // A window of the random pool at an offset chosen per message, then the sequence
        // number: cheap to make, distinct per message, incompressible.
        let offset = (self.sizes.next_u64() % POOL_SLACK as u64) as usize;
        let mut msg = self.pool[offset..offset + size].to_vec();
        if let Some(head) = msg.get_mut(..8) {
            head.copy_from_slice(&i.to_le_bytes());
        }
        msg
    }

    /// Queues messages on `channel` until the connection pushes back or all are sent.
    /// Returns how many were queued.
    pub fn pump(
        &mut self,
        conn: &mut Connection,
        channel: ChannelId,
        max: u64,
    ) -> Result<u64, SendError> {
        let mut n = 0;
        while self.sent < self.total && n < max {
            let msg = match self.pending.take() {
                Some(m) => m,
                None => self.generate(self.sent),
            };
            match conn.send(channel, &msg) {
                Ok(()) => {
                    self.hashes.push(xxh3_128(&msg));
                    self.sent += 1;
                    n += 1;
                }
                Err(SendError::Blocked) => {
                    self.pending = Some(msg);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Verifies one received message.
    pub fn verify(&mut self, msg: &Bytes) -> Result<(), StreamError> {
        let got = self.received;
        if let Some(head) = msg.get(..8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(head);
            let n = u64::from_le_bytes(b);
            if n != got {
                return Err(StreamError::OutOfOrder {
                    expected: got,
                    got: n,
                });
            }
        }
        let Some(want) = self.hashes.get(got as usize) else {
            return Err(StreamError::NeverSent(got));
        };
        if xxh3_128(msg) != *want {
            return Err(StreamError::Corrupted(got));
        }
        self.received += 1;
        self.bytes_received += msg.len() as u64;
        Ok(())
    }

    /// Receives and verifies every ready message of `channel`.
    pub fn drain(&mut self, conn: &mut Connection, channel: ChannelId) -> Result<u64, StreamError> {
        let mut n = 0;
        // Bounded by the messages the connection holds.
        while let Some(m) = conn.recv(channel) {
            self.verify(&m)?;
            n += 1;
        }
        Ok(n)
    }
}
