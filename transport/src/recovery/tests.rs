//! Loss recovery tests: unit cases and a property test over random operation sequences.
use super::*;
use proptest::prelude::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The loss-recovery mechanics tests run with RFC 9002's time threshold (9/8) and with
/// CUBIC, whose window reacts to every loss (the BBR model has its own tests in
/// `cc/bbr/tests.rs`; the default threshold is checked end to end by the kit).
fn config() -> RecoveryConfig {
    RecoveryConfig {
        pacing: false,
        congestion: CongestionControl::Cubic,
        time_threshold: 9.0 / 8.0,
        ..RecoveryConfig::default()
    }
}

fn packet(
    time_sent: Instant,
    size: u16,
    ack_eliciting: bool,
    in_flight: bool,
    payload: u64,
) -> SentPacket<u64> {
    SentPacket {
        time_sent,
        size,
        ack_eliciting,
        in_flight,
        payload,
    }
}

/// Sends an ack-eliciting in-flight packet of `size` bytes; returns its number.
fn send(r: &mut PathRecovery<u64>, now: Instant, size: u16) -> u64 {
    let pn = r.next_packet_number();
    r.on_packet_sent(now, pn, packet(now, size, true, true, pn));
    pn
}

fn numbers(packets: &[(u64, SentPacket<u64>)]) -> Vec<u64> {
    packets.iter().map(|(pn, _)| *pn).collect()
}

fn assert_close(actual: Duration, expected: Duration) {
    let diff = actual.abs_diff(expected);
    assert!(
        diff <= Duration::from_micros(1),
        "{actual:?} != {expected:?}"
    );
}

/// Everything observable, to check that a rejected ACK changed nothing.
fn snapshot(r: &PathRecovery<u64>) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        r.stats(),
        r.bytes_in_flight(),
        r.timeout(),
        r.largest_acked(),
        r.outstanding_packets(),
        r.congestion_window(),
        r.pto_count(),
        r.rtt().has_sample(),
        r.rtt().smoothed(),
        r.next_packet_number(),
        r.has_ack_eliciting_in_flight(),
    )
}

#[test]
fn packet_threshold_loss() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    for i in 0..10 {
        send(&mut r, t0 + ms(i), 1000);
    }
    assert_eq!(r.bytes_in_flight(), 10_000);
    // Largest 5, threshold 3: 0..=2 are lost; 3 (two below) is not, yet.
    let out = r
        .on_ack_received(t0 + ms(50), &[(4, 5)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.acked), [4, 5]);
    assert_eq!(numbers(&out.lost), [0, 1, 2]);
    assert!(out.rtt_sampled);
    assert_eq!(r.rtt().latest(), ms(45));
    assert_eq!(r.bytes_in_flight(), 5000);
    // 3 waits for the time threshold: sent at 3 ms, loss delay 9/8 · 45 ms.
    let loss_time = r.timeout().expect("loss timer armed");
    assert_close(loss_time - t0, Duration::from_micros(3000 + 50_625));
    assert_eq!(r.congestion_window(), 8400); // CUBIC: 0.7 · 12000
    // Largest 6: 3 is now three below.
    let out = r
        .on_ack_received(t0 + ms(51), &[(6, 6), (4, 5)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.acked), [6]);
    assert_eq!(numbers(&out.lost), [3]);
    assert_eq!(r.bytes_in_flight(), 3000);
    // 7..=9 are above the largest acknowledged: the PTO, not the loss timer, is armed;
    // the first one is a tail-loss probe, two smoothed RTTs after the last send.
    assert_eq!(r.timeout(), Some(t0 + ms(9) + r.probe_timeout()));
    assert_eq!(r.probe_timeout(), r.rtt().smoothed() * 2);
    assert!(r.probe_timeout() < r.pto_interval());
    let stats = r.stats();
    assert_eq!(stats.packets_acked, 3);
    assert_eq!(stats.packets_lost, 4);
    assert_eq!(stats.bytes_lost, 4000);
    // The second loss belongs to the same recovery period.
    assert_eq!(stats.congestion_events, 1);
    assert_eq!(r.congestion_window(), 8400);
    // A loss of a packet sent after the recovery started is a new congestion event.
    let late = send(&mut r, t0 + ms(60), 1000);
    for i in 0..3 {
        send(&mut r, t0 + ms(61 + i), 1000);
    }
    let out = r
        .on_ack_received(t0 + ms(120), &[(late + 3, late + 3)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.lost), [7, 8, 9, late]);
    assert_eq!(r.stats().congestion_events, 2);
    assert_eq!(r.congestion_window(), 5880);
}

