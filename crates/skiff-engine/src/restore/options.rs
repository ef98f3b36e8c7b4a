//! What the caller decides for a plan: the restore's options.

use super::modifiers::ResourceModifiers;
use super::order::ResourcePriorities;
use crate::{Mappings, Scope};
use serde::Serialize;

/// What the executor does with an object that already exists (Velero's `existingResourcePolicy`
/// plus `apply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExistingResourcePolicy {
    /// Leave it; warn when it differs.
    None,
    /// JSON merge patch towards the backed-up object.
    Update,
    /// Server-side apply with skiff's field manager, reporting conflicts.
    Apply,
}

impl std::str::FromStr for ExistingResourcePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "update" => Ok(Self::Update),
            "apply" => Ok(Self::Apply),
            other => Err(format!(
                "unknown existing resource policy {other:?} (none, update, apply)"
            )),
        }
    }
}

/// Velero's `restoreStatus`: resources whose `status` is restored via the status subresource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreStatusFilter {
    /// Resource names or globs (resolved through discovery).
    pub included_resources: Vec<String>,
    /// Resource names or globs.
    pub excluded_resources: Vec<String>,
}

/// Options of one restore (Velero's Restore spec, as skiff's CLI exposes it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreOptions {
    /// Restore name (label `velero.io/restore-name`).
    pub restore_name: String,
    /// Backup name (label `velero.io/backup-name`).
    pub backup_name: String,
    /// Which objects of the backup: namespaces are matched against the original namespace,
    /// resources are resolved through the target's discovery.
    pub scope: Scope,
    /// Namespace, storage-class and image-registry mappings.
    pub mappings: Mappings,
    /// Parsed resource modifiers.
    pub resource_modifiers: Option<ResourceModifiers>,
    /// Recorded in the plan for the executor.
    pub existing_resource_policy: Option<ExistingResourcePolicy>,
    /// User priorities, added to Velero's defaults.
    pub resource_priorities: ResourcePriorities,
    /// Keep auto-assigned node ports (`--preserve-nodeports`).
    pub preserve_node_ports: bool,
    /// Also skip objects a restored controller recreates.
    pub skip_owned: bool,
    /// Status restore filter.
    pub restore_status: RestoreStatusFilter,
    /// Land workloads held (`--hold`, see [`crate::hold`]): scaled to zero, suspended, kept off
    /// every node; Jobs and bare Pods are left for the release.
    #[serde(skip)]
    pub hold: Option<crate::hold::HoldRules>,
    /// Mark every object with the sync that puts it there (`skiff sync`, see [`crate::sync`]):
    /// label [`crate::sync::SYNC_LABEL`] = this name, and annotation
    /// [`crate::sync::SOURCE_RV_ANNOTATION`] = the source object's resourceVersion.
    pub sync_marker: Option<String>,
}
