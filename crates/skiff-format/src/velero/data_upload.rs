//! `velero.io/v2alpha1` `DataUpload`.
#![allow(missing_docs)]

use super::pod_volume_backup::DataMoveOperationProgress;
use super::prelude::*;

velero_struct! {
    /// `velero.io/v2alpha1` `DataUpload`: a data-mover upload of a volume snapshot.
    pub struct DataUpload {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: DataUploadSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: DataUploadStatus = "status",
    }
}

impl VeleroKind for DataUpload {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v2alpha1",
        kind: "DataUpload",
        plural: "datauploads",
        singular: "dataupload",
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
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `DataUploadSpec`.
    pub struct DataUploadSpec [.required(&[
        "backupStorageLocation",
        "operationTimeout",
        "snapshotType",
        "sourceNamespace",
        "sourcePVC",
    ])] {
        #[serde(deserialize_with = "nd")]
        pub snapshot_type: String = "snapshotType",
        /// Go writes a nil pointer as `null`.
        pub csi_snapshot: Option<CsiSnapshotSpec> = "csiSnapshot" [.nullable()],
        #[serde(deserialize_with = "nd")]
        pub source_pvc: String = "sourcePVC",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub datamover: String = "datamover",
        #[serde(deserialize_with = "nd")]
        pub backup_storage_location: String = "backupStorageLocation",
        #[serde(deserialize_with = "nd")]
        pub source_namespace: String = "sourceNamespace",
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub data_mover_config: StringMap = "dataMoverConfig" [.nullable()],
        #[serde(skip_serializing_if = "is_false", deserialize_with = "nd")]
        pub cancel: bool = "cancel",
        #[serde(deserialize_with = "nd")]
        pub operation_timeout: String = "operationTimeout",
    }
}

velero_struct! {
    /// `spec.csiSnapshot`.
    pub struct CsiSnapshotSpec [.required(&["storageClass", "volumeSnapshot"])] {
        #[serde(deserialize_with = "nd")]
        pub volume_snapshot: String = "volumeSnapshot",
        #[serde(deserialize_with = "nd")]
        pub storage_class: String = "storageClass",
        #[serde(deserialize_with = "nd")]
        pub snapshot_class: String = "snapshotClass",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub driver: String = "driver",
    }
}

velero_struct! {
    /// `DataUploadStatus`.
    pub struct DataUploadStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(DATA_MOVE_PHASES)],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub path: String = "path",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub snapshot_id: String = "snapshotID",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub data_mover_result: Option<StringMap> = "dataMoverResult" [.nullable()],
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
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub node: String = "node",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub node_os: String = "nodeOS" [.one_of(NODE_OS)],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub accepted_by_node: String = "acceptedByNode",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub accepted_timestamp: Option<String> = "acceptedTimestamp" [.nullable().date_time()],
    }
}
