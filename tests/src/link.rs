//! Seeded, virtual-time link emulator.
//!
//! A [`Link`] models one direction of a network path. Deterministic protocol tests drive
//! two endpoints in virtual time and push every datagram of one direction through one
//! `Link`. There are no clocks, threads or sockets: time is a [`std::time::Instant`]
//! supplied by the caller (make one epoch `Instant` and add [`Duration`]s to it).
//!
//! # Processing of a datagram
//!
//! [`Link::send`] applies, in this order:
//!
//! 1. **Blackhole**: if `now - epoch` lies in one of [`LinkConfig::blackholes`]
//!    (`[start, end)`), the datagram is dropped. Datagrams already in flight still arrive.
//! 2. **Loss**: independent random loss ([`LinkConfig::loss`]), then Gilbert–Elliott bursty
//!    loss ([`LinkConfig::bursty_loss`]).
//! 3. **Bottleneck** ([`LinkConfig::rate_bps`]): the datagram departs at
//!    `max(now, busy_until) + size * 8 / rate`. A datagram counts as queued from its
//!    `send` until its departure (the one being serialised included); when
//!    [`LinkConfig::queue_packets`] datagrams are queued at `now`, the new one is
//!    tail-dropped. Without a rate the datagram departs at `now` and there is no limit.
//! 4. **Delay**: delivery = departure + `latency ± jitter` (uniform, clamped at zero), and
//!    never before the previously accepted non-reordered datagram (jitter alone never
//!    reorders). A datagram chosen for reordering ([`LinkConfig::reorder`]) is further held
//!    back by [`LinkConfig::reorder_delay`] beyond that FIFO time, without moving the FIFO
//!    clamp, so later datagrams overtake it.
//! 5. **Corruption** ([`LinkConfig::corrupt`]): one random byte is XORed with a random
//!    non-zero value.
//! 6. **Duplication** ([`LinkConfig::duplicate`]): a second, byte-identical copy (after
//!    corruption) is scheduled from the same departure time with its own delay draw
//!    (FIFO-clamped like any non-reordered datagram).
//!
//! # Determinism
//!
//! All randomness comes from a ChaCha8 generator seeded with the `seed` given to
//! [`Link::new`]. Every call to [`Link::send`] consumes exactly the same number of random
//! words whatever the configuration and outcome, so the random decisions for the *n*-th
//! datagram depend only on the seed and *n*. The same seed and the same sequence of calls
//! always give exactly the same deliveries (bytes and times).
//!
//! # Shared bottlenecks
//!
//! [`Link::share_bottleneck`] makes several links feed one bottleneck queue (several
//! flows through one router port, each with its own propagation delay and impairments):
//! each datagram is admitted with its own link's rate and queue limit, so give the
//! sharing links the same [`LinkConfig::rate_bps`] and [`LinkConfig::queue_packets`].
//!
//! # Memory
//!
//! Pending deliveries live in a binary heap. With a rate limit the heap is bounded by the
//! queue (at most `queue_packets` datagrams queued, plus those already departed and still
//! propagating). Without a rate the link accepts everything: the heap grows with what the
//! caller sends faster than it polls, and the caller is responsible for bounding that.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Gilbert–Elliott two-state bursty loss model.
///
/// The channel is either in the *good* or the *bad* state (it starts good). For every
/// datagram sent, the datagram is lost with the loss probability of the current state,
/// then the state transitions with the given per-packet probabilities. With
/// `loss_bad = 1` and `loss_good = 0`, loss bursts are geometrically distributed with mean
/// length `1 / p_bad_to_good`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Per-packet probability of moving from the good to the bad state.
    pub p_good_to_bad: f64,
    /// Per-packet probability of moving from the bad to the good state.
    pub p_bad_to_good: f64,
    /// Loss probability while in the good state.
    pub loss_good: f64,
    /// Loss probability while in the bad state.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The classic Gilbert model: nothing lost in the good state, everything lost in the
    /// bad state.
    pub fn gilbert(p_good_to_bad: f64, p_bad_to_good: f64) -> Self {
        Self {
            p_good_to_bad,
            p_bad_to_good,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// Long-run fraction of the time spent in the bad state.
    pub fn stationary_bad(&self) -> f64 {
        let total = self.p_good_to_bad + self.p_bad_to_good;
        if total > 0.0 {
            self.p_good_to_bad / total
        } else {
            0.0
        }
    }

    /// Long-run loss probability of the model (stationary average).
    pub fn mean_loss(&self) -> f64 {
        let bad = self.stationary_bad();
        bad * self.loss_bad + (1.0 - bad) * self.loss_good
    }
}

/// Impairments of one [`Link`].
///
/// Probabilities are compared with a uniform draw in `[0, 1)`: values `<= 0` (or NaN)
/// never trigger, values `>= 1` always trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Each datagram's delay is `latency + uniform(-jitter, +jitter)` (clamped at zero).
    /// Jitter alone does not reorder: delivery times are kept FIFO.
    pub jitter: Duration,
    /// Independent random loss probability (`0..=1`).
    pub loss: f64,
    /// Optional Gilbert–Elliott bursty loss, applied after independent loss.
    pub bursty_loss: Option<GilbertElliott>,
    /// Probability that a datagram is delivered twice (the copy gets its own delay draw).
    pub duplicate: f64,
    /// Probability that a datagram is held back by an extra [`reorder_delay`] beyond the
    /// FIFO order, so that later datagrams overtake it.
    ///
    /// [`reorder_delay`]: LinkConfig::reorder_delay
    pub reorder: f64,
    /// Extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Probability that one random byte of the datagram is XORed with a random non-zero
    /// value (empty datagrams are never corrupted).
    pub corrupt: f64,
    /// Bottleneck rate in bits/s applied to the datagram size (UDP payload bytes) plus
    /// [`header_bytes`](LinkConfig::header_bytes); `None` = infinite. `Some(0)` transmits nothing: every datagram reaching the
    /// bottleneck is counted as a queue drop.
    pub rate_bps: Option<u64>,
    /// Bytes the bottleneck charges per datagram beyond its length: 0 (the default) when a
    /// datagram is the whole packet on the wire; the real-time emulator sets 28 (IPv4 +
    /// UDP headers) on its UDP relays, so that netchan's datagrams and the kernel
    /// baselines' IP packets pay for the same wire bytes.
    pub header_bytes: usize,
    /// Bottleneck queue capacity in datagrams (tail drop when full), counting the datagram
    /// being serialised. Only meaningful with a rate.
    pub queue_packets: usize,
    /// `[start, end)` offsets from the link's epoch during which every datagram sent is
    /// dropped (datagrams already in flight still arrive).
    pub blackholes: Vec<(Duration, Duration)>,
}

