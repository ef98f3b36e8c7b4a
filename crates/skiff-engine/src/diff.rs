//! `skiff diff`: what differs between two sides (backups or live clusters), object by object.
//!
//! Both sides are read with the same [`Scope`] (its namespaces mapped for the second side,
//! [`Mappings::target_scope`]); the mappings are applied to the first side's objects (so
//! "backup of cluster A, mapped" compares with "cluster B"): namespaces (the object's namespace,
//! a Namespace's name, RoleBinding subjects, PV claim references), storage classes and image
//! registries. Objects are compared after [`compare::normalize`] on both sides, symmetrically
//! ([`compare::diff`]): per object *added* (only on the second side), *removed* (only on the
//! first) or *changed* (with field paths). As in verify, objects the clusters' controllers make
//! or own ([`crate::verify::is_derived`]: events, Pods of ReplicaSets, token Secrets, Endpoints
//! of Services with selectors, …) are left out: they differ between any two reads or clusters
//! and follow from the objects that are compared.

// Kubernetes kind names appear as prose in these docs.
#![allow(clippy::doc_markdown)]

use crate::compare::{self, Difference};
use crate::error::Result;
use crate::images::map_object_images;
use crate::mappings::Mappings;
use crate::progress::Progress;
use crate::scope::Scope;
use crate::side::{Side, SideObject};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use tokio_util::sync::CancellationToken;

/// Options of a diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Which objects, on both sides.
    pub scope: Scope,
    /// Applied to the first side.
    pub mappings: Mappings,
}

/// How an object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only on the second side.
    Added,
    /// Only on the first side.
    Removed,
    /// On both, with differing fields.
    Changed,
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    /// Group-resource.
    pub resource: String,
    /// Namespace (after mapping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name (after mapping).
    pub name: String,
    /// How it differs.
    pub change: Change,
    /// Differing fields (first side = `expected`, second = `actual`); empty for added/removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
}

/// Counts of a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffSummary {
    /// Objects on both sides and equal.
    pub equal: usize,
    /// Added.
    pub added: usize,
    /// Removed.
    pub removed: usize,
    /// Changed.
    pub changed: usize,
}

/// The result of a diff.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    /// The first side.
    pub from: String,
    /// The second side.
    pub to: String,
    /// Counts.
    pub summary: DiffSummary,
    /// Objects that differ, by (resource, namespace, name).
    pub objects: Vec<ObjectDiff>,
}

impl DiffReport {
    /// Whether anything differs.
    pub fn has_differences(&self) -> bool {
        !self.objects.is_empty()
    }
}

/// Read both sides and compare them (see the module docs).
///
/// # Errors
/// Reading a side fails, or the run is cancelled.
pub async fn diff(
    from: &Side,
    to: &Side,
    opts: &DiffOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<DiffReport> {
    let to_scope = opts.mappings.target_scope(&opts.scope);
    // managedFields are never compared (normalisation drops them): gone as soon as parsed.
    let trim = |o: &mut Value| {
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    };
    let (a, b) = tokio::try_join!(
        from.read_trimmed(&opts.scope, progress, cancel, trim),
        to.read_trimmed(&to_scope, progress, cancel, trim)
    )?;
    progress.stage("comparing", Some((a.len() + b.len()) as u64));
    let mut report = diff_objects(a, b, &opts.mappings);
    progress.finish_stage();
    report.from = from.describe();
    report.to = to.describe();
    Ok(report)
}

/// Key of an object: (group-resource, namespace, name).
type Key = (String, Option<String>, String);

/// Apply the mappings to an object of the first side; returns its key after mapping.
pub fn map_object(obj: &mut SideObject, mappings: &Mappings) {
    let gr = obj.group_resource.as_str();
    let mapped_ns = |ns: &str| mappings.namespaces.get(ns).cloned();
    if let Some(new) = obj.namespace.as_deref().and_then(mapped_ns) {
        obj.object["metadata"]["namespace"] = Value::String(new.clone());
        obj.namespace = Some(new);
    }
    match gr {
        "namespaces" => {
            if let Some(new) = mapped_ns(&obj.name) {
                obj.object["metadata"]["name"] = Value::String(new.clone());
                obj.name = new;
            }
        }
        "rolebindings.rbac.authorization.k8s.io" | "clusterrolebindings.rbac.authorization.k8s.io" => {
            for s in obj
                .object
                .get_mut("subjects")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(new) = s.get("namespace").and_then(Value::as_str).and_then(mapped_ns) {
                    s["namespace"] = Value::String(new);
                }
            }
        }
        "persistentvolumes" => {
            if let Some(c) = obj.object.pointer_mut("/spec/claimRef")
                && let Some(new) = c.get("namespace").and_then(Value::as_str).and_then(mapped_ns)
            {
                c["namespace"] = Value::String(new);
            }
        }
        _ => {}
    }
    let class_at = |v: Option<&mut Value>| {
        if let Some(v) = v
            && let Some(new) = v
                .get("storageClassName")
                .and_then(Value::as_str)
                .and_then(|c| mappings.storage_classes.get(c))
        {
            v["storageClassName"] = Value::String(new.clone());
        }
    };
    match gr {
        "persistentvolumes" | "persistentvolumeclaims" => class_at(obj.object.get_mut("spec")),
        "statefulsets.apps" => {
            for t in obj
                .object
                .pointer_mut("/spec/volumeClaimTemplates")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                class_at(t.get_mut("spec"));
            }
        }
        _ => {}
    }
    map_object_images(&mut obj.object, &mappings.image_registries);
}

