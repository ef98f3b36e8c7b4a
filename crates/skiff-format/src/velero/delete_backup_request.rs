//! `velero.io/v1` `DeleteBackupRequest`.
#![allow(missing_docs)]

use super::prelude::*;

velero_struct! {
    /// `velero.io/v1` `DeleteBackupRequest`: asks Velero to delete a backup and its data.
    pub struct DeleteBackupRequest {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: DeleteBackupRequestSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: DeleteBackupRequestStatus = "status",
    }
}

impl VeleroKind for DeleteBackupRequest {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "DeleteBackupRequest",
        plural: "deletebackuprequests",
        singular: "deletebackuprequest",
        short_names: &[],
        printer_columns: &[
            PrinterColumn::new("BackupName", "string", ".spec.backupName"),
            PrinterColumn::new("Status", "string", ".status.phase"),
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `DeleteBackupRequestSpec`.
    pub struct DeleteBackupRequestSpec [.required(&["backupName"])] {
        #[serde(deserialize_with = "nd")]
        pub backup_name: String = "backupName",
    }
}

velero_struct! {
    /// `DeleteBackupRequestStatus`.
    pub struct DeleteBackupRequestStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(&["New", "InProgress", "Processed"])],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub errors: Vec<String> = "errors" [.nullable()],
    }
}
