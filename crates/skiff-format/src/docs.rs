//! Typed, lenient models of the documents Velero writes for a backup and a restore.
//!
//! * Reading is lenient: every field is optional, `null` is accepted wherever a list or map is
//!   expected, and unknown fields are kept in `extra` and written back (sorted, after the known
//!   fields).
//! * Writing follows Velero's Go structs: fields in declaration order (`kind` before
//!   `apiVersion`), empty optional fields omitted as `omitempty` does, maps sorted, HTML-escaped.
//!   `velero-backup.json` is pretty JSON without a trailing newline ([`Backup::to_json`]); the
//!   sidecars are compact JSON plus `\n`, gzip'd ([`encode_sidecar`] and the `encode_*` helpers,
//!   which also apply the `null` vs `[]` conventions of empty sidecars).
//! * Items of pod volume backups, native and CSI snapshots stay raw [`Value`]s.
//!
//! Field names of the models are Velero's JSON keys in snake case; their meaning is documented in
//! `velero-format.md` §1.5 and §3 and in Velero's Go types, so fields carry no doc comments.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::gojson::{self, serialize_extra};
use crate::json;
use crate::velero::{is_zero, nd};
use crate::writer::hex;
use crate::{Error, Result};

/// Largest decompressed sidecar accepted by [`decode_sidecar`].
pub const MAX_SIDECAR_SIZE: u64 = 256 << 20;
/// Largest compressed sidecar a caller needs to fetch (refuse larger objects before reading
/// them): gzip grows incompressible data by a few bytes per 64 KiB block at most, so any
/// sidecar within [`MAX_SIDECAR_SIZE`] decompressed is within this.
pub const MAX_SIDECAR_FILE_SIZE: u64 = MAX_SIDECAR_SIZE + MAX_SIDECAR_SIZE / 64;
/// Largest `velero-backup.json` accepted: a Backup object is stored in etcd (1.5 MiB request
/// limit), and its pretty-printed file is at most a few times that.
pub const MAX_BACKUP_JSON_SIZE: u64 = 16 << 20;
/// Largest tree `velero-backup.json` may become, as estimated before decoding.
pub const MAX_BACKUP_TREE_BYTES: u64 = 256 << 20;
/// Largest tree a sidecar may become, as estimated by
/// [`json::scan`] before decoding (see [`json::tree_cost`]).
pub const MAX_DOCUMENT_TREE_BYTES: u64 = 1 << 30;

/// Read all of `input`, refusing more than `limit` bytes ([`Error::DocumentTooLarge`]) without
/// holding more than `limit + 1` of them.
pub fn read_limited<R: std::io::Read>(input: R, limit: u64, document: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| Error::Read { source })?;
    if out.len() as u64 > limit {
        return Err(Error::DocumentTooLarge {
            document: crate::error::shorten(document),
            limit,
        });
    }
    Ok(out)
}

type Extra = Map<String, Value>;
type StringMap = BTreeMap<String, String>;

/// Format a timestamp as Kubernetes does (RFC 3339, UTC, whole seconds).
pub fn k8s_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Format whole seconds as a Go duration string (`720h0m0s`, `10m0s`, `30s`).
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Velero's label-value shortening (`pkg/label/label.go`): values of at most 63 characters are
/// kept; longer ones become their first 57 characters plus the first 6 hex digits of the SHA-256 of
/// the full value.
pub fn shorten_label_value(value: &str) -> String {
    if value.len() <= 63 {
        return value.to_owned();
    }
    let digest = hex(&Sha256::digest(value.as_bytes()));
    // Velero slices bytes; label values are ASCII in practice. Stay on a char boundary.
    let mut cut = 57;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", &value[..cut], &digest[..6])
}

// ---------------------------------------------------------------------------------------------
// Kubernetes metadata and the Backup object (defined in `crate::velero`, re-exported here)
// ---------------------------------------------------------------------------------------------

pub use crate::velero::backup::{
    Backup, BackupHooks, BackupProgress, BackupResourceHook, BackupResourceHookSpec, BackupSpec,
    BackupSpecMetadata, BackupStatus, ExecHook, HookStatus,
};
pub use crate::velero::meta::{
    LabelSelector, LabelSelectorRequirement, ManagedFieldsEntry, ObjectMeta, OwnerReference,
};

