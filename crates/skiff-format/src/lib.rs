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
//! * [`reader`] — streaming, defensive `.tar.gz` reader.
//! * [`writer`] — parallel multi-member `.tar.gz` writer.
//! * [`index`] — skiff's integrity sidecar (per-entry sha256, member offsets).
//! * [`docs`] — typed, lenient models of Velero's documents.
//! * [`velero`] — typed models of Velero's 13 custom resources and the CRDs generated from them.

pub mod docs;
mod error;
pub mod gojson;
pub mod index;
pub mod path;
pub mod reader;
mod transcode;
pub mod velero;
pub mod writer;

pub use error::{Error, Result};
pub use index::{ArchiveIndex, IndexEntry, IndexStream, MemberInfo, VerifyReport};
pub use path::{ItemRef, VersionDir};
pub use reader::{ArchiveReader, Entry, EntryKind, ReaderOptions};
pub use writer::{ArchiveWriter, WriterOptions};
