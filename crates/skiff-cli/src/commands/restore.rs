//! `skiff restore`: one engine call — [`restore::dry_run`] (print the plan) or [`restore::run`].

use super::{connect, open_store, tokio_util_cancel};
use crate::args::{ClusterArgs, LocationArgs, MappingArgs, Output, ScopeArgs};
use crate::exit::{CliError, chain, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use clap::builder::TypedValueParser as _;
use skiff_engine::restore::{
    self, DryRun, ExecOptions, ExistingResourcePolicy, Outcome, ResourceModifiers, ResourcePriorities,
    RestoreError, RestoreOptions, RestorePhase, RestoreReport,
};
use skiff_engine::side::Side;
use skiff_engine::{Mappings, Scope, offline};
use std::fmt::Write as _;
use std::path::PathBuf;

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
    /// What to apply and how (shared with `skiff migrate`).
    #[command(flatten)]
    pub apply: ApplyArgs,
}

/// What to apply and how: the options `skiff restore` and `skiff migrate` share.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Which objects of the backup (namespaces are the original ones).
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Renames on the way in.
    #[command(flatten)]
    pub mappings: MappingArgs,
    /// Velero resource-modifier rules (YAML file).
    #[arg(long)]
    pub resource_modifiers: Option<PathBuf>,
    /// What to do with objects that already exist.
    #[arg(long, value_parser = existing_policy_parser())]
    pub existing_resource_policy: Option<ExistingResourcePolicy>,
    /// Extra resource priorities, added before Velero's defaults' tail (comma list; `-` splits high/low).
    #[arg(long, value_delimiter = ',')]
    pub resource_priorities: Vec<String>,
    /// Keep Service nodePorts even when they were auto-assigned.
    #[arg(long)]
    pub preserve_nodeports: bool,
    /// Skip objects a restored controller recreates (Pods of `ReplicaSets`, `ReplicaSets` of Deployments, …).
    #[arg(long)]
    pub skip_owned: bool,
    /// Land workloads without running them: Deployments/StatefulSets/ReplicaSets at 0 replicas,
    /// cron jobs suspended, daemon sets kept off every node, Jobs and bare Pods left out; the
    /// original values are kept in the `skiff.io/hold` annotation for the release.
    #[arg(long)]
    pub hold: bool,
    /// With --hold: rules for custom resources (YAML `holds: [{groupResource, patch: [...]}]`).
    #[arg(long, requires = "hold")]
    pub hold_rules: Option<PathBuf>,
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

/// `--existing-resource-policy`: the engine's names, parsed by the engine's `FromStr`.
fn existing_policy_parser() -> impl clap::builder::TypedValueParser<Value = ExistingResourcePolicy> {
    clap::builder::PossibleValuesParser::new(["none", "update", "apply"])
        .try_map(|s| s.parse::<ExistingResourcePolicy>())
}

/// Run a restore: arguments → options → one engine call → print.
pub async fn run(a: RestoreArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let store = open_store(&a.location).await?;
    let source = offline::resolve_source(&a.from_backup, store.clone())?;
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", source.name(), chrono::Utc::now().format("%Y%m%d%H%M%S")));
    let opts = restore_options(&a.apply, name, &source.name())?;
    let cluster = connect(&a.cluster).await?;
    let (code, report) = Box::pin(apply(
        &Side::Backup(source),
        &cluster,
        store.as_deref(),
        &opts,
        &a.apply,
        progress,
    ))
    .await?;
    if let (Some(store), Some(report)) = (store.as_deref(), report.as_ref())
        && !report.server_dry_run
    {
        super::register_restore_with_velero(&cluster, store, &a.location, &opts, report).await;
    }
    Ok(code)
}

/// Plan `source` against `cluster` and print the plan (`--dry-run`) or run it and print the
/// report; the exit code and, when it ran, the report. `skiff restore` and `skiff migrate`
/// both end here.
pub async fn apply(
    source: &Side,
    cluster: &skiff_kube::Cluster,
    results: Option<&dyn skiff_store::BackupStore>,
    opts: &RestoreOptions,
    a: &ApplyArgs,
    progress: &CliProgress,
) -> Result<(u8, Option<RestoreReport>), CliError> {
    let exec = ExecOptions {
        concurrency: a.concurrency.max(1),
        server_dry_run: a.server_dry_run,
        fail_fast: a.fail_fast,
        wait_timeout: std::time::Duration::from_secs(a.wait_timeout),
        observer: None,
        field_manager: None,
    };
    let cancel = tokio_util_cancel();
    if a.dry_run {
        let dry = Box::pin(restore::dry_run(source, cluster, opts, &exec, progress, &cancel))
            .await
            .map_err(restore_error)?;
        progress.clear();
        print_dry_run(&dry, a.output)?;
        return Ok((code::OK, None));
    }
    let done = Box::pin(restore::run(
        source, cluster, results, opts, &exec, progress, &cancel,
    ))
    .await
    .map_err(restore_error)?;
    progress.clear();
    if let Some(e) = &done.documents_error {
        eprintln!(
            "warning: could not write the results to the location: {}",
            chain(e)
        );
    }
    let report = done.report;
    print_report(&report, a.output)?;
    let code = if report.interrupted && cancel.is_cancelled() {
        code::INTERRUPTED
    } else if report.failures() > 0 || report.phase != RestorePhase::Completed {
        code::ITEM_FAILURES
    } else {
        code::OK
    };
    Ok((code, Some(report)))
}

