//! Offline access to one backup — from a location (local folder or bucket), a backup folder, or
//! a bare `.tar.gz` — for `inspect`, `validate`, `show` and `extract`. No cluster involved.

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scope::Scope;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use skiff_format::docs::{self, Backup, Results};
use skiff_format::index::ArchiveIndex;
use skiff_format::path::{ItemRef, VersionDir};
use skiff_format::reader::{ArchiveReader, Entry, EntryKind, ReaderOptions};
use skiff_store::BackupStore;
use skiff_store::layout::BackupFile;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Where a backup is read from.
#[derive(Debug, Clone)]
pub enum BackupSource {
    /// Backup `name` in a location (local folder or bucket) in Velero's key layout.
    Stored {
        /// The location.
        store: Arc<dyn BackupStore>,
        /// Backup name.
        name: String,
    },
    /// A folder holding one backup's files (`velero-backup.json`, `<name>.tar.gz`, sidecars).
    Folder {
        /// The folder.
        dir: PathBuf,
        /// Backup name (the folder name, or `metadata.name` of its velero-backup.json).
        name: String,
    },
    /// A bare tarball: no documents.
    Tarball(PathBuf),
}

impl BackupSource {
    /// The backup's name (for a bare tarball: its file name without `.tar.gz`).
    pub fn name(&self) -> String {
        match self {
            BackupSource::Stored { name, .. } | BackupSource::Folder { name, .. } => name.clone(),
            BackupSource::Tarball(p) => {
                let f = p
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                f.trim_end_matches(".tar.gz").trim_end_matches(".tgz").to_string()
            }
        }
    }

    /// A human description for messages.
    pub fn describe(&self) -> String {
        match self {
            BackupSource::Stored { store, name } => format!("backup {name:?} in {}", store.describe()),
            BackupSource::Folder { dir, .. } => format!("backup folder {}", dir.display()),
            BackupSource::Tarball(p) => format!("tarball {}", p.display()),
        }
    }

