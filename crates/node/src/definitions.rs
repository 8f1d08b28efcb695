//! Where a workspace's definition files live. The node runs definitions;
//! the files are kept by its host (the data folder, for `tidings serve`),
//! which the admin API reads and writes through this trait.

use tidings_rules::{Diagnostic, SourceFile, Workspace};

/// Why a definition file could not be read or stored.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written; nothing was changed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the definitions live and who else reads them.
pub trait DefinitionsHost: Send + Sync {
    /// The rule files, named relative to the data folder, sorted.
    fn rule_files(&self) -> Result<Vec<SourceFile>, DefinitionsError>;
    /// Checks everything else that refers to the rules (journeys) against
    /// new ones: the diagnostics, and the files they point into.
    fn check_rest(&self, rules: &Workspace, known_events: &[String]) -> (Vec<Diagnostic>, Vec<SourceFile>);
    /// Stores a rule file; on error nothing was changed.
    fn write(&self, name: &str, text: &str) -> Result<(), DefinitionsError>;
}
