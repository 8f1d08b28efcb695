//! The shared vocabulary of Tidings: ids, time and the [`Clock`], Segment-spec
//! messages and their validation, identity resolution and trait merging, keys.
//!
//! Architecture invariant: this crate does no I/O. Reading the wall clock is
//! confined to [`clock::WallClock`].

pub mod clock;
pub mod event;
pub mod identity;
pub mod ids;
pub mod internal;
pub mod keys;
pub mod message;
pub mod time;
pub mod traits;

pub use clock::{Clock, SimClock, WallClock};
pub use event::{Body, StoredEvent};
pub use ids::{KeyKind, ProfileId, WorkspaceId};
pub use internal::{Internal, Subject};
pub use message::{Message, MessageError, MessageType};
pub use time::Micros;
