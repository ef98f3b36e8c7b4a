//! `skiff verify`: does the target hold what the source says it should, and is it ready?
//!
//! The expected objects are the source's objects **as the restore planner makes them** for this
//! target: the source's items go through [`crate::restore::plan_owned`] with the restore's options
//! (scope, mappings, modifiers) against the target's discovery and facts, and each planned
//! object is what the target should hold. There is no second implementation of mappings here.
//!
//! Then, per planned object: missing, different (field paths from [`crate::compare`], both sides
//! normalised, the planned object compared as a subset of the live one) or equal; objects of
//! the in-scope types in the target namespaces that the plan does not hold are *extras*.
//! Objects the target's controllers make or own themselves ([`is_derived`]: Pods of
//! ReplicaSets, ReplicaSets of Deployments, Endpoints of Services with selectors, events, token
//! Secrets, …) are not compared: readiness covers them.
//!
//! Readiness ([`readiness_of`]) of the live objects of the target namespaces: Deployments and
//! StatefulSets with every replica ready, DaemonSets ready, Jobs complete, PVCs Bound, Services
//! with selectors having ready endpoints, Pods not in CrashLoopBackOff / ImagePullBackOff /
//! Unschedulable. With [`VerifyOptions::wait`] readiness is polled until ready or timed out.

// Kubernetes kind names appear as prose in these docs.
#![allow(clippy::doc_markdown)]

use crate::backup::select::Selection;
use crate::compare::{self, Difference};
use crate::error::Error;
use crate::progress::Progress;
use crate::restore::{
    BackupItem, PlannedItem, RawJson, RestoreError, RestoreOptions, RestorePlan, SkipReason, TargetRef,
};
use crate::scope::Scope;
use crate::side::Side;
use futures::{StreamExt, TryStreamExt};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, ApiSurface, Cluster, ListOptions};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Namespaces up to which a type is listed namespace by namespace (beyond: one cluster-wide LIST,
/// filtered).
const PER_NAMESPACE_LISTS: usize = 8;
/// LISTs in flight.
const LISTS_IN_FLIGHT: usize = 8;

/// Options of a verify run.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The options of the restore being verified (scope, mappings, modifiers, …): the expected
    /// objects are planned with them, as the restore planned them.
    pub restore: RestoreOptions,
    /// Check the readiness of the live workloads.
    pub readiness: bool,
    /// Poll readiness until everything is ready or this much time has passed (`None`: look once).
    pub wait: Option<Duration>,
    /// Time between two readiness polls.
    pub poll_interval: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            restore: RestoreOptions::default(),
            readiness: true,
            wait: None,
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// What a planned object looks like on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// Present and equal (every planned field holds the planned value).
    Equal,
    /// Not on the target.
    Missing,
    /// Present, with differing fields.
    Different,
}

/// One planned object, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCheck {
    /// Group-resource on the target (`deployments.apps`).
    pub resource: String,
    /// Target namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The source item (`configmaps/ns/name`, original namespace).
    pub source: String,
    /// The verdict.
    pub state: CheckState,
    /// Differing fields (planned = `expected`, live = `actual`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
}

/// An object named by type, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Group-resource.
    pub resource: String,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.resource, self.name),
            None => write!(f, "{}/{}", self.resource, self.name),
        }
    }
}

/// The readiness of one live object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheck {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Whether it is ready.
    pub ready: bool,
    /// Why not (empty when ready).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Counts of a verify run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifySummary {
    /// Planned objects compared.
    pub expected: usize,
    /// Equal.
    pub equal: usize,
    /// Missing.
    pub missing: usize,
    /// Different.
    pub different: usize,
    /// Extras on the target.
    pub extra: usize,
    /// Planned objects the target's controllers make or own (not compared).
    pub derived: usize,
    /// Live objects ready.
    pub ready: usize,
    /// Live objects not ready.
    pub not_ready: usize,
}

/// The report of a verify run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// The source side.
    pub source: String,
    /// The target namespaces verified.
    pub namespaces: Vec<String>,
    /// Counts.
    pub summary: VerifySummary,
    /// Every planned object compared, in plan order.
    pub objects: Vec<ObjectCheck>,
    /// Objects on the target the source does not have.
    pub extras: Vec<ObjectRef>,
    /// Readiness of the live objects checked (empty when readiness was not checked).
    pub readiness: Vec<ReadinessCheck>,
    /// Readiness was polled and the wait ran out.
    pub timed_out: bool,
    /// Seconds spent polling readiness.
    pub waited_seconds: f64,
    /// What could not be checked (a type that failed to list, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// Whether anything is missing, different or extra.
    pub fn has_differences(&self) -> bool {
        self.summary.missing + self.summary.different + self.summary.extra > 0
    }

    /// Whether every live object checked is ready.
    pub fn is_ready(&self) -> bool {
        self.summary.not_ready == 0
    }
}

