//! Velero's built-in restore item actions (§5.4 step 5, §5.6, §5.7), as pure JSON edits.
//!
//! Each action appends human-readable lines to the item's action list. Differences from Velero:
//! actions never round-trip through typed structs, so no unknown fields are dropped and no
//! `"creationTimestamp": null` appears; `spec.nodeName = ""` is written as removing the field
//! (what Velero's typed round trip produces).

use super::model::SkipReason;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Velero's label value shortening (§3.4): values longer than 63 characters become their first
/// 57 characters followed by the first 6 hex characters of the SHA-256 of the full value.
pub fn shorten_label_value(value: &str) -> String {
    if value.len() <= 63 {
        return value.to_string();
    }
    let digest = Sha256::digest(value.as_bytes());
    let hex = format!("{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2]);
    let mut cut = 57;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{hex}", &value[..cut])
}

const RESET_METADATA: &[&str] = &[
    "generateName",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
];

/// Step 5: drop server-set metadata and `status`; returns the status (for §5.9).
pub(crate) fn reset_metadata(obj: &mut Value, actions: &mut Vec<String>) -> Option<Value> {
    let mut removed = Vec::new();
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in RESET_METADATA {
            if md.remove(*k).is_some() {
                removed.push(*k);
            }
        }
    }
    if !removed.is_empty() {
        actions.push(format!("reset metadata: removed {}", removed.join(", ")));
    }
    let status = obj.as_object_mut().and_then(|m| m.remove("status"));
    if status.is_some() {
        actions.push("removed status".into());
    }
    status
}

/// Facts the actions consult.
pub(crate) struct ActionCtx<'a> {
    /// Original → target namespace.
    pub namespace_mappings: &'a BTreeMap<String, String>,
    /// `(target namespace, service account)` existing in or restored to the target.
    pub service_accounts: &'a BTreeSet<(String, String)>,
    /// PVs not restored because they are re-provisioned (§5.6).
    pub reprovisioned_pvs: &'a BTreeSet<String>,
    /// `--preserve-nodeports`.
    pub preserve_node_ports: bool,
    /// Target namespace of the item.
    pub target_namespace: Option<&'a str>,
}

fn remove_keys(map: Option<&mut Value>, keys: &[&str], what: &str, actions: &mut Vec<String>) {
    let Some(m) = map.and_then(Value::as_object_mut) else {
        return;
    };
    for k in keys {
        if m.remove(*k).is_some() {
            actions.push(format!("removed {what} {k}"));
        }
    }
}

/// Run the actions that apply to `gr`. `Err` = do not restore the item.
pub(crate) fn run(
    gr: &str,
    obj: &mut Value,
    ctx: &ActionCtx<'_>,
    actions: &mut Vec<String>,
) -> Result<(), SkipReason> {
    match gr {
        "jobs.batch" => job(obj, actions),
        "pods" => pod(obj, actions),
        "services" => service(obj, ctx.preserve_node_ports, actions),
        "serviceaccounts" => service_account(obj, actions),
        "secrets"
            if obj.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token") =>
        {
            return token_secret(obj, ctx, actions);
        }
        "rolebindings.rbac.authorization.k8s.io" | "clusterrolebindings.rbac.authorization.k8s.io" => {
            binding_subjects(obj, ctx, actions);
        }
        "persistentvolumes" => return persistent_volume(obj, ctx, actions),
        "persistentvolumeclaims" => persistent_volume_claim(obj, ctx, actions),
        "customresourcedefinitions.apiextensions.k8s.io"
            if obj.get("apiVersion").and_then(Value::as_str) == Some("apiextensions.k8s.io/v1")
                && obj.pointer("/spec/preserveUnknownFields") == Some(&Value::Bool(true)) =>
        {
            crd_preserve_unknown_fields(obj, actions);
        }
        "validatingwebhookconfigurations.admissionregistration.k8s.io"
        | "mutatingwebhookconfigurations.admissionregistration.k8s.io"
            if obj.get("apiVersion").and_then(Value::as_str) == Some("admissionregistration.k8s.io/v1") =>
        {
            webhook_side_effects(obj, actions);
        }
        _ => {}
    }
    Ok(())
}

