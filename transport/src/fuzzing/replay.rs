//! Target `replay_window`.

#[allow(unused_imports)]
use super::*;

// ===== anti-replay window =====================================================================

/// A counter relative to the window's state.
#[derive(Debug, Arbitrary)]
pub(super) enum Counter {
    Below(u16),
    Above(u16),
    FarAbove(u64),
    Absolute(u64),
}

/// One step of the `replay_window` harness.
#[derive(Debug, Arbitrary)]
pub(super) enum ReplayOp {
    Check(Counter),
    Update(Counter),
}

/// Target `replay_window`: `ReplayWindow` against a set of accepted counters.
///
/// Checks: `check(c)` is true exactly when `c` was never accepted and is above the
/// highest accepted counter or less than `WINDOW` below it; `update` accepts exactly
/// what `check` accepts and a refused update changes nothing; `highest` follows.
pub fn replay_window(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut w = ReplayWindow::new();
    let mut accepted = BTreeSet::<u64>::new();
    let mut highest: Option<u64> = None;
    for _ in 0..2048 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<ReplayOp>() else {
            break;
        };
        let resolve = |c: &Counter| {
            let h = highest.unwrap_or(0);
            match *c {
                Counter::Below(d) => h.saturating_sub(u64::from(d)),
                Counter::Above(d) => h.saturating_add(u64::from(d)),
                Counter::FarAbove(d) => h.saturating_add(d),
                Counter::Absolute(v) => v,
            }
        };
        let (counter, update) = match &op {
            ReplayOp::Check(c) => (resolve(c), false),
            ReplayOp::Update(c) => (resolve(c), true),
        };
        let fresh = match highest {
            None => true,
            Some(h) => counter > h || (h - counter < WINDOW && !accepted.contains(&counter)),
        };
        assert_eq!(
            w.check(counter),
            fresh,
            "check({counter}), highest {highest:?}"
        );
        if update {
            let before = w.clone();
            assert_eq!(w.update(counter), fresh, "update({counter})");
            if fresh {
                accepted.insert(counter);
                highest = highest.max(Some(counter));
                // Forget what the window no longer needs (bounded model).
                let h = highest.unwrap_or(0);
                if h >= WINDOW {
                    accepted = accepted.split_off(&(h - WINDOW));
                }
            } else {
                assert_eq!(w, before, "a refused update changes nothing");
            }
        }
        assert_eq!(w.highest(), highest);
    }
}
