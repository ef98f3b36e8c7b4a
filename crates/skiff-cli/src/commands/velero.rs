//! `skiff velero install|uninstall|status|images`: install Velero (AWS / S3-compatible provider)
//! so a team keeps its Velero workflow on the bucket skiff writes — the same objects, names and
//! labels as `velero install`, air-gap friendly (`images` lists what to mirror, `--image` and
//! `--plugins` point elsewhere).
//!
//! Flags are Velero's. Bad input (unknown provider, a missing secret file, `--secret-file` with
//! `--no-secret`, …) is refused with exit code 2 before anything is sent to the cluster.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Subcommand, ValueEnum};
use skiff_engine::velero::{
    self, ApplyOptions, InstallOptions, ListFormat, PodResources, SecretData, UninstallOptions,
};
use skiff_store::{BackupStorageLocation, Location, LocationOptions};

use super::connect;
use crate::args::{ClusterArgs, Output};
use crate::exit::{CliError, code};
use crate::output::{data as print_data, table as print_table};

/// `skiff velero …`.
#[derive(Debug, Args)]
pub struct VeleroArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: VeleroCommand,
}

/// Velero subcommands.
#[derive(Debug, Subcommand)]
pub enum VeleroCommand {
    /// Install Velero (CRDs, namespace, RBAC, credentials, storage location, server) for the AWS /
    /// S3-compatible provider, as `velero install` does.
    Install(Box<InstallArgs>),
    /// Remove what `install` created, in reverse order (CRDs only with --crds; bucket data is
    /// never touched).
    Uninstall(UninstallArgs),
    /// Show the CRDs, the server, node-agent and the backup storage locations.
    Status(StatusArgs),
    /// List the images an install pulls (to mirror them into a private registry).
    Images(ImagesArgs),
}

