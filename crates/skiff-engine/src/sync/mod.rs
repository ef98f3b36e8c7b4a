//! `skiff sync` and `skiff cutover`: keep a target continuously in step with a live source, then
//! switch over with a bounded, measured final delta.
//!
//! - **Initial copy** ([`run`]): the migrate path — [`crate::restore::run`] from the live source
//!   with the sync's [`RestoreOptions`] (holds on by default, controller-owned objects skipped,
//!   [`RestoreOptions::sync_marker`] set) — then every planned object is applied once more with
//!   server-side apply as [`FIELD_MANAGER`] (`force`), so that the sync owns its fields and a
//!   later change by another manager shows as a conflict (drift).
//! - **Watch**: every type in scope from the resourceVersion taken before the copy, bookmarks
//!   on. Each ADDED/MODIFIED object goes through the same planner as a restore
//!   ([`crate::restore::plan`]: mappings, modifiers, Velero's restore actions, holds) and is
//!   applied with server-side apply; a DELETED object is deleted on the target only when the
//!   target's copy carries this sync's marker (UID precondition). Objects the source's
//!   controllers make ([`crate::verify::is_derived`]) are not copied.
//! - **Markers**: label [`SYNC_LABEL`] names the sync, annotation [`SOURCE_RV_ANNOTATION`]
//!   records the source resourceVersion the object came from. An event at or below that
//!   version is skipped, so a restart neither loses nor repeats a change.
//! - **Checkpoint** ([`SyncState`]): per-type resourceVersion and counts, written atomically. A
//!   restart resumes the watches there; a resourceVersion too old for the server (410) makes
//!   the sync re-list that type and reconcile (apply what is missing or older, delete marked
//!   objects the source no longer has).
//! - **Drift** ([`DriftMode`]): a target field another manager changed makes the server refuse
//!   the apply (conflict); the mode says what then happens. Reported per object.
//! - **Cutover** ([`cutover`]): hold the source's workloads, re-list and reconcile (the barrier:
//!   every change up to the quiesce is on the target), release the target's holds, check every
//!   object (released form) against the target, remove the markers. [`rollback`] reverses it.
//!
//! Architecture invariant: there is no second transform pipeline here. Every object the sync
//! writes is planned by the restore planner with the sync's options.

// Kubernetes kind names appear as prose in these docs.
#![allow(clippy::doc_markdown)]

mod apply;
mod cutover;
mod metrics;
mod run;
mod state;

pub use cutover::{CutoverOptions, CutoverReport, CutoverVerify, cutover, rollback};
pub use metrics::{LAG_BUCKETS, LagRecorder, render_prometheus};
pub use run::{SyncMonitor, SyncReport, run, status_line};
pub use state::{CutoverRecord, DriftAction, DriftRecord, ObjectKey, SyncState, SyncStats, TypeState};

use crate::restore::RestoreOptions;
use serde_json::{Map, Value};
use std::time::Duration;

/// Label naming the sync that put an object on the target.
pub const SYNC_LABEL: &str = "skiff.io/sync";
/// Annotation recording the source resourceVersion an object came from.
pub const SOURCE_RV_ANNOTATION: &str = "skiff.io/source-resource-version";
/// Field manager of the sync's server-side applies.
pub const FIELD_MANAGER: &str = "skiff-sync";

/// What to do with a target object another manager changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Apply over it (force): the source wins.
    #[default]
    Overwrite,
    /// Keep the other manager's fields; apply the rest of the change.
    Keep,
    /// Write nothing to that object; report it.
    Report,
}

impl std::str::FromStr for DriftMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "overwrite" => Ok(Self::Overwrite),
            "keep" => Ok(Self::Keep),
            "report" => Ok(Self::Report),
            other => Err(format!("unknown drift mode {other:?} (overwrite, keep, report)")),
        }
    }
}

/// Options of a sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The sync's name (the marker's value).
    pub name: String,
    /// The planner's options (scope, mappings, modifiers, holds). [`run`] sets
    /// [`RestoreOptions::sync_marker`] and `skip_owned` itself.
    pub restore: RestoreOptions,
    /// Drift handling.
    pub drift: DriftMode,
    /// Requests in flight to the target at once.
    pub concurrency: usize,
    /// Stop after the initial copy (first run) or one reconcile pass (restart).
    pub once: bool,
    /// Stop after watching this long.
    pub duration: Option<Duration>,
    /// How often the state file is written and the status reported.
    pub status_interval: Duration,
    /// Seconds a watch request lasts before it is renewed.
    pub watch_timeout: u32,
    /// Events applied in one batch at most.
    pub batch: usize,
    /// Readiness wait limit of the initial copy (CRDs, namespaces).
    pub wait_timeout: Duration,
}

