//! Plan-level tests: exact JSON per case, and the ordering proptest against an oracle.

// Test builders take `json!` values by value for readability.
#![allow(clippy::needless_pass_by_value)]

use super::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use skiff_kube::{ApiResourceInfo, ApiSurface};
use std::collections::{BTreeMap, BTreeSet};

fn res(group: &str, version: &str, resource: &str, kind: &str, namespaced: bool) -> ApiResourceInfo {
    ApiResourceInfo {
        group: group.into(),
        version: version.into(),
        resource: resource.into(),
        kind: kind.into(),
        singular: kind.to_ascii_lowercase(),
        namespaced,
        verbs: vec!["create".into(), "get".into(), "list".into()],
        short_names: vec![],
        preferred: true,
    }
}

fn surface() -> ApiSurface {
    let rs = vec![
        res("", "v1", "namespaces", "Namespace", false),
        res("", "v1", "pods", "Pod", true),
        res("", "v1", "services", "Service", true),
        res("", "v1", "secrets", "Secret", true),
        res("", "v1", "configmaps", "ConfigMap", true),
        res("", "v1", "serviceaccounts", "ServiceAccount", true),
        res("", "v1", "persistentvolumes", "PersistentVolume", false),
        res("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true),
        res("apps", "v1", "deployments", "Deployment", true),
        res("apps", "v1", "replicasets", "ReplicaSet", true),
        res("apps", "v1", "statefulsets", "StatefulSet", true),
        res("batch", "v1", "cronjobs", "CronJob", true),
        res("batch", "v1", "jobs", "Job", true),
        res(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
        ),
        res(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        ),
        res("storage.k8s.io", "v1", "storageclasses", "StorageClass", false),
        res(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        ),
        res(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
        ),
        res(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            false,
        ),
        res(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
        ),
        ApiResourceInfo {
            preferred: false,
            ..res(
                "autoscaling",
                "v1",
                "horizontalpodautoscalers",
                "HorizontalPodAutoscaler",
                true,
            )
        },
    ];
    ApiSurface {
        resources: rs,
        ..Default::default()
    }
}

fn item(gr: &str, ns: Option<&str>, name: &str, api_version: &str, kind: &str, extra: Value) -> BackupItem {
    let mut object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "uid": format!("uid-{gr}-{name}"), "resourceVersion": "7"}});
    if let Some(ns) = ns {
        object["metadata"]["namespace"] = json!(ns);
    }
    merge(&mut object, &extra);
    BackupItem {
        group_resource: gr.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
        api_version: api_version.into(),
        object: object.into(),
        alt_versions: vec![],
    }
}

fn merge(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn opts() -> RestoreOptions {
    RestoreOptions {
        restore_name: "r1".into(),
        backup_name: "b1".into(),
        ..Default::default()
    }
}

/// A planned item with its final JSON parsed (`object` shadows the item's serialized one).
struct Found<'a> {
    item: &'a PlannedItem,
    object: Value,
}

impl std::ops::Deref for Found<'_> {
    type Target = PlannedItem;
    fn deref(&self) -> &PlannedItem {
        self.item
    }
}

fn find<'a>(p: &'a RestorePlan, gr: &str, name: &str) -> Found<'a> {
    let item = p
        .items()
        .find(|i| i.source.group_resource == gr && i.source.name == name)
        .unwrap_or_else(|| panic!("{gr}/{name} not planned:\n{p}"));
    Found {
        item,
        object: item.object.to_value(),
    }
}

fn skip_reason(p: &RestorePlan, gr: &str, name: &str) -> SkipReason {
    p.skipped
        .iter()
        .find(|s| s.key.group_resource == gr && s.key.name == name)
        .unwrap_or_else(|| panic!("{gr}/{name} not skipped:\n{p}"))
        .reason
        .clone()
}

const LABELS: fn() -> Value = || json!({"velero.io/backup-name": "b1", "velero.io/restore-name": "r1"});

#[test]
fn namespace_mapping_rewrites_every_named_reference() {
    let items = vec![
        item(
            "namespaces",
            None,
            "app",
            "v1",
            "Namespace",
            json!({"metadata": {"labels": {"team": "a"}}, "spec": {"finalizers": ["kubernetes"]}}),
        ),
        item(
            "configmaps",
            Some("app"),
            "cfg",
            "v1",
            "ConfigMap",
            json!({"data": {"k": "v"}}),
        ),
        item(
            "persistentvolumes",
            None,
            "pv1",
            "v1",
            "PersistentVolume",
            json!({"metadata": {"annotations": {"pv.kubernetes.io/bound-by-controller": "yes"}},
            "spec": {"persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "app", "name": "data", "uid": "u", "resourceVersion": "3"}}}),
        ),
        item(
            "rolebindings.rbac.authorization.k8s.io",
            Some("app"),
            "rb",
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            json!({
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "app"}, {"kind": "ServiceAccount", "name": "x", "namespace": "other"}]}),
        ),
        item(
            "clusterrolebindings.rbac.authorization.k8s.io",
            None,
            "crb",
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            json!({
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "app"}]}),
        ),
    ];
    let mut o = opts();
    o.mappings.namespaces = [("app".to_string(), "app2".to_string())].into();
    let p = plan(&items, &surface(), &o, &TargetFacts::default()).unwrap();
    assert_eq!(
        find(&p, "configmaps", "cfg").object,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "app2", "labels": LABELS()}, "data": {"k": "v"}})
    );
    assert_eq!(
        find(&p, "configmaps", "cfg").target.namespace.as_deref(),
        Some("app2")
    );
    assert_eq!(
        find(&p, "persistentvolumes", "pv1").object,
        json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv1", "annotations": {}, "labels": LABELS()},
        "spec": {"persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "app2", "name": "data"}}})
    );
    assert_eq!(
        find(&p, "rolebindings.rbac.authorization.k8s.io", "rb").object["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sa", "namespace": "app2"}, {"kind": "ServiceAccount", "name": "x", "namespace": "other"}])
    );
    assert_eq!(
        find(&p, "clusterrolebindings.rbac.authorization.k8s.io", "crb").object["subjects"][0]["namespace"],
        json!("app2")
    );
    // The namespace: created under the new name from the backup's labels and spec, no restore labels.
    let ns = find(&p, "namespaces", "app");
    assert_eq!(
        ns.object,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app2", "labels": {"team": "a"}},
        "spec": {"finalizers": ["kubernetes"]}})
    );
    assert_eq!(ns.wait, Some(Wait::NamespaceReady("app2".into())));
    assert_eq!(p.namespaces_to_create.len(), 1);
    assert!(p.namespaces_to_create[0].from_backup);
    // Invalid target names are refused before anything is planned.
    let mut bad = opts();
    bad.mappings.namespaces = [("app".to_string(), "App_2".to_string())].into();
    let err = plan(&items, &surface(), &bad, &TargetFacts::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::InvalidNamespaceMapping { from, to, .. } if from == "app" && to == "App_2"),
        "{err}"
    );
}

