//! Re-handshakes: a fresh X25519 exchange on a live connection (issue 14, item 7).
//!
//! Key updates alone are a hash chain: whoever steals one generation's traffic keys can
//! compute every later one. Every `rehandshake_interval` (default 120 s) the dialer offers
//! a fresh ephemeral public key in a REHANDSHAKE frame for key generation `g` (one past its
//! current one); the listener answers with its own fresh key (or refuses when it already
//! reached `g`), and both mix `DH(e_dialer, e_listener)` into generation `g` of both
//! directions ([`PacketProtection::mix_secret`]). The dialer then starts the key update
//! to `g`; the listener follows it as it follows any update. Channels never pause: the
//! old keys protect traffic until the update, and the previous receive key covers
//! packets reordered across it. The ephemeral secrets are dropped (zeroized) as soon as
//! the shared secret is computed, the shared secret once both directions are past `g`.
//!
//! State machine, per side:
//! - dialer: idle → (timer) offer sent, updates held → (answer) mixed, its update to `g`
//!   due at once → (both directions at `g`) idle, timer re-armed. A refusal goes back to
//!   idle and retries after [`RETRY`].
//! - listener: idle → (offer) mixed, updates held until the dialer's update arrives →
//!   (both directions at `g`) idle. A repeated offer is answered again with the stored
//!   public key; an offer older than the last is ignored.
//!
//! Input: [`Connection::on_rehandshake_frame`] (from the frame dispatch) and
//! [`Connection::on_rehandshake_timer`] (from `handle_timeout`); output: the frame in
//! [`Connection::write_rehandshake`], the update gate in
//! [`Rehandshake::holds_updates`] / [`Rehandshake::update_due`].
//!
//! [`PacketProtection::mix_secret`]: crate::PacketProtection::mix_secret

use super::recv::FrameOutcome;
use super::*;
use crate::wire::Frame;
use x25519_dalek::{PublicKey, StaticSecret};

/// Wait before offering again after a refusal (or while a key update is in flight).
pub(super) const RETRY: Duration = Duration::from_secs(1);

/// Our offer in flight (dialer).
struct Offer {
    id: u64,
    generation: u64,
    secret: StaticSecret,
    public: [u8; 32],
}

/// Our last answer (listener), repeated if the offer comes again.
#[derive(Debug, Clone, Copy)]
struct Answer {
    id: u64,
    /// 0: refused.
    generation: u64,
    public: [u8; 32],
}

/// Re-handshake state of one connection (see the module docs).
#[derive(Default)]
pub(super) struct Rehandshake {
    offer: Option<Offer>,
    answer: Option<Answer>,
    /// The generation a secret was mixed into, until both directions reach it.
    mixed: Option<u64>,
    /// The REHANDSHAKE frame (offer or answer) waits to be sent.
    send_pending: bool,
    next_id: u64,
    /// Completed re-handshakes.
    pub completed: u64,
}

impl std::fmt::Debug for Rehandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rehandshake")
            .field("offer", &self.offer.as_ref().map(|o| (o.id, o.generation)))
            .field("answer", &self.answer.map(|a| (a.id, a.generation)))
            .field("mixed", &self.mixed)
            .field("completed", &self.completed)
            .finish()
    }
}

impl Rehandshake {
    /// Whether ordinary key updates must wait: while our offer is unanswered (the
    /// listener may have mixed generation `g` already), and, for the listener, until the
    /// dialer's update to the mixed generation arrives.
    pub(super) fn holds_updates(&self, side: Side) -> bool {
        self.offer.is_some() || (side == Side::Responder && self.mixed.is_some())
    }

    /// Whether the dialer should start the update to the mixed generation now (its
    /// sending generation `send` is still below it).
    pub(super) fn update_due(&self, side: Side, send: u64) -> bool {
        side == Side::Initiator && self.mixed.is_some_and(|g| send < g)
    }

    /// Whether a frame waits to be sent.
    pub(super) fn has_frame(&self) -> bool {
        self.send_pending
    }

    fn frame(&self) -> Option<Frame<'static>> {
        if let Some(o) = &self.offer {
            return Some(Frame::Rehandshake {
                id: o.id,
                generation: o.generation,
                key: o.public,
            });
        }
        self.answer.map(|a| Frame::Rehandshake {
            id: a.id,
            generation: a.generation,
            key: a.public,
        })
    }

    /// The id of the frame we would send now.
    fn current_id(&self) -> Option<u64> {
        self.offer
            .as_ref()
            .map(|o| o.id)
            .or(self.answer.map(|a| a.id))
    }
}

/// A fresh X25519 key pair from the endpoint's entropy.
fn ephemeral(entropy: &dyn Entropy) -> (StaticSecret, [u8; 32]) {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    entropy.fill(&mut bytes[..]);
    let secret = StaticSecret::from(*bytes);
    let public = PublicKey::from(&secret).to_bytes();
    (secret, public)
}

/// `DH(secret, public)`, or `None` for a low-order `public` (an all-zero result).
fn shared(secret: &StaticSecret, public: [u8; 32]) -> Option<zeroize::Zeroizing<[u8; 32]>> {
    let s = secret.diffie_hellman(&PublicKey::from(public));
    s.was_contributory()
        .then(|| zeroize::Zeroizing::new(s.to_bytes()))
}

impl Connection {
    /// Arms the first re-handshake (dialer, once established).
    pub(super) fn arm_rehandshake(&mut self, now: Instant) {
        if self.side == Side::Initiator
            && let Some(every) = self.config.rehandshake_interval
        {
            self.timers.set(ConnTimer::Rehandshake, Some(now + every));
        }
    }

