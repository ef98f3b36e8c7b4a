//! Backup and Restore custom resources for a Velero running in the cluster.
//!
//! [`backup_cr_for_sync`] builds the Backup object Velero's backup sync controller creates from
//! a `velero-backup.json` (`velero-format.md` §1.7): the document decoded into Velero's types
//! (unknown fields dropped), `metadata.namespace` set to Velero's namespace, the
//! `spec.storageLocation` and the `velero.io/storage-location` label set to the BSL, stale
//! Schedule owner references dropped, unfinished phases skipped (or turned `PartiallyFailed`
//! once expired). Server-owned metadata (`uid`, `resourceVersion`, `creationTimestamp`,
//! `generation`, `managedFields`, …) is left out: the API server assigns it on create anyway.
//!
//! [`register_backup`] creates it in the cluster right away, when a `BackupStorageLocation` points
//! at the same bucket and prefix, so `velero backup get` lists a skiff backup without waiting for
//! the next sync. [`restore_cr`] / [`register_restore`] do the same for a skiff restore, so
//! `velero restore describe/logs` find its results under `restores/<name>/`. Neither ever fails:
//! anything that stops them (Velero not installed, no matching BSL, 403) is a returned warning.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use skiff_format::docs::{self, k8s_time, shorten_label_value};
use skiff_format::velero::restore::{RestoreProgress, RestoreSpec, RestoreStatus, RestoreStatusSpec};
use skiff_format::velero::{self as model, LabelSelector, ObjectMeta, Schema, normalize};
use skiff_kube::{Cluster, KubeError};

use super::cluster::{ObjectRef, resource_of};

/// Phases the sync controller skips while the backup has not expired.
const UNFINISHED: &[&str] = &[
    "WaitingForPluginOperations",
    "WaitingForPluginOperationsPartiallyFailed",
    "Finalizing",
    "FinalizingPartiallyFailed",
];

/// What Velero's sync would do with a `velero-backup.json`.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupCr {
    /// Create this Backup object.
    Create(Value),
    /// Skip it, for this reason.
    Skip(String),
}

/// The Backup CR Velero's sync controller would create for `doc` under storage location
/// `bsl_name` in `namespace`. `schedules` are the Schedules of that namespace (name → uid), or
/// `None` when they could not be listed (then Schedule owner references are kept, as Velero
/// does on a lookup error).
pub fn backup_cr_for_sync(
    doc: &docs::Backup,
    bsl_name: &str,
    namespace: &str,
    schedules: Option<&BTreeMap<String, String>>,
    now: DateTime<Utc>,
) -> BackupCr {
    if !doc.has_velero_type() {
        return BackupCr::Skip(format!(
            "kind {:?} / apiVersion {:?} is not a velero.io/v1 Backup",
            doc.kind, doc.api_version
        ));
    }
    if doc.metadata.name.is_empty() {
        return BackupCr::Skip("the backup has no metadata.name".into());
    }
    let mut b = doc.clone();
    if UNFINISHED.contains(&b.status.phase.as_str()) {
        let expired = b
            .status
            .expiration
            .as_deref()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .is_some_and(|e| e.with_timezone(&Utc) <= now);
        if !expired {
            return BackupCr::Skip(format!(
                "phase {} and not expired: Velero syncs it once it expires",
                b.status.phase
            ));
        }
        b.status.phase = "PartiallyFailed".into();
    }
    let old = std::mem::take(&mut b.metadata);
    b.metadata = ObjectMeta {
        name: old.name,
        generate_name: old.generate_name,
        namespace: namespace.to_owned(),
        labels: old.labels,
        annotations: old.annotations,
        owner_references: old
            .owner_references
            .into_iter()
            .filter(|r| {
                r.kind != "Schedule"
                    || schedules.is_none_or(|s| s.get(&r.name).is_some_and(|uid| *uid == r.uid))
            })
            .collect(),
        finalizers: old.finalizers,
        ..ObjectMeta::default()
    };
    bsl_name.clone_into(&mut b.spec.storage_location);
    b.metadata.labels.insert(
        model::STORAGE_LOCATION_LABEL.to_owned(),
        shorten_label_value(bsl_name),
    );
    let mut v = serde_json::to_value(&b).unwrap_or(Value::Null);
    // Velero decodes into its Go types: fields it does not know are gone.
    normalize(&mut v, &model::Backup::schema());
    strip_server_metadata(&mut v);
    BackupCr::Create(v)
}

