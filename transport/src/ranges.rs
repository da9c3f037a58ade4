//! A set of `u64` values stored as disjoint, non-adjacent half-open ranges.
//!
//! Used for received packet numbers (ACK generation), received and acknowledged channel
//! byte ranges. Callers bound the number of ranges where the input comes from the network.

use std::collections::BTreeMap;
use std::ops::Range;

/// Disjoint, coalesced half-open ranges of `u64`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start -> end (exclusive); ranges never overlap nor touch.
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of disjoint ranges.
    pub fn range_count(&self) -> usize {
        self.map.len()
    }

    /// True when the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: u64) -> bool {
        self.map
            .range(..=value)
            .next_back()
            .is_some_and(|(_, &end)| value < end)
    }

    /// Whether every value of `range` is in the set (true for an empty range).
    pub fn contains_range(&self, range: Range<u64>) -> bool {
        if range.start >= range.end {
            return true;
        }
        self.map
            .range(..=range.start)
            .next_back()
            .is_some_and(|(_, &end)| range.end <= end)
    }

    /// Adds `range`; returns how many values were not in the set before.
    pub fn insert(&mut self, range: Range<u64>) -> u64 {
        if range.start >= range.end {
            return 0;
        }
        let (mut start, mut end) = (range.start, range.end);
        let mut covered = 0u64;
        // Merge with a range that starts at or before `start` and reaches it.
        if let Some((&s, &e)) = self.map.range(..=start).next_back()
            && e >= start
        {
            if e >= end {
                return 0;
            }
            covered += e - start;
            start = s;
            self.map.remove(&s);
        }
        // Swallow every range starting inside [start, end].
        while let Some((&s, &e)) = self.map.range(start..=end).next() {
            self.map.remove(&s);
            let overlap_end = e.min(end);
            if overlap_end > s {
                covered += overlap_end - s.max(range.start);
            }
            end = end.max(e);
        }
        self.map.insert(start, end);
        (range.end - range.start) - covered.min(range.end - range.start)
    }

    /// Removes `range` from the set.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        let affected: Vec<(u64, u64)> = self
            .map
            .range(..range.end)
            .rev()
            .take_while(|(_, e)| **e > range.start)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in affected {
            self.map.remove(&s);
            if s < range.start {
                self.map.insert(s, range.start);
            }
            if e > range.end {
                self.map.insert(range.end, e);
            }
        }
    }

    /// Smallest value in the set.
    pub fn min(&self) -> Option<u64> {
        self.map.keys().next().copied()
    }

    /// Largest value in the set.
    pub fn max(&self) -> Option<u64> {
        self.map.values().next_back().map(|e| e - 1)
    }

    /// The first (lowest) range.
    pub fn first(&self) -> Option<Range<u64>> {
        self.map.iter().next().map(|(&s, &e)| s..e)
    }

    /// Removes and returns the lowest range.
    pub fn pop_first(&mut self) -> Option<Range<u64>> {
        self.map.pop_first().map(|(s, e)| s..e)
    }

    /// Ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + '_ {
        self.map.iter().map(|(&s, &e)| s..e)
    }

    /// Ranges intersecting `range`, clipped to it, ascending.
    pub fn intersecting(&self, range: Range<u64>) -> impl Iterator<Item = Range<u64>> + '_ {
        let first = self
            .map
            .range(..=range.start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(range.start);
        self.map
            .range(first..range.end.max(first))
            .map(move |(&s, &e)| s.max(range.start)..e.min(range.end))
            .filter(|r| r.start < r.end)
    }

    /// Removes all values below `value`.
    pub fn remove_below(&mut self, value: u64) {
        self.remove(0..value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn insert_merges_and_counts_new_values() {
        let mut s = RangeSet::new();
        assert_eq!(s.insert(5..10), 5);
        assert_eq!(s.insert(10..12), 2);
        assert_eq!(s.range_count(), 1);
        assert_eq!(s.insert(0..3), 3);
        assert_eq!(s.insert(2..6), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0..12]);
        assert_eq!(s.insert(4..8), 0);
    }

    proptest! {
        #[test]
        fn matches_a_set_model(ops in proptest::collection::vec((any::<bool>(), 0u64..200, 0u64..20), 1..200)) {
            let mut s = RangeSet::new();
            let mut model = BTreeSet::new();
            for (ins, start, len) in ops {
                let r = start..start + len;
                if ins {
                    let new = r.clone().filter(|v| !model.contains(v)).count() as u64;
                    prop_assert_eq!(s.insert(r.clone()), new);
                    model.extend(r);
                } else {
                    s.remove(r.clone());
                    for v in r { model.remove(&v); }
                }
                let flat: BTreeSet<u64> = s.iter().flatten().collect();
                prop_assert_eq!(&flat, &model);
                // coalesced: no two ranges touch
                let v: Vec<_> = s.iter().collect();
                for w in v.windows(2) { prop_assert!(w[0].end < w[1].start); }
                for probe in 0..230u64 {
                    prop_assert_eq!(s.contains(probe), model.contains(&probe));
                }
                let clip: BTreeSet<u64> = s.intersecting(50..120).flatten().collect();
                let want: BTreeSet<u64> = model.range(50..120).copied().collect();
                prop_assert_eq!(clip, want);
            }
        }
    }
}
