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
    /// An entry's path is longer than [`crate::reader::MAX_PATH_LEN`].
    #[error("archive entry path {entry:?} is {len} bytes long, more than the limit of {limit}")]
    PathTooLong {
        /// The path, shortened.
        entry: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A tar extension header (PAX or GNU long name) declares more data than allowed; refused
    /// from its header, before its data is read.
    #[error("{kind} at offset {offset} declares {size} bytes, more than the limit of {limit}")]
    ExtensionTooLarge {
        /// Which extension (`PAX extended header`, `GNU long name`, …).
        kind: &'static str,
        /// Offset of its header in the tar stream.
        offset: u64,
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The same entry path occurs twice in the archive.
    #[error("archive entry {entry:?} occurs more than once")]
    DuplicateEntry {
        /// The path, shortened.
        entry: String,
    },
    /// More than one entry matches what was asked for.
    #[error("more than one archive entry matches: {first:?} and {second:?}")]
    AmbiguousEntry {
        /// The first match.
        first: String,
        /// The second match.
        second: String,
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
    /// A document (`velero-backup.json`, a sidecar, the index) is larger than allowed; refused
    /// before it is read whole.
    #[error("{document} is larger than the limit of {limit} bytes")]
    DocumentTooLarge {
        /// The document.
        document: String,
        /// The limit.
        limit: u64,
    },
    /// A JSON document or item is malformed, not of the expected shape, or too deeply nested.
    #[error("invalid JSON in {document} at byte {offset}: {reason}")]
    InvalidJson {
        /// The document (entry path or file name), shortened.
        document: String,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A JSON document would take more memory as a tree than allowed (see
    /// [`crate::json::tree_cost`]).
    #[error(
        "JSON of {document} is too large to build as a tree: about {estimate} bytes, more than the limit of {limit}"
    )]
    JsonTooLarge {
        /// The document (entry path or file name), shortened.
        document: String,
        /// Estimated size of the tree.
        estimate: u64,
        /// The limit.
        limit: u64,
    },
    /// skiff's integrity index is not consistent with itself or the tarball.
    #[error("invalid skiff index: {reason}")]
    InvalidIndex {
        /// What is wrong.
        reason: String,
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
    /// A caller reading through the index should fall back to a streaming read.
    #[error("archive entry {entry:?} does not match the integrity index: {reason}")]
    IndexMismatch {
        /// The entry path.
        entry: String,
        /// What differs.
        reason: &'static str,
    },
    /// A background compression task disappeared (a panic in a rayon worker).
    #[error("compression worker failed")]
    Worker,
}

/// Longest text of the input (an entry path, a document name) that an error message carries.
pub const MAX_ERROR_TEXT: usize = 512;

/// `s` cut to [`MAX_ERROR_TEXT`] bytes (on a character boundary, with `…` appended when cut), for
/// error fields: a message never carries unbounded input. Error messages print these fields
/// with `{:?}`, which escapes control characters.
pub(crate) fn shorten(s: &str) -> String {
    if s.len() <= MAX_ERROR_TEXT {
        return s.to_owned();
    }
    let mut cut = MAX_ERROR_TEXT;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
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