#[test]
fn time_threshold_loss_via_the_loss_timer() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    send(&mut r, t0, 1200);
    send(&mut r, t0 + ms(10), 1200);
    let out = r
        .on_ack_received(t0 + ms(110), &[(1, 1)], Duration::ZERO)
        .expect("valid");
    assert!(out.lost.is_empty());
    assert_eq!(r.rtt().smoothed(), ms(100));
    // 0 is one below the largest: only the time threshold (9/8 · 100 ms) applies.
    let loss_time = r.timeout().expect("armed");
    assert_close(loss_time - t0, Duration::from_micros(112_500));
    assert!(matches!(r.on_timeout(t0 + ms(112)), TimeoutOutcome::None));
    assert_eq!(r.bytes_in_flight(), 1200);
    match r.on_timeout(loss_time) {
        TimeoutOutcome::Lost(lost) => assert_eq!(numbers(&lost), [0]),
        other => panic!("expected a loss, got {other:?}"),
    }
    assert_eq!(r.bytes_in_flight(), 0);
    assert_eq!(r.timeout(), None);
    assert!(!r.has_ack_eliciting_in_flight());
    assert_eq!(r.stats().packets_lost, 1);
    assert_eq!(r.stats().congestion_events, 1);
    // Slow start took the ack of 1 (13200), then the loss: 0.7 · 13200.
    assert_eq!(r.congestion_window(), 9240);
    assert!(matches!(
        r.on_timeout(t0 + ms(10_000)),
        TimeoutOutcome::None
    ));
}

#[test]
fn pto_fires_backs_off_and_is_capped() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    assert_eq!(r.timeout(), None);
    assert!(matches!(r.on_timeout(t0 + ms(1000)), TimeoutOutcome::None));
    send(&mut r, t0, 1200);
    // Initial RTT 100 ms: 100 + 4 · 50 + 25 (max_ack_delay).
    assert_eq!(r.pto_interval(), ms(325));
    assert_eq!(r.timeout(), Some(t0 + ms(325)));
    assert!(matches!(r.on_timeout(t0 + ms(324)), TimeoutOutcome::None));
    assert!(matches!(
        r.on_timeout(t0 + ms(325)),
        TimeoutOutcome::Probe(2)
    ));
    assert_eq!(r.pto_count(), 1);
    // Probes are not declared lost.
    assert_eq!(r.bytes_in_flight(), 1200);
    assert_eq!(r.stats().packets_lost, 0);
    // Doubled to 650 ms, capped at 500 ms.
    assert_eq!(r.pto_interval(), ms(500));
    assert_eq!(r.timeout(), Some(t0 + ms(500)));
    send(&mut r, t0 + ms(325), 1200);
    send(&mut r, t0 + ms(325), 1200);
    assert_eq!(r.timeout(), Some(t0 + ms(825)));
    assert!(matches!(
        r.on_timeout(t0 + ms(825)),
        TimeoutOutcome::Probe(2)
    ));
    assert_eq!(r.pto_count(), 2);
    assert_eq!(r.stats().pto_count_total, 2);
    assert_eq!(r.bytes_in_flight(), 3600);
}

