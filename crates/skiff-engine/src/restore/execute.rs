//! The executor: runs a [`RestorePlan`] against the target.
//!
//! First the plan's namespaces are created when missing (concurrently), then every planned item
//! is applied with bounded concurrency, dependency-driven: an item starts as soon as every item
//! of its [`PlannedItem::after`] and of its wave's [`Wave::after_waves`] has finished, earliest
//! in plan order first. Those edges are the plan's; the executor reads nothing else to order
//! items (no object JSON, no ownership, no stages). One item's failure never stops the run
//! unless `--fail-fast`.
//!
//! [`Wave::after_waves`]: super::Wave::after_waves

use super::compare::{comparable, is_subset};
use super::model::{NamespacePlan, PlannedItem, RestorePlan, TargetRef, Wait};
use super::options::ExistingResourcePolicy;
use super::results::{Outcome, RestoreReport};
use crate::progress::Progress;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value};
use skiff_kube::{ApiResourceInfo, Cluster, KubeError};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The field manager skiff applies with.
pub const FIELD_MANAGER: &str = "skiff";

/// Watches the executor start and finish planned items (ids as in the plan): what a test needs to
/// check the executed order against the plan's edges. Called from the scheduling loop, one call
/// at a time, in the order the executor acts; keep it cheap.
pub trait ExecObserver: Send + Sync {
    /// Item `id` is about to be sent (nothing of it has reached the server yet).
    fn started(&self, _id: usize) {}
    /// Item `id` is done (its requests and readiness wait are over); its dependents may start.
    fn finished(&self, _id: usize, _outcome: Outcome) {}
}

/// Execution settings.
#[derive(Clone)]
pub struct ExecOptions {
    /// Items applied at once.
    pub concurrency: usize,
    /// Send every write with `dryRun=All`.
    pub server_dry_run: bool,
    /// Stop after the first failed item.
    pub fail_fast: bool,
    /// Readiness wait limit (CRDs, namespaces).
    pub wait_timeout: Duration,
    /// Told when each planned item starts and finishes (tests record the executed order).
    pub observer: Option<Arc<dyn ExecObserver>>,
    /// Field manager of the creates (`None`: the server's default). `skiff sync` creates as
    /// its own manager, so its later server-side applies own what the copy set.
    pub field_manager: Option<String>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            server_dry_run: false,
            fail_fast: false,
            wait_timeout: Duration::from_secs(600),
            observer: None,
            field_manager: None,
        }
    }
}

impl fmt::Debug for ExecOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecOptions")
            .field("concurrency", &self.concurrency)
            .field("server_dry_run", &self.server_dry_run)
            .field("fail_fast", &self.fail_fast)
            .field("wait_timeout", &self.wait_timeout)
            .field("observer", &self.observer.is_some())
            .field("field_manager", &self.field_manager)
            .finish()
    }
}

/// An error and its sources, `: `-separated: the message of a failed item.
fn message(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

fn res_info(t: &TargetRef) -> ApiResourceInfo {
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

/// What one item's apply gives: outcome and message.
type Applied = (Outcome, Option<String>);

struct Ctx<'a> {
    cluster: &'a Cluster,
    opts: &'a ExecOptions,
    policy: Option<ExistingResourcePolicy>,
}

/// Creates one planned object (or deals with the existing one under the plan's policy), then
/// waits for it to be ready when the plan says so.
async fn apply_item(ctx: &Ctx<'_>, item: &PlannedItem) -> Applied {
    let t = &item.target;
    let res = res_info(t);
    let ns = t.namespace.as_deref();
    let dry = ctx.opts.server_dry_run;
    let body = bytes::Bytes::from(item.object.bytes().into_owned());
    let manager = ctx.opts.field_manager.as_deref();
    let outcome = match ctx
        .cluster
        .create_raw_as(&res, ns, &t.name, body, dry, manager)
        .await
    {
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
        Err(e) => (Outcome::Failed, Some(message(&e))),
    };
    finish_wait(ctx, item, outcome).await
}

async fn finish_wait(ctx: &Ctx<'_>, item: &PlannedItem, outcome: Applied) -> Applied {
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
            Some(format!("created, but not ready: {}", message(&e))),
        ),
    }
}

