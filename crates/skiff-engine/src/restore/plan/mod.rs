//! The planner: selection, version fit, actions, remapping, modifiers, namespaces, waves and
//! the dependency edges the executor runs.
//!
//! A [`Planner`] goes through the phases in order, one method each:
//!
//! 1. [`Planner::new`]: validate the mappings, resolve the filters and the resource ordering;
//! 2. [`Planner::sort`]: a deterministic order, duplicates out;
//! 3. [`Planner::gather_facts`]: one pass over the items for what later phases need across items;
//! 4. [`Planner::select`]: selection, related items, `skip_owned`;
//! 5. [`Planner::action_facts`]: what the item actions consult (ServiceAccounts, StorageClasses, …);
//! 6. [`Planner::plan_objects`]: per item, its final JSON (`object.rs`);
//! 7. [`Planner::plan_namespaces`]: the namespaces to create (`namespaces.rs`);
//! 8. [`Planner::make_waves`]: waves and edges (`waves.rs`).

// Kubernetes kind names (ServiceAccounts, StorageClasses, …) appear as prose in these docs.
#![allow(clippy::doc_markdown)]

mod namespaces;
mod object;
mod waves;

use super::facts::TargetFacts;
use super::item::{BackupItem, ItemKey};
use super::json::{JsonDict, RawJson};
use super::model::{ItemError, PlannedItem, RestorePlan, SkipReason, SkippedItem};
use super::options::RestoreOptions;
use super::order::{CRDS, Ordering};
use super::select::{Filters, ItemFacts, OwnerIndex, recreated_by};
use super::{Result, remap};
use crate::glob::{IncludesExcludes, has_wildcard};
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, ApiSurface};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
    Ok(Planner::new(items, surface, opts, facts)?.run(Bodies { items, owned: None }))
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
    Ok(Planner::new(&items, surface, opts, facts)?.run(Bodies {
        items: &items,
        owned: Some(owned),
    }))
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

/// A planned item with the position in sorted order of the backup item it comes from
/// (`usize::MAX` for a namespace not in the backup). Boxed: moving them into their waves frees
/// them one by one, instead of holding a second array of every item until the last one is moved.
type Planned = (usize, Box<PlannedItem>);

/// The verdicts of selection (phase 4), per item in sorted order.
struct Selection {
    /// `Some(reason)`: not restored (Namespace objects keep theirs until phase 7).
    decision: Vec<Option<SkipReason>>,
    /// Why an item is restored although it was not selected (related items).
    notes: BTreeMap<usize, String>,
    /// ownerReference lookup.
    index: OwnerIndex,
}

/// What the item actions consult (phase 5).
struct ActionFacts {
    /// `(target namespace, name)` of ServiceAccounts in the target or restored.
    service_accounts: BTreeSet<(String, String)>,
    /// StorageClasses in the target or restored; `None` = unknown.
    storage_classes: Option<BTreeSet<String>>,
    /// PVs not restored: re-provisioned.
    reprovisioned: BTreeSet<String>,
    /// Resources the backup's selected CRDs serve (group-resource → versions).
    crd_resources: BTreeMap<String, Vec<ApiResourceInfo>>,
    /// Velero's `restoreStatus` filter, resolved.
    status_filter: IncludesExcludes,
}

/// One restore being planned: the inputs, and what the phases have decided so far.
struct Planner<'a> {
    surface: &'a ApiSurface,
    opts: &'a RestoreOptions,
    facts: &'a TargetFacts,
    filters: Filters<'a>,
    ordering: Ordering,
    /// The items in plan order (Velero's resource order, namespace, name), duplicates out.
    sorted: Vec<&'a BackupItem>,
    /// `order[i]`: index in the input of `sorted[i]`.
    order: Vec<usize>,
    /// Final JSON is compressed with the items' dictionary (see `load_items`), if they have one.
    dict: Option<Arc<JsonDict>>,
    skipped: Vec<SkippedItem>,
    errors: Vec<ItemError>,
    warnings: Vec<String>,
}

impl<'a> Planner<'a> {
    /// Phase 1: options checked, filters and ordering resolved against the target.
    fn new(
        items: &'a [BackupItem],
        surface: &'a ApiSurface,
        opts: &'a RestoreOptions,
        facts: &'a TargetFacts,
    ) -> Result<Self> {
        remap::validate(
            &opts.mappings.namespaces,
            &opts.mappings.storage_classes,
            &opts.mappings.image_registries,
        )?;
        let filters = Filters::new(&opts.scope, surface)?;
        let (ordering, warnings) = Ordering::new(&opts.resource_priorities, surface);
        let mut planner = Self {
            surface,
            opts,
            facts,
            filters,
            ordering,
            sorted: Vec::new(),
            order: Vec::new(),
            dict: None,
            skipped: Vec::new(),
            errors: Vec::new(),
            warnings,
        };
        planner.sort(items);
        Ok(planner)
    }

    /// Phases 3 to 8, then the plan.
    fn run(mut self, mut bodies: Bodies<'_>) -> RestorePlan {
        self.dict = self.order.iter().find_map(|&n| bodies.object(n).dict().cloned());
        let mut facts = self.gather_facts(&bodies);
        let mut sel = self.select(&mut facts);
        let af = self.action_facts(&facts, &sel);
        let mut planned = self.plan_objects(&mut bodies, &mut sel, &af);
        drop(af);
        let namespaces_to_create = self.plan_namespaces(&mut planned, &facts, &mut sel.decision);
        let waves = self.make_waves(planned, facts, sel);
        self.skipped.sort_by(|a, b| a.key.cmp(&b.key));
        RestorePlan {
            restore_name: self.opts.restore_name.clone(),
            backup_name: self.opts.backup_name.clone(),
            existing_resource_policy: self.opts.existing_resource_policy,
            namespaces_to_create,
            waves,
            skipped: self.skipped,
            warnings: self.warnings,
            errors: self.errors,
        }
    }

