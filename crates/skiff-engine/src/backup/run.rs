//! The backup pipeline: discovery → paged LIST (several types at once) → item checks →
//! JSON encoding (blocking pool) → tar entries and parallel gzip members (writer thread, rayon)
//! → streaming upload → sidecars → `velero-backup.json` last.
//!
//! Every arrow is a bounded queue, so memory is set by pages, members and parts in flight; what
//! grows with the number of objects is only the resource list Velero requires and an 8-byte
//! hash per item for de-duplication.

use super::select::Selection;
use crate::error::{Error, Result};
use crate::offline::chain;
use crate::progress::Progress;
use crate::scope::Scope;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use skiff_format::docs::{
    self, Backup, BackupParams, LogLevel, LogWriter, PvInfo, ResultSet, Results, VolumeInfo,
};
use skiff_format::gojson;
use skiff_format::index::IndexStream;
use skiff_format::path::ItemRef;
use skiff_format::writer::{ArchiveWriter, WriterOptions};
use skiff_kube::{ApiResourceInfo, ApiSurface, Cluster, ListOptions};
use skiff_store::BackupStore;
use skiff_store::layout::{BackupCommit, BackupFile};
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Default LIST page size of a backup: on the test bed 250 × 2 concurrent LISTs backs up 100k
/// objects as fast as 500 × 4 and with peak RSS 31 MiB instead of 37–39 MiB.
pub const DEFAULT_BACKUP_PAGE_SIZE: u32 = 250;
/// Default number of resource types listed at once by a backup.
pub const DEFAULT_LIST_CONCURRENCY: usize = 2;

/// Options of one backup run.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Backup name (= the `backups/<name>/` folder).
    pub name: String,
    /// Which objects, as the user gave them.
    pub scope: Scope,
    /// Time to live (Velero's default is 720h).
    pub ttl: Duration,
    /// BSL name recorded in labels and spec.
    pub storage_location: String,
    /// Velero namespace recorded in the Backup's metadata.
    pub velero_namespace: String,
    /// Back up every served version (Velero's `EnableAPIGroupVersions` layout).
    pub all_api_versions: bool,
    /// LIST page size.
    pub page_size: u32,
    /// Resource types listed at once.
    pub list_concurrency: usize,
    /// gzip level (0–9).
    pub compression_level: u32,
    /// Replace an existing complete backup of the same name.
    pub overwrite: bool,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            name: String::new(),
            scope: Scope::default(),
            ttl: Duration::from_secs(720 * 3600),
            storage_location: "default".into(),
            velero_namespace: "velero".into(),
            all_api_versions: false,
            page_size: DEFAULT_BACKUP_PAGE_SIZE,
            list_concurrency: DEFAULT_LIST_CONCURRENCY,
            compression_level: 6,
            overwrite: false,
        }
    }
}

/// What a finished backup reports.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// Backup name.
    pub name: String,
    /// Where it was written.
    pub location: String,
    /// `Completed` or `PartiallyFailed`.
    pub phase: String,
    /// Distinct items backed up.
    pub items: u64,
    /// Items per `apiVersion/Kind`.
    pub per_kind: BTreeMap<String, u64>,
    /// Compressed tarball size.
    pub tarball_bytes: u64,
    /// Uncompressed item bytes (one copy each).
    pub item_bytes: u64,
    /// Error messages (also in the results document).
    pub errors: Vec<String>,
    /// Warning messages.
    pub warnings: Vec<String>,
    /// Start time.
    pub started: DateTime<Utc>,
    /// Completion time.
    pub completed: DateTime<Utc>,
    /// Expiration written to velero-backup.json.
    pub expiration: DateTime<Utc>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// API requests retried by the limiter (429 / 5xx / transport).
    pub api_retries: u64,
}

/// One item on its way to the writer thread.
struct Encoded {
    item: ItemRef,
    /// The version directory: preferred (classic + copy) or other (version dir only).
    version: String,
    preferred: bool,
    list_key: String,
    json: Vec<u8>,
}

/// Related items found while listing, fetched after the main pass (§4.3).
#[derive(Default)]
struct Related {
    pvcs: BTreeSet<(String, String)>,
    pvs: BTreeSet<String>,
    priority_classes: BTreeSet<String>,
    service_accounts: BTreeSet<(String, String)>,
    custom_types: BTreeSet<String>,
}

/// One log line: time, level, message, fields.
type LogLine = (DateTime<Utc>, LogLevel, String, Vec<(String, String)>);

/// State shared by the listing tasks.
#[derive(Default)]
struct Shared {
    seen: HashSet<u64>,
    related: Related,
    namespaces_with_items: BTreeSet<String>,
    errors: ResultSet,
    warnings: ResultSet,
    error_list: Vec<String>,
    warning_list: Vec<String>,
    volume_info: Vec<VolumeInfo>,
    logs: Vec<LogLine>,
}

impl Shared {
    fn error(&mut self, namespace: Option<&str>, msg: String) {
        match namespace {
            Some(ns) => self
                .errors
                .namespaces
                .entry(ns.to_string())
                .or_default()
                .push(msg.clone()),
            None => self.errors.cluster.push(msg.clone()),
        }
        self.logs
            .push((Utc::now(), LogLevel::Error, msg.clone(), Vec::new()));
        self.error_list.push(msg);
    }

    fn log(&mut self, msg: String, fields: Vec<(String, String)>) {
        self.logs.push((Utc::now(), LogLevel::Info, msg, fields));
    }
}