/// Jobs: the controller-uid labels (selector and template) go; the target's controller sets new
/// ones.
fn job(obj: &mut Value, actions: &mut Vec<String>) {
    for ptr in ["/spec/selector/matchLabels", "/spec/template/metadata/labels"] {
        let what = format!("label in {}", ptr.trim_start_matches('/').replace('/', "."));
        remove_keys(
            obj.pointer_mut(ptr),
            &["controller-uid", "batch.kubernetes.io/controller-uid"],
            &what,
            actions,
        );
    }
}

/// ServiceAccounts: the reference to their own token Secret goes (the target makes a new one).
fn service_account(obj: &mut Value, actions: &mut Vec<String>) {
    let prefix = format!("{}-token-", name_of(obj));
    if let Some(secrets) = obj.get_mut("secrets").and_then(Value::as_array_mut)
        && let Some(i) = secrets.iter().rposition(|s| {
            s.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.starts_with(&prefix))
        })
    {
        let s = secrets.remove(i);
        actions.push(format!(
            "removed token secret {} from secrets",
            s["name"].as_str().unwrap_or_default()
        ));
    }
}

/// Token Secrets: skipped when their ServiceAccount exists in (or is restored to) the target
/// namespace, which then gets a fresh token; otherwise restored without the token data.
fn token_secret(obj: &mut Value, ctx: &ActionCtx<'_>, actions: &mut Vec<String>) -> Result<(), SkipReason> {
    let name = name_of(obj);
    let ns = ctx.target_namespace.unwrap_or_default();
    if let Some((_, sa)) = ctx
        .service_accounts
        .range((ns.to_string(), String::new())..)
        .take_while(|(n, _)| n == ns)
        .find(|(_, sa)| name.starts_with(&format!("{sa}-token-")))
    {
        return Err(SkipReason::ServiceAccountToken {
            service_account: sa.clone(),
        });
    }
    remove_keys(
        obj.pointer_mut("/metadata/annotations"),
        &["kubernetes.io/service-account.uid"],
        "annotation",
        actions,
    );
    remove_keys(obj.get_mut("data"), &["token", "ca.crt"], "data key", actions);
    Ok(())
}

/// (Cluster)RoleBindings: subjects' namespaces follow the namespace mappings.
fn binding_subjects(obj: &mut Value, ctx: &ActionCtx<'_>, actions: &mut Vec<String>) {
    for s in obj
        .get_mut("subjects")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(ns) = s.get("namespace").and_then(Value::as_str) else {
            continue;
        };
        if let Some(new) = ctx.namespace_mappings.get(ns) {
            actions.push(format!(
                "subject {} namespace {ns} -> {new}",
                s.get("name").and_then(Value::as_str).unwrap_or_default()
            ));
            s["namespace"] = Value::String(new.clone());
        }
    }
}

/// PersistentVolumeClaims: binding and provisioning annotations go; a claim of a re-provisioned
/// volume loses its `volumeName`.
fn persistent_volume_claim(obj: &mut Value, ctx: &ActionCtx<'_>, actions: &mut Vec<String>) {
    remove_keys(
        obj.pointer_mut("/metadata/annotations"),
        &[
            "pv.kubernetes.io/bind-completed",
            "pv.kubernetes.io/bound-by-controller",
            "volume.kubernetes.io/storage-provisioner",
            "volume.beta.kubernetes.io/storage-provisioner",
            "volume.kubernetes.io/selected-node",
            "velero.io/volume-snapshot-name",
            "velero.io/data-upload-name",
        ],
        "annotation",
        actions,
    );
    let pv = obj
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(pv) = pv
        && ctx.reprovisioned_pvs.contains(&pv)
        && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.remove("volumeName");
        actions.push(format!(
            "removed spec.volumeName {pv}: the volume is re-provisioned"
        ));
    }
}