#[test]
fn storage_class_mapping_and_missing_class() {
    let items = vec![
        item(
            "persistentvolumeclaims",
            Some("a"),
            "data",
            "v1",
            "PersistentVolumeClaim",
            json!({"spec": {"storageClassName": "gp2"}}),
        ),
        item(
            "statefulsets.apps",
            Some("a"),
            "db",
            "apps/v1",
            "StatefulSet",
            json!({"spec": {"volumeClaimTemplates": [
            {"metadata": {"name": "d"}, "spec": {"storageClassName": "gp2"}}, {"metadata": {"name": "e"}, "spec": {"storageClassName": "other"}}]}}),
        ),
        item(
            "persistentvolumeclaims",
            Some("a"),
            "logs",
            "v1",
            "PersistentVolumeClaim",
            json!({"spec": {"storageClassName": "slow"}}),
        ),
    ];
    let mut o = opts();
    o.mappings.storage_classes = [
        ("gp2".to_string(), "gp3".to_string()),
        ("slow".to_string(), "missing".to_string()),
    ]
    .into();
    let facts = TargetFacts {
        storage_classes: Some(["gp3".to_string()].into()),
        ..Default::default()
    };
    let p = plan(&items, &surface(), &o, &facts).unwrap();
    assert_eq!(
        find(&p, "persistentvolumeclaims", "data").object["spec"],
        json!({"storageClassName": "gp3"})
    );
    assert_eq!(
        find(&p, "statefulsets.apps", "db").object["spec"],
        json!({"volumeClaimTemplates": [
        {"metadata": {"name": "d"}, "spec": {"storageClassName": "gp3"}}, {"metadata": {"name": "e"}, "spec": {"storageClassName": "other"}}]})
    );
    assert_eq!(
        skip_reason(&p, "persistentvolumeclaims", "logs"),
        SkipReason::StorageClassMissing {
            storage_class: "missing".into()
        }
    );
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].namespace.as_deref(), Some("a"));
}

#[test]
fn image_registry_mapping_in_all_templates() {
    let spec = || {
        json!({"initContainers": [{"name": "i", "image": "registry.old/init:1"}],
        "containers": [{"name": "c", "image": "registry.old/app:1"}, {"name": "d", "image": "docker.io/other:2"}],
        "ephemeralContainers": [{"name": "e", "image": "registry.old/debug"}]})
    };
    let mapped = json!({"initContainers": [{"name": "i", "image": "registry.new:5000/init:1"}],
        "containers": [{"name": "c", "image": "registry.new:5000/app:1"}, {"name": "d", "image": "docker.io/other:2"}],
        "ephemeralContainers": [{"name": "e", "image": "registry.new:5000/debug"}]});
    let items = vec![
        item("pods", Some("a"), "p", "v1", "Pod", json!({"spec": spec()})),
        item(
            "deployments.apps",
            Some("a"),
            "d",
            "apps/v1",
            "Deployment",
            json!({"spec": {"template": {"spec": spec()}}}),
        ),
        item(
            "cronjobs.batch",
            Some("a"),
            "cj",
            "batch/v1",
            "CronJob",
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec()}}}}}),
        ),
    ];
    let mut o = opts();
    o.mappings.image_registries = [("registry.old".to_string(), "registry.new:5000".to_string())].into();
    let p = plan(&items, &surface(), &o, &TargetFacts::default()).unwrap();
    assert_eq!(find(&p, "pods", "p").object["spec"], mapped);
    assert_eq!(
        find(&p, "deployments.apps", "d").object["spec"]["template"]["spec"],
        mapped
    );
    assert_eq!(
        find(&p, "cronjobs.batch", "cj")
            .object
            .pointer("/spec/jobTemplate/spec/template/spec")
            .unwrap(),
        &mapped
    );
    assert!(
        find(&p, "pods", "p")
            .actions
            .contains(&"image of containers[c] registry.old/app:1 -> registry.new:5000/app:1".to_string())
    );
}

fn svc(name: &str, spec: Value, metadata: Value) -> BackupItem {
    item(
        "services",
        Some("a"),
        name,
        "v1",
        "Service",
        json!({"metadata": metadata, "spec": spec}),
    )
}

