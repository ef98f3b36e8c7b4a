//! Kit tests against the real bed (kube-apiserver + controller-manager + etcd on loopback).
//! They need the binaries from `scripts/provision-testbed.sh` and fail loudly without them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use http::Request;
use serde_json::{Value, json};
use skiff_testkit::bed::{self, TestBed};
use skiff_testkit::proxy::{FaultProxy, Faults};
use skiff_testkit::seed;
use skiff_testkit::workload::{self, Size};

async fn get(client: &kube::Client, path: &str) -> kube::Result<Value> {
    client
        .request::<Value>(Request::get(path).body(Vec::new()).unwrap())
        .await
}

async fn post(client: &kube::Client, path: &str, body: &Value) -> kube::Result<Value> {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .unwrap();
    client.request::<Value>(req).await
}

async fn eventually<F, Fut, T>(what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let begin = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if begin.elapsed() > Duration::from_secs(90) {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bed_comes_up_and_answers_discovery() -> Result<()> {
    let bed = TestBed::start_named("discovery").await?;
    let client = bed.client().await?;
    assert_eq!(client.apiserver_version().await?.git_version, "v1.20.2");

    let discovery = kube::discovery::Discovery::new(client.clone()).run().await?;
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_owned()).collect();
    for want in ["", "apps", "rbac.authorization.k8s.io", "apiextensions.k8s.io"] {
        assert!(
            groups.iter().any(|g| g == want),
            "group {want:?} missing from {groups:?}"
        );
    }

    // The kubeconfig on disk works for both contexts; RBAC applies to the ordinary user.
    let admin = bed::client_from_kubeconfig(bed.kubeconfig_path(), Some(bed::ADMIN_CONTEXT)).await?;
    get(&admin, "/api/v1/namespaces/kube-system/secrets").await?;
    let user = bed.user_client().await?;
    let denied = get(&user, "/api/v1/namespaces/kube-system/secrets")
        .await
        .unwrap_err();
    assert_eq!(status_code(&denied), Some(403), "{denied}");
    let kubeconfig = std::fs::read_to_string(bed.kubeconfig_path())?;
    assert!(kubeconfig.contains(bed.server_url()));
    assert!(bed.server_url().starts_with("https://127.0.0.1:"));
    Ok(())
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_beds_at_once_are_independent_and_teardown_leaves_no_process() -> Result<()> {
    let (source, target) = tokio::try_join!(TestBed::start_named("source"), TestBed::start_named("target"))?;
    assert_ne!(source.server_url(), target.server_url());
    let (sc, tc) = (source.client().await?, target.client().await?);
    post(
        &sc,
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "only-in-source"}}),
    )
    .await?;
    get(&sc, "/api/v1/namespaces/only-in-source").await?;
    let missing = get(&tc, "/api/v1/namespaces/only-in-source").await.unwrap_err();
    assert_eq!(status_code(&missing), Some(404), "{missing}");

    let pids: Vec<u32> = source.pids().into_iter().chain(target.pids()).collect();
    assert_eq!(pids.len(), 6, "etcd, apiserver and controller-manager per bed");
    assert!(pids.iter().all(|&p| alive(p)));
    let dirs = [source.dir().to_path_buf(), target.dir().to_path_buf()];
    drop(source);
    drop(target);
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived teardown");
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} survived teardown", dir.display());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_manager_runs_deployments_service_accounts_and_gc() -> Result<()> {
    let bed = TestBed::start_named("kcm").await?;
    let client = bed.client().await?;
    post(
        &client,
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
    )
    .await?;
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
        }
    });
    let created = post(&client, "/apis/apps/v1/namespaces/apps/deployments", &deploy).await?;
    let uid = created["metadata"]["uid"]
        .as_str()
        .context("deployment uid")?
        .to_owned();

    let rs_name = eventually("a ReplicaSet owned by the Deployment", || {
        let client = client.clone();
        let uid = uid.clone();
        async move {
            let list = get(&client, "/apis/apps/v1/namespaces/apps/replicasets")
                .await
                .ok()?;
            list["items"].as_array()?.iter().find_map(|rs| {
                let owned = rs["metadata"]["ownerReferences"]
                    .as_array()?
                    .iter()
                    .any(|o| o["uid"] == uid.as_str());
                owned
                    .then(|| rs["metadata"]["name"].as_str().map(str::to_owned))
                    .flatten()
            })
        }
    })
    .await?;
    eventually("two Pending pods", || {
        let client = client.clone();
        async move {
            let list = get(&client, "/api/v1/namespaces/apps/pods").await.ok()?;
            (list["items"].as_array()?.len() == 2).then_some(())
        }
    })
    .await?;
    eventually("the namespace's default ServiceAccount token Secret", || {
        let client = client.clone();
        async move {
            let list = get(&client, "/api/v1/namespaces/apps/secrets").await.ok()?;
            list["items"]
                .as_array()?
                .iter()
                .any(|s| {
                    s["type"] == "kubernetes.io/service-account-token" && s["data"]["ca.crt"].is_string()
                })
                .then_some(())
        }
    })
    .await?;

    // Garbage collection: deleting the Deployment (background) removes its ReplicaSet.
    let req = Request::delete("/apis/apps/v1/namespaces/apps/deployments/web").body(Vec::new())?;
    client.request_text(req).await?;
    eventually("the ReplicaSet to be garbage-collected", || {
        let client = client.clone();
        let path = format!("/apis/apps/v1/namespaces/apps/replicasets/{rs_name}");
        async move {
            get(&client, &path)
                .await
                .err()
                .filter(|e| status_code(e) == Some(404))
                .map(drop)
        }
    })
    .await?;
    Ok(())
}