/// v1 CRDs with `spec.preserveUnknownFields: true` (refused by v1): the flag moves into each
/// version's schema.
fn crd_preserve_unknown_fields(obj: &mut Value, actions: &mut Vec<String>) {
    obj["spec"]["preserveUnknownFields"] = Value::Bool(false);
    for v in obj
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(s) = v
            .pointer_mut("/schema/openAPIV3Schema")
            .and_then(Value::as_object_mut)
        {
            s.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
        }
    }
    actions.push("spec.preserveUnknownFields true -> false, x-kubernetes-preserve-unknown-fields on each version schema".into());
}

/// v1 webhook configurations: `sideEffects` other than `None`/`NoneOnDryRun` (refused by v1)
/// become `None`.
fn webhook_side_effects(obj: &mut Value, actions: &mut Vec<String>) {
    for w in obj
        .get_mut("webhooks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let se = w.get("sideEffects").and_then(Value::as_str);
        if !matches!(se, Some("None" | "NoneOnDryRun")) {
            let name = w
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            actions.push(format!(
                "webhook {name} sideEffects {} -> None",
                se.unwrap_or("(unset)")
            ));
            w["sideEffects"] = Value::String("None".into());
        }
    }
}

fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn pod(obj: &mut Value, actions: &mut Vec<String>) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.remove("nodeName").is_some() {
        actions.push("cleared spec.nodeName".into());
    }
    if spec.remove("priority").is_some() {
        actions.push("removed spec.priority".into());
    }
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if sa.is_empty() {
        return;
    }
    let prefix = format!("{sa}-token-");
    let mut dropped = BTreeSet::new();
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        vols.retain(|v| {
            let n = v.get("name").and_then(Value::as_str).unwrap_or_default();
            let drop = n.starts_with(&prefix);
            if drop {
                dropped.insert(n.to_string());
            }
            !drop
        });
    }
    if dropped.is_empty() {
        return;
    }
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                m.retain(|vm| {
                    !vm.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| dropped.contains(n))
                });
            }
        }
    }
    for d in dropped {
        actions.push(format!("removed service account token volume {d} and its mounts"));
    }
}

/// Which node ports the user set explicitly (§5.7 `velero.io/service`).
enum Explicit {
    /// From `kubectl.kubernetes.io/last-applied-configuration`.
    LastApplied {
        names: BTreeSet<String>,
        unnamed: BTreeSet<i64>,
        health: bool,
    },
    /// From managedFields: `(port, protocol)` keys listing `f:nodePort`.
    Managed {
        ports: BTreeSet<(i64, String)>,
        health: bool,
    },
}

impl Explicit {
    fn of(obj: &Value) -> Self {
        let la = obj
            .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
            .and_then(Value::as_str);
        if let Some(text) = la {
            let applied: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let mut names = BTreeSet::new();
            let mut unnamed = BTreeSet::new();
            for p in applied
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let np = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
                if np == 0 {
                    continue;
                }
                match p.get("name").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() => {
                        names.insert(n.to_string());
                    }
                    _ => {
                        unnamed.insert(np);
                    }
                }
            }
            let health = applied
                .pointer("/spec/healthCheckNodePort")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                != 0;
            return Self::LastApplied {
                names,
                unnamed,
                health,
            };
        }
        let mut ports = BTreeSet::new();
        let mut health = false;
        for mf in obj
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(spec) = mf.pointer("/fieldsV1/f:spec") else {
                continue;
            };
            health |= spec.get("f:healthCheckNodePort").is_some();
            for (k, v) in spec
                .get("f:ports")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let Some(key) = k.strip_prefix("k:") else { continue };
                let Ok(key) = serde_json::from_str::<Value>(key) else {
                    continue;
                };
                if v.get("f:nodePort").is_some()
                    && let Some(port) = key.get("port").and_then(Value::as_i64)
                {
                    let proto = key
                        .get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("TCP")
                        .to_string();
                    ports.insert((port, proto));
                }
            }
        }
        Self::Managed { ports, health }
    }

    fn keeps(&self, port: &Map<String, Value>) -> bool {
        match self {
            Self::LastApplied { names, unnamed, .. } => match port.get("name").and_then(Value::as_str) {
                Some(n) if !n.is_empty() => names.contains(n),
                _ => port
                    .get("nodePort")
                    .and_then(Value::as_i64)
                    .is_some_and(|np| unnamed.contains(&np)),
            },
            Self::Managed { ports, .. } => {
                let p = port.get("port").and_then(Value::as_i64).unwrap_or(0);
                let proto = port
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string();
                ports.contains(&(p, proto))
            }
        }
    }

    fn health(&self) -> bool {
        match self {
            Self::LastApplied { health, .. } | Self::Managed { health, .. } => *health,
        }
    }
}

