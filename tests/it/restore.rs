//! Restore against two real test beds (source and target) and the real S3 server.
//!
//! `seeded_round_trip_rerun_and_storm`: the seeded workload round trip (every restored object
//! compared with the source), the documents under `restores/<name>/`, a rerun, and a restore
//! through a fault proxy. `crafted_cases`: exact JSON for the mappings and modifiers, ordering
//! (CRD + CRs, webhook after its Service and Deployment), existing-object policies and bad input.

// Short names for the target / options / report triples keep the many assertions readable.
#![allow(clippy::many_single_char_names)]

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::{Value, json};
use skiff_engine::offline::BackupSource;
use skiff_engine::restore::{
    self, BackupItem, ExecObserver, ExecOptions, ExistingResourcePolicy, Outcome, PlanError,
    ResourceModifiers, RestoreOptions, RestorePhase, RestorePlan, RestoreReport, SkipReason, TargetFacts,
};
use skiff_engine::{CancellationToken, NoProgress};
use skiff_kube::{ApiResourceInfo, ApiSurface, Cluster, LimiterConfig};
use skiff_store::{BackupStore, Credentials, Location, LocationOptions};
use skiff_testkit::bed::TestBed;
use skiff_testkit::proxy::{FaultProxy, Faults};
use skiff_testkit::s3::S3Server;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// helpers

/// The tests of this module run one at a time: kube-controller-manager was seen exiting
/// (status 255) during start-up while another test loaded its beds on this 2-core machine.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn two_beds() -> Result<(TestBed, TestBed)> {
    Ok((bed().await?, bed().await?))
}

/// A bed, retried: under heavy machine load kube-controller-manager sometimes exits (255)
/// during start-up (reported to the testkit owner).
async fn bed() -> Result<TestBed> {
    let mut last = None;
    for _ in 0..3 {
        match TestBed::start().await {
            Ok(b) => return Ok(b),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| anyhow!("no bed"), anyhow::Error::from))
}

async fn cluster_of(bed: &TestBed) -> Result<Cluster> {
    Ok(Cluster::from_client(
        bed.client().await?,
        LimiterConfig::default(),
    ))
}

async fn open_bucket(s3: &S3Server) -> Result<(Arc<dyn BackupStore>, String)> {
    let bucket = s3.fresh_bucket()?;
    let url = format!("s3://{bucket}/cluster-a");
    let opts = LocationOptions {
        endpoint: Some(s3.endpoint()),
        path_style: Some(true),
        credentials: Some(Credentials::new(s3.access_key(), s3.secret_key())),
        ..LocationOptions::default()
    };
    Ok((skiff_store::open(&Location::parse(&url)?, &opts).await?, url))
}

