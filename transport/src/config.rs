//! Configuration and the transport parameters exchanged in the handshake.

use crate::path::{PathMode, PathSelectorFactory, SinglePath};
use crate::recovery::{CongestionControl, RecoveryConfig};
use crate::wire::{Reader, WireError, write_varint};
use std::sync::Arc;
use std::time::Duration;

/// Per-connection knobs. Every field has a sensible default; use the setters or struct
/// update syntax.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Close the connection after this long without receiving anything. The effective
    /// value is the smaller of both peers' (zero on one side means "use the other's").
    pub idle_timeout: Duration,
    /// Send a PING when nothing was sent for this long (None = no keepalive). Set it
    /// below the idle timeout to keep a quiet connection open.
    pub keepalive_interval: Option<Duration>,
    /// How long the dialer keeps retrying the handshake before giving up.
    pub handshake_timeout: Duration,
    /// Largest UDP payload we send.
    pub max_datagram_size: u16,
    /// Largest message we accept on a channel (and advertise to the peer).
    pub max_message_size: u64,
    /// Receive window per channel in bytes (credit granted ahead of what the application
    /// has read).
    pub channel_receive_window: u64,
    /// Receive window for the whole connection in bytes.
    pub connection_receive_window: u64,
    /// Bytes a channel may hold unacknowledged on the send side before `send` reports
    /// [`SendError::Blocked`](crate::SendError::Blocked). One message may always be queued
    /// into an empty buffer, whatever its size.
    pub channel_send_buffer: u64,
    /// Most channels the peer may open.
    pub max_channels: u64,
    /// Maximum ACK delay we promise (and the delayed-ACK timer).
    pub max_ack_delay: Duration,
    /// Send an ACK at least every this many ack-eliciting packets.
    pub ack_frequency: u32,
    /// Most unreliable datagrams queued for sending or receiving.
    pub datagram_queue: usize,
    /// Update packet protection keys after this long (default 120 s).
    pub rekey_interval: Duration,
    /// Update packet protection keys after this many packets sent (default 2^24).
    pub rekey_packets: u64,
    /// The dialer re-handshakes this often: a fresh X25519 exchange over the live
    /// connection whose secret goes into the next key generation, so keys from then on
    /// cannot be derived from earlier ones (default 120 s, as WireGuard; `None`: never).
    pub rehandshake_interval: Option<Duration>,
    /// Loss recovery and congestion control.
    pub recovery: RecoveryConfig,
    /// Builds each connection's path selector: which path every packet goes on (default
    /// [`SinglePath`]; the multipath schedulers plug in here).
    pub path_selector: Arc<dyn PathSelectorFactory>,
    /// Most paths the peer may keep open on a connection at once, path 0 included
    /// (advertised as transport parameter 0x0b). Multipath is on when both sides allow
    /// more than one; the default, 1, keeps a connection on a single path.
    pub max_paths: u64,
    /// The mode of every channel direction unless
    /// [`Connection::set_channel_mode`](crate::Connection::set_channel_mode) chose another
    /// (default [`PathMode::Stripe`]; matters only with several paths).
    pub path_mode: PathMode,
    /// With several paths, a path that sent nothing ack-eliciting for this long (a standby
    /// or idle path, or a failed one between its backed-off probes) is sent a PING, so its
    /// health stays known (default 1 s).
    pub path_keepalive: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keepalive_interval: None,
            handshake_timeout: Duration::from_secs(10),
            max_datagram_size: 1200,
            max_message_size: 16 << 20,
            channel_receive_window: 1 << 20,
            connection_receive_window: 16 << 20,
            channel_send_buffer: 1 << 20,
            max_channels: 1024,
            max_ack_delay: Duration::from_millis(25),
            ack_frequency: 2,
            datagram_queue: 256,
            rekey_interval: Duration::from_secs(120),
            rekey_packets: 1 << 24,
            rehandshake_interval: Some(Duration::from_secs(120)),
            recovery: RecoveryConfig::default(),
            path_selector: Arc::new(SinglePath),
            max_paths: 1,
            path_mode: PathMode::Stripe,
            path_keepalive: Duration::from_secs(1),
        }
    }
}

impl TransportConfig {
    /// Selects the congestion controller.
    pub fn congestion(mut self, cc: CongestionControl) -> Self {
        self.recovery.congestion = cc;
        self
    }
    /// Sets the idle timeout.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Sets (or clears) the keepalive interval.
    pub fn keepalive(mut self, d: Option<Duration>) -> Self {
        self.keepalive_interval = d;
        self
    }
    /// Sets (or turns off) the re-handshake interval.
    pub fn rehandshake(mut self, every: Option<Duration>) -> Self {
        self.rehandshake_interval = every;
        self
    }
    /// Sets the path-selection policy.
    pub fn path_selector(mut self, factory: Arc<dyn PathSelectorFactory>) -> Self {
        self.path_selector = factory;
        self
    }
    /// Sets how many paths the peer may keep open at once (more than 1 enables
    /// multipath when the peer allows it too); at most [`MAX_PATHS`].
    pub fn max_paths(mut self, n: u64) -> Self {
        self.max_paths = n.clamp(1, MAX_PATHS);
        self
    }
    /// Sets the default mode of channel directions (see [`PathMode`]).
    pub fn path_mode(mut self, mode: PathMode) -> Self {
        self.path_mode = mode;
        self
    }
    /// Sets the largest message accepted on a channel.
    pub fn max_message_size(mut self, n: u64) -> Self {
        self.max_message_size = n;
        self
    }