fn key_hash(gr: &str, ns: Option<&str>, name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    gr.hash(&mut h);
    ns.hash(&mut h);
    name.hash(&mut h);
    h.finish()
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// Resource types that must not be collected twice (Velero's "cohabiting" resources): the
/// first group wins, `extensions` loses to `apps`/`networking.k8s.io`, core events win.
fn cohabiting_loser(res: &ApiResourceInfo, surface: &ApiSurface) -> bool {
    let preferred_elsewhere = |group: &str| {
        surface
            .resources
            .iter()
            .any(|r| r.group == group && r.resource == res.resource && r.preferred)
    };
    match (res.group.as_str(), res.resource.as_str()) {
        ("extensions", "deployments" | "daemonsets" | "replicasets") => preferred_elsewhere("apps"),
        ("extensions", "networkpolicies" | "ingresses") => preferred_elsewhere("networking.k8s.io"),
        ("events.k8s.io", "events") => preferred_elsewhere(""),
        _ => false,
    }
}

/// The resource types a backup lists directly, in Velero's order: core `pods`, `pvcs`, `pvs`
/// first, then discovery order, with `extensions` last.
fn types_to_list(surface: &ApiSurface, sel: &Selection, all_versions: bool) -> Vec<ApiResourceInfo> {
    let mut out: Vec<ApiResourceInfo> = surface
        .resources
        .iter()
        .filter(|r| all_versions || r.preferred)
        .filter(|r| ["list", "create", "get", "delete"].iter().all(|v| r.supports(v)))
        .filter(|r| r.resource != "namespaces" || !r.group.is_empty())
        .filter(|r| !cohabiting_loser(r, surface))
        .filter(|r| sel.lists_type(r))
        .cloned()
        .collect();
    let rank = |r: &ApiResourceInfo| match (r.group.as_str(), r.resource.as_str()) {
        ("", "pods") => 0,
        ("", "persistentvolumeclaims") => 1,
        ("", "persistentvolumes") => 2,
        ("extensions", _) => 4,
        _ => 3,
    };
    out.sort_by_key(rank); // stable: keeps discovery order within a rank
    out
}

/// Extra discovery rounds when some group/versions could not be discovered.
const DISCOVERY_RETRIES: u32 = 3;

/// Run one backup into `store`. Writes nothing visible until it completes: an error or a
/// cancellation removes what was uploaded and never leaves a `velero-backup.json`.
pub async fn run_backup(
    cluster: &Cluster,
    store: Arc<dyn BackupStore>,
    opts: &BackupOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<BackupReport> {
    skiff_store::layout::validate_backup_name(&opts.name)?;
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let location = store.describe();
    let mut commit = match BackupCommit::begin(store.as_ref(), &opts.name, opts.overwrite).await {
        Ok(c) => c,
        Err(skiff_store::Error::AlreadyExists { .. }) => {
            return Err(Error::BackupExists {
                name: opts.name.clone(),
                location,
            });
        }
        Err(e) => return Err(e.into()),
    };

    progress.stage("discovery", None);
    // A group/version whose discovery failed (429/5xx past its few attempts) would silently be
    // left out of the backup: retry discovery, then report what still failed as errors.
    let mut surface = cluster.discover(opts.all_api_versions).await?;
    for attempt in 1..=DISCOVERY_RETRIES {
        if surface.failures.is_empty() || cancel.is_cancelled() {
            break;
        }
        tracing::warn!(
            attempt,
            failed = surface.failures.len(),
            "discovery incomplete; retrying"
        );
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        surface = cluster.discover(opts.all_api_versions).await?;
    }
    let discovery_failures: Vec<String> = surface
        .failures
        .iter()
        .map(|f| format!("discovery of {} failed: {}", f.group_version, f.message))
        .collect();
    let ns_res = surface
        .preferred("namespaces")
        .cloned()
        .ok_or_else(|| Error::InvalidOptions("the cluster does not serve namespaces".into()))?;
    let namespace_objects = list_all(cluster, &ns_res, ListOptions::default()).await?;
    let active: Vec<String> = namespace_objects
        .iter()
        .filter(|n| str_at(n, "/status/phase").is_none_or(|p| p == "Active"))
        .filter_map(|n| str_at(n, "/metadata/name").map(str::to_string))
        .collect();
    // A Namespace labelled velero.io/exclude-from-backup=true is appended to the excludes.
    let mut filters = opts.scope.clone();
    for n in &namespace_objects {
        if str_at(n, "/metadata/labels/velero.io~1exclude-from-backup") == Some("true")
            && let Some(name) = str_at(n, "/metadata/name")
            && !filters.excluded_namespaces.iter().any(|x| x == name)
        {
            filters.excluded_namespaces.push(name.to_string());
        }
    }
    let sel = Arc::new(Selection::new(&filters, &surface, &active)?);
    let types = types_to_list(&surface, &sel, opts.all_api_versions);
    progress.finish_stage();

    // Writer thread: tar + parallel gzip members into the streaming upload, and the index
    // streamed into its own upload beside it.
    let runtime = tokio::runtime::Handle::current();
    let sink = commit.writer(BackupFile::Tarball).await?;
    let tar_key = BackupFile::Tarball.key(&opts.name)?;
    let (blocking, upload) = skiff_store::bridge::blocking_writer(sink, &tar_key, &runtime);
    let index_sink = match commit.writer(BackupFile::SkiffIndex).await {
        Ok(s) => s,
        Err(e) => {
            drop(blocking);
            let _ = upload.wait().await;
            let _ = commit.abandon().await;
            return Err(e.into());
        }
    };
    let index_key = BackupFile::SkiffIndex.key(&opts.name)?;
    let (index_blocking, index_upload) =
        skiff_store::bridge::blocking_writer(index_sink, &index_key, &runtime);
    let (tx, rx) = mpsc::channel::<Vec<Encoded>>(2);
    let level = opts.compression_level;
    let failed = Arc::new(AtomicBool::new(false));
    let writer = {
        let failed = failed.clone();
        tokio::task::spawn_blocking(move || write_archive(blocking, index_blocking, rx, level, &failed))
    };

    let shared = Arc::new(Mutex::new(Shared::default()));
    for msg in discovery_failures {
        shared.lock().expect("shared lock").error(None, msg);
    }
    let result = async {
        progress.stage("backing up", None);
        let crd_names = crd_names(cluster, &surface).await;
        let list_ns = sel.list_namespaces(&active);
        let selectors: Vec<Option<String>> = {
            let f = &sel.effective;
            if let Some(s) = &f.label_selector {
                vec![Some(s.to_string())]
            } else if !f.or_label_selectors.is_empty() {
                f.or_label_selectors.iter().map(|s| Some(s.to_string())).collect()
            } else {
                vec![None]
            }
        };
        let mut jobs = Vec::new();
        for res in &types {
            let scopes: Vec<Option<String>> = match (&list_ns, res.namespaced) {
                (Some(nss), true) => nss.iter().cloned().map(Some).collect(),
                _ => vec![None],
            };
            for scope in scopes {
                for selector in &selectors {
                    jobs.push((res.clone(), scope.clone(), selector.clone()));
                }
            }
        }
        let page_size = opts.page_size;
        let stream = futures::stream::iter(jobs.into_iter().map(|(res, ns, selector)| {
            let tx = tx.clone();
            let shared = shared.clone();
            let ctx = Arc::new(ListCtx {
                gr: res.group_resource(),
                preferred: res.preferred,
                is_custom: crd_names.contains(&res.group_resource()),
                res: res.clone(),
                sel: sel.clone(),
                shared: shared.clone(),
            });
            async move {
                let opts = ListOptions {
                    namespace: ns.clone(),
                    label_selector: selector,
                    page_size,
                    ..ListOptions::default()
                };
                let outcome = list_type(cluster, ctx, opts, &tx, progress, cancel).await;
                if let Err(e) = outcome {
                    if matches!(e, Error::Interrupted) || !matches!(e, Error::Kube(_)) {
                        return Err(e);
                    }
                    // A LIST that fails for one type (e.g. forbidden) is recorded and the run goes on.
                    let msg = format!(
                        "resource: /{} message: /Error listing items error: /{}",
                        res.group_resource(),
                        chain(&e)
                    );
                    shared.lock().expect("state lock").error(ns.as_deref(), msg);
                }
                Ok::<(), Error>(())
            }
        }))
        .buffer_unordered(opts.list_concurrency.max(1));
        let results: Vec<Result<()>> = stream.collect().await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
        if cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }

        // Related items (§4.3) and namespaces (§4.4).
        progress.stage("related items", None);
        backup_related(cluster, &surface, &sel, &shared, &tx, &crd_names, progress).await?;
        let mut ns_batch = Vec::new();
        {
            let st = shared.lock().expect("state lock");
            for n in &namespace_objects {
                let name = str_at(n, "/metadata/name").unwrap_or_default();
                let had = st.namespaces_with_items.contains(name);
                if sel.keep_namespace(n, had) && sel.skip_reason("namespaces", false, n).is_none() {
                    ns_batch.push(n.clone());
                }
            }
        }
        send_batch(&tx, &ns_res, true, ns_batch, progress).await?;
        Ok(())
    }
    .await;
    if result.is_err() {
        failed.store(true, Ordering::SeqCst);
    }
    drop(tx);
    let written = writer.await.map_err(|e| Error::Task(e.to_string()))?;

    let mut written = match (result, written) {
        (Ok(()), Ok(w)) => w,
        (Err(e), _) | (Ok(()), Err(e)) => {
            tracing::warn!(backup = %opts.name, "backup failed; removing what was uploaded");
            let _ = upload.wait().await;
            let _ = index_upload.wait().await;
            let _ = commit.abandon().await;
            return Err(e);
        }
    };
    let (tarball, index) = tokio::join!(upload.wait(), index_upload.wait());
    let tarball_bytes = match (tarball, index) {
        (Ok(n), Ok(_)) => n,
        (Err(e), _) | (_, Err(e)) => {
            let _ = commit.abandon().await;
            return Err(e.into());
        }
    };
    progress.finish_stage();

    // Sidecars, then velero-backup.json.
    progress.stage("committing", None);
    let completed = Utc::now();
    let st = std::mem::take(&mut *shared.lock().expect("state lock"));
    let phase = if st.error_list.is_empty() {
        "Completed"
    } else {
        "PartiallyFailed"
    };
    let resource_list: BTreeMap<String, SortedKeys> = std::mem::take(&mut written.resource_list)
        .into_iter()
        .map(|(k, v)| (k, v.into_sorted()))
        .collect();
    let items: u64 = resource_list.values().map(|v| v.len() as u64).sum();
    let mut logs = LogWriter::new("backup", &format!("{}/{}", opts.velero_namespace, opts.name));
    logs.log(
        started,
        LogLevel::Info,
        "Setting up backup log",
        "skiff/backup",
        &[],
    );
    for (t, level, msg, fields) in &st.logs {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        logs.log(*t, *level, msg, "skiff/backup", &f);
    }
    logs.log(
        completed,
        LogLevel::Info,
        &format!("Backed up a total of {items} items"),
        "skiff/backup",
        &[],
    );
    let results = Results {
        errors: st.errors.clone(),
        warnings: st.warnings.clone(),
        ..Results::default()
    };
    let uploads: Vec<(BackupFile, Vec<u8>)> = vec![
        (BackupFile::Logs, logs.finish()), // already gzip, once as Velero does
        (
            BackupFile::ResourceList,
            docs::encode_resource_list(&resource_list)?,
        ),
        (BackupFile::Results, docs::encode_results(&results)?),
        (BackupFile::VolumeSnapshots, docs::encode_volume_snapshots(&[])?),
        (
            BackupFile::PodVolumeBackups,
            docs::encode_pod_volume_backups(&[])?,
        ),
        (BackupFile::ItemOperations, docs::encode_item_operations(&[])?),
        (BackupFile::VolumeInfo, docs::encode_volume_info(&st.volume_info)?),
    ];
    for (file, data) in uploads {
        if let Err(e) = commit.put(file, Bytes::from(data)).await {
            let _ = commit.abandon().await;
            return Err(e.into());
        }
    }
    let version = cluster.server_version().await.ok();
    let effective = &sel.effective;
    let params = BackupParams {
        name: opts.name.clone(),
        namespace: opts.velero_namespace.clone(),
        storage_location: opts.storage_location.clone(),
        k8s_git_version: version
            .as_ref()
            .map(|v| v.git_version.clone())
            .unwrap_or_default(),
        k8s_major: version.as_ref().map(|v| v.major.clone()).unwrap_or_default(),
        k8s_minor: version.as_ref().map(|v| v.minor.clone()).unwrap_or_default(),
        included_namespaces: effective.included_namespaces.clone(),
        excluded_namespaces: effective.excluded_namespaces.clone(),
        included_resources: effective.included_resources.clone(),
        excluded_resources: effective.excluded_resources.clone(),
        include_cluster_resources: effective.include_cluster_resources,
        label_selector: effective.label_selector.as_ref().map(to_doc_selector),
        ttl_secs: opts.ttl.as_secs(),
        started,
        completed,
        phase: phase.into(),
        items: items as i64,
        warnings: st.warning_list.len() as i64,
        errors: st.error_list.len() as i64,
    };
    let mut backup = Backup::new_completed(&params);
    backup.spec.included_cluster_scoped_resources = effective.included_cluster_scoped_resources.clone();
    backup.spec.excluded_cluster_scoped_resources = effective.excluded_cluster_scoped_resources.clone();
    backup.spec.included_namespace_scoped_resources = effective.included_namespace_scoped_resources.clone();
    backup.spec.excluded_namespace_scoped_resources = effective.excluded_namespace_scoped_resources.clone();
    backup.spec.or_label_selectors = effective.or_label_selectors.iter().map(to_doc_selector).collect();
    let expiration =
        started + chrono::Duration::seconds(i64::try_from(opts.ttl.as_secs()).unwrap_or(i64::MAX / 2));
    if let Err(e) = commit.commit(Bytes::from(backup.to_json()?)).await {
        return Err(e.into());
    }
    progress.finish_stage();
    Ok(BackupReport {
        name: opts.name.clone(),
        location,
        phase: phase.into(),
        items,
        per_kind: resource_list
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect(),
        tarball_bytes,
        item_bytes: written.item_bytes,
        errors: st.error_list,
        warnings: st.warning_list,
        started,
        completed,
        expiration,
        seconds: clock.elapsed().as_secs_f64(),
        api_retries: cluster.stats().retries,
    })
}

fn to_doc_selector(s: &crate::labels::LabelSelector) -> docs::LabelSelector {
    serde_json::from_value(s.to_json()).unwrap_or_default()
}

/// Names (`plural.group`) of the cluster's CRDs; empty when they cannot be listed.
async fn crd_names(cluster: &Cluster, surface: &ApiSurface) -> HashSet<String> {
    let Some(res) = surface.preferred("customresourcedefinitions.apiextensions.k8s.io") else {
        return HashSet::new();
    };
    match list_all(cluster, res, ListOptions::default()).await {
        Ok(items) => items
            .iter()
            .filter_map(|c| str_at(c, "/metadata/name").map(str::to_string))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list CRDs; custom resources will not pull in their CRDs");
            HashSet::new()
        }
    }
}

