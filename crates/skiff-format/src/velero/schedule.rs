//! `velero.io/v1` Schedule.
#![allow(missing_docs)]

use super::backup::BackupSpec;
use super::prelude::*;

velero_struct! {
    /// `velero.io/v1` Schedule: a cron expression and a Backup template.
    pub struct Schedule {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: ScheduleSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: ScheduleStatus = "status",
    }
}

impl VeleroKind for Schedule {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "Schedule",
        plural: "schedules",
        singular: "schedule",
        short_names: &[],
        printer_columns: &[
            PrinterColumn::new("Status", "string", ".status.phase"),
            PrinterColumn::new("Schedule", "string", ".spec.schedule"),
            PrinterColumn::new("LastBackup", "date", ".status.lastBackup"),
            AGE,
            PrinterColumn::new("Paused", "boolean", ".spec.paused"),
        ],
        empty_subresources: true,
    };
}

velero_struct! {
    /// `ScheduleSpec`.
    pub struct ScheduleSpec [.required(&["schedule", "template"])] {
        #[serde(deserialize_with = "nd")]
        pub template: BackupSpec = "template",
        #[serde(deserialize_with = "nd")]
        pub schedule: String = "schedule",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub use_owner_references_in_backup: Option<bool> = "useOwnerReferencesInBackup" [.nullable()],
        #[serde(skip_serializing_if = "is_false", deserialize_with = "nd")]
        pub paused: bool = "paused",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub skip_immediately: Option<bool> = "skipImmediately",
    }
}

velero_struct! {
    /// `ScheduleStatus`.
    pub struct ScheduleStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(&["New", "Enabled", "FailedValidation"])],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_backup: Option<String> = "lastBackup" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_skipped: Option<String> = "lastSkipped" [.nullable().date_time()],
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub validation_errors: Vec<String> = "validationErrors",
    }
}
