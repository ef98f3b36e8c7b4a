//! `run_backup`: the backup pipeline — [`Source`] (discovery, selection, paged LISTs, related
//! items) → [`ArchiveSink`] (tar + parallel gzip members → streaming upload, index beside it)
//! → sidecars → `velero-backup.json` last.
//!
//! Every arrow is a bounded queue, so memory is set by pages, members and parts in flight; what
//! grows with the number of objects is only the resource list Velero requires and an 8-byte
//! hash per item for de-duplication.

use super::archive::{ArchiveSink, Archived};
use super::keys::SortedKeys;
use super::source::{DEFAULT_BACKUP_PAGE_SIZE, DEFAULT_LIST_CONCURRENCY, ReadOptions, ReadOutcome, Source};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scope::Scope;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use skiff_format::docs::{self, Backup, BackupParams, LogLevel, LogWriter, Results};
use skiff_kube::Cluster;
use skiff_store::BackupStore;
use skiff_store::layout::{BackupCommit, BackupFile};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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

/// A backup's phase, spelt as Velero's `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BackupPhase {
    /// Created, not yet processed.
    New,
    /// The spec did not validate.
    FailedValidation,
    /// Running.
    InProgress,
    /// Items written; plugin operations still running.
    WaitingForPluginOperations,
    /// As [`BackupPhase::WaitingForPluginOperations`], with some errors already.
    WaitingForPluginOperationsPartiallyFailed,
    /// Plugin operations done; the tarball is being finalized.
    Finalizing,
    /// As [`BackupPhase::Finalizing`], with some errors.
    FinalizingPartiallyFailed,
    /// Done, no item errors.
    Completed,
    /// Done, with item errors (the rest was backed up).
    PartiallyFailed,
    /// The backup as a whole failed.
    Failed,
    /// Being deleted.
    Deleting,
}

impl BackupPhase {
    /// Velero's string for the phase.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupPhase::New => "New",
            BackupPhase::FailedValidation => "FailedValidation",
            BackupPhase::InProgress => "InProgress",
            BackupPhase::WaitingForPluginOperations => "WaitingForPluginOperations",
            BackupPhase::WaitingForPluginOperationsPartiallyFailed => {
                "WaitingForPluginOperationsPartiallyFailed"
            }
            BackupPhase::Finalizing => "Finalizing",
            BackupPhase::FinalizingPartiallyFailed => "FinalizingPartiallyFailed",
            BackupPhase::Completed => "Completed",
            BackupPhase::PartiallyFailed => "PartiallyFailed",
            BackupPhase::Failed => "Failed",
            BackupPhase::Deleting => "Deleting",
        }
    }

    /// The terminal phase of a run that recorded `errors` item errors.
    pub fn of_run(errors: usize) -> Self {
        if errors == 0 {
            BackupPhase::Completed
        } else {
            BackupPhase::PartiallyFailed
        }
    }
}

/// Compares with Velero's string (`phase == "Completed"`), as documents hold it.
impl PartialEq<str> for BackupPhase {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BackupPhase {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for BackupPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finished backup reports.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// Backup name.
    pub name: String,
    /// Where it was written.
    pub location: String,
    /// [`BackupPhase::Completed`] or [`BackupPhase::PartiallyFailed`].
    pub phase: BackupPhase,
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
    let clock = Instant::now();
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
    // Nothing is uploaded before the source is resolved: a failure here leaves the location as
    // it was.
    let source = Source::discover(cluster, &opts.scope, opts.all_api_versions, progress, cancel).await?;
    match write_backup(cluster, &source, &mut commit, opts, progress, cancel).await {
        Ok((archived, outcome)) => {
            let run = Run {
                opts,
                source: &source,
                started,
                clock,
                location,
            };
            commit_backup(cluster, commit, run, archived, outcome, progress).await
        }
        Err(e) => {
            tracing::warn!(backup = %opts.name, "backup failed; removing what was uploaded");
            let _ = commit.abandon().await;
            Err(e)
        }
    }
}

/// Stream the selected items into the tarball and index uploads; on failure every upload is
/// aborted before this returns.
async fn write_backup(
    cluster: &Cluster,
    source: &Source,
    commit: &mut BackupCommit<'_>,
    opts: &BackupOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<(Archived, ReadOutcome)> {
    let sink = ArchiveSink::open(commit, &opts.name, opts.compression_level).await?;
    let read_opts = ReadOptions {
        page_size: opts.page_size,
        list_concurrency: opts.list_concurrency,
    };
    let read = source
        .read(cluster, &read_opts, sink.sender(), progress, cancel)
        .await;
    let archived = sink.finish(read.is_ok()).await;
    tracing::debug!("backup: tarball and index uploaded");
    match (read, archived) {
        (Ok(outcome), Ok(archived)) => Ok((archived, outcome)),
        // The writer or the store failed on its own: the reader only saw the channel close.
        (_, Err(e)) if !matches!(e, Error::Interrupted) => Err(e),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    }
}

/// The run's fixed facts, for the documents.
struct Run<'a> {
    opts: &'a BackupOptions,
    source: &'a Source,
    started: DateTime<Utc>,
    clock: Instant,
    location: String,
}

/// Upload the sidecars, then `velero-backup.json` (the commit); abandon on failure.
async fn commit_backup(
    cluster: &Cluster,
    mut commit: BackupCommit<'_>,
    run: Run<'_>,
    archived: Archived,
    outcome: ReadOutcome,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    progress.stage("committing", None);
    let completed = Utc::now();
    let phase = BackupPhase::of_run(outcome.error_list.len());
    let resource_list: BTreeMap<String, SortedKeys> = archived
        .resource_list
        .into_iter()
        .map(|(k, v)| (k, v.into_sorted()))
        .collect();
    let items: u64 = resource_list.values().map(|v| v.len() as u64).sum();
    let documents = async {
        for (file, data) in sidecars(&run, &outcome, &resource_list, items, completed)? {
            commit.put(file, Bytes::from(data)).await?;
        }
        let backup = backup_document(cluster, &run, &outcome, phase, items, completed).await;
        Ok::<_, Error>(Bytes::from(backup.to_json()?))
    }
    .await;
    let backup_json = match documents {
        Ok(json) => json,
        Err(e) => {
            let _ = commit.abandon().await;
            return Err(e);
        }
    };
    commit.commit(backup_json).await?;
    tracing::debug!("backup: committed");
    progress.finish_stage();
    let opts = run.opts;
    Ok(BackupReport {
        name: opts.name.clone(),
        location: run.location,
        phase,
        items,
        per_kind: resource_list
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect(),
        tarball_bytes: archived.tarball_bytes,
        item_bytes: archived.item_bytes,
        errors: outcome.error_list,
        warnings: outcome.warning_list,
        started: run.started,
        completed,
        expiration: expiration(run.started, opts.ttl),
        seconds: run.clock.elapsed().as_secs_f64(),
        api_retries: cluster.stats().retries,
    })
}

fn expiration(started: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    started + chrono::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2))
}

