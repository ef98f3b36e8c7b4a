//! Checks of the whole picture, after the pass: the version entry, copies without their
//! counterpart, skiff's index against what was read, the resource list against the tarball.

use super::archive::Checked;
use super::documents::Documents;
use super::{Findings, Severity};
use crate::offline::escape_for_display;
use skiff_format::path::{ItemRef, VersionDir};
use std::collections::BTreeSet;

pub(super) fn check(docs: &Documents, c: &mut Checked) {
    version(docs, c);
    if let Some(report) = c.index_report.take() {
        let f = &mut c.findings;
        for p in report.mismatched {
            f.error("index", Some(p), "content differs from skiff's integrity index");
        }
        for p in report.extra {
            f.error(
                "index",
                Some(p),
                "entry not in skiff's integrity index (or listed once and present twice)",
            );
        }
        for p in report.missing {
            f.error(
                "index",
                Some(p),
                "listed in skiff's integrity index but missing from the tarball",
            );
        }
    }
    if !c.broken {
        resource_list(docs, c);
    }
}

/// The version entry, and copies without their counterpart (which depend on the version).
fn version(docs: &Documents, c: &mut Checked) {
    let Some(v) = c.version.clone() else {
        if !c.saw_version && !c.broken {
            c.findings
                .error("version", Some("metadata/version".into()), "missing");
        }
        return;
    };
    let copies_expected = v != "1";
    let mut pending: Vec<(ItemRef, bool)> = c.copies.pending.drain().map(|(k, _)| k).collect();
    pending.sort();
    for (item, classic) in pending {
        if classic && copies_expected {
            c.findings.warning(
                "preferred-copy",
                Some(item.path(&VersionDir::Classic)),
                "no <version>-preferredversion copy (needed by Velero's EnableAPIGroupVersions restore)",
            );
        } else if !classic {
            c.findings.error(
                "preferred-copy",
                Some(item.to_string()),
                "preferred-version copy without the classic-path item Velero restores",
            );
        }
    }
    if let Some(doc) = &docs.backup
        && !doc.status.format_version.is_empty()
        && doc.status.format_version != v
        && v != "1"
    {
        c.findings.warning(
            "version",
            None,
            format!(
                "metadata/version {v:?} differs from status.formatVersion {:?}",
                escape_for_display(&doc.status.format_version)
            ),
        );
    }
}

fn resource_list(docs: &Documents, c: &mut Checked) {
    let Some(list) = &docs.resource_list else {
        return;
    };
    let listed: BTreeSet<(String, String)> = list
        .iter()
        .flat_map(|(k, v)| v.iter().map(move |n| (k.clone(), n.clone())))
        .collect();
    let f: &mut Findings = &mut c.findings;
    for (k, n) in listed.difference(&c.listed) {
        f.error(
            "resource-list",
            Some(format!("{k} {n}")),
            "in the resource list but not in the tarball",
        );
    }
    for (k, n) in c.listed.difference(&listed) {
        f.error(
            "resource-list",
            Some(format!("{k} {n}")),
            "in the tarball but not in the resource list",
        );
    }
    if let Some(doc) = &docs.backup {
        let n = listed.len() as i64;
        if let Some(p) = &doc.status.progress
            && p.total_items != 0
            && p.total_items != n
        {
            f.add(
                Severity::Warning,
                "metadata",
                Some("velero-backup.json".into()),
                format!(
                    "progress.totalItems is {} but the resource list has {n} items",
                    p.total_items
                ),
            );
        }
    }
}