/// Every item of a LIST (small lists only: namespaces, CRDs, cluster role bindings).
async fn list_all(cluster: &Cluster, res: &ApiResourceInfo, opts: ListOptions) -> Result<Vec<Value>> {
    let mut pager = cluster.list_pages(res, opts);
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await? {
        if page.restarted {
            out.clear();
        }
        out.extend(page.items);
    }
    Ok(out)
}

/// What a listing task needs besides the LIST itself.
struct ListCtx {
    res: ApiResourceInfo,
    gr: String,
    preferred: bool,
    is_custom: bool,
    sel: Arc<Selection>,
    shared: Arc<Mutex<Shared>>,
}

async fn list_type(
    cluster: &Cluster,
    ctx: Arc<ListCtx>,
    opts: ListOptions,
    tx: &mpsc::Sender<Vec<Encoded>>,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut pager = cluster.list_pages(&ctx.res, opts.clone());
    let mut count = 0u64;
    loop {
        let page = tokio::select! {
            () = cancel.cancelled() => return Err(Error::Interrupted),
            p = pager.next_raw_page() => p?,
        };
        let Some(page) = page else { break };
        // Items are parsed, checked and encoded one at a time on the blocking pool, so a page
        // never exists as parsed values all at once.
        let task_ctx = ctx.clone();
        let batch = tokio::task::spawn_blocking(move || encode_page(&task_ctx, &page))
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        count += batch.len() as u64;
        deliver(tx, batch, progress).await?;
    }
    if count > 0 {
        let mut st = ctx.shared.lock().expect("state lock");
        let mut fields = vec![("resource".to_string(), ctx.gr.clone())];
        if let Some(ns) = &opts.namespace {
            fields.push(("namespace".into(), ns.clone()));
        }
        st.log(format!("Listed {count} items"), fields);
    }
    Ok(())
}