/// The sidecar documents Velero writes beside the tarball, encoded.
fn sidecars(
    run: &Run<'_>,
    outcome: &ReadOutcome,
    resource_list: &BTreeMap<String, SortedKeys>,
    items: u64,
    completed: DateTime<Utc>,
) -> Result<Vec<(BackupFile, Vec<u8>)>> {
    let opts = run.opts;
    let mut logs = LogWriter::new("backup", &format!("{}/{}", opts.velero_namespace, opts.name));
    logs.log(
        run.started,
        LogLevel::Info,
        "Setting up backup log",
        "skiff/backup",
        &[],
    );
    for line in &outcome.logs {
        let f: Vec<(&str, &str)> = line
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        logs.log(line.time, line.level, &line.message, "skiff/backup", &f);
    }
    logs.log(
        completed,
        LogLevel::Info,
        &format!("Backed up a total of {items} items"),
        "skiff/backup",
        &[],
    );
    let results = Results {
        errors: outcome.errors.clone(),
        warnings: outcome.warnings.clone(),
        ..Results::default()
    };
    Ok(vec![
        (BackupFile::Logs, logs.finish()), // already gzip, once as Velero does
        (
            BackupFile::ResourceList,
            docs::encode_resource_list(resource_list)?,
        ),
        (BackupFile::Results, docs::encode_results(&results)?),
        (BackupFile::VolumeSnapshots, docs::encode_volume_snapshots(&[])?),
        (
            BackupFile::PodVolumeBackups,
            docs::encode_pod_volume_backups(&[])?,
        ),
        (BackupFile::ItemOperations, docs::encode_item_operations(&[])?),
        (
            BackupFile::VolumeInfo,
            docs::encode_volume_info(&outcome.volume_info)?,
        ),
    ])
}

/// `velero-backup.json`: the Backup as Velero v1.18 leaves it.
async fn backup_document(
    cluster: &Cluster,
    run: &Run<'_>,
    outcome: &ReadOutcome,
    phase: BackupPhase,
    items: u64,
    completed: DateTime<Utc>,
) -> Backup {
    let opts = run.opts;
    let version = cluster.server_version().await.ok();
    let effective = &run.source.selection().effective;
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
        started: run.started,
        completed,
        phase: phase.as_str().into(),
        items: items as i64,
        warnings: outcome.warning_list.len() as i64,
        errors: outcome.error_list.len() as i64,
    };
    let mut backup = Backup::new_completed(&params);
    backup
        .spec
        .included_cluster_scoped_resources
        .clone_from(&effective.included_cluster_scoped_resources);
    backup
        .spec
        .excluded_cluster_scoped_resources
        .clone_from(&effective.excluded_cluster_scoped_resources);
    backup
        .spec
        .included_namespace_scoped_resources
        .clone_from(&effective.included_namespace_scoped_resources);
    backup
        .spec
        .excluded_namespace_scoped_resources
        .clone_from(&effective.excluded_namespace_scoped_resources);
    backup.spec.or_label_selectors = effective.or_label_selectors.iter().map(to_doc_selector).collect();
    backup
}

fn to_doc_selector(s: &crate::labels::LabelSelector) -> docs::LabelSelector {
    serde_json::from_value(s.to_json()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_velero_strings() {
        for (phase, s) in [
            (BackupPhase::Completed, "Completed"),
            (BackupPhase::PartiallyFailed, "PartiallyFailed"),
            (BackupPhase::Failed, "Failed"),
            (
                BackupPhase::WaitingForPluginOperationsPartiallyFailed,
                "WaitingForPluginOperationsPartiallyFailed",
            ),
        ] {
            assert_eq!(phase.as_str(), s);
            assert_eq!(phase.to_string(), s);
            assert_eq!(serde_json::to_value(phase).unwrap(), s);
            assert_eq!(serde_json::from_value::<BackupPhase>(s.into()).unwrap(), phase);
        }
        assert!(BackupPhase::Completed == "Completed" && BackupPhase::Failed != "Completed");
        assert_eq!(BackupPhase::of_run(0), BackupPhase::Completed);
        assert_eq!(BackupPhase::of_run(2), BackupPhase::PartiallyFailed);
    }
}
