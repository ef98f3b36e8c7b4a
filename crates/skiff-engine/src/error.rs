//! The engine's error type.

use thiserror::Error;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can stop a whole engine operation. Per-item failures are not errors: they are outcomes
/// recorded in the run's report and Velero results document.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The backup store failed.
    #[error("access the backup store")]
    Store(#[from] skiff_store::Error),
    /// The API server failed (for a request the run cannot do without).
    #[error("talk to the cluster")]
    Kube(#[from] skiff_kube::KubeError),
    /// The archive or a document is malformed.
    #[error("read the backup archive")]
    Format(#[from] skiff_format::Error),
    /// Options are inconsistent.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A filter option cannot be used.
    #[error("invalid filter")]
    Scope(#[from] crate::scope::ScopeError),
    /// A mapping option cannot be used.
    #[error("invalid mapping")]
    Mapping(#[from] crate::mappings::MappingError),
    /// A backup of that name is already complete in the location.
    #[error("backup {name:?} already exists in {location}")]
    BackupExists {
        /// Backup name.
        name: String,
        /// Location URL.
        location: String,
    },
    /// A backup was not found.
    #[error("backup {name:?} not found in {location}")]
    BackupNotFound {
        /// Backup name.
        name: String,
        /// Location URL.
        location: String,
    },
    /// The run was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// Local file I/O (extract, spool).
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Offline access failed (inspect, validate, show, extract, the backups catalog).
    #[error(transparent)]
    Offline(#[from] crate::offline::OfflineError),
    /// A background task died.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl Error {
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::Kube(e) => e.is_retryable(),
            _ => false,
        }
    }
}
