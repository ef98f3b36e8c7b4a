//! Backup end to end against the real test bed (kube-apiserver + controller-manager + etcd) and
//! the real S3 server: content fidelity, Velero's filter rules, interruption safety and faults.
//!
//! One bed per test function; the cases of a function share it.

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use skiff_engine::Scope;
use skiff_engine::backup::{BackupOptions, BackupPhase, BackupReport, run_backup};
use skiff_engine::labels::LabelSelector;
use skiff_engine::offline::{self, BackupSource, ListedItem};
use skiff_engine::{CancellationToken, NoProgress};
use skiff_format::docs::{self, Backup, ResourceList};
use skiff_format::path::VersionDir;
use skiff_kube::{Cluster, LimiterConfig};
use skiff_store::layout::{BackupFile, list_backups};
use skiff_store::{BackupStore, Credentials, LocalStore, Location, LocationOptions};
use skiff_testkit::bed::TestBed;
use skiff_testkit::proxy::{FaultProxy, Faults};
use skiff_testkit::s3::S3Server;
use skiff_testkit::seed;
use skiff_testkit::workload::{self, Size};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SEED: u64 = 7;

async fn start_bed() -> Result<(TestBed, kube::Client)> {
    skiff_kube::install_crypto_provider();
    let bed = TestBed::start().await?;
    let client = bed.client().await?;
    Ok((bed, client))
}

fn cluster(client: &kube::Client) -> Cluster {
    Cluster::from_client(client.clone(), LimiterConfig::default())
}

fn local_store(dir: &std::path::Path) -> Arc<dyn BackupStore> {
    Arc::new(LocalStore::new(dir))
}

async fn s3_store(
    endpoint: &str,
    server: &S3Server,
    bucket: &str,
    prefix: &str,
) -> Result<Arc<dyn BackupStore>> {
    let options = LocationOptions {
        endpoint: Some(endpoint.to_owned()),
        path_style: Some(true),
        region: Some(server.region().to_owned()),
        credentials: Some(Credentials::new(server.access_key(), server.secret_key())),
        ..LocationOptions::default()
    };
    Ok(skiff_store::open(&Location::parse(&format!("s3://{bucket}/{prefix}"))?, &options).await?)
}

async fn backup(
    cluster: &Cluster,
    store: &Arc<dyn BackupStore>,
    name: &str,
    scope: Scope,
) -> Result<BackupReport> {
    let opts = BackupOptions {
        name: name.to_owned(),
        scope,
        ..BackupOptions::default()
    };
    run_backup(
        cluster,
        store.clone(),
        &opts,
        &NoProgress,
        &CancellationToken::new(),
    )
    .await
    .with_context(|| format!("backup {name}"))
}

fn source(store: &Arc<dyn BackupStore>, name: &str) -> BackupSource {
    BackupSource::Stored {
        store: store.clone(),
        name: name.to_owned(),
    }
}

async fn items(store: &Arc<dyn BackupStore>, name: &str) -> Result<Vec<ListedItem>> {
    Ok(offline::list_items(&source(store, name), &Scope::default(), &NoProgress).await?)
}

fn key(i: &ListedItem) -> String {
    match &i.namespace {
        Some(ns) => format!("{}/{ns}/{}", i.resource, i.name),
        None => format!("{}/{}", i.resource, i.name),
    }
}

async fn assert_valid(store: &Arc<dyn BackupStore>, name: &str) -> Result<()> {
    let report = offline::validate(&source(store, name), &NoProgress).await?;
    ensure!(
        report.errors() == 0,
        "{name}: validate errors: {:#?}",
        report.findings
    );
    Ok(())
}