impl LinkConfig {
    /// A link with the given one-way latency and no impairment (queue capacity 1000,
    /// unused without a rate).
    pub fn ideal(latency: Duration) -> Self {
        Self {
            latency,
            jitter: Duration::ZERO,
            loss: 0.0,
            bursty_loss: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            corrupt: 0.0,
            rate_bps: None,
            header_bytes: 0,
            queue_packets: 1000,
            blackholes: Vec::new(),
        }
    }

    /// Sets the one-way latency.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the jitter (`±jitter` uniform around the latency).
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the independent random loss probability.
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }

    /// Sets the Gilbert–Elliott bursty loss model.
    pub fn with_bursty_loss(mut self, model: GilbertElliott) -> Self {
        self.bursty_loss = Some(model);
        self
    }

    /// Sets the duplication probability.
    pub fn with_duplicate(mut self, duplicate: f64) -> Self {
        self.duplicate = duplicate;
        self
    }

    /// Sets the reordering probability and the extra delay of reordered datagrams.
    pub fn with_reorder(mut self, reorder: f64, reorder_delay: Duration) -> Self {
        self.reorder = reorder;
        self.reorder_delay = reorder_delay;
        self
    }

    /// Sets the corruption probability.
    pub fn with_corrupt(mut self, corrupt: f64) -> Self {
        self.corrupt = corrupt;
        self
    }

    /// Sets the bottleneck rate (bits/s) and queue capacity (datagrams).
    pub fn with_rate(mut self, rate_bps: u64, queue_packets: usize) -> Self {
        self.rate_bps = Some(rate_bps);
        self.queue_packets = queue_packets;
        self
    }

    /// Adds a blackhole `[start, end)` (offsets from the link's epoch).
    pub fn with_blackhole(mut self, start: Duration, end: Duration) -> Self {
        self.blackholes.push((start, end));
        self
    }
}

impl Default for LinkConfig {
    /// An ideal link with 10 ms latency and a 1000-datagram queue.
    fn default() -> Self {
        Self::ideal(Duration::from_millis(10))
    }
}

/// Counters of a [`Link`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams passed to [`Link::send`].
    pub sent: u64,
    /// Datagrams handed out by [`Link::poll_deliver`] (duplicates included).
    pub delivered: u64,
    /// Datagrams dropped by independent random loss.
    pub lost_random: u64,
    /// Datagrams dropped by the Gilbert–Elliott model.
    pub lost_bursty: u64,
    /// Datagrams tail-dropped at the bottleneck queue.
    pub dropped_queue: u64,
    /// Datagrams dropped because they were sent during a blackhole.
    pub dropped_blackhole: u64,
    /// Extra copies scheduled by duplication.
    pub duplicated: u64,
    /// Datagrams held back for reordering.
    pub reordered: u64,
    /// Datagrams with one corrupted byte.
    pub corrupted: u64,
    /// Bytes passed to [`Link::send`].
    pub bytes_sent: u64,
    /// Bytes handed out by [`Link::poll_deliver`] (duplicates included).
    pub bytes_delivered: u64,
}

/// Indices of the random words drawn for every datagram.
mod draw {
    pub(super) const LOSS: usize = 0;
    pub(super) const GE_LOSS: usize = 1;
    pub(super) const GE_TRANSITION: usize = 2;
    pub(super) const JITTER: usize = 3;
    pub(super) const REORDER: usize = 4;
    pub(super) const CORRUPT: usize = 5;
    pub(super) const CORRUPT_POSITION: usize = 6;
    pub(super) const CORRUPT_XOR: usize = 7;
    pub(super) const DUPLICATE: usize = 8;
    pub(super) const DUPLICATE_JITTER: usize = 9;
    /// Number of random words consumed by every [`super::Link::send`].
    pub(super) const COUNT: usize = 10;
}

