//! The production handshake: Noise `IK` / `XX` (optionally `psk2`) over X25519,
//! ChaCha20-Poly1305 and BLAKE3, yielding [`AeadProtection`].
//!
//! - A dialer that knows the listener's static key uses **IK** (one round trip, the
//!   listener's key pinned); one that does not uses **XX** (three messages, the
//!   listener's key learned). Message 1 starts with one byte naming the pattern
//!   (`0x01` IK, `0x02` XX), so the listener knows how to read it.
//! - With a PSK both patterns use the `psk2` modifier, and Initials without the PSK are
//!   dropped at the mac1 gate before any Diffie-Hellman.
//! - An allow-list, when set, refuses every dialer whose static key is not on it.
//! - Reads are attempted on a copy of the handshake state: a forged or corrupted message
//!   is rejected without breaking the genuine handshake.

use super::{AeadProtection, CryptoConfig, CryptoError, HandshakeSession, PacketProtection, gate};
use crate::identity::{Keypair, PublicKey};
use crate::noise::{Blake2s, Blake3, HandshakeConfig, HandshakeState, NoiseHash, Pattern};
use std::collections::HashSet;
use std::sync::Arc;
use zeroize::Zeroizing;

const PATTERN_IK: u8 = 0x01;
const PATTERN_XX: u8 = 0x02;

/// The hash function of the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseHashChoice {
    /// BLAKE3 (the default).
    #[default]
    Blake3,
    /// BLAKE2s (for interoperability with stock Noise libraries).
    Blake2s,
}

/// Identity and policy of a node for the Noise handshake.
#[derive(Clone)]
pub struct NoiseConfig {
    keypair: Arc<Keypair>,
    psk: Option<Zeroizing<[u8; 32]>>,
    allow: Option<Arc<HashSet<[u8; 32]>>>,
    hash: NoiseHashChoice,
}

impl std::fmt::Debug for NoiseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseConfig")
            .field("public_key", &self.keypair.public())
            .field("psk", &self.psk.as_ref().map(|_| "<redacted>"))
            .field("allow_list", &self.allow.as_ref().map(|a| a.len()))
            .field("hash", &self.hash)
            .finish()
    }
}

impl NoiseConfig {
    /// A node with this identity, no PSK and no allow-list.
    pub fn new(keypair: Keypair) -> Self {
        Self {
            keypair: Arc::new(keypair),
            psk: None,
            allow: None,
            hash: NoiseHashChoice::Blake3,
        }
    }
    /// Requires a pre-shared key: handshakes use `psk2`, and Initials from anyone without
    /// it get no reply at all.
    pub fn with_psk(mut self, psk: [u8; 32]) -> Self {
        self.psk = Some(Zeroizing::new(psk));
        self
    }
    /// Accepts only dialers whose static key is in `keys`.
    pub fn allow_only(mut self, keys: impl IntoIterator<Item = PublicKey>) -> Self {
        self.allow = Some(Arc::new(keys.into_iter().map(|k| k.0).collect()));
        self
    }
    /// Selects the handshake hash (both sides must agree).
    pub fn with_hash(mut self, hash: NoiseHashChoice) -> Self {
        self.hash = hash;
        self
    }
    /// This node's public key.
    pub fn public_key(&self) -> PublicKey {
        self.keypair.public()
    }

    fn session<H: NoiseHash>(
        &self,
        initiator: bool,
        seed: [u8; 32],
        peer: Option<[u8; 32]>,
        prologue: &[u8],
    ) -> Box<dyn HandshakeSession> {
        Box::new(NoiseSession::<H> {
            config: self.clone(),
            initiator,
            ephemeral: Zeroizing::new(seed),
            prologue: prologue.to_vec(),
            pinned: peer,
            state: None,
            pattern: if peer.is_some() {
                Pattern::IK
            } else {
                Pattern::XX
            },
            written: 0,
        })
    }
}

impl CryptoConfig for NoiseConfig {
    fn start_initiator(
        &self,
        seed: [u8; 32],
        peer: Option<[u8; 32]>,
        prologue: &[u8],
    ) -> Result<Box<dyn HandshakeSession>, CryptoError> {
        Ok(match self.hash {
            NoiseHashChoice::Blake3 => self.session::<Blake3>(true, seed, peer, prologue),
            NoiseHashChoice::Blake2s => self.session::<Blake2s>(true, seed, peer, prologue),
        })
    }

    fn start_responder(&self, seed: [u8; 32], prologue: &[u8]) -> Box<dyn HandshakeSession> {
        match self.hash {
            NoiseHashChoice::Blake3 => self.session::<Blake3>(false, seed, None, prologue),
            NoiseHashChoice::Blake2s => self.session::<Blake2s>(false, seed, None, prologue),
        }
    }

    fn public_key(&self) -> Option<[u8; 32]> {
        Some(self.keypair.public().0)
    }

