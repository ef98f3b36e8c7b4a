//! Carry out an install through the cluster (create, or server-side apply), wait for it, remove
//! it again, and report what is there.
//!
//! Install follows `velero install`: every CRD first, then a wait until each is `Established`
//! (and its names accepted), then the other objects in list order. Create mode leaves an object
//! that already exists as it is; apply mode server-side-applies every object with force.
//! Uninstall deletes, in reverse order, only the objects install would create **and** that carry
//! `component: velero`; CRDs only when asked (and not while another namespace still has Velero
//! storage locations). It never touches bucket data: Velero's server is removed first, and the
//! finalizers with which a running Velero would delete restore data are removed before the
//! namespace goes.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use skiff_kube::{ApiResourceInfo, Cluster, ListOptions};

use super::install::{CREDENTIALS_SECRET, FIELD_MANAGER, InstallOptions};
use super::{Result, VeleroError};

fn res(group: &str, resource: &str, kind: &str, version: &str, namespaced: bool) -> ApiResourceInfo {
    ApiResourceInfo::known(group, version, resource, kind, namespaced)
}

/// The API resource of a kind an install creates (or of any Velero kind).
pub fn resource_of(kind: &str) -> Option<ApiResourceInfo> {
    Some(match kind {
        "CustomResourceDefinition" => res(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            kind,
            "v1",
            false,
        ),
        "Namespace" => res("", "namespaces", kind, "v1", false),
        "ClusterRoleBinding" => res(
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            kind,
            "v1",
            false,
        ),
        "ServiceAccount" => res("", "serviceaccounts", kind, "v1", true),
        "Secret" => res("", "secrets", kind, "v1", true),
        "Pod" => res("", "pods", kind, "v1", true),
        "Deployment" => res("apps", "deployments", kind, "v1", true),
        "DaemonSet" => res("apps", "daemonsets", kind, "v1", true),
        other => {
            let k = skiff_format::velero::kind_named(other)?;
            res(k.info.group, k.info.plural, k.info.kind, k.info.version, true)
        }
    })
}

/// An object of an install: kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// Kind.
    pub kind: String,
    /// Namespace (`None` for cluster-scoped objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The reference of an object's `kind`, `metadata.namespace` and `metadata.name`.
    pub fn of(obj: &Value) -> ObjectRef {
        ObjectRef {
            kind: obj["kind"].as_str().unwrap_or_default().to_owned(),
            namespace: obj["metadata"]["namespace"].as_str().map(str::to_owned),
            name: obj["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
        }
    }

    fn new(kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} (namespace {ns})", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// What install did with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Created.
    Created,
    /// It existed already and was left as it is (create mode).
    AlreadyExists,
    /// Server-side applied (apply mode).
    Applied,
}

/// How to carry out an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Server-side apply (field manager `skiff`, force) instead of create.
    pub apply: bool,
    /// How long to wait for the CRDs to be `Established` (Velero: one minute).
    pub crd_timeout: Duration,
    /// Wait this long for the Deployment (and node-agent) to be available; `None` returns at once.
    pub wait: Option<Duration>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            apply: false,
            crd_timeout: Duration::from_secs(60),
            wait: None,
        }
    }
}

/// One step of an install, in the order carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallStep {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// What happened.
    pub action: Action,
    /// How the object sent differs from the one built, when it had to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The note of a CRD sent without its empty-string defaults.
pub const NO_EMPTY_DEFAULTS_NOTE: &str = "the API server refused `default: \"\"` in the schema (older Kubernetes versions read an empty-string default as null): sent without empty-string defaults, which changes nothing for Velero";

/// Remove every `default: ""` from a CRD's schemas; whether there was one.
pub fn strip_empty_string_defaults(v: &mut Value) -> bool {
    match v {
        Value::Object(m) => {
            let mut found = m.get("default") == Some(&Value::String(String::new()));
            if found {
                m.remove("default");
            }
            for child in m.values_mut() {
                found |= strip_empty_string_defaults(child);
            }
            found
        }
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |f, x| strip_empty_string_defaults(x) | f),
        _ => false,
    }
}

/// Fields of the install's objects that API servers before a given minor version do not know:
/// `(kind, JSON pointer, minor version that added it)`. `create` would drop them silently, a
/// server-side apply refuses the whole object; the installer leaves them out and says so.
const NEWER_FIELDS: &[(&str, &str, u32)] = &[("Deployment", "/spec/template/spec/os", 23)];