/// Parse, filter, de-duplicate and encode the items of one raw page (blocking pool).
///
/// Most items take the fast path ([`encode_raw`]): only their header is parsed and their JSON
/// is transcoded to Go's encoding straight from the response bytes. Items whose content the
/// backup reads (pods, PVCs and PVs pull in related items) or that the fast path declines are
/// parsed whole.
fn encode_page(ctx: &ListCtx, page: &skiff_kube::RawPage) -> Vec<Encoded> {
    let mut out = Vec::with_capacity(page.len());
    let whole = matches!(
        ctx.gr.as_str(),
        "pods" | "persistentvolumeclaims" | "persistentvolumes"
    );
    for i in 0..page.len() {
        if !whole {
            match encode_raw(ctx, page, i) {
                Fast::Done(Some(e)) => {
                    out.push(e);
                    continue;
                }
                Fast::Done(None) => continue,
                Fast::Declined => {}
            }
        }
        let Some(obj) = page.item(i) else { continue };
        if ctx.sel.skip_reason(&ctx.gr, ctx.res.namespaced, &obj).is_some() {
            continue;
        }
        let ns = if ctx.res.namespaced {
            str_at(&obj, "/metadata/namespace")
        } else {
            None
        };
        let name = str_at(&obj, "/metadata/name").unwrap_or_default();
        {
            let mut st = ctx.shared.lock().expect("state lock");
            if !st.seen.insert(item_hash(ctx, ns, name)) {
                continue; // repeated after a LIST restart, or by another or-selector
            }
            if ctx.preferred {
                note_related(&mut st, &ctx.gr, &obj, ctx.is_custom);
            }
        }
        out.push(encode_item(&ctx.res, ctx.preferred, &obj));
    }
    out
}

