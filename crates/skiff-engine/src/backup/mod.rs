//! Backup: cluster → Velero-compatible backup.

mod run;
pub mod select;

pub use run::{BackupOptions, BackupReport, DEFAULT_BACKUP_PAGE_SIZE, DEFAULT_LIST_CONCURRENCY, run_backup};
pub use select::Selection;