/// The object as a server of `minor` version accepts it, and a note when something was left out.
pub fn adapt_to_server(obj: &Value, minor: Option<u32>) -> (Value, Option<String>) {
    let mut out = obj.clone();
    let mut dropped = Vec::new();
    if let Some(minor) = minor {
        for (kind, pointer, since) in NEWER_FIELDS {
            if obj["kind"] != *kind || minor >= *since {
                continue;
            }
            let (parent, field) = pointer.rsplit_once('/').expect("pointers have a parent");
            if let Some(m) = out.pointer_mut(parent).and_then(Value::as_object_mut)
                && m.remove(field).is_some()
            {
                dropped.push(format!(
                    "`{}` (Kubernetes 1.{since}+)",
                    pointer.trim_start_matches('/').replace('/', ".")
                ));
            }
        }
    }
    let note = (!dropped.is_empty()).then(|| {
        format!(
            "the API server (Kubernetes 1.{}) does not know {}: sent without it",
            minor.unwrap_or_default(),
            dropped.join(", ")
        )
    });
    (out, note)
}

/// The minor version of the API server (`20` of `v1.20.2`; `"20+"` counts as 20).
async fn server_minor(cluster: &Cluster) -> Option<u32> {
    let v = cluster.server_version().await.ok()?;
    let digits: String = v.minor.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Send a CRD; when the server refuses its empty-string defaults (422), send it without them.
async fn put_crd(cluster: &Cluster, crd: &Value, apply: bool) -> Result<(Action, Option<String>)> {
    match put(cluster, crd, apply).await {
        Err(VeleroError::Kube(e)) if e.is_invalid() && e.to_string().contains(".default") => {
            let mut adjusted = crd.clone();
            if !strip_empty_string_defaults(&mut adjusted) {
                return Err(e.into());
            }
            tracing::warn!(crd = %ObjectRef::of(crd), "{NO_EMPTY_DEFAULTS_NOTE}");
            let action = put(cluster, &adjusted, apply).await?;
            Ok((action, Some(NO_EMPTY_DEFAULTS_NOTE.to_owned())))
        }
        other => Ok((other?, None)),
    }
}

/// What an install did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    /// Objects in the order they were sent.
    pub steps: Vec<InstallStep>,
    /// Whether the CRDs were waited for and `Established`.
    pub crds_established: bool,
    /// Whether the Deployment (and node-agent) were waited for and are available; `None` when
    /// not waited for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
}

async fn put(cluster: &Cluster, obj: &Value, apply: bool) -> Result<Action> {
    let r = ObjectRef::of(obj);
    let res = resource_of(&r.kind)
        .ok_or_else(|| VeleroError::InvalidOptions(format!("no API resource known for kind {:?}", r.kind)))?;
    let ns = r.namespace.as_deref().filter(|_| res.namespaced);
    if apply {
        cluster
            .apply(&res, ns, &r.name, obj, FIELD_MANAGER, true, false)
            .await?;
        tracing::info!(object = %r, "applied");
        return Ok(Action::Applied);
    }
    match cluster.create(&res, ns, obj, false).await {
        Ok(_) => {
            tracing::info!(object = %r, "created");
            Ok(Action::Created)
        }
        Err(e) if e.is_already_exists() => {
            tracing::info!(object = %r, "already exists, proceeding");
            Ok(Action::AlreadyExists)
        }
        Err(e) => Err(e.into()),
    }
}

/// Create (or apply) the objects of an install, CRDs first, waiting for them to be
/// `Established`, then the rest in order; with [`ApplyOptions::wait`], wait for the Deployment
/// (and the node-agent `DaemonSet`) to be available.
pub async fn install(cluster: &Cluster, objects: &[Value], opts: &ApplyOptions) -> Result<InstallReport> {
    let mut report = InstallReport::default();
    let (crds, rest): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .partition(|o| o["kind"] == "CustomResourceDefinition");
    for crd in &crds {
        let (action, note) = put_crd(cluster, crd, opts.apply).await?;
        report.steps.push(InstallStep {
            object: ObjectRef::of(crd),
            action,
            note,
        });
    }
    let start = Instant::now();
    for crd in &crds {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        let left = opts.crd_timeout.saturating_sub(start.elapsed());
        cluster.wait_crd_established(name, left).await?;
    }
    report.crds_established = !crds.is_empty();
    let minor = server_minor(cluster).await;
    for obj in &rest {
        let (obj, note) = adapt_to_server(obj, minor);
        if let Some(n) = &note {
            tracing::warn!(object = %ObjectRef::of(&obj), "{n}");
        }
        let action = put(cluster, &obj, opts.apply).await?;
        report.steps.push(InstallStep {
            object: ObjectRef::of(&obj),
            action,
            note,
        });
    }
    if let Some(timeout) = opts.wait {
        for obj in &rest {
            let r = ObjectRef::of(obj);
            match r.kind.as_str() {
                "Deployment" => wait_workload(cluster, &r, timeout, deployment_available).await?,
                "DaemonSet" => wait_workload(cluster, &r, timeout, daemonset_available).await?,
                _ => {}
            }
        }
        report.available = Some(true);
    }
    Ok(report)
}

