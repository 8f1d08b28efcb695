//! Identifiers.

use serde::{Deserialize, Serialize};

/// A workspace: one shop's data, keys and definitions, isolated from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkspaceId(pub i64);

/// A profile's dense number. Dense so that segment membership can be kept as
/// bitmaps; unique across workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileId(pub i64);

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// May only ingest events (`/v1/*`).
    Write,
    /// May use the admin API (`/api/*`).
    Admin,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Write => "write",
            KeyKind::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "write" => Some(KeyKind::Write),
            "admin" => Some(KeyKind::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for ProfileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
