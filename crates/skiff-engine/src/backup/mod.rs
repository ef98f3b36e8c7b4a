//! Backup: cluster → Velero-compatible backup.
//!
//! - [`select`]: which types and items Velero's filter rules take (pure).
//! - [`source`]: what is selected and read from a live cluster — discovery, namespaces, paged
//!   LISTs, related items — each item handed on as Go-encoded JSON ([`Source`],
//!   [`read_selected`]). Usable on its own (migrate, verify against a live source, sync).
//! - `list`, `related`: the LIST jobs and the related-item pass behind [`Source::read`].
//! - `archive`: the archive sink (writer thread: tar, parallel gzip members, index stream).
//! - `keys`: the front-coded resource list.
//! - `pipeline`: [`run_backup`] — source → archive → sidecars → `velero-backup.json` last.

mod archive;
mod keys;
mod list;
mod pipeline;
mod related;
pub mod select;
pub mod source;

pub use pipeline::{BackupOptions, BackupPhase, BackupReport, run_backup};
pub use select::Selection;
pub use source::{
    DEFAULT_BACKUP_PAGE_SIZE, DEFAULT_LIST_CONCURRENCY, ItemBatch, ReadOptions, ReadOutcome, SelectedItem,
    Source, read_selected,
};
