//! `did A then [not] B within D [matching P] [WINDOW]` for one profile.
//!
//! Every first event A keeps the time of its earliest follower: the first B
//! in `(t, t + D]` (with an equal `P`). Followers only ever arrive, so that
//! time only moves earlier, and since only events at or before `now` exist,
//! a follower found is a follower that has happened. Then:
//!
//! - `then`: some A in the window has a follower;
//! - `then not`: some A in the window has none and `t + D <= now`.
//!
//! Both A and B events are kept while a late event could still pair with
//! them and matter: as long as an A at their time could still be in the
//! window. `ever` with `then` collapses to a flag once it holds (nothing can
//! undo it); `then not` drops an A as soon as it has a follower.

use serde::{Deserialize, Serialize};
use tidings_model::Micros;

use crate::compile::{SequenceSpec, Win};
use crate::input::Observed;
use crate::value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SequenceState {
    /// `since last`: the newest such event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<Micros>,
    /// `ever` and `then`: it has held, and always will.
    #[serde(default)]
    done: bool,
    /// First events by time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    firsts: Vec<First>,
    /// Followers by time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    thens: Vec<Then>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct First {
    t: Micros,
    /// The `matching` value's key (`None`: missing, or no `matching`).
    key: Option<String>,
    /// The earliest follower.
    follower: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Then {
    t: Micros,
    key: Option<String>,
}

impl SequenceState {
    /// Drops what can no longer matter at `now`.
    pub fn advance(&mut self, s: &SequenceSpec, now: Micros) {
        if let Some(lower) = self.lower(s, now) {
            // Both lists are by time: what is too old is at the front.
            let old = self.firsts.partition_point(|a| a.t <= lower);
            self.firsts.drain(..old);
            let old = self.thens.partition_point(|b| b.t <= lower);
            self.thens.drain(..old);
        }
    }

    /// Everything at or before this time is outside the window for good.
    fn lower(&self, s: &SequenceSpec, now: Micros) -> Option<Micros> {
        match s.window {
            Win::Ever => None,
            Win::Range { max, .. } => Some(now.saturating_sub(max)),
            Win::Since(_) => self.since,
        }
    }

    fn pairs(s: &SequenceSpec, a: &Option<String>, b: &Option<String>) -> bool {
        s.matching.is_none() || (a.is_some() && a == b)
    }

    pub fn on_event(&mut self, s: &SequenceSpec, e: &Observed, now: Micros) {
        self.advance(s, now);
        if self.done {
            return;
        }
        let t = e.timestamp;
        let key = |e: &Observed| s.matching.as_ref().and_then(|p| value::key(value::property(e, p)));
        if let Win::Since(m) = &s.window
            && value::matches(e, m)
            && self.since.is_none_or(|x| t > x)
        {
            self.since = Some(t);
            self.advance(s, now);
        }
        let lower = self.lower(s, now);
        let alive = |t: Micros| lower.is_none_or(|l| t > l);
        if value::matches(e, &s.then) && alive(t) {
            let b = Then { t, key: key(e) };
            // A follower with no `matching` value pairs with nothing.
            if s.matching.is_none() || b.key.is_some() {
                let from = t.saturating_sub(s.within);
                let lo = self.firsts.partition_point(|a| a.t < from);
                let hi = self.firsts.partition_point(|a| a.t < t);
                for a in &mut self.firsts[lo..hi.max(lo)] {
                    if Self::pairs(s, &a.key, &b.key) && a.follower.is_none_or(|f| t < f) {
                        a.follower = Some(t);
                    }
                }
                let at = self.thens.partition_point(|x| x.t <= t);
                self.thens.insert(at, b);
            }
        }
        if value::matches(e, &s.first) && alive(t) {
            let a_key = key(e);
            let end = t.saturating_add(s.within);
            let start = self.thens.partition_point(|b| b.t <= t);
            let follower = self.thens[start..]
                .iter()
                .take_while(|b| b.t <= end)
                .find(|b| Self::pairs(s, &a_key, &b.key))
                .map(|b| b.t);
            let useless = if s.negated { follower.is_some() } else { s.matching.is_some() && a_key.is_none() };
            if !useless {
                let at = self.firsts.partition_point(|x| x.t <= t);
                self.firsts.insert(at, First { t, key: a_key, follower });
            }
        }
        if s.negated {
            self.firsts.retain(|a| a.follower.is_none());
        } else if matches!(s.window, Win::Ever) && self.firsts.iter().any(|a| a.follower.is_some()) {
            *self = SequenceState { done: true, ..SequenceState::default() };
        }
    }

    fn in_window(&self, s: &SequenceSpec, now: Micros, t: Micros) -> bool {
        match s.window {
            Win::Ever => true,
            Win::Range { min, max } => t > now.saturating_sub(max) && t <= now.saturating_sub(min),
            Win::Since(_) => self.since.is_none_or(|x| t > x),
        }
    }

    pub fn holds(&self, s: &SequenceSpec, now: Micros) -> bool {
        if self.done {
            return true;
        }
        self.firsts.iter().any(|a| {
            self.in_window(s, now, a.t)
                && if s.negated {
                    a.follower.is_none() && a.t.saturating_add(s.within) <= now
                } else {
                    a.follower.is_some()
                }
        })
    }

    /// The next time the answer changes with time alone. Each first event
    /// that qualifies does so over a span of time, `[enter, leave)` (for
    /// `then not`, from its deadline on): the answer is whether a span
    /// covers `now`, and it next changes where the covering spans end, or
    /// where the next one starts.
    pub fn next_change(&self, s: &SequenceSpec, now: Micros) -> Option<Micros> {
        if self.done {
            return None;
        }
        // Spans start and end in the order of their first events' times.
        let spans = self.firsts.iter().filter(|a| a.follower.is_none() == s.negated).map(|a| {
            let (mut start, end) = match s.window {
                Win::Range { min, max } => (a.t.saturating_add(min), a.t.saturating_add(max)),
                Win::Ever | Win::Since(_) => (Micros::MIN, Micros::MAX),
            };
            if s.negated {
                start = start.max(a.t.saturating_add(s.within));
            }
            (start, end)
        });
        let mut covered: Option<Micros> = None;
        for (start, end) in spans.filter(|&(start, end)| start < end && end > now) {
            match covered {
                // Not covered now: the answer changes where the next span starts.
                None if start > now => return Some(start),
                None => covered = Some(end),
                Some(c) if start > c => break,
                Some(c) => covered = Some(c.max(end)),
            }
        }
        covered.filter(|&c| c < Micros::MAX)
    }
}
