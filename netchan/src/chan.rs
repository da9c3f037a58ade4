//! `Sender<T>` / `Receiver<T>`: the application's handles of a named channel. They
//! share only [`handoff`](crate::handoff) state with the driver.

use crate::driver::{Command, NodeInner};
use crate::error::{
    ChannelError, RecvError, RecvTimeoutError, SendError, SendFailure, SendTimeoutError,
    TryRecvError, TrySendError,
};
pub use crate::handoff::Delivery;
use crate::handoff::Shared;
use bytes::Bytes;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long `recv` polls before parking the thread.
const RECV_SPIN: Duration = Duration::from_micros(50);

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
        let limit = sh
            .max_message
            .min(sh.gate.max_message.load(Ordering::Acquire));
        if bytes.len() > limit {
            let size = bytes.len();
            return Outcome::Failed(SendError::new(value, SendFailure::TooLarge { size, limit }));
        }
        // Bounded by the wait: every pass either takes credit, fails, or waits.
        loop {
            if let Some(e) = sh.gate.closed.get() {
                return Outcome::Failed(SendError::new(value, e.clone().into()));
            }
            if sh.gate.try_take() {
                // The peers may have changed while we waited: check their limit again.
                let limit = sh
                    .max_message
                    .min(sh.gate.max_message.load(Ordering::Acquire));
                if bytes.len() > limit {
                    sh.gate.give_back();
                    let size = bytes.len();
                    return Outcome::Failed(SendError::new(
                        value,
                        SendFailure::TooLarge { size, limit },
                    ));
                }
                break;
            }
            match wait {
                Wait::Never => return Outcome::Full(value),
                Wait::Forever => sh.gate.wait(None),
                Wait::Until(d) => {
                    if Instant::now() >= d {
                        return Outcome::Timeout(value);
                    }
                    sh.gate.wait(Some(d));
                }
            }
        }
        let payload = Bytes::from(bytes);
        // A rendezvous send waits until the remote receiver took the value (try_send
        // only needs the free slot it just took).
        if !sh.gate.rendezvous.load(Ordering::Acquire) || matches!(wait, Wait::Never) {
            sh.driver.notify(Command::Send {
                port: sh.id,
                payload,
                done: None,
            });
            return Outcome::Sent;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        sh.driver.notify(Command::Send {
            port: sh.id,
            payload,
            done: Some(tx),
        });
        match rx.recv() {
            Ok(Ok(())) => Outcome::Sent,
            Ok(Err(e)) => Outcome::Failed(SendError::new(value, e.into())),
            Err(_) => Outcome::Failed(SendError::new(value, ChannelError::NodeClosed.into())),
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
        usize::try_from(self.shared.gate.unsettled()).unwrap_or(usize::MAX)
    }
    /// True when every sent message was taken by a remote receiver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Peers this sender can currently reach (connected, channel open on both sides).
    pub fn ready_peers(&self) -> usize {
        self.shared.gate.ready_peers.load(Ordering::Acquire)
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
        let r = self.shared.recv_closed.get().cloned();
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