async fn backup(
    cluster: &Cluster,
    store: &Arc<dyn BackupStore>,
    name: &str,
    namespaces: &[&str],
) -> Result<Vec<BackupItem>> {
    let opts = skiff_engine::backup::BackupOptions {
        name: name.into(),
        scope: skiff_engine::Scope {
            included_namespaces: namespaces.iter().map(|s| (*s).to_string()).collect(),
            include_cluster_resources: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    let report = skiff_engine::backup::run_backup(
        cluster,
        store.clone(),
        &opts,
        &NoProgress,
        &CancellationToken::new(),
    )
    .await?;
    ensure!(
        report.phase == "Completed",
        "backup {name}: {} {:?}",
        report.phase,
        report.errors
    );
    let src = BackupSource::Stored {
        store: store.clone(),
        name: name.into(),
    };
    Ok(restore::load_items(&src, &NoProgress).await?)
}

struct Target {
    cluster: Cluster,
    surface: ApiSurface,
    facts: TargetFacts,
}

async fn target(cluster: Cluster) -> Result<Target> {
    let surface = cluster.discover(false).await?;
    let facts = restore::target_facts(&cluster, &surface).await;
    Ok(Target {
        cluster,
        surface,
        facts,
    })
}

fn exec_options() -> ExecOptions {
    ExecOptions {
        wait_timeout: Duration::from_secs(60),
        ..ExecOptions::default()
    }
}

/// What the executor did, in the order it did it: `(started, id)`.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<(bool, usize)>>);

impl ExecObserver for Recorder {
    fn started(&self, id: usize) {
        self.0.lock().expect("recorder").push((true, id));
    }
    fn finished(&self, id: usize, _: Outcome) {
        self.0.lock().expect("recorder").push((false, id));
    }
}

/// Edges of each kind that an executed order was checked against.
#[derive(Debug, Default)]
struct EdgesChecked {
    /// Item → item edges (`after`).
    items: usize,
    /// Of those, edges to a CRD.
    crds: usize,
    /// Item → every item of a barrier wave (`after_waves`).
    barriers: usize,
}

/// Checks the executor's order against the edges of a plan as `skiff restore --dry-run -o json`
/// prints it (read from the JSON alone): every item started once, and only after every item of
/// its `after` and of its wave's `after_waves` had finished.
fn check_order(printed: &Value, events: &[(bool, usize)]) -> Result<EdgesChecked> {
    let waves = printed["waves"]
        .as_array()
        .ok_or_else(|| anyhow!("no waves in the printed plan"))?;
    let ids = |v: &Value| -> Vec<usize> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .map(|n| usize::try_from(n).expect("small id"))
            .collect()
    };
    let mut wave_items: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut source: BTreeMap<usize, String> = BTreeMap::new();
    for w in waves {
        let index = usize::try_from(w["index"].as_u64().unwrap_or(u64::MAX))?;
        for it in w["items"].as_array().into_iter().flatten() {
            let id = usize::try_from(it["id"].as_u64().ok_or_else(|| anyhow!("item without id"))?)?;
            wave_items.entry(index).or_default().push(id);
            let k = &it["source"];
            source.insert(
                id,
                format!(
                    "{}/{}",
                    k["group_resource"].as_str().unwrap_or(""),
                    k["name"].as_str().unwrap_or("")
                ),
            );
        }
    }
    // Every item's start condition: (item it waits for, through a barrier?).
    let mut waits: BTreeMap<usize, Vec<(usize, bool)>> = BTreeMap::new();
    for w in waves {
        let barrier: Vec<usize> = ids(&w["after_waves"])
            .iter()
            .flat_map(|b| wave_items.get(b).cloned().unwrap_or_default())
            .collect();
        for it in w["items"].as_array().into_iter().flatten() {
            let id = usize::try_from(it["id"].as_u64().unwrap_or(u64::MAX))?;
            let mut ws: Vec<(usize, bool)> = ids(&it["after"]).into_iter().map(|d| (d, false)).collect();
            ws.extend(barrier.iter().map(|&d| (d, true)));
            waits.insert(id, ws);
        }
    }
    let mut checked = EdgesChecked::default();
    let (mut started, mut finished) = (BTreeSet::new(), BTreeSet::new());
    for &(start, id) in events {
        let name = source.get(&id).cloned().unwrap_or_else(|| format!("#{id}"));
        if !start {
            ensure!(
                started.contains(&id) && finished.insert(id),
                "{name} finished twice or before it started"
            );
            continue;
        }
        ensure!(started.insert(id), "{name} started twice");
        for &(d, barrier) in waits
            .get(&id)
            .ok_or_else(|| anyhow!("{name} is not in the plan"))?
        {
            ensure!(
                finished.contains(&d),
                "{name} started before {} finished (a {} edge of the printed plan)",
                source.get(&d).cloned().unwrap_or_default(),
                if barrier { "wave barrier" } else { "item" }
            );
            if barrier {
                checked.barriers += 1;
            } else {
                checked.items += 1;
                if source
                    .get(&d)
                    .is_some_and(|s| s.starts_with("customresourcedefinitions."))
                {
                    checked.crds += 1;
                }
            }
        }
    }
    ensure!(
        started.len() == source.len() && finished.len() == source.len(),
        "{} of {} planned items started, {} finished",
        started.len(),
        source.len(),
        finished.len()
    );
    Ok(checked)
}

fn opts(name: &str, backup: &str) -> RestoreOptions {
    RestoreOptions {
        restore_name: name.into(),
        backup_name: backup.into(),
        ..RestoreOptions::default()
    }
}

async fn run(t: &Target, items: &[BackupItem], o: &RestoreOptions) -> Result<(RestorePlan, RestoreReport)> {
    let plan = restore::plan(items, &t.surface, o, &t.facts)?;
    let report = restore::execute(
        &t.cluster,
        &plan,
        &exec_options(),
        &NoProgress,
        &CancellationToken::new(),
    )
    .await;
    Ok((plan, report))
}

fn count(r: &RestoreReport, o: Outcome) -> u64 {
    r.counts.get(&o).copied().unwrap_or(0)
}

fn no_failures(r: &RestoreReport) -> Result<()> {
    let bad: Vec<_> = r
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Outcome::Failed | Outcome::Conflict))
        .map(|i| format!("{}: {:?}", i.item, i.message))
        .collect();
    ensure!(
        bad.is_empty() && r.results.errors.is_empty() && r.phase == RestorePhase::Completed,
        "restore {} {}: failures {bad:#?}, errors {:?}",
        r.name,
        r.phase,
        r.results.errors
    );
    Ok(())
}

fn res(surface: &ApiSurface, gr: &str) -> Result<ApiResourceInfo> {
    surface
        .preferred(gr)
        .cloned()
        .ok_or_else(|| anyhow!("{gr} not served"))
}

async fn create(c: &Cluster, s: &ApiSurface, gr: &str, obj: Value) -> Result<()> {
    let r = res(s, gr)?;
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    c.create(&r, ns.as_deref(), &obj, false)
        .await
        .with_context(|| format!("create {gr} {}", obj["metadata"]["name"]))?;
    Ok(())
}

async fn get(c: &Cluster, s: &ApiSurface, gr: &str, ns: Option<&str>, name: &str) -> Result<Value> {
    c.get(&res(s, gr)?, ns, name)
        .await?
        .ok_or_else(|| anyhow!("{gr} {ns:?}/{name} missing"))
}

/// Strip what the server sets or the restore adds by design.
fn normalize(v: &Value) -> Value {
    let mut v = v.clone();
    let kind = v["kind"].as_str().unwrap_or_default().to_string();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            m.remove(k);
        }
        for (field, prefixes) in [
            ("labels", &["velero.io/"][..]),
            (
                "annotations",
                &[
                    "deployment.kubernetes.io/revision",
                    "pv.kubernetes.io/",
                    "volume.beta.kubernetes.io/storage-provisioner",
                    "volume.kubernetes.io/",
                    "kubectl.kubernetes.io/restartedAt",
                ][..],
            ),
        ] {
            if let Some(map) = m.get_mut(field).and_then(Value::as_object_mut) {
                map.retain(|k, _| !prefixes.iter().any(|p| k.starts_with(p)));
                if map.is_empty() {
                    m.remove(field);
                }
            }
        }
    }
    match kind.as_str() {
        "Service" => {
            if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
                if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        p.remove("nodePort");
                    }
                }
            }
        }
        "ServiceAccount" => {
            if let Some(o) = v.as_object_mut() {
                o.remove("secrets");
            }
        }
        "PersistentVolume" => {
            if let Some(c) = v.pointer_mut("/spec/claimRef").and_then(Value::as_object_mut) {
                // The PV binder completes a claimRef (uid, resourceVersion, apiVersion, kind)
                // when it binds; whether it has on either cluster at compare time is timing.
                for k in ["uid", "resourceVersion", "apiVersion", "kind"] {
                    c.remove(k);
                }
            }
        }
        "PersistentVolumeClaim" => {
            if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("volumeName");
            }
        }
        _ => {}
    }
    v
}

