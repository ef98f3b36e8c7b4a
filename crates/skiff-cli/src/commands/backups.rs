//! `skiff backups list|describe|delete|prune|copy`: the backups of a location.

use super::{open_store, require_store};
use crate::args::{LocationArgs, Output};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Subcommand;
use skiff_engine::offline::{BackupSource, catalog, escape_for_display as esc};
use std::fmt::Write as _;

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
    /// Copy a backup to another location (e.g. an air-gapped bucket or a folder): every object
    /// under `backups/<name>/`, checked at the destination (sizes, SHA-256 of the documents, a
    /// full validation against the backup's index), then `velero-backup.json` last — Velero and
    /// skiff never see a half-copied backup.
    Copy(CopyArgs),
    /// Delete the backups past their expiration (`status.expiration`), as Velero's garbage
    /// collector does: each backup's `velero-backup.json` first, then everything else under
    /// `backups/<name>/`. A backup still being written has no `velero-backup.json` yet and is
    /// never listed, so never touched.
    Prune {
        /// Location.
        #[command(flatten)]
        location: LocationArgs,
        /// List what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// Run a `backups` subcommand.
pub async fn run(cmd: BackupsCommand, progress: &CliProgress) -> Result<u8, CliError> {
    match cmd {
        BackupsCommand::List { location, output } => {
            let store = require_store(open_store(&location).await?)?;
            let rows = catalog::list(&store).await?;
            if output == Output::Table {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            esc(&r.name).into_owned(),
                            esc(&r.phase).into_owned(),
                            esc(&r.created).into_owned(),
                            esc(&r.expires).into_owned(),
                            r.items.to_string(),
                            output::human_bytes(r.size),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "PHASE", "CREATED", "EXPIRES", "ITEMS", "SIZE"], &table)?;
                progress.clear();
                for r in &rows {
                    if let Some(e) = &r.error {
                        eprintln!("warning: backup {:?} cannot be read: {}", esc(&r.name), esc(e));
                    }
                }
            } else {
                output::data(&rows, output)?;
            }
            Ok(code::OK)
        }
        BackupsCommand::Describe {
            name,
            location,
            output,
        } => {
            let store = require_store(open_store(&location).await?)?;
            let source = BackupSource::Stored {
                store,
                name: name.clone(),
            };
            describe(&source, output, progress).await
        }
        BackupsCommand::Delete {
            name,
            location,
            confirm,
        } => {
            let store = require_store(open_store(&location).await?)?;
            catalog::find(&store, &name).await?;
            if !confirm {
                if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    return Err(CliError::usage(
                        "refusing to delete without --confirm (stdin is not a terminal)",
                    ));
                }
                eprint!("Delete backup {name:?} from {}? [y/N] ", store.describe());
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("not deleted");
                    return Ok(code::OK);
                }
            }
            let n = catalog::delete(&store, &name).await?;
            eprintln!("deleted backup {name:?} ({n} objects)");
            Ok(code::OK)
        }
        BackupsCommand::Prune {
            location,
            dry_run,
            output,
        } => prune(&location, dry_run, output).await,
        BackupsCommand::Copy(a) => copy(a, progress).await,
    }
}

/// `skiff backups copy`.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Backup name.
    pub name: String,
    /// Where the backup is.
    #[command(flatten)]
    pub from: FromLocation,
    /// Where it goes.
    #[command(flatten)]
    pub to: ToLocation,
    /// Replace a backup of the same name at the destination (or the leftovers of an unfinished
    /// write); it is unlisted first (`velero-backup.json` deleted first).
    #[arg(long)]
    pub overwrite: bool,
    /// Output of the summary.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// The source location of `backups copy`: the location flags, prefixed `--from-`.