/// Inputs of [`Backup::new_completed`], filled by the backup engine.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupParams {
    /// Backup name (= the `backups/<name>/` directory).
    pub name: String,
    /// Velero namespace (`velero`).
    pub namespace: String,
    /// BSL name.
    pub storage_location: String,
    /// `velero.io/source-cluster-k8s-gitversion`, e.g. `v1.33.7`.
    pub k8s_git_version: String,
    /// Major version, e.g. `1`.
    pub k8s_major: String,
    /// Minor version, e.g. `33`.
    pub k8s_minor: String,
    /// Effective filters (copied to the spec).
    pub included_namespaces: Vec<String>,
    /// Excluded namespaces.
    pub excluded_namespaces: Vec<String>,
    /// Old-style included resources.
    pub included_resources: Vec<String>,
    /// Old-style excluded resources.
    pub excluded_resources: Vec<String>,
    /// Old-style cluster-resource switch.
    pub include_cluster_resources: Option<bool>,
    /// Label selector.
    pub label_selector: Option<LabelSelector>,
    /// Time to live, seconds.
    pub ttl_secs: u64,
    /// When the backup was prepared/started.
    pub started: DateTime<Utc>,
    /// When it finished.
    pub completed: DateTime<Utc>,
    /// Terminal phase: `Completed`, `PartiallyFailed` or `Failed`.
    pub phase: String,
    /// Distinct items backed up.
    pub items: i64,
    /// Warning count.
    pub warnings: i64,
    /// Error count.
    pub errors: i64,
}

impl Default for BackupParams {
    fn default() -> Self {
        BackupParams {
            name: String::new(),
            namespace: "velero".into(),
            storage_location: "default".into(),
            k8s_git_version: String::new(),
            k8s_major: String::new(),
            k8s_minor: String::new(),
            included_namespaces: vec!["*".into()],
            excluded_namespaces: Vec::new(),
            included_resources: Vec::new(),
            excluded_resources: Vec::new(),
            include_cluster_resources: None,
            label_selector: None,
            ttl_secs: 720 * 3600,
            started: DateTime::<Utc>::UNIX_EPOCH,
            completed: DateTime::<Utc>::UNIX_EPOCH,
            phase: "Completed".into(),
            items: 0,
            warnings: 0,
            errors: 0,
        }
    }
}

impl Backup {
    /// A terminal Backup as Velero v1.18 would leave it, from the engine's results.
    pub fn new_completed(p: &BackupParams) -> Backup {
        let mut labels = StringMap::new();
        labels.insert(
            "velero.io/storage-location".into(),
            shorten_label_value(&p.storage_location),
        );
        let mut annotations = StringMap::new();
        annotations.insert("velero.io/resource-timeout".into(), "10m0s".into());
        for (k, v) in [
            ("gitversion", &p.k8s_git_version),
            ("major-version", &p.k8s_major),
            ("minor-version", &p.k8s_minor),
        ] {
            if !v.is_empty() {
                annotations.insert(format!("velero.io/source-cluster-k8s-{k}"), v.clone());
            }
        }
        let old_style = !p.included_resources.is_empty()
            || !p.excluded_resources.is_empty()
            || p.include_cluster_resources.is_some();
        let mut spec = BackupSpec {
            included_namespaces: p.included_namespaces.clone(),
            excluded_namespaces: p.excluded_namespaces.clone(),
            included_resources: p.included_resources.clone(),
            excluded_resources: p.excluded_resources.clone(),
            label_selector: p.label_selector.clone(),
            ttl: Some(go_duration(p.ttl_secs)),
            volume_group_snapshot_label_key: "velero.io/volume-group".into(),
            include_cluster_resources: p.include_cluster_resources,
            storage_location: p.storage_location.clone(),
            default_volumes_to_fs_backup: Some(false),
            csi_snapshot_timeout: Some("10m0s".into()),
            item_operation_timeout: Some("4h0m0s".into()),
            snapshot_move_data: Some(false),
            ..BackupSpec::default()
        };
        if old_style {
            for r in [
                "volumesnapshots.snapshot.storage.k8s.io",
                "volumesnapshotcontents.snapshot.storage.k8s.io",
            ] {
                if !spec.excluded_resources.iter().any(|x| x == r) {
                    spec.excluded_resources.push(r.into());
                }
            }
        } else {
            spec.excluded_cluster_scoped_resources =
                vec!["volumesnapshotcontents.snapshot.storage.k8s.io".into()];
            spec.excluded_namespace_scoped_resources = vec!["volumesnapshots.snapshot.storage.k8s.io".into()];
        }
        let expiration =
            p.started + chrono::Duration::seconds(i64::try_from(p.ttl_secs).unwrap_or(i64::MAX / 2));
        Backup {
            kind: "Backup".into(),
            api_version: "velero.io/v1".into(),
            metadata: ObjectMeta {
                name: p.name.clone(),
                namespace: p.namespace.clone(),
                generation: 1,
                creation_timestamp: Some(k8s_time(p.started)),
                labels,
                annotations,
                ..ObjectMeta::default()
            },
            spec,
            status: BackupStatus {
                version: 1,
                format_version: "1.1.0".into(),
                expiration: Some(k8s_time(expiration)),
                phase: p.phase.clone(),
                start_timestamp: Some(k8s_time(p.started)),
                completion_timestamp: Some(k8s_time(p.completed)),
                warnings: p.warnings,
                errors: p.errors,
                progress: Some(BackupProgress {
                    total_items: p.items,
                    items_backed_up: p.items,
                    extra: Extra::new(),
                }),
                hook_status: Some(HookStatus::default()),
                ..BackupStatus::default()
            },
            extra: Extra::new(),
        }
    }