#[test]
fn service_cluster_ip_and_node_port_rules() {
    let ports = json!([{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 81, "protocol": "TCP", "nodePort": 30081},
        {"port": 82, "protocol": "UDP", "nodePort": 30082}]);
    let la = json!({"spec": {"ports": [{"name": "http", "port": 80, "nodePort": 30080}, {"port": 81, "nodePort": 30081}]}}).to_string();
    let managed = json!([{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:ports": {
        "k:{\"port\":82,\"protocol\":\"UDP\"}": {"f:nodePort": {}}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}}}}}}]);
    let items = vec![
        svc(
            "headless",
            json!({"clusterIP": "None", "clusterIPs": ["None"]}),
            json!({}),
        ),
        svc(
            "applied",
            json!({"type": "NodePort", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": ports}),
            json!({"annotations": {"kubectl.kubernetes.io/last-applied-configuration": la}}),
        ),
        svc(
            "managed",
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000, "ports": ports}),
            json!({"managedFields": managed}),
        ),
        svc(
            "extname",
            json!({"type": "ExternalName", "externalName": "x.example", "ports": [{"port": 80, "nodePort": 30000}]}),
            json!({}),
        ),
    ];
    let p = plan(&items, &surface(), &opts(), &TargetFacts::default()).unwrap();
    assert_eq!(
        find(&p, "services", "headless").object["spec"],
        json!({"clusterIP": "None", "clusterIPs": ["None"]})
    );
    assert_eq!(
        find(&p, "services", "applied").object["spec"],
        json!({"type": "NodePort", "ports": [
        {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 81, "protocol": "TCP", "nodePort": 30081},
        {"port": 82, "protocol": "UDP"}]})
    );
    assert_eq!(
        find(&p, "services", "managed").object["spec"],
        json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [
        {"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}, {"port": 82, "protocol": "UDP", "nodePort": 30082}]})
    );
    assert_eq!(
        find(&p, "services", "extname").object["spec"]["ports"],
        json!([{"port": 80, "nodePort": 30000}])
    );
    let keep = plan(
        &items,
        &surface(),
        &RestoreOptions {
            preserve_node_ports: true,
            ..opts()
        },
        &TargetFacts::default(),
    )
    .unwrap();
    assert_eq!(
        find(&keep, "services", "managed").object["spec"]["healthCheckNodePort"],
        json!(31000)
    );
    assert_eq!(find(&keep, "services", "applied").object["spec"]["ports"], ports);
}

#[test]
fn pv_delete_is_reprovisioned_and_retain_is_restored() {
    let pvc = |name: &str, pv: &str| {
        item(
            "persistentvolumeclaims",
            Some("a"),
            name,
            "v1",
            "PersistentVolumeClaim",
            json!({
        "metadata": {"annotations": {"pv.kubernetes.io/bind-completed": "yes", "volume.kubernetes.io/selected-node": "n1", "keep": "1"}},
        "spec": {"volumeName": pv}, "status": {"phase": "Bound"}}),
        )
    };
    let pv = |name: &str, policy: &str, claim: &str| {
        item(
            "persistentvolumes",
            None,
            name,
            "v1",
            "PersistentVolume",
            json!({
        "spec": {"persistentVolumeReclaimPolicy": policy, "claimRef": {"namespace": "a", "name": claim, "uid": "x"}}}),
        )
    };
    let items = vec![
        pvc("c-del", "pv-del"),
        pvc("c-ret", "pv-ret"),
        pv("pv-del", "Delete", "c-del"),
        pv("pv-ret", "Retain", "c-ret"),
    ];
    // Namespace-filtered restore: the PVs come in as related items of their bound PVCs.
    let mut o = opts();
    o.scope.included_namespaces = vec!["a".into()];
    let p = plan(&items, &surface(), &o, &TargetFacts::default()).unwrap();
    assert_eq!(
        skip_reason(&p, "persistentvolumes", "pv-del"),
        SkipReason::PvReprovisioned
    );
    assert_eq!(
        find(&p, "persistentvolumeclaims", "c-del").object,
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c-del", "namespace": "a", "annotations": {"keep": "1"}, "labels": LABELS()}, "spec": {}})
    );
    assert_eq!(
        find(&p, "persistentvolumeclaims", "c-ret").object["spec"],
        json!({"volumeName": "pv-ret"})
    );
    let ret = find(&p, "persistentvolumes", "pv-ret");
    assert_eq!(
        ret.object["spec"],
        json!({"persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "a", "name": "c-ret"}})
    );
    assert_eq!(
        ret.actions[0],
        "restored as related item of persistentvolumeclaims/a/c-ret"
    );
    // With cluster resources excluded, no PV at all, and the PVC keeps its volumeName (Velero).
    let mut o = opts();
    o.scope.include_cluster_resources = Some(false);
    let p = plan(&items, &surface(), &o, &TargetFacts::default()).unwrap();
    assert_eq!(
        skip_reason(&p, "persistentvolumes", "pv-del"),
        SkipReason::ClusterScoped
    );
    assert_eq!(
        find(&p, "persistentvolumeclaims", "c-del").object["spec"],
        json!({"volumeName": "pv-del"})
    );
}

#[test]
fn service_account_token_secret_rule() {
    let token = |name: &str| {
        item(
            "secrets",
            Some("a"),
            name,
            "v1",
            "Secret",
            json!({"type": "kubernetes.io/service-account-token",
        "metadata": {"annotations": {"kubernetes.io/service-account.name": "x", "kubernetes.io/service-account.uid": "u"}},
        "data": {"token": "dA==", "ca.crt": "Yw==", "namespace": "YQ=="}}),
        )
    };
    let items = vec![
        item(
            "serviceaccounts",
            Some("a"),
            "builder",
            "v1",
            "ServiceAccount",
            json!({"secrets": [{"name": "builder-token-abc"}]}),
        ),
        token("builder-token-abc"),
        token("existing-token-xyz"),
        token("orphan-token-1"),
    ];
    let facts = TargetFacts {
        service_accounts: Some([("a".to_string(), ["existing".to_string()].into())].into()),
        ..Default::default()
    };
    let p = plan(&items, &surface(), &opts(), &facts).unwrap();
    assert_eq!(
        skip_reason(&p, "secrets", "builder-token-abc"),
        SkipReason::ServiceAccountToken {
            service_account: "builder".into()
        }
    );
    assert_eq!(
        skip_reason(&p, "secrets", "existing-token-xyz"),
        SkipReason::ServiceAccountToken {
            service_account: "existing".into()
        }
    );
    let orphan = find(&p, "secrets", "orphan-token-1");
    assert_eq!(orphan.object["data"], json!({"namespace": "YQ=="}));
    assert_eq!(
        orphan.object["metadata"]["annotations"],
        json!({"kubernetes.io/service-account.name": "x"})
    );
    assert_eq!(
        find(&p, "serviceaccounts", "builder").object["secrets"],
        json!([])
    );
    // Without facts, only the backup's restored ServiceAccounts count.
    let p = plan(&items, &surface(), &opts(), &TargetFacts::default()).unwrap();
    assert!(p.items().any(|i| i.source.name == "existing-token-xyz"));
    assert!(p.items().all(|i| i.source.name != "builder-token-abc"));
}

fn modifiers(text: &str) -> RestoreOptions {
    RestoreOptions {
        resource_modifiers: Some(ResourceModifiers::parse(text).unwrap()),
        ..opts()
    }
}

fn deploy(ns: &str, name: &str, replicas: i64) -> BackupItem {
    item(
        "deployments.apps",
        Some(ns),
        name,
        "apps/v1",
        "Deployment",
        json!({"metadata": {"labels": {"app": name}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.23"}]}}}}),
    )
}

#[test]
fn json_patch_modifier() {
    let o = modifiers(
        r#"
version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^web"
    namespaces: [app]
    matches:
    - path: /spec/replicas
      value: "3"
  patches:
  - operation: replace
    path: /spec/replicas
    value: "1"
  - operation: add
    path: /spec/template/spec/containers/0/env
    value: '[{"name":"MIGRATED","value":"true"}]'
  - operation: copy
    from: /metadata/labels/app
    path: /metadata/annotations
- conditions:
    groupResource: "*.apps"
  patches:
  - operation: test
    path: /spec/replicas
    value: "99"
  - operation: remove
    path: /spec
- conditions:
    groupResource: deployments.apps
    namespaces: [other]
  patches:
  - operation: remove
    path: /spec/doesnotexist
"#,
    );
    let mut o = o;
    o.mappings.namespaces = [("app".to_string(), "moved".to_string())].into();
    let items = vec![
        deploy("app", "web", 3),
        deploy("app", "api", 3),
        deploy("app", "web2", 2),
        deploy("other", "x", 1),
    ];
    let p = plan(&items, &surface(), &o, &TargetFacts::default()).unwrap();
    // Conditions see the original namespace; the test op of rule 1 fails silently.
    assert_eq!(
        find(&p, "deployments.apps", "web").object,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "moved", "labels": {"app": "web", "velero.io/backup-name": "b1", "velero.io/restore-name": "r1"},
            "annotations": "web"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.23",
            "env": [{"name": "MIGRATED", "value": "true"}]}]}}}})
    );
    assert_eq!(
        find(&p, "deployments.apps", "api").object["spec"]["replicas"],
        json!(3)
    );
    assert_eq!(
        find(&p, "deployments.apps", "web2").object["spec"]["replicas"],
        json!(2),
        "matches condition fails"
    );
    // Other failures are item errors; the item is still restored.
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert_eq!(p.errors[0].key.name, "x");
    assert!(
        p.errors[0].message.starts_with("modifier rule 2: json patch: "),
        "{}",
        p.errors[0].message
    );
    assert!(p.items().any(|i| i.source.name == "x"));
}

