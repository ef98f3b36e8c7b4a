//! `skiff preflight` on a crafted backup: offline against the deprecation table (no cluster),
//! against a real test bed as target (each problem reported with its severity and check code,
//! exit 5; a clean, mapped subset exits 0), and bad targets (unknown context, unreachable
//! server, the source cluster as its own target).
//!
//! The bed runs Kubernetes 1.20; the backup says it comes from 1.22 (older target) and holds
//! APIs 1.20 no longer serves (`extensions/v1beta1` `DaemonSet`), a custom resource without its
//! CRD, `batch/v1` `CronJob`s (1.21+) with a `v1beta1` copy, a PVC of a missing storage class,
//! an object that already exists on the target, a Deployment behind a fail-closed webhook whose
//! Service has no endpoints, a missing `PriorityClass` and a Velero hook annotation.

use crate::common::skiff_bin;
use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};
use skiff_format::{ArchiveWriter, ItemRef};
use skiff_kube::{ApiSurface, Cluster, LimiterConfig};
use skiff_testkit::bed::TestBed;
use std::path::Path;
use std::process::Output;

/// Exit code of `preflight` when it finds errors.
const EXIT_PREFLIGHT_ERRORS: i32 = 5;
/// Exit code of a cluster failure.
const EXIT_CLUSTER: i32 = 20;
/// Exit code of a usage error.
const EXIT_USAGE: i32 = 2;

// ---------------------------------------------------------------------------------------------
// the crafted backup

fn meta(ns: Option<&str>, name: &str) -> Value {
    match ns {
        Some(ns) => json!({"name": name, "namespace": ns}),
        None => json!({"name": name}),
    }
}

fn template(app: &str, image: &str, extra: &Value) -> Value {
    let mut spec = json!({"containers": [{"name": app, "image": image}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"metadata": {"labels": {"app": app}}, "spec": spec})
}

/// One item of the backup: (group-resource, preferred version dir, namespace, name, object,
/// other versions).
type Item = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Value,
    Vec<(&'static str, Value)>,
);

/// The backup's items, grouped by group-resource as the archive writer wants them.
#[allow(clippy::too_many_lines)]
fn backup_items() -> Vec<Item> {
    let cronjob = |api: &str| {
        json!({"apiVersion": api, "kind": "CronJob", "metadata": meta(Some("shop"), "nightly"),
               "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template":
                   template("nightly", "registry.old.test/team/nightly:1", &json!({"restartPolicy": "Never"}))}}}})
    };
    vec![
        (
            "configmaps",
            "v1",
            Some("clean"),
            "app-config",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(Some("clean"), "app-config"), "data": {"k": "v"}}),
            vec![],
        ),
        (
            "configmaps",
            "v1",
            Some("shop"),
            "settings",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(Some("shop"), "settings"), "data": {"k": "v"}}),
            vec![],
        ),
        (
            "cronjobs.batch",
            "v1",
            Some("shop"),
            "nightly",
            cronjob("batch/v1"),
            vec![("v1beta1", cronjob("batch/v1beta1"))],
        ),
        (
            "daemonsets.extensions",
            "v1beta1",
            Some("shop"),
            "agent",
            json!({"apiVersion": "extensions/v1beta1", "kind": "DaemonSet", "metadata": meta(Some("shop"), "agent"),
                "spec": {"template": template("agent", "registry.old.test/team/agent:1", &json!({}))}}),
            vec![],
        ),
        (
            "deployments.apps",
            "v1",
            Some("shop"),
            "web",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop",
                             "annotations": {"pre.hook.backup.velero.io/command": "[\"/bin/sync\"]"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                         "template": template("web", "registry.old.test/team/web:1", &json!({"priorityClassName": "gold-priority"}))}}),
            vec![],
        ),
        (
            "gadgets.example.test",
            "v1",
            Some("shop"),
            "g1",
            json!({"apiVersion": "example.test/v1", "kind": "Gadget", "metadata": meta(Some("shop"), "g1"), "spec": {"size": 1}}),
            vec![],
        ),
        (
            "ingresses.extensions",
            "v1beta1",
            Some("shop"),
            "old-ingress",
            json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": meta(Some("shop"), "old-ingress"),
                "spec": {"backend": {"serviceName": "web", "servicePort": 80}}}),
            vec![],
        ),
        (
            "ingresses.networking.k8s.io",
            "v1beta1",
            Some("clean"),
            "site",
            json!({"apiVersion": "networking.k8s.io/v1beta1", "kind": "Ingress", "metadata": meta(Some("clean"), "site"),
                "spec": {"ingressClassName": "nginx", "backend": {"serviceName": "site", "servicePort": 80}}}),
            vec![],
        ),
        (
            "jobs.batch",
            "v1",
            Some("clean"),
            "migrate",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(Some("clean"), "migrate"),
                "spec": {"template": template("migrate", "registry.old.test/team/migrate:2",
                    &json!({"restartPolicy": "Never", "serviceAccountName": "runner", "priorityClassName": "system-cluster-critical"}))}}),
            vec![],
        ),
        (
            "namespaces",
            "v1",
            None,
            "clean",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(None, "clean")}),
            vec![],
        ),
        (
            "namespaces",
            "v1",
            None,
            "shop",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(None, "shop")}),
            vec![],
        ),
        (
            "persistentvolumeclaims",
            "v1",
            Some("clean"),
            "cache",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(Some("clean"), "cache"),
                "spec": {"storageClassName": "gold", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
            vec![],
        ),
        (
            "persistentvolumeclaims",
            "v1",
            Some("shop"),
            "data",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(Some("shop"), "data"),
                "spec": {"storageClassName": "gold", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
            vec![],
        ),
        (
            "serviceaccounts",
            "v1",
            Some("clean"),
            "runner",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(Some("clean"), "runner")}),
            vec![],
        ),
    ]
}

