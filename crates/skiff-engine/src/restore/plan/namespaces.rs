//! Phase 7: the namespaces the restore needs — every target namespace of a planned item, plus
//! the selected Namespace objects — each planned once, from the backup's Namespace object when
//! there is one (labels, annotations and spec kept), bare otherwise.

use super::object::target_ref;
use super::{Planned, Planner};
use crate::restore::item::ItemKey;
use crate::restore::model::{NamespacePlan, PlannedItem, SkipReason, SkippedItem, Wait};
use crate::restore::select::ItemFacts;
use serde_json::{Map, Value, json};
use skiff_kube::ApiResourceInfo;
use std::collections::{BTreeMap, BTreeSet};

impl Planner<'_> {
    /// Phase 7: adds a planned Namespace item per target namespace to `planned` and returns the
    /// namespaces to create. Namespace objects not needed keep their skip reason from
    /// `decision`, which is consumed.
    pub(super) fn plan_namespaces(
        &mut self,
        planned: &mut Vec<Planned>,
        facts: &[ItemFacts],
        decision: &mut [Option<SkipReason>],
    ) -> Vec<NamespacePlan> {
        let ns_objects: BTreeMap<&str, usize> = self
            .sorted
            .iter()
            .enumerate()
            .filter(|(_, i)| i.group_resource == "namespaces")
            .map(|(j, i)| (i.name.as_str(), j))
            .collect();
        let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_, p) in planned.iter() {
            if let (Some(t), Some(orig)) = (&p.target.namespace, &p.source.namespace) {
                needed.entry(t.clone()).or_default().insert(orig.clone());
            }
        }
        for (name, &j) in &ns_objects {
            if decision[j].is_none() {
                needed
                    .entry(self.target_ns(name))
                    .or_default()
                    .insert((*name).to_string());
            }
        }
        for (name, &j) in &ns_objects {
            if let Some(reason) = decision[j].take()
                && !needed.values().any(|o| o.contains(*name))
            {
                self.skipped.push(SkippedItem {
                    key: self.sorted[j].key(),
                    reason,
                });
            }
        }
        let mut namespaces_to_create = Vec::new();
        for (target, originals) in needed {
            let original: Vec<String> = originals.into_iter().collect();
            let from = original.iter().find_map(|o| {
                ns_objects
                    .get(o.as_str())
                    .and_then(|&j| facts[j].namespace.as_ref())
            });
            let (ns_plan, item) = self.namespace(target, original, from);
            namespaces_to_create.push(ns_plan);
            let idx = self.position_of(&item.source).unwrap_or(usize::MAX);
            planned.push((idx, Box::new(item)));
        }
        namespaces_to_create
    }

    /// The plan of one target namespace, and its planned item; `from` is the backup's Namespace
    /// object it is made from, if any.
    fn namespace(
        &mut self,
        target: String,
        original: Vec<String>,
        from: Option<&Value>,
    ) -> (NamespacePlan, PlannedItem) {
        if original.len() > 1 {
            self.warnings.push(format!(
                "namespaces {} are all restored into {target}",
                original.join(", ")
            ));
        }
        let field = |k: &str| -> BTreeMap<String, Value> {
            from.and_then(|n| n.pointer(&format!("/metadata/{k}")))
                .and_then(Value::as_object)
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default()
        };
        let (labels, annotations) = (field("labels"), field("annotations"));
        let spec = from.and_then(|n| n.get("spec")).cloned();
        let mut md = Map::new();
        md.insert("name".into(), json!(target));
        if !labels.is_empty() {
            md.insert("labels".into(), json!(labels));
        }
        if !annotations.is_empty() {
            md.insert("annotations".into(), json!(annotations));
        }
        let mut object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": md});
        if let Some(s) = &spec {
            object["spec"] = s.clone();
        }
        let mut actions = vec![if from.is_some() {
            "created when missing from the backup's Namespace (labels, annotations, spec kept)".to_string()
        } else {
            "created when missing as a bare Namespace (not in the backup)".to_string()
        }];
        if original.iter().any(|o| *o != target) {
            actions.push(format!("namespace {} -> {target}", original.join(", ")));
        }
        let source = ItemKey {
            group_resource: "namespaces".into(),
            namespace: None,
            name: original[0].clone(),
        };
        let item = PlannedItem {
            id: 0,
            source,
            target: target_ref(&namespace_info(), None, target.clone()),
            object: self.encode(&object),
            status: None,
            actions,
            wait: Some(Wait::NamespaceReady(target.clone())),
            owners: Vec::new(),
            after: Vec::new(),
        };
        let plan = NamespacePlan {
            name: target,
            original,
            from_backup: from.is_some(),
            labels,
            annotations,
            spec,
        };
        (plan, item)
    }
}

/// Core `namespaces`, as the planned Namespace items name it.
fn namespace_info() -> ApiResourceInfo {
    ApiResourceInfo {
        group: String::new(),
        version: "v1".into(),
        resource: "namespaces".into(),
        kind: "Namespace".into(),
        singular: "namespace".into(),
        namespaced: false,
        verbs: vec![],
        short_names: vec![],
        preferred: true,
    }
}