/// The object exists: compare it with the planned one, then act under the policy.
async fn existing(ctx: &Ctx<'_>, res: &ApiResourceInfo, item: &PlannedItem) -> Applied {
    let t = &item.target;
    let current = match ctx.cluster.get(res, t.namespace.as_deref(), &t.name).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return (
                Outcome::Failed,
                Some("create said the object exists, but it cannot be read".into()),
            );
        }
        Err(e) => return (Outcome::Failed, Some(message(&e))),
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
        Some(ExistingResourcePolicy::Update) if same => (Outcome::Unchanged, None),
        Some(ExistingResourcePolicy::Update) => update_existing(ctx, res, t, &object).await,
        Some(ExistingResourcePolicy::Apply) => apply_existing(ctx, res, t, object, same).await,
    }
}

/// Policy `update`: a JSON merge patch towards the planned object (its labels replace the
/// existing ones).
async fn update_existing(ctx: &Ctx<'_>, res: &ApiResourceInfo, t: &TargetRef, object: &Value) -> Applied {
    let mut patch = comparable(object);
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
    let dry = ctx.opts.server_dry_run;
    match ctx
        .cluster
        .merge_patch(res, t.namespace.as_deref(), &t.name, &patch, dry)
        .await
    {
        Ok(_) => (Outcome::Updated, None),
        Err(e) => (
            Outcome::Failed,
            Some(format!("update existing object: {}", message(&e))),
        ),
    }
}

/// Policy `apply`: server-side apply with skiff's field manager; conflicts are reported, except
/// on the restore labels alone (skiff's own earlier create wrote them), which are taken.
async fn apply_existing(
    ctx: &Ctx<'_>,
    res: &ApiResourceInfo,
    t: &TargetRef,
    mut obj: Value,
    same: bool,
) -> Applied {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    let (ns, dry) = (t.namespace.as_deref(), ctx.opts.server_dry_run);
    let applied = |force: bool| {
        ctx.cluster
            .apply(res, ns, &t.name, &obj, FIELD_MANAGER, force, dry)
    };
    let done = |r: Result<Value, KubeError>| match r {
        Ok(_) if same => (Outcome::Unchanged, None),
        Ok(_) => (Outcome::Updated, None),
        Err(e) => (Outcome::Failed, Some(format!("apply: {}", message(&e)))),
    };
    match applied(false).await {
        Err(e) if e.is_conflict() => {
            let fields: Vec<String> = e.field_conflicts().iter().map(|c| c.field.clone()).collect();
            // The restore labels change with every restore and were written by skiff's own
            // create: a conflict on them alone is not the user's data, so take them.
            if !fields.is_empty()
                && fields
                    .iter()
                    .all(|f| f.starts_with(".metadata.labels.velero.io/"))
            {
                return done(applied(true).await);
            }
            (
                Outcome::Conflict,
                Some(format!("apply conflicts on fields: {}", fields.join(", "))),
            )
        }
        r => done(r),
    }
}

/// Run a plan against the cluster: its namespaces, then its items along the plan's edges.
pub async fn execute(
    cluster: &Cluster,
    plan: &RestorePlan,
    opts: &ExecOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> RestoreReport {
    let clock = std::time::Instant::now();
    let mut report = RestoreReport::start(plan, opts.server_dry_run);
    let created_namespaces = create_namespaces(cluster, plan, opts, progress, &mut report).await;
    tracing::debug!(at_ms = clock.elapsed().as_millis(), "restore namespaces done");
    let ctx = Ctx {
        cluster,
        opts,
        policy: plan.existing_resource_policy,
    };
    let stop = run_items(&ctx, plan, &created_namespaces, progress, cancel, &mut report).await;
    tracing::debug!(at_ms = clock.elapsed().as_millis(), "restore items done");
    report.finish(stop, cancel.is_cancelled(), clock.elapsed().as_secs_f64());
    report
}

/// The namespace step: every namespace of the plan created when missing (never updated, §5.5)
/// and waited for, concurrently. Returns the namespaces this restore created.
async fn create_namespaces<'p>(
    cluster: &Cluster,
    plan: &'p RestorePlan,
    opts: &ExecOptions,
    progress: &dyn Progress,
    report: &mut RestoreReport,
) -> BTreeSet<&'p str> {
    let ns_res = ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false);
    progress.stage("namespaces", Some(plan.namespaces_to_create.len() as u64));
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
    let mut created = BTreeSet::new();
    for (name, outcome) in ns_results {
        match outcome {
            NsOutcome::Created(msg, uid) => {
                created.insert(name);
                if let Some(uid) = uid.filter(|_| !opts.server_dry_run) {
                    report.created_namespaces.push(super::results::CreatedNamespace {
                        name: name.to_owned(),
                        uid,
                    });
                }
                if let Some(msg) = msg {
                    report.cluster_error(msg);
                }
            }
            NsOutcome::Existed(Some(msg)) | NsOutcome::Failed(Some(msg)) => report.cluster_error(msg),
            NsOutcome::Existed(None) | NsOutcome::Failed(None) => {}
        }
    }
    progress.finish_stage();
    created
}