/// Whether a Deployment reports `Available=True` for its current generation.
pub fn deployment_available(d: &Value) -> (bool, String) {
    let cond = condition(d, "Available");
    let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(0);
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let ok = cond == "True" && observed >= generation;
    (
        ok,
        format!(
            "Available={cond}, observedGeneration={observed}/{generation}, availableReplicas={}",
            d["status"]["availableReplicas"].as_i64().unwrap_or(0)
        ),
    )
}

/// Whether a `DaemonSet` has as many available pods as it wants (Velero's check).
pub fn daemonset_available(d: &Value) -> (bool, String) {
    let desired = d["status"]["desiredNumberScheduled"].as_i64();
    let available = d["status"]["numberAvailable"].as_i64().unwrap_or(0);
    let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(0);
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let ok = desired.is_some_and(|n| n == available) && observed >= generation;
    (
        ok,
        format!(
            "numberAvailable={available}, desiredNumberScheduled={}",
            desired.map_or_else(|| "unset".to_owned(), |n| n.to_string())
        ),
    )
}

fn condition(obj: &Value, t: &str) -> String {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
        .to_owned()
}

async fn wait_workload(
    cluster: &Cluster,
    r: &ObjectRef,
    timeout: Duration,
    ready: fn(&Value) -> (bool, String),
) -> Result<()> {
    let res = resource_of(&r.kind).expect("workload kinds are known");
    let start = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let state = match cluster.get(&res, r.namespace.as_deref(), &r.name).await? {
            Some(obj) => {
                let (ok, state) = ready(&obj);
                if ok {
                    return Ok(());
                }
                state
            }
            None => "not found".to_owned(),
        };
        if start.elapsed() >= timeout {
            return Err(VeleroError::Timeout {
                what: r.to_string(),
                waited: start.elapsed(),
                last_state: state,
            });
        }
        tokio::time::sleep(
            delay.min(
                timeout
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_millis(10)),
            ),
        )
        .await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

// ---------------------------------------------------------------------------------------------
// Uninstall
// ---------------------------------------------------------------------------------------------

/// What to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UninstallOptions {
    /// The Velero namespace.
    pub namespace: String,
    /// Also delete the 13 CRDs (and with them every Velero object left in the cluster — never
    /// bucket data).
    pub crds: bool,
    /// Wait this long for the namespace (and CRDs) to be gone.
    pub wait: Option<Duration>,
}

/// What uninstall did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallReport {
    /// Deleted, in order.
    pub deleted: Vec<ObjectRef>,
    /// Not there.
    pub absent: Vec<ObjectRef>,
    /// There but left alone, with the reason.
    pub kept: Vec<(ObjectRef, String)>,
    /// Restores/data movements whose Velero finalizers were removed so deleting them cannot
    /// delete bucket data.
    pub finalizers_removed: Vec<ObjectRef>,
}

fn is_velero_labelled(obj: &Value) -> bool {
    obj["metadata"]["labels"]["component"] == "velero"
}

