//! `skiff restore`: plan (pure), print with `--dry-run`, otherwise execute wave by wave.

use super::{connect, open_store, print_data, tokio_util_cancel};
use crate::args::{ExistingPolicy, Output, RestoreArgs};
use crate::exit::{CliError, code};
use crate::progress::CliProgress;
use skiff_engine::Progress;
use skiff_engine::offline;
use skiff_engine::restore::{
    self, ExistingResourcePolicy, ResourceModifiers, ResourcePriorities, RestoreOptions,
};
use skiff_engine::restore_run::{self, ExecOptions, Outcome};
use std::collections::BTreeMap;
use std::io::Write;

fn mappings(flag: &str, values: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for v in values.iter().filter(|v| !v.is_empty()) {
        // Registries may carry a port (`old.example:5000`): split at the last ':' that leaves a
        // non-empty right side without '/'. Namespaces and classes have no ':' inside.
        let split = v.rfind(':').filter(|&i| i > 0 && i + 1 < v.len());
        let Some(i) = split else {
            return Err(CliError::usage(format!("--{flag}: {v:?} is not old:new")));
        };
        out.insert(v[..i].to_string(), v[i + 1..].to_string());
    }
    Ok(out)
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
                CliError::usage(format!(
                    "--resource-modifiers {}: {}",
                    path.display(),
                    offline::chain(&e)
                ))
            })?)
        }
        None => None,
    };
    let priorities = ResourcePriorities::parse(&a.resource_priorities.join(","))
        .map_err(|e| CliError::usage(format!("--resource-priorities: {e}")))?;
    let opts = RestoreOptions {
        restore_name: restore_name.clone(),
        backup_name: backup_name.clone(),
        include_namespaces: a.include_namespaces.clone(),
        exclude_namespaces: a.exclude_namespaces.clone(),
        include_resources: a.include_resources.clone(),
        exclude_resources: a.exclude_resources.clone(),
        include_cluster_resources: a.include_cluster_resources,
        label_selector: a.selector.clone(),
        or_label_selectors: a.or_selector.clone(),
        include_names: a.include_name.clone(),
        namespace_mappings: mappings("namespace-mappings", &a.namespace_mappings)?,
        storage_class_mappings: mappings("storage-class-mappings", &a.storage_class_mappings)?,
        image_registry_mappings: mappings("image-registry-mappings", &a.image_registry_mappings)?,
        resource_modifiers: modifiers,
        existing_resource_policy: a.existing_resource_policy.map(|p| match p {
            ExistingPolicy::None => ExistingResourcePolicy::None,
            ExistingPolicy::Update => ExistingResourcePolicy::Update,
            ExistingPolicy::Apply => ExistingResourcePolicy::Apply,
        }),
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
    let plan = restore::plan_owned(items, &surface, &opts, &facts)
        .map_err(|e| CliError::usage(offline::chain(&e)))?;
    progress.finish_stage();
    lap("planned");

    if a.dry_run {
        progress.stage("checking existing objects", None);
        let existing = restore_run::predict_existing(&cluster, &plan, a.concurrency).await;
        progress.clear();
        match a.output {
            Output::Table => {
                let mut out = std::io::stdout().lock();
                out.write_all(plan.to_text().as_bytes())?;
                writeln!(
                    out,
                    "\nAlready in the target ({}): {}",
                    existing.len(),
                    if existing.is_empty() {
                        "none".to_string()
                    } else {
                        String::new()
                    }
                )?;
                for e in existing.iter().take(200) {
                    writeln!(out, "  {e}")?;
                }
                if existing.len() > 200 {
                    writeln!(out, "  … and {} more", existing.len() - 200)?;
                }
                writeln!(out, "\nDry run: nothing was changed.")?;
            }
            o => print_data(&serde_json::json!({"plan": plan, "alreadyExisting": existing}), o)?,
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
            offline::chain(&e)
        );
    }
    lap("restore documents written");
    match a.output {
        Output::Table => {
            let mut out = std::io::stdout().lock();
            writeln!(
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
            )?;
            for (k, v) in &report.counts {
                writeln!(out, "  {:<10} {v}", format!("{k:?}").to_lowercase())?;
            }
            writeln!(out, "  time       {:.1}s", report.seconds)?;
            for i in report
                .items
                .iter()
                .filter(|i| matches!(i.outcome, Outcome::Failed | Outcome::Conflict))
                .take(50)
            {
                writeln!(
                    out,
                    "  {:?} {}: {}",
                    i.outcome,
                    i.item,
                    i.message.clone().unwrap_or_default()
                )?;
            }
        }
        o => print_data(&report, o)?,
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
