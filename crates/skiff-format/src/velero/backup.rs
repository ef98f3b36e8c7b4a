//! `velero.io/v1` Backup — also the content of `velero-backup.json` (see [`crate::docs`] for
//! reading and writing that document).
#![allow(missing_docs)]

use super::prelude::*;

/// Backup phases (`status.phase`).
pub const BACKUP_PHASES: &[&str] = &[
    "New",
    "Queued",
    "ReadyToStart",
    "FailedValidation",
    "InProgress",
    "WaitingForPluginOperations",
    "WaitingForPluginOperationsPartiallyFailed",
    "Finalizing",
    "FinalizingPartiallyFailed",
    "Completed",
    "PartiallyFailed",
    "Failed",
    "Deleting",
];

velero_struct! {
    /// `velero.io/v1` Backup, as stored in `velero-backup.json` and in the cluster.
    pub struct Backup {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: BackupSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: BackupStatus = "status",
    }
}

impl VeleroKind for Backup {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "Backup",
        plural: "backups",
        singular: "backup",
        short_names: &[],
        printer_columns: &[],
        empty_subresources: false,
    };
}

velero_struct! {
    /// `BackupSpec` (§3.3), fields in Go order; also a Schedule's `template`.
    pub struct BackupSpec {
        /// Labels for snapshot objects; always written (`{}` when empty).
        #[serde(deserialize_with = "nd")]
        pub metadata: BackupSpecMetadata = "metadata",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_namespaces: Vec<String> = "includedNamespaces" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_namespaces: Vec<String> = "excludedNamespaces" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_resources: Vec<String> = "includedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_resources: Vec<String> = "excludedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_cluster_scoped_resources: Vec<String> = "includedClusterScopedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_cluster_scoped_resources: Vec<String> = "excludedClusterScopedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_namespace_scoped_resources: Vec<String> = "includedNamespaceScopedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_namespace_scoped_resources: Vec<String> = "excludedNamespaceScopedResources" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub label_selector: Option<LabelSelector> = "labelSelector" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub or_label_selectors: Vec<LabelSelector> = "orLabelSelectors" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub snapshot_volumes: Option<bool> = "snapshotVolumes" [.nullable()],
        /// Go duration string, e.g. `720h0m0s`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ttl: Option<String> = "ttl",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub volume_group_snapshot_label_key: String = "volumeGroupSnapshotLabelKey",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub include_cluster_resources: Option<bool> = "includeClusterResources" [.nullable()],
        /// Always written (`{}` when empty).
        #[serde(deserialize_with = "nd")]
        pub hooks: BackupHooks = "hooks",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub storage_location: String = "storageLocation",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub volume_snapshot_locations: Vec<String> = "volumeSnapshotLocations",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub default_volumes_to_restic: Option<bool> = "defaultVolumesToRestic" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub default_volumes_to_fs_backup: Option<bool> = "defaultVolumesToFsBackup" [.nullable()],
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub ordered_resources: StringMap = "orderedResources" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub csi_snapshot_timeout: Option<String> = "csiSnapshotTimeout",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub item_operation_timeout: Option<String> = "itemOperationTimeout",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub resource_policy: Option<TypedLocalObjectReference> = "resourcePolicy",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub snapshot_move_data: Option<bool> = "snapshotMoveData" [.nullable()],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub datamover: String = "datamover",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub uploader_config: Option<UploaderConfigForBackup> = "uploaderConfig" [.nullable()],
    }
}

velero_struct! {
    /// `spec.metadata`.
    pub struct BackupSpecMetadata {
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub labels: StringMap = "labels",
    }
}

velero_struct! {
    /// `spec.uploaderConfig`.
    pub struct UploaderConfigForBackup {
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub parallel_files_upload: i64 = "parallelFilesUpload",
    }
}

velero_struct! {
    /// `spec.hooks`.
    pub struct BackupHooks {
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub resources: Vec<BackupResourceHookSpec> = "resources" [.nullable()],
    }
}

velero_struct! {
    /// One entry of `spec.hooks.resources`.
    pub struct BackupResourceHookSpec [.required(&["name"])] {
        #[serde(deserialize_with = "nd")]
        pub name: String = "name",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_namespaces: Vec<String> = "includedNamespaces" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_namespaces: Vec<String> = "excludedNamespaces" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_resources: Vec<String> = "includedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_resources: Vec<String> = "excludedResources" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub label_selector: Option<LabelSelector> = "labelSelector" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub pre: Vec<BackupResourceHook> = "pre",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub post: Vec<BackupResourceHook> = "post",
    }
}

velero_struct! {
    /// A pre or post hook.
    pub struct BackupResourceHook [.required(&["exec"])] {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub exec: Option<ExecHook> = "exec",
    }
}

velero_struct! {
    /// An exec hook.
    pub struct ExecHook [.required(&["command"])] {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub container: String = "container",
        #[serde(deserialize_with = "nd")]
        pub command: Vec<String> = "command" [.min_items(1)],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub on_error: String = "onError" [.one_of(HOOK_ERROR_MODES)],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub timeout: Option<String> = "timeout",
    }
}

velero_struct! {
    /// `BackupStatus` (§3.4), fields in Go order, zero values omitted.
    pub struct BackupStatus {
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub version: i64 = "version",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub format_version: String = "formatVersion",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub expiration: Option<String> = "expiration" [.nullable().date_time()],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(BACKUP_PHASES)],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub queue_position: i64 = "queuePosition",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub validation_errors: Vec<String> = "validationErrors" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub start_timestamp: Option<String> = "startTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub completion_timestamp: Option<String> = "completionTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub volume_snapshots_attempted: i64 = "volumeSnapshotsAttempted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub volume_snapshots_completed: i64 = "volumeSnapshotsCompleted",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub failure_reason: String = "failureReason",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub warnings: i64 = "warnings",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub errors: i64 = "errors",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub progress: Option<BackupProgress> = "progress" [.nullable()],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub csi_volume_snapshots_attempted: i64 = "csiVolumeSnapshotsAttempted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub csi_volume_snapshots_completed: i64 = "csiVolumeSnapshotsCompleted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub backup_item_operations_attempted: i64 = "backupItemOperationsAttempted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub backup_item_operations_completed: i64 = "backupItemOperationsCompleted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub backup_item_operations_failed: i64 = "backupItemOperationsFailed",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub hook_status: Option<HookStatus> = "hookStatus" [.nullable()],
    }
}

velero_struct! {
    /// `status.progress`.
    pub struct BackupProgress {
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub total_items: i64 = "totalItems",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub items_backed_up: i64 = "itemsBackedUp",
    }
}

velero_struct! {
    /// `status.hookStatus` (also of a Restore).
    pub struct HookStatus {
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub hooks_attempted: i64 = "hooksAttempted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub hooks_failed: i64 = "hooksFailed",
    }
}
