//! Comparing Kubernetes objects across clusters and backups: normalisation of the fields a
//! server sets (so two copies of the same object compare equal), and field-level differences
//! with readable paths. Used by `verify` (does the target hold what the restore planned?),
//! `diff` (what changed between two backups or clusters?) and `sync` (drift on the target).
//!
//! Two comparisons:
//! - [`subset_diff`]: every field of the *expected* object must be in the *actual* one with the
//!   same value; fields only the actual object has are defaults a server filled in and do not
//!   count. Arrays must have the same length (elements compared the same way).
//! - [`diff`]: symmetric, for two objects that were both normalised.
//!
//! Paths read like `spec.template.spec.containers[name=web].image`: arrays of objects that
//! carry a `name` (containers, ports, env, volumes, …) are matched by name, others by index.
//!
//! Pure: no IO.

use serde::Serialize;
use serde_json::{Map, Value};

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// Where (`metadata.labels.app`, `spec.containers[name=web].image`, `data.key`).
    pub path: String,
    /// The value on the expected / first side (`None`: absent there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    /// The value on the actual / second side (`None`: absent there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
}

/// Metadata fields a server sets, never part of what was backed up or planned.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// Annotations and labels set by controllers or by the restore itself.
const SERVER_ANNOTATIONS: &[&str] = &[
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/restartedAt",
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "pv.kubernetes.io/provisioned-by",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
    "control-plane.alpha.kubernetes.io/leader",
    "endpoints.kubernetes.io/last-change-trigger-time",
];

/// Labels the restore adds (Velero's) or controllers compute.
const SERVER_LABELS: &[&str] = &[
    "velero.io/backup-name",
    "velero.io/restore-name",
    "kubernetes.io/metadata.name",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
    "pod-template-hash",
];

/// Prefix of skiff's own labels and annotations (markers, holds).
const SKIFF_PREFIX: &str = "skiff.io/";

fn retain_keys(map: Option<&mut Value>, drop: &dyn Fn(&str) -> bool) {
    if let Some(m) = map.and_then(Value::as_object_mut) {
        m.retain(|k, _| !drop(k));
    }
}

fn drop_empty(obj: &mut Map<String, Value>, key: &str) {
    if obj.get(key).is_some_and(|v| match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    }) {
        obj.remove(key);
    }
}

/// Strip what a server sets or a restore adds, so copies of one object in two clusters (or a
/// backup and a cluster) compare equal: server metadata, `status`, controller-set labels and
/// annotations, skiff's markers, owner UIDs, and per-kind allocated fields (Service cluster
/// IPs and node ports, PV claim references' UIDs, PVC volume names, `ServiceAccount` token
/// secrets, Job selectors). `gr` is the object's group-resource.
pub fn normalize(gr: &str, obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    root.remove("status");
    if let Some(Value::Object(meta)) = root.get_mut("metadata") {
        for k in SERVER_METADATA {
            meta.remove(*k);
        }
        retain_keys(meta.get_mut("annotations"), &|k| {
            SERVER_ANNOTATIONS.contains(&k) || k.starts_with(SKIFF_PREFIX)
        });
        retain_keys(meta.get_mut("labels"), &|k| {
            SERVER_LABELS.contains(&k) || k.starts_with(SKIFF_PREFIX)
        });
        if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
            for r in refs.iter_mut().filter_map(Value::as_object_mut) {
                r.remove("uid");
            }
        }
        for k in ["annotations", "labels", "ownerReferences", "finalizers"] {
            drop_empty(meta, k);
        }
    }
    let spec = root.get_mut("spec").and_then(Value::as_object_mut);
    match (gr, spec) {
        ("services", Some(spec)) => {
            if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
            spec.remove("healthCheckNodePort");
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    p.remove("nodePort");
                }
            }
        }
        ("persistentvolumes", Some(spec)) => {
            if let Some(Value::Object(c)) = spec.get_mut("claimRef") {
                for k in ["uid", "resourceVersion", "apiVersion", "kind"] {
                    c.remove(k);
                }
            }
        }
        ("persistentvolumeclaims", Some(spec)) => {
            spec.remove("volumeName");
        }
        ("jobs.batch", Some(spec)) => {
            spec.remove("selector");
            if let Some(labels) = spec
                .get_mut("template")
                .and_then(|t| t.pointer_mut("/metadata/labels"))
            {
                retain_keys(Some(labels), &|k| SERVER_LABELS.contains(&k));
            }
        }
        ("namespaces", Some(spec)) => {
            spec.remove("finalizers");
        }
        ("pods", Some(spec)) => {
            // The ServiceAccount admission plugin injects a token volume per namespace (its name
            // differs in every cluster; restore drops the source's); nodeName comes from the
            // scheduler.
            drop_token_volumes(spec);
            spec.remove("nodeName");
        }
        _ => {}
    }
    if gr == "namespaces" {
        drop_empty(root, "spec");
    }
    if gr == "serviceaccounts" {
        root.remove("secrets");
    }
}

