//! One call per restore, as [`crate::backup::run_backup`] is for a backup: [`run`] (load →
//! target facts → plan → execute → results documents) and [`dry_run`] (load → target facts →
//! plan → what already exists). Both make the plan the same way, so what `--dry-run` prints is
//! the schedule that runs.

use super::error::RestoreError;
use super::execute::{ExecOptions, execute, predict_existing};
use super::facts::target_facts;
use super::load::load_items;
use super::model::RestorePlan;
use super::options::RestoreOptions;
use super::plan::plan_owned;
use super::results::{RestoreReport, write_restore_documents};
use crate::error::Error;
use crate::progress::Progress;
use crate::side::Side;
use skiff_kube::Cluster;
use skiff_store::BackupStore;
use tokio_util::sync::CancellationToken;

/// What [`run`] did.
#[derive(Debug)]
pub struct RestoreRun {
    /// The plan that ran.
    pub plan: RestorePlan,
    /// What happened.
    pub report: RestoreReport,
    /// Writing the results documents under `restores/<name>/` failed (the restore itself ran;
    /// the report says how it went).
    pub documents_error: Option<Error>,
}

/// What [`dry_run`] found.
#[derive(Debug)]
pub struct DryRun {
    /// The plan a restore with the same inputs runs.
    pub plan: RestorePlan,
    /// Source keys of the planned objects that already exist in the target, sorted.
    pub existing: Vec<String>,
}

/// Restore `source` — a backup, or a live cluster for `skiff migrate` — into `cluster`: the plan is made and run, and the results documents are
/// written to `results` (unless `exec.server_dry_run`). Per-item failures are in the report;
/// an error means nothing was restored (bad options, unreadable backup, unreachable cluster,
/// or cancellation before the first item).
pub async fn run(
    source: &Side,
    cluster: &Cluster,
    results: Option<&dyn BackupStore>,
    opts: &RestoreOptions,
    exec: &ExecOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<RestoreRun, RestoreError> {
    let clock = std::time::Instant::now();
    let plan = prepare(source, cluster, opts, progress, cancel).await?;
    let report = execute(cluster, &plan, exec, progress, cancel).await;
    tracing::debug!(at_ms = clock.elapsed().as_millis(), "restore executed");
    let documents_error = match results {
        Some(store) if !exec.server_dry_run => write_restore_documents(store, &report).await.err(),
        _ => None,
    };
    tracing::debug!(at_ms = clock.elapsed().as_millis(), "restore documents written");
    Ok(RestoreRun {
        plan,
        report,
        documents_error,
    })
}

/// The plan [`run`] would run with the same inputs, and which planned objects already exist in
/// the target (live GETs, `exec.concurrency` at once). Changes nothing.
pub async fn dry_run(
    source: &Side,
    cluster: &Cluster,
    opts: &RestoreOptions,
    exec: &ExecOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<DryRun, RestoreError> {
    let plan = prepare(source, cluster, opts, progress, cancel).await?;
    progress.stage("checking existing objects", Some(plan.len() as u64));
    let existing = tokio::select! {
        existing = predict_existing(cluster, &plan, exec.concurrency, progress) => existing,
        () = cancel.cancelled() => return Err(Error::Interrupted.into()),
    };
    progress.finish_stage();
    Ok(DryRun { plan, existing })
}

/// The plan of a restore: the backup's items and the target's discovery + facts read at once,
/// then planned (consuming the items: each item's JSON is freed once its final JSON is made).
async fn prepare(
    source: &Side,
    cluster: &Cluster,
    opts: &RestoreOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<RestorePlan, RestoreError> {
    skiff_store::layout::validate_restore_name(&opts.restore_name).map_err(Error::from)?;
    let clock = std::time::Instant::now();
    let lap = |what: &str| {
        tracing::debug!(
            stage = what,
            at_ms = clock.elapsed().as_millis(),
            "restore timing"
        );
    };
    // Reading the backup (local or S3) and the target's discovery + facts are independent.
    let target = async {
        let surface = cluster.discover(false).await?;
        lap("discovery");
        let facts = target_facts(cluster, &surface).await;
        lap("target facts");
        Ok::<_, Error>((surface, facts))
    };
    let items = async {
        match source {
            Side::Backup(b) => load_items(b, progress).await,
            Side::Cluster(c) => Box::pin(super::load::load_live(c, &opts.scope, progress, cancel)).await,
        }
    };
    let read = async { tokio::join!(items, target) };
    let (items, target) = tokio::select! {
        read = read => read,
        () = cancel.cancelled() => return Err(Error::Interrupted.into()),
    };
    let (items, (surface, facts)) = (items?, target?);
    lap("backup read");
    progress.stage("planning", None);
    let plan = plan_owned(items, &surface, &planning_options(source, opts), &facts)?;
    progress.finish_stage();
    lap("planned");
    Ok(plan)
}

/// The options the planner gets for items read from `source`. A backup's items are filtered
/// by the planner (the restore's scope, Velero's restore rules). A live source was already read
/// with the scope as a *backup* selects (related items included: a custom resource's CRD, a
/// service account's cluster role bindings, …), so the planner takes all of it — as a backup
/// of the source followed by an unfiltered restore would; filtering again with the restore's
/// rules would drop those related cluster-scoped items (Velero's restore skips cluster-scoped
/// types when only some namespaces are included).
pub(crate) fn planning_options<'o>(
    source: &Side,
    opts: &'o RestoreOptions,
) -> std::borrow::Cow<'o, RestoreOptions> {
    match source {
        Side::Backup(_) => std::borrow::Cow::Borrowed(opts),
        Side::Cluster(_) => std::borrow::Cow::Owned(RestoreOptions {
            scope: crate::scope::Scope::default(),
            ..opts.clone()
        }),
    }
}
