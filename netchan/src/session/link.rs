//! The state of one named channel with one peer: our sending side (sequence numbers,
//! the outbox kept until the peer's receivers took each message, its credit) and the
//! receiving side of the peer's stream (expected sequence, consumption reports).

use super::{PeerKey, SendToken};
use crate::error::ChannelError;
use bytes::Bytes;
use netchan_transport::ChannelId;
use std::collections::VecDeque;

/// Identifies one peer's stream into one of our ports: a new generation starts whenever
/// the peer's node instance (incarnation) changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// The sending peer.
    pub peer: PeerKey,
    /// Increases with every fresh stream on this node.
    pub generation: u64,
}

/// A message kept in the outbox until consumed: its bytes and, for a rendezvous send,
/// the token to complete.
#[derive(Debug)]
pub(crate) struct Queued {
    pub payload: Bytes,
    pub token: Option<SendToken>,
}

/// Our sending state towards one peer. Sequence numbers count messages.
#[derive(Debug)]
pub(crate) struct SendSide {
    /// Connected, both directions opened, types match.
    pub ready: bool,
    /// The peer's buffer size for this channel (0 = rendezvous), clamped to our
    /// [`SessionLimits::max_peer_capacity`](super::SessionLimits).
    pub remote_cap: u32,
    /// Largest serialized message the peer accepts.
    pub remote_max: usize,
    /// Every message below this was taken by the peer's receivers.
    pub consumed: u64,
    /// Next sequence number to assign.
    pub sent: u64,
    /// Messages `consumed..sent`, kept until consumed so they can be resent after a
    /// reconnection.
    pub outbox: VecDeque<Queued>,
    /// Bytes of the messages in `outbox`.
    pub outbox_bytes: u64,
    /// Most bytes the outbox may hold before the link takes no more (one message always
    /// fits in an empty outbox).
    pub max_outbox_bytes: u64,
    /// Next sequence number to hand to the transport.
    pub transmitted: u64,
    /// Why this link can no longer carry messages.
    pub dead: Option<ChannelError>,
}

impl SendSide {
    pub fn new() -> Self {
        Self {
            ready: false,
            remote_cap: 0,
            remote_max: usize::MAX,
            consumed: 0,
            sent: 0,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            max_outbox_bytes: u64::MAX,
            transmitted: 0,
            dead: None,
        }
    }

    fn window(&self) -> u64 {
        u64::from(self.remote_cap.max(1))
    }

    /// Messages this link may take now: the peer's window, while the outbox (what the
    /// peer has not consumed) is under its byte bound.
    pub fn room(&self) -> u64 {
        if !self.ready || self.dead.is_some() || self.outbox_bytes >= self.max_outbox_bytes {
            return 0;
        }
        self.window().saturating_sub(self.sent - self.consumed)
    }

    /// Assigns the next sequence number to a message.
    pub fn push(&mut self, q: Queued) -> u64 {
        let seq = self.sent;
        self.sent += 1;
        self.outbox_bytes += q.payload.len() as u64;
        self.outbox.push_back(q);
        seq
    }

    /// Applies a `CONSUMED` report: the messages it settles (with their tokens), or
    /// `None` for an impossible value.
    pub fn on_consumed(&mut self, upto: u64) -> Option<Vec<Queued>> {
        if upto > self.sent {
            return None;
        }
        let mut settled = Vec::new();
        while self.consumed < upto {
            if let Some(q) = self.outbox.pop_front() {
                self.outbox_bytes -= q.payload.len() as u64;
                settled.push(q);
            }
            self.consumed += 1;
        }
        self.transmitted = self.transmitted.max(self.consumed);
        Some(settled)
    }

    /// Marks the link dead (the first reason sticks).
    pub fn kill(&mut self, why: ChannelError) {
        self.dead.get_or_insert(why);
        self.ready = false;
    }
}

/// Receive state of one peer's stream into one of our ports.
#[derive(Debug)]
pub(crate) struct RecvSide {
    pub stream: StreamId,
    /// Sequence number of the first message of this stream (consumed count 0).
    pub base: u64,
    pub next_expected: Option<u64>,
    pub remote_incarnation: u64,
    /// Messages of this stream taken by our receivers (as the application last said).
    pub consumed: u64,
    /// `consumed` value last reported to the peer.
    pub reported: u64,
    /// `SEND_CLOSED(end)` seen.
    pub end: Option<u64>,
    /// Protocol violation or finished: ignore further data.
    pub done: bool,
    /// Sizes of the messages delivered and not yet taken, oldest first (at most the
    /// port's capacity of them), and their sum.
    pub held: VecDeque<u32>,
    pub held_bytes: u64,
    /// Reading from the transport stopped because `held_bytes` reached the bound: the
    /// rest waits there, under the transport's flow control, until receivers take some.
    pub paused: bool,
}

impl RecvSide {
    pub fn new(stream: StreamId, remote_incarnation: u64) -> Self {
        Self {
            stream,
            base: 0,
            next_expected: None,
            remote_incarnation,
            consumed: 0,
            reported: 0,
            end: None,
            done: false,
            held: VecDeque::new(),
            held_bytes: 0,
            paused: false,
        }
    }

    /// A message of `size` bytes was delivered to the receivers.
    pub fn on_delivered(&mut self, size: usize) {
        self.held.push_back(u32::try_from(size).unwrap_or(u32::MAX));
        self.held_bytes += size as u64;
    }

    /// Receivers took messages up to `consumed` in total: their bytes are no longer held.
    pub fn on_taken(&mut self, consumed: u64) {
        let delivered = self.next_expected.map_or(0, |n| n - self.base);
        let still_held = delivered.saturating_sub(consumed);
        while self.held.len() as u64 > still_held {
            let Some(size) = self.held.pop_front() else {
                break;
            };
            self.held_bytes -= u64::from(size);
        }
    }
}

/// One named channel with one peer.
#[derive(Debug)]
pub(crate) struct Link {
    /// Transport channel we opened in the current connection (our DATA, their CONSUMED).
    pub ours: Option<ChannelId>,
    /// Transport channel the peer opened (their DATA, our CONSUMED).
    pub theirs: Option<ChannelId>,
    pub send: SendSide,
    pub recv: Option<RecvSide>,
    pub send_closed_sent: bool,
    pub recv_closed_sent: bool,
}

impl Link {
    pub fn new() -> Self {
        Self {
            ours: None,
            theirs: None,
            send: SendSide::new(),
            recv: None,
            send_closed_sent: false,
            recv_closed_sent: false,
        }
    }

    /// The connection is gone: its transport channels are forgotten and unconsumed
    /// messages will be resent on the next one.
    pub fn detach(&mut self) {
        self.ours = None;
        self.theirs = None;
        self.send_closed_sent = false;
        self.recv_closed_sent = false;
        self.send.ready = false;
        self.send.transmitted = self.send.consumed;
    }
}
