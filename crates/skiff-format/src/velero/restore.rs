//! `velero.io/v1` Restore.
#![allow(missing_docs)]

use serde_json::Value;

use super::backup::HookStatus;
use super::prelude::*;

/// Restore phases (`status.phase`).
pub const RESTORE_PHASES: &[&str] = &[
    "New",
    "FailedValidation",
    "InProgress",
    "WaitingForPluginOperations",
    "WaitingForPluginOperationsPartiallyFailed",
    "Completed",
    "PartiallyFailed",
    "Failed",
    "Finalizing",
    "FinalizingPartiallyFailed",
];

velero_struct! {
    /// `velero.io/v1` Restore.
    pub struct Restore {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: RestoreSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: RestoreStatus = "status",
    }
}

impl VeleroKind for Restore {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "Restore",
        plural: "restores",
        singular: "restore",
        short_names: &[],
        printer_columns: &[],
        empty_subresources: false,
    };
}

velero_struct! {
    /// `RestoreSpec`, fields in Go order.
    pub struct RestoreSpec {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub backup_name: String = "backupName",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub schedule_name: String = "scheduleName",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_namespaces: Vec<String> = "includedNamespaces" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_namespaces: Vec<String> = "excludedNamespaces" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_resources: Vec<String> = "includedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_resources: Vec<String> = "excludedResources" [.nullable()],
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub namespace_mapping: StringMap = "namespaceMapping",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub label_selector: Option<LabelSelector> = "labelSelector" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub or_label_selectors: Vec<LabelSelector> = "orLabelSelectors" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub restore_pvs: Option<bool> = "restorePVs" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub restore_status: Option<RestoreStatusSpec> = "restoreStatus" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub preserve_node_ports: Option<bool> = "preserveNodePorts" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub include_cluster_resources: Option<bool> = "includeClusterResources" [.nullable()],
        /// Always written (`{}` when empty).
        #[serde(deserialize_with = "nd")]
        pub hooks: RestoreHooks = "hooks",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub existing_resource_policy: String = "existingResourcePolicy" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub item_operation_timeout: Option<String> = "itemOperationTimeout",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub resource_modifier: Option<TypedLocalObjectReference> = "resourceModifier" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub uploader_config: Option<UploaderConfigForRestore> = "uploaderConfig" [.nullable()],
    }
}

velero_struct! {
    /// `spec.uploaderConfig`.
    pub struct UploaderConfigForRestore {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub write_sparse_files: Option<bool> = "writeSparseFiles" [.nullable()],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub parallel_files_download: i64 = "parallelFilesDownload",
    }
}

velero_struct! {
    /// `spec.restoreStatus`.
    pub struct RestoreStatusSpec {
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub included_resources: Vec<String> = "includedResources" [.nullable()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub excluded_resources: Vec<String> = "excludedResources" [.nullable()],
    }
}

velero_struct! {
    /// `spec.hooks`.
    pub struct RestoreHooks {
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub resources: Vec<RestoreResourceHookSpec> = "resources",
    }
}

velero_struct! {
    /// One entry of `spec.hooks.resources`.
    pub struct RestoreResourceHookSpec [.required(&["name"])] {
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
        pub post_hooks: Vec<RestoreResourceHook> = "postHooks",
    }
}

velero_struct! {
    /// A post-restore hook: exec in a container, or init containers added to the pod.
    pub struct RestoreResourceHook {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub exec: Option<ExecRestoreHook> = "exec",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub init: Option<InitRestoreHook> = "init",
    }
}

velero_struct! {
    /// An exec restore hook.
    pub struct ExecRestoreHook [.required(&["command"])] {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub container: String = "container",
        #[serde(deserialize_with = "nd")]
        pub command: Vec<String> = "command" [.min_items(1)],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub on_error: String = "onError" [.one_of(HOOK_ERROR_MODES)],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub exec_timeout: Option<String> = "execTimeout",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub wait_timeout: Option<String> = "waitTimeout",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub wait_for_ready: Option<bool> = "waitForReady" [.nullable()],
    }
}

velero_struct! {
    /// An init-container restore hook; the containers are kept as written
    /// (`x-kubernetes-preserve-unknown-fields`, as in Velero's CRD).
    pub struct InitRestoreHook {
        #[serde(deserialize_with = "nd", serialize_with = "crate::gojson::serialize_sorted_vec")]
        pub init_containers: Vec<Value> = "initContainers" [.preserve_unknown()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub timeout: Option<String> = "timeout",
    }
}

velero_struct! {
    /// `RestoreStatus`, fields in Go order, zero values omitted.
    pub struct RestoreStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(RESTORE_PHASES)],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub validation_errors: Vec<String> = "validationErrors" [.nullable()],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub warnings: i64 = "warnings",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub errors: i64 = "errors",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub failure_reason: String = "failureReason",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub start_timestamp: Option<String> = "startTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub completion_timestamp: Option<String> = "completionTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub progress: Option<RestoreProgress> = "progress" [.nullable()],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub restore_item_operations_attempted: i64 = "restoreItemOperationsAttempted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub restore_item_operations_completed: i64 = "restoreItemOperationsCompleted",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub restore_item_operations_failed: i64 = "restoreItemOperationsFailed",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub hook_status: Option<HookStatus> = "hookStatus" [.nullable()],
    }
}

velero_struct! {
    /// `status.progress`.
    pub struct RestoreProgress {
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub total_items: i64 = "totalItems",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub items_restored: i64 = "itemsRestored",
    }
}
