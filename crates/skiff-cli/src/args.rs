//! The command line: the top-level parser, the global options, and the argument groups several
//! commands share (location, cluster, scope, mappings). Each command's own arguments live in
//! its file under `commands/`. Only this crate knows about argv.

use crate::commands::{backup, backups, completions, inspect, restore, validate};
use crate::progress::ProgressMode;
use clap::{Args, Parser, Subcommand, ValueEnum};
use skiff_engine::mappings::{self, MappingError};
use skiff_engine::scope::{self, NamePattern, ScopeError};
use skiff_engine::{Mappings, Scope};
use std::path::PathBuf;

/// Back up, restore and inspect Kubernetes resources in Velero's backup format — no Velero needed.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, after_help = crate::exit::help_text(), propagate_version = true)]
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
    Backup(backup::BackupArgs),
    /// Restore a backup (made by skiff or by Velero) into a cluster.
    Restore(restore::RestoreArgs),
    /// Work with the backups in a location.
    #[command(subcommand)]
    Backups(backups::BackupsCommand),
    /// Show what a backup holds: summary, item list, one object, or extract it to files.
    Inspect(inspect::InspectArgs),
    /// Check a backup: archive integrity, documents, resource list, copies, items, index.
    Validate(validate::ValidateArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page skiff(1), or write one page per command with --out-dir.
    Man(completions::ManArgs),
    /// Migrate cluster to cluster with no bucket: select like backup, plan and apply like restore (--undo reverts).
    Migrate(crate::commands::migrate::MigrateArgs),
    /// Scheduled backups: a cron job running `skiff backup` in the cluster.
    #[command(subcommand)]
    Schedule(crate::commands::schedule::ScheduleCommand),
    /// List the container images the objects in scope use (after registry mappings): what to mirror first.
    Images(crate::commands::images::ImagesArgs),
    /// Install, remove or check Velero itself (for a team that keeps using Velero on the same bucket).
    Velero(crate::commands::velero::VeleroArgs),
    /// Check that a target cluster is ready for a backup's (or a live source's) objects.
    Preflight(crate::commands::preflight::PreflightArgs),
    /// Is the target what the source says, and ready? (presence, equality, readiness)
    Verify(crate::commands::verify::VerifyArgs),
    /// What differs between two sides (backups or live clusters), object by object.
    Diff(crate::commands::diff::DiffArgs),
    /// Keep a target in step with a live source until cutover (`skiff sync status <name>` shows it).
    Sync(crate::commands::sync::SyncArgs),
    /// Switch a sync over: quiesce the source, apply the final delta, activate the target (--rollback reverses).
    Cutover(crate::commands::sync::CutoverArgs),
}

/// Where backups live.
#[derive(Debug, Args, Clone, Default)]
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
    /// When to compute request checksums and validate response checksums: `when-required`
    /// (default with a custom endpoint: S3-compatible stores reject the newer defaults) or
    /// `when-supported` (default on AWS).
    #[arg(long, env = "AWS_REQUEST_CHECKSUM_CALCULATION", value_parser = checksum_mode_parser(), ignore_case = true)]
    pub checksum_mode: Option<skiff_store::ChecksumMode>,
}