#[test]
fn merge_patch_modifier() {
    let o = modifiers(
        "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: persistentvolumeclaims\n    matches:\n    - path: /spec/storageClassName\n      value: gp2\n  mergePatches:\n  - patchData: |\n      metadata:\n        annotations:\n          example.com/migrated: \"true\"\n      spec:\n        storageClassName: gp3\n        volumeMode: null\n",
    );
    let items = vec![
        item(
            "persistentvolumeclaims",
            Some("a"),
            "c",
            "v1",
            "PersistentVolumeClaim",
            json!({"spec": {"storageClassName": "gp2", "volumeMode": "Filesystem"}}),
        ),
        item(
            "persistentvolumeclaims",
            Some("a"),
            "d",
            "v1",
            "PersistentVolumeClaim",
            json!({"spec": {"storageClassName": "gp1"}}),
        ),
    ];
    let p = plan(&items, &surface(), &o, &TargetFacts::default()).unwrap();
    assert_eq!(
        find(&p, "persistentvolumeclaims", "c").object,
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c", "namespace": "a", "annotations": {"example.com/migrated": "true"}, "labels": LABELS()},
        "spec": {"storageClassName": "gp3"}})
    );
    assert_eq!(
        find(&p, "persistentvolumeclaims", "d").object["spec"],
        json!({"storageClassName": "gp1"})
    );
    assert_eq!(
        find(&p, "persistentvolumeclaims", "c").actions.last().unwrap(),
        "modifier rule 0: merge patch"
    );
}