    /// Parse `velero-backup.json`. Lenient about fields; requires a JSON object. Refuses more
    /// than [`MAX_BACKUP_JSON_SIZE`] bytes, or text whose tree would exceed
    /// [`MAX_BACKUP_TREE_BYTES`], before building anything.
    pub fn from_json(data: &[u8]) -> Result<Backup> {
        const DOC: &str = "velero-backup.json";
        if data.len() as u64 > MAX_BACKUP_JSON_SIZE {
            return Err(Error::DocumentTooLarge {
                document: DOC.into(),
                limit: MAX_BACKUP_JSON_SIZE,
            });
        }
        json::from_slice_bounded(data, DOC, MAX_BACKUP_TREE_BYTES)
    }

    /// [`Backup::from_json`] of at most [`MAX_BACKUP_JSON_SIZE`] bytes read from `input`.
    pub fn from_reader<R: std::io::Read>(input: R) -> Result<Backup> {
        Backup::from_json(&read_limited(input, MAX_BACKUP_JSON_SIZE, "velero-backup.json")?)
    }

    /// Whether `kind`/`apiVersion` are what Velero's sync requires (`Backup`, `velero.io/v1`).
    pub fn has_velero_type(&self) -> bool {
        self.kind == "Backup" && self.api_version == "velero.io/v1"
    }

    /// Encode as Velero writes `velero-backup.json`: pretty, no trailing newline.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        gojson::to_vec_pretty(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Sidecars
// ---------------------------------------------------------------------------------------------

/// `<b>-resource-list.json.gz`: `{"<apiVersion>/<Kind>": ["ns/name" | "name", …]}`; also the
/// restore resource list (`"ns/name(created)"`).
pub type ResourceList = BTreeMap<String, Vec<String>>;

/// `{"errors": …, "warnings": …}` of `<b>-results.gz` and `restore-<r>-results.gz`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Results {
    /// Errors.
    #[serde(deserialize_with = "nd")]
    pub errors: ResultSet,
    /// Warnings.
    #[serde(deserialize_with = "nd")]
    pub warnings: ResultSet,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// Velero's `Result`: messages by scope, empty parts omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResultSet {
    /// Velero-level messages.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
    pub velero: Vec<String>,
    /// Cluster-scoped messages.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
    pub cluster: Vec<String>,
    /// Messages per namespace.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
    pub namespaces: BTreeMap<String, Vec<String>>,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

impl ResultSet {
    /// Whether no message is recorded.
    pub fn is_empty(&self) -> bool {
        self.velero.is_empty() && self.cluster.is_empty() && self.namespaces.values().all(Vec::is_empty)
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.velero.len() + self.cluster.len() + self.namespaces.values().map(Vec::len).sum::<usize>()
    }
}

/// `velero.ResourceIdentifier` — note the capitalised keys (no JSON tags in Go).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceIdentifier {
    /// API group (empty for core).
    #[serde(rename = "Group", deserialize_with = "nd")]
    pub group: String,
    /// Resource (plural).
    #[serde(rename = "Resource", deserialize_with = "nd")]
    pub resource: String,
    /// Namespace (empty for cluster-scoped).
    #[serde(rename = "Namespace", deserialize_with = "nd")]
    pub namespace: String,
    /// Name.
    #[serde(rename = "Name", deserialize_with = "nd")]
    pub name: String,
}

