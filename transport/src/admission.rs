//! What a listener keeps about dialers before and after they prove themselves: the
//! half-open responder connections (an `IK` initiation authenticates the dialer's key,
//! not its address), per-address counts of half-open and established connections, and
//! the last initiation timestamp per dialer identity (replay protection). Every table is
//! bounded; addresses are counted per IPv4 address and per IPv6 /64 (one host usually
//! has a whole /64).
//!
//! Contract: the endpoint asks [`Admission::admit`] before creating a responder
//! connection, calls [`Admission::on_created`] after, [`Admission::on_proven`] when the
//! dialer's first authenticated packet arrived, and [`Admission::on_removed`] when the
//! connection is forgotten.

use crate::endpoint::ConnectionHandle;
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// An address as admission counts it: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddrKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl AddrKey {
    /// The key of `ip` (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::V4(a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => {
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&a.octets()[..8]);
                    Self::V6(p)
                }
            },
        }
    }
}

/// Limits of admission (from the endpoint's configuration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdmissionLimits {
    pub max_half_open: usize,
    pub max_half_open_per_address: u32,
    pub max_per_address: u32,
}

/// What [`Admission::admit`] decided for a new dialer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Create the connection; `proven` when its address is already proven (a valid
    /// cookie), so it is established at once.
    Create { proven: bool },
    /// The half-open quota (overall or for this address) is full: ask for a cookie
    /// (Retry) first, statelessly.
    Retry,
    /// This address already has its maximum of connections: refuse.
    Refuse,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    half_open: u32,
    established: u32,
}

/// The listener's admission state.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: AdmissionLimits,
    /// Responder connections whose dialer has not proven its address yet.
    half_open: HashMap<ConnectionHandle, AddrKey>,
    /// Established responder connections, by address.
    established: HashMap<ConnectionHandle, AddrKey>,
    per_address: HashMap<AddrKey, Counts>,
    peak_half_open: usize,
}

impl Admission {
    pub(crate) fn new(limits: AdmissionLimits) -> Self {
        Self {
            limits,
            half_open: HashMap::default(),
            established: HashMap::default(),
            per_address: HashMap::default(),
            peak_half_open: 0,
        }
    }

    /// Whether a new dialer from `remote` may get a connection now; `cookie` says
    /// whether its Initial carried a valid cookie (its address is proven).
    pub(crate) fn admit(&self, remote: SocketAddr, cookie: bool) -> Admit {
        let c = self
            .per_address
            .get(&AddrKey::of(remote.ip()))
            .copied()
            .unwrap_or_default();
        if c.half_open + c.established >= self.limits.max_per_address {
            return Admit::Refuse;
        }
        if cookie {
            return Admit::Create { proven: true };
        }
        if self.half_open.len() >= self.limits.max_half_open
            || c.half_open >= self.limits.max_half_open_per_address
        {
            return Admit::Retry;
        }
        Admit::Create { proven: false }
    }

    /// A responder connection was created for a dialer at `remote`.
    pub(crate) fn on_created(&mut self, h: ConnectionHandle, remote: SocketAddr, proven: bool) {
        let key = AddrKey::of(remote.ip());
        let c = self.per_address.entry(key).or_default();
        if proven {
            c.established += 1;
            self.established.insert(h, key);
        } else {
            c.half_open += 1;
            self.half_open.insert(h, key);
            self.peak_half_open = self.peak_half_open.max(self.half_open.len());
        }
    }

    /// The dialer of half-open connection `h` proved its address.
    pub(crate) fn on_proven(&mut self, h: ConnectionHandle) {
        let Some(key) = self.half_open.remove(&h) else {
            return;
        };
        let c = self.per_address.entry(key).or_default();
        c.half_open -= 1;
        c.established += 1;
        self.established.insert(h, key);
    }

    /// Connection `h` was forgotten.
    pub(crate) fn on_removed(&mut self, h: ConnectionHandle) {
        let (key, half) = match (self.half_open.remove(&h), self.established.remove(&h)) {
            (Some(k), _) => (k, true),
            (None, Some(k)) => (k, false),
            (None, None) => return,
        };
        if let Some(c) = self.per_address.get_mut(&key) {
            if half {
                c.half_open -= 1;
            } else {
                c.established -= 1;
            }
            if c.half_open == 0 && c.established == 0 {
                self.per_address.remove(&key);
            }
        }
    }

    /// Whether `h` is a half-open responder connection.
    pub(crate) fn is_half_open(&self, h: ConnectionHandle) -> bool {
        self.half_open.contains_key(&h)
    }

    /// Half-open responder connections now.
    pub(crate) fn half_open(&self) -> usize {
        self.half_open.len()
    }

    /// The most half-open connections held at once.
    pub(crate) fn peak_half_open(&self) -> usize {
        self.peak_half_open
    }
}