/// A backup folder `<dir>/pf/` (velero-backup.json saying the source ran 1.22, and the tarball
/// written by skiff's own archive writer).
fn write_backup(dir: &Path) -> Result<String> {
    let folder = dir.join("pf");
    std::fs::create_dir_all(&folder)?;
    let mut w = ArchiveWriter::new(std::fs::File::create(folder.join("pf.tar.gz"))?);
    for (gr, version, ns, name, obj, others) in backup_items() {
        let item = match ns {
            Some(ns) => ItemRef::namespaced(gr, ns, name),
            None => ItemRef::cluster(gr, name),
        };
        w.add_item(&item, version, &serde_json::to_vec(&obj)?)?;
        for (v, o) in others {
            w.add_item_version(&item, v, &serde_json::to_vec(&o)?)?;
        }
    }
    w.finish()?;
    let doc = json!({
        "kind": "Backup", "apiVersion": "velero.io/v1",
        "metadata": {"name": "pf", "namespace": "velero",
                     "labels": {"velero.io/storage-location": "default"},
                     "annotations": {"velero.io/source-cluster-k8s-gitversion": "v1.22.3",
                                     "velero.io/source-cluster-k8s-major-version": "1",
                                     "velero.io/source-cluster-k8s-minor-version": "22"}},
        "spec": {"includedNamespaces": ["*"], "ttl": "720h0m0s", "storageLocation": "default"},
        "status": {"version": 1, "phase": "Completed", "startTimestamp": "2026-11-25T00:35:30Z",
                   "completionTimestamp": "2026-11-25T00:35:31Z", "warnings": 0, "errors": 0}
    });
    std::fs::write(
        folder.join("velero-backup.json"),
        serde_json::to_vec_pretty(&doc)?,
    )?;
    folder.to_str().map(str::to_owned).context("utf-8 path")
}

// ---------------------------------------------------------------------------------------------
// running skiff

