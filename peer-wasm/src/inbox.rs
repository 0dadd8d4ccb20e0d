//! The bounded queue between browser callbacks and the driver task.
//!
//! JS callbacks (WebSocket, data channel, peer connection, timers, the API)
//! never touch the overlay node: they push an input here and wake the task.
//! The queue is bounded so that a flood of frames cannot grow memory without
//! limit; what does not fit is counted and dropped, which the overlay treats
//! like loss on the link. Events that change a link's state are few (a
//! handful per link) and must not be lost, so they bypass the bound.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Most inputs waiting at once (frames and API calls).
pub const INBOX_CAPACITY: usize = 1024;

#[derive(Debug)]
struct Shared<T> {
    queue: VecDeque<T>,
    dropped: u64,
    timer_fired: bool,
    waker: Option<Waker>,
}

/// A cloneable handle to the queue: every callback holds one.
#[derive(Debug)]
pub struct Inbox<T> {
    shared: Rc<RefCell<Shared<T>>>,
}

impl<T> Clone for Inbox<T> {
    fn clone(&self) -> Self {
        Inbox {
            shared: Rc::clone(&self.shared),
        }
    }
}

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        Inbox {
            shared: Rc::new(RefCell::new(Shared {
                queue: VecDeque::new(),
                dropped: 0,
                timer_fired: false,
                waker: None,
            })),
        }
    }
}

/// What woke the task.
#[derive(Debug)]
pub struct Batch<T> {
    /// Inputs in arrival order.
    pub inputs: Vec<T>,
    /// The deadline timer fired.
    pub timer: bool,
}

impl<T> Inbox<T> {
    /// Queues an input if there is room; gives it back (counted) if not.
    pub fn push(&self, input: T) -> Result<(), T> {
        let mut s = self.shared.borrow_mut();
        if s.queue.len() >= INBOX_CAPACITY {
            s.dropped += 1;
            return Err(input);
        }
        s.queue.push_back(input);
        Self::wake(&mut s);
        Ok(())
    }

    /// Queues a link state change: never dropped (bounded by the number of
    /// links, not by what a peer sends).
    pub fn push_control(&self, input: T) {
        let mut s = self.shared.borrow_mut();
        s.queue.push_back(input);
        Self::wake(&mut s);
    }

    /// The deadline timer fired.
    pub fn fire_timer(&self) {
        let mut s = self.shared.borrow_mut();
        s.timer_fired = true;
        Self::wake(&mut s);
    }

    /// Inputs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.borrow().dropped
    }

    /// Waits until there is an input or the timer fired, and takes it all.
    pub fn next(&self) -> Next<T> {
        Next {
            inbox: self.clone(),
        }
    }

    fn wake(s: &mut Shared<T>) {
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    fn take(&self) -> Option<Batch<T>> {
        let mut s = self.shared.borrow_mut();
        if s.queue.is_empty() && !s.timer_fired {
            return None;
        }
        let timer = std::mem::take(&mut s.timer_fired);
        Some(Batch {
            inputs: s.queue.drain(..).collect(),
            timer,
        })
    }
}

/// The future of [`Inbox::next`].
#[derive(Debug)]
pub struct Next<T> {
    inbox: Inbox<T>,
}

impl<T> Future for Next<T> {
    type Output = Batch<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Batch<T>> {
        match self.inbox.take() {
            Some(batch) => Poll::Ready(batch),
            None => {
                self.inbox.shared.borrow_mut().waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_frames_unbounded_control_and_timer_flag() {
        let inbox = Inbox::default();
        for i in 0..INBOX_CAPACITY {
            assert!(inbox.push(i).is_ok());
        }
        assert_eq!(inbox.push(9999), Err(9999));
        assert_eq!(inbox.dropped(), 1);
        inbox.push_control(7);
        inbox.fire_timer();
        let batch = inbox.take().expect("batch");
        assert_eq!(batch.inputs.len(), INBOX_CAPACITY + 1);
        assert!(batch.timer);
        assert!(inbox.take().is_none());
        inbox.fire_timer();
        let batch = inbox.take().expect("timer only");
        assert!(batch.inputs.is_empty() && batch.timer);
    }
}
