//! Pacing: spread a congestion window over an RTT instead of bursting it.

use std::time::{Duration, Instant};

/// Pacing gain: the bucket refills at `PACING_GAIN · cwnd / srtt` (RFC 9002 §7.7, N = 1.25).
const PACING_GAIN: f64 = 1.25;
/// Smallest wait the pacer asks for, so a caller never spins on sub-microsecond timers.
const MIN_WAIT: Duration = Duration::from_micros(1);
/// Longest wait the pacer asks for (a safety net against absurd inputs).
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Token shortfalls below this many bytes are rounding noise, not a reason to wait.
const EPSILON_BYTES: f64 = 1e-3;

/// A token-bucket pacer refilled at `rate = 1.25 · cwnd / srtt`, with a burst of a few
/// datagrams.
///
/// * Refill rate: `1.25 · cwnd / srtt` bytes per second, with `srtt` floored at 1 µs and
///   `cwnd` floored at one datagram.
/// * Bucket capacity (largest burst): `max(2·mds, min(10·mds, cwnd / 8))`: at least two
///   datagrams, at most ten, and otherwise an eighth of the window (the window then
///   leaves in about eight bursts per RTT).
/// * The bucket starts with `10·mds` tokens, so the first flight (RFC 9002's initial
///   window) may leave at once, as RFC 9002 §7.7 allows. Refills never raise the tokens
///   above the capacity, but do not take away tokens already above it either.
/// * A packet larger than the capacity may leave once the bucket is full, then drains it
///   to zero.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Available tokens in bytes; fractional so slow refills do not lose precision.
    tokens: f64,
    /// Time of the last refill.
    last: Instant,
    /// Maximum datagram size in bytes.
    mds: u64,
}

impl Pacer {
    /// A pacer for datagrams of at most `max_datagram_size` bytes, starting at `now`.
    pub fn new(max_datagram_size: u16, now: Instant) -> Self {
        let mds = u64::from(max_datagram_size).max(1);
        Self {
            tokens: (10 * mds) as f64,
            last: now,
            mds,
        }
    }

    /// Burst capacity in bytes for a congestion window of `cwnd` bytes.
    pub fn capacity(&self, cwnd: u64) -> u64 {
        (cwnd / 8).min(10 * self.mds).max(2 * self.mds)
    }

    /// Refill rate in bytes per second.
    fn rate(&self, srtt: Duration, cwnd: u64) -> f64 {
        let srtt = srtt.max(MIN_WAIT).as_secs_f64();
        PACING_GAIN * cwnd.max(self.mds) as f64 / srtt
    }

    /// Adds the tokens accumulated since the last refill (time never runs backwards here:
    /// an earlier `now` adds nothing).
    pub(super) fn refill(&mut self, now: Instant, srtt: Duration, cwnd: u64) {
        let rate = self.rate(srtt, cwnd);
        self.refill_with(now, rate, self.capacity(cwnd));
    }

    /// [`refill`](Self::refill) at an explicit `rate` (bytes per second) and bucket
    /// `capacity` (a controller that paces at its own estimate, such as BBR).
    pub(super) fn refill_with(&mut self, now: Instant, rate: f64, capacity: u64) {
        let elapsed = now.saturating_duration_since(self.last);
        if now > self.last {
            self.last = now;
        }
        let capacity = capacity as f64;
        if self.tokens < capacity && rate.is_finite() && rate > 0.0 {
            let added = elapsed.as_secs_f64() * rate;
            self.tokens = (self.tokens + added).min(capacity);
        }
    }

    /// `None` if `bytes` may leave now, else the earliest instant they may.
    ///
    /// A returned instant is always at least 1 µs after `now`, rounded up to a whole
    /// microsecond of waiting, so that asking again at that instant (with the same `srtt`
    /// and `cwnd`) returns `None`.
    pub fn delay(
        &mut self,
        now: Instant,
        bytes: u64,
        srtt: Duration,
        cwnd: u64,
    ) -> Option<Instant> {
        let rate = self.rate(srtt, cwnd);
        self.delay_with(now, bytes, rate, self.capacity(cwnd))
    }

    /// [`delay`](Self::delay) at an explicit `rate` (bytes per second, floored at one
    /// byte per second) and bucket `capacity`.
    pub fn delay_with(
        &mut self,
        now: Instant,
        bytes: u64,
        rate: f64,
        capacity: u64,
    ) -> Option<Instant> {
        let rate = if rate.is_finite() { rate.max(1.0) } else { 1.0 };
        self.refill_with(now, rate, capacity);
        let needed = bytes.min(capacity) as f64;
        let missing = needed - self.tokens;
        if missing <= EPSILON_BYTES {
            return None;
        }
        // Aim half an epsilon short of the exact amount so float noise cannot push an exact
        // whole-microsecond wait up by one; the re-check then still passes (shortfall
        // below EPSILON_BYTES).
        let secs = (missing - EPSILON_BYTES / 2.0) / rate;
        let micros = (secs * 1e6).ceil();
        let wait = if micros.is_finite() && micros < MAX_WAIT.as_micros() as f64 {
            // In range: `micros` is a finite, non-negative whole number below 6·10^7.
            Duration::from_micros(micros as u64).max(MIN_WAIT)
        } else {
            MAX_WAIT
        };
        // Base the wait on `self.last`, which is `now` unless `now` went backwards.
        let base = self.last.max(now);
        Some(base.checked_add(wait).unwrap_or(base))
    }

