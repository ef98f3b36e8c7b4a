//! Which resource types and items a backup takes, as Velero v1.18 decides it
//! (velero-format.md §4.1–§4.5). Pure: no IO.

use crate::glob::{self, IncludesExcludes};
use crate::labels::LabelSelector;
use crate::scope::{Scope, ScopeError, VOLUME_SNAPSHOT_CONTENTS, VOLUME_SNAPSHOTS};
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, ApiSurface};

/// The label that keeps an object (or a whole namespace) out of a backup.
pub const EXCLUDE_LABEL: &str = "velero.io/exclude-from-backup";

/// The filters as they are recorded in `velero-backup.json`: Velero's server appends the
/// volume-snapshot auto-excludes, to the old-style list when that family is used and to the
/// scoped lists otherwise (velero-format.md §3.3), and records `*` for "all namespaces".
#[must_use]
pub fn effective(scope: &Scope) -> Scope {
    let mut f = scope.clone();
    if f.included_namespaces.is_empty() {
        f.included_namespaces.push("*".into());
    }
    let push = |list: &mut Vec<String>, r: &str| {
        if !list.iter().any(|x| x == r) {
            list.push(r.into());
        }
    };
    if f.uses_old_style() {
        for r in [VOLUME_SNAPSHOTS, VOLUME_SNAPSHOT_CONTENTS] {
            push(&mut f.excluded_resources, r);
        }
    } else {
        push(&mut f.excluded_cluster_scoped_resources, VOLUME_SNAPSHOT_CONTENTS);
        push(&mut f.excluded_namespace_scoped_resources, VOLUME_SNAPSHOTS);
    }
    f
}

/// Filters resolved against discovery and the live namespace list: what the backup will do.
#[derive(Debug, Clone)]
pub struct Selection {
    old_style: bool,
    namespaces: IncludesExcludes,
    /// Whether the namespace filter selects every namespace.
    pub all_namespaces: bool,
    resources: IncludesExcludes,
    include_cluster: Option<bool>,
    cluster_scoped: IncludesExcludes,
    namespace_scoped: IncludesExcludes,
    /// The filters after auto-excludes, as recorded in velero-backup.json.
    pub effective: Scope,
}

fn resolve_all(surface: &ApiSurface, names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            if glob::has_wildcard(n) {
                n.clone()
            } else {
                surface.resolve(n).unwrap_or_else(|| n.clone())
            }
        })
        .collect()
}

