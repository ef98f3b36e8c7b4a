//! `inspect`: a backup's summary, its item list, one item.

use super::source::{ArchiveStats, BackupSource, fold_entries, read_backup_doc, run_pass};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scope::Scope;
use serde::Serialize;
use serde_json::Value;
use skiff_format::index::ArchiveIndex;
use skiff_format::path::{ItemRef, VersionDir};
use skiff_format::reader::{EntryKind, EntryRef, ReaderOptions};
use skiff_store::layout::BackupFile;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

/// One item as listed from an archive.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedItem {
    /// Group-resource string.
    pub resource: String,
    /// Namespace (none for cluster-scoped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Size of the item's JSON.
    pub size: u64,
}

/// Summary of a backup for `inspect`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Backup name.
    pub name: String,
    /// Where it was read.
    pub source: String,
    /// `metadata/version` of the tarball.
    pub format_version: String,
    /// velero-backup.json, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<Value>,
    /// Phase from velero-backup.json.
    pub phase: String,
    /// Distinct items (classic-path entries).
    pub items: u64,
    /// Tarball entries (all copies).
    pub entries: u64,
    /// Items per group-resource.
    pub per_resource: BTreeMap<String, u64>,
    /// Items per namespace (`<cluster>` for cluster-scoped).
    pub per_namespace: BTreeMap<String, u64>,
    /// Compressed tarball size.
    pub compressed_bytes: u64,
    /// Uncompressed tar size.
    pub uncompressed_bytes: u64,
    /// Other versions present (`EnableAPIGroupVersions` layout): GR → versions.
    pub extra_versions: BTreeMap<String, BTreeSet<String>>,
    /// Whether skiff's integrity index is present.
    pub has_index: bool,
}

impl Summary {
    fn add(&mut self, e: EntryRef<'_>) {
        self.entries += 1;
        match e.kind {
            EntryKind::Version => {
                self.format_version = String::from_utf8_lossy(e.data).trim().to_string();
            }
            EntryKind::Item(item, VersionDir::Classic) => {
                self.items += 1;
                *self.per_resource.entry(item.group_resource.clone()).or_default() += 1;
                let ns = item.namespace.clone().unwrap_or_else(|| "<cluster>".into());
                *self.per_namespace.entry(ns).or_default() += 1;
            }
            EntryKind::Item(item, VersionDir::Version(v)) => {
                self.extra_versions
                    .entry(item.group_resource.clone())
                    .or_default()
                    .insert(v.clone());
            }
            _ => {}
        }
    }
}

/// Build the `inspect` summary (one streaming pass over the tarball).
pub async fn summarize(source: &BackupSource, progress: &dyn Progress) -> Result<Summary> {
    let backup = read_backup_doc(source).await?;
    let has_index = source.has_file(BackupFile::SkiffIndex).await?;
    progress.stage("reading archive", None);
    let (mut s, stats): (Summary, ArchiveStats) =
        fold_entries(source, progress, Summary::default(), |s, e| {
            s.add(e);
            Ok(ControlFlow::Continue(()))
        })
        .await?;
    progress.finish_stage();
    s.name = source.name();
    s.source = source.describe();
    s.compressed_bytes = stats.compressed_bytes;
    s.uncompressed_bytes = stats.uncompressed_bytes;
    s.has_index = has_index;
    if let Some(b) = &backup {
        s.phase.clone_from(&b.status.phase);
        s.backup = Some(serde_json::from_slice(&b.to_json()?).unwrap_or(Value::Null));
    }
    Ok(s)
}

/// Whether an item's JSON passes the scope's label selectors (parsed only when one is set; an
/// item that does not parse does not match).
pub(crate) fn selectors_match(scope: &Scope, data: &[u8]) -> bool {
    !scope.has_selector() || serde_json::from_slice::<Value>(data).is_ok_and(|v| scope.selectors_match(&v))
}

/// List the items (classic path) of a backup, sorted.
pub async fn list_items(
    source: &BackupSource,
    filter: &Scope,
    progress: &dyn Progress,
) -> Result<Vec<ListedItem>> {
    let filter = filter.clone();
    let (mut v, _) = fold_entries(
        source,
        progress,
        Vec::new(),
        move |out: &mut Vec<ListedItem>, e| {
            if let EntryKind::Item(item, VersionDir::Classic) = e.kind
                && filter.matches_entry(&item.group_resource, item.namespace.as_deref(), &item.name)
                && selectors_match(&filter, e.data)
            {
                out.push(ListedItem {
                    resource: item.group_resource.clone(),
                    namespace: item.namespace.clone(),
                    name: item.name.clone(),
                    size: e.data.len() as u64,
                });
            }
            Ok(ControlFlow::Continue(()))
        },
    )
    .await?;
    v.sort();
    Ok(v)
}