#[test]
fn strategic_patch_modifier() {
    let o = modifiers(
        "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: deployments.apps\n    labelSelector:\n      matchLabels: {app: web}\n  strategicPatches:\n  - patchData: |\n      {\"spec\": {\"template\": {\"spec\": {\"containers\": [{\"name\": \"nginx\", \"image\": \"repo2/nginx:1.27\"}, {\"name\": \"side\", \"image\": \"side:1\"}]}}}}\n- conditions:\n    groupResource: \"*.example.com\"\n  strategicPatches:\n  - patchData: '{\"spec\": {\"x\": 1}}'\n",
    );
    let mut crd = item(
        "customresourcedefinitions.apiextensions.k8s.io",
        None,
        "foos.example.com",
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        json!({"spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "foos", "kind": "Foo"}, "versions": [{"name": "v1", "served": true, "storage": true}]}}),
    );
    let mut crd_object = crd.object.to_value();
    crd_object["spec"]["names"]["singular"] = json!("foo");
    crd.object = crd_object.into();
    let items = vec![
        deploy("a", "web", 1),
        deploy("a", "api", 1),
        crd,
        item(
            "foos.example.com",
            Some("a"),
            "f",
            "example.com/v1",
            "Foo",
            json!({"spec": {}}),
        ),
    ];
    let p = plan(&items, &surface(), &o, &TargetFacts::default()).unwrap();
    assert_eq!(
        find(&p, "deployments.apps", "web").object["spec"]["template"]["spec"]["containers"],
        json!([{"name": "nginx", "image": "repo2/nginx:1.27"}, {"name": "side", "image": "side:1"}])
    );
    assert_eq!(
        find(&p, "deployments.apps", "api").object["spec"]["template"]["spec"]["containers"],
        json!([{"name": "nginx", "image": "nginx:1.23"}])
    );
    assert_eq!(find(&p, "foos.example.com", "f").object["spec"], json!({}));
    assert!(
        p.errors
            .iter()
            .any(|e| e.key.name == "f" && e.message.contains("built-in kind")),
        "{:?}",
        p.errors
    );
}

#[test]
fn version_fallback_and_unserved() {
    let mut hpa = item(
        "horizontalpodautoscalers.autoscaling",
        Some("a"),
        "h",
        "autoscaling/v2beta2",
        "HorizontalPodAutoscaler",
        json!({}),
    );
    hpa.alt_versions = vec![(
        "autoscaling/v1".into(),
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "a"}}).into(),
    )];
    let items = vec![
        hpa,
        item(
            "horizontalpodautoscalers.autoscaling",
            Some("a"),
            "old",
            "autoscaling/v2beta1",
            "HorizontalPodAutoscaler",
            json!({}),
        ),
        item(
            "widgets.example.com",
            Some("a"),
            "w",
            "example.com/v1",
            "Widget",
            json!({}),
        ),
    ];
    let p = plan(&items, &surface(), &opts(), &TargetFacts::default()).unwrap();
    let h = find(&p, "horizontalpodautoscalers.autoscaling", "h");
    assert_eq!(h.target.api_version, "autoscaling/v1");
    assert_eq!(h.object["apiVersion"], "autoscaling/v1");
    assert!(
        matches!(skip_reason(&p, "horizontalpodautoscalers.autoscaling", "old"), SkipReason::NotServed { detail } if detail.contains("v2beta1"))
    );
    assert_eq!(
        skip_reason(&p, "widgets.example.com", "w"),
        SkipReason::NotServed {
            detail: "widgets.example.com".into()
        }
    );
    assert!(p.to_text().contains("target does not serve widgets.example.com"));
}

#[test]
fn skip_owned_chain_and_reasons() {
    let owned = |gr: &str,
                 name: &str,
                 av: &str,
                 kind: &str,
                 owner_kind: &str,
                 owner: &str,
                 owner_gr: &str| {
        item(
            gr,
            Some("a"),
            name,
            av,
            kind,
            json!({"metadata": {"ownerReferences": [
            {"kind": owner_kind, "name": owner, "uid": format!("uid-{owner_gr}-{owner}"), "controller": true}]}}),
        )
    };
    let items = vec![
        deploy("a", "web", 1),
        owned(
            "replicasets.apps",
            "web-1",
            "apps/v1",
            "ReplicaSet",
            "Deployment",
            "web",
            "deployments.apps",
        ),
        owned(
            "pods",
            "web-1-x",
            "v1",
            "Pod",
            "ReplicaSet",
            "web-1",
            "replicasets.apps",
        ),
        owned(
            "pods",
            "lonely",
            "v1",
            "Pod",
            "ReplicaSet",
            "gone",
            "replicasets.apps",
        ),
    ];
    let p = plan(
        &items,
        &surface(),
        &RestoreOptions {
            skip_owned: true,
            ..opts()
        },
        &TargetFacts::default(),
    )
    .unwrap();
    assert_eq!(
        skip_reason(&p, "replicasets.apps", "web-1"),
        SkipReason::OwnedByController {
            owner: "deployments.apps/web".into()
        }
    );
    assert_eq!(
        skip_reason(&p, "pods", "web-1-x"),
        SkipReason::OwnedByController {
            owner: "replicasets.apps/web-1".into()
        }
    );
    assert!(p.items().any(|i| i.source.name == "lonely"));
    // Without skip_owned, the chain is restored owner first.
    let p = plan(&items, &surface(), &opts(), &TargetFacts::default()).unwrap();
    let wave = |n: &str| {
        p.waves
            .iter()
            .position(|w| w.items.iter().any(|i| i.source.name == n))
            .unwrap()
    };
    assert!(wave("web") < wave("web-1") && wave("web-1") < wave("web-1-x"));
}