    /// Read one of the backup's files; `None` when it does not exist.
    pub async fn read_file(&self, file: BackupFile) -> Result<Option<Bytes>> {
        match self {
            BackupSource::Stored { store, name } => {
                let key = file.key(name)?;
                match store.get(&key).await {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            BackupSource::Folder { dir, name } => {
                let path = dir.join(file.file_name(name));
                match tokio::fs::read(&path).await {
                    Ok(b) => Ok(Some(Bytes::from(b))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::Io {
                        op: "read",
                        path: path.display().to_string(),
                        source: e,
                    }),
                }
            }
            BackupSource::Tarball(p) => {
                if file == BackupFile::Tarball {
                    let b = tokio::fs::read(p).await.map_err(|e| Error::Io {
                        op: "read",
                        path: p.display().to_string(),
                        source: e,
                    })?;
                    Ok(Some(Bytes::from(b)))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// A blocking reader over the tarball, to be used inside `spawn_blocking`.
    pub async fn tarball_reader(&self) -> Result<Box<dyn Read + Send>> {
        match self {
            BackupSource::Stored { store, name } => {
                let key = BackupFile::Tarball.key(name)?;
                match skiff_store::bridge::blocking_reader(store.as_ref(), &key).await {
                    Ok(r) => Ok(Box::new(r)),
                    Err(e) if e.is_not_found() => Err(Error::BackupNotFound {
                        name: name.clone(),
                        location: store.describe(),
                    }),
                    Err(e) => Err(e.into()),
                }
            }
            BackupSource::Folder { dir, name } => {
                let path = dir.join(BackupFile::Tarball.file_name(name));
                open_file(&path)
            }
            BackupSource::Tarball(p) => open_file(p),
        }
    }

    /// Read a byte range of the tarball (for single-object reads through the index).
    pub async fn tarball_range(&self, range: std::ops::Range<u64>) -> Result<Bytes> {
        match self {
            BackupSource::Stored { store, name } => {
                Ok(store.get_range(&BackupFile::Tarball.key(name)?, range).await?)
            }
            BackupSource::Folder { dir, name } => {
                read_range(&dir.join(BackupFile::Tarball.file_name(name)), range)
            }
            BackupSource::Tarball(p) => read_range(p, range),
        }
    }
}

fn open_file(path: &Path) -> Result<Box<dyn Read + Send>> {
    let f = std::fs::File::open(path).map_err(|e| Error::Io {
        op: "open",
        path: path.display().to_string(),
        source: e,
    })?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

fn read_range(path: &Path, range: std::ops::Range<u64>) -> Result<Bytes> {
    use std::io::{Seek, SeekFrom};
    let io = |e| Error::Io {
        op: "read",
        path: path.display().to_string(),
        source: e,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    f.seek(SeekFrom::Start(range.start)).map_err(io)?;
    let mut buf = vec![0u8; (range.end - range.start) as usize];
    f.read_exact(&mut buf).map_err(io)?;
    Ok(Bytes::from(buf))
}

/// Resolve what the user named: an existing `.tar.gz` file, a backup folder, or a backup name in
/// `store`.
pub fn resolve_source(target: &str, store: Option<Arc<dyn BackupStore>>) -> Result<BackupSource> {
    let path = Path::new(target);
    if path.is_file() {
        return Ok(BackupSource::Tarball(path.to_path_buf()));
    }
    if path.is_dir() {
        let meta = path.join("velero-backup.json");
        let dir_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = std::fs::read(&meta)
            .ok()
            .and_then(|b| Backup::from_json(&b).ok())
            .map(|b| b.metadata.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or(dir_name);
        return Ok(BackupSource::Folder {
            dir: path.to_path_buf(),
            name,
        });
    }
    match store {
        Some(store) => {
            skiff_store::layout::validate_backup_name(target)?;
            Ok(BackupSource::Stored {
                store,
                name: target.to_string(),
            })
        }
        None => Err(Error::InvalidOptions(format!(
            "{target:?} is neither a .tar.gz file nor a backup folder, and no --location was given to look it up in"
        ))),
    }
}

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

/// Stream the tarball on a blocking thread, calling `f` for every entry.
pub async fn for_each_entry<F>(source: &BackupSource, progress: &dyn Progress, mut f: F) -> Result<(u64, u64)>
where
    F: FnMut(&Entry) -> Result<bool> + Send + 'static,
{
    let reader = source.tarball_reader().await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, u64)>(16);
    let task = tokio::task::spawn_blocking(move || -> Result<(u64, u64)> {
        let mut ar = ArchiveReader::with_options(reader, ReaderOptions::default());
        let mut n = 0u64;
        let mut bytes = 0u64;
        {
            let entries = ar.entries()?;
            for entry in entries {
                let entry = entry?;
                n += 1;
                bytes += entry.data.len() as u64;
                if n.is_multiple_of(1000) {
                    let _ = tx.try_send((1000, bytes));
                    bytes = 0;
                }
                if !f(&entry)? {
                    break;
                }
            }
        }
        Ok((ar.compressed_bytes(), ar.uncompressed_bytes()))
    });
    while let Some((n, b)) = rx.recv().await {
        progress.advance(n, b);
    }
    task.await.map_err(|e| Error::Task(e.to_string()))?
}

/// Read velero-backup.json if present.
pub async fn read_backup_doc(source: &BackupSource) -> Result<Option<Backup>> {
    match source.read_file(BackupFile::Metadata).await? {
        Some(b) => Ok(Some(Backup::from_json(&b)?)),
        None => Ok(None),
    }
}

/// Build the `inspect` summary (one streaming pass over the tarball).
pub async fn summarize(source: &BackupSource, progress: &dyn Progress) -> Result<Summary> {
    let backup = read_backup_doc(source).await?;
    let has_index = source.read_file(BackupFile::SkiffIndex).await?.is_some();
    progress.stage("reading archive", None);
    let acc = Arc::new(std::sync::Mutex::new(Summary::default()));
    let acc2 = acc.clone();
    let (compressed, uncompressed) = for_each_entry(source, progress, move |e| {
        let mut s = acc2.lock().expect("summary lock");
        s.entries += 1;
        match &e.kind {
            EntryKind::Version => s.format_version = String::from_utf8_lossy(&e.data).trim().to_string(),
            EntryKind::Item(item, VersionDir::Classic) => {
                s.items += 1;
                *s.per_resource.entry(item.group_resource.clone()).or_default() += 1;
                let ns = item.namespace.clone().unwrap_or_else(|| "<cluster>".into());
                *s.per_namespace.entry(ns).or_default() += 1;
            }
            EntryKind::Item(item, VersionDir::Version(v)) => {
                s.extra_versions
                    .entry(item.group_resource.clone())
                    .or_default()
                    .insert(v.clone());
            }
            _ => {}
        }
        Ok(true)
    })
    .await?;
    progress.finish_stage();
    let mut s = std::mem::take(&mut *acc.lock().expect("summary lock"));
    s.name = backup
        .as_ref()
        .map_or_else(|| source.name(), |b| b.metadata.name.clone());
    s.source = source.describe();
    s.compressed_bytes = compressed;
    s.uncompressed_bytes = uncompressed;
    s.has_index = has_index;
    if let Some(b) = &backup {
        s.phase.clone_from(&b.status.phase);
        s.backup = Some(serde_json::from_slice(&b.to_json()?).unwrap_or(Value::Null));
    }
    Ok(s)
}

/// Whether an item's JSON passes the scope's label selectors (parsed only when one is set; an
/// item that does not parse does not match).
fn selectors_match(scope: &Scope, data: &[u8]) -> bool {
    !scope.has_selector() || serde_json::from_slice::<Value>(data).is_ok_and(|v| scope.selectors_match(&v))
}

/// List the items (classic path) of a backup.
pub async fn list_items(
    source: &BackupSource,
    filter: &Scope,
    progress: &dyn Progress,
) -> Result<Vec<ListedItem>> {
    let filter = filter.clone();
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let out2 = out.clone();
    for_each_entry(source, progress, move |e| {
        if let EntryKind::Item(item, VersionDir::Classic) = &e.kind
            && filter.matches_entry(&item.group_resource, item.namespace.as_deref(), &item.name)
            && selectors_match(&filter, &e.data)
        {
            out2.lock().expect("list lock").push(ListedItem {
                resource: item.group_resource.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
                size: e.data.len() as u64,
            });
        }
        Ok(true)
    })
    .await?;
    let mut v = std::mem::take(&mut *out.lock().expect("list lock"));
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
            "item {spec:?} must be <resource>/<namespace>/<name> or <resource>/<name> for cluster-scoped objects"
        ))),
    }
}

fn resource_matches(wanted: &str, gr: &str) -> bool {
    wanted == gr || gr.split('.').next() == Some(wanted)
}

/// Find one item's JSON (classic copy). Uses skiff's index for a ranged read when present.
pub async fn show_item(source: &BackupSource, spec: &str) -> Result<Option<Value>> {
    let (res, ns, name) = parse_item_spec(spec)?;
    if let Some(idx) = source.read_file(BackupFile::SkiffIndex).await?
        && let Ok(index) = ArchiveIndex::from_gzip_json(&idx)
        && let Some(found) = show_via_index(source, &index, &res, ns.as_deref(), &name).await?
    {
        return Ok(Some(found));
    }
    let found = Arc::new(std::sync::Mutex::new(None));
    let f2 = found.clone();
    for_each_entry(source, &crate::progress::NoProgress, move |e| {
        if let EntryKind::Item(item, VersionDir::Classic) = &e.kind
            && resource_matches(&res, &item.group_resource)
            && item.namespace == ns
            && item.name == name
        {
            let v: Value = serde_json::from_slice(&e.data).map_err(|source| {
                Error::Format(skiff_format::Error::Json {
                    document: e.path.clone(),
                    source,
                })
            })?;
            *f2.lock().expect("show lock") = Some(v);
            return Ok(false);
        }
        Ok(true)
    })
    .await?;
    Ok(found.lock().expect("show lock").take())
}

async fn show_via_index(
    source: &BackupSource,
    index: &ArchiveIndex,
    res: &str,
    ns: Option<&str>,
    name: &str,
) -> Result<Option<Value>> {
    let hit = index
        .entries
        .iter()
        .find(|e| match skiff_format::path::parse(&e.path) {
            skiff_format::path::PathKind::Item(item, VersionDir::Classic) => {
                resource_matches(res, &item.group_resource)
                    && item.namespace.as_deref() == ns
                    && item.name == name
            }
            _ => false,
        });
    let Some(entry) = hit else { return Ok(None) };
    let Some(member) = index.members.get(entry.member) else {
        return Ok(None);
    };
    let bytes = source
        .tarball_range(member.compressed_offset..member.compressed_offset + member.compressed_length)
        .await?;
    let path = entry.path.clone();
    let data = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>> {
        Ok(read_member_entry(&bytes, &path))
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    match data {
        Some(d) => Ok(Some(serde_json::from_slice(&d).map_err(|source| {
            Error::Format(skiff_format::Error::Json {
                document: entry.path.clone(),
                source,
            })
        })?)),
        None => Ok(None),
    }
}

/// Decompress one gzip member and pull `path` out of its tar fragment (members start at entry
/// boundaries, so the fragment parses as a tar stream without its end blocks).
fn read_member_entry(member: &[u8], path: &str) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(member).read_to_end(&mut raw).ok()?;
    let mut ar = tar::Archive::new(&raw[..]);
    for e in ar.entries().ok()? {
        let Ok(mut e) = e else { break };
        let p = e.path().ok()?.to_string_lossy().into_owned();
        if p == path {
            let mut d = Vec::new();
            e.read_to_end(&mut d).ok()?;
            return Some(d);
        }
    }
    None
}

/// Output format of extracted files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractFormat {
    /// `<name>.yaml`.
    Yaml,
    /// `<name>.json` (pretty).
    Json,
}

/// Extract every item (classic copy) as `<dir>/<resource>/<namespace|_cluster>/<name>.<ext>`.
/// Never writes outside `dir`: every component is checked to be a plain file name.
pub async fn extract(
    source: &BackupSource,
    dir: &Path,
    filter: &Scope,
    format: ExtractFormat,
    progress: &dyn Progress,
) -> Result<u64> {
    let filter = filter.clone();
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        op: "create",
        path: dir.display().to_string(),
        source: e,
    })?;
    let root = dir.canonicalize().map_err(|e| Error::Io {
        op: "resolve",
        path: dir.display().to_string(),
        source: e,
    })?;
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c2 = count.clone();
    for_each_entry(source, progress, move |e| {
        if e.kind == EntryKind::Version {
            // Refuse an archive format this reader does not know (as Velero's restore does).
            skiff_format::path::check_version(&e.data).map_err(Error::Format)?;
            return Ok(true);
        }
        let EntryKind::Item(item, VersionDir::Classic) = &e.kind else {
            return Ok(true);
        };
        if !filter.matches_entry(&item.group_resource, item.namespace.as_deref(), &item.name)
            || !selectors_match(&filter, &e.data)
        {
            return Ok(true);
        }
        let ext = match format {
            ExtractFormat::Yaml => "yaml",
            ExtractFormat::Json => "json",
        };
        let ns = item.namespace.clone().unwrap_or_else(|| "_cluster".into());
        let file = format!("{}.{ext}", item.name);
        for part in [&item.group_resource, &ns, &file] {
            if !is_plain_component(part) {
                return Err(Error::Format(skiff_format::Error::UnsafePath {
                    entry: e.path.clone(),
                    reason: "item name is not a plain file name",
                }));
            }
        }
        let target_dir = root.join(&item.group_resource).join(&ns);
        let target = target_dir.join(&file);
        if !target.starts_with(&root) {
            return Err(Error::Format(skiff_format::Error::UnsafePath {
                entry: e.path.clone(),
                reason: "would be written outside the extract folder",
            }));
        }
        let value: Value = serde_json::from_slice(&e.data).map_err(|source| {
            Error::Format(skiff_format::Error::Json {
                document: e.path.clone(),
                source,
            })
        })?;
        let text = match format {
            ExtractFormat::Yaml => {
                serde_yaml_ng::to_string(&value).map_err(|err| Error::InvalidOptions(err.to_string()))?
            }
            ExtractFormat::Json => {
                let mut s = serde_json::to_string_pretty(&value).unwrap_or_default();
                s.push('\n');
                s
            }
        };
        std::fs::create_dir_all(&target_dir).map_err(|err| Error::Io {
            op: "create",
            path: target_dir.display().to_string(),
            source: err,
        })?;
        // Refuse to follow a symlink planted in the target folder.
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Format(skiff_format::Error::UnsafePath {
                entry: e.path.clone(),
                reason: "target exists as a symbolic link",
            }));
        }
        std::fs::write(&target, text).map_err(|err| Error::Io {
            op: "write",
            path: target.display().to_string(),
            source: err,
        })?;
        c2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    })
    .await?;
    Ok(count.load(std::sync::atomic::Ordering::Relaxed))
}

