//! The path manager's health rule: when a path counts as failed.
//!
//! The transport measures (acknowledgements, probe timeouts with exponential backoff,
//! liveness PINGs on idle and standby paths) and acts (a failed path's data in flight is
//! queued again at once for the other paths; an acknowledgement brings it back); this
//! rule decides. A path fails, while another path is usable, when its oldest
//! ack-eliciting packet in flight has gone one PTO (smoothed RTT + 4·RTT variance + the
//! peer's ACK delay) without an acknowledgement — a dead path is given up one PTO after
//! the first packet it swallowed, however many were sent on it since — or at its first
//! probe timeout. A path that was merely slow costs only the duplicate data: its next
//! acknowledgement clears the flag.

use netchan_transport::PathView;

/// When a path counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Probe timeouts in a row without an acknowledgement after which a path has failed.
    pub failed_ptos: u32,
}

impl Default for Health {
    fn default() -> Self {
        Health { failed_ptos: 1 }
    }
}

impl Health {
    /// Whether `path` has failed: [`failed_ptos`](Self::failed_ptos) probe timeouts in a
    /// row, or its oldest packet in flight a PTO old.
    pub fn is_failed(&self, path: &PathView) -> bool {
        path.pto_count >= self.failed_ptos.max(1) || path.unacked_for >= path.pto
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netchan_transport::PathStatus;
    use std::net::SocketAddr;

    #[test]
    fn a_path_fails_after_its_probe_timeouts() {
        let a: SocketAddr = "10.0.0.1:1".parse().expect("address");
        let mut p = PathView::new(0, PathStatus::Active, a, a);
        let strict = Health::default();
        let patient = Health { failed_ptos: 3 };
        assert!(!strict.is_failed(&p));
        p.pto_count = 1;
        assert!(strict.is_failed(&p));
        assert!(!patient.is_failed(&p));
        p.pto_count = 3;
        assert!(patient.is_failed(&p));
        assert!(Health { failed_ptos: 0 }.is_failed(&p));
        p.pto_count = 0;
        p.pto = std::time::Duration::from_millis(80);
        p.unacked_for = std::time::Duration::from_millis(79);
        assert!(!strict.is_failed(&p));
        p.unacked_for = p.pto;
        assert!(strict.is_failed(&p) && patient.is_failed(&p));
    }
}