    fn initiator_mac1_key(&self, peer: Option<&[u8; 32]>) -> [u8; 32] {
        gate::mac1_key(self.psk.as_deref(), peer)
    }

    fn verify_mac1(&self, covered: &[u8], mac1: &[u8]) -> bool {
        let own = self.keypair.public().0;
        let psk = self.psk.as_deref();
        // IK dialers know our key; XX dialers do not. With a PSK, both need the PSK.
        [gate::mac1_key(psk, Some(&own)), gate::mac1_key(psk, None)]
            .iter()
            .any(|k| gate::mac_eq(&gate::mac(k, covered), mac1))
    }
}

struct NoiseSession<H: NoiseHash> {
    config: NoiseConfig,
    initiator: bool,
    ephemeral: Zeroizing<[u8; 32]>,
    prologue: Vec<u8>,
    pinned: Option<[u8; 32]>,
    /// Built at the first write (dialer) or first read (listener, once the pattern byte
    /// is known).
    state: Option<HandshakeState<H>>,
    pattern: Pattern,
    written: usize,
}

impl<H: NoiseHash> std::fmt::Debug for NoiseSession<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseSession")
            .field("initiator", &self.initiator)
            .field("pattern", &self.pattern)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<H: NoiseHash> NoiseSession<H> {
    fn build(&mut self) -> Result<(), CryptoError> {
        let cfg = HandshakeConfig {
            pattern: self.pattern,
            initiator: self.initiator,
            prologue: &self.prologue,
            local_static: *self.config.keypair.secret_bytes(),
            remote_static: self.pinned,
            psk: self.config.psk.as_deref().copied(),
            ephemeral: *self.ephemeral,
        };
        self.state = Some(HandshakeState::new(cfg).map_err(|_| CryptoError::Authentication)?);
        Ok(())
    }

    /// Applies the allow-list once the peer's static key is known.
    fn check_policy(&self, state: &HandshakeState<H>) -> Result<(), CryptoError> {
        match (&self.config.allow, state.remote_static()) {
            (Some(allow), Some(peer)) if !allow.contains(&peer) => Err(CryptoError::PeerRefused),
            _ => Ok(()),
        }
    }
}

impl<H: NoiseHash> HandshakeSession for NoiseSession<H> {
    fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.state.is_none() {
            if !self.initiator {
                return Err(CryptoError::UnexpectedMessage);
            }
            self.build()?;
            out.push(if self.pattern == Pattern::IK {
                PATTERN_IK
            } else {
                PATTERN_XX
            });
        }
        let Some(state) = self.state.as_mut() else {
            return Err(CryptoError::UnexpectedMessage);
        };
        // XX's first message is not encrypted: the parameters wait for message 3.
        let clear = self.pattern == Pattern::XX && self.initiator && self.written == 0;
        let payload = if clear { &[][..] } else { payload };
        state
            .write_message(payload, out)
            .map_err(|_| CryptoError::UnexpectedMessage)?;
        self.written += 1;
        Ok(())
    }

    fn read_message(&mut self, message: &[u8], payload: &mut Vec<u8>) -> Result<(), CryptoError> {
        let mut message = message;
        if self.state.is_none() {
            if self.initiator {
                return Err(CryptoError::UnexpectedMessage);
            }
            let (&tag, rest) = message.split_first().ok_or(CryptoError::Authentication)?;
            self.pattern = match tag {
                PATTERN_IK => Pattern::IK,
                PATTERN_XX => Pattern::XX,
                _ => return Err(CryptoError::Authentication),
            };
            message = rest;
            self.build()?;
        }
        let Some(state) = self.state.as_ref() else {
            return Err(CryptoError::UnexpectedMessage);
        };
        // Try on a copy: a forged message must not break the genuine handshake.
        let mut attempt = state.clone();
        let mut out = Vec::new();
        attempt
            .read_message(message, &mut out)
            .map_err(|_| CryptoError::Authentication)?;
        self.check_policy(&attempt)?;
        self.state = Some(attempt);
        payload.extend_from_slice(&out);
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.is_finished())
    }

    fn is_my_turn(&self) -> bool {
        match &self.state {
            None => self.initiator,
            Some(s) => s.is_my_turn(),
        }
    }

    fn peer_identity(&self) -> Option<[u8; 32]> {
        self.state.as_ref().and_then(|s| s.remote_static())
    }

    fn into_protection(mut self: Box<Self>) -> Result<Box<dyn PacketProtection>, CryptoError> {
        let state = self.state.take().ok_or(CryptoError::UnexpectedMessage)?;
        let keys = state.split().map_err(|_| CryptoError::UnexpectedMessage)?;
        let (send, recv) = if self.initiator {
            (keys.initiator_to_responder, keys.responder_to_initiator)
        } else {
            (keys.responder_to_initiator, keys.initiator_to_responder)
        };
        Ok(Box::new(AeadProtection::new(send, recv)))
    }
}
