//! `parity` (RAID-5-like): how many chunks each parity frame covers, and where it goes.
//!
//! A group of `k` chunks plus their XOR repairs one loss among them without a round trip;
//! two losses need a retransmission as usual. The group size follows the measured loss
//! `p` (the worst of the healthy active paths): `k = clamp(⌊budget / p⌋, 2, 16)` — with
//! the default budget of 0.25, 3% loss gives groups of 8 (12.5% parity bytes), 1% gives
//! 16 — and there is no parity at all while no path has lost anything. The parity frame
//! goes on the healthy active path that carried the fewest of the group's chunks (ties
//! to the lowest RTT), so one path's loss rarely takes a chunk and its repair together.

use netchan_transport::{PathStatus, PathView};

/// Largest group: the transport's limit on one parity frame.
pub const MAX_GROUP: usize = 16;

/// The parity group rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parity {
    /// The expected losses per group the size aims at (`k · p`).
    pub budget: f64,
}

impl Default for Parity {
    fn default() -> Self {
        Parity { budget: 0.25 }
    }
}

impl Parity {
    /// Chunks per parity frame for `paths`, or `None` while none loses packets.
    pub fn group_size(&self, paths: &[PathView]) -> Option<usize> {
        let loss = paths
            .iter()
            .filter(|p| p.status == PathStatus::Active && !p.failed)
            .map(|p| p.loss_rate)
            .filter(|l| l.is_finite())
            .fold(0.0, f64::max);
        if loss <= 0.0 {
            return None;
        }
        let k = (self.budget / loss).floor();
        Some(if k.is_finite() {
            (k as usize).clamp(2, MAX_GROUP)
        } else {
            MAX_GROUP
        })
    }

    /// The path for a group whose chunks went on `members`.
    pub fn path(&self, members: &[u64], paths: &[PathView]) -> Option<u64> {
        paths
            .iter()
            .filter(|p| p.status == PathStatus::Active && !p.failed)
            .min_by_key(|p| (members.iter().filter(|&&m| m == p.id).count(), p.rtt))
            .map(|p| p.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    fn path(id: u64, loss: f64, rtt_ms: u64) -> PathView {
        let a: SocketAddr = "10.0.0.1:1".parse().expect("address");
        let mut v = PathView::new(id, PathStatus::Active, a, a);
        v.loss_rate = loss;
        v.rtt = Duration::from_millis(rtt_ms);
        v
    }

    #[test]
    fn group_size_follows_the_worst_loss() {
        let p = Parity::default();
        assert_eq!(p.group_size(&[path(0, 0.0, 10), path(2, 0.0, 20)]), None);
        assert_eq!(
            p.group_size(&[path(0, 0.03, 10), path(2, 0.01, 20)]),
            Some(8)
        );
        assert_eq!(p.group_size(&[path(0, 0.001, 10)]), Some(MAX_GROUP));
        assert_eq!(p.group_size(&[path(0, 0.5, 10)]), Some(2));
        assert_eq!(p.group_size(&[path(0, f64::NAN, 10)]), None);
        let mut failed = path(0, 0.5, 10);
        failed.failed = true;
        assert_eq!(p.group_size(&[failed, path(2, 0.0, 20)]), None);
    }

    #[test]
    fn parity_goes_where_the_group_went_least() {
        let p = Parity::default();
        let paths = [path(0, 0.03, 20), path(2, 0.03, 60), path(4, 0.03, 40)];
        assert_eq!(p.path(&[0, 0, 0, 2], &paths), Some(4));
        assert_eq!(p.path(&[0, 2, 4], &paths), Some(0));
        assert_eq!(p.path(&[], &[]), None);
    }
}