/// One entry of `<b>-itemoperations.json.gz` (or `restore-<r>-itemoperations.json.gz`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemOperation {
    /// Spec.
    #[serde(deserialize_with = "nd")]
    pub spec: ItemOperationSpec,
    /// Status.
    #[serde(deserialize_with = "nd")]
    pub status: ItemOperationStatus,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// Operation spec; backup operations carry the `backup*` fields, restore ones the `restore*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ItemOperationSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_name: Option<String>,
    #[serde(rename = "backupUID", skip_serializing_if = "Option::is_none")]
    pub backup_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_item_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_name: Option<String>,
    #[serde(rename = "restoreUID", skip_serializing_if = "Option::is_none")]
    pub restore_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_item_action: Option<String>,
    #[serde(deserialize_with = "nd")]
    pub resource_identifier: ResourceIdentifier,
    #[serde(rename = "operationID", deserialize_with = "nd")]
    pub operation_id: String,
    /// `null` when empty, as Go writes a nil slice.
    pub post_operation_items: Option<Vec<ResourceIdentifier>>,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// Operation status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ItemOperationStatus {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub phase: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub error: String,
    #[serde(
        rename = "nCompleted",
        skip_serializing_if = "is_zero",
        deserialize_with = "nd"
    )]
    pub n_completed: i64,
    #[serde(rename = "nTotal", skip_serializing_if = "is_zero", deserialize_with = "nd")]
    pub n_total: i64,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub operation_units: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// One entry of `<b>-volumeinfo.json.gz` (`BackupVolumeInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VolumeInfo {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub pvc_name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub pvc_namespace: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub pv_name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub backup_method: String,
    #[serde(deserialize_with = "nd")]
    pub snapshot_data_moved: bool,
    #[serde(deserialize_with = "nd")]
    pub preserve_local_snapshot: bool,
    #[serde(deserialize_with = "nd")]
    pub skipped: bool,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub skipped_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_timestamp: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csi_snapshot_info: Option<CsiSnapshotInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_data_movement_info: Option<SnapshotDataMovementInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_snapshot_info: Option<NativeSnapshotInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pvb_info: Option<PodVolumeInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pv_info: Option<PvInfo>,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// `csiSnapshotInfo` (note `ReadyToUse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CsiSnapshotInfo {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub snapshot_handle: String,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
    pub size: i64,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub driver: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub vsc_name: String,
    #[serde(
        rename = "operationID",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nd"
    )]
    pub operation_id: String,
    #[serde(rename = "ReadyToUse", skip_serializing_if = "Option::is_none")]
    pub ready_to_use: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub volume_group_snapshot_handle: String,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// `snapshotDataMovementInfo` (note `Phase`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SnapshotDataMovementInfo {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub data_mover: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub uploader_type: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub retained_snapshot: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub snapshot_handle: String,
    #[serde(
        rename = "operationID",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nd"
    )]
    pub operation_id: String,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
    pub size: i64,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
    pub incremental_size: i64,
    #[serde(
        rename = "Phase",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nd"
    )]
    pub phase: String,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// `nativeSnapshotInfo` (note `Phase`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NativeSnapshotInfo {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub snapshot_handle: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub volume_type: String,
    #[serde(
        rename = "volumeAZ",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nd"
    )]
    pub volume_az: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub iops: String,
    #[serde(
        rename = "Phase",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nd"
    )]
    pub phase: String,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// `pvbInfo` (note `Phase`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodVolumeInfo {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub snapshot_handle: String,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
    pub size: i64,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
    pub incremental_size: i64,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub uploader_type: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub volume_name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub pod_name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub pod_namespace: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub node_name: String,
    #[serde(
        rename = "Phase",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nd"
    )]
    pub phase: String,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// `pvInfo`; `labels` is written as `null` when absent, as Go writes a nil map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PvInfo {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub reclaim_policy: String,
    pub labels: Option<StringMap>,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// Decode a gzip'd JSON sidecar (at most [`MAX_SIDECAR_SIZE`] bytes decompressed); `null`
