//! Command-line arguments (clap derive). Only this crate knows about argv.

use crate::progress::ProgressMode;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    unexpected failure
  2    bad command line or options
  3    completed, but some items failed (backup PartiallyFailed, restore item errors)
  4    validate found errors in the backup
  10   backup location failed (unreachable, credentials, permissions)
  11   backup not found, or already exists
  20   cluster failed (kubeconfig, connection, discovery, authorization)
  30   archive or document malformed
  130  interrupted (nothing half-written is left visible)";

/// Back up, restore and inspect Kubernetes resources in Velero's backup format — no Velero needed.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Progress display.
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// No progress display (same as --progress none).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

/// Output format of data on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable table / text.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up a cluster into a Velero-compatible backup (local folder or S3).
    Backup(BackupArgs),
    /// Restore a backup (made by skiff or by Velero) into a cluster.
    Restore(RestoreArgs),
    /// Work with the backups in a location.
    #[command(subcommand)]
    Backups(BackupsCommand),
    /// Show what a backup holds: summary, item list, one object, or extract it to files.
    Inspect(InspectArgs),
    /// Check a backup: archive integrity, documents, resource list, copies, items, index.
    Validate(ValidateArgs),
    /// Install, remove or check Velero itself (for a team that keeps using Velero on the same bucket).
    Velero(crate::commands::velero::VeleroArgs),
}

/// Where backups live.
#[derive(Debug, Args, Clone)]
pub struct LocationArgs {
    /// A local folder, `s3://bucket/prefix`, or a Velero `BackupStorageLocation` YAML file.
    #[arg(long, short = 'l', env = crate::env::LOCATION)]
    pub location: Option<String>,
    /// S3 endpoint URL (S3-compatible stores; Velero's `s3Url`).
    #[arg(long, env = crate::env::S3_ENDPOINT)]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Path-style S3 addressing (most S3-compatible stores need it; default on with --s3-endpoint).
    #[arg(long)]
    pub s3_force_path_style: Option<bool>,
    /// AWS shared-credentials file — Velero's `cloud` credentials file works as is.
    #[arg(long, env = "AWS_SHARED_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,
    /// Profile in the credentials file.
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Extra CA bundle (PEM) to trust for the S3 endpoint.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Do not verify the S3 endpoint's TLS certificate.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// Which cluster.
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// Path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// Upper bound on requests in flight (the adaptive limiter stays below it).
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
}

/// `skiff backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Backup name (becomes `backups/<name>/` in the location).
    pub name: String,
    /// Location.
    #[command(flatten)]
    pub location: LocationArgs,
    /// Cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespaces to include (globs, comma-separated). Default: all.
    #[arg(long, value_delimiter = ',')]
    pub include_namespaces: Vec<String>,
    /// Namespaces to exclude (globs).
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    /// Resources to include (old-style filter; names, short names or globs).
    #[arg(long, value_delimiter = ',')]
    pub include_resources: Vec<String>,
    /// Resources to exclude (old-style filter).
    #[arg(long, value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// Include cluster-scoped resources (old-style): true, false, or unset for Velero's auto rule.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub include_cluster_resources: Option<bool>,
    /// Cluster-scoped resources to include (new-style; `*` for all).
    #[arg(long, value_delimiter = ',')]
    pub include_cluster_scoped_resources: Vec<String>,
    /// Cluster-scoped resources to exclude (new-style).
    #[arg(long, value_delimiter = ',')]
    pub exclude_cluster_scoped_resources: Vec<String>,
    /// Namespace-scoped resources to include (new-style).
    #[arg(long, value_delimiter = ',')]
    pub include_namespace_scoped_resources: Vec<String>,
    /// Namespace-scoped resources to exclude (new-style).
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespace_scoped_resources: Vec<String>,
    /// Label selector (`app=web,tier!=db`).
    #[arg(long, short = 's')]
    pub selector: Option<String>,
    /// Or-selectors: objects matching any of them (repeatable; exclusive with --selector).
    #[arg(long)]
    pub or_selector: Vec<String>,
    /// Time to live before Velero's garbage collection deletes the backup (e.g. 720h, 30d).
    #[arg(long, default_value = "720h")]
    pub ttl: humantime::Duration,
    /// `BackupStorageLocation` name recorded in the backup (Velero lists it under this BSL).
    #[arg(long, default_value = "default")]
    pub storage_location_name: String,
    /// Velero namespace recorded in velero-backup.json.
    #[arg(long, default_value = "velero")]
    pub velero_namespace: String,
    /// Back up every served API version (Velero's `EnableAPIGroupVersions` layout).
    #[arg(long)]
    pub all_api_versions: bool,
    /// LIST page size (250 keeps peak memory flat; larger pages buy little on a fast apiserver).
    #[arg(long, default_value_t = skiff_engine::backup::DEFAULT_BACKUP_PAGE_SIZE)]
    pub page_size: u32,
    /// Resource types listed at once (each holds one page in memory).
    #[arg(long, default_value_t = skiff_engine::backup::DEFAULT_LIST_CONCURRENCY)]
    pub list_concurrency: usize,
    /// gzip level (1-9).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression_level: u32,
    /// Accepted for Velero CLI compatibility: skiff always waits for completion.
    #[arg(long)]
    pub wait: bool,
    /// Output of the final summary.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Existing-object policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExistingPolicy {
    /// Leave existing objects alone (warn when they differ).
    None,
    /// Merge-patch existing objects to the backed-up content.
    Update,
    /// Server-side apply with field manager `skiff`, reporting field conflicts.
    Apply,
}

