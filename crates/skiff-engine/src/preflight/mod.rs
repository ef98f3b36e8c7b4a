//! `skiff preflight`: is the target ready for what a backup (or a live source) holds?
//!
//! Pure checks over two summaries: [`SourceSummary`], built one in-scope source object at a time
//! (from an archive or a live source), and [`TargetSummary`], read from the target cluster (or
//! only a version with `--target-version`, for an offline check against the deprecation table).
//! Each finding has a severity, a check code, the objects it concerns (a few examples and a
//! count) and a hint.

use crate::Mappings;
use crate::deprecations::{self, KubeVersion, Verdict};
use crate::images::ImageRef;
use crate::restore::map_image;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

mod gather;
mod source;

pub use gather::{TargetQuery, gather_target};
pub use source::{PreflightTarget, run, summarize_source};

/// Objects named per finding (the count says how many there are in all).
const EXAMPLES: usize = 5;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The migration would fail or lose objects.
    Error,
    /// It would work, with a caveat worth reading.
    Warning,
    /// For information (lists for the next steps).
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// Check code (`api-not-served`, `storage-class-missing`, …).
    pub check: &'static str,
    /// What was found.
    pub message: String,
    /// Examples of the objects concerned (`configmaps/ns/name`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    /// How many objects in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub count: usize,
    /// What to do.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The report of a preflight run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightReport {
    /// What the source is (`backup …`, `live cluster`).
    pub source: String,
    /// What the target is (a live cluster, or only a version for an offline check).
    pub target: String,
    /// Source Kubernetes version (`unknown` when the backup does not say).
    pub source_version: String,
    /// Target Kubernetes version.
    pub target_version: String,
    /// Objects in scope.
    pub objects: usize,
    /// Findings, errors first.
    pub findings: Vec<Finding>,
}

impl PreflightReport {
    /// Number of findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }
}

/// Objects grouped under one key: a few names and a count.
#[derive(Debug, Clone, Default)]
struct Group {
    examples: Vec<String>,
    count: usize,
}

impl Group {
    fn add(&mut self, object: &str) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(object.to_owned());
        }
    }
}

/// A CRD's versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrdVersions {
    /// Served versions.
    pub served: BTreeSet<String>,
    /// The storage version.
    pub storage: Option<String>,
}

impl CrdVersions {
    /// Read from a CRD object (`apiextensions.k8s.io/v1` or `v1beta1`).
    pub fn of(crd: &Value) -> Self {
        let mut v = Self::default();
        if let Some(list) = crd.pointer("/spec/versions").and_then(Value::as_array) {
            for item in list {
                let Some(name) = item.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if item.get("served").and_then(Value::as_bool).unwrap_or(true) {
                    v.served.insert(name.to_owned());
                }
                if item.get("storage").and_then(Value::as_bool) == Some(true) {
                    v.storage = Some(name.to_owned());
                }
            }
        } else if let Some(name) = crd.pointer("/spec/version").and_then(Value::as_str) {
            v.served.insert(name.to_owned());
            v.storage = Some(name.to_owned());
        }
        v
    }
}

/// `plural.group` of a CRD object.
fn crd_group_resource(crd: &Value) -> Option<String> {
    let group = crd.pointer("/spec/group").and_then(Value::as_str)?;
    let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str)?;
    Some(format!("{plural}.{group}"))
}

