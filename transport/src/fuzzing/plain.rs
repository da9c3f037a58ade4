//! A handshake and packet protection without cryptography, **for fuzzing only**: fuzz
//! targets of the layers above the transport (the netchan channel session) need
//! connected endpoints by the tens of thousands per second, and X25519 would cost more
//! than everything they test. Never reachable without the `fuzzing` feature.
//!
//! The handshake is two messages (`IK`-shaped): each is the sender's static public key
//! followed by its payload, in the clear. A packet's "tag" is 16 zero bytes, checked on
//! open; key updates are not supported.

use crate::crypto::{CryptoConfig, CryptoError, HandshakeSession, PacketProtection};

/// Plaintext "crypto" with a static identity (see the module docs).
#[derive(Debug, Clone)]
pub struct PlainCrypto {
    /// The identity this node claims.
    pub public: [u8; 32],
}

impl CryptoConfig for PlainCrypto {
    fn start_initiator(
        &self,
        _seed: [u8; 32],
        peer: Option<[u8; 32]>,
        _prologue: &[u8],
    ) -> Result<Box<dyn HandshakeSession>, CryptoError> {
        Ok(Box::new(PlainSession {
            own: self.public,
            initiator: true,
            pinned: peer,
            peer: None,
            messages: 0,
        }))
    }

    fn start_responder(&self, _seed: [u8; 32], _prologue: &[u8]) -> Box<dyn HandshakeSession> {
        Box::new(PlainSession {
            own: self.public,
            initiator: false,
            pinned: None,
            peer: None,
            messages: 0,
        })
    }

    fn public_key(&self) -> Option<[u8; 32]> {
        Some(self.public)
    }

    /// mac1 keyed as for an unknown listener, whatever the dialer knows (the default
    /// check accepts only that).
    fn initiator_mac1_key(&self, _peer: Option<&[u8; 32]>) -> [u8; 32] {
        crate::crypto::gate::mac1_key(None, None)
    }
}

#[derive(Debug)]
struct PlainSession {
    own: [u8; 32],
    initiator: bool,
    pinned: Option<[u8; 32]>,
    peer: Option<[u8; 32]>,
    messages: usize,
}

impl HandshakeSession for PlainSession {
    fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if !self.is_my_turn() {
            return Err(CryptoError::UnexpectedMessage);
        }
        out.extend_from_slice(&self.own);
        out.extend_from_slice(payload);
        self.messages += 1;
        Ok(())
    }

    fn read_message(&mut self, message: &[u8], payload: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.is_my_turn() || self.is_finished() {
            return Err(CryptoError::UnexpectedMessage);
        }
        let (key, rest) = message
            .split_first_chunk::<32>()
            .ok_or(CryptoError::Authentication)?;
        if self.pinned.is_some_and(|p| p != *key) {
            return Err(CryptoError::Authentication);
        }
        self.peer = Some(*key);
        payload.extend_from_slice(rest);
        self.messages += 1;
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.messages >= 2
    }

    fn is_my_turn(&self) -> bool {
        !self.is_finished() && self.messages.is_multiple_of(2) == self.initiator
    }

    fn peer_identity(&self) -> Option<[u8; 32]> {
        self.peer
    }

    fn into_protection(self: Box<Self>) -> Result<Box<dyn PacketProtection>, CryptoError> {
        Ok(Box::new(PlainProtection))
    }
}

/// Sixteen zero bytes as the tag; nothing encrypted.
#[derive(Debug)]
struct PlainProtection;

const TAG: usize = 16;

impl PacketProtection for PlainProtection {
    fn tag_len(&self) -> usize {
        TAG
    }

    fn seal(
        &mut self,
        _path_id: u64,
        _packet_number: u64,
        buf: &mut Vec<u8>,
        _start: usize,
        _header_len: usize,
    ) {
        buf.extend_from_slice(&[0; TAG]);
    }

    fn open(
        &mut self,
        _path_id: u64,
        _packet_number: u64,
        _key_phase: bool,
        _header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let len = payload
            .len()
            .checked_sub(TAG)
            .ok_or(CryptoError::Authentication)?;
        if payload[len..].iter().any(|&b| b != 0) {
            return Err(CryptoError::Authentication);
        }
        Ok(len)
    }
}
