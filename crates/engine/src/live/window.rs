//! A window of events kept for one leaf of one profile, with a summary of
//! the events inside it (a count, an exact sum, the values, the local days).
//!
//! Entries are kept sorted by event time, so a late event goes where it
//! belongs and the summary comes out as if it had arrived in order. What is
//! kept is bounded by the window: `in last D` keeps the events of the last
//! D; `between A and B ago` those of the last B (the newest ones wait to
//! enter); `since last E` those after the newest E; `ever` keeps only the
//! summary, unless the leaf must be able to recompute its items (local-time
//! leaves, when the profile's time zone changes).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tidings_model::Micros;

use crate::compile::Win;
use crate::sum::ExactSum;

/// What a window knows about the events inside it.
pub(crate) trait Summary: Default {
    type Item;
    fn add(&mut self, item: &Self::Item);
    fn remove(&mut self, item: &Self::Item);
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, S::Item: Serialize",
    deserialize = "S: Deserialize<'de>, S::Item: Deserialize<'de>"
))]
pub(crate) struct Windowed<S: Summary> {
    /// `since last`: the time of the newest such event; only later events count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<Micros>,
    /// By time; `entries[..entered]` are inside the window (and in the summary).
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    entries: VecDeque<(Micros, S::Item)>,
    #[serde(default)]
    entered: usize,
    pub summary: S,
}

impl<S: Summary> Windowed<S> {
    /// Moves the window to `now`: entries whose time has come enter, entries
    /// that fell out of it are dropped. `now` never goes backward.
    pub fn advance(&mut self, win: &Win, now: Micros) {
        let Win::Range { min, max } = *win else {
            return;
        };
        let upper = now.saturating_sub(min);
        while let Some((t, item)) = self.entries.get(self.entered)
            && *t <= upper
        {
            self.summary.add(item);
            self.entered += 1;
        }
        let lower = now.saturating_sub(max);
        while self.entered > 0
            && let Some((t, _)) = self.entries.front()
            && *t <= lower
        {
            if let Some((_, item)) = self.entries.pop_front() {
                self.summary.remove(&item);
            }
            self.entered -= 1;
        }
    }

    /// Adds an event at `t <= now` (the window must be at `now`). `keep`:
    /// an `ever` window keeps the entry too.
    pub fn insert(&mut self, win: &Win, keep: bool, now: Micros, t: Micros, item: S::Item) {
        match *win {
            Win::Range { min, max } => {
                if t <= now.saturating_sub(max) {
                    return;
                }
                let at = self.entries.partition_point(|e| e.0 <= t);
                if t <= now.saturating_sub(min) {
                    self.summary.add(&item);
                    self.entered += 1;
                }
                self.entries.insert(at, (t, item));
            }
            Win::Since(_) | Win::Ever => {
                if self.since.is_some_and(|s| t <= s) {
                    return;
                }
                self.summary.add(&item);
                if keep || matches!(win, Win::Since(_)) {
                    let at = self.entries.partition_point(|e| e.0 <= t);
                    self.entries.insert(at, (t, item));
                    self.entered += 1;
                }
            }
        }
    }

    /// A `since last` event at `s`: from now on only events after it count.
    pub fn restart(&mut self, s: Micros) {
        if self.since.is_some_and(|x| s <= x) {
            return;
        }
        self.since = Some(s);
        while let Some((t, _)) = self.entries.front()
            && *t <= s
        {
            if let Some((_, item)) = self.entries.pop_front() {
                self.summary.remove(&item);
            }
            self.entered -= 1;
        }
    }

    /// The next time after `now` that `holds(summary)` can change with time
    /// alone. The window (at `now`) is played forward one boundary (the
    /// instant entries enter or leave) at a time, for at most `limit`
    /// boundaries, and played back after; if the answer has not changed by
    /// then, the next boundary is returned: early, never late.
    pub fn next_flip(&mut self, win: &Win, now: Micros, limit: usize, holds: impl Fn(&S) -> bool) -> Option<Micros> {
        let Win::Range { min, max } = *win else {
            return None;
        };
        let n = self.entries.len();
        let enter_at = |w: &Self, i: usize| w.entries[i].0.saturating_add(min);
        let leave_at = |w: &Self, i: usize| w.entries[i].0.saturating_add(max);
        let current = holds(&self.summary);
        let (mut e, mut l) = (self.entered, 0);
        let mut found = None;
        for _ in 0..limit {
            let next = match (e < n, l < n) {
                (true, true) => enter_at(self, e).min(leave_at(self, l)),
                (true, false) => enter_at(self, e),
                (false, true) => leave_at(self, l),
                (false, false) => break,
            };
            debug_assert!(next > now);
            // An entry enters before it leaves (`min < max`), so at any
            // instant the entries leaving are ones already in.
            while e < n && enter_at(self, e) == next {
                self.summary.add(&self.entries[e].1);
                e += 1;
            }
            while l < n && leave_at(self, l) == next {
                self.summary.remove(&self.entries[l].1);
                l += 1;
            }
            if holds(&self.summary) != current {
                found = Some(next);
                break;
            }
        }
        // Play back: the summary is a multiset, so the order does not matter.
        for i in 0..l {
            self.summary.add(&self.entries[i].1);
        }
        for i in self.entered..e {
            self.summary.remove(&self.entries[i].1);
        }
        // Unchanged through `limit` boundaries: wake at the next one.
        found.or_else(|| {
            [(e < n).then(|| enter_at(self, e)), (l < n).then(|| leave_at(self, l))].into_iter().flatten().min()
        })
    }