/// The namespace mapping as the plan applies it: every field named `namespace` (metadata, RBAC
/// subjects, PV claimRefs, webhook services) equal to `from` becomes `to`.
fn map_namespace(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| map_namespace(x, from, to)),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "namespace" && x.as_str() == Some(from) {
                    *x = Value::String(to.into());
                } else {
                    map_namespace(x, from, to);
                }
            }
        }
        _ => {}
    }
}

/// Paths where `a` and `b` differ.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(l), Some(r)) => diff(l, r, &p, out),
                    (l, r) => out.push(format!("{p}: {l:?} vs {r:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                diff(l, r, &format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// Objects the target's controllers create or own themselves.
fn controller_made(gr: &str, obj: &Value) -> bool {
    matches!(
        gr,
        "pods"
            | "replicasets.apps"
            | "endpoints"
            | "endpointslices.discovery.k8s.io"
            | "events"
            | "events.events.k8s.io"
            | "controllerrevisions.apps"
    ) || (gr == "secrets" && obj["type"] == "kubernetes.io/service-account-token")
        || (gr == "configmaps" && obj["metadata"]["name"] == "kube-root-ca.crt")
        || (gr == "serviceaccounts" && obj["metadata"]["name"] == "default")
}

fn ri(t: &restore::TargetRef) -> ApiResourceInfo {
    ApiResourceInfo {
        group: t.group.clone(),
        version: t.version.clone(),
        resource: t.resource.clone(),
        kind: t.kind.clone(),
        singular: String::new(),
        namespaced: t.namespaced,
        verbs: Vec::new(),
        short_names: Vec::new(),
        preferred: true,
    }
}

use crate::common::skiff_bin;

// ---------------------------------------------------------------------------------------------
// 1, 5, 7: seeded workload

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_round_trip_rerun_and_storm() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let _serial = SERIAL.lock().await;
    let (src_bed, tgt_bed) = two_beds().await?;
    let s3 = S3Server::start()?;
    let src = cluster_of(&src_bed).await?;
    skiff_testkit::seed::seed(&src_bed.client().await?, skiff_testkit::workload::Size::S, 7).await?;
    let (store, url) = open_bucket(&s3).await?;
    let items = backup(&src, &store, "seeded", &["skiff-ns-*"]).await?;
    ensure!(items.len() > 500, "only {} items", items.len());

    let t = target(cluster_of(&tgt_bed).await?).await?;
    let src_surface = src.discover(false).await?;
    let mut o = opts("rt", "seeded");
    o.mappings
        .namespaces
        .insert("skiff-ns-001".into(), "moved-001".into());

    // The plan `skiff restore --dry-run -o json` prints is the plan that runs, and the executor
    // starts every item only after what that printed plan says it waits for.
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("creds");
    std::fs::write(&creds, s3.credentials_file_contents())?;
    let out = std::process::Command::new(skiff_bin()?)
        .args(["restore", "rt", "--from-backup", "seeded", "--location", &url])
        .arg("--credentials-file")
        .arg(&creds)
        .arg("--s3-endpoint")
        .arg(s3.endpoint())
        .args([
            "--namespace-mappings",
            "skiff-ns-001:moved-001",
            "--dry-run",
            "-o",
            "json",
        ])
        .env("KUBECONFIG", tgt_bed.kubeconfig_path())
        .output()?;
    ensure!(
        out.status.success(),
        "dry run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    let recorder = Arc::new(Recorder::default());
    let source = BackupSource::Stored {
        store: store.clone(),
        name: "seeded".into(),
    };
    let done = restore::run(
        &skiff_engine::side::Side::Backup(source),
        &t.cluster,
        Some(store.as_ref()),
        &o,
        &ExecOptions {
            observer: Some(recorder.clone()),
            ..exec_options()
        },
        &NoProgress,
        &CancellationToken::new(),
    )
    .await?;
    ensure!(
        serde_json::to_value(&done.plan)? == printed["plan"],
        "the plan that ran is not the printed plan"
    );
    let checked = check_order(&printed["plan"], &recorder.0.lock().expect("recorder"))?;
    ensure!(
        checked.items > 500 && checked.crds > 0 && checked.barriers > 0,
        "the seeded plan exercises too few edges: {checked:?}"
    );
    ensure!(
        done.documents_error.is_none(),
        "documents: {:?}",
        done.documents_error
    );
    let (plan, report) = (done.plan, done.report);
    no_failures(&report)?;
    ensure!(
        plan.items()
            .any(|i| i.target.namespace.as_deref() == Some("moved-001")),
        "mapping not in plan"
    );

    // Every restored object equals the source after normalising (namespace mapping applied).
    let mut compared = 0;
    let mut diffs = Vec::new();
    for item in plan.items() {
        if controller_made(&item.source.group_resource, &item.object.to_value()) {
            continue;
        }
        let tr = &item.target;
        let src_obj = src
            .get(&ri(tr), item.source.namespace.as_deref(), &item.source.name)
            .await?
            .ok_or_else(|| anyhow!("{} gone from the source", item.source))?;
        let Some(tgt_obj) = t.cluster.get(&ri(tr), tr.namespace.as_deref(), &tr.name).await? else {
            diffs.push(format!("{}: missing in the target", item.source));
            continue;
        };
        let mut want = normalize(&src_obj);
        map_namespace(&mut want, "skiff-ns-001", "moved-001");
        if item.source.group_resource == "namespaces" {
            want["metadata"]["name"] = Value::String(tr.name.clone());
        }
        let have = normalize(&tgt_obj);
        let mut d = Vec::new();
        diff(&want, &have, "", &mut d);
        diffs.extend(d.into_iter().map(|x| format!("{}: {x}", item.source)));
        compared += 1;
    }
    // Namespaces: labels and annotations kept.
    for nsp in &plan.namespaces_to_create {
        let have = get(&t.cluster, &t.surface, "namespaces", None, &nsp.name).await?;
        let orig = nsp.original.first().cloned().unwrap_or_default();
        let want = get(&src, &src_surface, "namespaces", None, &orig).await?;
        let mut d = Vec::new();
        diff(
            &normalize(&want)["metadata"]["labels"],
            &normalize(&have)["metadata"]["labels"],
            &format!("namespace {}", nsp.name),
            &mut d,
        );
        diffs.extend(d);
    }
    ensure!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    ensure!(compared > 500, "compared only {compared}");

    // Documents under restores/rt/ (written by the run) decode.
    let results = store.get("restores/rt/restore-rt-results.gz").await?;
    let results: skiff_format::docs::Results = skiff_format::docs::decode_sidecar(&results, "results")?;
    ensure!(results.errors.is_empty(), "results errors {:?}", results.errors);
    let list = store.get("restores/rt/restore-rt-resource-list.json.gz").await?;
    let list: BTreeMap<String, Vec<String>> = skiff_format::docs::decode_sidecar(&list, "resource list")?;
    let listed: usize = list.values().map(Vec::len).sum();
    ensure!(
        listed >= plan.items().count(),
        "resource list has {listed} entries for {} items",
        plan.items().count()
    );
    ensure!(
        list.get("v1/ConfigMap").is_some_and(|v| v
            .iter()
            .any(|e| e.starts_with("moved-001/") && e.ends_with("(created)"))),
        "no moved configmap in the resource list"
    );

    // 7: rerun is safe.
    let (plan2, report2) = run(&t, &items, &o).await?;
    no_failures(&report2)?;
    let not_created: BTreeSet<&str> = report2.items.iter().map(|i| i.item.as_str()).collect();
    let mut created: BTreeMap<&str, usize> = BTreeMap::new();
    // Pods and EndpointSlices the target's controllers deleted after the first run (they belong
    // to restored ReplicaSets / Services) are created again: that is Velero's default too.
    for i in plan2.items() {
        if !not_created.contains(i.source.to_string().as_str())
            && !controller_made(&i.source.group_resource, &i.object.to_value())
        {
            *created.entry(i.source.group_resource.as_str()).or_default() += 1;
        }
    }
    ensure!(
        created.is_empty(),
        "rerun created {} objects: {created:?}",
        count(&report2, Outcome::Created)
    );
    let planned = plan2.items().count() as u64;
    ensure!(
        count(&report2, Outcome::Created)
            + count(&report2, Outcome::Unchanged)
            + count(&report2, Outcome::Skipped)
            == planned + plan2.skipped.len() as u64,
        "rerun counts {:?} for {planned} planned",
        report2.counts
    );

    // 5: fault storm through a proxy: every planned object created exactly once.
    let proxy = FaultProxy::for_bed(&tgt_bed).await?;
    proxy.set_faults(
        Faults::none()
            .latency(Duration::from_millis(5))
            .throttle_every(5, 1)
            .error_every(7, 503)
            .drop_every(11),
    );
    let stormy = target(Cluster::from_client(
        proxy.client(&tgt_bed).await?,
        LimiterConfig::default(),
    ))
    .await?;
    let mut so = opts("storm", "seeded");
    so.scope.included_namespaces = vec!["skiff-ns-002".into()];
    so.scope.include_cluster_resources = Some(false);
    // Objects a restored controller recreates are left to it, so every planned object stays.
    so.skip_owned = true;
    so.mappings
        .namespaces
        .insert("skiff-ns-002".into(), "storm-002".into());
    let (splan, sreport) = run(&stormy, &items, &so).await?;
    let stats = proxy.stats();
    proxy.set_faults(Faults::none());
    no_failures(&sreport)?;
    let n = splan.items().count() as u64;
    ensure!(n > 50, "storm plan has {n} items");
    // Items the target's controllers already made (default SA…) may be unchanged, nothing else.
    // Items the target's controllers made themselves in the new namespace (default
    // ServiceAccount, kube-root-ca.crt) are unchanged or skipped; every other one is created.
    let odd: Vec<_> = sreport
        .items
        .iter()
        .filter(|i| {
            splan
                .items()
                .find(|p| p.source.to_string() == i.item)
                .is_none_or(|p| {
                    // The namespace itself was created first, from the plan's namespace list.
                    p.source.group_resource != "namespaces"
                        && !controller_made(&p.source.group_resource, &p.object.to_value())
                })
        })
        .collect();
    ensure!(
        odd.is_empty() && count(&sreport, Outcome::Failed) == 0,
        "storm: {odd:#?} counts {:?} for {n} items (proxy {stats:?})",
        sreport.counts
    );
    ensure!(
        count(&sreport, Outcome::Created) + sreport.items.len() as u64 == n + splan.skipped.len() as u64
            || count(&sreport, Outcome::Created) + (sreport.items.len() as u64) == n,
        "storm counts {:?} for {n} items",
        sreport.counts
    );
    for item in splan.items() {
        let tr = &item.target;
        ensure!(
            t.cluster
                .get(&ri(tr), tr.namespace.as_deref(), &tr.name)
                .await?
                .is_some(),
            "{} missing after the storm",
            item.source
        );
    }
    // Exactly once: one object per name in the namespace, for each planned resource.
    let mut per_res: BTreeMap<String, (ApiResourceInfo, BTreeSet<String>)> = BTreeMap::new();
    for item in splan.items() {
        let e = per_res
            .entry(item.target.resource.clone())
            .or_insert_with(|| (ri(&item.target), BTreeSet::new()));
        e.1.insert(item.target.name.clone());
    }
    for (r, (info, names)) in &per_res {
        if r == "serviceaccounts" {
            continue;
        }
        let mut pager = t.cluster.list_pages(
            info,
            skiff_kube::ListOptions {
                namespace: Some("storm-002".into()),
                ..Default::default()
            },
        );
        let mut seen = Vec::new();
        while let Some(page) = pager.next_page().await? {
            for o in page.items {
                seen.push(o["metadata"]["name"].as_str().unwrap_or_default().to_string());
            }
        }
        let seen_set: BTreeSet<String> = seen.iter().cloned().collect();
        ensure!(seen.len() == seen_set.len(), "{r}: duplicate names");
        ensure!(names.is_subset(&seen_set), "{r}: missing objects");
    }
    ensure!(
        stats.throttled > 0 && stats.errors > 0,
        "proxy injected nothing: {stats:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2, 3, 4, 6: crafted objects

const MODIFIERS: &str = r#"
version: v1
resourceModifierRules:
- conditions:
    groupResource: configmaps
    resourceNameRegex: "^mod-.*$"
    namespaces: [case-a]
  patches:
  - operation: replace
    path: "/data/a"
    value: "patched"
  - operation: add
    path: "/data/c"
    value: '"3"'

- conditions:
    groupResource: configmaps
    resourceNameRegex: "^mod-.*$"
    namespaces: [case-a]
  mergePatches:
  - patchData: |
      {"metadata": {"labels": {"merged": "yes"}}, "data": {"b": null}}
- conditions:
    groupResource: gadgets.case.test
    resourceNameRegex: "^g1$"
  patches:
  - operation: replace
    path: "/spec/size"
    value: "5"
- conditions:
    groupResource: deployments.apps
    namespaces: [case-a]
  strategicPatches:
  - patchData: |
      {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "MODE", "value": "restored"}]}]}}}}
