//! Which objects a command works on — the one filter model shared by backup, restore, inspect,
//! and the commands built on them (migrate, verify, diff, sync, preflight, images).
//!
//! A [`Scope`] holds the filters as the user gave them, already parsed (selectors, names) and
//! checked the way Velero checks them. Each command then resolves it against what it reads:
//! backup against the source's discovery and namespaces ([`crate::backup::Selection`]), restore
//! against the target's discovery, offline commands against the archive's paths
//! ([`Scope::matches_entry`]).
//!
//! Resource filters come in Velero's two families, which cannot be mixed: the old one
//! (`included/excludedResources` + `includeClusterResources`) and the scoped one
//! (`included/excludedClusterScopedResources`, `included/excludedNamespaceScopedResources`).

use crate::glob::{self, IncludesExcludes};
use crate::labels::{LabelSelector, object_labels};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use thiserror::Error;

/// The two resource types Velero appends to every backup's exclude lists.
pub const VOLUME_SNAPSHOTS: &str = "volumesnapshots.snapshot.storage.k8s.io";
/// See [`VOLUME_SNAPSHOTS`].
pub const VOLUME_SNAPSHOT_CONTENTS: &str = "volumesnapshotcontents.snapshot.storage.k8s.io";

/// An option the user gave that skiff cannot use. The message names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// Old-style and scoped resource filters were both given.
    #[error(
        "old-style resource filters (--include-resources, --exclude-resources, --include-cluster-resources) \
         cannot be mixed with the scoped ones (--include/exclude-cluster-scoped-resources, \
         --include/exclude-namespace-scoped-resources)"
    )]
    MixedResourceFilters,
    /// `--selector` and `--or-selector` together.
    #[error("--selector and --or-selector are mutually exclusive")]
    SelectorAndOrSelector,
    /// `*` in an exclude list.
    #[error("{flag} cannot contain \"*\"")]
    WildcardExclude {
        /// The flag.
        flag: &'static str,
    },
    /// A namespace pattern Velero rejects.
    #[error("invalid namespace pattern {pattern:?}: {reason}")]
    NamespacePattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A label selector that does not parse.
    #[error("{flag} {selector:?}: {reason}")]
    Selector {
        /// The flag.
        flag: &'static str,
        /// The selector text.
        selector: String,
        /// Why.
        reason: String,
    },
    /// An `--include-name` entry that is not `<name>`, `<resource>/<name>` or
    /// `<resource>/<namespace>/<name>`.
    #[error(
        "--include-name {entry:?} must be <name>, <resource>/<name> (cluster-scoped) or <resource>/<namespace>/<name>"
    )]
    Name {
        /// The entry.
        entry: String,
    },
    /// A filter the command does not support.
    #[error("{flag} is not supported by {command}")]
    Unsupported {
        /// The flag.
        flag: &'static str,
        /// The command.
        command: &'static str,
    },
}

/// Which objects: namespaces, resources (one of Velero's two families), label selectors, names.
/// Empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Namespace include globs; empty means all.
    pub included_namespaces: Vec<String>,
    /// Namespace exclude globs.
    pub excluded_namespaces: Vec<String>,
    /// Old-style resource includes (names, short names or globs).
    pub included_resources: Vec<String>,
    /// Old-style resource excludes.
    pub excluded_resources: Vec<String>,
    /// Old-style cluster-resource switch: `None` = Velero's automatic rule.
    pub include_cluster_resources: Option<bool>,
    /// Scoped family: cluster-scoped includes.
    pub included_cluster_scoped_resources: Vec<String>,
    /// Scoped family: cluster-scoped excludes.
    pub excluded_cluster_scoped_resources: Vec<String>,
    /// Scoped family: namespace-scoped includes.
    pub included_namespace_scoped_resources: Vec<String>,
    /// Scoped family: namespace-scoped excludes.
    pub excluded_namespace_scoped_resources: Vec<String>,
    /// Label selector every object must match.
    pub label_selector: Option<LabelSelector>,
    /// Or-selectors: an object passes when any matches (exclusive with `label_selector`).
    pub or_label_selectors: Vec<LabelSelector>,
    /// Only these objects (and, for restore, their related items); empty = no name filter.
    pub included_names: Vec<NamePattern>,
}