/// A raw API call through the kube client.
async fn api(client: &kube::Client, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let content_type = if method == "PATCH" {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(
            body.map(|b| serde_json::to_vec(b).expect("json"))
                .unwrap_or_default(),
        )?;
    client
        .request::<Value>(req)
        .await
        .with_context(|| format!("{method} {path}"))
}

// ---------------------------------------------------------------------------------------------
// 1. content fidelity

/// Every entry of a backup's tarball, by path, with how often each path occurs.
async fn entries(
    store: &Arc<dyn BackupStore>,
    name: &str,
) -> Result<(BTreeMap<String, Vec<u8>>, Vec<String>)> {
    let all = Arc::new(Mutex::new((BTreeMap::new(), Vec::new())));
    let all2 = all.clone();
    offline::for_each_entry(&source(store, name), &NoProgress, move |e| {
        let mut g = all2.lock().expect("lock");
        if g.0.insert(e.path.clone(), e.data.clone()).is_some() {
            g.1.push(e.path.clone());
        }
        Ok(true)
    })
    .await?;
    let (map, dups) = std::mem::take(&mut *all.lock().expect("lock"));
    Ok((map, dups))
}

/// Checks one completed backup against the cluster: documents, resource list, content of every
/// seeded namespaced object, preferred-version copies.
async fn check_full_backup(
    client: &kube::Client,
    store: &Arc<dyn BackupStore>,
    name: &str,
    report: &BackupReport,
    ttl: Duration,
    seeded: &[Value],
) -> Result<()> {
    assert_valid(store, name).await?;
    let src = source(store, name);

    // velero-backup.json
    let raw = src
        .read_file(BackupFile::Metadata)
        .await?
        .context("velero-backup.json missing")?;
    let doc = Backup::from_json(&raw)?;
    ensure!(
        doc.metadata.name == name,
        "metadata.name {:?} != folder {name:?}",
        doc.metadata.name
    );
    ensure!(doc.status.phase == "Completed", "phase {:?}", doc.status.phase);
    ensure!(
        doc.status.format_version == "1.1.0",
        "formatVersion {:?}",
        doc.status.format_version
    );
    let start: DateTime<Utc> = doc
        .status
        .start_timestamp
        .as_deref()
        .context("startTimestamp")?
        .parse()?;
    let expiration: DateTime<Utc> = doc.status.expiration.as_deref().context("expiration")?.parse()?;
    ensure!(
        expiration == start + chrono::Duration::from_std(ttl)?,
        "expiration {expiration} != start {start} + ttl {ttl:?}"
    );
    ensure!(
        report.phase == BackupPhase::Completed && report.errors.is_empty(),
        "report: {:?} {:?}",
        report.phase,
        report.errors
    );

    // resource list = the items, exactly.
    let (tar, dups) = entries(store, name).await?;
    ensure!(dups.is_empty(), "duplicate tar entries: {dups:?}");
    let mut classic: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new(); // item display → (path, bytes)
    let mut preferred: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (path, data) in &tar {
        match skiff_format::path::parse(path) {
            skiff_format::path::PathKind::Item(item, VersionDir::Classic) => {
                classic.insert(item.to_string(), (path.clone(), data.clone()));
            }
            skiff_format::path::PathKind::Item(item, VersionDir::Preferred(_)) => {
                preferred
                    .entry(item.to_string())
                    .or_default()
                    .push((path.clone(), data.clone()));
            }
            _ => {}
        }
    }
    ensure!(
        classic.len() as u64 == report.items,
        "{} classic items, report says {}",
        classic.len(),
        report.items
    );
    let gz = src
        .read_file(BackupFile::ResourceList)
        .await?
        .context("resource list missing")?;
    let list: ResourceList = docs::decode_sidecar(&gz, "resource list")?;
    let mut listed: Vec<String> = list.values().flatten().cloned().collect();
    let mut from_tar: Vec<String> = classic
        .values()
        .map(|(p, _)| match skiff_format::path::parse(p) {
            skiff_format::path::PathKind::Item(item, _) => item.list_key(),
            _ => unreachable!(),
        })
        .collect();
    listed.sort();
    from_tar.sort();
    ensure!(
        listed == from_tar,
        "resource list ({} keys) differs from the tarball ({} items)",
        listed.len(),
        from_tar.len()
    );

    // preferred-version copies: exactly one per item, identical bytes.
    for (item, (path, data)) in &classic {
        let copies = preferred
            .get(item)
            .with_context(|| format!("no preferred-version copy of {path}"))?;
        ensure!(copies.len() == 1, "{item}: {} preferred copies", copies.len());
        ensure!(
            &copies[0].1 == data,
            "{item}: preferred copy {} differs from {path}",
            copies[0].0
        );
    }

    // every seeded namespaced object: present once, content = a GET now.
    let mut checked = 0usize;
    let mut changed_since = Vec::new();
    for (index, obj) in seeded.iter().enumerate() {
        let Some(ns) = obj["metadata"]["namespace"].as_str() else {
            continue;
        };
        let name_ = obj["metadata"]["name"].as_str().context("name")?;
        let info = workload::resource_info(obj).context("resource info")?;
        let item = skiff_format::path::ItemRef::namespaced(info.group_resource, ns, name_);
        let (path, data) = classic
            .get(&item.to_string())
            .with_context(|| format!("{item} missing from {name}"))?;
        ensure!(*path == item.path(&VersionDir::Classic), "{item} at {path}");
        let stored: Value = serde_json::from_slice(data)?;
        let coll = seed::collection_path(index, obj)?;
        let mut live = api(client, "GET", &format!("{coll}/{name_}"), None).await?;
        // LIST items lack nothing that GET has; GET always carries apiVersion/kind.
        for k in ["apiVersion", "kind"] {
            ensure!(stored[k] == live[k], "{item}: {k} {} != {}", stored[k], live[k]);
        }
        if stored == live {
            checked += 1;
            continue;
        }
        // Only an object that changed after the backup may differ (controller-manager updates
        // Deployment status): then the resourceVersion differs and the spec is still the same.
        let rv = |v: &Value| v["metadata"]["resourceVersion"].clone();
        ensure!(
            rv(&stored) != rv(&live),
            "{item}: stored differs from GET at the same resourceVersion:\nstored {stored}\nlive   {live}"
        );
        live["status"] = Value::Null;
        let mut stored_cmp = stored.clone();
        stored_cmp["status"] = Value::Null;
        for v in [&mut live, &mut stored_cmp] {
            let m = v["metadata"].as_object_mut().context("metadata")?;
            for k in ["resourceVersion", "managedFields", "generation", "annotations"] {
                m.remove(k);
            }
        }
        ensure!(
            stored_cmp == live,
            "{item}: changed beyond status since the backup:\nstored {stored_cmp}\nlive   {live}"
        );
        changed_since.push(item.to_string());
    }
    ensure!(
        checked > 900,
        "only {checked} seeded objects compared exactly (changed since: {changed_since:?})"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_backup_local_and_s3() -> Result<()> {
    let (_bed, client) = start_bed().await?;
    let wl = workload::generate(Size::S, SEED);
    seed::seed_workload(&client, &wl, seed::DEFAULT_CONCURRENCY).await?;
    let cluster = cluster(&client);

    let dir = tempfile::tempdir()?;
    let local = local_store(dir.path());
    let report = backup(&cluster, &local, "full-local", Scope::default()).await?;
    check_full_backup(
        &client,
        &local,
        "full-local",
        &report,
        Duration::from_secs(720 * 3600),
        &wl.objects,
    )
    .await?;
    ensure!(list_backups(local.as_ref()).await? == vec!["full-local".to_owned()]);

    let s3 = S3Server::start()?;
    let bucket = s3.fresh_bucket()?;
    let remote = s3_store(&s3.endpoint(), &s3, &bucket, "cluster-a").await?;
    let ttl = Duration::from_secs(2 * 3600 + 30 * 60);
    let opts = BackupOptions {
        name: "ns-s3".into(),
        ttl,
        scope: Scope {
            included_namespaces: vec!["skiff-ns-*".into()],
            ..Scope::default()
        },
        ..BackupOptions::default()
    };
    let report = run_backup(
        &cluster,
        remote.clone(),
        &opts,
        &NoProgress,
        &CancellationToken::new(),
    )
    .await?;
    check_full_backup(&client, &remote, "ns-s3", &report, ttl, &wl.objects).await?;
    ensure!(list_backups(remote.as_ref()).await? == vec!["ns-s3".to_owned()]);
    ensure!(s3.open_multipart_uploads()? == 0, "multipart uploads left open");
    // Only skiff-ns-* namespaced items (plus cluster-scoped ones).
    for i in items(&remote, "ns-s3").await? {
        if let Some(ns) = &i.namespace {
            ensure!(ns.starts_with("skiff-ns-"), "ns-s3 holds {}", key(&i));
        }
    }
    // The same name again is refused (exit 11 in the CLI), and leaves the first intact.
    let again = run_backup(
        &cluster,
        remote.clone(),
        &opts,
        &NoProgress,
        &CancellationToken::new(),
    )
    .await;
    ensure!(
        matches!(again, Err(skiff_engine::Error::BackupExists { .. })),
        "second backup: {again:?}"
    );
    assert_valid(&remote, "ns-s3").await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. filters

const CRD: &str = "gadgets.filter.skiff.test";
const CR: &str = "clusterroles.rbac.authorization.k8s.io";
const CRB: &str = "clusterrolebindings.rbac.authorization.k8s.io";
const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";

fn meta(name: &str, labels: &Value) -> Value {
    json!({"name": name, "labels": labels})
}

fn nsmeta(ns: &str, name: &str, labels: &Value) -> Value {
    json!({"name": name, "namespace": ns, "labels": labels})
}

async fn create_filter_objects(client: &kube::Client) -> Result<()> {
    let none = json!({});
    let excl = json!({"velero.io/exclude-from-backup": "true"});
    for (ns, labels) in [
        ("f-a1", json!({"team": "a"})),
        ("f-a2", json!({"team": "a"})),
        ("f-b1", json!({"team": "b"})),
        ("f-x", excl.clone()),
    ] {
        api(
            client,
            "POST",
            "/api/v1/namespaces",
            Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, &labels)})),
        )
        .await?;
    }
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD},
        "spec": {"group": "filter.skiff.test", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    api(
        client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some(&crd),
    )
    .await?;
    let cm = |ns: &str, name: &str, labels: Value| {
        (
            format!("/api/v1/namespaces/{ns}/configmaps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": nsmeta(ns, name, &labels), "data": {"k": name}}),
        )
    };
    let mut posts = vec![
        cm("f-a1", "cm1", json!({"app": "one"})),
        cm("f-a1", "cm2", json!({"app": "two"})),
        cm("f-a1", "cm-excl", excl.clone()),
        cm("f-a2", "cm1", json!({"app": "one"})),
        cm("f-b1", "cm1", json!({"app": "three"})),
        cm("f-x", "cm1", json!({"app": "one"})),
    ];
    for (ns, sa) in [("f-a1", "sa1"), ("f-b1", "sa-b")] {
        posts.push((
            format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": nsmeta(ns, sa, &none)}),
        ));
    }
    for pv in ["pv-f1", "pv-f2"] {
        let mut spec = json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": format!("/tmp/{pv}")}, "storageClassName": ""});
        if pv == "pv-f1" {
            spec["claimRef"] = json!({"namespace": "f-a1", "name": "pvc1", "kind": "PersistentVolumeClaim", "apiVersion": "v1"});
        }
        posts.push(("/api/v1/persistentvolumes".into(), json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta(pv, &none), "spec": spec})));
    }
    posts.push((
        "/api/v1/namespaces/f-a1/persistentvolumeclaims".into(),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": nsmeta("f-a1", "pvc1", &none),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeName": "pv-f1", "storageClassName": ""}}),
    ));
    posts.push((
        "/api/v1/namespaces/f-a1/pods".into(),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": nsmeta("f-a1", "pod1", &none),
            "spec": {"serviceAccountName": "sa1", "automountServiceAccountToken": false,
                "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "pvc1"}}]}}),
    ));
    for cr in ["cr-f1", "cr-f2"] {
        posts.push((
            "/apis/rbac.authorization.k8s.io/v1/clusterroles".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(cr, &none),
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        ));
    }
    posts.push((
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".into(),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta("crb-f1", &none),
            "subjects": [{"kind": "ServiceAccount", "namespace": "f-a1", "name": "sa1"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr-f1"}}),
    ));
    for (path, body) in &posts {
        api(client, "POST", path, Some(body)).await?;
    }
    // The custom resource, once the CRD is established.
    let gadget = json!({"apiVersion": "filter.skiff.test/v1", "kind": "Gadget", "metadata": nsmeta("f-a1", "g1", &none), "spec": {"size": 3}});
    let mut tries = 0;
    while let Err(e) = api(
        client,
        "POST",
        "/apis/filter.skiff.test/v1/namespaces/f-a1/gadgets",
        Some(&gadget),
    )
    .await
    {
        tries += 1;
        ensure!(tries < 100, "custom resource not creatable: {e:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The PVC must be Bound for its PV to be pulled in (the controller-manager binds it).
    for _ in 0..30 {
        let pvc = api(
            client,
            "GET",
            "/api/v1/namespaces/f-a1/persistentvolumeclaims/pvc1",
            None,
        )
        .await?;
        if pvc["status"]["phase"] == "Bound" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The PV controller syncs on its own period: set the (consistent) binding status directly.
    let bound = json!({"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}});
    let pvc = api(
        client,
        "PATCH",
        "/api/v1/namespaces/f-a1/persistentvolumeclaims/pvc1/status",
        Some(&bound),
    )
    .await?;
    ensure!(
        pvc["status"]["phase"] == "Bound",
        "pvc f-a1/pvc1 not Bound: {}",
        pvc["status"]
    );
    Ok(())
}

/// The objects the filter cases are about (anything else in the backup is ignored).
fn known(k: &str) -> bool {
    let mut parts = k.splitn(3, '/');
    let (gr, a, b) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next(),
    );
    match b {
        Some(name) => {
            a.starts_with("f-")
                && !matches!(name, "default" | "kube-root-ca.crt")
                && !name.contains("-token-")
        }
        None => match gr {
            "namespaces" => a.starts_with("f-"),
            "persistentvolumes" => a.starts_with("pv-f"),
            CR => a.starts_with("cr-f"),
            CRB => a.starts_with("crb-f"),
            CRDS => a == CRD,
            _ => false,
        },
    }
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_what_velero_selects() -> Result<()> {
    let (_bed, client) = start_bed().await?;
    create_filter_objects(&client).await?;
    let cluster = cluster(&client);
    let dir = tempfile::tempdir()?;
    let store = local_store(dir.path());

    let gadget = "gadgets.filter.skiff.test/f-a1/g1";
    let pv1 = "persistentvolumes/pv-f1";
    let crd = format!("{CRDS}/{CRD}");
    let cr1 = format!("{CR}/cr-f1");
    let binding1 = format!("{CRB}/crb-f1");
    let a1 = [
        "namespaces/f-a1",
        "configmaps/f-a1/cm1",
        "configmaps/f-a1/cm2",
        "serviceaccounts/f-a1/sa1",
        "persistentvolumeclaims/f-a1/pvc1",
        "pods/f-a1/pod1",
        gadget,
    ];
    let a2 = ["namespaces/f-a2", "configmaps/f-a2/cm1"];
    let b1 = [
        "namespaces/f-b1",
        "configmaps/f-b1/cm1",
        "serviceaccounts/f-b1/sa-b",
    ];
    let related = [pv1, crd.as_str(), cr1.as_str(), binding1.as_str()];
    let all_cluster = [
        pv1,
        "persistentvolumes/pv-f2",
        crd.as_str(),
        cr1.as_str(),
        &format!("{CR}/cr-f2"),
        binding1.as_str(),
    ]
    .map(str::to_owned);
    let cat = |parts: &[&[&str]]| -> BTreeSet<String> {
        parts
            .iter()
            .flat_map(|p| p.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let sel = |s: &str| LabelSelector::parse(s).expect("selector");
    let ns = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let cases: Vec<(&str, Scope, BTreeSet<String>)> = vec![
        // No filters: every namespace but the labelled f-x; cluster-scoped objects only as related items.
        ("no-filters", Scope::default(), cat(&[&a1, &a2, &b1, &related])),
        (
            "ns-wildcard",
            Scope {
                included_namespaces: ns(&["f-a*"]),
                ..Default::default()
            },
            cat(&[&a1, &a2, &related]),
        ),
        (
            "ns-include-exclude",
            Scope {
                included_namespaces: ns(&["f-*"]),
                excluded_namespaces: ns(&["f-a?"]),
                ..Default::default()
            },
            cat(&[&b1]),
        ),
        (
            "old-cluster-true",
            Scope {
                included_namespaces: ns(&["f-b1"]),
                include_cluster_resources: Some(true),
                ..Default::default()
            },
            cat(&[&b1])
                .into_iter()
                .chain(all_cluster.iter().cloned())
                .collect(),
        ),
        (
            "old-cluster-false",
            Scope {
                included_namespaces: ns(&["f-a1"]),
                include_cluster_resources: Some(false),
                ..Default::default()
            },
            cat(&[&a1]),
        ),
        (
            "old-unset-resources",
            Scope {
                included_namespaces: ns(&["f-a1"]),
                included_resources: ns(&["pods", "persistentvolumeclaims", "namespaces"]),
                ..Default::default()
            },
            // nil include-cluster-resources + namespace filter: PV only as related, and only
            // when its type matches includedResources — it does not.
            set(&[
                "namespaces/f-a1",
                "pods/f-a1/pod1",
                "persistentvolumeclaims/f-a1/pvc1",
            ]),
        ),
        (
            "new-cluster-star",
            Scope {
                included_namespaces: ns(&["f-a2"]),
                included_cluster_scoped_resources: ns(&["*"]),
                ..Default::default()
            },
            cat(&[&a2])
                .into_iter()
                .chain(all_cluster.iter().cloned())
                .collect(),
        ),
        (
            "selector",
            Scope {
                label_selector: Some(sel("app=one")),
                ..Default::default()
            },
            // Velero keeps a namespace that passes the namespace filter unless that filter is
            // "everything" — and it is not: the labelled f-x was appended to the excludes (§4.4).
            set(&[
                "namespaces/f-a1",
                "configmaps/f-a1/cm1",
                "namespaces/f-a2",
                "configmaps/f-a2/cm1",
                "namespaces/f-b1",
            ]),
        ),
        (
            "or-selectors",
            Scope {
                or_label_selectors: vec![sel("app=two"), sel("team=b")],
                ..Default::default()
            },
            // As above: every namespace but f-x, and only the selected configmap.
            set(&[
                "namespaces/f-a1",
                "configmaps/f-a1/cm2",
                "namespaces/f-a2",
                "namespaces/f-b1",
            ]),
        ),
        (
            "excluded-namespace-named",
            Scope {
                included_namespaces: ns(&["f-x", "f-b1"]),
                ..Default::default()
            },
            cat(&[&b1]),
        ),
    ];

    let mut failures = Vec::new();
    for (i, (name, filters, want)) in cases.into_iter().enumerate() {
        let bname = format!("f{i}-{name}");
        let report = backup(&cluster, &store, &bname, filters).await?;
        ensure!(
            report.phase == BackupPhase::Completed,
            "{bname}: {:?} {:?}",
            report.phase,
            report.errors
        );
        let got: BTreeSet<String> = items(&store, &bname)
            .await?
            .iter()
            .map(key)
            .filter(|k| known(k))
            .collect();
        if got != want {
            failures.push(format!(
                "{bname}:\n  missing {:?}\n  extra   {:?}",
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>()
            ));
        }
        assert_valid(&store, &bname).await?;
    }
    ensure!(
        failures.is_empty(),
        "filter cases differ from Velero's rules:\n{}",
        failures.join("\n")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. interruption

/// Nothing of backup `name` is visible: no velero-backup.json, not listed.
async fn assert_invisible(store: &Arc<dyn BackupStore>, name: &str) -> Result<()> {
    let meta_key = BackupFile::Metadata.key(name)?;
    ensure!(
        store.head(&meta_key).await?.is_none(),
        "{meta_key} exists after an interrupted backup"
    );
    ensure!(
        !list_backups(store.as_ref()).await?.contains(&name.to_owned()),
        "{name} listed after an interrupted backup"
    );
    Ok(())
}

use crate::common::skiff_bin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_backups_never_become_visible() -> Result<()> {
    let bin = skiff_bin()?;
    let (bed, client) = start_bed().await?;
    seed::seed(&client, Size::S, SEED).await?;
    let cluster = cluster(&client);
    let dir = tempfile::tempdir()?;
    let store = local_store(dir.path());

    // In-process: cancel the token after N ms.
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos()
            % 37,
    );
    let mut interrupted = 0;
    for (i, ms) in [0u64, 15, 60, 150, 300, 600].into_iter().enumerate() {
        let name = format!("cancel-{i}");
        let opts = BackupOptions {
            name: name.clone(),
            page_size: 100,
            ..BackupOptions::default()
        };
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms + jitter)).await;
            c2.cancel();
        });
        let outcome = run_backup(&cluster, store.clone(), &opts, &NoProgress, &cancel).await;
        timer.abort();
        match outcome {
            Ok(r) => {
                ensure!(r.phase == BackupPhase::Completed);
                assert_valid(&store, &name).await?;
                continue;
            }
            Err(skiff_engine::Error::Interrupted) => interrupted += 1,
            Err(e) => bail!("{name} after {ms} ms: not an interruption: {e:#}"),
        }
        assert_invisible(&store, &name).await?;
        let prefix = format!("backups/{name}/");
        let left = store.list(&prefix).await?;
        ensure!(
            left.is_empty(),
            "{name}: files left after cancellation: {:?}",
            left.iter().map(|m| &m.key).collect::<Vec<_>>()
        );
        // A rerun under the same name succeeds.
        let report = backup(&cluster, &store, &name, Scope::default()).await?;
        ensure!(report.phase == BackupPhase::Completed);
        assert_valid(&store, &name).await?;
    }
    ensure!(
        interrupted >= 3,
        "only {interrupted} of 6 runs were interrupted mid-way"
    );

    // Out of process: SIGKILL `skiff backup` at several points.
    let loc = dir.path().join("killed");
    let loc_store = local_store(&loc);
    let mut killed = 0;
    for (i, ms) in [40u64, 200, 450, 800, 1300].into_iter().enumerate() {
        let name = format!("kill-{i}");
        let mut child = std::process::Command::new(&bin)
            .args(["backup", &name, "--location"])
            .arg(&loc)
            .arg("--kubeconfig")
            .arg(bed.kubeconfig_path())
            .args(["--page-size", "100", "--no-progress"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        tokio::time::sleep(Duration::from_millis(ms + jitter * 3)).await;
        let finished = child.try_wait()?;
        if finished.is_none() {
            child.kill()?;
            killed += 1;
        }
        let status = child.wait()?;
        if finished.is_some() {
            ensure!(status.success(), "{name} failed before the kill: {status}");
            continue;
        }
        assert_invisible(&loc_store, &name).await?;
        // Rerun (the CLI) under the same name succeeds.
        let rerun = std::process::Command::new(&bin)
            .args(["backup", &name, "--location"])
            .arg(&loc)
            .arg("--kubeconfig")
            .arg(bed.kubeconfig_path())
            .args(["--no-progress"])
            .output()?;
        ensure!(
            rerun.status.success(),
            "rerun of {name}: {}\n{}",
            rerun.status,
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_valid(&loc_store, &name).await?;
    }
    ensure!(killed >= 3, "only {killed} of 5 processes were killed mid-way");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. faults

fn diff(got: &BTreeSet<String>, want: &BTreeSet<String>) -> String {
    format!(
        "missing {:?}, extra {:?}",
        want.difference(got).take(20).collect::<Vec<_>>(),
        got.difference(want).take(20).collect::<Vec<_>>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_survives_api_and_s3_faults() -> Result<()> {
    let (bed, client) = start_bed().await?;
    let wl = workload::generate(Size::S, SEED);
    seed::seed_workload(&client, &wl, seed::DEFAULT_CONCURRENCY).await?;
    let filters = Scope {
        included_namespaces: vec!["skiff-ns-*".into()],
        ..Scope::default()
    };
    let seeded: BTreeSet<String> = wl
        .objects
        .iter()
        .filter_map(|o| {
            let ns = o["metadata"]["namespace"].as_str()?;
            let gr = workload::resource_info(o)?.group_resource;
            Some(format!("{gr}/{ns}/{}", o["metadata"]["name"].as_str()?))
        })
        .collect();

    let dir = tempfile::tempdir()?;
    let store = local_store(dir.path());
    let clean = backup(&cluster(&client), &store, "clean", filters.clone()).await?;
    let clean_keys: BTreeSet<String> = items(&store, "clean").await?.iter().map(key).collect();
    ensure!(
        clean_keys.is_superset(&seeded),
        "clean backup lacks seeded objects"
    );

    // API server behind 429 (Retry-After 1) every 7th, 503 every 5th, 5 ms latency.
    let proxy = FaultProxy::for_bed(&bed).await?;
    proxy.set_faults(
        Faults::none()
            .latency(Duration::from_millis(5))
            .throttle_every(7, 1)
            .error_every(5, 503),
    );
    let faulty = Cluster::from_client(proxy.client(&bed).await?, LimiterConfig::default());
    let report = backup(&faulty, &store, "api-faults", filters.clone()).await?;
    let stats = proxy.stats();
    ensure!(
        stats.throttled > 0 && stats.errors > 0,
        "no faults injected: {stats:?}"
    );
    ensure!(
        report.phase == BackupPhase::Completed && report.errors.is_empty(),
        "api-faults: {} {:?}",
        report.phase,
        report.errors
    );
    assert_valid(&store, "api-faults").await?;
    let keys: BTreeSet<String> = items(&store, "api-faults").await?.iter().map(key).collect();
    ensure!(
        keys.is_superset(&seeded),
        "api-faults lacks {:?}",
        seeded.difference(&keys).take(10).collect::<Vec<_>>()
    );
    // Same objects as the clean run, except ones controllers create, delete or bind meanwhile.
    let stable = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter()
            .filter(|k| {
                !k.starts_with("events")
                    && !k.starts_with("pods/")
                    && !k.starts_with("replicasets")
                    && !k.starts_with("endpoint")
                    // PVs enter as related items once the PV controller binds their PVCs,
                    // which may happen between two backups.
                    && !k.starts_with("persistentvolumes/")
            })
            .cloned()
            .collect()
    };
    ensure!(
        stable(&keys) == stable(&clean_keys),
        "api-faults item set differs from the clean backup: {}",
        diff(&stable(&keys), &stable(&clean_keys))
    );
    ensure!(
        report.items + 50 >= clean.items,
        "api-faults has {} items, clean {}",
        report.items,
        clean.items
    );

    // S3 behind 503 every 5th request.
    let s3 = S3Server::start()?;
    let bucket = s3.fresh_bucket()?;
    let s3proxy = FaultProxy::for_s3(&s3.endpoint()).await?;
    s3proxy.set_faults(
        Faults::none()
            .error_every(5, 503)
            .latency(Duration::from_millis(2)),
    );
    let remote = s3_store(&s3proxy.url(), &s3, &bucket, "faulty").await?;
    let report = backup(&cluster(&client), &remote, "s3-faults", filters).await?;
    ensure!(
        s3proxy.stats().errors > 0,
        "no S3 faults injected: {:?}",
        s3proxy.stats()
    );
    ensure!(
        report.phase == BackupPhase::Completed,
        "s3-faults: {}",
        report.phase
    );
    // Read back directly (no proxy).
    let direct = s3_store(&s3.endpoint(), &s3, &bucket, "faulty").await?;
    assert_valid(&direct, "s3-faults").await?;
    let keys: BTreeSet<String> = items(&direct, "s3-faults").await?.iter().map(key).collect();
    ensure!(keys.is_superset(&seeded), "s3-faults lacks seeded objects");
    ensure!(
        stable(&keys) == stable(&clean_keys),
        "s3-faults item set differs from the clean backup: {}",
        diff(&stable(&keys), &stable(&clean_keys))
    );
    ensure!(list_backups(direct.as_ref()).await? == vec!["s3-faults".to_owned()]);
    Ok(())
}