    /// Consume tokens for a sent packet.
    pub fn on_sent(&mut self, bytes: u64) {
        self.tokens = (self.tokens - bytes as f64).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MDS: u16 = 1200;

    #[test]
    fn capacity_formula() {
        let p = Pacer::new(MDS, Instant::now());
        assert_eq!(p.capacity(0), 2400);
        assert_eq!(p.capacity(12_000), 2400);
        assert_eq!(p.capacity(40_000), 5000);
        assert_eq!(p.capacity(120_000), 12_000);
        assert_eq!(p.capacity(10_000_000), 12_000);
    }

    #[test]
    fn burst_then_spacing_at_the_expected_rate() {
        let start = Instant::now();
        let mut p = Pacer::new(MDS, start);
        let (srtt, cwnd) = (Duration::from_millis(100), 120_000);
        // rate = 1.25 · 120000 / 0.1 s = 1.5 MB/s → one 1200-byte packet every 800 µs.
        let mut now = start;
        let mut send_times = Vec::new();
        for _ in 0..10_000 {
            if send_times.len() == 100 {
                break;
            }
            match p.delay(now, 1200, srtt, cwnd) {
                None => {
                    p.on_sent(1200);
                    send_times.push(now);
                }
                Some(at) => {
                    assert!(at > now, "a wait must be in the future");
                    now = at;
                }
            }
        }
        assert_eq!(send_times.len(), 100);
        // The initial bucket (10 datagrams) leaves at once.
        assert!(send_times[..10].iter().all(|&t| t == start));
        assert!(send_times[10] > start);
        // Then one packet per ~800 µs.
        for pair in send_times[10..].windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= Duration::from_micros(799) && gap <= Duration::from_micros(801),
                "gap {gap:?}"
            );
        }
        // 90 paced packets = 108000 bytes at 1.5 MB/s = 72 ms.
        let total = send_times[99] - start;
        assert!(
            total >= Duration::from_millis(70) && total <= Duration::from_millis(74),
            "total {total:?}"
        );
    }

    #[test]
    fn idle_refill_is_capped_at_capacity() {
        let start = Instant::now();
        let mut p = Pacer::new(MDS, start);
        let (srtt, cwnd) = (Duration::from_millis(100), 40_000); // capacity 5000
        for _ in 0..10 {
            p.on_sent(1200);
        }
        // A long idle period refills only up to the capacity: 4 packets (4800 ≤ 5000).
        let now = start + Duration::from_secs(10);
        let mut sent = 0;
        for _ in 0..100 {
            if p.delay(now, 1200, srtt, cwnd).is_some() {
                break;
            }
            p.on_sent(1200);
            sent += 1;
        }
        assert_eq!(sent, 4);
    }

    #[test]
    fn waits_are_never_in_the_past_nor_zero() {
        let start = Instant::now();
        let mut p = Pacer::new(MDS, start);
        p.on_sent(100_000);
        // Huge cwnd and tiny srtt: the exact wait is far below a microsecond.
        let at = p
            .delay(start, 1200, Duration::ZERO, u64::MAX)
            .expect("bucket is empty");
        assert!(at >= start + MIN_WAIT);
        // Asking again at the returned instant succeeds.
        assert_eq!(p.delay(at, 1200, Duration::ZERO, u64::MAX), None);
        // A `now` before the last refill never yields an instant before that refill.
        p.on_sent(100_000);
        let again = p
            .delay(start, 1200, Duration::from_millis(10), 12_000)
            .expect("empty");
        assert!(again > at);
    }

    #[test]
    fn oversized_packet_waits_for_a_full_bucket_only() {
        let start = Instant::now();
        let mut p = Pacer::new(MDS, start);
        p.on_sent(u64::MAX);
        let (srtt, cwnd) = (Duration::from_millis(100), 12_000); // capacity 2400, rate 150 kB/s
        let at = p.delay(start, 1_000_000, srtt, cwnd).expect("empty bucket");
        assert_eq!(at - start, Duration::from_millis(16));
        assert_eq!(p.delay(at, 1_000_000, srtt, cwnd), None);
    }

    #[test]
    fn waiting_exactly_the_returned_delay_is_enough() {
        let start = Instant::now();
        let mut p = Pacer::new(MDS, start);
        let mut now = start;
        let mut waits = 0;
        for i in 0..2_000u64 {
            let srtt = Duration::from_micros(3_000 + 7 * (i % 13));
            let cwnd = 20_000 + 977 * (i % 17);
            match p.delay(now, 1200, srtt, cwnd) {
                None => p.on_sent(1200),
                Some(at) => {
                    now = at;
                    waits += 1;
                    // Same inputs at the returned instant: must be allowed.
                    assert_eq!(p.delay(now, 1200, srtt, cwnd), None);
                    p.on_sent(1200);
                }
            }
        }
        assert!(waits > 1_000);
    }
}
