//! Results: the report of an executed restore (outcome per item, counts, phase) and the
//! documents Velero writes for a restore under `restores/<name>/` (results, resource list, logs,
//! empty item-operation and volume-info documents).

use super::model::{PlannedItem, RestorePlan};
use crate::error::Result;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use skiff_format::docs::{self, LogLevel, LogWriter, ResultSet, Results};
use skiff_store::BackupStore;
use skiff_store::layout::RestoreFile;
use std::collections::BTreeMap;
use std::fmt;

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

/// A restore's phase, serialised as Velero's `status.phase` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum RestorePhase {
    /// Not started.
    New,
    /// The restore's options were rejected before anything ran.
    FailedValidation,
    /// Running.
    InProgress,
    /// Every item restored, no error.
    Completed,
    /// Done, with item errors or run-level errors (failed items, interruption, fail-fast).
    PartiallyFailed,
    /// Nothing could be restored.
    Failed,
}

impl RestorePhase {
    /// Velero's string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::FailedValidation => "FailedValidation",
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::PartiallyFailed => "PartiallyFailed",
            Self::Failed => "Failed",
        }
    }
}

impl fmt::Display for RestorePhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// [`RestorePhase::Completed`] or [`RestorePhase::PartiallyFailed`].
    pub phase: RestorePhase,
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
    /// The objects this run created, in creation order (what `skiff migrate --undo` may delete).
    #[serde(skip)]
    pub created: Vec<super::model::TargetRef>,
    /// The namespaces this run created (name and UID), in creation order.
    #[serde(skip)]
    pub created_namespaces: Vec<CreatedNamespace>,
    /// `<apiVersion>/<Kind>` → `ns/name(action)` entries (Velero's restore resource list).
    #[serde(skip)]
    pub resource_list: BTreeMap<String, Vec<String>>,
    #[serde(skip)]
    logs: Vec<(DateTime<Utc>, LogLevel, String)>,
}

/// A namespace a restore created: `skiff migrate --undo` deletes it only while it is this very
/// namespace (same UID) and holds nothing the migration did not create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CreatedNamespace {
    /// Name.
    pub name: String,
    /// UID the server gave it.
    pub uid: String,
}

impl RestoreReport {
    /// The report of a restore of `plan` about to run: the plan's warnings, per-item errors and
    /// skips are in it already.
    pub(crate) fn start(plan: &RestorePlan, server_dry_run: bool) -> Self {
        let mut report = Self {
            name: plan.restore_name.clone(),
            backup: plan.backup_name.clone(),
            phase: RestorePhase::InProgress,
            counts: BTreeMap::new(),
            items: Vec::new(),
            results: Results::default(),
            server_dry_run,
            started: Utc::now(),
            seconds: 0.0,
            interrupted: false,
            created: Vec::new(),
            created_namespaces: Vec::new(),
            resource_list: BTreeMap::new(),
            logs: Vec::new(),
        };
        report.log(
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
        if !plan.skipped.is_empty() {
            *report.counts.entry(Outcome::Skipped).or_default() += plan.skipped.len() as u64;
        }
        report
    }

    /// Count of failed items (including conflicts).
    pub fn failures(&self) -> u64 {
        self.counts.get(&Outcome::Failed).copied().unwrap_or(0)
            + self.counts.get(&Outcome::Conflict).copied().unwrap_or(0)
    }

    fn log(&mut self, level: LogLevel, msg: String) {
        self.logs.push((Utc::now(), level, msg));
    }

    /// A cluster-level error (no item of the plan: a namespace that could not be created).
    pub(crate) fn cluster_error(&mut self, msg: String) {
        push_msg(&mut self.results.errors, None, msg);
    }

    /// Records what happened to one planned item: counts, resource list, results, logs.
    pub(crate) fn record(&mut self, item: &PlannedItem, outcome: Outcome, message: Option<String>) {
        let t = &item.target;
        *self.counts.entry(outcome).or_default() += 1;
        let key = item.source.to_string();
        if outcome == Outcome::Created && !self.server_dry_run {
            self.created.push(t.clone());
        }
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
        self.resource_list
            .entry(format!("{}/{}", t.api_version, t.kind))
            .or_default()
            .push(entry);
        match outcome {
            Outcome::Failed | Outcome::Conflict => {
                let msg = format!("error restoring {key}: {}", message.clone().unwrap_or_default());
                self.log(LogLevel::Error, msg.clone());
                push_msg(&mut self.results.errors, t.namespace.as_deref(), msg);
            }
            Outcome::Skipped => {
                if let Some(m) = &message {
                    push_msg(&mut self.results.warnings, t.namespace.as_deref(), m.clone());
                }
            }
            _ => {}
        }
        if outcome != Outcome::Created {
            self.items.push(ItemOutcome {
                item: key,
                kind: format!("{}/{}", t.api_version, t.kind),
                namespace: t.namespace.clone(),
                name: t.name.clone(),
                outcome,
                message,
            });
        }
    }

    /// Closes the report: why the run stopped early (if it did), the phase, the wall time.
    pub(crate) fn finish(&mut self, fail_fast_stopped: bool, cancelled: bool, seconds: f64) {
        if fail_fast_stopped {
            self.interrupted = true;
            self.results
                .errors
                .velero
                .push("stopped after the first failed item (--fail-fast)".into());
        }
        if cancelled {
            self.interrupted = true;
            self.results
                .errors
                .velero
                .push("interrupted; items after the interruption were not attempted".into());
        }
        for v in self.resource_list.values_mut() {
            v.sort();
        }
        self.phase = if self.results.errors.is_empty() && self.failures() == 0 {
            RestorePhase::Completed
        } else {
            RestorePhase::PartiallyFailed
        };
        self.seconds = seconds;
        let done = format!("restore completed: {:?}", self.counts);
        self.log(LogLevel::Info, done);
    }
}

fn push_msg(set: &mut ResultSet, namespace: Option<&str>, msg: String) {
    match namespace {
        Some(ns) => set.namespaces.entry(ns.to_string()).or_default().push(msg),
        None => set.cluster.push(msg),
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
            logs.finish(), // already gzip (Velero stores logs gzipped once)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the logs were gzipped twice (`LogWriter::finish` already gzips), so
    /// `velero restore logs` showed binary garbage.
    #[tokio::test]
    async fn documents_are_gzipped_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = skiff_store::LocalStore::new(dir.path());
        let report = RestoreReport {
            name: "r1".into(),
            backup: "b1".into(),
            phase: RestorePhase::Completed,
            counts: BTreeMap::new(),
            items: Vec::new(),
            results: Results::default(),
            server_dry_run: false,
            started: Utc::now(),
            seconds: 0.0,
            interrupted: false,
            created: Vec::new(),
            created_namespaces: Vec::new(),
            resource_list: BTreeMap::new(),
            logs: vec![(Utc::now(), LogLevel::Info, "restore completed".into())],
        };
        write_restore_documents(&store, &report).await.unwrap();
        let gz = store.get(&RestoreFile::Logs.key("r1").unwrap()).await.unwrap();
        let text = String::from_utf8(skiff_format::gojson::gunzip(&gz, 1 << 20).unwrap()).unwrap();
        assert!(text.starts_with("time=\""), "{text:?}");
        assert!(text.contains("msg=\"restore completed\""), "{text}");
        let results = store.get(&RestoreFile::Results.key("r1").unwrap()).await.unwrap();
        let results: Results = docs::decode_sidecar(&results, "results").unwrap();
        assert!(results.errors.is_empty());
    }
}
