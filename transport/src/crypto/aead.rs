//! Packet protection with ChaCha20-Poly1305 and key updates.
//!
//! - **Nonce**: 96 bits = path id (32 bits, big-endian) ‖ packet number (64 bits,
//!   big-endian). Packet numbers never repeat within a path and path ids are never
//!   reused on a connection, and every key update changes the key, so a (key, nonce) pair
//!   is never used twice.
//! - **Associated data**: the packet header, so every header bit is authenticated.
//! - **Key update** (in the style of RFC 9001 §6): the header's key-phase bit says which
//!   generation of keys protects a packet. Generation `n+1` is `REKEY(k_n)` from the
//!   Noise specification (§11.3, [`crate::noise::rekey`]). Either side may start an update once the peer has
//!   answered the previous one; the receiver follows a flipped phase once a packet
//!   decrypts with the next key, and answers by updating its own sending key. The
//!   previous receive key is kept for packets reordered across the update.
//! - **Re-handshake**: a fresh Diffie-Hellman secret agreed over the connection can be
//!   mixed into one future generation `g` of both directions
//!   ([`PacketProtection::mix_secret`]): generation `g` is then
//!   `BLAKE3-derive_key("netchan 2026 re-handshake", k_{g-1} ‖ secret)` instead of
//!   `REKEY(k_{g-1})`, so keys from `g` on cannot be computed from earlier ones.
//! - **Integrity limit**: [`AeadProtection::auth_failures`] counts forgeries; the
//!   connection closes past [`INTEGRITY_LIMIT`].

use super::{CryptoError, PacketProtection};
use chacha20poly1305::aead::{AeadInOut, KeyInit};

use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use zeroize::Zeroizing;

/// Tag length of ChaCha20-Poly1305.
pub const TAG_LEN: usize = 16;
/// Forged packets tolerated before the connection must close (ChaCha20-Poly1305's
/// integrity limit, RFC 9001 §6.6: 2^36).
pub const INTEGRITY_LIMIT: u64 = 1 << 36;

fn nonce(path_id: u64, packet_number: u64) -> Option<Nonce> {
    let path = u32::try_from(path_id).ok()?;
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&path.to_be_bytes());
    n[4..].copy_from_slice(&packet_number.to_be_bytes());
    Some(Nonce::from(n))
}

/// Paths whose phase start is remembered (twice the most paths a connection holds).
const MAX_PHASE_STARTS: usize = 2 * crate::config::MAX_PATHS as usize;

/// One generation of a direction's key.
struct Generation {
    key: Zeroizing<[u8; 32]>,
    cipher: ChaCha20Poly1305,
}

impl Generation {
    fn new(key: Zeroizing<[u8; 32]>) -> Self {
        let cipher = ChaCha20Poly1305::new((&*key).into());
        Self { key, cipher }
    }
    fn next(&self) -> Self {
        Self::new(Zeroizing::new(crate::noise::rekey(&self.key)))
    }
    /// The next generation with a re-handshake's secret mixed in.
    fn mixed(&self, secret: &[u8; 32]) -> Self {
        let mut h = blake3::Hasher::new_derive_key(REHANDSHAKE_CONTEXT);
        h.update(&*self.key);
        h.update(secret);
        Self::new(Zeroizing::new(*h.finalize().as_bytes()))
    }
}

/// BLAKE3 key-derivation context of a re-handshake's generation.
pub const REHANDSHAKE_CONTEXT: &str = "netchan 2026 re-handshake";

/// ChaCha20-Poly1305 protection of one connection, both directions.
pub struct AeadProtection {
    send: Generation,
    send_phase: bool,
    recv: Generation,
    recv_phase: bool,
    /// `REKEY(recv)`, ready for the peer's next update.
    recv_next: Generation,
    /// The receive key before the last update, for reordered packets.
    recv_previous: Option<Generation>,
    /// First packet number received in the current receive phase, per path (each path
    /// numbers its packets on its own); at most [`MAX_PHASE_STARTS`] paths.
    recv_phase_start: Vec<(u64, u64)>,
    auth_failures: u64,
    updates: u64,
    /// Generations reached: the first is 0, each update adds one.
    send_gen: u64,
    recv_gen: u64,
    /// A re-handshake's secret and the generation it goes into; dropped (zeroized) once
    /// both directions are past it.
    mix: Option<(u64, Zeroizing<[u8; 32]>)>,
}

