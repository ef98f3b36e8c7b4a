//! `skiff migrate`: a live source straight into a target, through the restore planner and
//! executor ([`crate::restore::run`] with [`crate::side::Side::Cluster`] as its source), and
//! `--undo`: deleting exactly the objects a migration created.
//!
//! A migration keeps a [`MigrationRecord`] of what it created (the executor's
//! [`crate::restore::RestoreReport::created`]). Undo deletes those objects, newest first, and
//! only when the object in the target still carries the migration's `velero.io/restore-name`
//! label and has the UID it was read with just before (a precondition on the DELETE): an object
//! the migration did not create, or one replaced since, is never deleted. Namespaces the
//! migration created go last, each only while it is the namespace created (same UID) and holds
//! nothing but what goes with it (objects with an owner, the defaults the control plane adds).

use crate::restore::{CreatedNamespace, TargetRef, shorten_label_value};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skiff_kube::{ApiResourceInfo, Cluster, ListOptions};

/// What a migration created, kept for `--undo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationRecord {
    /// Migration name (the `velero.io/restore-name` label of what it created).
    pub name: String,
    /// When it ran.
    pub started: DateTime<Utc>,
    /// The objects it created, in creation order (accumulated over reruns).
    pub created: Vec<TargetRef>,
    /// The namespaces it created (records written before namespaces were kept have none).
    #[serde(default)]
    pub namespaces: Vec<CreatedNamespace>,
}

impl MigrationRecord {
    /// Add what a (re)run created, keeping each object once.
    pub fn extend(&mut self, created: &[TargetRef], namespaces: &[CreatedNamespace]) {
        for t in created {
            if !self.created.contains(t) {
                self.created.push(t.clone());
            }
        }
        for n in namespaces {
            if !self.namespaces.contains(n) {
                self.namespaces.push(n.clone());
            }
        }
    }
}

/// What happened to one recorded object on undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UndoOutcome {
    /// Deleted.
    Deleted,
    /// Already gone.
    Gone,
    /// Left alone: it no longer carries this migration's label (replaced or not created by it).
    Kept,
    /// The delete failed.
    Failed,
}

/// One line of an undo report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoItem {
    /// `resource.group/namespace/name`.
    pub object: String,
    /// What happened.
    pub outcome: UndoOutcome,
    /// Why (kept / failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Delete what `record` says the migration created, newest first (so namespaces and CRDs go
/// after what they hold). With `dry_run`, the deletes are sent with `dryRun=All`.
pub async fn undo(cluster: &Cluster, record: &MigrationRecord, dry_run: bool) -> Vec<UndoItem> {
    let label = shorten_label_value(&record.name);
    let mut out = Vec::with_capacity(record.created.len());
    for t in record.created.iter().rev() {
        let res = ApiResourceInfo::known(&t.group, &t.version, &t.resource, &t.kind, t.namespaced);
        let object = match &t.namespace {
            Some(ns) => format!("{}/{ns}/{}", res.group_resource(), t.name),
            None => format!("{}/{}", res.group_resource(), t.name),
        };
        let item = |outcome, reason: Option<String>| UndoItem {
            object: object.clone(),
            outcome,
            reason,
        };
        let live = match cluster.get(&res, t.namespace.as_deref(), &t.name).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                out.push(item(UndoOutcome::Gone, None));
                continue;
            }
            Err(e) => {
                out.push(item(UndoOutcome::Failed, Some(crate::offline::chain(&e))));
                continue;
            }
        };
        let carries = live
            .pointer("/metadata/labels/velero.io~1restore-name")
            .and_then(Value::as_str)
            == Some(label.as_str());
        if !carries {
            out.push(item(
                UndoOutcome::Kept,
                Some(format!(
                    "it does not carry velero.io/restore-name={label}: not created by this migration"
                )),
            ));
            continue;
        }
        let uid = live.pointer("/metadata/uid").and_then(Value::as_str);
        match cluster
            .delete_uid(&res, t.namespace.as_deref(), &t.name, uid, dry_run)
            .await
        {
            Ok(()) => out.push(item(UndoOutcome::Deleted, None)),
            Err(e) if e.is_not_found() => out.push(item(UndoOutcome::Gone, None)),
            Err(e) if e.is_conflict() => out.push(item(
                UndoOutcome::Kept,
                Some("replaced since it was read (UID precondition failed)".to_owned()),
            )),
            Err(e) => out.push(item(UndoOutcome::Failed, Some(crate::offline::chain(&e)))),
        }
    }
    for ns in record.namespaces.iter().rev() {
        let (outcome, reason) = undo_namespace(cluster, ns, dry_run).await;
        out.push(UndoItem {
            object: format!("namespaces/{}", ns.name),
            outcome,
            reason,
        });
    }
    out
}

