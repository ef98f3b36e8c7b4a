//! Deterministic, seeded generator of realistic Kubernetes objects.
//!
//! [`generate`] returns what a user would `kubectl create`: no server-set fields (no `uid`,
//! `resourceVersion`, `creationTimestamp`, `status`, `managedFields`). Objects are ordered so that
//! creating them one after another works: CRDs, the storage class, cluster RBAC, persistent volumes
//! and namespaces come first, then each namespace's objects (service accounts before the workloads
//! that use them), and the validating webhook configuration last.
//!
//! [`with_server_fields`] decorates an object with the fields an API server adds, so archives can
//! be written directly (archive generator, format benchmark) without a cluster.
//!
//! The same `(size, seed)` always yields identical output: a private splitmix64 generator is used
//! instead of `rand`, so no dependency upgrade can change the data.

use std::fmt::Write as _;
use std::str::FromStr;

use serde_json::{Map, Value, json};

/// Group of the generated custom resource definition.
pub const CRD_GROUP: &str = "skiff.test";
/// Name of the generated custom resource definition (`<plural>.<group>`).
pub const CRD_NAME: &str = "widgets.skiff.test";
/// Storage class used by every generated PV, PVC and `volumeClaimTemplate`.
pub const STORAGE_CLASS: &str = "skiff-manual";
/// Name of the Service the generated webhook points to (in the first workload namespace).
pub const WEBHOOK_SERVICE: &str = "skiff-webhook";

/// Workload size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// About 1 000 objects.
    S,
    /// About 10 000 objects.
    M,
    /// About 100 000 objects.
    L,
    /// 30 000 Secrets in a single namespace (plus the namespace itself).
    Deep,
}

impl Size {
    /// Namespaces and applications per namespace for the spread-out sizes.
    fn shape(self) -> (usize, usize) {
        match self {
            Size::S => (10, 15),
            Size::M => (50, 32),
            Size::L => (200, 80),
            Size::Deep => (1, 0),
        }
    }
}

/// Error returned when parsing a [`Size`] fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSizeError(String);

impl std::fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown workload size {:?} (expected s, m, l or deep)", self.0)
    }
}

impl std::error::Error for ParseSizeError {}

impl FromStr for Size {
    type Err = ParseSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "s" | "small" => Ok(Size::S),
            "m" | "medium" => Ok(Size::M),
            "l" | "large" => Ok(Size::L),
            "deep" => Ok(Size::Deep),
            _ => Err(ParseSizeError(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Size::S => "s",
            Size::M => "m",
            Size::L => "l",
            Size::Deep => "deep",
        })
    }
}

/// A generated workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Objects in creation order.
    pub objects: Vec<Value>,
}

impl Workload {
    /// Names of the namespaces the workload creates, in order.
    pub fn namespaces(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|o| o["kind"] == "Namespace")
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Where an object of a generated kind lives in the API and in a Velero archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// Kubernetes `GroupResource.String()`: `configmaps`, `deployments.apps`, …
    pub group_resource: &'static str,
    /// API version without the group (`v1`).
    pub version: &'static str,
    /// Whether the resource is namespaced.
    pub namespaced: bool,
}

/// The resource of an object produced by this module, from its `apiVersion` and `kind`.
/// Returns `None` for kinds this generator never produces.
pub fn resource_info(obj: &Value) -> Option<ResourceInfo> {
    let api_version = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let (gr, ns) = match (api_version, kind) {
        ("v1", "Namespace") => ("namespaces", false),
        ("v1", "ConfigMap") => ("configmaps", true),
        ("v1", "Secret") => ("secrets", true),
        ("v1", "ServiceAccount") => ("serviceaccounts", true),
        ("v1", "Service") => ("services", true),
        ("v1", "PersistentVolumeClaim") => ("persistentvolumeclaims", true),
        ("v1", "PersistentVolume") => ("persistentvolumes", false),
        ("apps/v1", "Deployment") => ("deployments.apps", true),
        ("apps/v1", "StatefulSet") => ("statefulsets.apps", true),
        ("networking.k8s.io/v1", "Ingress") => ("ingresses.networking.k8s.io", true),
        ("rbac.authorization.k8s.io/v1", "Role") => ("roles.rbac.authorization.k8s.io", true),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => ("rolebindings.rbac.authorization.k8s.io", true),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => ("clusterroles.rbac.authorization.k8s.io", false),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            ("clusterrolebindings.rbac.authorization.k8s.io", false)
        }
        ("storage.k8s.io/v1", "StorageClass") => ("storageclasses.storage.k8s.io", false),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            ("customresourcedefinitions.apiextensions.k8s.io", false)
        }
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => (
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
            false,
        ),
        ("skiff.test/v1", "Widget") => (CRD_NAME, true),
        _ => return None,
    };
    Some(ResourceInfo {
        group_resource: gr,
        version: "v1",
        namespaced: ns,
    })
}

