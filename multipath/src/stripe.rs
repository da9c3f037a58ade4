//! `stripe` (RAID-0): every packet on the path that will deliver it earliest.
//!
//! For each usable path the scheduler estimates when a packet placed on it now would
//! arrive: half the path's RTT, plus — when its congestion window is full or its pacer
//! holds the packet back — the time until it may leave. The earliest path wins, with one
//! correction that keeps a slow path from stalling the fast one at the tail of a transfer
//! (the weakness of a plain lowest-RTT scheduler on unequal paths; the idea of ECF,
//! Lim et al., CoNEXT 2017): a slower path with room is used only if the packet would
//! still arrive there before the fastest path could deliver it after draining the
//! connection's whole backlog. With a long backlog every path fills its window and the
//! aggregate approaches the sum of the rates; near the end the slow path stops taking
//! packets that would arrive after the fast path finished.
//!
//! Lost packets need no rule of their own: the transport queues lost data ahead of new
//! data, so the next packet — on the earliest path — repairs it.
//!
//! Failed paths ([`PathView::failed`]) are not used; the transport keeps probing them,
//! and they return as soon as an acknowledgement clears the flag. Standby paths are used
//! only when no active path is usable: that is the `backup` mode.

use netchan_transport::{PathStatus, PathView};
use std::time::Duration;

/// The path the next packet goes on (see the module documentation): the earliest
/// usable active path, else the earliest usable standby path, else the first path at
/// all.
pub fn choose(paths: &[PathView]) -> Option<u64> {
    let usable = |status| {
        paths
            .iter()
            .filter(move |p| p.status == status && !p.failed)
    };
    let chosen = earliest(usable(PathStatus::Active))
        .or_else(|| earliest(usable(PathStatus::Standby)))
        .or_else(|| fallback(paths));
    chosen.map(|p| p.id)
}

/// When all else fails: the first active, standby or validating path, failed or not
/// (its probes are what can bring it back).
fn fallback(paths: &[PathView]) -> Option<&PathView> {
    [
        PathStatus::Active,
        PathStatus::Standby,
        PathStatus::Validating,
    ]
    .into_iter()
    .find_map(|s| paths.iter().find(|p| p.status == s))
}

/// The path to use among `candidates` (see the module documentation).
fn earliest<'a>(candidates: impl Iterator<Item = &'a PathView> + Clone) -> Option<&'a PathView> {
    let best = candidates.clone().min_by_key(|p| arrival(p))?;
    if best.ready() {
        return Some(best);
    }
    // The earliest path cannot send yet: a path that can is worth it if its packet
    // arrives before the earliest path could deliver the whole backlog.
    let drain = arrival(best) + transfer_time(best, best.backlog);
    let other = candidates
        .filter(|p| p.ready())
        .min_by_key(|p| arrival(p))
        .filter(|p| arrival(p) <= drain);
    Some(other.unwrap_or(best))
}

/// When a full-size packet placed on `p` now would arrive: the wait for room in the
/// window (if full) or for the pacer, then half an RTT.
pub fn arrival(p: &PathView) -> Duration {
    let window = if p.can_send {
        Duration::ZERO
    } else {
        let excess = (p.bytes_in_flight + u64::from(p.max_datagram_size)).saturating_sub(p.cwnd);
        transfer_time(p, excess)
    };
    window.max(p.pacing_wait) + p.rtt / 2
}

/// How long `p` takes to carry `bytes` at its rate: the bandwidth estimate, else the
/// window per RTT.
pub fn transfer_time(p: &PathView, bytes: u64) -> Duration {
    let rtt = p.rtt.max(Duration::from_micros(100)).as_secs_f64();
    let rate = if p.bandwidth > 0.0 && p.bandwidth.is_finite() {
        p.bandwidth
    } else {
        p.cwnd.max(1) as f64 / rtt
    };
    // `rate` is positive and finite: the quotient is finite and non-negative; capped
    // at an hour so the conversion cannot overflow.
    Duration::from_secs_f64((bytes as f64 / rate).min(3600.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn path(id: u64, rtt_ms: u64, bandwidth: f64) -> PathView {
        let a: SocketAddr = "10.0.0.1:1".parse().expect("address");
        let mut v = PathView::new(id, PathStatus::Active, a, a);
        v.rtt = Duration::from_millis(rtt_ms);
        v.min_rtt = v.rtt;
        v.bandwidth = bandwidth;
        v.cwnd = 100_000;
        v
    }

    fn full(mut p: PathView) -> PathView {
        p.can_send = false;
        p.bytes_in_flight = p.cwnd;
        p
    }

    const MBIT10: f64 = 1_250_000.0;

    #[test]
    fn the_fast_path_first() {
        let paths = [path(0, 50, MBIT10), path(2, 2, MBIT10)];
        assert_eq!(choose(&paths), Some(2));
    }

    #[test]
    fn a_long_backlog_fills_the_slow_path_too() {
        let mut fast = full(path(2, 2, MBIT10));
        fast.backlog = 4 << 20; // 3.4 s of the fast path's rate
        let paths = [path(0, 50, MBIT10), fast];
        assert_eq!(choose(&paths), Some(0));
    }

    #[test]
    fn a_paced_fast_path_leaves_room_for_the_slow_one() {
        let mut fast = path(2, 2, MBIT10);
        fast.pacing_wait = Duration::from_micros(900);
        fast.backlog = 1 << 20;
        let paths = [path(0, 50, MBIT10), fast];
        assert_eq!(choose(&paths), Some(0));
        fast.backlog = 0;
        assert_eq!(choose(&[path(0, 50, MBIT10), fast]), Some(2));
    }

    #[test]
    fn at_the_tail_the_slow_path_waits() {
        let mut fast = full(path(2, 2, MBIT10));
        fast.backlog = 10_000; // 8 ms at the fast path's rate: sooner than 25 ms one way
        let paths = [path(0, 50, MBIT10), fast];
        assert_eq!(choose(&paths), Some(2), "wait for the fast path");
    }

    #[test]
    fn failed_paths_are_skipped_and_standby_is_the_last_resort() {
        let mut failed = path(2, 2, MBIT10);
        failed.failed = true;
        let mut standby = path(4, 1, MBIT10);
        standby.status = PathStatus::Standby;
        assert_eq!(choose(&[path(0, 50, MBIT10), failed, standby]), Some(0));
        let mut failed0 = path(0, 50, MBIT10);
        failed0.failed = true;
        assert_eq!(choose(&[failed0, failed, standby]), Some(4));
        // Nothing usable: the first active path, so its probes can bring it back.
        assert_eq!(choose(&[failed0, failed]), Some(0));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn no_estimate_uses_the_window_per_rtt() {
        let p = path(0, 100, 0.0);
        // 100,000 bytes per 100 ms: 50,000 bytes take 50 ms.
        assert_eq!(transfer_time(&p, 50_000), Duration::from_millis(50));
        let mut absurd = path(0, 100, f64::NAN);
        absurd.cwnd = 0;
        assert!(transfer_time(&absurd, u64::MAX) <= Duration::from_secs(3600));
    }
}
