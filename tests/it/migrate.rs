//! `skiff migrate` between two real beds (kube-apiserver 1.20.2 each), through the CLI as a user
//! runs it: dry run, a migration with a namespace mapping (objects equal after mapping), a rerun
//! that converges, `--archive` (the backup validates), `--undo` (deletes exactly what the
//! migration created, never a pre-existing object), and bad input (same cluster, unknown
//! context) with nothing applied.

use crate::common::skiff_bin;
use anyhow::{Context, Result, anyhow, ensure};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use skiff_kube::{ApiResourceInfo, Cluster, LimiterConfig};
use skiff_testkit::bed::TestBed;
use std::path::Path;
use std::process::Command;

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
        "Service" => ApiResourceInfo::known("", "v1", "services", "Service", true),
        "Gadget" => ApiResourceInfo::known("example.test", "v1", "gadgets", "Gadget", true),
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

/// A small application in namespace `shop`.
async fn seed(c: &Cluster) -> Result<()> {
    create(
        c,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await?;
    for i in 0..5 {
        create(
            c,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cfg-{i}"), "namespace": "shop", "labels": {"app": "web"}},
            "data": {"key": format!("value-{i}")}}),
        )
        .await?;
    }
    create(
        c,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "type": "Opaque", "data": {"password": "c2VjcmV0"}}),
    )
    .await?;
    create(
        c,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
    )
    .await?;
    // A custom resource: its CRD (cluster-scoped) comes along as a related item, as in a backup.
    c.create(
        &ApiResourceInfo::known(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        ),
        None,
        &json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.test"},
            "spec": {"group": "example.test", "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}),
        false,
    )
    .await?;
    let gadgets = res("Gadget");
    let mut last = None;
    for _ in 0..100 {
        match c
            .create(
                &gadgets,
                Some("shop"),
                &json!({"apiVersion": "example.test/v1", "kind": "Gadget",
                "metadata": {"name": "g1", "namespace": "shop"}, "spec": {"size": 3}}),
                false,
            )
            .await
        {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if let Some(e) = last {
        return Err(e.into());
    }
    create(c, json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.0"}]}}}}))
    .await?;
    Ok(())
}

async fn get(c: &Cluster, kind: &str, ns: Option<&str>, name: &str) -> Result<Option<Value>> {
    Ok(c.get(&res(kind), ns, name).await?)
}

#[tokio::test]
async fn migrate_dry_run_apply_rerun_archive_undo() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let _serial = crate::restore::SERIAL.lock().await;
    let (a, b) = (bed().await?, bed().await?);
    let src = Cluster::from_client(a.client().await?, LimiterConfig::default());
    let tgt = Cluster::from_client(b.client().await?, LimiterConfig::default());
    seed(&src).await?;
    let (ka, kb) = (path(a.kubeconfig_path())?, path(b.kubeconfig_path())?);
    let work = tempfile::tempdir()?;
    let record = work.path().join("m1.json");
    let record_s = path(&record)?;
    let base = |name: &'static str| -> Vec<String> {
        [
            "migrate",
            name,
            "--from-kubeconfig",
            &ka,
            "--to-kubeconfig",
            &kb,
            "-n",
            "shop",
            "--namespace-mappings",
            "shop:shop-moved",
            "--record",
            &record_s,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let run = |args: Vec<String>| skiff(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // A target object that exists before the migration: migrate must leave it, undo must too.
    create(
        &tgt,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-moved"}}),
    )
    .await?;
    create(
        &tgt,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg-0", "namespace": "shop-moved"}, "data": {"key": "theirs"}}),
    )
    .await?;

    // Preflight with a live source, on two beds: the pre-existing ConfigMap would collide
    // (a warning), nothing is an error.
    let pre = run([
        "preflight",
        "--from-kubeconfig",
        &ka,
        "--to-kubeconfig",
        &kb,
        "-n",
        "shop",
        "--namespace-mappings",
        "shop:shop-moved",
        "-o",
        "json",
    ]
    .map(str::to_owned)
    .to_vec())?;
    ensure!(
        pre.code == 0,
        "preflight: exit {}\n{}\n{}",
        pre.code,
        pre.stdout,
        pre.stderr
    );
    let pre: Value = serde_json::from_str(&pre.stdout)?;
    ensure!(
        pre["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["check"] == "namespace-exists"
                && f["objects"].to_string().contains("configmaps/shop-moved/cfg-0"))),
        "no collision reported: {pre:#}"
    );

    // Dry run: the plan, nothing created.
    let mut args = base("m1");
    args.extend(["--dry-run", "-o", "json"].map(str::to_owned));
    let dry = ok(run(args)?, "dry run")?;
    let plan: Value = serde_json::from_str(&dry.stdout)?;
    let planned = plan["plan"].to_string();
    ensure!(
        planned.contains("cfg-4") && planned.contains("shop-moved"),
        "plan: {planned}"
    );
    ensure!(
        get(&tgt, "ConfigMap", Some("shop-moved"), "cfg-1")
            .await?
            .is_none(),
        "dry run created objects"
    );
    ensure!(!record.exists(), "a dry run wrote a record");

    // The migration.
    ok(run(base("m1"))?, "migrate")?;
    for i in 1..5 {
        let cm = get(&tgt, "ConfigMap", Some("shop-moved"), &format!("cfg-{i}"))
            .await?
            .with_context(|| format!("cfg-{i} not migrated"))?;
        ensure!(cm["data"]["key"] == json!(format!("value-{i}")), "{cm}");
        ensure!(cm["metadata"]["labels"]["velero.io/restore-name"] == "m1", "{cm}");
    }
    let gadget = get(&tgt, "Gadget", Some("shop-moved"), "g1")
        .await?
        .context("the custom resource was not migrated (its CRD must come along)")?;
    ensure!(gadget["spec"]["size"] == 3, "{gadget}");
    let theirs = get(&tgt, "ConfigMap", Some("shop-moved"), "cfg-0")
        .await?
        .context("cfg-0")?;
    ensure!(
        theirs["data"]["key"] == "theirs",
        "a pre-existing object was overwritten: {theirs}"
    );
    let secret = get(&tgt, "Secret", Some("shop-moved"), "db")
        .await?
        .context("secret")?;
    ensure!(secret["data"]["password"] == "c2VjcmV0");
    ensure!(
        get(&tgt, "Deployment", Some("shop-moved"), "web")
            .await?
            .is_some()
    );
    let rec: Value = serde_json::from_slice(&std::fs::read(&record)?)?;
    let created: Vec<String> = rec["created"]
        .as_array()
        .context("created")?
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["resource"].as_str().unwrap_or("?"),
                t["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    ensure!(created.contains(&"configmaps/cfg-1".to_owned()), "{created:?}");
    ensure!(
        !created.contains(&"configmaps/cfg-0".to_owned()),
        "pre-existing object recorded: {created:?}"
    );

    // A rerun converges: nothing fails, nothing new.
    let again = ok(run(base("m1"))?, "rerun")?;
    ensure!(!again.stdout.contains("FAILED"), "{}", again.stdout);

    // --archive: a Velero-readable backup of what was migrated, which validates.
    let archive = work.path().join("bucket");
    let archive_s = path(&archive)?;
    let mut args = base("m2");
    args[9] = "shop:shop-archived".to_owned();
    args[11] = path(&work.path().join("m2.json"))?;
    args.extend(["--archive".to_owned(), archive_s.clone()]);
    ok(run(args)?, "migrate --archive")?;
    ok(
        skiff(&["validate", "m2", "--location", &archive_s])?,
        "validate the --archive backup",
    )?;
    ensure!(
        archive.join("restores/m2").is_dir(),
        "no results beside the archive"
    );
    ensure!(
        get(&tgt, "ConfigMap", Some("shop-archived"), "cfg-3")
            .await?
            .is_some()
    );

    // Verify and diff, live source against the target: m2's namespace is equal (the workload is
    // not ready — no kubelet — so readiness is left out); m1's differs exactly by the ConfigMap
    // that was there before and was left alone.
    let live = |cmd: &str, mapping: &str, extra: &[&str]| {
        let mut args = vec![
            cmd,
            "--from-kubeconfig",
            &ka,
            "--to-kubeconfig",
            &kb,
            "-n",
            "shop",
        ];
        args.extend(["--namespace-mappings", mapping]);
        args.extend_from_slice(extra);
        skiff(&args)
    };
    ok(
        live("verify", "shop:shop-archived", &["--no-readiness"])?,
        "verify m2",
    )?;
    ok(live("diff", "shop:shop-archived", &[])?, "diff m2")?;
    let differs = live("diff", "shop:shop-moved", &["-o", "json"])?;
    ensure!(
        differs.code == 6,
        "diff m1: exit {}\n{}",
        differs.code,
        differs.stderr
    );
    let d: Value = serde_json::from_str(&differs.stdout)?;
    let text = d.to_string();
    ensure!(
        text.contains("cfg-0") && !text.contains("cfg-1") && !text.contains("\"db\""),
        "diff m1 must name only cfg-0: {d:#}"
    );

    // --hold: the Deployment lands at 0 replicas with the original count recorded.
    let mut args = base("m3");
    args[9] = "shop:shop-held".to_owned();
    args[11] = path(&work.path().join("m3.json"))?;
    args.push("--hold".to_owned());
    ok(run(args)?, "migrate --hold")?;
    let held = get(&tgt, "Deployment", Some("shop-held"), "web")
        .await?
        .context("held deployment")?;
    ensure!(held["spec"]["replicas"] == 0, "not held: {}", held["spec"]);
    let note = held["metadata"]["annotations"]["skiff.io/hold"]
        .as_str()
        .context("hold annotation")?;
    ensure!(
        note.contains("replicas") && note.contains('2'),
        "hold record: {note}"
    );

    // Undo: what m1 created goes; the pre-existing namespace and ConfigMap stay.
    let mut args = base("m1");
    args.push("--undo".to_owned());
    let undone = ok(run(args)?, "undo")?;
    ensure!(undone.stdout.contains("deleted"), "{}", undone.stdout);
    for i in 1..5 {
        let cm = get(&tgt, "ConfigMap", Some("shop-moved"), &format!("cfg-{i}")).await?;
        ensure!(
            cm.is_none()
                || cm
                    .as_ref()
                    .and_then(|c| c.pointer("/metadata/deletionTimestamp"))
                    .is_some(),
            "cfg-{i} survived the undo"
        );
    }
    ensure!(
        get(&tgt, "ConfigMap", Some("shop-moved"), "cfg-0")
            .await?
            .is_some(),
        "undo deleted a pre-existing object"
    );
    ensure!(
        get(&tgt, "Namespace", None, "shop-moved").await?.is_some(),
        "undo deleted a pre-existing namespace"
    );
    ensure!(
        get(&tgt, "ConfigMap", Some("shop-archived"), "cfg-3")
            .await?
            .is_some(),
        "undo of m1 touched m2"
    );
    ensure!(!record.exists(), "the record stays after a complete undo");

    // Undo removes a namespace the migration created (m3's), but keeps one that holds an object
    // the migration did not create (m2's, after a user adds a ConfigMap to it).
    create(
        &tgt,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "users-own", "namespace": "shop-archived"}, "data": {"k": "v"}}),
    )
    .await?;
    let mut args = base("m2");
    args[11] = path(&work.path().join("m2.json"))?;
    args.push("--undo".to_owned());
    let undone = ok(run(args)?, "undo m2")?;
    ensure!(
        undone.stdout.lines().any(|l| l.starts_with("kept")
            && l.contains("namespaces/shop-archived")
            && l.contains("users-own")),
        "{}",
        undone.stdout
    );
    let kept = get(&tgt, "Namespace", None, "shop-archived")
        .await?
        .context("m2's namespace deleted with a user's object in it")?;
    ensure!(kept.pointer("/metadata/deletionTimestamp").is_none(), "{kept}");
    let mut args = base("m3");
    args[11] = path(&work.path().join("m3.json"))?;
    args.push("--undo".to_owned());
    let undone = ok(run(args)?, "undo m3")?;
    ensure!(
        undone
            .stdout
            .lines()
            .any(|l| l.starts_with("deleted") && l.contains("namespaces/shop-held")),
        "{}",
        undone.stdout
    );
    let gone = get(&tgt, "Namespace", None, "shop-held").await?;
    ensure!(
        gone.is_none_or(|n| n.pointer("/metadata/deletionTimestamp").is_some()),
        "m3's namespace survived its undo"
    );

    // Bad input: nothing applied.
    let same = skiff(&[
        "migrate",
        "x",
        "--from-kubeconfig",
        &ka,
        "--to-kubeconfig",
        &ka,
        "-n",
        "shop",
        "--namespace-mappings",
        "shop:elsewhere",
    ])?;
    ensure!(
        same.code == 2 && same.stderr.contains("same cluster"),
        "same cluster: {} {}",
        same.code,
        same.stderr
    );
    ensure!(get(&src, "Namespace", None, "elsewhere").await?.is_none());
    let unknown = skiff(&[
        "migrate",
        "x",
        "--from-kubeconfig",
        &ka,
        "--to-kubeconfig",
        &kb,
        "--to-context",
        "nope",
    ])?;
    ensure!(
        unknown.code == 20,
        "unknown context: exit {} {}",
        unknown.code,
        unknown.stderr
    );
    ensure!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
    let bad = skiff(&[
        "migrate",
        "x",
        "--from-kubeconfig",
        &ka,
        "--to-kubeconfig",
        &kb,
        "--namespace-mappings",
        "shop:Not_Valid",
    ])?;
    ensure!(bad.code == 2, "invalid mapping: exit {} {}", bad.code, bad.stderr);
    Ok(())
}

fn path(p: &Path) -> Result<String> {
    p.to_str().map(str::to_owned).context("utf-8 path")
}

/// Ctrl-C in the middle of a migration: the run stops with the interrupted exit code, the record
/// holds what was created so far (undo would see it), and a rerun completes the rest.
#[tokio::test]
async fn migrate_interrupted_then_rerun_completes() -> Result<()> {
    const N: usize = 1500;
    skiff_kube::install_crypto_provider();
    let _serial = crate::restore::SERIAL.lock().await;
    let (a, b) = (bed().await?, bed().await?);
    let src = Cluster::from_client(a.client().await?, LimiterConfig::default());
    let tgt = Cluster::from_client(b.client().await?, LimiterConfig::default());
    create(
        &src,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}),
    )
    .await?;
    let cms = res("ConfigMap");
    futures::stream::iter(0..N)
        .map(|i| {
            let (src, cms) = (&src, &cms);
            async move {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("c-{i:04}"), "namespace": "bulk"}, "data": {"i": i.to_string()}});
                src.create(cms, Some("bulk"), &cm, false).await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let (ka, kb) = (path(a.kubeconfig_path())?, path(b.kubeconfig_path())?);
    let work = tempfile::tempdir()?;
    let record = work.path().join("big.json");
    let args = [
        "migrate",
        "big",
        "--from-kubeconfig",
        &ka,
        "--to-kubeconfig",
        &kb,
        "-n",
        "bulk",
        "--max-requests",
        "1",
        "--record",
        &path(&record)?,
    ];
    let count = || async {
        let mut pages = tgt.list_pages(
            &cms,
            skiff_kube::ListOptions {
                namespace: Some("bulk".to_owned()),
                ..skiff_kube::ListOptions::default()
            },
        );
        let mut n = 0;
        while let Some(p) = pages.next_page().await? {
            n += p.items.len();
        }
        anyhow::Ok(n)
    };
    let mut child = Command::new(skiff_bin()?)
        .args(args)
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Interrupt once part of the work is on the target (one request at a time keeps the run long
    // enough to catch it in the middle).
    let mut seen = 0;
    for _ in 0..600 {
        seen = count().await?;
        if seen >= 50 || child.try_wait()?.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ensure!(
        child.try_wait()?.is_none(),
        "the migration ended before it could be interrupted ({seen} created)"
    );
    nix_sigint(&child)?;
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(130),
        "interrupted run: exit {:?}\n{stderr}",
        out.status.code()
    );
    let partial = count().await?;
    ensure!(
        partial > 0 && partial < N,
        "{partial} of {N} created before the interrupt"
    );
    let rec: Value = serde_json::from_slice(&std::fs::read(&record).context("no record after Ctrl-C")?)?;
    let recorded = rec["created"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["resource"] == "configmaps")
        .count();
    ensure!(
        recorded <= partial && recorded + 2 >= partial,
        "record holds {recorded} ConfigMaps, the target {partial} (kube-root-ca.crt aside)"
    );
    // The rerun completes: every ConfigMap there, with its value.
    ok(skiff(&args)?, "rerun after interrupt")?;
    let total = count().await?;
    ensure!(total >= N, "{total} of {N} after the rerun");
    let last = get(&tgt, "ConfigMap", Some("bulk"), &format!("c-{:04}", N - 1))
        .await?
        .context("last ConfigMap")?;
    ensure!(last["data"]["i"] == json!((N - 1).to_string()), "{last}");
    Ok(())
}

/// Send SIGINT (what Ctrl-C sends) to a child process.
fn nix_sigint(child: &std::process::Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill -INT failed");
    Ok(())
}
