//! `skiff cutover`: quiesce the source, apply the final delta, activate the target, check it,
//! remove the markers; and `--rollback`.

use super::apply::{Ctx, gr_of, item_of, key_of_target, not_copied};
use super::run::context;
use super::state::{CutoverRecord, ObjectKey, SyncState};
use super::{SyncError, SyncOptions, unmark, unmark_patch};
use crate::hold::{self, HOLD_ANNOTATION, HoldOutcome, HoldRules};
use crate::progress::Progress;
use serde::Serialize;
use serde_json::{Map, Value};
use skiff_kube::{ApiResourceInfo, Cluster, ListOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Workload types a hold changes (besides the custom resources of the rules).
const HOLDABLE: &[&str] = &[
    "deployments.apps",
    "statefulsets.apps",
    "replicasets.apps",
    "replicationcontrollers",
    "cronjobs.batch",
    "daemonsets.apps",
];

/// Types whose objects a hold defers to the release (created at activation).
const DEFERRED: &[&str] = &["jobs.batch", "pods"];

/// Options of a cutover.
#[derive(Debug, Clone, Copy, Default)]
pub struct CutoverOptions {
    /// Say what would be done; change nothing.
    pub dry_run: bool,
    /// Leave the sync's markers on the target.
    pub keep_markers: bool,
}

/// One step of the cutover's timeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// What.
    pub what: String,
    /// Objects it touched.
    pub objects: usize,
    /// How long it took.
    pub seconds: f64,
}

/// The check of the target after activation.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverVerify {
    /// Objects expected (the source's, planned and released).
    pub expected: usize,
    /// Equal on the target.
    pub equal: usize,
    /// Missing on the target.
    pub missing: Vec<String>,
    /// Different on the target (object and field paths; never values).
    pub different: Vec<(String, Vec<String>)>,
}

impl CutoverVerify {
    /// Whether everything expected is on the target, equal.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.different.is_empty()
    }
}

/// What a cutover (or a rollback) did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverReport {
    /// The sync.
    pub name: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The steps, in order.
    pub timeline: Vec<Step>,
    /// Source objects held.
    pub quiesced: usize,
    /// Changes of the final delta (applied + deleted).
    pub final_delta: usize,
    /// Target objects released (or created, for deferred ones).
    pub activated: usize,
    /// The check after activation (`None`: dry run or rollback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<CutoverVerify>,
    /// Markers removed from this many objects.
    pub markers_removed: usize,
    /// Per-object failures.
    pub errors: Vec<String>,
}

/// The merge patch that puts `live` (of type `gr`) in its held form; `None` when there is
/// nothing to hold (not a workload, deferred, or already held).
///
/// # Errors
/// A rule's patch does not apply to the object.
pub fn hold_patch(gr: &str, live: &Value, rules: &HoldRules) -> Result<Option<Value>, hold::HoldError> {
    let mut held = live.clone();
    let HoldOutcome::Held(fields) = hold::hold(gr, &mut held, rules)? else {
        return Ok(None);
    };
    let mut patch = Value::Object(Map::new());
    for f in &fields {
        put(&mut patch, &held, f);
    }
    put(
        &mut patch,
        &held,
        &format!("/metadata/annotations/{}", HOLD_ANNOTATION.replace('/', "~1")),
    );
    Ok(Some(patch))
}

/// Set `pointer` in a merge patch to its value in `from` (`null` when absent); an array on the
/// way is taken whole (a merge patch replaces arrays).
fn put(patch: &mut Value, from: &Value, pointer: &str) {
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut cur = patch;
    let mut src = Some(from);
    for (i, p) in parts.iter().enumerate() {
        let next = src.and_then(|s| s.get(p.as_str()));
        let last = i + 1 == parts.len();
        if last || next.is_some_and(Value::is_array) {
            if let Some(m) = cur.as_object_mut() {
                m.insert(p.clone(), next.cloned().unwrap_or(Value::Null));
            }
            return;
        }
        let Some(m) = cur.as_object_mut() else { return };
        cur = m.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
        src = next;
    }
}

fn object_key(res: &ApiResourceInfo, obj: &Value) -> Option<ObjectKey> {
    Some(ObjectKey {
        group: res.group.clone(),
        version: res.version.clone(),
        resource: res.resource.clone(),
        kind: res.kind.clone(),
        namespace: obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned),
        name: obj.pointer("/metadata/name").and_then(Value::as_str)?.to_owned(),
    })
}