/// What the source holds, as far as preflight cares. Built with [`SourceSummary::add`].
#[derive(Debug, Clone, Default)]
pub struct SourceSummary {
    /// Source Kubernetes version, when known.
    pub version: Option<KubeVersion>,
    objects: usize,
    /// (group-resource, apiVersion, kind) → objects.
    kinds: BTreeMap<(String, String, String), Group>,
    /// Group-resource → other versions available (archived under other version folders, or
    /// served by a live source).
    pub alternative_versions: BTreeMap<String, BTreeSet<String>>,
    /// CRDs in scope: group-resource → versions.
    crds: BTreeMap<String, CrdVersions>,
    storage_classes: BTreeMap<String, Group>,
    registries: BTreeMap<String, Group>,
    /// Target namespace → (group-resource, name) of the objects that land there.
    by_namespace: BTreeMap<String, Vec<(String, String)>>,
    /// (kind of reference, namespace or "", name) → objects referring to it.
    references: BTreeMap<(&'static str, String, String), Group>,
    /// What is in scope, for references: (group-resource, target namespace or "", name).
    in_scope: BTreeSet<(String, String, String)>,
    pvcs: Group,
    shared_disks: Group,
    hooks: BTreeMap<String, Group>,
}

fn object_name(gr: &str, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{gr}/{ns}/{name}"),
        None => format!("{gr}/{name}"),
    }
}

/// The pod spec of a Pod or of the template of a workload, if any.
fn pod_spec<'a>(gr: &str, obj: &'a Value) -> Option<&'a Value> {
    match gr {
        "pods" => obj.get("spec"),
        "cronjobs.batch" => obj.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => obj.pointer("/spec/template/spec"),
    }
}

const HOOK_PREFIXES: &[&str] = &[
    "pre.hook.backup.velero.io/",
    "post.hook.backup.velero.io/",
    "pre.hook.restore.velero.io/",
    "post.hook.restore.velero.io/",
    "init.hook.restore.velero.io/",
];

impl SourceSummary {
    /// Add one in-scope source object (as the source holds it, before mappings). `mappings`
    /// gives the target namespace, storage class and registry.
    pub fn add(
        &mut self,
        gr: &str,
        namespace: Option<&str>,
        name: &str,
        object: &Value,
        mappings: &Mappings,
    ) {
        self.objects += 1;
        let label = object_name(gr, namespace, name);
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        self.kinds
            .entry((gr.to_owned(), api_version.to_owned(), kind.to_owned()))
            .or_default()
            .add(&label);
        let target_ns = namespace.map(|ns| mappings.namespace(ns).to_owned());
        self.in_scope.insert((
            gr.to_owned(),
            target_ns.clone().unwrap_or_default(),
            name.to_owned(),
        ));
        if gr == "namespaces" {
            self.in_scope.insert((
                "namespaces".into(),
                String::new(),
                mappings.namespace(name).to_owned(),
            ));
        }
        if let Some(ns) = &target_ns {
            self.by_namespace
                .entry(ns.clone())
                .or_default()
                .push((gr.to_owned(), name.to_owned()));
        }
        if gr == "customresourcedefinitions.apiextensions.k8s.io"
            && let Some(crd_gr) = crd_group_resource(object)
        {
            self.crds.insert(crd_gr, CrdVersions::of(object));
        }
        self.add_storage(gr, &label, object, mappings);
        self.add_pod_refs(gr, target_ns.as_deref(), &label, object, mappings);
        if (gr == "ingresses.networking.k8s.io" || gr == "ingresses.extensions")
            && let Some(class) = object.pointer("/spec/ingressClassName").and_then(Value::as_str)
        {
            self.refer("ingressclasses.networking.k8s.io", None, class, &label);
        }
        if let Some(ann) = object.pointer("/metadata/annotations").and_then(Value::as_object) {
            for key in ann.keys() {
                if let Some(p) = HOOK_PREFIXES.iter().find(|p| key.starts_with(**p)) {
                    self.hooks
                        .entry(p.trim_end_matches('/').to_owned())
                        .or_default()
                        .add(&label);
                }
            }
        }
    }

    fn refer(&mut self, kind: &'static str, ns: Option<&str>, name: &str, from: &str) {
        self.references
            .entry((kind, ns.unwrap_or_default().to_owned(), name.to_owned()))
            .or_default()
            .add(from);
    }