/// Compare the objects of two sides (mappings applied to the first). Pure.
pub fn diff_objects(a: Vec<SideObject>, b: Vec<SideObject>, mappings: &Mappings) -> DiffReport {
    // Services with selectors on either side (mapped): their Endpoints are derived.
    let mut selector_services: BTreeSet<(Option<String>, String)> = BTreeSet::new();
    for (o, map) in a.iter().map(|o| (o, true)).chain(b.iter().map(|o| (o, false))) {
        if o.group_resource == "services" && crate::verify::has_selector(&o.object) {
            let ns = o.namespace.as_deref().map(|n| {
                if map {
                    mappings.namespace(n).to_string()
                } else {
                    n.to_string()
                }
            });
            selector_services.insert((ns, o.name.clone()));
        }
    }
    let selector_service = |ns: Option<&str>, name: &str| {
        selector_services.contains(&(ns.map(str::to_string), name.to_string()))
    };
    let keep = |o: &SideObject| !crate::verify::is_derived(&o.group_resource, &o.object, &selector_service);
    // Mapping and normalising are per object: on every core.
    let index = |objs: Vec<SideObject>, map: bool| -> BTreeMap<Key, Value> {
        let normalised: Vec<(Key, Value)> = objs
            .into_par_iter()
            .map(|mut o| {
                if map {
                    map_object(&mut o, mappings);
                }
                o
            })
            .filter(keep)
            .map(|mut o| {
                compare::normalize(&o.group_resource, &mut o.object);
                ((o.group_resource, o.namespace, o.name), o.object)
            })
            .collect();
        normalised.into_iter().collect()
    };
    let (mut a, mut b) = (index(a, true), index(b, false));
    // A label (annotation) map on one side only is compared key by key against an empty one,
    // so paths name the label (`metadata.labels.tier`), not the whole map.
    for (key, av) in &mut a {
        if let Some(bv) = b.get_mut(key) {
            for field in ["labels", "annotations"] {
                let (ha, hb) = (
                    av.pointer("/metadata").and_then(|m| m.get(field)).is_some(),
                    bv.pointer("/metadata").and_then(|m| m.get(field)).is_some(),
                );
                let empty = || Value::Object(serde_json::Map::new());
                if ha && !hb && bv.get("metadata").is_some_and(Value::is_object) {
                    bv["metadata"][field] = empty();
                } else if hb && !ha && av.get("metadata").is_some_and(Value::is_object) {
                    av["metadata"][field] = empty();
                }
            }
        }
    }
    let mut report = DiffReport::default();
    let object = |(resource, namespace, name): Key, change, differences| ObjectDiff {
        resource,
        namespace,
        name,
        change,
        differences,
    };
    let pairs: Vec<(Key, Value, Option<Value>)> = a
        .into_iter()
        .map(|(key, av)| {
            let bv = b.remove(&key);
            (key, av, bv)
        })
        .collect();
    let compared: Vec<(Key, Option<Vec<Difference>>)> = pairs
        .into_par_iter()
        .map(|(key, av, bv)| {
            let d = bv.map(|bv| {
                let mut d = compare::diff(&av, &bv);
                crate::verify::redact_secret_values(&key.0, &mut d);
                d
            });
            (key, d)
        })
        .collect();
    for (key, d) in compared {
        match d {
            None => report.objects.push(object(key, Change::Removed, Vec::new())),
            Some(d) if d.is_empty() => report.summary.equal += 1,
            Some(d) => report.objects.push(object(key, Change::Changed, d)),
        }
    }
    for key in b.into_keys() {
        report.objects.push(object(key, Change::Added, Vec::new()));
    }
    report
        .objects
        .sort_by(|x, y| (&x.resource, &x.namespace, &x.name).cmp(&(&y.resource, &y.namespace, &y.name)));
    for o in &report.objects {
        match o.change {
            Change::Added => report.summary.added += 1,
            Change::Removed => report.summary.removed += 1,
            Change::Changed => report.summary.changed += 1,
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(gr: &str, ns: Option<&str>, name: &str, body: Value) -> SideObject {
        let mut object = body;
        object["metadata"]["name"] = json!(name);
        if let Some(ns) = ns {
            object["metadata"]["namespace"] = json!(ns);
        }
        SideObject {
            group_resource: gr.into(),
            namespace: ns.map(str::to_string),
            name: name.into(),
            object,
        }
    }

    #[test]
    fn added_removed_changed_with_mappings() {
        let mappings = Mappings {
            namespaces: [("a".to_string(), "b".to_string())].into(),
            image_registries: [("old.io".to_string(), "new.io".to_string())].into(),
            ..Mappings::default()
        };
        let a = vec![
            obj(
                "configmaps",
                Some("a"),
                "same",
                json!({"data": {"k": "1"}, "metadata": {"uid": "1"}}),
            ),
            obj("configmaps", Some("a"), "changed", json!({"data": {"k": "1"}})),
            obj("secrets", Some("a"), "gone", json!({"data": {}})),
            obj("namespaces", None, "a", json!({})),
            obj(
                "pods",
                Some("a"),
                "p",
                json!({"spec": {"containers": [{"name": "c", "image": "old.io/app:1"}]}}),
            ),
            obj("events", Some("a"), "e1", json!({})),
            obj(
                "pods",
                Some("a"),
                "web-1",
                json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}}),
            ),
        ];
        let b = vec![
            obj(
                "configmaps",
                Some("b"),
                "same",
                json!({"data": {"k": "1"}, "metadata": {"uid": "2"}}),
            ),
            obj(
                "configmaps",
                Some("b"),
                "changed",
                json!({"data": {"k": "2"}, "metadata": {"labels": {"x": "y"}}}),
            ),
            obj("configmaps", Some("b"), "new", json!({})),
            obj("namespaces", None, "b", json!({})),
            obj(
                "pods",
                Some("b"),
                "p",
                json!({"spec": {"containers": [{"name": "c", "image": "new.io/app:1"}]}}),
            ),
            obj("events", Some("b"), "e2", json!({})),
        ];
        let r = diff_objects(a, b, &mappings);
        assert_eq!(
            r.summary,
            DiffSummary {
                equal: 3,
                added: 1,
                removed: 1,
                changed: 1
            }
        );
        let got: Vec<(&str, &str, Change)> = r
            .objects
            .iter()
            .map(|o| (o.resource.as_str(), o.name.as_str(), o.change))
            .collect();
        assert_eq!(
            got,
            [
                ("configmaps", "changed", Change::Changed),
                ("configmaps", "new", Change::Added),
                ("secrets", "gone", Change::Removed),
            ]
        );
        let paths: Vec<&str> = r.objects[0].differences.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["data.k", "metadata.labels.x"]);
        assert!(r.has_differences());
        assert!(!diff_objects(Vec::new(), Vec::new(), &mappings).has_differences());
    }
}
