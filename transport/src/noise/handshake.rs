//! The `HandshakeState` object (Noise §5.3) for the `IK` and `XX` patterns (§7.5) and their
//! `psk2` variants (§9).

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::dh::{Hex, KeyPair};
use super::hash::NoiseHash;
use super::symmetric::SymmetricState;
use super::{DH_LEN, HASH_LEN, KEY_LEN, MAX_MESSAGE_LEN, NoiseError, PSK_LEN, TAG_LEN};

/// A Noise handshake pattern (Noise §7.5), chosen at run time. The `psk2` modifier (§9) is
/// selected separately by [`HandshakeConfig::psk`].
///
/// ```text
/// IK:                       XX:
///   <- s                      -> e
///   ...                       <- e, ee, s, es
///   -> e, es, s, ss           -> s, se
///   <- e, ee, se
/// ```
///
/// With `psk2` a `psk` token is appended to the second message of either pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// The initiator knows the responder's static key in advance; two messages (1 RTT).
    IK,
    /// Both static keys are transmitted; three messages.
    XX,
}

impl Pattern {
    /// The pattern's name in a Noise protocol name.
    fn name(self) -> &'static str {
        match self {
            Pattern::IK => "IK",
            Pattern::XX => "XX",
        }
    }
}

/// The Noise protocol name for `pattern` with (`psk`) or without the `psk2` modifier and hash
/// `H`, e.g. `Noise_IKpsk2_25519_ChaChaPoly_BLAKE3` (Noise §8).
pub fn protocol_name<H: NoiseHash>(pattern: Pattern, psk: bool) -> String {
    let modifier = if psk { "psk2" } else { "" };
    format!(
        "Noise_{}{modifier}_25519_ChaChaPoly_{}",
        pattern.name(),
        H::NAME
    )
}

/// One token of a message pattern (Noise §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    E,
    S,
    EE,
    ES,
    SE,
    SS,
    Psk,
}

use Token::{E, EE, ES, Psk, S, SE, SS};

const IK: &[&[Token]] = &[&[E, ES, S, SS], &[E, EE, SE]];
const IK_PSK2: &[&[Token]] = &[&[E, ES, S, SS], &[E, EE, SE, Psk]];
const XX: &[&[Token]] = &[&[E], &[E, EE, S, ES], &[S, SE]];
const XX_PSK2: &[&[Token]] = &[&[E], &[E, EE, S, ES, Psk], &[S, SE]];

/// The message patterns of `pattern`, with the `psk2` modifier when `psk`.
fn message_patterns(pattern: Pattern, psk: bool) -> &'static [&'static [Token]] {
    match (pattern, psk) {
        (Pattern::IK, false) => IK,
        (Pattern::IK, true) => IK_PSK2,
        (Pattern::XX, false) => XX,
        (Pattern::XX, true) => XX_PSK2,
    }
}

/// Everything needed to start a handshake.
///
/// Secrets in it are zeroized on drop and redacted from `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HandshakeConfig<'a> {
    /// The handshake pattern.
    #[zeroize(skip)]
    pub pattern: Pattern,
    /// Whether this side sends the first message.
    pub initiator: bool,
    /// The prologue (Noise §6): bytes both sides must agree on, mixed into the handshake
    /// hash at initialisation but never sent. May be empty.
    #[zeroize(skip)]
    pub prologue: &'a [u8],
    /// This side's static X25519 secret key (any 32 bytes; X25519 clamps them).
    pub local_static: [u8; DH_LEN],
    /// The peer's static public key.
    ///
    /// For an `IK` initiator it is the pre-message `<- s` and required
    /// ([`NoiseError::MissingRemoteStatic`] otherwise). In every other role it is optional
    /// and, when set, pins the peer: the static key the peer transmits must equal it
    /// (compared in constant time), else the read fails with
    /// [`NoiseError::RemoteStaticMismatch`].
    pub remote_static: Option<[u8; DH_LEN]>,
    /// The pre-shared key. `Some` selects the `psk2` modifier (`IKpsk2`, `XXpsk2`).
    pub psk: Option<[u8; PSK_LEN]>,
    /// The secret key of this handshake's ephemeral key pair. The caller supplies fresh
    /// randomness for every handshake (this crate reads no OS randomness); reusing it
    /// destroys the handshake's forward secrecy. Tests supply fixed keys.
    pub ephemeral: [u8; DH_LEN],
}

