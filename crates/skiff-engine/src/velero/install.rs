//! The objects `velero install` creates for the AWS / S3-compatible provider, built as a pure
//! function of [`InstallOptions`] (`velero-format.md` §7), in Velero's order:
//!
//! CRDs → Namespace → `ClusterRoleBinding` → `ServiceAccount` → `cloud-credentials` Secret →
//! `BackupStorageLocation` → `VolumeSnapshotLocation` → Deployment → node-agent `DaemonSet`.
//!
//! Each object has the shape Velero's `--dry-run -o yaml|json` prints (its typed objects turned
//! into unstructured ones): `metadata.creationTimestamp: null`, empty structs such as
//! `strategy: {}` kept, no `status`. [`render_list`] prints them as that one `v1/List`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use skiff_format::docs::{go_duration, shorten_label_value};

use super::quantity::Quantity;
use super::{Result, VeleroError};

/// The Velero server image skiff installs by default (Velero v1.18.1).
pub const DEFAULT_VELERO_IMAGE: &str = "velero/velero:v1.18.1";
/// The AWS / S3-compatible object-store plugin line for Velero v1.18 (plugin v1.14.x).
pub const DEFAULT_AWS_PLUGIN_IMAGE: &str = "velero/velero-plugin-for-aws:v1.14.0";
/// Velero's default namespace.
pub const DEFAULT_NAMESPACE: &str = "velero";
/// Name of the credentials Secret.
pub const CREDENTIALS_SECRET: &str = "cloud-credentials";
/// The default kubelet root directory (node-agent host paths).
pub const DEFAULT_KUBELET_ROOT_DIR: &str = "/var/lib/kubelet";
/// Field manager of `--apply` (server-side apply).
pub const FIELD_MANAGER: &str = "skiff";

/// The contents of the credentials file that goes into the `cloud-credentials` Secret.
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretData(Vec<u8>);

impl SecretData {
    /// Wrap file contents.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SecretData(bytes.into())
    }

    /// An AWS shared-credentials file with one `[default]` profile.
    pub fn aws_credentials(
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) -> Self {
        let mut s = format!(
            "[default]\naws_access_key_id={access_key_id}\naws_secret_access_key={secret_access_key}\n"
        );
        if let Some(t) = session_token {
            s.push_str("aws_session_token=");
            s.push_str(t);
            s.push('\n');
        }
        SecretData(s.into_bytes())
    }

    /// The bytes. Only for the Secret object; never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretData(** {} bytes redacted **)", self.0.len())
    }
}

/// CPU and memory requests and limits, as Velero's `--*-pod-{cpu,mem}-{request,limit}` flags
/// take them. `"0"` (or empty) leaves the value unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodResources {
    /// CPU request.
    pub cpu_request: String,
    /// Memory request.
    pub mem_request: String,
    /// CPU limit.
    pub cpu_limit: String,
    /// Memory limit.
    pub mem_limit: String,
}

impl PodResources {
    /// Velero's defaults for the server pod: requests 500m/128Mi, limits 1000m/512Mi.
    pub fn velero_defaults() -> Self {
        PodResources {
            cpu_request: "500m".into(),
            mem_request: "128Mi".into(),
            cpu_limit: "1000m".into(),
            mem_limit: "512Mi".into(),
        }
    }

    /// Velero's defaults for node-agent: all unset (`BestEffort`).
    pub fn unbounded() -> Self {
        PodResources {
            cpu_request: "0".into(),
            mem_request: "0".into(),
            cpu_limit: "0".into(),
            mem_limit: "0".into(),
        }
    }

    /// `resources` of a container (Velero's `ParseCPUAndMemoryResources`): canonical quantities,
    /// zero values left out, a request above its limit refused. `what` names the pod in errors.
    pub fn to_json(&self, what: &str) -> Result<Value> {
        let parse = |v: &str, flag: &str| -> Result<Quantity> {
            let v = if v.trim().is_empty() { "0" } else { v };
            Quantity::parse(v).map_err(|e| VeleroError::InvalidOptions(format!("{what} {flag}: {e}")))
        };
        let cpu_req = parse(&self.cpu_request, "CPU request")?;
        let mem_req = parse(&self.mem_request, "memory request")?;
        let cpu_lim = parse(&self.cpu_limit, "CPU limit")?;
        let mem_lim = parse(&self.mem_limit, "memory limit")?;
        if !cpu_lim.is_zero() && cpu_req > cpu_lim {
            return Err(VeleroError::InvalidOptions(format!(
                "{what} CPU request {:?} must be less than or equal to the CPU limit {:?}",
                self.cpu_request, self.cpu_limit
            )));
        }
        if !mem_lim.is_zero() && mem_req > mem_lim {
            return Err(VeleroError::InvalidOptions(format!(
                "{what} memory request {:?} must be less than or equal to the memory limit {:?}",
                self.mem_request, self.mem_limit
            )));
        }
        let list = |cpu: Quantity, mem: Quantity| {
            let mut m = Map::new();
            if !cpu.is_zero() {
                m.insert("cpu".into(), cpu.to_string().into());
            }
            if !mem.is_zero() {
                m.insert("memory".into(), mem.to_string().into());
            }
            m
        };
        let mut r = Map::new();
        let limits = list(cpu_lim, mem_lim);
        let requests = list(cpu_req, mem_req);
        if !limits.is_empty() {
            r.insert("limits".into(), Value::Object(limits));
        }
        if !requests.is_empty() {
            r.insert("requests".into(), Value::Object(requests));
        }
        Ok(Value::Object(r))
    }
}

