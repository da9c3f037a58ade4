//! Loss recovery targets: `ack_ranges` (ACK processing) and `congestion` (controllers and
//! pacing).

#[allow(unused_imports)]
use super::*;

// ===== loss recovery: ACK processing ============================================================

/// One step of the `ack_ranges` harness.
#[derive(Debug, Arbitrary)]
pub(super) enum RecoveryOp {
    Send {
        size: u16,
        ack_eliciting: bool,
        in_flight: bool,
    },
    /// `raw`: the ranges as given (any order, overlaps, unsent numbers); else each
    /// bound is taken modulo the next packet number and the ranges sorted highest first.
    Ack {
        ranges: Vec<(u64, u64)>,
        raw: bool,
        delay_ms: u16,
    },
    /// An ACK frame from the wire (its ranges, if it decodes).
    WireAck {
        frame: Vec<u8>,
    },
    Advance {
        ms: u16,
    },
    Timeout,
    AppLimited,
    Drain,
}

/// Model state of one sent packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Outstanding,
    Acked,
    Lost,
    LostThenAcked,
    Drained,
}

/// `(size, ack-eliciting, in flight, fate)` per packet number.
pub(super) struct RecoveryModel(pub(super) Vec<(u16, bool, bool, Fate)>);

impl RecoveryModel {
    pub(super) fn outstanding(&self) -> impl Iterator<Item = (u64, &(u16, bool, bool, Fate))> {
        (0u64..)
            .zip(&self.0)
            .filter(|(_, p)| p.3 == Fate::Outstanding)
    }

    pub(super) fn count(&self, fate: Fate) -> u64 {
        self.0.iter().filter(|p| p.3 == fate).count() as u64
    }

    pub(super) fn retire(&mut self, packets: &[(u64, SentPacket<u64>)], to: Fate) {
        for (pn, p) in packets {
            assert_eq!(p.payload, *pn, "payload travels with its packet");
            let entry = usize::try_from(*pn)
                .ok()
                .and_then(|i| self.0.get_mut(i))
                .expect("only sent packets are retired");
            assert_eq!(entry.3, Fate::Outstanding, "packet {pn} retired twice");
            assert_eq!(
                (p.size, p.ack_eliciting, p.in_flight),
                (entry.0, entry.1, entry.2)
            );
            entry.3 = to;
        }
    }

    pub(super) fn check(&self, r: &PathRecovery<u64>, mds: u64) {
        let in_flight: u64 = self
            .outstanding()
            .filter(|(_, p)| p.2)
            .map(|(_, p)| u64::from(p.0))
            .sum();
        assert_eq!(r.bytes_in_flight(), in_flight, "bytes in flight");
        let eliciting = self.outstanding().any(|(_, p)| p.1);
        assert_eq!(r.has_ack_eliciting_in_flight(), eliciting);
        if eliciting {
            assert!(
                r.timeout().is_some(),
                "PTO armed while ack-eliciting packets are out"
            );
        }
        assert_eq!(r.outstanding_packets(), self.outstanding().count());
        let stats = r.stats();
        assert_eq!(stats.packets_sent, self.0.len() as u64);
        assert_eq!(stats.packets_acked, self.count(Fate::Acked));
        assert_eq!(
            stats.packets_lost,
            self.count(Fate::Lost) + self.count(Fate::LostThenAcked)
        );
        assert!(stats.spurious_losses <= self.count(Fate::LostThenAcked));
        assert!(
            r.congestion_window() >= 2 * mds,
            "cwnd below the minimum window"
        );
        assert!(stats.congestion_events <= stats.packets_lost);
        assert!(stats.persistent_congestion_events <= stats.packets_lost);
    }
}

/// Target `ack_ranges`: `PathRecovery` (loss detection, RTT, congestion control, pacing)
/// under sends, arbitrary ACK ranges, time and timeouts, checked against a model of each
/// packet's fate.
///
/// Checks (as the recovery module's own property test, plus raw and wire ranges): an ACK
/// reaching an unsent number is an error that changes nothing; otherwise exactly the
/// outstanding packets in the ranges are acknowledged, in ascending order; lost packets
/// are below the largest acknowledged; each packet is retired once; bytes in flight,
/// counters and outstanding packets match the model; the window never drops below two
/// datagrams; a pacing delay is in the future.
pub fn ack_ranges(data: &[u8]) {
    ack_run(data);
}

