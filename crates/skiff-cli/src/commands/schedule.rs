//! `skiff schedule create`: a cron job that runs `skiff backup` inside the cluster on a cron
//! schedule, with a least-privilege identity (a service account bound to a read-only cluster role)
//! and the location's credentials in a Secret. Each run names its backup `<name>-<UTC
//! timestamp>`, as Velero's schedules do (`skiff backup --timestamped`).

use super::connect;
use crate::args::{ClusterArgs, LocationArgs, Output, ScopeArgs};
use crate::exit::{CliError, code};
use crate::output;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use skiff_kube::ApiResourceInfo;

/// Field manager of what `skiff schedule` applies.
const FIELD_MANAGER: &str = "skiff-schedule";
/// Where the credentials Secret is mounted in the backup pod.
const CREDENTIALS_DIR: &str = "/credentials";

/// `skiff schedule`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Create (or update) a schedule: a cron job running `skiff backup` in the cluster.
    Create(Box<CreateArgs>),
}

/// `skiff schedule create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Schedule name: the cron job is `skiff-<name>`, each backup `<name>-<YYYYMMDDHHMMSS>`.
    pub name: String,
    /// Cron expression, e.g. `0 */6 * * *`.
    #[arg(long)]
    pub schedule: String,
    /// Namespace the cron job, its service account and Secret live in.
    #[arg(long, default_value = "skiff")]
    pub schedule_namespace: String,
    /// The skiff image the job runs (any registry: mirror it for air-gapped clusters).
    #[arg(long, default_value = "ghcr.io/skiff/skiff:latest")]
    pub image: String,
    /// Time to live of each backup.
    #[arg(long, default_value = "720h")]
    pub ttl: String,
    /// Where the backups go (the job reaches it from inside the cluster).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Which objects each backup takes.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The cluster to create the schedule in.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Print the objects (a `v1/List`) instead of creating them.
    #[arg(long)]
    pub dry_run: bool,
    /// Output of --dry-run.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Yaml)]
    pub output: Output,
}

/// Run `skiff schedule …`.
pub async fn run(cmd: ScheduleCommand) -> Result<u8, CliError> {
    match cmd {
        ScheduleCommand::Create(a) => create(&a).await,
    }
}

