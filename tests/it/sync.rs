//! `skiff sync` and `skiff cutover` between two real beds (kube-apiserver 1.20.2 each), through
//! the CLI as a user runs it: the initial copy with a namespace mapping and holds; changes on
//! the source (create, update, delete) appearing on the target while the sync runs; kill -9 and
//! a restart that converges; `sync status`; drift in each mode; a watch from an expired
//! resourceVersion (410 → re-list and reconcile); cutover (dry run, then for real: source held,
//! target released, verify clean, markers removed) and rollback; bad input with nothing changed.

use crate::common::skiff_bin;
use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};
use skiff_kube::{ApiResourceInfo, Cluster, LimiterConfig};
use skiff_testkit::bed::TestBed;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn skiff(args: &[&str]) -> Result<Run> {
    let out = Command::new(skiff_bin()?)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()?;
    Ok(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn ok(r: Run, what: &str) -> Result<Run> {
    ensure!(r.code == 0, "{what}: exit {}\n{}\n{}", r.code, r.stdout, r.stderr);
    Ok(r)
}

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

fn res(kind: &str) -> ApiResourceInfo {
    match kind {
        "Namespace" => ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false),
        "ConfigMap" => ApiResourceInfo::known("", "v1", "configmaps", "ConfigMap", true),
        "Secret" => ApiResourceInfo::known("", "v1", "secrets", "Secret", true),
        "ReplicaSet" => ApiResourceInfo::known("apps", "v1", "replicasets", "ReplicaSet", true),
        "Pod" => ApiResourceInfo::known("", "v1", "pods", "Pod", true),
        _ => ApiResourceInfo::known("apps", "v1", "deployments", "Deployment", true),
    }
}

async fn create(c: &Cluster, obj: Value) -> Result<()> {
    let kind = obj["kind"].as_str().context("kind")?.to_owned();
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    c.create(&res(&kind), ns.as_deref(), &obj, false).await?;
    Ok(())
}

#[allow(clippy::needless_pass_by_value)]
fn cm(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data})
}

async fn get(c: &Cluster, kind: &str, ns: &str, name: &str) -> Result<Option<Value>> {
    Ok(c.get(&res(kind), Some(ns), name).await?)
}

async fn patch_cm(c: &Cluster, ns: &str, name: &str, data: Value) -> Result<()> {
    c.merge_patch(&res("ConfigMap"), Some(ns), name, &json!({"data": data}), false)
        .await?;
    Ok(())
}

async fn delete(c: &Cluster, kind: &str, ns: &str, name: &str) -> Result<()> {
    c.delete(&res(kind), Some(ns), name, false).await?;
    Ok(())
}