impl std::fmt::Debug for AeadProtection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AeadProtection")
            .field("keys", &"<redacted>")
            .field("send_phase", &self.send_phase)
            .field("recv_phase", &self.recv_phase)
            .field("auth_failures", &self.auth_failures)
            .field("updates", &self.updates)
            .finish()
    }
}

impl AeadProtection {
    /// Protection from the two transport keys of a finished handshake.
    pub fn new(send_key: [u8; 32], recv_key: [u8; 32]) -> Self {
        let recv = Generation::new(Zeroizing::new(recv_key));
        let recv_next = recv.next();
        Self {
            send: Generation::new(Zeroizing::new(send_key)),
            send_phase: false,
            recv,
            recv_phase: false,
            recv_next,
            recv_previous: None,
            recv_phase_start: Vec::new(),
            auth_failures: 0,
            updates: 0,
            send_gen: 0,
            recv_gen: 0,
            mix: None,
        }
    }

    /// Generation `to` derived from `from` (its predecessor).
    fn derive(&self, from: &Generation, to: u64) -> Generation {
        match &self.mix {
            Some((g, secret)) if *g == to => from.mixed(secret),
            _ => from.next(),
        }
    }

    fn next_send(&mut self) {
        self.send_gen += 1;
        self.send = self.derive(&self.send, self.send_gen);
        self.updates += 1;
        self.forget_mix();
    }

    fn forget_mix(&mut self) {
        if self
            .mix
            .as_ref()
            .is_some_and(|(g, _)| self.send_gen >= *g && self.recv_gen >= *g)
        {
            self.mix = None;
        }
    }

    /// Packets that failed authentication so far.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures
    }

    fn phase_start(&self, path_id: u64) -> Option<u64> {
        self.recv_phase_start
            .iter()
            .find(|(p, _)| *p == path_id)
            .map(|&(_, pn)| pn)
    }

    fn set_phase_start(&mut self, path_id: u64, pn: u64) {
        if let Some(e) = self
            .recv_phase_start
            .iter_mut()
            .find(|(p, _)| *p == path_id)
        {
            e.1 = pn;
            return;
        }
        if self.recv_phase_start.len() >= MAX_PHASE_STARTS {
            self.recv_phase_start.remove(0);
        }
        self.recv_phase_start.push((path_id, pn));
    }

    fn try_open(
        cipher: &ChaCha20Poly1305,
        nonce: &Nonce,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let split = payload
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::Authentication)?;
        let (body, tag) = payload.split_at_mut(split);
        let tag = Tag::try_from(&*tag).map_err(|_| CryptoError::Authentication)?;
        cipher
            .decrypt_inout_detached(nonce, header, body.into(), &tag)
            .map_err(|_| CryptoError::Authentication)?;
        Ok(split)
    }

    /// Decryption leaves `payload` unchanged when it fails, but the cipher works in
    /// place: keep a copy to retry with another generation.
    fn open_with(
        &self,
        which: Which,
        nonce: &Nonce,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let cipher = match which {
            Which::Current => &self.recv.cipher,
            Which::Next => &self.recv_next.cipher,
            Which::Previous => match &self.recv_previous {
                Some(g) => &g.cipher,
                None => return Err(CryptoError::Authentication),
            },
        };
        Self::try_open(cipher, nonce, header, payload)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Current,
    Next,
    Previous,
}

impl PacketProtection for AeadProtection {
    fn tag_len(&self) -> usize {
        TAG_LEN
    }

    fn key_phase(&self) -> bool {
        self.send_phase
    }

