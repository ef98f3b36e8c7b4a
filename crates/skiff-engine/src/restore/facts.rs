//! Facts about the target the planner needs beyond discovery: existing ServiceAccounts (token
//! Secrets of those are not restored) and StorageClasses (a mapped class must exist).

use serde::Serialize;
use serde_json::Value;
use skiff_kube::{ApiSurface, Cluster, ListOptions};
use std::collections::{BTreeMap, BTreeSet};

/// Facts about the target cluster that discovery does not give. `None` = unknown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetFacts {
    /// Existing ServiceAccount names per namespace.
    pub service_accounts: Option<BTreeMap<String, BTreeSet<String>>>,
    /// Existing StorageClass names.
    pub storage_classes: Option<BTreeSet<String>>,
}

/// Reads the target's [`TargetFacts`]. A list that fails leaves its fact unknown (`None`): the
/// planner then assumes nothing rather than failing the restore.
pub async fn target_facts(cluster: &Cluster, surface: &ApiSurface) -> TargetFacts {
    let (service_accounts, storage_classes) = tokio::join!(
        service_accounts(cluster, surface),
        storage_classes(cluster, surface)
    );
    TargetFacts {
        service_accounts,
        storage_classes,
    }
}

/// ServiceAccount names per namespace (every page).
async fn service_accounts(
    cluster: &Cluster,
    surface: &ApiSurface,
) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let res = surface.preferred("serviceaccounts")?;
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pager = cluster.list_pages(res, ListOptions::default());
    while let Some(page) = pager.next_page().await.ok()? {
        for sa in page.items {
            let s = |p: &str| {
                sa.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            map.entry(s("/metadata/namespace"))
                .or_default()
                .insert(s("/metadata/name"));
        }
    }
    Some(map)
}

/// StorageClass names (the first page: clusters hold a handful).
async fn storage_classes(cluster: &Cluster, surface: &ApiSurface) -> Option<BTreeSet<String>> {
    let res = surface.preferred("storageclasses.storage.k8s.io")?;
    let page = cluster
        .list_pages(res, ListOptions::default())
        .next_page()
        .await
        .ok()??;
    Some(
        page.items
            .iter()
            .filter_map(|s| {
                s.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect(),
    )
}
