//! `skiff inspect`: summary, item list, one object, or extraction — no cluster needed.

use super::open_store;
use crate::args::{LocationArgs, Output, ScopeArgs};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use skiff_engine::Scope;
use skiff_engine::offline::{self, ExtractFormat, ExtractOptions, OfflineError, escape_for_display as esc};
use std::fmt::Write as _;
use std::path::PathBuf;

/// `skiff inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A backup name (in --location), a backup folder, or a .tar.gz.
    pub backup: String,
    /// Location (for a backup name).
    #[command(flatten)]
    pub location: LocationArgs,
    /// List items instead of the summary.
    #[arg(long)]
    pub list: bool,
    /// With --list/--extract: which objects (Velero's filter flags; `--resource`, `-n` and
    /// `--name` are short forms).
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print one object: `<resource>/<namespace>/<name>` or `<resource>/<name>`.
    #[arg(long)]
    pub show: Option<String>,
    /// Write every item as a file under this folder (never outside it; the folder must be empty
    /// or absent unless --force).
    #[arg(long)]
    pub extract: Option<PathBuf>,
    /// With --extract: write into a folder that already holds files, replacing files of the
    /// same names.
    #[arg(long, requires = "extract")]
    pub force: bool,
    /// Output format (`--show`/`--extract` default to YAML).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Output>,
}

/// Run `skiff inspect`.
pub async fn run(a: InspectArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let store = open_store(&a.location).await?;
    let source = offline::resolve_source(&a.backup, store)?;
    let filter = Scope::try_from(&a.scope)?;
    if let Some(spec) = &a.show {
        let Some(item) = offline::show_item(&source, spec).await? else {
            return Err(CliError::NotFound {
                message: format!("no item {:?} in {}", esc(spec), source.describe()),
                hints: vec!["`skiff inspect <backup> --list` shows what is there".into()],
            });
        };
        let text = match a.output.unwrap_or(Output::Yaml) {
            Output::Json => offline::render::to_json_pretty(&item.data, &item.path)?,
            _ => offline::render::to_yaml(&item.data, &item.path)?,
        };
        output::text_out(&text)?;
        return Ok(code::OK);
    }
    if let Some(dir) = &a.extract {
        let format = if a.output == Some(Output::Json) {
            ExtractFormat::Json
        } else {
            ExtractFormat::Yaml
        };
        let opts = ExtractOptions {
            format,
            force: a.force,
        };
        let report = match offline::extract(&source, dir, &filter, opts, progress).await {
            Ok(r) => r,
            Err(skiff_engine::Error::Offline(e @ OfflineError::TargetNotEmpty { .. })) => {
                return Err(CliError::from(skiff_engine::Error::Offline(e))
                    .hint("choose an empty or new folder, or pass --force to write into it"));
            }
            Err(e) => return Err(e.into()),
        };
        progress.clear();
        let mut msg = format!("extracted {} items to {}", report.written, dir.display());
        if report.replaced > 0 {
            let _ = write!(msg, " ({} existing files replaced)", report.replaced);
        }
        eprintln!("{msg}");
        if let Some(index) = &report.index_file {
            eprintln!(
                "{} items have changed file names (too long or unsafe as a file name, or the same file on a case-insensitive filesystem): see {index}",
                report.renamed
            );
        }
        return Ok(code::OK);
    }
    if a.list {
        let items = offline::list_items(&source, &filter, progress).await?;
        progress.clear();
        match a.output.unwrap_or(Output::Table) {
            Output::Table => {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|i| {
                        vec![
                            esc(&i.resource).into_owned(),
                            esc(i.namespace.as_deref().unwrap_or_default()).into_owned(),
                            esc(&i.name).into_owned(),
                            i.size.to_string(),
                        ]
                    })
                    .collect();
                output::table(&["RESOURCE", "NAMESPACE", "NAME", "BYTES"], &rows)?;
            }
            o => output::data(&items, o)?,
        }
        return Ok(code::OK);
    }
    let summary = offline::summarize(&source, progress).await?;
    progress.clear();
    match a.output.unwrap_or(Output::Table) {
        Output::Table => print_summary(&summary)?,
        o => output::data(&summary, o)?,
    }
    Ok(code::OK)
}

fn print_summary(s: &offline::Summary) -> Result<(), CliError> {
    let mut o = String::new();
    let _ = writeln!(o, "Backup:          {}", esc(&s.name));
    let _ = writeln!(o, "Source:          {}", esc(&s.source));
    let _ = writeln!(o, "Format version:  {}", esc(&s.format_version));
    if let Some(b) = &s.backup {
        let g = |p: &str| esc(b.pointer(p).and_then(|v| v.as_str()).unwrap_or("-")).into_owned();
        let _ = writeln!(o, "Phase:           {}", g("/status/phase"));
        let _ = writeln!(
            o,
            "Velero version:  status.version {} formatVersion {}",
            b.pointer("/status/version")
                .map_or("-".into(), ToString::to_string),
            g("/status/formatVersion")
        );
        let _ = writeln!(
            o,
            "Source cluster:  {}",
            g("/metadata/annotations/velero.io~1source-cluster-k8s-gitversion")
        );
        let _ = writeln!(o, "Started:         {}", g("/status/startTimestamp"));
        let _ = writeln!(o, "Completed:       {}", g("/status/completionTimestamp"));
        let _ = writeln!(o, "Expires:         {}", g("/status/expiration"));
    } else {
        let _ = writeln!(o, "Documents:       none (bare tarball)");
    }
    let _ = writeln!(o, "Items:           {} ({} tar entries)", s.items, s.entries);
    let _ = writeln!(
        o,
        "Size:            {} compressed, {} uncompressed",
        output::human_bytes(s.compressed_bytes),
        output::human_bytes(s.uncompressed_bytes)
    );
    let _ = writeln!(
        o,
        "Integrity index: {}",
        if s.has_index { "present" } else { "absent" }
    );
    let _ = writeln!(o, "\nResources:");
    for (r, n) in &s.per_resource {
        let _ = writeln!(o, "  {n:>8}  {}", esc(r));
    }
    let _ = writeln!(o, "\nNamespaces:");
    for (ns, n) in &s.per_namespace {
        let _ = writeln!(o, "  {n:>8}  {}", esc(ns));
    }
    if !s.extra_versions.is_empty() {
        let _ = writeln!(o, "\nOther API versions (EnableAPIGroupVersions layout):");
        for (gr, vs) in &s.extra_versions {
            let vs: Vec<String> = vs.iter().map(|v| esc(v).into_owned()).collect();
            let _ = writeln!(o, "  {}: {}", esc(gr), vs.join(", "));
        }
    }
    output::text_out(&o)?;
    Ok(())
}
