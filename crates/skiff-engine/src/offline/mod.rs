//! Offline access to backups — from a location (local folder or bucket), a backup folder, or
//! a bare `.tar.gz` — for `inspect`, `validate`, `show`, `extract` and the backups catalog. No
//! cluster involved.
//!
//! * [`source`] — where a backup comes from, and the one streaming pass over its tarball
//!   ([`fold_entries`]); restore and migrate read backups through it too.
//! * [`inspect`] — summary, item list, one item.
//! * [`mod@extract`] — one file per item under a folder, never outside it.
//! * [`mod@validate`] — every check of a backup, as findings.
//! * [`catalog`] — the backups of a location: list, describe, delete.
//! * [`copy`] — a backup from one location to another, checked, `velero-backup.json` last.
//!
//! Input is hostile until checked: names taken from documents are validated before they become
//! keys or paths, documents are read with size limits, no link inside a backup folder or an
//! extract target is followed, and text from a backup is escaped before it can reach a terminal
//! ([`escape_for_display`]).

pub mod catalog;
pub mod copy;
mod error;
pub mod extract;
mod files;
pub mod inspect;
pub mod render;
pub mod source;
pub mod validate;

pub use catalog::{BackupDescription, CatalogEntry};
pub use copy::{CopyOptions, CopyReport, copy_backup};
pub use error::{OfflineError, OfflineErrorClass};
pub use extract::{ExtractFormat, ExtractOptions, ExtractReport, extract};
pub use inspect::{ListedItem, ShownItem, Summary, list_items, parse_item_spec, show_item, summarize};
pub use source::{
    ArchiveStats, BackupSource, Pass, fold_entries, for_each_entry, read_backup_doc, resolve_source,
    scan_entries,
};
pub use validate::{Finding, Severity, ValidationReport, validate};

/// Text from a backup made safe to print (see [`skiff_format::path::escape_for_display`]).
pub use skiff_format::path::escape_for_display;

/// Zero-width, line/paragraph separator, bidirectional and other format characters that change
/// what a terminal shows without being visible themselves.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// An error and its causes on one line, for findings and per-item messages inside the engine
/// (the CLI renders the errors it prints itself, with `exit::chain`).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