/// What the namespace step did with one namespace; the message is a cluster-level error.
enum NsOutcome {
    /// Created by this restore (then waited for), with the UID the server gave it.
    Created(Option<String>, Option<String>),
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
    nsp: &NamespacePlan,
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
    let not_ready = |e: &KubeError| format!("namespace {} not ready: {}", nsp.name, message(e));
    match cluster.create(ns_res, None, &obj, opts.server_dry_run).await {
        Ok(created) => {
            let uid = created
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_owned);
            // A namespace is Active as soon as it is created; the wait is one GET.
            let waited = if opts.server_dry_run {
                Ok(())
            } else {
                cluster.wait_namespace_ready(&nsp.name, opts.wait_timeout).await
            };
            NsOutcome::Created(waited.err().map(|e| not_ready(&e)), uid)
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
            message(&e)
        ))),
    }
}

/// The start conditions of every planned item, as the plan states them, and what is left of
/// them while the run goes on. Items are numbered by id (plan order); waves by position.
pub(super) struct Schedule<'p> {
    items: Vec<&'p PlannedItem>,
    /// Wave (position) of each item.
    wave_of: Vec<usize>,
    /// Per item: items of its `after` not finished yet.
    waiting_on: Vec<usize>,
    /// Per item: the items that name it in their `after`.
    dependents: Vec<Vec<usize>>,
    /// Per wave: items not finished yet.
    wave_left: Vec<usize>,
    /// Per wave: waves of its `after_waves` not finished yet (0 = open).
    wave_blocked_by: Vec<usize>,
    /// Per wave: the waves that name it in their `after_waves`.
    wave_dependents: Vec<Vec<usize>>,
    /// Per wave: its items' ids (contiguous: ids follow the waves).
    wave_ids: Vec<std::ops::Range<usize>>,
    /// Items that may start now (dependencies finished, wave open), lowest id first.
    ready: BTreeSet<usize>,
}

impl<'p> Schedule<'p> {
    pub(super) fn new(plan: &'p RestorePlan) -> Self {
        let mut items = Vec::new();
        let mut wave_of = Vec::new();
        let mut wave_left = Vec::with_capacity(plan.waves.len());
        let mut wave_ids = Vec::with_capacity(plan.waves.len());
        for (w, wave) in plan.waves.iter().enumerate() {
            wave_left.push(wave.items.len());
            wave_ids.push(items.len()..items.len() + wave.items.len());
            for it in &wave.items {
                debug_assert_eq!(it.id, items.len(), "ids are positions in plan order");
                items.push(it);
                wave_of.push(w);
            }
        }
        let n = items.len();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut waiting_on = vec![0; n];
        for (i, it) in items.iter().enumerate() {
            for &d in it.after.iter().filter(|&&d| d < n) {
                dependents[d].push(i);
                waiting_on[i] += 1;
            }
        }
        let mut wave_dependents: Vec<Vec<usize>> = vec![Vec::new(); plan.waves.len()];
        let mut wave_blocked_by = vec![0; plan.waves.len()];
        for (w, wave) in plan.waves.iter().enumerate() {
            for &b in &wave.after_waves {
                if wave_left.get(b).is_some_and(|&left| left > 0) {
                    wave_dependents[b].push(w);
                    wave_blocked_by[w] += 1;
                }
            }
        }
        let ready = (0..n)
            .filter(|&i| waiting_on[i] == 0 && wave_blocked_by[wave_of[i]] == 0)
            .collect();
        Self {
            items,
            wave_of,
            waiting_on,
            dependents,
            wave_left,
            wave_blocked_by,
            wave_dependents,
            wave_ids,
            ready,
        }
    }