/// The engine's options from the arguments.
pub fn restore_options(
    a: &ApplyArgs,
    restore_name: String,
    backup_name: &str,
) -> Result<RestoreOptions, CliError> {
    skiff_store::layout::validate_restore_name(&restore_name)?;
    let modifiers = match &a.resource_modifiers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("read --resource-modifiers {}: {e}", path.display())))?;
            Some(ResourceModifiers::parse(&text).map_err(|e| {
                CliError::usage(format!("--resource-modifiers {}: {}", path.display(), chain(&e)))
            })?)
        }
        None => None,
    };
    let priorities = ResourcePriorities::parse(&a.resource_priorities.join(","))
        .map_err(|e| CliError::usage(format!("--resource-priorities: {e}")))?;
    Ok(RestoreOptions {
        restore_name,
        backup_name: backup_name.to_string(),
        scope: Scope::try_from(&a.scope)?,
        mappings: Mappings::try_from(&a.mappings)?,
        resource_modifiers: modifiers,
        existing_resource_policy: a.existing_resource_policy,
        resource_priorities: priorities,
        preserve_node_ports: a.preserve_nodeports,
        skip_owned: a.skip_owned,
        hold: hold_rules(a)?,
        ..RestoreOptions::default()
    })
}

/// The hold rules of `--hold` / `--hold-rules`.
fn hold_rules(a: &ApplyArgs) -> Result<Option<skiff_engine::hold::HoldRules>, CliError> {
    if !a.hold {
        return Ok(None);
    }
    let Some(path) = &a.hold_rules else {
        return Ok(Some(skiff_engine::hold::HoldRules::default()));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("read --hold-rules {}: {e}", path.display())))?;
    skiff_engine::hold::HoldRules::parse(&text)
        .map(Some)
        .map_err(|e| CliError::usage(format!("--hold-rules {}: {e}", path.display())))
}

/// A plan that cannot be made is a usage error (exit 2); the rest maps as every engine error.
fn restore_error(e: RestoreError) -> CliError {
    match e {
        RestoreError::Plan(e) => CliError::usage(chain(&e)),
        RestoreError::Engine(e) => e.into(),
        other => CliError::usage(chain(&other)),
    }
}

fn print_dry_run(dry: &DryRun, output: Output) -> Result<(), CliError> {
    let (plan, existing) = (&dry.plan, &dry.existing);
    match output {
        Output::Table => {
            let mut out = plan.to_text();
            let _ = writeln!(
                out,
                "\nAlready in the target ({}): {}",
                existing.len(),
                if existing.is_empty() {
                    "none".to_string()
                } else {
                    String::new()
                }
            );
            for e in existing.iter().take(200) {
                let _ = writeln!(out, "  {e}");
            }
            if existing.len() > 200 {
                let _ = writeln!(out, "  … and {} more", existing.len() - 200);
            }
            let _ = writeln!(out, "\nDry run: nothing was changed.");
            output::text_out(&out)?;
        }
        o => output::data(&serde_json::json!({"plan": plan, "alreadyExisting": existing}), o)?,
    }
    Ok(())
}

fn print_report(report: &RestoreReport, output: Output) -> Result<(), CliError> {
    match output {
        Output::Table => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "Restore {:?} of backup {:?}: {}{}",
                report.name,
                report.backup,
                report.phase,
                if report.server_dry_run {
                    " (server dry run: nothing stored)"
                } else {
                    ""
                }
            );
            for (k, v) in &report.counts {
                let _ = writeln!(out, "  {:<10} {v}", format!("{k:?}").to_lowercase());
            }
            let _ = writeln!(out, "  time       {:.1}s", report.seconds);
            for i in report
                .items
                .iter()
                .filter(|i| matches!(i.outcome, Outcome::Failed | Outcome::Conflict))
                .take(50)
            {
                let _ = writeln!(
                    out,
                    "  {:?} {}: {}",
                    i.outcome,
                    i.item,
                    i.message.clone().unwrap_or_default()
                );
            }
            output::text_out(&out)?;
        }
        o => output::data(report, o)?,
    }
    Ok(())
}