/// splitmix64: tiny, fast, and stable forever (unlike a library PRNG's stream).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5EED_5EED_D00D_F00D)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the slight modulo bias is irrelevant here.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let _ = write!(s, "{:016x}", self.next());
        }
        s.truncate(n);
        s
    }

    /// Lowercase alphanumeric suffix such as Kubernetes' generated names use.
    fn suffix(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// Standard base64 with padding (Secret `data` values).
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// A PEM block with `der_len` random bytes (looks like a certificate or key, is neither).
fn pem(rng: &mut Rng, label: &str, der_len: usize) -> String {
    let body = base64(&rng.bytes(der_len));
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    let _ = writeln!(s, "-----END {label}-----");
    s
}

const TEAMS: &[&str] = &[
    "payments", "search", "identity", "platform", "data", "web", "mobile", "ml",
];
const APP_WORDS: &[&str] = &[
    "api",
    "worker",
    "frontend",
    "gateway",
    "cache",
    "indexer",
    "scheduler",
    "billing",
    "auth",
    "reports",
    "notifier",
    "ingest",
    "render",
    "export",
    "sync",
    "audit",
];
const IMAGES: &[&str] = &[
    "registry.k8s.io/pause:3.10",
    "nginx:1.27.3",
    "redis:7.4.1-alpine",
    "ghcr.io/skiff-test/api:2.14.0",
    "docker.io/library/busybox:1.37",
    "quay.io/skiff/worker:v0.9.12",
];

struct Gen {
    rng: Rng,
    objects: Vec<Value>,
}

/// Generate a workload. Same `(size, seed)` → identical objects in identical order.
pub fn generate(size: Size, seed: u64) -> Workload {
    let mut g = Gen {
        rng: Rng::new(seed),
        objects: Vec::new(),
    };
    if size == Size::Deep {
        g.deep();
    } else {
        let (namespaces, apps) = size.shape();
        g.spread(namespaces, apps);
    }
    Workload { objects: g.objects }
}

fn labels(app: &str, team: &str) -> Value {
    json!({
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": team,
        "app.kubernetes.io/managed-by": "skiff-workload",
    })
}

impl Gen {
    fn push(&mut self, v: Value) {
        self.objects.push(v);
    }

    fn deep(&mut self) {
        let ns = "deep";
        self.push(namespace(ns, "platform"));
        for i in 0..30_000 {
            let name = format!("deep-secret-{i:05}");
            let s = self.opaque_secret(ns, &name, "platform");
            self.push(s);
        }
    }

    fn spread(&mut self, namespaces: usize, apps: usize) {
        let ns_names: Vec<String> = (0..namespaces).map(|i| format!("skiff-ns-{i:03}")).collect();
        let teams: Vec<&str> = (0..namespaces).map(|i| TEAMS[i % TEAMS.len()]).collect();

        // Cluster-scoped objects first.
        self.push(crd());
        self.push(storage_class());
        for (i, team) in TEAMS.iter().enumerate().take(namespaces.clamp(1, TEAMS.len())) {
            self.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": format!("skiff:{team}:reader"), "labels": labels("rbac", team)},
                "rules": [
                    {"apiGroups": [""], "resources": ["pods", "services", "configmaps"], "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list", "watch"]},
                    {"apiGroups": [CRD_GROUP], "resources": ["widgets"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
                ],
            }));
            let subject_ns = &ns_names[i % ns_names.len()];
            self.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": format!("skiff:{team}:reader"), "labels": labels("rbac", team)},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("skiff:{team}:reader")},
                "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": subject_ns}],
            }));
        }
        for ns in &ns_names {
            self.push(json!({
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": format!("skiff-pv-{ns}"), "labels": {"skiff.test/namespace": ns}},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "volumeMode": "Filesystem",
                    "hostPath": {"path": format!("/var/lib/skiff/{ns}"), "type": "DirectoryOrCreate"},
                    "claimRef": {"namespace": ns, "name": "shared-data"},
                },
            }));
        }
        for (ns, team) in ns_names.iter().zip(&teams) {
            self.push(namespace(ns, team));
        }

        for (n, (ns, team)) in ns_names.iter().zip(&teams).enumerate() {
            self.namespace_objects(ns, team, n, apps);
        }

        // Last: the webhook (its Service lives in the first namespace).
        self.push(json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "skiff-widget-validator", "labels": labels("widget-validator", "platform")},
            "webhooks": [{
                "name": "widgets.skiff.test",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",
                "timeoutSeconds": 2,
                "clientConfig": {"service": {"namespace": ns_names[0], "name": WEBHOOK_SERVICE, "path": "/validate-widgets", "port": 443}},
                "rules": [{"apiGroups": [CRD_GROUP], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["widgets"], "scope": "Namespaced"}],
            }],
        }));
    }

    fn namespace_objects(&mut self, ns: &str, team: &str, index: usize, apps: usize) {
        self.push(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "app", "namespace": ns, "labels": labels("app", team)},
        }));
        self.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "app-config-reader", "namespace": ns, "labels": labels("rbac", team)},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["feature-flags"], "verbs": ["update", "patch"]},
            ],
        }));
        self.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "app-config-reader", "namespace": ns, "labels": labels("rbac", team)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app-config-reader"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "app", "namespace": ns},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("team:{team}")},
            ],
        }));
        let tls = self.tls_secret(ns, "ingress-tls", team);
        self.push(tls);
        let pull = self.dockerconfig_secret(ns, team);
        self.push(pull);
        self.push(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "shared-data", "namespace": ns, "labels": labels("shared-data", team)},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": STORAGE_CLASS,
                "volumeName": format!("skiff-pv-{ns}"),
                "volumeMode": "Filesystem",
            },
        }));
        self.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "feature-flags", "namespace": ns, "labels": labels("flags", team)},
            "data": {
                "flags.json": format!("{{\"beta\": {}, \"redirect\": \"https://{team}.skiff.test/?from=a&to=b\", \"banner\": \"<b>Welcome</b>\"}}", index.is_multiple_of(2)),
                "owner": format!("{team} team — café ✓"),
            },
        }));
        if index == 0 {
            self.push(service(ns, WEBHOOK_SERVICE, team, "ClusterIP", 443, 8443));
        }
        // NodePorts are a cluster-wide pool of ~2700; one per namespace, for the first 500.
        if index < 500 {
            self.push(service(ns, "edge", team, "NodePort", 80, 8080));
        }

        let mut ingress_paths = Vec::new();
        for a in 0..apps {
            let word = APP_WORDS[(index + a) % APP_WORDS.len()];
            let app = format!("{word}-{a:03}");
            let cm = self.config_map(ns, &app, team);
            self.push(cm);
            let env = self.config_map_env(ns, &app, team);
            self.push(env);
            let secret = self.opaque_secret(ns, &format!("{app}-credentials"), team);
            self.push(secret);
            self.push(service(ns, &app, team, "ClusterIP", 80, 8080));
            if a % 8 == 7 {
                self.push(headless_service(ns, &app, team));
                let sts = self.stateful_set(ns, &app, team);
                self.push(sts);
            } else {
                let dep = self.deployment(ns, &app, team);
                self.push(dep);
            }
            let widget = self.widget(ns, &app, team);
            self.push(widget);
            if a < 10 {
                ingress_paths.push(json!({
                    "path": format!("/{app}"),
                    "pathType": "Prefix",
                    "backend": {"service": {"name": app, "port": {"number": 80}}},
                }));
            }
        }
        if !ingress_paths.is_empty() {
            let host = format!("{ns}.skiff.test");
            self.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": "main",
                    "namespace": ns,
                    "labels": labels("ingress", team),
                    "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "16m"},
                },
                "spec": {
                    "ingressClassName": "nginx",
                    "tls": [{"hosts": [host], "secretName": "ingress-tls"}],
                    "rules": [{"host": host, "http": {"paths": ingress_paths}}],
                },
            }));
        }
    }

    fn opaque_secret(&mut self, ns: &str, name: &str, team: &str) -> Value {
        let user = format!("svc-{}", self.rng.suffix(6));
        let password = base64(&self.rng.bytes(18));
        let token = self.rng.hex(40);
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns, "labels": labels(name, team)},
            "type": "Opaque",
            "data": {
                "username": base64(user.as_bytes()),
                "password": base64(password.as_bytes()),
                "api-token": base64(token.as_bytes()),
            },
        })
    }

    fn tls_secret(&mut self, ns: &str, name: &str, team: &str) -> Value {
        let cert = pem(&mut self.rng, "CERTIFICATE", 780);
        let key = pem(&mut self.rng, "PRIVATE KEY", 1190);
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns, "labels": labels(name, team)},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64(cert.as_bytes()), "tls.key": base64(key.as_bytes())},
        })
    }

    fn dockerconfig_secret(&mut self, ns: &str, team: &str) -> Value {
        let auth = base64(format!("robot${team}:{}", self.rng.hex(32)).as_bytes());
        let cfg = format!("{{\"auths\":{{\"registry.skiff.test\":{{\"auth\":\"{auth}\"}}}}}}");
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "registry-pull", "namespace": ns, "labels": labels("registry-pull", team)},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64(cfg.as_bytes())},
        })
    }

    fn config_map(&mut self, ns: &str, app: &str, team: &str) -> Value {
        let workers = 1 + self.rng.below(16);
        let timeout = 5 + self.rng.below(55);
        let mut props = String::new();
        for i in 0..(4 + self.rng.below(12)) {
            let _ = writeln!(props, "{app}.option.{i}={}", self.rng.hex(12));
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("{app}-config"), "namespace": ns, "labels": labels(app, team)},
            "data": {
                "application.properties": format!("server.port=8080\nworkers={workers}\ntimeout.seconds={timeout}\n{props}"),
                "log-level": self.rng.pick(&["debug", "info", "warn"]),
            },
        })
    }

    fn config_map_env(&mut self, ns: &str, app: &str, team: &str) -> Value {
        let mut data = Map::new();
        for i in 0..(3 + self.rng.below(6)) {
            data.insert(format!("ENV_VAR_{i}"), Value::String(self.rng.hex(16)));
        }
        data.insert(
            "REGION".into(),
            Value::String(self.rng.pick(&["eu-west-1", "us-east-1", "ap-south-1"]).into()),
        );
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("{app}-env"), "namespace": ns, "labels": labels(app, team)},
            "data": data,
        })
    }

    fn pod_template(&mut self, app: &str, team: &str) -> Value {
        let image = self.rng.pick(IMAGES);
        let cpu = self.rng.pick(&["50m", "100m", "250m", "500m"]);
        let mem = self.rng.pick(&["64Mi", "128Mi", "256Mi", "512Mi"]);
        json!({
            "metadata": {
                "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": team},
                "annotations": {"skiff.test/config-hash": self.rng.hex(16)},
            },
            "spec": {
                "serviceAccountName": "app",
                "imagePullSecrets": [{"name": "registry-pull"}],
                "securityContext": {"runAsNonRoot": true, "runAsUser": 65_532, "fsGroup": 65_532},
                "terminationGracePeriodSeconds": 30,
                "containers": [{
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "args": ["--config=/etc/app/application.properties", format!("--name={app}")],
                    "envFrom": [{"configMapRef": {"name": format!("{app}-env")}}],
                    "env": [
                        {"name": "APP_USER", "valueFrom": {"secretKeyRef": {"name": format!("{app}-credentials"), "key": "username"}}},
                        {"name": "APP_PASSWORD", "valueFrom": {"secretKeyRef": {"name": format!("{app}-credentials"), "key": "password"}}},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": mem}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
                    "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 15, "periodSeconds": 20},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true}],
                }],
                "volumes": [{"name": "config", "configMap": {"name": format!("{app}-config")}}],
            },
        })
    }

    fn deployment(&mut self, ns: &str, app: &str, team: &str) -> Value {
        let replicas = 1 + self.rng.below(3);
        let template = self.pod_template(app, team);
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "labels": labels(app, team)},
            "spec": {
                "replicas": replicas,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                "template": template,
            },
        })
    }

    fn stateful_set(&mut self, ns: &str, app: &str, team: &str) -> Value {
        let mut template = self.pod_template(app, team);
        template["spec"]["containers"][0]["volumeMounts"]
            .as_array_mut()
            .expect("volumeMounts is an array")
            .push(json!({"name": "data", "mountPath": "/var/lib/data"}));
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": app, "namespace": ns, "labels": labels(app, team)},
            "spec": {
                "replicas": 1,
                "serviceName": format!("{app}-headless"),
                "podManagementPolicy": "OrderedReady",
                "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                "template": template,
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": STORAGE_CLASS,
                        "resources": {"requests": {"storage": "2Gi"}},
                    },
                }],
            },
        })
    }

    fn widget(&mut self, ns: &str, app: &str, team: &str) -> Value {
        let size = self.rng.below(100);
        let color = self.rng.pick(&["red", "green", "blue", "teal"]);
        json!({
            "apiVersion": format!("{CRD_GROUP}/v1"),
            "kind": "Widget",
            "metadata": {"name": app, "namespace": ns, "labels": labels(app, team)},
            "spec": {
                "size": size,
                "color": color,
                "owner": team,
                "targets": [{"service": app, "port": 80}],
                "notes": "a & b <c>",
            },
        })
    }
}