/// Drop the metadata the API server owns (and a null `creationTimestamp`).
fn strip_server_metadata(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "selfLink",
            "creationTimestamp",
            "generation",
            "managedFields",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            m.remove(k);
        }
    }
}

/// What [`register_backup`] / [`register_restore`] did. Never an error: see `warnings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegisterOutcome {
    /// Objects created.
    pub created: Vec<ObjectRef>,
    /// Objects that already existed (left as they are).
    pub existing: Vec<ObjectRef>,
    /// Why nothing (or not everything) was created.
    pub warnings: Vec<String>,
}

/// A BSL that points at the bucket and prefix.
#[derive(Debug, Clone)]
struct MatchingBsl {
    namespace: String,
    name: String,
}

fn warn_kube(out: &mut RegisterOutcome, doing: &str, e: &KubeError) {
    let w = if e.is_forbidden() {
        format!("not allowed to {doing} (403): {e}")
    } else {
        format!("could not {doing}: {e}")
    };
    tracing::warn!("{w}");
    out.warnings.push(w);
}

/// The BSLs pointing at `bucket`/`prefix`, one per namespace: the default one first, else the
/// first by name (the order Velero's sync visits them in).
async fn matching_bsls(
    cluster: &Cluster,
    bucket: &str,
    prefix: &str,
    out: &mut RegisterOutcome,
) -> Vec<MatchingBsl> {
    let res = resource_of("BackupStorageLocation").expect("known");
    let mut pager = cluster.list_pages(&res, skiff_kube::ListOptions::default());
    let mut items = Vec::new();
    loop {
        match pager.next_page().await {
            Ok(Some(page)) => {
                if page.restarted {
                    items.clear();
                }
                items.extend(page.items);
            }
            Ok(None) => break,
            Err(e) if e.is_not_found() => {
                out.warnings.push(
                    "Velero is not installed in this cluster (no backupstoragelocations.velero.io): nothing registered"
                        .into(),
                );
                return Vec::new();
            }
            Err(e) => {
                warn_kube(out, "list BackupStorageLocations", &e);
                return Vec::new();
            }
        }
    }
    let want_prefix = prefix.trim_matches('/');
    let mut per_ns: BTreeMap<String, Vec<(bool, String)>> = BTreeMap::new();
    for b in &items {
        let bsl: model::BackupStorageLocation = match serde_json::from_value(b.clone()) {
            Ok(x) => x,
            Err(_) => continue,
        };
        let Some(os) = &bsl.spec.object_storage else {
            continue;
        };
        if os.bucket == bucket && os.prefix.trim_matches('/') == want_prefix {
            per_ns
                .entry(bsl.metadata.namespace.clone())
                .or_default()
                .push((bsl.spec.default, bsl.metadata.name.clone()));
        }
    }
    if per_ns.is_empty() {
        let at = if want_prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{want_prefix}")
        };
        out.warnings.push(format!(
            "no BackupStorageLocation in the cluster points at {at}: Velero will not list it until one does"
        ));
    }
    per_ns
        .into_iter()
        .map(|(namespace, mut bsls)| {
            bsls.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            MatchingBsl {
                namespace,
                name: bsls.swap_remove(0).1,
            }
        })
        .collect()
}

