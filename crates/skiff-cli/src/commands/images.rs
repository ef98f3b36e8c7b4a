//! `skiff images`: every container image the objects in scope reference, with the registry
//! mappings applied — the list to mirror before a migration — and a ready `skopeo sync` list.

use super::{open_from, tokio_util_cancel};
use crate::args::{FromArgs, LocationArgs, MappingArgs, Output, ScopeArgs};
use crate::exit::{CliError, code};
use crate::output;
use crate::progress::CliProgress;
use clap::{Args, ValueEnum};
use skiff_engine::images::{ImageCollector, Pin, SkopeoSyncOptions, skopeo_sync_plan};
use skiff_engine::{Mappings, Scope};
use std::fmt::Write as _;
use std::path::PathBuf;

/// What `skiff images` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImagesFormat {
    /// The image list (table, or -o json|yaml).
    List,
    /// The YAML `skopeo sync --src yaml` reads, copying each mapped image to its target.
    SkopeoSync,
}

/// `skiff images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Source backup: a name in --location, a backup folder or a .tar.gz (or --from-backup,
    /// or a live source with --from-context / --from-kubeconfig).
    pub backup: Option<String>,
    /// The source.
    #[command(flatten)]
    pub from: FromArgs,
    /// Location (for a backup name).
    #[command(flatten)]
    pub location: LocationArgs,
    /// Which objects.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Registry mappings (only --image-registry-mappings matters here).
    #[command(flatten)]
    pub mappings: MappingArgs,
    /// What to print.
    #[arg(long, value_enum, default_value_t = ImagesFormat::List)]
    pub format: ImagesFormat,
    /// With --format skopeo-sync: write one YAML per destination and `sync.sh` into this folder
    /// (needed when the mappings lead to more than one destination).
    #[arg(long)]
    pub sync_dir: Option<PathBuf>,
    /// With --format skopeo-sync: source registries that skopeo reaches without TLS verification
    /// (`host[:port]`, repeatable).
    #[arg(long, value_delimiter = ',')]
    pub src_insecure_registry: Vec<String>,
    /// Output format of the list.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Upper bound on requests in flight to a live source.
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
}

/// Run `skiff images`.
pub async fn run(a: ImagesArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let scope = Scope::try_from(&a.scope)?;
    let mappings = Mappings::try_from(&a.mappings)?;
    let side = open_from(&a.from, a.backup.as_deref(), &a.location, a.max_requests).await?;
    let cancel = tokio_util_cancel();
    let objects = side.read(&scope, progress, &cancel).await?;
    progress.clear();
    let mut collector = ImageCollector::new(mappings.image_registries.clone());
    for o in &objects {
        collector.add(&o.object);
    }
    let report = collector.finish();
    match a.format {
        ImagesFormat::List => print_list(&report, a.output)?,
        ImagesFormat::SkopeoSync => {
            let options = SkopeoSyncOptions {
                tls_verify: a
                    .src_insecure_registry
                    .iter()
                    .map(|r| (r.clone(), false))
                    .collect(),
                ..SkopeoSyncOptions::default()
            };
            let plan = skopeo_sync_plan(&report, &options);
            if plan.jobs.is_empty() && plan.copies.is_empty() {
                return Err(CliError::usage(format!(
                    "no image to mirror: {} images, none moved by a mapping",
                    report.images.len()
                ))
                .hint("name the target registry with --image-registry-mappings old-registry:new-registry"));
            }
            match &a.sync_dir {
                None if plan.jobs.len() == 1 && plan.copies.is_empty() => {
                    output::text_out(&plan.jobs[0].yaml)?;
                }
                None => {
                    return Err(CliError::usage(format!(
                        "the mappings lead to {} destinations and {} renamed repositories: one YAML cannot hold them",
                        plan.jobs.len(),
                        plan.copies.len()
                    ))
                    .hint("pass --sync-dir <folder> to get one YAML per destination and a sync.sh running them"));
                }
                Some(dir) => write_sync_dir(dir, &plan)?,
            }
            for c in &plan.conflicts {
                tracing::warn!(image = %c, "several source images map onto this image: not mirrored; fix the mappings");
            }
        }
    }
    Ok(code::OK)
}

fn print_list(report: &skiff_engine::images::ImageReport, out: Output) -> Result<(), CliError> {
    if out != Output::Table {
        return output::data(report, out);
    }
    let rows: Vec<Vec<String>> = report
        .images
        .iter()
        .map(|e| {
            vec![
                e.image.clone(),
                match e.pin {
                    Pin::Digest | Pin::TagAndDigest => "digest",
                    Pin::Tag => "tag",
                    Pin::Latest => "latest",
                    Pin::NoTag => "no tag",
                }
                .to_owned(),
                e.objects.to_string(),
                e.namespaces.iter().cloned().collect::<Vec<_>>().join(","),
                if e.mapped {
                    e.sources.iter().cloned().collect::<Vec<_>>().join(",")
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let mut text = output::render_table(&["IMAGE", "PIN", "OBJECTS", "NAMESPACES", "MAPPED FROM"], &rows);
    let _ = writeln!(
        text,
        "{} images referenced by {} of {} objects",
        report.images.len(),
        report.objects_with_images,
        report.objects_scanned
    );
    for i in &report.invalid {
        let _ = writeln!(
            text,
            "invalid image reference {:?} ({}): {} objects, e.g. {}",
            i.written,
            i.reason,
            i.objects,
            i.examples.join(", ")
        );
    }
    for c in report.conflicts() {
        let _ = writeln!(
            text,
            "conflict: {} is the target of several images: {}",
            c.image,
            c.sources.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    output::text_out(&text)
}

/// One `sync-<n>.yaml` per destination and `sync.sh` running every sync and copy.
fn write_sync_dir(
    dir: &std::path::Path,
    plan: &skiff_engine::images::SkopeoSyncPlan,
) -> Result<(), CliError> {
    let io = |what: &str, e: std::io::Error| CliError::usage(format!("write {what}: {e}"));
    std::fs::create_dir_all(dir).map_err(|e| io(&dir.display().to_string(), e))?;
    let mut script = String::from(
        "#!/bin/sh\n# Written by skiff images --format skopeo-sync.\nset -eu\ncd \"$(dirname \"$0\")\"\n",
    );
    for (n, job) in plan.jobs.iter().enumerate() {
        let name = format!("sync-{}.yaml", n + 1);
        let path = dir.join(&name);
        std::fs::write(&path, &job.yaml).map_err(|e| io(&path.display().to_string(), e))?;
        let args: Vec<String> = job.args(&name, &[]).iter().map(|a| shell_quote(a)).collect();
        let _ = writeln!(script, "skopeo {}", args.join(" "));
    }
    for c in &plan.copies {
        let args: Vec<String> = c.args(&[]).iter().map(|a| shell_quote(a)).collect();
        let _ = writeln!(script, "skopeo {}", args.join(" "));
    }
    let path = dir.join("sync.sh");
    std::fs::write(&path, script).map_err(|e| io(&path.display().to_string(), e))?;
    output::text_out(&format!(
        "wrote {} sync files and {} ({} copies) to {}\n",
        plan.jobs.len(),
        path.display(),
        plan.copies.len(),
        dir.display()
    ))
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@=+".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