async fn list_all(cluster: &Cluster, res: &ApiResourceInfo) -> Result<Vec<Value>, skiff_kube::KubeError> {
    let mut pager = cluster.list_pages(res, ListOptions::default());
    let mut out = Vec::new();
    while let Some(p) = pager.next_page().await? {
        if p.restarted {
            out.clear();
        }
        out.extend(p.items);
    }
    Ok(out)
}

fn lap(report: &mut CutoverReport, step: &str, objects: usize, since: Instant) {
    report.timeline.push(Step {
        what: step.to_owned(),
        objects,
        seconds: since.elapsed().as_secs_f64(),
    });
}

/// Cut over sync `opts.name` (see the module docs of [`crate::sync`]); records what it did in
/// `state.cutover` (the caller writes the state file).
///
/// # Errors
/// The sync never completed its initial copy, or discovery or a LIST failed. Per-object
/// failures are in the report.
#[allow(clippy::many_single_char_names, clippy::semicolon_if_nothing_returned)]
pub async fn cutover(
    source: &Cluster,
    target: &Cluster,
    opts: &SyncOptions,
    state: &mut SyncState,
    c: &CutoverOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<CutoverReport, SyncError> {
    if !state.initial_copy_done {
        return Err(SyncError::NotReady {
            name: opts.name.clone(),
        });
    }
    let (ctx, types) = context(source, target, opts, Arc::default(), cancel).await?;
    let rules = opts.restore.hold.clone().unwrap_or_default();
    let holdable: Vec<ApiResourceInfo> = types
        .iter()
        .filter(|t| {
            let gr = t.group_resource();
            HOLDABLE.contains(&gr.as_str()) || rules.custom.contains_key(&gr)
        })
        .cloned()
        .collect();
    let mut report = CutoverReport {
        name: opts.name.clone(),
        dry_run: c.dry_run,
        ..CutoverReport::default()
    };
    let mut record = CutoverRecord::default();

    // 1. Quiesce: hold the in-scope workloads of the source.
    progress.stage("quiescing the source", None);
    let t = Instant::now();
    for res in &holdable {
        let gr = res.group_resource();
        let live = list_all(source, res).await?;
        let items: Vec<_> = live
            .iter()
            .filter(|o| !not_copied(&gr, o))
            .filter_map(|o| item_of(&gr, o))
            .collect();
        // In scope = what the planner keeps.
        let Some(plan) = ctx.plan(items, Some(None)) else {
            continue;
        };
        let in_scope: std::collections::BTreeSet<(Option<String>, String)> = plan
            .items()
            .map(|i| (i.source.namespace.clone(), i.source.name.clone()))
            .collect();
        for o in &live {
            let Some(k) = object_key(res, o) else { continue };
            if !in_scope.contains(&(k.namespace.clone(), k.name.clone())) {
                continue;
            }
            match hold_patch(&gr, o, &rules) {
                Ok(Some(patch)) => {
                    if !c.dry_run
                        && let Err(e) = source
                            .merge_patch(res, k.namespace.as_deref(), &k.name, &patch, false)
                            .await
                    {
                        report
                            .errors
                            .push(format!("hold {}: {}", k.describe(), super::apply::message(&e)));
                        continue;
                    }
                    record.quiesced.push(k);
                }
                Ok(None) => {}
                Err(e) => report.errors.push(e.to_string()),
            }
        }
    }
    report.quiesced = record.quiesced.len();
    let n = report.quiesced;
    lap(&mut report, "quiesce source", n, t);
    progress.finish_stage();

    if c.dry_run {
        let mut would = 0;
        for res in &holdable {
            would += ctx
                .list_marked(&res.group_resource())
                .await?
                .iter()
                .filter(|o| matches!(hold::record(o), Ok(Some(_))))
                .count();
        }
        report.activated = would;
        return Ok(report);
    }

    // 2. Barrier: a fresh LIST per type after quiescing, applied to the target.
    progress.stage("final delta", None);
    let t = Instant::now();
    let r = ctx.reconcile(&types, None, false).await?;
    report.final_delta = r.applied + r.deleted;
    let n = report.final_delta;
    lap(&mut report, "final delta", n, t);
    progress.finish_stage();

    // 3. Activate: release every held object of this sync; create the deferred ones.
    progress.stage("activating the target", None);
    let t = Instant::now();
    for res in &holdable {
        let gr = res.group_resource();
        let Some(tres) = ctx.target_surface.preferred(&gr).cloned() else {
            continue;
        };
        for o in ctx.list_marked(&gr).await? {
            let Some(k) = object_key(&tres, &o) else { continue };
            match hold::release_patch(&o) {
                Ok(Some(patch)) => {
                    match target
                        .json_patch(&tres, k.namespace.as_deref(), &k.name, &patch, false)
                        .await
                    {
                        Ok(_) => record.activated.push(k),
                        Err(e) => report.errors.push(format!(
                            "release {}: {}",
                            k.describe(),
                            super::apply::message(&e)
                        )),
                    }
                }
                Ok(None) => {}
                Err(e) => report.errors.push(e.to_string()),
            }
        }
    }
    let deferred: Vec<ApiResourceInfo> = types
        .iter()
        .filter(|t| DEFERRED.contains(&t.group_resource().as_str()))
        .cloned()
        .collect();
    let mut created = 0;
    if !deferred.is_empty() {
        let r = ctx.reconcile(&deferred, Some(None), false).await?;
        created = r.applied;
    }
    report.activated = record.activated.len() + created;
    let n = report.activated;
    lap(&mut report, "activate target", n, t);
    progress.finish_stage();

    // 4. Markers off.
    let t = Instant::now();
    if !c.keep_markers {
        progress.stage("removing markers", None);
        for res in &types {
            let gr = res.group_resource();
            let Some(tres) = ctx.target_surface.preferred(&gr).cloned() else {
                continue;
            };
            for o in ctx.list_marked(&gr).await? {
                let Some(k) = object_key(&tres, &o) else { continue };
                match target
                    .merge_patch(&tres, k.namespace.as_deref(), &k.name, &unmark_patch(), false)
                    .await
                {
                    Ok(_) => report.markers_removed += 1,
                    Err(e) => {
                        report
                            .errors
                            .push(format!("unmark {}: {}", k.describe(), super::apply::message(&e)))
                    }
                }
            }
        }
        record.markers_removed = true;
        let n = report.markers_removed;
        lap(&mut report, "remove markers", n, t);
        progress.finish_stage();
    }

    // 5. Verify: every source object, planned and released, against the target.
    progress.stage("verifying", None);
    let t = Instant::now();
    let v = verify(&ctx, &types, !c.keep_markers).await?;
    lap(&mut report, "verify", v.expected, t);
    report.verify = Some(v);
    progress.finish_stage();
    state.cutover = Some(record);
    Ok(report)
}

/// Every in-scope source object, planned without holds and released, against the target.
async fn verify(ctx: &Ctx, types: &[ApiResourceInfo], unmarked: bool) -> Result<CutoverVerify, SyncError> {
    let mut items = Vec::new();
    for res in types {
        let gr = res.group_resource();
        items.extend(
            list_all(&ctx.source, res)
                .await?
                .iter()
                .filter(|o| !not_copied(&gr, o))
                .filter_map(|o| item_of(&gr, o)),
        );
    }
    let mut out = CutoverVerify::default();
    let Some(plan) = ctx.plan(items, Some(None)) else {
        return Ok(out);
    };
    let mut live: BTreeMap<String, BTreeMap<(Option<String>, String), Value>> = BTreeMap::new();
    for item in plan.items() {
        let (gr, ns, name) = key_of_target(&item.target);
        if !live.contains_key(&gr) {
            let objs = match ctx.target_surface.preferred(&gr) {
                Some(res) => list_all(&ctx.target, res).await?,
                None => Vec::new(),
            };
            let by_key = objs
                .into_iter()
                .filter_map(|o| {
                    let name = o.pointer("/metadata/name")?.as_str()?.to_owned();
                    let ns = o
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    Some(((ns, name), o))
                })
                .collect();
            live.insert(gr.clone(), by_key);
        }
        let mut want = item.object.to_value();
        let _ = hold::release(&mut want);
        if unmarked {
            unmark(&mut want);
        }
        let have = live.get(&gr).and_then(|m| m.get(&(ns.clone(), name.clone())));
        out.expected += 1;
        let what = format!(
            "{gr}/{}",
            ns.map_or_else(|| name.clone(), |n| format!("{n}/{name}"))
        );
        match crate::verify::check_object(&gr, &want, have) {
            (crate::verify::CheckState::Equal, _) => out.equal += 1,
            (crate::verify::CheckState::Missing, _) => out.missing.push(what),
            (crate::verify::CheckState::Different, d) => {
                out.different
                    .push((what, d.into_iter().map(|d| d.path).collect()));
            }
        }
    }
    Ok(out)
}

/// Reverse a cutover: hold the target objects it released again and release the source
/// objects it held. Deferred objects it created (Jobs, bare Pods) stay.
///
/// # Errors
/// The sync has no cutover on record.
pub async fn rollback(
    source: &Cluster,
    target: &Cluster,
    opts: &SyncOptions,
    state: &mut SyncState,
    dry_run: bool,
) -> Result<CutoverReport, SyncError> {
    let Some(record) = state.cutover.as_mut().filter(|r| !r.rolled_back) else {
        return Err(SyncError::NoCutover {
            name: opts.name.clone(),
        });
    };
    let rules = opts.restore.hold.clone().unwrap_or_default();
    let mut report = CutoverReport {
        name: opts.name.clone(),
        dry_run,
        ..CutoverReport::default()
    };
    let t = Instant::now();
    for k in &record.activated {
        let res = k.info();
        let gr = gr_of(&k.group, &k.resource);
        match target.get(&res, k.namespace.as_deref(), &k.name).await {
            Ok(Some(o)) => match hold_patch(&gr, &o, &rules) {
                Ok(Some(p)) => {
                    if !dry_run
                        && let Err(e) = target
                            .merge_patch(&res, k.namespace.as_deref(), &k.name, &p, false)
                            .await
                    {
                        report
                            .errors
                            .push(format!("hold {}: {}", k.describe(), super::apply::message(&e)));
                        continue;
                    }
                    report.activated += 1;
                }
                Ok(None) => {}
                Err(e) => report.errors.push(e.to_string()),
            },
            Ok(None) => report
                .errors
                .push(format!("{} is gone from the target", k.describe())),
            Err(e) => report.errors.push(super::apply::message(&e)),
        }
    }
    let n = report.activated;
    lap(&mut report, "hold target", n, t);
    let t = Instant::now();
    for k in &record.quiesced {
        let res = k.info();
        match source.get(&res, k.namespace.as_deref(), &k.name).await {
            Ok(Some(o)) => match hold::release_patch(&o) {
                Ok(Some(p)) => {
                    if !dry_run
                        && let Err(e) = source
                            .json_patch(&res, k.namespace.as_deref(), &k.name, &p, false)
                            .await
                    {
                        report.errors.push(format!(
                            "release {}: {}",
                            k.describe(),
                            super::apply::message(&e)
                        ));
                        continue;
                    }
                    report.quiesced += 1;
                }
                Ok(None) => {}
                Err(e) => report.errors.push(e.to_string()),
            },
            Ok(None) => report
                .errors
                .push(format!("{} is gone from the source", k.describe())),
            Err(e) => report.errors.push(super::apply::message(&e)),
        }
    }
    let n = report.quiesced;
    lap(&mut report, "release source", n, t);
    if !dry_run {
        record.rolled_back = true;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hold_patch_is_a_merge_patch_of_the_held_fields() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "a"}, "spec": {"replicas": 3, "template": {"spec": {}}}});
        let p = hold_patch("deployments.apps", &d, &HoldRules::default())
            .unwrap()
            .unwrap();
        assert_eq!(p["spec"]["replicas"], 0);
        let rec = p["metadata"]["annotations"][HOLD_ANNOTATION].as_str().unwrap();
        assert!(rec.contains("\"was\":3"), "{rec}");
        let mut patched = d.clone();
        json_patch::merge(&mut patched, &p);
        assert!(hold::release_patch(&patched).unwrap().is_some());
        let ds = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}});
        let p = hold_patch("daemonsets.apps", &ds, &HoldRules::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            p["spec"]["template"]["spec"]["nodeSelector"]["skiff.io/held"],
            "true"
        );
        assert_eq!(
            hold_patch("configmaps", &ds, &HoldRules::default()).unwrap(),
            None
        );
    }
}