async fn schedules_of(cluster: &Cluster, namespace: &str) -> Option<BTreeMap<String, String>> {
    let res = resource_of("Schedule").expect("known");
    let mut pager = cluster.list_pages(
        &res,
        skiff_kube::ListOptions {
            namespace: Some(namespace.to_owned()),
            ..skiff_kube::ListOptions::default()
        },
    );
    let mut out = BTreeMap::new();
    loop {
        match pager.next_page().await {
            Ok(Some(page)) => {
                for s in page.items {
                    let name = s["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                    let uid = s["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
                    out.insert(name, uid);
                }
            }
            Ok(None) => return Some(out),
            Err(_) => return None,
        }
    }
}

async fn create(cluster: &Cluster, obj: &Value, out: &mut RegisterOutcome) {
    let r = ObjectRef::of(obj);
    let res = resource_of(&r.kind).expect("known");
    match cluster.create(&res, r.namespace.as_deref(), obj, false).await {
        Ok(_) => {
            tracing::info!(object = %r, "registered with Velero");
            out.created.push(r);
        }
        Err(e) if e.is_already_exists() => out.existing.push(r),
        Err(e) => warn_kube(out, &format!("create {r}"), &e),
    }
}

/// Create the Backup CR of `doc` in every namespace whose Velero has a `BackupStorageLocation`
/// pointing at `bucket`/`prefix` (see the module docs). Never fails.
pub async fn register_backup(
    cluster: &Cluster,
    bucket: &str,
    prefix: &str,
    doc: &docs::Backup,
    now: DateTime<Utc>,
) -> RegisterOutcome {
    let mut out = RegisterOutcome::default();
    for bsl in matching_bsls(cluster, bucket, prefix, &mut out).await {
        let schedules = schedules_of(cluster, &bsl.namespace).await;
        match backup_cr_for_sync(doc, &bsl.name, &bsl.namespace, schedules.as_ref(), now) {
            BackupCr::Create(obj) => create(cluster, &obj, &mut out).await,
            BackupCr::Skip(reason) => out
                .warnings
                .push(format!("backup {:?} not registered: {reason}", doc.metadata.name)),
        }
    }
    out
}

/// What a skiff restore did, for its Restore CR.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RestoreCrParams {
    /// Restore name (= `restores/<name>/`).
    pub name: String,
    /// The backup restored.
    pub backup_name: String,
    /// Original namespaces included (globs); empty = all (written as `["*"]`, Velero's default).
    pub included_namespaces: Vec<String>,
    /// Namespaces excluded.
    pub excluded_namespaces: Vec<String>,
    /// Resources included.
    pub included_resources: Vec<String>,
    /// Resources excluded.
    pub excluded_resources: Vec<String>,
    /// Cluster-scoped resources switch.
    pub include_cluster_resources: Option<bool>,
    /// Label selector.
    pub label_selector: Option<LabelSelector>,
    /// Or-selectors.
    pub or_label_selectors: Vec<LabelSelector>,
    /// Namespace mappings.
    pub namespace_mapping: BTreeMap<String, String>,
    /// `--preserve-nodeports`.
    pub preserve_node_ports: bool,
    /// `none`, `update` (or skiff's `apply`, recorded as is).
    pub existing_resource_policy: Option<String>,
    /// Status restore filter (`included`, `excluded`).
    pub restore_status: Option<(Vec<String>, Vec<String>)>,
    /// Terminal phase: `Completed`, `PartiallyFailed` or `Failed`.
    pub phase: String,
    /// Start time.
    pub started: DateTime<Utc>,
    /// Completion time.
    pub completed: DateTime<Utc>,
    /// Items planned.
    pub total_items: i64,
    /// Items restored.
    pub items_restored: i64,
    /// Warning count (`restore-<name>-results.gz`).
    pub warnings: i64,
    /// Error count.
    pub errors: i64,
}