/// The de-duplication key of an item: other versions of one object are distinct entries.
fn item_hash(ctx: &ListCtx, ns: Option<&str>, name: &str) -> u64 {
    if ctx.preferred {
        key_hash_any(&ctx.gr, ns, name)
    } else {
        key_hash(&format!("{}@{}", ctx.gr, ctx.res.version), ns, name)
    }
}

/// Outcome of the fast path for one item.
enum Fast {
    /// Encoded, or `None` when skipped (filtered out or already seen).
    Done(Option<Encoded>),
    /// Take the whole-parse path (nothing was recorded for the item).
    Declined,
}

/// The parts of an item the backup reads when it does not parse it whole.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: HeadMeta<'a>,
}

#[derive(serde::Deserialize, Default)]
struct HeadMeta<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(default)]
    labels: Option<ExcludeLabel>,
    #[serde(default, rename = "deletionTimestamp")]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

/// Whether a label map holds `velero.io/exclude-from-backup: "true"`, read without building it.
struct ExcludeLabel(bool);

impl<'de> serde::Deserialize<'de> for ExcludeLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExcludeLabel;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of labels")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<ExcludeLabel, A::Error> {
                let mut excluded = false;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value = map.next_value::<Cow<'de, str>>()?;
                    if key == super::select::EXCLUDE_LABEL {
                        excluded = value == "true";
                    }
                }
                Ok(ExcludeLabel(excluded))
            }
        }
        d.deserialize_map(V)
    }
}

/// The fast path: header parse, filters, transcoding, then de-duplication and bookkeeping.
/// Anything the header parse or the transcoder does not take (odd JSON, duplicate keys,
/// non-string label values) is declined before anything is recorded.
fn encode_raw(ctx: &ListCtx, page: &skiff_kube::RawPage, i: usize) -> Fast {
    let Some(raw) = page.raw_item(i) else {
        return Fast::Done(None);
    };
    let Ok(head) = serde_json::from_slice::<Head<'_>>(raw) else {
        return Fast::Declined;
    };
    let meta = &head.metadata;
    let ns = meta.namespace.as_deref().filter(|_| ctx.res.namespaced);
    let excluded = meta.labels.as_ref().is_some_and(|l| l.0);
    if ctx
        .sel
        .skip_reason_of(
            &ctx.gr,
            ctx.res.namespaced,
            excluded,
            meta.deletion_timestamp.is_some(),
            meta.namespace.as_deref().unwrap_or_default(),
        )
        .is_some()
    {
        return Fast::Done(None);
    }
    let mut json = Vec::with_capacity(raw.len() + 64);
    let defaults = [("apiVersion", page.api_version()), ("kind", page.kind())];
    let defaults = if page.kind().is_empty() {
        &defaults[..1]
    } else {
        &defaults[..]
    };
    if gojson::transcode_with(raw, defaults, &mut json).is_none() {
        return Fast::Declined;
    }
    let name = meta.name.as_deref().unwrap_or_default();
    {
        let mut st = ctx.shared.lock().expect("state lock");
        if !st.seen.insert(item_hash(ctx, ns, name)) {
            return Fast::Done(None);
        }
        if ctx.preferred {
            if let Some(ns) = meta.namespace.as_deref().filter(|n| !n.is_empty()) {
                st.namespaces_with_items.insert(ns.to_owned());
            }
            if ctx.gr == "serviceaccounts" {
                if meta.name.is_some() {
                    st.related.service_accounts.insert((
                        meta.namespace.as_deref().unwrap_or_default().to_owned(),
                        name.to_owned(),
                    ));
                }
            } else if ctx.is_custom {
                st.related.custom_types.insert(ctx.gr.clone());
            }
        }
    }
    let gr = ctx.res.group_resource();
    let item = match ns {
        Some(ns) => ItemRef::namespaced(gr, ns, name),
        None => ItemRef::cluster(gr, name),
    };
    let api_version = head.api_version.as_deref().unwrap_or_else(|| page.api_version());
    let kind = head
        .kind
        .as_deref()
        .or_else(|| Some(page.kind()).filter(|k| !k.is_empty()))
        .unwrap_or(&ctx.res.kind);
    Fast::Done(Some(Encoded {
        item,
        version: ctx.res.version.clone(),
        preferred: ctx.preferred,
        list_key: format!("{api_version}/{kind}"),
        json,
    }))
}

