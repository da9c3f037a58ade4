//! Criterion microbenchmarks of the transport's hot paths, through the public API of
//! `netchan_transport` only:
//!
//! - `frame/*`: encoding and decoding a CHANNEL_DATA frame with a 1000-byte payload, and
//!   ACK frames with 1 and 16 ranges.
//! - `packet/*`: sealing and opening a short-header packet with the connection's real
//!   packet protection (ChaCha20-Poly1305 with keys from a Noise IK handshake, run once in
//!   setup), for 64-, 512- and 1200-byte payloads.
//! - `replay/*`: the anti-replay window's check-then-update, in order and with counters
//!   shuffled within the window.
//! - `endpoint/handle_datagram`: a listener's whole receive path for one 1200-byte
//!   datagram of channel data from an established connection (header parse, connection
//!   lookup, replay check, decryption, frames, ACK bookkeeping), through the public
//!   `Endpoint` API. Only `handle_datagram` is timed; the client's packets are made, and
//!   the server's ACKs returned, outside the measurement.
//! - `recovery/*`: loss recovery handling incoming ACKs (`PathRecovery::on_ack_received`),
//!   and `ack_tracking/*`: the receiver's side of ACKs (recording packet numbers in a
//!   `RangeSet`, building and encoding the ACK frame from it).
//!
//! Run with `cargo bench -p netchan-bench --bench micro` (add e.g.
//! `-- --warm-up-time 0.5 --measurement-time 1` for a quick run, or a filter such as
//! `-- packet/`).

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use netchan_transport::identity::Keypair;
use netchan_transport::ranges::RangeSet;
use netchan_transport::recovery::{PathRecovery, RecoveryConfig, SentPacket};
use netchan_transport::replay::ReplayWindow;
use netchan_transport::wire::{AckFrame, ConnectionId, Frame, Header, Reader, ShortHeader};
use netchan_transport::{
    CongestionControl, CryptoConfig, Endpoint, EndpointConfig, Event, NoiseConfig,
    PacketProtection, TransportConfig,
};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Payload of the CHANNEL_DATA frame benchmarks.
const CHANNEL_PAYLOAD: usize = 1000;
/// Plaintext sizes (after the header) of the packet protection benchmarks.
const PACKET_SIZES: [usize; 3] = [64, 512, 1200];
/// Counters per iteration of the replay benchmarks.
const REPLAY_BATCH: u64 = 1024;

