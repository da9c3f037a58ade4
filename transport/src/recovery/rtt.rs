//! RTT estimation (RFC 9002 §5).

use std::time::Duration;

/// Smoothed RTT, variance, min and latest sample.
///
/// Before the first sample every accessor reports values derived from the initial RTT:
/// `smoothed() == latest() == min() == initial` and `var() == initial / 2`.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    latest: Duration,
    smoothed: Option<Duration>,
    var: Duration,
    min: Duration,
    initial: Duration,
}

/// `Duration` from a nanosecond count, saturating at `u64::MAX` nanoseconds (~584 years).
fn from_nanos_saturating(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl RttEstimator {
    /// A fresh estimator assuming `initial` until the first sample.
    pub fn new(initial: Duration) -> Self {
        Self {
            latest: initial,
            smoothed: None,
            var: initial / 2,
            min: initial,
            initial,
        }
    }

    /// RFC 9002 §5.3 update; `ack_delay` is already clamped by the caller to max_ack_delay.
    ///
    /// The first sample sets `smoothed = latest`, `var = latest / 2`, `min = latest`.
    /// Later samples track the minimum (on the raw sample), subtract `ack_delay` only if
    /// that does not take the sample below `min`, then
    /// `var = 3/4·var + 1/4·|smoothed − adjusted|` and
    /// `smoothed = 7/8·smoothed + 1/8·adjusted` (var uses the previous smoothed value).
    pub fn update(&mut self, latest: Duration, ack_delay: Duration) {
        self.latest = latest;
        let Some(smoothed) = self.smoothed else {
            self.min = latest;
            self.smoothed = Some(latest);
            self.var = latest / 2;
            return;
        };
        self.min = self.min.min(latest);
        let adjusted = match self.min.checked_add(ack_delay) {
            Some(floor) if latest >= floor => latest - ack_delay,
            _ => latest,
        };
        let s = smoothed.as_nanos();
        let a = adjusted.as_nanos();
        let v = self.var.as_nanos();
        // u128 nanoseconds: no overflow for any pair of `Duration`s below ~10^20 s.
        self.var = from_nanos_saturating((3 * v + s.abs_diff(a)) / 4);
        self.smoothed = Some(from_nanos_saturating((7 * s + a) / 8));
    }

    /// Smoothed RTT (initial RTT before any sample).
    pub fn smoothed(&self) -> Duration {
        self.smoothed.unwrap_or(self.initial)
    }

    /// RTT variation (`initial / 2` before any sample).
    pub fn var(&self) -> Duration {
        self.var
    }

    /// Smallest RTT sample seen, without ack-delay adjustment (initial RTT before any
    /// sample).
    pub fn min(&self) -> Duration {
        self.min
    }

    /// Most recent RTT sample (initial RTT before any sample).
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// Whether at least one sample was taken.
    pub fn has_sample(&self) -> bool {
        self.smoothed.is_some()
    }

    /// smoothed + max(4·rttvar, granularity) (without max_ack_delay), saturating.
    pub fn pto_base(&self, granularity: Duration) -> Duration {
        self.smoothed()
            .saturating_add(self.var.saturating_mul(4).max(granularity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn before_any_sample_reports_initial() {
        let r = RttEstimator::new(ms(100));
        assert!(!r.has_sample());
        assert_eq!(r.smoothed(), ms(100));
        assert_eq!(r.var(), ms(50));
        assert_eq!(r.min(), ms(100));
        assert_eq!(r.latest(), ms(100));
        assert_eq!(r.pto_base(ms(1)), ms(300));
    }

    #[test]
    fn first_sample_sets_everything_and_ignores_ack_delay() {
        let mut r = RttEstimator::new(ms(100));
        r.update(ms(40), ms(10));
        assert!(r.has_sample());
        assert_eq!(r.smoothed(), ms(40));
        assert_eq!(r.var(), ms(20));
        assert_eq!(r.min(), ms(40));
        assert_eq!(r.latest(), ms(40));
        assert_eq!(r.pto_base(ms(1)), ms(120));
    }

    #[test]
    fn smoothing_sequence_matches_hand_computation() {
        let mut r = RttEstimator::new(ms(333));
        r.update(ms(80), Duration::ZERO);
        // s = 80, v = 40
        r.update(ms(160), Duration::ZERO);
        // v = 3/4·40 + 1/4·|80 − 160| = 30 + 20 = 50; s = 7/8·80 + 1/8·160 = 70 + 20 = 90
        assert_eq!(r.var(), ms(50));
        assert_eq!(r.smoothed(), ms(90));
        r.update(ms(10), Duration::ZERO);
        // min = 10; v = 3/4·50 + 1/4·|90 − 10| = 37.5 + 20 = 57.5
        // s = 7/8·90 + 1/8·10 = 78.75 + 1.25 = 80
        assert_eq!(r.var(), Duration::from_micros(57_500));
        assert_eq!(r.smoothed(), ms(80));
        assert_eq!(r.min(), ms(10));
        assert_eq!(r.latest(), ms(10));
    }

    #[test]
    fn ack_delay_subtracted_only_when_it_keeps_the_sample_above_min() {
        let mut r = RttEstimator::new(ms(100));
        r.update(ms(40), Duration::ZERO); // s 40, v 20, min 40
        // 72 >= 40 + 32: adjusted = 40 → v = 15 + 0 = 15, s = 40
        r.update(ms(72), ms(32));
        assert_eq!(r.smoothed(), ms(40));
        assert_eq!(r.var(), ms(15));
        // 72 < 40 + 40: the delay is not subtracted → adjusted = 72
        // v = 3/4·15 + 1/4·32 = 11.25 + 8 = 19.25; s = 35 + 9 = 44
        r.update(ms(72), ms(40));
        assert_eq!(r.smoothed(), ms(44));
        assert_eq!(r.var(), Duration::from_micros(19_250));
        // min tracks raw samples, not adjusted ones
        assert_eq!(r.min(), ms(40));
    }

    #[test]
    fn min_tracks_the_smallest_raw_sample() {
        let mut r = RttEstimator::new(ms(100));
        for (sample, expected_min) in [(50, 50), (70, 50), (30, 30), (90, 30), (31, 30)] {
            r.update(ms(sample), ms(5));
            assert_eq!(r.min(), ms(expected_min));
            assert_eq!(r.latest(), ms(sample));
        }
    }

    #[test]
    fn pto_base_uses_granularity_floor() {
        let mut r = RttEstimator::new(ms(100));
        r.update(ms(20), Duration::ZERO);
        for _ in 0..200 {
            r.update(ms(20), Duration::ZERO);
        }
        // var has decayed to (almost) zero: the granularity floor applies.
        assert!(r.var() < Duration::from_micros(250));
        assert_eq!(r.pto_base(ms(1)), ms(21));
    }
}