/// `ack_ranges`; returns how far the input got (for seed selection).
pub(super) fn ack_run(data: &[u8]) -> u64 {
    let mut u = Unstructured::new(data);
    let (Ok(which), Ok(pacing)) = (u.arbitrary::<u8>(), u.arbitrary::<bool>()) else {
        return 0;
    };
    const MDS16: u16 = 1200;
    let t0 = Instant::now();
    let config = RecoveryConfig {
        congestion: controller(which),
        pacing,
        ..RecoveryConfig::default()
    };
    let mut r = PathRecovery::<u64>::new(&config, MDS16, t0);
    let mut m = RecoveryModel(Vec::new());
    let mut now = t0;
    for _ in 0..512 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<RecoveryOp>() else {
            break;
        };
        let (ranges, delay) = match op {
            RecoveryOp::Send {
                size,
                ack_eliciting,
                in_flight,
            } => {
                let size = size % 1500 + 1;
                if let Some(at) = r.pacing_delay(now, u64::from(size)) {
                    assert!(at > now, "a pacing delay lies in the future");
                }
                let pn = r.next_packet_number();
                assert_eq!(pn, m.0.len() as u64);
                r.on_packet_sent(
                    now,
                    pn,
                    SentPacket {
                        time_sent: now,
                        size,
                        ack_eliciting,
                        in_flight,
                        payload: pn,
                    },
                );
                m.0.push((size, ack_eliciting, in_flight, Fate::Outstanding));
                (None, 0)
            }
            RecoveryOp::Ack {
                ranges,
                raw,
                delay_ms,
            } => {
                let next = r.next_packet_number();
                let mut ranges: Vec<(u64, u64)> = ranges.into_iter().take(80).collect();
                if !raw {
                    if next == 0 {
                        ranges.clear();
                    }
                    for x in &mut ranges {
                        let (a, b) = (x.0 % next.max(1), x.1 % next.max(1));
                        *x = (a.min(b), a.max(b));
                    }
                    ranges.sort_unstable_by_key(|x| std::cmp::Reverse(x.1));
                }
                (Some(ranges), delay_ms)
            }
            RecoveryOp::WireAck { frame } => {
                let mut reader = Reader::new(&frame);
                match Frame::decode(&mut reader) {
                    Ok(Frame::Ack(AckFrame { ranges, .. })) => (Some(ranges), 0),
                    _ => (None, 0),
                }
            }
            RecoveryOp::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                (None, 0)
            }
            RecoveryOp::Timeout => {
                let due = r.timeout();
                if let Some(at) = due {
                    now = now.max(at);
                }
                let pto_before = r.pto_count();
                match r.on_timeout(now) {
                    TimeoutOutcome::Lost(lost) => {
                        assert!(lost.is_sorted_by_key(|(pn, _)| *pn));
                        m.retire(&lost, Fate::Lost);
                    }
                    TimeoutOutcome::Probe(n) => {
                        assert!(n > 0 && due.is_some());
                        assert_eq!(r.pto_count(), pto_before.saturating_add(1));
                    }
                    TimeoutOutcome::None => assert!(due.is_none(), "a due timer did nothing"),
                }
                (None, 0)
            }
            RecoveryOp::AppLimited => {
                r.on_app_limited(now);
                (None, 0)
            }
            RecoveryOp::Drain => {
                let drained = r.drain_all();
                m.retire(&drained, Fate::Drained);
                (None, 0)
            }
        };
        if let Some(ranges) = ranges {
            apply_ack(&mut r, &mut m, now, &ranges, delay);
        }
        m.check(&r, u64::from(MDS16));
    }
    let expected: Vec<u64> = m.outstanding().map(|(pn, _)| pn).collect();
    let drained = r.drain_all();
    assert_eq!(
        drained.iter().map(|(pn, _)| *pn).collect::<Vec<_>>(),
        expected
    );
    m.retire(&drained, Fate::Drained);
    m.check(&r, u64::from(MDS16));
    let stats = r.stats();
    stats.packets_acked * 4
        + stats.packets_lost * 2
        + stats.spurious_losses * 8
        + stats.congestion_events * 8
        + stats.persistent_congestion_events * 32
}

