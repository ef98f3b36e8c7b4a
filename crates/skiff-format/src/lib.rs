//! Velero's backup archive format (archive format 1.1.0, as written by Velero v1.18) and its
//! documents, plus skiff's own integrity index.
//!
//! Invariants: no async, no network, no filesystem paths — everything works on `Read`/`Write`.
//! Output is deterministic. Kubernetes items pass through as raw JSON; typed structs exist only
//! for Velero's own documents, which keep unknown fields on a read–write round trip.
//!
//! Modules:
//! * [`gojson`] — Go-compatible JSON encoders (items, pretty documents, sidecars) and gzip helpers.
//! * [`path`] — tarball paths ([`ItemRef`], [`VersionDir`]).
//! * [`reader`] — streaming, defensive `.tar.gz` reader: every limit and integrity check in one place.
//! * [`writer`] — parallel multi-member `.tar.gz` writer.
//! * [`index`] — skiff's integrity sidecar (per-entry sha256, member offsets), verified before use.
//! * [`json`] — JSON checked, bounded and rendered without building trees.
//! * [`docs`] — typed, lenient models of Velero's documents.
//! * [`velero`] — typed models of Velero's 13 custom resources and the CRDs generated from them.

pub mod docs;
mod error;
pub mod gojson;
mod gzip;
pub mod index;
pub mod json;
pub mod path;
pub mod reader;
mod transcode;
pub mod velero;
pub mod writer;

pub use error::{Error, MAX_ERROR_TEXT, Result};
pub use index::{ArchiveIndex, IndexEntry, IndexStream, Located, MemberInfo, VerifyReport};
pub use path::{ItemRef, VersionDir};
pub use reader::{ArchiveReader, Entry, EntryKind, EntryRef, ReaderOptions};
pub use writer::{ArchiveWriter, WriterOptions};
