//! `velero.io/v1` `DownloadRequest`.
#![allow(missing_docs)]

use super::prelude::*;

/// `spec.target.kind` values: the bucket objects a `DownloadRequest` can point at.
pub const DOWNLOAD_TARGET_KINDS: &[&str] = &[
    "BackupLog",
    "BackupContents",
    "BackupVolumeSnapshots",
    "BackupItemOperations",
    "BackupResourceList",
    "BackupResults",
    "RestoreLog",
    "RestoreResults",
    "RestoreResourceList",
    "RestoreItemOperations",
    "CSIBackupVolumeSnapshots",
    "CSIBackupVolumeSnapshotContents",
    "BackupVolumeInfos",
    "RestoreVolumeInfo",
];

velero_struct! {
    /// `velero.io/v1` `DownloadRequest`: asks Velero for a pre-signed URL of a bucket object.
    pub struct DownloadRequest {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: DownloadRequestSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: DownloadRequestStatus = "status",
    }
}

impl VeleroKind for DownloadRequest {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "DownloadRequest",
        plural: "downloadrequests",
        singular: "downloadrequest",
        short_names: &[],
        printer_columns: &[],
        empty_subresources: false,
    };
}

velero_struct! {
    /// `DownloadRequestSpec`.
    pub struct DownloadRequestSpec [.required(&["target"])] {
        #[serde(deserialize_with = "nd")]
        pub target: DownloadTarget = "target",
    }
}

velero_struct! {
    /// `spec.target`.
    pub struct DownloadTarget [.required(&["kind", "name"])] {
        #[serde(deserialize_with = "nd")]
        pub kind: String = "kind" [.one_of(DOWNLOAD_TARGET_KINDS)],
        #[serde(deserialize_with = "nd")]
        pub name: String = "name",
    }
}

velero_struct! {
    /// `DownloadRequestStatus`.
    pub struct DownloadRequestStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(&["New", "Processed"])],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub download_url: String = "downloadURL",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub expiration: Option<String> = "expiration" [.nullable().date_time()],
    }
}