    fn add_storage(&mut self, gr: &str, label: &str, object: &Value, mappings: &Mappings) {
        let class = match gr {
            "persistentvolumeclaims" | "persistentvolumes" => object
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .or_else(|| {
                    object
                        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
                        .and_then(Value::as_str)
                }),
            _ => None,
        };
        if let Some(c) = class.filter(|c| !c.is_empty()) {
            let mapped = mappings.storage_classes.get(c).map_or(c, String::as_str);
            self.storage_classes
                .entry(mapped.to_owned())
                .or_default()
                .add(label);
        }
        if gr == "persistentvolumeclaims" {
            self.pvcs.add(label);
        }
        if gr == "persistentvolumes" {
            let spec = object.get("spec");
            let statically_bound = [
                "csi",
                "awsElasticBlockStore",
                "gcePersistentDisk",
                "azureDisk",
                "nfs",
                "iscsi",
                "rbd",
                "cephfs",
                "fc",
            ]
            .iter()
            .any(|k| spec.and_then(|s| s.get(*k)).is_some());
            let policy = object
                .pointer("/spec/persistentVolumeReclaimPolicy")
                .and_then(Value::as_str)
                .unwrap_or("Delete");
            if statically_bound && policy == "Retain" {
                self.shared_disks.add(label);
            }
        }
    }

    fn add_pod_refs(
        &mut self,
        gr: &str,
        target_ns: Option<&str>,
        label: &str,
        object: &Value,
        mappings: &Mappings,
    ) {
        for c in crate::images::container_images(object) {
            let mapped = map_image(c.image, &mappings.image_registries).unwrap_or_else(|| c.image.to_owned());
            let registry =
                ImageRef::parse(&mapped).map_or_else(|_| "(invalid reference)".to_owned(), |r| r.registry);
            self.registries.entry(registry).or_default().add(label);
        }
        let Some(spec) = pod_spec(gr, object) else {
            return;
        };
        if let Some(pc) = spec.get("priorityClassName").and_then(Value::as_str) {
            self.refer("priorityclasses.scheduling.k8s.io", None, pc, label);
        }
        if let Some(rc) = spec.get("runtimeClassName").and_then(Value::as_str) {
            self.refer("runtimeclasses.node.k8s.io", None, rc, label);
        }
        if let Some(ns) = target_ns {
            let sa = spec
                .get("serviceAccountName")
                .or_else(|| spec.get("serviceAccount"))
                .and_then(Value::as_str)
                .unwrap_or("default");
            if sa != "default" {
                self.refer("serviceaccounts", Some(ns), sa, label);
            }
        }
    }

    /// Objects added.
    pub fn objects(&self) -> usize {
        self.objects
    }

    /// What the target must be asked about: the target namespaces objects land in, with the
    /// group-resources of those objects.
    pub fn target_query(&self) -> TargetQuery {
        TargetQuery {
            namespaces: self
                .by_namespace
                .iter()
                .map(|(ns, objects)| (ns.clone(), objects.iter().map(|(gr, _)| gr.clone()).collect()))
                .collect(),
        }
    }
}

/// A webhook of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `validating/<configuration>/<webhook>` or `mutating/…`.
    pub name: String,
    /// `failurePolicy` is `Fail` (the default in `admissionregistration/v1`).
    pub fails_closed: bool,
    /// (apiGroups, resources) of its rules (`*` allowed).
    pub rules: Vec<(Vec<String>, Vec<String>)>,
    /// Backend Service (namespace, name); `None` for a URL webhook.
    pub service: Option<(String, String)>,
}

