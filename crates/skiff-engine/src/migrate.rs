//! `skiff migrate`: a live source straight into a target, through the restore planner and
//! executor ([`crate::restore::run`] with [`crate::side::Side::Cluster`] as its source), and
//! `--undo`: deleting exactly the objects a migration created.
//!
//! A migration keeps a [`MigrationRecord`] of what it created (the executor's
//! [`crate::restore::RestoreReport::created`]). Undo deletes those objects, newest first, and
//! only when the object in the target still carries the migration's `velero.io/restore-name`
//! label and has the UID it was read with just before (a precondition on the DELETE): an object
//! the migration did not create, or one replaced since, is never deleted.

use crate::restore::{TargetRef, shorten_label_value};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, Cluster};

/// What a migration created, kept for `--undo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationRecord {
    /// Migration name (the `velero.io/restore-name` label of what it created).
    pub name: String,
    /// When it ran.
    pub started: DateTime<Utc>,
    /// The objects it created, in creation order (accumulated over reruns).
    pub created: Vec<TargetRef>,
}

impl MigrationRecord {
    /// Add what a (re)run created, keeping each object once.
    pub fn extend(&mut self, created: &[TargetRef]) {
        for t in created {
            if !self.created.contains(t) {
                self.created.push(t.clone());
            }
        }
    }
}

/// What happened to one recorded object on undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UndoOutcome {
    /// Deleted.
    Deleted,
    /// Already gone.
    Gone,
    /// Left alone: it no longer carries this migration's label (replaced or not created by it).
    Kept,
    /// The delete failed.
    Failed,
}

/// One line of an undo report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoItem {
    /// `resource.group/namespace/name`.
    pub object: String,
    /// What happened.
    pub outcome: UndoOutcome,
    /// Why (kept / failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Delete what `record` says the migration created, newest first (so namespaces and CRDs go
/// after what they hold). With `dry_run`, the deletes are sent with `dryRun=All`.
pub async fn undo(cluster: &Cluster, record: &MigrationRecord, dry_run: bool) -> Vec<UndoItem> {
    let label = shorten_label_value(&record.name);
    let mut out = Vec::with_capacity(record.created.len());
    for t in record.created.iter().rev() {
        let res = ApiResourceInfo::known(&t.group, &t.version, &t.resource, &t.kind, t.namespaced);
        let object = match &t.namespace {
            Some(ns) => format!("{}/{ns}/{}", res.group_resource(), t.name),
            None => format!("{}/{}", res.group_resource(), t.name),
        };
        let item = |outcome, reason: Option<String>| UndoItem {
            object: object.clone(),
            outcome,
            reason,
        };
        let live = match cluster.get(&res, t.namespace.as_deref(), &t.name).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                out.push(item(UndoOutcome::Gone, None));
                continue;
            }
            Err(e) => {
                out.push(item(UndoOutcome::Failed, Some(crate::offline::chain(&e))));
                continue;
            }
        };
        let carries = live
            .pointer("/metadata/labels/velero.io~1restore-name")
            .and_then(Value::as_str)
            == Some(label.as_str());
        if !carries {
            out.push(item(
                UndoOutcome::Kept,
                Some(format!(
                    "it does not carry velero.io/restore-name={label}: not created by this migration"
                )),
            ));
            continue;
        }
        let uid = live.pointer("/metadata/uid").and_then(Value::as_str);
        match cluster
            .delete_uid(&res, t.namespace.as_deref(), &t.name, uid, dry_run)
            .await
        {
            Ok(()) => out.push(item(UndoOutcome::Deleted, None)),
            Err(e) if e.is_not_found() => out.push(item(UndoOutcome::Gone, None)),
            Err(e) if e.is_conflict() => out.push(item(
                UndoOutcome::Kept,
                Some("replaced since it was read (UID precondition failed)".to_owned()),
            )),
            Err(e) => out.push(item(UndoOutcome::Failed, Some(crate::offline::chain(&e)))),
        }
    }
    out
}