/// Output of `install --dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListOutput {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Where the bucket is, to fill the install from (`--from-location`).
#[derive(Debug, Args, Clone, Default)]
pub struct FromLocationArgs {
    /// Fill bucket, prefix, BSL config, CA and credentials from a skiff location:
    /// `s3://bucket/prefix` or a Velero `BackupStorageLocation` YAML file.
    #[arg(long, value_name = "LOCATION")]
    pub from_location: Option<String>,
    /// S3 endpoint URL (becomes BSL `s3Url`; path-style addressing is then assumed).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// Region (BSL `region`).
    #[arg(long)]
    pub region: Option<String>,
    /// Path-style addressing (BSL `s3ForcePathStyle`).
    #[arg(long)]
    pub s3_force_path_style: Option<bool>,
    /// Credentials file for the location; its contents become the `cloud-credentials` Secret
    /// (like --secret-file).
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Profile in the credentials file (BSL `profile`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Skip TLS verification of the object store (BSL `insecureSkipTLSVerify`).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// `skiff velero install`.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)]
pub struct InstallArgs {
    /// Velero namespace.
    #[arg(long, short = 'n', default_value = velero::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Object-store provider (skiff installs for `aws` / `velero.io/aws`, which covers S3-compatible stores).
    #[arg(long, default_value = "aws")]
    pub provider: String,
    /// Bucket where backups are stored.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Prefix inside the bucket.
    #[arg(long)]
    pub prefix: Option<String>,
    /// `BackupStorageLocation` config `k1=v1,k2=v2` (region, s3Url, s3ForcePathStyle, …).
    #[arg(long, value_name = "K=V,…")]
    pub backup_location_config: Vec<String>,
    /// `VolumeSnapshotLocation` config `k1=v1,k2=v2`.
    #[arg(long, value_name = "K=V,…")]
    pub snapshot_location_config: Vec<String>,
    /// Credentials file for the object store (becomes Secret `cloud-credentials`, key `cloud`).
    #[arg(long, conflicts_with = "no_secret")]
    pub secret_file: Option<PathBuf>,
    /// Create no credentials Secret (e.g. with IAM roles for service accounts).
    #[arg(long)]
    pub no_secret: bool,
    /// PEM bundle to verify the object store's TLS certificate (stored in the BSL).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Image of the Velero server and node-agent.
    #[arg(long, default_value = velero::DEFAULT_VELERO_IMAGE)]
    pub image: String,
    /// Plugin images (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', default_value = velero::DEFAULT_AWS_PLUGIN_IMAGE)]
    pub plugins: Vec<String>,
    /// Create the `default` `VolumeSnapshotLocation`.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub use_volume_snapshots: bool,
    /// Create no `default` `BackupStorageLocation`.
    #[arg(long)]
    pub no_default_backup_location: bool,
    /// Create the node-agent `DaemonSet` (file-system backups, data movement).
    #[arg(long)]
    pub use_node_agent: bool,
    /// Run node-agent privileged.
    #[arg(long)]
    pub privileged_node_agent: bool,
    /// Kubelet root directory (node-agent host paths).
    #[arg(long, default_value = "/var/lib/kubelet")]
    pub kubelet_root_dir: String,
    /// Do not mount the kubelet pod directory into node-agent.
    #[arg(long)]
    pub node_agent_disable_host_path: bool,
    /// Back up all pod volumes with file-system backup by default (needs --use-node-agent).
    #[arg(long)]
    pub default_volumes_to_fs_backup: bool,
    /// Move snapshot data by default.
    #[arg(long)]
    pub default_snapshot_move_data: bool,
    /// Disable the informer cache for restores.
    #[arg(long)]
    pub disable_informer_cache: bool,
    /// Skip a schedule's first backup.
    #[arg(long)]
    pub schedule_skip_immediately: bool,
    /// Run the server in restore-only mode.
    #[arg(long)]
    pub restore_only: bool,
    /// Feature flags (comma-separated).
    #[arg(long, default_value = "")]
    pub features: String,
    /// Uploader for pod volumes (Velero v1.18: kopia).
    #[arg(long, default_value = "kopia")]
    pub uploader_type: String,
    /// CPU request of the Velero pod ("0" = unset).
    #[arg(long, default_value = "500m")]
    pub velero_pod_cpu_request: String,
    /// Memory request of the Velero pod.
    #[arg(long, default_value = "128Mi")]
    pub velero_pod_mem_request: String,
    /// CPU limit of the Velero pod.
    #[arg(long, default_value = "1000m")]
    pub velero_pod_cpu_limit: String,
    /// Memory limit of the Velero pod.
    #[arg(long, default_value = "512Mi")]
    pub velero_pod_mem_limit: String,
    /// CPU request of node-agent pods.
    #[arg(long, default_value = "0")]
    pub node_agent_pod_cpu_request: String,
    /// Memory request of node-agent pods.
    #[arg(long, default_value = "0")]
    pub node_agent_pod_mem_request: String,
    /// CPU limit of node-agent pods.
    #[arg(long, default_value = "0")]
    pub node_agent_pod_cpu_limit: String,
    /// Memory limit of node-agent pods.
    #[arg(long, default_value = "0")]
    pub node_agent_pod_mem_limit: String,
    /// Use this existing `ServiceAccount` (no `ServiceAccount` or `ClusterRoleBinding` is created).
    #[arg(long)]
    pub service_account_name: Option<String>,
    /// Annotations of the created `ServiceAccount` `k1=v1,k2=v2`.
    #[arg(long, value_name = "K=V,…")]
    pub sa_annotations: Vec<String>,
    /// Extra pod annotations `k1=v1,k2=v2`.
    #[arg(long, value_name = "K=V,…")]
    pub pod_annotations: Vec<String>,
    /// Extra pod labels `k1=v1,k2=v2`.
    #[arg(long, value_name = "K=V,…")]
    pub pod_labels: Vec<String>,
    /// How often garbage collection runs (e.g. 1h).
    #[arg(long)]
    pub garbage_collection_frequency: Option<humantime::Duration>,
    /// How often repositories are maintained by default.
    #[arg(long)]
    pub default_repo_maintain_frequency: Option<humantime::Duration>,
    /// Timeout of pod volume operations.
    #[arg(long)]
    pub pod_volume_operation_timeout: Option<humantime::Duration>,
    /// Maintenance jobs kept per repository.
    #[arg(long)]
    pub keep_latest_maintenance_jobs: Option<u32>,
    /// CPU request of maintenance jobs.
    #[arg(long)]
    pub maintenance_job_cpu_request: Option<String>,
    /// Memory request of maintenance jobs.
    #[arg(long)]
    pub maintenance_job_mem_request: Option<String>,
    /// CPU limit of maintenance jobs.
    #[arg(long)]
    pub maintenance_job_cpu_limit: Option<String>,
    /// Memory limit of maintenance jobs.
    #[arg(long)]
    pub maintenance_job_mem_limit: Option<String>,
    /// `ConfigMap` of backup repository settings.
    #[arg(long)]
    pub backup_repository_configmap: Option<String>,
    /// `ConfigMap` of repository maintenance job settings.
    #[arg(long)]
    pub repo_maintenance_job_configmap: Option<String>,
    /// `ConfigMap` of node-agent settings.
    #[arg(long)]
    pub node_agent_configmap: Option<String>,
    /// Item block worker threads.
    #[arg(long)]
    pub item_block_worker_count: Option<u32>,
    /// Backups processed at once.
    #[arg(long)]
    pub concurrent_backups: Option<u32>,
    /// Priority class of the server pod.
    #[arg(long)]
    pub server_priority_class_name: Option<String>,
    /// Priority class of node-agent pods.
    #[arg(long)]
    pub node_agent_priority_class_name: Option<String>,
    /// Only the CRDs.
    #[arg(long)]
    pub crds_only: bool,
    /// Print the objects (with -o) and send nothing to the cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the objects as one `v1/List` (as `velero install -o` does).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<ListOutput>,
    /// Server-side apply every object (updates an existing install) instead of create.
    #[arg(long)]
    pub apply: bool,
    /// Wait for the Velero Deployment (and node-agent) to be available.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "3m")]
    pub wait_timeout: humantime::Duration,
    /// Fill the bucket settings from a skiff location.
    #[command(flatten)]
    pub from: FromLocationArgs,
    /// Cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `skiff velero uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Velero namespace.
    #[arg(long, short = 'n', default_value = velero::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Also delete the Velero CRDs (and so every Velero object left in the cluster).
    #[arg(long)]
    pub crds: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, visible_alias = "confirm")]
    pub force: bool,
    /// Wait until the namespace (and CRDs) are gone.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "5m")]
    pub wait_timeout: humantime::Duration,
    /// Output of the report.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `skiff velero status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Velero namespace.
    #[arg(long, short = 'n', default_value = velero::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `skiff velero images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Image of the Velero server and node-agent.
    #[arg(long, default_value = velero::DEFAULT_VELERO_IMAGE)]
    pub image: String,
    /// Plugin images (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', default_value = velero::DEFAULT_AWS_PLUGIN_IMAGE)]
    pub plugins: Vec<String>,
    /// Output format (`table` prints one image per line).
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Run `skiff velero …`.
pub async fn run(a: VeleroArgs) -> Result<u8, CliError> {
    match a.command {
        VeleroCommand::Install(a) => install(*a).await,
        VeleroCommand::Uninstall(a) => uninstall(a).await,
        VeleroCommand::Status(a) => status(a).await,
        VeleroCommand::Images(a) => images(&a),
    }
}

/// Velero's `k1=v1,k2=v2` map flags: entries split on commas outside double quotes, each on the
/// first `=`; the flag may repeat.
fn parse_map(flag: &str, values: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for value in values {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in value.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => parts.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        if quoted {
            return Err(CliError::usage(format!(
                "--{flag}: unbalanced quote in {value:?}"
            )));
        }
        parts.push(cur);
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(CliError::usage(format!(
                    "--{flag}: {part:?} is not key=value (format: k1=v1,k2=v2)"
                )));
            };
            if k.is_empty() {
                return Err(CliError::usage(format!("--{flag}: empty key in {part:?}")));
            }
            out.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(out)
}

fn read_file(flag: &str, path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::usage(format!("read --{flag} {}: {e}", path.display())))
}

