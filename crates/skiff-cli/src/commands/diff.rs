//! `skiff diff`: one engine call — [`diff::diff`] — between two sides, and its report.

use super::{connect_to, open_from, tokio_util_cancel};
use crate::args::{FromArgs, LocationArgs, MappingArgs, Output, ScopeArgs, ToArgs};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use skiff_engine::diff::{self, Change, DiffOptions, DiffReport};
use skiff_engine::side::Side;
use skiff_engine::{Mappings, Scope};
use std::fmt::Write as _;

/// `skiff diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first side as a backup: a name in --location, a backup folder, or a .tar.gz (same as --from-backup).
    pub backup: Option<String>,
    /// The first side.
    #[command(flatten)]
    pub from: FromArgs,
    /// The second side as a backup: a name in --location, a backup folder, or a .tar.gz.
    #[arg(long, conflicts_with_all = ["to_kubeconfig", "to_context"])]
    pub to_backup: Option<String>,
    /// The second side as a live cluster.
    #[command(flatten)]
    pub to: ToArgs,
    /// Location (for backup names, on either side).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Which objects, on both sides (original namespaces).
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Applied to the first side.
    #[command(flatten)]
    pub mappings: MappingArgs,
    /// Upper bound on requests in flight per cluster.
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Run `skiff diff`: exit 6 when the sides differ, 0 when equal.
pub async fn run(a: DiffArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let opts = DiffOptions {
        scope: Scope::try_from(&a.scope)?,
        mappings: Mappings::try_from(&a.mappings)?,
    };
    let from = open_from(&a.from, a.backup.as_deref(), &a.location, a.max_requests).await?;
    let to = match &a.to_backup {
        Some(b) => open_from(&FromArgs::default(), Some(b), &a.location, a.max_requests).await?,
        None if a.to.is_set() => Side::Cluster(connect_to(&a.to, a.max_requests).await?),
        None => {
            return Err(CliError::usage(
                "no second side: name a backup (--to-backup) or a cluster (--to-context / --to-kubeconfig)",
            ));
        }
    };
    let cancel = tokio_util_cancel();
    let report = diff::diff(&from, &to, &opts, progress, &cancel).await?;
    progress.clear();
    match a.output {
        Output::Table => output::text_out(&render(&report))?,
        o => output::data(&report, o)?,
    }
    Ok(if report.has_differences() {
        code::DIFFERENCES
    } else {
        code::OK
    })
}

fn render(r: &DiffReport) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for o in &r.objects {
        let object = match &o.namespace {
            Some(ns) => format!("{}/{ns}/{}", o.resource, o.name),
            None => format!("{}/{}", o.resource, o.name),
        };
        let change = match o.change {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        };
        if o.differences.is_empty() {
            rows.push(vec![change.into(), object.clone(), String::new()]);
        }
        for d in &o.differences {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .map_or_else(|| "(absent)".to_string(), |v| output::short(&v.to_string()))
            };
            rows.push(vec![
                change.into(),
                object.clone(),
                format!("{}: {} -> {}", d.path, show(&d.expected), show(&d.actual)),
            ]);
        }
    }
    let mut out = output::render_capped_table(&["CHANGE", "OBJECT", "DETAIL"], rows);
    let s = &r.summary;
    let _ = writeln!(
        out,
        "{} -> {}: {} equal, {} added, {} removed, {} changed",
        r.from, r.to, s.equal, s.added, s.removed, s.changed
    );
    out
}
