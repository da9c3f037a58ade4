//! `idle_timeout_and_keepalive`: a silent peer is closed within its idle timeout;
//! keepalives keep a quiet connection alive past it.

mod common;

use common::*;
use netchan_tests::link::LinkConfig;
use netchan_tests::sim::Control;
use netchan_transport::{ConnectionError, Event, TransportConfig};
use std::time::Duration;

const IDLE: Duration = Duration::from_secs(5);

#[test]
fn idle_timeout_and_keepalive() {
    // 1. A peer that goes silent (both directions blackholed from t=1 s) while the client
    //    keeps probing it with keepalives: the client closes with TimedOut, no earlier than
    //    the idle timeout after the last packet it received and not much later.
    let cfg = TransportConfig::default().idle_timeout(IDLE);
    let link = LinkConfig::ideal(Duration::from_millis(10));
    let probing = cfg.clone().keepalive(Some(Duration::from_millis(500)));
    let (mut sim, _c, _s) = connected_pair(1, probing, cfg.clone(), link.clone());
    let silent = LinkConfig {
        blackholes: vec![(Duration::from_secs(1), Duration::from_secs(3600))],
        ..link.clone()
    };
    sim.link(SERVER, CLIENT).unwrap().set_config(silent.clone());
    sim.link(CLIENT, SERVER).unwrap().set_config(silent);
    let mut closed_at = None;
    sim.run(1_000_000, Duration::from_secs(60), |sim| {
        for (_, e) in sim.events(CLIENT) {
            if let Event::Closed(why) = e {
                assert_eq!(why, ConnectionError::TimedOut);
                closed_at = Some(sim.elapsed());
            }
        }
        if closed_at.is_some() {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .unwrap();
    let closed_at = closed_at.unwrap();
    eprintln!("silent peer: closed at t={closed_at:?} (idle timeout {IDLE:?}, silence from t=1 s)");
    assert!(
        closed_at >= IDLE + Duration::from_millis(500),
        "closed too early"
    );
    assert!(
        closed_at <= IDLE + Duration::from_millis(1100),
        "closed too late"
    );
    assert_eq!(
        sim.nodes[CLIENT].endpoint.connection_count(),
        0,
        "closed connection forgotten"
    );

    // 2. Keepalive every 2 s keeps a quiet connection up for 60 s (12 idle timeouts).
    let ka = cfg.clone().keepalive(Some(Duration::from_secs(2)));
    let (mut sim, c, _s) = connected_pair(2, ka.clone(), ka, link.clone());
    let r = sim.run(10_000_000, Duration::from_secs(60), |sim| {
        for (_, e) in sim.events(CLIENT).into_iter().chain(sim.events(SERVER)) {
            assert!(!matches!(e, Event::Closed(_)), "keepalive failed: {e:?}");
        }
        Control::Continue
    });
    assert!(
        matches!(r, Err(netchan_tests::sim::SimError::Deadline(_))),
        "{r:?}"
    );
    assert!(
        sim.nodes[CLIENT]
            .endpoint
            .connection(c)
            .unwrap()
            .is_established()
    );
    let pings = sim.nodes[CLIENT]
        .endpoint
        .connection(c)
        .unwrap()
        .stats()
        .packets_sent;
    eprintln!(
        "keepalive: alive after {:?}, client sent {pings} packets",
        sim.elapsed()
    );

    // 3. Control: the same quiet connection without keepalive times out.
    let (mut sim, _c, _s) = connected_pair(3, cfg.clone(), cfg, link);
    let mut timed_out = false;
    sim.run(1_000_000, Duration::from_secs(60), |sim| {
        for (_, e) in sim.events(CLIENT) {
            timed_out |= e == Event::Closed(ConnectionError::TimedOut);
        }
        if timed_out {
            Control::Done
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert!(sim.elapsed() < Duration::from_secs(8));
}