fn is_plain_component(s: &str) -> bool {
    let p = Path::new(s);
    !s.is_empty()
        && p.components().count() == 1
        && matches!(p.components().next(), Some(Component::Normal(_)))
}

// ---------------------------------------------------------------------------------------------
// validate

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
    /// `item`, `index`, `sidecar`).
    pub code: &'static str,
    /// The object or entry concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// What is wrong.
    pub message: String,
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
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
}

impl ValidationReport {
    /// Number of error findings.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

#[derive(Default)]
struct ValidateState {
    findings: Vec<Finding>,
    version: Option<String>,
    entries: u64,
    items: u64,
    /// Classic items seen: (apiVersion/Kind, ns/name).
    seen: BTreeSet<(String, String)>,
    /// Hashes of classic copies waiting for their preferred copy, and vice versa.
    pending_copies: HashMap<(ItemRef, bool), [u8; 32]>,
    /// Expected (size, sha256) per path from skiff's index, and the paths seen so far.
    index_checks: Option<(IndexExpectations, BTreeSet<String>)>,
}

/// Entry path → (size, sha256 hex) from skiff's integrity index.
type IndexExpectations = BTreeMap<String, (u64, String)>;

impl ValidateState {
    fn add(&mut self, severity: Severity, code: &'static str, object: Option<String>, message: String) {
        // Bound the report: after 1000 findings of a code, count instead.
        if self.findings.iter().filter(|f| f.code == code).count() < 1000 {
            self.findings.push(Finding {
                severity,
                code,
                object,
                message,
            });
        }
    }
}

/// Check one item's JSON against its path.
fn check_item(st: &mut ValidateState, e: &Entry, item: &ItemRef) -> Option<String> {
    let v: Value = match serde_json::from_slice(&e.data) {
        Ok(v) => v,
        Err(err) => {
            st.add(
                Severity::Error,
                "item",
                Some(e.path.clone()),
                format!("not valid JSON: {err}"),
            );
            return None;
        }
    };
    if !v.is_object() {
        st.add(
            Severity::Error,
            "item",
            Some(e.path.clone()),
            "not a JSON object".into(),
        );
        return None;
    }
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind, name, ns) = (
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/name"),
        s("/metadata/namespace"),
    );
    if api_version.is_empty() || kind.is_empty() {
        st.add(
            Severity::Error,
            "item",
            Some(e.path.clone()),
            "missing apiVersion or kind".into(),
        );
    }
    if name != item.name {
        st.add(
            Severity::Error,
            "item",
            Some(e.path.clone()),
            format!("metadata.name is {name:?}, the path says {:?}", item.name),
        );
    }
    match &item.namespace {
        Some(pns) if &ns != pns => st.add(
            Severity::Error,
            "item",
            Some(e.path.clone()),
            format!("metadata.namespace is {ns:?}, the path says {pns:?}"),
        ),
        None if !ns.is_empty() && kind != "Namespace" => st.add(
            Severity::Warning,
            "item",
            Some(e.path.clone()),
            format!("cluster-scoped path but metadata.namespace is {ns:?}"),
        ),
        _ => {}
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let gr_group = item.group_resource.split_once('.').map_or("", |(_, g)| g);
    if !api_version.is_empty() && group != gr_group {
        st.add(
            Severity::Error,
            "item",
            Some(e.path.clone()),
            format!(
                "apiVersion {api_version:?} does not belong to resource {:?}",
                item.group_resource
            ),
        );
    }
    let key = match &item.namespace {
        Some(ns) => format!("{ns}/{}", item.name),
        None => item.name.clone(),
    };
    Some(format!("{api_version}/{kind}\u{0}{key}"))
}

/// Validate a backup: archive integrity, version, documents, resource list vs contents,
/// preferred-version copies, item consistency, and skiff's index when present.
pub async fn validate(source: &BackupSource, progress: &dyn Progress) -> Result<ValidationReport> {
    let mut st = ValidateState::default();
    let name = source.name();
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

    // Documents.
    let mut backup_doc = None;
    if !matches!(source, BackupSource::Tarball(_)) {
        match source.read_file(BackupFile::Metadata).await? {
            None => st.add(
                Severity::Error,
                "metadata",
                Some("velero-backup.json".into()),
                "missing: Velero will not list this backup".into(),
            ),
            Some(b) => match Backup::from_json(&b) {
                Err(e) => st.add(
                    Severity::Error,
                    "metadata",
                    Some("velero-backup.json".into()),
                    chain(&e),
                ),
                Ok(doc) => {
                    if !doc.has_velero_type() {
                        st.add(
                            Severity::Error,
                            "metadata",
                            Some("velero-backup.json".into()),
                            "apiVersion/kind are not velero.io/v1 Backup".into(),
                        );
                    }
                    if doc.metadata.name != name {
                        st.add(
                            Severity::Error,
                            "metadata",
                            Some("velero-backup.json".into()),
                            format!("metadata.name {:?} differs from the folder name {name:?}: Velero's sync would flap", doc.metadata.name),
                        );
                    }
                    let phase = doc.status.phase.as_str();
                    if !matches!(phase, "Completed" | "PartiallyFailed" | "Failed") {
                        st.add(
                            Severity::Error,
                            "metadata",
                            Some("velero-backup.json".into()),
                            format!("phase {phase:?} is not terminal"),
                        );
                    }
                    if doc.status.expiration.is_none() {
                        st.add(
                            Severity::Warning,
                            "metadata",
                            Some("velero-backup.json".into()),
                            "no status.expiration: never expires".into(),
                        );
                    }
                    backup_doc = Some(doc);
                }
            },
        }
        for file in [
            BackupFile::ResourceList,
            BackupFile::Results,
            BackupFile::VolumeSnapshots,
            BackupFile::PodVolumeBackups,
            BackupFile::ItemOperations,
            BackupFile::VolumeInfo,
            BackupFile::CsiVolumeSnapshots,
            BackupFile::CsiVolumeSnapshotContents,
            BackupFile::Logs,
        ] {
            let Some(data) = source.read_file(file).await? else {
                continue;
            };
            let fname = file.file_name(&name);
            let outcome = match file {
                BackupFile::ResourceList => {
                    docs::decode_sidecar::<BTreeMap<String, Vec<String>>>(&data, &fname).map(|_| ())
                }
                BackupFile::Results => docs::decode_sidecar::<Results>(&data, &fname).map(|_| ()),
                BackupFile::Logs => skiff_format::gojson::gunzip(&data, 1 << 30).map(|_| ()),
                _ => docs::decode_sidecar::<Option<Vec<Value>>>(&data, &fname).map(|_| ()),
            };
            if let Err(e) = outcome {
                st.add(Severity::Error, "sidecar", Some(fname), chain(&e));
            }
        }
    }
    let resource_list: Option<BTreeMap<String, Vec<String>>> =
        match source.read_file(BackupFile::ResourceList).await? {
            Some(d) => docs::decode_sidecar(&d, "resource list").ok(),
            None => None,
        };
    let index = match source.read_file(BackupFile::SkiffIndex).await? {
        Some(d) => match ArchiveIndex::from_gzip_json(&d) {
            Ok(i) => Some(i),
            Err(e) => {
                st.add(
                    Severity::Error,
                    "index",
                    Some(BackupFile::SkiffIndex.file_name(&name)),
                    chain(&e),
                );
                None
            }
        },
        None => None,
    };
    st.index_checks = index.as_ref().map(|i| {
        (
            i.entries
                .iter()
                .map(|e| (e.path.clone(), (e.size, e.sha256.clone())))
                .collect(),
            BTreeSet::new(),
        )
    });

    // The tarball, in one streaming pass.
    progress.stage("validating", None);
    let shared = Arc::new(std::sync::Mutex::new(st));
    let s2 = shared.clone();
    let pass = for_each_entry(source, progress, move |e| {
        let mut st = s2.lock().expect("validate lock");
        st.entries += 1;
        if let Some((expected, seen)) = &mut st.index_checks {
            let digest = hex(&Sha256::digest(&e.data));
            let ok = expected
                .get(&e.path)
                .is_some_and(|(size, sha)| *size == e.data.len() as u64 && *sha == digest);
            let known = expected.contains_key(&e.path);
            seen.insert(e.path.clone());
            if !ok {
                let msg = if known {
                    "content differs from skiff's integrity index"
                } else {
                    "entry not in skiff's integrity index"
                };
                st.add(Severity::Error, "index", Some(e.path.clone()), msg.into());
            }
        }
        match &e.kind {
            EntryKind::Version => {
                match skiff_format::path::check_version(&e.data) {
                    Ok(v) => st.version = Some(v),
                    Err(err) => st.add(Severity::Error, "version", Some(e.path.clone()), chain(&err)),
                }
                if st.entries != 1 {
                    st.add(
                        Severity::Warning,
                        "version",
                        Some(e.path.clone()),
                        "metadata/version is not the first entry".into(),
                    );
                }
            }
            EntryKind::Item(item, dir) => {
                if *dir == VersionDir::Classic {
                    st.items += 1;
                    if let Some(key) = check_item(&mut st, e, item) {
                        let (lk, ik) = key.split_once('\u{0}').unwrap_or_default();
                        let pair = (lk.to_string(), ik.to_string());
                        st.seen.insert(pair);
                    }
                }
                if matches!(dir, VersionDir::Classic | VersionDir::Preferred(_)) {
                    let is_classic = *dir == VersionDir::Classic;
                    let digest: [u8; 32] = Sha256::digest(&e.data).into();
                    match st.pending_copies.remove(&(item.clone(), !is_classic)) {
                        Some(other) if other != digest => st.add(
                            Severity::Error,
                            "preferred-copy",
                            Some(e.path.clone()),
                            "differs from the other copy of the same item".into(),
                        ),
                        Some(_) => {}
                        None => {
                            st.pending_copies.insert((item.clone(), is_classic), digest);
                        }
                    }
                }
            }
            EntryKind::Other => st.add(
                Severity::Warning,
                "tar",
                Some(e.path.clone()),
                "unexpected entry (Velero skips it)".into(),
            ),
        }
        Ok(true)
    })
    .await;
    progress.finish_stage();
    let mut st = std::mem::take(&mut *shared.lock().expect("validate lock"));
    if let Err(e) = pass {
        match e {
            Error::Format(err) => st.add(
                Severity::Error,
                "tar",
                None,
                format!("archive unreadable after {} entries: {}", st.entries, chain(&err)),
            ),
            Error::BackupNotFound { .. } => {
                st.add(
                    Severity::Error,
                    "tar",
                    Some(BackupFile::Tarball.file_name(&name)),
                    "tarball is missing".into(),
                );
            }
            other => return Err(other),
        }
    }
    match st.version.clone() {
        None => st.add(
            Severity::Error,
            "version",
            Some("metadata/version".into()),
            "missing".into(),
        ),
        Some(v) => {
            let copies_expected = v != "1";
            let pending: Vec<(ItemRef, bool)> = st.pending_copies.keys().cloned().collect();
            for (item, is_classic) in pending {
                if is_classic && copies_expected {
                    st.add(Severity::Warning, "preferred-copy", Some(item.path(&VersionDir::Classic)), "no <version>-preferredversion copy (needed by Velero's EnableAPIGroupVersions restore)".into());
                } else if !is_classic {
                    st.add(
                        Severity::Error,
                        "preferred-copy",
                        Some(item.to_string()),
                        "preferred-version copy without the classic-path item Velero restores".into(),
                    );
                }
            }
            if let Some(doc) = &backup_doc
                && !doc.status.format_version.is_empty()
                && doc.status.format_version != v
                && v != "1"
            {
                st.add(
                    Severity::Warning,
                    "version",
                    None,
                    format!(
                        "metadata/version {v:?} differs from status.formatVersion {:?}",
                        doc.status.format_version
                    ),
                );
            }
        }
    }
    if let Some((expected, seen)) = st.index_checks.take() {
        for path in expected.keys().filter(|p| !seen.contains(*p)) {
            st.add(
                Severity::Error,
                "index",
                Some(path.clone()),
                "listed in skiff's integrity index but missing from the tarball".into(),
            );
        }
    }
    if let Some(list) = &resource_list {
        let listed: BTreeSet<(String, String)> = list
            .iter()
            .flat_map(|(k, v)| v.iter().map(move |n| (k.clone(), n.clone())))
            .collect();
        for (k, n) in listed
            .difference(&st.seen)
            .take(1000)
            .cloned()
            .collect::<Vec<_>>()
        {
            st.add(
                Severity::Error,
                "resource-list",
                Some(format!("{k} {n}")),
                "in the resource list but not in the tarball".into(),
            );
        }
        for (k, n) in st
            .seen
            .difference(&listed)
            .take(1000)
            .cloned()
            .collect::<Vec<_>>()
        {
            st.add(
                Severity::Error,
                "resource-list",
                Some(format!("{k} {n}")),
                "in the tarball but not in the resource list".into(),
            );
        }
        if let Some(doc) = &backup_doc {
            let n = listed.len() as i64;
            if let Some(p) = &doc.status.progress
                && p.total_items != 0
                && p.total_items != n
            {
                st.add(
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
    } else if !matches!(source, BackupSource::Tarball(_)) {
        st.add(
            Severity::Info,
            "resource-list",
            None,
            "no resource list (Velero writes one for every backup since v1.0)".into(),
        );
    }
    let mut findings = st.findings;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Ok(ValidationReport {
        name,
        source: source.describe(),
        entries: st.entries,
        items: st.items,
        findings,
    })
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// An error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
