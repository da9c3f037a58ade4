//! Delivery-rate estimation (after draft-cheng-iccrg-delivery-rate-estimation, as in
//! Linux `tcp_rate.c`): every packet remembers how much had been delivered when it was
//! sent; when it is acknowledged, the bytes delivered in between over the time they took
//! give a sample of the path's delivery rate. Samples taken while the sender did not fill
//! the pipe are marked application-limited, so a model-based controller can ignore them
//! unless they raise its estimate.

use std::time::{Duration, Instant};

/// What a packet remembers of the sender's delivery state when it was sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendSnapshot {
    /// Bytes delivered (acknowledged) on the path when the packet was sent.
    delivered: u64,
    /// When `delivered` last changed before the packet was sent.
    delivered_time: Instant,
    /// Send time of the first packet of the current sampling flight.
    first_sent_time: Instant,
    /// Bytes lost on the path when the packet was sent.
    lost: u64,
    /// Bytes in flight right after the packet was sent.
    in_flight: u64,
    /// Sent inside an application-limited period.
    app_limited: bool,
}

/// One delivery-rate sample, handed to the congestion controller with each ACK.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSample {
    /// Bytes per second delivered over the sample's interval.
    pub delivery_rate: f64,
    /// The sample's packet was sent while the sender was application-limited: the rate
    /// may be below what the path can carry.
    pub is_app_limited: bool,
    /// Bytes delivered during the sample.
    pub delivered: u64,
    /// Path's total delivered bytes when the sample's packet was sent (round counting).
    pub prior_delivered: u64,
    /// Bytes in flight when the sample's packet was sent.
    pub prior_in_flight: u64,
    /// Bytes lost between the sample's packet being sent and acknowledged.
    pub lost: u64,
    /// The interval the rate is computed over.
    pub interval: Duration,
}

/// The sender-side state of delivery-rate estimation for one path.
#[derive(Debug, Clone)]
pub(crate) struct RateSampler {
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    lost: u64,
    /// Application-limited until `delivered` passes this mark (0: not limited).
    app_limited_until: u64,
    /// The newest acknowledged packet of the ACK being processed, as a candidate sample:
    /// (its snapshot, its send time).
    candidate: Option<(SendSnapshot, Instant)>,
}

impl RateSampler {
    pub fn new(now: Instant) -> Self {
        Self {
            delivered: 0,
            delivered_time: now,
            first_sent_time: now,
            lost: 0,
            app_limited_until: 0,
            candidate: None,
        }
    }

    /// Total bytes delivered on the path.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// A packet is sent at `now`; `in_flight_before` bytes were in flight before it,
    /// `in_flight_after` after.
    pub fn on_sent(
        &mut self,
        now: Instant,
        in_flight_before: u64,
        in_flight_after: u64,
    ) -> SendSnapshot {
        if in_flight_before == 0 {
            // The pipe was empty: a new sampling flight starts now.
            self.first_sent_time = now;
            self.delivered_time = now;
        }
        SendSnapshot {
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent_time: self.first_sent_time,
            lost: self.lost,
            in_flight: in_flight_after,
            app_limited: self.app_limited_until != 0,
        }
    }

    /// The sender has nothing to send although the window has room: what is sent until
    /// everything now in flight is delivered is application-limited.
    pub fn on_app_limited(&mut self, bytes_in_flight: u64) {
        self.app_limited_until = (self.delivered + bytes_in_flight).max(1);
    }

    /// A packet of `size` bytes sent at `sent` with `snap` was acknowledged at `now`.
    pub fn on_acked(&mut self, now: Instant, size: u64, sent: Instant, snap: &SendSnapshot) {
        self.delivered += size;
        self.delivered_time = now;
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0; // the limited bubble is delivered
        }
        let newer = self
            .candidate
            .is_none_or(|(c, _)| snap.delivered >= c.delivered);
        if newer {
            self.candidate = Some((*snap, sent));
        }
    }

    /// `size` bytes were declared lost.
    pub fn on_lost(&mut self, size: u64) {
        self.lost += size;
    }

    /// The sample of the ACK just processed (the newest acknowledged packet), if valid:
    /// an interval of at least `min_rtt` (shorter ones overestimate after ACK compression).
    pub fn take_sample(&mut self, now: Instant, min_rtt: Duration) -> Option<RateSample> {
        let (snap, sent) = self.candidate.take()?;
        // The next flight starts where this sample's packet left.
        self.first_sent_time = sent;
        let send_elapsed = sent.saturating_duration_since(snap.first_sent_time);
        let ack_elapsed = now.saturating_duration_since(snap.delivered_time);
        let interval = send_elapsed.max(ack_elapsed);
        if interval < min_rtt || interval.is_zero() {
            return None;
        }
        let delivered = self.delivered - snap.delivered;
        Some(RateSample {
            delivery_rate: delivered as f64 / interval.as_secs_f64(),
            is_app_limited: snap.app_limited,
            delivered,
            prior_delivered: snap.delivered,
            prior_in_flight: snap.in_flight,
            lost: self.lost.saturating_sub(snap.lost),
            interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_flight_measures_the_send_rate() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut r = RateSampler::new(t0);
        // One 1000-byte packet per ms, each acknowledged 20 ms after it was sent: the
        // path delivers 1,000,000 bytes per second.
        let mut in_flight = std::collections::VecDeque::new();
        let mut samples = Vec::new();
        for t in 0..200u64 {
            while in_flight.front().is_some_and(|(sent, _)| *sent + 20 <= t) {
                let (sent, snap) = in_flight.pop_front().expect("front");
                r.on_acked(ms(t), 1000, ms(sent), &snap);
            }
            if let Some(s) = r.take_sample(ms(t), Duration::from_millis(20)) {
                samples.push(s);
            }
            let before = in_flight.len() as u64 * 1000;
            let snap = r.on_sent(ms(t), before, before + 1000);
            in_flight.push_back((t, snap));
        }
        let s = samples.last().expect("samples");
        assert!(!s.is_app_limited);
        assert!(
            (950_000.0..=1_050_000.0).contains(&s.delivery_rate),
            "{}",
            s.delivery_rate
        );
        assert_eq!(s.lost, 0);
        assert!(s.prior_in_flight >= 20_000);
    }

    #[test]
    fn app_limited_marks_until_delivered_and_short_samples_are_dropped() {
        let t0 = Instant::now();
        let mut r = RateSampler::new(t0);
        r.on_app_limited(0);
        let snap = r.on_sent(t0, 0, 100);
        r.on_acked(t0 + Duration::from_millis(10), 100, t0, &snap);
        let s = r.take_sample(t0 + Duration::from_millis(10), Duration::from_millis(5));
        assert!(s.expect("sample").is_app_limited);
        // Delivered past the mark: the next packet is not limited.
        let t1 = t0 + Duration::from_millis(20);
        let snap = r.on_sent(t1, 0, 100);
        r.on_acked(t1 + Duration::from_millis(1), 100, t1, &snap);
        assert!(!snap.app_limited);
        // A 1 ms interval is below the 5 ms min RTT: no sample.
        assert!(
            r.take_sample(t1 + Duration::from_millis(1), Duration::from_millis(5))
                .is_none()
        );
    }
}
