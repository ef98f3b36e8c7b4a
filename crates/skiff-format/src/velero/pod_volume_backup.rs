//! `velero.io/v1` `PodVolumeBackup` (also the elements of `<b>-podvolumebackups.json.gz`).
#![allow(missing_docs)]

use super::prelude::*;

velero_struct! {
    /// `velero.io/v1` `PodVolumeBackup`: a file-system backup of one pod volume.
    pub struct PodVolumeBackup {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: PodVolumeBackupSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: PodVolumeBackupStatus = "status",
    }
}

impl VeleroKind for PodVolumeBackup {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "PodVolumeBackup",
        plural: "podvolumebackups",
        singular: "podvolumebackup",
        short_names: &[],
        printer_columns: &[
            PrinterColumn::new("Status", "string", ".status.phase"),
            PrinterColumn::new("Started", "date", ".status.startTimestamp"),
            PrinterColumn::int64("Bytes Done", ".status.progress.bytesDone"),
            PrinterColumn::int64("Total Bytes", ".status.progress.totalBytes"),
            PrinterColumn::int64("Incremental Bytes", ".status.incrementalBytes").with_priority(10),
            PrinterColumn::new("Storage Location", "string", ".spec.backupStorageLocation"),
            AGE,
            PrinterColumn::new("Node", "string", ".status.node"),
            PrinterColumn::new("Uploader", "string", ".spec.uploaderType"),
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `PodVolumeBackupSpec`.
    pub struct PodVolumeBackupSpec
        [.required(&["backupStorageLocation", "node", "pod", "repoIdentifier", "volume"])]
    {
        #[serde(deserialize_with = "nd")]
        pub node: String = "node",
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
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub tags: StringMap = "tags",
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub uploader_settings: StringMap = "uploaderSettings" [.nullable()],
        #[serde(skip_serializing_if = "is_false", deserialize_with = "nd")]
        pub cancel: bool = "cancel",
    }
}

velero_struct! {
    /// `PodVolumeBackupStatus`.
    pub struct PodVolumeBackupStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(DATA_MOVE_PHASES)],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub path: String = "path",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub snapshot_id: String = "snapshotID",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub message: String = "message",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub start_timestamp: Option<String> = "startTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub completion_timestamp: Option<String> = "completionTimestamp" [.nullable().date_time()],
        #[serde(deserialize_with = "nd")]
        pub progress: DataMoveOperationProgress = "progress",
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub incremental_bytes: i64 = "incrementalBytes" [.int64()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub accepted_timestamp: Option<String> = "acceptedTimestamp" [.nullable().date_time()],
    }
}

velero_struct! {
    /// `shared.DataMoveOperationProgress` (pod volume backups/restores, data uploads/downloads).
    pub struct DataMoveOperationProgress {
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub total_bytes: i64 = "totalBytes" [.int64()],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub bytes_done: i64 = "bytesDone" [.int64()],
    }
}
