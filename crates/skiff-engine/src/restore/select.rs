//! Selection: which backup items a restore considers (§5.1, §5.3), and `skip_owned`.

use super::item::BackupItem;
use super::model::SkipReason;
use super::order::CRDS;
use super::versions::crd_resource_infos;
use super::{PlanError, Result};
use crate::Scope;
use crate::glob::{IncludesExcludes, has_wildcard};
use serde_json::Value;
use skiff_kube::ApiSurface;
use std::collections::{BTreeMap, BTreeSet};

/// Appended to every restore's resource excludes (§5.1).
pub(crate) const ALWAYS_EXCLUDED: &[&str] = &[
    "nodes",
    "events",
    "events.events.k8s.io",
    "backups.velero.io",
    "restores.velero.io",
    "resticrepositories.velero.io",
    "csinodes.storage.k8s.io",
    "volumeattachments.storage.k8s.io",
    "backuprepositories.velero.io",
];

/// Restored even when filters or selectors would exclude them (§5.1).
pub(crate) const MUST_HAVE: &[&str] = &[
    "datauploads.velero.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
];

/// The restore's filters, resolved against the target's discovery.
pub(crate) struct Filters<'a> {
    scope: &'a Scope,
    surface: &'a ApiSurface,
    /// Old-style family (or no resource filter): one include/exclude pair for every type.
    resources: IncludesExcludes,
    /// Scoped family: cluster-scoped and namespace-scoped pairs (`None` for the old family).
    scoped: Option<(IncludesExcludes, IncludesExcludes)>,
    pub namespaces: IncludesExcludes,
    cluster: Option<bool>,
}

impl<'a> Filters<'a> {
    pub fn new(scope: &'a Scope, surface: &'a ApiSurface) -> Result<Self> {
        scope.validate()?;
        let resolve_one = |n: &str| {
            if has_wildcard(n) {
                n.to_string()
            } else {
                surface.resolve(n).unwrap_or_else(|| n.to_ascii_lowercase())
            }
        };
        let resolve = |names: &[String]| -> Vec<String> { names.iter().map(|n| resolve_one(n)).collect() };
        let included = [
            &scope.included_resources,
            &scope.included_cluster_scoped_resources,
            &scope.included_namespace_scoped_resources,
        ];
        for list in included {
            if let Some(bad) = resolve(list)
                .iter()
                .find(|i| ALWAYS_EXCLUDED.contains(&i.as_str()))
            {
                return Err(PlanError::InvalidFilter {
                    field: "include-resources",
                    reason: format!("{bad} is never restored"),
                });
            }
        }
        let with_always = |mut v: Vec<String>| {
            v.extend(ALWAYS_EXCLUDED.iter().map(|s| (*s).to_string()));
            v
        };
        let scoped = scope.uses_scoped().then(|| {
            (
                IncludesExcludes::new(
                    resolve(&scope.included_cluster_scoped_resources),
                    with_always(resolve(&scope.excluded_cluster_scoped_resources)),
                ),
                IncludesExcludes::new(
                    resolve(&scope.included_namespace_scoped_resources),
                    with_always(resolve(&scope.excluded_namespace_scoped_resources)),
                ),
            )
        });
        Ok(Self {
            scope,
            surface,
            resources: IncludesExcludes::new(
                resolve(&scope.included_resources),
                with_always(resolve(&scope.excluded_resources)),
            ),
            scoped,
            namespaces: scope.namespaces(),
            cluster: scope.include_cluster_resources,
        })
    }

    /// Whether items of type `gr` pass the resource filter (`namespaced`: the item's scope).
    fn type_included(&self, gr: &str, namespaced: bool) -> bool {
        match &self.scoped {
            None => self.resources.should_include(gr),
            Some((_, ns)) if namespaced => ns.should_include(gr),
            // Scoped family, as at backup: cluster-scoped types only when named (or when
            // nothing narrows the restore), namespaces always.
            Some((cluster, ns)) => {
                !cluster.explicitly_excludes(gr)
                    && (gr == "namespaces"
                        || cluster.explicitly_includes(gr)
                        || (cluster.includes.is_empty()
                            && self.namespaces.includes_everything()
                            && ns.includes_everything()))
            }
        }
    }

