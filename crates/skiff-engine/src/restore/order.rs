//! Ordering: Velero's resource priority list (§5.2) and the dependency waves skiff adds.
//!
//! Items are grouped into *stages* by resource type, in this order:
//!
//! 0. CRDs (wait for `Established`);
//! 1. namespaces (wait for readiness);
//! 2. cluster configuration and identities (StorageClasses, snapshot classes, PriorityClasses,
//!    ClusterRoles, Roles, ServiceAccounts, LimitRanges, ResourceQuotas, RuntimeClasses,
//!    IngressClasses);
//! 3. bindings, Secrets, ConfigMaps, PersistentVolumes, VolumeSnapshotContents (a token Secret
//!    needs its ServiceAccount; bindings need nothing but read better after their roles);
//! 4. PersistentVolumeClaims, VolumeSnapshots, DataUploads (after their PVs);
//! 5. user high priorities not already placed, one stage each in the given order;
//! 6. everything else: workloads, Services, custom resources, …;
//! 7. low priorities (user's, then Velero's), one stage each;
//! 8. admission webhook configurations and APIServices: last, after the Services and workloads
//!    that serve them (Velero issues #2443, #5068).
//!
//! Inside a stage, ownerReferences between items of the backup split the stage into sub-waves
//! (owner first). An ownerReference pointing to a *later* stage is not used for ordering (Velero
//! strips ownerReferences at restore, so it carries no create-time dependency; e.g. a PVC owned
//! by its StatefulSet must still come before the StatefulSet's pods).
//!
//! Inside a wave, items are listed in Velero's order: high priorities, other resources
//! alphabetically, low priorities; then namespace, then name.

use super::{PlanError, Result};
use serde::Serialize;
use skiff_kube::ApiSurface;
use std::collections::BTreeMap;

/// Velero's default high priorities, resolved to group-resource strings, in order.
pub const DEFAULT_HIGH_PRIORITIES: &[&str] = &[
    "customresourcedefinitions.apiextensions.k8s.io",
    "namespaces",
    "storageclasses.storage.k8s.io",
    "volumesnapshotclasses.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "datauploads.velero.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "clusterroles.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "serviceaccounts",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "secrets",
    "configmaps",
    "limitranges",
    "priorityclasses.scheduling.k8s.io",
    "pods",
    "replicasets.apps",
    "clusterclasses.cluster.x-k8s.io",
    "endpoints",
    "services",
];

/// Velero's default low priorities, in order.
pub const DEFAULT_LOW_PRIORITIES: &[&str] = &[
    "clusterbootstraps.run.tanzu.vmware.com",
    "clusters.cluster.x-k8s.io",
    "clusterresourcesets.addons.cluster.x-k8s.io",
    "apps.kappctrl.k14s.io",
    "packageinstalls.packaging.carvel.dev",
];

pub(crate) const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";

const STAGE_CLUSTER_CONFIG: &[&str] = &[
    "storageclasses.storage.k8s.io",
    "volumesnapshotclasses.snapshot.storage.k8s.io",
    "priorityclasses.scheduling.k8s.io",
    "clusterroles.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "serviceaccounts",
    "limitranges",
    "resourcequotas",
    "runtimeclasses.node.k8s.io",
    "ingressclasses.networking.k8s.io",
];
const STAGE_CONFIG: &[&str] = &[
    "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "secrets",
    "configmaps",
    "persistentvolumes",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
];
const STAGE_CLAIMS: &[&str] = &[
    "persistentvolumeclaims",
    "volumesnapshots.snapshot.storage.k8s.io",
    "datauploads.velero.io",
];
/// Served by Services/workloads of the backup: restored last.
pub(crate) const STAGE_LAST: &[&str] = &[
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "apiservices.apiregistration.k8s.io",
];

/// User resource priorities (`--resource-priorities a,b,-,c`): added to Velero's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResourcePriorities {
    /// Restored after Velero's high priorities, before other resources, in this order.
    pub high: Vec<String>,
    /// Restored before Velero's low priorities, in this order.
    pub low: Vec<String>,
}

impl ResourcePriorities {
    /// Parse Velero's flag syntax: a comma list, with one `-` element separating high from low.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = Self::default();
        let mut low = false;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "-" {
                if low {
                    return Err(PlanError::InvalidPriorities {
                        text: text.into(),
                        reason: "more than one \"-\" separator".into(),
                    });
                }
                low = true;
            } else if low {
                out.low.push(part.to_string());
            } else {
                out.high.push(part.to_string());
            }
        }
        Ok(out)
    }
}

