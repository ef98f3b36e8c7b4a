//! `velero.io/v1` `BackupStorageLocation`.
#![allow(missing_docs)]

use super::prelude::*;

/// `spec.accessMode` / `status.accessMode` values.
pub const ACCESS_MODES: &[&str] = &["ReadOnly", "ReadWrite"];
/// Location phases (`status.phase`), also of a `VolumeSnapshotLocation`.
pub const LOCATION_PHASES: &[&str] = &["Available", "Unavailable"];

velero_struct! {
    /// `velero.io/v1` `BackupStorageLocation` (short name `bsl`).
    pub struct BackupStorageLocation {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: BackupStorageLocationSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: BackupStorageLocationStatus = "status",
    }
}

impl VeleroKind for BackupStorageLocation {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "BackupStorageLocation",
        plural: "backupstoragelocations",
        singular: "backupstoragelocation",
        short_names: &["bsl"],
        printer_columns: &[
            PrinterColumn::new("Phase", "string", ".status.phase"),
            PrinterColumn::new("Last Validated", "date", ".status.lastValidationTime"),
            AGE,
            PrinterColumn::new("Default", "boolean", ".spec.default"),
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `BackupStorageLocationSpec` (`objectStorage` comes from the inlined `StorageType`).
    pub struct BackupStorageLocationSpec [.required(&["objectStorage", "provider"])] {
        #[serde(deserialize_with = "nd")]
        pub provider: String = "provider",
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub config: StringMap = "config",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub credential: Option<SecretKeySelector> = "credential",
        /// Go writes a nil pointer as `null`.
        pub object_storage: Option<ObjectStorageLocation> = "objectStorage",
        #[serde(skip_serializing_if = "is_false", deserialize_with = "nd")]
        pub default: bool = "default",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub access_mode: String = "accessMode" [.one_of(ACCESS_MODES)],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub backup_sync_period: Option<String> = "backupSyncPeriod" [.nullable()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub validation_frequency: Option<String> = "validationFrequency" [.nullable()],
    }
}

velero_struct! {
    /// `spec.objectStorage`.
    pub struct ObjectStorageLocation [.required(&["bucket"])] {
        #[serde(deserialize_with = "nd")]
        pub bucket: String = "bucket",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub prefix: String = "prefix",
        /// Base64 of the PEM bundle (a Go `[]byte`).
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub ca_cert: String = "caCert" [.format("byte")],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ca_cert_ref: Option<SecretKeySelector> = "caCertRef",
    }
}

velero_struct! {
    /// `BackupStorageLocationStatus`.
    pub struct BackupStorageLocationStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(LOCATION_PHASES)],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_synced_time: Option<String> = "lastSyncedTime" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_validation_time: Option<String> = "lastValidationTime" [.nullable().date_time()],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub message: String = "message",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub last_synced_revision: String = "lastSyncedRevision",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub access_mode: String = "accessMode" [.one_of(ACCESS_MODES)],
    }
}