    /// Whether cluster-scoped items are selected directly.
    pub fn cluster_selected(&self) -> bool {
        self.cluster
            .unwrap_or_else(|| self.namespaces.includes_everything())
    }

    /// Whether a related cluster-scoped item (PV of a PVC, PriorityClass of a pod) may be pulled in.
    pub fn related_allowed(&self) -> bool {
        self.cluster != Some(false)
    }

    /// Checks of an item selected on its own, in Velero's order; the first failure is the reason.
    /// `object` is the item's parsed JSON.
    pub fn primary(&self, item: &BackupItem, object: &Value) -> Result<(), SkipReason> {
        let gr = item.group_resource.as_str();
        if ALWAYS_EXCLUDED.contains(&gr) {
            return Err(SkipReason::AlwaysExcluded);
        }
        if MUST_HAVE.contains(&gr) {
            return item_rules(gr, object);
        }
        if !self.type_included(gr, item.namespace.is_some()) {
            return Err(SkipReason::ResourceFilter);
        }
        let ns_checked = if gr == "namespaces" {
            Some(&item.name)
        } else {
            item.namespace.as_ref()
        };
        if let Some(ns) = ns_checked
            && !self.namespaces.should_include(ns)
        {
            return Err(SkipReason::NamespaceFilter);
        }
        if item.namespace.is_none() && self.scoped.is_none() && !self.cluster_selected() {
            return Err(SkipReason::ClusterScoped);
        }
        if !self.scope.names_match(
            &|r: &str| self.surface.resolve(r),
            gr,
            item.namespace.as_deref(),
            &item.name,
        ) {
            return Err(SkipReason::NotNamed);
        }
        if !self.scope.selectors_match(object) {
            return Err(SkipReason::LabelSelector);
        }
        item_rules(gr, object)
    }

    /// Checks of a related item (no namespace, cluster-scope, name or label checks).
    pub fn related(&self, item: &BackupItem, object: &Value) -> Result<(), SkipReason> {
        let gr = item.group_resource.as_str();
        if ALWAYS_EXCLUDED.contains(&gr) {
            return Err(SkipReason::AlwaysExcluded);
        }
        let type_ok = match &self.scoped {
            None => self.resources.should_include(gr),
            Some((cluster, ns)) => {
                if item.namespace.is_some() {
                    ns.should_include(gr)
                } else {
                    !cluster.explicitly_excludes(gr)
                }
            }
        };
        if !type_ok && !MUST_HAVE.contains(&gr) {
            return Err(SkipReason::ResourceFilter);
        }
        item_rules(gr, object)
    }
}

/// Per-item skips that do not depend on options (§5.1); `o` is the item of resource `gr`.
pub(crate) fn item_rules(gr: &str, o: &Value) -> Result<(), SkipReason> {
    match gr {
        "pods" => {
            if o.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
                .is_some()
            {
                return Err(SkipReason::MirrorPod);
            }
            if let Some(phase @ ("Succeeded" | "Failed")) = o.pointer("/status/phase").and_then(Value::as_str)
            {
                return Err(SkipReason::CompletedPod { phase: phase.into() });
            }
        }
        "jobs.batch"
            if o.pointer("/status/completionTime")
                .is_some_and(|v| !v.is_null() && v != "") =>
        {
            return Err(SkipReason::CompletedJob);
        }
        "apiservices.apiregistration.k8s.io"
            if o.pointer("/metadata/labels/kube-aggregator.kubernetes.io~1automanaged")
                .is_some() =>
        {
            return Err(SkipReason::AutomanagedApiService);
        }
        _ => {}
    }
    Ok(())
}

/// Owner kinds whose controller recreates a dependent of the given resource.
fn recreating_owner_kinds(gr: &str) -> &'static [&'static str] {
    match gr {
        "pods" => &[
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "ReplicationController",
        ],
        "replicasets.apps" => &["Deployment"],
        "jobs.batch" => &["CronJob"],
        "endpointslices.discovery.k8s.io" => &["Service"],
        "controllerrevisions.apps" => &["StatefulSet", "DaemonSet"],
        _ => &[],
    }
}