fn service(obj: &mut Value, preserve_node_ports: bool, actions: &mut Vec<String>) {
    let explicit = Explicit::of(obj);
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
        for k in ["clusterIP", "clusterIPs"] {
            if spec.remove(k).is_some() {
                actions.push(format!("cleared spec.{k}"));
            }
        }
    }
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if preserve_node_ports || ty == "ExternalName" {
        return;
    }
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(port) = p.as_object_mut() else { continue };
        let np = port.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        if np != 0 && !explicit.keeps(port) {
            port.remove("nodePort");
            let id = port
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| np.to_string(), str::to_string);
            actions.push(format!("cleared auto-assigned nodePort {np} of port {id}"));
        }
    }
    if ty == "LoadBalancer"
        && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
        && !explicit.health()
        && let Some(v) = spec.remove("healthCheckNodePort")
    {
        actions.push(format!("cleared auto-assigned healthCheckNodePort {v}"));
    }
}

fn persistent_volume(
    obj: &mut Value,
    ctx: &ActionCtx<'_>,
    actions: &mut Vec<String>,
) -> Result<(), SkipReason> {
    if obj
        .pointer("/spec/persistentVolumeReclaimPolicy")
        .and_then(Value::as_str)
        == Some("Delete")
    {
        return Err(SkipReason::PvReprovisioned);
    }
    remove_keys(
        obj.pointer_mut("/metadata/annotations"),
        &[
            "pv.kubernetes.io/bind-completed",
            "pv.kubernetes.io/bound-by-controller",
        ],
        "annotation",
        actions,
    );
    if let Some(cr) = obj.pointer_mut("/spec/claimRef").and_then(Value::as_object_mut) {
        for k in ["uid", "resourceVersion"] {
            if cr.remove(k).is_some() {
                actions.push(format!("removed spec.claimRef.{k}"));
            }
        }
        if let Some(ns) = cr.get("namespace").and_then(Value::as_str)
            && let Some(new) = ctx.namespace_mappings.get(ns)
        {
            actions.push(format!("spec.claimRef.namespace {ns} -> {new}"));
            cr.insert("namespace".into(), Value::String(new.clone()));
        }
    }
    Ok(())
}

