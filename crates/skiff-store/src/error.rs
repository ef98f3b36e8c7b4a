//! The store's error type.
//!
//! Every variant that concerns an object carries the key it was about (relative to the location's
//! prefix, exactly as the caller passed it) and the operation that failed. Messages are lowercase
//! fragments that read after "failed to …". No variant ever carries a credential.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// Boxed error used as the `source` of backend failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The storage operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Whole-object upload.
    Put,
    /// Streaming upload (multipart on S3, temp file + rename locally).
    PutStream,
    /// Whole-object download.
    Get,
    /// Ranged download.
    GetRange,
    /// Metadata lookup.
    Head,
    /// Recursive listing.
    List,
    /// Listing of common prefixes.
    ListPrefixes,
    /// Deletion of one object.
    Delete,
    /// Deletion of every object under a prefix.
    DeletePrefix,
    /// Opening a location (client set-up, credentials, TLS).
    Open,
}

impl Op {
    /// The operation's name as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::PutStream => "upload (streaming)",
            Op::Get => "get",
            Op::GetRange => "get range of",
            Op::Head => "head",
            Op::List => "list",
            Op::ListPrefixes => "list prefixes under",
            Op::Delete => "delete",
            Op::DeletePrefix => "delete objects under",
            Op::Open => "open",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of the store crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("{op} {key:?}: object not found")]
    NotFound {
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
    },

    /// The object already exists and the operation refuses to overwrite it.
    #[error("{op} {key:?}: object already exists")]
    AlreadyExists {
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
    },

    /// The key or prefix is not acceptable (absolute, `..`, empty segment, …).
    #[error("use object key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A requested byte range lies outside the object.
    #[error("{op} {key:?}: range {range:?} is not satisfiable")]
    InvalidRange {
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// The requested range.
        range: Range<u64>,
    },

    /// Local filesystem failure.
    #[error("{op} {key:?} in local directory")]
    Io {
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The server refused the credentials or the request's permissions.
    #[error("{op} {key:?}: access denied by the object store ({code})")]
    AccessDenied {
        /// Operation.
        op: Op,
        /// Object key (or prefix for listings).
        key: String,
        /// S3 error code, e.g. `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`.
        code: String,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// Any other object-store failure (HTTP error, connection failure, unexpected response).
    #[error("{op} {key:?}: object store request failed{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Remote {
        /// Operation.
        op: Op,
        /// Object key (or prefix for listings).
        key: String,
        /// S3 error code when the server sent one.
        code: Option<String>,
        /// HTTP status when a response was received.
        status: Option<u16>,
        /// Whether retrying the request may succeed (throttling, 5xx, timeouts, connection errors).
        retryable: bool,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// A streaming upload was aborted (explicitly, by dropping its writer, or because the producer
    /// failed); nothing became visible under the key.
    #[error("upload {key:?}: upload was aborted before it finished")]
    Aborted {
        /// Object key.
        key: String,
    },

    /// A location string or `BackupStorageLocation` could not be understood.
    #[error("parse storage location {input:?}: {reason}")]
    InvalidLocation {
        /// The location as given (never contains credentials: URLs with user info are rejected
        /// before they reach this variant).
        input: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A configuration file (credentials file, CA bundle, BSL YAML) could not be read or parsed.
    #[error("read {what} {path:?}")]
    ConfigFile {
        /// What kind of file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// The S3 client could not be configured (missing credentials, bad CA bundle, …).
    #[error("configure s3 client for {location}: {reason}")]
    Config {
        /// The location (as `describe()` prints it).
        location: String,
        /// What is wrong.
        reason: String,
    },

    /// A backup or restore name that cannot be used as a key segment.
    #[error("use {kind} name {name:?}: {reason}")]
    InvalidName {
        /// `backup` or `restore`.
        kind: &'static str,
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },

    /// The commit protocol was violated (e.g. committing a backup without its tarball).
    #[error("commit backup {name:?}: {reason}")]
    Commit {
        /// Backup name.
        name: String,
        /// What is missing or wrong.
        reason: String,
    },
}

impl Error {
    /// True when the object (or bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
            || matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// True when retrying the same request may succeed: throttling, server errors, timeouts and
    /// connection failures. Authentication, not-found and validation errors are never retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Remote { retryable, .. } => *retryable,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    /// The object key (or prefix) this error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::NotFound { key, .. }
            | Error::AlreadyExists { key, .. }
            | Error::InvalidKey { key, .. }
            | Error::InvalidRange { key, .. }
            | Error::Io { key, .. }
            | Error::AccessDenied { key, .. }
            | Error::Remote { key, .. }
            | Error::Aborted { key } => Some(key),
            _ => None,
        }
    }

    /// The operation that failed, if the error is about one.
    pub fn op(&self) -> Option<Op> {
        match self {
            Error::NotFound { op, .. }
            | Error::AlreadyExists { op, .. }
            | Error::InvalidRange { op, .. }
            | Error::Io { op, .. }
            | Error::AccessDenied { op, .. }
            | Error::Remote { op, .. } => Some(*op),
            _ => None,
        }
    }

    pub(crate) fn io(op: Op, key: &str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                op,
                key: key.to_owned(),
            }
        } else {
            Error::Io {
                op,
                key: key.to_owned(),
                source,
            }
        }
    }

    /// Wraps this error into an [`std::io::Error`] (for readers/writers), keeping it as the source.
    pub fn into_io(self) -> std::io::Error {
        let kind = match &self {
            Error::NotFound { .. } => std::io::ErrorKind::NotFound,
            Error::AccessDenied { .. } => std::io::ErrorKind::PermissionDenied,
            Error::Aborted { .. } => std::io::ErrorKind::BrokenPipe,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_op_and_key() {
        let e = Error::NotFound {
            op: Op::Get,
            key: "backups/b1/velero-backup.json".into(),
        };
        assert_eq!(
            e.to_string(),
            "get \"backups/b1/velero-backup.json\": object not found"
        );
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        let e = Error::Remote {
            op: Op::List,
            key: "backups/".into(),
            code: Some("SlowDown".into()),
            status: Some(503),
            retryable: true,
            source: "boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "list \"backups/\": object store request failed (SlowDown)"
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn io_not_found_maps_to_not_found() {
        let e = Error::io(Op::Head, "k", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(matches!(e, Error::NotFound { .. }));
    }
}