/// Everything `velero install` takes that matters for the AWS / S3-compatible provider. The
/// defaults are Velero's (plus a default plugin image, which Velero requires as a flag).
#[derive(Debug, Clone, PartialEq)]
pub struct InstallOptions {
    /// Velero namespace (`--namespace`).
    pub namespace: String,
    /// Server and node-agent image (`--image`).
    pub image: String,
    /// Object-store provider (`--provider`): `aws` or `velero.io/aws`.
    pub provider: String,
    /// Bucket (`--bucket`).
    pub bucket: String,
    /// Prefix inside the bucket (`--prefix`).
    pub prefix: String,
    /// BSL `spec.config` (`--backup-location-config`).
    pub backup_location_config: BTreeMap<String, String>,
    /// VSL `spec.config` (`--snapshot-location-config`).
    pub snapshot_location_config: BTreeMap<String, String>,
    /// PEM bundle for the object store's TLS (`--cacert`), stored base64 in the BSL.
    pub ca_cert: Option<Vec<u8>>,
    /// The `cloud` credentials file (`--secret-file`); `None` is `--no-secret`.
    pub secret: Option<SecretData>,
    /// Plugin images, one init container each (`--plugins`).
    pub plugins: Vec<String>,
    /// Create the `default` `VolumeSnapshotLocation` (`--use-volume-snapshots`, default true).
    pub use_volume_snapshots: bool,
    /// Skip the `default` `BackupStorageLocation` (`--no-default-backup-location`).
    pub no_default_backup_location: bool,
    /// Create the node-agent `DaemonSet` (`--use-node-agent`).
    pub use_node_agent: bool,
    /// Run node-agent privileged (`--privileged-node-agent`).
    pub privileged_node_agent: bool,
    /// Kubelet root directory for node-agent's host paths (`--kubelet-root-dir`).
    pub kubelet_root_dir: String,
    /// Do not mount the kubelet host paths into node-agent (`--node-agent-disable-host-path`).
    pub node_agent_disable_host_path: bool,
    /// `--default-volumes-to-fs-backup` (requires node-agent).
    pub default_volumes_to_fs_backup: bool,
    /// `--default-snapshot-move-data`.
    pub default_snapshot_move_data: bool,
    /// `--disable-informer-cache`.
    pub disable_informer_cache: bool,
    /// `--schedule-skip-immediately`.
    pub schedule_skip_immediately: bool,
    /// `--restore-only`.
    pub restore_only: bool,
    /// Feature flags (`--features`, comma-separated; empty is Velero's `--features=`).
    pub features: String,
    /// Uploader (`--uploader-type`); Velero v1.18 accepts only `kopia`.
    pub uploader_type: String,
    /// Server pod resources (`--velero-pod-*`).
    pub velero_resources: PodResources,
    /// node-agent pod resources (`--node-agent-pod-*`).
    pub node_agent_resources: PodResources,
    /// Use this existing `ServiceAccount`; no `ServiceAccount` or `ClusterRoleBinding` is created
    /// (`--service-account-name`).
    pub service_account_name: Option<String>,
    /// Annotations of the created `ServiceAccount` (`--sa-annotations`).
    pub service_account_annotations: BTreeMap<String, String>,
    /// Extra pod annotations (`--pod-annotations`).
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra pod labels (`--pod-labels`).
    pub pod_labels: BTreeMap<String, String>,
    /// `--garbage-collection-frequency`.
    pub garbage_collection_frequency: Option<Duration>,
    /// `--default-repo-maintain-frequency`.
    pub default_repo_maintain_frequency: Option<Duration>,
    /// `--pod-volume-operation-timeout` (server flag `--fs-backup-timeout`).
    pub pod_volume_operation_timeout: Option<Duration>,
    /// `--keep-latest-maintenance-jobs`.
    pub keep_latest_maintenance_jobs: Option<u32>,
    /// `--maintenance-job-{cpu,mem}-{request,limit}` (passed through as given).
    pub maintenance_job_resources: MaintenanceJobResources,
    /// `--backup-repository-configmap`.
    pub backup_repository_configmap: Option<String>,
    /// `--repo-maintenance-job-configmap`.
    pub repo_maintenance_job_configmap: Option<String>,
    /// `--node-agent-configmap`.
    pub node_agent_configmap: Option<String>,
    /// `--item-block-worker-count`.
    pub item_block_worker_count: Option<u32>,
    /// `--concurrent-backups`.
    pub concurrent_backups: Option<u32>,
    /// `--server-priority-class-name`.
    pub server_priority_class_name: Option<String>,
    /// `--node-agent-priority-class-name`.
    pub node_agent_priority_class_name: Option<String>,
}