/// The source's items, ready for the planner: every item of a backup (the planner applies the
/// scope, as in a restore), or the in-scope objects of a live source.
///
/// # Errors
/// Reading the source fails.
pub async fn source_items(
    source: &Side,
    scope: &Scope,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> crate::Result<Vec<BackupItem>> {
    match source {
        Side::Backup(b) => crate::restore::load_items(b, progress).await,
        Side::Cluster(_) => Ok(source
            .read(scope, progress, cancel)
            .await?
            .into_iter()
            .map(|o| BackupItem {
                api_version: o
                    .object
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                object: RawJson::from_value(&o.object),
                group_resource: o.group_resource,
                namespace: o.namespace,
                name: o.name,
                alt_versions: Vec::new(),
            })
            .collect()),
    }
}

/// Verify `target` against `source` (see the module docs).
///
/// # Errors
/// The plan cannot be made (bad options), or reading the source or a planned type on the target
/// fails, or the run is cancelled.
pub async fn verify(
    source: &Side,
    target: &Cluster,
    opts: &VerifyOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<VerifyReport, RestoreError> {
    progress.stage("reading source and target discovery", None);
    let facts = async {
        let surface = target.discover(false).await?;
        let facts = crate::restore::target_facts(target, &surface).await;
        Ok::<_, Error>((surface, facts))
    };
    let read = async { tokio::join!(source_items(source, &opts.restore.scope, progress, cancel), facts) };
    let (items, facts) = tokio::select! {
        r = read => r,
        () = cancel.cancelled() => return Err(Error::Interrupted.into()),
    };
    let (items, (surface, facts)) = (items?, facts?);
    progress.finish_stage();
    progress.stage("planning", None);
    let planning = crate::restore::run::planning_options(source, &opts.restore);
    let plan = crate::restore::plan_owned(items, &surface, &planning, &facts)?;
    progress.finish_stage();
    let mut report = VerifyReport {
        source: source.describe(),
        ..VerifyReport::default()
    };
    let namespaces = target_namespaces(&plan);
    report.namespaces = namespaces.iter().cloned().collect();

    // Everything to list: the planned types at the planned versions, the in-scope namespaced
    // types (for extras), namespaces (for the namespaces the restore creates).
    let mut planned: BTreeMap<Gvr, ApiResourceInfo> = BTreeMap::new();
    for item in plan.items() {
        planned
            .entry(Gvr::of_target(&item.target))
            .or_insert_with(|| info_of(&item.target));
    }
    if let Some(ns) = surface.preferred("namespaces") {
        planned.entry(Gvr::of(ns)).or_insert_with(|| ns.clone());
    }
    let extra_types = extra_types(&surface, &opts.restore.scope, &planned);
    progress.stage("reading target", Some((planned.len() + extra_types.len()) as u64));
    let lists = list_all(
        target,
        planned.values().map(|r| (r.clone(), true)).chain(
            extra_types
                .iter()
                .map(|r| (r.clone(), false))
                .filter(|(r, _)| !planned.contains_key(&Gvr::of(r))),
        ),
        &namespaces,
        progress,
        cancel,
        &mut report.warnings,
    )
    .await?;
    progress.finish_stage();

    compare_plan(&plan, &lists, &surface, &extra_types, &opts.restore, &mut report);

    if opts.readiness {
        progress.stage("checking readiness", None);
        let clock = Instant::now();
        let mut lists = Some(lists);
        loop {
            let cached = lists.take().unwrap_or_default();
            let checks = check_readiness(&plan, &surface, target, &namespaces, &cached, cancel).await?;
            let not_ready = checks.iter().filter(|c| !c.ready).count();
            report.summary.ready = checks.len() - not_ready;
            report.summary.not_ready = not_ready;
            report.readiness = checks;
            let Some(wait) = opts.wait else { break };
            if not_ready == 0 {
                break;
            }
            if clock.elapsed() >= wait {
                report.timed_out = true;
                break;
            }
            progress.note(&format!("{not_ready} objects not ready yet"));
            tokio::select! {
                () = tokio::time::sleep(opts.poll_interval.min(wait.saturating_sub(clock.elapsed()))) => {}
                () = cancel.cancelled() => return Err(Error::Interrupted.into()),
            }
        }
        report.waited_seconds = clock.elapsed().as_secs_f64();
        progress.finish_stage();
    }
    Ok(report)
}

/// A type at one version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Gvr {
    group: String,
    version: String,
    resource: String,
}

impl Gvr {
    fn of(r: &ApiResourceInfo) -> Self {
        Self {
            group: r.group.clone(),
            version: r.version.clone(),
            resource: r.resource.clone(),
        }
    }

    fn of_target(t: &TargetRef) -> Self {
        Self {
            group: t.group.clone(),
            version: t.version.clone(),
            resource: t.resource.clone(),
        }
    }

    fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// The live objects of one type: `(namespace, name)` → object.
type Listed = Arc<BTreeMap<(Option<String>, String), Value>>;

/// The live objects read, per type.
type Lists = HashMap<Gvr, Listed>;

fn info_of(t: &TargetRef) -> ApiResourceInfo {
    ApiResourceInfo {
        group: t.group.clone(),
        version: t.version.clone(),
        resource: t.resource.clone(),
        kind: t.kind.clone(),
        singular: String::new(),
        namespaced: t.namespaced,
        verbs: vec!["list".into()],
        short_names: Vec::new(),
        preferred: false,
    }
}

/// The namespaces the plan puts objects into.
fn target_namespaces(plan: &RestorePlan) -> BTreeSet<String> {
    plan.items()
        .filter_map(|i| i.target.namespace.clone())
        .chain(plan.namespaces_to_create.iter().map(|n| n.name.clone()))
        .collect()
}

/// Types listed only for controllers' journals: never compared, never extras.
const JOURNAL_TYPES: &[&str] = &["events", "events.events.k8s.io"];

/// The namespaced types in scope on the target (preferred versions), for extras.
fn extra_types(
    surface: &ApiSurface,
    scope: &Scope,
    planned: &BTreeMap<Gvr, ApiResourceInfo>,
) -> Vec<ApiResourceInfo> {
    let mut filters = scope.clone();
    filters.included_names.clear();
    let Ok(selection) = Selection::new(&filters, surface, &[]) else {
        return Vec::new();
    };
    let planned_grs: BTreeMap<String, &ApiResourceInfo> =
        planned.iter().map(|(g, r)| (g.group_resource(), r)).collect();
    surface
        .resources
        .iter()
        .filter(|r| r.preferred && r.namespaced && r.supports("list"))
        .filter(|r| !JOURNAL_TYPES.contains(&r.group_resource().as_str()))
        .filter(|r| !crate::backup::source::cohabiting_loser(r, surface))
        .filter(|r| selection.lists_type(r))
        .map(|r| {
            // A planned type is read at the planned version.
            planned_grs
                .get(&r.group_resource())
                .map_or_else(|| r.clone(), |p| (*p).clone())
        })
        .collect()
}

/// LIST every type (in `namespaces` when namespaced), [`LISTS_IN_FLIGHT`] at once. A planned type
/// that fails fails the run; any other one becomes a warning.
async fn list_all(
    cluster: &Cluster,
    types: impl Iterator<Item = (ApiResourceInfo, bool)>,
    namespaces: &BTreeSet<String>,
    progress: &dyn Progress,
    cancel: &CancellationToken,
    warnings: &mut Vec<String>,
) -> Result<Lists, RestoreError> {
    let results: Vec<_> = futures::stream::iter(types.map(|(res, required)| async move {
        let r = list_type(cluster, &res, namespaces).await;
        progress.advance(1, 0);
        (res, required, r)
    }))
    .buffer_unordered(LISTS_IN_FLIGHT)
    .take_until(cancel.cancelled())
    .collect()
    .await;
    if cancel.is_cancelled() {
        return Err(Error::Interrupted.into());
    }
    let mut lists = Lists::new();
    for (res, required, r) in results {
        match r {
            Ok(objs) => {
                lists.insert(Gvr::of(&res), Arc::new(objs));
            }
            Err(e) if required => return Err(Error::Kube(e).into()),
            Err(e) => warnings.push(format!(
                "could not list {} for extras: {}",
                res.group_resource(),
                crate_chain(&e)
            )),
        }
    }
    Ok(lists)
}

fn crate_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Every object of one type, in `namespaces` when namespaced (per namespace when there are few,
/// else one cluster-wide LIST filtered).
async fn list_type(
    cluster: &Cluster,
    res: &ApiResourceInfo,
    namespaces: &BTreeSet<String>,
) -> skiff_kube::Result<BTreeMap<(Option<String>, String), Value>> {
    let per_ns: Vec<Option<String>> = if res.namespaced && namespaces.len() <= PER_NAMESPACE_LISTS {
        namespaces.iter().cloned().map(Some).collect()
    } else {
        vec![None]
    };
    let mut out = BTreeMap::new();
    for ns in per_ns {
        let mut pager = cluster.list_pages(
            res,
            ListOptions {
                namespace: ns,
                ..ListOptions::default()
            },
        );
        while let Some(page) = pager.next_page().await? {
            for mut obj in page.items {
                // Never compared (normalisation drops it) and often a third of the object.
                if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("managedFields");
                }
                let namespace = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if res.namespaced && !namespace.as_ref().is_some_and(|n| namespaces.contains(n)) {
                    continue;
                }
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                out.insert((namespace, name), obj);
            }
        }
    }
    Ok(out)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Whether an object is made or owned by the target's controllers (or the cluster itself), so
/// that its copy in a backup says nothing about what the target must hold: controllers'
/// journals (events), objects with a controller owner (Pods of ReplicaSets and Jobs,
/// ReplicaSets of Deployments, EndpointSlices, ControllerRevisions), Endpoints of Services with
/// selectors (`selector_service`), ServiceAccount token Secrets and the `kube-root-ca.crt`
/// ConfigMap.
pub fn is_derived(gr: &str, obj: &Value, selector_service: &dyn Fn(Option<&str>, &str) -> bool) -> bool {
    if JOURNAL_TYPES.contains(&gr)
        || matches!(gr, "endpointslices.discovery.k8s.io" | "controllerrevisions.apps")
    {
        return true;
    }
    let controlled = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        });
    let name = str_at(obj, "/metadata/name").unwrap_or_default();
    controlled
        || (gr == "endpoints" && selector_service(str_at(obj, "/metadata/namespace"), name))
        || (gr == "secrets" && str_at(obj, "/type") == Some("kubernetes.io/service-account-token"))
        || (gr == "configmaps" && name == "kube-root-ca.crt")
}

/// Whether a Service selects Pods (then its Endpoints are the endpoints controller's).
pub(crate) fn has_selector(svc: &Value) -> bool {
    svc.pointer("/spec/selector")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
        && str_at(svc, "/spec/type") != Some("ExternalName")
}

/// Compare one planned object with its live copy (both normalised; the planned one as a subset).
pub fn check_object(gr: &str, planned: &Value, live: Option<&Value>) -> (CheckState, Vec<Difference>) {
    let Some(live) = live else {
        return (CheckState::Missing, Vec::new());
    };
    let (mut want, mut have) = (planned.clone(), live.clone());
    compare::normalize(gr, &mut want);
    compare::normalize(gr, &mut have);
    let mut d = compare::subset_diff(&want, &have);
    // Maps a server never adds to: a key only the live object has is a difference too.
    let mut symmetric = vec!["/metadata/labels", "/metadata/annotations"];
    if matches!(gr, "configmaps" | "secrets") {
        symmetric.extend(["/data", "/binaryData"]);
    }
    let empty = Value::Object(serde_json::Map::new());
    for pointer in symmetric {
        let (w, h) = (
            want.pointer(pointer).unwrap_or(&empty),
            have.pointer(pointer).unwrap_or(&empty),
        );
        let prefix = pointer[1..].replace('/', ".");
        d.extend(
            compare::diff(w, h)
                .into_iter()
                .filter(|x| x.expected.is_none())
                .map(|x| Difference {
                    path: if x.path.starts_with('[') {
                        format!("{prefix}{}", x.path)
                    } else {
                        format!("{prefix}.{}", x.path)
                    },
                    ..x
                }),
        );
    }
    d.sort_by(|a, b| a.path.cmp(&b.path));
    redact_secret_values(gr, &mut d);
    if d.is_empty() {
        (CheckState::Equal, d)
    } else {
        (CheckState::Different, d)
    }
}

/// Secret data never leaves skiff in a report: of a Secret's differences only the paths are
/// kept, with values shown as `(redacted)`, except for labels and the type.
pub fn redact_secret_values(gr: &str, differences: &mut [Difference]) {
    if gr != "secrets" {
        return;
    }
    let hidden = Value::String("(redacted)".into());
    for d in differences
        .iter_mut()
        .filter(|d| !(d.path.starts_with("metadata.labels") || d.path == "type"))
    {
        for v in [&mut d.expected, &mut d.actual].into_iter().flatten() {
            *v = hidden.clone();
        }
    }
}

/// Presence and equality of every planned object, and the extras.
fn compare_plan(
    plan: &RestorePlan,
    lists: &Lists,
    surface: &ApiSurface,
    extra_types: &[ApiResourceInfo],
    opts: &RestoreOptions,
    report: &mut VerifyReport,
) {
    let lookup = |gvr: &Gvr, ns: Option<&str>, name: &str| {
        lists
            .get(gvr)
            .and_then(|l| l.get(&(ns.map(str::to_string), name.to_string())))
    };
    // Services with selectors, planned or live: their Endpoints are derived.
    let mut selector_services: BTreeSet<(Option<String>, String)> = BTreeSet::new();
    for item in plan.items().filter(|i| i.source.group_resource == "services") {
        if has_selector(&item.object.to_value()) {
            selector_services.insert((item.target.namespace.clone(), item.target.name.clone()));
        }
    }
    if let Some(svc) = surface.preferred("services").and_then(|r| lists.get(&Gvr::of(r))) {
        selector_services.extend(
            svc.iter()
                .filter(|(_, v)| has_selector(v))
                .map(|(k, _)| k.clone()),
        );
    }
    let selector_service = |ns: Option<&str>, name: &str| {
        selector_services.contains(&(ns.map(str::to_string), name.to_string()))
    };

    // Each planned object is checked on its own (normalising and comparing is the costly part),
    // so the checks run on every core; the report is then built in plan order.
    let items: Vec<&PlannedItem> = plan.items().collect();
    let checked: Vec<Option<(CheckState, Vec<Difference>)>> = items
        .par_iter()
        .map(|item| {
            let t = &item.target;
            let gvr = Gvr::of_target(t);
            let gr = gvr.group_resource();
            let object = item.object.to_value();
            // Derived as planned, or as it lives in the target (a restored ReplicaSet the
            // Deployment controller adopted is the controller's, whatever the backup said).
            let live_derived = lookup(&gvr, t.namespace.as_deref(), &t.name)
                .is_some_and(|live| is_derived(&gr, live, &selector_service));
            // Pods and ReplicaSets whose owner is restored too are the owner's to keep or replace.
            let owned =
                !item.owners.is_empty() && matches!(gr.as_str(), "pods" | "replicasets.apps" | "jobs.batch");
            if owned || live_derived || is_derived(&item.source.group_resource, &object, &selector_service) {
                return None;
            }
            Some(check_object(
                &gr,
                &object,
                lookup(&gvr, t.namespace.as_deref(), &t.name),
            ))
        })
        .collect();
    let mut planned_keys: BTreeSet<(String, Option<String>, String)> = BTreeSet::new();
    for (item, checked) in items.iter().zip(checked) {
        let t = &item.target;
        let gr = Gvr::of_target(t).group_resource();
        planned_keys.insert((gr.clone(), t.namespace.clone(), t.name.clone()));
        let Some((state, differences)) = checked else {
            report.summary.derived += 1;
            continue;
        };
        report.summary.expected += 1;
        match state {
            CheckState::Equal => report.summary.equal += 1,
            CheckState::Missing => report.summary.missing += 1,
            CheckState::Different => report.summary.different += 1,
        }
        report.objects.push(ObjectCheck {
            resource: gr,
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            source: item.source.to_string(),
            state,
            differences,
        });
    }
    // Namespaces the restore creates without a Namespace object in the plan: present?
    if let Some(ns_res) = surface.preferred("namespaces") {
        let gvr = Gvr::of(ns_res);
        for ns in &plan.namespaces_to_create {
            if planned_keys.contains(&("namespaces".to_string(), None, ns.name.clone())) {
                continue;
            }
            let present = lookup(&gvr, None, &ns.name).is_some();
            report.summary.expected += 1;
            if present {
                report.summary.equal += 1;
            } else {
                report.summary.missing += 1;
            }
            report.objects.push(ObjectCheck {
                resource: "namespaces".into(),
                namespace: None,
                name: ns.name.clone(),
                source: format!("namespaces/{}", ns.original.join(",")),
                state: if present {
                    CheckState::Equal
                } else {
                    CheckState::Missing
                },
                differences: Vec::new(),
            });
        }
    }
    // Items the planner skipped are in the source: not extras when present; those it skipped
    // because the target cannot take them are missing.
    for s in &plan.skipped {
        let ns = s
            .key
            .namespace
            .as_deref()
            .map(|n| opts.mappings.namespace(n).to_string());
        planned_keys.insert((s.key.group_resource.clone(), ns.clone(), s.key.name.clone()));
        if matches!(
            s.reason,
            SkipReason::NotServed { .. } | SkipReason::StorageClassMissing { .. }
        ) {
            report.summary.expected += 1;
            report.summary.missing += 1;
            report.objects.push(ObjectCheck {
                resource: s.key.group_resource.clone(),
                namespace: ns,
                name: s.key.name.clone(),
                source: s.key.to_string(),
                state: CheckState::Missing,
                differences: Vec::new(),
            });
            report.warnings.push(format!("{}: {}", s.key, s.reason));
        }
    }
    report
        .warnings
        .extend(plan.errors.iter().map(|e| format!("{}: {}", e.key, e.message)));
    let scope = &opts.scope;
    for res in extra_types {
        let Some(list) = lists.get(&Gvr::of(res)) else {
            continue;
        };
        let gr = res.group_resource();
        for ((ns, name), obj) in list.iter() {
            if planned_keys.contains(&(gr.clone(), ns.clone(), name.clone()))
                || is_derived(&gr, obj, &selector_service)
                || !scope.selectors_match(obj)
                || !scope.names_match(&|r| surface.resolve(r), &gr, ns.as_deref(), name)
            {
                continue;
            }
            report.extras.push(ObjectRef {
                resource: gr.clone(),
                namespace: ns.clone(),
                name: name.clone(),
            });
        }
    }
    report.extras.sort();
    report.summary.extra = report.extras.len();
}

/// Types whose live objects have a readiness rule.
const READINESS_TYPES: &[&str] = &[
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "persistentvolumeclaims",
    "services",
    "pods",
];

/// Readiness of the planned workloads, PVCs and Services, and of every Pod of the target
/// namespaces. `cached` lists are used where they hold the type (the first poll).
async fn check_readiness(
    plan: &RestorePlan,
    surface: &ApiSurface,
    cluster: &Cluster,
    namespaces: &BTreeSet<String>,
    cached: &Lists,
    cancel: &CancellationToken,
) -> Result<Vec<ReadinessCheck>, RestoreError> {
    let mut lists: BTreeMap<&str, Listed> = BTreeMap::new();
    let mut to_list = Vec::new();
    for gr in READINESS_TYPES.iter().chain(&["endpoints"]) {
        let Some(res) = surface.preferred(gr) else {
            continue;
        };
        match cached.get(&Gvr::of(res)) {
            Some(l) => {
                lists.insert(*gr, l.clone());
            }
            None => to_list.push((*gr, res.clone())),
        }
    }
    let fetched: Vec<_> = futures::stream::iter(
        to_list
            .into_iter()
            .map(|(gr, res)| async move { list_type(cluster, &res, namespaces).await.map(|l| (gr, l)) }),
    )
    .buffer_unordered(LISTS_IN_FLIGHT)
    .take_until(cancel.cancelled())
    .try_collect()
    .await
    .map_err(Error::Kube)?;
    if cancel.is_cancelled() {
        return Err(Error::Interrupted.into());
    }
    for (gr, l) in fetched {
        lists.insert(gr, Arc::new(l));
    }
    let endpoints = lists.get("endpoints").cloned().unwrap_or_default();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for item in plan.items() {
        let t = &item.target;
        let gr = Gvr::of_target(t).group_resource();
        if gr == "pods" || !READINESS_TYPES.contains(&gr.as_str()) {
            continue;
        }
        let key = (t.namespace.clone(), t.name.clone());
        let Some(live) = lists.get(gr.as_str()).and_then(|l| l.get(&key)) else {
            continue; // missing: reported as such
        };
        if !seen.insert((gr.clone(), key.clone())) {
            continue;
        }
        out.push(readiness_check(&gr, live, endpoints.get(&key)));
    }
    if let Some(pods) = lists.get("pods") {
        for pod in pods.values() {
            out.push(readiness_check("pods", pod, None));
        }
    }
    Ok(out)
}

fn readiness_check(gr: &str, live: &Value, endpoints: Option<&Value>) -> ReadinessCheck {
    let reason = readiness_of(gr, live, endpoints);
    ReadinessCheck {
        object: ObjectRef {
            resource: gr.to_string(),
            namespace: str_at(live, "/metadata/namespace").map(str::to_string),
            name: str_at(live, "/metadata/name").unwrap_or_default().to_string(),
        },
        ready: reason.is_none(),
        reason: reason.unwrap_or_default(),
    }
}

fn int_at(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// The status of the condition of type `kind`, with its reason and message.
fn condition<'a>(obj: &'a Value, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            (s("status"), s("reason"), s("message"))
        })
}

