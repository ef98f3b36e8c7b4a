//! Restore planning: pure and deterministic.
//!
//! [`plan`] turns the items of a backup, the target's API surface and the restore options into a
//! [`RestorePlan`]: ordered [`Wave`]s of [`PlannedItem`]s (each with the final JSON to send and
//! the human-readable actions that produced it), the items skipped with their reason, the
//! namespaces to create, and per-item errors. The executor (not in this module) runs a plan; it
//! never decides anything the plan does not say.
//!
//! Architecture invariant: nothing here does IO. Facts about the target that discovery does not
//! give (existing ServiceAccounts and StorageClasses) come in as [`TargetFacts`]; a modifiers
//! file comes in as text ([`ResourceModifiers::parse`]).
//!
//! Per item, the pipeline follows Velero (`velero-format.md` §5.4): selection → version fit →
//! metadata reset (status saved) → built-in restore item actions → PV/PVC fix-ups → resource
//! modifiers (original namespace still set) → namespace mapping → restore labels.

// Kubernetes kind names (ServiceAccounts, StorageClasses, …) appear as prose in these docs.
#![allow(clippy::doc_markdown)]

mod actions;
mod modifiers;
mod order;
mod plan;
mod remap;
mod select;
#[cfg(test)]
mod tests;

use crate::{Mappings, Scope};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

pub use actions::shorten_label_value;
pub use modifiers::{ModifierRule, PatchKind, ResourceModifiers};
pub use order::{DEFAULT_HIGH_PRIORITIES, DEFAULT_LOW_PRIORITIES, ResourcePriorities};
pub use plan::{plan, plan_owned};
pub use remap::map_image;

/// A JSON document held as compact bytes and parsed when needed.
///
/// A parsed [`Value`] costs several times its JSON size (a map node, a `String` and an
/// allocation per field); a restore holds every item of the backup and every planned object, so
/// both are kept in this form: `serde_json`'s compact output (keys sorted, so equal values give
/// equal bytes), zstd-compressed with a [`JsonDict`] when one is given. Always valid JSON: it is
/// only made from a [`Value`]. Equality compares the documents' bytes.
#[derive(Clone, Default)]
pub struct RawJson(Repr);

#[derive(Clone)]
enum Repr {
    Plain(Box<[u8]>),
    Zstd {
        frame: Box<[u8]>,
        /// Length of the JSON.
        len: u32,
        dict: Arc<JsonDict>,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Self::Plain(Box::default())
    }
}

impl RawJson {
    /// Serializes `value`.
    pub fn from_value(value: &Value) -> Self {
        Self::with_dict(value, None)
    }

    /// Serializes `value`, compressed with `dict` when given.
    pub fn with_dict(value: &Value, dict: Option<&Arc<JsonDict>>) -> Self {
        // Serializing a `Value` cannot fail (its map keys are strings).
        Self::from_json(serde_json::to_vec(value).unwrap_or_default(), dict)
    }

    /// The same document compressed with `dict`.
    #[must_use]
    pub fn compress(&self, dict: &Arc<JsonDict>) -> Self {
        match &self.0 {
            Repr::Plain(b) => Self::from_json(b.to_vec(), Some(dict)),
            Repr::Zstd { .. } => self.clone(),
        }
    }

    fn from_json(json: Vec<u8>, dict: Option<&Arc<JsonDict>>) -> Self {
        if let Some(dict) = dict
            && let Ok(len) = u32::try_from(json.len())
            && let Some(frame) = dict.compress(&json)
        {
            return Self(Repr::Zstd {
                frame,
                len,
                dict: dict.clone(),
            });
        }
        Self(Repr::Plain(json.into_boxed_slice()))
    }

    /// The JSON bytes.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.0 {
            Repr::Plain(b) => Cow::Borrowed(b),
            // Made by `from_json`, so it decompresses (an empty fallback is unreachable).
            Repr::Zstd { frame, len, dict } => {
                Cow::Owned(dict.decompress(frame, *len as usize).unwrap_or_default())
            }
        }
    }

    /// The parsed document.
    pub fn to_value(&self) -> Value {
        // Made from a `Value`, so it parses (the `Null` fallback is unreachable).
        serde_json::from_slice(&self.bytes()).unwrap_or(Value::Null)
    }

    /// The dictionary it is compressed with, if any.
    pub fn dict(&self) -> Option<&Arc<JsonDict>> {
        match &self.0 {
            Repr::Plain(_) => None,
            Repr::Zstd { dict, .. } => Some(dict),
        }
    }
}