/// decodes as the type's default (empty list).
pub fn decode_sidecar<T: DeserializeOwned + Default>(gz: &[u8], document: &str) -> Result<T> {
    let raw = gojson::gunzip(gz, MAX_SIDECAR_SIZE).map_err(|e| match e {
        Error::DecompressedTooLarge { limit } => Error::DocumentTooLarge {
            document: crate::error::shorten(document),
            limit,
        },
        other => other,
    })?;
    decode_json(&raw, document)
}

/// Decode an uncompressed JSON document; `null` decodes as the type's default. Text whose tree
/// would exceed [`MAX_DOCUMENT_TREE_BYTES`] is refused before decoding.
pub fn decode_json<T: DeserializeOwned + Default>(raw: &[u8], document: &str) -> Result<T> {
    let v: Option<T> = json::from_slice_bounded(raw, document, MAX_DOCUMENT_TREE_BYTES)?;
    Ok(v.unwrap_or_default())
}

/// Encode a sidecar: compact Go JSON + `\n`, gzip'd.
pub fn encode_sidecar<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    gojson::gzip_sidecar_of(v)
}

fn encode_list_or_null<T: Serialize>(items: &[T], empty_is_null: bool) -> Result<Vec<u8>> {
    if items.is_empty() && empty_is_null {
        Ok(gojson::gzip_sidecar(b"null\n"))
    } else {
        encode_sidecar(items)
    }
}

/// `<b>-resource-list.json.gz`: a [`ResourceList`], or anything that serializes as the same map
/// of sorted key lists.
pub fn encode_resource_list<T: Serialize + ?Sized>(list: &T) -> Result<Vec<u8>> {
    encode_sidecar(list)
}

/// `<b>-results.gz`; empty is `{"errors":{},"warnings":{}}\n`.
pub fn encode_results(results: &Results) -> Result<Vec<u8>> {
    encode_sidecar(results)
}

/// `<b>-volumesnapshots.json.gz`; empty is `null\n`.
pub fn encode_volume_snapshots(items: &[Value]) -> Result<Vec<u8>> {
    let sorted: Vec<gojson::Sorted<'_>> = items.iter().map(gojson::Sorted).collect();
    encode_list_or_null(&sorted, true)
}

/// `<b>-podvolumebackups.json.gz`; empty is `null\n`.
pub fn encode_pod_volume_backups(items: &[Value]) -> Result<Vec<u8>> {
    let sorted: Vec<gojson::Sorted<'_>> = items.iter().map(gojson::Sorted).collect();
    encode_list_or_null(&sorted, true)
}

/// `<b>-itemoperations.json.gz`; empty is `[]\n`.
pub fn encode_item_operations(items: &[ItemOperation]) -> Result<Vec<u8>> {
    encode_list_or_null(items, false)
}

/// `<b>-volumeinfo.json.gz`; empty is `[]\n`.
pub fn encode_volume_info(items: &[VolumeInfo]) -> Result<Vec<u8>> {
    encode_list_or_null(items, false)
}

// ---------------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------------

/// The identifying fields of a Kubernetes item, parsed without building the whole document (the
/// rest of the JSON is still fully checked): see [`ItemHead::parse`] and [`json::check_item`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ItemHead {
    #[serde(deserialize_with = "nd")]
    pub api_version: String,
    #[serde(deserialize_with = "nd")]
    pub kind: String,
    #[serde(deserialize_with = "nd")]
    pub metadata: ItemHeadMeta,
}

/// `metadata.name` / `metadata.namespace` of an [`ItemHead`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ItemHeadMeta {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub namespace: String,
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// Log level of a [`LogWriter`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warning` (logrus spelling).
    Warning,
    /// `error`.
    Error,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        }
    }
}

/// Builds `<b>-logs.gz` / `restore-<r>-logs.gz`: logrus text-formatter lines, gzip'd.
///
/// ```text
/// time="2026-05-20T10:00:02Z" level=info msg="Backing up item" backup=velero/b1 logSource="pkg/backup/item_backupper.go:180" name=web
/// ```
#[derive(Debug)]
pub struct LogWriter {
    subject_key: String,
    subject: String,
    enc: flate2::write::GzEncoder<Vec<u8>>,
    lines: u64,
}