impl core::fmt::Debug for HandshakeConfig<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HandshakeConfig")
            .field("pattern", &self.pattern)
            .field("initiator", &self.initiator)
            .field("prologue_len", &self.prologue.len())
            .field("local_static", &"<redacted>")
            .field(
                "remote_static",
                &self.remote_static.as_ref().map(|k| Hex(k)),
            )
            .field("psk", &self.psk.as_ref().map(|_| "<redacted>"))
            .field("ephemeral", &"<redacted>")
            .finish()
    }
}

/// The result of a finished handshake ([`HandshakeState::split`], Noise §5.2 `Split()`).
///
/// The keys are ChaChaPoly keys; zeroized on drop and redacted from `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TransportKeys {
    /// Key for messages from the initiator to the responder (`Split()`'s first output).
    pub initiator_to_responder: [u8; KEY_LEN],
    /// Key for messages from the responder to the initiator (`Split()`'s second output).
    pub responder_to_initiator: [u8; KEY_LEN],
    /// The final handshake hash `h` (Noise §11.2, channel binding). Not secret.
    pub handshake_hash: [u8; HASH_LEN],
}

impl core::fmt::Debug for TransportKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransportKeys")
            .field("initiator_to_responder", &"<redacted>")
            .field("responder_to_initiator", &"<redacted>")
            .field("handshake_hash", &Hex(&self.handshake_hash))
            .finish()
    }
}

/// A Noise `HandshakeState` (Noise §5.3) for one side of one handshake, with hash `H`.
///
/// Drive it with [`write_message`](Self::write_message) and
/// [`read_message`](Self::read_message) in turn ([`is_my_turn`](Self::is_my_turn)) until
/// [`is_finished`](Self::is_finished), then [`split`](Self::split) it into
/// [`TransportKeys`].
///
/// `Clone` lets a caller try a read on a copy, so that a forged message (which makes the
/// state unusable) can be ignored and the handshake continued with the original.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct HandshakeState<H: NoiseHash> {
    symmetric: SymmetricState<H>,
    #[zeroize(skip)]
    pattern: Pattern,
    initiator: bool,
    s: KeyPair,
    e: KeyPair,
    rs: Option<[u8; DH_LEN]>,
    re: Option<[u8; DH_LEN]>,
    /// The pinned remote static key, checked when the peer transmits its static key.
    expected_rs: Option<[u8; DH_LEN]>,
    psk: Option<[u8; PSK_LEN]>,
    /// Number of messages written or read so far.
    message_index: usize,
    /// Set by a failed operation; every later operation fails with `Unusable`.
    failed: bool,
}

impl<H: NoiseHash> Clone for HandshakeState<H> {
    fn clone(&self) -> Self {
        Self {
            symmetric: self.symmetric.clone(),
            pattern: self.pattern,
            initiator: self.initiator,
            s: self.s.clone(),
            e: self.e.clone(),
            rs: self.rs,
            re: self.re,
            expected_rs: self.expected_rs,
            psk: self.psk,
            message_index: self.message_index,
            failed: self.failed,
        }
    }
}

impl<H: NoiseHash> core::fmt::Debug for HandshakeState<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HandshakeState")
            .field("protocol", &self.protocol_name())
            .field("initiator", &self.initiator)
            .field("message_index", &self.message_index)
            .field("finished", &self.is_finished())
            .field("failed", &self.failed)
            .field("local_static_public", &Hex(self.s.public()))
            .field("remote_static", &self.rs.as_ref().map(|k| Hex(k)))
            .finish_non_exhaustive()
    }
}

impl<H: NoiseHash> HandshakeState<H> {
    /// `Initialize()` (Noise §5.3): sets up the handshake described by `cfg`, mixing in the
    /// protocol name, the prologue and the pre-message public keys.
    ///
    /// # Errors
    ///
    /// - [`NoiseError::MissingRemoteStatic`]: an `IK` initiator without `remote_static`;
    /// - [`NoiseError::LowOrderPoint`]: an `IK` initiator whose `remote_static` is a
    ///   low-order point.
    pub fn new(cfg: HandshakeConfig<'_>) -> Result<Self, NoiseError> {
        let s = KeyPair::from_secret(cfg.local_static);
        let e = KeyPair::from_secret(cfg.ephemeral);
        let premessage_rs = cfg.pattern == Pattern::IK && cfg.initiator;
        let (rs, expected_rs) = if premessage_rs {
            let rs = cfg.remote_static.ok_or(NoiseError::MissingRemoteStatic)?;
            // Reject a useless responder key now rather than at the first `es`.
            s.dh(&rs)?;
            (Some(rs), None)
        } else {
            (None, cfg.remote_static)
        };
        let name = protocol_name::<H>(cfg.pattern, cfg.psk.is_some());
        let mut symmetric = SymmetricState::<H>::initialize(name.as_bytes());
        symmetric.mix_hash(cfg.prologue);
        // Pre-messages (§7.1): IK's `<- s`, the responder's static key.
        if cfg.pattern == Pattern::IK {
            match &rs {
                Some(rs) if cfg.initiator => symmetric.mix_hash(rs),
                _ => symmetric.mix_hash(s.public()),
            }
        }
        Ok(Self {
            symmetric,
            pattern: cfg.pattern,
            initiator: cfg.initiator,
            s,
            e,
            rs,
            re: None,
            expected_rs,
            psk: cfg.psk,
            message_index: 0,
            failed: false,
        })
    }

