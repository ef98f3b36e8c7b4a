//! `velero.io/v1` `BackupRepository`.
#![allow(missing_docs)]

use super::prelude::*;

velero_struct! {
    /// `velero.io/v1` `BackupRepository`: one Kopia (or Restic) repository per volume namespace and
    /// storage location.
    pub struct BackupRepository {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: BackupRepositorySpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: BackupRepositoryStatus = "status",
    }
}

impl VeleroKind for BackupRepository {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "BackupRepository",
        plural: "backuprepositories",
        singular: "backuprepository",
        short_names: &[],
        printer_columns: &[
            AGE,
            PrinterColumn::new("Repository Type", "string", ".spec.repositoryType"),
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `BackupRepositorySpec`.
    pub struct BackupRepositorySpec
        [.required(&["backupStorageLocation", "maintenanceFrequency", "volumeNamespace"])]
    {
        #[serde(deserialize_with = "nd")]
        pub volume_namespace: String = "volumeNamespace",
        #[serde(deserialize_with = "nd")]
        pub backup_storage_location: String = "backupStorageLocation",
        #[serde(deserialize_with = "nd")]
        pub repository_type: String = "repositoryType" [.one_of(UPLOADER_TYPES)],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub restic_identifier: String = "resticIdentifier",
        #[serde(deserialize_with = "nd")]
        pub maintenance_frequency: String = "maintenanceFrequency",
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub repository_config: StringMap = "repositoryConfig" [.nullable()],
    }
}

velero_struct! {
    /// `BackupRepositoryStatus`.
    pub struct BackupRepositoryStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(&["New", "Ready", "NotReady"])],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub message: String = "message",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_maintenance_time: Option<String> = "lastMaintenanceTime" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub recent_maintenance: Vec<BackupRepositoryMaintenanceStatus> = "recentMaintenance",
    }
}

velero_struct! {
    /// One entry of `status.recentMaintenance`.
    pub struct BackupRepositoryMaintenanceStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub result: String = "result" [.one_of(&["Succeeded", "Failed"])],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub start_timestamp: Option<String> = "startTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub complete_timestamp: Option<String> = "completeTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub message: String = "message",
    }
}