impl Webhook {
    /// Read every webhook of a `ValidatingWebhookConfiguration` or `MutatingWebhookConfiguration`.
    pub fn from_configuration(kind: &str, cfg: &Value) -> Vec<Webhook> {
        let cfg_name = cfg
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        cfg.get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|w| Webhook {
                name: format!(
                    "{kind}/{cfg_name}/{}",
                    w.get("name").and_then(Value::as_str).unwrap_or_default()
                ),
                fails_closed: w.get("failurePolicy").and_then(Value::as_str).unwrap_or("Fail") == "Fail",
                rules: w
                    .get("rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|r| (strings(r.get("apiGroups")), strings(r.get("resources"))))
                    .collect(),
                service: w.pointer("/clientConfig/service").map(|s| {
                    (
                        s.get("namespace")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        s.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    )
                }),
            })
            .collect()
    }

    /// Whether it intercepts the group-resource (`deployments.apps`).
    fn intercepts(&self, gr: &str) -> bool {
        let (resource, group) = gr.split_once('.').unwrap_or((gr, ""));
        self.rules.iter().any(|(groups, resources)| {
            groups.iter().any(|g| g == "*" || g == group)
                && resources
                    .iter()
                    .any(|r| r == "*" || r == resource || r.starts_with(&format!("{resource}/")))
        })
    }
}

/// What the target has, as far as preflight cares.
#[derive(Debug, Clone, Default)]
pub struct TargetSummary {
    /// Target version.
    pub version: Option<KubeVersion>,
    /// (group, version, resource) the target serves.
    pub served: BTreeSet<(String, String, String)>,
    /// Group-resources the target serves in any version.
    pub served_resources: BTreeSet<String>,
    /// CRDs on the target.
    pub crds: BTreeMap<String, CrdVersions>,
    /// Storage classes → provisioner.
    pub storage_classes: BTreeMap<String, String>,
    /// Namespaces that exist.
    pub namespaces: BTreeSet<String>,
    /// Objects that exist in the namespaces the restore writes to: (group-resource, ns, name).
    pub existing: BTreeSet<(String, String, String)>,
    /// Admission webhooks.
    pub webhooks: Vec<Webhook>,
    /// Services (ns, name) → whether they have ready endpoints.
    pub service_endpoints: BTreeMap<(String, String), bool>,
    /// Cluster-scoped objects referenced by pods: (group-resource, name).
    pub cluster_objects: BTreeSet<(String, String)>,
    /// Service accounts (ns, name).
    pub service_accounts: BTreeSet<(String, String)>,
    /// Group-resources the target refused to list (403) → where and the server's message. The
    /// checks that need them are skipped and a `target-unreadable` warning says so.
    pub unreadable: BTreeMap<String, String>,
}

impl TargetSummary {
    /// Only a version: the offline check against the deprecation table.
    pub fn offline(version: KubeVersion) -> Self {
        Self {
            version: Some(version),
            ..Self::default()
        }
    }

    fn is_live(&self) -> bool {
        !self.served.is_empty()
    }
}

fn finding(severity: Severity, check: &'static str, message: String, group: &Group, hint: &str) -> Finding {
    Finding {
        severity,
        check,
        message,
        objects: group.examples.clone(),
        count: group.count,
        hint: hint.to_owned(),
    }
}

/// Run every check.
pub fn check(source: &SourceSummary, target: &TargetSummary) -> PreflightReport {
    let mut findings = Vec::new();
    check_versions(source, target, &mut findings);
    check_apis(source, target, &mut findings);
    if target.is_live() {
        for (gr, message) in &target.unreadable {
            findings.push(finding(
                Severity::Warning,
                "target-unreadable",
                format!("the target refused to list {gr}; the checks that need it were skipped ({message})"),
                &Group::default(),
                "run preflight with a kubeconfig that may list it (read-only is enough) for a complete check",
            ));
        }
        check_crds(source, target, &mut findings);
        check_storage(source, target, &mut findings);
        check_collisions(source, target, &mut findings);
        check_webhooks(source, target, &mut findings);
        check_references(source, target, &mut findings);
    }
    check_data(source, &mut findings);
    for (registry, g) in &source.registries {
        findings.push(finding(
            Severity::Info,
            "image-registry",
            format!("images from {registry} ({} objects)", g.count),
            g,
            "`skiff images` lists every image to mirror first",
        ));
    }
    for (prefix, g) in &source.hooks {
        findings.push(finding(
            Severity::Warning,
            "velero-hook",
            format!(
                "{} objects carry Velero hook annotations {prefix}/… that skiff does not run",
                g.count
            ),
            g,
            "run the hook's commands yourself before the backup / after the restore",
        ));
    }
    findings.sort_by(|a, b| (a.severity, a.check).cmp(&(b.severity, b.check)));
    PreflightReport {
        source: String::new(),
        target: String::new(),
        source_version: source.version.map_or_else(|| "unknown".into(), |v| v.to_string()),
        target_version: target.version.map_or_else(|| "unknown".into(), |v| v.to_string()),
        objects: source.objects,
        findings,
    }
}

