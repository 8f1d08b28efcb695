//! The two queues that put the simulation in time order.
//!
//! A million people each have a pending wake, and wakes only ever move
//! forward in time, so [`TimeQueue`] keeps them in buckets of fixed width
//! (a calendar queue, Brown 1988) and sorts one bucket at a time: pushes are
//! O(1), pops amortized O(log bucket size), and memory is touched in order.
//! Messages waiting to be released are few but large, so [`MessageQueue`]
//! keeps them in a slab and heaps only small keys.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::message::SimMessage;

/// Something with a time; `Ord` must order by that time first.
pub(crate) trait Timed: Ord {
    fn at(&self) -> i64;
}

/// A priority queue for items pushed at or after the last pop's time.
/// (Earlier items are still handled correctly, just not as cheaply.)
pub(crate) struct TimeQueue<T> {
    width: i64,
    /// The bucket being drained, sorted descending so `pop` takes the end.
    now: Vec<T>,
    now_bucket: i64,
    later: BTreeMap<i64, Vec<T>>,
}

impl<T: Timed> TimeQueue<T> {
    pub fn new(width: i64) -> TimeQueue<T> {
        TimeQueue { width, now: Vec::new(), now_bucket: i64::MIN, later: BTreeMap::new() }
    }

    pub fn push(&mut self, item: T) {
        let b = item.at().div_euclid(self.width);
        if b <= self.now_bucket {
            let pos = self.now.partition_point(|x| *x > item);
            self.now.insert(pos, item);
        } else {
            self.later.entry(b).or_default().push(item);
        }
    }

    fn refill(&mut self) {
        if self.now.is_empty()
            && let Some((b, mut items)) = self.later.pop_first()
        {
            items.sort_unstable_by(|x, y| y.cmp(x));
            self.now = items;
            self.now_bucket = b;
        }
    }

    pub fn peek(&mut self) -> Option<&T> {
        self.refill();
        self.now.last()
    }

    pub fn pop(&mut self) -> Option<T> {
        self.refill();
        self.now.pop()
    }
}

/// Messages ordered by (timestamp, sequence number).
#[derive(Default)]
pub(crate) struct MessageQueue {
    keys: BinaryHeap<Reverse<(i64, u64, u32)>>,
    slots: Vec<Option<SimMessage>>,
    free: Vec<u32>,
}

impl MessageQueue {
    pub fn push(&mut self, seq: u64, msg: SimMessage) {
        let ts = msg.timestamp;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(msg);
                s
            }
            None => {
                self.slots.push(Some(msg));
                (self.slots.len() - 1) as u32
            }
        };
        self.keys.push(Reverse((ts, seq, slot)));
    }

    pub fn peek_time(&self) -> Option<i64> {
        self.keys.peek().map(|k| k.0.0)
    }

    pub fn pop(&mut self) -> Option<SimMessage> {
        let Reverse((_, _, slot)) = self.keys.pop()?;
        self.free.push(slot);
        self.slots[slot as usize].take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;

    impl Timed for (i64, u64) {
        fn at(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn pops_in_order_like_a_heap() {
        let mut r = SimRng::new(3);
        let mut q = TimeQueue::new(100);
        let mut reference = BinaryHeap::new();
        let mut now = 0i64;
        for seq in 0..20_000u64 {
            // Mostly future items, sometimes into the current bucket or earlier.
            let at = now + r.below(5_000) as i64 - if r.chance(0.05) { 150 } else { 0 };
            q.push((at, seq));
            reference.push(Reverse((at, seq)));
            if r.chance(0.5) {
                let got = q.pop();
                assert_eq!(got, reference.pop().map(|x| x.0));
                now = got.map_or(now, |g| g.0.max(now));
            }
        }
        while let Some(Reverse(x)) = reference.pop() {
            assert_eq!(q.peek(), Some(&x));
            assert_eq!(q.pop(), Some(x));
        }
        assert_eq!(q.pop(), None);
    }
}
