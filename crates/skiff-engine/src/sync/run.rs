//! The sync's run: initial copy (or resume), then watches and the applier until stopped.

use super::apply::{Ctx, Done, Shared, TKey, item_of, not_copied};
use super::metrics::render_prometheus;
use super::state::{SyncState, SyncStats, TypeState};
use super::{SyncError, SyncOptions};
use crate::progress::{NoProgress, Progress};
use crate::restore::ExecOptions;
use crate::side::Side;
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, Cluster, ListOptions, WatchEvent, WatchOptions};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Types never watched: journals and objects the cluster's controllers make.
const NOT_WATCHED: &[&str] = &[
    "namespaces",
    "events",
    "events.events.k8s.io",
    "endpointslices.discovery.k8s.io",
    "controllerrevisions.apps",
    "leases.coordination.k8s.io",
];

/// How often the status line is reported.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// A live view of a running sync's counters and lag (what `--metrics-addr` serves).
#[derive(Clone, Default)]
pub struct SyncMonitor {
    name: String,
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for SyncMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncMonitor")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SyncMonitor {
    /// A monitor for sync `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            shared: Arc::default(),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> SyncStats {
        let s = self.shared.lock().expect("sync stats lock");
        let mut stats = s.stats.clone();
        s.lag.fill(&mut stats);
        stats
    }

    /// The Prometheus text exposition now.
    pub fn prometheus(&self) -> String {
        let s = self.shared.lock().expect("sync stats lock");
        let mut stats = s.stats.clone();
        s.lag.fill(&mut stats);
        render_prometheus(&self.name, &stats, &s.lag)
    }
}

/// What a sync run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// The initial copy ran in this run.
    pub initial_copy: bool,
    /// Objects planned by the initial copy or the reconcile pass.
    pub planned: usize,
    /// Types watched.
    pub types: usize,
    /// Counts and lag at the end.
    pub stats: SyncStats,
    /// Drift found in this run.
    pub drift: Vec<super::DriftRecord>,
    /// The run was interrupted (Ctrl-C).
    pub interrupted: bool,
}

/// One message from a watcher to the applier.
enum Msg {
    Event(usize, WatchEvent, Instant),
    /// The watch of type `n` expired (410): re-list and reconcile.
    Expired(usize),
}

/// The types a sync watches: the backup selection's types, less journals and controller-made
/// ones, and only those that can be listed and watched.
async fn watched_types(
    source: &Cluster,
    opts: &SyncOptions,
    cancel: &CancellationToken,
) -> Result<Vec<ApiResourceInfo>, SyncError> {
    let src =
        crate::backup::source::Source::discover(source, &opts.restore.scope, false, &NoProgress, cancel)
            .await?;
    Ok(src
        .types()
        .iter()
        .filter(|t| !NOT_WATCHED.contains(&t.group_resource().as_str()))
        .filter(|t| t.supports("list") && t.supports("watch"))
        .cloned()
        .collect())
}

/// The context of a run: discovery of both sides, the target's facts.
pub(crate) async fn context(
    source: &Cluster,
    target: &Cluster,
    opts: &SyncOptions,
    shared: Arc<Mutex<Shared>>,
    cancel: &CancellationToken,
) -> Result<(Arc<Ctx>, Vec<ApiResourceInfo>), SyncError> {
    let types = watched_types(source, opts, cancel).await?;
    let target_surface = target.discover(false).await?;
    let facts = crate::restore::target_facts(target, &target_surface).await;
    let ctx = Ctx {
        source: source.clone(),
        target: target.clone(),
        opts: opts.clone(),
        planner: opts.planner(),
        target_surface,
        facts,
        known: Mutex::default(),
        namespaces: Mutex::default(),
        shared,
    };
    Ok((Arc::new(ctx), types))
}

/// The current resourceVersion of a type (a one-item LIST).
async fn current_rv(cluster: &Cluster, res: &ApiResourceInfo) -> Result<String, skiff_kube::KubeError> {
    let mut pager = cluster.list_pages(
        res,
        ListOptions {
            page_size: 1,
            ..ListOptions::default()
        },
    );
    Ok(pager
        .next_raw_page()
        .await?
        .map(|p| p.resource_version)
        .unwrap_or_default())
}

