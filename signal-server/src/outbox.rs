//! A connection's outgoing queue and its close switch, in one allocation.
//!
//! The node task fills it without ever waiting; the connection task empties
//! it. Unlike a tokio channel (which allocates a block of 32 slots when it
//! is made, and a oneshot beside it for the close) it holds no memory for
//! frames until one is queued and gives it back once drained: almost all of
//! a server's connections are idle at any moment, and each byte they hold
//! is paid ten thousand times.

use crate::socket::Out;
use chordphone_link::CloseCode;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Queue capacity kept after draining; more is given back.
const KEEP: usize = 4;

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Out>,
    /// Set by `close_now`, or `Normal` when the sender is gone.
    close: Option<CloseCode>,
    receiver_gone: bool,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Wakes the one receiver; a wake-up with nobody waiting is kept.
    wake: Notify,
    cap: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the queue usable: it holds
        // no invariant a half-done push could break.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `cap` frames are waiting: the peer does not read.
    Full,
    /// The connection task has ended.
    Closed,
}

/// The node task's end.
#[derive(Debug)]
pub struct Sender(Arc<Inner>);

/// The connection task's end.
#[derive(Debug)]
pub struct Receiver(Arc<Inner>);

/// What the connection task is to do next.
#[derive(Debug)]
pub enum Next {
    /// Send this.
    Out(Out),
    /// Close at once with this code (ahead of anything queued).
    Close(CloseCode),
}

/// An empty outbox holding up to `cap` frames.
pub fn outbox(cap: usize) -> (Sender, Receiver) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State::default()),
        wake: Notify::new(),
        cap,
    });
    (Sender(Arc::clone(&inner)), Receiver(inner))
}

impl Sender {
    /// Queues `out` unless the queue is full or the receiver gone.
    pub fn try_send(&self, out: Out) -> Result<(), Refused> {
        let mut s = self.0.lock();
        if s.receiver_gone {
            return Err(Refused::Closed);
        }
        if s.items.len() >= self.0.cap {
            return Err(Refused::Full);
        }
        s.items.push_back(out);
        drop(s);
        self.0.wake.notify_one();
        Ok(())
    }

    /// Closes at once with `code`; what is queued is dropped.
    pub fn close_now(&self, code: CloseCode) {
        self.0.lock().close.get_or_insert(code);
        self.0.wake.notify_one();
    }
}

impl Drop for Sender {
    /// The node task forgot the connection: close it.
    fn drop(&mut self) {
        self.close_now(CloseCode::Normal);
    }
}

impl Receiver {
    /// The next thing to do: a close first, then frames in order.
    pub async fn next(&self) -> Next {
        loop {
            {
                let mut s = self.0.lock();
                if let Some(code) = s.close {
                    return Next::Close(code);
                }
                if let Some(out) = s.items.pop_front() {
                    if s.items.is_empty() && s.items.capacity() > KEEP {
                        s.items.shrink_to(KEEP);
                    }
                    return Next::Out(out);
                }
            }
            self.0.wake.notified().await;
        }
    }

    /// Resolves with the code once a close is asked for (frames queued
    /// meanwhile stay queued).
    pub async fn closed(&self) -> CloseCode {
        loop {
            if let Some(code) = self.0.lock().close {
                return code;
            }
            self.0.wake.notified().await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.receiver_gone = true;
        s.items = VecDeque::new();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    fn frame(b: u8) -> Out {
        Out::Frame(Bytes::from(vec![b]))
    }

    #[tokio::test]
    async fn frames_in_order_then_full_then_close_first() {
        let (tx, rx) = outbox(2);
        tx.try_send(frame(1)).unwrap();
        tx.try_send(frame(2)).unwrap();
        assert_eq!(tx.try_send(frame(3)), Err(Refused::Full));
        assert!(matches!(rx.next().await, Next::Out(Out::Frame(b)) if b[..] == [1]));
        tx.try_send(frame(3)).unwrap();
        tx.close_now(CloseCode::SlowReader);
        assert!(matches!(
            rx.next().await,
            Next::Close(CloseCode::SlowReader)
        ));
        assert_eq!(rx.closed().await, CloseCode::SlowReader);
    }

    #[tokio::test]
    async fn a_dropped_sender_closes_normally_and_a_dropped_receiver_refuses() {
        let (tx, rx) = outbox(2);
        drop(tx);
        assert!(matches!(rx.next().await, Next::Close(CloseCode::Normal)));
        let (tx, rx) = outbox(2);
        drop(rx);
        assert_eq!(tx.try_send(frame(1)), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken() {
        let (tx, rx) = outbox(2);
        let waiting = tokio::spawn(async move { matches!(rx.next().await, Next::Out(_)) });
        tokio::task::yield_now().await;
        tx.try_send(frame(1)).unwrap();
        assert!(waiting.await.unwrap());
    }
}
