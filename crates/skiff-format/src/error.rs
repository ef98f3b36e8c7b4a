//! The format crate's error type.

use std::io;

/// Errors from reading or writing Velero archives and documents.
///
/// Messages are lowercase fragments that read after "failed to …"-style context; causes are
/// chained through `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the archive's input failed (the source, not the format).
    #[error("could not read archive input")]
    Read {
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// The gzip layer is corrupt or truncated.
    #[error("invalid gzip stream")]
    Gzip {
        /// Underlying decoder error.
        #[source]
        source: io::Error,
    },
    /// The tar layer is corrupt (bad header checksum, truncated entry, …).
    #[error("invalid tar stream{}", entry.as_ref().map(|e| format!(" at entry {e:?}")).unwrap_or_default())]
    Tar {
        /// The entry being read, when known.
        entry: Option<String>,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// An entry's path is unsafe or malformed (absolute, `..`, empty segment, not UTF-8).
    #[error("unsafe archive entry path {entry:?}: {reason}")]
    UnsafePath {
        /// The entry path (lossy UTF-8).
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry of a type Velero never writes and skiff refuses (links, devices, fifos).
    #[error("unsupported archive entry type {kind} for {entry:?}")]
    UnsupportedEntryType {
        /// The entry path.
        entry: String,
        /// The tar entry type, spelled out.
        kind: String,
    },
    /// An entry declares more data than allowed.
    #[error("archive entry {entry:?} declares {size} bytes, more than the limit of {limit}")]
    EntryTooLarge {
        /// The entry path.
        entry: String,
        /// Declared size.
        size: u64,
        /// Configured limit.
        limit: u64,
    },
    /// A decompressed document is larger than allowed.
    #[error("decompressed data exceeds the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// Configured limit.
        limit: u64,
    },
    /// A path inside the archive does not follow Velero's layout.
    #[error("invalid archive path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `metadata/version` is missing.
    #[error("archive has no metadata/version entry")]
    MissingVersion,
    /// `metadata/version` names a major version skiff does not read.
    #[error("unsupported archive format version {found:?} (supported: major version 1)")]
    UnsupportedVersion {
        /// The version as found (trimmed).
        found: String,
    },
    /// A document or item is not valid JSON of the expected shape.
    #[error("invalid JSON in {document}")]
    Json {
        /// The document (file name or entry path).
        document: String,
        /// Underlying parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Serializing a document failed (only possible for non-JSON-able values).
    #[error("could not encode JSON")]
    Encode {
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing the archive (or a document) to the output failed.
    #[error("could not write output")]
    Write {
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A writer argument is not acceptable (empty name, `/` in a name, …).
    #[error("invalid item {what:?}: {reason}")]
    InvalidItem {
        /// The offending item or value.
        what: String,
        /// Why.
        reason: &'static str,
    },
    /// An entry's data does not match skiff's integrity index (or is absent from its member).
    #[error("archive entry {entry:?} does not match the integrity index")]
    IndexMismatch {
        /// The entry path.
        entry: String,
    },
    /// A background compression task disappeared (a panic in a rayon worker).
    #[error("compression worker failed")]
    Worker,
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether retrying the same operation could succeed. Format errors are about the bytes, so
    /// only write errors (the sink) may be transient.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Write { source } | Error::Read { source } if matches!(source.kind(), io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }
}
