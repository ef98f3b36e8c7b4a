//! The planner's input: items of a backup (or of any other producer), and their keys.

use super::json::RawJson;
use serde::Serialize;
use std::fmt;

/// One item of the backup (the classic-path copy under `resources/<gr>/…/<name>.json`).
///
/// The planner parses `object` once to gather the facts it needs across items and once more to
/// build the item's final JSON; it never holds every item parsed at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupItem {
    /// Group-resource string as in the tarball: `pods`, `deployments.apps`.
    pub group_resource: String,
    /// Original namespace; `None` for cluster-scoped items.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// `apiVersion` of `object`.
    pub api_version: String,
    /// The item as stored.
    pub object: RawJson,
    /// Other versions of the same item (`<gr>/v<version>-preferredversion` directories):
    /// `(apiVersion, object)`, used for API-group-version fallback.
    pub alt_versions: Vec<(String, RawJson)>,
}

impl BackupItem {
    /// The item's key.
    pub fn key(&self) -> ItemKey {
        ItemKey {
            group_resource: self.group_resource.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// Identity of an item in the backup: group-resource, original namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ItemKey {
    /// Group-resource string (`deployments.apps`).
    pub group_resource: String,
    /// Original namespace, `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl fmt::Display for ItemKey {
    /// Velero's message form: `pods/app/web-1`, `persistentvolumes/pv-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.group_resource, ns, self.name),
            None => write!(f, "{}/{}", self.group_resource, self.name),
        }
    }
}
