//! `skiff backups list|describe|delete`: the backups of a location.

use super::{open_store, require_store};
use crate::args::{LocationArgs, Output};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Subcommand;
use serde::Serialize;
use skiff_engine::offline::{self, BackupSource};
use skiff_store::layout::BackupFile;
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

#[derive(Serialize)]
struct BackupRow {
    name: String,
    phase: String,
    created: String,
    expires: String,
    items: i64,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Run a `backups` subcommand.
pub async fn run(cmd: BackupsCommand, progress: &CliProgress) -> Result<u8, CliError> {
    match cmd {
        BackupsCommand::List { location, output } => {
            let store = require_store(open_store(&location).await?)?;
            let names = skiff_store::layout::list_backups(store.as_ref()).await?;
            let mut rows = Vec::new();
            for name in names {
                let source = BackupSource::Stored {
                    store: store.clone(),
                    name: name.clone(),
                };
                let size = store
                    .head(&BackupFile::Tarball.key(&name)?)
                    .await?
                    .map_or(0, |m| m.size);
                let row = match offline::read_backup_doc(&source).await {
                    Ok(Some(b)) => BackupRow {
                        name,
                        phase: b.status.phase.clone(),
                        created: b.status.start_timestamp.clone().unwrap_or_default(),
                        expires: b.status.expiration.clone().unwrap_or_else(|| "never".into()),
                        items: b.status.progress.as_ref().map_or(0, |p| p.total_items),
                        size,
                        error: None,
                    },
                    Ok(None) => continue,
                    Err(e) => BackupRow {
                        name,
                        phase: "<unreadable>".into(),
                        created: String::new(),
                        expires: String::new(),
                        items: 0,
                        size,
                        error: Some(crate::exit::chain(&e)),
                    },
                };
                rows.push(row);
            }
            if output == Output::Table {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.phase.clone(),
                            r.created.clone(),
                            r.expires.clone(),
                            r.items.to_string(),
                            output::human_bytes(r.size),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "PHASE", "CREATED", "EXPIRES", "ITEMS", "SIZE"], &table)?;
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
            skiff_store::layout::validate_backup_name(&name)?;
            if store.head(&BackupFile::Metadata.key(&name)?).await?.is_none()
                && store
                    .list(&skiff_store::layout::backup_prefix(&name)?)
                    .await?
                    .is_empty()
            {
                return Err(skiff_engine::Error::BackupNotFound {
                    name,
                    location: store.describe(),
                }
                .into());
            }
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
            let n = skiff_store::layout::delete_backup(store.as_ref(), &name).await?;
            eprintln!("deleted backup {name:?} ({n} objects)");
            Ok(code::OK)
        }
    }
}

/// `velero backup describe --details`-style text.
async fn describe(source: &BackupSource, output: Output, progress: &CliProgress) -> Result<u8, CliError> {
    let Some(doc) = offline::read_backup_doc(source).await? else {
        return Err(skiff_engine::Error::BackupNotFound {
            name: source.name(),
            location: source.describe(),
        }
        .into());
    };
    let resource_list: std::collections::BTreeMap<String, Vec<String>> =
        match source.read_file(BackupFile::ResourceList).await? {
            Some(d) => {
                skiff_format::docs::decode_sidecar(&d, "resource list").map_err(skiff_engine::Error::from)?
            }
            None => std::collections::BTreeMap::default(),
        };
    let results: skiff_format::docs::Results = match source.read_file(BackupFile::Results).await? {
        Some(d) => skiff_format::docs::decode_sidecar(&d, "results").map_err(skiff_engine::Error::from)?,
        None => skiff_format::docs::Results::default(),
    };
    let _ = progress;
    if output != Output::Table {
        let v = serde_json::json!({
            "backup": serde_json::from_slice::<serde_json::Value>(&doc.to_json().map_err(skiff_engine::Error::from)?).unwrap_or_default(),
            "resourceList": resource_list,
            "results": results,
        });
        output::data(&v, output)?;
        return Ok(code::OK);
    }
    let spec = &doc.spec;
    let st = &doc.status;
    let list = |v: &[String]| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut s = String::new();
    let _ = writeln!(s, "Name:         {}", doc.metadata.name);
    let _ = writeln!(s, "Namespace:    {}", doc.metadata.namespace);
    let labels: Vec<String> = doc
        .metadata
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(s, "Labels:       {}", list(&labels));
    let ann: Vec<String> = doc
        .metadata
        .annotations
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(s, "Annotations:  {}", list(&ann));
    let _ = writeln!(s);
    let _ = writeln!(s, "Phase:  {}", st.phase);
    let _ = writeln!(s);
    let _ = writeln!(s, "Namespaces:");
    let _ = writeln!(
        s,
        "  Included:  {}",
        if spec.included_namespaces.is_empty() {
            "*".into()
        } else {
            spec.included_namespaces.join(", ")
        }
    );
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
            if spec.included_namespace_scoped_resources.is_empty() {
                "*".into()
            } else {
                spec.included_namespace_scoped_resources.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "  Excluded namespace-scoped:  {}",
            list(&spec.excluded_namespace_scoped_resources)
        );
    } else {
        let _ = writeln!(
            s,
            "  Included:        {}",
            if spec.included_resources.is_empty() {
                "*".into()
            } else {
                spec.included_resources.join(", ")
            }
        );
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
        |l| serde_json::to_string(l).unwrap_or_default(),
    );
    let _ = writeln!(s, "Label selector:  {sel}");
    let _ = writeln!(s);
    let _ = writeln!(s, "Storage Location:  {}", spec.storage_location);
    let _ = writeln!(s, "TTL:  {}", spec.ttl.as_deref().unwrap_or("<none>"));
    let _ = writeln!(s);
    let _ = writeln!(s, "Backup Format Version:  {}", st.format_version);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Started:    {}",
        st.start_timestamp.clone().unwrap_or_else(|| "<n/a>".into())
    );
    let _ = writeln!(
        s,
        "Completed:  {}",
        st.completion_timestamp.clone().unwrap_or_else(|| "<n/a>".into())
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Expiration:  {}",
        st.expiration.clone().unwrap_or_else(|| "<never>".into())
    );
    let _ = writeln!(s);
    if let Some(p) = &st.progress {
        let _ = writeln!(s, "Total items to be backed up:  {}", p.total_items);
        let _ = writeln!(s, "Items backed up:              {}", p.items_backed_up);
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "Resource List:");
    for (k, v) in &resource_list {
        let _ = writeln!(s, "  {k}:");
        for n in v {
            let _ = writeln!(s, "    - {n}");
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
            let _ = writeln!(s, "  Velero:   {m}");
        }
        for m in &set.cluster {
            let _ = writeln!(s, "  Cluster:  {m}");
        }
        for (ns, msgs) in &set.namespaces {
            for m in msgs {
                let _ = writeln!(s, "  Namespace {ns}:  {m}");
            }
        }
    }
    output::text_out(&s)?;
    Ok(code::OK)
}

// ---------------------------------------------------------------------------------------------