/// A datagram waiting for its delivery time.
#[derive(Debug)]
struct Pending {
    at: Instant,
    seq: u64,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Uniform `f64` in `[0, 1)` from a random word.
fn unit(word: u64) -> f64 {
    (word >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `true` with probability `p` given a random word.
fn chance(word: u64, p: f64) -> bool {
    unit(word) < p
}

/// Uniform integer in `[0, n)` from a random word (`n > 0`).
fn below(word: u64, n: u64) -> u64 {
    ((u128::from(word) * u128::from(n)) >> 64) as u64
}

/// `Duration` to whole nanoseconds, saturating at `u64::MAX`.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One direction of an emulated network path, driven in virtual time.
///
/// See the [module documentation](self) for the processing model.
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    epoch: Instant,
    rng: ChaCha8Rng,
    stats: LinkStats,
    /// Pending deliveries, min-heap by (delivery time, sequence number).
    pending: BinaryHeap<Reverse<Pending>>,
    /// Next sequence number for tie-breaking (send order).
    next_seq: u64,
    /// The bottleneck queue (this link's own, or shared with others).
    bottleneck: Arc<Mutex<Bottleneck>>,
    /// Delivery time of the last non-reordered datagram (the FIFO clamp).
    last_fifo: Option<Instant>,
    /// Gilbert–Elliott state: `true` = bad.
    ge_bad: bool,
}

impl Link {
    /// Creates a link with the given impairments; `seed` fixes every random decision and
    /// `epoch` is the origin of the [`LinkConfig::blackholes`] offsets.
    pub fn new(config: LinkConfig, seed: u64, epoch: Instant) -> Self {
        Self {
            config,
            epoch,
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats: LinkStats::default(),
            pending: BinaryHeap::new(),
            next_seq: 0,
            bottleneck: Arc::default(),
            last_fifo: None,
            ge_bad: false,
        }
    }

    /// Offers a datagram to the link at `now` (non-decreasing across calls).
    ///
    /// The datagram is either dropped (counted in [`LinkStats`]) or scheduled for
    /// delivery, possibly twice.
    pub fn send(&mut self, now: Instant, datagram: Vec<u8>) {
        // Always draw the same number of words so that the decisions for the n-th datagram
        // depend only on the seed and n.
        let mut r = [0u64; draw::COUNT];
        for word in &mut r {
            *word = self.rng.next_u64();
        }
        let len = datagram.len();
        self.stats.sent += 1;
        self.stats.bytes_sent += len as u64;

        // The Gilbert–Elliott channel evolves once per datagram sent, whatever happens to it.
        let bursty_lost = match self.config.bursty_loss {
            Some(ge) => {
                let (loss, p_switch) = if self.ge_bad {
                    (ge.loss_bad, ge.p_bad_to_good)
                } else {
                    (ge.loss_good, ge.p_good_to_bad)
                };
                let lost = chance(r[draw::GE_LOSS], loss);
                if chance(r[draw::GE_TRANSITION], p_switch) {
                    self.ge_bad = !self.ge_bad;
                }
                lost
            }
            None => false,
        };

        // 1. Blackholes.
        let offset = now.saturating_duration_since(self.epoch);
        if self
            .config
            .blackholes
            .iter()
            .any(|&(start, end)| start <= offset && offset < end)
        {
            self.stats.dropped_blackhole += 1;
            return;
        }

        // 2. Loss.
        if chance(r[draw::LOSS], self.config.loss) {
            self.stats.lost_random += 1;
            return;
        }
        if bursty_lost {
            self.stats.lost_bursty += 1;
            return;
        }

        // 3. Bottleneck.
        let departure = match self.config.rate_bps {
            None => now,
            Some(rate) => match self.enqueue(now, len + self.config.header_bytes, rate) {
                Some(departure) => departure,
                None => {
                    self.stats.dropped_queue += 1;
                    return;
                }
            },
        };

        // 4. Delay.
        let fifo = self.fifo_delivery(departure, r[draw::JITTER]);
        let at = if chance(r[draw::REORDER], self.config.reorder) {
            self.stats.reordered += 1;
            fifo + self.config.reorder_delay
        } else {
            self.last_fifo = Some(fifo);
            fifo
        };

        // 5. Corruption.
        let mut data = datagram;
        if len > 0 && chance(r[draw::CORRUPT], self.config.corrupt) {
            let position = below(r[draw::CORRUPT_POSITION], len as u64) as usize;
            let xor = 1 + below(r[draw::CORRUPT_XOR], 255) as u8;
            data[position] ^= xor;
            self.stats.corrupted += 1;
        }

        // 6. Duplication.
        let copy = if chance(r[draw::DUPLICATE], self.config.duplicate) {
            self.stats.duplicated += 1;
            Some(data.clone())
        } else {
            None
        };
        self.schedule(at, data);
        if let Some(copy) = copy {
            let copy_at = self.fifo_delivery(departure, r[draw::DUPLICATE_JITTER]);
            self.last_fifo = Some(copy_at);
            self.schedule(copy_at, copy);
        }
    }

    /// Earliest pending delivery time, if any datagram is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.pending.peek().map(|Reverse(p)| p.at)
    }

    /// Returns one datagram whose delivery time is `<= now`, in delivery-time order (ties
    /// in send order), or `None` if none is due.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.poll_deliver_timed(now).map(|(_, data)| data)
    }

    /// Like [`Link::poll_deliver`], also returning the scheduled delivery time of the
    /// datagram (which is `<= now`).
    pub fn poll_deliver_timed(&mut self, now: Instant) -> Option<(Instant, Vec<u8>)> {
        if self.next_delivery()? > now {
            return None;
        }
        let Reverse(p) = self.pending.pop()?;
        self.stats.delivered += 1;
        self.stats.bytes_delivered += p.data.len() as u64;
        Some((p.at, p.data))
    }

    /// Number of datagrams scheduled but not yet delivered (duplicates included).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Number of datagrams queued at the bottleneck at `now` (accepted but not yet fully
    /// serialised). Never exceeds [`LinkConfig::queue_packets`] for datagrams accepted
    /// under that limit.
    pub fn queue_len(&self, now: Instant) -> usize {
        let b = self.bottleneck.lock().unwrap_or_else(|e| e.into_inner());
        // `queue` is sorted by departure time.
        b.queue.len() - b.queue.partition_point(|&d| d <= now)
    }

