//! `velero.io/v2alpha1` `DataDownload`.
#![allow(missing_docs)]

use super::pod_volume_backup::DataMoveOperationProgress;
use super::prelude::*;

velero_struct! {
    /// `velero.io/v2alpha1` `DataDownload`: a data-mover restore of a volume.
    pub struct DataDownload {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: DataDownloadSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: DataDownloadStatus = "status",
    }
}

impl VeleroKind for DataDownload {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v2alpha1",
        kind: "DataDownload",
        plural: "datadownloads",
        singular: "datadownload",
        short_names: &[],
        printer_columns: &[
            PrinterColumn::new("Status", "string", ".status.phase"),
            PrinterColumn::new("Started", "date", ".status.startTimestamp"),
            PrinterColumn::int64("Bytes Done", ".status.progress.bytesDone"),
            PrinterColumn::int64("Total Bytes", ".status.progress.totalBytes"),
            PrinterColumn::new("Storage Location", "string", ".spec.backupStorageLocation"),
            AGE,
            PrinterColumn::new("Node", "string", ".status.node"),
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `DataDownloadSpec`.
    pub struct DataDownloadSpec [.required(&[
        "backupStorageLocation",
        "operationTimeout",
        "snapshotID",
        "sourceNamespace",
        "targetVolume",
    ])] {
        #[serde(deserialize_with = "nd")]
        pub target_volume: TargetVolumeSpec = "targetVolume",
        #[serde(deserialize_with = "nd")]
        pub backup_storage_location: String = "backupStorageLocation",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub datamover: String = "datamover",
        #[serde(deserialize_with = "nd")]
        pub snapshot_id: String = "snapshotID",
        #[serde(deserialize_with = "nd")]
        pub source_namespace: String = "sourceNamespace",
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub data_mover_config: StringMap = "dataMoverConfig",
        #[serde(skip_serializing_if = "is_false", deserialize_with = "nd")]
        pub cancel: bool = "cancel",
        #[serde(deserialize_with = "nd")]
        pub operation_timeout: String = "operationTimeout",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub node_os: String = "nodeOS" [.one_of(NODE_OS)],
        #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
        pub snapshot_size: i64 = "snapshotSize" [.int64()],
    }
}

velero_struct! {
    /// `spec.targetVolume`.
    pub struct TargetVolumeSpec [.required(&["namespace", "pv", "pvc"])] {
        #[serde(deserialize_with = "nd")]
        pub pvc: String = "pvc",
        #[serde(deserialize_with = "nd")]
        pub pv: String = "pv",
        #[serde(deserialize_with = "nd")]
        pub namespace: String = "namespace",
    }
}

velero_struct! {
    /// `DataDownloadStatus`.
    pub struct DataDownloadStatus {
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
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub node: String = "node",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub accepted_by_node: String = "acceptedByNode",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub accepted_timestamp: Option<String> = "acceptedTimestamp" [.nullable().date_time()],
    }
}