/// Everything observable, to check that a rejected ACK changed nothing.
pub(super) fn recovery_snapshot(r: &PathRecovery<u64>) -> impl PartialEq + std::fmt::Debug + use<> {
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

pub(super) fn apply_ack(
    r: &mut PathRecovery<u64>,
    m: &mut RecoveryModel,
    now: Instant,
    ranges: &[(u64, u64)],
    delay_ms: u16,
) {
    let next = r.next_packet_number();
    let unsent = ranges
        .iter()
        .find(|(lo, hi)| lo <= hi && *hi >= next)
        .map(|x| x.1);
    let before = recovery_snapshot(r);
    match r.on_ack_received(now, ranges, Duration::from_millis(u64::from(delay_ms))) {
        Err(AckError::UnsentPacket(pn)) => {
            assert_eq!(Some(pn), unsent, "the first offending range is reported");
            assert_eq!(
                recovery_snapshot(r),
                before,
                "a rejected ACK changes nothing"
            );
        }
        Ok(out) => {
            assert_eq!(unsent, None, "an ACK of an unsent packet was accepted");
            let covered = |pn: u64| ranges.iter().any(|&(lo, hi)| lo <= pn && pn <= hi);
            let expected: Vec<u64> = m
                .outstanding()
                .map(|(pn, _)| pn)
                .filter(|&pn| covered(pn))
                .collect();
            let acked: Vec<u64> = out.acked.iter().map(|(pn, _)| *pn).collect();
            assert_eq!(
                acked, expected,
                "exactly the outstanding packets in the ranges"
            );
            for (pn, p) in (0u64..).zip(m.0.iter_mut()) {
                if p.3 == Fate::Lost && covered(pn) {
                    p.3 = Fate::LostThenAcked;
                }
            }
            m.retire(&out.acked, Fate::Acked);
            let lost: Vec<u64> = out.lost.iter().map(|(pn, _)| *pn).collect();
            assert!(lost.is_sorted());
            assert!(lost.iter().all(|&pn| Some(pn) <= r.largest_acked()));
            m.retire(&out.lost, Fate::Lost);
            if out.acked.is_empty() {
                assert!(out.lost.is_empty() && !out.rtt_sampled);
            }
        }
    }
}

// ===== congestion control and pacing ===========================================================

/// One step of the `congestion` harness.
#[derive(Debug, Arbitrary)]
pub(super) enum CcOp {
    Sent {
        bytes: u16,
    },
    Ack {
        sent_ago_ms: u16,
        bytes: u16,
        app_limited: bool,
    },
    /// The end of one ACK frame (`Controller::on_ack_event`), with the delivery-rate and
    /// RTT samples it produced.
    AckEvent {
        acked: u16,
        in_flight: u32,
        sample: Option<CcSample>,
        rtt_ms: Option<u16>,
    },
    Congestion {
        sent_ago_ms: u16,
        persistent: bool,
        lost: u16,
    },
    Spurious,
    Advance {
        us: u32,
    },
    RttSample {
        latest_ms: u16,
        ack_delay_ms: u8,
    },
    Pace {
        bytes: u16,
    },
}

/// A delivery-rate sample as `RateSampler` makes them: `delivered` bytes over a non-zero
/// interval, its packet sent when the path had delivered `back` bytes fewer than now.
#[derive(Debug, Arbitrary)]
pub(super) struct CcSample {
    delivered: u32,
    interval_us: u32,
    back: u32,
    prior_in_flight: u32,
    lost: u32,
    app_limited: bool,
}

impl CcSample {
    fn rate_sample(&self, path_delivered: u64) -> RateSample {
        let interval = Duration::from_micros(u64::from(self.interval_us).max(1));
        let delivered = u64::from(self.delivered);
        RateSample {
            delivery_rate: delivered as f64 / interval.as_secs_f64(),
            is_app_limited: self.app_limited,
            delivered,
            prior_delivered: path_delivered.saturating_sub(u64::from(self.back)),
            prior_in_flight: u64::from(self.prior_in_flight),
            lost: u64::from(self.lost),
            interval,
        }
    }
}

/// Target `congestion`: a controller built by `CongestionControl::build` (NewReno, CUBIC
/// or BBR, any datagram size), with an RTT estimator and a pacer, under sends, per-packet
/// acks, whole-ACK events with arbitrary delivery-rate and RTT samples, congestion events,
/// spurious-loss undos, RTT samples and time.
///
/// Checks: the window never drops below the controller's minimum window, which is at
/// least two datagrams; a per-packet ack never shrinks it (up to float rounding), and an
/// ack of an app-limited packet or of a packet sent before the current recovery period
/// leaves it unchanged; a congestion event never grows it, one inside the recovery period
/// changes nothing, and persistent congestion sets exactly the minimum window (recovery
/// periods modelled as RFC 9002 §7.3.2 with `sent < start`). A controller's own pacing
/// rate and bandwidth estimate, when it has them, are finite and positive. The RTT
/// estimator keeps `min <= smoothed` and `min <= latest`. A pacing delay (at the
/// controller's rate, or derived from window and RTT, as `PathRecovery` paces) lies in the
/// future, at most 60 s ahead, and asking again at that instant lets the packet go.
pub fn congestion(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(which), Ok(mds)) = (u.arbitrary::<u8>(), u.arbitrary::<u16>()) else {
        return;
    };
    let t0 = Instant::now();
    let mut h = CcHarness {
        cc: controller(which).build(mds, t0),
        rtt: RttEstimator::new(Duration::from_millis(100)),
        pacer: Pacer::new(mds, t0),
        recovery_start: None,
        undoable: false,
        delivered: 0,
        t0,
        now: t0,
    };
    let floor = h.cc.minimum_window();
    assert!(floor >= 2 * u64::from(mds.max(1)), "minimum window {floor}");
    for _ in 0..1024 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<CcOp>() else {
            break;
        };
        h.step(op);
        let w = h.cc.window();
        assert!(w >= floor, "window {w} below the minimum {floor}");
        assert!(h.cc.pacing_rate().is_none_or(|r| r.is_finite() && r > 0.0));
        assert!(
            h.cc.bandwidth_estimate()
                .is_none_or(|b| b.is_finite() && b > 0.0)
        );
    }
}