/// A stage of the wave ladder (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stage {
    pub rank: (u8, usize),
    pub name: String,
}

/// Resource ordering for one plan: Velero's list positions and skiff's stages.
pub(crate) struct Ordering {
    high: Vec<String>,
    low: Vec<String>,
    user_high: Vec<String>,
    user_low: Vec<String>,
}

impl Ordering {
    /// Combine the defaults with the user's priorities (resolved through `surface`). Returns
    /// warnings for user entries that cannot move (already placed by a default or structural rule).
    pub fn new(user: &ResourcePriorities, surface: &ApiSurface) -> (Self, Vec<String>) {
        let resolve = |n: &String| surface.resolve(n).unwrap_or_else(|| n.to_ascii_lowercase());
        let mut warnings = Vec::new();
        let fixed = |gr: &str| {
            DEFAULT_HIGH_PRIORITIES.contains(&gr)
                || DEFAULT_LOW_PRIORITIES.contains(&gr)
                || STAGE_LAST.contains(&gr)
        };
        let mut user_high: Vec<String> = Vec::new();
        let mut user_low: Vec<String> = Vec::new();
        for (low, list) in [(false, &user.high), (true, &user.low)] {
            for gr in list.iter().map(resolve) {
                if fixed(&gr) {
                    warnings.push(format!(
                        "resource priority {gr} ignored: it already has a fixed place in the default order"
                    ));
                } else if !user_high.contains(&gr) && !user_low.contains(&gr) {
                    if low {
                        user_low.push(gr);
                    } else {
                        user_high.push(gr);
                    }
                }
            }
        }
        let mut high: Vec<String> = DEFAULT_HIGH_PRIORITIES.iter().map(|s| (*s).to_string()).collect();
        high.extend(user_high.iter().cloned());
        let mut low = user_low.clone();
        low.extend(DEFAULT_LOW_PRIORITIES.iter().map(|s| (*s).to_string()));
        (
            Self {
                high,
                low,
                user_high,
                user_low,
            },
            warnings,
        )
    }

    /// Velero's position of a resource: `(0, i)` high, `(1, 0)` other (then alphabetical by the
    /// caller), `(2, i)` low.
    pub fn position(&self, gr: &str) -> (u8, usize) {
        if let Some(i) = self.high.iter().position(|h| h == gr) {
            (0, i)
        } else if let Some(i) = self.low.iter().position(|h| h == gr) {
            (2, i)
        } else {
            (1, 0)
        }
    }

    /// The stage of a resource.
    pub fn stage(&self, gr: &str) -> Stage {
        let named = |rank: (u8, usize), name: &str| Stage {
            rank,
            name: name.to_string(),
        };
        if gr == CRDS {
            named((0, 0), "custom resource definitions")
        } else if gr == "namespaces" {
            named((1, 0), "namespaces")
        } else if STAGE_CLUSTER_CONFIG.contains(&gr) {
            named((2, 0), "cluster configuration, roles and service accounts")
        } else if STAGE_CONFIG.contains(&gr) {
            named((3, 0), "bindings, secrets, config maps and persistent volumes")
        } else if STAGE_CLAIMS.contains(&gr) {
            named((4, 0), "persistent volume claims and snapshots")
        } else if let Some(i) = self.user_high.iter().position(|h| h == gr) {
            named((5, i), &format!("priority resource {gr}"))
        } else if STAGE_LAST.contains(&gr) {
            named((8, 0), "admission webhooks and API services")
        } else if let Some(i) = self.user_low.iter().position(|h| h == gr) {
            named((7, i), &format!("low-priority resource {gr}"))
        } else if let Some(i) = DEFAULT_LOW_PRIORITIES.iter().position(|h| *h == gr) {
            named(
                (7, self.user_low.len() + i),
                &format!("low-priority resource {gr}"),
            )
        } else {
            named((6, 0), "workloads, services and other resources")
        }
    }
}

