//! `skiff verify` and `skiff diff` on a real test bed and the real S3 server, through the binary.
//!
//! One bed plays source and target (the restore maps the namespace): a namespace seeded with a
//! ConfigMap, a Secret, a Deployment and a Service is backed up with `skiff backup`, restored
//! with `skiff restore --namespace-mappings`, then verified:
//!
//! - after the restore, with the test acting as the kubelet (below): no differences, ready →
//!   exit 0;
//! - drift injected on the target (a ConfigMap key changed, the Secret deleted, a label added to
//!   the Service, the Deployment scaled, an extra ConfigMap) → each found with its path → exit 6;
//! - a second restore nobody runs Pods for: the Deployment is not ready and the Service has no
//!   endpoints → exit 7, also with `--wait --timeout` (timed out).
//!
//! The bed runs no kubelet and no scheduler, and its controller-manager overwrites any status
//! patched onto a Deployment. For "ready" the test does what a kubelet (and a scheduler) would:
//! it registers a Node, binds each Pod of the restored namespace to it (`pods/binding`) and sets
//! the Pod's status to Running / Ready with an IP (`pods/status`). The real ReplicaSet,
//! Deployment and endpoints controllers then compute the Deployment's ready replicas and the
//! Service's endpoints; the test never writes a workload's status. (The Pod IP is a TEST-NET-1
//! address, RFC 5737: it only fills the Endpoints object, nothing is ever sent to it.)
//!
//! `skiff diff` of two backups of the source namespace taken before and after known changes
//! reports exactly those changes (exit 6); a backup against itself is equal (exit 0).

// Kubernetes kind names (ConfigMap, ReplicaSet, …) appear as prose in these docs.
#![allow(clippy::doc_markdown)]

use crate::common::skiff_bin;
use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};
use skiff_testkit::bed::TestBed;
use skiff_testkit::s3::S3Server;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

/// The source namespace.
const NS: &str = "vfy";

/// A raw API call through the kube client (`PATCH` is a JSON merge patch).
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