fn namespace(ns: &str, team: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {"skiff.test/team": team, "skiff.test/workload": "true"},
            "annotations": {"skiff.test/owner": format!("{team}@skiff.test")},
        },
    })
}

fn service(ns: &str, name: &str, team: &str, type_: &str, port: u16, target: u16) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels(name, team)},
        "spec": {
            "type": type_,
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    })
}

fn headless_service(ns: &str, app: &str, team: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": format!("{app}-headless"), "namespace": ns, "labels": labels(app, team)},
        "spec": {
            "clusterIP": "None",
            "selector": {"app.kubernetes.io/name": app},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    })
}

fn storage_class() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "labels": {"skiff.test/workload": "true"}},
        "provisioner": "kubernetes.io/no-provisioner",
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate",
    })
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"skiff.test/workload": "true"}},
        "spec": {
            "group": CRD_GROUP,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {
                                "size": {"type": "integer", "minimum": 0},
                                "color": {"type": "string", "enum": ["red", "green", "blue", "teal"]},
                                "owner": {"type": "string"},
                                "notes": {"type": "string"},
                                "targets": {"type": "array", "items": {"type": "object", "properties": {
                                    "service": {"type": "string"}, "port": {"type": "integer"}
                                }}},
                            },
                        },
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
                "additionalPrinterColumns": [{"name": "Color", "type": "string", "jsonPath": ".spec.color"}],
            }],
        },
    })
}