async fn create(a: &CreateArgs) -> Result<u8, CliError> {
    skiff_store::layout::validate_backup_name(&a.name)?;
    skiff_engine::Scope::try_from(&a.scope)?;
    if a.schedule.split_whitespace().count() != 5 && !a.schedule.starts_with('@') {
        return Err(CliError::usage(format!(
            "--schedule {:?}: expected a cron expression of five fields (e.g. \"0 */6 * * *\") or @daily/@hourly",
            a.schedule
        )));
    }
    let Some(location) = &a.location.location else {
        return Err(CliError::usage(
            "no backup location: pass --location s3://bucket/prefix",
        ));
    };
    if !location.starts_with("s3://") {
        return Err(CliError::usage(format!(
            "--location {location:?}: a scheduled backup runs in the cluster and needs an s3:// location"
        )));
    }
    let credentials = match &a.location.credentials_file {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| CliError::usage(format!("read --credentials-file {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let cluster = connect(&a.cluster).await?;
    // Every served version: on 1.20 CronJobs are only in batch/v1beta1, not the preferred v1.
    let surface = cluster.discover(true).await?;
    let cronjob_version = if surface.versions_of("cronjobs.batch").any(|r| r.version == "v1") {
        "batch/v1"
    } else {
        "batch/v1beta1"
    };
    let objects = build(a, location, credentials.as_deref(), cronjob_version);
    if a.dry_run {
        output::data(
            &json!({"apiVersion": "v1", "kind": "List", "items": objects}),
            a.output,
        )?;
        return Ok(code::OK);
    }
    for obj in &objects {
        let res = resource_of(obj, cronjob_version);
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        cluster
            .apply(&res, ns, name, obj, FIELD_MANAGER, true, false)
            .await?;
        eprintln!("applied {}/{name}", obj["kind"].as_str().unwrap_or_default());
    }
    Ok(code::OK)
}

fn resource_of(obj: &Value, cronjob_version: &str) -> ApiResourceInfo {
    let (group, version) = cronjob_version.split_once('/').unwrap_or(("batch", "v1"));
    match obj["kind"].as_str().unwrap_or_default() {
        "Namespace" => ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false),
        "ServiceAccount" => ApiResourceInfo::known("", "v1", "serviceaccounts", "ServiceAccount", true),
        "Secret" => ApiResourceInfo::known("", "v1", "secrets", "Secret", true),
        "ClusterRole" => ApiResourceInfo::known(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
        ),
        "ClusterRoleBinding" => ApiResourceInfo::known(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        ),
        _ => ApiResourceInfo::known(group, version, "cronjobs", "CronJob", true),
    }
}

/// The objects of a schedule, in apply order.
fn build(a: &CreateArgs, location: &str, credentials: Option<&[u8]>, cronjob_version: &str) -> Vec<Value> {
    let ns = a.schedule_namespace.as_str();
    let sa = format!("skiff-{}", a.name);
    let role = format!("skiff-backup-read-{ns}-{}", a.name);
    let labels = json!({"app.kubernetes.io/name": "skiff", "skiff.io/schedule": a.name});
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": sa, "namespace": ns, "labels": labels}}),
        // Read-only: a backup lists and gets; it never writes to the cluster.
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": role, "labels": labels},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]},
            {"nonResourceURLs": ["/version", "/api", "/api/*", "/apis", "/apis/*"], "verbs": ["get"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": role, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}),
    ];
    let secret = format!("skiff-{}-credentials", a.name);
    if let Some(c) = credentials {
        use base64::Engine as _;
        out.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret, "namespace": ns, "labels": labels},
            "data": {"cloud": base64::engine::general_purpose::STANDARD.encode(c)}}));
    }
    let mut args: Vec<String> = vec![
        "backup".into(),
        a.name.clone(),
        "--timestamped".into(),
        "--no-progress".into(),
        "--location".into(),
        location.to_owned(),
        "--ttl".into(),
        a.ttl.clone(),
    ];
    let l = &a.location;
    let mut opt = |flag: &str, v: Option<String>| {
        if let Some(v) = v {
            args.push(flag.to_owned());
            args.push(v);
        }
    };
    opt("--s3-endpoint", l.s3_endpoint.clone());
    opt("--region", l.region.clone());
    opt(
        "--s3-force-path-style",
        l.s3_force_path_style.map(|b| b.to_string()),
    );
    opt("--profile", l.profile.clone());
    opt("--checksum-mode", l.checksum_mode.map(|m| m.to_string()));
    if credentials.is_some() {
        opt("--credentials-file", Some(format!("{CREDENTIALS_DIR}/cloud")));
    }
    if l.insecure_skip_tls_verify {
        args.push("--insecure-skip-tls-verify".into());
    }
    args.extend(scope_flags(&a.scope));
    let mut pod = json!({
        "serviceAccountName": sa,
        "restartPolicy": "Never",
        "containers": [{"name": "skiff", "image": a.image, "args": args,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
    });
    if credentials.is_some() {
        pod["volumes"] = json!([{"name": "credentials", "secret": {"secretName": secret}}]);
        pod["containers"][0]["volumeMounts"] =
            json!([{"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": true}]);
    }
    out.push(json!({"apiVersion": cronjob_version, "kind": "CronJob",
        "metadata": {"name": format!("skiff-{}", a.name), "namespace": ns, "labels": labels},
        "spec": {"schedule": a.schedule, "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": {"backoffLimit": 1,
                "template": {"metadata": {"labels": labels}, "spec": pod}}}}}));
    out
}

/// The filter flags of `scope`, as `skiff backup` takes them.
fn scope_flags(s: &ScopeArgs) -> Vec<String> {
    let mut out = Vec::new();
    let mut list = |flag: &str, v: &[String]| {
        if !v.is_empty() {
            out.push(format!("--{flag}={}", v.join(",")));
        }
    };
    list("include-namespaces", &s.include_namespaces);
    list("exclude-namespaces", &s.exclude_namespaces);
    list("include-resources", &s.include_resources);
    list("exclude-resources", &s.exclude_resources);
    list(
        "include-cluster-scoped-resources",
        &s.include_cluster_scoped_resources,
    );
    list(
        "exclude-cluster-scoped-resources",
        &s.exclude_cluster_scoped_resources,
    );
    list(
        "include-namespace-scoped-resources",
        &s.include_namespace_scoped_resources,
    );
    list(
        "exclude-namespace-scoped-resources",
        &s.exclude_namespace_scoped_resources,
    );
    if let Some(b) = s.include_cluster_resources {
        out.push(format!("--include-cluster-resources={b}"));
    }
    if let Some(sel) = &s.selector {
        out.push(format!("--selector={sel}"));
    }
    for o in &s.or_selector {
        out.push(format!("--or-selector={o}"));
    }
    for n in &s.include_name {
        out.push(format!("--include-name={n}"));
    }
    out
}