/// The bed, S3 and the flags every skiff call needs.
struct Env {
    bed: TestBed,
    client: kube::Client,
    s3: S3Server,
    url: String,
    creds: PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Result<Self> {
        skiff_kube::install_crypto_provider();
        let mut last = None;
        let mut bed = None;
        // Under heavy machine load kube-controller-manager sometimes exits during start-up.
        for _ in 0..3 {
            match TestBed::start().await {
                Ok(b) => {
                    bed = Some(b);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let bed = bed.ok_or_else(|| last.map_or_else(|| anyhow!("no bed"), anyhow::Error::from))?;
        let client = bed.client().await?;
        let s3 = S3Server::start()?;
        let bucket = s3.fresh_bucket()?;
        let dir = tempfile::tempdir()?;
        let creds = dir.path().join("creds");
        std::fs::write(&creds, s3.credentials_file_contents())?;
        Ok(Self {
            bed,
            client,
            url: format!("s3://{bucket}/verify"),
            s3,
            creds,
            _dir: dir,
        })
    }

    /// Run `skiff <args> --location … --credentials-file … --s3-endpoint …` against the bed.
    fn skiff(&self, args: &[&str]) -> Result<Output> {
        let out = std::process::Command::new(skiff_bin()?)
            .args(args)
            .args(["--location", &self.url, "--s3-endpoint", &self.s3.endpoint()])
            .arg("--credentials-file")
            .arg(&self.creds)
            .arg("--no-progress")
            .env("KUBECONFIG", self.bed.kubeconfig_path())
            .env_remove("SKIFF_LOCATION")
            .output()?;
        Ok(out)
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn show(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        code(out),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json_of(out: &Output) -> Result<Value> {
    serde_json::from_slice(&out.stdout).with_context(|| show(out))
}

/// The source namespace: a ConfigMap, a Secret, a Deployment (1 replica) and its Service.
async fn seed(c: &kube::Client) -> Result<()> {
    api(
        c,
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"metadata": {"name": NS}})),
    )
    .await?;
    let ns = format!("/api/v1/namespaces/{NS}");
    api(
        c,
        "POST",
        &format!("{ns}/configmaps"),
        Some(
            &json!({"metadata": {"name": "app-config", "labels": {"app": "web"}},
            "data": {"mode": "blue", "size": "2"}}),
        ),
    )
    .await?;
    api(
        c,
        "POST",
        &format!("{ns}/secrets"),
        Some(&json!({"metadata": {"name": "app-secret"}, "type": "Opaque",
            "data": {"token": "c2VjcmV0LXZhbHVl"}})),
    )
    .await?;
    api(
        c,
        "POST",
        &format!("/apis/apps/v1/namespaces/{NS}/deployments"),
        Some(&json!({"metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "registry.local/web:1",
                        "ports": [{"containerPort": 8080}]}]}}}})),
    )
    .await?;
    api(
        c,
        "POST",
        &format!("{ns}/services"),
        Some(&json!({"metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})),
    )
    .await?;
    // The ReplicaSet and its Pod exist before the first backup, so two backups differ only by
    // what the test changes.
    wait_for(Duration::from_secs(60), "the source Pod", || async {
        let pods = api(c, "GET", &format!("{ns}/pods"), None).await?;
        Ok(pods["items"].as_array().is_some_and(|a| a.len() == 1))
    })
    .await
}

async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let start = Instant::now();
    loop {
        if f().await? {
            return Ok(());
        }
        ensure!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Act as the kubelet (and scheduler) of one node for every Pod of `ns`: bind it, then report it
/// Running and Ready. Returns how many Pods it changed.
async fn kubelet_pass(c: &kube::Client, ns: &str) -> Result<usize> {
    let pods = api(c, "GET", &format!("/api/v1/namespaces/{ns}/pods"), None).await?;
    let mut changed = 0;
    for pod in pods["items"].as_array().into_iter().flatten() {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        if pod["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
            api(
                c,
                "POST",
                &format!("/api/v1/namespaces/{ns}/pods/{name}/binding"),
                Some(&json!({"apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": name}, "target": {"kind": "Node", "name": "fake-node"}})),
            )
            .await?;
            changed += 1;
        }
        if pod["status"]["phase"] != "Running" {
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let cond = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
            let containers: Vec<Value> = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|ct| {
                    json!({"name": ct["name"], "image": ct["image"], "imageID": "", "ready": true,
                        "restartCount": 0, "started": true, "state": {"running": {"startedAt": now}}})
                })
                .collect();
            api(
                c,
                "PATCH",
                &format!("/api/v1/namespaces/{ns}/pods/{name}/status"),
                Some(&json!({"status": {"phase": "Running", "podIP": "192.0.2.10",
                    "podIPs": [{"ip": "192.0.2.10"}], "hostIP": "192.0.2.1", "startTime": now,
                    "conditions": [cond("Initialized"), cond("Ready"), cond("ContainersReady"),
                        cond("PodScheduled")],
                    "containerStatuses": containers}})),
            )
            .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Register the fake node once.
async fn register_node(c: &kube::Client) -> Result<()> {
    api(
        c,
        "POST",
        "/api/v1/nodes",
        Some(&json!({"metadata": {"name": "fake-node", "labels": {"kubernetes.io/hostname": "fake-node"}}})),
    )
    .await?;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    api(
        c,
        "PATCH",
        "/api/v1/nodes/fake-node/status",
        Some(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True",
            "reason": "KubeletReady", "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.1"}]}}),
        ),
    )
    .await?;
    Ok(())
}

