//! `Sender<T>` / `Receiver<T>` and the state they share with the driver.

use crate::driver::{Command, DriverHandle, NodeInner};
use crate::error::{
    ChannelError, RecvError, RecvTimeoutError, SendError, SendFailure, SendTimeoutError,
    TryRecvError, TrySendError,
};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) type PeerKey = [u8; 32];

/// How long `recv` polls before parking the thread.
const RECV_SPIN: Duration = Duration::from_micros(50);

/// State of one named channel on this node, shared by its handles and the driver.
pub(crate) struct Shared {
    pub id: u64,
    pub name: String,
    pub type_name: &'static str,
    pub type_hash: u64,
    /// Messages this node buffers for its receivers (0 = rendezvous).
    pub capacity: u32,
    /// `Some(key)`: the channel is with that peer only; `None`: with every peer.
    pub scope: Option<PeerKey>,
    pub max_message: usize,
    pub state: Mutex<PortState>,
    pub cond: Condvar,
    pub driver: Arc<DriverHandle>,
    pub senders: AtomicUsize,
    pub receivers: AtomicUsize,
    /// Set by the driver when the receiving side can never get another message.
    pub recv_closed: Mutex<Option<ChannelError>>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, PortState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sending side of a channel: one link per peer.
#[derive(Default)]
pub(crate) struct PortState {
    pub links: Vec<SendLink>,
    /// Where the next search for credit starts (round robin over peers).
    pub next: usize,
    /// The whole channel is dead (node closed).
    pub closed: Option<ChannelError>,
    /// A `Flush` command is queued for the driver.
    pub flush_queued: bool,
}

/// Our sending state towards one peer. Sequence numbers count messages.
pub(crate) struct SendLink {
    pub peer: PeerKey,
    /// Connected, both directions opened, types match.
    pub ready: bool,
    /// The peer's buffer size for this channel.
    pub remote_cap: u32,
    /// Largest serialized message the peer accepts.
    pub remote_max: usize,
    /// Every message below this was taken by the peer's receivers.
    pub consumed: u64,
    /// Next sequence number to assign.
    pub sent: u64,
    /// Messages `consumed..sent`, kept until consumed so they can be resent after a
    /// reconnection.
    pub outbox: VecDeque<Bytes>,
    /// Next sequence number to hand to the transport (driver-owned).
    pub transmitted: u64,
    /// Why this link can no longer carry messages.
    pub dead: Option<ChannelError>,
}

impl SendLink {
    pub fn new(peer: PeerKey) -> Self {
        Self {
            peer,
            ready: false,
            remote_cap: 0,
            remote_max: usize::MAX,
            consumed: 0,
            sent: 0,
            outbox: VecDeque::new(),
            transmitted: 0,
            dead: None,
        }
    }
    fn window(&self) -> u64 {
        u64::from(self.remote_cap.max(1))
    }
    pub fn has_credit(&self) -> bool {
        self.ready && self.dead.is_none() && self.sent - self.consumed < self.window()
    }
    /// Applies a `CONSUMED` report; returns false for an impossible value.
    pub fn on_consumed(&mut self, upto: u64) -> bool {
        if upto > self.sent {
            return false;
        }
        while self.consumed < upto {
            self.outbox.pop_front();
            self.consumed += 1;
        }
        self.transmitted = self.transmitted.max(self.consumed);
        true
    }
}

/// Consumption counter of one peer's stream into one of our channels. Deliveries hold
/// it; the driver turns it into `CONSUMED` frames (which are the sender's credit).
pub(crate) struct RecvCounter {
    pub port: u64,
    pub peer: PeerKey,
    pub generation: u64,
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

/// The sending half of a netchan channel. Cloneable; when the last sender of a channel
/// is dropped, remote receivers see disconnection once they have drained it.
pub struct Sender<T> {
    shared: Arc<Shared>,
    /// The simple `listen`/`dial` forms keep their node alive through their handles.
    owner: Option<Arc<NodeInner>>,
    _t: PhantomData<fn(T)>,
}

/// The receiving half of a netchan channel. Cloneable (clones share the messages, each
/// message goes to one of them); when the last receiver is dropped, remote senders get
/// [`ChannelError::ReceiverClosed`].
pub struct Receiver<T> {
    rx: crossbeam_channel::Receiver<Delivery<T>>,
    shared: Arc<Shared>,
    owner: Option<Arc<NodeInner>>,
}

pub(crate) fn pair<T>(
    shared: Arc<Shared>,
    rx: crossbeam_channel::Receiver<Delivery<T>>,
    owner: Option<Arc<NodeInner>>,
) -> (Sender<T>, Receiver<T>) {
    shared.senders.fetch_add(1, Ordering::AcqRel);
    shared.receivers.fetch_add(1, Ordering::AcqRel);
    (
        Sender {
            shared: shared.clone(),
            owner: owner.clone(),
            _t: PhantomData,
        },
        Receiver { rx, shared, owner },
    )
}

enum Wait {
    Never,
    Until(Instant),
    Forever,
}

enum Outcome<T> {
    Sent,
    Full(T),
    Timeout(T),
    Failed(SendError<T>),
}

impl<T: Serialize> Sender<T> {
    /// Sends a value, blocking while the remote buffer is full (for capacity 0: until a
    /// remote receiver has taken it). Fails, giving the value back, when the channel is
    /// disconnected, the value is too large or cannot be serialized.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.send_with(value, Wait::Forever) {
            Outcome::Sent => Ok(()),
            Outcome::Failed(e) => Err(e),
            // A blocking send never reports "full"; keep the value anyway.
            Outcome::Full(v) | Outcome::Timeout(v) => {
                Err(SendError::new(v, ChannelError::NodeClosed.into()))
            }
        }
    }