"#;

fn cm(ns: &str, name: &str, data: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data})
}

fn ns_obj(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn storage_class(name: &str) -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
           "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"})
}

fn pod_template(app: &str, image: &str, init: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": app, "image": image}]});
    if let Some(i) = init {
        spec["initContainers"] = json!([{"name": "init", "image": i}]);
    }
    json!({"metadata": {"labels": {"app": app}}, "spec": spec})
}

async fn seed_crafted(c: &Cluster) -> Result<()> {
    let s = c.discover(false).await?;
    for n in ["case-a", "case-hook", "case-e"] {
        create(c, &s, "namespaces", ns_obj(n)).await?;
    }
    for sc in ["slow", "fast"] {
        create(c, &s, "storageclasses.storage.k8s.io", storage_class(sc)).await?;
    }
    create(
        c,
        &s,
        "configmaps",
        cm("case-a", "mod-a", &json!({"a": "1", "b": "2"})),
    )
    .await?;
    create(c, &s, "configmaps", cm("case-a", "plain", &json!({"x": "y"}))).await?;
    create(
        c,
        &s,
        "serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "app", "namespace": "case-a"}}),
    )
    .await?;
    create(
        c,
        &s,
        "roles.rbac.authorization.k8s.io",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role", "metadata": {"name": "reader", "namespace": "case-a"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await?;
    create(
        c,
        &s,
        "rolebindings.rbac.authorization.k8s.io",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "case-a"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "case-a"},
                     {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team"}]}),
    )
    .await?;
    create(
        c,
        &s,
        "persistentvolumeclaims",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "case-a"},
        "spec": {"storageClassName": "slow", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await?;
    create(
        c,
        &s,
        "statefulsets.apps",
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "case-a"},
        "spec": {"serviceName": "db", "replicas": 0, "selector": {"matchLabels": {"app": "db"}},
                 "template": pod_template("db", "old.registry.test/db:1", None),
                 "volumeClaimTemplates": [{"metadata": {"name": "pgdata"},
                     "spec": {"storageClassName": "slow", "accessModes": ["ReadWriteOnce"],
                              "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    )
    .await?;
    create(c, &s, "deployments.apps", json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "case-a"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "template": pod_template("web", "old.registry.test/team/web:2", Some("old.registry.test/init:1"))}})).await?;
    // CRD with CRs.
    create(c, &s, "customresourcedefinitions.apiextensions.k8s.io", json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.case.test"},
        "spec": {"group": "case.test", "scope": "Namespaced",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})).await?;
    skiff_testkit::seed::wait_crd_established(c.kube_client(), "gadgets.case.test", Duration::from_secs(30))
        .await?;
    let s = c.discover(false).await?;
    for g in ["g1", "g2"] {
        create(
            c,
            &s,
            "gadgets.case.test",
            json!({"apiVersion": "case.test/v1", "kind": "Gadget",
            "metadata": {"name": g, "namespace": "case-a"}, "spec": {"size": 3}}),
        )
        .await?;
    }
    // Webhook served by a Service + Deployment in the backup; failurePolicy Fail, matching only
    // DELETE of gadgets (nothing a restore does).
    create(
        c,
        &s,
        "services",
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "hook", "namespace": "case-hook"},
        "spec": {"selector": {"app": "hook"}, "ports": [{"port": 443, "targetPort": 8443}]}}),
    )
    .await?;
    create(
        c,
        &s,
        "deployments.apps",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hook", "namespace": "case-hook"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "hook"}},
                 "template": pod_template("hook", "old.registry.test/hook:1", None)}}),
    )
    .await?;
    create(c, &s, "validatingwebhookconfigurations.admissionregistration.k8s.io", json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "case-hook"},
        "webhooks": [{"name": "gadgets.case.test", "failurePolicy": "Fail", "sideEffects": "None",
                      "admissionReviewVersions": ["v1"],
                      "clientConfig": {"service": {"namespace": "case-hook", "name": "hook", "path": "/validate", "port": 443}},
                      "rules": [{"operations": ["DELETE"], "apiGroups": ["case.test"], "apiVersions": ["v1"], "resources": ["gadgets"]}]}]})).await?;
    for n in ["e-same", "e-diff", "e-absent"] {
        create(c, &s, "configmaps", cm("case-e", n, &json!({"k": "v"}))).await?;
    }
    Ok(())
}