/// Record what an item pulls in, and the namespace it contributes to (§4.3, §4.4).
fn note_related(st: &mut Shared, gr: &str, obj: &Value, is_custom: bool) {
    let ns = str_at(obj, "/metadata/namespace").unwrap_or_default().to_string();
    if !ns.is_empty() {
        st.namespaces_with_items.insert(ns.clone());
    }
    match gr {
        "pods" => {
            if let Some(vols) = obj.pointer("/spec/volumes").and_then(Value::as_array) {
                for v in vols {
                    if let Some(claim) = str_at(v, "/persistentVolumeClaim/claimName") {
                        st.related.pvcs.insert((ns.clone(), claim.to_string()));
                    }
                }
            }
            if let Some(pc) = str_at(obj, "/spec/priorityClassName") {
                st.related.priority_classes.insert(pc.to_string());
            }
        }
        "persistentvolumeclaims" => {
            if str_at(obj, "/status/phase") == Some("Bound")
                && let Some(pv) = str_at(obj, "/spec/volumeName")
            {
                st.related.pvs.insert(pv.to_string());
            }
        }
        "persistentvolumes" => {
            st.volume_info.push(skipped_volume(obj));
        }
        "serviceaccounts" => {
            if let Some(name) = str_at(obj, "/metadata/name") {
                st.related.service_accounts.insert((ns, name.to_string()));
            }
        }
        _ if is_custom => {
            st.related.custom_types.insert(gr.to_string());
        }
        _ => {}
    }
}

/// The volume-info entry Velero writes for a PV backed up as a plain resource.
fn skipped_volume(pv: &Value) -> VolumeInfo {
    let labels = pv.pointer("/metadata/labels").cloned().filter(|l| !l.is_null());
    VolumeInfo {
        pvc_name: str_at(pv, "/spec/claimRef/name").unwrap_or_default().into(),
        pvc_namespace: str_at(pv, "/spec/claimRef/namespace").unwrap_or_default().into(),
        pv_name: str_at(pv, "/metadata/name").unwrap_or_default().into(),
        skipped: true,
        skipped_reason: "volumeSnapshot: no applicable volumesnapshotter found;".into(),
        pv_info: Some(PvInfo {
            reclaim_policy: str_at(pv, "/spec/persistentVolumeReclaimPolicy")
                .unwrap_or_default()
                .into(),
            labels: labels.and_then(|l| serde_json::from_value(l).ok()),
            ..PvInfo::default()
        }),
        ..VolumeInfo::default()
    }
}

/// Encode a batch of (small, already fetched) items on the blocking pool and hand it to the
/// writer thread.
async fn send_batch(
    tx: &mpsc::Sender<Vec<Encoded>>,
    res: &ApiResourceInfo,
    preferred: bool,
    items: Vec<Value>,
    progress: &dyn Progress,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let res = res.clone();
    let batch = tokio::task::spawn_blocking(move || {
        items
            .iter()
            .map(|obj| encode_item(&res, preferred, obj))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?;
    deliver(tx, batch, progress).await
}

/// Hand encoded items to the writer thread (waits while its queue is full).
async fn deliver(
    tx: &mpsc::Sender<Vec<Encoded>>,
    batch: Vec<Encoded>,
    progress: &dyn Progress,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (n, bytes) = (
        batch.len() as u64,
        batch.iter().map(|e| e.json.len() as u64).sum(),
    );
    tx.send(batch)
        .await
        .map_err(|_| Error::Task("archive writer stopped".into()))?;
    progress.advance(n, bytes);
    Ok(())
}

fn encode_item(res: &ApiResourceInfo, preferred: bool, obj: &Value) -> Encoded {
    let gr = res.group_resource();
    let name = str_at(obj, "/metadata/name").unwrap_or_default();
    let item = match (res.namespaced, str_at(obj, "/metadata/namespace")) {
        (true, Some(ns)) => ItemRef::namespaced(gr, ns, name),
        _ => ItemRef::cluster(gr, name),
    };
    let kind = str_at(obj, "/kind").unwrap_or(&res.kind);
    let list_key = match str_at(obj, "/apiVersion") {
        Some(av) => format!("{av}/{kind}"),
        None => format!("{}/{kind}", res.api_version()),
    };
    Encoded {
        item,
        version: res.version.clone(),
        preferred,
        list_key,
        json: gojson::to_vec(obj),
    }
}

/// The keys (`ns/name`) of one resource-list entry, front-coded in one buffer: Velero's
/// resource list names every item, so it grows with the backup. A LIST returns a type's items in
/// key order, so consecutive keys share most of their bytes; each key is stored as the length of
/// the prefix it shares with the previous one, the length of the rest, and the rest — a few
/// bytes per item instead of the whole key and a tree node.
#[derive(Default)]
struct KeyList {
    buf: Vec<u8>,
    last: Vec<u8>,
    len: usize,
    /// Keys equal to the one pushed just before them.
    repeats: usize,
    /// Some key came before the one pushed ahead of it.
    unsorted: bool,
}

impl KeyList {
    fn push(&mut self, key: &str) {
        let key = key.as_bytes();
        let shared = self.last.iter().zip(key).take_while(|(a, b)| a == b).count();
        if self.len > 0 {
            if key < self.last.as_slice() {
                self.unsorted = true;
            } else if key == self.last.as_slice() {
                self.repeats += 1;
            }
        }
        put_varint(&mut self.buf, shared);
        put_varint(&mut self.buf, key.len() - shared);
        self.buf.extend_from_slice(&key[shared..]);
        self.last.truncate(shared);
        self.last.extend_from_slice(&key[shared..]);
        self.len += 1;
    }

    /// Calls `f` with every key in push order and whether it repeats the key before it.
    fn for_each(&self, mut f: impl FnMut(&[u8], bool)) {
        let mut key: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut first = true;
        while pos < self.buf.len() {
            let shared = get_varint(&self.buf, &mut pos);
            let rest = get_varint(&self.buf, &mut pos);
            let repeat = !first && rest == 0 && shared == key.len();
            key.truncate(shared);
            key.extend_from_slice(&self.buf[pos..pos + rest]);
            pos += rest;
            first = false;
            f(&key, repeat);
        }
    }

    /// The keys sorted and de-duplicated (Velero's order). Already-sorted lists (the usual case)
    /// stay front-coded; others are decoded and sorted.
    fn into_sorted(self) -> SortedKeys {
        if self.unsorted {
            let mut keys: Vec<String> = Vec::with_capacity(self.len);
            self.for_each(|k, _| keys.push(String::from_utf8_lossy(k).into_owned()));
            keys.sort_unstable();
            keys.dedup();
            return SortedKeys::Decoded(keys);
        }
        SortedKeys::Coded(self)
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        buf.push(u8::try_from(v & 0x7f).unwrap_or_default() | 0x80);
        v >>= 7;
    }
    buf.push(u8::try_from(v).unwrap_or_default());
}

fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        v |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// A resource-list entry in sorted, de-duplicated order.
enum SortedKeys {
    /// Pushed in order: equal keys are adjacent and skipped when written.
    Coded(KeyList),
    Decoded(Vec<String>),
}

impl SortedKeys {
    fn len(&self) -> usize {
        match self {
            SortedKeys::Coded(keys) => keys.len - keys.repeats,
            SortedKeys::Decoded(keys) => keys.len(),
        }
    }
}

impl Serialize for SortedKeys {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            SortedKeys::Decoded(keys) => keys.serialize(s),
            SortedKeys::Coded(keys) => {
                let mut seq = s.serialize_seq(Some(self.len()))?;
                let mut result = Ok(());
                keys.for_each(|k, repeat| {
                    if result.is_ok() && !repeat {
                        result = seq.serialize_element(&*String::from_utf8_lossy(k));
                    }
                });
                result?;
                seq.end()
            }
        }
    }
}