/// An ownerReference of an item, as far as ordering and `skip_owned` need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerRef {
    uid: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    controller: bool,
}

/// The ownerReferences of a parsed item.
pub(crate) fn owner_refs(o: &Value) -> Vec<OwnerRef> {
    let s = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| OwnerRef {
            uid: s(r, "uid"),
            kind: s(r, "kind"),
            name: s(r, "name"),
            controller: r.get("controller").and_then(Value::as_bool) == Some(true),
        })
        .collect()
}

/// What the planner needs to know about an item across items, read in one pass over the
/// backup so that no item stays parsed: selection, related items, ownership, and the few
/// objects (CRDs, Namespaces) whose content feeds the plan of other items.
#[derive(Debug)]
pub(crate) struct ItemFacts {
    /// [`Filters::primary`]'s verdict.
    pub primary: Result<(), SkipReason>,
    /// Whether [`Filters::related`] lets it in as a related item.
    pub related_ok: bool,
    /// The cluster-scoped item it pulls in: the PV of a bound PVC, the PriorityClass of a pod.
    pub related: Option<(&'static str, String)>,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// `kind`.
    pub kind: Option<String>,
    /// `metadata.ownerReferences`.
    pub owners: Vec<OwnerRef>,
    /// A PV whose reclaim policy is `Delete`.
    pub pv_reclaim_delete: bool,
    /// A Service with a non-empty selector (its Endpoints are the controller's).
    pub service_selector: bool,
    /// A CRD: the resources it serves once restored.
    pub crd: Vec<skiff_kube::ApiResourceInfo>,
    /// A Namespace: the object (its labels, annotations and spec are kept).
    pub namespace: Option<Value>,
}

impl ItemFacts {
    /// The facts of `item`, whose parsed JSON is `o`.
    pub fn new(item: &BackupItem, o: &Value, filters: &Filters) -> Self {
        let s = |p: &str| o.pointer(p).and_then(Value::as_str);
        let gr = item.group_resource.as_str();
        let related = match gr {
            "persistentvolumeclaims" if s("/status/phase") == Some("Bound") => {
                s("/spec/volumeName").map(|n| ("persistentvolumes", n.to_string()))
            }
            "pods" => {
                s("/spec/priorityClassName").map(|n| ("priorityclasses.scheduling.k8s.io", n.to_string()))
            }
            _ => None,
        };
        Self {
            primary: filters.primary(item, o),
            related_ok: filters.related(item, o).is_ok(),
            related,
            uid: s("/metadata/uid").map(str::to_string),
            kind: o.get("kind").and_then(Value::as_str).map(str::to_string),
            owners: owner_refs(o),
            pv_reclaim_delete: gr == "persistentvolumes"
                && s("/spec/persistentVolumeReclaimPolicy") == Some("Delete"),
            service_selector: gr == "services"
                && o.pointer("/spec/selector")
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty()),
            crd: if gr == CRDS {
                crd_resource_infos(o)
            } else {
                Vec::new()
            },
            namespace: (gr == "namespaces").then(|| o.clone()),
        }
    }
}

/// Index of backup items by uid and by (kind, namespace, name), for ownerReference lookup.
pub(crate) struct OwnerIndex {
    by_uid: BTreeMap<String, usize>,
    by_kind_name: BTreeMap<(String, Option<String>, String), usize>,
}