/// Whether a pod volume is the injected service account token (`default-token-xxxxx` secret volume
/// before 1.21, `kube-api-access-xxxxx` projected volume from 1.21).
fn is_token_volume(v: &Value) -> bool {
    let name = name_of(v);
    (v.get("secret").is_some() && name.contains("-token-"))
        || (v.get("projected").is_some() && name.starts_with("kube-api-access-"))
}

/// Remove the injected token volume(s) of a pod spec and their mounts.
fn drop_token_volumes(spec: &mut serde_json::Map<String, Value>) {
    let mut dropped: Vec<String> = Vec::new();
    if let Some(Value::Array(vols)) = spec.get_mut("volumes") {
        vols.retain(|v| {
            let token = is_token_volume(v);
            if token {
                dropped.push(name_of(v).to_owned());
            }
            !token
        });
    }
    // An empty list left by a restore that dropped the token equals no list.
    drop_empty(spec, "volumes");
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(Value::Array(mounts)) = c.get_mut("volumeMounts") {
                    mounts.retain(|m| !dropped.iter().any(|d| d == name_of(m)));
                }
                drop_empty(c, "volumeMounts");
            }
        }
    }
}

/// The key an array element is matched by, when every element of both arrays has a string
/// `name` (containers, env, ports, volumes, …).
fn keyed(a: &[Value], b: &[Value]) -> bool {
    let named = |v: &Value| v.get("name").and_then(Value::as_str).is_some();
    (!a.is_empty() || !b.is_empty()) && a.iter().all(named) && b.iter().all(named)
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("")
}

fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), simple) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

