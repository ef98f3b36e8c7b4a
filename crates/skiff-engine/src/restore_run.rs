//! Restore execution: loads a backup's items, gathers the target's facts, and runs a
//! [`RestorePlan`] wave by wave with bounded concurrency. Results and logs are written back as
//! Velero writes them under `restores/<name>/`.
//!
//! Execution runs only the plan: every decision (selection, order, remapping, modifiers) was
//! made by [`crate::restore::plan`].

use crate::error::{Error, Result};
use crate::offline::{BackupSource, for_each_entry};
use crate::progress::Progress;
use crate::restore::{
    BackupItem, ExistingResourcePolicy, ItemKey, JsonDict, PlannedItem, RawJson, RestorePlan, TargetFacts,
    Wait,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use skiff_format::docs::{self, LogLevel, LogWriter, ResultSet, Results};
use skiff_format::path::VersionDir;
use skiff_format::reader::EntryKind;
use skiff_kube::{ApiResourceInfo, ApiSurface, Cluster, KubeError, ListOptions};
use skiff_store::BackupStore;
use skiff_store::layout::RestoreFile;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The field manager skiff applies with.
pub const FIELD_MANAGER: &str = "skiff";

/// An item's key, borrowed.
fn item_key(i: &BackupItem) -> (&String, &Option<String>, &String) {
    (&i.group_resource, &i.namespace, &i.name)
}

/// JSON bytes read before a compression dictionary is trained on them.
const DICT_SAMPLE_BYTES: usize = 1 << 20;
/// Items read before a compression dictionary is trained on them (with the bytes above).
const DICT_SAMPLE_ITEMS: usize = 256;

/// The items read so far.
#[derive(Default)]
struct Loading {
    items: Vec<BackupItem>,
    /// Other versions: key, apiVersion, object.
    alts: Vec<(ItemKey, String, RawJson)>,
    /// JSON bytes read while no dictionary was trained.
    plain_bytes: usize,
    /// Whether a dictionary was tried.
    trained: bool,
    dict: Option<Arc<JsonDict>>,
}

impl Loading {
    /// Once enough items are in, trains a dictionary on them and compresses them with it.
    fn maybe_train(&mut self) {
        if self.trained
            || self.plain_bytes < DICT_SAMPLE_BYTES
            || self.items.len() + self.alts.len() < DICT_SAMPLE_ITEMS
        {
            return;
        }
        self.trained = true;
        let samples: Vec<_> = self.items.iter().map(|i| i.object.bytes()).collect();
        self.dict = JsonDict::train(&samples);
        drop(samples);
        if let Some(dict) = &self.dict {
            for i in &mut self.items {
                i.object = i.object.compress(dict);
            }
            for (_, _, o) in &mut self.alts {
                *o = o.compress(dict);
            }
        }
    }
}

/// Read every item of a backup (classic copies, plus other versions as fallbacks).
///
/// Each item is parsed once (to check it and read its `apiVersion`) and kept as compact JSON
/// ([`RawJson`]), never as a parsed tree; after the first MiB of items a zstd dictionary is
/// trained on them and every item is kept compressed with it. Memory grows with the backup's
/// compressed JSON size, not with several times its JSON size.
pub async fn load_items(source: &BackupSource, progress: &dyn Progress) -> Result<Vec<BackupItem>> {
    progress.stage("reading backup", None);
    let acc: Arc<Mutex<Loading>> = Arc::default();
    let a1 = acc.clone();
    for_each_entry(source, progress, move |e| {
        let EntryKind::Item(item, dir) = &e.kind else {
            return Ok(true);
        };
        if matches!(dir, VersionDir::Preferred(_)) {
            return Ok(true); // identical copy of the classic item
        }
        let object: Value = serde_json::from_slice(&e.data).map_err(|source| {
            Error::Format(skiff_format::Error::Json {
                document: e.path.clone(),
                source,
            })
        })?;
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut acc = a1.lock().expect("items lock");
        let raw = RawJson::with_dict(&object, acc.dict.as_ref());
        drop(object);
        if raw.dict().is_none() {
            acc.plain_bytes += e.data.len();
        }
        if *dir == VersionDir::Classic {
            acc.items.push(BackupItem {
                group_resource: item.group_resource.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
                api_version,
                object: raw,
                alt_versions: Vec::new(),
            });
        } else {
            let key = ItemKey {
                group_resource: item.group_resource.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
            };
            acc.alts.push((key, api_version, raw));
        }
        acc.maybe_train();
        Ok(true)
    })
    .await?;
    progress.finish_stage();
    let Loading { mut items, alts, .. } = std::mem::take(&mut *acc.lock().expect("items lock"));
    // In key order; of an item stored twice, the last copy read (as a map insert kept it).
    items.reverse();
    items.sort_by(|a, b| item_key(a).cmp(&item_key(b)));
    items.dedup_by(|later, first| item_key(later) == item_key(first));
    for (k, av, obj) in alts {
        if let Ok(at) = items.binary_search_by(|i| {
            (&i.group_resource, &i.namespace, &i.name).cmp(&(&k.group_resource, &k.namespace, &k.name))
        }) {
            items[at].alt_versions.push((av, obj));
        }
    }
    items.shrink_to_fit();
    Ok(items)
}

/// Facts about the target the planner uses (existing `ServiceAccounts` and `StorageClasses`).
pub async fn target_facts(cluster: &Cluster, surface: &ApiSurface) -> TargetFacts {
    let mut facts = TargetFacts::default();
    if let Some(res) = surface.preferred("serviceaccounts") {
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut pager = cluster.list_pages(res, ListOptions::default());
        let mut ok = true;
        loop {
            match pager.next_page().await {
                Ok(Some(page)) => {
                    for sa in page.items {
                        let ns = sa
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let name = sa
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        map.entry(ns.to_string()).or_default().insert(name.to_string());
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            facts.service_accounts = Some(map);
        }
    }
    if let Some(res) = surface.preferred("storageclasses.storage.k8s.io")
        && let Ok(Some(page)) = cluster.list_pages(res, ListOptions::default()).next_page().await
    {
        facts.storage_classes = Some(
            page.items
                .iter()
                .filter_map(|s| {
                    s.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect(),
        );
    }
    facts
}

/// Execution settings.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Items applied at once within a wave.
    pub concurrency: usize,
    /// Send every write with `dryRun=All`.
    pub server_dry_run: bool,
    /// Stop after the first failed item.
    pub fail_fast: bool,
    /// Readiness wait limit (CRDs, namespaces).
    pub wait_timeout: Duration,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            server_dry_run: false,
            fail_fast: false,
            wait_timeout: Duration::from_secs(600),
        }
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Created.
    Created,
    /// Already there with the backed-up content.
    Unchanged,
    /// Existing object updated (merge patch or apply).
    Updated,
    /// Server-side apply refused: fields owned by another manager.
    Conflict,
    /// Left alone (exists and differs under policy none, or skipped by the plan).
    Skipped,
    /// Failed.
    Failed,
}

/// One item's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ItemOutcome {
    /// Source key (`pods/app/web-1`).
    pub item: String,
    /// Target `apiVersion/Kind`.
    pub kind: String,
    /// Target namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Target name.
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Why (errors, conflicts, differences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The report of an executed restore.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Restore name.
    pub name: String,
    /// Backup name.
    pub backup: String,
    /// `Completed` or `PartiallyFailed`.
    pub phase: String,
    /// Outcome counts (plan skips included under `skipped`).
    pub counts: BTreeMap<Outcome, u64>,
    /// Every item that was not simply created.
    pub items: Vec<ItemOutcome>,
    /// Errors and warnings in Velero's results shape.
    pub results: Results,
    /// Whether writes were sent with dryRun=All.
    pub server_dry_run: bool,
    /// Start.
    pub started: DateTime<Utc>,
    /// Wall time.
    pub seconds: f64,
    /// Whether the run stopped early (Ctrl-C or --fail-fast).
    pub interrupted: bool,
    /// `<apiVersion>/<Kind>` → `ns/name(action)` entries (Velero's restore resource list).
    #[serde(skip)]
    pub resource_list: BTreeMap<String, Vec<String>>,
    #[serde(skip)]
    logs: Vec<(DateTime<Utc>, LogLevel, String)>,
}

impl RestoreReport {
    /// Count of failed items (including conflicts).
    pub fn failures(&self) -> u64 {
        self.counts.get(&Outcome::Failed).copied().unwrap_or(0)
            + self.counts.get(&Outcome::Conflict).copied().unwrap_or(0)
    }
}

fn res_info(t: &crate::restore::TargetRef) -> ApiResourceInfo {
    ApiResourceInfo {
        group: t.group.clone(),
        version: t.version.clone(),
        resource: t.resource.clone(),
        kind: t.kind.clone(),
        singular: String::new(),
        namespaced: t.namespaced,
        verbs: Vec::new(),
        short_names: Vec::new(),
        preferred: true,
    }
}

/// Whether every field of `want` is present with the same value in `have` (server defaults and
/// server-set fields in `have` are ignored).
pub fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| is_subset(v, hv)))
        }
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have,
    }
}

