//! What application threads and the driver thread share, and nothing else: per named
//! channel a [`Shared`] (its description, the senders' [`Gate`], the receivers' close
//! reason), per received stream a [`RecvCounter`], and the crossbeam channels the
//! messages travel through. Every mutable field is an atomic or a set-once cell; the
//! protocol state (sequence numbers, outboxes, credit accounting) lives in the sans-IO
//! session that only the driver touches.

use crate::driver::{Command, DriverHandle};
use crate::error::ChannelError;
use crate::session::{PeerKey, PortId, StreamId};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

/// State of one named channel on this node, shared by its handles and the driver.
pub(crate) struct Shared {
    pub id: PortId,
    pub name: String,
    pub type_name: &'static str,
    pub type_hash: u64,
    /// Messages this node buffers for its receivers (0 = rendezvous).
    pub capacity: u32,
    /// `Some(key)`: the channel is with that peer only; `None`: with every peer.
    pub scope: Option<PeerKey>,
    pub max_message: usize,
    /// How our data on it is spread over a peer's paths (`None`: the node's default).
    pub mode: Option<netchan_transport::PathMode>,
    pub gate: Gate,
    pub driver: Arc<DriverHandle>,
    pub senders: AtomicUsize,
    pub receivers: AtomicUsize,
    /// Set (once) when the receiving side can never get another message.
    pub recv_closed: OnceLock<ChannelError>,
}

/// The senders' side of a channel: credit the session promised, and what they need to
/// know to send (or fail) without asking the driver.
pub(crate) struct Gate {
    /// Messages that may still be sent.
    credit: AtomicU64,
    /// Sending fails from now on with this.
    pub closed: OnceLock<ChannelError>,
    pub ready_peers: AtomicUsize,
    /// Largest message every ready peer accepts.
    pub max_message: AtomicUsize,
    /// Some ready peer is a rendezvous: a send waits until the value was taken.
    pub rendezvous: AtomicBool,
    /// Messages handed over by senders, and those the remote receivers took.
    sent: AtomicU64,
    settled: AtomicU64,
    /// Parking for blocked senders. The mutex guards no data (all state is in the
    /// atomics above); holding it while checking makes check-then-wait atomic against
    /// [`notify`](Self::notify), so a wake-up is never lost.
    park: Mutex<()>,
    cond: Condvar,
}

impl Gate {
    pub fn new() -> Self {
        Self {
            credit: AtomicU64::new(0),
            closed: OnceLock::new(),
            ready_peers: AtomicUsize::new(0),
            max_message: AtomicUsize::new(usize::MAX),
            rendezvous: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            park: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Takes one message of credit if there is any.
    pub fn try_take(&self) -> bool {
        let taken = self
            .credit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1))
            .is_ok();
        if taken {
            self.sent.fetch_add(1, Ordering::AcqRel);
        }
        taken
    }

    /// Returns credit taken by [`try_take`](Self::try_take) for a message that was not
    /// sent after all.
    pub fn give_back(&self) {
        self.sent.fetch_sub(1, Ordering::AcqRel);
        self.add_credit(1);
    }

    /// Waits until credit may be available, the gate closes, or `deadline` passes.
    pub fn wait(&self, deadline: Option<Instant>) {
        let guard = self.park.lock().unwrap_or_else(|e| e.into_inner());
        if self.credit.load(Ordering::Acquire) > 0 || self.closed.get().is_some() {
            return;
        }
        match deadline {
            None => drop(self.cond.wait(guard)),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                drop(self.cond.wait_timeout(guard, left));
            }
        }
    }

    /// Wakes every blocked sender to look again.
    pub fn notify(&self) {
        let _guard = self.park.lock().unwrap_or_else(|e| e.into_inner());
        self.cond.notify_all();
    }

    /// The session promised `n` more messages.
    pub fn add_credit(&self, n: u64) {
        self.credit.fetch_add(n, Ordering::AcqRel);
        self.notify();
    }

    /// `n` messages were taken by remote receivers.
    pub fn settle(&self, n: u64) {
        self.settled.fetch_add(n, Ordering::AcqRel);
    }

    /// Messages handed over and not yet taken by a remote receiver.
    pub fn unsettled(&self) -> u64 {
        let settled = self.settled.load(Ordering::Acquire);
        self.sent.load(Ordering::Acquire).saturating_sub(settled)
    }

    /// Sending fails from now on (the first reason sticks).
    pub fn close(&self, why: ChannelError) {
        let _ = self.closed.set(why);
        self.notify();
    }
}