    fn seal(
        &mut self,
        path_id: u64,
        packet_number: u64,
        buf: &mut Vec<u8>,
        start: usize,
        header_len: usize,
    ) {
        let start = start.min(buf.len());
        let header_len = header_len.min(buf.len() - start);
        let packet = &mut buf[start..];
        let Some(nonce) = nonce(path_id, packet_number) else {
            // Never send plaintext: blank the payload and append a tag that cannot verify.
            debug_assert!(false, "path id beyond 32 bits");
            packet[header_len..].fill(0);
            buf.extend_from_slice(&[0; TAG_LEN]);
            return;
        };
        let (header, body) = packet.split_at_mut(header_len);
        // Cannot fail: packets are far below ChaCha20-Poly1305's message size limit.
        let tag = self
            .send
            .cipher
            .encrypt_inout_detached(&nonce, header, body.into())
            .expect("packet-sized encryption cannot fail");
        buf.extend_from_slice(&tag);
    }

    fn open(
        &mut self,
        path_id: u64,
        packet_number: u64,
        key_phase: bool,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let Some(nonce) = nonce(path_id, packet_number) else {
            self.auth_failures += 1;
            return Err(CryptoError::Authentication);
        };
        let start = self.phase_start(path_id);
        let which = if key_phase == self.recv_phase {
            Which::Current
        } else if start.is_some_and(|start| packet_number < start) {
            Which::Previous
        } else {
            Which::Next
        };
        // A failed attempt leaves the payload as it was. A packet is tried with one
        // generation, except one of the other phase on a path that has not carried a
        // packet of the current phase yet: it is the peer's next phase or, reordered
        // across paths, its previous one; the next key is tried first, then the previous.
        let mut result = self.open_with(which, &nonce, header, payload);
        let mut which = which;
        if result.is_err()
            && which == Which::Next
            && start.is_none()
            && self.recv_previous.is_some()
        {
            which = Which::Previous;
            result = self.open_with(which, &nonce, header, payload);
        }
        match result {
            Err(e) => {
                self.auth_failures += 1;
                Err(e)
            }
            Ok(len) => {
                match which {
                    Which::Current => {
                        if start.is_none_or(|s| packet_number < s) {
                            self.set_phase_start(path_id, packet_number);
                        }
                    }
                    Which::Previous => {}
                    Which::Next => {
                        // The peer updated: rotate receive keys and answer with ours.
                        self.recv_gen += 1;
                        let next_next = self.derive(&self.recv_next, self.recv_gen + 1);
                        let old = std::mem::replace(&mut self.recv_next, next_next);
                        self.recv_previous = Some(std::mem::replace(&mut self.recv, old));
                        self.recv_phase = !self.recv_phase;
                        self.recv_phase_start.clear();
                        self.set_phase_start(path_id, packet_number);
                        if self.send_phase != self.recv_phase {
                            self.next_send();
                            self.send_phase = self.recv_phase;
                        }
                        self.forget_mix();
                    }
                }
                Ok(len)
            }
        }
    }

    /// Starts an update unless one is still in progress (our phase ahead of the peer's).
    /// The caller must also wait until a packet sent with the current keys was
    /// acknowledged (RFC 9001 §6.1), which only it can know.
    fn update_keys(&mut self) -> bool {
        if self.send_phase != self.recv_phase {
            return false;
        }
        self.next_send();
        self.send_phase = !self.send_phase;
        true
    }

    fn generations(&self) -> (u64, u64) {
        (self.send_gen, self.recv_gen)
    }

    fn mix_secret(&mut self, generation: u64, secret: &[u8; 32]) -> bool {
        if self.send_gen >= generation || self.recv_gen >= generation || self.mix.is_some() {
            return false;
        }
        self.mix = Some((generation, Zeroizing::new(*secret)));
        if generation == self.recv_gen + 1 {
            self.recv_next = self.derive(&self.recv, generation);
        }
        true
    }

    #[cfg(feature = "fuzzing")]
    fn traffic_keys(&self) -> Option<([u8; 32], [u8; 32])> {
        Some((*self.send.key, *self.recv.key))
    }

    fn key_updates(&self) -> u64 {
        self.updates
    }

