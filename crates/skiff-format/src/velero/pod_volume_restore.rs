//! `velero.io/v1` `PodVolumeRestore`.
#![allow(missing_docs)]

use super::pod_volume_backup::DataMoveOperationProgress;
use super::prelude::*;

velero_struct! {
    /// `velero.io/v1` `PodVolumeRestore`: a file-system restore of one pod volume.
    pub struct PodVolumeRestore {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: PodVolumeRestoreSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: PodVolumeRestoreStatus = "status",
    }
}

impl VeleroKind for PodVolumeRestore {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "PodVolumeRestore",
        plural: "podvolumerestores",
        singular: "podvolumerestore",
        short_names: &[],
        printer_columns: &[
            PrinterColumn::new("Status", "string", ".status.phase"),
            PrinterColumn::new("Started", "date", ".status.startTimestamp"),
            PrinterColumn::int64("Bytes Done", ".status.progress.bytesDone"),
            PrinterColumn::int64("Total Bytes", ".status.progress.totalBytes"),
            PrinterColumn::new("Storage Location", "string", ".spec.backupStorageLocation"),
            AGE,
            PrinterColumn::new("Node", "string", ".status.node"),
            PrinterColumn::new("Uploader Type", "string", ".spec.uploaderType"),
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `PodVolumeRestoreSpec`.
    pub struct PodVolumeRestoreSpec [.required(&[
        "backupStorageLocation",
        "pod",
        "repoIdentifier",
        "snapshotID",
        "sourceNamespace",
        "volume",
    ])] {
        #[serde(deserialize_with = "nd")]
        pub pod: ObjectReference = "pod",
        #[serde(deserialize_with = "nd")]
        pub volume: String = "volume",
        #[serde(deserialize_with = "nd")]
        pub backup_storage_location: String = "backupStorageLocation",
        #[serde(deserialize_with = "nd")]
        pub repo_identifier: String = "repoIdentifier",
        #[serde(deserialize_with = "nd")]
        pub uploader_type: String = "uploaderType" [.one_of(UPLOADER_TYPES)],
        #[serde(deserialize_with = "nd")]
        pub snapshot_id: String = "snapshotID",
        #[serde(deserialize_with = "nd")]
        pub source_namespace: String = "sourceNamespace",
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub uploader_settings: StringMap = "uploaderSettings" [.nullable()],
        #[serde(skip_serializing_if = "is_false", deserialize_with = "nd")]
        pub cancel: bool = "cancel",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub snapshot_size: i64 = "snapshotSize" [.int64()],
    }
}

velero_struct! {
    /// `PodVolumeRestoreStatus`.
    pub struct PodVolumeRestoreStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(DATA_MOVE_PHASES)],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub message: String = "message",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub start_timestamp: Option<String> = "startTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub completion_timestamp: Option<String> = "completionTimestamp" [.nullable().date_time()],
        #[serde(deserialize_with = "nd")]
        pub progress: DataMoveOperationProgress = "progress",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub accepted_timestamp: Option<String> = "acceptedTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub node: String = "node",
    }
}
