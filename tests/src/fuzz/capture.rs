//! A crypto configuration that shares the real packet protection with the harness, so
//! fuzz inputs can be sealed as genuine packets of an established connection and real
//! decrypted payloads captured as seeds.

use netchan_transport::fuzzing::shared::lock;
use netchan_transport::{
    CryptoConfig, CryptoError, HandshakeSession, NoiseConfig, PacketProtection,
};
use std::sync::{Arc, Mutex};

// ----- a crypto config that shares the real packet protection with the harness -------------

/// Packet protection shared between a connection and the harness.
pub(crate) type SharedProtection = Arc<Mutex<Box<dyn PacketProtection>>>;

/// Protections created by one endpoint's handshakes, and optionally every plaintext they
/// opened (to capture real frame payloads for the corpus).
#[derive(Debug, Default, Clone)]
pub(crate) struct Registry(pub(crate) Arc<Mutex<RegistryInner>>);

#[derive(Debug, Default)]
pub(crate) struct RegistryInner {
    pub(crate) protections: Vec<SharedProtection>,
    pub(crate) capture: bool,
    pub(crate) opened: Vec<Vec<u8>>,
}

/// The real Noise configuration, whose sessions hand their `AeadProtection` to a
/// [`Registry`] as well as to the connection. Everything else is delegated.
#[derive(Debug)]
pub(crate) struct CaptureCrypto {
    pub(crate) inner: NoiseConfig,
    pub(crate) registry: Registry,
}

impl CryptoConfig for CaptureCrypto {
    fn start_initiator(
        &self,
        seed: [u8; 32],
        peer: Option<[u8; 32]>,
        prologue: &[u8],
    ) -> Result<Box<dyn HandshakeSession>, CryptoError> {
        Ok(Box::new(CaptureSession {
            inner: self.inner.start_initiator(seed, peer, prologue)?,
            registry: self.registry.clone(),
        }))
    }

    fn start_responder(&self, seed: [u8; 32], prologue: &[u8]) -> Box<dyn HandshakeSession> {
        Box::new(CaptureSession {
            inner: self.inner.start_responder(seed, prologue),
            registry: self.registry.clone(),
        })
    }

    fn public_key(&self) -> Option<[u8; 32]> {
        CryptoConfig::public_key(&self.inner)
    }

    fn initiator_mac1_key(&self, peer: Option<&[u8; 32]>) -> [u8; 32] {
        self.inner.initiator_mac1_key(peer)
    }

    fn verify_mac1(&self, covered: &[u8], mac1: &[u8]) -> bool {
        self.inner.verify_mac1(covered, mac1)
    }
}

#[derive(Debug)]
pub(crate) struct CaptureSession {
    pub(crate) inner: Box<dyn HandshakeSession>,
    pub(crate) registry: Registry,
}

impl HandshakeSession for CaptureSession {
    fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.inner.write_message(payload, out)
    }

    fn read_message(&mut self, message: &[u8], payload: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.inner.read_message(message, payload)
    }

    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    fn is_my_turn(&self) -> bool {
        self.inner.is_my_turn()
    }

    fn peer_identity(&self) -> Option<[u8; 32]> {
        self.inner.peer_identity()
    }

    fn into_protection(self: Box<Self>) -> Result<Box<dyn PacketProtection>, CryptoError> {
        let CaptureSession { inner, registry } = *self;
        let shared: SharedProtection = Arc::new(Mutex::new(inner.into_protection()?));
        lock(&registry.0).protections.push(shared.clone());
        Ok(Box::new(Shared { shared, registry }))
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) shared: SharedProtection,
    pub(crate) registry: Registry,
}

impl PacketProtection for Shared {
    fn tag_len(&self) -> usize {
        lock(&self.shared).tag_len()
    }

    fn key_phase(&self) -> bool {
        lock(&self.shared).key_phase()
    }

    fn seal(
        &mut self,
        path_id: u64,
        packet_number: u64,
        buf: &mut Vec<u8>,
        start: usize,
        header_len: usize,
    ) {
        lock(&self.shared).seal(path_id, packet_number, buf, start, header_len);
    }

    fn open(
        &mut self,
        path_id: u64,
        packet_number: u64,
        key_phase: bool,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let len = lock(&self.shared).open(path_id, packet_number, key_phase, header, payload)?;
        let mut reg = lock(&self.registry.0);
        if reg.capture && reg.opened.len() < 256 {
            reg.opened.push(payload[..len].to_vec());
        }
        Ok(len)
    }

    fn update_keys(&mut self) -> bool {
        lock(&self.shared).update_keys()
    }

    fn key_updates(&self) -> u64 {
        lock(&self.shared).key_updates()
    }

    fn auth_failures(&self) -> u64 {
        lock(&self.shared).auth_failures()
    }

    fn generations(&self) -> (u64, u64) {
        lock(&self.shared).generations()
    }

    fn mix_secret(&mut self, generation: u64, secret: &[u8; 32]) -> bool {
        lock(&self.shared).mix_secret(generation, secret)
    }

    fn traffic_keys(&self) -> Option<([u8; 32], [u8; 32])> {
        lock(&self.shared).traffic_keys()
    }
}