/// `--checksum-mode`: the store's names, also in the AWS config spelling (`when_required`).
fn checksum_mode_parser() -> impl clap::builder::TypedValueParser<Value = skiff_store::ChecksumMode> {
    use clap::builder::{PossibleValue, TypedValueParser as _};
    clap::builder::PossibleValuesParser::new([
        PossibleValue::new("when-required").alias("when_required"),
        PossibleValue::new("when-supported").alias("when_supported"),
    ])
    .try_map(|s| skiff_store::ChecksumMode::parse(&s).ok_or_else(|| format!("unknown checksum mode {s:?}")))
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

/// Which objects: Velero's filter flags, shared by every command that selects objects.
#[derive(Debug, Args, Clone, Default)]
pub struct ScopeArgs {
    /// Namespaces to include (globs, comma-separated). Default: all.
    #[arg(long, short = 'n', visible_alias = "namespace", value_delimiter = ',')]
    pub include_namespaces: Vec<String>,
    /// Namespaces to exclude (globs).
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    /// Resources to include (old-style filter; names, short names or globs).
    #[arg(long, visible_alias = "resource", value_delimiter = ',')]
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
    /// Only these objects: `<name>`, `<resource>/<name>` (cluster-scoped) or
    /// `<resource>/<namespace>/<name>`; globs allowed (repeatable).
    #[arg(long, visible_alias = "name")]
    pub include_name: Vec<String>,
}

impl TryFrom<&ScopeArgs> for Scope {
    type Error = ScopeError;
    fn try_from(a: &ScopeArgs) -> Result<Self, ScopeError> {
        let scope = Scope {
            included_namespaces: a.include_namespaces.clone(),
            excluded_namespaces: a.exclude_namespaces.clone(),
            included_resources: a.include_resources.clone(),
            excluded_resources: a.exclude_resources.clone(),
            include_cluster_resources: a.include_cluster_resources,
            included_cluster_scoped_resources: a.include_cluster_scoped_resources.clone(),
            excluded_cluster_scoped_resources: a.exclude_cluster_scoped_resources.clone(),
            included_namespace_scoped_resources: a.include_namespace_scoped_resources.clone(),
            excluded_namespace_scoped_resources: a.exclude_namespace_scoped_resources.clone(),
            label_selector: a
                .selector
                .as_deref()
                .map(|s| scope::parse_selector("--selector", s))
                .transpose()?,
            or_label_selectors: a
                .or_selector
                .iter()
                .map(|s| scope::parse_selector("--or-selector", s))
                .collect::<Result<_, _>>()?,
            included_names: a
                .include_name
                .iter()
                .map(|s| s.parse::<NamePattern>())
                .collect::<Result<_, _>>()?,
        };
        scope.validate()?;
        Ok(scope)
    }
}

/// Renames on the way into the target (the flag names are Velero's).
#[derive(Debug, Args, Clone, Default)]
#[allow(clippy::struct_field_names)]
pub struct MappingArgs {
    /// Namespace mappings `old:new,old2:new2`.
    #[arg(long, value_delimiter = ',')]
    pub namespace_mappings: Vec<String>,
    /// Storage class mappings `old:new`.
    #[arg(long, value_delimiter = ',')]
    pub storage_class_mappings: Vec<String>,
    /// Image registry mappings `old:new` (prefix of the image reference; ports allowed).
    #[arg(long, value_delimiter = ',')]
    pub image_registry_mappings: Vec<String>,
}

impl TryFrom<&MappingArgs> for Mappings {
    type Error = MappingError;
    fn try_from(a: &MappingArgs) -> Result<Self, MappingError> {
        Ok(Mappings {
            namespaces: mappings::parse_pairs("--namespace-mappings", &a.namespace_mappings)?,
            storage_classes: mappings::parse_pairs("--storage-class-mappings", &a.storage_class_mappings)?,
            image_registries: mappings::parse_pairs("--image-registry-mappings", &a.image_registry_mappings)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scope_flags_convert_and_validate() {
        let a = ScopeArgs {
            include_namespaces: vec!["app-*".into()],
            selector: Some("tier=web".into()),
            include_name: vec!["configmaps/app-1/c*".into()],
            ..ScopeArgs::default()
        };
        let s = Scope::try_from(&a).unwrap();
        assert_eq!(s.included_names[0].to_string(), "configmaps/app-1/c*");
        assert!(s.label_selector.is_some());
        let bad = ScopeArgs {
            selector: Some("a in (b".into()),
            ..ScopeArgs::default()
        };
        assert!(matches!(
            Scope::try_from(&bad),
            Err(ScopeError::Selector {
                flag: "--selector",
                ..
            })
        ));
        let m = MappingArgs {
            namespace_mappings: vec!["a:b".into()],
            image_registry_mappings: vec!["bad".into()],
            ..MappingArgs::default()
        };
        assert_eq!(
            Mappings::try_from(&m).unwrap_err().flag,
            "--image-registry-mappings"
        );
    }
}

/// The source side of preflight, images, migrate, verify and diff: a backup (a name in
/// `--location`, a folder or a `.tar.gz`) or a live cluster.
#[derive(Debug, Args, Clone, Default)]
#[allow(clippy::struct_field_names)]
pub struct FromArgs {
    /// Source backup: a name in --location, a backup folder or a .tar.gz.
    #[arg(long, conflicts_with_all = ["from_kubeconfig", "from_context"])]
    pub from_backup: Option<String>,
    /// Source cluster's kubeconfig (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub from_kubeconfig: Option<PathBuf>,
    /// Source cluster's kubeconfig context.
    #[arg(long)]
    pub from_context: Option<String>,
}

/// The target side: a live cluster.
#[derive(Debug, Args, Clone, Default)]
#[allow(clippy::struct_field_names)]
pub struct ToArgs {
    /// Target cluster's kubeconfig (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub to_kubeconfig: Option<PathBuf>,
    /// Target cluster's kubeconfig context.
    #[arg(long)]
    pub to_context: Option<String>,
}

impl ToArgs {
    /// Whether a target cluster was named at all.
    pub fn is_set(&self) -> bool {
        self.to_kubeconfig.is_some() || self.to_context.is_some()
    }
}
