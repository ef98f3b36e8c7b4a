//! The planner: selection, version fit, actions, remapping, modifiers, waves.

use super::actions::{self, ActionCtx};
use super::order::{CRDS, Ordering, Stage, assign_waves};
use super::select::{Filters, ItemFacts, OwnerIndex, recreated_by};
use super::{
    BackupItem, ItemError, ItemKey, NamespacePlan, PlannedItem, RawJson, RestoreOptions, RestorePlan, Result,
    SkipReason, SkippedItem, TargetFacts, TargetRef, Wait, Wave, remap,
};
use crate::glob::{IncludesExcludes, has_wildcard};
use serde_json::{Map, Value, json};
use skiff_kube::{ApiResourceInfo, ApiSurface};
use std::collections::{BTreeMap, BTreeSet};

/// Plan a restore of `items` into a cluster with API `surface`. Pure and deterministic: the same
/// inputs (in any order) give the same plan.
///
/// Memory: each item is parsed twice, one at a time — once for the facts other items' plans
/// need (selection, owners, related items, CRDs, Namespaces; see `ItemFacts`) and once to
/// build its final JSON, which is kept serialized. No item stays parsed.
pub fn plan(
    items: &[BackupItem],
    surface: &ApiSurface,
    opts: &RestoreOptions,
    facts: &TargetFacts,
) -> Result<RestorePlan> {
    plan_items(items, Bodies { items, owned: None }, surface, opts, facts)
}

/// [`plan`], consuming the items: each item's JSON is freed as soon as its final JSON is made,
/// so the backup's JSON and the plan's are never both held whole. Same plan as [`plan`].
pub fn plan_owned(
    mut items: Vec<BackupItem>,
    surface: &ApiSurface,
    opts: &RestoreOptions,
    facts: &TargetFacts,
) -> Result<RestorePlan> {
    let owned = items
        .iter_mut()
        .map(|i| (std::mem::take(&mut i.object), std::mem::take(&mut i.alt_versions)))
        .collect();
    plan_items(
        &items,
        Bodies {
            items: &items,
            owned: Some(owned),
        },
        surface,
        opts,
        facts,
    )
}

/// An item's JSON and its other versions.
type Body = (RawJson, Vec<(String, RawJson)>);

/// The JSON of the items being planned: in the items, or moved out of them (then freed item by
/// item as the plan no longer needs it).
struct Bodies<'a> {
    items: &'a [BackupItem],
    owned: Option<Vec<Body>>,
}

impl Bodies<'_> {
    fn object(&self, n: usize) -> &RawJson {
        match &self.owned {
            Some(o) => &o[n].0,
            None => &self.items[n].object,
        }
    }

    fn alt_versions(&self, n: usize) -> &[(String, RawJson)] {
        match &self.owned {
            Some(o) => &o[n].1,
            None => &self.items[n].alt_versions,
        }
    }

    /// Item `n`'s JSON is no longer needed.
    fn release(&mut self, n: usize) {
        if let Some(o) = &mut self.owned {
            o[n] = Default::default();
        }
    }
}