impl OwnerIndex {
    /// `facts[i]` are the facts of `items[i]`. Only items some ownerReference may point to are
    /// indexed; their uid and kind are moved out of `facts` (nothing else reads them).
    pub fn new(items: &[&BackupItem], facts: &mut [ItemFacts]) -> Self {
        let refs = || facts.iter().flat_map(|f| &f.owners);
        let uids: BTreeSet<String> = refs().filter_map(|r| r.uid.clone()).collect();
        let kind_names: BTreeSet<(String, String)> = refs()
            .filter_map(|r| Some((r.kind.clone()?, r.name.clone()?)))
            .collect();
        let mut by_uid = BTreeMap::new();
        let mut by_kind_name = BTreeMap::new();
        for (i, (it, f)) in items.iter().zip(facts.iter_mut()).enumerate() {
            if let Some(uid) = f.uid.take()
                && uids.contains(&uid)
            {
                by_uid.entry(uid).or_insert(i);
            }
            if let Some(kind) = f.kind.take()
                && kind_names.contains(&(kind.clone(), it.name.clone()))
            {
                by_kind_name
                    .entry((kind, it.namespace.clone(), it.name.clone()))
                    .or_insert(i);
            }
        }
        Self { by_uid, by_kind_name }
    }

    /// The backup item an ownerReference of `item` points to (owners live in the same namespace,
    /// or are cluster-scoped).
    pub fn resolve(&self, item: &BackupItem, r: &OwnerRef) -> Option<usize> {
        if let Some(i) = r.uid.as_ref().and_then(|u| self.by_uid.get(u)) {
            return Some(*i);
        }
        let kind = r.kind.clone()?;
        let name = r.name.clone()?;
        self.by_kind_name
            .get(&(kind.clone(), item.namespace.clone(), name.clone()))
            .or_else(|| self.by_kind_name.get(&(kind, None, name)))
            .copied()
    }
}

