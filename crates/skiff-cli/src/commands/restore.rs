//! `skiff restore`: plan (pure), print with `--dry-run`, otherwise execute wave by wave.

use super::{connect, open_store, tokio_util_cancel};
use crate::args::{ClusterArgs, LocationArgs, MappingArgs, Output, ScopeArgs};
use crate::exit::{CliError, chain, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use clap::builder::TypedValueParser as _;
use skiff_engine::restore::{
    self, ExistingResourcePolicy, ResourceModifiers, ResourcePriorities, RestoreOptions,
};
use skiff_engine::restore_run::{self, ExecOptions, Outcome};
use skiff_engine::{Mappings, Progress, Scope, offline};
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

/// Run a restore.
pub async fn run(a: RestoreArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let store = open_store(&a.location).await?;
    let source = offline::resolve_source(&a.from_backup, store.clone())?;
    let backup_name = source.name();
    let restore_name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{backup_name}-{}", chrono::Utc::now().format("%Y%m%d%H%M%S")));
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
    let opts = RestoreOptions {
        restore_name: restore_name.clone(),
        backup_name: backup_name.clone(),
        scope: Scope::try_from(&a.scope)?,
        mappings: Mappings::try_from(&a.mappings)?,
        resource_modifiers: modifiers,
        existing_resource_policy: a.existing_resource_policy,
        resource_priorities: priorities,
        preserve_node_ports: a.preserve_nodeports,
        skip_owned: a.skip_owned,
        ..RestoreOptions::default()
    };

    let clock = std::time::Instant::now();
    let lap = |what: &str| {
        tracing::debug!(
            stage = what,
            at_ms = clock.elapsed().as_millis(),
            "restore timing"
        );
    };
    let cluster = connect(&a.cluster).await?;
    // Reading the backup (local or S3) and the target's discovery + facts are independent: overlap them.
    let target = async {
        let surface = cluster.discover(false).await?;
        lap("discovery");
        let facts = restore_run::target_facts(&cluster, &surface).await;
        lap("target facts");
        Ok::<_, CliError>((surface, facts))
    };
    let (items, target) = tokio::join!(restore_run::load_items(&source, progress), target);
    let (items, (surface, facts)) = (items?, target?);
    lap("backup read");
    progress.stage("planning", None);
    // Consuming: each item's JSON is freed once its final JSON is made.
    let plan = restore::plan_owned(items, &surface, &opts, &facts).map_err(|e| CliError::usage(chain(&e)))?;
    progress.finish_stage();
    lap("planned");

    if a.dry_run {
        progress.stage("checking existing objects", None);
        let existing = restore_run::predict_existing(&cluster, &plan, a.concurrency).await;
        progress.clear();
        match a.output {
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
        return Ok(code::OK);
    }

    let exec = ExecOptions {
        concurrency: a.concurrency.max(1),
        server_dry_run: a.server_dry_run,
        fail_fast: a.fail_fast,
        wait_timeout: std::time::Duration::from_secs(a.wait_timeout),
    };
    let cancel = tokio_util_cancel();
    let report = restore_run::execute(&cluster, &plan, &exec, progress, &cancel).await?;
    lap("executed");
    progress.clear();
    if !a.server_dry_run
        && let Some(store) = &store
        && let Err(e) = restore_run::write_restore_documents(store.as_ref(), &report).await
    {
        eprintln!(
            "warning: could not write the restore's results to the location: {}",
            chain(&e)
        );
    }
    lap("restore documents written");
    match a.output {
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
        o => output::data(&report, o)?,
    }
    if report.interrupted && cancel.is_cancelled() {
        return Ok(code::INTERRUPTED);
    }
    Ok(if report.failures() > 0 || report.phase != "Completed" {
        code::ITEM_FAILURES
    } else {
        code::OK
    })
}