/// The desired object without what the server owns, for comparison with an existing object.
fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            m.remove(k);
        }
        if let Some(labels) = m.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove("velero.io/restore-name");
            labels.remove("velero.io/backup-name");
        }
        // Only the restore labels: an object without labels is still the same object.
        if m.get("labels")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            m.remove("labels");
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

struct Ctx<'a> {
    cluster: &'a Cluster,
    opts: &'a ExecOptions,
    policy: Option<ExistingResourcePolicy>,
    cancel: &'a CancellationToken,
}

async fn apply_item(ctx: &Ctx<'_>, item: &PlannedItem) -> (Outcome, Option<String>) {
    let t = &item.target;
    let res = res_info(t);
    let ns = t.namespace.as_deref();
    let dry = ctx.opts.server_dry_run;
    let body = bytes::Bytes::from(item.object.bytes().into_owned());
    let outcome = match ctx.cluster.create_raw(&res, ns, &t.name, body, dry).await {
        Ok(()) => (Outcome::Created, None),
        Err(e) if e.is_already_exists() => {
            // A create retried after a lost answer finds its own earlier success.
            if let KubeError::Api { status, .. } = &e
                && status.attempts > 1
            {
                return finish_wait(ctx, item, (Outcome::Created, None)).await;
            }
            existing(ctx, &res, item).await
        }
        Err(e) => (Outcome::Failed, Some(crate::offline::chain(&e))),
    };
    finish_wait(ctx, item, outcome).await
}

