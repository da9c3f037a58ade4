//! Timer tables: one optional deadline per timer kind. A state machine's `poll_timeout`
//! is the minimum over its tables, and `handle_timeout` asks each kind whether it is due.

use std::fmt::Debug;
use std::time::Instant;

/// A kind of timer: a small enum whose variants index a [`TimerTable`].
pub(crate) trait TimerKind: Copy + Debug + 'static {
    /// Every kind, in index order.
    const ALL: &'static [Self];
    /// This kind's slot, below `ALL.len()`.
    fn index(self) -> usize;
}

/// Deadlines by timer kind, `N == K::ALL.len()`.
#[derive(Debug, Clone)]
pub(crate) struct TimerTable<K: TimerKind, const N: usize> {
    at: [Option<Instant>; N],
    _kind: std::marker::PhantomData<K>,
}

impl<K: TimerKind, const N: usize> Default for TimerTable<K, N> {
    fn default() -> Self {
        debug_assert_eq!(K::ALL.len(), N, "timer table size");
        Self {
            at: [None; N],
            _kind: std::marker::PhantomData,
        }
    }
}

impl<K: TimerKind, const N: usize> TimerTable<K, N> {
    /// Arms `kind` at `at`, or stops it with `None`.
    pub fn set(&mut self, kind: K, at: Option<Instant>) {
        if let Some(slot) = self.at.get_mut(kind.index()) {
            *slot = at;
        }
    }

    /// Stops `kind`.
    pub fn stop(&mut self, kind: K) {
        self.set(kind, None);
    }

    /// Stops every timer.
    pub fn clear(&mut self) {
        self.at = [None; N];
    }

    /// `kind`'s deadline, if armed.
    pub fn get(&self, kind: K) -> Option<Instant> {
        self.at.get(kind.index()).copied().flatten()
    }

    /// Whether `kind` is armed and due at `now`.
    pub fn is_due(&self, kind: K, now: Instant) -> bool {
        self.get(kind).is_some_and(|t| t <= now)
    }

    /// If `kind` is due at `now`, stops it and returns true (fire once).
    pub fn take_due(&mut self, kind: K, now: Instant) -> bool {
        let due = self.is_due(kind, now);
        if due {
            self.stop(kind);
        }
        due
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum T {
        A,
        B,
        C,
    }

    impl TimerKind for T {
        const ALL: &'static [Self] = &[T::A, T::B, T::C];
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn next_is_the_minimum_and_take_due_fires_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut table = TimerTable::<T, 3>::default();
        assert_eq!(table.next(), None);
        table.set(T::A, Some(ms(30)));
        table.set(T::B, Some(ms(10)));
        table.set(T::C, Some(ms(20)));
        assert_eq!(table.next(), Some(ms(10)));
        assert!(!table.take_due(T::B, ms(9)));
        assert!(table.take_due(T::B, ms(10)));
        assert!(!table.take_due(T::B, ms(10)));
        assert_eq!(table.next(), Some(ms(20)));
        table.stop(T::C);
        assert_eq!(table.next(), Some(ms(30)));
        table.clear();
        assert_eq!(table.next(), None);
    }
}
