//! Target `range_set`.

#[allow(unused_imports)]
use super::*;

// ===== range sets ===============================================================================

/// One step of the `range_set` harness (values in a small domain so ranges collide).
#[derive(Debug, Arbitrary)]
pub(super) enum RangeOp {
    Insert { start: u16, len: u8 },
    Remove { start: u16, len: u8 },
    RemoveBelow(u16),
    PopFirst,
    Query { start: u16, len: u8 },
}

/// Domain of `range_set` values (small, so that ranges collide and checks stay cheap).
pub(super) const RANGE_DOMAIN: u64 = 256;

/// Target `range_set`: `RangeSet` (received packet numbers, acknowledged and received
/// channel bytes) against a `BTreeSet` of its values.
///
/// Checks: `insert` reports exactly the new values; after every step the ranges are
/// ascending, non-empty, disjoint and non-adjacent and hold exactly the model's values;
/// `contains`, `contains_range`, `intersecting`, `min`, `max`, `first`, `pop_first` and
/// `range_count` agree with the model.
pub fn range_set(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut set = RangeSet::new();
    let mut model = BTreeSet::<u64>::new();
    let span = |start: u16, len: u8| {
        let s = u64::from(start) % RANGE_DOMAIN;
        s..s + u64::from(len % 48)
    };
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<RangeOp>() else {
            break;
        };
        match op {
            RangeOp::Insert { start, len } => {
                let r = span(start, len);
                let new = r.clone().filter(|v| !model.contains(v)).count() as u64;
                assert_eq!(
                    set.insert(r.clone()),
                    new,
                    "insert({r:?}) counts new values"
                );
                model.extend(r);
            }
            RangeOp::Remove { start, len } => {
                let r = span(start, len);
                set.remove(r.clone());
                for v in r {
                    model.remove(&v);
                }
            }
            RangeOp::RemoveBelow(v) => {
                let v = u64::from(v) % (RANGE_DOMAIN + 64);
                set.remove_below(v);
                model.retain(|&x| x >= v);
            }
            RangeOp::PopFirst => {
                let expected = first_run(&model);
                assert_eq!(set.first(), expected);
                assert_eq!(set.pop_first(), expected);
                if let Some(r) = expected {
                    for v in r {
                        model.remove(&v);
                    }
                }
            }
            RangeOp::Query { start, len } => {
                let r = span(start, len);
                assert_eq!(
                    set.contains_range(r.clone()),
                    r.clone().all(|v| model.contains(&v))
                );
                let got: Vec<u64> = set.intersecting(r.clone()).flatten().collect();
                let want: Vec<u64> = model.range(r.clone()).copied().collect();
                assert_eq!(got, want, "intersecting({r:?})");
                for piece in set.intersecting(r.clone()) {
                    assert!(
                        piece.start < piece.end && r.start <= piece.start && piece.end <= r.end
                    );
                }
                assert_eq!(set.contains(r.start), model.contains(&r.start));
            }
        }
        let ranges: Vec<std::ops::Range<u64>> = set.iter().collect();
        for w in ranges.windows(2) {
            assert!(
                w[0].end < w[1].start,
                "ranges disjoint and non-adjacent: {ranges:?}"
            );
        }
        assert!(ranges.iter().all(|r| r.start < r.end));
        let values: Vec<u64> = ranges.iter().cloned().flatten().collect();
        assert!(
            values.iter().eq(model.iter()),
            "set holds exactly the model's values"
        );
        assert_eq!(set.range_count(), ranges.len());
        assert_eq!(set.is_empty(), model.is_empty());
        assert_eq!(set.min(), model.first().copied());
        assert_eq!(set.max(), model.last().copied());
    }
}

/// The lowest run of consecutive values of `model`.
pub(super) fn first_run(model: &BTreeSet<u64>) -> Option<std::ops::Range<u64>> {
    let &start = model.first()?;
    let mut end = start;
    while model.contains(&end) {
        end += 1;
    }
    Some(start..end)
}
