//! `skiff backup`: one engine call ([`skiff_engine::backup::run_backup`]), then the summary.

use super::{connect, open_store, require_store, tokio_util_cancel};
use crate::args::{ClusterArgs, LocationArgs, Output, ScopeArgs};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use skiff_engine::Scope;
use skiff_engine::backup::BackupPhase;
use std::fmt::Write as _;

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
    /// Which objects.
    #[command(flatten)]
    pub scope: ScopeArgs,
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
    /// Name the backup `<name>-<UTC YYYYMMDDHHMMSS>`, as Velero names a schedule's backups
    /// (what `skiff schedule` runs).
    #[arg(long)]
    pub timestamped: bool,
    /// Accepted for Velero CLI compatibility: skiff always waits for completion.
    #[arg(long)]
    pub wait: bool,
    /// Output of the final summary.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Run a backup.
pub async fn run(mut a: BackupArgs, progress: &CliProgress) -> Result<u8, CliError> {
    if a.timestamped {
        a.name = format!("{}-{}", a.name, chrono::Utc::now().format("%Y%m%d%H%M%S"));
    }
    let store = require_store(open_store(&a.location).await?)?;
    let scope = Scope::try_from(&a.scope)?;
    let cluster = connect(&a.cluster).await?;
    let opts = skiff_engine::backup::BackupOptions {
        name: a.name.clone(),
        scope,
        ttl: *a.ttl,
        storage_location: a.storage_location_name.clone(),
        velero_namespace: a.velero_namespace.clone(),
        all_api_versions: a.all_api_versions,
        page_size: a.page_size.max(1),
        list_concurrency: a.list_concurrency.max(1),
        compression_level: a.compression_level,
        overwrite: false,
    };
    let cancel = tokio_util_cancel();
    let report = skiff_engine::backup::run_backup(&cluster, store.clone(), &opts, progress, &cancel).await;
    progress.clear();
    let report = match report {
        Ok(r) => {
            if r.phase == BackupPhase::Completed || r.phase == BackupPhase::PartiallyFailed {
                super::register_with_velero(&cluster, store.clone(), &a.location, &a.name).await;
            }
            r
        }
        Err(skiff_engine::Error::Interrupted) => {
            return Err(CliError::Interrupted {
                message: format!("backup {:?} interrupted; nothing was committed", a.name),
                hints: vec![format!(
                    "run the same command again to retry; leftovers, if any, go with `skiff backups delete {} --location … --confirm`",
                    a.name
                )],
            });
        }
        Err(e) => {
            let mut err = CliError::from(e);
            if err.exit_code() != code::BACKUP_NOT_FOUND_OR_EXISTS {
                err = err.hint(format!(
                    "no velero-backup.json was written, so no tool lists backup {:?}; retry the same command",
                    a.name
                ));
            }
            return Err(err);
        }
    };
    match a.output {
        Output::Table => {
            let mut o = String::new();
            let _ = writeln!(
                o,
                "Backup {:?} {} in {}",
                report.name, report.phase, report.location
            );
            let _ = writeln!(o, "  items:    {}", report.items);
            let _ = writeln!(
                o,
                "  size:     {} compressed ({} of JSON)",
                output::human_bytes(report.tarball_bytes),
                output::human_bytes(report.item_bytes)
            );
            let _ = writeln!(
                o,
                "  time:     {:.1}s ({} items)",
                report.seconds,
                output::human_rate(report.items as f64 / report.seconds.max(1e-3))
            );
            let _ = writeln!(
                o,
                "  expires:  {}",
                report
                    .expiration
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            if report.api_retries > 0 {
                let _ = writeln!(o, "  retried API requests: {}", report.api_retries);
            }
            for e in &report.errors {
                let _ = writeln!(o, "  error: {e}");
            }
            for w in &report.warnings {
                let _ = writeln!(o, "  warning: {w}");
            }
            output::text_out(&o)?;
        }
        o => output::data(&report, o)?,
    }
    Ok(if report.phase == BackupPhase::Completed {
        code::OK
    } else {
        code::ITEM_FAILURES
    })
}
