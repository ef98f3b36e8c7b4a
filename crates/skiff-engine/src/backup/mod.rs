//! Backup: cluster → Velero-compatible backup.

mod run;
pub mod select;

pub use run::{BackupOptions, BackupReport, run_backup};
pub use select::{BackupFilters, Selection};