#[test]
fn pto_backoff_table_cap_and_floor() {
    let t0 = Instant::now();
    let sampled = |config: &RecoveryConfig| {
        let mut r = PathRecovery::new(config, 1200, t0);
        send(&mut r, t0, 1200);
        r.on_ack_received(t0 + ms(40), &[(0, 0)], Duration::ZERO)
            .expect("valid");
        // smoothed 40, var 20: base = 40 + 80 + 25 = 145 ms.
        assert_eq!(r.pto_interval(), ms(145));
        r
    };
    let mut r = sampled(&config());
    for (count, expected) in [
        (0, 145),
        (1, 290),
        (2, 500),
        (3, 500),
        (64, 500),
        (u32::MAX, 500),
    ] {
        r.pto_count = count;
        assert_close(r.pto_interval(), ms(expected));
    }
    // A gentler backoff.
    let mut r = sampled(&RecoveryConfig {
        pto_backoff: 1.5,
        ..config()
    });
    for (count, micros) in [
        (1, 217_500),
        (2, 326_250),
        (3, 489_375),
        (4, 500_000),
        (1000, 500_000),
    ] {
        r.pto_count = count;
        assert_close(r.pto_interval(), Duration::from_micros(micros));
    }
    // A cap below the base never shortens the PTO below the base.
    let mut r = sampled(&RecoveryConfig {
        max_pto_interval: ms(100),
        ..config()
    });
    for count in [0, 1, 5, u32::MAX] {
        r.pto_count = count;
        assert_eq!(r.pto_interval(), ms(145));
    }
    // Absurd backoff values neither panic nor shrink the interval.
    for backoff in [f64::MAX, f64::INFINITY, f64::NAN, 0.0, -3.0] {
        let mut r = sampled(&RecoveryConfig {
            pto_backoff: backoff,
            ..config()
        });
        r.pto_count = 40;
        let pto = r.pto_interval();
        assert!(pto >= ms(145) && pto <= ms(500), "{backoff}: {pto:?}");
    }
}

#[test]
fn pto_count_resets_on_an_ack_of_new_data_only() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    send(&mut r, t0, 1200);
    send(&mut r, t0, 1200);
    for _ in 0..2 {
        let at = r.timeout().expect("armed");
        assert!(matches!(r.on_timeout(at), TimeoutOutcome::Probe(2)));
    }
    assert_eq!(r.pto_count(), 2);
    let now = t0 + ms(900);
    r.on_ack_received(now, &[(0, 0)], Duration::ZERO)
        .expect("valid");
    assert_eq!(r.pto_count(), 0);
    let at = r.timeout().expect("1 is outstanding");
    assert!(matches!(r.on_timeout(at), TimeoutOutcome::Probe(2)));
    assert_eq!(r.pto_count(), 1);
    // A duplicate ACK proves nothing new: the backoff stays.
    r.on_ack_received(at, &[(0, 0)], Duration::ZERO)
        .expect("valid");
    assert_eq!(r.pto_count(), 1);
}

/// Sends 0 at t0 and acks it at 100 ms (smoothed 100, var 50: persistent congestion
/// duration (100 + 200 + 25) · 3 = 975 ms), then 1..=12 every 100 ms from 200 ms.
fn persistent_setup(congestion: CongestionControl) -> (Instant, PathRecovery<u64>) {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(
        &RecoveryConfig {
            congestion,
            ..config()
        },
        1200,
        t0,
    );
    send(&mut r, t0, 1200);
    r.on_ack_received(t0 + ms(100), &[(0, 0)], Duration::ZERO)
        .expect("valid");
    for k in 1..=12 {
        send(&mut r, t0 + ms(100 * (k + 1)), 1200);
    }
    (t0, r)
}

#[test]
fn persistent_congestion_collapses_the_window() {
    for congestion in [CongestionControl::NewReno, CongestionControl::Cubic] {
        let (t0, mut r) = persistent_setup(congestion);
        send(&mut r, t0 + ms(1400), 1200);
        let out = r
            .on_ack_received(t0 + ms(1500), &[(13, 13)], Duration::ZERO)
            .expect("valid");
        // 1..=12 lost, sent 1100 ms apart > 975 ms, nothing acknowledged between.
        assert_eq!(numbers(&out.lost), (1..=12).collect::<Vec<_>>());
        assert_eq!(r.congestion_window(), 2400, "{congestion:?}");
        assert_eq!(r.stats().persistent_congestion_events, 1);
        assert_eq!(r.stats().congestion_events, 1);
        assert_eq!(r.bytes_in_flight(), 0);
    }
}