impl From<&Value> for RawJson {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for RawJson {}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes()))
    }
}

impl Serialize for RawJson {
    /// As the document itself (the plan prints the same as when it held `Value`s).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// A zstd dictionary for the items of one backup, trained on a sample of them. Kubernetes
/// objects are small and repeat the same keys, labels and `managedFields` shapes: compressed one
/// by one without a dictionary they shrink by about a half, with one by four to six times.
pub struct JsonDict {
    cdict: zstd::zstd_safe::CDict<'static>,
    ddict: zstd::zstd_safe::DDict<'static>,
}

/// Size limit of a trained dictionary.
const DICT_SIZE: usize = 16 * 1024;
/// zstd level: the fastest (the dictionary does the work).
const DICT_LEVEL: i32 = 1;

thread_local! {
    static CCTX: RefCell<Option<zstd::zstd_safe::CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

impl JsonDict {
    /// Trains a dictionary on `samples` (JSON documents); `None` when zstd finds none (too few
    /// or too small samples).
    pub fn train<S: AsRef<[u8]>>(samples: &[S]) -> Option<Arc<Self>> {
        let dict = zstd::dict::from_samples(samples, DICT_SIZE).ok()?;
        Some(Arc::new(Self {
            cdict: zstd::zstd_safe::CDict::try_create(&dict, DICT_LEVEL)?,
            ddict: zstd::zstd_safe::DDict::try_create(&dict)?,
        }))
    }

    fn compress(&self, src: &[u8]) -> Option<Box<[u8]>> {
        CCTX.with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            if c.is_none() {
                *c = zstd::zstd_safe::CCtx::try_create();
            }
            let cctx = c.as_mut()?;
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(src.len()));
            cctx.compress_using_cdict(&mut out, src, &self.cdict).ok()?;
            Some(out.into_boxed_slice())
        })
    }

    fn decompress(&self, frame: &[u8], len: usize) -> Option<Vec<u8>> {
        DCTX.with(|d| {
            let mut d = d.try_borrow_mut().ok()?;
            if d.is_none() {
                *d = zstd::zstd_safe::DCtx::try_create();
            }
            let dctx = d.as_mut()?;
            let mut out = Vec::with_capacity(len);
            dctx.decompress_using_ddict(&mut out, frame, &self.ddict).ok()?;
            (out.len() == len).then_some(out)
        })
    }
}

impl fmt::Debug for JsonDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonDict")
    }
}

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
}

/// Facts about the target cluster that discovery does not give. `None` = unknown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetFacts {
    /// Existing ServiceAccount names per namespace.
    pub service_accounts: Option<BTreeMap<String, BTreeSet<String>>>,
    /// Existing StorageClass names.
    pub storage_classes: Option<BTreeSet<String>>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePlan {
    /// Restore name.
    pub restore_name: String,
    /// Backup name.
    pub backup_name: String,
    /// Policy for objects that already exist (applied by the executor).
    pub existing_resource_policy: Option<ExistingResourcePolicy>,
    /// Target namespaces the restore needs (created if missing, never updated).
    pub namespaces_to_create: Vec<NamespacePlan>,
    /// Waves in order; items of one wave do not depend on each other.
    pub waves: Vec<Wave>,
    /// Items not restored, each with its reason.
    pub skipped: Vec<SkippedItem>,
    /// Plan-level warnings.
    pub warnings: Vec<String>,
    /// Per-item errors (the item may still be restored, e.g. after a failed modifier).
    pub errors: Vec<ItemError>,
}

impl RestorePlan {
    /// Every planned item in execution order.
    pub fn items(&self) -> impl Iterator<Item = &PlannedItem> {
        self.waves.iter().flat_map(|w| w.items.iter())
    }

    /// The human-readable listing (same as `Display`).
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

/// A namespace the restore creates when missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamespacePlan {
    /// Target name.
    pub name: String,
    /// Original namespaces mapped onto it.
    pub original: Vec<String>,
    /// Whether labels/annotations/spec come from the backup's Namespace object.
    pub from_backup: bool,
    /// Labels kept from the backup.
    pub labels: BTreeMap<String, Value>,
    /// Annotations kept from the backup.
    pub annotations: BTreeMap<String, Value>,
    /// `spec` kept from the backup.
    pub spec: Option<Value>,
}