/// `skiff restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Restore name (results go to `restores/<name>/`). Default: `<backup>-<timestamp>`.
    pub name: Option<String>,
    /// The backup to restore: a name in --location, a backup folder, or a .tar.gz.
    #[arg(long)]
    pub from_backup: String,
    /// Location.
    #[command(flatten)]
    pub location: LocationArgs,
    /// Cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespaces to include (globs; original namespaces).
    #[arg(long, value_delimiter = ',')]
    pub include_namespaces: Vec<String>,
    /// Namespaces to exclude (globs).
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    /// Resources to include.
    #[arg(long, value_delimiter = ',')]
    pub include_resources: Vec<String>,
    /// Resources to exclude.
    #[arg(long, value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// Restore cluster-scoped resources: true, false, or unset for Velero's rule.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub include_cluster_resources: Option<bool>,
    /// Label selector.
    #[arg(long, short = 's')]
    pub selector: Option<String>,
    /// Or-selectors (repeatable).
    #[arg(long)]
    pub or_selector: Vec<String>,
    /// Only these objects: `<resource>/<namespace>/<name>` or `<resource>/<name>` (repeatable).
    #[arg(long)]
    pub include_name: Vec<String>,
    /// Namespace mappings `old:new,old2:new2`.
    #[arg(long, value_delimiter = ',')]
    pub namespace_mappings: Vec<String>,
    /// Storage class mappings `old:new`.
    #[arg(long, value_delimiter = ',')]
    pub storage_class_mappings: Vec<String>,
    /// Image registry mappings `old:new` (prefix of the image reference).
    #[arg(long, value_delimiter = ',')]
    pub image_registry_mappings: Vec<String>,
    /// Velero resource-modifier rules (YAML file).
    #[arg(long)]
    pub resource_modifiers: Option<PathBuf>,
    /// What to do with objects that already exist.
    #[arg(long, value_enum)]
    pub existing_resource_policy: Option<ExistingPolicy>,
    /// Extra resource priorities, added before Velero's defaults' tail (comma list; `-` splits high/low).
    #[arg(long, value_delimiter = ',')]
    pub resource_priorities: Vec<String>,
    /// Keep Service nodePorts even when they were auto-assigned.
    #[arg(long)]
    pub preserve_nodeports: bool,
    /// Skip objects a restored controller recreates (Pods of `ReplicaSets`, `ReplicaSets` of Deployments, …).
    #[arg(long)]
    pub skip_owned: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send every object with dryRun=All: admission and schema errors show, nothing is stored.
    #[arg(long)]
    pub server_dry_run: bool,
    /// Objects applied at once within a wave.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Stop at the first failed item.
    #[arg(long)]
    pub fail_fast: bool,
    /// Seconds to wait for a CRD to be Established or a namespace to be ready.
    #[arg(long, default_value_t = 600)]
    pub wait_timeout: u64,
    /// Output of the plan / report.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `skiff backups …`.
#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// List the complete backups in a location.
    List {
        /// Location.
        #[command(flatten)]
        location: LocationArgs,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Show a backup as `velero backup describe --details` would.
    Describe {
        /// Backup name.
        name: String,
        /// Location.
        #[command(flatten)]
        location: LocationArgs,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a backup's objects from the location (velero-backup.json first).
    Delete {
        /// Backup name.
        name: String,
        /// Location.
        #[command(flatten)]
        location: LocationArgs,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long)]
        confirm: bool,
    },
}

/// `skiff inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A backup name (in --location), a backup folder, or a .tar.gz.
    pub backup: String,
    /// Location (for a backup name).
    #[command(flatten)]
    pub location: LocationArgs,
    /// List items instead of the summary.
    #[arg(long)]
    pub list: bool,
    /// With --list/--extract: only these resources (globs, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub resource: Vec<String>,
    /// With --list/--extract: only these namespaces (globs).
    #[arg(long, short = 'n', value_delimiter = ',')]
    pub namespace: Vec<String>,
    /// With --list/--extract: only names matching this glob.
    #[arg(long)]
    pub name: Option<String>,
    /// Print one object: `<resource>/<namespace>/<name>` or `<resource>/<name>`.
    #[arg(long)]
    pub show: Option<String>,
    /// Write every item as a file under this folder (never outside it).
    #[arg(long)]
    pub extract: Option<PathBuf>,
    /// Output format (`--show`/`--extract` default to YAML).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Output>,
}

/// `skiff validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A backup name (in --location), a backup folder, or a .tar.gz.
    pub backup: String,
    /// Location (for a backup name).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