    /// How long the bottleneck takes at `now` to finish what it has queued (zero when
    /// idle): the queueing delay a datagram sent now would see.
    pub fn queue_delay(&self, now: Instant) -> Duration {
        let b = self.bottleneck.lock().unwrap_or_else(|e| e.into_inner());
        b.busy_until
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    /// From now on this link feeds `other`'s bottleneck queue (see the module docs:
    /// shared bottlenecks). What this link had queued keeps its departure times.
    pub fn share_bottleneck(&mut self, other: &Link) {
        self.bottleneck = other.bottleneck.clone();
    }

    /// Counters since creation.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Current impairments.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The epoch the blackhole offsets are measured from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Replaces the impairments. Datagrams already in flight keep their schedule; the new
    /// configuration applies to datagrams sent afterwards. The bottleneck state (queue,
    /// busy time), the FIFO clamp and the Gilbert–Elliott state carry over.
    pub fn set_config(&mut self, config: LinkConfig) {
        self.config = config;
    }

    /// Admits a datagram of `len` bytes to the bottleneck at `now`; returns its departure
    /// time, or `None` if it is tail-dropped.
    fn enqueue(&mut self, now: Instant, len: usize, rate: u64) -> Option<Instant> {
        let limit = self.config.queue_packets;
        self.bottleneck
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(now, len, rate, limit)
    }

    /// FIFO-clamped delivery time for a datagram departing at `departure`, using one
    /// random word for the jitter. Does not update the clamp.
    fn fifo_delivery(&self, departure: Instant, word: u64) -> Instant {
        let latency = self.config.latency;
        let jitter = nanos(self.config.jitter).min(u64::MAX / 4);
        let delay = if jitter == 0 {
            latency
        } else {
            let offset = below(word, 2 * jitter + 1);
            if offset >= jitter {
                latency + Duration::from_nanos(offset - jitter)
            } else {
                latency.saturating_sub(Duration::from_nanos(jitter - offset))
            }
        };
        let at = departure + delay;
        self.last_fifo.map_or(at, |last| last.max(at))
    }

    fn schedule(&mut self, at: Instant, data: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(Reverse(Pending { at, seq, data }));
    }
}

/// A bottleneck queue: departure times of accepted datagrams and the serialiser's state.
#[derive(Debug, Default)]
struct Bottleneck {
    /// Departure times of datagrams accepted, in order (may contain datagrams that
    /// already departed; pruned on admission).
    queue: VecDeque<Instant>,
    /// When the bottleneck finishes serialising the last accepted datagram.
    busy_until: Option<Instant>,
    /// Sub-nanosecond serialisation remainder, in bit-nanoseconds (`< rate`).
    tx_carry: u128,
}

impl Bottleneck {
    /// Admits a datagram of `len` bytes at `now` at `rate` bits/s with at most `limit`
    /// queued; returns its departure time, or `None` if it is tail-dropped.
    fn admit(&mut self, now: Instant, len: usize, rate: u64, limit: usize) -> Option<Instant> {
        while self.queue.front().is_some_and(|&d| d <= now) {
            self.queue.pop_front();
        }
        if rate == 0 || self.queue.len() >= limit {
            return None;
        }
        let start = self.busy_until.map_or(now, |busy| busy.max(now));
        // Exact serialisation time: carry the sub-nanosecond remainder so that N datagrams
        // take exactly floor(N * bits * 1e9 / rate) ns in total.
        let bit_nanos = len as u128 * 8 * 1_000_000_000 + self.tx_carry;
        let rate = u128::from(rate);
        self.tx_carry = bit_nanos % rate;
        let tx = u64::try_from(bit_nanos / rate).unwrap_or(u64::MAX);
        let departure = start + Duration::from_nanos(tx);
        self.busy_until = Some(departure);
        self.queue.push_back(departure);
        Some(departure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const US: Duration = Duration::from_micros(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// Datagram whose first 8 bytes are `index` (LE), padded to `size` with a pattern.
    fn packet(index: u64, size: usize) -> Vec<u8> {
        let mut data = vec![0u8; size.max(8)];
        data[..8].copy_from_slice(&index.to_le_bytes());
        for (i, byte) in data.iter_mut().enumerate().skip(8) {
            *byte = (index as usize).wrapping_mul(31).wrapping_add(i) as u8;
        }
        data
    }

    fn index_of(data: &[u8]) -> u64 {
        u64::from_le_bytes(data[..8].try_into().unwrap())
    }

    /// A delivered datagram: delivery offset from the epoch and bytes.
    type Delivered = (Duration, Vec<u8>);

    /// Delivers everything due at `now`, with an explicit bound.
    fn drain(link: &mut Link, epoch: Instant, now: Instant, out: &mut Vec<Delivered>) {
        let bound = link.in_flight() + 1;
        for _ in 0..bound {
            match link.poll_deliver_timed(now) {
                Some((at, data)) => {
                    assert!(at <= now);
                    out.push((at - epoch, data));
                }
                None => return,
            }
        }
        panic!("drain did not terminate within {bound} iterations");
    }

    /// Sends `count` datagrams (`make(i)` gives the send offset and bytes), delivering in
    /// between, then delivers everything left. Returns deliveries in order.
    fn run(
        link: &mut Link,
        epoch: Instant,
        count: u64,
        mut make: impl FnMut(u64) -> (Duration, Vec<u8>),
    ) -> Vec<Delivered> {
        let mut out = Vec::new();
        let mut last = Duration::ZERO;
        for i in 0..count {
            let (offset, data) = make(i);
            assert!(offset >= last, "send offsets must be non-decreasing");
            last = offset;
            drain(link, epoch, epoch + offset, &mut out);
            link.send(epoch + offset, data);
        }
        drain(
            link,
            epoch,
            epoch + Duration::from_secs(1_000_000),
            &mut out,
        );
        assert_eq!(link.in_flight(), 0);
        out
    }

    fn assert_within(what: &str, measured: f64, expected: f64, tolerance: f64) {
        println!("{what}: measured {measured:.5}, expected {expected:.5} ± {tolerance}");
        assert!(
            (measured - expected).abs() <= tolerance,
            "{what}: measured {measured}, expected {expected} ± {tolerance}"
        );
    }

    fn full_impairments() -> LinkConfig {
        LinkConfig::ideal(20 * MS)
            .with_jitter(3 * MS)
            .with_loss(0.02)
            .with_bursty_loss(GilbertElliott {
                p_good_to_bad: 0.01,
                p_bad_to_good: 0.3,
                loss_good: 0.001,
                loss_bad: 0.7,
            })
            .with_duplicate(0.03)
            .with_reorder(0.04, 2 * MS)
            .with_corrupt(0.05)
            .with_rate(40_000_000, 8)
            .with_blackhole(300 * MS, 400 * MS)
    }

    #[test]
    fn default_is_ideal_10ms() {
        let config = LinkConfig::default();
        assert_eq!(config.latency, 10 * MS);
        assert_eq!(config.queue_packets, 1000);
        assert_eq!(config, LinkConfig::ideal(10 * MS));
        assert_eq!(config.rate_bps, None);
        assert_eq!(config.loss, 0.0);
    }

    #[test]
    fn determinism_same_seed_same_output() {
        let epoch = Instant::now();
        let sizes = [40usize, 1200, 576, 1350, 8, 300];
        let make = |i: u64| (us(i * 97), packet(i, sizes[i as usize % sizes.len()]));

        let mut a = Link::new(full_impairments(), 42, epoch);
        let mut b = Link::new(full_impairments(), 42, epoch);
        let mut c = Link::new(full_impairments(), 43, epoch);
        let out_a = run(&mut a, epoch, 20_000, make);
        let out_b = run(&mut b, epoch, 20_000, make);
        let out_c = run(&mut c, epoch, 20_000, make);

        assert!(out_a.len() > 10_000);
        assert_eq!(out_a, out_b, "same seed must give identical deliveries");
        assert_eq!(a.stats(), b.stats());
        assert_ne!(
            out_a, out_c,
            "different seeds must give different deliveries"
        );
        assert_ne!(a.stats(), c.stats());
        // Deliveries come out in non-decreasing time order.
        assert!(out_a.windows(2).all(|w| w[0].0 <= w[1].0));
        // Every impairment actually fired.
        let s = a.stats();
        println!("full impairment stats: {s:?}");
        for (name, value) in [
            ("lost_random", s.lost_random),
            ("lost_bursty", s.lost_bursty),
            ("dropped_queue", s.dropped_queue),
            ("dropped_blackhole", s.dropped_blackhole),
            ("duplicated", s.duplicated),
            ("reordered", s.reordered),
            ("corrupted", s.corrupted),
        ] {
            assert!(value > 0, "{name} never happened");
        }
        assert_eq!(s.delivered, out_a.len() as u64);
        assert_eq!(
            s.sent + s.duplicated,
            s.delivered + s.lost_random + s.lost_bursty + s.dropped_queue + s.dropped_blackhole
        );
    }

    #[test]
    fn random_draws_independent_of_poll_pattern() {
        // Polling eagerly or only at the end must not change anything.
        let epoch = Instant::now();
        let config = full_impairments();
        let make = |i: u64| (us(i * 150), packet(i, 700));
        let mut eager = Link::new(config.clone(), 7, epoch);
        let out_eager = run(&mut eager, epoch, 5_000, make);
        let mut lazy = Link::new(config, 7, epoch);
        for i in 0..5_000 {
            let (offset, data) = make(i);
            lazy.send(epoch + offset, data);
        }
        let mut out_lazy = Vec::new();
        drain(
            &mut lazy,
            epoch,
            epoch + Duration::from_secs(100),
            &mut out_lazy,
        );
        assert_eq!(out_eager, out_lazy);
    }

    #[test]
    fn latency_exact_without_jitter() {
        let epoch = Instant::now();
        let latency = 37 * MS + 123 * US;
        let mut link = Link::new(LinkConfig::ideal(latency), 1, epoch);
        let count = 2_000u64;
        let send_offset = |i: u64| Duration::from_nanos(i * 1_234_567 + (i % 7) * 11);
        let mut received = 0u64;
        let mut next_send = 0u64;
        // Event loop driven by `next_delivery`.
        for _ in 0..(3 * count) {
            let send_at = (next_send < count).then(|| epoch + send_offset(next_send));
            match (send_at, link.next_delivery()) {
                (Some(s), Some(d)) if s <= d => {
                    link.send(s, packet(next_send, 100));
                    next_send += 1;
                }
                (Some(s), None) => {
                    link.send(s, packet(next_send, 100));
                    next_send += 1;
                }
                (_, Some(d)) => {
                    let data = link.poll_deliver(d).expect("due datagram");
                    let i = index_of(&data);
                    assert_eq!(i, received, "FIFO order");
                    assert_eq!(d - (epoch + send_offset(i)), latency);
                    assert_eq!(data, packet(i, 100));
                    received += 1;
                }
                (None, None) => break,
            }
        }
        assert_eq!(received, count);
        assert_eq!(link.stats().delivered, count);
        assert_eq!(link.stats().bytes_delivered, count * 100);
    }

    #[test]
    fn not_delivered_before_due() {
        let epoch = Instant::now();
        let mut link = Link::new(LinkConfig::ideal(10 * MS), 1, epoch);
        link.send(epoch, vec![1]);
        assert_eq!(link.next_delivery(), Some(epoch + 10 * MS));
        assert!(
            link.poll_deliver(epoch + 10 * MS - Duration::from_nanos(1))
                .is_none()
        );
        assert_eq!(link.in_flight(), 1);
        assert_eq!(link.poll_deliver(epoch + 10 * MS), Some(vec![1]));
        assert_eq!(link.in_flight(), 0);
        assert_eq!(link.next_delivery(), None);
    }

    #[test]
    fn ties_delivered_in_send_order() {
        let epoch = Instant::now();
        let mut link = Link::new(LinkConfig::ideal(Duration::ZERO), 1, epoch);
        for i in 0..100u64 {
            link.send(epoch + MS, packet(i, 10));
        }
        let out = run(&mut link, epoch, 0, |_| unreachable!());
        let order: Vec<u64> = out.iter().map(|(_, d)| index_of(d)).collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
        assert!(out.iter().all(|(t, _)| *t == MS));
    }

    #[test]
    fn jitter_sparse_is_uniform_within_bounds() {
        // Sends far apart (> 2 * jitter): no FIFO clamping, the delay is the raw draw.
        let epoch = Instant::now();
        let (latency, jitter) = (20 * MS, 5 * MS);
        let mut link = Link::new(LinkConfig::ideal(latency).with_jitter(jitter), 3, epoch);
        let count = 20_000u64;
        let out = run(&mut link, epoch, count, |i| (ms(i * 11), packet(i, 50)));
        assert_eq!(out.len() as u64, count);
        let delays: Vec<f64> = out
            .iter()
            .map(|(t, d)| (*t - ms(index_of(d) * 11)).as_secs_f64() * 1e3)
            .collect();
        let min = delays.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = delays.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mean = delays.iter().sum::<f64>() / count as f64;
        println!("sparse jitter delay ms: min {min:.4} mean {mean:.4} max {max:.4}");
        assert!(min >= 15.0 && max <= 25.0);
        assert!(min < 15.05 && max > 24.95, "jitter must span its range");
        assert_within("mean jitter delay (ms)", mean, 20.0, 0.1);
        // Roughly uniform: each 1 ms bucket holds ~10%.
        let mut buckets = [0u64; 10];
        for d in &delays {
            buckets[((d - 15.0).floor() as usize).min(9)] += 1;
        }
        for b in buckets {
            assert_within("jitter bucket share", b as f64 / count as f64, 0.1, 0.01);
        }
    }

    #[test]
    fn jitter_dense_stays_fifo_and_within_bounds() {
        let epoch = Instant::now();
        let (latency, jitter) = (20 * MS, 5 * MS);
        let mut link = Link::new(LinkConfig::ideal(latency).with_jitter(jitter), 4, epoch);
        let count = 50_000u64;
        let out = run(&mut link, epoch, count, |i| (us(i * 100), packet(i, 50)));
        assert_eq!(out.len() as u64, count);
        let mut distinct = std::collections::BTreeSet::new();
        for (k, (t, d)) in out.iter().enumerate() {
            let i = index_of(d);
            assert_eq!(i, k as u64, "jitter alone must not reorder");
            let delay = *t - us(i * 100);
            assert!(
                delay >= latency - jitter && delay <= latency + jitter,
                "{delay:?}"
            );
            distinct.insert(delay);
        }
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(distinct.len() > 1000, "delays must vary");
    }

    /// Runs a saturated 50 Mbit/s link for 2 s with 1200-byte datagrams offered every
    /// 100 µs (96 Mbit/s) and returns (deliveries, link).
    fn saturated_50mbps(queue: usize) -> (Vec<Delivered>, Link) {
        let epoch = Instant::now();
        let config = LinkConfig::ideal(10 * MS).with_rate(50_000_000, queue);
        let mut link = Link::new(config, 5, epoch);
        let mut out = Vec::new();
        let count = 20_000u64;
        for i in 0..count {
            let now = epoch + us(i * 100);
            drain(&mut link, epoch, now, &mut out);
            link.send(now, packet(i, 1200));
            assert!(link.queue_len(now) <= queue, "queue bound exceeded");
        }
        drain(
            &mut link,
            epoch,
            epoch + Duration::from_secs(3600),
            &mut out,
        );
        (out, link)
    }

    /// Delivered throughput in bit/s over the 2 s window following the first arrival
    /// opportunity (latency .. latency + 2 s).
    fn throughput_2s(out: &[Delivered]) -> f64 {
        let bytes: usize = out
            .iter()
            .filter(|(t, _)| *t >= 10 * MS && *t < 10 * MS + Duration::from_secs(2))
            .map(|(_, d)| d.len())
            .sum();
        bytes as f64 * 8.0 / 2.0
    }

    #[test]
    fn rate_accuracy_large_queue() {
        let (out, link) = saturated_50mbps(100_000);
        let s = link.stats();
        assert_eq!(s.dropped_queue, 0);
        assert_eq!(out.len(), 20_000);
        let rate = throughput_2s(&out);
        assert_within("50M large-queue throughput (Mbit/s)", rate / 1e6, 50.0, 0.5);
        // Back-to-back departures are exactly one serialisation time (192 µs) apart.
        assert!(out.windows(2).all(|w| w[1].0 - w[0].0 == 192 * US));
        assert_eq!(out[0].0, 10 * MS + 192 * US);
    }

    #[test]
    fn rate_accuracy_small_queue_tail_drops() {
        let queue = 16;
        let (out, link) = saturated_50mbps(queue);
        let s = link.stats();
        println!(
            "small queue: delivered {} dropped {}",
            out.len(),
            s.dropped_queue
        );
        assert!(
            s.dropped_queue > 9_000,
            "tail drops expected: {}",
            s.dropped_queue
        );
        assert_eq!(s.sent, out.len() as u64 + s.dropped_queue);
        let rate = throughput_2s(&out);
        assert_within("50M small-queue throughput (Mbit/s)", rate / 1e6, 50.0, 0.5);
        // Queueing delay is bounded by the queue: at most queue * 192 µs + latency.
        for (t, d) in &out {
            let delay = *t - us(index_of(d) * 100);
            assert!(delay <= 10 * MS + queue as u32 * 192 * US, "{delay:?}");
        }
    }

    #[test]
    fn rate_serialisation_has_no_rounding_drift() {
        // 1 byte at 3 Mbit/s = 2666.67 ns: N datagrams must take floor(N * 8e9 / 3e6) ns.
        let epoch = Instant::now();
        let mut link = Link::new(
            LinkConfig::ideal(Duration::ZERO).with_rate(3_000_000, 10_000),
            1,
            epoch,
        );
        for _ in 0..1000 {
            link.send(epoch, vec![0]);
        }
        let out = run(&mut link, epoch, 0, |_| unreachable!());
        assert_eq!(out.len(), 1000);
        assert_eq!(out[999].0, Duration::from_nanos(2_666_666));
        assert_eq!(out[2].0, Duration::from_nanos(8_000));
    }

    #[test]
    fn queue_bound_and_exact_tail_drops() {
        // 1000-byte datagrams at 1 Mbit/s take 8 ms; bursts of 20 every 50 ms into a
        // 5-datagram queue: 5 accepted (drained in 40 ms) and 15 dropped per burst.
        let epoch = Instant::now();
        let queue = 5;
        let mut link = Link::new(LinkConfig::ideal(MS).with_rate(1_000_000, queue), 9, epoch);
        let mut out = Vec::new();
        let bursts = 100u64;
        for b in 0..bursts {
            let now = epoch + ms(b * 50);
            drain(&mut link, epoch, now, &mut out);
            assert_eq!(link.queue_len(now), 0);
            for j in 0..20 {
                link.send(now, packet(b * 20 + j, 1000));
                assert!(link.queue_len(now) <= queue);
                assert!(link.in_flight() <= queue);
            }
            assert_eq!(link.queue_len(now), queue);
            assert_eq!(link.queue_len(now + 8 * MS), queue - 1);
        }
        drain(
            &mut link,
            epoch,
            epoch + Duration::from_secs(3600),
            &mut out,
        );
        let s = link.stats();
        assert_eq!(s.dropped_queue, bursts * 15);
        assert_eq!(out.len() as u64, bursts * 5);
        // The first five of each burst are the survivors (tail drop).
        for (k, (_, d)) in out.iter().enumerate() {
            let k = k as u64;
            assert_eq!(index_of(d), (k / 5) * 20 + k % 5);
        }
    }

    #[test]
    fn zero_rate_drops_everything() {
        let epoch = Instant::now();
        let mut link = Link::new(LinkConfig::ideal(MS).with_rate(0, 10), 1, epoch);
        let out = run(&mut link, epoch, 100, |i| (ms(i), packet(i, 100)));
        assert!(out.is_empty());
        assert_eq!(link.stats().dropped_queue, 100);
    }

    #[test]
    fn random_loss_rate() {
        let epoch = Instant::now();
        let mut link = Link::new(LinkConfig::ideal(MS).with_loss(0.10), 11, epoch);
        let count = 100_000u64;
        let out = run(&mut link, epoch, count, |i| (us(i * 10), packet(i, 20)));
        let lost = count - out.len() as u64;
        assert_eq!(link.stats().lost_random, lost);
        assert_within("random loss", lost as f64 / count as f64, 0.10, 0.01);
    }

    /// Lengths of runs of consecutive missing indices in `0..count`.
    fn loss_bursts(out: &[Delivered], count: u64) -> Vec<u64> {
        let mut received = vec![false; count as usize];
        for (_, d) in out {
            received[index_of(d) as usize] = true;
        }
        let mut bursts = Vec::new();
        let mut run_len = 0u64;
        for r in received {
            if r {
                if run_len > 0 {
                    bursts.push(run_len);
                }
                run_len = 0;
            } else {
                run_len += 1;
            }
        }
        if run_len > 0 {
            bursts.push(run_len);
        }
        bursts
    }

    #[test]
    fn gilbert_elliott_produces_bursts() {
        let epoch = Instant::now();
        let model = GilbertElliott::gilbert(0.01, 0.2);
        let mut link = Link::new(LinkConfig::ideal(MS).with_bursty_loss(model), 12, epoch);
        let count = 200_000u64;
        let out = run(&mut link, epoch, count, |i| (us(i * 10), packet(i, 20)));
        let lost = count - out.len() as u64;
        assert_eq!(link.stats().lost_bursty, lost);
        assert_eq!(link.stats().lost_random, 0);
        let bursts = loss_bursts(&out, count);
        let mean_burst = lost as f64 / bursts.len() as f64;
        println!(
            "GE: {} bursts, max burst {}",
            bursts.len(),
            bursts.iter().max().unwrap()
        );
        assert_within("GE mean burst length", mean_burst, 1.0 / 0.2, 0.5);
        assert_within(
            "GE loss rate",
            lost as f64 / count as f64,
            model.mean_loss(),
            0.01,
        );

        // Independent loss at the same average rate has much shorter bursts.
        let mut iid = Link::new(
            LinkConfig::ideal(MS).with_loss(model.mean_loss()),
            12,
            epoch,
        );
        let out = run(&mut iid, epoch, count, |i| (us(i * 10), packet(i, 20)));
        let lost = count - out.len() as u64;
        let iid_burst = lost as f64 / loss_bursts(&out, count).len() as f64;
        println!("iid mean burst length at the same loss rate: {iid_burst:.3}");
        assert!(iid_burst < 1.2 && mean_burst > 3.0 * iid_burst);
    }

    #[test]
    fn duplication_rate() {
        let epoch = Instant::now();
        let config = LinkConfig::ideal(5 * MS)
            .with_jitter(MS)
            .with_duplicate(0.05);
        let mut link = Link::new(config, 13, epoch);
        let count = 100_000u64;
        let out = run(&mut link, epoch, count, |i| (us(i * 10), packet(i, 64)));
        let mut copies = vec![0u8; count as usize];
        for (_, d) in &out {
            let i = index_of(d);
            assert_eq!(*d, packet(i, 64), "copies are byte-identical");
            copies[i as usize] += 1;
        }
        assert!(copies.iter().all(|&c| c == 1 || c == 2));
        let dups = copies.iter().filter(|&&c| c == 2).count() as u64;
        assert_eq!(dups, link.stats().duplicated);
        assert_eq!(out.len() as u64, count + dups);
        assert_within("duplication", dups as f64 / count as f64, 0.05, 0.01);
    }

    #[test]
    fn reordering_rate_and_out_of_order_arrival() {
        let epoch = Instant::now();
        let config = LinkConfig::ideal(5 * MS)
            .with_jitter(200 * US)
            .with_reorder(0.05, MS);
        let mut link = Link::new(config, 14, epoch);
        let count = 100_000u64;
        let out = run(&mut link, epoch, count, |i| (us(i * 10), packet(i, 64)));
        assert_eq!(out.len() as u64, count);
        let reordered = link.stats().reordered;
        assert_within(
            "reorder decisions",
            reordered as f64 / count as f64,
            0.05,
            0.01,
        );
        // Count arrivals overtaken by a later datagram.
        let mut max_seen = None;
        let mut late = 0u64;
        for (_, d) in &out {
            let i = index_of(d);
            if max_seen.is_some_and(|m| i < m) {
                late += 1;
            }
            max_seen = Some(max_seen.map_or(i, |m: u64| m.max(i)));
        }
        assert_within(
            "out-of-order arrivals",
            late as f64 / count as f64,
            0.05,
            0.01,
        );
        assert!(late > 0 && late <= reordered);
    }

    #[test]
    fn corruption_rate_single_byte() {
        let epoch = Instant::now();
        let mut link = Link::new(LinkConfig::ideal(MS).with_corrupt(0.03), 15, epoch);
        let count = 100_000u64;
        let out = run(&mut link, epoch, count, |i| (us(i * 10), packet(i, 64)));
        assert_eq!(out.len() as u64, count);
        let mut corrupted = 0u64;
        let mut positions = std::collections::BTreeSet::new();
        for (k, (_, d)) in out.iter().enumerate() {
            // No other impairment: arrival order is send order.
            let original = packet(k as u64, 64);
            assert_eq!(d.len(), original.len());
            let diffs: Vec<usize> = (0..d.len()).filter(|&j| d[j] != original[j]).collect();
            assert!(diffs.len() <= 1, "at most one byte changes");
            if let Some(&j) = diffs.first() {
                corrupted += 1;
                positions.insert(j);
            }
        }
        assert_eq!(corrupted, link.stats().corrupted);
        assert_eq!(positions.len(), 64, "every byte position can be hit");
        assert_within("corruption", corrupted as f64 / count as f64, 0.03, 0.01);
    }

    #[test]
    fn corruption_never_touches_empty_datagrams() {
        let epoch = Instant::now();
        let mut link = Link::new(LinkConfig::ideal(MS).with_corrupt(1.0), 1, epoch);
        let out = run(&mut link, epoch, 100, |i| (ms(i), Vec::new()));
        assert_eq!(out.len(), 100);
        assert_eq!(link.stats().corrupted, 0);
    }

    #[test]
    fn blackhole_drops_only_inside_window() {
        let epoch = Instant::now();
        let windows = [(100 * MS, 200 * MS), (300 * MS, 350 * MS)];
        let config = LinkConfig::ideal(10 * MS)
            .with_blackhole(windows[0].0, windows[0].1)
            .with_blackhole(windows[1].0, windows[1].1);
        let mut link = Link::new(config, 16, epoch);
        let count = 500u64;
        let out = run(&mut link, epoch, count, |i| (ms(i), packet(i, 100)));
        let received: std::collections::BTreeSet<u64> =
            out.iter().map(|(_, d)| index_of(d)).collect();
        let mut dropped = 0;
        for i in 0..count {
            let sent = ms(i);
            let inside = windows.iter().any(|&(s, e)| s <= sent && sent < e);
            assert_eq!(received.contains(&i), !inside, "datagram sent at {sent:?}");
            dropped += u64::from(inside);
        }
        assert_eq!(dropped, 150);
        assert_eq!(link.stats().dropped_blackhole, 150);
        // In flight when the blackhole starts: sent at 99 ms, arrives at 109 ms.
        assert!(out.iter().any(|(t, d)| index_of(d) == 99 && *t == 109 * MS));
    }

    #[test]
    fn set_config_affects_later_datagrams() {
        let epoch = Instant::now();
        let mut link = Link::new(LinkConfig::ideal(10 * MS), 17, epoch);
        let mut out = Vec::new();
        // Phase 1: ideal, 10 ms.
        for i in 0..100u64 {
            link.send(epoch + ms(i), packet(i, 10));
        }
        // Phase 2: everything lost; phase-1 datagrams in flight keep their schedule.
        link.set_config(LinkConfig::ideal(10 * MS).with_loss(1.0));
        assert_eq!(link.config().loss, 1.0);
        for i in 100..200u64 {
            drain(&mut link, epoch, epoch + ms(i), &mut out);
            link.send(epoch + ms(i), packet(i, 10));
        }
        // Phase 3: 50 ms latency.
        link.set_config(LinkConfig::ideal(50 * MS));
        for i in 200..300u64 {
            drain(&mut link, epoch, epoch + ms(i), &mut out);
            link.send(epoch + ms(i), packet(i, 10));
        }
        drain(&mut link, epoch, epoch + Duration::from_secs(10), &mut out);
        assert_eq!(link.stats().lost_random, 100);
        assert_eq!(out.len(), 200);
        for (t, d) in &out {
            let i = index_of(d);
            let expected = if i < 100 { 10 * MS } else { 50 * MS };
            assert!(!(100..200).contains(&i));
            assert_eq!(*t - ms(i), expected, "datagram {i}");
        }
    }
}