/// The `congestion` target's state.
struct CcHarness {
    cc: Box<dyn crate::recovery::Controller>,
    rtt: RttEstimator,
    pacer: Pacer,
    /// Start of the modelled recovery period.
    recovery_start: Option<Instant>,
    /// A reduction that a spurious-loss undo would revert (and end its recovery period).
    undoable: bool,
    /// Bytes delivered so far (the sum of the ack events' bytes).
    delivered: u64,
    t0: Instant,
    now: Instant,
}

impl CcHarness {
    fn sent_at(&self, ago_ms: u16) -> Instant {
        self.now
            .checked_sub(Duration::from_millis(u64::from(ago_ms)))
            .unwrap_or(self.t0)
            .max(self.t0)
    }

    fn in_recovery(&self, sent: Instant) -> bool {
        self.recovery_start.is_some_and(|s| sent < s)
    }

    fn step(&mut self, op: CcOp) {
        let before = self.cc.window();
        match op {
            CcOp::Sent { bytes } => {
                self.cc.on_sent(self.now, u64::from(bytes));
                self.pacer.on_sent(u64::from(bytes));
            }
            CcOp::Ack {
                sent_ago_ms,
                bytes,
                app_limited,
            } => {
                let sent = self.sent_at(sent_ago_ms);
                let rtt = &self.rtt;
                self.cc
                    .on_ack(self.now, sent, u64::from(bytes), app_limited, rtt);
                let after = self.cc.window();
                if app_limited || self.in_recovery(sent) {
                    assert_eq!(
                        after, before,
                        "an ack that must not grow the window changed it"
                    );
                } else {
                    assert!(
                        after + 1 >= before,
                        "an ack shrank the window {before} -> {after}"
                    );
                }
            }
            CcOp::AckEvent {
                acked,
                in_flight,
                sample,
                rtt_ms,
            } => self.ack_event(acked, in_flight, sample.as_ref(), rtt_ms),
            CcOp::Congestion {
                sent_ago_ms,
                persistent,
                lost,
            } => self.congestion(sent_ago_ms, persistent, lost, before),
            CcOp::Spurious => self.undo(before),
            CcOp::Advance { us } => {
                self.now += Duration::from_micros(u64::from(us % 10_000_000));
            }
            CcOp::RttSample {
                latest_ms,
                ack_delay_ms,
            } => {
                self.rtt.update(
                    Duration::from_millis(u64::from(latest_ms)),
                    Duration::from_millis(u64::from(ack_delay_ms)),
                );
                let rtt = &self.rtt;
                assert!(rtt.min() <= rtt.latest() && rtt.min() <= rtt.smoothed());
                assert!(rtt.pto_base(Duration::from_millis(1)) >= rtt.smoothed());
            }
            CcOp::Pace { bytes } => self.pace(u64::from(bytes)),
        }
    }

