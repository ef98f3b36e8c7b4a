//! The tarball, in one streaming pass: the reader's own checks (gzip, tar, paths, sizes), the
//! version entry, every item against its path, preferred-version copies, duplicate paths, and
//! every entry against skiff's index.

use super::{Findings, Severity};
use crate::error::{Error, Result};
use crate::offline::source::{ArchiveStats, BackupSource, read_entries, run_pass_on};
use crate::offline::{OfflineError, chain, escape_for_display};
use crate::progress::Progress;
use sha2::{Digest, Sha256};
use skiff_format::index::{ArchiveIndex, VerifyReport};
use skiff_format::path::{ItemRef, VersionDir};
use skiff_format::reader::{EntryKind, EntryRef, ReaderOptions};
use skiff_store::layout::BackupFile;
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

/// What the pass found.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub findings: Findings,
    /// `metadata/version`, when read and supported.
    pub version: Option<String>,
    pub entries: u64,
    pub items: u64,
    /// Classic items seen, as the resource list keys them: (`apiVersion/Kind`, `ns/name`).
    pub listed: BTreeSet<(String, String)>,
    pub copies: Copies,
    /// The index comparison, when there is an index and the archive was read to its end.
    pub index_report: Option<VerifyReport>,
    /// The archive could not be read to its end.
    pub broken: bool,
    /// A `metadata/version` entry was read (supported or not).
    pub saw_version: bool,
    stats: ArchiveStats,
}

/// Classic and preferred-version copies of the same item must be identical. Velero and skiff
/// write them one after the other, so the previous copy is held and compared byte for byte;
/// copies apart are compared by SHA-256.
#[derive(Debug, Default)]
pub(super) struct Copies {
    last: Option<(ItemRef, bool, Vec<u8>)>,
    /// (item, is classic) → digest of a copy still waiting for its counterpart.
    pub pending: HashMap<(ItemRef, bool), [u8; 32]>,
}

impl Copies {
    fn add(&mut self, item: &ItemRef, classic: bool, data: &[u8], path: &str, f: &mut Findings) {
        let differs = || {
            (
                Some(path.to_owned()),
                "differs from the other copy of the same item",
            )
        };
        if let Some((li, lc, ld)) = &self.last
            && li == item
            && *lc != classic
        {
            if ld.as_slice() != data {
                let (o, m) = differs();
                f.error("preferred-copy", o, m);
            }
            self.last = None;
            return;
        }
        self.park();
        if let Some(d) = self.pending.remove(&(item.clone(), !classic)) {
            if d != <[u8; 32]>::from(Sha256::digest(data)) {
                let (o, m) = differs();
                f.error("preferred-copy", o, m);
            }
        } else {
            self.last = Some((item.clone(), classic, data.to_vec()));
        }
    }

    /// Move the held copy to the pending digests.
    pub(super) fn park(&mut self) {
        if let Some((item, classic, data)) = self.last.take() {
            self.pending.insert((item, classic), Sha256::digest(&data).into());
        }
    }
}

impl Checked {
    fn entry(&mut self, e: EntryRef<'_>) {
        self.entries += 1;
        if e.duplicate {
            self.findings.error(
                "duplicate",
                Some(e.path.to_owned()),
                "the same path occurs more than once in the archive: which copy a reader takes is undefined",
            );
        }
        match e.kind {
            EntryKind::Version => self.version_entry(e),
            EntryKind::Item(item, dir) => {
                if *dir == VersionDir::Classic {
                    self.items += 1;
                    if let Some(key) = check_item(&mut self.findings, e, item) {
                        self.listed.insert(key);
                    }
                }
                if matches!(dir, VersionDir::Classic | VersionDir::Preferred(_)) {
                    self.copies.add(
                        item,
                        *dir == VersionDir::Classic,
                        e.data,
                        e.path,
                        &mut self.findings,
                    );
                }
            }
            EntryKind::Other => {
                self.findings.warning(
                    "tar",
                    Some(e.path.to_owned()),
                    "unexpected entry (Velero skips it)",
                );
            }
        }
    }

