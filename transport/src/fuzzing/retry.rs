//! Target `retry`: the dialer facing its listener's Retry and Handshake packets.

#[allow(unused_imports)]
use super::*;

// ===== the dialer facing its listener: Retry and Handshake packets ============================

/// Seed of the dialer endpoint in `retry` (and of its reference datagrams).
pub(super) const RETRY_DIALER_SEED: u64 = 0xd1a1;
/// Seed of the reference listener.
pub(super) const RETRY_LISTENER_SEED: u64 = 0x11de;

pub(super) fn retry_dialer(now: Instant, pinned: bool) -> (Endpoint, ConnectionHandle) {
    let k = keys();
    let crypto = Arc::new(NoiseConfig::new(k.initiator.clone()));
    let mut ep = Endpoint::new(
        EndpointConfig::seeded_for_tests(crypto, RETRY_DIALER_SEED),
        now,
    );
    let peer = pinned.then(|| k.responder.public().0);
    let h = ep
        .connect_with(now, DIALER_ADDR, LISTENER_ADDR, peer)
        .expect("a fresh endpoint can dial");
    (ep, h)
}

/// The genuine datagrams of one dialer (pinned or not) and the reference listener.
pub(super) struct RetryReference {
    pub(super) initial: Vec<u8>,
    /// The listener's Retry when under load.
    pub(super) retry: Vec<u8>,
    /// The listener's Handshake answer.
    pub(super) handshake: Vec<u8>,
}

pub(super) fn retry_reference(pinned: bool) -> &'static RetryReference {
    static REF: OnceLock<[RetryReference; 2]> = OnceLock::new();
    let all = REF.get_or_init(|| {
        [false, true].map(|pinned| {
            let now = Instant::now();
            let (mut dialer, _) = retry_dialer(now, pinned);
            let mut out = Vec::new();
            drain_transmits(&mut dialer, now, &mut out);
            let initial = out.swap_remove(0).1;
            let answer = |load_limit: u64| {
                let crypto = Arc::new(NoiseConfig::new(keys().responder.clone()));
                let mut cfg = EndpointConfig::seeded_for_tests(crypto, RETRY_LISTENER_SEED);
                cfg.handshake_load_limit = load_limit;
                let mut listener = Endpoint::new(cfg, now);
                listener.handle_datagram(now, LISTENER_ADDR, DIALER_ADDR, &mut initial.clone());
                let mut out = Vec::new();
                drain_transmits(&mut listener, now, &mut out);
                out.swap_remove(0).1
            };
            RetryReference {
                retry: answer(0),
                handshake: answer(200),
                initial,
            }
        })
    });
    &all[usize::from(pinned)]
}

/// Builds a datagram "from the listener" for `retry`; see there.
pub(super) fn retry_datagram_from(
    hb: u8,
    body: &[u8],
    original: ConnectionId,
    own: ConnectionId,
) -> Vec<u8> {
    match hb & 3 {
        0 => body.to_vec(),
        1 => with_header(0xa0 | ((hb >> 2) & 0x0f), own, original, body),
        2 => {
            let (scid, rest) = body.split_at(body.len().min(CID_LEN));
            let mut cid = [0u8; CID_LEN];
            cid[..scid.len()].copy_from_slice(scid);
            with_header(0xa0 | ((hb >> 2) & 0x0f), own, ConnectionId(cid), rest)
        }
        _ => with_header(0x80 | (hb & 0x04), own, own, body),
    }
}

