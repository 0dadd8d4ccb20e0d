//! The event queue: a calendar of one-millisecond buckets for the next
//! sixteen seconds and a heap for anything later.
//!
//! Almost every event lands within a few hundred milliseconds of now
//! (message latencies, acknowledgement timeouts, periodic upkeep), so
//! pushing is an append to a bucket and popping walks a sorted bucket; a
//! binary heap of millions of entries spends most of its time on cache
//! misses instead. Order is exactly (time, sequence number), as with a heap.

use chordphone_overlay::Time;
use core::cmp::Ordering;
use std::collections::BinaryHeap;

const BUCKETS: usize = 1 << 14;

/// An entry ordered by (time, sequence).
#[derive(Debug)]
pub struct Entry<T> {
    pub at: Time,
    pub seq: u64,
    pub item: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (Time, u64) {
        (self.at, self.seq)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the far heap is a max-heap and must yield the earliest.
        o.key().cmp(&self.key())
    }
}

fn ms(t: Time) -> u64 {
    t.as_micros() / 1000
}

/// Events in (time, sequence) order.
#[derive(Debug)]
pub struct Queue<T> {
    /// The bucket being consumed, sorted latest first (pop from the end).
    /// It also takes entries earlier than `cursor` (scheduled "now" after a
    /// look-ahead moved the cursor on).
    current: Vec<Entry<T>>,
    buckets: Vec<Vec<Entry<T>>>,
    /// The millisecond `current` stands for.
    cursor: u64,
    far: BinaryHeap<Entry<T>>,
    len: usize,
}

impl<T> Queue<T> {
    pub fn new(start: Time) -> Queue<T> {
        Queue {
            current: Vec::new(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            cursor: ms(start),
            far: BinaryHeap::new(),
            len: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push(&mut self, at: Time, seq: u64, item: T) {
        let e = Entry { at, seq, item };
        let m = ms(at);
        self.len += 1;
        if m <= self.cursor {
            // Keep `current` sorted latest first.
            let pos = self.current.partition_point(|x| x.key() > e.key());
            self.current.insert(pos, e);
        } else if m < self.cursor + BUCKETS as u64 {
            self.buckets[(m % BUCKETS as u64) as usize].push(e);
        } else {
            self.far.push(e);
        }
    }

    /// Moves on to the next non-empty millisecond if `current` is spent.
    fn fill(&mut self) {
        while self.current.is_empty() && self.len > 0 {
            self.cursor += 1;
            let horizon = self.cursor + BUCKETS as u64;
            while self.far.peek().is_some_and(|e| ms(e.at) < horizon) {
                if let Some(e) = self.far.pop() {
                    let m = ms(e.at);
                    if m <= self.cursor {
                        self.current.push(e);
                    } else {
                        self.buckets[(m % BUCKETS as u64) as usize].push(e);
                    }
                }
            }
            let idx = (self.cursor % BUCKETS as u64) as usize;
            if !self.buckets[idx].is_empty() {
                let mut bucket = core::mem::take(&mut self.buckets[idx]);
                bucket.append(&mut self.current);
                bucket.sort_unstable_by_key(|e| core::cmp::Reverse(e.key()));
                self.current = bucket;
            } else if !self.current.is_empty() {
                self.current
                    .sort_unstable_by_key(|e| core::cmp::Reverse(e.key()));
            }
        }
    }

    /// The time of the next entry.
    pub fn peek_at(&mut self) -> Option<Time> {
        self.fill();
        self.current.last().map(|e| e.at)
    }

    pub fn pop(&mut self) -> Option<Entry<T>> {
        self.fill();
        let e = self.current.pop()?;
        self.len -= 1;
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn pops_in_time_then_sequence_order_like_a_heap() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let start = Time(1_000_000_000);
        let mut q = Queue::new(start);
        let mut reference = BinaryHeap::new();
        let mut now = start;
        let mut seq = 0;
        for round in 0..20_000u64 {
            // Mostly near events, some far beyond the calendar, some "now".
            let delay = match rng.next_u64() % 10 {
                0 => 0,
                1 => 20_000_000 + rng.next_u64() % 10_000_000,
                _ => rng.next_u64() % 500_000,
            };
            seq += 1;
            q.push(Time(now.0 + delay), seq, round);
            reference.push(Entry {
                at: Time(now.0 + delay),
                seq,
                item: round,
            });
            if rng.next_u64() % 3 == 0 {
                let a = q.pop().map(|e| (e.at, e.seq));
                let b = reference.pop().map(|e| (e.at, e.seq));
                assert_eq!(a, b);
                if let Some((t, _)) = a {
                    now = t;
                }
            }
        }
        while let Some(b) = reference.pop() {
            let a = q.pop().expect("same length");
            assert_eq!((a.at, a.seq), (b.at, b.seq));
        }
        assert!(q.pop().is_none());
        assert_eq!(q.len(), 0);
    }
}
