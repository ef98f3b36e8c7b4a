//! `skiff backups list|describe|delete`: the backups of a location.

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
    }
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