fn check_versions(source: &SourceSummary, target: &TargetSummary, out: &mut Vec<Finding>) {
    match (source.version, target.version) {
        (Some(s), Some(t)) if t < s => out.push(finding(
            Severity::Warning,
            "older-target",
            format!(
                "the target ({t}) is older than the source ({s}): APIs the source used may not be served"
            ),
            &Group::default(),
            "check the api findings below; restore into a target at least as new as the source where you can",
        )),
        (None, _) => out.push(finding(
            Severity::Info,
            "source-version",
            "the source's Kubernetes version is unknown (the backup does not record it)".into(),
            &Group::default(),
            "",
        )),
        _ => {}
    }
}

fn check_apis(source: &SourceSummary, target: &TargetSummary, out: &mut Vec<Finding>) {
    for ((gr, api_version, kind), g) in &source.kinds {
        let (group, version) = deprecations::split_api_version(api_version);
        let resource = gr.split_once('.').map_or(gr.as_str(), |(r, _)| r);
        if target.is_live() {
            let served = target
                .served
                .contains(&(group.to_owned(), version.to_owned(), resource.to_owned()));
            if !served {
                let other = source
                    .alternative_versions
                    .get(gr)
                    .into_iter()
                    .flatten()
                    .find(|v| {
                        target
                            .served
                            .contains(&(group.to_owned(), (*v).clone(), resource.to_owned()))
                    });
                if let Some(v) = other {
                    out.push(finding(
                        Severity::Info,
                        "api-version-fallback",
                        format!("{api_version} {kind} is not served by the target; the restore uses {group}/{v}, which the backup also holds"),
                        g,
                        "",
                    ));
                } else if target.served_resources.contains(gr) {
                    out.push(finding(
                        Severity::Warning,
                        "api-version-fallback",
                        format!("{api_version} {kind} is not served by the target, which serves {gr} in another version: the restore sends the object as backed up in that version"),
                        g,
                        "check that the object is valid in the served version (fields may differ)",
                    ));
                } else if !source.crds.contains_key(gr) {
                    out.push(finding(
                        Severity::Error,
                        "api-not-served",
                        format!("{api_version} {kind} is not served by the target in any version"),
                        g,
                        "install the API (its CRD or aggregated API) on the target, or exclude the resource",
                    ));
                }
            }
        }
        if let Some(t) = target.version {
            let c = deprecations::check(api_version, kind, t);
            let sev = match c.verdict {
                Verdict::Removed | Verdict::NotYetServed if !target.is_live() => Some(Severity::Error),
                Verdict::Deprecated => Some(Severity::Warning),
                _ => None,
            };
            if let Some(sev) = sev {
                out.push(finding(
                    sev,
                    if c.verdict == Verdict::Deprecated {
                        "api-deprecated"
                    } else {
                        "api-removed"
                    },
                    c.to_string(),
                    g,
                    "",
                ));
            }
        }
    }
}