/// `(kind, namespace, name)` of an object.
fn key(obj: &Value) -> (String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&obj["kind"]),
        s(&obj["metadata"]["namespace"]),
        s(&obj["metadata"]["name"]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeder_is_deterministic_and_lands_what_the_generator_made() -> Result<()> {
    let a = workload::generate(Size::S, 7);
    let b = workload::generate(Size::S, 7);
    assert_eq!(a, b, "same seed, same objects");
    let other = workload::generate(Size::S, 8);
    assert_ne!(a, other, "another seed, other objects");

    let bed = TestBed::start_named("seed").await?;
    let client = bed.client().await?;
    let report = seed::seed(&client, Size::S, 7).await?;
    assert_eq!(report.objects, a.objects.len());
    assert_eq!(report.total_created(), a.objects.len(), "{report:?}");
    assert_eq!(report.existed, 0);

    // Every generated object is in the cluster under its name, with the same content where the
    // server does not default anything (ConfigMap and Secret data, labels).
    for obj in &a.objects {
        let path = seed::object_path(obj)?;
        let live = get(&client, &path).await.with_context(|| format!("get {path}"))?;
        assert_eq!(key(&live), key(obj));
        if matches!(obj["kind"].as_str(), Some("ConfigMap" | "Secret")) {
            assert_eq!(live["data"], obj["data"], "{path}");
        }
        if let Some(labels) = obj["metadata"]["labels"].as_object() {
            for (k, v) in labels {
                assert_eq!(&live["metadata"]["labels"][k], v, "{path} label {k}");
            }
        }
    }

    // Seeding the same workload again creates nothing new.
    let again = seed::seed(&client, Size::S, 7).await?;
    assert_eq!(again.total_created(), 0);
    assert_eq!(again.existed, a.objects.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_proxy_injects_what_it_is_told() -> Result<()> {
    let bed = TestBed::start_named("proxy").await?;
    let proxy = FaultProxy::for_bed(&bed).await?;
    let client = proxy.client(&bed).await?;
    let send = |path: &'static str| {
        let client = client.clone();
        async move {
            client
                .send(Request::get(path).body(kube::client::Body::empty()).unwrap())
                .await
        }
    };

    // No faults: requests pass through, Authorization included (RBAC-protected path works).
    let ok = send("/api/v1/namespaces/kube-system/secrets").await?;
    assert_eq!(ok.status(), 200);
    assert_eq!(proxy.stats().forwarded, 1);

    // 429 with Retry-After on every 2nd request.
    proxy.set_faults(Faults::none().throttle_every(2, 7));
    assert_eq!(send("/api/v1/namespaces").await?.status(), 200);
    let throttled = send("/api/v1/namespaces").await?;
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "7");
    // kube surfaces it as a Status error (its built-in retry is off for the proxy client).
    proxy.set_faults(Faults::none().throttle_every(1, 1));
    let err = get(&client, "/api/v1/namespaces").await.unwrap_err();
    assert_eq!(status_code(&err), Some(429), "{err}");

    // 5xx.
    proxy.set_faults(Faults::none().error_every(1, 503));
    assert_eq!(send("/api/v1/namespaces").await?.status(), 503);
    proxy.set_faults(Faults::none().error_every(3, 500));
    let statuses = [
        send("/api/v1/namespaces").await?.status(),
        send("/api/v1/namespaces").await?.status(),
        send("/api/v1/namespaces").await?.status(),
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 200, 500]);

    // Dropped connections: the client sees a transport error, not an answer.
    proxy.set_faults(Faults::none().drop_every(1));
    let dropped = send("/api/v1/namespaces").await;
    assert!(
        dropped.is_err(),
        "expected a dropped connection, got {:?}",
        dropped.map(|r| r.status())
    );

    // Latency (a lower bound only: a sleep never ends early).
    proxy.set_faults(Faults::none().latency(Duration::from_millis(200)));
    let begin = Instant::now();
    assert_eq!(send("/api/v1/namespaces").await?.status(), 200);
    assert!(begin.elapsed() >= Duration::from_millis(200));

    // Path filter: only matching requests are disturbed.
    proxy.set_faults(Faults::none().error_every(1, 503).only_paths("/apis/"));
    assert_eq!(send("/api/v1/namespaces").await?.status(), 200);
    assert_eq!(send("/apis/apps/v1/deployments").await?.status(), 503);

    let stats = proxy.stats();
    assert_eq!(stats.throttled, 2);
    assert_eq!(stats.errors, 3);
    assert_eq!(stats.dropped, 1);
    assert_eq!(stats.delayed, 1);
    assert_eq!(stats.requests, 12);
    assert_eq!(stats.forwarded, 6);

    // With no faults again, a normal client through the proxy works after the drop.
    proxy.set_faults(Faults::none());
    let ns = get(&client, "/api/v1/namespaces/default").await?;
    assert_eq!(ns["metadata"]["name"], "default");
    Ok(())
}