/// Assign each node to a wave: stages in order; inside a stage, longest path over `deps`
/// (edges to nodes of the same stage only; others are satisfied by stage order or ignored).
/// Returns `(wave index, wave name)` per node, and the nodes whose intra-stage edges formed a
/// cycle (placed as if they had none).
pub(crate) fn assign_waves(stages: &[Stage], deps: &[Vec<usize>]) -> (Vec<(usize, String)>, Vec<usize>) {
    let mut by_stage: BTreeMap<&Stage, Vec<usize>> = BTreeMap::new();
    for (i, s) in stages.iter().enumerate() {
        by_stage.entry(s).or_default().push(i);
    }
    let mut out = vec![(0usize, String::new()); stages.len()];
    let mut cyclic = Vec::new();
    let mut next_wave = 0usize;
    for (stage, nodes) in by_stage {
        // Depth by memoised DFS; a node on the current path again means a cycle.
        let mut depth: BTreeMap<usize, usize> = BTreeMap::new();
        let mut on_path = vec![false; stages.len()];
        for &n in &nodes {
            depth_of(n, stage, stages, deps, &mut depth, &mut on_path, &mut cyclic);
        }
        let levels = depth.values().copied().max().unwrap_or(0) + 1;
        for &n in &nodes {
            let d = depth[&n];
            let name = if levels > 1 {
                format!("{} (ownership level {})", stage.name, d + 1)
            } else {
                stage.name.clone()
            };
            out[n] = (next_wave + d, name);
        }
        next_wave += levels;
    }
    cyclic.sort_unstable();
    cyclic.dedup();
    (out, cyclic)
}

fn depth_of(
    n: usize,
    stage: &Stage,
    stages: &[Stage],
    deps: &[Vec<usize>],
    memo: &mut BTreeMap<usize, usize>,
    on_path: &mut [bool],
    cyclic: &mut Vec<usize>,
) -> usize {
    if let Some(&d) = memo.get(&n) {
        return d;
    }
    on_path[n] = true;
    let mut d = 0;
    for &m in &deps[n] {
        if &stages[m] != stage {
            continue;
        }
        if on_path[m] {
            cyclic.push(n);
            continue;
        }
        d = d.max(depth_of(m, stage, stages, deps, memo, on_path, cyclic) + 1);
    }
    on_path[n] = false;
    memo.insert(n, d);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_parse_and_add_to_defaults() {
        let p = ResourcePriorities::parse("foos.example.com,pods,-,bars.example.com").unwrap();
        assert_eq!(p.high, ["foos.example.com", "pods"]);
        assert_eq!(p.low, ["bars.example.com"]);
        assert!(ResourcePriorities::parse("a,-,b,-,c").is_err());
        let (o, warnings) = Ordering::new(&p, &ApiSurface::default());
        assert_eq!(warnings.len(), 1, "pods already placed: {warnings:?}");
        assert_eq!(o.position("namespaces"), (0, 1));
        assert_eq!(o.position("foos.example.com"), (0, DEFAULT_HIGH_PRIORITIES.len()));
        assert_eq!(o.position("bars.example.com"), (2, 0));
        assert_eq!(o.position("clusters.cluster.x-k8s.io"), (2, 2));
        assert_eq!(o.position("deployments.apps"), (1, 0));
        assert!(o.stage("foos.example.com") < o.stage("deployments.apps"));
        assert!(o.stage("persistentvolumeclaims") < o.stage("foos.example.com"));
        assert!(o.stage("bars.example.com") < o.stage("clusters.cluster.x-k8s.io"));
        assert!(o.stage("deployments.apps") < o.stage("bars.example.com"));
    }

    #[test]
    fn waves_follow_stages_and_owner_chains() {
        let (o, _) = Ordering::new(&ResourcePriorities::default(), &ApiSurface::default());
        let stages: Vec<Stage> = [
            "deployments.apps",
            "replicasets.apps",
            "pods",
            "secrets",
            "secrets",
        ]
        .iter()
        .map(|g| o.stage(g))
        .collect();
        // rs depends on deployment, pod on rs; secret 4 "owned" by the pod (later stage: ignored).
        let deps = vec![vec![], vec![0], vec![1], vec![], vec![2]];
        let (w, cyclic) = assign_waves(&stages, &deps);
        assert!(cyclic.is_empty());
        assert_eq!(w.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2, 3, 0, 0]);
        let (w, cyclic) = assign_waves(&stages[..2], &[vec![1], vec![0]]);
        assert_eq!(cyclic.len(), 1);
        assert_ne!(w[0].0, w[1].0, "a cycle is cut, not collapsed");
    }
}
