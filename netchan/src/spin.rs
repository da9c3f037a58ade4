//! The driver's adaptive spin: poll briefly instead of parking after traffic.
//!
//! Spinning for [`SPIN`] after traffic saves the 25-50 µs wake-up of a parked thread when
//! the next datagram or command follows quickly (a request/response exchange), but burns
//! a core when traffic is spaced wider than the spin (a paced stream at tens of Mbit/s).
//! So the driver learns: after [`IDLE_SPINS_OFF`] spins in a row that found nothing it
//! stops spinning, and it starts again when, parked, it is woken by traffic that
//! followed the previous traffic within [`SPIN`] (a spin would have caught it).

use std::time::{Duration, Instant};

/// How long the loop keeps polling without parking after traffic.
const SPIN: Duration = Duration::from_micros(100);
/// Spins in a row that found no traffic before the driver stops spinning.
const IDLE_SPINS_OFF: u32 = 4;

/// State of the adaptive spin.
#[derive(Debug)]
pub(crate) struct Spin {
    enabled: bool,
    /// Consecutive spins that ended without new traffic.
    idle_spins: u32,
    /// The activity time the current spin started from.
    spin_from: Option<Instant>,
    /// The activity time when the loop last parked.
    parked_after: Option<Instant>,
}

impl Default for Spin {
    fn default() -> Self {
        Spin {
            enabled: true,
            idle_spins: 0,
            spin_from: None,
            parked_after: None,
        }
    }
}

impl Spin {
    /// The loop is about to park; `last_activity` is when traffic last arrived.
    pub fn parked(&mut self, last_activity: Instant) {
        self.parked_after = Some(last_activity);
    }

    /// Whether to keep polling at `now` instead of parking.
    pub fn should_spin(&mut self, now: Instant, last_activity: Instant) -> bool {
        if let Some(prev) = self.parked_after.take()
            && last_activity > prev
            && last_activity - prev < SPIN
        {
            self.enabled = true;
            self.idle_spins = 0;
        }
        if !self.enabled {
            return false;
        }
        if now.saturating_duration_since(last_activity) < SPIN {
            if self.spin_from.is_some_and(|from| from != last_activity) {
                self.idle_spins = 0; // new traffic arrived while spinning: it paid off
            }
            self.spin_from = Some(last_activity);
            return true;
        }
        if self.spin_from.take().is_some() {
            self.idle_spins += 1;
            if self.idle_spins >= IDLE_SPINS_OFF {
                self.enabled = false;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_idle_spins_and_resumes_on_close_traffic() {
        let t0 = Instant::now();
        let us = |n| t0 + Duration::from_micros(n);
        let mut s = Spin::default();
        // Four spins that never see new traffic turn spinning off.
        for k in 0..IDLE_SPINS_OFF as u64 {
            let activity = us(k * 1000);
            assert!(s.should_spin(activity, activity));
            assert!(!s.should_spin(activity + SPIN, activity));
        }
        let activity = us(10_000);
        assert!(!s.should_spin(activity, activity), "spinning is off");
        // Parked, then woken by traffic 50 µs after the previous traffic: back on.
        s.parked(activity);
        let next = activity + Duration::from_micros(50);
        assert!(s.should_spin(next, next));
    }
}