fn skiff(args: &[&str]) -> Result<Output> {
    Ok(std::process::Command::new(skiff_bin()?)
        .arg("--no-progress")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()?)
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Run a preflight with `-o json`, expecting `exit`; the report.
fn report(args: &[&str], exit: i32) -> Result<Value> {
    let mut all = vec!["preflight"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = skiff(&all)?;
    ensure!(
        code(&out) == exit,
        "{all:?}: exit {} (want {exit})\nstdout: {}\nstderr: {}",
        code(&out),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{all:?}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn findings(r: &Value) -> &[Value] {
    r["findings"].as_array().map_or(&[], Vec::as_slice)
}

/// The findings of a check code, each with the severity wanted.
fn find<'a>(r: &'a Value, check: &str, severity: &str) -> Result<Vec<&'a Value>> {
    let all: Vec<&Value> = findings(r).iter().filter(|f| f["check"] == check).collect();
    ensure!(!all.is_empty(), "no {check} finding in {:#}", r["findings"]);
    for f in &all {
        ensure!(f["severity"] == severity, "{check} is not {severity}: {f:#}");
    }
    Ok(all)
}

fn severities(r: &Value, severity: &str) -> Vec<String> {
    findings(r)
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| format!("{}: {}", f["check"], f["message"]))
        .collect()
}

fn objects(f: &Value) -> Vec<&str> {
    f["objects"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// offline: no cluster

#[test]
fn offline_against_the_deprecation_table() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let backup = write_backup(dir.path())?;

    let r = report(&[&backup, "--target-version", "1.22"], EXIT_PREFLIGHT_ERRORS)?;
    ensure!(
        r["sourceVersion"] == "1.22" && r["targetVersion"] == "1.22",
        "{r:#}"
    );
    let removed = find(&r, "api-removed", "error")?;
    let messages: Vec<String> = removed.iter().map(|f| f["message"].to_string()).collect();
    for want in [
        "extensions/v1beta1 Ingress",
        "extensions/v1beta1 DaemonSet",
        "networking.k8s.io/v1beta1 Ingress",
    ] {
        ensure!(
            messages.iter().any(|m| m.contains(want)),
            "{want} not removed: {messages:#?}"
        );
    }
    let ingress = removed
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.contains("extensions/v1beta1 Ingress"))
        })
        .ok_or_else(|| anyhow!("no ingress finding"))?;
    ensure!(
        objects(ingress) == ["ingresses.extensions/shop/old-ingress"],
        "{ingress:#}"
    );
    // Offline: nothing about the target's contents.
    for check in [
        "storage-class-missing",
        "namespace-exists",
        "webhook-unavailable",
        "api-not-served",
    ] {
        ensure!(
            !findings(&r).iter().any(|f| f["check"] == check),
            "{check} offline: {r:#}"
        );
    }
    // Facts of the source still reported.
    find(&r, "volume-data", "warning")?;
    find(&r, "velero-hook", "warning")?;

    // An older target version: flagged; the clean namespace at 1.20 has only a deprecated API.
    let r = report(&[&backup, "--target-version", "1.20", "-n", "clean"], 0)?;
    find(&r, "older-target", "warning")?;
    let deprecated = find(&r, "api-deprecated", "warning")?;
    ensure!(
        deprecated
            .iter()
            .any(|f| objects(f) == ["ingresses.networking.k8s.io/clean/site"]),
        "{deprecated:#?}"
    );
    ensure!(
        severities(&r, "error").is_empty(),
        "{:#?}",
        severities(&r, "error")
    );

    // A table by default.
    let out = skiff(&["preflight", &backup, "--target-version", "1.25"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(code(&out) == EXIT_PREFLIGHT_ERRORS, "{text}");
    ensure!(
        text.contains("SEVERITY") && text.contains("api-removed") && text.contains("NOT ready"),
        "{text}"
    );

    let out = skiff(&["preflight", &backup, "--target-version", "one.two"])?;
    ensure!(
        code(&out) == EXIT_USAGE,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn unknown_context_and_unreachable_target() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let backup = write_backup(dir.path())?;
    // A kubeconfig whose only cluster is a closed loopback port.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: dead\n  context:\n    cluster: dead\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
    )?;
    let kc = kubeconfig.to_str().context("utf-8")?;

    let out = skiff(&[
        "preflight",
        &backup,
        "--to-kubeconfig",
        kc,
        "--to-context",
        "nope",
    ])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        code(&out) == EXIT_CLUSTER,
        "unknown context: exit {}: {err}",
        code(&out)
    );
    ensure!(err.contains("nope"), "unknown context not named: {err}");
    ensure!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));

    let out = skiff(&["preflight", &backup, "--to-kubeconfig", kc])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        code(&out) == EXIT_CLUSTER,
        "unreachable: exit {}: {err}",
        code(&out)
    );
    ensure!(err.contains("target"), "the target side is not named: {err}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// against a bed

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

async fn create(c: &Cluster, s: &ApiSurface, gr: &str, obj: Value) -> Result<()> {
    let r = s.preferred(gr).ok_or_else(|| anyhow!("{gr} not served"))?;
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    c.create(r, ns.as_deref(), &obj, false)
        .await
        .with_context(|| format!("create {gr} {}", obj["metadata"]["name"]))?;
    Ok(())
}

/// The target: namespace `shop` holding `settings` (collides), storage class `standard`,
/// ingress class `nginx`, and a fail-closed webhook on Deployments whose Service `policy/gate`
/// has no endpoints (its namespace selector matches no namespace, so the API server never
/// calls it; the Service's cluster IP is on the bed's loopback service range), plus a
/// fail-open one on `ConfigMaps` (not an error).
async fn seed_target(c: &Cluster) -> Result<()> {
    let s = c.discover(false).await?;
    for n in ["shop", "policy"] {
        create(
            c,
            &s,
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}),
        )
        .await?;
    }
    create(
        c,
        &s,
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(Some("shop"), "settings"), "data": {"old": "1"}}),
    )
    .await?;
    create(
        c,
        &s,
        "storageclasses.storage.k8s.io",
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta(None, "standard"),
               "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}),
    )
    .await?;
    create(
        c,
        &s,
        "ingressclasses.networking.k8s.io",
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": meta(None, "nginx"),
               "spec": {"controller": "example.test/ingress"}}),
    )
    .await?;
    create(
        c,
        &s,
        "services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(Some("policy"), "gate"),
               "spec": {"selector": {"app": "gate"}, "ports": [{"port": 443, "targetPort": 8443}]}}),
    )
    .await?;
    let hook = |name: &str, policy: &str, group: &str, resource: &str| {
        json!({"name": name, "failurePolicy": policy, "sideEffects": "None", "admissionReviewVersions": ["v1"],
               "namespaceSelector": {"matchLabels": {"preflight-test": "never-set"}},
               "clientConfig": {"service": {"namespace": "policy", "name": "gate", "path": "/validate", "port": 443}},
               "rules": [{"operations": ["CREATE"], "apiGroups": [group], "apiVersions": ["v1"], "resources": [resource]}]})
    };
    create(
        c,
        &s,
        "validatingwebhookconfigurations.admissionregistration.k8s.io",
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": meta(None, "gate"),
               "webhooks": [hook("deployments.gate.test", "Fail", "apps", "deployments"),
                            hook("configmaps.gate.test", "Ignore", "", "configmaps")]}),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_bed() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let backup = write_backup(dir.path())?;
    let bed = bed().await?;
    let cluster = Cluster::from_client(bed.client().await?, LimiterConfig::default());
    seed_target(&cluster).await?;
    let kc = bed.kubeconfig_path().to_str().context("utf-8")?.to_owned();

    // Everything: each problem with its severity and check code.
    let r = report(&[&backup, "--to-kubeconfig", &kc], EXIT_PREFLIGHT_ERRORS)?;
    ensure!(
        r["sourceVersion"] == "1.22" && r["targetVersion"] == "1.20",
        "{r:#}"
    );
    ensure!(r["objects"] == backup_items().len(), "objects: {}", r["objects"]);
    find(&r, "older-target", "warning")?;

    let not_served = find(&r, "api-not-served", "error")?;
    let texts: Vec<String> = not_served.iter().map(|f| f["message"].to_string()).collect();
    ensure!(not_served.len() == 2, "{texts:#?}");
    for (want, object) in [
        ("extensions/v1beta1 DaemonSet", "daemonsets.extensions/shop/agent"),
        ("example.test/v1 Gadget", "gadgets.example.test/shop/g1"),
    ] {
        ensure!(
            not_served
                .iter()
                .any(|f| f["message"].as_str().is_some_and(|m| m.contains(want)) && objects(f) == [object]),
            "{want} ({object}) not reported: {texts:#?}"
        );
    }
    // batch/v1 CronJob (1.21+): 1.20 serves v1beta1, which the backup also holds.
    let fallback = find(&r, "api-version-fallback", "info")?;
    ensure!(
        fallback.len() == 1
            && fallback[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("batch/v1beta1")),
        "{fallback:#?}"
    );

    let sc = find(&r, "storage-class-missing", "error")?;
    ensure!(
        sc.len() == 1
            && sc[0]["message"].as_str().is_some_and(|m| m.contains("gold"))
            && objects(sc[0])
                == [
                    "persistentvolumeclaims/clean/cache",
                    "persistentvolumeclaims/shop/data"
                ],
        "{sc:#?}"
    );

    let ns = find(&r, "namespace-exists", "warning")?;
    ensure!(
        ns.len() == 1 && objects(ns[0]) == ["configmaps/shop/settings"],
        "{ns:#?}"
    );

    let hooks = find(&r, "webhook-unavailable", "error")?;
    ensure!(hooks.len() == 1, "only the fail-closed webhook: {hooks:#?}");
    let msg = hooks[0]["message"].as_str().unwrap_or_default();
    ensure!(
        msg.contains("validating/gate/deployments.gate.test")
            && msg.contains("policy/gate")
            && msg.contains("no ready endpoints"),
        "{msg}"
    );
    ensure!(objects(hooks[0]) == ["deployments.apps"], "{:#}", hooks[0]);

    let refs = find(&r, "reference-missing", "error")?;
    ensure!(
        refs.len() == 1
            && refs[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("priorityclasses gold-priority"))
            && objects(refs[0]) == ["deployments.apps/shop/web"],
        "references: {refs:#?}"
    );
    find(&r, "velero-hook", "warning")?;
    find(&r, "volume-data", "warning")?;
    let registries = find(&r, "image-registry", "info")?;
    ensure!(
        registries.len() == 1
            && registries[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("registry.old.test")),
        "{registries:#?}"
    );
    let errors = severities(&r, "error");
    ensure!(errors.len() == 5, "exactly the five errors above: {errors:#?}");

    // The clean part, mapped: no errors, exit 0. The Job's service account comes along, its
    // priority class and the Ingress's class exist on the target, `gold` maps to `standard`.
    let r = report(
        &[
            &backup,
            "--to-kubeconfig",
            &kc,
            "-n",
            "clean",
            "--namespace-mappings",
            "clean:clean-moved",
            "--storage-class-mappings",
            "gold:standard",
        ],
        0,
    )?;
    ensure!(
        severities(&r, "error").is_empty(),
        "{:#?}",
        severities(&r, "error")
    );
    let sc = find(&r, "storage-class", "info")?;
    ensure!(
        sc.len() == 1
            && sc[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("standard") && m.contains("kubernetes.io/no-provisioner")),
        "{sc:#?}"
    );
    ensure!(
        !findings(&r).iter().any(|f| f["check"] == "namespace-exists"),
        "{r:#}"
    );

    // A user the target lets discover but not list (the bed's `user` context has no RBAC
    // grants): what it may not read is reported, and the checks that needed it are skipped
    // instead of reporting objects missing (no storage-class-missing, no reference-missing).
    let r = report(
        &[&backup, "--to-kubeconfig", &kc, "--to-context", "user"],
        EXIT_PREFLIGHT_ERRORS,
    )?;
    let unreadable = find(&r, "target-unreadable", "warning")?;
    for gr in [
        "storageclasses.storage.k8s.io",
        "namespaces",
        "priorityclasses.scheduling.k8s.io",
    ] {
        ensure!(
            unreadable.iter().any(|f| f["message"]
                .as_str()
                .is_some_and(|m| m.contains(gr) && m.contains("forbidden"))),
            "{gr} not reported unreadable: {unreadable:#?}"
        );
    }
    for skipped in [
        "storage-class-missing",
        "reference-missing",
        "webhook-unavailable",
    ] {
        ensure!(
            !findings(&r).iter().any(|f| f["check"] == skipped),
            "{skipped} reported from an unreadable target: {r:#}"
        );
    }
    ensure!(
        find(&r, "api-not-served", "error")?.len() == 2,
        "discovery still checks served APIs: {r:#}"
    );

    // The same cluster as source and target is refused.
    let out = skiff(&["preflight", "--from-kubeconfig", &kc, "--to-kubeconfig", &kc])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        code(&out) == EXIT_USAGE && err.contains("same cluster"),
        "exit {}: {err}",
        code(&out)
    );
    Ok(())
}
