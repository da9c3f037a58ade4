//! Which paths carry a copy of channel data: `mirror` (RAID-1) and `hedged`.
//!
//! - `mirror`: every healthy active path other than the one the data went on. The
//!   transport sends a copy only while the peer has not acknowledged the data, so a
//!   slower path carries what is still in doubt and a dead path costs nothing.
//! - `hedged`: a small packet's data (at most [`Copies::hedge_bytes`]) and the tail of
//!   every message also go on the best other path (lowest RTT), so the latency of what
//!   matters most is the better of two paths; while the path the data went on is
//!   degrading (a probe timeout pending, or a loss rate above
//!   [`Copies::degraded_loss`]) everything it carries is copied.
//! - `stripe`, `backup` and `parity`: no copies.

use netchan_transport::{PathMode, PathStatus, PathView, SentData};

/// The copy rules and their thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Copies {
    /// Data of at most this many bytes in one packet counts as small (hedged).
    pub hedge_bytes: u64,
    /// A path losing more than this fraction of its packets is degrading (hedged).
    pub degraded_loss: f64,
}

impl Default for Copies {
    fn default() -> Self {
        Copies {
            hedge_bytes: 1024,
            degraded_loss: 0.1,
        }
    }
}

impl Copies {
    /// Pushes onto `out` the paths that get a copy of `sent`.
    pub fn targets(&self, sent: &SentData, paths: &[PathView], out: &mut Vec<u64>) {
        let others = paths
            .iter()
            .filter(|p| p.id != sent.path && p.status == PathStatus::Active && !p.failed);
        match sent.mode {
            PathMode::Mirror => out.extend(others.map(|p| p.id)),
            PathMode::Hedged => {
                if self.hedges(sent, paths)
                    && let Some(best) = others.min_by_key(|p| p.rtt)
                {
                    out.push(best.id);
                }
            }
            _ => {}
        }
    }

    /// Whether hedged data goes on a second path.
    fn hedges(&self, sent: &SentData, paths: &[PathView]) -> bool {
        let degrading = paths
            .iter()
            .find(|p| p.id == sent.path)
            .is_some_and(|p| p.pto_count > 0 || p.loss_rate > self.degraded_loss);
        sent.bytes <= self.hedge_bytes || sent.tail || degrading
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    fn path(id: u64, rtt_ms: u64) -> PathView {
        let a: SocketAddr = "10.0.0.1:1".parse().expect("address");
        let mut v = PathView::new(id, PathStatus::Active, a, a);
        v.rtt = Duration::from_millis(rtt_ms);
        v
    }

    fn sent(mode: PathMode, bytes: u64, tail: bool) -> SentData {
        let mut s = SentData::new(0, mode, bytes);
        s.tail = tail;
        s
    }

    fn targets(s: &SentData, paths: &[PathView]) -> Vec<u64> {
        let mut out = Vec::new();
        Copies::default().targets(s, paths, &mut out);
        out
    }

    #[test]
    fn mirror_copies_to_every_healthy_active_path() {
        let mut failed = path(4, 10);
        failed.failed = true;
        let mut standby = path(6, 10);
        standby.status = PathStatus::Standby;
        let paths = [path(0, 10), path(2, 30), failed, standby, path(8, 5)];
        assert_eq!(
            targets(&sent(PathMode::Mirror, 5000, false), &paths),
            [2, 8]
        );
    }

    #[test]
    fn hedged_copies_small_data_and_tails_to_the_best_other_path() {
        let paths = [path(0, 10), path(2, 30), path(4, 20)];
        assert_eq!(targets(&sent(PathMode::Hedged, 64, false), &paths), [4]);
        assert_eq!(targets(&sent(PathMode::Hedged, 5000, true), &paths), [4]);
        assert!(targets(&sent(PathMode::Hedged, 5000, false), &paths).is_empty());
        let mut lossy = paths;
        lossy[0].loss_rate = 0.2;
        assert_eq!(targets(&sent(PathMode::Hedged, 5000, false), &lossy), [4]);
    }

    #[test]
    fn other_modes_make_no_copies() {
        let paths = [path(0, 10), path(2, 30)];
        for mode in [PathMode::Stripe, PathMode::Backup, PathMode::Parity] {
            assert!(targets(&sent(mode, 64, true), &paths).is_empty());
        }
    }
}
