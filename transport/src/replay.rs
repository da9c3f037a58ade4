//! Sliding anti-replay window over 64-bit packet counters (RFC 6479 style).
//!
//! The window remembers which of the last [`WINDOW`] counters (ending at the highest
//! accepted counter) were already accepted. It is a ring of `u64` words: one word more
//! than the window needs, so that advancing the window only ever clears whole words and
//! every operation is O(1) — a jump ahead clears at most the whole bitmap, however far it
//! jumps (up to `u64::MAX`).
//!
//! Usage on the receive path (`DESIGN.md` §4):
//!
//! 1. [`ReplayWindow::check`] *before* decryption: a cheap filter for replays and packets
//!    older than the window. It never changes the state, so a forged packet cannot move
//!    the window.
//! 2. [`ReplayWindow::update`] only *after* the packet's AEAD tag verified.
//!
//! Accepted counters are exactly those that were never accepted before and are not more
//! than `WINDOW - 1` below the highest accepted counter. Counter 0 is a valid counter.
#![forbid(unsafe_code)]

/// Number of counters the window covers: the highest accepted counter and the
/// `WINDOW - 1` counters below it. Anything older is rejected as too old.
pub const WINDOW: u64 = 2048;

/// Bits per bitmap word.
const WORD_BITS: u64 = u64::BITS as u64;
/// Words in the ring: enough for the window plus one redundant word (RFC 6479), so the
/// window's oldest partial word and its newest word never share a slot.
const WORDS: usize = (WINDOW / WORD_BITS) as usize + 1;

const _: () = assert!(WINDOW >= WORD_BITS && WINDOW.is_multiple_of(WORD_BITS));

/// A sliding anti-replay window over 64-bit packet counters. See the [module
/// docs](self).
#[derive(Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest accepted counter, `None` before the first accepted packet.
    highest: Option<u64>,
    /// Ring of bitmap words; counter `c` lives in word `(c / 64) % WORDS`, bit `c % 64`.
    bitmap: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("highest", &self.highest)
            .finish_non_exhaustive()
    }
}

/// Slot of the word holding `counter` and the bit mask within it.
#[inline]
fn locate(counter: u64) -> (usize, u64) {
    let word = counter / WORD_BITS;
    // `WORDS` is small, so the remainder always fits in usize.
    let slot = (word % WORDS as u64) as usize;
    (slot, 1u64 << (counter % WORD_BITS))
}

impl ReplayWindow {
    /// An empty window: every counter is acceptable until the first [`update`](Self::update).
    pub fn new() -> Self {
        Self {
            highest: None,
            bitmap: [0; WORDS],
        }
    }

    /// Cheap check BEFORE decryption: false if `counter` was already accepted or is older
    /// than the window (more than `WINDOW - 1` below the highest accepted counter).
    /// Never changes the state.
    #[inline]
    pub fn check(&self, counter: u64) -> bool {
        let Some(highest) = self.highest else {
            return true;
        };
        if counter > highest {
            return true;
        }
        if highest - counter >= WINDOW {
            return false;
        }
        let (slot, mask) = locate(counter);
        self.bitmap[slot] & mask == 0
    }

    /// Record `counter` as accepted — call only AFTER the packet's tag verified.
    /// Returns false (and changes nothing) if [`check`](Self::check) would have failed.
    pub fn update(&mut self, counter: u64) -> bool {
        if !self.check(counter) {
            return false;
        }
        match self.highest {
            Some(highest) if counter <= highest => {}
            Some(highest) => {
                // Advance: clear the slots of the words that enter the window, i.e. words
                // (highest/64, counter/64]. At most the whole ring.
                let old_word = highest / WORD_BITS;
                let new_word = counter / WORD_BITS;
                let advance = new_word - old_word;
                if advance >= WORDS as u64 {
                    self.bitmap = [0; WORDS];
                } else {
                    // advance < WORDS, so this loop is bounded by the ring size.
                    for i in 1..=advance {
                        let slot = ((old_word + i) % WORDS as u64) as usize;
                        self.bitmap[slot] = 0;
                    }
                }
                self.highest = Some(counter);
            }
            None => {
                // The bitmap is all zero in a fresh window.
                self.highest = Some(counter);
            }
        }
        let (slot, mask) = locate(counter);
        self.bitmap[slot] |= mask;
        true
    }

    /// The highest accepted counter, `None` if none was accepted yet.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    use std::collections::BTreeSet;

    fn accept(w: &mut ReplayWindow, c: u64) {
        assert!(w.check(c), "check({c}) should pass");
        assert!(w.update(c), "update({c}) should pass");
    }

    fn reject(w: &mut ReplayWindow, c: u64) {
        let before = w.clone();
        assert!(!w.check(c), "check({c}) should fail");
        assert!(!w.update(c), "update({c}) should fail");
        assert_eq!(*w, before, "a rejected update must not change the state");
    }