async fn delete_if_ours(cluster: &Cluster, r: ObjectRef, report: &mut UninstallReport) -> Result<()> {
    let res = resource_of(&r.kind).expect("install kinds are known");
    let ns = r.namespace.as_deref();
    match cluster.get(&res, ns, &r.name).await? {
        None => report.absent.push(r),
        Some(obj) if !is_velero_labelled(&obj) => report.kept.push((
            r,
            "not labelled component=velero: not created by an install".into(),
        )),
        Some(_) => match cluster.delete(&res, ns, &r.name, false).await {
            Ok(()) => {
                tracing::info!(object = %r, "deleted");
                report.deleted.push(r);
            }
            Err(e) if e.is_not_found() => report.absent.push(r),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}

/// Every item of a LIST; `Ok(None)` when the resource is not served (404).
async fn list_items(
    cluster: &Cluster,
    res: &ApiResourceInfo,
    namespace: Option<&str>,
) -> Result<Option<Vec<Value>>> {
    let mut pager = cluster.list_pages(
        res,
        ListOptions {
            namespace: namespace.map(str::to_owned),
            ..ListOptions::default()
        },
    );
    let mut out = Vec::new();
    loop {
        match pager.next_page().await {
            Ok(Some(page)) => {
                if page.restarted {
                    out.clear();
                }
                out.extend(page.items);
            }
            Ok(None) => return Ok(Some(out)),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Remove `velero.io` finalizers from Restores, `DataUploads` and `DataDownloads` in `namespace`,
/// so their deletion cannot make a Velero server delete bucket data.
async fn strip_finalizers(cluster: &Cluster, namespace: &str, report: &mut UninstallReport) -> Result<()> {
    for kind in ["Restore", "DataUpload", "DataDownload"] {
        let res = resource_of(kind).expect("velero kinds are known");
        let Some(items) = list_items(cluster, &res, Some(namespace)).await? else {
            continue;
        };
        for item in items {
            let fins: Vec<Value> = item["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let keep: Vec<Value> = fins
                .iter()
                .filter(|f| !f.as_str().is_some_and(|s| s.contains("velero.io")))
                .cloned()
                .collect();
            if keep.len() == fins.len() {
                continue;
            }
            let r = ObjectRef::of(&item);
            let patch = json!({"metadata": {"finalizers": keep}});
            match cluster
                .merge_patch(&res, Some(namespace), &r.name, &patch, false)
                .await
            {
                Ok(_) => report.finalizers_removed.push(r),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Remove an install in reverse order. See the module docs for what is kept.
pub async fn uninstall(cluster: &Cluster, opts: &UninstallOptions) -> Result<UninstallReport> {
    let ns = opts.namespace.as_str();
    let names = InstallOptions {
        namespace: ns.to_owned(),
        ..InstallOptions::default()
    };
    let mut report = UninstallReport::default();
    let namespaced = |kind: &str, name: &str| ObjectRef::new(kind, Some(ns), name);
    // The server first, so nothing acts on the deletions below.
    delete_if_ours(cluster, namespaced("DaemonSet", "node-agent"), &mut report).await?;
    delete_if_ours(cluster, namespaced("Deployment", "velero"), &mut report).await?;
    wait_server_pods_gone(cluster, ns, Duration::from_secs(60)).await?;
    for (kind, name) in [
        ("VolumeSnapshotLocation", "default"),
        ("BackupStorageLocation", "default"),
        ("Secret", CREDENTIALS_SECRET),
        ("ServiceAccount", "velero"),
    ] {
        // A GET of a kind whose CRD is gone answers 404: the object counts as absent.
        delete_if_ours(cluster, namespaced(kind, name), &mut report).await?;
    }
    delete_if_ours(
        cluster,
        ObjectRef::new("ClusterRoleBinding", None, &names.cluster_role_binding_name()),
        &mut report,
    )
    .await?;
    strip_finalizers(cluster, ns, &mut report).await?;
    let ns_ref = ObjectRef::new("Namespace", None, ns);
    delete_if_ours(cluster, ns_ref.clone(), &mut report).await?;
    if opts.crds {
        let others = other_installs(cluster, ns).await?;
        let crds: Vec<String> = skiff_format::velero::all_kinds()
            .iter()
            .rev()
            .map(|k| k.info.name())
            .collect();
        for name in crds {
            let r = ObjectRef::new("CustomResourceDefinition", None, &name);
            if others.is_empty() {
                delete_if_ours(cluster, r, &mut report).await?;
            } else {
                report.kept.push((
                    r,
                    format!(
                        "BackupStorageLocations remain in namespace(s) {}: another Velero install uses the CRDs",
                        others.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(timeout) = opts.wait {
        let deleted: Vec<ObjectRef> = report
            .deleted
            .iter()
            .filter(|r| r.kind == "Namespace" || r.kind == "CustomResourceDefinition")
            .cloned()
            .collect();
        for r in deleted {
            wait_gone(cluster, &r, timeout).await?;
        }
    }
    Ok(report)
}

/// Namespaces other than `ns` that hold `BackupStorageLocations`.
async fn other_installs(cluster: &Cluster, ns: &str) -> Result<Vec<String>> {
    let res = resource_of("BackupStorageLocation").expect("known");
    let items = list_items(cluster, &res, None).await?.unwrap_or_default();
    let mut out: Vec<String> = items
        .iter()
        .filter_map(|b| b["metadata"]["namespace"].as_str())
        .filter(|n| *n != ns)
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

async fn wait_server_pods_gone(cluster: &Cluster, ns: &str, timeout: Duration) -> Result<()> {
    let res = resource_of("Pod").expect("known");
    let start = Instant::now();
    loop {
        let mut pager = cluster.list_pages(
            &res,
            ListOptions {
                namespace: Some(ns.to_owned()),
                label_selector: Some("component=velero".into()),
                ..ListOptions::default()
            },
        );
        let mut n = 0;
        while let Some(page) = pager.next_page().await? {
            n += page.items.len();
        }
        if n == 0 {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(VeleroError::Timeout {
                what: format!("Velero pods in namespace {ns} to stop"),
                waited: start.elapsed(),
                last_state: format!("{n} pods left"),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_gone(cluster: &Cluster, r: &ObjectRef, timeout: Duration) -> Result<()> {
    let res = resource_of(&r.kind).expect("known");
    let start = Instant::now();
    loop {
        let Some(obj) = cluster.get(&res, r.namespace.as_deref(), &r.name).await? else {
            return Ok(());
        };
        if start.elapsed() >= timeout {
            return Err(VeleroError::Timeout {
                what: format!("{r} to be deleted"),
                waited: start.elapsed(),
                last_state: obj["status"]["phase"].as_str().unwrap_or("present").to_owned(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// One CRD of the install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdStatus {
    /// `<plural>.velero.io`.
    pub name: String,
    /// Exists.
    pub present: bool,
    /// `Established=True` and `NamesAccepted=True`.
    pub established: bool,
}

/// The Velero Deployment or node-agent `DaemonSet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Name.
    pub name: String,
    /// Image of the first container.
    pub image: String,
    /// Available (see [`deployment_available`], [`daemonset_available`]).
    pub available: bool,
    /// The state the decision was made on.
    pub state: String,
}

/// One `BackupStorageLocation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BslStatus {
    /// Name.
    pub name: String,
    /// `spec.default`.
    pub default: bool,
    /// `spec.provider`.
    pub provider: String,
    /// Bucket.
    pub bucket: String,
    /// Prefix.
    pub prefix: String,
    /// `spec.accessMode` (`ReadWrite` when unset).
    pub access_mode: String,
    /// `status.phase` (empty until Velero validated it).
    pub phase: String,
    /// `status.lastSyncedTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_synced_time: Option<String>,
    /// `status.lastValidationTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_validation_time: Option<String>,
    /// `status.message`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// What `skiff velero status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VeleroStatus {
    /// The Velero namespace looked at.
    pub namespace: String,
    /// Every CRD present and established.
    pub crds_ready: bool,
    /// The 13 CRDs.
    pub crds: Vec<CrdStatus>,
    /// The namespace exists.
    pub namespace_present: bool,
    /// The Velero Deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<WorkloadStatus>,
    /// The node-agent `DaemonSet`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_agent: Option<WorkloadStatus>,
    /// The namespace's `BackupStorageLocations`, by name.
    pub backup_storage_locations: Vec<BslStatus>,
}

fn workload(obj: &Value, ready: fn(&Value) -> (bool, String)) -> WorkloadStatus {
    let (available, state) = ready(obj);
    WorkloadStatus {
        name: obj["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
        image: obj["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        available,
        state,
    }
}

fn crd_ready(crd: &Value) -> bool {
    condition(crd, "Established") == "True" && condition(crd, "NamesAccepted") == "True"
}

/// CRDs, namespace, Deployment, node-agent and storage locations of the install in `namespace`.
pub async fn status(cluster: &Cluster, namespace: &str) -> Result<VeleroStatus> {
    let crd_res = resource_of("CustomResourceDefinition").expect("known");
    let mut crds = Vec::new();
    for k in skiff_format::velero::all_kinds() {
        let name = k.info.name();
        let crd = cluster.get(&crd_res, None, &name).await?;
        crds.push(CrdStatus {
            present: crd.is_some(),
            established: crd.as_ref().is_some_and(crd_ready),
            name,
        });
    }
    let namespace_present = cluster
        .get(&resource_of("Namespace").expect("known"), None, namespace)
        .await?
        .is_some();
    let deployment = cluster
        .get(
            &resource_of("Deployment").expect("known"),
            Some(namespace),
            "velero",
        )
        .await?
        .map(|d| workload(&d, deployment_available));
    let node_agent = cluster
        .get(
            &resource_of("DaemonSet").expect("known"),
            Some(namespace),
            "node-agent",
        )
        .await?
        .map(|d| workload(&d, daemonset_available));
    let bsl_res = resource_of("BackupStorageLocation").expect("known");
    let mut bsls: Vec<BslStatus> = list_items(cluster, &bsl_res, Some(namespace))
        .await?
        .unwrap_or_default()
        .iter()
        .map(|b| {
            let s = |p: &str| b.pointer(p).and_then(Value::as_str).map(str::to_owned);
            BslStatus {
                name: s("/metadata/name").unwrap_or_default(),
                default: b
                    .pointer("/spec/default")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                provider: s("/spec/provider").unwrap_or_default(),
                bucket: s("/spec/objectStorage/bucket").unwrap_or_default(),
                prefix: s("/spec/objectStorage/prefix").unwrap_or_default(),
                access_mode: s("/spec/accessMode").unwrap_or_else(|| "ReadWrite".into()),
                phase: s("/status/phase").unwrap_or_default(),
                last_synced_time: s("/status/lastSyncedTime"),
                last_validation_time: s("/status/lastValidationTime"),
                message: s("/status/message").unwrap_or_default(),
            }
        })
        .collect();
    bsls.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(VeleroStatus {
        namespace: namespace.to_owned(),
        crds_ready: crds.iter().all(|c| c.established),
        crds,
        namespace_present,
        deployment,
        node_agent,
        backup_storage_locations: bsls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_install_kind_has_a_resource() {
        let o = InstallOptions {
            bucket: "b".into(),
            secret: Some(super::super::SecretData::new("x")),
            use_node_agent: true,
            ..InstallOptions::default()
        };
        for obj in super::super::build(&o).unwrap() {
            let r = ObjectRef::of(&obj);
            let res = resource_of(&r.kind).unwrap();
            assert_eq!(res.api_version(), obj["apiVersion"].as_str().unwrap(), "{r}");
            assert_eq!(res.namespaced, r.namespace.is_some(), "{r}");
        }
    }

    #[test]
    fn empty_string_defaults_can_be_stripped() {
        let mut crds = super::super::crds();
        let n = crds
            .iter_mut()
            .map(strip_empty_string_defaults)
            .filter(|x| *x)
            .count();
        // credential.name of BSL and VSL, caCertRef.name of BSL.
        assert_eq!(n, 2);
        assert!(!crds.iter().any(|c| c.to_string().contains("\"default\":\"\"")));
    }

    #[test]
    fn old_servers_get_objects_without_newer_fields() {
        let o = InstallOptions {
            bucket: "b".into(),
            secret: None,
            ..InstallOptions::default()
        };
        let objs = super::super::build(&o).unwrap();
        let d = objs.iter().find(|x| x["kind"] == "Deployment").unwrap();
        let (old, note) = adapt_to_server(d, Some(20));
        assert!(old["spec"]["template"]["spec"].get("os").is_none());
        assert!(
            note.unwrap()
                .contains("`spec.template.spec.os` (Kubernetes 1.23+)")
        );
        let (new, note) = adapt_to_server(d, Some(33));
        assert_eq!(&new, d);
        assert!(note.is_none());
        assert_eq!(adapt_to_server(d, None), (d.clone(), None));
        let ns = &objs[13];
        assert_eq!(adapt_to_server(ns, Some(20)), (ns.clone(), None));
    }

    #[test]
    fn availability_rules() {
        let d = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [{"type": "Available", "status": "True"}]}});
        assert!(deployment_available(&d).0);
        let stale = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "conditions": [{"type": "Available", "status": "True"}]}});
        assert!(!deployment_available(&stale).0);
        assert!(!deployment_available(&json!({"status": {}})).0);
        let ds = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberAvailable": 2}});
        assert!(daemonset_available(&ds).0);
        let ds = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberAvailable": 1}});
        assert!(!daemonset_available(&ds).0);
        assert!(!daemonset_available(&json!({})).0);
    }
}
