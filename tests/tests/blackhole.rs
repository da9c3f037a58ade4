//! `blackhole_recovers`: a 2 s blackhole (both directions) in the middle of a transfer;
//! the connection survives, delivery resumes within 1 s of the link coming back, and
//! nothing is lost (the scenario verifies every message, exactly once, in order).

use netchan_tests::scenarios::blackhole;
use netchan_tests::sim::seeds;
use netchan_transport::CongestionControl;
use std::time::Duration;

#[test]
fn blackhole_recovers() {
    let hole = (Duration::from_secs(3), Duration::from_secs(5));
    for seed in seeds(&[1, 2]) {
        for cc in [
            CongestionControl::Bbr,
            CongestionControl::Cubic,
            CongestionControl::NewReno,
        ] {
            let r = blackhole(cc, seed, hole).unwrap_or_else(|e| panic!("seed {seed} {cc:?}: {e}"));
            eprintln!(
                "seed {seed} {cc:?}: last delivery before the hole at {:?}, first after at {:?} \
                 ({:?} after the link came back); {} messages delivered",
                r.last_before, r.first_after, r.resumed_after, r.delivered
            );
            assert!(
                r.last_before > hole.0 - Duration::from_millis(100),
                "transfer was running"
            );
            assert!(
                r.resumed_after <= Duration::from_secs(1),
                "resumed after {:?}",
                r.resumed_after
            );
            assert_eq!(r.delivered, 8_000);
        }
    }
}