#[derive(Debug, clap::Args, Clone)]
#[allow(clippy::struct_field_names)] // the field names are the flag names
pub struct FromLocation {
    /// Source: a local folder, `s3://bucket/prefix`, or a Velero `BackupStorageLocation` YAML file.
    #[arg(long, short = 'l', visible_alias = "location", env = crate::env::LOCATION, value_name = "LOCATION")]
    pub from_location: String,
    /// Source S3 endpoint URL.
    #[arg(long, value_name = "URL")]
    pub from_s3_endpoint: Option<String>,
    /// Source S3 region.
    #[arg(long, value_name = "REGION")]
    pub from_region: Option<String>,
    /// Source path-style addressing (default on with --from-s3-endpoint).
    #[arg(long, value_name = "BOOL")]
    pub from_s3_force_path_style: Option<bool>,
    /// Source credentials file (AWS shared-credentials format; Velero's `cloud` file).
    #[arg(long, value_name = "FILE")]
    pub from_credentials_file: Option<std::path::PathBuf>,
    /// Profile in the source credentials file.
    #[arg(long, value_name = "PROFILE")]
    pub from_profile: Option<String>,
    /// Extra CA bundle (PEM) for the source endpoint.
    #[arg(long, value_name = "FILE")]
    pub from_cacert: Option<std::path::PathBuf>,
    /// Do not verify the source endpoint's TLS certificate.
    #[arg(long)]
    pub from_insecure_skip_tls_verify: bool,
    /// Source checksum mode (`when-required` / `when-supported`; see --checksum-mode).
    #[arg(long, value_name = "MODE", value_parser = |s: &str| skiff_store::ChecksumMode::parse(s).ok_or_else(|| format!("{s:?}: when-required or when-supported")))]
    pub from_checksum_mode: Option<skiff_store::ChecksumMode>,
}

/// The destination location of `backups copy`: the location flags, prefixed `--to-`.
#[derive(Debug, clap::Args, Clone)]
#[allow(clippy::struct_field_names)] // the field names are the flag names
pub struct ToLocation {
    /// Destination: a local folder, `s3://bucket/prefix`, or a Velero `BackupStorageLocation` YAML file.
    #[arg(long, value_name = "LOCATION")]
    pub to_location: String,
    /// Destination S3 endpoint URL.
    #[arg(long, value_name = "URL")]
    pub to_s3_endpoint: Option<String>,
    /// Destination S3 region.
    #[arg(long, value_name = "REGION")]
    pub to_region: Option<String>,
    /// Destination path-style addressing (default on with --to-s3-endpoint).
    #[arg(long, value_name = "BOOL")]
    pub to_s3_force_path_style: Option<bool>,
    /// Destination credentials file.
    #[arg(long, value_name = "FILE")]
    pub to_credentials_file: Option<std::path::PathBuf>,
    /// Profile in the destination credentials file.
    #[arg(long, value_name = "PROFILE")]
    pub to_profile: Option<String>,
    /// Extra CA bundle (PEM) for the destination endpoint.
    #[arg(long, value_name = "FILE")]
    pub to_cacert: Option<std::path::PathBuf>,
    /// Do not verify the destination endpoint's TLS certificate.
    #[arg(long)]
    pub to_insecure_skip_tls_verify: bool,
    /// Destination checksum mode (`when-required` / `when-supported`; see --checksum-mode).
    #[arg(long, value_name = "MODE", value_parser = |s: &str| skiff_store::ChecksumMode::parse(s).ok_or_else(|| format!("{s:?}: when-required or when-supported")))]
    pub to_checksum_mode: Option<skiff_store::ChecksumMode>,
}

impl FromLocation {
    fn location_args(&self) -> LocationArgs {
        LocationArgs {
            location: Some(self.from_location.clone()),
            s3_endpoint: self.from_s3_endpoint.clone(),
            region: self.from_region.clone(),
            s3_force_path_style: self.from_s3_force_path_style,
            credentials_file: self.from_credentials_file.clone(),
            profile: self.from_profile.clone(),
            cacert: self.from_cacert.clone(),
            insecure_skip_tls_verify: self.from_insecure_skip_tls_verify,
            checksum_mode: self.from_checksum_mode,
        }
    }
}

impl ToLocation {
    fn location_args(&self) -> LocationArgs {
        LocationArgs {
            location: Some(self.to_location.clone()),
            s3_endpoint: self.to_s3_endpoint.clone(),
            region: self.to_region.clone(),
            s3_force_path_style: self.to_s3_force_path_style,
            credentials_file: self.to_credentials_file.clone(),
            profile: self.to_profile.clone(),
            cacert: self.to_cacert.clone(),
            insecure_skip_tls_verify: self.to_insecure_skip_tls_verify,
            checksum_mode: self.to_checksum_mode,
        }
    }
}