#[test]
fn plan_text_and_json() {
    let items = vec![
        item("configmaps", Some("a"), "cfg", "v1", "ConfigMap", json!({})),
        item("events", Some("a"), "e", "v1", "Event", json!({})),
    ];
    let p = plan(
        &items,
        &surface(),
        &RestoreOptions {
            existing_resource_policy: Some(ExistingResourcePolicy::Update),
            ..opts()
        },
        &TargetFacts::default(),
    )
    .unwrap();
    let text = p.to_text();
    assert!(
        text.starts_with("restore r1 from backup b1 (existing resources: update)\n"),
        "{text}"
    );
    assert!(
        text.contains("wave 0: namespaces (1 items)\n  + namespaces/a [v1 Namespace] (wait: ready)\n"),
        "{text}"
    );
    assert!(
        text.contains("  - events/a/e: resource is never restored\n"),
        "{text}"
    );
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(
        v["skipped"][0],
        json!({"key": {"group_resource": "events", "namespace": "a", "name": "e"}, "reason": {"reason": "always-excluded"}})
    );
    assert_eq!(
        v["waves"][0]["items"][0]["wait"],
        json!({"kind": "NamespaceReady", "name": "a"})
    );
}

// ---- ordering proptest against an oracle written from the rules, not from the planner ----

#[derive(Debug, Clone)]
struct Case {
    items: Vec<BackupItem>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (0usize..3, 1usize..4, 0usize..3, 0usize..3, 0usize..3, 0usize..3, any::<u64>()).prop_map(
        |(crds, namespaces, deployments, webhooks, secrets, pvcs, seed)| {
            let mut items = Vec::new();
            let mut rng = seed;
            let mut next = || {
                rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (rng >> 33) as usize
            };
            for c in 0..crds {
                let group = format!("g{c}.example.com");
                items.push(item("customresourcedefinitions.apiextensions.k8s.io", None, &format!("foos.{group}"), "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition", json!({"spec": {"group": group, "scope": "Namespaced",
                        "names": {"plural": "foos", "kind": "Foo", "singular": "foo"}, "versions": [{"name": "v1", "served": true}]}})));
            }
            for n in 0..namespaces {
                let ns = format!("ns{n}");
                if next() % 2 == 0 {
                    items.push(item("namespaces", None, &ns, "v1", "Namespace", json!({})));
                }
                for c in 0..crds {
                    let gr = format!("foos.g{c}.example.com");
                    let parent = format!("f{c}-{n}");
                    items.push(item(&gr, Some(&ns), &parent, &format!("g{c}.example.com/v1"), "Foo", json!({})));
                    if next() % 2 == 0 {
                        items.push(item(&gr, Some(&ns), &format!("{parent}-child"), &format!("g{c}.example.com/v1"), "Foo", json!({"metadata": {
                            "ownerReferences": [{"kind": "Foo", "name": parent, "uid": format!("uid-{gr}-{parent}"), "controller": true}]}})));
                    }
                }
                items.push(item("serviceaccounts", Some(&ns), "sa", "v1", "ServiceAccount", json!({})));
                for s in 0..secrets {
                    items.push(item("secrets", Some(&ns), &format!("s{s}"), "v1", "Secret", json!({})));
                    items.push(item("configmaps", Some(&ns), &format!("c{s}"), "v1", "ConfigMap", json!({})));
                }
                for p in 0..pvcs {
                    let pv = format!("pv-{n}-{p}");
                    items.push(item("persistentvolumes", None, &pv, "v1", "PersistentVolume",
                        json!({"spec": {"persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": ns, "name": format!("d{p}")}}})));
                    items.push(item("persistentvolumeclaims", Some(&ns), &format!("d{p}"), "v1", "PersistentVolumeClaim",
                        json!({"spec": {"volumeName": pv}, "status": {"phase": "Bound"}})));
                }
                for d in 0..deployments {
                    let name = format!("web{d}");
                    items.push(item("services", Some(&ns), &name, "v1", "Service", json!({"spec": {"selector": {"app": name}}})));
                    items.push(deploy(&ns, &name, 1));
                    let rs = format!("{name}-rs");
                    items.push(item("replicasets.apps", Some(&ns), &rs, "apps/v1", "ReplicaSet", json!({"metadata": {
                        "ownerReferences": [{"kind": "Deployment", "name": name, "uid": format!("uid-deployments.apps-{name}"), "controller": true}]}})));
                    items.push(item("pods", Some(&ns), &format!("{rs}-p"), "v1", "Pod", json!({"metadata": {
                        "ownerReferences": [{"kind": "ReplicaSet", "name": rs, "uid": format!("uid-replicasets.apps-{rs}"), "controller": true}]}})));
                }
            }
            for w in 0..webhooks {
                let gr = if w % 2 == 0 { "validatingwebhookconfigurations" } else { "mutatingwebhookconfigurations" };
                items.push(item(&format!("{gr}.admissionregistration.k8s.io"), None, &format!("wh{w}"), "admissionregistration.k8s.io/v1",
                    "X", json!({"webhooks": [{"name": "w", "clientConfig": {"service": {"namespace": "ns0", "name": "web0"}}}]})));
            }
            // UIDs are unique in a cluster: the helper's per-name uids made unique per namespace
            // (owners are in the same namespace here).
            for it in &mut items {
                let Some(ns) = it.namespace.clone() else { continue };
                let mut o = it.object.to_value();
                let with_ns = |u: &Value| json!(format!("{}-{ns}", u.as_str().unwrap_or_default()));
                o["metadata"]["uid"] = with_ns(&o["metadata"]["uid"]);
                for r in o.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut).into_iter().flatten() {
                    r["uid"] = with_ns(&r["uid"]);
                }
                it.object = o.into();
            }
            // Shuffle: the plan must not depend on input order.
            for i in (1..items.len()).rev() {
                items.swap(i, next() % (i + 1));
            }
            Case { items }
        },
    )
}