/// Target `retry`: a dialer that sent its Initial receives datagrams from the listener's
/// address (Retry, Handshake and anything else) and timer and application calls.
///
/// Input: `flags` (bit 0: the listener's key is pinned, IK) then records; a record's
/// first byte `op`: `op % 4` 0 or 1 = a datagram `hb ‖ len (u16) ‖ body`, 2 = advance
/// time by `8·b + 1` ms for the next byte `b`, 3 = an application call chosen by the next
/// byte. Datagram header byte `hb`: bits 0–1 = 0 raw body, 1 long header (type in bits
/// 2–5) to the dialer's CID with the original DCID as SCID, 2 the same with the SCID
/// taken from the body's first 8 bytes, 3 a short header to the dialer's CID (key phase
/// bit 2); bit 7: sent from an address other than the listener's.
///
/// Checks (PROTOCOL.md §4.1): every datagram sent is well formed and within the size
/// limit; an Initial is sent at once in answer to a datagram only for a Retry to the
/// dialer's CID whose SCID is the original DCID and whose payload is 32 bytes, at most 3
/// times; every Initial repeats the first one byte for byte up to and including mac1, with
/// a zero mac2 until a Retry was accepted and a non-zero one after; at most one
/// connection, `Connected` at most once.
pub fn retry(data: &[u8]) {
    let mut input = Input(data);
    let Some(flags) = input.u8() else {
        return;
    };
    let pinned = flags & 1 != 0;
    let reference = retry_reference(pinned);
    let mut now = Instant::now();
    let (mut d, h) = retry_dialer(now, pinned);
    let mut out = Vec::new();
    drain_transmits(&mut d, now, &mut out);
    assert_eq!(out.len(), 1, "the Initial leaves at once, alone");
    assert_eq!(out[0].1, reference.initial, "the dialer is deterministic");
    let Ok((Header::Long(initial_hdr), _)) = Header::parse(&reference.initial) else {
        unreachable!("the reference Initial parses");
    };
    let (original, own) = (initial_hdr.dcid, initial_hdr.scid);
    let covered = reference.initial.len() - crate::crypto::gate::MAC_LEN;
    let mut log = EventLog::default();
    let mut answered = 0;
    let mut cookie = false;
    for _ in 0..64 {
        let Some(op) = input.u8() else {
            break;
        };
        let mut retry_like = false;
        let mut from_timer = false;
        match op % 4 {
            0 | 1 => {
                let hb = input.u8().unwrap_or(0);
                let body = input.prefixed();
                let datagram = retry_datagram_from(hb, body, original, own);
                let from = if hb & 0x80 != 0 {
                    SOURCES[1]
                } else {
                    LISTENER_ADDR
                };
                retry_like = datagram.len() == 21 + 2 * crate::crypto::gate::MAC_LEN
                    && matches!(
                        Header::parse(&datagram),
                        Ok((Header::Long(l), _))
                            if l.ty == LongType::Retry && l.dcid == own && l.scid == original
                    );
                d.handle_datagram(now, DIALER_ADDR, from, &mut datagram.clone());
            }
            2 => {
                let ms = u64::from(input.u8().unwrap_or(0)) * 8 + 1;
                now += Duration::from_millis(ms);
                d.handle_timeout(now);
                from_timer = true;
            }
            _ => {
                let c = input.u8().unwrap_or(0);
                if let Some(conn) = d.connection(h) {
                    match c % 4 {
                        0 => {
                            if let Ok(ch) = conn.open_channel(b"fuzz") {
                                let _ = conn.send(ch, b"hello");
                            }
                        }
                        1 => {
                            let _ = conn.send_datagram(Bytes::from_static(b"datagram"));
                        }
                        2 => conn.close(now, u64::from(c), b"fuzz"),
                        _ => conn.shutdown(),
                    }
                }
            }
        }
        out.clear();
        drain_transmits(&mut d, now, &mut out);
        for (dest, dg) in &out {
            assert_eq!(
                *dest, LISTENER_ADDR,
                "the dialer only talks to its listener"
            );
            if dg.first() != Some(&0xa0) {
                continue;
            }
            assert_eq!(dg.len(), reference.initial.len());
            assert_eq!(
                dg[..covered],
                reference.initial[..covered],
                "an Initial repeats the first one up to and including mac1"
            );
            let mac2_zero = dg[covered..].iter().all(|&b| b == 0);
            if !from_timer {
                assert!(
                    retry_like,
                    "an Initial answered a datagram that is no Retry"
                );
                answered += 1;
                assert!(answered <= 3, "more than 3 Retries followed");
                cookie = true;
            }
            assert_eq!(
                mac2_zero, !cookie,
                "mac2 is set exactly once a Retry was accepted"
            );
        }
        log.drain(&mut d);
        assert!(d.connection_count() <= 1);
    }
}
