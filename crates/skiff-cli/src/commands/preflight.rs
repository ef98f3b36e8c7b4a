//! `skiff preflight`: is the target ready for what a backup (or a live source) holds? One engine
//! call, [`preflight::run`]; exit 5 when any finding is an error.

use super::{connect_to, open_from, refuse_same_cluster, tokio_util_cancel};
use crate::args::{FromArgs, LocationArgs, MappingArgs, Output, ScopeArgs, ToArgs};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::Args;
use skiff_engine::deprecations::KubeVersion;
use skiff_engine::preflight::{self, PreflightReport, PreflightTarget, Severity};
use skiff_engine::{Mappings, Scope};
use std::fmt::Write as _;

/// `skiff preflight`.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// The source backup: a name in --location, a backup folder or a .tar.gz (or use
    /// --from-backup / --from-context).
    pub backup: Option<String>,
    /// The source side.
    #[command(flatten)]
    pub from: FromArgs,
    /// The target cluster (default: the current context).
    #[command(flatten)]
    pub to: ToArgs,
    /// Check offline against this Kubernetes version (e.g. 1.29) instead of a target cluster:
    /// the version and API deprecation checks only.
    #[arg(long, conflicts_with_all = ["to_kubeconfig", "to_context"])]
    pub target_version: Option<KubeVersion>,
    /// Location (for a backup name).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Which objects of the source (namespaces are the original ones).
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Renames on the way into the target.
    #[command(flatten)]
    pub mappings: MappingArgs,
    /// Upper bound on requests in flight per cluster.
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Run `skiff preflight`.
pub async fn run(a: PreflightArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let scope = Scope::try_from(&a.scope)?;
    let mappings = Mappings::try_from(&a.mappings)?;
    let side = open_from(&a.from, a.backup.as_deref(), &a.location, a.max_requests).await?;
    let cluster;
    let target = if let Some(v) = a.target_version {
        PreflightTarget::Version(v)
    } else {
        cluster = connect_to(&a.to, a.max_requests).await?;
        refuse_same_cluster(&side, &cluster).await?;
        PreflightTarget::Cluster(&cluster)
    };
    let cancel = tokio_util_cancel();
    let report = preflight::run(&side, target, &scope, &mappings, progress, &cancel).await?;
    progress.clear();
    match a.output {
        Output::Table => output::text_out(&render(&report))?,
        o => output::data(&report, o)?,
    }
    Ok(if report.count(Severity::Error) > 0 {
        code::PREFLIGHT_ERRORS
    } else {
        code::OK
    })
}

/// The table, each error's and warning's objects and hint below it, and a verdict.
fn render(r: &PreflightReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Preflight of {} → {}\nsource Kubernetes {}, target {}, {} objects in scope\n",
        r.source, r.target, r.source_version, r.target_version, r.objects
    );
    let rows: Vec<Vec<String>> = r
        .findings
        .iter()
        .map(|f| {
            vec![
                f.severity.to_string(),
                f.check.to_owned(),
                if f.count > 0 {
                    f.count.to_string()
                } else {
                    String::new()
                },
                f.message.clone(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no findings\n");
    } else {
        out.push_str(&output::render_table(
            &["SEVERITY", "CHECK", "OBJECTS", "FINDING"],
            &rows,
        ));
    }
    let details: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info && (!f.objects.is_empty() || !f.hint.is_empty()))
        .collect();
    if !details.is_empty() {
        out.push_str("\nDetails:\n");
        for f in details {
            let _ = writeln!(out, "  {} {}: {}", f.severity, f.check, f.message);
            if !f.objects.is_empty() {
                let more = f.count.saturating_sub(f.objects.len());
                let _ = writeln!(
                    out,
                    "    objects: {}{}",
                    f.objects.join(", "),
                    if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    }
                );
            }
            if !f.hint.is_empty() {
                let _ = writeln!(out, "    hint: {}", f.hint);
            }
        }
    }
    let errors = r.count(Severity::Error);
    let _ = writeln!(
        out,
        "\n{errors} errors, {} warnings, {} info — {}",
        r.count(Severity::Warning),
        r.count(Severity::Info),
        if errors == 0 {
            "the target is ready"
        } else {
            "the target is NOT ready"
        }
    );
    out
}
