//! What the sync does to the target: plan source objects with the restore planner, apply them
//! (server-side apply as [`FIELD_MANAGER`], drift handling), delete marked objects, reconcile a
//! set of types (source LIST vs marked target objects).

use super::metrics::LagRecorder;
use super::state::{DriftAction, DriftRecord, SyncStats, now_unix};
use super::{DriftMode, FIELD_MANAGER, SYNC_LABEL, SyncOptions, is_marked, recorded_source_rv};
use crate::restore::{BackupItem, PlannedItem, RawJson, RestoreOptions, RestorePlan, TargetFacts, TargetRef};
use futures::StreamExt;
use serde_json::{Map, Value};
use skiff_kube::{ApiResourceInfo, ApiSurface, Cluster, KubeError, ListOptions};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;

/// A target object: group-resource, namespace, name.
pub(crate) type TKey = (String, Option<String>, String);

/// What the sync knows of one object it put on the target.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    /// Source resourceVersion recorded on it.
    pub rv: Option<u64>,
}

/// Counters, lag, drift and errors, shared by the tasks of a run.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub stats: SyncStats,
    pub lag: LagRecorder,
    pub drift: Vec<DriftRecord>,
    pub errors: Vec<String>,
}

/// The outcome of one apply or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Applied,
    Deleted,
    Unchanged,
    Drift,
    Failed,
}

/// Everything the sync's writes need.
pub(crate) struct Ctx {
    pub source: Cluster,
    pub target: Cluster,
    pub opts: SyncOptions,
    pub planner: RestoreOptions,
    pub target_surface: ApiSurface,
    pub facts: TargetFacts,
    pub known: Mutex<HashMap<TKey, Known>>,
    pub namespaces: Mutex<HashSet<String>>,
    pub shared: Arc<Mutex<Shared>>,
}