/// Run a sync (see the module docs): the initial copy when `state` has none, else a resume;
/// then, unless `opts.once`, watch until `cancel` fires or `opts.duration` passes. The state
/// file at `state_path` is written every `opts.status_interval` and at the end.
///
/// # Errors
/// Discovery, the initial copy's plan, a LIST, or the state file failed; per-object failures
/// are counted in the report instead.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    source: &Cluster,
    target: &Cluster,
    opts: &SyncOptions,
    state_path: &Path,
    mut state: SyncState,
    monitor: &SyncMonitor,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<SyncReport, SyncError> {
    state.pid = Some(std::process::id());
    state.name.clone_from(&opts.name);
    let drift_start = state.drift.len();
    let (ctx, types) = context(source, target, opts, monitor.shared.clone(), cancel).await?;
    let mut report = SyncReport {
        types: types.len(),
        ..SyncReport::default()
    };
    if state.initial_copy_done {
        progress.stage("resuming: reading the target", None);
        let grs: Vec<String> = types.iter().map(ApiResourceInfo::group_resource).collect();
        ctx.seed_known(&grs).await?;
        progress.finish_stage();
        if opts.once {
            progress.stage("reconciling", None);
            let r = ctx.reconcile(&types, None, false).await?;
            for (gr, rv) in r.resource_versions {
                state.types.entry(gr).or_default().resource_version = rv;
            }
            report.planned = r.planned;
            progress.finish_stage();
        }
    } else {
        // The resourceVersion before the copy: the watches start there, so a change made
        // while the copy runs comes again as an event (applied, or skipped if the copy had it).
        let mut rvs = BTreeMap::new();
        for t in &types {
            rvs.insert(t.group_resource(), current_rv(source, t).await?);
        }
        let exec = ExecOptions {
            concurrency: opts.concurrency.max(1),
            wait_timeout: opts.wait_timeout,
            field_manager: Some(super::FIELD_MANAGER.to_owned()),
            ..ExecOptions::default()
        };
        let planner = ctx.planner.clone();
        let copy = Box::pin(crate::restore::run(
            &Side::Cluster(source.clone()),
            target,
            None,
            &planner,
            &exec,
            progress,
            cancel,
        ))
        .await?;
        progress.finish_stage();
        for i in copy
            .report
            .items
            .iter()
            .filter(|i| i.outcome == crate::restore::Outcome::Failed)
        {
            ctx.error(format!(
                "initial copy: {}: {}",
                i.item,
                i.message.clone().unwrap_or_default()
            ));
        }
        report.initial_copy = true;
        report.planned = copy.plan.len();
        state.types = rvs
            .into_iter()
            .map(|(gr, rv)| {
                (
                    gr,
                    TypeState {
                        resource_version: rv,
                        events: 0,
                    },
                )
            })
            .collect();
        state.initial_copy_done = true;
    }
    save(&ctx, &mut state, state_path)?;
    if opts.once || cancel.is_cancelled() {
        report.interrupted = cancel.is_cancelled();
        return finish(&ctx, state, state_path, report, drift_start);
    }

    // Watch.
    let (tx, mut rx) = mpsc::channel::<Msg>(8192);
    let stop = cancel.child_token();
    let mut watchers = Vec::new();
    for (n, t) in types.iter().enumerate() {
        let rv = state
            .types
            .get(&t.group_resource())
            .map(|s| s.resource_version.clone())
            .unwrap_or_default();
        watchers.push(spawn_watcher(
            source.clone(),
            t.clone(),
            n,
            rv,
            opts.watch_timeout,
            tx.clone(),
            stop.clone(),
        ));
    }
    progress.stage(&format!("syncing {} types", types.len()), None);
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let mut last_save = Instant::now();
    let mut last_status = Instant::now();
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => { report.interrupted = true; break }
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
            () = tokio::time::sleep(opts.status_interval) => None,
            m = rx.recv() => m,
        };
        let mut batch = Vec::new();
        if let Some(m) = first {
            batch.push(m);
            while batch.len() < opts.batch.max(1) {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            for (ti, rv) in apply_batch(&ctx, &types, batch, &mut state).await {
                let gr = types[ti].group_resource();
                let w = spawn_watcher(
                    source.clone(),
                    types[ti].clone(),
                    ti,
                    rv.clone(),
                    opts.watch_timeout,
                    tx.clone(),
                    stop.clone(),
                );
                watchers[ti] = w;
                state.types.entry(gr).or_default().resource_version = rv;
            }
            progress.advance(n, 0);
        }
        ctx.shared.lock().expect("sync stats lock").stats.pending = rx.len() as u64;
        if last_save.elapsed() >= opts.status_interval {
            save(&ctx, &mut state, state_path)?;
            last_save = Instant::now();
        }
        if last_status.elapsed() >= STATUS_EVERY {
            progress.note(&status_line(&state.stats));
            last_status = Instant::now();
        }
    }
    stop.cancel();
    for w in watchers {
        w.abort();
    }
    finish(&ctx, state, state_path, report, drift_start)
}