    /// The Noise protocol name of this handshake, e.g. `Noise_XX_25519_ChaChaPoly_BLAKE2s`.
    pub fn protocol_name(&self) -> String {
        protocol_name::<H>(self.pattern, self.psk.is_some())
    }

    /// Whether this side is the initiator.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Number of handshake messages in the pattern: 2 for `IK`, 3 for `XX`.
    pub fn messages_total(&self) -> usize {
        self.patterns().len()
    }

    /// Whether all handshake messages have been written or read successfully.
    pub fn is_finished(&self) -> bool {
        !self.failed && self.message_index >= self.messages_total()
    }

    /// Whether the next operation is a [`write_message`](Self::write_message). `false` once
    /// finished or unusable.
    pub fn is_my_turn(&self) -> bool {
        !self.failed
            && !self.is_finished()
            && self.message_index.is_multiple_of(2) == self.initiator
    }

    /// Whether an earlier operation failed and the state is unusable.
    pub fn is_unusable(&self) -> bool {
        self.failed
    }

    /// This side's static public key.
    pub fn local_static_public(&self) -> [u8; DH_LEN] {
        *self.s.public()
    }

    /// The peer's static public key: known from the start for an `IK` initiator, otherwise
    /// once the message carrying it has been read.
    pub fn remote_static(&self) -> Option<[u8; DH_LEN]> {
        self.rs
    }

    /// The current handshake hash `h` (`GetHandshakeHash()`, Noise §5.2); after the last
    /// message, the final one to use for channel binding (§11.2).
    pub fn handshake_hash(&self) -> [u8; HASH_LEN] {
        self.symmetric.handshake_hash()
    }