/// logrus' `needsQuoting`.
fn logrus_value(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/' | '@' | '^' | '+'));
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl LogWriter {
    /// A log for `subject_key=subject`, e.g. `("backup", "velero/b1")`.
    pub fn new(subject_key: &str, subject: &str) -> Self {
        LogWriter {
            subject_key: subject_key.to_owned(),
            subject: subject.to_owned(),
            enc: gojson::gz_writer(Vec::new(), flate2::Compression::new(6)),
            lines: 0,
        }
    }

    /// Append one line. Extra fields are sorted by key together with the subject and
    /// `logSource`, as logrus' text formatter does.
    pub fn log(
        &mut self,
        time: DateTime<Utc>,
        level: LogLevel,
        msg: &str,
        source: &str,
        fields: &[(&str, &str)],
    ) {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push((self.subject_key.as_str(), self.subject.as_str()));
        if !source.is_empty() {
            all.push(("logSource", source));
        }
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut line = format!(
            "time={} level={} msg={}",
            logrus_value(&k8s_time(time)),
            level.as_str(),
            logrus_value(msg)
        );
        for (k, v) in all {
            line.push(' ');
            line.push_str(k);
            line.push('=');
            line.push_str(&logrus_value(v));
        }
        line.push('\n');
        // Writing to a Vec-backed encoder cannot fail.
        self.enc.write_all(line.as_bytes()).expect("write to Vec");
        self.lines += 1;
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The gzip'd log.
    pub fn finish(self) -> Vec<u8> {
        self.enc.finish().expect("finish into Vec")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn item_head() {
        let h = ItemHead::parse(br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"b","labels":{"x":"y"}},"spec":{}}"#, "p").unwrap();
        assert_eq!((h.api_version.as_str(), h.kind.as_str()), ("v1", "Pod"));
        assert_eq!(
            (h.metadata.name.as_str(), h.metadata.namespace.as_str()),
            ("a", "b")
        );
        assert!(
            matches!(ItemHead::parse(br#"{"kind":"Pod","spec":{"#, "p"), Err(Error::InvalidJson { document, .. }) if document == "p")
        );
    }

    #[test]
    fn label_shortening() {
        assert_eq!(shorten_label_value("default"), "default");
        let long = "a".repeat(64);
        let s = shorten_label_value(&long);
        assert_eq!(s.len(), 63);
        assert!(s.starts_with(&"a".repeat(57)));
        assert_eq!(&s[57..], &hex(&Sha256::digest(long.as_bytes()))[..6]);
        assert_eq!(shorten_label_value(&"b".repeat(63)), "b".repeat(63));
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration(720 * 3600), "720h0m0s");
        assert_eq!(go_duration(600), "10m0s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(0), "0s");
    }

    #[test]
    fn empty_sidecar_conventions() {
        let g = |b: Vec<u8>| String::from_utf8(gojson::gunzip(&b, 1000).unwrap()).unwrap();
        assert_eq!(g(encode_volume_snapshots(&[]).unwrap()), "null\n");
        assert_eq!(g(encode_pod_volume_backups(&[]).unwrap()), "null\n");
        assert_eq!(g(encode_item_operations(&[]).unwrap()), "[]\n");
        assert_eq!(g(encode_volume_info(&[]).unwrap()), "[]\n");
        assert_eq!(
            g(encode_results(&Results::default()).unwrap()),
            "{\"errors\":{},\"warnings\":{}}\n"
        );
        // Readers take null and [] alike.
        let a: Vec<VolumeInfo> = decode_json(b"null\n", "x").unwrap();
        let b: Vec<VolumeInfo> = decode_json(b"[]\n", "x").unwrap();
        assert_eq!(a, b);
        assert!(matches!(
            decode_json::<Results>(b"{nope", "r"),
            Err(Error::Json { .. })
        ));
    }

    #[test]
    fn item_operation_shape() {
        let raw = r#"{"spec":{"backupName":"b1","backupUID":"u","backupItemAction":"velero.io/csi-pvc-backupper","resourceIdentifier":{"Group":"","Resource":"persistentvolumeclaims","Namespace":"app","Name":"data"},"operationID":"op","postOperationItems":null},"status":{"phase":"Completed","created":"2026-05-20T10:00:03Z","updated":"2026-05-20T10:01:00Z"}}"#;
        let op: ItemOperation = serde_json::from_str(raw).unwrap();
        assert_eq!(op.spec.resource_identifier.resource, "persistentvolumeclaims");
        assert_eq!(
            String::from_utf8(gojson::to_vec_typed(&op).unwrap()).unwrap(),
            raw
        );
    }

    #[test]
    fn volume_info_shape() {
        let raw = r#"{"pvcName":"data-db-0","pvcNamespace":"app","pvName":"pvc-1","snapshotDataMoved":false,"preserveLocalSnapshot":false,"skipped":true,"skippedReason":"volumeSnapshot: no applicable volumesnapshotter found;","csiSnapshotInfo":{"snapshotHandle":"h","driver":"d","ReadyToUse":true},"pvInfo":{"reclaimPolicy":"Delete","labels":null}}"#;
        let v: VolumeInfo = serde_json::from_str(raw).unwrap();
        assert_eq!(v.csi_snapshot_info.as_ref().unwrap().ready_to_use, Some(true));
        assert_eq!(String::from_utf8(gojson::to_vec_typed(&v).unwrap()).unwrap(), raw);
    }

    #[test]
    fn unknown_fields_survive() {
        let raw = br#"{"kind":"Backup","apiVersion":"velero.io/v1","metadata":{"name":"b","zzz":{"b":1,"a":2}},"spec":{"futureField":[1]},"status":{"phase":"Completed","newCounter":3},"topLevel":true}"#;
        let b = Backup::from_json(raw).unwrap();
        assert_eq!(b.metadata.extra["zzz"]["a"], 2);
        let out = gojson::to_vec_typed(&b).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"kind":"Backup","apiVersion":"velero.io/v1","metadata":{"name":"b","creationTimestamp":null,"zzz":{"a":2,"b":1}},"spec":{"metadata":{},"hooks":{},"futureField":[1]},"status":{"phase":"Completed","newCounter":3},"topLevel":true}"#
        );
    }

    #[test]
    fn new_completed_matches_spec_example_shape() {
        let t0 = Utc.with_ymd_and_hms(2026, 5, 20, 10, 0, 1).unwrap();
        let b = Backup::new_completed(&BackupParams {
            name: "app-backup".into(),
            k8s_git_version: "v1.33.7".into(),
            k8s_major: "1".into(),
            k8s_minor: "33".into(),
            included_namespaces: vec!["app".into()],
            started: t0,
            completed: t0 + chrono::Duration::seconds(8),
            items: 42,
            ..BackupParams::default()
        });
        let s = String::from_utf8(b.to_json().unwrap()).unwrap();
        assert!(s.starts_with("{\n  \"kind\": \"Backup\",\n  \"apiVersion\": \"velero.io/v1\",\n"));
        assert!(!s.ends_with('\n'));
        assert!(s.contains("\"expiration\": \"2026-06-19T10:00:01Z\""));
        assert!(s.contains("\"progress\": {\n      \"totalItems\": 42,\n      \"itemsBackedUp\": 42\n    },\n    \"hookStatus\": {}\n  }\n}"));
        assert!(s.contains("\"excludedClusterScopedResources\": [\n      \"volumesnapshotcontents.snapshot.storage.k8s.io\"\n    ]"));
        let back = Backup::from_json(s.as_bytes()).unwrap();
        assert_eq!(back, b);
        assert!(back.has_velero_type());
    }

    #[test]
    fn log_lines_like_logrus() {
        let mut w = LogWriter::new("backup", "velero/b1");
        let t = Utc.with_ymd_and_hms(2026, 5, 20, 10, 0, 2).unwrap();
        w.log(
            t,
            LogLevel::Info,
            "Backing up item",
            "pkg/backup/item_backupper.go:180",
            &[
                ("resource", "deployments.apps"),
                ("namespace", "app"),
                ("name", "web"),
            ],
        );
        let text = String::from_utf8(gojson::gunzip(&w.finish(), 10_000).unwrap()).unwrap();
        assert_eq!(
            text,
            "time=\"2026-05-20T10:00:02Z\" level=info msg=\"Backing up item\" backup=velero/b1 logSource=\"pkg/backup/item_backupper.go:180\" name=web namespace=app resource=deployments.apps\n"
        );
    }
}