/// `N in sync, P pending, E errors, lag p50 X ms, p99 Y ms`.
pub fn status_line(s: &SyncStats) -> String {
    format!(
        "{} in sync, {} pending, {} applied, {} deleted, {} errors, {} drift, lag p50 {:.0} ms, p99 {:.0} ms",
        s.in_sync, s.pending, s.applied, s.deleted, s.errors, s.drift, s.lag_p50_ms, s.lag_p99_ms
    )
}

#[allow(clippy::similar_names)]
fn save(ctx: &Ctx, state: &mut SyncState, path: &Path) -> Result<(), SyncError> {
    {
        let mut s = ctx.shared.lock().expect("sync stats lock");
        s.stats.in_sync = ctx.in_sync();
        let mut stats = s.stats.clone();
        s.lag.fill(&mut stats);
        state.stats = stats;
        state.drift.append(&mut s.drift.clone());
        s.drift.clear();
        state.errors.append(&mut s.errors);
    }
    state.save(path)
}

fn finish(
    ctx: &Ctx,
    mut state: SyncState,
    path: &Path,
    mut report: SyncReport,
    drift_start: usize,
) -> Result<SyncReport, SyncError> {
    let before = state.drift.len();
    {
        let s = ctx.shared.lock().expect("sync stats lock");
        report.drift.clone_from(&s.drift);
    }
    state.pid = None;
    save(ctx, &mut state, path)?;
    // This run's drift: what earlier saves moved into the state, and the rest.
    let mut earlier: Vec<super::DriftRecord> =
        state.drift[drift_start.min(before)..before.min(state.drift.len())].to_vec();
    earlier.append(&mut report.drift);
    report.drift = earlier;
    report.stats = state.stats.clone();
    Ok(report)
}

/// A task watching one type from `rv`: events go to `tx` in order; the watch is renewed when
/// the server ends it; on 410 it sends [`Msg::Expired`] and stops.
fn spawn_watcher(
    cluster: Cluster,
    res: ApiResourceInfo,
    n: usize,
    rv: String,
    timeout: u32,
    tx: mpsc::Sender<Msg>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    tokio::spawn(async move {
        let mut rv = rv;
        let mut failures = 0u32;
        loop {
            if stop.is_cancelled() {
                return;
            }
            let opts = WatchOptions {
                resource_version: (!rv.is_empty()).then(|| rv.clone()),
                timeout_seconds: timeout,
                ..WatchOptions::default()
            };
            let stream = tokio::select! {
                () = stop.cancelled() => return,
                s = cluster.watch(&res, &opts) => s,
            };
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) if e.is_expired() => {
                    let _ = tx.send(Msg::Expired(n)).await;
                    return;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(resource = %res.group_resource(), error = %super::apply::message(&e), "watch failed; retrying");
                    tokio::time::sleep(crate::sync::run::backoff(failures)).await;
                    continue;
                }
            };
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => return,
                    e = stream.next() => e,
                };
                match next {
                    None => break,
                    Some(Ok(ev)) if ev.is_expired() => {
                        let _ = tx.send(Msg::Expired(n)).await;
                        return;
                    }
                    Some(Ok(WatchEvent::Error(s))) => {
                        tracing::warn!(resource = %res.group_resource(), code = s.code, message = %s.message, "watch error event; renewing");
                        failures += 1;
                        tokio::time::sleep(backoff(failures)).await;
                        break;
                    }
                    Some(Ok(ev)) => {
                        failures = 0;
                        if let Some(v) = ev.resource_version() {
                            v.clone_into(&mut rv);
                        }
                        if tx.send(Msg::Event(n, ev, Instant::now())).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(resource = %res.group_resource(), error = %super::apply::message(&e), "watch stream cut; renewing");
                        break;
                    }
                }
            }
        }
    })
}