    fn patterns(&self) -> &'static [&'static [Token]] {
        message_patterns(self.pattern, self.psk.is_some())
    }

    /// Checks that the state is usable and that it is time to write (`write`) or read.
    fn check_turn(&self, write: bool) -> Result<&'static [Token], NoiseError> {
        if self.failed {
            return Err(NoiseError::Unusable);
        }
        if self.is_finished() || self.is_my_turn() != write {
            return Err(NoiseError::WrongTurn);
        }
        self.patterns()
            .get(self.message_index)
            .copied()
            .ok_or(NoiseError::WrongTurn)
    }

    /// The length of the message the next write produces with a `payload_len`-byte payload.
    fn write_len(&self, tokens: &[Token], payload_len: usize) -> usize {
        let mut has_key = self.symmetric.has_key();
        let mut len = 0usize;
        for token in tokens {
            match token {
                E => {
                    len += DH_LEN;
                    has_key |= self.psk.is_some();
                }
                S => len += DH_LEN + if has_key { TAG_LEN } else { 0 },
                EE | ES | SE | SS | Psk => has_key = true,
            }
        }
        len.saturating_add(payload_len)
            .saturating_add(if has_key { TAG_LEN } else { 0 })
    }

    /// `WriteMessage(payload, message_buffer)` (Noise §5.3): appends the next handshake
    /// message, carrying `payload`, to `out`.
    ///
    /// # Errors
    ///
    /// - [`NoiseError::WrongTurn`]: it is the peer's turn or the handshake is finished (the
    ///   state is unchanged);
    /// - [`NoiseError::MessageTooLong`]: the message would exceed [`MAX_MESSAGE_LEN`] (the
    ///   state is unchanged);
    /// - [`NoiseError::LowOrderPoint`]: a DH with the peer's key gave zero;
    /// - [`NoiseError::Unusable`]: an earlier operation failed.
    ///
    /// After the last two errors the state is unusable. On error `out` is unchanged.
    pub fn write_message(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        let tokens = self.check_turn(true)?;
        if self.write_len(tokens, payload.len()) > MAX_MESSAGE_LEN {
            return Err(NoiseError::MessageTooLong);
        }
        let start = out.len();
        match self.write_tokens(tokens, payload, out) {
            Ok(()) => {
                self.message_index += 1;
                Ok(())
            }
            Err(err) => {
                out.truncate(start);
                self.fail();
                Err(err)
            }
        }
    }

    fn write_tokens(
        &mut self,
        tokens: &[Token],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        for &token in tokens {
            match token {
                E => {
                    let e_public = *self.e.public();
                    out.extend_from_slice(&e_public);
                    self.symmetric.mix_hash(&e_public);
                    if self.psk.is_some() {
                        self.symmetric.mix_key(&e_public);
                    }
                }
                S => {
                    let s_public = *self.s.public();
                    self.symmetric.encrypt_and_hash(&s_public, out)?;
                }
                EE | ES | SE | SS | Psk => self.mix_token(token)?,
            }
        }
        self.symmetric.encrypt_and_hash(payload, out)
    }

    /// `ReadMessage(message, payload_buffer)` (Noise §5.3): processes the peer's next
    /// handshake message and appends its payload to `payload`.
    ///
    /// Total: any `message` gives `Ok` or an error, never a panic.
    ///
    /// # Errors
    ///
    /// - [`NoiseError::WrongTurn`]: it is this side's turn to write or the handshake is
    ///   finished (the state is unchanged);
    /// - [`NoiseError::MessageTooLong`]: `message` exceeds [`MAX_MESSAGE_LEN`];
    /// - [`NoiseError::Truncated`]: `message` is shorter than its keys and tags;
    /// - [`NoiseError::Decrypt`]: a tag did not verify (corruption, forgery, or a mismatch
    ///   in keys, psk, prologue or protocol);
    /// - [`NoiseError::LowOrderPoint`]: the peer sent a low-order public key;
    /// - [`NoiseError::RemoteStaticMismatch`]: the peer's static key is not the pinned one;
    /// - [`NoiseError::Unusable`]: an earlier operation failed.
    ///
    /// Except after `WrongTurn`, the state is unusable after an error. On error `payload` is
    /// unchanged.
    pub fn read_message(
        &mut self,
        message: &[u8],
        payload: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let tokens = self.check_turn(false)?;
        let start = payload.len();
        let result = if message.len() > MAX_MESSAGE_LEN {
            Err(NoiseError::MessageTooLong)
        } else {
            self.read_tokens(tokens, message, payload)
        };
        match result {
            Ok(()) => {
                self.message_index += 1;
                Ok(())
            }
            Err(err) => {
                payload[start..].zeroize();
                payload.truncate(start);
                self.fail();
                Err(err)
            }
        }
    }

    fn read_tokens(
        &mut self,
        tokens: &[Token],
        message: &[u8],
        payload: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let mut rest = message;
        for (i, &token) in tokens.iter().enumerate() {
            match token {
                E => {
                    let re = take_key(&mut rest)?;
                    self.re = Some(re);
                    self.symmetric.mix_hash(&re);
                    if self.psk.is_some() {
                        self.symmetric.mix_key(&re);
                    }
                    self.check_unused_remote_key(&tokens[i + 1..], true, &re)?;
                }
                S => {
                    let len = DH_LEN + if self.symmetric.has_key() { TAG_LEN } else { 0 };
                    if rest.len() < len {
                        return Err(NoiseError::Truncated);
                    }
                    let (encrypted, tail) = rest.split_at(len);
                    rest = tail;
                    let mut decrypted = Vec::with_capacity(DH_LEN);
                    self.symmetric.decrypt_and_hash(encrypted, &mut decrypted)?;
                    let rs: [u8; DH_LEN] = decrypted
                        .as_slice()
                        .try_into()
                        .map_err(|_| NoiseError::Truncated)?;
                    if let Some(expected) = &self.expected_rs
                        && !bool::from(expected.ct_eq(&rs))
                    {
                        return Err(NoiseError::RemoteStaticMismatch);
                    }
                    self.rs = Some(rs);
                    self.check_unused_remote_key(&tokens[i + 1..], false, &rs)?;
                }
                EE | ES | SE | SS | Psk => self.mix_token(token)?,
            }
        }
        self.symmetric.decrypt_and_hash(rest, payload)
    }

    /// Rejects a low-order remote key (`ephemeral` or static) that no DH token of the rest of
    /// the current message uses (only `XX`'s first message: the responder's `ee` comes in
    /// its own reply), so that a bad key fails the read that delivered it.
    fn check_unused_remote_key(
        &self,
        remaining: &[Token],
        ephemeral: bool,
        key: &[u8; DH_LEN],
    ) -> Result<(), NoiseError> {
        let used = remaining.iter().any(|token| match token {
            EE => ephemeral,
            SS => !ephemeral,
            // es = DH(e_initiator, s_responder); se = DH(s_initiator, e_responder).
            ES => ephemeral != self.initiator,
            SE => ephemeral == self.initiator,
            E | S | Psk => false,
        });
        if !used {
            self.s.dh(key)?;
        }
        Ok(())
    }

    /// Processes a DH token (`MixKey(DH(…))`) or a `psk` token (`MixKeyAndHash(psk)`), the
    /// same for writing and reading.
    fn mix_token(&mut self, token: Token) -> Result<(), NoiseError> {
        let shared = match token {
            EE => self.e.dh(self.re.as_ref().ok_or(NoiseError::Unusable)?)?,
            ES if self.initiator => self.e.dh(self.rs.as_ref().ok_or(NoiseError::Unusable)?)?,
            ES => self.s.dh(self.re.as_ref().ok_or(NoiseError::Unusable)?)?,
            SE if self.initiator => self.s.dh(self.re.as_ref().ok_or(NoiseError::Unusable)?)?,
            SE => self.e.dh(self.rs.as_ref().ok_or(NoiseError::Unusable)?)?,
            SS => self.s.dh(self.rs.as_ref().ok_or(NoiseError::Unusable)?)?,
            Psk => {
                // A `psk` token only occurs in the psk2 patterns, selected by `psk` being set.
                let psk = self.psk.as_ref().ok_or(NoiseError::Unusable)?;
                self.symmetric.mix_key_and_hash(psk);
                return Ok(());
            }
            // `E` and `S` are handled by the callers; patterns are fixed tables.
            E | S => return Err(NoiseError::Unusable),
        };
        self.symmetric.mix_key(shared.as_ref());
        Ok(())
    }

    /// Marks the state unusable and wipes its secrets.
    fn fail(&mut self) {
        self.failed = true;
        self.symmetric.zeroize();
        self.s.zeroize();
        self.e.zeroize();
        if let Some(psk) = &mut self.psk {
            // Wipe the bytes but keep `Some`: the protocol name still says psk2.
            psk.zeroize();
        }
    }

    /// `Split()` (Noise §5.2): the transport keys and the final handshake hash, consuming the
    /// handshake state.
    ///
    /// # Errors
    ///
    /// - [`NoiseError::NotFinished`]: messages remain to be written or read;
    /// - [`NoiseError::Unusable`]: an earlier operation failed.
    pub fn split(self) -> Result<TransportKeys, NoiseError> {
        if self.failed {
            return Err(NoiseError::Unusable);
        }
        if !self.is_finished() {
            return Err(NoiseError::NotFinished);
        }
        let (initiator_to_responder, responder_to_initiator) = self.symmetric.split();
        Ok(TransportKeys {
            initiator_to_responder,
            responder_to_initiator,
            handshake_hash: self.symmetric.handshake_hash(),
        })
    }
}

#[cfg(test)]
impl<H: NoiseHash> HandshakeState<H> {
    /// Test hook: send `static_public` / `ephemeral_public` instead of the real public keys
    /// (the secrets stay, so this side's own DH results are unaffected).
    pub(super) fn override_public_keys_for_test(
        &mut self,
        static_public: Option<[u8; DH_LEN]>,
        ephemeral_public: Option<[u8; DH_LEN]>,
    ) {
        if let Some(public) = static_public {
            self.s.set_public_for_test(public);
        }
        if let Some(public) = ephemeral_public {
            self.e.set_public_for_test(public);
        }
    }
}

/// Takes a clear `DH_LEN`-byte public key from the front of `rest`.
fn take_key(rest: &mut &[u8]) -> Result<[u8; DH_LEN], NoiseError> {
    if rest.len() < DH_LEN {
        return Err(NoiseError::Truncated);
    }
    let (key, tail) = rest.split_at(DH_LEN);
    *rest = tail;
    key.try_into().map_err(|_| NoiseError::Truncated)
}
