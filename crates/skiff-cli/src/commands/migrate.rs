//! `skiff migrate`: cluster to cluster with no bucket — the backup pipeline's selection reads
//! the source, the restore planner and executor apply it to the target — and `--undo`.

use super::restore::{ApplyArgs, apply, restore_options};
use super::{connect_to, open_from, open_store, refuse_same_cluster, require_store};
use crate::args::{FromArgs, LocationArgs, Output, ToArgs};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use skiff_engine::migrate::{self, MigrationRecord, UndoOutcome};
use skiff_engine::side::Side;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `skiff migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Migration name: the `velero.io/restore-name` label of what it creates, the name of its
    /// record (for --undo) and, with --archive, of the backup and its results.
    pub name: String,
    /// The source cluster.
    #[command(flatten)]
    pub from: FromArgs,
    /// The target cluster.
    #[command(flatten)]
    pub to: ToArgs,
    /// Also keep a Velero-readable backup of the migrated source objects, named after the
    /// migration, in this location (folder, `s3://bucket/prefix` or a BSL YAML; S3 flags as for
    /// --location). The backup is written first and the migration applies it; the results go
    /// beside it under `restores/<name>/`.
    #[arg(long, conflicts_with = "undo")]
    pub archive: Option<String>,
    /// S3 flags for --archive (its --location is --archive).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Delete exactly the objects this migration created (from its record); never an object it
    /// did not create or one replaced since.
    #[arg(long)]
    pub undo: bool,
    /// The record of what the migration created (default:
    /// `$XDG_STATE_HOME/skiff/migrations/<name>.json`, else `~/.local/state/skiff/migrations/`).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Upper bound on requests in flight to each cluster.
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
    /// What to apply and how (as `skiff restore`).
    #[command(flatten)]
    pub apply: ApplyArgs,
}

/// Run `skiff migrate`.
pub async fn run(a: MigrateArgs, progress: &CliProgress) -> Result<u8, CliError> {
    skiff_store::layout::validate_restore_name(&a.name)?;
    if a.from.from_backup.is_some() {
        return Err(CliError::usage(
            "skiff migrate reads a live source (--from-context / --from-kubeconfig); to apply a backup use skiff restore",
        ));
    }
    if a.location.location.is_some() {
        return Err(CliError::usage(
            "skiff migrate takes its location as --archive <location>, not --location",
        ));
    }
    let record_path = record_path(&a)?;
    let target = connect_to(&a.to, a.max_requests).await?;
    if a.undo {
        return undo(&a, &target, &record_path).await;
    }
    let source = open_from(&a.from, None, &a.location, a.max_requests).await?;
    refuse_same_cluster(&source, &target).await?;
    let opts = restore_options(&a.apply, a.name.clone(), &a.name)?;

    // With --archive: back up first (the backup pipeline, same selection), then apply that backup.
    let (side, store) = match (&a.archive, source) {
        (Some(archive), Side::Cluster(cluster)) if !a.apply.dry_run => {
            let mut loc = a.location.clone();
            loc.location = Some(archive.clone());
            let store = require_store(open_store(&loc).await?)?;
            let backup = skiff_engine::backup::BackupOptions {
                name: a.name.clone(),
                scope: opts.scope.clone(),
                ..skiff_engine::backup::BackupOptions::default()
            };
            let cancel = super::tokio_util_cancel();
            let report =
                skiff_engine::backup::run_backup(&cluster, store.clone(), &backup, progress, &cancel).await?;
            progress.clear();
            if report.phase != skiff_engine::backup::BackupPhase::Completed {
                return Err(CliError::usage(format!(
                    "the --archive backup {:?} ended {}: nothing was applied",
                    a.name, report.phase
                )));
            }
            let source = skiff_engine::offline::resolve_source(&a.name, Some(store.clone()))?;
            (Side::Backup(source), Some(store))
        }
        (_, source) => (source, None),
    };
    let (code, report) = Box::pin(apply(&side, &target, store.as_deref(), &opts, &a.apply, progress)).await?;
    if let Some(report) = report.filter(|r| !r.server_dry_run) {
        // Kept even when the run failed part-way or was interrupted: undo must see every create.
        let mut record = read_record(&record_path)?.unwrap_or_else(|| MigrationRecord {
            name: a.name.clone(),
            started: report.started,
            created: Vec::new(),
            namespaces: Vec::new(),
        });
        record.extend(&report.created, &report.created_namespaces);
        write_record(&record_path, &record)?;
    }
    Ok(code)
}

/// Where the record lives.
fn record_path(a: &MigrateArgs) -> Result<PathBuf, CliError> {
    if let Some(p) = &a.record {
        return Ok(p.clone());
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| {
            CliError::usage("no HOME or XDG_STATE_HOME for the migration record: pass --record <file>")
        })?;
    Ok(base.join("skiff/migrations").join(format!("{}.json", a.name)))
}

/// Read a record, if there is one.
pub fn read_record(path: &std::path::Path) -> Result<Option<MigrationRecord>, CliError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| CliError::usage(format!("migration record {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::usage(format!(
            "read migration record {}: {e}",
            path.display()
        ))),
    }
}

/// Write a record atomically (temporary file, then rename).
pub fn write_record(path: &std::path::Path, record: &MigrationRecord) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::usage(format!("write migration record {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(record).map_err(|e| CliError::usage(e.to_string()))?;
    std::fs::write(&tmp, body).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

async fn undo(a: &MigrateArgs, target: &skiff_kube::Cluster, path: &std::path::Path) -> Result<u8, CliError> {
    let Some(record) = read_record(path)? else {
        return Err(CliError::NotFound {
            message: format!("no record of migration {:?} at {}", a.name, path.display()),
            hints: vec!["pass the record of the run with --record <file>".to_owned()],
        });
    };
    let items = migrate::undo(target, &record, a.apply.server_dry_run).await;
    let failed = items.iter().filter(|i| i.outcome == UndoOutcome::Failed).count();
    match a.apply.output {
        Output::Table => {
            let mut o = String::new();
            for i in &items {
                let what = match i.outcome {
                    UndoOutcome::Deleted => "deleted",
                    UndoOutcome::Gone => "gone",
                    UndoOutcome::Kept => "kept",
                    UndoOutcome::Failed => "FAILED",
                };
                let _ = writeln!(
                    o,
                    "{what:<8} {}{}",
                    i.object,
                    i.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
                );
            }
            let deleted = items.iter().filter(|i| i.outcome == UndoOutcome::Deleted).count();
            let _ = writeln!(
                o,
                "Undo of migration {:?}: {deleted} deleted, {failed} failed, {} recorded{}",
                a.name,
                items.len(),
                if a.apply.server_dry_run {
                    " (server dry run: nothing deleted)"
                } else {
                    ""
                }
            );
            output::text_out(&o)?;
        }
        o => output::data(&items, o)?,
    }
    if failed == 0 && !a.apply.server_dry_run {
        let _ = std::fs::remove_file(path);
    }
    Ok(if failed == 0 {
        code::OK
    } else {
        code::ITEM_FAILURES
    })
}