/// Delete one namespace the migration created, when it is still that namespace and nothing in
/// it would be lost that the migration did not create.
async fn undo_namespace(
    cluster: &Cluster,
    ns: &CreatedNamespace,
    dry_run: bool,
) -> (UndoOutcome, Option<String>) {
    let res = ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false);
    let failed = |e: &skiff_kube::KubeError| (UndoOutcome::Failed, Some(crate::offline::chain(e)));
    let live = match cluster.get(&res, None, &ns.name).await {
        Ok(Some(v)) => v,
        Ok(None) => return (UndoOutcome::Gone, None),
        Err(e) => return failed(&e),
    };
    if live.pointer("/metadata/uid").and_then(Value::as_str) != Some(ns.uid.as_str()) {
        return (
            UndoOutcome::Kept,
            Some("replaced since the migration created it (another UID)".to_owned()),
        );
    }
    match foreign_object(cluster, &ns.name).await {
        Ok(Some(what)) => {
            return (
                UndoOutcome::Kept,
                Some(format!("it holds {what}, which this migration did not create")),
            );
        }
        Ok(None) => {}
        Err(e) => return failed(&e),
    }
    match cluster
        .delete_uid(&res, None, &ns.name, Some(&ns.uid), dry_run)
        .await
    {
        Ok(()) => (UndoOutcome::Deleted, None),
        Err(e) if e.is_not_found() => (UndoOutcome::Gone, None),
        Err(e) if e.is_conflict() => (
            UndoOutcome::Kept,
            Some("replaced since it was read (UID precondition failed)".to_owned()),
        ),
        Err(e) => failed(&e),
    }
}

/// The first object in `namespace` that deleting the namespace would lose although the
/// migration did not create it: not on its way out, without an owner (owned objects go with
/// their owners), and not one of the defaults the control plane puts in every namespace.
async fn foreign_object(cluster: &Cluster, namespace: &str) -> skiff_kube::Result<Option<String>> {
    let surface = cluster.discover(false).await?;
    for res in surface
        .resources
        .iter()
        .filter(|r| r.namespaced && r.supports("list") && r.supports("delete") && r.resource != "events")
    {
        let opts = ListOptions {
            namespace: Some(namespace.to_owned()),
            ..ListOptions::default()
        };
        let mut pages = cluster.list_pages(res, opts);
        while let Some(page) = pages.next_page().await? {
            for obj in &page.items {
                if !is_collateral(&res.resource, obj) {
                    let name = obj
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    return Ok(Some(format!("{}/{name}", res.group_resource())));
                }
            }
        }
    }
    Ok(None)
}

/// Whether deleting the namespace loses nothing in `obj` a user made: it is being deleted, it
/// has an owner, or it is a control-plane default (the `default` service account and its token,
/// the `kube-root-ca.crt` config map, the Endpoints — kept by the endpoints controller for Services).
fn is_collateral(resource: &str, obj: &Value) -> bool {
    let meta = |p: &str| obj.pointer(p);
    if meta("/metadata/deletionTimestamp").is_some()
        || meta("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty())
    {
        return true;
    }
    let name = meta("/metadata/name").and_then(Value::as_str).unwrap_or("");
    match resource {
        "serviceaccounts" => name == "default",
        "configmaps" => name == "kube-root-ca.crt",
        "endpoints" => true,
        "secrets" => {
            obj.pointer("/type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token")
                && obj
                    .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                    .and_then(Value::as_str)
                    == Some("default")
        }
        _ => false,
    }
}
