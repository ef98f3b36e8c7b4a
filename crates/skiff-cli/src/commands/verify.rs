//! `skiff verify`: one engine call — [`verify::verify`] — and its report (table or data).

use super::{connect_to, open_from, tokio_util_cancel};
use crate::args::{FromArgs, LocationArgs, MappingArgs, Output, ScopeArgs, ToArgs};
use crate::exit::{CliError, chain, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use skiff_engine::restore::{ResourceModifiers, RestoreError, RestoreOptions};
use skiff_engine::verify::{self, CheckState, VerifyOptions, VerifyReport};
use skiff_engine::{Mappings, Scope};
use std::fmt::Write as _;
use std::path::PathBuf;

/// `skiff verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The source backup: a name in --location, a backup folder, or a .tar.gz (same as --from-backup).
    pub backup: Option<String>,
    /// The source side.
    #[command(flatten)]
    pub from: FromArgs,
    /// The target cluster.
    #[command(flatten)]
    pub to: ToArgs,
    /// Location (for a backup name).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Which objects of the source (namespaces are the original ones), as given to the restore.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The mappings the restore applied.
    #[command(flatten)]
    pub mappings: MappingArgs,
    /// The Velero resource-modifier rules the restore applied (YAML file).
    #[arg(long)]
    pub resource_modifiers: Option<PathBuf>,
    /// Check presence and equality only, not readiness.
    #[arg(long)]
    pub no_readiness: bool,
    /// Poll readiness until every workload is ready, or --timeout passes.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait polls (`90s`, `5m`).
    #[arg(long, default_value = "5m")]
    pub timeout: humantime::Duration,
    /// Upper bound on requests in flight per cluster.
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Run `skiff verify`: exit 6 on differences, else 7 when not ready, else 0.
pub async fn run(a: VerifyArgs, progress: &CliProgress) -> Result<u8, CliError> {
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
    let source = open_from(&a.from, a.backup.as_deref(), &a.location, a.max_requests).await?;
    let opts = VerifyOptions {
        restore: RestoreOptions {
            restore_name: "verify".into(),
            backup_name: "verify".into(),
            scope: Scope::try_from(&a.scope)?,
            mappings: Mappings::try_from(&a.mappings)?,
            resource_modifiers: modifiers,
            ..RestoreOptions::default()
        },
        readiness: !a.no_readiness,
        wait: a.wait.then_some(*a.timeout),
        ..VerifyOptions::default()
    };
    let target = connect_to(&a.to, a.max_requests).await?;
    let cancel = tokio_util_cancel();
    let report = verify::verify(&source, &target, &opts, progress, &cancel)
        .await
        .map_err(|e| match e {
            RestoreError::Engine(e) => e.into(),
            other => CliError::usage(chain(&other)),
        })?;
    progress.clear();
    match a.output {
        Output::Table => output::text_out(&render(&report))?,
        o => output::data(&report, o)?,
    }
    Ok(exit_code(&report))
}

/// 6 on differences, else 7 when not ready, else 0.
fn exit_code(report: &VerifyReport) -> u8 {
    if report.has_differences() {
        code::DIFFERENCES
    } else if !report.is_ready() {
        code::NOT_READY
    } else {
        code::OK
    }
}

/// The human report: problems first (missing, different with their paths, extras, not ready),
/// then the counts.
fn render(r: &VerifyReport) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for o in r.objects.iter().filter(|o| o.state != CheckState::Equal) {
        let object = verify::ObjectRef {
            resource: o.resource.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
        }
        .to_string();
        match o.state {
            CheckState::Missing => rows.push(vec!["missing".into(), object, String::new()]),
            _ => {
                for d in &o.differences {
                    let show = |v: &Option<serde_json::Value>| {
                        v.as_ref()
                            .map_or_else(|| "(absent)".to_string(), |v| output::short(&v.to_string()))
                    };
                    rows.push(vec![
                        "different".into(),
                        object.clone(),
                        format!("{}: {} -> {}", d.path, show(&d.expected), show(&d.actual)),
                    ]);
                }
            }
        }
    }
    for e in &r.extras {
        rows.push(vec!["extra".into(), e.to_string(), String::new()]);
    }
    for c in r.readiness.iter().filter(|c| !c.ready) {
        rows.push(vec!["not ready".into(), c.object.to_string(), c.reason.clone()]);
    }
    let mut out = output::render_capped_table(&["STATE", "OBJECT", "DETAIL"], rows);
    let s = &r.summary;
    let _ = writeln!(
        out,
        "Verified {} against {} namespaces ({}): {} expected, {} equal, {} missing, {} different, {} extra; {} derived not compared",
        r.source,
        r.namespaces.len(),
        r.namespaces.join(", "),
        s.expected,
        s.equal,
        s.missing,
        s.different,
        s.extra,
        s.derived
    );
    if !r.readiness.is_empty() || s.not_ready > 0 {
        let _ = writeln!(
            out,
            "Readiness: {} ready, {} not ready{}",
            s.ready,
            s.not_ready,
            if r.timed_out {
                format!(" (still after waiting {:.0}s)", r.waited_seconds)
            } else {
                String::new()
            }
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let verdict = if r.has_differences() {
        "DIFFERENT"
    } else if !r.is_ready() {
        "NOT READY"
    } else {
        "OK"
    };
    let _ = writeln!(out, "{verdict}");
    out
}
