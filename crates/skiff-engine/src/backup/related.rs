//! Related items (velero-format.md §4.3): what the listed items pull in that the main pass did
//! not already take — pods' PVCs and priority classes, PVCs' PVs, service accounts' cluster role
//! bindings and their cluster roles, custom resources' CRDs. Fetched after the main pass, each
//! item once, past the label selectors (as Velero's item actions do).

use super::list::{key_hash_any, note_related, send_batch, skipped_volume};
use super::select::Selection;
use super::source::{ItemBatch, Shared, list_all, lock, str_at};
use crate::error::Result;
use crate::offline::chain;
use crate::progress::Progress;
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, ApiSurface, Cluster, ListOptions};
use std::collections::{BTreeSet, HashSet};
use tokio::sync::mpsc;

/// What every related-item fetch works with.
pub(super) struct RelatedPass<'a> {
    pub cluster: &'a Cluster,
    pub surface: &'a ApiSurface,
    pub sel: &'a Selection,
    pub shared: &'a Shared,
    pub tx: &'a mpsc::Sender<ItemBatch>,
    pub progress: &'a dyn Progress,
}

/// Fetch and send the related items the main pass did not already take.
pub(super) async fn backup_related(pass: &RelatedPass<'_>, crd_names: &HashSet<String>) -> Result<()> {
    let related = std::mem::take(&mut lock(pass.shared).related);

    // Pods → PVCs (GET; PVCs bypass label selectors like Velero's related items).
    fetch_pvcs(pass, &related.pvcs).await?;
    // PVCs → PVs (including those just pulled in).
    let pvs = std::mem::take(&mut lock(pass.shared).related.pvs);
    let pvs: BTreeSet<String> = related.pvs.union(&pvs).cloned().collect();
    fetch_cluster_related(pass, "persistentvolumes", &pvs).await?;
    fetch_cluster_related(
        pass,
        "priorityclasses.scheduling.k8s.io",
        &related.priority_classes,
    )
    .await?;

    // ServiceAccounts → ClusterRoleBindings naming them → their ClusterRoles.
    let roles = fetch_role_bindings(pass, &related.service_accounts).await?;
    fetch_cluster_related(pass, "clusterroles.rbac.authorization.k8s.io", &roles).await?;

    // Custom resources → their CRDs, appended last.
    if pass.sel.appends_crds() {
        let wanted: BTreeSet<String> = related
            .custom_types
            .iter()
            .filter(|gr| crd_names.contains(*gr))
            .cloned()
            .collect();
        fetch_cluster_related(pass, "customresourcedefinitions.apiextensions.k8s.io", &wanted).await?;
    }
    Ok(())
}

/// The PVCs that pods mount; a PVC pulled in here may pull in its PV.
async fn fetch_pvcs(pass: &RelatedPass<'_>, pvcs: &BTreeSet<(String, String)>) -> Result<()> {
    let gr = "persistentvolumeclaims";
    let Some(res) = pass.surface.preferred(gr) else {
        return Ok(());
    };
    let mut batch = Vec::new();
    for (ns, name) in pvcs {
        if !take_related(pass.shared, gr, Some(ns), name) {
            continue;
        }
        if let Some(obj) = get_related(pass, res, Some(ns), name).await
            && pass.sel.skip_reason(gr, true, &obj).is_none()
        {
            note_related(&mut lock(pass.shared), gr, &obj, false);
            batch.push(obj);
        }
    }
    send_batch(pass.tx, res, true, batch, pass.progress).await
}

/// The cluster role bindings naming one of `service_accounts`; returns the cluster roles they
/// bind.
async fn fetch_role_bindings(
    pass: &RelatedPass<'_>,
    service_accounts: &BTreeSet<(String, String)>,
) -> Result<BTreeSet<String>> {
    let gr = "clusterrolebindings.rbac.authorization.k8s.io";
    let mut roles = BTreeSet::new();
    if service_accounts.is_empty() || !pass.sel.allows_related_cluster(gr) {
        return Ok(roles);
    }
    let Some(res) = pass.surface.preferred(gr) else {
        return Ok(roles);
    };
    let names_sa = |crb: &Value| {
        crb.pointer("/subjects")
            .and_then(Value::as_array)
            .is_some_and(|subs| {
                subs.iter().any(|s| {
                    str_at(s, "/kind") == Some("ServiceAccount")
                        && service_accounts.contains(&(
                            str_at(s, "/namespace").unwrap_or_default().to_string(),
                            str_at(s, "/name").unwrap_or_default().to_string(),
                        ))
                })
            })
    };
    let mut batch = Vec::new();
    for crb in list_all(pass.cluster, res, ListOptions::default())
        .await
        .unwrap_or_default()
    {
        let name = str_at(&crb, "/metadata/name").unwrap_or_default().to_string();
        if names_sa(&crb)
            && pass.sel.skip_reason(gr, false, &crb).is_none()
            && take_related(pass.shared, gr, None, &name)
        {
            if str_at(&crb, "/roleRef/kind") == Some("ClusterRole")
                && let Some(r) = str_at(&crb, "/roleRef/name")
            {
                roles.insert(r.to_string());
            }
            batch.push(crb);
        }
    }
    send_batch(pass.tx, res, true, batch, pass.progress).await?;
    Ok(roles)
}

/// Mark a related item as taken; false when it was already backed up.
fn take_related(shared: &Shared, gr: &str, ns: Option<&str>, name: &str) -> bool {
    lock(shared).seen.insert(key_hash_any(gr, ns, name))
}

async fn get_related(
    pass: &RelatedPass<'_>,
    res: &ApiResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> Option<Value> {
    match pass.cluster.get(res, ns, name).await {
        Ok(v) => v,
        Err(e) => {
            let msg = format!(
                "resource: /{} name: /{name} message: /Error getting related item error: /{}",
                res.group_resource(),
                chain(&e)
            );
            lock(pass.shared).outcome.error(ns, msg);
            None
        }
    }
}

async fn fetch_cluster_related(pass: &RelatedPass<'_>, gr: &str, names: &BTreeSet<String>) -> Result<()> {
    if names.is_empty() || !pass.sel.allows_related_cluster(gr) {
        return Ok(());
    }
    let Some(res) = pass.surface.preferred(gr) else {
        return Ok(());
    };
    let mut batch = Vec::new();
    for name in names {
        if !take_related(pass.shared, gr, None, name) {
            continue;
        }
        if let Some(obj) = get_related(pass, res, None, name).await
            && pass.sel.skip_reason(gr, false, &obj).is_none()
        {
            if gr == "persistentvolumes" {
                lock(pass.shared).outcome.volume_info.push(skipped_volume(&obj));
            }
            batch.push(obj);
        }
    }
    send_batch(pass.tx, res, true, batch, pass.progress).await
}