/// Expand namespace include patterns with wildcards against the active namespaces, as Velero does
/// at backup time (`*` expands to every active namespace).
fn expand_namespaces(patterns: &[String], active: &[String]) -> Vec<String> {
    if !patterns.iter().any(|p| glob::has_wildcard(p)) {
        return patterns.to_vec();
    }
    let mut out: Vec<String> = Vec::new();
    for p in patterns {
        if glob::has_wildcard(p) {
            out.extend(active.iter().filter(|ns| glob::matches(p, ns)).cloned());
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

impl Selection {
    /// Resolve `filters` against discovery and the active namespaces.
    pub fn new(
        filters: &Scope,
        surface: &ApiSurface,
        active_namespaces: &[String],
    ) -> Result<Self, ScopeError> {
        filters.validate()?;
        if !filters.included_names.is_empty() {
            return Err(ScopeError::Unsupported {
                flag: "--include-name",
                command: "backup (Velero's Backup has no name filter)",
            });
        }
        let effective = effective(filters);
        let all_namespaces = IncludesExcludes::new(
            effective.included_namespaces.clone(),
            effective.excluded_namespaces.clone(),
        )
        .includes_everything();
        let namespaces = IncludesExcludes::new(
            expand_namespaces(&effective.included_namespaces, active_namespaces),
            expand_namespaces(&effective.excluded_namespaces, active_namespaces),
        );
        Ok(Self {
            old_style: effective.uses_old_style(),
            all_namespaces,
            namespaces,
            resources: IncludesExcludes::new(
                resolve_all(surface, &effective.included_resources),
                resolve_all(surface, &effective.excluded_resources),
            ),
            include_cluster: effective.include_cluster_resources,
            cluster_scoped: IncludesExcludes::new(
                resolve_all(surface, &effective.included_cluster_scoped_resources),
                resolve_all(surface, &effective.excluded_cluster_scoped_resources),
            ),
            namespace_scoped: IncludesExcludes::new(
                resolve_all(surface, &effective.included_namespace_scoped_resources),
                resolve_all(surface, &effective.excluded_namespace_scoped_resources),
            ),
            effective,
        })
    }

    /// Whether items of namespace `ns` are in the backup.
    pub fn namespace_included(&self, ns: &str) -> bool {
        self.namespaces.should_include(ns)
    }

    /// The namespaces to list namespaced types in, or `None` for one cluster-wide LIST.
    pub fn list_namespaces(&self, active: &[String]) -> Option<Vec<String>> {
        if self.all_namespaces {
            None
        } else {
            Some(
                active
                    .iter()
                    .filter(|ns| self.namespace_included(ns))
                    .cloned()
                    .collect(),
            )
        }
    }

    /// Whether a resource type is listed directly (not only pulled in as related items).
    pub fn lists_type(&self, res: &ApiResourceInfo) -> bool {
        let gr = res.group_resource();
        if self.old_style {
            if !res.namespaced {
                if self.include_cluster == Some(false) {
                    return false;
                }
                if gr != "namespaces" && self.include_cluster.is_none() && !self.all_namespaces {
                    return false;
                }
            }
            return self.resources.should_include(&gr);
        }
        if res.namespaced {
            return self.namespace_scoped.should_include(&gr);
        }
        if self.cluster_scoped.explicitly_excludes(&gr) {
            return false;
        }
        if gr == "namespaces" || self.cluster_scoped.explicitly_includes(&gr) {
            return true;
        }
        self.cluster_scoped.includes.is_empty()
            && self.cluster_scoped.excludes.is_empty()
            && self.all_namespaces
            && self.namespace_scoped.includes_everything()
    }

    /// Whether a namespaced item of type `gr` passes the type filter.
    fn namespaced_type_included(&self, gr: &str) -> bool {
        if self.old_style {
            self.resources.should_include(gr)
        } else {
            self.namespace_scoped.should_include(gr)
        }
    }

    /// Whether a cluster-scoped related item of type `gr` (a PV, CRD, `ClusterRole`…) may be pulled in.
    pub fn allows_related_cluster(&self, gr: &str) -> bool {
        if self.old_style {
            self.include_cluster != Some(false) && self.resources.should_include(gr)
        } else {
            !self.cluster_scoped.explicitly_excludes(gr)
        }
    }

    /// Whether CRDs of backed-up custom resources are appended (only when CRDs are neither
    /// explicitly included nor explicitly excluded).
    pub fn appends_crds(&self) -> bool {
        let gr = "customresourcedefinitions.apiextensions.k8s.io";
        let (inc, exc) = if self.old_style {
            (&self.resources, &self.resources)
        } else {
            (&self.cluster_scoped, &self.cluster_scoped)
        };
        let explicit_inc = inc.includes.iter().any(|p| p != "*" && glob::matches(p, gr));
        !explicit_inc && !exc.explicitly_excludes(gr) && self.allows_related_cluster(gr)
    }

    /// The per-item checks of §4.5 (label, namespace, type, deletion); `None` when the item is
    /// taken, else the reason it is skipped.
    pub fn skip_reason(&self, gr: &str, namespaced: bool, obj: &Value) -> Option<&'static str> {
        let excluded = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.get(EXCLUDE_LABEL))
            .and_then(Value::as_str)
            == Some("true");
        let deleting = obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null());
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.skip_reason_of(gr, namespaced, excluded, deleting, ns)
    }

    /// [`Selection::skip_reason`] from the facts it reads: the exclude label is `"true"`, a
    /// deletion timestamp is set, the namespace (empty when none).
    pub fn skip_reason_of(
        &self,
        gr: &str,
        namespaced: bool,
        excluded: bool,
        deleting: bool,
        ns: &str,
    ) -> Option<&'static str> {
        if excluded {
            return Some("labelled velero.io/exclude-from-backup=true");
        }
        if deleting {
            return Some("being deleted");
        }
        if namespaced {
            if !self.namespace_included(ns) {
                return Some("namespace excluded");
            }
            if !self.namespaced_type_included(gr) {
                return Some("resource type excluded");
            }
        } else if gr != "namespaces" && !self.allows_related_cluster(gr) {
            return Some("resource type excluded");
        }
        None
    }

    /// Whether a label selector is in force (then namespaces are not kept merely for passing
    /// an all-namespaces filter).
    pub fn has_selector(&self) -> bool {
        self.effective.has_selector()
    }

    /// §4.4: keep a Namespace object when it matches a selector, passes the namespace filter
    /// (unless the filter is "everything" and a selector is set), or contributed an item.
    pub fn keep_namespace(&self, ns: &Value, had_items: bool) -> bool {
        if had_items {
            return true;
        }
        let name = ns
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let active = ns
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .is_none_or(|p| p == "Active");
        if !active {
            return false;
        }
        if self
            .effective
            .selectors()
            .any(|s: &LabelSelector| s.matches_object(ns))
        {
            return true;
        }
        if self.all_namespaces && self.has_selector() {
            return false;
        }
        self.namespace_included(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(group: &str, resource: &str, kind: &str, namespaced: bool) -> ApiResourceInfo {
        ApiResourceInfo {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: kind.into(),
            singular: kind.to_ascii_lowercase(),
            namespaced,
            verbs: ["list", "create", "get", "delete"]
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            short_names: vec![],
            preferred: true,
        }
    }

    fn surface() -> ApiSurface {
        ApiSurface {
            resources: vec![
                res("", "pods", "Pod", true),
                res("", "configmaps", "ConfigMap", true),
                res("", "namespaces", "Namespace", false),
                res("", "persistentvolumes", "PersistentVolume", false),
                res("apps", "deployments", "Deployment", true),
                res("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", false),
                res(
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                    "CustomResourceDefinition",
                    false,
                ),
            ],
            ..ApiSurface::default()
        }
    }

    fn sel(f: &Scope) -> Selection {
        Selection::new(
            f,
            &surface(),
            &["app".into(), "kube-system".into(), "other".into()],
        )
        .unwrap()
    }

    fn lists(s: &Selection, gr: &str) -> bool {
        let sf = surface();
        let r = sf.resources.iter().find(|r| r.group_resource() == gr).unwrap();
        s.lists_type(r)
    }

    // Table of Velero v1.18's type decisions (§4.2).
    #[test]
    fn type_decisions() {
        let cases: Vec<(Scope, &str, bool)> = vec![
            // No filters: new-style with auto-excludes → only namespaces among cluster-scoped.
            (Scope::default(), "pods", true),
            (Scope::default(), "namespaces", true),
            (Scope::default(), "clusterroles.rbac.authorization.k8s.io", false),
            (Scope::default(), "persistentvolumes", false),
            // Old-style include-cluster-resources=true → everything.
            (
                Scope {
                    include_cluster_resources: Some(true),
                    ..Default::default()
                },
                "clusterroles.rbac.authorization.k8s.io",
                true,
            ),
            (
                Scope {
                    include_cluster_resources: Some(false),
                    ..Default::default()
                },
                "namespaces",
                false,
            ),
            (
                Scope {
                    include_cluster_resources: Some(false),
                    ..Default::default()
                },
                "pods",
                true,
            ),
            // Old-style with a namespace filter and nil cluster switch: cluster types only related.
            (
                Scope {
                    included_namespaces: vec!["app".into()],
                    included_resources: vec!["*".into()],
                    ..Default::default()
                },
                "persistentvolumes",
                false,
            ),
            (
                Scope {
                    included_namespaces: vec!["app".into()],
                    included_resources: vec!["*".into()],
                    ..Default::default()
                },
                "namespaces",
                true,
            ),
            // Old-style resource names resolved through discovery (short/singular/kind).
            (
                Scope {
                    included_resources: vec!["pod".into()],
                    ..Default::default()
                },
                "pods",
                true,
            ),
            (
                Scope {
                    included_resources: vec!["pod".into()],
                    ..Default::default()
                },
                "configmaps",
                false,
            ),
            (
                Scope {
                    excluded_resources: vec!["deployments.apps".into()],
                    ..Default::default()
                },
                "deployments.apps",
                false,
            ),
            // New-style explicit cluster-scoped includes.
            (
                Scope {
                    included_cluster_scoped_resources: vec!["*".into()],
                    ..Default::default()
                },
                "persistentvolumes",
                true,
            ),
            (
                Scope {
                    included_cluster_scoped_resources: vec!["clusterroles".into()],
                    ..Default::default()
                },
                "clusterroles.rbac.authorization.k8s.io",
                true,
            ),
            (
                Scope {
                    included_cluster_scoped_resources: vec!["clusterroles".into()],
                    ..Default::default()
                },
                "persistentvolumes",
                false,
            ),
            (
                Scope {
                    excluded_namespace_scoped_resources: vec!["configmaps".into()],
                    ..Default::default()
                },
                "configmaps",
                false,
            ),
            (
                Scope {
                    included_namespace_scoped_resources: vec!["*.apps".into()],
                    ..Default::default()
                },
                "deployments.apps",
                true,
            ),
            (
                Scope {
                    included_namespace_scoped_resources: vec!["*.apps".into()],
                    ..Default::default()
                },
                "pods",
                false,
            ),
        ];
        for (i, (f, gr, want)) in cases.iter().enumerate() {
            assert_eq!(lists(&sel(f), gr), *want, "case {i}: {gr} with {f:?}");
        }
    }

    #[test]
    fn effective_filters_record_auto_excludes() {
        let e = effective(&Scope::default());
        assert_eq!(e.included_namespaces, vec!["*"]);
        assert_eq!(
            e.excluded_cluster_scoped_resources,
            vec![VOLUME_SNAPSHOT_CONTENTS]
        );
        assert_eq!(e.excluded_namespace_scoped_resources, vec![VOLUME_SNAPSHOTS]);
        let o = effective(&Scope {
            include_cluster_resources: Some(true),
            ..Default::default()
        });
        assert_eq!(
            o.excluded_resources,
            vec![VOLUME_SNAPSHOTS, VOLUME_SNAPSHOT_CONTENTS]
        );
        assert!(o.excluded_cluster_scoped_resources.is_empty());
    }

    #[test]
    fn mixing_families_is_rejected() {
        let f = Scope {
            included_resources: vec!["pods".into()],
            included_cluster_scoped_resources: vec!["*".into()],
            ..Default::default()
        };
        assert!(Selection::new(&f, &surface(), &[]).is_err());
    }

    #[test]
    fn namespace_wildcards_expand_and_items_are_checked() {
        let f = Scope {
            included_namespaces: vec!["ap*".into()],
            ..Default::default()
        };
        let s = sel(&f);
        assert!(!s.all_namespaces);
        assert_eq!(
            s.list_namespaces(&["app".into(), "other".into()]),
            Some(vec!["app".to_string()])
        );
        let cm = json!({"metadata": {"name": "c", "namespace": "other"}});
        assert_eq!(s.skip_reason("configmaps", true, &cm), Some("namespace excluded"));
        let ok = json!({"metadata": {"name": "c", "namespace": "app"}});
        assert_eq!(s.skip_reason("configmaps", true, &ok), None);
        let labelled =
            json!({"metadata": {"name": "c", "namespace": "app", "labels": {EXCLUDE_LABEL: "true"}}});
        assert!(s.skip_reason("configmaps", true, &labelled).is_some());
        let deleting = json!({"metadata": {"name": "c", "namespace": "app", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(
            s.skip_reason("configmaps", true, &deleting),
            Some("being deleted")
        );
    }

    #[test]
    fn namespace_objects_kept_per_rules() {
        let s = sel(&Scope {
            included_namespaces: vec!["app".into()],
            ..Default::default()
        });
        let ns = |n: &str| json!({"metadata": {"name": n}, "status": {"phase": "Active"}});
        assert!(s.keep_namespace(&ns("app"), false));
        assert!(!s.keep_namespace(&ns("other"), false));
        assert!(s.keep_namespace(&ns("other"), true));
        let with_sel = sel(&Scope {
            label_selector: Some(LabelSelector::parse("a=b").unwrap()),
            ..Default::default()
        });
        assert!(!with_sel.keep_namespace(&ns("app"), false));
        let labelled =
            json!({"metadata": {"name": "x", "labels": {"a": "b"}}, "status": {"phase": "Active"}});
        assert!(with_sel.keep_namespace(&labelled, false));
    }

    #[test]
    fn crds_appended_unless_explicit() {
        assert!(sel(&Scope::default()).appends_crds());
        let exc = Scope {
            excluded_cluster_scoped_resources: vec!["customresourcedefinitions".into()],
            ..Default::default()
        };
        assert!(!sel(&exc).appends_crds());
        let inc = Scope {
            included_cluster_scoped_resources: vec!["customresourcedefinitions".into()],
            ..Default::default()
        };
        assert!(!sel(&inc).appends_crds());
    }
}