    /// The next item that may start (lowest id first), taken out of the ready set.
    pub(super) fn next_ready(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// Item `i` finished: release what waited for it.
    pub(super) fn finish(&mut self, i: usize) {
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 && self.wave_blocked_by[self.wave_of[d]] == 0 {
                self.ready.insert(d);
            }
        }
        let w = self.wave_of[i];
        self.wave_left[w] -= 1;
        if self.wave_left[w] > 0 {
            return;
        }
        for k in 0..self.wave_dependents[w].len() {
            let opened = self.wave_dependents[w][k];
            self.wave_blocked_by[opened] -= 1;
            if self.wave_blocked_by[opened] == 0 {
                for j in self.wave_ids[opened].clone() {
                    if self.waiting_on[j] == 0 {
                        self.ready.insert(j);
                    }
                }
            }
        }
    }
}

/// Runs every planned item with at most `concurrency` items in flight, along the plan's edges
/// (see [`Schedule`]). Returns whether `--fail-fast` stopped the run.
async fn run_items(
    ctx: &Ctx<'_>,
    plan: &RestorePlan,
    created_namespaces: &BTreeSet<&str>,
    progress: &dyn Progress,
    cancel: &CancellationToken,
    report: &mut RestoreReport,
) -> bool {
    let mut sched = Schedule::new(plan);
    let n = sched.items.len();
    progress.stage("objects", Some(n as u64));
    let observer = ctx.opts.observer.as_deref();
    let mut results: Vec<Option<Applied>> = vec![None; n];
    let mut in_flight = FuturesUnordered::new();
    let mut stop = false;
    let limit = ctx.opts.concurrency.max(1);
    loop {
        // Start what may start.
        while !stop && !cancel.is_cancelled() && in_flight.len() < limit {
            let Some(i) = sched.next_ready() else {
                break;
            };
            let item = sched.items[i];
            if let Some(o) = observer {
                o.started(i);
            }
            match &item.wait {
                // Created (and waited for) by the namespace step: nothing more to send.
                Some(Wait::NamespaceReady(name)) if created_namespaces.contains(name.as_str()) => {
                    in_flight.push(futures::future::Either::Left(futures::future::ready((
                        i,
                        (Outcome::Created, None),
                        0,
                    ))));
                }
                _ => in_flight.push(futures::future::Either::Right(async move {
                    let applied = apply_item(ctx, item).await;
                    (i, applied, item.object.len() as u64)
                })),
            }
        }
        let Some((i, result, bytes)) = in_flight.next().await else {
            break;
        };
        progress.advance(1, bytes);
        if let Some(o) = observer {
            o.finished(i, result.0);
        }
        if result.0 == Outcome::Failed && ctx.opts.fail_fast {
            stop = true;
        }
        results[i] = Some(result);
        sched.finish(i);
    }
    progress.finish_stage();
    for (item, result) in sched.items.iter().zip(results) {
        if let Some((outcome, message)) = result {
            report.record(item, outcome, message);
        }
    }
    stop
}

/// For `--dry-run`: which planned objects already exist in the target (live GETs, bounded), as
/// sorted source keys.
pub async fn predict_existing(
    cluster: &Cluster,
    plan: &RestorePlan,
    concurrency: usize,
    progress: &dyn Progress,
) -> Vec<String> {
    let found: Vec<Option<String>> = futures::stream::iter(plan.items())
        .map(|item| async move {
            let t = &item.target;
            let found = match cluster.get(&res_info(t), t.namespace.as_deref(), &t.name).await {
                Ok(Some(_)) => Some(item.source.to_string()),
                _ => None,
            };
            progress.advance(1, 0);
            found
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut v: Vec<String> = found.into_iter().flatten().collect();
    v.sort();
    v
}