    /// The sort key of an item: Velero's resource order, then namespace, then name.
    fn sort_key<'k>(
        &self,
        k: (&'k str, &'k Option<String>, &'k str),
    ) -> ((u8, usize), &'k str, &'k Option<String>, &'k str) {
        (self.ordering.position(k.0), k.0, k.1, k.2)
    }

    /// Phase 2: deterministic order; duplicates out (the sort key holds the whole item key, so
    /// copies of one item are neighbours).
    fn sort(&mut self, items: &'a [BackupItem]) {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_cached_key(|&n| {
            let i = &items[n];
            (
                self.ordering.position(&i.group_resource),
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
                self.skipped.push(SkippedItem {
                    key: i.key(),
                    reason: SkipReason::Duplicate,
                });
            } else {
                prev = Some(i);
            }
            !dup
        });
        self.sorted = order.iter().map(|&n| &items[n]).collect();
        self.order = order;
    }

    /// Position of an item in sorted order (binary search on the sort order: no map of every
    /// key).
    fn position_of(&self, k: &ItemKey) -> Option<usize> {
        let want = self.sort_key((&k.group_resource, &k.namespace, &k.name));
        self.sorted
            .binary_search_by(|i| {
                self.sort_key((&i.group_resource, &i.namespace, &i.name))
                    .cmp(&want)
            })
            .ok()
    }

    /// The target namespace of an original namespace.
    fn target_ns(&self, ns: &str) -> String {
        self.opts
            .mappings
            .namespaces
            .get(ns)
            .cloned()
            .unwrap_or_else(|| ns.to_string())
    }

    /// Phase 3: one pass over the items (each parsed, read, dropped): what later phases need
    /// across items.
    fn gather_facts(&self, bodies: &Bodies<'_>) -> Vec<ItemFacts> {
        self.sorted
            .iter()
            .zip(&self.order)
            .map(|(it, &n)| ItemFacts::new(it, &bodies.object(n).to_value(), &self.filters))
            .collect()
    }

    /// Phase 4: selection, then related items, then `skip_owned`.
    fn select(&self, facts: &mut [ItemFacts]) -> Selection {
        let sorted = &self.sorted;
        let mut decision: Vec<Option<SkipReason>> = facts.iter().map(|f| f.primary.clone().err()).collect();
        let mut notes: BTreeMap<usize, String> = BTreeMap::new();
        if self.filters.related_allowed() {
            for i in 0..sorted.len() {
                if decision[i].is_some() {
                    continue;
                }
                let Some((gr, name)) = &facts[i].related else {
                    continue;
                };
                let key = ItemKey {
                    group_resource: (*gr).into(),
                    namespace: None,
                    name: name.clone(),
                };
                if let Some(j) = self.position_of(&key)
                    && matches!(
                        decision[j],
                        Some(SkipReason::ClusterScoped | SkipReason::LabelSelector | SkipReason::NotNamed)
                    )
                    && facts[j].related_ok
                {
                    decision[j] = None;
                    notes.insert(j, format!("restored as related item of {}", sorted[i].key()));
                }
            }
        }
        let index = OwnerIndex::new(sorted, facts);
        if self.opts.skip_owned {
            let selected: Vec<bool> = decision.iter().map(Option::is_none).collect();
            for i in 0..sorted.len() {
                if selected[i]
                    && let Some(owner) = recreated_by(sorted, facts, i, &index, &selected)
                {
                    decision[i] = Some(SkipReason::OwnedByController { owner });
                }
            }
        }
        Selection {
            decision,
            notes,
            index,
        }
    }

    /// Phase 5: the facts the item actions consult, from the target and the selected items.
    fn action_facts(&self, facts: &[ItemFacts], sel: &Selection) -> ActionFacts {
        let selected = |gr: &'static str| {
            self.sorted
                .iter()
                .zip(facts)
                .zip(&sel.decision)
                .filter(move |((i, _), d)| d.is_none() && i.group_resource == gr)
                .map(|((i, f), _)| (*i, f))
        };
        let mut service_accounts: BTreeSet<(String, String)> = BTreeSet::new();
        for (ns, sas) in self.facts.service_accounts.iter().flatten() {
            service_accounts.extend(sas.iter().map(|sa| (ns.clone(), sa.clone())));
        }
        for (sa, _) in selected("serviceaccounts") {
            service_accounts.insert((
                self.target_ns(sa.namespace.as_deref().unwrap_or_default()),
                sa.name.clone(),
            ));
        }
        let storage_classes = self.facts.storage_classes.as_ref().map(|s| {
            s.iter()
                .cloned()
                .chain(selected("storageclasses.storage.k8s.io").map(|(i, _)| i.name.clone()))
                .collect()
        });
        let reprovisioned = selected("persistentvolumes")
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
        let resolve = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|n| {
                    if has_wildcard(n) {
                        n.clone()
                    } else {
                        self.surface.resolve(n).unwrap_or_else(|| n.clone())
                    }
                })
                .collect()
        };
        let status_filter = IncludesExcludes::new(
            resolve(&self.opts.restore_status.included_resources),
            resolve(&self.opts.restore_status.excluded_resources),
        );
        ActionFacts {
            service_accounts,
            storage_classes,
            reprovisioned,
            crd_resources,
            status_filter,
        }
    }

    /// Serializes a final object (compressed with the items' dictionary, if any).
    fn encode(&self, v: &Value) -> RawJson {
        RawJson::with_dict(v, self.dict.as_ref())
    }
}