/// The (state, object, paths) rows of a verify JSON report that are not equal.
fn problems(report: &Value) -> BTreeSet<(String, String, Vec<String>)> {
    report["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["state"] != "equal")
        .map(|o| {
            (
                o["state"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{}/{}/{}",
                    o["resource"].as_str().unwrap_or_default(),
                    o["namespace"].as_str().unwrap_or_default(),
                    o["name"].as_str().unwrap_or_default()
                ),
                o["differences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| d["path"].as_str().unwrap_or_default().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_after_restore_drift_and_readiness_then_diff_backups() -> Result<()> {
    let env = Env::start().await?;
    let c = env.client.clone();
    seed(&c).await?;

    let out = env.skiff(&["backup", "b1", "--include-namespaces", NS])?;
    ensure!(code(&out) == 0, "backup: {}", show(&out));
    let out = env.skiff(&[
        "restore",
        "r1",
        "--from-backup",
        "b1",
        "--namespace-mappings",
        &format!("{NS}:moved"),
    ])?;
    ensure!(code(&out) == 0, "restore: {}", show(&out));

    // Act as the kubelet until the real controllers report the Deployment ready.
    register_node(&c).await?;
    wait_for(
        Duration::from_secs(90),
        "the restored Deployment to be ready",
        || async {
            kubelet_pass(&c, "moved").await?;
            let d = api(&c, "GET", "/apis/apps/v1/namespaces/moved/deployments/web", None).await?;
            Ok(d["status"]["readyReplicas"] == 1 && d["status"]["availableReplicas"] == 1)
        },
    )
    .await?;

    // 1. Clean: nothing missing, different or extra; ready (endpoints included, so poll).
    let verify_moved = |extra: &[&str]| -> Result<Output> {
        let mut args = vec!["verify", "b1", "--namespace-mappings", "vfy:moved", "-o", "json"];
        args.extend_from_slice(extra);
        env.skiff(&args)
    };
    let out = verify_moved(&["--wait", "--timeout", "60s"])?;
    let report = json_of(&out)?;
    ensure!(
        code(&out) == 0,
        "clean verify: problems {:?}, extras {}, readiness {}\n{}",
        problems(&report),
        report["extras"],
        report["readiness"],
        show(&out)
    );
    let s = &report["summary"];
    ensure!(
        s["expected"].as_u64() >= Some(5) && s["equal"] == s["expected"] && s["derived"].as_u64() >= Some(2),
        "summary {s}"
    );
    // Both the Deployment and the Service were checked, and the Service is ready through the
    // endpoints the controller computed from the Pod the test reported Ready.
    let checked: BTreeSet<String> = report["readiness"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ready"] == true)
        .map(|c| {
            format!(
                "{}/{}",
                c["resource"].as_str().unwrap_or(""),
                c["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    ensure!(
        checked.contains("deployments.apps/web") && checked.contains("services/web"),
        "readiness checked {checked:?}"
    );
    // The table says so too.
    let out = env.skiff(&["verify", "b1", "--namespace-mappings", "vfy:moved"])?;
    ensure!(
        code(&out) == 0 && String::from_utf8_lossy(&out.stdout).trim_end().ends_with("OK"),
        "{}",
        show(&out)
    );

    // 2. Drift on the target: each difference found with its path; exit 6.
    api(
        &c,
        "PATCH",
        "/api/v1/namespaces/moved/configmaps/app-config",
        Some(&json!({"data": {"mode": "green"}})),
    )
    .await?;
    api(&c, "DELETE", "/api/v1/namespaces/moved/secrets/app-secret", None).await?;
    api(
        &c,
        "PATCH",
        "/api/v1/namespaces/moved/services/web",
        Some(&json!({"metadata": {"labels": {"drift": "yes"}}})),
    )
    .await?;
    api(
        &c,
        "PATCH",
        "/apis/apps/v1/namespaces/moved/deployments/web",
        Some(&json!({"spec": {"replicas": 3}})),
    )
    .await?;
    api(
        &c,
        "POST",
        "/api/v1/namespaces/moved/configmaps",
        Some(&json!({"metadata": {"name": "stray"}, "data": {"x": "1"}})),
    )
    .await?;
    let out = verify_moved(&[])?;
    ensure!(code(&out) == 6, "drift: {}", show(&out));
    let report = json_of(&out)?;
    let want: BTreeSet<(String, String, Vec<String>)> = [
        ("different", "configmaps/moved/app-config", vec!["data.mode"]),
        ("missing", "secrets/moved/app-secret", vec![]),
        ("different", "services/moved/web", vec!["metadata.labels.drift"]),
        ("different", "deployments.apps/moved/web", vec!["spec.replicas"]),
    ]
    .into_iter()
    .map(|(s, o, p)| {
        (
            s.to_string(),
            o.to_string(),
            p.into_iter().map(str::to_string).collect(),
        )
    })
    .collect();
    ensure!(problems(&report) == want, "drift found: {:#?}", problems(&report));
    ensure!(
        report["extras"] == json!([{"resource": "configmaps", "namespace": "moved", "name": "stray"}]),
        "extras {}",
        report["extras"]
    );
    let replicas = report["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["resource"] == "deployments.apps")
        .map(|o| o["differences"][0].clone())
        .unwrap_or_default();
    ensure!(
        replicas["expected"] == 1 && replicas["actual"] == 3,
        "replicas {replicas}"
    );
    let secret_values = out
        .stdout
        .windows(b"c2VjcmV0LXZhbHVl".len())
        .any(|w| w == b"c2VjcmV0LXZhbHVl");
    ensure!(!secret_values, "secret data in the report");
    // The table names every finding with its path.
    let out = env.skiff(&[
        "verify",
        "b1",
        "--namespace-mappings",
        "vfy:moved",
        "--no-readiness",
    ])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(code(&out) == 6, "{}", show(&out));
    for needle in [
        "missing    secrets/moved/app-secret",
        "data.mode: \"blue\" -> \"green\"",
        "metadata.labels.drift: (absent) -> \"yes\"",
        "spec.replicas: 1 -> 3",
        "extra      configmaps/moved/stray",
        "DIFFERENT",
    ] {
        ensure!(text.contains(needle), "table lacks {needle:?}:\n{text}");
    }

    // 3. Not ready: a second restore for which nobody runs Pods. Equal, but the Deployment has
    //    no ready replica and the Service no endpoints → exit 7; with --wait it times out.
    let out = env.skiff(&[
        "restore",
        "r2",
        "--from-backup",
        "b1",
        "--namespace-mappings",
        &format!("{NS}:cold"),
    ])?;
    ensure!(code(&out) == 0, "restore r2: {}", show(&out));
    let out = env.skiff(&[
        "verify",
        "b1",
        "--namespace-mappings",
        "vfy:cold",
        "--wait",
        "--timeout",
        "3s",
        "-o",
        "json",
    ])?;
    let report = json_of(&out)?;
    ensure!(code(&out) == 7, "not ready: {}", show(&out));
    ensure!(
        report["summary"]["missing"] == 0
            && report["summary"]["different"] == 0
            && report["timedOut"] == true,
        "summary {} timedOut {}",
        report["summary"],
        report["timedOut"]
    );
    let not_ready: BTreeSet<(String, String)> = report["readiness"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ready"] == false)
        .map(|c| {
            (
                format!(
                    "{}/{}",
                    c["resource"].as_str().unwrap_or(""),
                    c["name"].as_str().unwrap_or("")
                ),
                c["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    ensure!(
        not_ready.contains(&(
            "deployments.apps/web".into(),
            "0/1 replicas ready, 0 available, 1 updated".into()
        )) || not_ready
            .iter()
            .any(|(o, r)| o == "deployments.apps/web" && r.starts_with("0/1 replicas ready")),
        "not ready: {not_ready:?}"
    );
    ensure!(
        not_ready.contains(&("services/web".into(), "no ready endpoints".into())),
        "not ready: {not_ready:?}"
    );

    // 4. diff: two backups of the source, before and after known changes.
    api(
        &c,
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/configmaps/app-config"),
        Some(&json!({"data": {"size": "3"}})),
    )
    .await?;
    api(
        &c,
        "DELETE",
        &format!("/api/v1/namespaces/{NS}/secrets/app-secret"),
        None,
    )
    .await?;
    api(
        &c,
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/services/web"),
        Some(&json!({"metadata": {"labels": {"tier": "front"}}})),
    )
    .await?;
    api(
        &c,
        "POST",
        &format!("/api/v1/namespaces/{NS}/configmaps"),
        Some(&json!({"metadata": {"name": "added"}, "data": {"k": "v"}})),
    )
    .await?;
    let out = env.skiff(&["backup", "b2", "--include-namespaces", NS])?;
    ensure!(code(&out) == 0, "backup b2: {}", show(&out));
    let out = env.skiff(&["diff", "b1", "--to-backup", "b2", "-o", "json"])?;
    ensure!(code(&out) == 6, "diff: {}", show(&out));
    let report = json_of(&out)?;
    let changes: BTreeSet<(String, String, Vec<String>)> = report["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            (
                o["change"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{}/{}",
                    o["resource"].as_str().unwrap_or_default(),
                    o["name"].as_str().unwrap_or_default()
                ),
                o["differences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| d["path"].as_str().unwrap_or_default().to_string())
                    .collect(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, Vec<String>)> = [
        ("changed", "configmaps/app-config", vec!["data.size"]),
        ("removed", "secrets/app-secret", vec![]),
        ("changed", "services/web", vec!["metadata.labels.tier"]),
        ("added", "configmaps/added", vec![]),
    ]
    .into_iter()
    .map(|(s, o, p)| {
        (
            s.to_string(),
            o.to_string(),
            p.into_iter().map(str::to_string).collect(),
        )
    })
    .collect();
    ensure!(changes == want, "diff found: {changes:#?}");
    let s = &report["summary"];
    ensure!(
        s["added"] == 1 && s["removed"] == 1 && s["changed"] == 2 && s["equal"].as_u64() >= Some(3),
        "summary {s}"
    );
    // Identical sides: exit 0, the table says 0 changes.
    let out = env.skiff(&["diff", "b2", "--to-backup", "b2"])?;
    ensure!(
        code(&out) == 0 && String::from_utf8_lossy(&out.stdout).contains("0 added, 0 removed, 0 changed"),
        "{}",
        show(&out)
    );
    // Mapped: b1 mapped onto the restored namespace "cold" equals… a backup of "cold".
    let out = env.skiff(&["backup", "b-cold", "--include-namespaces", "cold"])?;
    ensure!(code(&out) == 0, "backup b-cold: {}", show(&out));
    let out = env.skiff(&[
        "diff",
        "b1",
        "--to-backup",
        "b-cold",
        "--namespace-mappings",
        "vfy:cold",
        "--include-resources",
        "configmaps,secrets,services",
        "-o",
        "json",
    ])?;
    let report = json_of(&out)?;
    ensure!(
        code(&out) == 0,
        "mapped diff: {}",
        serde_json::to_string_pretty(&report["objects"])?
    );
    Ok(())
}