impl SyncOptions {
    /// Options with defaults for `name`.
    pub fn new(name: &str, restore: RestoreOptions) -> Self {
        Self {
            name: name.to_owned(),
            restore,
            drift: DriftMode::default(),
            concurrency: 32,
            once: false,
            duration: None,
            status_interval: Duration::from_secs(1),
            watch_timeout: 290,
            batch: 256,
            wait_timeout: Duration::from_secs(600),
        }
    }

    /// The planner options with the sync's marker.
    pub(crate) fn planner(&self) -> RestoreOptions {
        let mut o = self.restore.clone();
        o.sync_marker = Some(self.name.clone());
        o.skip_owned = true;
        if o.restore_name.is_empty() {
            o.restore_name.clone_from(&self.name);
        }
        if o.backup_name.is_empty() {
            o.backup_name.clone_from(&self.name);
        }
        o
    }
}

/// A sync or cutover that cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The initial copy (a restore) could not be planned or run.
    #[error("run the initial copy")]
    Restore(#[from] crate::restore::RestoreError),
    /// Talking to a cluster, or an option, failed.
    #[error(transparent)]
    Engine(#[from] crate::Error),
    /// The state file cannot be read or written.
    #[error("access the sync state file {path}")]
    State {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a sync state.
    #[error("read the sync state file {path}: {detail}")]
    StateFormat {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A cutover was asked of a sync that never completed its initial copy.
    #[error("sync {name:?} has not completed its initial copy")]
    NotReady {
        /// The sync.
        name: String,
    },
    /// `--rollback` of a sync with no cutover to roll back.
    #[error("sync {name:?} has no cutover to roll back")]
    NoCutover {
        /// The sync.
        name: String,
    },
}

impl From<skiff_kube::KubeError> for SyncError {
    fn from(e: skiff_kube::KubeError) -> Self {
        Self::Engine(e.into())
    }
}

/// Put the sync's marker on an object: label [`SYNC_LABEL`] = `sync`, annotation
/// [`SOURCE_RV_ANNOTATION`] = `source_rv` (when known).
pub(crate) fn mark(obj: &mut Value, sync: &str, source_rv: Option<&str>) {
    let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let labels = md.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    if let Some(l) = labels.as_object_mut() {
        l.insert(
            SYNC_LABEL.into(),
            Value::String(crate::restore::shorten_label_value(sync)),
        );
    }
    if let Some(rv) = source_rv {
        let ann = md
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = ann.as_object_mut() {
            a.insert(SOURCE_RV_ANNOTATION.into(), Value::String(rv.to_owned()));
        }
    }
}

/// Remove the sync's marker from an object (in place).
pub fn unmark(obj: &mut Value) {
    if let Some(l) = obj.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove(SYNC_LABEL);
    }
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(SOURCE_RV_ANNOTATION);
    }
}

/// The merge patch that removes the sync's marker.
pub fn unmark_patch() -> Value {
    serde_json::json!({"metadata": {
        "labels": {SYNC_LABEL: null},
        "annotations": {SOURCE_RV_ANNOTATION: null},
    }})
}

/// The source resourceVersion recorded on a target object.
pub fn recorded_source_rv(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(SOURCE_RV_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// Whether an object carries the marker of sync `name`.
pub fn is_marked(obj: &Value, name: &str) -> bool {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(SYNC_LABEL))
        .and_then(Value::as_str)
        == Some(crate::restore::shorten_label_value(name).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marker_round_trip() {
        let mut o = json!({"metadata": {"name": "a", "labels": {"app": "x"}}});
        mark(&mut o, "s1", Some("123"));
        assert!(is_marked(&o, "s1"));
        assert!(!is_marked(&o, "s2"));
        assert_eq!(recorded_source_rv(&o), Some(123));
        unmark(&mut o);
        assert!(!is_marked(&o, "s1"));
        assert_eq!(recorded_source_rv(&o), None);
        assert_eq!(o["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!("keep".parse::<DriftMode>(), Ok(DriftMode::Keep));
        assert!("nope".parse::<DriftMode>().is_err());
    }
}