async fn finish_wait(
    ctx: &Ctx<'_>,
    item: &PlannedItem,
    outcome: (Outcome, Option<String>),
) -> (Outcome, Option<String>) {
    if ctx.opts.server_dry_run
        || !matches!(
            outcome.0,
            Outcome::Created | Outcome::Updated | Outcome::Unchanged
        )
    {
        return outcome;
    }
    let waited = match &item.wait {
        Some(Wait::CrdEstablished(name)) => {
            ctx.cluster
                .wait_crd_established(name, ctx.opts.wait_timeout)
                .await
        }
        Some(Wait::NamespaceReady(name)) => {
            ctx.cluster
                .wait_namespace_ready(name, ctx.opts.wait_timeout)
                .await
        }
        None => Ok(()),
    };
    match waited {
        Ok(()) => outcome,
        Err(e) => (
            Outcome::Failed,
            Some(format!("created, but not ready: {}", crate::offline::chain(&e))),
        ),
    }
}

async fn existing(ctx: &Ctx<'_>, res: &ApiResourceInfo, item: &PlannedItem) -> (Outcome, Option<String>) {
    let t = &item.target;
    let ns = t.namespace.as_deref();
    let dry = ctx.opts.server_dry_run;
    let current = match ctx.cluster.get(res, ns, &t.name).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return (
                Outcome::Failed,
                Some("create said the object exists, but it cannot be read".into()),
            );
        }
        Err(e) => return (Outcome::Failed, Some(crate::offline::chain(&e))),
    };
    let object = item.object.to_value();
    let same = is_subset(&comparable(&object), &current);
    match ctx.policy {
        None | Some(ExistingResourcePolicy::None) => {
            if same {
                (Outcome::Unchanged, None)
            } else {
                (
                    Outcome::Skipped,
                    Some(format!(
                        "could not restore, {} \"{}\" already exists. Warning: the in-cluster version is different than the backed-up version",
                        t.kind, t.name
                    )),
                )
            }
        }
        Some(ExistingResourcePolicy::Update) => {
            if same {
                return (Outcome::Unchanged, None);
            }
            let mut patch = comparable(&object);
            if let Some(m) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
                m.remove("name");
            }
            let labels = object
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            if let Some(m) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("labels".into(), labels);
            }
            match ctx.cluster.merge_patch(res, ns, &t.name, &patch, dry).await {
                Ok(_) => (Outcome::Updated, None),
                Err(e) => (
                    Outcome::Failed,
                    Some(format!("update existing object: {}", crate::offline::chain(&e))),
                ),
            }
        }
        Some(ExistingResourcePolicy::Apply) => {
            let mut obj = object;
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
            match ctx
                .cluster
                .apply(res, ns, &t.name, &obj, FIELD_MANAGER, false, dry)
                .await
            {
                Ok(_) if same => (Outcome::Unchanged, None),
                Ok(_) => (Outcome::Updated, None),
                Err(e) if e.is_conflict() => {
                    let fields: Vec<String> = e.field_conflicts().iter().map(|c| c.field.clone()).collect();
                    // The restore labels change with every restore and were written by skiff's
                    // own create: a conflict on them alone is not the user's data, so take them.
                    if !fields.is_empty()
                        && fields
                            .iter()
                            .all(|f| f.starts_with(".metadata.labels.velero.io/"))
                    {
                        return match ctx
                            .cluster
                            .apply(res, ns, &t.name, &obj, FIELD_MANAGER, true, dry)
                            .await
                        {
                            Ok(_) if same => (Outcome::Unchanged, None),
                            Ok(_) => (Outcome::Updated, None),
                            Err(e) => (
                                Outcome::Failed,
                                Some(format!("apply: {}", crate::offline::chain(&e))),
                            ),
                        };
                    }
                    (
                        Outcome::Conflict,
                        Some(format!("apply conflicts on fields: {}", fields.join(", "))),
                    )
                }
                Err(e) => (
                    Outcome::Failed,
                    Some(format!("apply: {}", crate::offline::chain(&e))),
                ),
            }
        }
    }
}