/// Rank of a resource in the oracle's "must come before" relation: a lower class strictly
/// precedes a higher one when the rules say so.
fn oracle_before(a: &PlannedItem, b: &PlannedItem) -> Option<&'static str> {
    let gra = a.source.group_resource.as_str();
    let grb = b.source.group_resource.as_str();
    let is_workload = |g: &str| matches!(g, "pods" | "deployments.apps" | "replicasets.apps");
    let is_webhook = |g: &str| g.contains("webhookconfigurations");
    if gra == "customresourcedefinitions.apiextensions.k8s.io" {
        let crd = a.object.to_value();
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if grb == format!("foos.{group}") {
            return Some("crd before its custom resources");
        }
    }
    if gra == "namespaces" && b.target.namespace.as_deref() == Some(a.target.name.as_str()) {
        return Some("namespace before its contents");
    }
    if is_webhook(grb) && (gra == "services" || is_workload(gra)) {
        return Some("webhook after every service and workload");
    }
    if matches!(gra, "serviceaccounts" | "secrets" | "configmaps") && is_workload(grb) {
        return Some("identities and config before workloads");
    }
    if gra == "persistentvolumes" && grb == "persistentvolumeclaims"
        || gra == "persistentvolumeclaims" && grb == "pods"
        || gra == "persistentvolumes" && grb == "pods"
    {
        return Some("volumes before claims before pods");
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn planner_order_satisfies_oracle(case in case_strategy()) {
        let s = surface();
        let p = plan(&case.items, &s, &opts(), &TargetFacts::default()).unwrap();
        // Every input item is planned or skipped exactly once.
        let planned: BTreeSet<ItemKey> = p.items().filter(|i| i.source.group_resource != "namespaces").map(|i| i.source.clone()).collect();
        let skipped: BTreeSet<ItemKey> = p.skipped.iter().map(|s| s.key.clone()).collect();
        for it in case.items.iter().filter(|i| i.group_resource != "namespaces") {
            prop_assert!(planned.contains(&it.key()) != skipped.contains(&it.key()), "{} planned xor skipped", it.key());
        }
        prop_assert!(skipped.is_empty(), "nothing in these cases is skipped: {:?}", p.skipped);
        let wave_of: Vec<(usize, &PlannedItem)> = p.waves.iter().flat_map(|w| w.items.iter().map(move |i| (w.index, i))).collect();
        check_edges(&p)?;
        // What must be done before each item starts, by the plan's edges alone (what the
        // executor runs): the oracle's order must follow from it, not only from wave numbers.
        let must = must_finish_before(&p);
        for (wa, a) in &wave_of {
            for (wb, b) in &wave_of {
                if let Some(rule) = oracle_before(a, b) {
                    prop_assert!(wa < wb, "{rule}: {} (wave {wa}) must precede {} (wave {wb})", a.source, b.source);
                    prop_assert!(must[b.id].contains(&a.id), "{rule}: no edge makes {} wait for {}", b.source, a.source);
                }
            }
        }
        // Owners before dependents, read from the backup's ownerReferences.
        let by_uid: BTreeMap<String, (usize, usize)> = case.items.iter().filter_map(|i| {
            let uid = i.object.to_value().pointer("/metadata/uid")?.as_str()?.to_string();
            let k = i.key();
            wave_of.iter().find(|(_, p)| p.source == k).map(|(w, p)| (uid, (*w, p.id)))
        }).collect();
        for it in &case.items {
            let Some((wd, _)) = wave_of.iter().find(|(_, p)| p.source == it.key()) else { continue };
            let object = it.object.to_value();
            for r in object.pointer("/metadata/ownerReferences").and_then(Value::as_array).into_iter().flatten() {
                let (wo, owner) = by_uid[r["uid"].as_str().unwrap()];
                prop_assert!(wo < *wd, "owner of {} must come first", it.key());
                let id = wave_of.iter().find(|(_, p)| p.source == it.key()).map(|(_, p)| p.id).unwrap();
                prop_assert!(must[id].contains(&owner), "no edge makes {} wait for its owner", it.key());
            }
        }
        // Deterministic regardless of input order.
        let mut rev = case.items.clone();
        rev.reverse();
        prop_assert_eq!(plan(&rev, &s, &opts(), &TargetFacts::default()).unwrap(), p.clone());
        // The consuming planner makes the same plan.
        prop_assert_eq!(plan_owned(rev, &s, &opts(), &TargetFacts::default()).unwrap(), p);
    }
}

/// The plan's edges form a DAG consistent with the waves: ids are positions in plan order, an
/// item waits only for items of earlier waves (hence smaller ids), a wave's barrier only for
/// waves of earlier stages.
fn check_edges(p: &RestorePlan) -> Result<(), TestCaseError> {
    let mut wave_of_id = Vec::new();
    for (n, w) in p.waves.iter().enumerate() {
        prop_assert_eq!(w.index, n);
        for &b in &w.after_waves {
            prop_assert!(b < n && p.waves[b].stage < w.stage, "wave {n} waits for wave {b}");
        }
        for i in &w.items {
            prop_assert_eq!(i.id, wave_of_id.len(), "ids are positions in plan order");
            wave_of_id.push(n);
        }
    }
    for i in p.items() {
        for &d in &i.after {
            prop_assert!(
                d < i.id && wave_of_id[d] < wave_of_id[i.id],
                "{} waits for item {d}",
                i.source
            );
        }
        prop_assert!(
            i.after.windows(2).all(|w| w[0] < w[1]),
            "after sorted, no repeats"
        );
    }
    Ok(())
}

