//! The plan: what a restore will do, item by item, with every dependency edge the executor
//! runs. A value that prints (text and JSON) and compares; made by [`super::plan`], run by
//! [`super::execute`].

use super::item::ItemKey;
use super::json::RawJson;
use super::options::ExistingResourcePolicy;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

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
    /// Every planned item in execution order: the item with [`PlannedItem::id`] `n` is the
    /// `n`-th.
    pub fn items(&self) -> impl Iterator<Item = &PlannedItem> {
        self.waves.iter().flat_map(|w| w.items.iter())
    }

    /// Number of planned items.
    pub fn len(&self) -> usize {
        self.waves.iter().map(|w| w.items.len()).sum()
    }

    /// Whether nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.waves.iter().all(|w| w.items.is_empty())
    }

    /// Every item the item with id `id` waits for: its own [`PlannedItem::after`] and every item
    /// of its wave's [`Wave::after_waves`], in id order. `None` for an unknown id.
    pub fn start_after(&self, id: usize) -> Option<Vec<usize>> {
        let mut rest = id;
        let wave = self.waves.iter().find(|w| {
            let here = rest < w.items.len();
            if !here {
                rest -= w.items.len();
            }
            here
        })?;
        let item = &wave.items[rest];
        let mut out: Vec<usize> = item.after.clone();
        for &w in &wave.after_waves {
            out.extend(
                self.waves
                    .get(w)
                    .into_iter()
                    .flat_map(|w| w.items.iter().map(|i| i.id)),
            );
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
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
/// the same stage waits for its owners (in its [`PlannedItem::after`]), not for the whole
/// earlier wave. A wave of a later stage waits for every item of the earlier stages that are
/// barriers ([`Wave::after_waves`]); the CRD and namespace stages are not barriers: what needs
/// a CRD or a namespace names it in its `after`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wave {
    /// Position, from 0.
    pub index: usize,
    /// Ordinal of the wave's stage (waves with equal `stage` are ownership levels of one stage).
    pub stage: usize,
    /// What the wave holds.
    pub name: String,
    /// Stage barrier: no item of this wave starts before every item of these (earlier) waves
    /// has finished, whatever its outcome.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_waves: Vec<usize>,
    /// Items in Velero's resource order, then namespace, then name.
    pub items: Vec<PlannedItem>,
}

/// One object to create.
///
/// It starts once every item of [`PlannedItem::after`] and of its wave's
/// [`Wave::after_waves`] has finished: the executor runs exactly these edges and derives none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedItem {
    /// Position in the plan's execution order ([`RestorePlan::items`]), from 0; what
    /// [`PlannedItem::after`] refers to.
    pub id: usize,
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
    /// Ids of the items it waits for, all smaller than its own (the plan order is a
    /// topological order): its owners, the CRD that serves it (done = Established) and the
    /// Namespace it goes into (done = ready). Stage barriers are in [`Wave::after_waves`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<usize>,
}

/// The API endpoint and identity of a planned object in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// A Job or bare Pod under `--hold`: created at the release, not now.
    HeldUntilRelease,
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
            Self::HeldUntilRelease => f.write_str("held: created at the release"),
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
        // Edges in the text: a wave's barrier on its header line, and per item the items it
        // waits for besides its namespace (which every namespaced item waits for); the JSON
        // form holds every edge.
        let by_id: Vec<&PlannedItem> = self.items().collect();
        for wave in &self.waves {
            write!(
                f,
                "wave {}: {} ({} items)",
                wave.index,
                wave.name,
                wave.items.len()
            )?;
            match wave.after_waves.as_slice() {
                [] => writeln!(f)?,
                [w] => writeln!(f, " after wave {w}")?,
                waves => writeln!(f, " after waves {}", ranges(waves))?,
            }
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
                let mut after = item
                    .after
                    .iter()
                    .filter_map(|&id| by_id.get(id))
                    .filter(|a| !matches!(a.wait, Some(Wait::NamespaceReady(_))))
                    .peekable();
                if after.peek().is_some() {
                    let keys: Vec<String> = after.map(|a| a.source.to_string()).collect();
                    write!(f, " (after: {})", keys.join(", "))?;
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

/// `2, 3, 4, 7` as `2-4, 7`.
fn ranges(sorted: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}