    /// The transport parameters this configuration advertises in the handshake.
    pub fn local_params(&self) -> TransportParams {
        TransportParams {
            idle_timeout_ms: self.idle_timeout.as_millis().min(u32::MAX as u128) as u64,
            max_ack_delay_ms: self.max_ack_delay.as_millis().min(1 << 14) as u64,
            initial_max_data: self.connection_receive_window,
            initial_max_channel_data: self.channel_receive_window,
            max_channels: self.max_channels,
            max_message_size: self.max_message_size,
            max_datagram_size: u64::from(self.max_datagram_size),
            refused: false,
            connection_id: None,
            timestamp_ms: None,
            max_paths: self.max_paths.clamp(1, MAX_PATHS),
        }
    }
}

/// Most paths a connection keeps open at once, whatever either side allows.
pub const MAX_PATHS: u64 = 16;

/// The transport parameters each side sends inside its (authenticated) handshake payload.
///
/// Encoded as a sequence of `(id varint, value varint)` pairs; unknown ids are ignored,
/// a repeated id is an error, at most [`TransportParams::MAX_ENTRIES`] entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportParams {
    /// 0x01: idle timeout in ms (0 = none).
    pub idle_timeout_ms: u64,
    /// 0x02: max ACK delay in ms.
    pub max_ack_delay_ms: u64,
    /// 0x03: initial connection-wide credit in bytes.
    pub initial_max_data: u64,
    /// 0x04: initial per-channel credit in bytes.
    pub initial_max_channel_data: u64,
    /// 0x05: most channels the peer may open.
    pub max_channels: u64,
    /// 0x06: largest message accepted.
    pub max_message_size: u64,
    /// 0x07: largest UDP payload accepted.
    pub max_datagram_size: u64,
    /// 0x08: present (value 1) when the listener refuses the connection.
    pub refused: bool,
    /// 0x09: the listener's connection ID (checked against the Handshake header).
    pub connection_id: Option<[u8; 8]>,
    /// 0x0a: the dialer's wall-clock time in ms since the Unix epoch, so a listener can
    /// reject replayed first messages (it must increase per dialer identity).
    pub timestamp_ms: Option<u64>,
    /// 0x0b: most paths the sender lets the peer keep open at once (1 when missing:
    /// single path; sent only when above 1).
    pub max_paths: u64,
}

impl TransportParams {
    /// Most entries a parameter block may have.
    pub const MAX_ENTRIES: usize = 64;

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut put = |id: u64, v: u64| {
            write_varint(out, id);
            write_varint(out, v.min(crate::wire::MAX_VARINT));
        };
        put(0x01, self.idle_timeout_ms);
        put(0x02, self.max_ack_delay_ms);
        put(0x03, self.initial_max_data);
        put(0x04, self.initial_max_channel_data);
        put(0x05, self.max_channels);
        put(0x06, self.max_message_size);
        put(0x07, self.max_datagram_size);
        if self.refused {
            put(0x08, 1);
        }
        if let Some(cid) = self.connection_id {
            put(0x09, u64::from_be_bytes(cid) & crate::wire::MAX_VARINT);
        }
        if let Some(t) = self.timestamp_ms {
            put(0x0a, t);
        }
        if self.max_paths > 1 {
            put(0x0b, self.max_paths);
        }
    }

    /// Decodes a parameter block; missing entries take protocol defaults.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut p = TransportParams {
            idle_timeout_ms: 0,
            max_ack_delay_ms: 25,
            initial_max_data: 0,
            initial_max_channel_data: 0,
            max_channels: 0,
            max_message_size: 0,
            max_datagram_size: 1200,
            refused: false,
            connection_id: None,
            timestamp_ms: None,
            max_paths: 1,
        };
        let mut r = Reader::new(bytes);
        let mut seen = 0u64; // bitmap of known ids
        let mut entries = 0usize;
        while !r.is_empty() {
            entries += 1;
            if entries > Self::MAX_ENTRIES {
                return Err(WireError::TooLong {
                    what: "transport parameters",
                    len: entries as u64,
                });
            }
            let id = r.varint("parameter id")?;
            let v = r.varint("parameter value")?;
            if id < 64 {
                if seen & (1 << id) != 0 {
                    return Err(WireError::InvalidParameter);
                }
                seen |= 1 << id;
            }
            match id {
                0x01 => p.idle_timeout_ms = v,
                0x02 => p.max_ack_delay_ms = v.min(1 << 14),
                0x03 => p.initial_max_data = v,
                0x04 => p.initial_max_channel_data = v,
                0x05 => p.max_channels = v,
                0x06 => p.max_message_size = v,
                0x07 if v < 1200 => return Err(WireError::InvalidParameter),
                0x07 => p.max_datagram_size = v,
                0x08 => p.refused = v != 0,
                0x09 => p.connection_id = Some(v.to_be_bytes()),
                0x0a => p.timestamp_ms = Some(v),
                0x0b => p.max_paths = v.max(1),
                _ => {}
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_roundtrip_and_reject_duplicates() {
        let mut p = TransportConfig::default().max_paths(4).local_params();
        assert_eq!(p.max_paths, 4);
        p.refused = true;
        let mut b = Vec::new();
        p.encode(&mut b);
        assert_eq!(TransportParams::decode(&b).unwrap(), p);
        let mut dup = b.clone();
        dup.extend_from_slice(&[0x01, 0x05]);
        assert_eq!(
            TransportParams::decode(&dup),
            Err(WireError::InvalidParameter)
        );
        // unknown ids are skipped
        let mut ext = b.clone();
        ext.extend_from_slice(&[0x30, 0x07]);
        assert_eq!(TransportParams::decode(&ext).unwrap(), p);
        assert!(TransportParams::decode(&b[..b.len() - 1]).is_err());
    }
}