/// What the writer thread produced.
struct Written {
    resource_list: BTreeMap<String, KeyList>,
    item_bytes: u64,
}

fn write_archive(
    out: skiff_store::bridge::BlockingWriter,
    index_out: skiff_store::bridge::BlockingWriter,
    mut rx: mpsc::Receiver<Vec<Encoded>>,
    level: u32,
    failed: &AtomicBool,
) -> Result<Written> {
    let mut w = ArchiveWriter::with_options(
        out,
        WriterOptions {
            level,
            ..WriterOptions::default()
        },
    );
    let mut index = IndexStream::new(index_out)?;
    let mut resource_list: BTreeMap<String, KeyList> = BTreeMap::new();
    let mut item_bytes = 0u64;
    while let Some(batch) = rx.blocking_recv() {
        for e in batch {
            if e.preferred {
                w.add_item(&e.item, &e.version, &e.json)?;
            } else {
                w.add_item_version(&e.item, &e.version, &e.json)?;
            }
            item_bytes += e.json.len() as u64;
            resource_list
                .entry(e.list_key)
                .or_default()
                .push(&e.item.list_key());
        }
        index.push_all(w.take_entries())?;
    }
    if failed.load(Ordering::SeqCst) {
        // Dropping the writers without finishing aborts the uploads: nothing becomes visible.
        return Err(Error::Interrupted);
    }
    let (out, rest) = w.finish()?;
    let finish_err = |what: &str, e| Error::Io {
        op: "finish upload of",
        path: what.into(),
        source: e,
    };
    out.finish().map_err(|e| finish_err("tarball", e))?;
    index
        .finish(rest)?
        .finish()
        .map_err(|e| finish_err("skiff index", e))?;
    Ok(Written {
        resource_list,
        item_bytes,
    })
}