/// Run a plan against the cluster.
pub async fn execute(
    cluster: &Cluster,
    plan: &RestorePlan,
    opts: &ExecOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<RestoreReport> {
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let mut report = RestoreReport {
        name: plan.restore_name.clone(),
        backup: plan.backup_name.clone(),
        phase: String::new(),
        counts: BTreeMap::new(),
        items: Vec::new(),
        results: Results::default(),
        server_dry_run: opts.server_dry_run,
        started,
        seconds: 0.0,
        interrupted: false,
        resource_list: BTreeMap::new(),
        logs: Vec::new(),
    };
    let log = |r: &mut RestoreReport, level: LogLevel, msg: String| r.logs.push((Utc::now(), level, msg));
    log(
        &mut report,
        LogLevel::Info,
        format!("Starting restore of backup velero/{}", plan.backup_name),
    );
    for w in &plan.warnings {
        report.results.warnings.velero.push(w.clone());
    }
    for e in &plan.errors {
        push_msg(
            &mut report.results.errors,
            e.key.namespace.as_deref(),
            format!("error restoring {}: {}", e.key, e.message),
        );
    }
    for s in &plan.skipped {
        *report.counts.entry(Outcome::Skipped).or_default() += 1;
        let _ = s;
    }

    // Namespaces first: created when missing, never updated (§5.5).
    let ns_res = ApiResourceInfo {
        group: String::new(),
        version: "v1".into(),
        resource: "namespaces".into(),
        kind: "Namespace".into(),
        singular: "namespace".into(),
        namespaced: false,
        verbs: Vec::new(),
        short_names: Vec::new(),
        preferred: true,
    };
    progress.stage("namespaces", Some(plan.namespaces_to_create.len() as u64));
    // Concurrently: each namespace is created (or found) and waited for on its own.
    let ns_res = &ns_res;
    let ns_results: Vec<(&str, NsOutcome)> = futures::stream::iter(&plan.namespaces_to_create)
        .map(|nsp| async move {
            let outcome = ensure_namespace(cluster, ns_res, nsp, opts).await;
            progress.advance(1, 0);
            (nsp.name.as_str(), outcome)
        })
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut created_namespaces: BTreeSet<&str> = BTreeSet::new();
    for (name, outcome) in ns_results {
        match outcome {
            NsOutcome::Created(None) => {
                created_namespaces.insert(name);
            }
            NsOutcome::Created(Some(msg)) => {
                created_namespaces.insert(name);
                push_msg(&mut report.results.errors, None, msg);
            }
            NsOutcome::Existed(msg) | NsOutcome::Failed(msg) => {
                if let Some(msg) = msg {
                    push_msg(&mut report.results.errors, None, msg);
                }
            }
        }
    }
    progress.finish_stage();
    tracing::debug!(at_ms = clock.elapsed().as_millis(), "restore namespaces done");

    let ctx = Ctx {
        cluster,
        opts,
        policy: plan.existing_resource_policy,
        cancel,
    };
    let stop = run_items(&ctx, plan, &created_namespaces, progress, &mut report).await;
    tracing::debug!(at_ms = clock.elapsed().as_millis(), "restore items done");
    if cancel.is_cancelled() {
        report.interrupted = true;
    }
    if stop {
        report.interrupted = true;
        report
            .results
            .errors
            .velero
            .push("stopped after the first failed item (--fail-fast)".into());
    }
    if cancel.is_cancelled() {
        report.interrupted = true;
        report
            .results
            .errors
            .velero
            .push("interrupted; items after the interruption were not attempted".into());
    }
    for v in report.resource_list.values_mut() {
        v.sort();
    }
    report.phase = if report.results.errors.is_empty() && report.failures() == 0 {
        "Completed".into()
    } else {
        "PartiallyFailed".into()
    };
    report.seconds = clock.elapsed().as_secs_f64();
    let done = format!("restore completed: {:?}", report.counts);
    log(&mut report, LogLevel::Info, done);
    Ok(report)
}

/// What the namespace step did with one namespace; the message is a cluster-level error.
enum NsOutcome {
    /// Created by this restore (then waited for).
    Created(Option<String>),
    /// Already there (waited for while terminating).
    Existed(Option<String>),
    /// Could not be created.
    Failed(Option<String>),
}

/// Creates one namespace of the plan when missing (never updates one, §5.5) and waits until it
/// is usable.
async fn ensure_namespace(
    cluster: &Cluster,
    ns_res: &ApiResourceInfo,
    nsp: &crate::restore::NamespacePlan,
    opts: &ExecOptions,
) -> NsOutcome {
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(nsp.name.clone()));
    if !nsp.labels.is_empty() {
        meta.insert(
            "labels".into(),
            Value::Object(nsp.labels.clone().into_iter().collect()),
        );
    }
    if !nsp.annotations.is_empty() {
        meta.insert(
            "annotations".into(),
            Value::Object(nsp.annotations.clone().into_iter().collect()),
        );
    }
    let mut obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta});
    if let Some(spec) = &nsp.spec {
        obj["spec"] = spec.clone();
    }
    let not_ready = |e: &KubeError| format!("namespace {} not ready: {}", nsp.name, crate::offline::chain(e));
    match cluster.create(ns_res, None, &obj, opts.server_dry_run).await {
        Ok(_) => {
            // A namespace is Active as soon as it is created; the wait is one GET.
            let waited = if opts.server_dry_run {
                Ok(())
            } else {
                cluster.wait_namespace_ready(&nsp.name, opts.wait_timeout).await
            };
            NsOutcome::Created(waited.err().map(|e| not_ready(&e)))
        }
        Err(e) if e.is_already_exists() => NsOutcome::Existed(
            cluster
                .wait_namespace_ready(&nsp.name, opts.wait_timeout)
                .await
                .err()
                .map(|e| not_ready(&e)),
        ),
        Err(e) => NsOutcome::Failed(Some(format!(
            "error creating namespace {}: {}",
            nsp.name,
            crate::offline::chain(&e)
        ))),
    }
}