/// An ACK frame of `count` ranges of 8 packets each, separated by gaps of 2, starting high
/// enough that the numbers take multi-byte varints as in a long-lived connection.
fn ack_frame(count: u64) -> AckFrame {
    let top = 1_000_000u64;
    let ranges = (0..count)
        .map(|i| {
            let largest = top - i * 10;
            (largest - 7, largest)
        })
        .collect();
    let ack = AckFrame {
        path_id: 0,
        ack_delay_us: 1_250,
        ranges,
    };
    assert!(ack.is_valid());
    ack
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    let payload = vec![0xa5u8; CHANNEL_PAYLOAD];
    let data = Frame::ChannelData {
        channel: 3,
        offset: 123_456_789,
        data: &payload,
    };
    let mut encoded = Vec::new();
    data.encode(&mut encoded);
    g.throughput(Throughput::Bytes(encoded.len() as u64));
    let mut out = Vec::with_capacity(2048);
    g.bench_function("encode/channel_data_1000", |b| {
        b.iter(|| {
            out.clear();
            black_box(&data).encode(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("decode/channel_data_1000", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(&encoded));
            black_box(Frame::decode(&mut r).expect("valid frame"))
        })
    });

    for count in [1u64, 16] {
        let ack = Frame::Ack(ack_frame(count));
        let mut encoded = Vec::new();
        ack.encode(&mut encoded);
        // Bytes per second means little for a 10-70 byte frame: report per-frame times.
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(
            BenchmarkId::new("encode/ack_ranges", count),
            &ack,
            |b, ack| {
                b.iter(|| {
                    out.clear();
                    black_box(ack).encode(&mut out);
                    black_box(out.len())
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("decode/ack_ranges", count),
            &encoded,
            |b, encoded| {
                b.iter(|| {
                    let mut r = Reader::new(black_box(encoded));
                    black_box(Frame::decode(&mut r).expect("valid frame"))
                })
            },
        );
    }
    g.finish();
}

/// Client and server packet protection from a real Noise IK handshake (the dialer knows
/// the listener's key), as `Connection` obtains it: `CryptoConfig` -> `HandshakeSession`
/// -> `into_protection()`.
fn handshake() -> (Box<dyn PacketProtection>, Box<dyn PacketProtection>) {
    let client = NoiseConfig::new(Keypair::from_seed([1; 32]));
    let server = NoiseConfig::new(Keypair::from_seed([2; 32]));
    let prologue = b"netchan micro bench";
    let mut initiator = client
        .start_initiator([3; 32], Some(server.public_key().0), prologue)
        .expect("initiator");
    let mut responder = server.start_responder([4; 32], prologue);
    let (mut msg, mut payload) = (Vec::new(), Vec::new());
    while !(initiator.is_finished() && responder.is_finished()) {
        let (from, to) = if initiator.is_my_turn() {
            (&mut initiator, &mut responder)
        } else {
            (&mut responder, &mut initiator)
        };
        msg.clear();
        from.write_message(b"transport params", &mut msg)
            .expect("write handshake message");
        to.read_message(&msg, &mut payload)
            .expect("read handshake message");
    }
    (
        initiator.into_protection().expect("client keys"),
        responder.into_protection().expect("server keys"),
    )
}

fn packets(c: &mut Criterion) {
    let (mut client, mut server) = handshake();
    let header = ShortHeader {
        key_phase: client.key_phase(),
        dcid: ConnectionId([7; 8]),
        path_id: 0,
        packet_number: 1_000_000,
    };
    let mut g = c.benchmark_group("packet");
    for size in PACKET_SIZES {
        let mut plain = Vec::with_capacity(size + 64);
        let header_len = Header::Short(header).emit(&mut plain);
        plain.resize(header_len + size, 0x5a);
        g.throughput(Throughput::Bytes(size as u64));

        // Seal in place, as the send path does. The buffer is truncated back to header +
        // payload each time (its payload is then the previous ciphertext: any bytes do).
        let mut buf = plain.clone();
        g.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter(|| {
                buf.truncate(header_len + size);
                client.seal(
                    header.path_id,
                    black_box(header.packet_number),
                    &mut buf,
                    0,
                    header_len,
                );
                black_box(buf.len())
            })
        });

        // Open in place, as the receive path does; each iteration gets a fresh copy of the
        // sealed packet (the copy is made outside the timed routine).
        let mut sealed = plain.clone();
        client.seal(
            header.path_id,
            header.packet_number,
            &mut sealed,
            0,
            header_len,
        );
        let (hdr, body) = sealed.split_at(header_len);
        g.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter_batched_ref(
                || body.to_vec(),
                |body| {
                    let n = server
                        .open(
                            header.path_id,
                            black_box(header.packet_number),
                            header.key_phase,
                            hdr,
                            body,
                        )
                        .expect("authentic packet");
                    black_box(n)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A fixed pseudo-random permutation of `0..n` (xorshift-driven Fisher-Yates).
fn permutation(n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = usize::try_from(x % (i as u64 + 1)).expect("small");
        v.swap(i, j);
    }
    v
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(REPLAY_BATCH));

    // check (before decryption) + update (after), counters strictly increasing.
    let mut w = ReplayWindow::new();
    let mut next = 0u64;
    g.bench_function("check_update/in_order", |b| {
        b.iter(|| {
            for _ in 0..REPLAY_BATCH {
                let ctr = black_box(next);
                assert!(w.check(ctr) && w.update(ctr));
                next += 1;
            }
        })
    });

    // The same, but each batch of 1024 counters arrives in a shuffled order: every counter
    // is new and within the 2048-counter window, so all are accepted, while the window
    // advances by jumps and fills holes behind its top.
    let order = permutation(REPLAY_BATCH);
    let mut w = ReplayWindow::new();
    let mut base = 0u64;
    g.bench_function("check_update/out_of_order", |b| {
        b.iter(|| {
            for &off in &order {
                let ctr = black_box(base + off);
                assert!(w.check(ctr) && w.update(ctr));
            }
            base += REPLAY_BATCH;
        })
    });

    // Duplicates: a full window whose last 1024 counters are replayed; check rejects them.
    let mut w = ReplayWindow::new();
    for ctr in 0..4 * REPLAY_BATCH {
        w.update(ctr);
    }
    g.bench_function("check/duplicate_rejected", |b| {
        b.iter(|| {
            for ctr in 3 * REPLAY_BATCH..4 * REPLAY_BATCH {
                assert!(!w.check(black_box(ctr)));
            }
        })
    });
    g.finish();
}

/// A path's recovery state with `n` full-size, ack-eliciting packets outstanding, sent
/// 100 µs apart from `t0`.
fn recovery_with_sent(t0: Instant, n: u64) -> PathRecovery<u64> {
    let mut r = PathRecovery::new(&RecoveryConfig::default(), 1200, t0);
    for pn in 0..n {
        let now = t0 + Duration::from_micros(100 * pn);
        let packet = SentPacket {
            time_sent: now,
            size: 1200,
            ack_eliciting: true,
            in_flight: true,
            payload: pn,
        };
        r.on_packet_sent(now, pn, packet);
    }
    r
}

/// Loss recovery is public (`netchan_transport::recovery::PathRecovery`, the per-path
/// state `Connection` uses), so this benchmarks the real sender-side ACK processing:
/// removal of acked packets, RTT sample, loss detection and congestion-window growth.
fn recovery(c: &mut Criterion) {
    let mut g = c.benchmark_group("recovery");
    let t0 = Instant::now();

    // Steady state: one packet sent and acknowledged per iteration, the ACK carrying one
    // range over everything acknowledged so far (as a receiver with no loss sends).
    let mut r = recovery_with_sent(t0, 0);
    let mut pn = 0u64;
    g.throughput(Throughput::Elements(1));
    g.bench_function("send_then_ack/1_packet", |b| {
        b.iter(|| {
            let sent = t0 + Duration::from_micros(100 * pn);
            let packet = SentPacket {
                time_sent: sent,
                size: 1200,
                ack_eliciting: true,
                in_flight: true,
                payload: pn,
            };
            r.on_packet_sent(sent, pn, packet);
            let out = r
                .on_ack_received(
                    sent + Duration::from_millis(20),
                    &[(0, black_box(pn))],
                    Duration::from_micros(500),
                )
                .expect("valid ACK");
            pn += 1;
            black_box(out.acked.len())
        })
    });

    // A burst of 64 outstanding packets acknowledged by one ACK frame: either one range
    // of all 64, or 16 ranges of 3 with one packet missing below each (those 16 packets
    // are then declared lost: the loss-detection path, including the congestion event).
    const BURST: u64 = 64;
    let one_range = vec![(0, BURST - 1)];
    let sixteen_ranges: Vec<(u64, u64)> = (0..BURST / 4)
        .rev()
        .map(|i| (4 * i + 1, 4 * i + 3))
        .collect();
    for (name, ranges) in [("1_range", &one_range), ("16_ranges", &sixteen_ranges)] {
        let acked: u64 = ranges.iter().map(|(lo, hi)| hi - lo + 1).sum();
        g.throughput(Throughput::Elements(acked));
        g.bench_with_input(
            BenchmarkId::new("ack_64_outstanding", name),
            ranges,
            |b, ranges| {
                b.iter_batched_ref(
                    || recovery_with_sent(t0, BURST),
                    |r| {
                        let out = r
                            .on_ack_received(
                                t0 + Duration::from_millis(30),
                                black_box(ranges),
                                Duration::from_micros(500),
                            )
                            .expect("valid ACK");
                        black_box((out.acked.len(), out.lost.len()))
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
    g.finish();
}

/// The receiver's side of ACKs: recording received packet numbers, and turning the
/// `RangeSet` into an ACK frame (highest ranges first, as the connection does) and
/// encoding it.
fn ack_tracking(c: &mut Criterion) {
    let mut g = c.benchmark_group("ack_tracking");
    g.throughput(Throughput::Elements(1));
    let mut received = RangeSet::new();
    let mut pn = 0u64;
    g.bench_function("insert/in_order", |b| {
        b.iter(|| {
            black_box(received.insert(black_box(pn)..pn + 1));
            pn += 1;
        })
    });

    for count in [1u64, 16] {
        let mut set = RangeSet::new();
        for i in 0..count {
            set.insert(i * 10..i * 10 + 8);
        }
        let mut out = Vec::with_capacity(256);
        g.bench_with_input(
            BenchmarkId::new("build_and_encode/ranges", count),
            &set,
            |b, set| {
                b.iter(|| {
                    let ack = AckFrame {
                        path_id: 0,
                        ack_delay_us: 1_250,
                        ranges: black_box(set)
                            .iter()
                            .rev()
                            .take(netchan_transport::wire::MAX_ACK_RANGES)
                            .map(|r| (r.start, r.end - 1))
                            .collect(),
                    };
                    out.clear();
                    Frame::Ack(ack).encode(&mut out);
                    black_box(out.len())
                })
            },
        );
    }
    g.finish();
}

/// Client and server endpoints with one established IK connection and a channel the
/// client writes to; the server has read the channel's opening.
struct EndpointPair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    conn: netchan_transport::ConnectionHandle,
    channel: netchan_transport::ChannelId,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    buf: Vec<u8>,
}

impl EndpointPair {
    fn new() -> Self {
        let now = Instant::now();
        let mut transport = TransportConfig::default().congestion(CongestionControl::NewReno);
        transport.recovery.pacing = false;
        transport.channel_receive_window = 64 << 20;
        transport.connection_receive_window = 64 << 20;
        transport.channel_send_buffer = 64 << 20;
        let transport = Arc::new(transport);
        let endpoint = |seed: u8| {
            let id = NoiseConfig::new(Keypair::from_seed([seed; 32]));
            let key = id.public_key();
            let mut cfg = EndpointConfig::seeded_for_tests(Arc::new(id), u64::from(seed) + 10);
            cfg.transport = transport.clone();
            (Endpoint::new(cfg, now), key)
        };
        let (mut client, _) = endpoint(1);
        let (server, server_key) = endpoint(2);
        let client_addr: SocketAddr = "10.0.0.1:1".parse().expect("address");
        let server_addr: SocketAddr = "10.0.0.2:2".parse().expect("address");
        let conn = client
            .connect_with(now, client_addr, server_addr, Some(server_key.0))
            .expect("connect");
        let channel = client
            .connection(conn)
            .expect("connection")
            .open_channel(b"bench")
            .expect("channel");
        let mut pair = Self {
            now,
            client,
            server,
            conn,
            channel,
            client_addr,
            server_addr,
            buf: Vec::with_capacity(2048),
        };
        for _ in 0..100 {
            pair.exchange();
        }
        pair
    }

    /// One round trip of everything queued, untimed, in both directions.
    fn exchange(&mut self) {
        let mut to_server = Vec::new();
        while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
            to_server.push(self.buf[..t.size].to_vec());
        }
        for d in &mut to_server {
            self.server
                .handle_datagram(self.now, self.server_addr, self.client_addr, d);
        }
        self.serve();
        self.now += Duration::from_millis(1);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// The server reads what arrived and sends its ACKs back.
    fn serve(&mut self) {
        while let Some((h, ev)) = self.server.poll_event() {
            if let Event::ChannelReadable(ch) = ev {
                let c = self.server.connection(h).expect("connection");
                while c.recv(ch).is_some() {}
            }
        }
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
            self.client.handle_datagram(
                self.now,
                self.client_addr,
                self.server_addr,
                &mut self.buf[..t.size],
            );
        }
        while self.client.poll_event().is_some() {}
    }

    /// Up to `max` full-size data datagrams from the client (as many as its window allows).
    fn client_datagrams(&mut self, max: u64) -> Vec<Vec<u8>> {
        let c = self.client.connection(self.conn).expect("connection");
        while c.send_buffered(self.channel) < 4 << 20 {
            c.send(self.channel, &[0x42; 16 * 1024]).expect("send");
        }
        let mut out = Vec::new();
        while (out.len() as u64) < max {
            let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) else {
                break;
            };
            out.push(self.buf[..t.size].to_vec());
        }
        out
    }
}

fn endpoint(c: &mut Criterion) {
    let mut g = c.benchmark_group("endpoint");
    g.throughput(Throughput::Elements(1));
    let mut pair = EndpointPair::new();
    g.bench_function("handle_datagram/1200", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            // Bounded: every round processes at least one datagram or the loop ends.
            while done < iters {
                let mut batch = pair.client_datagrams(iters - done);
                if batch.is_empty() {
                    pair.exchange();
                    continue;
                }
                let start = Instant::now();
                // Decrypted in place: each datagram is handed over once, uncopied.
                for d in &mut batch {
                    pair.server.handle_datagram(
                        pair.now,
                        pair.server_addr,
                        pair.client_addr,
                        black_box(d),
                    );
                }
                total += start.elapsed();
                done += batch.len() as u64;
                pair.serve();
                pair.now += Duration::from_millis(1);
                pair.client.handle_timeout(pair.now);
                pair.server.handle_timeout(pair.now);
            }
            total
        })
    });
    // Every timed datagram was accepted: none was a duplicate or failed to open.
    let server_conn = pair.server.handles().next().expect("server connection");
    let stats = pair
        .server
        .connection(server_conn)
        .expect("connection")
        .stats();
    assert_eq!((stats.duplicate_packets, stats.auth_failures), (0, 0));
    assert_eq!(pair.server.stats().datagrams_dropped, 0);
    g.finish();
}

// What `criterion_group!` / `criterion_main!` expand to, written out: the macro's
// generated `pub fn` has no doc comment and would trip the workspace's `missing_docs`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    frames(&mut c);
    packets(&mut c);
    replay(&mut c);
    recovery(&mut c);
    ack_tracking(&mut c);
    endpoint(&mut c);
    c.final_summary();
}