/// Fetch and write the related items of §4.3 that the main pass did not already take.
async fn backup_related(
    cluster: &Cluster,
    surface: &ApiSurface,
    sel: &Selection,
    shared: &Mutex<Shared>,
    tx: &mpsc::Sender<Vec<Encoded>>,
    crd_names: &HashSet<String>,
    progress: &dyn Progress,
) -> Result<()> {
    let related = std::mem::take(&mut shared.lock().expect("state lock").related);
    let pass = RelatedPass {
        cluster,
        surface,
        sel,
        shared,
        tx,
        progress,
    };

    // Pods → PVCs (GET; PVCs bypass label selectors like Velero's related items).
    if let Some(res) = surface.preferred("persistentvolumeclaims") {
        let mut batch = Vec::new();
        for (ns, name) in &related.pvcs {
            if !take_related(shared, "persistentvolumeclaims", Some(ns), name) {
                continue;
            }
            if let Some(obj) = get_related(cluster, res, Some(ns), name, shared).await
                && sel.skip_reason("persistentvolumeclaims", true, &obj).is_none()
            {
                note_related(
                    &mut shared.lock().expect("state lock"),
                    "persistentvolumeclaims",
                    &obj,
                    false,
                );
                batch.push(obj);
            }
        }
        send_batch(tx, res, true, batch, progress).await?;
    }
    // PVCs → PVs (including those just pulled in).
    let pvs = std::mem::take(&mut shared.lock().expect("state lock").related.pvs);
    let pvs: BTreeSet<String> = related.pvs.union(&pvs).cloned().collect();
    fetch_cluster_related(&pass, "persistentvolumes", &pvs).await?;
    fetch_cluster_related(
        &pass,
        "priorityclasses.scheduling.k8s.io",
        &related.priority_classes,
    )
    .await?;

    // ServiceAccounts → ClusterRoleBindings naming them → their ClusterRoles.
    let crb_gr = "clusterrolebindings.rbac.authorization.k8s.io";
    if !related.service_accounts.is_empty()
        && sel.allows_related_cluster(crb_gr)
        && let Some(res) = surface.preferred(crb_gr)
    {
        let mut roles = BTreeSet::new();
        let mut batch = Vec::new();
        for crb in list_all(cluster, res, ListOptions::default())
            .await
            .unwrap_or_default()
        {
            let names_sa = crb
                .pointer("/subjects")
                .and_then(Value::as_array)
                .is_some_and(|subs| {
                    subs.iter().any(|s| {
                        str_at(s, "/kind") == Some("ServiceAccount")
                            && related.service_accounts.contains(&(
                                str_at(s, "/namespace").unwrap_or_default().to_string(),
                                str_at(s, "/name").unwrap_or_default().to_string(),
                            ))
                    })
                });
            let name = str_at(&crb, "/metadata/name").unwrap_or_default().to_string();
            if names_sa
                && sel.skip_reason(crb_gr, false, &crb).is_none()
                && take_related(shared, crb_gr, None, &name)
            {
                if str_at(&crb, "/roleRef/kind") == Some("ClusterRole")
                    && let Some(r) = str_at(&crb, "/roleRef/name")
                {
                    roles.insert(r.to_string());
                }
                batch.push(crb);
            }
        }
        send_batch(tx, res, true, batch, progress).await?;
        fetch_cluster_related(&pass, "clusterroles.rbac.authorization.k8s.io", &roles).await?;
    }

    // Custom resources → their CRDs, appended last.
    if sel.appends_crds() {
        let wanted: BTreeSet<String> = related
            .custom_types
            .iter()
            .filter(|gr| crd_names.contains(*gr))
            .cloned()
            .collect();
        fetch_cluster_related(&pass, "customresourcedefinitions.apiextensions.k8s.io", &wanted).await?;
    }
    Ok(())
}

/// Mark a related item as taken; false when it was already backed up.
fn take_related(shared: &Mutex<Shared>, gr: &str, ns: Option<&str>, name: &str) -> bool {
    shared
        .lock()
        .expect("state lock")
        .seen
        .insert(key_hash_any(gr, ns, name))
}

/// The de-duplication key of an item at its preferred version (main pass and related items).
fn key_hash_any(gr: &str, ns: Option<&str>, name: &str) -> u64 {
    key_hash(&format!("{gr}@*"), ns, name)
}

async fn get_related(
    cluster: &Cluster,
    res: &ApiResourceInfo,
    ns: Option<&str>,
    name: &str,
    shared: &Mutex<Shared>,
) -> Option<Value> {
    match cluster.get(res, ns, name).await {
        Ok(v) => v,
        Err(e) => {
            let msg = format!(
                "resource: /{} name: /{name} message: /Error getting related item error: /{}",
                res.group_resource(),
                chain(&e)
            );
            shared.lock().expect("state lock").error(ns, msg);
            None
        }
    }
}

/// What every cluster-scoped related-item fetch of [`backup_related`] works with.
struct RelatedPass<'a> {
    cluster: &'a Cluster,
    surface: &'a ApiSurface,
    sel: &'a Selection,
    shared: &'a Mutex<Shared>,
    tx: &'a mpsc::Sender<Vec<Encoded>>,
    progress: &'a dyn Progress,
}

async fn fetch_cluster_related(pass: &RelatedPass<'_>, gr: &str, names: &BTreeSet<String>) -> Result<()> {
    let RelatedPass {
        cluster,
        surface,
        sel,
        shared,
        tx,
        progress,
    } = *pass;
    if names.is_empty() || !sel.allows_related_cluster(gr) {
        return Ok(());
    }
    let Some(res) = surface.preferred(gr) else {
        return Ok(());
    };
    let mut batch = Vec::new();
    for name in names {
        if !take_related(shared, gr, None, name) {
            continue;
        }
        if let Some(obj) = get_related(cluster, res, None, name, shared).await
            && sel.skip_reason(gr, false, &obj).is_none()
        {
            if gr == "persistentvolumes" {
                shared
                    .lock()
                    .expect("state lock")
                    .volume_info
                    .push(skipped_volume(&obj));
            }
            batch.push(obj);
        }
    }
    send_batch(tx, res, true, batch, progress).await
}

#[cfg(test)]
mod key_list_tests {
    use super::*;

    fn written(keys: &[&str]) -> (usize, String) {
        let mut l = KeyList::default();
        for k in keys {
            l.push(k);
        }
        let sorted = l.into_sorted();
        (sorted.len(), serde_json::to_string(&sorted).expect("serialize"))
    }

    #[test]
    fn sorted_and_deduplicated_in_either_push_order() {
        let keys = [
            "ns-a/x-001",
            "ns-a/x-002",
            "ns-a/x-002",
            "ns-b/x-001",
            "ns-b/y",
            "ns-bb/é-1",
        ];
        let want = r#"["ns-a/x-001","ns-a/x-002","ns-b/x-001","ns-b/y","ns-bb/é-1"]"#;
        assert_eq!(written(&keys), (5, want.to_owned()));
        let mut shuffled = keys;
        shuffled.reverse();
        assert_eq!(written(&shuffled), (5, want.to_owned()));
        assert_eq!(written(&[]), (0, "[]".to_owned()));
    }

    #[test]
    fn long_keys_round_trip() {
        let long = format!("ns/{}", "n".repeat(300));
        let longer = format!("ns/{}", "n".repeat(301));
        assert_eq!(
            written(&[&long, &longer]).1,
            serde_json::to_string(&[&long, &longer]).expect("serialize")
        );
    }
}