#[test]
fn no_persistent_congestion_when_an_ack_splits_the_period() {
    let (t0, mut r) = persistent_setup(CongestionControl::NewReno);
    // 6 acknowledged: the losses before and after it are separate periods, each
    // shorter than 975 ms.
    let out = r
        .on_ack_received(t0 + ms(750), &[(6, 6)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.lost), [1, 2, 3, 4, 5]);
    send(&mut r, t0 + ms(1400), 1200);
    let out = r
        .on_ack_received(t0 + ms(1500), &[(13, 13)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.lost), [7, 8, 9, 10, 11, 12]);
    assert_eq!(r.stats().persistent_congestion_events, 0);
    // Two ordinary reductions (7.. were sent after the first recovery started):
    // 13200 (slow start took the ack of 0) → 6600 → 3300.
    assert_eq!(r.stats().congestion_events, 2);
    assert_eq!(r.congestion_window(), 3300);
}

#[test]
fn no_persistent_congestion_for_packets_sent_before_the_first_rtt_sample() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    for k in 0..=12 {
        send(&mut r, t0 + ms(100 * k), 1200);
    }
    let out = r
        .on_ack_received(t0 + ms(1300), &[(12, 12)], Duration::ZERO)
        .expect("valid");
    assert_eq!(out.lost.len(), 12);
    assert_eq!(r.stats().persistent_congestion_events, 0);
    assert_eq!(r.congestion_window(), 8400);
}

#[test]
fn ack_of_unsent_packet_is_rejected_without_state_change() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    for i in 0..3 {
        send(&mut r, t0 + ms(i), 1200);
    }
    let before = snapshot(&r);
    let cases: [(&[(u64, u64)], u64); 4] = [
        (&[(0, 3)], 3),
        (&[(5, 7), (0, 1)], 7),
        // Garbage order: the valid range must not be applied either.
        (&[(0, 1), (9, 9)], 9),
        (&[(2, 2), (0, u64::MAX)], u64::MAX),
    ];
    for (ranges, unsent) in cases {
        let err = r
            .on_ack_received(t0 + ms(50), ranges, Duration::ZERO)
            .expect_err("unsent");
        assert_eq!(err, AckError::UnsentPacket(unsent));
        assert_eq!(snapshot(&r), before);
    }
    // Inverted ranges are ignored, not errors.
    let out = r
        .on_ack_received(t0 + ms(50), &[(7, 5)], Duration::ZERO)
        .expect("ignored");
    assert!(out.acked.is_empty() && out.lost.is_empty());
    assert_eq!(snapshot(&r), before);
    // A valid ACK still works afterwards.
    let out = r
        .on_ack_received(t0 + ms(50), &[(0, 2)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.acked), [0, 1, 2]);
}

#[test]
fn duplicate_acks_are_idempotent() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    for i in 0..6 {
        send(&mut r, t0 + ms(i), 1200);
    }
    let out = r
        .on_ack_received(t0 + ms(40), &[(0, 4)], ms(3))
        .expect("valid");
    assert_eq!(numbers(&out.acked), [0, 1, 2, 3, 4]);
    let before = snapshot(&r);
    let rtt = r.rtt().clone();
    for i in 0..3 {
        let out = r
            .on_ack_received(t0 + ms(60 + i), &[(0, 4)], ms(3))
            .expect("valid");
        assert!(out.acked.is_empty() && out.lost.is_empty() && !out.rtt_sampled);
        assert_eq!(snapshot(&r), before);
        assert_eq!(r.rtt().var(), rtt.var());
    }
}

