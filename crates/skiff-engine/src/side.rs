//! One side of a comparison or a migration: a backup or a live cluster.
//!
//! Every command that reads "the source" or "the other side" (preflight, images, migrate,
//! verify, diff) names it the same way and reads it through [`Side::read`]: the objects in scope
//! under Velero's filter rules ([`Scope`]), from a backup's archive (its classic copies) or, for a
//! live cluster, through the backup pipeline's own selection ([`crate::backup::source`]), so a
//! live read holds exactly what `skiff backup` with the same flags would write.

use crate::backup::source::{ReadOptions, read_selected};
use crate::deprecations::KubeVersion;
use crate::error::{Error, Result};
use crate::offline::{BackupSource, fold_entries, read_backup_doc};
use crate::progress::Progress;
use crate::scope::Scope;
use serde_json::Value;
use skiff_format::path::VersionDir;
use skiff_format::reader::EntryKind;
use skiff_kube::{ApiResourceInfo, Cluster};
use std::ops::ControlFlow;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Where objects come from (or are compared with).
pub enum Side {
    /// A backup: a name in a location, a folder or a `.tar.gz`.
    Backup(BackupSource),
    /// A live cluster.
    Cluster(Cluster),
}

/// One object of a side, in scope.
#[derive(Debug, Clone, PartialEq)]
pub struct SideObject {
    /// `GroupResource.String()`: `configmaps`, `deployments.apps`.
    pub group_resource: String,
    /// Namespace, `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The object as the backup holds it, or as the cluster serves it at the preferred version.
    pub object: Value,
}

impl SideObject {
    /// `group_resource/namespace/name` (or `group_resource/name`), as findings name objects.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.group_resource, self.name),
            None => format!("{}/{}", self.group_resource, self.name),
        }
    }
}

impl Side {
    /// What this side is, for messages: `backup b1 (s3://bucket)` or `cluster https://…`.
    pub fn describe(&self) -> String {
        match self {
            Side::Backup(b) => b.describe(),
            Side::Cluster(_) => "live cluster".to_owned(),
        }
    }

    /// Every object in scope, sorted by (group-resource, namespace, name).
    ///
    /// A backup's `<version>-preferredversion` and other-version copies are skipped (the classic
    /// copy is the object); a cluster is read at each group's preferred version.
    ///
    /// # Errors
    ///
    /// The backup cannot be read (malformed entry, store failure), or the cluster fails.
    pub async fn read(
        &self,
        scope: &Scope,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<SideObject>> {
        self.read_trimmed(scope, progress, cancel, |_| {}).await
    }

    /// [`Self::read`], with `trim` applied to each object as soon as it is parsed: a reader
    /// that never looks at some fields (e.g. `metadata.managedFields`, often a third of an
    /// object) drops them before the whole side is held in memory.
    ///
    /// # Errors
    ///
    /// As [`Self::read`].
    pub async fn read_trimmed(
        &self,
        scope: &Scope,
        progress: &dyn Progress,
        cancel: &CancellationToken,
        trim: fn(&mut Value),
    ) -> Result<Vec<SideObject>> {
        let mut out = match self {
            Side::Backup(source) => read_backup(source, scope, progress, trim).await?,
            Side::Cluster(cluster) => read_cluster(cluster, scope, progress, cancel, trim).await?,
        };
        out.sort_by(|a, b| {
            (&a.group_resource, &a.namespace, &a.name).cmp(&(&b.group_resource, &b.namespace, &b.name))
        });
        Ok(out)
    }

    /// The side's Kubernetes version: a backup's `velero.io/source-cluster-k8s-*` annotations or
    /// labels (`None` when it has neither), a live server's `/version`.
    ///
    /// # Errors
    ///
    /// The backup's metadata document cannot be read, or the server cannot be asked.
    pub async fn kube_version(&self) -> Result<Option<KubeVersion>> {
        match self {
            Side::Backup(source) => {
                let Some(doc) = read_backup_doc(source).await? else {
                    return Ok(None);
                };
                let meta = &doc.metadata;
                let get = |k: &str| meta.annotations.get(k).or_else(|| meta.labels.get(k)).cloned();
                let from_parts = match (
                    get("velero.io/source-cluster-k8s-major-version"),
                    get("velero.io/source-cluster-k8s-minor-version"),
                ) {
                    (Some(ma), Some(mi)) => format!("{ma}.{mi}").parse().ok(),
                    _ => None,
                };
                Ok(from_parts
                    .or_else(|| get("velero.io/source-cluster-k8s-gitversion").and_then(|g| g.parse().ok())))
            }
            Side::Cluster(cluster) => {
                let v = cluster.server_version().await?;
                Ok(v.git_version
                    .parse()
                    .ok()
                    .or_else(|| format!("{}.{}", v.major, v.minor).parse().ok()))
            }
        }
    }
}

async fn read_backup(
    source: &BackupSource,
    scope: &Scope,
    progress: &dyn Progress,
    trim: fn(&mut Value),
) -> Result<Vec<SideObject>> {
    progress.stage("reading backup", None);
    let scope = scope.clone();
    let (out, _) = fold_entries(
        source,
        progress,
        Vec::new(),
        move |out: &mut Vec<SideObject>, e| {
            let EntryKind::Item(item, dir) = e.kind else {
                return Ok(ControlFlow::Continue(()));
            };
            if !matches!(dir, VersionDir::Classic) {
                return Ok(ControlFlow::Continue(()));
            }
            if !scope.matches_entry(&item.group_resource, item.namespace.as_deref(), &item.name) {
                return Ok(ControlFlow::Continue(()));
            }
            let object: Value = serde_json::from_slice(e.data).map_err(|source| {
                Error::Format(skiff_format::Error::Json {
                    document: e.path.to_owned(),
                    source,
                })
            })?;
            if !scope.selectors_match(&object) {
                return Ok(ControlFlow::Continue(()));
            }
            let mut object = object;
            trim(&mut object);
            out.push(SideObject {
                group_resource: item.group_resource.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
                object,
            });
            Ok(ControlFlow::Continue(()))
        },
    )
    .await?;
    Ok(out)
}

async fn read_cluster(
    cluster: &Cluster,
    scope: &Scope,
    progress: &dyn Progress,
    cancel: &CancellationToken,
    trim: fn(&mut Value),
) -> Result<Vec<SideObject>> {
    let (tx, mut rx) = mpsc::channel::<crate::backup::source::ItemBatch>(16);
    let collect = async move {
        let mut out = Vec::new();
        while let Some(batch) = rx.recv().await {
            for s in batch {
                if !s.preferred {
                    continue;
                }
                let mut object: Value = serde_json::from_slice(&s.json).map_err(|source| {
                    Error::Format(skiff_format::Error::Json {
                        document: s.item.to_string(),
                        source,
                    })
                })?;
                trim(&mut object);
                out.push(SideObject {
                    group_resource: s.item.group_resource,
                    namespace: s.item.namespace,
                    name: s.item.name,
                    object,
                });
            }
        }
        Ok::<_, Error>(out)
    };
    let opts = ReadOptions::default();
    let read = read_selected(cluster, scope, false, &opts, tx, progress, cancel);
    let (read, out) = tokio::join!(read, collect);
    read?;
    out
}

/// The UID of `cluster`'s `kube-system` namespace: two kubeconfigs naming the same cluster give
/// the same UID. `None` when it cannot be read.
pub async fn cluster_uid(cluster: &Cluster) -> Option<String> {
    let res = ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false);
    let ns = cluster.get(&res, None, "kube-system").await.ok()??;
    ns.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_owned)
}
