//! Typed models of Velero v1.18's API objects — the 13 custom resources of `velero.io/v1` and
//! `velero.io/v2alpha1` — and the `CustomResourceDefinitions` skiff generates from them.
//!
//! * One module per kind ([`backup`], [`restore`], [`backup_storage_location`], …) and the
//!   Kubernetes types they embed ([`meta`]). Models are lenient like the rest of [`crate::docs`]:
//!   every field optional, `null` accepted where a list or map is expected, unknown fields kept in
//!   `extra` and written back; fields serialize in Go declaration order with Go's `omitempty`.
//! * Every model implements [`Schema`]; the kinds implement [`VeleroKind`]. [`all_crds`] builds
//!   the 13 CRDs in the order `velero install` creates them, with the structural schema, names,
//!   short names, printer columns, `subresources` and `x-kubernetes-*` markers of Velero's own
//!   CRDs. They are generated from the models, never copied: a field the models do not type
//!   would be pruned by the API server, so the unit tests hold the field list of each of
//!   Velero's CRDs (`velero_v1_18_crd_paths.txt`) and compare it with the generated schemas.
//! * [`schema::normalize`] applies the API server's pruning locally.
//!
//! Field names are Velero's JSON keys in snake case; their meaning is in Velero's Go types
//! (`pkg/apis/velero/v1`, `pkg/apis/velero/v2alpha1`) and `velero-format.md`, so fields carry no
//! doc comments of their own.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Declares a lenient model struct and its [`Schema`](schema::Schema) from one field list.
///
/// ```text
/// velero_struct! {
///     /// Docs.
///     pub struct Name [.required(&["a"])] {          // optional struct-level schema calls
///         #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
///         pub a: String = "a",                       // JSON name
///         #[serde(skip_serializing_if = "Option::is_none")]
///         pub b: Option<String> = "b" [.nullable().date_time()],   // field schema calls
///     }
/// }
/// ```
///
/// The struct gets `Debug, Clone, Default, PartialEq, Serialize, Deserialize`, `#[serde(default)]`,
/// each field `#[serde(rename = <JSON name>)]`, and a flattened `extra` map for unknown fields.
/// The schema is an object whose properties are the fields' types' schemas with the field calls
/// applied, then the struct-level calls.
macro_rules! velero_struct {
    (
        $(#[$sattr:meta])*
        pub struct $name:ident $([$($smod:tt)*])? {
            $(
                $(#[$fattr:meta])*
                pub $field:ident : $ty:ty = $json:tt $([$($fmod:tt)*])?
            ),* $(,)?
        }
    ) => {
        $(#[$sattr])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct $name {
            $(
                $(#[$fattr])*
                #[serde(rename = $json)]
                pub $field: $ty,
            )*
            /// Unknown fields, kept for write-back (sorted, after the known fields).
            #[serde(flatten, serialize_with = "crate::gojson::serialize_extra")]
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $crate::velero::schema::Schema for $name {
            fn schema() -> $crate::velero::schema::Props {
                $crate::velero::schema::Props::object()
                    $(
                        .property(
                            $json,
                            <$ty as $crate::velero::schema::Schema>::schema() $($($fmod)*)?,
                        )
                    )*
                    $($($smod)*)?
            }
        }
    };
}

pub mod backup;
pub mod backup_repository;
pub mod backup_storage_location;
pub mod data_download;
pub mod data_upload;
pub mod delete_backup_request;
pub mod download_request;
pub mod meta;
pub mod pod_volume_backup;
pub mod pod_volume_restore;
pub mod restore;
pub mod schedule;
pub mod schema;
pub mod server_status_request;
pub mod volume_snapshot_location;

pub use backup::Backup;
pub use backup_repository::BackupRepository;
pub use backup_storage_location::BackupStorageLocation;
pub use data_download::DataDownload;
pub use data_upload::DataUpload;
pub use delete_backup_request::DeleteBackupRequest;
pub use download_request::DownloadRequest;
pub use meta::{LabelSelector, ObjectMeta};
pub use pod_volume_backup::PodVolumeBackup;
pub use pod_volume_restore::PodVolumeRestore;
pub use restore::Restore;
pub use schedule::Schedule;
pub use schema::{CrdInfo, PrinterColumn, Props, Schema, VeleroKind, crd, normalize, pruned_paths};
pub use server_status_request::ServerStatusRequest;
pub use volume_snapshot_location::VolumeSnapshotLocation;

/// Velero's API group.
pub const GROUP: &str = "velero.io";

/// The label every object of a Velero install carries (`component: velero`).
pub const COMPONENT_LABEL: (&str, &str) = ("component", "velero");

/// Label naming a Backup's storage location (value shortened to 63 characters).
pub const STORAGE_LOCATION_LABEL: &str = "velero.io/storage-location";

/// The CRD descriptor and schema of one kind, for code that handles the kinds generically.
#[derive(Debug, Clone)]
pub struct KindSchema {
    /// Names and version.
    pub info: CrdInfo,
    /// The structural schema of the whole object.
    pub schema: Props,
}

fn kind_schema<T: VeleroKind>() -> KindSchema {
    KindSchema {
        info: T::CRD,
        schema: T::schema(),
    }
}

/// The 13 kinds in the order `velero install` creates their CRDs: the `velero.io/v1` kinds by
/// plural name, then the `v2alpha1` ones.
pub fn all_kinds() -> Vec<KindSchema> {
    vec![
        kind_schema::<BackupRepository>(),
        kind_schema::<Backup>(),
        kind_schema::<BackupStorageLocation>(),
        kind_schema::<DeleteBackupRequest>(),
        kind_schema::<DownloadRequest>(),
        kind_schema::<PodVolumeBackup>(),
        kind_schema::<PodVolumeRestore>(),
        kind_schema::<Restore>(),
        kind_schema::<Schedule>(),
        kind_schema::<ServerStatusRequest>(),
        kind_schema::<VolumeSnapshotLocation>(),
        kind_schema::<DataDownload>(),
        kind_schema::<DataUpload>(),
    ]
}

/// The kind whose CRD is `<plural>.velero.io` (or whose kind is `kind`).
pub fn kind_named(name_or_kind: &str) -> Option<KindSchema> {
    all_kinds()
        .into_iter()
        .find(|k| k.info.name() == name_or_kind || k.info.kind == name_or_kind)
}

/// The 13 `CustomResourceDefinitions`, in install order, labelled `component: velero`.
pub fn all_crds() -> Vec<Value> {
    all_kinds()
        .iter()
        .map(|k| schema::crd_of(&k.info, &k.schema))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// serde helpers shared by the models (and `crate::docs`)
// ---------------------------------------------------------------------------------------------

/// Deserialize `null` (or absence, with `#[serde(default)]`) as the type's default.
pub(crate) fn nd<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}

/// A Go `map[string]string`.
pub type StringMap = BTreeMap<String, String>;

/// What the kind modules import.
mod prelude {
    pub(crate) use super::meta::{
        LabelSelector, ObjectMeta, ObjectReference, SecretKeySelector, TypedLocalObjectReference,
    };
    pub(crate) use super::schema::{CrdInfo, PrinterColumn, VeleroKind};
    pub(crate) use super::{GROUP, StringMap, is_false, is_zero, nd};
    pub(crate) use std::collections::BTreeMap;

    /// `onError` of hooks.
    pub(crate) const HOOK_ERROR_MODES: &[&str] = &["Continue", "Fail"];
    /// Phases of pod volume backups/restores and data uploads/downloads.
    pub(crate) const DATA_MOVE_PHASES: &[&str] = &[
        "New",
        "Accepted",
        "Prepared",
        "InProgress",
        "Canceling",
        "Canceled",
        "Completed",
        "Failed",
    ];
    /// Uploader types.
    pub(crate) const UPLOADER_TYPES: &[&str] = &["kopia", "restic", ""];
    /// Node OS of data movement.
    pub(crate) const NODE_OS: &[&str] = &["auto", "linux", "windows"];

    /// Printer column `Age`.
    pub(crate) const AGE: PrinterColumn = PrinterColumn::new("Age", "date", ".metadata.creationTimestamp");
}

#[cfg(test)]
mod tests;
