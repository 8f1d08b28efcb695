//! The state of one leaf condition for one profile, and what each form
//! keeps:
//!
//! | form | state |
//! |---|---|
//! | `did E [COUNT] WINDOW` | count of events in the window ([`Windowed`]) |
//! | `total`/`average` | exact sum and count of numeric values in the window |
//! | `min`/`max` | ordered multiset of the values in the window |
//! | `distinct` | value keys in the window with multiplicities |
//! | `share ... on DAYS` | `k` of `n` events in the window on those days; entries always kept |
//! | `active on N days` | local days of activity in the window; entries always kept |
//! | `then` / `then not` | [`SequenceState`] |
//! | `first`/`last E`, `first`/`last seen` | the oldest / newest matching time |
//! | `subscribed` | the newest `Unsubscribed` that ends it (traits do the rest) |
//!
//! Every leaf answers "does it hold at `now`" from its state alone, and
//! "when can that next change without a new event" ([`LeafState::next_change`]),
//! exactly or early, never late.

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tidings_model::Micros;
use tidings_rules::{AggregateFn, CmpOp, Count, CountOp, Relation, Which};

use super::profile::TraitStore;
use super::sequence::SequenceState;
use super::window::{Counter, DayCount, Distinct, Extremes, Shares, Sum, Windowed};
use crate::compile::{AggregateSpec, LeafKind, Win};
use crate::input::Observed;
use crate::local::local;
use crate::subscription;
use crate::sum::summable;
use crate::value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LeafState {
    Count(Windowed<Counter>),
    Sum(Windowed<Sum>),
    Extremes(Windowed<Extremes>),
    Distinct(Windowed<Distinct>),
    Share(Windowed<Shares>),
    Days(Windowed<DayCount>),
    Sequence(SequenceState),
    /// `first`/`last`: the deciding time; `subscribed`: the newest end.
    Time(Option<Micros>),
}

fn window(kind: &LeafKind) -> &Win {
    match kind {
        LeafKind::Did { window, .. } | LeafKind::Share { window, .. } | LeafKind::ActiveDays { window, .. } => window,
        LeafKind::Aggregate(a) => &a.window,
        LeafKind::Sequence(s) => &s.window,
        _ => &Win::Ever,
    }
}

impl LeafState {
    pub fn new(kind: &LeafKind) -> LeafState {
        match kind {
            LeafKind::Did { .. } => LeafState::Count(Windowed::default()),
            LeafKind::Aggregate(a) => match a.function {
                AggregateFn::Total | AggregateFn::Average => LeafState::Sum(Windowed::default()),
                AggregateFn::Min | AggregateFn::Max => LeafState::Extremes(Windowed::default()),
                AggregateFn::Distinct => LeafState::Distinct(Windowed::default()),
            },
            LeafKind::Share { .. } => LeafState::Share(Windowed::default()),
            LeafKind::ActiveDays { .. } => LeafState::Days(Windowed::default()),
            LeafKind::Sequence(_) => LeafState::Sequence(SequenceState::default()),
            LeafKind::Recency { .. } | LeafKind::Seen { .. } | LeafKind::Subscribed { .. } => LeafState::Time(None),
        }
    }

    /// Brings windows to `now`.
    pub fn advance(&mut self, kind: &LeafKind, now: Micros) {
        let w = window(kind);
        match self {
            LeafState::Count(x) => x.advance(w, now),
            LeafState::Sum(x) => x.advance(w, now),
            LeafState::Extremes(x) => x.advance(w, now),
            LeafState::Distinct(x) => x.advance(w, now),
            LeafState::Share(x) => x.advance(w, now),
            LeafState::Days(x) => x.advance(w, now),
            LeafState::Sequence(x) => {
                if let LeafKind::Sequence(s) = kind {
                    x.advance(s, now);
                }
            }
            LeafState::Time(_) => {}
        }
    }

