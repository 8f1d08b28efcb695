//! The incremental engine: rules compiled to small per-profile states that
//! an event updates in time proportional to the rules that name it, timers
//! for changes with time alone, and membership bitmaps.

mod engine;
mod leaf;
mod profile;
mod sequence;
mod window;

pub use engine::{Change, ChangeKind, Engine, Snapshot, build_state};
pub use profile::ProfileState;