#[test]
fn bytes_in_flight_accounting_across_ack_loss_and_drain() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    let sizes = [1000u16, 50, 1200, 800, 1100, 900, 700];
    for (pn, &size) in (0u64..).zip(&sizes) {
        // 1 is a pure ACK: neither ack-eliciting nor in flight.
        let regular = pn != 1;
        r.on_packet_sent(
            t0 + ms(pn),
            pn,
            packet(t0 + ms(pn), size, regular, regular, pn),
        );
    }
    assert_eq!(r.bytes_in_flight(), 5700);
    assert_eq!(r.stats().bytes_sent, 5750);
    assert_eq!(r.stats().packets_sent, 7);
    let out = r
        .on_ack_received(t0 + ms(30), &[(5, 6)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.acked), [5, 6]);
    assert_eq!(numbers(&out.lost), [0, 1, 2, 3]);
    assert_eq!(r.bytes_in_flight(), 1100);
    assert_eq!(r.stats().bytes_lost, 3050);
    assert!(r.has_ack_eliciting_in_flight());
    let drained = r.drain_all();
    assert_eq!(numbers(&drained), [4]);
    assert_eq!(drained[0].1.payload, 4);
    assert_eq!(r.bytes_in_flight(), 0);
    assert!(!r.has_ack_eliciting_in_flight());
    assert_eq!(r.timeout(), None);
    assert_eq!(r.outstanding_packets(), 0);
    assert!(r.drain_all().is_empty());
    // Numbering continues after a drain.
    assert_eq!(r.next_packet_number(), 7);
}

#[test]
fn late_ack_of_a_lost_packet_counts_as_spurious_once() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    for _ in 0..5 {
        send(&mut r, t0, 1200);
    }
    let out = r
        .on_ack_received(t0 + ms(20), &[(4, 4)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.lost), [0, 1]);
    let out = r
        .on_ack_received(t0 + ms(30), &[(0, 4)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.acked), [2, 3]);
    assert!(out.lost.is_empty());
    assert_eq!(r.stats().spurious_losses, 2);
    assert_eq!(r.stats().packets_lost, 2);
    r.on_ack_received(t0 + ms(40), &[(0, 4)], Duration::ZERO)
        .expect("valid");
    assert_eq!(r.stats().spurious_losses, 2);
    assert_eq!(r.bytes_in_flight(), 0);
}

#[test]
fn rtt_sampling_rules_and_ack_delay_clamp() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    r.on_packet_sent(t0, 0, packet(t0, 1200, true, true, 0));
    r.on_packet_sent(t0 + ms(10), 1, packet(t0 + ms(10), 40, false, false, 1));
    // Only a non-ack-eliciting packet newly acknowledged: no sample.
    let out = r
        .on_ack_received(t0 + ms(50), &[(1, 1)], Duration::ZERO)
        .expect("valid");
    assert!(!out.rtt_sampled);
    // The largest (1) is not newly acknowledged: no sample.
    let out = r
        .on_ack_received(t0 + ms(55), &[(0, 1)], Duration::ZERO)
        .expect("valid");
    assert_eq!(numbers(&out.acked), [0]);
    assert!(!out.rtt_sampled);
    assert!(!r.rtt().has_sample());
    // First sample: 40 ms, the ack delay is irrelevant.
    send(&mut r, t0 + ms(60), 1200);
    let out = r
        .on_ack_received(t0 + ms(100), &[(2, 2)], ms(100))
        .expect("valid");
    assert!(out.rtt_sampled);
    assert_eq!(r.rtt().smoothed(), ms(40));
    // 100 ms with a claimed 80 ms delay, clamped to max_ack_delay (25 ms):
    // adjusted = 75 ms, smoothed = 7/8 · 40 + 1/8 · 75 = 44.375 ms.
    send(&mut r, t0 + ms(100), 1200);
    r.on_ack_received(t0 + ms(200), &[(3, 3)], ms(80))
        .expect("valid");
    assert_eq!(r.rtt().smoothed(), Duration::from_micros(44_375));
    // Largest not ack-eliciting, another newly acked one is: sampled on the largest.
    send(&mut r, t0 + ms(200), 1200);
    r.on_packet_sent(t0 + ms(210), 5, packet(t0 + ms(210), 40, false, false, 5));
    let out = r
        .on_ack_received(t0 + ms(300), &[(4, 5)], Duration::ZERO)
        .expect("valid");
    assert!(out.rtt_sampled);
    assert_eq!(r.rtt().latest(), ms(90));
}