    /// For a window with nothing waiting to enter (`in last D`, where
    /// `max` is D): when the `i`-th oldest entry leaves.
    pub fn leaves_at(&self, win: &Win, i: usize) -> Option<Micros> {
        match *win {
            Win::Range { min: 0, max } => self.entries.get(i).map(|e| e.0.saturating_add(max)),
            _ => None,
        }
    }

    /// Recomputes every kept entry's item and the summary (the profile's
    /// time zone changed).
    pub fn reclassify(&mut self, item: impl Fn(Micros) -> S::Item) {
        self.summary = S::default();
        for (i, e) in self.entries.iter_mut().enumerate() {
            e.1 = item(e.0);
            if i < self.entered {
                self.summary.add(&e.1);
            }
        }
    }
}

/// How many events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Counter(pub u64);

impl Summary for Counter {
    type Item = ();
    fn add(&mut self, _: &()) {
        self.0 += 1;
    }
    fn remove(&mut self, _: &()) {
        self.0 -= 1;
    }
}

/// The exact sum and the number of values (`total`, `average`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sum {
    pub sum: ExactSum,
    pub n: u64,
}

impl Summary for Sum {
    type Item = f64;
    fn add(&mut self, x: &f64) {
        self.sum.add(*x);
        self.n += 1;
    }
    fn remove(&mut self, x: &f64) {
        self.sum.remove(*x);
        self.n -= 1;
    }
}

/// The values as an ordered multiset (`min`, `max`), keyed by
/// [`order_key`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Extremes(pub BTreeMap<u64, u32>);

impl Summary for Extremes {
    type Item = f64;
    fn add(&mut self, x: &f64) {
        *self.0.entry(order_key(*x)).or_default() += 1;
    }
    fn remove(&mut self, x: &f64) {
        decrement(&mut self.0, order_key(*x));
    }
}

impl Extremes {
    pub fn min(&self) -> Option<f64> {
        self.0.keys().next().map(|&k| from_order_key(k))
    }
    pub fn max(&self) -> Option<f64> {
        self.0.keys().next_back().map(|&k| from_order_key(k))
    }
}

/// Distinct value keys with their multiplicity (`distinct`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Distinct(pub BTreeMap<String, u32>);

impl Summary for Distinct {
    type Item = String;
    fn add(&mut self, k: &String) {
        *self.0.entry(k.clone()).or_default() += 1;
    }
    fn remove(&mut self, k: &String) {
        decrement(&mut self.0, k.clone());
    }
}

/// Of `n` events, `k` fall on the days a `share` counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Shares {
    pub k: u64,
    pub n: u64,
}

impl Summary for Shares {
    type Item = bool;
    fn add(&mut self, on: &bool) {
        self.k += u64::from(*on);
        self.n += 1;
    }
    fn remove(&mut self, on: &bool) {
        self.k -= u64::from(*on);
        self.n -= 1;
    }
}

/// Local days with their number of events (`active on`), by day: few, and
/// mostly added at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct DayCount(pub Vec<(i64, u32)>);

impl Summary for DayCount {
    type Item = i64;
    fn add(&mut self, day: &i64) {
        match self.0.binary_search_by_key(day, |d| d.0) {
            Ok(i) => self.0[i].1 += 1,
            Err(i) => self.0.insert(i, (*day, 1)),
        }
    }
    fn remove(&mut self, day: &i64) {
        if let Ok(i) = self.0.binary_search_by_key(day, |d| d.0) {
            self.0[i].1 -= 1;
            if self.0[i].1 == 0 {
                self.0.remove(i);
            }
        }
    }
}

fn decrement<K: Ord>(map: &mut BTreeMap<K, u32>, k: K) {
    if let Some(n) = map.get_mut(&k) {
        *n -= 1;
        if *n == 0 {
            map.remove(&k);
        }
    }
}

/// An `f64` as a `u64` that sorts the same way (negative numbers flipped).
pub(crate) fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

fn from_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_sort_like_numbers() {
        let xs = [-1e300, -2.5, -0.0, 0.0, 1e-300, 3.0, 1e300];
        for w in xs.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} < {}", w[0], w[1]);
        }
        for x in xs {
            assert_eq!(from_order_key(order_key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn late_events_land_in_order() {
        let win = Win::Range { min: 10, max: 100 };
        let mut w: Windowed<Counter> = Windowed::default();
        w.advance(&win, 1000);
        w.insert(&win, false, 1000, 995, ()); // waits to enter at 1005
        w.insert(&win, false, 1000, 950, ()); // inside
        w.insert(&win, false, 1000, 900, ()); // too old: (900, 990] excludes 900
        assert_eq!(w.summary.0, 1);
        let any = |c: &Counter| c.0 > 0;
        let two = |c: &Counter| c.0 >= 2;
        assert_eq!(w.next_flip(&win, 1000, 0, two), Some(1005));
        assert_eq!(w.next_flip(&win, 1000, 0, any), Some(1005), "limit 0: the next boundary");
        assert_eq!(w.next_flip(&win, 1000, 8, any), Some(1095), "the last one leaves");
        w.advance(&win, 1005);
        assert_eq!(w.summary.0, 2);
        assert_eq!(w.next_flip(&win, 1005, 8, two), Some(1050));
        w.advance(&win, 1050);
        assert_eq!(w.summary.0, 1);
        w.advance(&win, 1095);
        assert_eq!((w.summary.0, w.next_flip(&win, 1095, 8, any)), (0, None));
    }
}