/// The start conditions of every planned item (indices in plan order).
struct Schedule<'p> {
    items: Vec<&'p PlannedItem>,
    /// Items each item waits for: its owners (same stage, earlier ownership level) and, for a
    /// custom resource restored with its CRD, that CRD (Established).
    deps: Vec<Vec<usize>>,
    /// Stage ordinal per item (non-decreasing in plan order).
    stage: Vec<usize>,
    /// Whether a stage holds back later stages until all its items are done: every stage but
    /// the CRD and namespace stages (their dependents wait for them precisely, or were created
    /// first by the namespace step).
    blocking: BTreeMap<usize, bool>,
}

impl<'p> Schedule<'p> {
    fn new(plan: &'p RestorePlan) -> Self {
        let mut items = Vec::new();
        let mut stage = Vec::new();
        let mut blocking: BTreeMap<usize, bool> = BTreeMap::new();
        for w in &plan.waves {
            for it in &w.items {
                items.push(it);
                stage.push(w.stage);
                let b = blocking.entry(w.stage).or_insert(false);
                *b |= it.wait.is_none();
            }
        }
        let index: std::collections::HashMap<&ItemKey, usize> =
            items.iter().enumerate().map(|(i, it)| (&it.source, i)).collect();
        let mut crds: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, it) in items.iter().enumerate() {
            if !matches!(it.wait, Some(Wait::CrdEstablished(_))) {
                continue;
            }
            let crd = it.object.to_value();
            if let (Some(g), Some(r)) = (
                crd.pointer("/spec/group").and_then(Value::as_str),
                crd.pointer("/spec/names/plural").and_then(Value::as_str),
            ) {
                crds.insert((g.to_string(), r.to_string()), i);
            }
        }
        let deps = items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let mut d: Vec<usize> = it
                    .owners
                    .iter()
                    .filter_map(|o| index.get(o).copied())
                    .chain(
                        crds.get(&(it.target.group.clone(), it.target.resource.clone()))
                            .copied(),
                    )
                    // Only earlier items: the order of the plan is a topological order.
                    .filter(|&d| d < i)
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        Self {
            items,
            deps,
            stage,
            blocking,
        }
    }
}