/// Build the install's options from the flags (reads --secret-file, --cacert and the location).
/// Nothing is sent to the cluster here.
fn install_options(a: &InstallArgs) -> Result<InstallOptions, CliError> {
    let mut o = InstallOptions {
        namespace: a.namespace.clone(),
        image: a.image.clone(),
        provider: a.provider.clone(),
        bucket: a.bucket.clone().unwrap_or_default(),
        prefix: a.prefix.clone().unwrap_or_default().trim_matches('/').to_owned(),
        backup_location_config: parse_map("backup-location-config", &a.backup_location_config)?,
        snapshot_location_config: parse_map("snapshot-location-config", &a.snapshot_location_config)?,
        ca_cert: a.cacert.as_ref().map(|p| read_file("cacert", p)).transpose()?,
        secret: a
            .secret_file
            .as_ref()
            .map(|p| read_file("secret-file", p).map(SecretData::new))
            .transpose()?,
        plugins: a.plugins.iter().filter(|p| !p.is_empty()).cloned().collect(),
        use_volume_snapshots: a.use_volume_snapshots,
        no_default_backup_location: a.no_default_backup_location,
        use_node_agent: a.use_node_agent,
        privileged_node_agent: a.privileged_node_agent,
        kubelet_root_dir: a.kubelet_root_dir.clone(),
        node_agent_disable_host_path: a.node_agent_disable_host_path,
        default_volumes_to_fs_backup: a.default_volumes_to_fs_backup,
        default_snapshot_move_data: a.default_snapshot_move_data,
        disable_informer_cache: a.disable_informer_cache,
        schedule_skip_immediately: a.schedule_skip_immediately,
        restore_only: a.restore_only,
        features: a.features.clone(),
        uploader_type: a.uploader_type.clone(),
        velero_resources: PodResources {
            cpu_request: a.velero_pod_cpu_request.clone(),
            mem_request: a.velero_pod_mem_request.clone(),
            cpu_limit: a.velero_pod_cpu_limit.clone(),
            mem_limit: a.velero_pod_mem_limit.clone(),
        },
        node_agent_resources: PodResources {
            cpu_request: a.node_agent_pod_cpu_request.clone(),
            mem_request: a.node_agent_pod_mem_request.clone(),
            cpu_limit: a.node_agent_pod_cpu_limit.clone(),
            mem_limit: a.node_agent_pod_mem_limit.clone(),
        },
        service_account_name: a.service_account_name.clone(),
        service_account_annotations: parse_map("sa-annotations", &a.sa_annotations)?,
        pod_annotations: parse_map("pod-annotations", &a.pod_annotations)?,
        pod_labels: parse_map("pod-labels", &a.pod_labels)?,
        garbage_collection_frequency: a.garbage_collection_frequency.map(Into::into),
        default_repo_maintain_frequency: a.default_repo_maintain_frequency.map(Into::into),
        pod_volume_operation_timeout: a.pod_volume_operation_timeout.map(Into::into),
        keep_latest_maintenance_jobs: a.keep_latest_maintenance_jobs,
        maintenance_job_resources: velero::install::MaintenanceJobResources {
            cpu_request: a.maintenance_job_cpu_request.clone(),
            mem_request: a.maintenance_job_mem_request.clone(),
            cpu_limit: a.maintenance_job_cpu_limit.clone(),
            mem_limit: a.maintenance_job_mem_limit.clone(),
        },
        backup_repository_configmap: a.backup_repository_configmap.clone(),
        repo_maintenance_job_configmap: a.repo_maintenance_job_configmap.clone(),
        node_agent_configmap: a.node_agent_configmap.clone(),
        item_block_worker_count: a.item_block_worker_count,
        concurrent_backups: a.concurrent_backups,
        server_priority_class_name: a.server_priority_class_name.clone(),
        node_agent_priority_class_name: a.node_agent_priority_class_name.clone(),
    };
    if a.no_secret && a.from.credentials_file.is_some() {
        return Err(CliError::usage(
            "cannot use both --credentials-file and --no-secret",
        ));
    }
    if let Some(from) = &a.from.from_location {
        apply_from_location(&mut o, from, &a.from, a.no_secret)?;
    } else if a.from.s3_endpoint.is_some()
        || a.from.region.is_some()
        || a.from.s3_force_path_style.is_some()
        || a.from.credentials_file.is_some()
        || a.from.profile.is_some()
        || a.from.insecure_skip_tls_verify
    {
        return Err(CliError::usage(
            "--s3-endpoint, --region, --s3-force-path-style, --credentials-file, --profile and --insecure-skip-tls-verify describe a location: use them with --from-location",
        ));
    }
    if a.crds_only {
        return Ok(o);
    }
    match (&o.secret, a.no_secret) {
        (None, false) => {
            return Err(CliError::usage("one of --secret-file or --no-secret is required")
                .hint("with --from-location, --credentials-file or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY give the credentials"));
        }
        (Some(_), true) => return Err(CliError::usage("cannot use both --secret-file and --no-secret")),
        _ => {}
    }
    o.validate()?;
    Ok(o)
}

