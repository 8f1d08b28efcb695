//! Segments and stages, kept true for every profile at every moment.
//!
//! The rule language is `spec/segments.md` (parsed and checked by
//! `tidings-rules`); this crate gives it meaning, twice:
//!
//! - [`reference`](mod@reference): a deliberately slow, obvious evaluator. Given a profile's
//!   whole history and a time `now`, it keeps the messages stamped at or
//!   before `now`, merges the traits they set, and evaluates every
//!   definition from the spec's wording, scanning the events for each
//!   condition. [`explain()`] shows its reasoning as a tree.
//! - [`live`]: the incremental [`Engine`]. Rules compile ([`Compiled`]) to
//!   trees over *leaves* (the conditions that read events: `did`, `then`,
//!   `total`, `share`, `active on`, `first`/`last`, `subscribed`), identical
//!   leaves shared. Each profile keeps one small state per leaf and the
//!   leaf's current answer. A message updates only the leaves that name its
//!   event (plus the activity leaves for activity); only when a leaf's answer
//!   flips are the definitions that read it evaluated again (from the cached
//!   answers), with those that depend on them, in dependency order. Each
//!   enter, exit and stage move is recorded once as a [`Change`]. Trait
//!   changes re-evaluate everything for that profile.
//!
//! Architecture invariant: the live engine and the reference evaluator agree
//! on every history. At every moment, for every profile, the engine's
//! memberships and stages equal what [`reference::evaluate`] computes from the
//! messages the engine has been given; and the engine reports a change
//! exactly when that answer flips: at the arrival time for a flip caused by a
//! message, at the exact microsecond for a flip with time alone. The
//! property tests in `tests/integration/differential.rs` check this on
//! random rule sets from the whole grammar and random histories with late,
//! out-of-order, duplicate-timestamp and future-stamped messages.
//!
//! Architecture invariant: this crate does no I/O and never reads the clock.
//! Time is the `now` its callers pass. (Time zones come from jiff's zone
//! database, which jiff loads by itself.)
//!
//! # Time
//!
//! Everything is in [`Micros`](tidings_model::Micros). `in last D` is
//! `(now − D, now]`, so an event at `t` counts from `t` until just before
//! `t + D`; `more than D ago` starts at `t + D + 1µs`; a `then not ... within
//! D` deadline passes at `t + D`.
//!
//! Every leaf knows the next moment its answer can change with time alone;
//! a profile's wake is the earliest over its leaves, and
//! [`Engine::next_wake`] the earliest over all profiles. A wake may be early
//! (nothing changes, and the next one is computed), never late. Windows
//! find theirs by playing their entries forward on the summary (and back):
//! `did E COUNT in last D` computes it outright; the others look a bounded
//! number of window boundaries ahead, so a huge window may wake early a few
//! times before it flips. `then` / `then not` merge the spans of time their
//! first events qualify over. A message stamped after `now` does not exist
//! yet: it is held and comes due at its timestamp, like a timer.
//!
//! Late and out-of-order messages come out as if they had arrived in time
//! order: the states keep what a late message could still change, sorted by
//! event time, and drop what no longer can:
//!
//! - a window keeps the events that are in it or will enter it (`between A
//!   and B ago` keeps the last B); `since last E` those after the newest E;
//!   `ever` only an aggregate (a count, an exact sum, the values for `min`,
//!   `max`, `distinct`);
//! - local-time forms (`share ... on DAYS`, `active on N days`) also keep the
//!   times of the events they count, even for `ever`, so that a change of
//!   the profile's `timezone` trait can re-sort them by local day and hour;
//! - `then` / `then not` keep the first events that are or may come into the
//!   window, each with its earliest follower, and the followers a late first
//!   event could pair with; `ever ... then` collapses to a flag once it holds.
//!
//! Totals and averages are exact sums rounded once ([`sum::ExactSum`]), so
//! adding and removing values as windows slide gives the same number, bit
//! for bit, as adding them up in time order.
//!
//! What is not bounded by a window, and so grows with a profile's history:
//! `ever` and `since last` windows of local-time forms (one timestamp per
//! counted event), `then` / `then not` over `ever` (first events and
//! followers, until `then` holds), `distinct` and `min` / `max` over `ever`
//! (one entry per distinct value). A change of the `timezone` trait re-sorts
//! the local-time leaves' entries; an identity merge rebuilds the surviving
//! profile from its merged history ([`Engine::merge`]).
//!
//! # Meanings this crate settles
//!
//! The spec leaves a few things to the implementation; here is what they
//! mean (both evaluators share these definitions):
//!
//! - `did E`, `last E`, `then`, ... match `track` events named E. Page and
//!   screen views count as activity only.
//! - A JSON `null` is a missing value. Numbers compare as numbers, strings as
//!   strings, booleans with `==` / `!=` only; anything else (or a missing
//!   value) is false for every operator. `matching P` pairs events whose `P`
//!   values are equal (numbers by value), never a missing one.
//! - A trait is set by `identify` and `group` messages; as of `T`, the value
//!   set by the latest message stamped at or before `T` (by arrival on a
//!   tie).
//! - A profile whose first message (of any kind) is stamped after `now` is
//!   in no segment and no stage. When it comes to exist, its first stage is
//!   reported as a [`ChangeKind::StageChanged`] from `None`.
//! - Values beyond ±10³⁰⁰ are left out of totals and averages.
//! - `subscribed`: see [`subscription`] for the definition.
//!
//! # Using it
//!
//! ```
//! use jiff::tz::TimeZone;
//! use serde_json::json;
//! use tidings_engine::{ChangeKind, Engine, Observed};
//! use tidings_model::{ProfileId, time::{DAY, HOUR}};
//! use tidings_rules::{SourceFile, check_workspace};
//!
//! let files = [SourceFile::new("s.tidings", r#"segment recent { did "Order Completed" in last 1d }"#)];
//! let (workspace, diagnostics) = check_workspace(&files, None);
//! assert!(diagnostics.is_empty());
//! let mut engine = Engine::new(&workspace, TimeZone::UTC).unwrap();
//!
//! let alice = ProfileId(1);
//! let t0 = 1_700_000_000_000_000;
//! let order = Observed::track(1, "Order Completed", t0, json!({"revenue": 30}));
//! let changes = engine.apply(alice, order, t0 + HOUR).unwrap();
//! assert!(matches!(&changes[0].kind, ChangeKind::Entered { segment } if segment == "recent"));
//! assert!(engine.members("recent").unwrap().contains(1));
//!
//! // A day after the order, the window has slid past it.
//! assert_eq!(engine.next_wake(), Some(t0 + DAY));
//! let changes = engine.advance(t0 + 2 * DAY);
//! assert_eq!(changes[0].at, t0 + DAY);
//! assert!(engine.members("recent").unwrap().is_empty());
//! ```
//!
//! To load an engine from stored history, call [`Engine::backfill`] per
//! profile (or [`build_state`] on worker threads and [`Engine::install`]);
//! to restart without replaying, [`Engine::snapshot`] and
//! [`Engine::restore`]. An identity merge is [`Engine::merge`], which
//! rebuilds the surviving profile from the merged history.

pub mod compile;
mod error;
pub mod explain;
mod input;
pub mod live;
mod local;
pub mod reference;
pub mod subscription;
pub mod sum;
mod value;

pub use compile::Compiled;
pub use error::EngineError;
pub use explain::{Explanation, explain};
pub use input::{Observed, ProfileInput};
pub use live::{Change, ChangeKind, Engine, ProfileState, Snapshot, build_state};
pub use local::TIMEZONE_TRAIT;
pub use reference::{Evaluation, evaluate};

/// The version of the state format; part of [`Compiled::fingerprint`], so
/// that snapshots of an older format are rebuilt rather than misread.
pub const STATE_VERSION: u32 = 1;
