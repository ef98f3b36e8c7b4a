//! `skiff validate`: every check of an archive, offline.

use super::open_store;
use crate::args::{LocationArgs, Output};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use skiff_engine::offline::{self, Severity, escape_for_display as esc};
use std::fmt::Write as _;

/// `skiff validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A backup name (in --location), a backup folder, or a .tar.gz.
    pub backup: String,
    /// Location (for a backup name).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Run `skiff validate`.
pub async fn run(a: ValidateArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let store = open_store(&a.location).await?;
    let source = offline::resolve_source(&a.backup, store)?;
    let report = offline::validate(&source, progress).await?;
    progress.clear();
    match a.output {
        Output::Table => {
            let mut o = String::new();
            for f in &report.findings {
                let sev = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "info",
                };
                let _ = writeln!(
                    o,
                    "{sev:<7} {:<14} {}{}",
                    f.code,
                    f.object
                        .as_ref()
                        .map(|x| format!("{}: ", esc(x)))
                        .unwrap_or_default(),
                    esc(&f.message)
                );
            }
            for (code, d) in &report.dropped {
                let _ = writeln!(
                    o,
                    "…       {code:<14} {} more findings not shown ({} of them errors)",
                    d.count, d.errors
                );
            }
            let errors = report.errors();
            let warnings = report.count(Severity::Warning)
                + report.dropped.values().map(|d| d.count - d.errors).sum::<u64>();
            let _ = writeln!(
                o,
                "{}: {} entries, {} items, {errors} errors, {warnings} warnings — {}",
                esc(&report.name),
                report.entries,
                report.items,
                if errors == 0 { "valid" } else { "INVALID" }
            );
            output::text_out(&o)?;
        }
        o => output::data(&report, o)?,
    }
    Ok(if report.errors() == 0 {
        code::OK
    } else {
        code::INVALID_BACKUP
    })
}
