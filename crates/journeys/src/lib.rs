//! Journeys: automation that reacts to behaviour. A journey is a file in the
//! workspace (TOML; see [`definition`] for the format), checked like rules
//! with located diagnostics, and run per profile by the pure state machine
//! in [`machine`]: given an instance's state, what happened and the time, it
//! says what to do next (send, wait, set a trait, call a webhook, exit) and
//! when to wake up. The runner that stores instances, keeps durable timers
//! and performs the effects lives outside this crate.
//!
//! Architecture invariants:
//! - No I/O and no wall clock: time is a parameter.
//! - Every effect carries an idempotency key derived from (journey, profile,
//!   entry, step), so replaying a step after a crash never sends twice.
//! - Arm assignment is a pure function of (experiment, profile): the same
//!   profile always lands in the same arm.

pub mod broadcast;
pub mod check;
pub mod definition;
pub mod machine;
pub mod policy;

pub use broadcast::{BroadcastOptions, BroadcastPlan};
pub use check::check_journeys;
pub use definition::{Journey, Reentry, Step, StepKind, Trigger, parse_journey};
pub use machine::{Effect, Instance, InstanceState, Outcome, World, advance, arm_bucket};
