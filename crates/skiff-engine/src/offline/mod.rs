//! Offline access to backups — from a location (local folder or bucket), a backup folder, or
//! a bare `.tar.gz` — for `inspect`, `validate`, `show`, `extract` and the backups catalog. No
//! cluster involved.
//!
//! * [`source`] — where a backup comes from, and the one streaming pass over its tarball
//!   ([`fold_entries`]); restore and migrate read backups through it too.
//! * [`inspect`] — summary, item list, one item.
//! * [`extract`] — one file per item under a folder, never outside it.
//! * [`validate`] — every check of a backup, as findings.
//! * [`catalog`] — the backups of a location: list, describe, delete.
//!
//! Input is hostile until checked: names taken from documents are validated before they become
//! keys or paths, documents are read with size limits, no link inside a backup folder or an
//! extract target is followed, and text from a backup is escaped before it can reach a terminal
//! ([`escape_for_display`]).

pub mod catalog;
mod error;
pub mod extract;
mod files;
pub mod inspect;
pub mod render;
pub mod source;
pub mod validate;

pub use catalog::{BackupDescription, CatalogEntry};
pub use error::{OfflineError, OfflineErrorClass};
pub use extract::{ExtractFormat, ExtractOptions, ExtractReport, extract};
pub use inspect::{ListedItem, ShownItem, Summary, list_items, parse_item_spec, show_item, summarize};
pub use source::{
    ArchiveStats, BackupSource, Pass, fold_entries, for_each_entry, read_backup_doc, resolve_source,
    scan_entries,
};
pub use validate::{Finding, Severity, ValidationReport, validate};

use std::borrow::Cow;

/// `s` made safe to print on a terminal or in a log line: control characters (C0, DEL, C1),
/// line and paragraph separators, bidirectional overrides and other invisible format
/// characters, and the backslash (so escapes stay unambiguous) are written as `\u{…}`; everything
/// else is kept. Borrowed when there is nothing to escape (the common case).
pub fn escape_for_display(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || is_invisible_format(c)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_acts_on_a_terminal() {
        assert!(matches!(
            escape_for_display("configmaps/demo/a.b-c"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape_for_display("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape_for_display("x\ny\rz"), "x\\u{a}y\\u{d}z");
        assert_eq!(escape_for_display("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(escape_for_display("back\\slash"), "back\\u{5c}slash");
        assert_eq!(escape_for_display("\u{85}é"), "\\u{85}é");
    }
}