fn apply_from_location(
    o: &mut InstallOptions,
    from: &str,
    f: &FromLocationArgs,
    no_secret: bool,
) -> Result<(), CliError> {
    let mut lo = LocationOptions::default();
    let path = std::path::Path::new(from);
    let is_bsl_file = path.is_file()
        && path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
    // Flags first: they win over the BSL's settings.
    if let Some(e) = &f.s3_endpoint {
        lo.endpoint = Some(e.clone());
        lo.path_style = Some(true);
    }
    if let Some(r) = &f.region {
        lo.region = Some(r.clone());
    }
    if let Some(p) = f.s3_force_path_style {
        lo.path_style = Some(p);
    }
    if let Some(c) = &f.credentials_file {
        if !c.is_file() {
            return Err(CliError::usage(format!(
                "--credentials-file {} does not exist",
                c.display()
            )));
        }
        lo.credentials_file = Some(c.clone());
    }
    if let Some(p) = &f.profile {
        lo.profile = Some(p.clone());
    }
    if f.insecure_skip_tls_verify {
        lo.insecure_skip_tls_verify = Some(true);
    }
    let location = if is_bsl_file {
        let bsl = BackupStorageLocation::from_file(path)
            .map_err(|e| CliError::usage(format!("--from-location {from}: {}", crate::exit::chain(&e))))?;
        // The BSL's settings as skiff reads them, then its whole config as Velero should get it.
        bsl.apply_to(&mut lo)
            .map_err(|e| CliError::usage(format!("--from-location {from}: {e}")))?;
        velero::apply_bsl(o, &bsl);
        bsl.location()
    } else {
        Location::parse(from).map_err(|e| CliError::usage(format!("--from-location: {e}")))?
    };
    if no_secret {
        lo.credentials_file = None;
    } else if lo.credentials_file.is_none() && o.secret.is_none() {
        lo.credentials = skiff_store::Credentials::from_env_lookup(|k| std::env::var(k).ok());
    }
    velero::apply_location(o, &location, &lo)?;
    Ok(())
}