    fn version_entry(&mut self, e: EntryRef<'_>) {
        self.saw_version = true;
        match skiff_format::path::check_version(e.data) {
            Ok(v) => self.version = Some(v),
            Err(err) => self
                .findings
                .error("version", Some(e.path.to_owned()), chain(&err)),
        }
        if self.entries != 1 {
            self.findings.warning(
                "version",
                Some(e.path.to_owned()),
                "metadata/version is not the first entry",
            );
        }
    }
}

/// Check one item's JSON against its path (the format crate's one-pass item check: grammar,
/// depth, head fields); returns its resource-list key.
fn check_item(f: &mut Findings, e: EntryRef<'_>, item: &ItemRef) -> Option<(String, String)> {
    let obj = || Some(e.path.to_owned());
    let head = match skiff_format::json::check_item(e.data, e.path) {
        Ok((h, _)) => h,
        Err(err) => {
            f.error("item", obj(), format!("not a valid item: {}", chain(&err)));
            return None;
        }
    };
    let (api_version, kind) = (head.api_version.as_str(), head.kind.as_str());
    let (name, ns) = (head.metadata.name.as_str(), head.metadata.namespace.as_str());
    if api_version.is_empty() || kind.is_empty() {
        f.error("item", obj(), "missing apiVersion or kind");
    }
    if name != item.name {
        f.error(
            "item",
            obj(),
            format!(
                "metadata.name is {:?}, the path says {:?}",
                escape_for_display(name),
                escape_for_display(&item.name)
            ),
        );
    }
    match &item.namespace {
        Some(pns) if ns != pns => f.error(
            "item",
            obj(),
            format!(
                "metadata.namespace is {:?}, the path says {:?}",
                escape_for_display(ns),
                escape_for_display(pns)
            ),
        ),
        None if !ns.is_empty() && kind != "Namespace" => f.add(
            Severity::Warning,
            "item",
            obj(),
            format!(
                "cluster-scoped path but metadata.namespace is {:?}",
                escape_for_display(ns)
            ),
        ),
        _ => {}
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let gr_group = item.group_resource.split_once('.').map_or("", |(_, g)| g);
    if !api_version.is_empty() && group != gr_group {
        f.error(
            "item",
            obj(),
            format!(
                "apiVersion {:?} does not belong to resource {:?}",
                escape_for_display(api_version),
                escape_for_display(&item.group_resource)
            ),
        );
    }
    let key = match &item.namespace {
        Some(ns) => format!("{ns}/{}", item.name),
        None => item.name.clone(),
    };
    Some((format!("{api_version}/{kind}"), key))
}

/// Read the tarball once, checking every entry (and, with an index, comparing each with it).
pub(super) async fn check(
    source: &BackupSource,
    progress: &dyn Progress,
    index: Option<Arc<ArchiveIndex>>,
    mut findings: Findings,
) -> Result<Checked> {
    let reader = match source.tarball_reader().await {
        Ok(r) => r,
        Err(Error::Offline(OfflineError::TarballMissing { .. }) | Error::BackupNotFound { .. }) => {
            findings.error(
                "tar",
                Some(BackupFile::Tarball.file_name(&source.name())),
                "tarball is missing",
            );
            return Ok(Checked {
                findings,
                broken: true,
                ..Checked::default()
            });
        }
        Err(e) => return Err(e),
    };
    run_pass_on(reader, progress, move |reader, tick| {
        let mut st = Checked {
            findings,
            ..Checked::default()
        };
        let mut verifier = index.as_deref().map(ArchiveIndex::verifier);
        // Duplicates are findings here, not the end of the pass.
        let opts = ReaderOptions {
            allow_duplicates: true,
            ..ReaderOptions::default()
        };
        let (stats, outcome) = read_entries(
            reader,
            opts,
            &mut st,
            &mut |st: &mut Checked, e: EntryRef<'_>| {
                if let Some(v) = verifier.as_mut() {
                    v.check(e.path, e.data);
                }
                st.entry(e);
                Ok(ControlFlow::Continue(()))
            },
            tick,
        );
        st.stats = stats;
        st.copies.park();
        match outcome {
            Ok(()) => st.index_report = verifier.map(skiff_format::index::Verifier::finish),
            Err(e) => {
                st.broken = true;
                let msg = format!("archive unreadable after {} entries: {}", st.entries, chain(&e));
                st.findings.error("tar", None, msg);
            }
        }
        st
    })
    .await
}
