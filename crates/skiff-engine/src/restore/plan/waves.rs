//! Phase 8: waves, and every edge the executor runs.
//!
//! Items go into stages by resource type and, inside a stage, into ownership levels (see
//! `order`); each (stage, level) is a wave. Then each item gets its `after` set — its owners
//! (same stage, earlier level), the CRD that serves it, the Namespace it goes into — and each
//! wave its `after_waves` barrier: every wave of an earlier stage that is a barrier. A stage is
//! a barrier unless all its items wait for readiness (the CRD and namespace stages): what needs
//! those names them in its `after` instead, so it starts as soon as they are ready.

use super::{Planned, Planner, Selection};
use crate::restore::item::ItemKey;
use crate::restore::model::{Wait, Wave};
use crate::restore::order::{Stage, assign_waves};
use crate::restore::select::ItemFacts;
use std::collections::{BTreeMap, BTreeSet};

/// Per planned item (by position in `planned`): the items it waits for.
type Edges = Vec<Vec<usize>>;

impl Planner<'_> {
    /// Phase 8: the planned items in waves, with their edges; ids are positions in the final
    /// order.
    pub(super) fn make_waves(
        &mut self,
        planned: Vec<Planned>,
        facts: Vec<ItemFacts>,
        sel: Selection,
    ) -> Vec<Wave> {
        let stages: Vec<Stage> = planned
            .iter()
            .map(|(_, p)| self.ordering.stage(&p.source.group_resource))
            .collect();
        let deps = self.owner_deps(&planned, &facts, &sel);
        let (assigned, cyclic) = assign_waves(&stages, &deps);
        for c in cyclic {
            self.warnings.push(format!(
                "ownerReferences of {} form a cycle; ordered without them",
                planned[c].1.source
            ));
        }
        // Owners the executor waits for: same stage, strictly earlier wave (cycles were cut there).
        let owners: Edges = deps
            .iter()
            .enumerate()
            .map(|(n, ds)| {
                let mut o: Vec<usize> = ds
                    .iter()
                    .copied()
                    .filter(|&d| stages[d] == stages[n] && assigned[d].0 < assigned[n].0)
                    .collect();
                o.sort_unstable();
                o.dedup();
                o
            })
            .collect();
        drop(deps);
        let readiness = readiness_edges(&planned, &facts);
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
        drop((stages, facts, sel));
        let mut waves = self.fill_waves(planned, assigned, stage_of, &owners);
        set_edges(&mut waves, &owners, &readiness);
        waves
    }

    /// Per planned item, the planned items its ownerReferences point to (Namespace items have
    /// none).
    fn owner_deps(&self, planned: &[Planned], facts: &[ItemFacts], sel: &Selection) -> Edges {
        let planned_of: BTreeMap<usize, usize> = planned
            .iter()
            .enumerate()
            .filter(|(_, (b, _))| *b != usize::MAX)
            .map(|(p, (b, _))| (*b, p))
            .collect();
        planned
            .iter()
            .map(|(b, p)| {
                if p.source.group_resource == "namespaces" {
                    return vec![];
                }
                let item = self.sorted[*b];
                facts[*b]
                    .owners
                    .iter()
                    .filter_map(|r| sel.index.resolve(item, r))
                    .filter_map(|o| planned_of.get(&o).copied())
                    .collect()
            })
            .collect()
    }

    /// The planned items in their waves, each wave in Velero's order, with their owners' keys.
    /// While the waves are filled, [`crate::restore::PlannedItem::id`] holds the item's position in `planned`.
    fn fill_waves(
        &self,
        planned: Vec<Planned>,
        assigned: Vec<(usize, String)>,
        stage_of: Vec<usize>,
        owners: &[Vec<usize>],
    ) -> Vec<Wave> {
        let sources: Vec<_> = planned.iter().map(|(_, p)| p.source.clone()).collect();
        let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
        for (w, _) in &assigned {
            *sizes.entry(*w).or_default() += 1;
        }
        let mut waves: BTreeMap<usize, Wave> = BTreeMap::new();
        for (p, (((_, mut item), (w, name)), stage)) in
            planned.into_iter().zip(assigned).zip(stage_of).enumerate()
        {
            item.id = p;
            let mut keys: Vec<ItemKey> = owners[p].iter().map(|&d| sources[d].clone()).collect();
            keys.sort();
            keys.dedup();
            item.owners = keys;
            waves
                .entry(w)
                .or_insert_with(|| Wave {
                    index: w,
                    stage,
                    name,
                    after_waves: Vec::new(),
                    items: Vec::with_capacity(sizes.get(&w).copied().unwrap_or(0)),
                })
                .items
                .push(*item);
        }
        let mut waves: Vec<Wave> = waves.into_values().collect();
        let ordering = &self.ordering;
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
        waves
    }
}

/// Per planned item, the items whose readiness it needs: the CRD that serves its resource (when
/// the backup's CRD is planned) and the Namespace it goes into.
fn readiness_edges(planned: &[Planned], facts: &[ItemFacts]) -> Edges {
    let mut crd_of: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut ns_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (p, (b, item)) in planned.iter().enumerate() {
        match &item.wait {
            Some(Wait::CrdEstablished(_)) if *b != usize::MAX => {
                for info in &facts[*b].crd {
                    crd_of.insert((info.group.as_str(), info.resource.as_str()), p);
                }
            }
            Some(Wait::NamespaceReady(name)) => {
                ns_of.insert(name.as_str(), p);
            }
            _ => {}
        }
    }
    planned
        .iter()
        .enumerate()
        .map(|(p, (_, item))| {
            let t = &item.target;
            let crd = crd_of.get(&(t.group.as_str(), t.resource.as_str()));
            let ns = t.namespace.as_deref().and_then(|ns| ns_of.get(ns));
            crd.into_iter().chain(ns).copied().filter(|&d| d != p).collect()
        })
        .collect()
}

/// Turns the edges (by position in `planned`, which `id` holds) into ids (positions in the final
/// order), and sets each wave's barrier.
fn set_edges(waves: &mut [Wave], owners: &[Vec<usize>], readiness: &[Vec<usize>]) {
    let mut id_of = vec![0; owners.len()];
    let mut next = 0;
    for w in waves.iter() {
        for item in &w.items {
            id_of[item.id] = next;
            next += 1;
        }
    }
    // A stage is a barrier unless every item of it waits for readiness (CRDs, namespaces).
    let mut barrier: BTreeMap<usize, bool> = BTreeMap::new();
    for w in waves.iter() {
        let b = barrier.entry(w.stage).or_insert(false);
        *b |= w.items.iter().any(|i| i.wait.is_none());
    }
    let stage_waves: Vec<(usize, usize)> = waves.iter().map(|w| (w.stage, w.index)).collect();
    for w in waves.iter_mut() {
        w.after_waves = stage_waves
            .iter()
            .filter(|(s, _)| *s < w.stage && barrier.get(s).copied().unwrap_or(true))
            .map(|&(_, i)| i)
            .collect();
        for item in &mut w.items {
            let p = item.id;
            item.id = id_of[p];
            let mut ids: Vec<usize> = owners[p].iter().chain(&readiness[p]).map(|&d| id_of[d]).collect();
            ids.sort_unstable();
            ids.dedup();
            // The plan order is a topological order of the edges: owners are in earlier waves
            // of the stage, CRDs and namespaces in earlier stages.
            debug_assert!(ids.iter().all(|&d| d < item.id), "edge to a later item");
            ids.retain(|&d| d < item.id);
            ids.shrink_to_fit();
            item.after = ids;
        }
    }
}