#[test]
fn pacing_delay_follows_the_config() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    for _ in 0..20 {
        assert_eq!(r.pacing_delay(t0, 1200), None);
        send(&mut r, t0, 1200);
    }
    let window_paced = RecoveryConfig {
        pacing: true,
        ..config()
    };
    let mut r = PathRecovery::new(&window_paced, 1200, t0);
    for _ in 0..10 {
        assert_eq!(r.pacing_delay(t0, 1200), None);
        send(&mut r, t0, 1200);
    }
    // Initial window 12000 over 100 ms at gain 1.25: 1200 bytes every 8 ms.
    assert_eq!(r.pacing_delay(t0, 1200), Some(t0 + ms(8)));
    assert_eq!(r.pacing_delay(t0 + ms(8), 1200), None);
}

#[test]
fn app_limited_packets_do_not_grow_the_window() {
    let t0 = Instant::now();
    let reno = RecoveryConfig {
        congestion: CongestionControl::NewReno,
        ..config()
    };
    // Not app-limited: slow start grows by the acked bytes.
    let mut r = PathRecovery::new(&reno, 1200, t0);
    for _ in 0..5 {
        send(&mut r, t0, 1200);
    }
    r.on_ack_received(t0 + ms(50), &[(0, 4)], Duration::ZERO)
        .expect("valid");
    assert_eq!(r.congestion_window(), 18_000);
    // App-limited: no growth.
    let mut r = PathRecovery::new(&reno, 1200, t0);
    r.on_app_limited(t0);
    for _ in 0..5 {
        send(&mut r, t0, 1200);
    }
    r.on_ack_received(t0 + ms(50), &[(0, 4)], Duration::ZERO)
        .expect("valid");
    assert_eq!(r.congestion_window(), 12_000);
    // Filling the window ends the app-limited state: only the packet that filled it
    // (and later ones) grow the window.
    r.on_app_limited(t0 + ms(50));
    for _ in 0..12 {
        send(&mut r, t0 + ms(50), 1000);
    }
    r.on_ack_received(t0 + ms(100), &[(5, 16)], Duration::ZERO)
        .expect("valid");
    assert_eq!(r.congestion_window(), 12_000 + 1000);
    // While the window is full, on_app_limited is ignored.
    for _ in 0..12 {
        send(&mut r, t0 + ms(100), 1100);
    }
    assert!(!r.can_send(1));
    r.on_app_limited(t0 + ms(100));
    r.on_ack_received(t0 + ms(150), &[(17, 28)], Duration::ZERO)
        .expect("valid");
    assert_eq!(r.congestion_window(), 13_000 + 12 * 1100);
}

#[test]
fn can_send_respects_the_window() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    assert_eq!(r.controller_name(), "cubic");
    assert!(r.can_send(12_000));
    assert!(!r.can_send(12_001));
    for _ in 0..9 {
        send(&mut r, t0, 1200);
    }
    assert!(r.can_send(1200));
    assert!(!r.can_send(1201));
    send(&mut r, t0, 1200);
    assert!(!r.can_send(1));
    assert!(!r.can_send(u64::MAX));
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "consecutive")]
fn non_consecutive_packet_number_is_a_caller_bug() {
    let t0 = Instant::now();
    let mut r = PathRecovery::new(&config(), 1200, t0);
    send(&mut r, t0, 1200);
    r.on_packet_sent(t0, 0, packet(t0, 1200, true, true, 0));
}

