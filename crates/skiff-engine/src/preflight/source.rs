//! The source side of a preflight ([`SourceSummary`] from a backup or a live cluster) and the
//! whole run: source summary, target summary (live or only a version), [`check`](super::check).

use super::{PreflightReport, SourceSummary, TargetSummary, check, gather_target};
use crate::Mappings;
use crate::deprecations::KubeVersion;
use crate::error::Result;
use crate::progress::Progress;
use crate::scope::Scope;
use crate::side::Side;
use skiff_format::path::VersionDir;
use skiff_format::reader::EntryKind;
use skiff_kube::Cluster;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use tokio_util::sync::CancellationToken;

/// The target of a preflight.
#[derive(Debug, Clone, Copy)]
pub enum PreflightTarget<'a> {
    /// A live cluster: every check.
    Cluster(&'a Cluster),
    /// Only a version (`--target-version`): the version and deprecation checks, offline.
    Version(KubeVersion),
}

/// Summarize the source side: every object in scope (as [`Side::read`] gives it), its
/// Kubernetes version, and — with `alternatives` — the other versions of each group-resource
/// the source offers (a backup's other version folders, the versions a live source serves).
///
/// # Errors
///
/// The side cannot be read (store, archive, cluster), or the run was cancelled.
pub async fn summarize_source(
    side: &Side,
    scope: &Scope,
    mappings: &Mappings,
    alternatives: bool,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<SourceSummary> {
    let mut summary = SourceSummary {
        version: side.kube_version().await?,
        ..SourceSummary::default()
    };
    let objects = side.read(scope, progress, cancel).await?;
    if cancel.is_cancelled() {
        return Err(crate::Error::Interrupted);
    }
    for o in &objects {
        summary.add(
            &o.group_resource,
            o.namespace.as_deref(),
            &o.name,
            &o.object,
            mappings,
        );
    }
    if alternatives {
        let in_scope: BTreeSet<&str> = objects.iter().map(|o| o.group_resource.as_str()).collect();
        summary.alternative_versions = other_versions(side, &in_scope, progress).await?;
    }
    Ok(summary)
}

/// Group-resource → versions the source offers besides the one its objects are in.
async fn other_versions(
    side: &Side,
    in_scope: &BTreeSet<&str>,
    progress: &dyn Progress,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    type Versions = BTreeMap<String, BTreeSet<String>>;
    let all = match side {
        Side::Backup(source) => {
            progress.stage("reading the backup's other API versions", None);
            let (m, _) =
                crate::offline::fold_entries(source, progress, Versions::new(), |m: &mut Versions, e| {
                    if let EntryKind::Item(item, VersionDir::Version(v)) = e.kind {
                        m.entry(item.group_resource.clone())
                            .or_default()
                            .insert(v.clone());
                    }
                    Ok(ControlFlow::Continue(()))
                })
                .await?;
            progress.finish_stage();
            m
        }
        Side::Cluster(cluster) => {
            let surface = cluster.discover(true).await?;
            let mut m = Versions::new();
            for r in surface.resources.iter().filter(|r| !r.preferred) {
                m.entry(r.group_resource()).or_default().insert(r.version.clone());
            }
            m
        }
    };
    Ok(all
        .into_iter()
        .filter(|(gr, _)| in_scope.contains(gr.as_str()))
        .collect())
}

/// A whole preflight: read the source, read the target (or take only its version), check.
///
/// # Errors
///
/// A side cannot be read (see [`summarize_source`] and [`gather_target`]).
pub async fn run(
    side: &Side,
    target: PreflightTarget<'_>,
    scope: &Scope,
    mappings: &Mappings,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<PreflightReport> {
    let live = matches!(target, PreflightTarget::Cluster(_));
    let source = summarize_source(side, scope, mappings, live, progress, cancel).await?;
    let (summary, what) = match target {
        PreflightTarget::Cluster(cluster) => (
            gather_target(cluster, &source.target_query(), progress).await?,
            "target cluster".to_owned(),
        ),
        PreflightTarget::Version(v) => (
            TargetSummary::offline(v),
            format!("Kubernetes {v} (offline: version and API checks only)"),
        ),
    };
    let mut report = check(&source, &summary);
    report.source = side.describe();
    report.target = what;
    Ok(report)
}
