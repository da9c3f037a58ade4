//! The windowed max filter of BBR's bandwidth estimate: the largest sample of the last
//! `window` rounds, kept as the best of each round in a small ring.

/// Maximum of the samples of the last `WINDOW` rounds.
#[derive(Debug, Clone)]
pub(crate) struct MaxFilter<const WINDOW: usize> {
    /// Best sample of each round, indexed by `round % WINDOW`, with its round.
    slots: [(u64, f64); WINDOW],
}

impl<const WINDOW: usize> Default for MaxFilter<WINDOW> {
    fn default() -> Self {
        Self {
            slots: [(0, 0.0); WINDOW],
        }
    }
}

impl<const WINDOW: usize> MaxFilter<WINDOW> {
    /// Offers `value` as a sample of `round`.
    pub fn update(&mut self, round: u64, value: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        let slot = &mut self.slots[(round % WINDOW as u64) as usize];
        if slot.0 != round {
            *slot = (round, value);
        } else if value > slot.1 {
            slot.1 = value;
        }
    }

    /// The maximum over the rounds `round + 1 - WINDOW ..= round`.
    pub fn get(&self, round: u64) -> f64 {
        let oldest = round.saturating_sub(WINDOW as u64 - 1);
        self.slots
            .iter()
            .filter(|(r, _)| *r >= oldest && *r <= round)
            .map(|(_, v)| *v)
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_max_of_the_window_and_expires_old_rounds() {
        let mut f = MaxFilter::<3>::default();
        f.update(1, 10.0);
        f.update(1, 5.0);
        f.update(2, 7.0);
        assert_eq!(f.get(2), 10.0);
        f.update(3, 6.0);
        assert_eq!(f.get(3), 10.0);
        f.update(4, 1.0); // round 1 leaves the window
        assert_eq!(f.get(4), 7.0);
        assert_eq!(f.get(10), 0.0);
        f.update(5, f64::NAN);
        assert_eq!(f.get(5), 6.0);
    }
}