/// Runs every planned item with at most `concurrency` requests' worth of items in flight,
/// dependency-driven rather than wave by wave: an item starts as soon as its dependencies (see
/// [`Schedule`]) and every earlier blocking stage are done, earliest in plan order first. The
/// guarantees of the waves hold (CRDs Established before their custom resources, namespaces
/// before their contents, owners before dependents, each stage after the stages before it), but
/// one slow item no longer holds back unrelated items of the next ownership level.
/// Returns whether `--fail-fast` stopped the run.
async fn run_items(
    ctx: &Ctx<'_>,
    plan: &RestorePlan,
    created_namespaces: &BTreeSet<&str>,
    progress: &dyn Progress,
    report: &mut RestoreReport,
) -> bool {
    use futures::stream::FuturesUnordered;
    let mut sched = Schedule::new(plan);
    // A namespace the namespace step did not create is tried again by its item: then its stage
    // holds back the namespaced items, as a wave did.
    for (i, it) in sched.items.iter().enumerate() {
        if let Some(Wait::NamespaceReady(name)) = &it.wait
            && !created_namespaces.contains(name.as_str())
        {
            sched.blocking.insert(sched.stage[i], true);
        }
    }
    let n = sched.items.len();
    progress.stage("objects", Some(n as u64));
    let mut waiting_on: Vec<usize> = sched.deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in sched.deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut stage_left: BTreeMap<usize, usize> = BTreeMap::new();
    for &s in &sched.stage {
        *stage_left.entry(s).or_default() += 1;
    }
    // Items with index < `open` may start (their stage and every earlier one is open).
    let open_limit = |stage_left: &BTreeMap<usize, usize>| {
        let gate = stage_left
            .iter()
            .find(|(s, left)| **left > 0 && sched.blocking.get(s).copied().unwrap_or(true))
            .map(|(s, _)| *s);
        match gate {
            Some(g) => sched.stage.partition_point(|&s| s <= g),
            None => n,
        }
    };
    let mut open = open_limit(&stage_left);
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| waiting_on[i] == 0).collect();
    let mut results: Vec<Option<(Outcome, Option<String>)>> = vec![None; n];
    let mut in_flight = FuturesUnordered::new();
    let mut stop = false;
    let limit = ctx.opts.concurrency.max(1);
    loop {
        // Start what may start.
        while !stop && !ctx.cancel.is_cancelled() && in_flight.len() < limit {
            let Some(&i) = ready.first() else { break };
            if i >= open {
                break;
            }
            ready.remove(&i);
            let item = sched.items[i];
            match &item.wait {
                // Created (and waited for) by the namespace step: nothing more to send.
                Some(Wait::NamespaceReady(name)) if created_namespaces.contains(name.as_str()) => {
                    in_flight.push(futures::future::Either::Left(futures::future::ready((
                        i,
                        (Outcome::Created, None),
                    ))));
                }
                _ => in_flight.push(futures::future::Either::Right(async move {
                    (i, apply_item(ctx, item).await)
                })),
            }
        }
        let Some((i, result)) = in_flight.next().await else {
            break;
        };
        progress.advance(1, 0);
        if result.0 == Outcome::Failed && ctx.opts.fail_fast {
            stop = true;
        }
        results[i] = Some(result);
        for &d in &dependents[i] {
            waiting_on[d] -= 1;
            if waiting_on[d] == 0 {
                ready.insert(d);
            }
        }
        let left = stage_left.entry(sched.stage[i]).or_default();
        *left -= 1;
        if *left == 0 {
            open = open_limit(&stage_left);
        }
    }
    progress.finish_stage();
    for (item, result) in sched.items.iter().zip(results) {
        if let Some((outcome, message)) = result {
            record(report, item, outcome, message);
        }
    }
    stop
}