/// Poll `check` until it holds (or fail after `limit`).
async fn until<F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let start = Instant::now();
    loop {
        if check().await? {
            return Ok(());
        }
        ensure!(start.elapsed() < limit, "{what}: not after {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn data_of(o: Option<&Value>, key: &str) -> Option<String> {
    o?.pointer(&format!("/data/{key}"))?.as_str().map(str::to_owned)
}

fn label(o: &Value, key: &str) -> Option<String> {
    o.pointer("/metadata/labels")?
        .get(key)?
        .as_str()
        .map(str::to_owned)
}

fn path(p: &Path) -> Result<String> {
    p.to_str().map(str::to_owned).context("utf-8 path")
}

/// The source application in namespace `shop`.
async fn seed(c: &Cluster) -> Result<()> {
    create(
        c,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await?;
    for i in 0..5 {
        create(
            c,
            cm("shop", &format!("cfg-{i}"), json!({"key": format!("value-{i}")})),
        )
        .await?;
    }
    create(
        c,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "type": "Opaque", "data": {"password": "c2VjcmV0"}}),
    )
    .await?;
    create(c, json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.0"}]}}}}))
    .await?;
    Ok(())
}

/// Only the objects of this sync.
async fn marked(c: &Cluster, kind: &str, ns: &str) -> Result<Vec<Value>> {
    let opts = skiff_kube::ListOptions {
        namespace: Some(ns.to_owned()),
        label_selector: Some("skiff.io/sync=s1".into()),
        ..skiff_kube::ListOptions::default()
    };
    let mut pager = c.list_pages(&res(kind), opts);
    let mut out = Vec::new();
    while let Some(p) = pager.next_page().await? {
        out.extend(p.items);
    }
    Ok(out)
}

#[tokio::test]
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
async fn sync_watch_restart_drift_expiry_cutover_rollback() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let _serial = crate::restore::SERIAL.lock().await;
    let (a, b) = (bed().await?, bed().await?);
    let src = Cluster::from_client(a.client().await?, LimiterConfig::default());
    let tgt = Cluster::from_client(b.client().await?, LimiterConfig::default());
    seed(&src).await?;
    // Something on the target the sync did not make, in the namespace it syncs into.
    create(
        &tgt,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-moved"}}),
    )
    .await?;
    create(&tgt, cm("shop-moved", "local-only", json!({"k": "mine"}))).await?;
    // Let the source's controllers make the Deployment's ReplicaSet and Pods (owned: not copied).
    until("source replicaset", Duration::from_secs(20), || async {
        let opts = skiff_kube::ListOptions {
            namespace: Some("shop".into()),
            ..skiff_kube::ListOptions::default()
        };
        Ok(src
            .list_pages(&res("ReplicaSet"), opts)
            .next_page()
            .await?
            .is_some_and(|p| !p.items.is_empty()))
    })
    .await?;

    let (ka, kb) = (path(a.kubeconfig_path())?, path(b.kubeconfig_path())?);
    let work = tempfile::tempdir()?;
    let dir = path(work.path())?;
    let sync_args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "sync",
            "s1",
            "--from-kubeconfig",
            &ka,
            "--to-kubeconfig",
            &kb,
            "-n",
            "shop",
            "--namespace-mappings",
            "shop:shop-moved",
            "--state-dir",
            &dir,
            "--no-progress",
        ]
        .map(str::to_owned)
        .to_vec();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let run = |args: Vec<String>| skiff(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // 1. Initial copy.
    ok(run(sync_args(&["--once"]))?, "initial copy")?;
    for i in 0..5 {
        let o = get(&tgt, "ConfigMap", "shop-moved", &format!("cfg-{i}"))
            .await?
            .with_context(|| format!("cfg-{i} not copied"))?;
        ensure!(label(&o, "skiff.io/sync").as_deref() == Some("s1"), "marker: {o}");
        ensure!(
            o.pointer("/metadata/annotations/skiff.io~1source-resource-version")
                .is_some(),
            "source rv annotation: {o}"
        );
    }
    let d = get(&tgt, "Deployment", "shop-moved", "web")
        .await?
        .context("deployment")?;
    ensure!(d["spec"]["replicas"] == 0, "held at 0: {}", d["spec"]);
    ensure!(
        d.pointer("/metadata/annotations/skiff.io~1hold").is_some(),
        "hold record"
    );
    ensure!(
        marked(&tgt, "ReplicaSet", "shop-moved").await?.is_empty(),
        "owned ReplicaSet copied"
    );
    ensure!(
        marked(&tgt, "Pod", "shop-moved").await?.is_empty(),
        "owned Pods copied"
    );

    // 2. The sync running: create, update, delete on the source appear on the target.
    let state_file = work.path().join("s1.json");
    let mut child = Command::new(skiff_bin()?)
        .args(sync_args(&["--duration", "60"]))
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    create(&src, cm("shop", "cfg-new", json!({"key": "new"}))).await?;
    patch_cm(&src, "shop", "cfg-1", json!({"key": "changed"})).await?;
    delete(&src, "ConfigMap", "shop", "cfg-2").await?;
    until("changes on the target", Duration::from_secs(30), || async {
        let new = get(&tgt, "ConfigMap", "shop-moved", "cfg-new").await?;
        let one = get(&tgt, "ConfigMap", "shop-moved", "cfg-1").await?;
        let two = get(&tgt, "ConfigMap", "shop-moved", "cfg-2").await?;
        Ok(data_of(new.as_ref(), "key").as_deref() == Some("new")
            && data_of(one.as_ref(), "key").as_deref() == Some("changed")
            && two.is_none())
    })
    .await?;
    // Wait for a checkpoint that includes those events, then kill -9.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill()?;
    let _ = child.wait();
    ensure!(state_file.exists(), "state file written");

    // 3. Changes while the sync is down; a restart resumes the watches and converges.
    create(&src, cm("shop", "cfg-while-down", json!({"key": "d"}))).await?;
    delete(&src, "ConfigMap", "shop", "cfg-4").await?;
    patch_cm(&src, "shop", "cfg-0", json!({"key": "v2"})).await?;
    ok(run(sync_args(&["--duration", "6"]))?, "restart")?;
    let down = get(&tgt, "ConfigMap", "shop-moved", "cfg-while-down").await?;
    ensure!(
        data_of(down.as_ref(), "key").as_deref() == Some("d"),
        "created while down"
    );
    ensure!(
        get(&tgt, "ConfigMap", "shop-moved", "cfg-4").await?.is_none(),
        "deleted while down"
    );
    let zero = get(&tgt, "ConfigMap", "shop-moved", "cfg-0").await?;
    ensure!(
        data_of(zero.as_ref(), "key").as_deref() == Some("v2"),
        "updated while down"
    );
    ensure!(
        get(&tgt, "ConfigMap", "shop-moved", "local-only")
            .await?
            .is_some(),
        "an object the sync did not make was deleted"
    );

    // 4. Status from another shell.
    let st = ok(
        skiff(&["sync", "status", "s1", "--state-dir", &dir, "-o", "json"])?,
        "status",
    )?;
    let st: Value = serde_json::from_str(&st.stdout)?;
    ensure!(st["initialCopyDone"] == true, "{st}");
    ensure!(st["stats"]["applied"].as_u64().unwrap_or(0) >= 3, "{st}");
    ensure!(
        st["types"]["configmaps"]["resourceVersion"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{st}"
    );
    let table = ok(
        skiff(&["sync", "status", "s1", "--state-dir", &dir])?,
        "status table",
    )?;
    ensure!(
        table.stdout.contains("in sync") && table.stdout.contains("lag"),
        "{}",
        table.stdout
    );

    // 5. Drift: another manager changes cfg-0 on the target; then the source changes it.
    patch_cm(&tgt, "shop-moved", "cfg-0", json!({"key": "edited-on-target"})).await?;
    patch_cm(&src, "shop", "cfg-0", json!({"key": "v3", "other": "a"})).await?;
    let r = ok(
        run(sync_args(&["--duration", "5", "--drift", "report", "-o", "json"]))?,
        "drift report",
    )?;
    let rep: Value = serde_json::from_str(&r.stdout)?;
    let zero = get(&tgt, "ConfigMap", "shop-moved", "cfg-0").await?;
    ensure!(
        data_of(zero.as_ref(), "key").as_deref() == Some("edited-on-target"),
        "report wrote: {zero:?}"
    );
    ensure!(
        data_of(zero.as_ref(), "other").is_none(),
        "report wrote other: {zero:?}"
    );
    ensure!(
        rep["drift"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["action"] == "reported"
                && x["object"] == "configmaps/shop-moved/cfg-0"
                && x["fields"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == ".data.key")))),
        "drift reported: {rep}"
    );
    patch_cm(&src, "shop", "cfg-0", json!({"other": "b"})).await?;
    ok(
        run(sync_args(&["--duration", "5", "--drift", "keep"]))?,
        "drift keep",
    )?;
    let zero = get(&tgt, "ConfigMap", "shop-moved", "cfg-0").await?;
    ensure!(
        data_of(zero.as_ref(), "key").as_deref() == Some("edited-on-target"),
        "keep lost the edit: {zero:?}"
    );
    ensure!(
        data_of(zero.as_ref(), "other").as_deref() == Some("b"),
        "keep did not apply the rest: {zero:?}"
    );
    patch_cm(&src, "shop", "cfg-0", json!({"other": "c"})).await?;
    ok(
        run(sync_args(&["--duration", "5", "--drift", "overwrite"]))?,
        "drift overwrite",
    )?;
    let zero = get(&tgt, "ConfigMap", "shop-moved", "cfg-0").await?;
    ensure!(
        data_of(zero.as_ref(), "key").as_deref() == Some("v3"),
        "overwrite: {zero:?}"
    );
    ensure!(
        data_of(zero.as_ref(), "other").as_deref() == Some("c"),
        "overwrite: {zero:?}"
    );

    // 6. A checkpoint from before everything (RV 1): the server either replays its history or,
    // once etcd has compacted it, answers 410 (then the sync re-lists and reconciles); either
    // way the target converges. (The bed's etcd is never compacted within a test, so this
    // exercises the replay; the testkit has no compaction hook yet.)
    let mut state: Value = serde_json::from_slice(&std::fs::read(&state_file)?)?;
    state["types"]["configmaps"]["resourceVersion"] = json!("1");
    std::fs::write(&state_file, serde_json::to_vec(&state)?)?;
    create(&src, cm("shop", "cfg-410", json!({"key": "x"}))).await?;
    delete(&src, "ConfigMap", "shop", "cfg-3").await?;
    ok(run(sync_args(&["--duration", "6"]))?, "expired checkpoint")?;
    ensure!(
        get(&tgt, "ConfigMap", "shop-moved", "cfg-410").await?.is_some(),
        "reconcile missed a create"
    );
    ensure!(
        get(&tgt, "ConfigMap", "shop-moved", "cfg-3").await?.is_none(),
        "reconcile missed a delete"
    );
    ensure!(
        get(&tgt, "ConfigMap", "shop-moved", "local-only")
            .await?
            .is_some(),
        "reconcile deleted local-only"
    );
    let st: Value = serde_json::from_slice(&std::fs::read(&state_file)?)?;
    ensure!(
        st["types"]["configmaps"]["resourceVersion"] != "1",
        "checkpoint did not move: {st}"
    );

    // 7. Cutover: dry run changes nothing; then quiesce, final delta, activate, verify.
    let dry = ok(
        skiff(&["cutover", "s1", "--state-dir", &dir, "--dry-run"])?,
        "cutover dry run",
    )?;
    ensure!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    let s = get(&src, "Deployment", "shop", "web")
        .await?
        .context("source deployment")?;
    ensure!(s["spec"]["replicas"] == 2, "dry run held the source");
    patch_cm(&src, "shop", "cfg-1", json!({"key": "last-change"})).await?;
    let c = ok(
        skiff(&["cutover", "s1", "--state-dir", &dir, "--no-progress"])?,
        "cutover",
    )?;
    ensure!(
        c.stdout.contains("0 missing, 0 different"),
        "verify not clean:\n{}",
        c.stdout
    );
    for step in ["quiesce source", "final delta", "activate target", "verify"] {
        ensure!(c.stdout.contains(step), "timeline lacks {step}:\n{}", c.stdout);
    }
    let d = get(&tgt, "Deployment", "shop-moved", "web")
        .await?
        .context("deployment")?;
    ensure!(d["spec"]["replicas"] == 2, "target not activated: {}", d["spec"]);
    ensure!(
        d.pointer("/metadata/annotations/skiff.io~1hold").is_none(),
        "hold left"
    );
    ensure!(label(&d, "skiff.io/sync").is_none(), "marker left");
    let s = get(&src, "Deployment", "shop", "web")
        .await?
        .context("source deployment")?;
    ensure!(s["spec"]["replicas"] == 0, "source not quiesced: {}", s["spec"]);
    let one = get(&tgt, "ConfigMap", "shop-moved", "cfg-1").await?;
    ensure!(
        data_of(one.as_ref(), "key").as_deref() == Some("last-change"),
        "final delta missed: {one:?}"
    );
    // A second cutover of the same sync has nothing to do but is not refused; a sync after a
    // cutover is.
    let again = run(sync_args(&["--once"]))?;
    ensure!(
        again.code == 12,
        "sync after cutover: exit {} {}",
        again.code,
        again.stderr
    );

    // 8. Rollback: the target held again, the source released.
    ok(
        skiff(&["cutover", "s1", "--state-dir", &dir, "--rollback"])?,
        "rollback",
    )?;
    let d = get(&tgt, "Deployment", "shop-moved", "web")
        .await?
        .context("deployment")?;
    ensure!(d["spec"]["replicas"] == 0, "target not held again: {}", d["spec"]);
    let s = get(&src, "Deployment", "shop", "web")
        .await?
        .context("source deployment")?;
    ensure!(s["spec"]["replicas"] == 2, "source not released: {}", s["spec"]);
    ensure!(
        s.pointer("/metadata/annotations/skiff.io~1hold").is_none(),
        "source hold left"
    );
    let again = skiff(&["cutover", "s1", "--state-dir", &dir, "--rollback"])?;
    ensure!(
        again.code == 12,
        "second rollback: exit {} {}",
        again.code,
        again.stderr
    );
    Ok(())
}