/// Parse `<resource>/<namespace>/<name>` or `<resource>/<name>` (cluster-scoped).
pub fn parse_item_spec(spec: &str) -> Result<(String, Option<String>, String)> {
    let parts: Vec<&str> = spec.split('/').collect();
    match parts.as_slice() {
        [r, ns, n] if !r.is_empty() && !ns.is_empty() && !n.is_empty() => {
            Ok(((*r).to_string(), Some((*ns).to_string()), (*n).to_string()))
        }
        [r, n] if !r.is_empty() && !n.is_empty() => Ok(((*r).to_string(), None, (*n).to_string())),
        _ => Err(Error::InvalidOptions(format!(
            "item {:?} must be <resource>/<namespace>/<name> or <resource>/<name> for cluster-scoped objects",
            super::escape_for_display(spec)
        ))),
    }
}

fn resource_matches(wanted: &str, gr: &str) -> bool {
    wanted == gr || gr.split('.').next() == Some(wanted)
}

/// What `--show` asks for.
#[derive(Debug, Clone)]
struct Wanted {
    resource: String,
    namespace: Option<String>,
    name: String,
}

impl Wanted {
    fn matches(&self, item: &ItemRef) -> bool {
        resource_matches(&self.resource, &item.group_resource)
            && item.namespace == self.namespace
            && item.name == self.name
    }
}

/// One item's stored JSON, as `--show` finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownItem {
    /// The archive entry it was read from.
    pub path: String,
    /// Its JSON exactly as stored (render it with [`super::render`]).
    pub data: Vec<u8>,
}

/// Find one item (classic copy): through skiff's index with a ranged read when the index lists
/// exactly one match and the entry checks out against it (its member's CRC, offset, size and
/// SHA-256), else by reading and checking the whole archive. Two entries that match (the same
/// path twice, or a resource name that fits two group-resources) are an error, never a silent
/// pick.
pub async fn show_item(source: &BackupSource, spec: &str) -> Result<Option<ShownItem>> {
    let (resource, namespace, name) = parse_item_spec(spec)?;
    let wanted = Wanted {
        resource,
        namespace,
        name,
    };
    if let Some(found) = show_via_index(source, &wanted).await {
        return Ok(Some(found));
    }
    let found = run_pass(source, &crate::progress::NoProgress, move |reader, _| {
        skiff_format::reader::find_unique(
            reader,
            ReaderOptions::default(),
            |_, kind| matches!(kind, EntryKind::Item(item, VersionDir::Classic) if wanted.matches(item)),
        )
    })
    .await?
    .map_err(|e| match e {
        skiff_format::Error::AmbiguousEntry { first, second } if first != second => {
            Error::InvalidOptions(format!(
                "more than one archive entry matches: {:?} and {:?}; name the resource with its group",
                super::escape_for_display(&first),
                super::escape_for_display(&second)
            ))
        }
        skiff_format::Error::AmbiguousEntry { first, .. } => {
            Error::Format(skiff_format::Error::DuplicateEntry { entry: first })
        }
        other => Error::Format(other),
    })?;
    Ok(found.map(|e| ShownItem {
        path: e.path,
        data: e.data,
    }))
}

/// The item through skiff's index; `None` whenever the index is absent, unreadable, lists no
/// single match, or the entry does not check out against it (the caller then reads the
/// archive).
async fn show_via_index(source: &BackupSource, wanted: &Wanted) -> Option<ShownItem> {
    let raw = source.read_file(BackupFile::SkiffIndex).await.ok()??;
    let index = ArchiveIndex::from_gzip_json(&raw).ok()?;
    let mut hits = index
        .entries
        .iter()
        .filter(|e| match skiff_format::path::parse(&e.path) {
            skiff_format::path::PathKind::Item(item, VersionDir::Classic) => wanted.matches(&item),
            _ => false,
        });
    let path = hits.next()?.path.clone();
    if hits.next().is_some() {
        return None;
    }
    let size = source.tarball_size().await.ok()??;
    let range = index.locate(&path, size).ok()??.range();
    let member = source.tarball_range(range).await.ok()?;
    let entry_path = path.clone();
    let data = tokio::task::spawn_blocking(move || {
        let located = index.locate(&entry_path, size).ok()??;
        located.read(&member, ReaderOptions::default()).ok()
    })
    .await
    .ok()??;
    Some(ShownItem { path, data })
}