#[derive(Debug, Clone)]
enum Op {
    Send {
        size: u16,
        ack_eliciting: bool,
        in_flight: bool,
    },
    Ack {
        ranges: Vec<(u64, u64)>,
        raw: bool,
        delay_ms: u64,
    },
    Advance(u64),
    Timeout,
    AppLimited,
    Drain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (1u16..1500, prop::bool::weighted(0.9), prop::bool::weighted(0.9)).prop_map(
            |(size, ack_eliciting, in_flight)| Op::Send { size, ack_eliciting, in_flight }
        ),
        20 => (
            prop::collection::vec((0u64..160, 0u64..160), 1..5),
            prop::bool::weighted(0.15),
            0u64..60,
        )
            .prop_map(|(ranges, raw, delay_ms)| Op::Ack { ranges, raw, delay_ms }),
        15 => (0u64..300).prop_map(Op::Advance),
        10 => Just(Op::Timeout),
        4 => Just(Op::AppLimited),
        1 => Just(Op::Drain),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outstanding,
    Acked,
    Lost,
    LostThenAcked,
    Drained,
}

struct Model {
    /// (size, ack-eliciting, in flight, state) by packet number.
    packets: Vec<(u16, bool, bool, State)>,
}

impl Model {
    fn outstanding(&self) -> impl Iterator<Item = (u64, &(u16, bool, bool, State))> {
        (0u64..)
            .zip(&self.packets)
            .filter(|(_, p)| p.3 == State::Outstanding)
    }
    fn count(&self, state: State) -> u64 {
        self.packets.iter().filter(|p| p.3 == state).count() as u64
    }
    fn retire(&mut self, packets: &[(u64, SentPacket<u64>)], to: State) {
        for (pn, p) in packets {
            assert_eq!(p.payload, *pn);
            let entry = &mut self.packets[usize::try_from(*pn).expect("small")];
            assert_eq!(entry.3, State::Outstanding, "pn {pn} retired twice");
            assert_eq!(
                (p.size, p.ack_eliciting, p.in_flight),
                (entry.0, entry.1, entry.2)
            );
            entry.3 = to;
        }
    }
}

fn check_invariants(r: &PathRecovery<u64>, m: &Model) {
    let in_flight: u64 = m
        .outstanding()
        .filter(|(_, p)| p.2)
        .map(|(_, p)| u64::from(p.0))
        .sum();
    assert_eq!(r.bytes_in_flight(), in_flight);
    let ack_eliciting = m.outstanding().any(|(_, p)| p.1);
    assert_eq!(r.has_ack_eliciting_in_flight(), ack_eliciting);
    assert_eq!(r.outstanding_packets(), m.outstanding().count());
    assert_eq!(
        r.timeout().is_none(),
        r.loss_time.is_none() && !ack_eliciting
    );
    if r.loss_time.is_some() {
        let largest = r.largest_acked().expect("loss timer needs an ACK");
        assert!(m.outstanding().any(|(pn, _)| pn <= largest));
    }
    let stats = r.stats();
    assert_eq!(stats.packets_sent, m.packets.len() as u64);
    assert_eq!(stats.packets_acked, m.count(State::Acked));
    assert_eq!(
        stats.packets_lost,
        m.count(State::Lost) + m.count(State::LostThenAcked)
    );
    assert_eq!(stats.spurious_losses, m.count(State::LostThenAcked));
    assert!(r.congestion_window() >= 2400);
    assert!(stats.congestion_events <= stats.packets_lost);
    assert!(stats.persistent_congestion_events <= stats.packets_lost);
}