impl RestoreCrParams {
    /// The parameters of a restore that ran with `opts` and ended as `report` at `completed`:
    /// the filters and mappings it ran with, its phase, and Velero's counts (`warnings` /
    /// `errors` are the number of messages in the results document, as Velero counts them;
    /// `totalItems` every planned item, `itemsRestored` those created, updated or unchanged).
    pub fn from_restore(
        opts: &crate::restore::RestoreOptions,
        report: &crate::restore::RestoreReport,
        completed: DateTime<Utc>,
    ) -> Self {
        use crate::restore::Outcome;
        let count = |o: Outcome| report.counts.get(&o).copied().unwrap_or(0);
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let total: u64 = report.counts.values().sum();
        let restored = count(Outcome::Created) + count(Outcome::Updated) + count(Outcome::Unchanged);
        let selector = |s: &crate::labels::LabelSelector| -> LabelSelector {
            serde_json::from_value(s.to_json()).unwrap_or_default()
        };
        let scope = &opts.scope;
        let status = &opts.restore_status;
        Self {
            name: report.name.clone(),
            backup_name: report.backup.clone(),
            included_namespaces: scope.included_namespaces.clone(),
            excluded_namespaces: scope.excluded_namespaces.clone(),
            included_resources: scope.included_resources.clone(),
            excluded_resources: scope.excluded_resources.clone(),
            include_cluster_resources: scope.include_cluster_resources,
            label_selector: scope.label_selector.as_ref().map(selector),
            or_label_selectors: scope.or_label_selectors.iter().map(selector).collect(),
            namespace_mapping: opts.mappings.namespaces.clone(),
            preserve_node_ports: opts.preserve_node_ports,
            existing_resource_policy: opts.existing_resource_policy.map(|p| {
                match p {
                    crate::restore::ExistingResourcePolicy::None => "none",
                    crate::restore::ExistingResourcePolicy::Update => "update",
                    crate::restore::ExistingResourcePolicy::Apply => "apply",
                }
                .to_owned()
            }),
            restore_status: (!status.included_resources.is_empty() || !status.excluded_resources.is_empty())
                .then(|| {
                    (
                        status.included_resources.clone(),
                        status.excluded_resources.clone(),
                    )
                }),
            phase: report.phase.as_str().to_owned(),
            started: report.started,
            completed,
            total_items: to_i64(total),
            items_restored: to_i64(restored),
            warnings: to_i64(report.results.warnings.len() as u64),
            errors: to_i64(report.results.errors.len() as u64),
        }
    }
}

/// The Restore CR of a finished skiff restore in Velero's `namespace`: a terminal phase (so a
/// Velero server never runs it), the spec the restore ran with, counts and times.
pub fn restore_cr(p: &RestoreCrParams, namespace: &str) -> Value {
    let r = model::Restore {
        kind: "Restore".into(),
        api_version: "velero.io/v1".into(),
        metadata: ObjectMeta {
            name: p.name.clone(),
            namespace: namespace.to_owned(),
            ..ObjectMeta::default()
        },
        spec: RestoreSpec {
            backup_name: p.backup_name.clone(),
            included_namespaces: if p.included_namespaces.is_empty() {
                vec!["*".into()]
            } else {
                p.included_namespaces.clone()
            },
            excluded_namespaces: p.excluded_namespaces.clone(),
            included_resources: p.included_resources.clone(),
            excluded_resources: p.excluded_resources.clone(),
            namespace_mapping: p.namespace_mapping.clone(),
            label_selector: p.label_selector.clone(),
            or_label_selectors: p.or_label_selectors.clone(),
            restore_status: p.restore_status.as_ref().map(|(i, e)| RestoreStatusSpec {
                included_resources: i.clone(),
                excluded_resources: e.clone(),
                ..RestoreStatusSpec::default()
            }),
            preserve_node_ports: p.preserve_node_ports.then_some(true),
            include_cluster_resources: p.include_cluster_resources,
            existing_resource_policy: p.existing_resource_policy.clone().unwrap_or_default(),
            item_operation_timeout: Some("4h0m0s".into()),
            ..RestoreSpec::default()
        },
        status: RestoreStatus {
            phase: p.phase.clone(),
            warnings: p.warnings,
            errors: p.errors,
            start_timestamp: Some(k8s_time(p.started)),
            completion_timestamp: Some(k8s_time(p.completed)),
            progress: Some(RestoreProgress {
                total_items: p.total_items,
                items_restored: p.items_restored,
                ..RestoreProgress::default()
            }),
            ..RestoreStatus::default()
        },
        ..model::Restore::default()
    };
    let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
    strip_server_metadata(&mut v);
    v
}

