//! `goodput_interop_link`: on a 10 Mbit/s, 15 ms one-way, 25-packet-queue link (the QUIC
//! interop runner's default), a 10 MB transfer in virtual time reaches ≥ 90% of the link
//! rate with CUBIC and with NewReno. The same run with 2% random loss completes and
//! prints its goodput per controller.

use netchan_tests::scenarios::{bulk_transfer, interop_link};
use netchan_transport::CongestionControl;

const RATE: f64 = 10_000_000.0;

fn run(cc: CongestionControl, loss: f64) -> f64 {
    let r = bulk_transfer(cc, interop_link(loss), 10_000_000, 1).expect("transfer completes");
    let fraction = r.goodput_bps / RATE;
    eprintln!(
        "{cc:?} loss {:.0}%: {} bytes in {:.2} s virtual = {:.2} Mbit/s goodput = {:.1}% of the \
         link; packets sent {}, declared lost {}",
        loss * 100.0,
        r.bytes,
        r.elapsed.as_secs_f64(),
        r.goodput_bps / 1e6,
        fraction * 100.0,
        r.packets_sent,
        r.packets_lost
    );
    assert_eq!(r.bytes, 10_000_000);
    fraction
}

#[test]
fn goodput_interop_link() {
    for cc in [
        CongestionControl::Bbr,
        CongestionControl::Cubic,
        CongestionControl::NewReno,
    ] {
        let fraction = run(cc, 0.0);
        assert!(
            fraction >= 0.90,
            "{cc:?} reached only {:.1}% of the link rate",
            fraction * 100.0
        );
    }
    for cc in [
        CongestionControl::Bbr,
        CongestionControl::Cubic,
        CongestionControl::NewReno,
    ] {
        assert!(run(cc, 0.02) > 0.0);
    }
}