fn run_ops(ops: Vec<Op>, newreno: bool, pacing: bool) {
    let t0 = Instant::now();
    let config = RecoveryConfig {
        congestion: if newreno {
            CongestionControl::NewReno
        } else {
            CongestionControl::Cubic
        },
        pacing,
        ..RecoveryConfig::default()
    };
    let mut r = PathRecovery::new(&config, 1200, t0);
    let mut m = Model {
        packets: Vec::new(),
    };
    let mut now = t0;
    for op in ops {
        match op {
            Op::Send {
                size,
                ack_eliciting,
                in_flight,
            } => {
                if let Some(at) = r.pacing_delay(now, u64::from(size)) {
                    assert!(at > now);
                }
                let pn = r.next_packet_number();
                assert_eq!(pn, m.packets.len() as u64);
                r.on_packet_sent(now, pn, packet(now, size, ack_eliciting, in_flight, pn));
                m.packets
                    .push((size, ack_eliciting, in_flight, State::Outstanding));
            }
            Op::Ack {
                ranges,
                raw,
                delay_ms,
            } => {
                let next = r.next_packet_number();
                let ranges: Vec<(u64, u64)> = if raw {
                    ranges
                } else if next == 0 {
                    Vec::new()
                } else {
                    let mut v: Vec<(u64, u64)> = ranges
                        .into_iter()
                        .map(|(a, b)| ((a % next).min(b % next), (a % next).max(b % next)))
                        .collect();
                    v.sort_unstable_by_key(|x| std::cmp::Reverse(x.1));
                    v
                };
                let unsent = ranges
                    .iter()
                    .find(|(lo, hi)| lo <= hi && *hi >= next)
                    .map(|r| r.1);
                let before = snapshot(&r);
                match r.on_ack_received(now, &ranges, ms(delay_ms)) {
                    Err(AckError::UnsentPacket(pn)) => {
                        assert_eq!(Some(pn), unsent);
                        assert_eq!(snapshot(&r), before);
                    }
                    Ok(out) => {
                        assert_eq!(unsent, None);
                        let covered = |pn: u64| ranges.iter().any(|&(lo, hi)| lo <= pn && pn <= hi);
                        let expected: Vec<u64> = m
                            .outstanding()
                            .map(|(pn, _)| pn)
                            .filter(|&pn| covered(pn))
                            .collect();
                        assert_eq!(numbers(&out.acked), expected);
                        for (pn, p) in (0u64..).zip(m.packets.iter_mut()) {
                            if p.3 == State::Lost && covered(pn) {
                                p.3 = State::LostThenAcked;
                            }
                        }
                        m.retire(&out.acked, State::Acked);
                        let lost = numbers(&out.lost);
                        assert!(lost.is_sorted());
                        let largest = r.largest_acked();
                        assert!(lost.iter().all(|&pn| Some(pn) <= largest));
                        m.retire(&out.lost, State::Lost);
                        if out.acked.is_empty() {
                            assert!(out.lost.is_empty());
                        }
                    }
                }
            }
            Op::Advance(d) => now += ms(d),
            Op::Timeout => {
                let due = r.timeout();
                if let Some(at) = due {
                    now = now.max(at);
                }
                let pto_before = r.pto_count();
                match r.on_timeout(now) {
                    TimeoutOutcome::Lost(lost) => {
                        assert!(lost.is_sorted_by_key(|(pn, _)| *pn));
                        m.retire(&lost, State::Lost);
                    }
                    TimeoutOutcome::Probe(n) => {
                        assert_eq!(n, 2);
                        assert!(due.is_some());
                        assert_eq!(r.pto_count(), pto_before + 1);
                    }
                    TimeoutOutcome::None => assert!(due.is_none()),
                }
            }
            Op::AppLimited => r.on_app_limited(now),
            Op::Drain => {
                let drained = r.drain_all();
                m.retire(&drained, State::Drained);
            }
        }
        check_invariants(&r, &m);
    }
    let expected: Vec<u64> = m.outstanding().map(|(pn, _)| pn).collect();
    let drained = r.drain_all();
    assert_eq!(numbers(&drained), expected);
    m.retire(&drained, State::Drained);
    check_invariants(&r, &m);
    assert!(m.packets.iter().all(|p| p.3 != State::Outstanding));
}

proptest! {
    #[test]
    fn random_operations_keep_the_invariants(
        ops in prop::collection::vec(op(), 1..300),
        newreno in any::<bool>(),
        pacing in any::<bool>(),
    ) {
        run_ops(ops, newreno, pacing);
    }
}