    /// Sends without blocking: [`TrySendError::Full`] when no peer has credit right now.
    /// On a rendezvous channel the value is handed over only if a remote slot is free,
    /// and the call does not wait for the receiver to take it.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.send_with(value, Wait::Never) {
            Outcome::Sent => Ok(()),
            Outcome::Full(v) | Outcome::Timeout(v) => Err(TrySendError::Full(v)),
            Outcome::Failed(e) => Err(TrySendError::Failed(e)),
        }
    }

    /// Like [`send`](Self::send) but gives up (with the value) when no credit arrived
    /// within `timeout`. On a rendezvous channel a value already handed to the peer is
    /// waited for until the peer takes it or the channel disconnects.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline(value, Instant::now() + timeout)
    }

    /// Like [`send_timeout`](Self::send_timeout) with an absolute deadline.
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        match self.send_with(value, Wait::Until(deadline)) {
            Outcome::Sent => Ok(()),
            Outcome::Full(v) | Outcome::Timeout(v) => Err(SendTimeoutError::Timeout(v)),
            Outcome::Failed(e) => Err(SendTimeoutError::Failed(e)),
        }
    }

    fn send_with(&self, value: T, wait: Wait) -> Outcome<T> {
        let sh = &*self.shared;
        let bytes = match crate::codec::encode(&value) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(SendError::new(value, SendFailure::Encode(e))),
        };
        if bytes.len() > sh.max_message {
            let size = bytes.len();
            return Outcome::Failed(SendError::new(
                value,
                SendFailure::TooLarge {
                    size,
                    limit: sh.max_message,
                },
            ));
        }
        let bytes = Bytes::from(bytes);
        let mut st = sh.lock();
        loop {
            if let Some(e) = &st.closed {
                let e = e.clone();
                return Outcome::Failed(SendError::new(value, e.into()));
            }
            let n = st.links.len();
            let mut chosen = None;
            let mut alive = false;
            for i in 0..n {
                let idx = (st.next + i) % n;
                let l = &st.links[idx];
                if l.dead.is_some() {
                    continue;
                }
                alive = true;
                if l.has_credit() {
                    chosen = Some(idx);
                    break;
                }
            }
            if let Some(idx) = chosen {
                st.next = idx + 1;
                let l = &mut st.links[idx];
                if bytes.len() > l.remote_max {
                    let (size, limit) = (bytes.len(), l.remote_max);
                    return Outcome::Failed(SendError::new(
                        value,
                        SendFailure::TooLarge { size, limit },
                    ));
                }
                let seq = l.sent;
                let peer = l.peer;
                let rendezvous = l.remote_cap == 0;
                l.sent += 1;
                l.outbox.push_back(bytes);
                if !st.flush_queued {
                    st.flush_queued = true;
                    sh.driver.notify(Command::Flush(sh.id));
                }
                if !rendezvous || matches!(wait, Wait::Never) {
                    return Outcome::Sent;
                }
                // Rendezvous: wait until the remote receiver took it.
                loop {
                    let Some(l) = st.links.iter().find(|l| l.peer == peer) else {
                        return Outcome::Failed(SendError::new(
                            value,
                            ChannelError::NodeClosed.into(),
                        ));
                    };
                    if l.consumed > seq {
                        return Outcome::Sent;
                    }
                    if let Some(e) = l.dead.clone().or_else(|| st.closed.clone()) {
                        return Outcome::Failed(SendError::new(value, e.into()));
                    }
                    st = sh.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            }
            if !alive && sh.scope.is_some() {
                let e = st
                    .links
                    .iter()
                    .find_map(|l| l.dead.clone())
                    .unwrap_or(ChannelError::NodeClosed);
                return Outcome::Failed(SendError::new(value, e.into()));
            }
            match wait {
                Wait::Never => return Outcome::Full(value),
                Wait::Forever => st = sh.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Wait::Until(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Outcome::Timeout(value);
                    }
                    st = sh
                        .cond
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

impl<T> Sender<T> {
    pub(crate) fn with_owner(mut self, owner: Arc<NodeInner>) -> Self {
        self.owner = Some(owner);
        self
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
    /// Messages sent and not yet taken by a remote receiver, over all peers.
    pub fn len(&self) -> usize {
        let st = self.shared.lock();
        st.links
            .iter()
            .map(|l| (l.sent - l.consumed) as usize)
            .sum()
    }
    /// True when every sent message was taken by a remote receiver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Peers this sender can currently reach (connected, channel open on both sides).
    pub fn ready_peers(&self) -> usize {
        self.shared.lock().links.iter().filter(|l| l.ready).count()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::AcqRel);
        Self {
            shared: self.shared.clone(),
            owner: self.owner.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared
                .driver
                .notify(Command::SendersGone(self.shared.id));
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    pub(crate) fn with_owner(mut self, owner: Arc<NodeInner>) -> Self {
        self.owner = Some(owner);
        self
    }

    fn closed_reason(&self) -> RecvError {
        let r = self
            .shared
            .recv_closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        RecvError(r.unwrap_or(ChannelError::NodeClosed))
    }

    /// Blocks until a message arrives; fails once the channel is empty and disconnected.
    pub fn recv(&self) -> Result<T, RecvError> {
        if let Some(r) = self.spin(None) {
            return r.map_err(|()| self.closed_reason());
        }
        self.rx
            .recv()
            .map(Delivery::into_inner)
            .map_err(|_| self.closed_reason())
    }

    /// A message in flight usually lands within microseconds; parking the thread and
    /// being woken costs tens. So poll briefly (yielding the core) before parking:
    /// `Some(Ok)` a message, `Some(Err)` disconnected, `None` nothing within the spin
    /// (or before `deadline`).
    fn spin(&self, deadline: Option<Instant>) -> Option<Result<T, ()>> {
        let start = Instant::now();
        let until = deadline.map_or(start + RECV_SPIN, |d| d.min(start + RECV_SPIN));
        loop {
            match self.rx.try_recv() {
                Ok(d) => return Some(Ok(d.into_inner())),
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Some(Err(())),
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::yield_now();
        }
    }

    /// Takes a message if one is ready.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map(Delivery::into_inner).map_err(|e| {
            if e.is_empty() {
                TryRecvError::Empty
            } else {
                TryRecvError::Disconnected(self.closed_reason())
            }
        })
    }

    /// Waits at most `timeout` for a message.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(Instant::now() + timeout)
    }

    /// Waits until `deadline` for a message.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        if let Some(r) = self.spin(Some(deadline)) {
            return r.map_err(|()| RecvTimeoutError::Disconnected(self.closed_reason()));
        }
        self.rx
            .recv_deadline(deadline)
            .map(Delivery::into_inner)
            .map_err(|e| {
                if e.is_timeout() {
                    RecvTimeoutError::Timeout
                } else {
                    RecvTimeoutError::Disconnected(self.closed_reason())
                }
            })
    }

    /// A blocking iterator that ends when the channel is disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator over the messages ready now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Messages received and not yet taken.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The underlying crossbeam receiver, for `crossbeam_channel::select!`:
    ///
    /// ```no_run
    /// # fn demo(a: netchan::Receiver<String>, b: netchan::Receiver<u64>) {
    /// use crossbeam_channel::select;
    /// select! {
    ///     recv(a.as_crossbeam()) -> m => println!("a: {:?}", m.map(|d| d.into_inner())),
    ///     recv(b.as_crossbeam()) -> m => println!("b: {:?}", m.map(|d| d.into_inner())),
    /// }
    /// # }
    /// ```
    ///
    /// Selected items are [`Delivery`] values; `into_inner` (or dropping them) frees the
    /// slot for the sender. A disconnected result (`Err`) means the channel is closed;
    /// [`Receiver::try_recv`] then tells why.
    pub fn as_crossbeam(&self) -> &crossbeam_channel::Receiver<Delivery<T>> {
        &self.rx
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::AcqRel);
        Self {
            rx: self.rx.clone(),
            shared: self.shared.clone(),
            owner: self.owner.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared
                .driver
                .notify(Command::ReceiversGone(self.shared.id));
        }
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// Blocking iterator of [`Receiver::iter`].
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator of [`Receiver::try_iter`].
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator.
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