/// Whether the controller has seen the object's latest spec.
fn observed(obj: &Value) -> bool {
    int_at(obj, "/status/observedGeneration").unwrap_or(0) >= int_at(obj, "/metadata/generation").unwrap_or(0)
}

/// Why a live object is not ready (`None`: ready, or a type without a rule). `endpoints` is the
/// Endpoints object of a Service.
pub fn readiness_of(gr: &str, obj: &Value, endpoints: Option<&Value>) -> Option<String> {
    let replicas = || int_at(obj, "/spec/replicas").unwrap_or(1);
    let status = |k: &str| int_at(obj, &format!("/status/{k}")).unwrap_or(0);
    match gr {
        "deployments.apps" => {
            if !observed(obj) {
                return Some("the controller has not observed the latest generation".into());
            }
            let (want, ready, available, updated) = (
                replicas(),
                status("readyReplicas"),
                status("availableReplicas"),
                status("updatedReplicas"),
            );
            if ready < want || available < want || updated < want {
                let mut r =
                    format!("{ready}/{want} replicas ready, {available} available, {updated} updated");
                if let Some((_, "ProgressDeadlineExceeded", m)) = condition(obj, "Progressing") {
                    let _ = write!(r, " (progress deadline exceeded: {m})");
                }
                return Some(r);
            }
            None
        }
        "statefulsets.apps" => {
            let (want, ready) = (replicas(), status("readyReplicas"));
            if !observed(obj) {
                Some("the controller has not observed the latest generation".into())
            } else if ready < want {
                Some(format!("{ready}/{want} replicas ready"))
            } else {
                None
            }
        }
        "daemonsets.apps" => {
            let (want, ready) = (status("desiredNumberScheduled"), status("numberReady"));
            if !observed(obj) {
                Some("the controller has not observed the latest generation".into())
            } else if ready < want || status("numberUnavailable") > 0 {
                Some(format!("{ready}/{want} pods ready"))
            } else {
                None
            }
        }
        "jobs.batch" => match (condition(obj, "Complete"), condition(obj, "Failed")) {
            (Some(("True", _, _)), _) => None,
            (_, Some(("True", reason, m))) => Some(format!("failed: {reason} {m}").trim_end().to_string()),
            _ => Some(format!(
                "not complete: {}/{} succeeded",
                status("succeeded"),
                int_at(obj, "/spec/completions").unwrap_or(1)
            )),
        },
        "persistentvolumeclaims" => match str_at(obj, "/status/phase") {
            Some("Bound") => None,
            phase => Some(format!("phase {}", phase.unwrap_or("unknown"))),
        },
        "services" => {
            if !has_selector(obj) {
                return None;
            }
            let ready = endpoints
                .and_then(|e| e.get("subsets"))
                .and_then(Value::as_array)
                .is_some_and(|subsets| {
                    subsets.iter().any(|s| {
                        s.get("addresses")
                            .and_then(Value::as_array)
                            .is_some_and(|a| !a.is_empty())
                    })
                });
            (!ready).then(|| "no ready endpoints".to_string())
        }
        "pods" => pod_problem(obj),
        _ => None,
    }
}