#[test]
fn missing_binaries_fail_loudly_with_the_provisioning_command() {
    let err = bed::Binaries::locate_in(Path::new("/nonexistent/skiff-k8s-bin")).unwrap_err();
    assert!(matches!(err, bed::Error::BinariesMissing { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("scripts/provision-testbed.sh"), "{text}");
    assert!(
        text.contains("/nonexistent/skiff-k8s-bin/kube-apiserver"),
        "{text}"
    );
}

/// kubectl (on PATH) can discover, `get` and `create` through the fault proxy, plain and with
/// latency. kubectl is part of the provisioned bed, so its absence fails the test (a skip that
/// passes would hide that nothing ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_through_the_fault_proxy() -> Result<()> {
    ensure!(
        std::process::Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .is_ok(),
        "kubectl is not on PATH: run scripts/provision-testbed.sh (Debian package kubernetes-client)"
    );
    let bed = TestBed::start_named("proxy-kubectl").await?;
    let proxy = FaultProxy::for_bed(&bed).await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("proxy.kubeconfig");
    proxy.write_kubeconfig(&bed, &kubeconfig)?;
    // kubectl keeps a discovery cache under $HOME/.kube/cache: a private HOME keeps each run honest.
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home)?;
    let kubectl = move |args: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        let home = home.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("kubectl")
                .env("HOME", &home)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(&args)
                .output()
        })
    };
    let run = |args: &[&str]| kubectl(args.iter().map(|s| (*s).to_owned()).collect());
    let check = |what: &str, out: std::process::Output| -> Result<String> {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "kubectl {what} through the proxy failed ({}): {}{stdout}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    };

    let listed = check(
        "get namespaces",
        run(&["get", "namespaces", "-o", "name"]).await??,
    )?;
    assert!(listed.contains("namespace/default"), "{listed}");
    // Discovery-driven resource names (short names, groups) resolve through the proxy.
    check("get deploy", run(&["get", "deploy", "-A"]).await??)?;

    let manifest = dir.path().join("cm.json");
    std::fs::write(
        &manifest,
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "through-proxy", "namespace": "default"}, "data": {"k": "v"}}))?,
    )?;
    let manifest = manifest.to_string_lossy().into_owned();
    let created = check("create -f", run(&["create", "-f", &manifest]).await??)?;
    assert!(created.contains("created"), "{created}");

    // With latency too (the restore bench's remote-cluster stand-in).
    proxy.set_faults(Faults::none().latency(Duration::from_millis(5)));
    let got = check(
        "get configmap",
        run(&["get", "configmap", "through-proxy", "-o", "jsonpath={.data.k}"]).await??,
    )?;
    assert_eq!(got, "v");
    assert!(proxy.stats().forwarded > 0);
    Ok(())
}