fn walk(expected: &Value, actual: &Value, path: &str, subset: bool, out: &mut Vec<Difference>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = join(path, k);
                match a.get(k) {
                    Some(av) => walk(ev, av, &p, subset, out),
                    None => out.push(Difference {
                        path: p,
                        expected: Some(ev.clone()),
                        actual: None,
                    }),
                }
            }
            if !subset {
                for (k, av) in a.iter().filter(|(k, _)| !e.contains_key(*k)) {
                    out.push(Difference {
                        path: join(path, k),
                        expected: None,
                        actual: Some(av.clone()),
                    });
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if keyed(e, a) => {
            for ev in e {
                let p = format!("{path}[name={}]", name_of(ev));
                match a.iter().find(|av| name_of(av) == name_of(ev)) {
                    Some(av) => walk(ev, av, &p, subset, out),
                    None => out.push(Difference {
                        path: p,
                        expected: Some(ev.clone()),
                        actual: None,
                    }),
                }
            }
            for av in a
                .iter()
                .filter(|av| !e.iter().any(|ev| name_of(ev) == name_of(av)))
            {
                out.push(Difference {
                    path: format!("{path}[name={}]", name_of(av)),
                    expected: None,
                    actual: Some(av.clone()),
                });
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                walk(ev, av, &format!("{path}[{i}]"), subset, out);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => out.push(Difference {
            path: path.to_string(),
            expected: Some(e.clone()),
            actual: Some(a.clone()),
        }),
    }
}

/// Fields of `expected` missing from or different in `actual` (see the module docs).
pub fn subset_diff(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(expected, actual, "", true, &mut out);
    out
}

/// Every field that differs between `a` and `b`.
pub fn diff(a: &Value, b: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(a, b, "", false, &mut out);
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn injected_token_volumes_do_not_count() {
        let pod = |token: &str| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                    "volumeMounts": [{"name": token, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
                                     {"name": "data", "mountPath": "/data"}]}],
                    "volumes": [{"name": token, "secret": {"secretName": token}}, {"name": "data", "emptyDir": {}}]}})
        };
        let (mut a, mut b) = (pod("default-token-abcde"), pod("default-token-zyxwv"));
        normalize("pods", &mut a);
        normalize("pods", &mut b);
        assert!(diff(&a, &b).is_empty(), "{:?}", diff(&a, &b));
        assert_eq!(a["spec"]["volumes"], json!([{"name": "data", "emptyDir": {}}]));
        let mut c = pod("default-token-abcde");
        c["spec"]["volumes"][1]["emptyDir"] = json!({"medium": "Memory"});
        normalize("pods", &mut c);
        assert_eq!(diff(&a, &c).len(), 1);
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn normalised_copies_compare_equal() {
        let backed_up = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "app", "uid": "1", "resourceVersion": "10",
                "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "type": "NodePort",
                "ports": [{"name": "http", "port": 80, "nodePort": 30080}]},
            "status": {"loadBalancer": {}}
        });
        let restored = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "app", "uid": "2", "resourceVersion": "99",
                "labels": {"app": "web", "velero.io/restore-name": "r", "velero.io/backup-name": "b"},
                "annotations": {"skiff.io/migration": "m"}},
            "spec": {"clusterIP": "127.100.0.9", "type": "NodePort",
                "ports": [{"name": "http", "port": 80, "nodePort": 31999}]}
        });
        let (mut a, mut b) = (backed_up, restored);
        normalize("services", &mut a);
        normalize("services", &mut b);
        assert_eq!(diff(&a, &b), vec![]);
    }

    #[test]
    fn paths_name_keyed_elements() {
        let e = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "web", "image": "reg/web:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "reg/side:1"}]}}},
            "data": {"weird key/with.dots": "x"}});
        let a = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "side", "image": "reg/side:1", "imagePullPolicy": "IfNotPresent"},
            {"name": "web", "image": "reg/web:2", "env": [{"name": "A", "value": "1"}]}]}}},
            "data": {"weird key/with.dots": "y"}});
        let d = subset_diff(&e, &a);
        let paths: Vec<&str> = d.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "data[\"weird key/with.dots\"]",
                "spec.replicas",
                "spec.template.spec.containers[name=web].image"
            ]
        );
        assert_eq!(d[1].expected, Some(json!(3)));
        assert_eq!(d[1].actual, Some(json!(1)));
        // Subset: the defaulted imagePullPolicy does not count; symmetric diff sees it.
        assert!(
            diff(&e, &a)
                .iter()
                .any(|x| x.path == "spec.template.spec.containers[name=side].imagePullPolicy")
        );
    }

    #[test]
    fn missing_extra_and_reordered() {
        let e = json!({"data": {"a": "1", "b": "2"}, "list": [1, 2]});
        let a = json!({"data": {"a": "1", "c": "3"}, "list": [2, 1]});
        let d = diff(&e, &a);
        assert!(d.contains(&Difference {
            path: "data.b".into(),
            expected: Some(json!("2")),
            actual: None
        }));
        assert!(d.contains(&Difference {
            path: "data.c".into(),
            expected: None,
            actual: Some(json!("3"))
        }));
        assert!(d.iter().any(|x| x.path == "list[0]"));
        // Arrays of different length differ as a whole.
        let d = subset_diff(&json!({"l": [1]}), &json!({"l": [1, 2]}));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "l");
        // Numbers compare by value (1 vs 1.0 from different encoders).
        assert!(diff(&json!({"n": 1}), &json!({"n": 1.0})).is_empty());
    }
}