/// `resource.group` (or `resource` for the core group).
pub(crate) fn gr_of(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

pub(crate) fn key_of_target(t: &TargetRef) -> TKey {
    (gr_of(&t.group, &t.resource), t.namespace.clone(), t.name.clone())
}

pub(crate) fn res_of_target(t: &TargetRef) -> ApiResourceInfo {
    ApiResourceInfo::known(&t.group, &t.version, &t.resource, &t.kind, t.namespaced)
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

/// A source object as a planner item; `None` when it lacks a name.
pub(crate) fn item_of(gr: &str, obj: &Value) -> Option<BackupItem> {
    Some(BackupItem {
        group_resource: gr.to_owned(),
        namespace: str_at(obj, "/metadata/namespace").map(str::to_owned),
        name: str_at(obj, "/metadata/name")?.to_owned(),
        api_version: str_at(obj, "/apiVersion").unwrap_or_default().to_owned(),
        object: RawJson::from_value(obj),
        alt_versions: Vec::new(),
    })
}

/// Whether the sync leaves a source object alone: the source's controllers make it (Pods of
/// ReplicaSets, ReplicaSets of Deployments, …) or it is being deleted.
pub(crate) fn not_copied(gr: &str, obj: &Value) -> bool {
    crate::verify::is_derived(gr, obj, &|_, _| true)
        || obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
}

/// The error and its sources, `: `-separated (never object data).
pub(crate) fn message(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Remove the field at a server-side apply conflict path (`.spec.replicas`, `.data.key`) from
/// an applied configuration; `false` when the path is not a plain chain of keys.
fn drop_field(obj: &mut Value, path: &str) -> bool {
    // Keys of these maps may hold dots themselves: the rest of the path is one key.
    for map in [
        ".metadata.labels.",
        ".metadata.annotations.",
        ".data.",
        ".binaryData.",
        ".stringData.",
    ] {
        if let Some(key) = path.strip_prefix(map) {
            let ptr = map[1..map.len() - 1].replace('.', "/");
            if let Some(m) = obj.pointer_mut(&format!("/{ptr}")).and_then(Value::as_object_mut) {
                m.remove(key);
            }
            return true;
        }
    }
    let Some(rest) = path.strip_prefix('.') else {
        return false;
    };
    if rest.contains(['[', ']']) {
        return false;
    }
    let parts: Vec<&str> = rest.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    let mut cur = obj;
    for p in parents {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return true,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(*last);
    }
    true
}

impl Ctx {
    /// Record an error message (counted; kept in the state file).
    pub fn error(&self, msg: String) {
        tracing::warn!("{msg}");
        let mut s = self.shared.lock().expect("sync stats lock");
        s.stats.errors += 1;
        s.errors.push(msg);
    }

    fn drift(&self, object: String, conflicts: &[skiff_kube::FieldConflict], action: DriftAction) {
        let mut fields: Vec<String> = conflicts.iter().map(|c| c.field.clone()).collect();
        fields.sort();
        fields.dedup();
        let mut managers: Vec<String> = conflicts.iter().filter_map(|c| c.manager.clone()).collect();
        managers.sort();
        managers.dedup();
        tracing::warn!(object = %object, fields = ?fields, managers = ?managers, action = ?action, "drift on the target");
        let mut s = self.shared.lock().expect("sync stats lock");
        s.stats.drift += 1;
        s.drift.push(DriftRecord {
            object,
            fields,
            managers,
            action,
            at_unix: now_unix(),
        });
    }

    /// The target key of a source object (namespace mapped).
    pub fn target_key(&self, gr: &str, obj: &Value) -> Option<TKey> {
        let name = str_at(obj, "/metadata/name")?.to_owned();
        let ns = str_at(obj, "/metadata/namespace").map(|ns| {
            self.planner
                .mappings
                .namespaces
                .get(ns)
                .cloned()
                .unwrap_or_else(|| ns.to_owned())
        });
        Some((gr.to_owned(), ns, name))
    }

    /// Whether the event of a source object at `rv` is already on the target.
    pub fn already_applied(&self, key: &TKey, rv: Option<u64>) -> bool {
        let known = self.known.lock().expect("known lock");
        match (known.get(key).and_then(|k| k.rv), rv) {
            (Some(have), Some(rv)) => rv <= have,
            _ => false,
        }
    }

    /// Plan source items with the sync's options (`hold` overrides the holds when given).
    #[allow(clippy::option_option)]
    pub fn plan(
        &self,
        items: Vec<BackupItem>,
        hold: Option<Option<crate::hold::HoldRules>>,
    ) -> Option<RestorePlan> {
        let opts;
        let planner = match hold {
            Some(h) => {
                let mut o = self.planner.clone();
                o.hold = h;
                opts = o;
                &opts
            }
            None => &self.planner,
        };
        match crate::restore::plan_owned(items, &self.target_surface, planner, &self.facts) {
            Ok(p) => {
                for e in &p.errors {
                    self.error(e.message.clone());
                }
                Some(p)
            }
            Err(e) => {
                self.error(format!("plan: {}", message(&e)));
                None
            }
        }
    }

    /// Create the plan's namespaces that the target lacks (once per run).
    pub async fn ensure_namespaces(&self, plan: &RestorePlan) {
        let res = ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false);
        for ns in &plan.namespaces_to_create {
            if self.namespaces.lock().expect("ns lock").contains(&ns.name) {
                continue;
            }
            let mut md = Map::new();
            md.insert("name".into(), Value::String(ns.name.clone()));
            if !ns.labels.is_empty() {
                md.insert(
                    "labels".into(),
                    Value::Object(ns.labels.clone().into_iter().collect()),
                );
            }
            if !ns.annotations.is_empty() {
                md.insert(
                    "annotations".into(),
                    Value::Object(ns.annotations.clone().into_iter().collect()),
                );
            }
            let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": md});
            match self.target.create(&res, None, &obj, false).await {
                Ok(_) => {}
                Err(e) if e.is_already_exists() => {}
                Err(e) => {
                    self.error(message(&e));
                    continue;
                }
            }
            self.namespaces.lock().expect("ns lock").insert(ns.name.clone());
        }
    }

    /// Server-side apply one planned object as [`FIELD_MANAGER`]; a conflict with another
    /// manager is drift, handled as `--drift` says.
    pub async fn apply_one(&self, item: &PlannedItem, force: bool) -> Done {
        let t = &item.target;
        let res = res_of_target(t);
        let ns = t.namespace.as_deref();
        let mut obj = item.object.to_value();
        // Server-side apply refuses a configuration that carries managedFields.
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("managedFields");
        }
        let rv = recorded_source_rv(&obj);
        let key = key_of_target(t);
        let what = format!(
            "{}/{}",
            key.0,
            ns.map_or_else(|| t.name.clone(), |n| format!("{n}/{}", t.name))
        );
        let apply = |obj: Value, force: bool| {
            let res = res.clone();
            async move {
                self.target
                    .apply(&res, ns, &t.name, &obj, FIELD_MANAGER, force, false)
                    .await
            }
        };
        let mut result = apply(obj.clone(), force).await;
        let mut done = Done::Applied;
        if let Err(e) = &result {
            let conflicts = e.field_conflicts();
            if !conflicts.is_empty()
                && conflicts
                    .iter()
                    .all(|c| c.manager.as_deref() == Some(FIELD_MANAGER))
            {
                // Fields the sync's own create set (an Update entry of the same manager): ours.
                result = apply(obj.clone(), true).await;
            } else if !conflicts.is_empty() {
                done = Done::Drift;
                match self.opts.drift {
                    DriftMode::Overwrite => {
                        self.drift(what.clone(), &conflicts, DriftAction::Overwritten);
                        result = apply(obj, true).await;
                    }
                    DriftMode::Keep => {
                        if conflicts.iter().all(|c| drop_field(&mut obj, &c.field)) {
                            self.drift(what.clone(), &conflicts, DriftAction::Kept);
                            result = apply(obj, false).await;
                        } else {
                            self.drift(what.clone(), &conflicts, DriftAction::Reported);
                            return Done::Drift;
                        }
                    }
                    DriftMode::Report => {
                        self.drift(what.clone(), &conflicts, DriftAction::Reported);
                        return Done::Drift;
                    }
                }
            }
        }
        match result {
            Ok(_) => {
                self.known.lock().expect("known lock").insert(key, Known { rv });
                let mut s = self.shared.lock().expect("sync stats lock");
                s.stats.applied += 1;
                done
            }
            Err(e) => {
                self.error(format!("apply {what}: {}", message(&e)));
                Done::Failed
            }
        }
    }

    /// Apply the plan's items wave by wave (items of one wave concurrently); `want` picks items
    /// (`Some(force)`).
    pub async fn apply_plan(
        &self,
        plan: &RestorePlan,
        want: &dyn Fn(&PlannedItem) -> Option<bool>,
    ) -> Vec<Done> {
        self.ensure_namespaces(plan).await;
        let mut out = Vec::new();
        for w in &plan.waves {
            let done: Vec<Done> =
                futures::stream::iter(w.items.iter().filter_map(|i| want(i).map(|f| (i, f))))
                    .map(|(i, force)| self.apply_one(i, force))
                    .buffer_unordered(self.opts.concurrency.max(1))
                    .collect()
                    .await;
            out.extend(done);
        }
        out
    }

    /// Delete a target object if it carries this sync's marker (UID precondition: never an
    /// object replaced since it was read).
    pub async fn delete_marked(&self, key: &TKey) -> Done {
        let Some(res) = self.target_surface.preferred(&key.0).cloned() else {
            return Done::Unchanged;
        };
        let ns = key.1.as_deref();
        let what = format!(
            "{}/{}",
            key.0,
            ns.map_or_else(|| key.2.clone(), |n| format!("{n}/{}", key.2))
        );
        let live = match self.target.get(&res, ns, &key.2).await {
            Ok(l) => l,
            Err(e) => {
                self.error(format!("get {what}: {}", message(&e)));
                return Done::Failed;
            }
        };
        self.known.lock().expect("known lock").remove(key);
        let Some(live) = live.filter(|l| is_marked(l, &self.opts.name)) else {
            return Done::Unchanged;
        };
        let uid = str_at(&live, "/metadata/uid");
        match self.target.delete_uid(&res, ns, &key.2, uid, false).await {
            Ok(()) => {
                self.shared.lock().expect("sync stats lock").stats.deleted += 1;
                Done::Deleted
            }
            Err(e) if e.is_not_found() => Done::Unchanged,
            Err(e) => {
                self.error(format!("delete {what}: {}", message(&e)));
                Done::Failed
            }
        }
    }

    /// Every object of type `gr` on the target that carries this sync's marker.
    pub async fn list_marked(&self, gr: &str) -> Result<Vec<Value>, KubeError> {
        let Some(res) = self.target_surface.preferred(gr) else {
            return Ok(Vec::new());
        };
        let opts = ListOptions {
            label_selector: Some(format!(
                "{SYNC_LABEL}={}",
                crate::restore::shorten_label_value(&self.opts.name)
            )),
            ..ListOptions::default()
        };
        let mut pager = self.target.list_pages(res, opts);
        let mut out = Vec::new();
        while let Some(p) = pager.next_page().await? {
            if p.restarted {
                out.clear();
            }
            out.extend(p.items);
        }
        Ok(out)
    }

    /// Learn what the target holds of this sync for these types (group-resources).
    pub async fn seed_known(&self, grs: &[String]) -> Result<BTreeMap<TKey, Value>, KubeError> {
        let mut all = BTreeMap::new();
        for gr in grs {
            for o in self.list_marked(gr).await? {
                let Some(name) = str_at(&o, "/metadata/name") else {
                    continue;
                };
                let key = (
                    gr.clone(),
                    str_at(&o, "/metadata/namespace").map(str::to_owned),
                    name.to_owned(),
                );
                self.known.lock().expect("known lock").insert(
                    key.clone(),
                    Known {
                        rv: recorded_source_rv(&o),
                    },
                );
                all.insert(key, o);
            }
        }
        Ok(all)
    }

    /// Reconcile `types`: a fresh LIST of each on the source (its resourceVersion returned per
    /// group-resource), planned; applied where the target's copy is missing or older; checked
    /// for drift where it is current; marked target objects the source no longer has deleted.
    #[allow(clippy::option_option)]
    pub async fn reconcile(
        &self,
        types: &[ApiResourceInfo],
        hold: Option<Option<crate::hold::HoldRules>>,
        force: bool,
    ) -> Result<Reconciled, KubeError> {
        let mut out = Reconciled::default();
        let mut items = Vec::new();
        for res in types {
            let gr = res.group_resource();
            let mut pager = self.source.list_pages(res, ListOptions::default());
            let mut rv = String::new();
            let mut these = Vec::new();
            while let Some(p) = pager.next_page().await? {
                if p.restarted {
                    these.clear();
                }
                rv = p.resource_version;
                these.extend(
                    p.items
                        .iter()
                        .filter(|o| !not_copied(&gr, o))
                        .filter_map(|o| item_of(&gr, o)),
                );
            }
            items.extend(these);
            out.resource_versions.insert(gr, rv);
        }
        let grs: Vec<String> = types.iter().map(ApiResourceInfo::group_resource).collect();
        let live = self.seed_known(&grs).await?;
        let Some(plan) = self.plan(items, hold) else {
            return Ok(out);
        };
        let mut planned_keys: BTreeSet<TKey> = BTreeSet::new();
        let mut to_apply: BTreeMap<usize, bool> = BTreeMap::new();
        for item in plan.items() {
            let key = key_of_target(&item.target);
            planned_keys.insert(key.clone());
            let obj = item.object.to_value();
            match live.get(&key) {
                None => {
                    to_apply.insert(item.id, force);
                }
                Some(l) if force || recorded_source_rv(l) < recorded_source_rv(&obj) => {
                    to_apply.insert(item.id, force);
                }
                Some(l) => {
                    let (state, diffs) = crate::verify::check_object(&key.0, &obj, Some(l));
                    if state == crate::verify::CheckState::Equal {
                        out.unchanged += 1;
                        continue;
                    }
                    let fields: Vec<skiff_kube::FieldConflict> = diffs
                        .iter()
                        .map(|d| skiff_kube::FieldConflict {
                            field: format!(".{}", d.path),
                            manager: None,
                            message: String::new(),
                        })
                        .collect();
                    let what = format!(
                        "{}/{}",
                        key.0,
                        key.1
                            .as_ref()
                            .map_or_else(|| key.2.clone(), |n| format!("{n}/{}", key.2))
                    );
                    out.drift += 1;
                    if self.opts.drift == DriftMode::Overwrite {
                        self.drift(what, &fields, DriftAction::Overwritten);
                        to_apply.insert(item.id, true);
                    } else {
                        self.drift(what, &fields, DriftAction::Reported);
                    }
                }
            }
        }
        let done = self.apply_plan(&plan, &|i| to_apply.get(&i.id).copied()).await;
        out.applied += done
            .iter()
            .filter(|d| matches!(d, Done::Applied | Done::Drift))
            .count();
        out.failed += done.iter().filter(|d| **d == Done::Failed).count();
        let gone: Vec<TKey> = live
            .keys()
            .filter(|k| !planned_keys.contains(*k))
            .cloned()
            .collect();
        let deleted: Vec<Done> = futures::stream::iter(gone.iter())
            .map(|k| self.delete_marked(k))
            .buffer_unordered(self.opts.concurrency.max(1))
            .collect()
            .await;
        out.deleted += deleted.iter().filter(|d| **d == Done::Deleted).count();
        out.planned = plan.len();
        Ok(out)
    }

    /// Objects known in sync (for the status).
    pub fn in_sync(&self) -> u64 {
        self.known.lock().expect("known lock").len() as u64
    }
}

/// What a reconcile did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reconciled {
    /// Source LIST resourceVersion per group-resource.
    pub resource_versions: BTreeMap<String, String>,
    /// Objects planned.
    pub planned: usize,
    /// Applied.
    pub applied: usize,
    /// Already current.
    pub unchanged: usize,
    /// Deleted on the target.
    pub deleted: usize,
    /// Drift found.
    pub drift: usize,
    /// Failed.
    pub failed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conflict_paths_drop_plain_fields_only() {
        let mut o = json!({"spec": {"replicas": 3, "x": 1}, "data": {"k": "v"}});
        assert!(drop_field(&mut o, ".spec.replicas"));
        assert!(drop_field(&mut o, ".data.k"));
        assert!(drop_field(&mut o, ".missing.deep"));
        assert!(!drop_field(&mut o, ".spec.containers[name=\"a\"].image"));
        assert_eq!(o, json!({"spec": {"x": 1}, "data": {}}));
        let mut o = json!({"metadata": {"annotations": {"skiff.io/x": "1", "b": "2"}}});
        assert!(drop_field(&mut o, ".metadata.annotations.skiff.io/x"));
        assert_eq!(o, json!({"metadata": {"annotations": {"b": "2"}}}));
    }

    #[test]
    fn derived_objects_are_not_copied() {
        let pod = json!({"metadata": {"name": "p", "ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}});
        assert!(not_copied("pods", &pod));
        let bare = json!({"metadata": {"name": "p"}});
        assert!(!not_copied("pods", &bare));
        let deleting = json!({"metadata": {"name": "p", "deletionTimestamp": "2020-01-01T00:00:00Z"}});
        assert!(not_copied("configmaps", &deleting));
    }
}