    #[test]
    fn first_packet_zero_and_duplicate() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.highest(), None);
        accept(&mut w, 0);
        assert_eq!(w.highest(), Some(0));
        reject(&mut w, 0);
        accept(&mut w, 1);
        reject(&mut w, 1);
        reject(&mut w, 0);
    }

    #[test]
    fn first_packet_need_not_be_zero() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 5000);
        // Below the first packet but within the window: still acceptable.
        accept(&mut w, 5000 - (WINDOW - 1));
        reject(&mut w, 5000 - WINDOW);
        accept(&mut w, 4999);
        reject(&mut w, 4999);
    }

    #[test]
    fn window_edges() {
        for highest in [WINDOW - 1, WINDOW, WINDOW + 1, 10_000, 10_000 + 63, 1 << 40] {
            let mut w = ReplayWindow::new();
            accept(&mut w, highest);
            // Exactly at the edge: highest - (WINDOW - 1) accepted.
            accept(&mut w, highest - (WINDOW - 1));
            reject(&mut w, highest - (WINDOW - 1));
            // One further: too old.
            if let Some(c) = highest.checked_sub(WINDOW) {
                reject(&mut w, c);
            }
            if let Some(c) = highest.checked_sub(WINDOW + 1) {
                reject(&mut w, c);
            }
            // Everything in between still fresh.
            for c in highest - (WINDOW - 2)..highest {
                assert!(w.check(c), "highest {highest}, counter {c}");
            }
            accept(&mut w, highest - (WINDOW - 2));
            accept(&mut w, highest + 1);
            // The old edge is now too old; the new edge (accepted above) is still in.
            reject(&mut w, highest - (WINDOW - 1));
            reject(&mut w, highest + 1 - (WINDOW - 1));
            accept(&mut w, highest + 1 - (WINDOW - 2));
        }
    }

    #[test]
    fn window_smaller_than_highest_zero_based() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 0);
        accept(&mut w, WINDOW - 1);
        reject(&mut w, 0);
        let mut w = ReplayWindow::new();
        accept(&mut w, WINDOW);
        reject(&mut w, 0);
        accept(&mut w, 1);
    }

    #[test]
    fn far_jump_ahead_then_old_rejected() {
        let mut w = ReplayWindow::new();
        for c in 0..3000 {
            accept(&mut w, c);
        }
        let far = 2999 + 1_000_000_000_000;
        accept(&mut w, far);
        assert_eq!(w.highest(), Some(far));
        for c in [0, 1, 2998, 2999, 3000, far - WINDOW] {
            reject(&mut w, c);
        }
        reject(&mut w, far);
        // The bitmap was cleared: everything just below `far` is fresh, exactly once.
        for c in far - (WINDOW - 1)..far {
            accept(&mut w, c);
            reject(&mut w, c);
        }
    }

    #[test]
    fn jump_of_window_and_neighbours() {
        for start in [0u64, 1, 63, 64, 100, 5000] {
            for jump in [WINDOW - 1, WINDOW, WINDOW + 1, WINDOW + 64, WINDOW - 64] {
                let mut w = ReplayWindow::new();
                // Fill a full window below `start + 1`.
                let lo = start.saturating_sub(WINDOW - 1);
                for c in lo..=start {
                    accept(&mut w, c);
                }
                let new = start + jump;
                accept(&mut w, new);
                let edge = new.saturating_sub(WINDOW - 1);
                // Counters at or below `start` that are still in the window stay rejected
                // (already accepted); the rest are too old.
                for c in lo..=start {
                    reject(&mut w, c);
                }
                // Counters between start and new are fresh.
                for c in (start + 1).max(edge)..new {
                    assert!(w.check(c), "start {start} jump {jump} c {c}");
                }
                if let Some(c) = edge.checked_sub(1) {
                    reject(&mut w, c);
                }
                if edge > start {
                    accept(&mut w, edge);
                }
            }
        }
    }

    #[test]
    fn u64_max() {
        let mut w = ReplayWindow::new();
        accept(&mut w, u64::MAX);
        reject(&mut w, u64::MAX);
        accept(&mut w, u64::MAX - (WINDOW - 1));
        reject(&mut w, u64::MAX - WINDOW);
        reject(&mut w, 0);

        let mut w = ReplayWindow::new();
        accept(&mut w, 0);
        accept(&mut w, u64::MAX);
        reject(&mut w, 0);
        reject(&mut w, u64::MAX);
        accept(&mut w, u64::MAX - 1);
        assert_eq!(w.highest(), Some(u64::MAX));

        let mut w = ReplayWindow::new();
        accept(&mut w, u64::MAX - 100);
        accept(&mut w, u64::MAX);
        reject(&mut w, u64::MAX - 100);
        accept(&mut w, u64::MAX - 99);
    }

    #[test]
    fn unverified_check_does_not_move_window() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 10);
        let before = w.clone();
        assert!(w.check(u64::MAX));
        assert!(w.check(1_000_000));
        assert_eq!(w, before);
        accept(&mut w, 9);
    }

    /// Set-based model of the window: every counter ever accepted, plus the age rule.
    struct Model {
        accepted: BTreeSet<u64>,
        highest: Option<u64>,
    }

    impl Model {
        fn check(&self, c: u64) -> bool {
            if let Some(h) = self.highest
                && c <= h
                && h - c > WINDOW - 1
            {
                return false;
            }
            !self.accepted.contains(&c)
        }

        fn update(&mut self, c: u64) -> bool {
            if !self.check(c) {
                return false;
            }
            self.accepted.insert(c);
            self.highest = Some(self.highest.map_or(c, |h| h.max(c)));
            true
        }
    }

    #[test]
    fn replay_window_differential() {
        const STEPS: usize = 1_000_000;
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_6479);
        let mut w = ReplayWindow::new();
        let mut m = Model {
            accepted: BTreeSet::new(),
            highest: None,
        };
        // Next "sender" counter, mostly increasing.
        let mut next: u64 = 0;
        // Recently accepted counters, for replays.
        let mut recent: Vec<u64> = Vec::with_capacity(4096);
        let (mut replays, mut replays_rejected) = (0u64, 0u64);
        let (mut accepted, mut too_old, mut forged) = (0u64, 0u64, 0u64);

        for step in 0..STEPS {
            // Late in the run, jump close to the end of the counter space.
            if step == STEPS - 20_000 {
                next = u64::MAX - 15_000;
            }
            let r = rng.next_u64() % 1000;
            let counter = if r < 650 {
                // In order, occasionally skipping some.
                let c = next;
                let gap = if rng.next_u64() % 10 == 0 {
                    1 + rng.next_u64() % 100
                } else {
                    1
                };
                next = next.saturating_add(gap);
                c
            } else if r < 900 {
                // Reordered: displaced back by up to ~3000 (some beyond the window).
                next.saturating_sub(rng.next_u64() % 3001)
            } else if r < 990 {
                // Replay of an earlier accepted counter (or a fresh one if none).
                if recent.is_empty() {
                    next
                } else {
                    recent[(rng.next_u64() % recent.len() as u64) as usize]
                }
            } else if r < 999 {
                // Ahead of the sender (reordered the other way).
                next.saturating_add(rng.next_u64() % 3000)
            } else {
                // Far jump ahead, up to 10^12.
                let jump = 1 + rng.next_u64() % 1_000_000_000_000;
                next = next.saturating_add(jump);
                next
            };

            // Forged packet interleaved: check() on a random-ish counter whose tag then
            // fails, so no update. Must not change anything.
            if rng.next_u64() % 8 == 0 {
                forged += 1;
                let f = match rng.next_u64() % 4 {
                    0 => rng.next_u64(),
                    1 => next.saturating_add(rng.next_u64() % 1_000_000),
                    2 => u64::MAX,
                    _ => next.saturating_sub(rng.next_u64() % 3000),
                };
                let before_highest = w.highest();
                assert_eq!(w.check(f), m.check(f), "forged check({f}) at step {step}");
                assert_eq!(w.highest(), before_highest, "forged check moved the window");
            }

            let is_replay = m.accepted.contains(&counter);
            let expect = m.check(counter);
            assert_eq!(w.check(counter), expect, "check({counter}) at step {step}");
            if is_replay {
                replays += 1;
            }
            // Most packets verify; some are forged (tag fails → no update).
            let tag_ok = rng.next_u64() % 20 != 0;
            if tag_ok || is_replay {
                // Replays are always offered to update(): it must refuse them.
                let got = w.update(counter);
                assert_eq!(got, m.update(counter), "update({counter}) at step {step}");
                assert_eq!(got, expect);
                if got {
                    accepted += 1;
                    if recent.len() < 4096 {
                        recent.push(counter);
                    } else {
                        let i = (rng.next_u64() % 4096) as usize;
                        recent[i] = counter;
                    }
                } else if is_replay {
                    replays_rejected += 1;
                } else {
                    too_old += 1;
                }
            }
            assert_eq!(w.highest(), m.highest, "highest at step {step}");
        }
        assert!(replays > 50_000, "too few replays exercised: {replays}");
        assert_eq!(replays, replays_rejected, "every replay must be rejected");
        assert!(accepted > 400_000, "accepted {accepted}");
        assert!(too_old > 1_000, "too old {too_old}");
        assert!(forged > 100_000, "forged {forged}");
        assert_eq!(w.highest(), m.highest);
    }
}