#[tokio::test]
async fn sync_bad_input_changes_nothing() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let _serial = crate::restore::SERIAL.lock().await;
    let a = bed().await?;
    let c = Cluster::from_client(a.client().await?, LimiterConfig::default());
    create(
        &c,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await?;
    create(&c, cm("shop", "x", json!({"k": "v"}))).await?;
    let ka = path(a.kubeconfig_path())?;
    let work = tempfile::tempdir()?;
    let dir = path(work.path())?;
    let same = skiff(&[
        "sync",
        "s1",
        "--from-kubeconfig",
        &ka,
        "--to-kubeconfig",
        &ka,
        "-n",
        "shop",
        "--namespace-mappings",
        "shop:shop-copy",
        "--state-dir",
        &dir,
        "--once",
    ])?;
    ensure!(
        same.code == 2 && same.stderr.contains("same cluster"),
        "same cluster: {} {}",
        same.code,
        same.stderr
    );
    let unknown = skiff(&[
        "sync",
        "s1",
        "--from-kubeconfig",
        &ka,
        "--to-kubeconfig",
        &ka,
        "--to-context",
        "nope",
        "--state-dir",
        &dir,
        "--once",
    ])?;
    ensure!(
        unknown.code == 20,
        "unknown context: exit {} {}",
        unknown.code,
        unknown.stderr
    );
    let backup = skiff(&[
        "sync",
        "s1",
        "--from-backup",
        "b1",
        "--to-kubeconfig",
        &ka,
        "--state-dir",
        &dir,
    ])?;
    ensure!(
        backup.code == 2,
        "sync from a backup: exit {} {}",
        backup.code,
        backup.stderr
    );
    ensure!(
        !work.path().join("s1.json").exists(),
        "state written by a refused sync"
    );
    ensure!(
        c.get(&res("Namespace"), None, "shop-copy").await?.is_none(),
        "a refused sync changed the cluster"
    );
    let status = skiff(&["sync", "status", "nope", "--state-dir", &dir])?;
    ensure!(
        status.code == 12 && status.stderr.contains("no sync named"),
        "status: {} {}",
        status.code,
        status.stderr
    );
    let cut = skiff(&["cutover", "nope", "--state-dir", &dir])?;
    ensure!(cut.code == 12, "cutover of no sync: {} {}", cut.code, cut.stderr);
    Ok(())
}