fn push_msg(set: &mut ResultSet, namespace: Option<&str>, msg: String) {
    match namespace {
        Some(ns) => set.namespaces.entry(ns.to_string()).or_default().push(msg),
        None => set.cluster.push(msg),
    }
}

fn record(report: &mut RestoreReport, item: &PlannedItem, outcome: Outcome, message: Option<String>) {
    let t = &item.target;
    *report.counts.entry(outcome).or_default() += 1;
    let key = item.source.to_string();
    let action = match outcome {
        Outcome::Created => "created",
        Outcome::Updated | Outcome::Unchanged => "updated",
        Outcome::Skipped => "skipped",
        Outcome::Conflict | Outcome::Failed => "failed",
    };
    let entry = match &t.namespace {
        Some(ns) => format!("{ns}/{}({action})", t.name),
        None => format!("{}({action})", t.name),
    };
    report
        .resource_list
        .entry(format!("{}/{}", t.api_version, t.kind))
        .or_default()
        .push(entry);
    match outcome {
        Outcome::Failed | Outcome::Conflict => {
            let msg = format!("error restoring {key}: {}", message.clone().unwrap_or_default());
            report.logs.push((Utc::now(), LogLevel::Error, msg.clone()));
            push_msg(&mut report.results.errors, t.namespace.as_deref(), msg);
        }
        Outcome::Skipped => {
            if let Some(m) = &message {
                push_msg(&mut report.results.warnings, t.namespace.as_deref(), m.clone());
            }
        }
        _ => {}
    }
    if outcome != Outcome::Created {
        report.items.push(ItemOutcome {
            item: key,
            kind: format!("{}/{}", t.api_version, t.kind),
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            outcome,
            message,
        });
    }
}

/// Write the restore's results, resource list, logs and empty operation documents under
/// `restores/<name>/`, as Velero does.
pub async fn write_restore_documents(store: &dyn BackupStore, report: &RestoreReport) -> Result<()> {
    let name = &report.name;
    let mut logs = LogWriter::new("restore", &format!("velero/{name}"));
    for (t, level, msg) in &report.logs {
        logs.log(*t, *level, msg, "skiff/restore", &[]);
    }
    let files: Vec<(RestoreFile, Vec<u8>)> = vec![
        (
            RestoreFile::Logs,
            skiff_format::gojson::gzip_sidecar(&logs.finish()),
        ),
        (RestoreFile::Results, docs::encode_results(&report.results)?),
        (
            RestoreFile::ResourceList,
            docs::encode_resource_list(&report.resource_list)?,
        ),
        (RestoreFile::ItemOperations, docs::encode_item_operations(&[])?),
        (RestoreFile::VolumeInfo, docs::encode_volume_info(&[])?),
    ];
    // Independent small objects: written at once (each put is a round trip, or an fsync locally).
    let keys = files
        .iter()
        .map(|(file, _)| file.key(name))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    futures::future::try_join_all(
        keys.iter()
            .zip(files)
            .map(|(key, (_, data))| store.put(key, Bytes::from(data))),
    )
    .await?;
    Ok(())
}

/// For `--dry-run`: which planned objects already exist in the target (live GETs, bounded).
pub async fn predict_existing(cluster: &Cluster, plan: &RestorePlan, concurrency: usize) -> Vec<String> {
    let found: Vec<Option<String>> = futures::stream::iter(plan.items())
        .map(|item| async move {
            let t = &item.target;
            match cluster.get(&res_info(t), t.namespace.as_deref(), &t.name).await {
                Ok(Some(_)) => Some(item.source.to_string()),
                _ => None,
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut v: Vec<String> = found.into_iter().flatten().collect();
    v.sort();
    v
}