impl Scope {
    /// Whether any old-style resource filter is set (then the old family is used).
    pub fn uses_old_style(&self) -> bool {
        !self.included_resources.is_empty()
            || !self.excluded_resources.is_empty()
            || self.include_cluster_resources.is_some()
    }

    /// Whether any scoped resource filter is set.
    pub fn uses_scoped(&self) -> bool {
        !self.included_cluster_scoped_resources.is_empty()
            || !self.excluded_cluster_scoped_resources.is_empty()
            || !self.included_namespace_scoped_resources.is_empty()
            || !self.excluded_namespace_scoped_resources.is_empty()
    }

    /// Check the filters the way Velero's validation does.
    pub fn validate(&self) -> Result<(), ScopeError> {
        if self.uses_old_style() && self.uses_scoped() {
            return Err(ScopeError::MixedResourceFilters);
        }
        if self.label_selector.is_some() && !self.or_label_selectors.is_empty() {
            return Err(ScopeError::SelectorAndOrSelector);
        }
        for p in self.included_namespaces.iter().chain(&self.excluded_namespaces) {
            glob::validate_namespace_pattern(p).map_err(|reason| ScopeError::NamespacePattern {
                pattern: p.clone(),
                reason,
            })?;
        }
        for (flag, list) in [
            ("--exclude-namespaces", &self.excluded_namespaces),
            ("--exclude-resources", &self.excluded_resources),
            (
                "--exclude-cluster-scoped-resources",
                &self.excluded_cluster_scoped_resources,
            ),
            (
                "--exclude-namespace-scoped-resources",
                &self.excluded_namespace_scoped_resources,
            ),
        ] {
            if list.iter().any(|p| p == "*") {
                return Err(ScopeError::WildcardExclude { flag });
            }
        }
        Ok(())
    }

    /// The namespace include/exclude pair.
    pub fn namespaces(&self) -> IncludesExcludes {
        IncludesExcludes::new(self.included_namespaces.clone(), self.excluded_namespaces.clone())
    }

    /// Whether a label selector or or-selectors are set.
    pub fn has_selector(&self) -> bool {
        self.label_selector.is_some() || !self.or_label_selectors.is_empty()
    }

    /// The selectors in force (the label selector, or the or-selectors).
    pub fn selectors(&self) -> impl Iterator<Item = &LabelSelector> {
        self.label_selector.iter().chain(&self.or_label_selectors)
    }

    /// Whether an object passes the selectors (true when none is set).
    pub fn selectors_match(&self, object: &Value) -> bool {
        if !self.has_selector() {
            return true;
        }
        let labels = object_labels(object);
        self.selectors().any(|s| s.matches(&labels))
    }

    /// Whether the item passes the name filter (true when none is set). `group_resource` is the
    /// item's resolved group-resource; each pattern's resource is matched through
    /// [`resource_matches`] after `resolve` (which maps user resource names to group-resources).
    pub fn names_match(
        &self,
        resolve: &dyn Fn(&str) -> Option<String>,
        group_resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        self.included_names.is_empty()
            || self
                .included_names
                .iter()
                .any(|p| p.matches(resolve, group_resource, namespace, name))
    }

    /// Offline matching of one archive entry (no discovery: resources match by group-resource,
    /// glob, or the plural before the first `.`): namespaces, resource filters of either family
    /// (cluster-scoped entries pass the namespace filter), names. Label selectors need the
    /// object: see [`Scope::selectors_match`].
    pub fn matches_entry(&self, group_resource: &str, namespace: Option<&str>, name: &str) -> bool {
        let any =
            |pats: &[String]| pats.is_empty() || pats.iter().any(|p| resource_matches(p, group_resource));
        let none = |pats: &[String]| !pats.iter().any(|p| resource_matches(p, group_resource));
        if let Some(ns) = namespace {
            if !self.namespaces().should_include(ns) {
                return false;
            }
        } else if self.include_cluster_resources == Some(false) {
            return false;
        }
        let types_ok = if namespace.is_some() {
            any(&self.included_resources)
                && none(&self.excluded_resources)
                && any(&self.included_namespace_scoped_resources)
                && none(&self.excluded_namespace_scoped_resources)
        } else {
            any(&self.included_resources)
                && none(&self.excluded_resources)
                && any(&self.included_cluster_scoped_resources)
                && none(&self.excluded_cluster_scoped_resources)
        };
        types_ok && self.names_match(&|_| None, group_resource, namespace, name)
    }
}