fn wave_of(plan: &RestorePlan, gr: &str, name: &str) -> Result<usize> {
    plan.waves
        .iter()
        .find(|w| {
            w.items
                .iter()
                .any(|i| i.source.group_resource == gr && i.source.name == name)
        })
        .map(|w| w.index)
        .ok_or_else(|| anyhow!("{gr}/{name} not planned"))
}

fn outcome_of(r: &RestoreReport, name: &str) -> Option<Outcome> {
    r.items
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.outcome)
        .or(Some(Outcome::Created))
}

async fn cm_data(c: &Cluster, s: &ApiSurface, ns: &str, name: &str) -> Result<Value> {
    Ok(get(c, s, "configmaps", Some(ns), name).await?["data"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crafted_cases() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let _serial = SERIAL.lock().await;
    let (src_bed, tgt_bed) = two_beds().await?;
    let s3 = S3Server::start()?;
    let src = cluster_of(&src_bed).await?;
    seed_crafted(&src).await?;
    let (store, url) = open_bucket(&s3).await?;
    let mut items = backup(&src, &store, "crafted", &["case-*"]).await?;

    // The target has the mapped storage class; and, for policies, case-e partly populated.
    let tc = cluster_of(&tgt_bed).await?;
    let ts = tc.discover(false).await?;
    create(&tc, &ts, "storageclasses.storage.k8s.io", storage_class("fast")).await?;
    create(&tc, &ts, "namespaces", ns_obj("case-e")).await?;
    create(&tc, &ts, "configmaps", cm("case-e", "e-same", &json!({"k": "v"}))).await?;
    let kc = tgt_bed.client().await?;
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(kc, "case-e");
    let other = kube::api::PatchParams {
        field_manager: Some("other".into()),
        ..Default::default()
    };
    cms.patch(
        "e-diff",
        &kube::api::PatchParams::apply("other"),
        &kube::api::Patch::Apply(cm("case-e", "e-diff", &json!({"k": "target"}))),
    )
    .await?;
    let t = target(tc).await?;

    // 6a: invalid namespace mapping → PlanError, nothing applied.
    let mut bad = opts("bad", "crafted");
    bad.mappings.namespaces.insert("case-a".into(), "Bad_NS".into());
    match restore::plan(&items, &t.surface, &bad, &t.facts) {
        Err(PlanError::InvalidNamespaceMapping { to, .. }) => ensure!(to == "Bad_NS"),
        other => bail!(
            "expected InvalidNamespaceMapping, got {:?}",
            other.map(|p| p.waves.len())
        ),
    }
    ensure!(
        t.cluster
            .get(&res(&t.surface, "namespaces")?, None, "case-b")
            .await?
            .is_none()
            && t.cluster
                .get(&res(&t.surface, "namespaces")?, None, "case-a")
                .await?
                .is_none(),
        "a failed plan changed the target"
    );

    // 6b: a CR whose CRD is neither in the backup nor in the target → skipped, not-served.
    let orphan = json!({"apiVersion": "nowhere.test/v1", "kind": "Gizmo",
        "metadata": {"name": "z", "namespace": "case-a"}});
    items.push(BackupItem {
        group_resource: "gizmos.nowhere.test".into(),
        namespace: Some("case-a".into()),
        name: "z".into(),
        api_version: "nowhere.test/v1".into(),
        object: orphan.into(),
        alt_versions: Vec::new(),
    });

    // 2 + 3: mappings, modifiers, ordering.
    let mut o = opts("cases", "crafted");
    o.scope.included_namespaces = vec!["case-a".into(), "case-hook".into()];
    o.scope.include_cluster_resources = Some(true);
    o.scope.included_resources = vec![
        "configmaps".into(),
        "serviceaccounts".into(),
        "roles.rbac.authorization.k8s.io".into(),
        "rolebindings.rbac.authorization.k8s.io".into(),
        "persistentvolumeclaims".into(),
        "statefulsets.apps".into(),
        "deployments.apps".into(),
        "services".into(),
        "customresourcedefinitions.apiextensions.k8s.io".into(),
        "gadgets.case.test".into(),
        "gizmos.nowhere.test".into(),
        "validatingwebhookconfigurations.admissionregistration.k8s.io".into(),
        "storageclasses.storage.k8s.io".into(),
    ];
    o.mappings.namespaces.insert("case-a".into(), "case-b".into());
    o.mappings.storage_classes.insert("slow".into(), "fast".into());
    o.mappings
        .image_registries
        .insert("old.registry.test".into(), "new.registry.test".into());
    o.resource_modifiers = Some(ResourceModifiers::parse(MODIFIERS)?);
    let (plan, report) = run(&t, &items, &o).await?;
    no_failures(&report)?;
    let orphan_skip = plan
        .skipped
        .iter()
        .find(|s| s.key.group_resource == "gizmos.nowhere.test")
        .ok_or_else(|| anyhow!("orphan CR not skipped: {plan}"))?;
    ensure!(
        matches!(orphan_skip.reason, SkipReason::NotServed { .. }),
        "orphan reason {:?}",
        orphan_skip.reason
    );
    ensure!(
        serde_json::to_value(&orphan_skip.reason)?["reason"] == "not-served",
        "reason not serialised as not-served"
    );
    ensure!(
        count(&report, Outcome::Skipped) >= 1,
        "skip not counted: {:?}",
        report.counts
    );
    // Ordering by waves.
    let crd = wave_of(
        &plan,
        "customresourcedefinitions.apiextensions.k8s.io",
        "gadgets.case.test",
    )?;
    let cr = wave_of(&plan, "gadgets.case.test", "g1")?;
    let hook = wave_of(
        &plan,
        "validatingwebhookconfigurations.admissionregistration.k8s.io",
        "case-hook",
    )?;
    let svc = wave_of(&plan, "services", "hook")?;
    let dep = wave_of(&plan, "deployments.apps", "hook")?;
    ensure!(crd < cr, "CRD wave {crd} not before CR wave {cr}");
    ensure!(
        svc < hook && dep < hook,
        "webhook wave {hook} not after service {svc} / deployment {dep}"
    );
    let s = &t.surface;
    let c = &t.cluster;
    let s = &c.discover(false).await.unwrap_or_else(|_| s.clone());
    let labels = json!({"velero.io/backup-name": "crafted", "velero.io/restore-name": "cases"});

    // Namespace mapping: ConfigMap with JSON + merge patch, exact.
    let got = normalize(&get(c, s, "configmaps", Some("case-b"), "mod-a").await?);
    let want = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "mod-a", "namespace": "case-b", "labels": {"merged": "yes"}},
        "data": {"a": "patched", "c": "3"}});
    ensure!(got == want, "mod-a: {got:#}");
    let raw = get(c, s, "configmaps", Some("case-b"), "plain").await?;
    ensure!(
        raw["metadata"]["labels"] == labels,
        "restore labels: {}",
        raw["metadata"]["labels"]
    );
    ensure!(
        normalize(&raw)
            == json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "plain", "namespace": "case-b"}, "data": {"x": "y"}}),
        "plain: {raw:#}"
    );
    ensure!(
        c.get(&res(s, "configmaps")?, Some("case-a"), "plain")
            .await?
            .is_none(),
        "unmapped copy"
    );
    // RoleBinding subject namespace.
    let rb = normalize(
        &get(
            c,
            s,
            "rolebindings.rbac.authorization.k8s.io",
            Some("case-b"),
            "rb",
        )
        .await?,
    );
    let want = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb", "namespace": "case-b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "case-b"},
                     {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team"}]});
    ensure!(rb == want, "rolebinding: {rb:#}");
    // Storage class mapping.
    let pvc = get(c, s, "persistentvolumeclaims", Some("case-b"), "data").await?;
    ensure!(pvc["spec"]["storageClassName"] == "fast", "pvc: {pvc:#}");
    ensure!(
        pvc["spec"]["resources"] == json!({"requests": {"storage": "1Gi"}}),
        "pvc: {pvc:#}"
    );
    let sts = get(c, s, "statefulsets.apps", Some("case-b"), "db").await?;
    ensure!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
            && sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "pgdata",
        "sts vct: {:#}",
        sts["spec"]["volumeClaimTemplates"]
    );
    ensure!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"] == "new.registry.test/db:1",
        "sts image"
    );
    // Image registry mapping + strategic patch.
    let web = get(c, s, "deployments.apps", Some("case-b"), "web").await?;
    let pod = &web["spec"]["template"]["spec"];
    ensure!(
        pod["containers"].as_array().map(Vec::len) == Some(1),
        "containers: {pod:#}"
    );
    ensure!(
        pod["containers"][0]["image"] == "new.registry.test/team/web:2",
        "image: {pod:#}"
    );
    ensure!(
        pod["containers"][0]["env"] == json!([{"name": "MODE", "value": "restored"}]),
        "env: {pod:#}"
    );
    ensure!(
        pod["initContainers"][0]["image"] == "new.registry.test/init:1",
        "init: {pod:#}"
    );
    // Webhook + CRs.
    let wh = get(
        c,
        s,
        "validatingwebhookconfigurations.admissionregistration.k8s.io",
        None,
        "case-hook",
    )
    .await?;
    ensure!(
        wh["webhooks"][0]["failurePolicy"] == "Fail"
            && wh["webhooks"][0]["clientConfig"]["service"]["namespace"] == "case-hook",
        "webhook: {wh:#}"
    );
    // JSON patch value typing as Velero's: "5" is a number.
    for (g, size) in [("g1", 5), ("g2", 3)] {
        let v = get(c, s, "gadgets.case.test", Some("case-b"), g).await?;
        ensure!(v["spec"] == json!({"size": size}), "gadget {g}: {v:#}");
    }

    // 7 (crafted): rerun of the same restore is safe.
    let (_, again) = run(&t, &items, &o).await?;
    no_failures(&again)?;
    ensure!(
        count(&again, Outcome::Created) == 0,
        "rerun created: {:?}",
        again.counts
    );

    // 4: existing objects, policies none / update / apply.
    let mut e = opts("exist-none", "crafted");
    e.scope.included_namespaces = vec!["case-e".into()];
    e.scope.included_resources = vec!["configmaps".into()];
    e.scope.included_names = ["e-same", "e-diff", "e-absent"]
        .iter()
        .map(|n| format!("configmaps/case-e/{n}").parse().expect("name pattern"))
        .collect();
    e.scope.include_cluster_resources = Some(false);
    e.existing_resource_policy = Some(ExistingResourcePolicy::None);
    let (_, r) = run(&t, &items, &e).await?;
    no_failures(&r)?;
    ensure!(
        outcome_of(&r, "e-same") == Some(Outcome::Unchanged),
        "none e-same {:?}",
        r.items
    );
    ensure!(
        outcome_of(&r, "e-diff") == Some(Outcome::Skipped),
        "none e-diff {:?}",
        r.items
    );
    ensure!(
        outcome_of(&r, "e-absent") == Some(Outcome::Created),
        "none e-absent {:?}",
        r.items
    );
    let warn = r
        .results
        .warnings
        .namespaces
        .get("case-e")
        .cloned()
        .unwrap_or_default();
    ensure!(
        warn.iter()
            .any(|w| w.contains("e-diff") && w.contains("different")),
        "warning: {warn:?}"
    );
    ensure!(
        cm_data(c, s, "case-e", "e-diff").await? == json!({"k": "target"}),
        "none changed e-diff"
    );
    ensure!(
        cm_data(c, s, "case-e", "e-absent").await? == json!({"k": "v"}),
        "e-absent"
    );

    e.restore_name = "exist-update".into();
    e.existing_resource_policy = Some(ExistingResourcePolicy::Update);
    let (_, r) = run(&t, &items, &e).await?;
    no_failures(&r)?;
    ensure!(
        outcome_of(&r, "e-same") == Some(Outcome::Unchanged),
        "update e-same {:?}",
        r.items
    );
    ensure!(
        outcome_of(&r, "e-diff") == Some(Outcome::Updated),
        "update e-diff {:?}",
        r.items
    );
    ensure!(
        outcome_of(&r, "e-absent") == Some(Outcome::Unchanged),
        "update e-absent {:?}",
        r.items
    );
    let d = get(c, s, "configmaps", Some("case-e"), "e-diff").await?;
    ensure!(
        d["data"] == json!({"k": "v"}),
        "update did not restore e-diff: {d:#}"
    );
    ensure!(
        d["metadata"]["labels"]["velero.io/restore-name"] == "exist-update",
        "update labels: {d:#}"
    );

    // Another manager takes k again → apply conflicts on it, leaves it.
    cms.patch(
        "e-diff",
        &other,
        &kube::api::Patch::Merge(json!({"data": {"k": "target"}})),
    )
    .await?;
    e.restore_name = "exist-apply".into();
    e.existing_resource_policy = Some(ExistingResourcePolicy::Apply);
    let (_, r) = run(&t, &items, &e).await?;
    ensure!(
        outcome_of(&r, "e-diff") == Some(Outcome::Conflict),
        "apply e-diff {:?}",
        r.items
    );
    let msg = r
        .items
        .iter()
        .find(|i| i.name == "e-diff")
        .and_then(|i| i.message.clone())
        .unwrap_or_default();
    ensure!(msg.contains("data.k"), "conflict message {msg:?}");
    ensure!(
        outcome_of(&r, "e-same") != Some(Outcome::Failed),
        "apply e-same {:?}",
        r.items
    );
    ensure!(
        matches!(
            outcome_of(&r, "e-absent"),
            Some(Outcome::Unchanged | Outcome::Updated)
        ),
        "apply e-absent {:?}",
        r.items
    );
    ensure!(
        r.failures() == 1 && r.phase == RestorePhase::PartiallyFailed,
        "apply report {:?} {}",
        r.counts,
        r.phase
    );
    ensure!(
        cm_data(c, s, "case-e", "e-diff").await? == json!({"k": "target"}),
        "conflict changed e-diff"
    );

    // 6c: malformed modifier file through the CLI: exit 2, message names the rule.
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("creds");
    std::fs::write(&creds, s3.credentials_file_contents())?;
    let modf = dir.path().join("mods.yaml");
    std::fs::write(
        &modf,
        "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: configmaps\n  patches:\n  - operation: explode\n    path: /data/a\n",
    )?;
    let out = std::process::Command::new(skiff_bin()?)
        .args([
            "restore",
            "bad-mods",
            "--from-backup",
            "crafted",
            "--location",
            &url,
        ])
        .arg("--credentials-file")
        .arg(&creds)
        .arg("--s3-endpoint")
        .arg(s3.endpoint())
        .arg("--resource-modifiers")
        .arg(&modf)
        .env("KUBECONFIG", tgt_bed.kubeconfig_path())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    ensure!(
        stderr.contains("rule 0"),
        "message does not name the rule: {stderr}"
    );
    ensure!(
        store
            .get("restores/bad-mods/restore-bad-mods-results.gz")
            .await
            .is_err(),
        "bad-mods wrote results"
    );
    Ok(())
}