/// CrashLoopBackOff / ImagePullBackOff / ErrImagePull of a container, or Unschedulable.
fn pod_problem(pod: &Value) -> Option<String> {
    const BAD: &[&str] = &["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"];
    for list in ["initContainerStatuses", "containerStatuses"] {
        for c in pod
            .pointer(&format!("/status/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(reason) = str_at(c, "/state/waiting/reason").filter(|r| BAD.contains(r)) {
                return Some(format!(
                    "container {}: {reason}",
                    c.get("name").and_then(Value::as_str).unwrap_or_default()
                ));
            }
        }
    }
    match condition(pod, "PodScheduled") {
        Some(("False", "Unschedulable", m)) => Some(format!("unschedulable: {m}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_readiness() {
        let mut d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 2}});
        assert_eq!(
            readiness_of("deployments.apps", &d, None).as_deref(),
            Some("1/2 replicas ready, 1 available, 2 updated")
        );
        d["status"]["readyReplicas"] = json!(2);
        d["status"]["availableReplicas"] = json!(2);
        assert_eq!(readiness_of("deployments.apps", &d, None), None);
        d["metadata"]["generation"] = json!(3);
        assert!(readiness_of("deployments.apps", &d, None).is_some());
        // Zero replicas: ready without status.
        let z = json!({"spec": {"replicas": 0}});
        assert_eq!(readiness_of("deployments.apps", &z, None), None);
    }

    #[test]
    fn other_readiness_rules() {
        let job = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(readiness_of("jobs.batch", &job, None), None);
        let running = json!({"spec": {"completions": 3}, "status": {"succeeded": 1}});
        assert_eq!(
            readiness_of("jobs.batch", &running, None).as_deref(),
            Some("not complete: 1/3 succeeded")
        );
        let pvc = json!({"status": {"phase": "Pending"}});
        assert_eq!(
            readiness_of("persistentvolumeclaims", &pvc, None).as_deref(),
            Some("phase Pending")
        );
        let svc = json!({"spec": {"selector": {"app": "web"}}});
        assert!(readiness_of("services", &svc, None).is_some());
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(readiness_of("services", &svc, Some(&ep)), None);
        let headless = json!({"spec": {"clusterIP": "None"}});
        assert_eq!(readiness_of("services", &headless, None), None);
        let crash = json!({"status": {"containerStatuses": [
            {"name": "web", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            readiness_of("pods", &crash, None).as_deref(),
            Some("container web: CrashLoopBackOff")
        );
        let unsched = json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"}]}});
        assert_eq!(
            readiness_of("pods", &unsched, None).as_deref(),
            Some("unschedulable: 0/1 nodes")
        );
        assert_eq!(
            readiness_of("pods", &json!({"status": {"phase": "Pending"}}), None),
            None
        );
    }

    #[test]
    fn derived_objects() {
        let none = |_: Option<&str>, _: &str| false;
        let owned = json!({"metadata": {"name": "web-abc", "ownerReferences": [
            {"kind": "ReplicaSet", "name": "web", "controller": true}]}});
        assert!(is_derived("pods", &owned, &none));
        let bare = json!({"metadata": {"name": "web"}});
        assert!(!is_derived("pods", &bare, &none));
        let token = json!({"metadata": {"name": "t"}, "type": "kubernetes.io/service-account-token"});
        assert!(is_derived("secrets", &token, &none));
        let ep = json!({"metadata": {"name": "web", "namespace": "a"}});
        assert!(!is_derived("endpoints", &ep, &none));
        assert!(is_derived("endpoints", &ep, &|ns, n| ns == Some("a") && n == "web"));
        assert!(is_derived("events", &bare, &none));
    }

    #[test]
    fn object_checks() {
        let planned = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "b", "labels": {"velero.io/restore-name": "r"}},
            "data": {"k": "1"}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "b", "uid": "x", "resourceVersion": "5",
                "labels": {"velero.io/restore-name": "r", "extra": "y"}},
            "data": {"k": "2"}});
        assert_eq!(check_object("configmaps", &planned, None).0, CheckState::Missing);
        let (state, d) = check_object("configmaps", &planned, Some(&live));
        assert_eq!(state, CheckState::Different);
        // Labels compare both ways (a label added on the target counts); other fields as a
        // subset (server defaults do not count).
        let paths: Vec<&str> = d.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["data.k", "metadata.labels.extra"]);
        assert_eq!(d[1].expected, None);
        assert_eq!(d[1].actual, Some(json!("y")));
        let mut defaulted = planned.clone();
        defaulted["metadata"]["finalizers"] = json!(["x"]);
        defaulted["immutable"] = json!(false);
        assert_eq!(
            check_object("configmaps", &planned, Some(&defaulted)).0,
            CheckState::Equal
        );
        let secret = json!({"metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}});
        let changed = json!({"metadata": {"name": "s"}, "data": {"k": "b3RoZXI="}});
        let (_, d) = check_object("secrets", &secret, Some(&changed));
        assert_eq!(d[0].path, "data.k");
        assert_eq!(d[0].expected, Some(json!("(redacted)")));
        assert_eq!(d[0].actual, Some(json!("(redacted)")));
        assert_eq!(
            check_object("configmaps", &planned, Some(&planned)).0,
            CheckState::Equal
        );
    }
}
