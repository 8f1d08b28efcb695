//! What can go wrong when building or feeding the engine.

use tidings_model::ProfileId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A condition refers to a segment or stage the workspace does not hold
    /// (`check_workspace` never lets one through).
    #[error("unknown segment or stage `{0}`")]
    UnknownReference(String),
    /// A definition refers to one that comes after it; a checked workspace
    /// lists definitions in dependency order.
    #[error("`{0}` is referred to before it is defined; check the workspace with `check_workspace` first")]
    OutOfOrder(String),
    /// Membership bitmaps hold profile numbers from 0 to `u32::MAX`.
    #[error("profile {0} is outside the range membership bitmaps hold (0 to 4294967295)")]
    ProfileOutOfRange(ProfileId),
    /// The snapshot belongs to other definitions (or another state format).
    #[error(
        "the snapshot was taken for other definitions (fingerprint {found:016x}, expected {expected:016x}); rebuild from the event log"
    )]
    StaleSnapshot { found: u64, expected: u64 },
}