/// Maintenance job resources, passed to the server as flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceJobResources {
    /// `--maintenance-job-cpu-request`.
    pub cpu_request: Option<String>,
    /// `--maintenance-job-mem-request`.
    pub mem_request: Option<String>,
    /// `--maintenance-job-cpu-limit`.
    pub cpu_limit: Option<String>,
    /// `--maintenance-job-mem-limit`.
    pub mem_limit: Option<String>,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            namespace: DEFAULT_NAMESPACE.into(),
            image: DEFAULT_VELERO_IMAGE.into(),
            provider: "aws".into(),
            bucket: String::new(),
            prefix: String::new(),
            backup_location_config: BTreeMap::new(),
            snapshot_location_config: BTreeMap::new(),
            ca_cert: None,
            secret: None,
            plugins: vec![DEFAULT_AWS_PLUGIN_IMAGE.into()],
            use_volume_snapshots: true,
            no_default_backup_location: false,
            use_node_agent: false,
            privileged_node_agent: false,
            kubelet_root_dir: DEFAULT_KUBELET_ROOT_DIR.into(),
            node_agent_disable_host_path: false,
            default_volumes_to_fs_backup: false,
            default_snapshot_move_data: false,
            disable_informer_cache: false,
            schedule_skip_immediately: false,
            restore_only: false,
            features: String::new(),
            uploader_type: "kopia".into(),
            velero_resources: PodResources::velero_defaults(),
            node_agent_resources: PodResources::unbounded(),
            service_account_name: None,
            service_account_annotations: BTreeMap::new(),
            pod_annotations: BTreeMap::new(),
            pod_labels: BTreeMap::new(),
            garbage_collection_frequency: None,
            default_repo_maintain_frequency: None,
            pod_volume_operation_timeout: None,
            keep_latest_maintenance_jobs: None,
            maintenance_job_resources: MaintenanceJobResources::default(),
            backup_repository_configmap: None,
            repo_maintenance_job_configmap: None,
            node_agent_configmap: None,
            item_block_worker_count: None,
            concurrent_backups: None,
            server_priority_class_name: None,
            node_agent_priority_class_name: None,
        }
    }
}

fn invalid(msg: impl Into<String>) -> VeleroError {
    VeleroError::InvalidOptions(msg.into())
}