/// Delay before retry `n` of a failed watch (capped at 10 s).
pub(crate) fn backoff(n: u32) -> Duration {
    Duration::from_millis((200u64 << n.min(6)).min(10_000))
}

/// Apply one batch of messages; returns the types re-listed, with their new resourceVersion
/// (their watchers must be restarted from it).
async fn apply_batch(
    ctx: &Ctx,
    types: &[ApiResourceInfo],
    batch: Vec<Msg>,
    state: &mut SyncState,
) -> Vec<(usize, String)> {
    let mut relisted = Vec::new();
    // The latest event per target object, in first-seen order.
    let mut latest: HashMap<TKey, (usize, WatchEvent)> = HashMap::new();
    let mut order: Vec<TKey> = Vec::new();
    let mut arrived: Vec<Instant> = Vec::new();
    let mut rvs: BTreeMap<usize, String> = BTreeMap::new();
    let mut expired: HashSet<usize> = HashSet::new();
    let mut skipped = 0u64;
    let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
    for m in batch {
        match m {
            Msg::Expired(ti) => {
                expired.insert(ti);
            }
            Msg::Event(ti, ev, at) => {
                arrived.push(at);
                *counts.entry(ti).or_default() += 1;
                if let Some(rv) = ev.resource_version() {
                    rvs.insert(ti, rv.to_owned());
                }
                let gr = types[ti].group_resource();
                let (WatchEvent::Added(obj) | WatchEvent::Modified(obj) | WatchEvent::Deleted(obj)) = &ev
                else {
                    continue;
                };
                if not_copied(&gr, obj) && !matches!(ev, WatchEvent::Deleted(_)) {
                    skipped += 1;
                    continue;
                }
                let Some(key) = ctx.target_key(&gr, obj) else {
                    continue;
                };
                if !latest.contains_key(&key) {
                    order.push(key.clone());
                }
                latest.insert(key, (ti, ev));
            }
        }
    }
    let mut items = Vec::new();
    let mut deletes = Vec::new();
    for key in order {
        let Some((ti, ev)) = latest.remove(&key) else {
            continue;
        };
        let gr = types[ti].group_resource();
        match ev {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                let rv = o
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok());
                if ctx.already_applied(&key, rv) {
                    skipped += 1;
                } else if let Some(i) = item_of(&gr, &o) {
                    items.push(i);
                }
            }
            WatchEvent::Deleted(o) => {
                let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
                if ns.is_none_or(|ns| ctx.planner.scope.namespaces().should_include(ns)) {
                    deletes.push(key);
                }
            }
            _ => {}
        }
    }
    if !items.is_empty()
        && let Some(plan) = ctx.plan(items, None)
    {
        skipped += plan.skipped.len() as u64;
        ctx.apply_plan(&plan, &|_| Some(false)).await;
    }
    {
        use futures::StreamExt;
        let _: Vec<Done> = futures::stream::iter(deletes.iter())
            .map(|k| ctx.delete_marked(k))
            .buffer_unordered(ctx.opts.concurrency.max(1))
            .collect()
            .await;
    }
    {
        let mut s = ctx.shared.lock().expect("sync stats lock");
        s.stats.skipped += skipped;
        for at in &arrived {
            s.lag.record(at.elapsed());
        }
        if !arrived.is_empty() {
            s.stats.last_event_unix = Some(super::state::now_unix());
        }
    }
    for (ti, rv) in rvs {
        let e = state.types.entry(types[ti].group_resource()).or_default();
        e.resource_version = rv;
        e.events += counts.get(&ti).copied().unwrap_or_default();
    }
    for ti in expired {
        tracing::info!(resource = %types[ti].group_resource(), "watch expired (410): re-listing and reconciling");
        ctx.shared.lock().expect("sync stats lock").stats.relists += 1;
        match ctx.reconcile(std::slice::from_ref(&types[ti]), None, false).await {
            Ok(r) => {
                let rv = r
                    .resource_versions
                    .get(&types[ti].group_resource())
                    .cloned()
                    .unwrap_or_default();
                relisted.push((ti, rv));
            }
            Err(e) => {
                ctx.error(format!(
                    "re-list {}: {}",
                    types[ti].group_resource(),
                    super::apply::message(&e)
                ));
                relisted.push((ti, String::new()));
            }
        }
    }
    relisted
}
