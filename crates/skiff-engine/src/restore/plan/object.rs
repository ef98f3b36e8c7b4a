//! Phase 6: per item, its final JSON (Velero's pipeline, `velero-format.md` §5.4): version fit →
//! metadata reset (status saved) → built-in restore item actions → PV/PVC fix-ups → storage
//! class and image mappings → resource modifiers (original namespace still set) → namespace
//! mapping → restore labels.

use super::{ActionFacts, Bodies, Planned, Planner, Selection};
use crate::restore::actions::{self, ActionCtx};
use crate::restore::item::BackupItem;
use crate::restore::model::{ItemError, PlannedItem, SkipReason, SkippedItem, TargetRef, Wait};
use crate::restore::order::CRDS;
use crate::restore::remap;
use crate::restore::versions::fit_version;
use serde_json::Value;
use skiff_kube::ApiResourceInfo;

impl Planner<'_> {
    /// Phase 6: the final JSON of every selected item (Namespace objects are planned in phase 7);
    /// each item's backup JSON is released once read.
    pub(super) fn plan_objects(
        &mut self,
        bodies: &mut Bodies<'_>,
        sel: &mut Selection,
        af: &ActionFacts,
    ) -> Vec<Planned> {
        let mut planned: Vec<Planned> = Vec::new();
        for i in 0..self.sorted.len() {
            let (item, n) = (self.sorted[i], self.order[i]);
            if let Some(reason) = sel.decision[i].take() {
                bodies.release(n);
                if item.group_resource == "namespaces" {
                    sel.decision[i] = Some(reason);
                } else {
                    self.skip(item, reason);
                }
                continue;
            }
            if item.group_resource == "namespaces" {
                bodies.release(n);
                continue;
            }
            let fitted = fit_version(
                item,
                bodies.object(n),
                bodies.alt_versions(n),
                self.surface,
                &af.crd_resources,
            );
            bodies.release(n);
            let (info, obj, mut item_actions) = match fitted {
                Ok(x) => x,
                Err(reason) => {
                    self.skip(item, reason);
                    continue;
                }
            };
            if let Some(note) = sel.notes.get(&i) {
                item_actions.insert(0, note.clone());
            }
            match self.build_object(item, &info, obj, item_actions, af) {
                Ok(p) => planned.push((i, Box::new(p))),
                Err(reason) => self.skip(item, reason),
            }
        }
        planned
    }

    fn skip(&mut self, item: &BackupItem, reason: SkipReason) {
        self.skipped.push(SkippedItem {
            key: item.key(),
            reason,
        });
    }

    /// One item's pipeline after the version fit: `obj` is the item at the version the target
    /// gets (served as `info`). `Err`: the item is not restored (an error may be recorded too).
    fn build_object(
        &mut self,
        item: &BackupItem,
        info: &ApiResourceInfo,
        mut obj: Value,
        mut item_actions: Vec<String>,
        af: &ActionFacts,
    ) -> Result<PlannedItem, SkipReason> {
        let gr = item.group_resource.as_str();
        let target_namespace = if info.namespaced {
            item.namespace.as_deref().map(|ns| self.target_ns(ns))
        } else {
            None
        };
        let source_rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let status = actions::reset_metadata(&mut obj, &mut item_actions);
        let ctx = ActionCtx {
            namespace_mappings: &self.opts.mappings.namespaces,
            service_accounts: &af.service_accounts,
            reprovisioned_pvs: &af.reprovisioned,
            preserve_node_ports: self.opts.preserve_node_ports,
            target_namespace: target_namespace.as_deref(),
        };
        actions::run(gr, &mut obj, &ctx, &mut item_actions)?;
        let (sc_actions, used) =
            remap::map_storage_classes(gr, &mut obj, &self.opts.mappings.storage_classes);
        if let Some(missing) = used.into_iter().find(|c| {
            af.storage_classes
                .as_ref()
                .is_some_and(|known| !known.contains(c))
        }) {
            self.errors.push(ItemError {
                key: item.key(),
                namespace: target_namespace.clone(),
                message: format!(
                    "error restoring {}: storage class {missing} does not exist in the target",
                    item.key()
                ),
            });
            return Err(SkipReason::StorageClassMissing {
                storage_class: missing,
            });
        }
        item_actions.extend(sc_actions);
        item_actions.extend(remap::map_images(
            gr,
            &mut obj,
            &self.opts.mappings.image_registries,
        ));
        if let Some(m) = &self.opts.resource_modifiers {
            for message in m.apply(gr, item.namespace.as_deref(), &mut obj, &mut item_actions) {
                self.errors.push(ItemError {
                    key: item.key(),
                    namespace: target_namespace.clone(),
                    message,
                });
            }
        }
        if let Some(rules) = &self.opts.hold {
            match crate::hold::hold(gr, &mut obj, rules) {
                Ok(crate::hold::HoldOutcome::Held(fields)) => {
                    item_actions.push(format!("held: {}", fields.join(", ")));
                }
                Ok(crate::hold::HoldOutcome::Deferred) => return Err(SkipReason::HeldUntilRelease),
                Ok(crate::hold::HoldOutcome::NotHeld) => {}
                Err(e) => self.errors.push(ItemError {
                    key: item.key(),
                    namespace: target_namespace.clone(),
                    message: format!("error holding {}: {e}", item.key()),
                }),
            }
        }
        if let (Some(ns), Some(md)) = (
            &target_namespace,
            obj.get_mut("metadata").and_then(Value::as_object_mut),
        ) {
            if item.namespace.as_ref() != Some(ns) {
                item_actions.push(format!(
                    "namespace {} -> {ns}",
                    item.namespace.as_deref().unwrap_or_default()
                ));
            }
            md.insert("namespace".into(), Value::String(ns.clone()));
        }
        actions::add_restore_labels(&mut obj, &self.opts.backup_name, &self.opts.restore_name);
        if let Some(sync) = &self.opts.sync_marker {
            crate::sync::mark(&mut obj, sync, source_rv.as_deref());
        }
        let status = status.filter(|_| {
            match obj
                .pointer("/metadata/annotations/velero.io~1restore-status")
                .and_then(Value::as_str)
            {
                Some("true") => true,
                Some("false") => false,
                _ => af.status_filter.explicitly_includes(gr) && !af.status_filter.explicitly_excludes(gr),
            }
        });
        if status.is_some() {
            item_actions.push("status restored after create".into());
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(&item.name)
            .to_string();
        let wait = (gr == CRDS).then(|| Wait::CrdEstablished(name.clone()));
        item_actions.shrink_to_fit();
        Ok(PlannedItem {
            id: 0,
            source: item.key(),
            target: target_ref(info, target_namespace, name),
            object: self.encode(&obj),
            status,
            actions: item_actions,
            wait,
            owners: Vec::new(),
            after: Vec::new(),
        })
    }
}

pub(super) fn target_ref(info: &ApiResourceInfo, namespace: Option<String>, name: String) -> TargetRef {
    TargetRef {
        api_version: info.api_version(),
        kind: info.kind.clone(),
        group: info.group.clone(),
        version: info.version.clone(),
        resource: info.resource.clone(),
        namespaced: info.namespaced,
        namespace,
        name,
    }
}