/// Consumption counter of one peer's stream into one of our channels. Deliveries hold
/// it; the driver turns it into `CONSUMED` frames (which are the sender's credit).
pub(crate) struct RecvCounter {
    pub port: PortId,
    pub stream: StreamId,
    /// Messages taken by receivers.
    pub consumed: AtomicU64,
    /// `consumed` value last reported to the peer (driver-written).
    pub reported: AtomicU64,
    /// Messages the driver queued for receivers (written before each is queued).
    pub delivered: AtomicU64,
    /// Report after this many unreported messages.
    pub threshold: u64,
    pub notify_pending: AtomicBool,
    pub driver: Arc<DriverHandle>,
}

impl RecvCounter {
    fn consume(self: &Arc<Self>) {
        let c = self.consumed.fetch_add(1, Ordering::AcqRel) + 1;
        let unreported = c.saturating_sub(self.reported.load(Ordering::Acquire));
        // Report every `threshold` messages, and whenever the receivers have taken all
        // that arrived: a sender waiting for the last few never waits for more.
        let drained = c >= self.delivered.load(Ordering::Acquire);
        if unreported > 0
            && (unreported >= self.threshold || drained)
            && !self.notify_pending.swap(true, Ordering::AcqRel)
        {
            self.driver.notify(Command::Consumed(self.clone()));
        }
    }
}

/// A received value that has not been taken yet. Taking it ([`into_inner`], or dropping
/// it) tells the sender the slot is free again; `Receiver::recv` does this for you.
/// You see this type only when selecting over [`Receiver::as_crossbeam`].
///
/// [`into_inner`]: Delivery::into_inner
/// [`Receiver::as_crossbeam`]: crate::Receiver::as_crossbeam
pub struct Delivery<T> {
    value: T,
    _ack: Ack,
}

struct Ack(Arc<RecvCounter>);

impl Drop for Ack {
    fn drop(&mut self) {
        self.0.consume();
    }
}

impl<T> Delivery<T> {
    pub(crate) fn new(value: T, counter: Arc<RecvCounter>) -> Self {
        Self {
            value,
            _ack: Ack(counter),
        }
    }
    /// The value (and credit back to the sender).
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Delivery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// What the driver does with the bytes of a received message: decode them as the
/// channel's type and queue them for its receivers.
pub(crate) trait Sink: Send {
    fn deliver(&mut self, payload: &[u8], counter: &Arc<RecvCounter>) -> Result<(), SinkError>;
    /// No message will ever arrive again: receivers see disconnection after draining.
    fn close(&mut self);
}

pub(crate) enum SinkError {
    Decode(String),
    /// Every receiver was dropped.
    Gone,
}

pub(crate) struct TypedSink<T> {
    pub tx: Option<crossbeam_channel::Sender<Delivery<T>>>,
}

impl<T: DeserializeOwned + Send + 'static> Sink for TypedSink<T> {
    fn deliver(&mut self, payload: &[u8], counter: &Arc<RecvCounter>) -> Result<(), SinkError> {
        let value: T = crate::codec::decode(payload).map_err(SinkError::Decode)?;
        let tx = self.tx.as_ref().ok_or(SinkError::Gone)?;
        counter.delivered.fetch_add(1, Ordering::AcqRel);
        tx.send(Delivery::new(value, counter.clone()))
            .map_err(|_| SinkError::Gone)
    }
    fn close(&mut self) {
        self.tx = None;
    }
}
