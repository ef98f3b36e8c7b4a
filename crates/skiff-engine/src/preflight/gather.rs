//! Reading the target's facts for [`check`](super::check): version, discovery (every served
//! version), CRDs, storage classes, namespaces, the objects already in the namespaces the
//! migration writes to, admission webhooks with the state of their backend Services, the
//! cluster-scoped classes pods refer to, and the service accounts of the mapped namespaces.
//!
//! A read the target refuses (403: a restricted kubeconfig) is recorded in
//! [`TargetSummary::unreadable`]: preflight then reports it and skips the checks that needed it,
//! rather than reporting objects missing that may be there. Any other failure (unreachable,
//! server error) fails the run. Types the target does not serve are simply empty.

use super::{CrdVersions, TargetSummary, Webhook};
use crate::deprecations::KubeVersion;
use crate::error::Result;
use crate::progress::Progress;
use futures::StreamExt as _;
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, ApiSurface, Cluster, ListOptions};
use std::collections::{BTreeMap, BTreeSet};

/// LISTs and GETs sent at once while reading the target.
const CONCURRENCY: usize = 8;

/// What the migration writes to the target: target namespace → group-resources of the objects
/// that land there. From [`SourceSummary::target_query`](super::SourceSummary::target_query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetQuery {
    /// Target namespace → group-resources (`configmaps`, `deployments.apps`).
    pub namespaces: BTreeMap<String, BTreeSet<String>>,
}

/// Cluster-scoped classes pods and ingresses refer to by name.
const CLASSES: &[&str] = &[
    "priorityclasses.scheduling.k8s.io",
    "runtimeclasses.node.k8s.io",
    "ingressclasses.networking.k8s.io",
];