/// FNV-1a, to derive stable per-object values from the object's identity.
fn fnv(data: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Build a `fieldsV1` value listing every field of `v` (what a create/apply manager owns).
fn fields_v1(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                out.insert(format!("f:{k}"), fields_v1(child));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

fn timestamp(secs_since_epoch: u64) -> String {
    // Civil-from-days (Howard Hinnant), UTC.
    let days = (secs_since_epoch / 86_400).cast_signed();
    let rem = secs_since_epoch % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Add the fields an API server sets on create (and controllers shortly after): `uid`,
/// `resourceVersion`, `creationTimestamp`, `generation` (for kinds with a spec), `managedFields`,
/// a plausible `status`, and defaulted spec fields for Services and Namespaces.
///
/// Deterministic: the values derive from `seed` and the object's kind/namespace/name.
pub fn with_server_fields(obj: &Value, seed: u64) -> Value {
    let mut out = obj.clone();
    let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_owned();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let mut rng = Rng::new(seed ^ fnv(&format!("{api_version}/{kind}/{ns}/{name}")));
    let uid = {
        let h = rng.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    };
    // 2026-05-01T00:00:00Z plus up to ~30 days.
    let created = 1_777_593_600 + rng.below(30 * 86_400);
    let created_ts = timestamp(created);
    let rv = (100_000 + rng.below(9_000_000)).to_string();

    let Some(root) = out.as_object_mut() else {
        return out;
    };
    let fields_source: Map<String, Value> = root
        .iter()
        .filter(|(k, _)| *k != "apiVersion" && *k != "kind" && *k != "status")
        .map(|(k, v)| {
            if k == "metadata" {
                let mut md = v.clone();
                if let Some(m) = md.as_object_mut() {
                    m.remove("name");
                    m.remove("namespace");
                }
                (k.clone(), md)
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let has_spec = root.contains_key("spec");

    // Defaulted fields and status, per kind.
    match kind.as_str() {
        "Namespace" => {
            root.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            root.insert("status".into(), json!({"phase": "Active"}));
            if let Some(labels) = root["metadata"]
                .as_object_mut()
                .map(|m| m.entry("labels").or_insert_with(|| json!({})))
            {
                labels["kubernetes.io/metadata.name"] = Value::String(name.to_owned());
            }
        }
        "Service" => {
            let spec = root.entry("spec").or_insert_with(|| json!({}));
            if spec.get("clusterIP").is_none() {
                let ip = format!("10.96.{}.{}", rng.below(256), 1 + rng.below(254));
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            } else {
                spec["clusterIPs"] = json!(["None"]);
            }
            if spec.get("type").is_none() {
                spec["type"] = json!("ClusterIP");
            }
            if spec["type"] == "NodePort" {
                spec["externalTrafficPolicy"] = json!("Cluster");
                if let Some(ports) = spec["ports"].as_array_mut() {
                    for p in ports {
                        p["nodePort"] = json!(30_000 + rng.below(2_768));
                    }
                }
            }
            spec["internalTrafficPolicy"] = json!("Cluster");
            spec["ipFamilies"] = json!(["IPv4"]);
            spec["ipFamilyPolicy"] = json!("SingleStack");
            spec["sessionAffinity"] = json!("None");
            root.insert("status".into(), json!({"loadBalancer": {}}));
        }
        "Deployment" => {
            let replicas = root["spec"]["replicas"].as_u64().unwrap_or(1);
            root.insert(
                "status".into(),
                json!({
                    "availableReplicas": replicas,
                    "conditions": [
                        {"lastTransitionTime": created_ts, "lastUpdateTime": created_ts, "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable", "status": "True", "type": "Available"},
                        {"lastTransitionTime": created_ts, "lastUpdateTime": created_ts, "message": format!("ReplicaSet \"{name}-{}\" has successfully progressed.", rng.hex(10)), "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"},
                    ],
                    "observedGeneration": 1,
                    "readyReplicas": replicas,
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                }),
            );
        }
        "StatefulSet" => {
            root.insert(
                "status".into(),
                json!({
                    "availableReplicas": 1, "collisionCount": 0, "currentReplicas": 1,
                    "currentRevision": format!("{name}-{}", rng.hex(10)), "observedGeneration": 1,
                    "readyReplicas": 1, "replicas": 1,
                    "updateRevision": format!("{name}-{}", rng.hex(10)), "updatedReplicas": 1,
                }),
            );
        }
        "PersistentVolumeClaim" => {
            root.insert(
                "status".into(),
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "phase": "Bound"}),
            );
        }
        "PersistentVolume" => {
            root.insert(
                "status".into(),
                json!({"lastPhaseTransitionTime": created_ts, "phase": "Bound"}),
            );
        }
        "CustomResourceDefinition" => {
            root.insert(
                "status".into(),
                json!({
                    "acceptedNames": root["spec"]["names"].clone(),
                    "conditions": [
                        {"lastTransitionTime": created_ts, "message": "no conflicts found", "reason": "NoConflicts", "status": "True", "type": "NamesAccepted"},
                        {"lastTransitionTime": created_ts, "message": "the initial names have been accepted", "reason": "InitialNamesAccepted", "status": "True", "type": "Established"},
                    ],
                    "storedVersions": ["v1"],
                }),
            );
        }
        _ => {}
    }

    let manager = if kind == "Namespace" || kind == "CustomResourceDefinition" {
        "kubectl-create"
    } else {
        "kubectl-client-side-apply"
    };
    let Some(md) = root.get_mut("metadata").and_then(Value::as_object_mut) else {
        return out;
    };
    md.insert("uid".into(), json!(uid));
    md.insert("resourceVersion".into(), json!(rv));
    md.insert("creationTimestamp".into(), json!(created_ts));
    if has_spec && kind != "Namespace" && kind != "Service" && kind != "PersistentVolumeClaim" {
        md.insert("generation".into(), json!(1));
    }
    md.insert(
        "managedFields".into(),
        json!([{
            "apiVersion": api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(&Value::Object(fields_source)),
            "manager": manager,
            "operation": "Update",
            "time": created_ts,
        }]),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_output_and_different_seed_differs() {
        let a = generate(Size::S, 7);
        let b = generate(Size::S, 7);
        assert_eq!(a, b);
        let c = generate(Size::S, 8);
        assert_ne!(a, c);
        let sa = serde_json::to_vec(&a.objects).unwrap();
        let sb = serde_json::to_vec(&b.objects).unwrap();
        assert_eq!(sa, sb);
    }

    #[test]
    fn sizes_are_roughly_as_documented() {
        let s = generate(Size::S, 1).objects.len();
        assert!((900..1_300).contains(&s), "S has {s}");
        let m = generate(Size::M, 1).objects.len();
        assert!((9_000..12_000).contains(&m), "M has {m}");
        let deep = generate(Size::Deep, 1);
        let secrets = deep.objects.iter().filter(|o| o["kind"] == "Secret").count();
        assert_eq!(secrets, 30_000);
        assert_eq!(deep.namespaces(), vec!["deep".to_owned()]);
    }

    #[test]
    fn ordering_allows_creation_in_order() {
        let w = generate(Size::S, 3);
        let pos = |pred: &dyn Fn(&Value) -> bool| w.objects.iter().position(pred).unwrap();
        let first_namespaced = pos(&|o| o["metadata"].get("namespace").is_some());
        let last_ns = w.objects.iter().rposition(|o| o["kind"] == "Namespace").unwrap();
        assert!(last_ns < first_namespaced);
        assert_eq!(w.objects[0]["kind"], "CustomResourceDefinition");
        assert_eq!(
            w.objects.last().unwrap()["kind"],
            "ValidatingWebhookConfiguration"
        );
        // The webhook's service exists in the workload.
        let hook = w.objects.last().unwrap();
        let svc = &hook["webhooks"][0]["clientConfig"]["service"];
        assert!(w.objects.iter().any(|o| o["kind"] == "Service"
            && o["metadata"]["name"] == svc["name"]
            && o["metadata"]["namespace"] == svc["namespace"]));
        assert_eq!(hook["webhooks"][0]["failurePolicy"], "Ignore");
    }

    #[test]
    fn every_object_is_well_formed_and_unique() {
        let w = generate(Size::S, 11);
        let mut seen = std::collections::BTreeSet::new();
        for o in &w.objects {
            let info = resource_info(o).unwrap_or_else(|| panic!("unknown kind in {o}"));
            assert_eq!(info.namespaced, o["metadata"].get("namespace").is_some(), "{o}");
            let name = o["metadata"]["name"].as_str().unwrap();
            assert!(!name.is_empty() && name.len() <= 253);
            assert!(o["metadata"].get("uid").is_none());
            let key = (
                info.group_resource,
                o["metadata"]["namespace"].as_str().map(str::to_owned),
                name,
            );
            assert!(seen.insert(key), "duplicate {o}");
        }
        for kind in [
            "Namespace",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "StatefulSet",
            "Service",
            "Ingress",
            "PersistentVolumeClaim",
            "PersistentVolume",
            "StorageClass",
            "CustomResourceDefinition",
            "Widget",
            "ValidatingWebhookConfiguration",
        ] {
            assert!(w.objects.iter().any(|o| o["kind"] == kind), "no {kind}");
        }
        for t in ["Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson"] {
            assert!(w.objects.iter().any(|o| o["type"] == t), "no secret of type {t}");
        }
    }

    #[test]
    fn server_fields_are_added_deterministically() {
        let w = generate(Size::S, 5);
        let dep = w.objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
        let a = with_server_fields(dep, 9);
        let b = with_server_fields(dep, 9);
        assert_eq!(a, b);
        assert_ne!(a, with_server_fields(dep, 10));
        let md = &a["metadata"];
        assert_eq!(md["uid"].as_str().unwrap().len(), 36);
        assert!(md["resourceVersion"].is_string());
        assert!(md["creationTimestamp"].as_str().unwrap().starts_with("2026-"));
        assert_eq!(md["generation"], 1);
        assert_eq!(
            md["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"],
            json!({})
        );
        assert!(a["status"]["replicas"].is_u64());
        // The original content is kept.
        assert_eq!(a["spec"], dep["spec"]);
    }

    #[test]
    fn base64_and_timestamps() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_777_593_600), "2026-05-01T00:00:00Z");
        assert_eq!("Deep".parse::<Size>().unwrap(), Size::Deep);
        assert!("xl".parse::<Size>().is_err());
    }
}
