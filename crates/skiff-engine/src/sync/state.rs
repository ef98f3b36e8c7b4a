//! The sync's state file: the checkpoint (per-type resourceVersion), counts, lag percentiles,
//! drift seen, and the cutover's record. Written atomically (temporary file, then rename) by the
//! running sync and by `skiff cutover`; read by `skiff sync status`.

use super::SyncError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Drift records kept in the state file (the most recent).
const DRIFT_KEPT: usize = 200;
/// Error messages kept in the state file (the most recent).
const ERRORS_KEPT: usize = 50;

/// Where one watched type stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeState {
    /// The source resourceVersion up to which every change of this type has been applied.
    pub resource_version: String,
    /// Events of this type handled.
    pub events: u64,
}

/// Counts and lag of a sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStats {
    /// Objects on the target that carry this sync's marker and match their source version.
    pub in_sync: u64,
    /// Events received and not yet applied.
    pub pending: u64,
    /// Objects applied (created or updated) on the target.
    pub applied: u64,
    /// Objects deleted on the target.
    pub deleted: u64,
    /// Events skipped: already applied (source resourceVersion at or below the target's),
    /// out of scope, or made by the source's controllers.
    pub skipped: u64,
    /// Failed applies or deletes.
    pub errors: u64,
    /// Drift found on the target.
    pub drift: u64,
    /// Re-lists after a watch expired (410).
    pub relists: u64,
    /// Lag (event received → applied), median, milliseconds.
    pub lag_p50_ms: f64,
    /// Lag, 99th percentile, milliseconds.
    pub lag_p99_ms: f64,
    /// Lag, maximum, milliseconds.
    pub lag_max_ms: f64,
    /// When the last event was received (unix seconds).
    pub last_event_unix: Option<f64>,
}

/// What `--drift` did with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftAction {
    /// Applied over the other manager's change.
    Overwritten,
    /// The other manager's fields kept; the rest applied.
    Kept,
    /// Reported only; nothing written.
    Reported,
}

/// Drift on one target object: fields another manager changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftRecord {
    /// The target object (`group-resource/ns/name`).
    pub object: String,
    /// The fields (`.spec.replicas`).
    pub fields: Vec<String>,
    /// The managers that changed them, when known.
    pub managers: Vec<String>,
    /// What was done.
    pub action: DriftAction,
    /// When (unix seconds).
    pub at_unix: f64,
}

/// An object a cutover changed (to undo it with `--rollback`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectKey {
    /// API group (empty for the core group).
    pub group: String,
    /// Version.
    pub version: String,
    /// Resource (plural).
    pub resource: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// `group-resource/ns/name`.
    pub fn describe(&self) -> String {
        let gr = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        match &self.namespace {
            Some(ns) => format!("{gr}/{ns}/{}", self.name),
            None => format!("{gr}/{}", self.name),
        }
    }

    /// The resource, as the kube crate names it.
    pub fn info(&self) -> skiff_kube::ApiResourceInfo {
        skiff_kube::ApiResourceInfo::known(
            &self.group,
            &self.version,
            &self.resource,
            &self.kind,
            self.namespace.is_some(),
        )
    }
}

/// What a cutover did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverRecord {
    /// Source objects held to quiesce the source.
    pub quiesced: Vec<ObjectKey>,
    /// Target objects released.
    pub activated: Vec<ObjectKey>,
    /// Markers were removed from the target.
    pub markers_removed: bool,
    /// `--rollback` ran after it.
    pub rolled_back: bool,
}

/// The state file of one sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// The sync's name.
    pub name: String,
    /// The command line the sync runs with (after `skiff sync`), so that `skiff cutover` and a
    /// restart work with the same options. Opaque to the engine.
    #[serde(default)]
    pub args: Vec<String>,
    /// Process id of the running sync (when it last wrote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The initial full copy completed.
    #[serde(default)]
    pub initial_copy_done: bool,
    /// Per type (group-resource): the checkpoint.
    #[serde(default)]
    pub types: BTreeMap<String, TypeState>,
    /// Counts and lag.
    #[serde(default)]
    pub stats: SyncStats,
    /// Recent drift.
    #[serde(default)]
    pub drift: Vec<DriftRecord>,
    /// Recent errors (messages; never object data).
    #[serde(default)]
    pub errors: Vec<String>,
    /// When the state was written (unix seconds).
    #[serde(default)]
    pub updated_unix: f64,
    /// The cutover, once one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutover: Option<CutoverRecord>,
}

impl SyncState {
    /// A fresh state.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Read a state file; `None` when there is none.
    ///
    /// # Errors
    /// The file cannot be read or is not a state file.
    pub fn load(path: &Path) -> Result<Option<Self>, SyncError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| SyncError::StateFormat {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SyncError::State {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Write the state atomically: a temporary file beside it, then a rename.
    ///
    /// # Errors
    /// The folder or the file cannot be written.
    pub fn save(&mut self, path: &Path) -> Result<(), SyncError> {
        let io = |source| SyncError::State {
            path: path.display().to_string(),
            source,
        };
        self.updated_unix = now_unix();
        trim(&mut self.drift, DRIFT_KEPT);
        trim(&mut self.errors, ERRORS_KEPT);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(self).expect("sync state serializes");
        std::fs::write(&tmp, body).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

fn trim<T>(v: &mut Vec<T>, keep: usize) {
    if v.len() > keep {
        v.drain(..v.len() - keep);
    }
}

/// Seconds since the epoch.
pub(crate) fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/s1.json");
        assert_eq!(SyncState::load(&path).unwrap(), None);
        let mut s = SyncState::new("s1");
        s.types.insert(
            "configmaps".into(),
            TypeState {
                resource_version: "42".into(),
                events: 3,
            },
        );
        s.errors = (0..60).map(|i| i.to_string()).collect();
        s.save(&path).unwrap();
        assert!(!path.with_extension("json.tmp").exists());
        let back = SyncState::load(&path).unwrap().unwrap();
        assert_eq!(back.types["configmaps"].resource_version, "42");
        assert_eq!(back.errors.len(), ERRORS_KEPT);
        assert_eq!(back.errors[0], "10");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            SyncState::load(&path),
            Err(SyncError::StateFormat { .. })
        ));
    }
}