/// The last initiation timestamp of each dialer identity, bounded: when full, the
/// entries recorded longest ago go first, one at a time (never the whole table at once).
/// A flood of fresh keys can still evict an identity and so let a recorded initiation of
/// it through here; that initiation only makes a half-open connection (its sender has
/// no session keys to prove it), which never replaces an established one and expires.
/// (No floor of evicted timestamps: the dialers choose their timestamps, so a floor
/// could be pushed to the far future and lock every new identity out.)
#[derive(Debug)]
pub(crate) struct Initiations {
    capacity: usize,
    last: HashMap<[u8; 32], u64>,
    /// (identity, timestamp) in the order they were recorded; stale pairs (the identity
    /// was recorded again later) are skipped when evicting.
    order: VecDeque<([u8; 32], u64)>,
}

impl Initiations {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            last: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Records an authenticated initiation of `id` at `ts`; false when it is not newer
    /// than the last one of `id` remembered.
    pub(crate) fn fresh(&mut self, id: [u8; 32], ts: u64) -> bool {
        if self.last.get(&id).is_some_and(|&last| ts <= last) {
            return false;
        }
        if !self.last.contains_key(&id) {
            self.evict_to(self.capacity - 1);
        }
        self.last.insert(id, ts);
        self.order.push_back((id, ts));
        // Stale pairs are bounded too: at most one per live entry beyond the table.
        if self.order.len() > 2 * self.capacity {
            self.compact();
        }
        true
    }

    /// Evicts the longest-unrecorded identities until at most `keep` remain.
    fn evict_to(&mut self, keep: usize) {
        while self.last.len() > keep {
            let Some((id, ts)) = self.order.pop_front() else {
                break;
            };
            if self.last.get(&id) == Some(&ts) {
                self.last.remove(&id);
            }
        }
    }

    fn compact(&mut self) {
        let last = &self.last;
        self.order.retain(|(id, ts)| last.get(id) == Some(ts));
    }

    /// Identities remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_counts_per_slash_64() {
        assert_eq!(
            AddrKey::of(sa("[2001:db8:1:2:aaaa::1]:1").ip()),
            AddrKey::of(sa("[2001:db8:1:2:bbbb::9]:2").ip())
        );
        assert_ne!(
            AddrKey::of(sa("[2001:db8:1:2::1]:1").ip()),
            AddrKey::of(sa("[2001:db8:1:3::1]:1").ip())
        );
        assert_eq!(
            AddrKey::of(sa("[::ffff:10.0.0.1]:1").ip()),
            AddrKey::of(sa("10.0.0.1:1").ip())
        );
    }

    #[test]
    fn half_open_quota_then_retry_then_refuse() {
        let mut a = Admission::new(AdmissionLimits {
            max_half_open: 3,
            max_half_open_per_address: 2,
            max_per_address: 4,
        });
        let x = sa("10.0.0.1:1");
        assert_eq!(a.admit(x, false), Admit::Create { proven: false });
        a.on_created(ConnectionHandle(1), x, false);
        a.on_created(ConnectionHandle(2), x, false);
        assert_eq!(
            a.admit(x, false),
            Admit::Retry,
            "per-address half-open quota"
        );
        assert_eq!(
            a.admit(x, true),
            Admit::Create { proven: true },
            "a cookie proves it"
        );
        a.on_created(ConnectionHandle(3), sa("10.0.0.2:1"), false);
        assert_eq!(
            a.admit(sa("10.0.0.3:1"), false),
            Admit::Retry,
            "overall quota"
        );
        a.on_proven(ConnectionHandle(1));
        assert_eq!(a.half_open(), 2);
        a.on_created(ConnectionHandle(4), x, true);
        a.on_created(ConnectionHandle(5), x, true);
        assert_eq!(
            a.admit(x, true),
            Admit::Refuse,
            "4 connections from one address"
        );
        for h in 1..=5 {
            a.on_removed(ConnectionHandle(h));
        }
        assert!(a.per_address.is_empty() && a.half_open.is_empty() && a.established.is_empty());
        assert_eq!(a.peak_half_open(), 3);
    }

    #[test]
    fn eviction_takes_the_oldest_entries_one_at_a_time() {
        let mut t = Initiations::new(4);
        let id = |i: u32| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            id
        };
        assert!(t.fresh(id(0), 100));
        assert!(!t.fresh(id(0), 100), "replay");
        for i in 1..4 {
            assert!(t.fresh(id(i), 100));
        }
        // Re-recording 0 makes 1 the oldest: a new identity evicts 1 only.
        assert!(t.fresh(id(0), 101));
        assert!(t.fresh(id(9), 1));
        assert_eq!(t.len(), 4);
        assert!(!t.fresh(id(0), 101), "0 is still remembered");
        assert!(t.fresh(id(1), 1), "1 was evicted");
        for i in 100..10_000 {
            assert!(t.fresh(id(i), 7));
            assert!(t.len() <= 4);
            assert!(t.order.len() <= 8, "stale pairs bounded");
        }
    }
}