    fn auth_failures(&self) -> u64 {
        self.auth_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (AeadProtection, AeadProtection) {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        (AeadProtection::new(a, b), AeadProtection::new(b, a))
    }

    fn packet(p: &mut AeadProtection, path: u64, pn: u64, body: &[u8]) -> (Vec<u8>, bool) {
        let mut pkt = vec![0x80 | if p.key_phase() { 4 } else { 0 }, 9, 9];
        pkt.extend_from_slice(body);
        p.seal(path, pn, &mut pkt, 0, 3);
        (pkt, p.key_phase())
    }

    fn open(
        p: &mut AeadProtection,
        path: u64,
        pn: u64,
        phase: bool,
        pkt: &[u8],
    ) -> Option<Vec<u8>> {
        let (h, b) = pkt.split_at(3);
        let mut b = b.to_vec();
        let n = p.open(path, pn, phase, h, &mut b).ok()?;
        Some(b[..n].to_vec())
    }

    #[test]
    fn packets_sealed_back_to_back_in_one_buffer_open_alone() {
        let (mut a, mut b) = pair();
        let mut buf = Vec::new();
        let mut bounds = Vec::new();
        for (pn, body) in [(1u64, &b"first"[..]), (2, b"second packet")] {
            let start = buf.len();
            buf.extend_from_slice(&[0x80, 9, 9]);
            buf.extend_from_slice(body);
            a.seal(0, pn, &mut buf, start, 3);
            bounds.push((start, buf.len(), pn, body));
        }
        for (start, end, pn, body) in bounds {
            let got = open(&mut b, 0, pn, false, &buf[start..end]).expect("authentic");
            assert_eq!(got, body);
        }
    }

    #[test]
    fn seal_open_and_binding() {
        let (mut a, mut b) = pair();
        let (pkt, ph) = packet(&mut a, 0, 5, b"hello");
        assert_ne!(&pkt[3..8], b"hello", "encrypted");
        assert_eq!(open(&mut b, 0, 5, ph, &pkt).unwrap(), b"hello");
        assert!(open(&mut b, 1, 5, ph, &pkt).is_none(), "path id bound");
        assert!(
            open(&mut b, 0, 6, ph, &pkt).is_none(),
            "packet number bound"
        );
        let mut h = pkt.clone();
        h[1] ^= 1;
        assert!(open(&mut b, 0, 5, ph, &h).is_none(), "header bound");
        assert_eq!(b.auth_failures(), 3);
        assert!(
            open(&mut b, 1 << 32, 5, ph, &pkt).is_none(),
            "path ids beyond 32 bits refused"
        );
    }

    #[test]
    fn every_bit_flip_and_truncation_is_rejected() {
        let (mut a, mut b) = pair();
        let (pkt, ph) = packet(&mut a, 0, 1, &[7u8; 100]);
        for i in 0..pkt.len() * 8 {
            let mut m = pkt.clone();
            m[i / 8] ^= 1 << (i % 8);
            assert!(open(&mut b, 0, 1, ph, &m).is_none(), "bit {i}");
        }
        for len in 3..pkt.len() {
            assert!(
                open(&mut b, 0, 1, ph, &pkt[..len]).is_none(),
                "truncated to {len}"
            );
        }
        assert_eq!(open(&mut b, 0, 1, ph, &pkt).unwrap(), vec![7u8; 100]);
    }

    #[test]
    fn key_updates_follow_and_keep_previous_keys_for_reordering() {
        let (mut a, mut b) = pair();
        let (early, ph0) = packet(&mut a, 0, 1, b"before");
        let (p2, _) = packet(&mut a, 0, 2, b"x");
        assert!(open(&mut b, 0, 2, false, &p2).is_some());
        assert!(a.update_keys());
        assert!(!a.update_keys(), "no second update before the peer answers");
        let (after, ph1) = packet(&mut a, 0, 3, b"after");
        assert_ne!(ph0, ph1);
        assert_eq!(open(&mut b, 0, 3, ph1, &after).unwrap(), b"after");
        assert_eq!(
            b.key_phase(),
            ph1,
            "receiver answered with an update of its own"
        );
        // A packet from before the update, reordered, still opens with the previous key.
        assert_eq!(open(&mut b, 0, 1, ph0, &early).unwrap(), b"before");
        // B's answer moves A's receive side; then A may update again.
        let (reply, rph) = packet(&mut b, 0, 1, b"reply");
        assert_eq!(open(&mut a, 0, 1, rph, &reply).unwrap(), b"reply");
        assert!(a.update_keys());
        // 100 more rounds of updates in alternating directions.
        for round in 0..100u64 {
            let (s, r) = if round % 2 == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let pn = 10 + round;
            let (pkt, ph) = packet(s, 0, pn, &round.to_be_bytes());
            assert_eq!(open(r, 0, pn, ph, &pkt).unwrap(), round.to_be_bytes());
            let (back, bph) = packet(r, 0, pn, b"ack");
            assert_eq!(open(s, 0, pn, bph, &back).unwrap(), b"ack");
            assert!(r.update_keys() || s.update_keys());
        }
        assert!(a.key_updates() > 50 && b.key_updates() > 50);
    }

    #[test]
    fn key_phases_are_told_apart_per_path() {
        let (mut a, mut b) = pair();
        // Path 2 numbers its packets far above path 0's.
        let (late, ph0) = packet(&mut a, 2, 500, b"sent on path 2 before the update");
        let (p0, _) = packet(&mut a, 0, 3, b"x");
        assert!(open(&mut b, 0, 3, ph0, &p0).is_some());
        assert!(a.update_keys());
        let (after, ph1) = packet(&mut a, 0, 4, b"after");
        assert_eq!(open(&mut b, 0, 4, ph1, &after).unwrap(), b"after");
        // Path 2's packet of the previous phase, reordered across paths, still opens
        // (its number is above path 0's first of the new phase, but path 2 has none yet).
        let failures = b.auth_failures();
        assert_eq!(
            open(&mut b, 2, 500, ph0, &late).unwrap(),
            b"sent on path 2 before the update"
        );
        assert_eq!(b.auth_failures(), failures);
        // Once path 2 carried a packet of the new phase, an older number there is the
        // previous phase and a newer one is the current phase.
        let (p2, _) = packet(&mut a, 2, 501, b"new phase on path 2");
        assert!(open(&mut b, 2, 501, ph1, &p2).is_some());
        let (forged, _) = packet(&mut a, 2, 502, b"y");
        assert!(
            open(&mut b, 2, 502, ph0, &forged).is_none(),
            "wrong phase bit"
        );
        assert_eq!(b.auth_failures(), failures + 1);
    }

    #[test]
    fn a_mixed_secret_changes_the_chain_for_both_directions() {
        let (mut a, mut b) = pair();
        let plain_next = crate::noise::rekey(&[1u8; 32]);
        let secret = [0x42; 32];
        assert!(b.mix_secret(1, &secret));
        assert!(!b.mix_secret(1, &secret), "one mix at a time");
        // A has not mixed yet: its packets of generation 0 still open at B.
        let (p0, ph0) = packet(&mut a, 0, 1, b"gen 0");
        assert_eq!(open(&mut b, 0, 1, ph0, &p0).unwrap(), b"gen 0");
        assert!(a.mix_secret(1, &secret));
        assert!(a.update_keys());
        assert_eq!(a.generations(), (1, 0));
        assert_ne!(
            *a.send.key, plain_next,
            "generation 1 is not REKEY(generation 0)"
        );
        let (p1, ph1) = packet(&mut a, 0, 2, b"gen 1");
        assert_eq!(open(&mut b, 0, 2, ph1, &p1).unwrap(), b"gen 1");
        assert_eq!(
            b.generations(),
            (1, 1),
            "B answered with its own mixed update"
        );
        assert!(
            b.mix.is_none(),
            "the secret is dropped once both directions passed it"
        );
        let (back, bph) = packet(&mut b, 0, 1, b"reply");
        assert_eq!(open(&mut a, 0, 1, bph, &back).unwrap(), b"reply");
        assert!(a.mix.is_none());
        // Too late: a generation already reached cannot be mixed.
        assert!(!a.mix_secret(1, &secret));
        // After it, ordinary updates follow the hash chain again.
        let before = *a.send.key;
        assert!(a.update_keys());
        assert_eq!(*a.send.key, crate::noise::rekey(&before));
    }

    #[test]
    fn debug_redacts_keys() {
        let (a, _) = pair();
        let s = format!("{a:?}");
        assert!(s.contains("redacted") && !s.contains("1, 1, 1"));
    }
}