    /// Takes in an event at or before `now` that this leaf listens to.
    /// Whether it concerned the leaf (if not, its answer and wake stand).
    pub fn on_event(&mut self, kind: &LeafKind, e: &Observed, now: Micros, zone: &TimeZone) -> bool {
        self.advance(kind, now);
        let t = e.timestamp;
        let w = window(kind);
        let mut touched = false;
        // `since last E`: the window restarts after E (a sequence does this itself).
        if let Win::Since(m) = w
            && value::matches(e, m)
        {
            touched = true;
            match self {
                LeafState::Count(x) => x.restart(t),
                LeafState::Sum(x) => x.restart(t),
                LeafState::Extremes(x) => x.restart(t),
                LeafState::Distinct(x) => x.restart(t),
                LeafState::Share(x) => x.restart(t),
                LeafState::Days(x) => x.restart(t),
                LeafState::Sequence(_) | LeafState::Time(_) => {}
            }
        }
        let keep = kind.zoned();
        match (kind, self) {
            (LeafKind::Did { event, .. }, LeafState::Count(x)) if value::matches(e, event) => {
                x.insert(w, keep, now, t, ());
                true
            }
            (LeafKind::Aggregate(a), state) if value::matches(e, &a.event) => {
                let v = value::property(e, &a.property);
                match state {
                    LeafState::Sum(x) => match value::number(v).filter(|n| summable(*n)) {
                        Some(n) => x.insert(w, keep, now, t, n),
                        None => return touched,
                    },
                    LeafState::Extremes(x) => match value::number(v) {
                        Some(n) => x.insert(w, keep, now, t, n),
                        None => return touched,
                    },
                    LeafState::Distinct(x) => match value::key(v) {
                        Some(k) => x.insert(w, keep, now, t, k),
                        None => return touched,
                    },
                    _ => {}
                }
                true
            }
            (LeafKind::Share { event, days, .. }, LeafState::Share(x)) if value::matches(e, event) => {
                let l = local(t, zone);
                x.insert(w, keep, now, t, days.matches(l.weekday, l.hour));
                true
            }
            (LeafKind::ActiveDays { .. }, LeafState::Days(x)) if e.is_activity() => {
                x.insert(w, keep, now, t, local(t, zone).day);
                true
            }
            (LeafKind::Sequence(s), LeafState::Sequence(x)) => {
                x.on_event(s, e, now);
                true
            }
            (LeafKind::Recency { event, which, .. }, LeafState::Time(x)) if value::matches(e, event) => {
                update(x, extreme(*x, t, *which)) || touched
            }
            (LeafKind::Seen { which, .. }, LeafState::Time(x)) if e.is_activity() => update(x, extreme(*x, t, *which)),
            (LeafKind::Subscribed { topic }, LeafState::Time(x)) if subscription::ends(e, topic.as_deref()) => {
                update(x, extreme(*x, t, Which::Last))
            }
            _ => touched,
        }
    }

    /// Whether the leaf holds at `now` (bringing its window there first).
    pub fn holds(&mut self, kind: &LeafKind, now: Micros, traits: &TraitStore) -> bool {
        self.advance(kind, now);
        match (kind, &*self) {
            (LeafKind::Did { count, .. }, LeafState::Count(x)) => count.holds(x.summary.0),
            (LeafKind::Aggregate(a), LeafState::Sum(x)) => sum_holds(a, &x.summary),
            (LeafKind::Aggregate(a), LeafState::Extremes(x)) => extremes_hold(a, &x.summary),
            (LeafKind::Aggregate(a), LeafState::Distinct(x)) => distinct_holds(a, &x.summary),
            (LeafKind::Share { op, value, .. }, LeafState::Share(x)) => share_holds(*op, *value, &x.summary),
            (LeafKind::ActiveDays { count, .. }, LeafState::Days(x)) => count.holds(x.summary.0.len() as u64),
            (LeafKind::Sequence(s), LeafState::Sequence(x)) => x.holds(s, now),
            (LeafKind::Recency { relation, ago, .. } | LeafKind::Seen { relation, ago, .. }, LeafState::Time(x)) => {
                x.is_some_and(|t| relation.holds(now, t, *ago))
            }
            (LeafKind::Subscribed { .. }, LeafState::Time(x)) => subscription::holds(traits.consent(), *x),
            _ => false,
        }
    }