/// Whether a user's resource pattern names `group_resource` (`configmaps`, `deployments.apps`):
/// equal, a glob that matches, or the plural part before the first `.` (`deployments`).
pub fn resource_matches(pattern: &str, group_resource: &str) -> bool {
    pattern == "*"
        || pattern.eq_ignore_ascii_case(group_resource)
        || glob::matches(pattern, group_resource)
        || group_resource
            .split('.')
            .next()
            .is_some_and(|plural| pattern.eq_ignore_ascii_case(plural))
}

/// Which namespace an [`NamePattern`] names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NamespacePart {
    /// Any namespace, and cluster-scoped objects (`<name>`).
    Any,
    /// Cluster-scoped only (`<resource>/<name>`).
    ClusterScoped,
    /// Namespaces matching this glob (`<resource>/<namespace>/<name>`).
    Pattern(String),
}

/// One `--include-name` entry: `<name>`, `<resource>/<name>` (cluster-scoped) or
/// `<resource>/<namespace>/<name>`; every part may be a glob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamePattern {
    /// Resource name, short name or glob; `None` = any resource.
    pub resource: Option<String>,
    /// Namespace part.
    pub namespace: NamespacePart,
    /// Name or glob.
    pub name: String,
}

impl std::str::FromStr for NamePattern {
    type Err = ScopeError;
    fn from_str(entry: &str) -> Result<Self, ScopeError> {
        let bad = || ScopeError::Name { entry: entry.into() };
        let parts: Vec<&str> = entry.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        Ok(match parts[..] {
            [n] => Self {
                resource: None,
                namespace: NamespacePart::Any,
                name: n.into(),
            },
            [r, n] => Self {
                resource: Some(r.into()),
                namespace: NamespacePart::ClusterScoped,
                name: n.into(),
            },
            [r, ns, n] => Self {
                resource: Some(r.into()),
                namespace: NamespacePart::Pattern(ns.into()),
                name: n.into(),
            },
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.resource {
            write!(f, "{r}/")?;
        }
        if let NamespacePart::Pattern(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

impl NamePattern {
    /// Whether the pattern names the item. `resolve` maps a user resource name to its
    /// group-resource (discovery); unresolved names match through [`resource_matches`].
    pub fn matches(
        &self,
        resolve: &dyn Fn(&str) -> Option<String>,
        group_resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let resource_ok = self.resource.as_deref().is_none_or(|r| {
            (!glob::has_wildcard(r) && resolve(r).is_some_and(|gr| gr == group_resource))
                || resource_matches(r, group_resource)
        });
        let namespace_ok = match (&self.namespace, namespace) {
            (NamespacePart::Any, _) | (NamespacePart::ClusterScoped, None) => true,
            (NamespacePart::Pattern(p), Some(ns)) => glob::matches(p, ns),
            _ => false,
        };
        resource_ok && namespace_ok && glob::matches(&self.name, name)
    }
}

/// Parse a label selector for `flag`.
pub fn parse_selector(flag: &'static str, text: &str) -> Result<LabelSelector, ScopeError> {
    LabelSelector::parse(text).map_err(|reason| ScopeError::Selector {
        flag,
        selector: text.into(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[&str]) -> Scope {
        Scope {
            included_names: entries.iter().map(|e| e.parse().unwrap()).collect(),
            ..Scope::default()
        }
    }

    #[test]
    fn name_patterns_parse_and_print() {
        for e in [
            "web",
            "configmaps/app/web",
            "persistentvolumes/pv-1",
            "deploy*/a*/w?b",
        ] {
            assert_eq!(e.parse::<NamePattern>().unwrap().to_string(), e);
        }
        for bad in ["", "a//b", "/x", "a/b/c/d", "x/"] {
            assert_eq!(
                bad.parse::<NamePattern>(),
                Err(ScopeError::Name { entry: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn name_patterns_match() {
        let resolve = |r: &str| (r == "cm").then(|| "configmaps".to_string());
        let s = names(&["cm/app/web-*", "persistentvolumes/pv-1"]);
        assert!(s.names_match(&resolve, "configmaps", Some("app"), "web-1"));
        assert!(!s.names_match(&resolve, "configmaps", Some("other"), "web-1"));
        assert!(!s.names_match(&resolve, "secrets", Some("app"), "web-1"));
        assert!(s.names_match(&resolve, "persistentvolumes", None, "pv-1"));
        assert!(!s.names_match(&resolve, "persistentvolumes", Some("x"), "pv-1"));
        let any = names(&["web"]);
        assert!(any.names_match(&resolve, "deployments.apps", Some("a"), "web"));
        assert!(any.names_match(&resolve, "namespaces", None, "web"));
        assert!(Scope::default().names_match(&resolve, "x", None, "y"));
    }

    #[test]
    fn validation_names_the_flag() {
        let mixed = Scope {
            included_resources: vec!["pods".into()],
            included_namespace_scoped_resources: vec!["configmaps".into()],
            ..Scope::default()
        };
        assert_eq!(mixed.validate(), Err(ScopeError::MixedResourceFilters));
        let star = Scope {
            excluded_namespace_scoped_resources: vec!["*".into()],
            ..Scope::default()
        };
        assert_eq!(
            star.validate().unwrap_err().to_string(),
            "--exclude-namespace-scoped-resources cannot contain \"*\""
        );
        let ns = Scope {
            included_namespaces: vec!["a,b".into()],
            ..Scope::default()
        };
        assert!(matches!(ns.validate(), Err(ScopeError::NamespacePattern { .. })));
        let sel = Scope {
            label_selector: Some(LabelSelector::parse("a=b").unwrap()),
            or_label_selectors: vec![LabelSelector::parse("c=d").unwrap()],
            ..Scope::default()
        };
        assert_eq!(sel.validate(), Err(ScopeError::SelectorAndOrSelector));
        assert!(matches!(
            parse_selector("--selector", "a in (b"),
            Err(ScopeError::Selector {
                flag: "--selector",
                ..
            })
        ));
    }

    #[test]
    fn entries_match_offline() {
        let s = Scope {
            included_namespaces: vec!["app-*".into()],
            included_resources: vec!["deployments".into(), "configmaps".into()],
            ..Scope::default()
        };
        assert!(s.matches_entry("deployments.apps", Some("app-1"), "web"));
        assert!(s.matches_entry("configmaps", Some("app-2"), "c"));
        assert!(!s.matches_entry("secrets", Some("app-1"), "s"));
        assert!(!s.matches_entry("configmaps", Some("other"), "c"));
        let scoped = Scope {
            included_cluster_scoped_resources: vec!["persistentvolumes".into()],
            excluded_namespace_scoped_resources: vec!["secrets".into()],
            ..Scope::default()
        };
        assert!(scoped.matches_entry("persistentvolumes", None, "pv"));
        assert!(!scoped.matches_entry("storageclasses.storage.k8s.io", None, "sc"));
        assert!(scoped.matches_entry("configmaps", Some("x"), "c"));
        assert!(!scoped.matches_entry("secrets", Some("x"), "s"));
        let no_cluster = Scope {
            include_cluster_resources: Some(false),
            ..Scope::default()
        };
        assert!(!no_cluster.matches_entry("namespaces", None, "x"));
        assert!(Scope::default().matches_entry("anything.example.com", None, "x"));
    }

    #[test]
    fn selectors_match_objects() {
        let s = Scope {
            or_label_selectors: vec![
                LabelSelector::parse("app=a").unwrap(),
                LabelSelector::parse("team=b").unwrap(),
            ],
            ..Scope::default()
        };
        let obj = |l: Value| serde_json::json!({"metadata": {"labels": l}});
        assert!(s.selectors_match(&obj(serde_json::json!({"team": "b"}))));
        assert!(!s.selectors_match(&obj(serde_json::json!({"app": "b"}))));
        assert!(Scope::default().selectors_match(&obj(serde_json::json!({}))));
    }
}