/// Read the target's [`TargetSummary`]. Fails when the server cannot be reached or a read the
/// checks need fails (unauthorised, server error); a type the target does not serve is empty.
pub async fn gather_target(
    cluster: &Cluster,
    query: &TargetQuery,
    progress: &dyn Progress,
) -> Result<TargetSummary> {
    progress.stage("reading the target", None);
    let surface = cluster.discover(true).await?;
    let mut t = TargetSummary {
        version: version_of(&surface),
        ..TargetSummary::default()
    };
    for r in &surface.resources {
        t.served
            .insert((r.group.clone(), r.version.clone(), r.resource.clone()));
        t.served_resources.insert(r.group_resource());
    }

    let crd_gr = "customresourcedefinitions.apiextensions.k8s.io";
    let crds = names_and_objects(cluster, &surface, crd_gr, None).await;
    for crd in readable(&mut t, crd_gr, None, crds)? {
        if let Some(gr) = super::crd_group_resource(&crd) {
            t.crds.insert(gr, CrdVersions::of(&crd));
        }
    }
    let sc_gr = "storageclasses.storage.k8s.io";
    let classes = names_and_objects(cluster, &surface, sc_gr, None).await;
    for sc in readable(&mut t, sc_gr, None, classes)? {
        let provisioner = str_at(&sc, "/provisioner");
        t.storage_classes
            .insert(str_at(&sc, "/metadata/name"), provisioner);
    }
    let namespaces = names_and_objects(cluster, &surface, "namespaces", None).await;
    for ns in readable(&mut t, "namespaces", None, namespaces)? {
        t.namespaces.insert(str_at(&ns, "/metadata/name"));
    }
    for gr in CLASSES {
        let objects = names_and_objects(cluster, &surface, gr, None).await;
        for o in readable(&mut t, gr, None, objects)? {
            t.cluster_objects
                .insert(((*gr).to_owned(), str_at(&o, "/metadata/name")));
        }
    }
    progress.advance(1, 0);

    // Objects and service accounts of the target namespaces that exist.
    let mut lists: Vec<(String, String)> = Vec::new();
    for (ns, grs) in &query.namespaces {
        if !t.namespaces.contains(ns) {
            continue;
        }
        lists.push(("serviceaccounts".to_owned(), ns.clone()));
        for gr in grs.iter().filter(|gr| *gr != "serviceaccounts") {
            lists.push((gr.clone(), ns.clone()));
        }
    }
    let listed: Vec<(String, String, _)> = futures::stream::iter(lists)
        .map(|(gr, ns)| {
            let surface = &surface;
            async move {
                let objects = names_and_objects(cluster, surface, &gr, Some(&ns)).await;
                progress.advance(1, 0);
                (gr, ns, objects)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (gr, ns, objects) in listed {
        let names: Vec<String> = readable(&mut t, &gr, Some(&ns), objects)?
            .iter()
            .map(|o| str_at(o, "/metadata/name"))
            .collect();
        for name in names {
            if gr == "serviceaccounts" {
                t.service_accounts.insert((ns.clone(), name.clone()));
                if !query.namespaces.get(&ns).is_some_and(|g| g.contains(&gr)) {
                    continue;
                }
            }
            t.existing.insert((gr.clone(), ns.clone(), name));
        }
    }

    // Admission webhooks and the state of their backends.
    for (kind, gr) in [
        (
            "validating",
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
        ),
        (
            "mutating",
            "mutatingwebhookconfigurations.admissionregistration.k8s.io",
        ),
    ] {
        let configs = names_and_objects(cluster, &surface, gr, None).await;
        for cfg in readable(&mut t, gr, None, configs)? {
            t.webhooks.extend(Webhook::from_configuration(kind, &cfg));
        }
    }
    let backends: BTreeSet<(String, String)> = t.webhooks.iter().filter_map(|w| w.service.clone()).collect();
    let states: Vec<((String, String), _)> = futures::stream::iter(backends)
        .map(|key| {
            let surface = &surface;
            async move {
                let state = backend_state(cluster, surface, &key.0, &key.1).await;
                (key, state)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (key, state) in states {
        match state {
            Ok(Some(ready)) => {
                t.service_endpoints.insert(key, ready);
            }
            Ok(None) => {}
            Err(e) if e.is_forbidden() => {
                let message = crate::offline::chain(&e);
                t.unreadable
                    .insert("services".to_owned(), format!("services in {}: {message}", key.0));
            }
            Err(e) => return Err(e.into()),
        }
    }
    progress.finish_stage();
    Ok(t)
}

/// The server's version: `gitVersion` (`v1.20.2`), else `major.minor`.
fn version_of(surface: &ApiSurface) -> Option<KubeVersion> {
    surface
        .git_version
        .parse()
        .ok()
        .or_else(|| format!("{}.{}", surface.major, surface.minor).parse().ok())
}

fn str_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Every object of a group-resource (in a namespace), every page; empty when the target does
/// not serve the type; `Err(Listed::Forbidden)` when the target refuses the LIST.
async fn names_and_objects(
    cluster: &Cluster,
    surface: &ApiSurface,
    gr: &str,
    namespace: Option<&str>,
) -> std::result::Result<Vec<Value>, Listed> {
    let Some(res) = listable(surface, gr) else {
        return Ok(Vec::new());
    };
    let mut pager = cluster.list_pages(
        res,
        ListOptions {
            namespace: namespace.map(str::to_owned),
            ..ListOptions::default()
        },
    );
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await.map_err(Listed::from)? {
        out.extend(page.items);
    }
    Ok(out)
}

/// Why a LIST gave no objects.
enum Listed {
    /// The target refused it (403), with the server's message.
    Forbidden(String),
    /// Any other failure: the run fails.
    Failed(crate::Error),
}

impl From<skiff_kube::KubeError> for Listed {
    fn from(e: skiff_kube::KubeError) -> Self {
        if e.is_forbidden() {
            Listed::Forbidden(crate::offline::chain(&e))
        } else {
            Listed::Failed(e.into())
        }
    }
}

/// The objects of a LIST, or none with the refusal recorded in `t.unreadable`.
fn readable(
    t: &mut TargetSummary,
    gr: &str,
    namespace: Option<&str>,
    listed: std::result::Result<Vec<Value>, Listed>,
) -> Result<Vec<Value>> {
    match listed {
        Ok(v) => Ok(v),
        Err(Listed::Forbidden(message)) => {
            let at = namespace.map_or_else(|| gr.to_owned(), |ns| format!("{gr} in {ns}"));
            t.unreadable.insert(gr.to_owned(), format!("{at}: {message}"));
            Ok(Vec::new())
        }
        Err(Listed::Failed(e)) => Err(e),
    }
}

/// The preferred version of a group-resource, when served and listable.
fn listable<'a>(surface: &'a ApiSurface, gr: &str) -> Option<&'a ApiResourceInfo> {
    surface.preferred(gr).filter(|r| r.supports("list"))
}

/// `None` when the Service does not exist; otherwise whether its Endpoints hold a ready address.
async fn backend_state(
    cluster: &Cluster,
    surface: &ApiSurface,
    ns: &str,
    name: &str,
) -> skiff_kube::Result<Option<bool>> {
    let (Some(services), Some(endpoints)) = (surface.preferred("services"), surface.preferred("endpoints"))
    else {
        return Ok(None);
    };
    if cluster.get(services, Some(ns), name).await?.is_none() {
        return Ok(None);
    }
    let ready = cluster.get(endpoints, Some(ns), name).await?.is_some_and(|ep| {
        ep.get("subsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| {
                s.get("addresses")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
            })
    });
    Ok(Some(ready))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_discovery() {
        let s = ApiSurface {
            git_version: "v1.20.2".into(),
            ..ApiSurface::default()
        };
        assert_eq!(version_of(&s), Some(KubeVersion::new(1, 20)));
        let s = ApiSurface {
            major: "1".into(),
            minor: "29+".into(),
            ..ApiSurface::default()
        };
        assert_eq!(version_of(&s), Some(KubeVersion::new(1, 29)));
        assert_eq!(version_of(&ApiSurface::default()), None);
    }
}