/// Step 10: add the restore labels.
pub(crate) fn add_restore_labels(obj: &mut Value, backup: &str, restore: &str) {
    let Some(md) = obj
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| Value::Object(Map::new())))
    else {
        return;
    };
    let Some(md) = md.as_object_mut() else { return };
    let labels = md.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    labels["velero.io/backup-name"] = Value::String(shorten_label_value(backup));
    labels["velero.io/restore-name"] = Value::String(shorten_label_value(restore));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_shortening() {
        assert_eq!(shorten_label_value("short"), "short");
        let exact = "a".repeat(63);
        assert_eq!(shorten_label_value(&exact), exact);
        let long = "b".repeat(70);
        let got = shorten_label_value(&long);
        assert_eq!(got.len(), 63);
        assert_eq!(&got[..57], &long[..57]);
        let full = Sha256::digest(long.as_bytes());
        assert_eq!(
            &got[57..],
            &format!("{:02x}{:02x}{:02x}", full[0], full[1], full[2])
        );
    }

    #[test]
    fn metadata_reset_keeps_what_velero_keeps() {
        let mut o = json!({"metadata": {"name": "a", "uid": "u", "resourceVersion": "1", "finalizers": ["f"],
            "managedFields": [], "ownerReferences": [], "labels": {"x": "y"}}, "status": {"phase": "Bound"}});
        let mut actions = Vec::new();
        let status = reset_metadata(&mut o, &mut actions);
        assert_eq!(status, Some(json!({"phase": "Bound"})));
        assert_eq!(
            o,
            json!({"metadata": {"name": "a", "finalizers": ["f"], "managedFields": [], "labels": {"x": "y"}}})
        );
    }

    #[test]
    fn job_and_pod_actions() {
        let ctx_maps = BTreeMap::new();
        let empty = BTreeSet::new();
        let ctx = ActionCtx {
            namespace_mappings: &ctx_maps,
            service_accounts: &BTreeSet::new(),
            reprovisioned_pvs: &empty,
            preserve_node_ports: false,
            target_namespace: Some("app"),
        };
        let mut job = json!({"spec": {"selector": {"matchLabels": {"controller-uid": "1", "app": "x"}},
            "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "1", "controller-uid": "1", "app": "x"}}}}});
        let mut a = Vec::new();
        run("jobs.batch", &mut job, &ctx, &mut a).unwrap();
        assert_eq!(
            job,
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}})
        );
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "priority": 5, "serviceAccountName": "sa",
            "volumes": [{"name": "sa-token-abc"}, {"name": "kube-api-access-x"}, {"name": "data"}],
            "containers": [{"name": "c", "volumeMounts": [{"name": "sa-token-abc"}, {"name": "data"}]}],
            "initContainers": [{"name": "i", "volumeMounts": [{"name": "sa-token-abc"}]}]}});
        run("pods", &mut pod, &ctx, &mut a).unwrap();
        assert_eq!(
            pod,
            json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "sa",
            "volumes": [{"name": "kube-api-access-x"}, {"name": "data"}],
            "containers": [{"name": "c", "volumeMounts": [{"name": "data"}]}],
            "initContainers": [{"name": "i", "volumeMounts": []}]}})
        );
    }

    #[test]
    fn service_account_and_crd_and_webhook() {
        let m = BTreeMap::new();
        let e = BTreeSet::new();
        let sas = BTreeSet::new();
        let ctx = ActionCtx {
            namespace_mappings: &m,
            service_accounts: &sas,
            reprovisioned_pvs: &e,
            preserve_node_ports: false,
            target_namespace: Some("a"),
        };
        let mut a = Vec::new();
        let mut sa = json!({"metadata": {"name": "sa"}, "secrets": [{"name": "sa-token-1"}, {"name": "other"}, {"name": "sa-token-2"}]});
        run("serviceaccounts", &mut sa, &ctx, &mut a).unwrap();
        assert_eq!(sa["secrets"], json!([{"name": "sa-token-1"}, {"name": "other"}]));
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "spec": {"preserveUnknownFields": true,
            "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
        run(
            "customresourcedefinitions.apiextensions.k8s.io",
            &mut crd,
            &ctx,
            &mut a,
        )
        .unwrap();
        assert_eq!(
            crd["spec"],
            json!({"preserveUnknownFields": false,
            "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]})
        );
        let mut wh = json!({"apiVersion": "admissionregistration.k8s.io/v1", "webhooks": [
            {"name": "a", "sideEffects": "Unknown"}, {"name": "b", "sideEffects": "NoneOnDryRun"}, {"name": "c"}]});
        run(
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
            &mut wh,
            &ctx,
            &mut a,
        )
        .unwrap();
        assert_eq!(
            wh["webhooks"],
            json!([{"name": "a", "sideEffects": "None"}, {"name": "b", "sideEffects": "NoneOnDryRun"},
            {"name": "c", "sideEffects": "None"}])
        );
    }
}