/// Whether `name` is a DNS-1123 label (namespace and object names).
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl InstallOptions {
    /// Velero's install validation (`pkg/cmd/cli/install/install.go`), plus the checks skiff
    /// needs: only the AWS / S3-compatible provider, a valid namespace, parseable resources.
    pub fn validate(&self) -> Result<()> {
        if !is_dns_label(&self.namespace) {
            return Err(invalid(format!(
                "namespace {:?} is not a valid namespace name",
                self.namespace
            )));
        }
        if self.image.trim().is_empty() {
            return Err(invalid("--image must not be empty"));
        }
        if self.uploader_type.trim() != "kopia" {
            return Err(invalid(format!(
                "invalid uploader type {:?}, valid type: \"kopia\"",
                self.uploader_type
            )));
        }
        let wants_provider = !self.no_default_backup_location || self.use_volume_snapshots;
        if wants_provider && !matches!(self.provider.as_str(), "aws" | "velero.io/aws") {
            return Err(invalid(format!(
                "provider {:?} is not supported: skiff installs Velero for the AWS / S3-compatible provider only (aws or velero.io/aws)",
                self.provider
            )));
        }
        if self.bucket.starts_with('-') {
            return Err(invalid(format!(
                "bucket names cannot begin with a dash; bucket name was {:?}",
                self.bucket
            )));
        }
        if self.bucket.contains('/') {
            return Err(invalid(format!(
                "bucket {:?} must not contain '/' (put the path in --prefix)",
                self.bucket
            )));
        }
        if self.no_default_backup_location {
            if !self.bucket.is_empty() {
                return Err(invalid(
                    "cannot use both --bucket and --no-default-backup-location",
                ));
            }
            if !self.prefix.is_empty() {
                return Err(invalid(
                    "cannot use both --prefix and --no-default-backup-location",
                ));
            }
            if !self.backup_location_config.is_empty() {
                return Err(invalid(
                    "cannot use both --backup-location-config and --no-default-backup-location",
                ));
            }
        } else if self.bucket.is_empty() {
            return Err(invalid("--bucket is required"));
        }
        if !self.use_volume_snapshots && !self.snapshot_location_config.is_empty() {
            return Err(invalid(
                "--snapshot-location-config must be empty when --use-volume-snapshots=false",
            ));
        }
        if wants_provider && self.plugins.is_empty() {
            return Err(invalid("--plugins is required"));
        }
        if self.plugins.iter().any(|p| p.trim().is_empty()) {
            return Err(invalid("--plugins has an empty image"));
        }
        if self.default_volumes_to_fs_backup && !self.use_node_agent {
            return Err(invalid(
                "--use-node-agent is required when using --default-volumes-to-fs-backup",
            ));
        }
        if let Some(sa) = &self.service_account_name
            && (sa.is_empty() || sa.contains('/'))
        {
            return Err(invalid(format!(
                "--service-account-name {sa:?} is not a valid name"
            )));
        }
        self.velero_resources.to_json("Velero pod")?;
        self.node_agent_resources.to_json("node-agent pod")?;
        Ok(())
    }

    fn meta(&self, name: &str, namespaced: bool) -> Value {
        let mut m = json!({"creationTimestamp": null, "labels": {"component": "velero"}, "name": name});
        if namespaced {
            m["namespace"] = self.namespace.clone().into();
        }
        m
    }

    /// `velero` in the default namespace, else `velero-<namespace>`.
    pub fn cluster_role_binding_name(&self) -> String {
        if self.namespace == DEFAULT_NAMESPACE {
            "velero".into()
        } else {
            format!("velero-{}", self.namespace)
        }
    }

    fn service_account(&self) -> &str {
        self.service_account_name.as_deref().unwrap_or("velero")
    }

    /// Velero's pull policy: `IfNotPresent` for `name:tag` with a tag other than `latest`,
    /// `Always` otherwise (a registry port or a digest make it `Always`, as in Velero).
    pub fn pull_policy(&self) -> &'static str {
        let parts: Vec<&str> = self.image.split(':').collect();
        if parts.len() == 2 && parts[1] != "latest" {
            "IfNotPresent"
        } else {
            "Always"
        }
    }

    fn features_list(&self) -> Vec<String> {
        // Velero splits the flag on ',' — an empty flag gives one empty feature.
        self.features.split(',').map(str::to_owned).collect()
    }

    fn namespace_object(&self) -> Value {
        let mut meta = self.meta(&self.namespace, false);
        for mode in ["enforce", "audit", "warn"] {
            meta["labels"][format!("pod-security.kubernetes.io/{mode}")] = "privileged".into();
            meta["labels"][format!("pod-security.kubernetes.io/{mode}-version")] = "latest".into();
        }
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta, "spec": {}})
    }

    fn cluster_role_binding(&self) -> Value {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": self.meta(&self.cluster_role_binding_name(), false),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "velero", "namespace": self.namespace}],
        })
    }

    fn service_account_object(&self) -> Value {
        let mut meta = self.meta("velero", true);
        if !self.service_account_annotations.is_empty() {
            meta["annotations"] = json!(self.service_account_annotations);
        }
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
    }

    fn secret_object(&self, data: &SecretData) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": self.meta(CREDENTIALS_SECRET, true),
            "data": {"cloud": base64::engine::general_purpose::STANDARD.encode(data.expose())},
            "type": "Opaque",
        })
    }

    fn backup_storage_location(&self) -> Value {
        let mut os = json!({"bucket": self.bucket});
        if !self.prefix.is_empty() {
            os["prefix"] = self.prefix.clone().into();
        }
        if let Some(ca) = &self.ca_cert
            && !ca.is_empty()
        {
            os["caCert"] = base64::engine::general_purpose::STANDARD.encode(ca).into();
        }
        let mut spec = json!({"provider": self.provider, "objectStorage": os, "default": true});
        if !self.backup_location_config.is_empty() {
            spec["config"] = json!(self.backup_location_config);
        }
        json!({
            "apiVersion": "velero.io/v1",
            "kind": "BackupStorageLocation",
            "metadata": self.meta("default", true),
            "spec": spec,
        })
    }

    fn volume_snapshot_location(&self) -> Value {
        let mut spec = json!({"provider": self.provider});
        if !self.snapshot_location_config.is_empty() {
            spec["config"] = json!(self.snapshot_location_config);
        }
        json!({
            "apiVersion": "velero.io/v1",
            "kind": "VolumeSnapshotLocation",
            "metadata": self.meta("default", true),
            "spec": spec,
        })
    }

    fn server_args(&self) -> Vec<String> {
        let mut args = vec!["server".to_owned()];
        let features = self.features_list();
        if !features.is_empty() {
            args.push(format!("--features={}", features.join(",")));
        }
        let flag = |on: bool, f: &str, args: &mut Vec<String>| {
            if on {
                args.push(f.to_owned());
            }
        };
        flag(
            self.default_volumes_to_fs_backup,
            "--default-volumes-to-fs-backup=true",
            &mut args,
        );
        flag(
            self.default_snapshot_move_data,
            "--default-snapshot-move-data=true",
            &mut args,
        );
        flag(
            self.disable_informer_cache,
            "--disable-informer-cache=true",
            &mut args,
        );
        flag(
            self.schedule_skip_immediately,
            "--schedule-skip-immediately=true",
            &mut args,
        );
        if !self.uploader_type.is_empty() {
            args.push(format!("--uploader-type={}", self.uploader_type));
        }
        flag(self.restore_only, "--restore-only", &mut args);
        let dur = |d: Option<Duration>, f: &str, args: &mut Vec<String>| {
            if let Some(d) = d.filter(|d| !d.is_zero()) {
                args.push(format!("{f}={}", go_duration(d.as_secs())));
            }
        };
        dur(
            self.default_repo_maintain_frequency,
            "--default-repo-maintain-frequency",
            &mut args,
        );
        dur(
            self.garbage_collection_frequency,
            "--garbage-collection-frequency",
            &mut args,
        );
        dur(
            self.pod_volume_operation_timeout,
            "--fs-backup-timeout",
            &mut args,
        );
        if let Some(n) = self.keep_latest_maintenance_jobs.filter(|n| *n > 0) {
            args.push(format!("--keep-latest-maintenance-jobs={n}"));
        }
        let m = &self.maintenance_job_resources;
        for (v, f) in [
            (&m.cpu_limit, "--maintenance-job-cpu-limit"),
            (&m.cpu_request, "--maintenance-job-cpu-request"),
            (&m.mem_limit, "--maintenance-job-mem-limit"),
            (&m.mem_request, "--maintenance-job-mem-request"),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                args.push(format!("{f}={v}"));
            }
        }
        if let Some(c) = self
            .backup_repository_configmap
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            args.push(format!("--backup-repository-configmap={c}"));
        }
        if let Some(c) = self
            .repo_maintenance_job_configmap
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            args.push(format!("--repo-maintenance-job-configmap={c}"));
        }
        if let Some(n) = self.item_block_worker_count.filter(|n| *n > 0) {
            args.push(format!("--item-block-worker-count={n}"));
        }
        if let Some(n) = self.concurrent_backups.filter(|n| *n > 0) {
            args.push(format!("--concurrent-backups={n}"));
        }
        args
    }

    /// The credentials volume, mount and environment variables (when a Secret is installed).
    fn credential_parts(&self) -> Option<(Value, Value, Vec<Value>)> {
        self.secret.as_ref()?;
        let volume = json!({"name": CREDENTIALS_SECRET, "secret": {"defaultMode": 292, "secretName": CREDENTIALS_SECRET}});
        let mount = json!({"mountPath": "/credentials", "name": CREDENTIALS_SECRET});
        let env = [
            "GOOGLE_APPLICATION_CREDENTIALS",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AZURE_CREDENTIALS_FILE",
            "ALIBABA_CLOUD_CREDENTIALS_FILE",
        ]
        .iter()
        .map(|n| json!({"name": n, "value": "/credentials/cloud"}))
        .collect();
        Some((volume, mount, env))
    }

    fn node_affinity(operator: &str) -> Value {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/os", "operator": operator, "values": ["windows"]}]}
        ]}}})
    }

    fn deployment(&self) -> Result<Value> {
        let mut labels: BTreeMap<String, String> = BTreeMap::from([("component".into(), "velero".into())]);
        labels.extend(self.pod_labels.clone());
        labels.insert("deploy".into(), "velero".into());
        let mut annotations: BTreeMap<String, String> = BTreeMap::from([
            ("prometheus.io/path".into(), "/metrics".into()),
            ("prometheus.io/port".into(), "8085".into()),
            ("prometheus.io/scrape".into(), "true".into()),
        ]);
        annotations.extend(self.pod_annotations.clone());
        let policy = self.pull_policy();
        let mut env = vec![
            json!({"name": "VELERO_SCRATCH_DIR", "value": "/scratch"}),
            json!({"name": "VELERO_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
            json!({"name": "LD_LIBRARY_PATH", "value": "/plugins"}),
        ];
        let mut mounts = vec![
            json!({"mountPath": "/plugins", "name": "plugins"}),
            json!({"mountPath": "/scratch", "name": "scratch"}),
        ];
        let mut volumes = vec![
            json!({"emptyDir": {}, "name": "plugins"}),
            json!({"emptyDir": {}, "name": "scratch"}),
        ];
        if let Some((volume, mount, cred_env)) = self.credential_parts() {
            volumes.push(volume);
            mounts.push(mount);
            env.extend(cred_env);
        }
        let container = json!({
            "args": self.server_args(),
            "command": ["/velero"],
            "env": env,
            "image": self.image,
            "imagePullPolicy": policy,
            "name": "velero",
            "ports": [{"containerPort": 8085, "name": "metrics"}],
            "resources": self.velero_resources.to_json("Velero pod")?,
            "volumeMounts": mounts,
        });
        let mut pod_spec = json!({
            "affinity": Self::node_affinity("NotIn"),
            "containers": [container],
            "os": {"name": "linux"},
            "restartPolicy": "Always",
            "serviceAccountName": self.service_account(),
            "volumes": volumes,
        });
        if !self.plugins.is_empty() {
            let inits: Vec<Value> = self
                .plugins
                .iter()
                .map(|image| {
                    json!({
                        "image": image,
                        "imagePullPolicy": policy,
                        "name": plugin_container_name(image),
                        "resources": {},
                        "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
                    })
                })
                .collect();
            pod_spec["initContainers"] = inits.into();
        }
        if let Some(p) = self
            .server_priority_class_name
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            pod_spec["priorityClassName"] = p.into();
        }
        Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.meta("velero", true),
            "spec": {
                "selector": {"matchLabels": {"deploy": "velero"}},
                "strategy": {},
                "template": {
                    "metadata": {"annotations": annotations, "creationTimestamp": null, "labels": labels},
                    "spec": pod_spec,
                },
            },
        }))
    }

    fn node_agent(&self) -> Result<Value> {
        let name = "node-agent";
        let mut labels: BTreeMap<String, String> = BTreeMap::from([("component".into(), "velero".into())]);
        labels.extend(self.pod_labels.clone());
        labels.insert("name".into(), name.into());
        labels.insert("role".into(), "node-agent".into());
        let mut args = vec!["node-agent".to_owned(), "server".to_owned()];
        let features = self.features_list();
        if !features.is_empty() {
            args.push(format!("--features={}", features.join(",")));
        }
        if let Some(c) = self.node_agent_configmap.as_deref().filter(|c| !c.is_empty()) {
            args.push(format!("--node-agent-configmap={c}"));
        }
        if let Some(c) = self
            .backup_repository_configmap
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            args.push(format!("--backup-repository-configmap={c}"));
        }
        let root = self.kubelet_root_dir.trim_end_matches('/');
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        if !self.node_agent_disable_host_path {
            volumes.push(json!({"hostPath": {"path": format!("{root}/pods")}, "name": "host-pods"}));
            volumes.push(json!({"hostPath": {"path": format!("{root}/plugins")}, "name": "host-plugins"}));
            mounts.push(json!({"mountPath": "/host_pods", "mountPropagation": "HostToContainer", "name": "host-pods"}));
            mounts.push(json!({"mountPath": "/var/lib/kubelet/plugins", "mountPropagation": "HostToContainer", "name": "host-plugins"}));
        }
        volumes.push(json!({"emptyDir": {}, "name": "scratch"}));
        mounts.push(json!({"mountPath": "/scratch", "name": "scratch"}));
        let mut env = vec![
            json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
            json!({"name": "VELERO_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
            json!({"name": "VELERO_SCRATCH_DIR", "value": "/scratch"}),
        ];
        if let Some((volume, mount, cred_env)) = self.credential_parts() {
            volumes.push(volume);
            mounts.push(mount);
            env.extend(cred_env);
        }
        let container = json!({
            "args": args,
            "command": ["/velero"],
            "env": env,
            "image": self.image,
            "imagePullPolicy": self.pull_policy(),
            "name": name,
            "ports": [{"containerPort": 8085, "name": "metrics"}],
            "resources": self.node_agent_resources.to_json("node-agent pod")?,
            "securityContext": {"privileged": self.privileged_node_agent},
            "volumeMounts": mounts,
        });
        let mut pod_spec = json!({
            "affinity": Self::node_affinity("NotIn"),
            "containers": [container],
            "securityContext": {"runAsUser": 0},
            "serviceAccountName": self.service_account(),
            "volumes": volumes,
        });
        if let Some(p) = self
            .node_agent_priority_class_name
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            pod_spec["priorityClassName"] = p.into();
        }
        let mut template_meta = json!({"creationTimestamp": null, "labels": labels});
        if !self.pod_annotations.is_empty() {
            template_meta["annotations"] = json!(self.pod_annotations);
        }
        Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": self.meta(name, true),
            "spec": {
                "selector": {"matchLabels": {"name": name}},
                "template": {"metadata": template_meta, "spec": pod_spec},
                "updateStrategy": {},
            },
        }))
    }

    /// The images an install pulls (server, then plugins), for mirroring into a private registry.
    pub fn images(&self) -> Vec<String> {
        let mut out = vec![self.image.clone()];
        for p in &self.plugins {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// Every object of the install, in Velero's order (validates the options first).
pub fn build(options: &InstallOptions) -> Result<Vec<Value>> {
    options.validate()?;
    let mut out = crds();
    out.push(options.namespace_object());
    if options.service_account_name.is_none() {
        out.push(options.cluster_role_binding());
        out.push(options.service_account_object());
    }
    if let Some(secret) = &options.secret {
        out.push(options.secret_object(secret));
    }
    if !options.no_default_backup_location {
        out.push(options.backup_storage_location());
    }
    if options.use_volume_snapshots {
        out.push(options.volume_snapshot_location());
    }
    out.push(options.deployment()?);
    if options.use_node_agent {
        out.push(options.node_agent()?);
    }
    Ok(out)
}

/// The 13 CRDs as `velero install --crds-only` lists them (`creationTimestamp: null`).
pub fn crds() -> Vec<Value> {
    skiff_format::velero::all_crds()
        .into_iter()
        .map(|mut c| {
            c["metadata"]["creationTimestamp"] = Value::Null;
            c
        })
        .collect()
}

/// The images of an install (see [`InstallOptions::images`]).
pub fn images(options: &InstallOptions) -> Vec<String> {
    options.images()
}

/// Velero's init-container name for a plugin image (`pkg/builder/container_builder.go`): the
/// reference without tag or digest, without the registry when it has two or more `/`, with
/// `/`, `_` and `.` replaced by `-`, shortened to 63 characters.
pub fn plugin_container_name(image: &str) -> String {
    let slash = image.find('/');
    let start = match slash {
        Some(0) => 1,
        Some(i) if image[i..].matches('/').count() > 1 => i + 1,
        _ => 0,
    };
    let end = match image.rfind('@') {
        Some(at) if at > 0 => at,
        _ => match image.rfind(':') {
            Some(colon) if colon > 0 => colon,
            _ => image.len(),
        },
    };
    let base = if start <= end { &image[start..end] } else { "" };
    let name: String = base
        .chars()
        .map(|c| if matches!(c, '/' | '_' | '.') { '-' } else { c })
        .collect();
    shorten_label_value(&name)
}

/// Output format of [`render_list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `-o yaml`.
    Yaml,
    /// `-o json`.
    Json,
}

/// The objects as `velero install --dry-run -o yaml|json` prints them: one `v1/List` document
/// (or the object alone when there is only one), keys sorted, followed by the newline(s) Go's
/// `fmt.Println` adds.
pub fn render_list(objects: &[Value], format: ListFormat) -> Result<String> {
    let doc = if objects.len() == 1 {
        objects[0].clone()
    } else {
        json!({"apiVersion": "v1", "items": objects, "kind": "List"})
    };
    match format {
        ListFormat::Json => {
            let bytes = skiff_format::gojson::to_vec_pretty(&skiff_format::gojson::Sorted(&doc))
                .map_err(|e| VeleroError::Render(e.to_string()))?;
            let mut s = String::from_utf8(bytes).map_err(|e| VeleroError::Render(e.to_string()))?;
            s.push('\n');
            Ok(s)
        }
        ListFormat::Yaml => {
            let mut s = serde_yaml_ng::to_string(&skiff_format::gojson::Sorted(&doc))
                .map_err(|e| VeleroError::Render(e.to_string()))?;
            s.push('\n');
            Ok(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> InstallOptions {
        InstallOptions {
            bucket: "skiff-backups".into(),
            prefix: "cluster-a".into(),
            backup_location_config: BTreeMap::from([
                ("region".into(), "us-east-1".into()),
                ("s3ForcePathStyle".into(), "true".into()),
                ("s3Url".into(), "http://minio.minio.svc:9000".into()),
            ]),
            secret: Some(SecretData::aws_credentials(
                "AKIAEXAMPLE",
                "wJalrEXAMPLEKEY",
                None,
            )),
            use_volume_snapshots: false,
            ..InstallOptions::default()
        }
    }

    fn kinds(objs: &[Value]) -> Vec<String> {
        objs.iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn order_names_and_labels() {
        let mut o = opts();
        o.use_volume_snapshots = true;
        o.use_node_agent = true;
        let objs = build(&o).unwrap();
        let k = kinds(&objs);
        assert_eq!(k.len(), 13 + 8);
        assert!(k[..13].iter().all(|x| x.starts_with("CustomResourceDefinition/")));
        assert_eq!(k[0], "CustomResourceDefinition/backuprepositories.velero.io");
        assert_eq!(k[12], "CustomResourceDefinition/datauploads.velero.io");
        assert_eq!(
            &k[13..],
            [
                "Namespace/velero",
                "ClusterRoleBinding/velero",
                "ServiceAccount/velero",
                "Secret/cloud-credentials",
                "BackupStorageLocation/default",
                "VolumeSnapshotLocation/default",
                "Deployment/velero",
                "DaemonSet/node-agent",
            ]
        );
        for obj in &objs {
            assert_eq!(obj["metadata"]["labels"]["component"], "velero", "{obj}");
            assert!(obj["metadata"]["creationTimestamp"].is_null());
            assert!(obj.get("status").is_none());
        }
        // Namespaced objects carry the namespace; cluster-scoped ones do not.
        for obj in &objs[14..] {
            let ns = obj["metadata"].get("namespace");
            if obj["kind"] == "ClusterRoleBinding" {
                assert!(ns.is_none());
            } else {
                assert_eq!(ns.unwrap(), "velero");
            }
        }
    }

    #[test]
    fn spec_example_bsl_and_secret() {
        let objs = build(&opts()).unwrap();
        let bsl = objs
            .iter()
            .find(|o| o["kind"] == "BackupStorageLocation")
            .unwrap();
        assert_eq!(
            bsl["spec"],
            json!({
                "provider": "aws",
                "objectStorage": {"bucket": "skiff-backups", "prefix": "cluster-a"},
                "config": {"region": "us-east-1", "s3ForcePathStyle": "true", "s3Url": "http://minio.minio.svc:9000"},
                "default": true,
            })
        );
        assert!(!objs.iter().any(|o| o["kind"] == "VolumeSnapshotLocation"));
        let secret = objs.iter().find(|o| o["kind"] == "Secret").unwrap();
        assert_eq!(secret["type"], "Opaque");
        let cloud = base64::engine::general_purpose::STANDARD
            .decode(secret["data"]["cloud"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            cloud,
            b"[default]\naws_access_key_id=AKIAEXAMPLE\naws_secret_access_key=wJalrEXAMPLEKEY\n"
        );
        // The secret never shows in Debug output.
        assert!(!format!("{:?}", opts()).contains("wJalrEXAMPLEKEY"));
    }

    #[test]
    fn deployment_as_velero_builds_it() {
        let objs = build(&opts()).unwrap();
        let d = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
        let spec = &d["spec"];
        assert_eq!(spec["selector"], json!({"matchLabels": {"deploy": "velero"}}));
        assert_eq!(spec["strategy"], json!({}));
        assert!(spec.get("replicas").is_none());
        let t = &spec["template"];
        assert_eq!(
            t["metadata"]["labels"],
            json!({"component": "velero", "deploy": "velero"})
        );
        assert_eq!(
            t["metadata"]["annotations"],
            json!({"prometheus.io/path": "/metrics", "prometheus.io/port": "8085", "prometheus.io/scrape": "true"})
        );
        let c = &t["spec"]["containers"][0];
        assert_eq!(
            c["args"],
            json!(["server", "--features=", "--uploader-type=kopia"])
        );
        assert_eq!(c["image"], DEFAULT_VELERO_IMAGE);
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            c["resources"],
            json!({"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "500m", "memory": "128Mi"}})
        );
        let env: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            env,
            [
                "VELERO_SCRATCH_DIR",
                "VELERO_NAMESPACE",
                "LD_LIBRARY_PATH",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "AWS_SHARED_CREDENTIALS_FILE",
                "AZURE_CREDENTIALS_FILE",
                "ALIBABA_CLOUD_CREDENTIALS_FILE"
            ]
        );
        let init = &t["spec"]["initContainers"][0];
        assert_eq!(init["name"], "velero-velero-plugin-for-aws");
        assert_eq!(init["image"], DEFAULT_AWS_PLUGIN_IMAGE);
        assert_eq!(
            init["volumeMounts"],
            json!([{"mountPath": "/target", "name": "plugins"}])
        );
        assert_eq!(
            t["spec"]["volumes"][2],
            json!({"name": "cloud-credentials", "secret": {"defaultMode": 292, "secretName": "cloud-credentials"}})
        );
        assert_eq!(t["spec"]["serviceAccountName"], "velero");
        assert_eq!(t["spec"]["os"], json!({"name": "linux"}));
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn options_change_the_objects() {
        let mut o = opts();
        o.secret = None;
        o.service_account_name = Some("mine".into());
        o.namespace = "backup".into();
        o.use_node_agent = true;
        o.default_volumes_to_fs_backup = true;
        o.pod_labels = BTreeMap::from([("team".into(), "a".into()), ("deploy".into(), "x".into())]);
        o.pod_annotations = BTreeMap::from([("prometheus.io/port".into(), "9000".into())]);
        o.node_agent_resources.cpu_request = "100m".into();
        o.features = "EnableCSI".into();
        o.image = "registry.local:5000/velero/velero:v1.18.1".into();
        let objs = build(&o).unwrap();
        let k = kinds(&objs);
        assert_eq!(
            &k[13..],
            [
                "Namespace/backup",
                "BackupStorageLocation/default",
                "Deployment/velero",
                "DaemonSet/node-agent"
            ]
        );
        let d = &objs[15];
        let t = &d["spec"]["template"];
        assert_eq!(t["spec"]["serviceAccountName"], "mine");
        assert_eq!(t["metadata"]["labels"]["deploy"], "velero", "deploy label wins");
        assert_eq!(t["metadata"]["labels"]["team"], "a");
        assert_eq!(t["metadata"]["annotations"]["prometheus.io/port"], "9000");
        assert_eq!(t["spec"]["volumes"].as_array().unwrap().len(), 2);
        assert_eq!(
            t["spec"]["containers"][0]["args"],
            json!([
                "server",
                "--features=EnableCSI",
                "--default-volumes-to-fs-backup=true",
                "--uploader-type=kopia"
            ])
        );
        assert_eq!(
            t["spec"]["containers"][0]["imagePullPolicy"], "Always",
            "registry port"
        );
        let ds = &objs[16];
        assert_eq!(
            ds["spec"]["selector"],
            json!({"matchLabels": {"name": "node-agent"}})
        );
        let dt = &ds["spec"]["template"];
        assert_eq!(
            dt["metadata"]["labels"],
            json!({"component": "velero", "deploy": "x", "name": "node-agent", "role": "node-agent", "team": "a"})
        );
        assert_eq!(
            dt["metadata"]["annotations"],
            json!({"prometheus.io/port": "9000"})
        );
        let c = &dt["spec"]["containers"][0];
        assert_eq!(c["args"], json!(["node-agent", "server", "--features=EnableCSI"]));
        assert_eq!(c["resources"], json!({"requests": {"cpu": "100m"}}));
        assert_eq!(c["securityContext"], json!({"privileged": false}));
        assert_eq!(dt["spec"]["securityContext"], json!({"runAsUser": 0}));
        assert_eq!(
            dt["spec"]["volumes"][0],
            json!({"hostPath": {"path": "/var/lib/kubelet/pods"}, "name": "host-pods"})
        );
        assert_eq!(ds["spec"]["updateStrategy"], json!({}));
        let ns = &objs[13];
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/warn-version"],
            "latest"
        );
        assert_eq!(ns["spec"], json!({}));
        let mut o2 = opts();
        o2.namespace = "backup".into();
        let objs = build(&o2).unwrap();
        assert_eq!(objs[14]["metadata"]["name"], "velero-backup");
        assert_eq!(objs[14]["subjects"][0]["namespace"], "backup");
    }

    #[test]
    fn bad_options_are_refused() {
        type Case = (Box<dyn Fn(&mut InstallOptions)>, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|o| o.provider = "gcp".into()), "not supported"),
            (Box::new(|o| o.bucket = String::new()), "--bucket is required"),
            (Box::new(|o| o.bucket = "-x".into()), "dash"),
            (Box::new(|o| o.bucket = "a/b".into()), "must not contain '/'"),
            (
                Box::new(|o| o.default_volumes_to_fs_backup = true),
                "--use-node-agent",
            ),
            (
                Box::new(|o| o.snapshot_location_config = BTreeMap::from([("region".into(), "x".into())])),
                "--snapshot-location-config",
            ),
            (Box::new(|o| o.uploader_type = "restic".into()), "uploader type"),
            (
                Box::new(|o| o.velero_resources.cpu_request = "2".into()),
                "less than or equal",
            ),
            (
                Box::new(|o| o.velero_resources.mem_limit = "lots".into()),
                "memory limit",
            ),
            (Box::new(|o| o.namespace = "Bad_NS".into()), "namespace"),
            (Box::new(|o| o.plugins.clear()), "--plugins"),
            (
                Box::new(|o| {
                    o.no_default_backup_location = true;
                }),
                "--bucket and --no-default-backup-location",
            ),
        ];
        for (f, want) in cases {
            let mut o = opts();
            f(&mut o);
            let e = build(&o).unwrap_err().to_string();
            assert!(e.contains(want), "{e} (want {want})");
        }
    }

    #[test]
    fn plugin_names_like_velero() {
        assert_eq!(
            plugin_container_name("velero/velero-plugin-for-aws:v1.14.0"),
            "velero-velero-plugin-for-aws"
        );
        assert_eq!(
            plugin_container_name("registry.example.com/velero/velero-plugin-for-aws:v1.14.0"),
            "velero-velero-plugin-for-aws"
        );
        assert_eq!(plugin_container_name("my_plugin.io"), "my-plugin-io");
        assert_eq!(
            plugin_container_name("velero/plugin@sha256:0123abcd"),
            "velero-plugin"
        );
        let long = format!("velero/{}:v1", "p".repeat(80));
        assert_eq!(plugin_container_name(&long).len(), 63);
    }

    #[test]
    fn list_rendering() {
        let objs = build(&opts()).unwrap();
        let json_text = render_list(&objs, ListFormat::Json).unwrap();
        assert!(json_text.starts_with("{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n"));
        assert!(json_text.ends_with("\n  ],\n  \"kind\": \"List\"\n}\n"));
        let back: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(back["items"].as_array().unwrap(), &objs);
        let yaml = render_list(&objs, ListFormat::Yaml).unwrap();
        assert!(yaml.starts_with("apiVersion: v1\nitems:\n- apiVersion: apiextensions.k8s.io/v1\n"));
        assert_eq!(yaml.matches("\n---").count(), 0, "one document");
        let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back["kind"], "List");
        assert_eq!(back["items"].as_array().unwrap(), &objs);
        // One object alone is printed without the List.
        let one = render_list(&objs[13..14], ListFormat::Json).unwrap();
        let v: Value = serde_json::from_str(&one).unwrap();
        assert_eq!(v["kind"], "Namespace");
    }

    #[test]
    fn images_for_mirroring() {
        let mut o = opts();
        o.plugins.push(DEFAULT_AWS_PLUGIN_IMAGE.into());
        assert_eq!(images(&o), [DEFAULT_VELERO_IMAGE, DEFAULT_AWS_PLUGIN_IMAGE]);
    }
}