    /// The re-handshake timer fired: offer a fresh key, unless a key update or an
    /// earlier re-handshake is still in progress (then try again shortly).
    pub(super) fn on_rehandshake_timer(&mut self, now: Instant) {
        let Some(p) = self.protection.as_ref() else {
            return;
        };
        let (send, recv) = p.generations();
        let r = &mut self.rehandshake;
        if r.offer.is_some() || r.mixed.is_some() || send != recv {
            self.timers.set(ConnTimer::Rehandshake, Some(now + RETRY));
            return;
        }
        let (secret, public) = ephemeral(&*self.entropy);
        let id = r.next_id;
        r.next_id += 1;
        r.offer = Some(Offer {
            id,
            generation: send + 1,
            secret,
            public,
        });
        r.send_pending = true;
        tracing::debug!(peer = %self.peer_label(), id, generation = send + 1, "re-handshake offered");
    }

    /// A REHANDSHAKE frame: an offer (we are the listener) or an answer (the dialer).
    pub(super) fn on_rehandshake_frame(
        &mut self,
        now: Instant,
        id: u64,
        generation: u64,
        key: [u8; 32],
    ) -> Result<(), FrameOutcome> {
        match self.side {
            Side::Responder => {
                self.on_offer(id, generation, key);
                Ok(())
            }
            Side::Initiator => self.on_answer(now, id, generation, key),
        }
    }

    fn on_offer(&mut self, id: u64, generation: u64, key: [u8; 32]) {
        let r = &mut self.rehandshake;
        if let Some(a) = r.answer {
            if a.id == id {
                r.send_pending = true; // our answer was lost: the same again
                return;
            }
            if id < a.id {
                return; // an old offer, reordered
            }
        }
        let (secret, public) = ephemeral(&*self.entropy);
        let accepted = generation > 0
            && r.mixed.is_none()
            && shared(&secret, key).is_some_and(|dh| {
                self.protection
                    .as_mut()
                    .is_some_and(|p| p.mix_secret(generation, &dh))
            });
        let r = &mut self.rehandshake;
        r.answer = Some(Answer {
            id,
            generation: if accepted { generation } else { 0 },
            public,
        });
        r.send_pending = true;
        if accepted {
            r.mixed = Some(generation);
        }
        tracing::debug!(peer = %self.peer_label(), id, generation, accepted, "re-handshake answered");
    }

    fn on_answer(
        &mut self,
        now: Instant,
        id: u64,
        generation: u64,
        key: [u8; 32],
    ) -> Result<(), FrameOutcome> {
        let r = &mut self.rehandshake;
        let Some(offer) = r.offer.take_if(|o| o.id == id) else {
            return Ok(()); // not for our offer in flight: a repeat, or stale
        };
        r.send_pending = false;
        if generation == 0 {
            tracing::debug!(peer = %self.peer_label(), id, "re-handshake refused; retrying");
            self.timers.set(ConnTimer::Rehandshake, Some(now + RETRY));
            return Ok(());
        }
        let bad = |reason| {
            Err(FrameOutcome::Close(
                TransportErrorCode::ProtocolViolation,
                reason,
            ))
        };
        if generation != offer.generation {
            return bad("re-handshake answer for another generation");
        }
        let Some(dh) = shared(&offer.secret, key) else {
            return bad("low-order re-handshake key");
        };
        if !self
            .protection
            .as_mut()
            .is_some_and(|p| p.mix_secret(generation, &dh))
        {
            // We passed the generation meanwhile (the peer updated first); it refused
            // then too, so nobody mixed. Try again.
            self.timers.set(ConnTimer::Rehandshake, Some(now + RETRY));
            return Ok(());
        }
        self.rehandshake.mixed = Some(generation);
        Ok(())
    }

    /// Notes a completed re-handshake once both directions have reached the mixed
    /// generation (call after keys may have moved).
    pub(super) fn check_rehandshake(&mut self, now: Instant) {
        let Some(g) = self.rehandshake.mixed else {
            return;
        };
        let Some((send, recv)) = self.protection.as_ref().map(|p| p.generations()) else {
            return;
        };
        if send < g || recv < g {
            return;
        }
        self.rehandshake.mixed = None;
        self.rehandshake.completed += 1;
        self.stats.rehandshakes += 1;
        tracing::debug!(peer = %self.peer_label(), generation = g, "re-handshake complete: new keys from a fresh Diffie-Hellman");
        if self.side == Side::Initiator {
            self.arm_rehandshake(now);
        }
    }

    /// Writes the pending REHANDSHAKE frame if it fits; returns whether it did.
    pub(super) fn write_rehandshake(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentFrames,
    ) -> bool {
        if !self.rehandshake.send_pending {
            return false;
        }
        let Some(f) = self.rehandshake.frame() else {
            self.rehandshake.send_pending = false;
            return false;
        };
        if buf.len() + f.encoded_len() > limit {
            return false;
        }
        f.encode(buf);
        self.rehandshake.send_pending = false;
        sent.rehandshake = self.rehandshake.current_id();
        true
    }

    /// A packet with our REHANDSHAKE frame `id` was lost: send it again if still current.
    pub(super) fn on_rehandshake_lost(&mut self, id: u64) {
        if self.rehandshake.current_id() == Some(id) {
            self.rehandshake.send_pending = true;
        }
    }
}
