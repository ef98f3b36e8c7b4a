//! `velero.io/v1` `VolumeSnapshotLocation`.
#![allow(missing_docs)]

use super::backup_storage_location::LOCATION_PHASES;
use super::prelude::*;

velero_struct! {
    /// `velero.io/v1` `VolumeSnapshotLocation` (short name `vsl`).
    pub struct VolumeSnapshotLocation {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: VolumeSnapshotLocationSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: VolumeSnapshotLocationStatus = "status",
    }
}

impl VeleroKind for VolumeSnapshotLocation {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "VolumeSnapshotLocation",
        plural: "volumesnapshotlocations",
        singular: "volumesnapshotlocation",
        short_names: &["vsl"],
        printer_columns: &[],
        empty_subresources: false,
    };
}

velero_struct! {
    /// `VolumeSnapshotLocationSpec`.
    pub struct VolumeSnapshotLocationSpec [.required(&["provider"])] {
        #[serde(deserialize_with = "nd")]
        pub provider: String = "provider",
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub config: StringMap = "config",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub credential: Option<SecretKeySelector> = "credential",
    }
}

velero_struct! {
    /// `VolumeSnapshotLocationStatus`.
    pub struct VolumeSnapshotLocationStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(LOCATION_PHASES)],
    }
}