    /// The next time after `now` the answer may change with time alone:
    /// exactly, or early (never late). The leaf must be at `now`.
    pub fn next_change(&mut self, kind: &LeafKind, now: Micros) -> Option<Micros> {
        let w = window(kind);
        // How many window boundaries to play forward looking for a flip;
        // fewer where a step costs more.
        const CHEAP: usize = 64;
        const DEAR: usize = 16;
        match (kind, self) {
            (LeafKind::Did { count, window: Win::Range { min: 0, .. }, .. }, LeafState::Count(x)) => {
                count_flip(count, x, w)
            }
            (LeafKind::Did { count, .. }, LeafState::Count(x)) => x.next_flip(w, now, CHEAP, |s| count.holds(s.0)),
            (LeafKind::Aggregate(a), LeafState::Sum(x)) => x.next_flip(w, now, DEAR, |s| sum_holds(a, s)),
            (LeafKind::Aggregate(a), LeafState::Extremes(x)) => x.next_flip(w, now, DEAR, |s| extremes_hold(a, s)),
            (LeafKind::Aggregate(a), LeafState::Distinct(x)) => x.next_flip(w, now, DEAR, |s| distinct_holds(a, s)),
            (LeafKind::Share { op, value, .. }, LeafState::Share(x)) => {
                x.next_flip(w, now, CHEAP, |s| share_holds(*op, *value, s))
            }
            (LeafKind::ActiveDays { count, .. }, LeafState::Days(x)) => {
                x.next_flip(w, now, DEAR, |s| count.holds(s.0.len() as u64))
            }
            (LeafKind::Sequence(s), LeafState::Sequence(x)) => x.next_change(s, now),
            (
                LeafKind::Recency { relation, ago, .. } | LeafKind::Seen { relation, ago, .. },
                LeafState::Time(Some(t)),
            ) => {
                // `more than D ago`: now - t > D from t + D + 1 on;
                // `less than D ago`: now - t < D until t + D.
                let flip = match relation {
                    Relation::MoreThan => t.saturating_add(*ago).saturating_add(1),
                    Relation::LessThan => t.saturating_add(*ago),
                };
                (flip > now).then_some(flip)
            }
            _ => None,
        }
    }

    /// The profile's time zone changed: local-time items are recomputed.
    pub fn reclassify(&mut self, kind: &LeafKind, zone: &TimeZone) {
        match (kind, self) {
            (LeafKind::Share { days, .. }, LeafState::Share(x)) => x.reclassify(|t| {
                let l = local(t, zone);
                days.matches(l.weekday, l.hour)
            }),
            (LeafKind::ActiveDays { .. }, LeafState::Days(x)) => x.reclassify(|t| local(t, zone).day),
            _ => {}
        }
    }
}

/// `did E COUNT in last D`: the `k` events in the window leave one by one,
/// oldest first, so the count only falls; the answer flips when it first
/// crosses the bound (early, if several leave at once and jump it).
fn count_flip(count: &Count, x: &Windowed<Counter>, w: &Win) -> Option<Micros> {
    let k = x.summary.0;
    let n = count.n;
    // How many must leave before the answer changes.
    let leaving = match count.op {
        CountOp::AtLeast if k >= n => k - n + 1,
        CountOp::AtMost | CountOp::Exactly if k > n => k - n,
        CountOp::Exactly if k == n && n > 0 => 1,
        _ => return None,
    };
    x.leaves_at(w, usize::try_from(leaving - 1).ok()?)
}

fn sum_holds(a: &AggregateSpec, s: &Sum) -> bool {
    match a.function {
        AggregateFn::Total => a.op.holds(&s.sum.value(), &a.value),
        _ => s.n > 0 && a.op.holds(&(s.sum.value() / s.n as f64), &a.value),
    }
}

fn extremes_hold(a: &AggregateSpec, s: &Extremes) -> bool {
    let v = if a.function == AggregateFn::Min { s.min() } else { s.max() };
    v.is_some_and(|v| a.op.holds(&v, &a.value))
}

fn distinct_holds(a: &AggregateSpec, s: &Distinct) -> bool {
    a.op.holds(&(s.0.len() as f64), &a.value)
}

fn share_holds(op: CmpOp, value: f64, s: &Shares) -> bool {
    s.n > 0 && op.holds(&(s.k as f64 / s.n as f64), &value)
}

/// Sets `x`; whether it changed.
fn update(x: &mut Option<Micros>, new: Option<Micros>) -> bool {
    std::mem::replace(x, new) != new
}

fn extreme(current: Option<Micros>, t: Micros, which: Which) -> Option<Micros> {
    Some(match (current, which) {
        (None, _) => t,
        (Some(c), Which::First) => c.min(t),
        (Some(c), Which::Last) => c.max(t),
    })
}