/// Per id, every item that must finish before it starts: the closure of the plan's edges.
fn must_finish_before(p: &RestorePlan) -> Vec<BTreeSet<usize>> {
    let mut must: Vec<BTreeSet<usize>> = Vec::new();
    for i in p.items() {
        let mut m = BTreeSet::new();
        for d in p.start_after(i.id).unwrap() {
            m.insert(d);
            m.extend(must[d].iter().copied());
        }
        must.push(m);
    }
    must
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The executor's schedule, driven without a cluster (items finish in a random order, a few
    /// at a time): every item starts, once, and only after every item the plan says it waits for.
    #[test]
    fn schedule_runs_exactly_the_plan_edges(case in case_strategy(), seed in any::<u64>(), limit in 1usize..6) {
        let p = plan(&case.items, &surface(), &opts(), &TargetFacts::default()).unwrap();
        let mut sched = super::execute::Schedule::new(&p);
        let mut rng = seed;
        let mut next = move || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (rng >> 33) as usize
        };
        let (mut in_flight, mut started, mut finished) = (Vec::new(), BTreeSet::new(), BTreeSet::new());
        loop {
            while in_flight.len() < limit {
                let Some(i) = sched.next_ready() else { break };
                prop_assert!(started.insert(i), "item {i} started twice");
                for d in p.start_after(i).unwrap() {
                    prop_assert!(finished.contains(&d), "item {i} started before item {d} finished");
                }
                in_flight.push(i);
            }
            if in_flight.is_empty() {
                break;
            }
            let done = in_flight.swap_remove(next() % in_flight.len());
            finished.insert(done);
            sched.finish(done);
        }
        prop_assert_eq!(finished.len(), p.len(), "every planned item ran");
    }
}

#[test]
fn edges_of_a_small_plan() {
    let items = vec![
        item(
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
            "foos.g.example.com",
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            json!({"spec": {"group": "g.example.com", "scope": "Namespaced",
                "names": {"plural": "foos", "kind": "Foo", "singular": "foo"}, "versions": [{"name": "v1", "served": true}]}}),
        ),
        item(
            "foos.g.example.com",
            Some("a"),
            "f",
            "g.example.com/v1",
            "Foo",
            json!({}),
        ),
        item("configmaps", Some("a"), "c", "v1", "ConfigMap", json!({})),
        deploy("a", "web", 1),
        item(
            "replicasets.apps",
            Some("a"),
            "web-rs",
            "apps/v1",
            "ReplicaSet",
            json!({"metadata": {
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "uid-deployments.apps-web", "controller": true}]}}),
        ),
    ];
    let p = plan(&items, &surface(), &opts(), &TargetFacts::default()).unwrap();
    let id = |gr: &str, name: &str| {
        p.items()
            .find(|i| i.source.group_resource == gr && i.source.name == name)
            .unwrap()
            .id
    };
    let (crd, ns) = (
        id(
            "customresourcedefinitions.apiextensions.k8s.io",
            "foos.g.example.com",
        ),
        id("namespaces", "a"),
    );
    let (foo, cm, web, rs) = (
        id("foos.g.example.com", "f"),
        id("configmaps", "c"),
        id("deployments.apps", "web"),
        id("replicasets.apps", "web-rs"),
    );
    let after = |i: usize| p.items().nth(i).unwrap().after.clone();
    assert_eq!(after(crd), Vec::<usize>::new());
    assert_eq!(after(ns), Vec::<usize>::new());
    assert_eq!(after(cm), vec![ns]);
    assert_eq!(after(foo), vec![crd, ns]);
    assert_eq!(after(web), vec![ns]);
    assert_eq!(after(rs), vec![ns, web]);
    // Barriers: the config-map stage waits for nothing (the CRD and namespace stages are no
    // barrier); workloads wait for the config-map stage.
    let wave = |i: usize| {
        p.waves
            .iter()
            .find(|w| w.items.iter().any(|x| x.id == i))
            .unwrap()
    };
    assert!(wave(cm).after_waves.is_empty());
    assert_eq!(wave(web).after_waves, vec![wave(cm).index]);
    assert!(p.start_after(rs).unwrap().contains(&cm));
    let v = serde_json::to_value(&p).unwrap();
    let printed = &v["waves"][wave(rs).index]["items"][0];
    assert_eq!(printed["id"], json!(rs));
    assert_eq!(printed["after"], json!([ns, web]));
    let text = p.to_text();
    assert!(
        text.contains("  + replicasets.apps/a/web-rs [apps/v1 ReplicaSet] (after: deployments.apps/a/web)\n"),
        "{text}"
    );
    assert!(
        text.contains("(after: customresourcedefinitions.apiextensions.k8s.io/foos.g.example.com)\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "workloads, services and other resources (ownership level 1) (2 items) after wave {}\n",
            wave(cm).index
        )),
        "{text}"
    );
}

#[test]
fn compressed_items_plan_the_same() {
    let items: Vec<BackupItem> = (0..400)
        .map(|i| {
            item(
                "configmaps",
                Some("a"),
                &format!("cm-{i:03}"),
                "v1",
                "ConfigMap",
                json!({"data": {"k": format!("value-{i}")}, "metadata": {"labels": {"app": "x", "n": format!("{i}")}}}),
            )
        })
        .collect();
    let samples: Vec<_> = items.iter().map(|i| i.object.bytes()).collect();
    let dict = JsonDict::train(&samples).expect("a dictionary");
    drop(samples);
    let packed: Vec<BackupItem> = items
        .iter()
        .cloned()
        .map(|mut i| {
            i.object = i.object.compress(&dict);
            i
        })
        .collect();
    assert!(packed.iter().all(|i| i.object.dict().is_some()));
    assert_eq!(packed, items, "equality compares the documents");
    assert_eq!(packed[7].object.to_value(), items[7].object.to_value());
    let plain = plan(&items, &surface(), &opts(), &TargetFacts::default()).unwrap();
    let p = plan_owned(packed, &surface(), &opts(), &TargetFacts::default()).unwrap();
    assert!(
        p.items().all(|i| i.object.dict().is_some()),
        "final JSON kept compressed"
    );
    assert_eq!(p, plain);
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        serde_json::to_value(&plain).unwrap()
    );
    assert_eq!(p.to_text(), plain.to_text());
}
