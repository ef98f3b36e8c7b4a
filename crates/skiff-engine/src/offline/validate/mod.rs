//! `validate`: every check of a backup, as findings.
//!
//! * `documents` — `velero-backup.json` (names included), the sidecars, the resource list and
//!   skiff's index, read with their size limits;
//! * `archive` — one streaming pass over the tarball: the reader's own checks, the version
//!   entry, every item against its path, preferred-version copies, duplicate paths, and every
//!   entry against skiff's index (the format crate's verifier);
//! * `cross` — what only the whole picture shows: resource list against the tarball, copies
//!   without their counterpart, index entries missing from the tarball.
//!
//! Findings are kept up to [`MAX_FINDINGS_PER_CODE`] per code; the rest are counted in
//! [`ValidationReport::dropped`].

mod archive;
mod cross;
mod documents;

use super::source::BackupSource;
use crate::error::{Error, Result};
use crate::progress::Progress;
use serde::Serialize;
use skiff_store::layout::BackupFile;
use std::collections::{BTreeMap, HashMap};

/// Findings kept per code; more are counted, not kept.
pub const MAX_FINDINGS_PER_CODE: u64 = 1000;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Works, but not as Velero would write it.
    Warning,
    /// Broken: Velero or skiff would fail or restore something else.
    Error,
}

/// One finding of `validate`.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// Stable short code (`tar`, `version`, `metadata`, `resource-list`, `preferred-copy`,
    /// `item`, `index`, `sidecar`, `duplicate`).
    pub code: &'static str,
    /// The object or entry concerned (as found: escape it before printing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Findings left out of a report: per code, how many and of which severities.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Dropped {
    /// Findings not kept.
    pub count: u64,
    /// Of those, errors.
    pub errors: u64,
}

/// The result of validating one backup.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    /// Backup name.
    pub name: String,
    /// Where it was read.
    pub source: String,
    /// Tarball entries read.
    pub entries: u64,
    /// Items (classic copies) checked.
    pub items: u64,
    /// Findings, most severe first (at most [`MAX_FINDINGS_PER_CODE`] per code).
    pub findings: Vec<Finding>,
    /// Findings not kept, per code.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<&'static str, Dropped>,
}

impl ValidationReport {
    /// Number of error findings, the dropped ones included.
    pub fn errors(&self) -> u64 {
        self.count(Severity::Error) + self.dropped.values().map(|d| d.errors).sum::<u64>()
    }

    /// Number of kept findings of one severity.
    pub fn count(&self, severity: Severity) -> u64 {
        self.findings.iter().filter(|f| f.severity == severity).count() as u64
    }
}

/// Findings as they are found, bounded per code.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    list: Vec<Finding>,
    per_code: HashMap<&'static str, u64>,
    dropped: BTreeMap<&'static str, Dropped>,
}

impl Findings {
    pub(crate) fn add(
        &mut self,
        severity: Severity,
        code: &'static str,
        object: Option<String>,
        message: impl Into<String>,
    ) {
        let n = self.per_code.entry(code).or_default();
        *n += 1;
        if *n <= MAX_FINDINGS_PER_CODE {
            self.list.push(Finding {
                severity,
                code,
                object,
                message: message.into(),
            });
        } else {
            let d = self.dropped.entry(code).or_default();
            d.count += 1;
            d.errors += u64::from(severity == Severity::Error);
        }
    }

    pub(crate) fn error(&mut self, code: &'static str, object: Option<String>, message: impl Into<String>) {
        self.add(Severity::Error, code, object, message);
    }

    pub(crate) fn warning(&mut self, code: &'static str, object: Option<String>, message: impl Into<String>) {
        self.add(Severity::Warning, code, object, message);
    }
}

/// Validate a backup: documents, archive integrity, version, items, resource list,
/// preferred-version copies, duplicates, and skiff's index when present.
pub async fn validate(source: &BackupSource, progress: &dyn Progress) -> Result<ValidationReport> {
    // A name with neither a velero-backup.json nor a tarball is not a backup: say so (exit 11)
    // instead of reporting the missing files as findings.
    if let BackupSource::Stored { store, name } = source {
        let meta = store.head(&BackupFile::Metadata.key(name)?).await?;
        if meta.is_none() && store.head(&BackupFile::Tarball.key(name)?).await?.is_none() {
            return Err(Error::BackupNotFound {
                name: name.clone(),
                location: store.describe(),
            });
        }
    }
    let mut findings = Findings::default();
    let docs = documents::read(source, &mut findings).await?;
    progress.stage("validating", None);
    let pass = archive::check(source, progress, docs.index.clone(), findings).await;
    progress.finish_stage();
    let mut pass = pass?;
    cross::check(&docs, &mut pass);
    let archive::Checked {
        mut findings,
        entries,
        items,
        ..
    } = pass;
    findings.list.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Ok(ValidationReport {
        name: source.name(),
        source: source.describe(),
        entries,
        items,
        findings: findings.list,
        dropped: findings.dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_beyond_the_cap_are_counted() {
        let mut f = Findings::default();
        for i in 0..MAX_FINDINGS_PER_CODE + 7 {
            f.error("item", Some(format!("e{i}")), "bad");
        }
        f.warning("item", None, "w");
        f.warning("tar", None, "t");
        assert_eq!(f.list.len() as u64, MAX_FINDINGS_PER_CODE + 1);
        assert_eq!(f.dropped.get("item"), Some(&Dropped { count: 8, errors: 7 }));
        let r = ValidationReport {
            name: "b".into(),
            source: "s".into(),
            entries: 0,
            items: 0,
            findings: f.list,
            dropped: f.dropped,
        };
        assert_eq!(r.errors(), MAX_FINDINGS_PER_CODE + 7);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["dropped"]["item"]["count"], 8);
    }
}