/// `skiff backups copy`: one engine call, then the summary.
async fn copy(a: CopyArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let from = require_store(open_store(&a.from.location_args()).await?)?;
    let to = require_store(open_store(&a.to.location_args()).await?)?;
    let cancel = super::tokio_util_cancel();
    let opts = skiff_engine::offline::CopyOptions {
        overwrite: a.overwrite,
    };
    let report = skiff_engine::offline::copy_backup(&from, &to, &a.name, opts, progress, &cancel).await;
    progress.clear();
    let report = match report {
        Ok(r) => r,
        Err(skiff_engine::Error::Interrupted) => {
            return Err(CliError::Interrupted {
                message: format!(
                    "copy of backup {:?} interrupted; nothing was committed at {}",
                    esc(&a.name),
                    to.describe()
                ),
                hints: vec!["run the same command again (with --overwrite if leftovers are reported)".into()],
            });
        }
        Err(e) => {
            let leftovers = matches!(
                &e,
                skiff_engine::Error::Offline(skiff_engine::offline::OfflineError::CopyLeftovers { .. })
            );
            let exists = matches!(&e, skiff_engine::Error::BackupExists { .. });
            let invalid = matches!(
                &e,
                skiff_engine::Error::Offline(skiff_engine::offline::OfflineError::CopyInvalid { .. })
            );
            let mut err = CliError::from(e);
            if leftovers || exists {
                err = err.hint("--overwrite replaces it");
            }
            if invalid {
                err = err.hint(format!(
                    "`skiff validate {} --location {}` shows whether the source itself is damaged",
                    a.name, a.from.from_location
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
                "Backup {:?} copied from {} to {}{}",
                esc(&report.name),
                report.from,
                report.to,
                if report.replaced {
                    " (replaced the existing one)"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                o,
                "  objects:  {} ({})",
                report.objects,
                output::human_bytes(report.bytes)
            );
            let _ = writeln!(
                o,
                "  checked:  {} entries, {} items valid at the destination{}",
                report.entries,
                report.items,
                if report.warnings > 0 {
                    format!(" ({} warnings: `skiff validate` lists them)", report.warnings)
                } else {
                    String::new()
                }
            );
            let _ = writeln!(o, "  time:     {:.1}s", report.seconds);
            output::text_out(&o)?;
        }
        o => output::data(&report, o)?,
    }
    Ok(code::OK)
}

/// `skiff backups prune`.
async fn prune(location: &LocationArgs, dry_run: bool, output: Output) -> Result<u8, CliError> {
    let store = require_store(open_store(location).await?)?;
    let rows = catalog::list(&store).await?;
    let now = chrono::Utc::now();
    let expired: Vec<&catalog::CatalogEntry> = rows
        .iter()
        .filter(|r| {
            chrono::DateTime::parse_from_rfc3339(&r.expires)
                .is_ok_and(|t| t.with_timezone(&chrono::Utc) <= now)
        })
        .collect();
    let mut done = Vec::new();
    let mut failed = 0;
    for r in &expired {
        if dry_run {
            done.push(serde_json::json!({"name": r.name, "expired": r.expires, "deleted": false}));
            continue;
        }
        match catalog::delete(&store, &r.name).await {
            Ok(n) => done.push(
                serde_json::json!({"name": r.name, "expired": r.expires, "deleted": true, "objects": n}),
            ),
            Err(e) => {
                failed += 1;
                eprintln!(
                    "error: could not delete backup {:?}: {}",
                    esc(&r.name),
                    crate::exit::chain(&e)
                );
            }
        }
    }
    if output == Output::Table {
        let mut text = String::new();
        for d in &done {
            let _ = writeln!(
                text,
                "{} {} (expired {})",
                if dry_run { "would delete" } else { "deleted" },
                esc(d["name"].as_str().unwrap_or_default()),
                esc(d["expired"].as_str().unwrap_or_default())
            );
        }
        let _ = writeln!(
            text,
            "{} of {} backups expired{}",
            expired.len(),
            rows.len(),
            if dry_run {
                " (dry run: nothing deleted)"
            } else {
                ""
            }
        );
        output::text_out(&text)?;
    } else {
        output::data(&done, output)?;
    }
    Ok(if failed == 0 { code::OK } else { code::STORAGE })
}

/// `velero backup describe --details`-style text.
async fn describe(source: &BackupSource, output: Output, progress: &CliProgress) -> Result<u8, CliError> {
    let d = catalog::describe(source).await?;
    progress.clear();
    if output != Output::Table {
        output::data(&d.to_json()?, output)?;
        return Ok(code::OK);
    }
    let (doc, resource_list, results) = (&d.backup, &d.resource_list, &d.results);
    let spec = &doc.spec;
    let st = &doc.status;
    // Every value comes from the backup's documents: escaped before it reaches the terminal.
    let e = |v: &str| esc(v).into_owned();
    let join = |v: &[String]| v.iter().map(|x| e(x)).collect::<Vec<_>>().join(", ");
    let list = |v: &[String]| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            join(v)
        }
    };
    let all = |v: &[String]| if v.is_empty() { "*".to_string() } else { join(v) };
    let mut s = String::new();
    let _ = writeln!(s, "Name:         {}", e(&doc.metadata.name));
    let _ = writeln!(s, "Namespace:    {}", e(&doc.metadata.namespace));
    let labels: Vec<String> = doc
        .metadata
        .labels
        .iter()
        .map(|(k, v)| format!("{}={}", e(k), e(v)))
        .collect();
    let _ = writeln!(s, "Labels:       {}", list(&labels));
    let ann: Vec<String> = doc
        .metadata
        .annotations
        .iter()
        .map(|(k, v)| format!("{}={}", e(k), e(v)))
        .collect();
    let _ = writeln!(s, "Annotations:  {}", list(&ann));
    let _ = writeln!(s);
    let _ = writeln!(s, "Phase:  {}", e(&st.phase));
    let _ = writeln!(s);
    let _ = writeln!(s, "Namespaces:");
    let _ = writeln!(s, "  Included:  {}", all(&spec.included_namespaces));
    let _ = writeln!(s, "  Excluded:  {}", list(&spec.excluded_namespaces));
    let _ = writeln!(s);
    let _ = writeln!(s, "Resources:");
    if spec.included_resources.is_empty()
        && spec.excluded_resources.is_empty()
        && spec.include_cluster_resources.is_none()
    {
        let _ = writeln!(
            s,
            "  Included cluster-scoped:    {}",
            list(&spec.included_cluster_scoped_resources)
        );
        let _ = writeln!(
            s,
            "  Excluded cluster-scoped:    {}",
            list(&spec.excluded_cluster_scoped_resources)
        );
        let _ = writeln!(
            s,
            "  Included namespace-scoped:  {}",
            all(&spec.included_namespace_scoped_resources)
        );
        let _ = writeln!(
            s,
            "  Excluded namespace-scoped:  {}",
            list(&spec.excluded_namespace_scoped_resources)
        );
    } else {
        let _ = writeln!(s, "  Included:        {}", all(&spec.included_resources));
        let _ = writeln!(s, "  Excluded:        {}", list(&spec.excluded_resources));
        let _ = writeln!(
            s,
            "  Cluster-scoped:  {}",
            match spec.include_cluster_resources {
                None => "auto",
                Some(true) => "included",
                Some(false) => "excluded",
            }
        );
    }
    let _ = writeln!(s);
    let sel = spec.label_selector.as_ref().map_or_else(
        || "<none>".to_string(),
        |l| e(&serde_json::to_string(l).unwrap_or_default()),
    );
    let _ = writeln!(s, "Label selector:  {sel}");
    let _ = writeln!(s);
    let _ = writeln!(s, "Storage Location:  {}", e(&spec.storage_location));
    let _ = writeln!(s, "TTL:  {}", e(spec.ttl.as_deref().unwrap_or("<none>")));
    let _ = writeln!(s);
    let _ = writeln!(s, "Backup Format Version:  {}", e(&st.format_version));
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Started:    {}",
        e(st.start_timestamp.as_deref().unwrap_or("<n/a>"))
    );
    let _ = writeln!(
        s,
        "Completed:  {}",
        e(st.completion_timestamp.as_deref().unwrap_or("<n/a>"))
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Expiration:  {}",
        e(st.expiration.as_deref().unwrap_or("<never>"))
    );
    let _ = writeln!(s);
    if let Some(p) = &st.progress {
        let _ = writeln!(s, "Total items to be backed up:  {}", p.total_items);
        let _ = writeln!(s, "Items backed up:              {}", p.items_backed_up);
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "Resource List:");
    for (k, v) in resource_list {
        let _ = writeln!(s, "  {}:", e(k));
        for n in v {
            let _ = writeln!(s, "    - {}", e(n));
        }
    }
    let _ = writeln!(s);
    for (title, set) in [("Errors", &results.errors), ("Warnings", &results.warnings)] {
        if set.is_empty() {
            let _ = writeln!(s, "{title}:  <none>");
            continue;
        }
        let _ = writeln!(s, "{title}:");
        for m in &set.velero {
            let _ = writeln!(s, "  Velero:   {}", e(m));
        }
        for m in &set.cluster {
            let _ = writeln!(s, "  Cluster:  {}", e(m));
        }
        for (ns, msgs) in &set.namespaces {
            for m in msgs {
                let _ = writeln!(s, "  Namespace {}:  {}", e(ns), e(m));
            }
        }
    }
    output::text_out(&s)?;
    Ok(code::OK)
}

// ---------------------------------------------------------------------------------------------