async fn install(a: InstallArgs) -> Result<u8, CliError> {
    let options = install_options(&a)?;
    let objects = if a.crds_only {
        velero::crds()
    } else {
        velero::build(&options)?
    };
    if let Some(out) = a.output {
        let format = match out {
            ListOutput::Yaml => ListFormat::Yaml,
            ListOutput::Json => ListFormat::Json,
        };
        let text = velero::render_list(&objects, format)?;
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    if a.dry_run {
        return Ok(code::OK);
    }
    let cluster = connect(&a.cluster).await?;
    let opts = ApplyOptions {
        apply: a.apply,
        wait: a.wait.then(|| Duration::from(a.wait_timeout)),
        ..ApplyOptions::default()
    };
    let report = velero::apply_install(&cluster, &objects, &opts).await?;
    for step in &report.steps {
        let what = match step.action {
            velero::Action::Created => "created",
            velero::Action::AlreadyExists => "already exists, kept",
            velero::Action::Applied => "applied",
        };
        eprintln!("{}: {what}", step.object);
        if let Some(note) = &step.note {
            eprintln!("  note: {note}");
        }
    }
    if a.crds_only {
        eprintln!("Velero CRDs are installed.");
    } else {
        if options.secret.is_none() {
            eprintln!("No credentials were given: no Secret created.");
        }
        eprintln!(
            "Velero is installed! Use `skiff velero status -n {ns}` or `kubectl logs deployment/velero -n {ns}` to see its status.",
            ns = options.namespace
        );
    }
    Ok(code::OK)
}

async fn uninstall(a: UninstallArgs) -> Result<u8, CliError> {
    if !a.force {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(CliError::usage(
                "refusing to uninstall without --force (stdin is not a terminal)",
            ));
        }
        eprint!(
            "Uninstall Velero from namespace {:?}{}? Bucket data is kept. [y/N] ",
            a.namespace,
            if a.crds { " and delete its CRDs" } else { "" }
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing removed");
            return Ok(code::OK);
        }
    }
    let cluster = connect(&a.cluster).await?;
    let report = velero::uninstall(
        &cluster,
        &UninstallOptions {
            namespace: a.namespace.clone(),
            crds: a.crds,
            wait: a.wait.then(|| Duration::from(a.wait_timeout)),
        },
    )
    .await?;
    if a.output == Output::Table {
        let mut s = String::new();
        for r in &report.finalizers_removed {
            let _ = writeln!(s, "{r}: Velero finalizer removed (bucket data kept)");
        }
        for r in &report.deleted {
            let _ = writeln!(s, "{r}: deleted");
        }
        for (r, why) in &report.kept {
            let _ = writeln!(s, "{r}: kept ({why})");
        }
        for r in &report.absent {
            let _ = writeln!(s, "{r}: not found");
        }
        std::io::stdout().lock().write_all(s.as_bytes())?;
    } else {
        print_data(&report, a.output)?;
    }
    Ok(code::OK)
}