fn check_crds(source: &SourceSummary, target: &TargetSummary, out: &mut Vec<Finding>) {
    for ((gr, api_version, kind), g) in &source.kinds {
        let Some(crd) = target.crds.get(gr) else {
            continue;
        };
        let (_, version) = deprecations::split_api_version(api_version);
        if !crd.served.contains(version) {
            out.push(finding(
                Severity::Error,
                "crd-version",
                format!(
                    "the target's CRD {gr} does not serve {version} (serves {}) for {kind}",
                    crd.served.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                g,
                "upgrade the CRD on the target to one that serves this version",
            ));
        }
    }
    for (gr, backed) in &source.crds {
        if let Some(have) = target.crds.get(gr)
            && backed.storage != have.storage
        {
            out.push(finding(
                Severity::Warning,
                "crd-differs",
                format!(
                    "CRD {gr} exists on the target with storage version {} (the backup's: {}); the backup's CRD is not restored over it",
                    have.storage.as_deref().unwrap_or("?"),
                    backed.storage.as_deref().unwrap_or("?")
                ),
                &Group::default(),
                "",
            ));
        }
    }
}

fn check_storage(source: &SourceSummary, target: &TargetSummary, out: &mut Vec<Finding>) {
    if target.unreadable.contains_key("storageclasses.storage.k8s.io") {
        return;
    }
    for (class, g) in &source.storage_classes {
        match target.storage_classes.get(class) {
            Some(p) => out.push(finding(
                Severity::Info,
                "storage-class",
                format!("storage class {class} (provisioner {p})"),
                g,
                "",
            )),
            None => out.push(finding(
                Severity::Error,
                "storage-class-missing",
                format!("storage class {class} does not exist on the target"),
                g,
                "create it, or map it with --storage-class-mappings old:new",
            )),
        }
    }
}

fn check_collisions(source: &SourceSummary, target: &TargetSummary, out: &mut Vec<Finding>) {
    for (ns, objects) in &source.by_namespace {
        if !target.namespaces.contains(ns) {
            continue;
        }
        let mut g = Group::default();
        for (gr, name) in objects {
            if target.existing.contains(&(gr.clone(), ns.clone(), name.clone())) {
                g.add(&object_name(gr, Some(ns), name));
            }
        }
        let sev = if g.count > 0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        out.push(finding(
            sev,
            "namespace-exists",
            if g.count > 0 {
                format!("namespace {ns} exists on the target and {} objects would collide", g.count)
            } else {
                format!("namespace {ns} exists on the target (no object would collide)")
            },
            &g,
            if g.count > 0 {
                "existing objects are left alone unless --existing-resource-policy update|apply; or map the namespace"
            } else {
                ""
            },
        ));
    }
}

fn check_webhooks(source: &SourceSummary, target: &TargetSummary, out: &mut Vec<Finding>) {
    if target.unreadable.contains_key("services") {
        return;
    }
    let in_scope: BTreeSet<&String> = source.kinds.keys().map(|(gr, _, _)| gr).collect();
    for w in target.webhooks.iter().filter(|w| w.fails_closed) {
        let Some((ns, name)) = &w.service else {
            continue;
        };
        // The backend restored in the same run counts as present.
        let restored = source
            .in_scope
            .contains(&("services".to_owned(), ns.clone(), name.clone()));
        let ready = target.service_endpoints.get(&(ns.clone(), name.clone()));
        if restored || ready == Some(&true) {
            continue;
        }
        let hit: Vec<&String> = in_scope.iter().copied().filter(|gr| w.intercepts(gr)).collect();
        if hit.is_empty() {
            continue;
        }
        let mut g = Group::default();
        for gr in &hit {
            g.add(gr);
        }
        out.push(finding(
            Severity::Error,
            "webhook-unavailable",
            format!(
                "webhook {} (failurePolicy Fail) intercepts {} kinds in scope and its service {ns}/{name} {}",
                w.name,
                hit.len(),
                if ready.is_some() {
                    "has no ready endpoints"
                } else {
                    "does not exist"
                }
            ),
            &g,
            "every create it intercepts will be refused: fix or remove the webhook on the target first",
        ));
    }
}

fn check_references(source: &SourceSummary, target: &TargetSummary, out: &mut Vec<Finding>) {
    for ((gr, ns, name), g) in &source.references {
        let in_scope = source
            .in_scope
            .contains(&((*gr).to_owned(), ns.clone(), name.clone()));
        let on_target = if *gr == "serviceaccounts" {
            target.service_accounts.contains(&(ns.clone(), name.clone()))
        } else {
            target.cluster_objects.contains(&((*gr).to_owned(), name.clone()))
        };
        if in_scope || on_target || target.unreadable.contains_key(*gr) {
            continue;
        }
        let what = gr.split('.').next().unwrap_or(gr);
        let full = if ns.is_empty() {
            name.clone()
        } else {
            format!("{ns}/{name}")
        };
        out.push(finding(
            if *gr == "serviceaccounts" {
                Severity::Warning
            } else {
                Severity::Error
            },
            "reference-missing",
            format!("{what} {full} is referenced but neither in scope nor on the target"),
            g,
            "create it on the target, or include it in the migration",
        ));
    }
}

fn check_data(source: &SourceSummary, out: &mut Vec<Finding>) {
    if source.pvcs.count > 0 {
        out.push(finding(
            Severity::Warning,
            "volume-data",
            format!(
                "{} PersistentVolumeClaims: skiff moves resources, not volume contents",
                source.pvcs.count
            ),
            &source.pvcs,
            "copy the data separately (database dump, rsync, a CSI snapshot) before switching traffic",
        ));
    }
    if source.shared_disks.count > 0 {
        out.push(finding(
            Severity::Warning,
            "shared-disk",
            format!(
                "{} PersistentVolumes point at a disk by id with reclaim policy Retain: both clusters could attach the same disk",
                source.shared_disks.count
            ),
            &source.shared_disks,
            "exclude persistentvolumes, or detach the volume from the source before the target's workloads start",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target() -> TargetSummary {
        let mut t = TargetSummary {
            version: Some(KubeVersion::new(1, 20)),
            ..TargetSummary::default()
        };
        for (g, v, r) in [
            ("", "v1", "configmaps"),
            ("", "v1", "persistentvolumeclaims"),
            ("", "v1", "services"),
            ("apps", "v1", "deployments"),
            ("batch", "v1beta1", "cronjobs"),
            ("example.com", "v1", "widgets"),
        ] {
            t.served.insert((g.into(), v.into(), r.into()));
            t.served_resources.insert(if g.is_empty() {
                r.into()
            } else {
                format!("{r}.{g}")
            });
        }
        t.crds.insert(
            "widgets.example.com".into(),
            CrdVersions {
                served: ["v1".to_string()].into(),
                storage: Some("v1".into()),
            },
        );
        t.storage_classes
            .insert("standard".into(), "kubernetes.io/no-provisioner".into());
        t.namespaces.insert("app".into());
        t.existing
            .insert(("configmaps".into(), "app".into(), "taken".into()));
        t
    }

    fn codes(r: &PreflightReport, sev: Severity) -> Vec<&'static str> {
        r.findings
            .iter()
            .filter(|f| f.severity == sev)
            .map(|f| f.check)
            .collect()
    }

    #[test]
    fn each_problem_is_reported_with_its_severity() {
        let m = Mappings::default();
        let mut s = SourceSummary {
            version: Some(KubeVersion::new(1, 22)),
            ..SourceSummary::default()
        };
        let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        s.add("configmaps", Some("app"), "taken", &cm("taken"), &m);
        s.add("configmaps", Some("app"), "free", &cm("free"), &m);
        s.add(
            "cronjobs.batch",
            Some("app"),
            "c",
            &json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "registry.old/team/app:1"}], "priorityClassName": "high"}}}}}}),
            &m,
        );
        s.add(
            "widgets.example.com",
            Some("app"),
            "w",
            &json!({"apiVersion": "example.com/v2", "kind": "Widget"}),
            &m,
        );
        s.add(
            "gadgets.example.com",
            Some("app"),
            "g",
            &json!({"apiVersion": "example.com/v1", "kind": "Gadget"}),
            &m,
        );
        s.add(
            "persistentvolumeclaims",
            Some("app"),
            "data",
            &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {"storageClassName": "fast"}}),
            &m,
        );
        s.add(
            "deployments.apps",
            Some("app"),
            "d",
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"annotations": {"pre.hook.backup.velero.io/command": "x"}},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
            &m,
        );
        let mut t = target();
        t.webhooks.push(Webhook {
            name: "validating/policy/check".into(),
            fails_closed: true,
            rules: vec![(vec!["apps".into()], vec!["deployments".into()])],
            service: Some(("policy".into(), "webhook".into())),
        });
        let r = check(&s, &t);
        let errors = codes(&r, Severity::Error);
        for want in [
            "api-not-served",
            "crd-version",
            "storage-class-missing",
            "webhook-unavailable",
            "reference-missing",
        ] {
            assert!(errors.contains(&want), "{want} missing from {errors:?}");
        }
        let warnings = codes(&r, Severity::Warning);
        for want in ["older-target", "namespace-exists", "volume-data", "velero-hook"] {
            assert!(warnings.contains(&want), "{want} missing from {warnings:?}");
        }
        let collide = r.findings.iter().find(|f| f.check == "namespace-exists").unwrap();
        assert_eq!(collide.objects, vec!["configmaps/app/taken"]);
        let not_served = r.findings.iter().find(|f| f.check == "api-not-served").unwrap();
        assert!(
            not_served.message.contains("example.com/v1 Gadget"),
            "{}",
            not_served.message
        );
        // batch/v1 CronJob on 1.20: served in v1beta1 → a warning about the version, not an error.
        assert!(
            r.findings
                .iter()
                .any(|f| f.check == "api-version-fallback" && f.message.contains("CronJob"))
        );
        let registries: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.check == "image-registry")
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(registries.len(), 2, "{registries:?}");
    }

    #[test]
    fn a_clean_migration_has_no_errors_and_mappings_count() {
        let m = Mappings {
            namespaces: [("app".to_string(), "moved".to_string())].into(),
            storage_classes: [("fast".to_string(), "standard".to_string())].into(),
            ..Mappings::default()
        };
        let mut s = SourceSummary::default();
        s.add(
            "configmaps",
            Some("app"),
            "taken",
            &json!({"apiVersion": "v1", "kind": "ConfigMap"}),
            &m,
        );
        s.add(
            "persistentvolumeclaims",
            Some("app"),
            "data",
            &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {"storageClassName": "fast"}}),
            &m,
        );
        let r = check(&s, &target());
        assert_eq!(r.count(Severity::Error), 0, "{:#?}", r.findings);
        assert!(!r.findings.iter().any(|f| f.check == "namespace-exists"));
        assert_eq!(r.source_version, "unknown");
    }

    #[test]
    fn offline_against_the_deprecation_table() {
        let mut s = SourceSummary::default();
        let m = Mappings::default();
        s.add(
            "ingresses.extensions",
            Some("a"),
            "i",
            &json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress"}),
            &m,
        );
        s.add(
            "podsecuritypolicies.policy",
            None,
            "p",
            &json!({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy"}),
            &m,
        );
        let r = check(&s, &TargetSummary::offline(KubeVersion::new(1, 29)));
        let removed: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.check == "api-removed")
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(
            removed.iter().any(|m| m.contains("networking.k8s.io/v1")),
            "{removed:?}"
        );
        assert_eq!(r.count(Severity::Error), 2);
    }
}