    fn ack_event(
        &mut self,
        acked: u16,
        in_flight: u32,
        sample: Option<&CcSample>,
        rtt_ms: Option<u16>,
    ) {
        let rtt_sample = rtt_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        if let Some(latest) = rtt_sample {
            self.rtt.update(latest, Duration::ZERO);
        }
        self.delivered += u64::from(acked);
        self.cc.on_ack_event(&AckEvent {
            now: self.now,
            acked_bytes: u64::from(acked),
            bytes_in_flight: u64::from(in_flight),
            delivered: self.delivered,
            rate: sample.map(|s| s.rate_sample(self.delivered)),
            rtt_sample,
            rtt: &self.rtt,
        });
    }

    fn congestion(&mut self, sent_ago_ms: u16, persistent: bool, lost: u16, before: u64) {
        let sent = self.sent_at(sent_ago_ms);
        let during = self.in_recovery(sent);
        self.cc
            .on_congestion_event(self.now, sent, persistent, u64::from(lost));
        let after = self.cc.window();
        if !during || persistent {
            self.recovery_start = Some(self.now);
        }
        self.undoable = !persistent && (self.undoable || !during);
        if persistent {
            let floor = self.cc.minimum_window();
            assert_eq!(after, floor, "persistent congestion: minimum window");
        } else if during {
            assert_eq!(after, before, "a second reduction in one recovery period");
        } else {
            assert!(after <= before, "a congestion event grew the window");
        }
    }

    fn undo(&mut self, before: u64) {
        self.cc.on_spurious_congestion(self.now);
        let after = self.cc.window();
        assert!(
            after >= before,
            "an undo shrank the window {before} -> {after}"
        );
        if std::mem::take(&mut self.undoable) {
            self.recovery_start = None;
        } else {
            assert_eq!(after, before, "an undo without a reduction to revert");
        }
    }

    fn pace(&mut self, bytes: u64) {
        let (srtt, cwnd, rate) = (self.rtt.smoothed(), self.cc.window(), self.cc.pacing_rate());
        let capacity = self.pacer.capacity(cwnd);
        let ask = |p: &mut Pacer, at: Instant| match rate {
            Some(rate) => p.delay_with(at, bytes, rate, capacity),
            None => p.delay(at, bytes, srtt, cwnd),
        };
        let Some(at) = ask(&mut self.pacer, self.now) else {
            return;
        };
        assert!(at > self.now, "a pacing delay lies in the future");
        let wait = at - self.now;
        assert!(wait <= Duration::from_secs(60), "pacing wait {wait:?}");
        if wait < Duration::from_secs(60) {
            let mut again = self.pacer.clone();
            assert_eq!(
                ask(&mut again, at),
                None,
                "asking again at the returned instant lets the packet go"
            );
        }
    }
}

/// The controller a fuzz input selects (every one of them).
fn controller(which: u8) -> CongestionControl {
    match which % 3 {
        0 => CongestionControl::NewReno,
        1 => CongestionControl::Cubic,
        _ => CongestionControl::Bbr,
    }
}