fn plan_items(
    items: &[BackupItem],
    mut bodies: Bodies<'_>,
    surface: &ApiSurface,
    opts: &RestoreOptions,
    facts: &TargetFacts,
) -> Result<RestorePlan> {
    remap::validate(
        &opts.mappings.namespaces,
        &opts.mappings.storage_classes,
        &opts.mappings.image_registries,
    )?;
    let filters = Filters::new(&opts.scope, surface)?;
    let (ordering, mut warnings) = Ordering::new(&opts.resource_priorities, surface);
    let mut skipped = Vec::new();
    let mut errors = Vec::new();

    // Deterministic order: Velero's resource order, then namespace, then name; duplicates out
    // (the sort key holds the whole item key, so copies of one item are neighbours).
    // `order[i]`: index in `items` of `sorted[i]`.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_cached_key(|&n| {
        let i = &items[n];
        (
            ordering.position(&i.group_resource),
            i.group_resource.clone(),
            i.namespace.clone(),
            i.name.clone(),
        )
    });
    let mut prev: Option<&BackupItem> = None;
    order.retain(|&n| {
        let i = &items[n];
        let dup = prev.is_some_and(|p| {
            (&p.group_resource, &p.namespace, &p.name) == (&i.group_resource, &i.namespace, &i.name)
        });
        if dup {
            skipped.push(SkippedItem {
                key: i.key(),
                reason: SkipReason::Duplicate,
            });
        } else {
            prev = Some(i);
        }
        !dup
    });
    let sorted: Vec<&BackupItem> = order.iter().map(|&n| &items[n]).collect();
    // Final JSON is compressed with the items' dictionary (see `load_items`), if they have one.
    let dict = order.iter().find_map(|&n| bodies.object(n).dict().cloned());
    let encode = |v: &Value| RawJson::with_dict(v, dict.as_ref());
    // Position of an item in `sorted` (binary search on the sort order: no map of every key).
    let by_key = |k: &ItemKey| {
        let want = (
            ordering.position(&k.group_resource),
            &k.group_resource,
            &k.namespace,
            &k.name,
        );
        sorted
            .binary_search_by(|i| {
                (
                    ordering.position(&i.group_resource),
                    &i.group_resource,
                    &i.namespace,
                    &i.name,
                )
                    .cmp(&want)
            })
            .ok()
    };

    // One pass over the items (each parsed, read, dropped): what later steps need across items.
    let mut item_facts: Vec<ItemFacts> = sorted
        .iter()
        .zip(&order)
        .map(|(it, &n)| ItemFacts::new(it, &bodies.object(n).to_value(), &filters))
        .collect();

    // Selection, then related items, then skip_owned.
    let mut decision: Vec<Option<SkipReason>> = item_facts.iter().map(|f| f.primary.clone().err()).collect();
    let mut notes: BTreeMap<usize, String> = BTreeMap::new();
    if filters.related_allowed() {
        for i in 0..sorted.len() {
            if decision[i].is_some() {
                continue;
            }
            let it = sorted[i];
            let Some((gr, name)) = &item_facts[i].related else {
                continue;
            };
            let key = ItemKey {
                group_resource: (*gr).into(),
                namespace: None,
                name: name.clone(),
            };
            if let Some(j) = by_key(&key)
                && matches!(
                    decision[j],
                    Some(SkipReason::ClusterScoped | SkipReason::LabelSelector | SkipReason::NotNamed)
                )
                && item_facts[j].related_ok
            {
                decision[j] = None;
                notes.insert(j, format!("restored as related item of {}", it.key()));
            }
        }
    }
    let index = OwnerIndex::new(&sorted, &mut item_facts);
    if opts.skip_owned {
        let selected: Vec<bool> = decision.iter().map(Option::is_none).collect();
        for i in 0..sorted.len() {
            if selected[i]
                && let Some(owner) = recreated_by(&sorted, &item_facts, i, &index, &selected)
            {
                decision[i] = Some(SkipReason::OwnedByController { owner });
            }
        }
    }

    // Facts the actions need.
    let target_ns = |ns: &str| {
        opts.mappings
            .namespaces
            .get(ns)
            .cloned()
            .unwrap_or_else(|| ns.to_string())
    };
    let selected = |gr: &'static str| {
        sorted
            .iter()
            .zip(&item_facts)
            .zip(&decision)
            .filter(move |((i, _), d)| d.is_none() && i.group_resource == gr)
            .map(|((i, f), _)| (*i, f))
    };
    let mut service_accounts: BTreeSet<(String, String)> = BTreeSet::new();
    for (ns, sas) in facts.service_accounts.iter().flatten() {
        service_accounts.extend(sas.iter().map(|sa| (ns.clone(), sa.clone())));
    }
    for (sa, _) in selected("serviceaccounts") {
        service_accounts.insert((
            target_ns(sa.namespace.as_deref().unwrap_or_default()),
            sa.name.clone(),
        ));
    }
    let storage_classes: Option<BTreeSet<String>> = facts.storage_classes.as_ref().map(|s| {
        s.iter()
            .cloned()
            .chain(selected("storageclasses.storage.k8s.io").map(|(i, _)| i.name.clone()))
            .collect()
    });
    let reprovisioned: BTreeSet<String> = selected("persistentvolumes")
        .filter(|(_, f)| f.pv_reclaim_delete)
        .map(|(pv, _)| pv.name.clone())
        .collect();
    let mut crd_resources: BTreeMap<String, Vec<ApiResourceInfo>> = BTreeMap::new();
    for (_, f) in selected(CRDS) {
        for info in &f.crd {
            crd_resources
                .entry(info.group_resource())
                .or_default()
                .push(info.clone());
        }
    }
    let status_filter = {
        let resolve = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|n| {
                    if has_wildcard(n) {
                        n.clone()
                    } else {
                        surface.resolve(n).unwrap_or_else(|| n.clone())
                    }
                })
                .collect()
        };
        IncludesExcludes::new(
            resolve(&opts.restore_status.included_resources),
            resolve(&opts.restore_status.excluded_resources),
        )
    };

    // Per-item pipeline.
    // Boxed: moving them into their waves frees them one by one, instead of holding a second
    // array of every item until the last one is moved.
    let mut planned: Vec<(usize, Box<PlannedItem>)> = Vec::new();
    for (i, item) in sorted.iter().enumerate() {
        let n = order[i];
        if let Some(reason) = decision[i].take() {
            bodies.release(n);
            if item.group_resource == "namespaces" {
                decision[i] = Some(reason);
            } else {
                skipped.push(SkippedItem {
                    key: item.key(),
                    reason,
                });
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
            surface,
            &crd_resources,
        );
        bodies.release(n);
        let (info, mut obj, mut item_actions) = match fitted {
            Ok(x) => x,
            Err(reason) => {
                skipped.push(SkippedItem {
                    key: item.key(),
                    reason,
                });
                continue;
            }
        };
        if let Some(n) = notes.get(&i) {
            item_actions.insert(0, n.clone());
        }
        let gr = item.group_resource.as_str();
        let target_namespace = if info.namespaced {
            item.namespace.as_deref().map(target_ns)
        } else {
            None
        };
        let status = actions::reset_metadata(&mut obj, &mut item_actions);
        let ctx = ActionCtx {
            namespace_mappings: &opts.mappings.namespaces,
            service_accounts: &service_accounts,
            reprovisioned_pvs: &reprovisioned,
            preserve_node_ports: opts.preserve_node_ports,
            target_namespace: target_namespace.as_deref(),
        };
        if let Err(reason) = actions::run(gr, &mut obj, &ctx, &mut item_actions) {
            skipped.push(SkippedItem {
                key: item.key(),
                reason,
            });
            continue;
        }
        let (sc_actions, used) = remap::map_storage_classes(gr, &mut obj, &opts.mappings.storage_classes);
        if let Some(missing) = used
            .into_iter()
            .find(|c| storage_classes.as_ref().is_some_and(|known| !known.contains(c)))
        {
            errors.push(ItemError {
                key: item.key(),
                namespace: target_namespace.clone(),
                message: format!(
                    "error restoring {}: storage class {missing} does not exist in the target",
                    item.key()
                ),
            });
            skipped.push(SkippedItem {
                key: item.key(),
                reason: SkipReason::StorageClassMissing {
                    storage_class: missing,
                },
            });
            continue;
        }
        item_actions.extend(sc_actions);
        item_actions.extend(remap::map_images(gr, &mut obj, &opts.mappings.image_registries));
        if let Some(m) = &opts.resource_modifiers {
            for message in m.apply(gr, item.namespace.as_deref(), &mut obj, &mut item_actions) {
                errors.push(ItemError {
                    key: item.key(),
                    namespace: target_namespace.clone(),
                    message,
                });
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
        actions::add_restore_labels(&mut obj, &opts.backup_name, &opts.restore_name);
        let status = status.filter(|_| {
            match obj
                .pointer("/metadata/annotations/velero.io~1restore-status")
                .and_then(Value::as_str)
            {
                Some("true") => true,
                Some("false") => false,
                _ => status_filter.explicitly_includes(gr) && !status_filter.explicitly_excludes(gr),
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
        planned.push((
            i,
            Box::new(PlannedItem {
                source: item.key(),
                target: target_ref(&info, target_namespace, name),
                object: encode(&obj),
                status,
                actions: item_actions,
                wait,
                owners: Vec::new(),
            }),
        ));
    }

    // Namespaces: every target namespace of planned items, plus selected Namespace objects.
    let ns_objects: BTreeMap<&str, usize> = sorted
        .iter()
        .enumerate()
        .filter(|(_, i)| i.group_resource == "namespaces")
        .map(|(j, i)| (i.name.as_str(), j))
        .collect();
    let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, p) in &planned {
        if let (Some(t), Some(orig)) = (&p.target.namespace, &p.source.namespace) {
            needed.entry(t.clone()).or_default().insert(orig.clone());
        }
    }
    for (name, &j) in &ns_objects {
        if decision[j].is_none() {
            needed
                .entry(target_ns(name))
                .or_default()
                .insert((*name).to_string());
        }
    }
    for (name, &j) in &ns_objects {
        if let Some(reason) = decision[j].take()
            && !needed.values().any(|o| o.contains(*name))
        {
            skipped.push(SkippedItem {
                key: sorted[j].key(),
                reason,
            });
        }
    }
    let mut namespaces_to_create = Vec::new();
    let ns_info = ApiResourceInfo {
        group: String::new(),
        version: "v1".into(),
        resource: "namespaces".into(),
        kind: "Namespace".into(),
        singular: "namespace".into(),
        namespaced: false,
        verbs: vec![],
        short_names: vec![],
        preferred: true,
    };
    for (target, originals) in needed {
        let original: Vec<String> = originals.into_iter().collect();
        if original.len() > 1 {
            warnings.push(format!(
                "namespaces {} are all restored into {target}",
                original.join(", ")
            ));
        }
        let from = original.iter().find_map(|o| {
            ns_objects
                .get(o.as_str())
                .and_then(|&j| item_facts[j].namespace.as_ref())
        });
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
        let mut ns_actions = vec![if from.is_some() {
            "created when missing from the backup's Namespace (labels, annotations, spec kept)".to_string()
        } else {
            "created when missing as a bare Namespace (not in the backup)".to_string()
        }];
        if original.iter().any(|o| *o != target) {
            ns_actions.push(format!("namespace {} -> {target}", original.join(", ")));
        }
        namespaces_to_create.push(NamespacePlan {
            name: target.clone(),
            original: original.clone(),
            from_backup: from.is_some(),
            labels,
            annotations,
            spec,
        });
        let source = ItemKey {
            group_resource: "namespaces".into(),
            namespace: None,
            name: original[0].clone(),
        };
        let idx = by_key(&source).unwrap_or(usize::MAX);
        planned.push((
            idx,
            Box::new(PlannedItem {
                source,
                target: target_ref(&ns_info, None, target.clone()),
                object: encode(&object),
                status: None,
                actions: ns_actions,
                wait: Some(Wait::NamespaceReady(target)),
                owners: Vec::new(),
            }),
        ));
    }

    // Waves.
    let planned_of: BTreeMap<usize, usize> = planned
        .iter()
        .enumerate()
        .filter(|(_, (b, _))| *b != usize::MAX)
        .map(|(p, (b, _))| (*b, p))
        .collect();
    let stages: Vec<Stage> = planned
        .iter()
        .map(|(_, p)| ordering.stage(&p.source.group_resource))
        .collect();
    let deps: Vec<Vec<usize>> = planned
        .iter()
        .map(|(b, p)| {
            if p.source.group_resource == "namespaces" {
                return vec![];
            }
            let item = sorted[*b];
            item_facts[*b]
                .owners
                .iter()
                .filter_map(|r| index.resolve(item, r))
                .filter_map(|o| planned_of.get(&o).copied())
                .collect()
        })
        .collect();
    let (assigned, cyclic) = assign_waves(&stages, &deps);
    for c in cyclic {
        warnings.push(format!(
            "ownerReferences of {} form a cycle; ordered without them",
            planned[c].1.source
        ));
    }
    // Owners the executor waits for: same stage, strictly earlier wave (cycles were cut there).
    let owners: Vec<Vec<ItemKey>> = deps
        .iter()
        .enumerate()
        .map(|(n, ds)| {
            let mut o: Vec<ItemKey> = ds
                .iter()
                .filter(|&&d| stages[d] == stages[n] && assigned[d].0 < assigned[n].0)
                .map(|&d| planned[d].1.source.clone())
                .collect();
            o.sort();
            o.dedup();
            o
        })
        .collect();
    let stage_ordinal: BTreeMap<&Stage, usize> = stages
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s, i))
        .collect();
    let stage_of: Vec<usize> = stages.iter().map(|s| stage_ordinal[s]).collect();
    // What only the steps above needed goes before the waves are filled.
    drop(stage_ordinal);
    drop((stages, deps, planned_of, item_facts, index, decision, notes));
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for (w, _) in &assigned {
        *sizes.entry(*w).or_default() += 1;
    }
    let mut waves: BTreeMap<usize, Wave> = BTreeMap::new();
    for ((((_, mut item), (w, name)), owners), stage) in
        planned.into_iter().zip(assigned).zip(owners).zip(stage_of)
    {
        item.owners = owners;
        waves
            .entry(w)
            .or_insert_with(|| Wave {
                index: w,
                stage,
                name,
                items: Vec::with_capacity(sizes.get(&w).copied().unwrap_or(0)),
            })
            .items
            .push(*item);
    }
    let mut waves: Vec<Wave> = waves.into_values().collect();
    for (n, w) in waves.iter_mut().enumerate() {
        w.index = n;
        // Ties (two namespaces mapped onto one) in source order, as a stable sort kept them.
        w.items.sort_unstable_by(|a, b| {
            (
                ordering.position(&a.source.group_resource),
                &a.source.group_resource,
                &a.target.namespace,
                &a.target.name,
                &a.source.namespace,
                &a.source.name,
            )
                .cmp(&(
                    ordering.position(&b.source.group_resource),
                    &b.source.group_resource,
                    &b.target.namespace,
                    &b.target.name,
                    &b.source.namespace,
                    &b.source.name,
                ))
        });
    }
    skipped.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(RestorePlan {
        restore_name: opts.restore_name.clone(),
        backup_name: opts.backup_name.clone(),
        existing_resource_policy: opts.existing_resource_policy,
        namespaces_to_create,
        waves,
        skipped,
        warnings,
        errors,
    })
}

fn target_ref(info: &ApiResourceInfo, namespace: Option<String>, name: String) -> TargetRef {
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

/// Pick the version to restore (API-group-version fallback): the item's own version when the
/// target serves it; otherwise another version the backup holds, the target's preferred first.
fn fit_version(
    item: &BackupItem,
    object: &RawJson,
    alt_versions: &[(String, RawJson)],
    surface: &ApiSurface,
    crd_resources: &BTreeMap<String, Vec<ApiResourceInfo>>,
) -> Result<(ApiResourceInfo, Value, Vec<String>), SkipReason> {
    let gr = &item.group_resource;
    let mut served: Vec<ApiResourceInfo> = surface.versions_of(gr).cloned().collect();
    if served.is_empty() {
        served = crd_resources.get(gr).cloned().unwrap_or_default();
    }
    if served.is_empty() {
        return Err(SkipReason::NotServed { detail: gr.clone() });
    }
    if let Some(info) = served.iter().find(|r| r.api_version() == item.api_version) {
        let mut obj = object.to_value();
        obj["apiVersion"] = json!(item.api_version);
        if obj.get("kind").is_none() {
            obj["kind"] = json!(info.kind);
        }
        return Ok((info.clone(), obj, vec![]));
    }
    served.sort_by_key(|r| !r.preferred);
    for info in &served {
        if let Some((v, o)) = alt_versions.iter().find(|(v, _)| *v == info.api_version()) {
            let action = format!(
                "api version {} not served by the target; using the backup's {v} copy",
                item.api_version
            );
            return Ok((info.clone(), o.to_value(), vec![action]));
        }
    }
    let offered: Vec<String> = served.iter().map(ApiResourceInfo::api_version).collect();
    Err(SkipReason::NotServed {
        detail: format!(
            "{gr} at {} (it serves {}) and the backup holds no other version",
            item.api_version,
            offered.join(", ")
        ),
    })
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first, others last.
fn version_priority(v: &str) -> (u8, u64, u8, u64) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return (0, 0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (tier, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(m) = tail.strip_prefix("beta") {
        (2, m.parse().unwrap_or(0))
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (1, m.parse().unwrap_or(0))
    } else {
        return (0, 0, 0, 0);
    };
    (1, major, tier, minor)
}

/// The resources a CRD of the backup will serve once restored.
pub(crate) fn crd_resource_infos(crd: &Value) -> Vec<ApiResourceInfo> {
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (group, plural, kind, singular) = (
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
        s("/spec/names/singular"),
    );
    if group.is_empty() || plural.is_empty() {
        return vec![];
    }
    let namespaced = s("/spec/scope") != "Cluster";
    let mut versions: Vec<String> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    if versions.is_empty() && !s("/spec/version").is_empty() {
        versions.push(s("/spec/version"));
    }
    let preferred = versions
        .iter()
        .max_by_key(|v| (version_priority(v), std::cmp::Reverse((*v).clone())))
        .cloned();
    let short_names: Vec<String> = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    versions
        .into_iter()
        .map(|version| ApiResourceInfo {
            preferred: Some(&version) == preferred.as_ref(),
            group: group.clone(),
            version,
            resource: plural.clone(),
            kind: kind.clone(),
            singular: singular.clone(),
            namespaced,
            verbs: vec![
                "create".into(),
                "get".into(),
                "list".into(),
                "patch".into(),
                "update".into(),
            ],
            short_names: short_names.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priorities() {
        let mut v = vec!["v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