async fn status(a: StatusArgs) -> Result<u8, CliError> {
    let cluster = connect(&a.cluster).await?;
    let st = velero::status(&cluster, &a.namespace).await?;
    if a.output != Output::Table {
        print_data(&st, a.output)?;
        return Ok(code::OK);
    }
    let established = st.crds.iter().filter(|c| c.established).count();
    let mut s = format!(
        "CRDs:        {established}/{} established\nNamespace:   {} ({})\n",
        st.crds.len(),
        st.namespace,
        if st.namespace_present { "present" } else { "absent" }
    );
    let wl = |w: &Option<velero::cluster::WorkloadStatus>| match w {
        None => "absent".to_owned(),
        Some(w) => format!(
            "{} ({}; {})",
            if w.available { "available" } else { "not available" },
            w.image,
            w.state
        ),
    };
    let _ = writeln!(s, "Deployment:  {}", wl(&st.deployment));
    if st.node_agent.is_some() {
        let _ = writeln!(s, "node-agent:  {}", wl(&st.node_agent));
    }
    std::io::stdout().lock().write_all(s.as_bytes())?;
    if !st.backup_storage_locations.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = st
            .backup_storage_locations
            .iter()
            .map(|b| {
                vec![
                    b.name.clone(),
                    b.provider.clone(),
                    if b.prefix.is_empty() {
                        b.bucket.clone()
                    } else {
                        format!("{}/{}", b.bucket, b.prefix)
                    },
                    if b.phase.is_empty() {
                        "-".into()
                    } else {
                        b.phase.clone()
                    },
                    b.last_synced_time.clone().unwrap_or_else(|| "-".into()),
                    b.access_mode.clone(),
                    if b.default { "true".into() } else { String::new() },
                ]
            })
            .collect();
        print_table(
            &[
                "NAME",
                "PROVIDER",
                "BUCKET/PREFIX",
                "PHASE",
                "LAST SYNCED",
                "ACCESS MODE",
                "DEFAULT",
            ],
            &rows,
        )?;
    }
    Ok(code::OK)
}

fn images(a: &ImagesArgs) -> Result<u8, CliError> {
    let o = InstallOptions {
        image: a.image.clone(),
        plugins: a.plugins.iter().filter(|p| !p.is_empty()).cloned().collect(),
        ..InstallOptions::default()
    };
    let list = velero::images(&o);
    if a.output == Output::Table {
        let mut s = list.join("\n");
        s.push('\n');
        std::io::stdout().lock().write_all(s.as_bytes())?;
    } else {
        print_data(&list, a.output)?;
    }
    Ok(code::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_flags_like_velero() {
        let m = parse_map(
            "backup-location-config",
            &[
                "region=minio,s3ForcePathStyle=true".into(),
                "\"tagging=a=b,c=d\",x=".into(),
            ],
        )
        .unwrap();
        assert_eq!(m["region"], "minio");
        assert_eq!(m["s3ForcePathStyle"], "true");
        assert_eq!(m["tagging"], "a=b,c=d");
        assert_eq!(m["x"], "");
        assert!(parse_map("f", &["novalue".into()]).is_err());
        assert!(parse_map("f", &["=v".into()]).is_err());
        assert!(parse_map("f", &["\"a=b".into()]).is_err());
    }
}
