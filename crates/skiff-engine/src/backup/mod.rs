//! Backup: cluster → Velero-compatible backup.

pub mod select;
