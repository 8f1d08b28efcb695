//! What the runner asks the live segment engine. The engine is the one
//! truth of segments, stages and the conditions journeys branch and exit
//! on: the runner never evaluates a rule over a person's history (the
//! reference evaluator is for tests, `explain` and `--as-of`).
//!
//! Every condition the runner may ask about is known when the journeys are
//! loaded ([`crate::Assets::conditions`]); the engine compiles them beside
//! the segments, keeps them exact as events arrive and as time passes, and
//! answers from memory.

use tidings_model::ProfileId;
use tidings_rules::Condition;

/// A read handle on the live engine of one workspace.
pub trait Segments: Send + Sync {
    /// Returns once the engine has taken in the workspace's log through
    /// position `seq`, so that answers reflect at least everything the
    /// runner has read. (Under a simulated clock the driver brings the
    /// engine up to date before each round, and this returns at once.)
    fn caught_up(&self, seq: i64);
    /// Whether `condition` holds for `profile` now: any of
    /// [`crate::Assets::conditions`], or `in segment KEY`; `None` for a
    /// condition the engine does not keep.
    fn holds(&self, profile: ProfileId, condition: &Condition) -> Option<bool>;
    /// The segments `profile` is in, by key, and its stage in the first
    /// stage set (by key): what a template sees as `profile.segments` and
    /// `profile.stage`.
    fn membership(&self, profile: ProfileId) -> (Vec<String>, Option<String>);
}

/// Which people this runner may act for, when several nodes share one
/// database and split each workspace's profiles into partitions
/// ([`tidings_store::partition_of`]). Answers are as of the wall clock at
/// the call: a node paused past its lease holds nothing when it wakes.
pub trait Partitions: Send + Sync {
    /// The partitions of `ws` this node holds now.
    fn held(&self, ws: tidings_model::WorkspaceId) -> Vec<u32>;
    /// Whether this node holds `profile`'s partition now.
    fn owns(&self, ws: tidings_model::WorkspaceId, profile: ProfileId) -> bool;
}