/// Create the Restore CR of a skiff restore where a Velero has a `BackupStorageLocation` pointing
/// at `bucket`/`prefix`. Never fails; warns when the restore's Backup is not in that namespace
/// (Velero needs it to find the restore's files).
pub async fn register_restore(
    cluster: &Cluster,
    bucket: &str,
    prefix: &str,
    p: &RestoreCrParams,
) -> RegisterOutcome {
    let mut out = RegisterOutcome::default();
    if !matches!(p.phase.as_str(), "Completed" | "PartiallyFailed" | "Failed") {
        out.warnings.push(format!(
            "restore {:?} not registered: phase {:?} is not terminal (Velero would run it)",
            p.name, p.phase
        ));
        return out;
    }
    let backup_res = resource_of("Backup").expect("known");
    for bsl in matching_bsls(cluster, bucket, prefix, &mut out).await {
        match cluster
            .get(&backup_res, Some(&bsl.namespace), &p.backup_name)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => out.warnings.push(format!(
                "backup {:?} is not in namespace {}: `velero restore logs {}` works once Velero syncs it",
                p.backup_name, bsl.namespace, p.name
            )),
            Err(e) => warn_kube(&mut out, &format!("read backup {}", p.backup_name), &e),
        }
        create(cluster, &restore_cr(p, &bsl.namespace), &mut out).await;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn doc() -> docs::Backup {
        let t0 = Utc.with_ymd_and_hms(2026, 5, 20, 10, 0, 1).unwrap();
        let mut b = docs::Backup::new_completed(&docs::BackupParams {
            name: "b1".into(),
            storage_location: "somewhere-else".into(),
            started: t0,
            completed: t0,
            items: 3,
            ..docs::BackupParams::default()
        });
        b.metadata.uid = "u-1".into();
        b.metadata.resource_version = "42".into();
        b
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 21, 0, 0, 0).unwrap()
    }

    #[test]
    fn sync_sets_location_namespace_and_label() {
        let BackupCr::Create(v) = backup_cr_for_sync(&doc(), "default", "velero", None, now()) else {
            panic!()
        };
        assert_eq!(v["metadata"]["namespace"], "velero");
        assert_eq!(v["metadata"]["labels"]["velero.io/storage-location"], "default");
        assert_eq!(v["spec"]["storageLocation"], "default");
        assert_eq!(v["status"]["phase"], "Completed");
        for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
            assert!(v["metadata"].get(k).is_none(), "{k}");
        }
        // Everything else as written.
        assert_eq!(
            v["status"]["progress"],
            json!({"totalItems": 3, "itemsBackedUp": 3})
        );
        assert_eq!(
            v["metadata"]["annotations"]["velero.io/resource-timeout"],
            "10m0s"
        );
        let long = "l".repeat(70);
        let BackupCr::Create(v) = backup_cr_for_sync(&doc(), &long, "velero", None, now()) else {
            panic!()
        };
        assert_eq!(
            v["metadata"]["labels"]["velero.io/storage-location"]
                .as_str()
                .unwrap()
                .len(),
            63
        );
        assert_eq!(v["spec"]["storageLocation"], long.as_str());
    }

    #[test]
    fn sync_drops_unknown_fields_and_stale_schedule_refs() {
        let raw = serde_json::to_vec(&json!({
            "kind": "Backup", "apiVersion": "velero.io/v1",
            "metadata": {"name": "b", "ownerReferences": [
                {"apiVersion": "velero.io/v1", "kind": "Schedule", "name": "s1", "uid": "old"},
                {"apiVersion": "velero.io/v1", "kind": "Schedule", "name": "s2", "uid": "u2"},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "x"}
            ], "futureMeta": 1},
            "spec": {"futureSpec": true, "ttl": "1h0m0s"},
            "status": {"phase": "Completed", "futureCounter": 2},
        }))
        .unwrap();
        let b = docs::Backup::from_json(&raw).unwrap();
        let schedules = BTreeMap::from([
            ("s1".to_owned(), "new".to_owned()),
            ("s2".to_owned(), "u2".to_owned()),
        ]);
        let BackupCr::Create(v) = backup_cr_for_sync(&b, "default", "velero", Some(&schedules), now()) else {
            panic!()
        };
        let refs: Vec<&str> = v["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(refs, ["s2", "c"]);
        assert!(v["metadata"].get("futureMeta").is_none());
        assert!(v["spec"].get("futureSpec").is_none());
        assert!(v["status"].get("futureCounter").is_none());
        // Unknown schedules (lookup failed): references kept.
        let BackupCr::Create(v) = backup_cr_for_sync(&b, "default", "velero", None, now()) else {
            panic!()
        };
        assert_eq!(v["metadata"]["ownerReferences"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn unfinished_phases() {
        let mut b = doc();
        b.status.phase = "Finalizing".into();
        assert!(matches!(
            backup_cr_for_sync(&b, "default", "velero", None, now()),
            BackupCr::Skip(_)
        ));
        b.status.expiration = None;
        assert!(matches!(
            backup_cr_for_sync(&b, "default", "velero", None, now()),
            BackupCr::Skip(_)
        ));
        b.status.expiration = Some("2026-05-20T00:00:00Z".into());
        let BackupCr::Create(v) = backup_cr_for_sync(&b, "default", "velero", None, now()) else {
            panic!()
        };
        assert_eq!(v["status"]["phase"], "PartiallyFailed");
        let mut bad = doc();
        bad.kind = "Restore".into();
        assert!(matches!(
            backup_cr_for_sync(&bad, "default", "velero", None, now()),
            BackupCr::Skip(_)
        ));
    }

    #[test]
    fn restore_object() {
        let t = Utc.with_ymd_and_hms(2026, 5, 20, 11, 0, 0).unwrap();
        let v = restore_cr(
            &RestoreCrParams {
                name: "r1".into(),
                backup_name: "b1".into(),
                namespace_mapping: BTreeMap::from([("a".into(), "b".into())]),
                preserve_node_ports: true,
                phase: "Completed".into(),
                started: t,
                completed: t,
                total_items: 5,
                items_restored: 5,
                warnings: 1,
                ..RestoreCrParams::default()
            },
            "velero",
        );
        assert_eq!(
            v,
            json!({
                "kind": "Restore", "apiVersion": "velero.io/v1",
                "metadata": {"name": "r1", "namespace": "velero"},
                "spec": {
                    "backupName": "b1", "includedNamespaces": ["*"], "namespaceMapping": {"a": "b"},
                    "preserveNodePorts": true, "hooks": {}, "itemOperationTimeout": "4h0m0s",
                },
                "status": {
                    "phase": "Completed", "warnings": 1,
                    "startTimestamp": "2026-05-20T11:00:00Z", "completionTimestamp": "2026-05-20T11:00:00Z",
                    "progress": {"totalItems": 5, "itemsRestored": 5},
                },
            })
        );
        // Nothing in it is pruned by the Restore CRD.
        assert!(skiff_format::velero::pruned_paths(&v, &model::Restore::schema()).is_empty());
    }
}