/// `skip_owned`: the restored controller that recreates `items[i]`, as `resource/name`.
/// `selected[j]` says whether item `j` is restored (before `skip_owned` is applied: an owner
/// that is itself skipped as owned is recreated too, so its dependents still are).
pub(crate) fn recreated_by(
    items: &[&BackupItem],
    facts: &[ItemFacts],
    i: usize,
    index: &OwnerIndex,
    selected: &[bool],
) -> Option<String> {
    let item = items[i];
    let kinds = recreating_owner_kinds(&item.group_resource);
    for r in &facts[i].owners {
        if !r.controller {
            continue;
        }
        if !kinds.contains(&r.kind.as_deref().unwrap_or_default()) {
            continue;
        }
        if let Some(j) = index.resolve(item, r)
            && selected[j]
        {
            return Some(format!("{}/{}", items[j].group_resource, items[j].name));
        }
    }
    // Endpoints of a Service with a selector are written by the endpoints controller.
    if item.group_resource == "endpoints" {
        let svc = items.iter().enumerate().find(|(j, s)| {
            selected[*j]
                && s.group_resource == "services"
                && s.namespace == item.namespace
                && s.name == item.name
        });
        if let Some((j, s)) = svc
            && facts[j].service_selector
        {
            return Some(format!("services/{}", s.name));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(gr: &str, ns: Option<&str>, name: &str, object: Value) -> BackupItem {
        BackupItem {
            group_resource: gr.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
            api_version: "v1".into(),
            object: object.into(),
            alt_versions: vec![],
        }
    }

    fn primary(f: &Filters, it: &BackupItem) -> Result<(), SkipReason> {
        f.primary(it, &it.object.to_value())
    }

    fn related(f: &Filters, it: &BackupItem) -> Result<(), SkipReason> {
        f.related(it, &it.object.to_value())
    }

    fn rules(it: &BackupItem) -> Result<(), SkipReason> {
        item_rules(&it.group_resource, &it.object.to_value())
    }

    #[test]
    fn filters_in_velero_order() {
        let scope = Scope {
            included_namespaces: vec!["app*".into()],
            label_selector: Some(crate::labels::LabelSelector::parse("tier in (web),!legacy").unwrap()),
            ..Default::default()
        };
        let surface = ApiSurface::default();
        let f = Filters::new(&scope, &surface).unwrap();
        let web = json!({"metadata": {"labels": {"tier": "web"}}});
        assert_eq!(primary(&f, &item("pods", Some("app1"), "a", web.clone())), Ok(()));
        assert_eq!(
            primary(&f, &item("pods", Some("db"), "a", web.clone())),
            Err(SkipReason::NamespaceFilter)
        );
        assert_eq!(
            primary(&f, &item("persistentvolumes", None, "pv", web.clone())),
            Err(SkipReason::ClusterScoped)
        );
        assert_eq!(
            primary(&f, &item("events", Some("app1"), "e", web.clone())),
            Err(SkipReason::AlwaysExcluded)
        );
        let legacy = json!({"metadata": {"labels": {"tier": "web", "legacy": ""}}});
        assert_eq!(
            primary(&f, &item("pods", Some("app1"), "a", legacy)),
            Err(SkipReason::LabelSelector)
        );
        // Must-have bypasses filters; related items bypass cluster scope and labels.
        let vsc = item(
            "volumesnapshotcontents.snapshot.storage.k8s.io",
            None,
            "c",
            json!({}),
        );
        assert_eq!(primary(&f, &vsc), Ok(()));
        assert_eq!(
            related(&f, &item("persistentvolumes", None, "pv", json!({}))),
            Ok(())
        );
    }

    #[test]
    fn per_item_rules() {
        let mirror = json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}});
        assert_eq!(
            rules(&item("pods", Some("a"), "p", mirror)),
            Err(SkipReason::MirrorPod)
        );
        let done = json!({"status": {"phase": "Succeeded"}});
        assert_eq!(
            rules(&item("pods", Some("a"), "p", done)),
            Err(SkipReason::CompletedPod {
                phase: "Succeeded".into()
            })
        );
        let job = json!({"status": {"completionTime": "2024-01-01T00:00:00Z"}});
        assert_eq!(
            rules(&item("jobs.batch", Some("a"), "j", job)),
            Err(SkipReason::CompletedJob)
        );
        let api = json!({"metadata": {"labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}}});
        assert_eq!(
            rules(&item("apiservices.apiregistration.k8s.io", None, "v1.apps", api)),
            Err(SkipReason::AutomanagedApiService)
        );
    }

    #[test]
    fn invalid_filters() {
        let bad = |scope: Scope| {
            let surface = ApiSurface::default();
            let e = Filters::new(&scope, &surface).err().unwrap();
            let source = std::error::Error::source(&e).map(ToString::to_string);
            format!("{e}: {}", source.unwrap_or_default())
        };
        assert!(
            bad(Scope {
                excluded_namespaces: vec!["*".into()],
                ..Default::default()
            })
            .contains("--exclude-namespaces cannot contain \"*\"")
        );
        assert!(
            bad(Scope {
                included_resources: vec!["nodes".into()],
                ..Default::default()
            })
            .contains("nodes is never restored")
        );
        assert!(
            bad(Scope {
                included_resources: vec!["pods".into()],
                included_cluster_scoped_resources: vec!["persistentvolumes".into()],
                ..Default::default()
            })
            .contains("cannot be mixed")
        );
    }

    #[test]
    fn scoped_family_at_restore() {
        let scope = Scope {
            included_cluster_scoped_resources: vec!["persistentvolumes".into()],
            excluded_namespace_scoped_resources: vec!["secrets".into()],
            included_names: vec![
                "persistentvolumes/pv*".parse().unwrap(),
                "configmaps/*/c*".parse().unwrap(),
            ],
            ..Default::default()
        };
        let surface = ApiSurface::default();
        let f = Filters::new(&scope, &surface).unwrap();
        assert_eq!(
            primary(&f, &item("persistentvolumes", None, "pv1", json!({}))),
            Ok(())
        );
        assert_eq!(
            primary(&f, &item("storageclasses.storage.k8s.io", None, "pv1", json!({}))),
            Err(SkipReason::ResourceFilter)
        );
        assert_eq!(
            primary(&f, &item("configmaps", Some("a"), "c1", json!({}))),
            Ok(())
        );
        assert_eq!(
            primary(&f, &item("configmaps", Some("a"), "d1", json!({}))),
            Err(SkipReason::NotNamed)
        );
        assert_eq!(
            primary(&f, &item("secrets", Some("a"), "c1", json!({}))),
            Err(SkipReason::ResourceFilter)
        );
    }
}