/// A set of items the executor may create in parallel.
///
/// Waves of one stage (see `order`) differ only by ownership level: an item of a later wave of
/// the same stage waits for its [`PlannedItem::owners`], not for the whole earlier wave. Waves of
/// a later stage wait for every earlier stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wave {
    /// Position, from 0.
    pub index: usize,
    /// Ordinal of the wave's stage (waves with equal `stage` are ownership levels of one stage).
    pub stage: usize,
    /// What the wave holds.
    pub name: String,
    /// Items in Velero's resource order, then namespace, then name.
    pub items: Vec<PlannedItem>,
}

/// One object to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedItem {
    /// Where it comes from in the backup.
    pub source: ItemKey,
    /// Where it goes.
    pub target: TargetRef,
    /// The final JSON to send.
    pub object: RawJson,
    /// Status to restore via the status subresource after create (§5.9), if any.
    pub status: Option<Value>,
    /// What the planner changed, in order.
    pub actions: Vec<String>,
    /// What to wait for after creating it.
    pub wait: Option<Wait>,
    /// Items of earlier waves of the same stage created before this one (its owners in the
    /// backup; ownership cycles are cut).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<ItemKey>,
}

/// The API endpoint and identity of a planned object in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetRef {
    /// `apiVersion` sent.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// API group (empty = core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Whether the resource is namespaced.
    pub namespaced: bool,
    /// Target namespace (after mapping).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

/// A readiness wait after create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name")]
pub enum Wait {
    /// CRD conditions `Established` and `NamesAccepted` true.
    CrdEstablished(String),
    /// Namespace exists and is not terminating.
    NamespaceReady(String),
}

/// An item left out, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedItem {
    /// The item.
    pub key: ItemKey,
    /// Why.
    pub reason: SkipReason,
}

/// Why an item is not restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SkipReason {
    /// In Velero's always-excluded list (§5.1).
    AlwaysExcluded,
    /// Excluded by the resource filters.
    ResourceFilter,
    /// Original namespace excluded by the namespace filters.
    NamespaceFilter,
    /// Cluster-scoped and cluster resources are not included.
    ClusterScoped,
    /// Not named by `include_names`.
    NotNamed,
    /// Labels do not match the selector(s).
    LabelSelector,
    /// Mirror pod (annotation `kubernetes.io/config.mirror`).
    MirrorPod,
    /// Pod in phase `Succeeded`/`Failed`.
    CompletedPod {
        /// The phase.
        phase: String,
    },
    /// Job with `status.completionTime`.
    CompletedJob,
    /// APIService managed by kube-aggregator.
    AutomanagedApiService,
    /// Token Secret of a ServiceAccount that exists (or is restored) in the target namespace.
    ServiceAccountToken {
        /// The ServiceAccount.
        service_account: String,
    },
    /// A restored controller recreates it (`skip_owned`).
    OwnedByController {
        /// `resource/name` of the owner.
        owner: String,
    },
    /// PV with reclaim policy Delete and no data backed up: re-provisioned dynamically.
    PvReprovisioned,
    /// The target does not serve the resource (at any version the backup holds).
    NotServed {
        /// What is missing.
        detail: String,
    },
    /// The mapped storage class does not exist in the target.
    StorageClassMissing {
        /// The class.
        storage_class: String,
    },
    /// The same item appears twice in the input.
    Duplicate,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlwaysExcluded => f.write_str("resource is never restored"),
            Self::ResourceFilter => f.write_str("excluded by resource filter"),
            Self::NamespaceFilter => f.write_str("excluded by namespace filter"),
            Self::ClusterScoped => f.write_str("cluster-scoped resources not included"),
            Self::NotNamed => f.write_str("not named by --include-name"),
            Self::LabelSelector => f.write_str("labels do not match the selector"),
            Self::MirrorPod => f.write_str("mirror pod"),
            Self::CompletedPod { phase } => write!(f, "pod already {phase}"),
            Self::CompletedJob => f.write_str("job already completed"),
            Self::AutomanagedApiService => f.write_str("apiservice managed by kube-aggregator"),
            Self::ServiceAccountToken { service_account } => {
                write!(
                    f,
                    "token secret of service account {service_account}, recreated in the target"
                )
            }
            Self::OwnedByController { owner } => write!(f, "recreated by restored controller {owner}"),
            Self::PvReprovisioned => f.write_str(
                "persistent volume with reclaim policy Delete and no data backed up: re-provisioned",
            ),
            Self::NotServed { detail } => write!(f, "target does not serve {detail}"),
            Self::StorageClassMissing { storage_class } => {
                write!(f, "storage class {storage_class} does not exist in the target")
            }
            Self::Duplicate => f.write_str("duplicate item in the backup"),
        }
    }
}

/// A problem with one item (modifier failure, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    /// The item.
    pub key: ItemKey,
    /// Target namespace (Velero files errors under it), `None` for cluster-scoped.
    pub namespace: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// Why a plan cannot be made at all. Messages read after "failed to …".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A namespace mapping names an invalid namespace.
    #[error("validate namespace mapping {from}:{to}: {reason}")]
    InvalidNamespaceMapping {
        /// Original namespace.
        from: String,
        /// Target namespace.
        to: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A storage class mapping names an invalid class.
    #[error("validate storage class mapping {from}:{to}: {reason}")]
    InvalidStorageClassMapping {
        /// Old class.
        from: String,
        /// New class.
        to: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// An image registry mapping is empty on one side.
    #[error("validate image registry mapping {from:?}:{to:?}: both sides must be non-empty")]
    InvalidImageMapping {
        /// Old registry.
        from: String,
        /// New registry.
        to: String,
    },
    /// A filter value is invalid.
    #[error("validate {field}: {reason}")]
    InvalidFilter {
        /// The option (`exclude-namespaces`, …).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The scope (filters) cannot be used.
    #[error("validate filters")]
    Scope(#[from] crate::scope::ScopeError),
    /// Resource priorities malformed.
    #[error("parse resource priorities {text:?}: {reason}")]
    InvalidPriorities {
        /// The flag value.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// The resource modifiers document is invalid.
    #[error("parse resource modifiers: {}{reason}", modifier_location(*rule, field))]
    InvalidModifiers {
        /// Index of the rule (from 0), when the problem is inside one.
        rule: Option<usize>,
        /// Field path inside the rule (`conditions.groupResource`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn modifier_location(rule: Option<usize>, field: &str) -> String {
    match (rule, field.is_empty()) {
        (Some(r), true) => format!("rule {r}: "),
        (Some(r), false) => format!("rule {r}, {field}: "),
        (None, false) => format!("{field}: "),
        (None, true) => String::new(),
    }
}

/// Result alias of the planner.
pub type Result<T, E = PlanError> = std::result::Result<T, E>;

impl fmt::Display for RestorePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "restore {} from backup {}",
            self.restore_name, self.backup_name
        )?;
        if let Some(p) = self.existing_resource_policy {
            write!(
                f,
                " (existing resources: {})",
                serde_json::to_value(p).unwrap_or_default().as_str().unwrap_or("")
            )?;
        }
        writeln!(f)?;
        if !self.namespaces_to_create.is_empty() {
            writeln!(f, "namespaces (created when missing):")?;
            for ns in &self.namespaces_to_create {
                let origin = if ns.from_backup { "from backup" } else { "bare" };
                writeln!(f, "  {} ({origin}, original {})", ns.name, ns.original.join(", "))?;
            }
        }
        for wave in &self.waves {
            writeln!(
                f,
                "wave {}: {} ({} items)",
                wave.index,
                wave.name,
                wave.items.len()
            )?;
            for item in &wave.items {
                write!(f, "  + {}", item.source)?;
                let t = &item.target;
                match &t.namespace {
                    Some(ns) if Some(ns) != item.source.namespace.as_ref() => {
                        write!(f, " -> {ns}/{}", t.name)?;
                    }
                    _ => {}
                }
                write!(f, " [{} {}]", t.api_version, t.kind)?;
                match &item.wait {
                    Some(Wait::CrdEstablished(_)) => write!(f, " (wait: established)")?,
                    Some(Wait::NamespaceReady(_)) => write!(f, " (wait: ready)")?,
                    None => {}
                }
                writeln!(f)?;
                for a in &item.actions {
                    writeln!(f, "      - {a}")?;
                }
            }
        }
        if !self.skipped.is_empty() {
            writeln!(f, "skipped ({}):", self.skipped.len())?;
            for s in &self.skipped {
                writeln!(f, "  - {}: {}", s.key, s.reason)?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(f, "warnings:")?;
            for w in &self.warnings {
                writeln!(f, "  ! {w}")?;
            }
        }
        if !self.errors.is_empty() {
            writeln!(f, "errors:")?;
            for e in &self.errors {
                writeln!(f, "  x {}: {}", e.key, e.message)?;
            }
        }
        Ok(())
    }
}
