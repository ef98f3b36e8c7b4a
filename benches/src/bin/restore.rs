//! Restore throughput of the real `skiff restore` binary against baselines measured in the same
//! run: raw concurrent creates of the same objects, and serial `kubectl create -f` (loopback and
//! through a 5 ms latency proxy standing in for a remote cluster).
//!
//! ```text
//! cargo build --release -p skiff-cli
//! cargo run --release -p skiff-benches --bin restore -- [--sizes s,deep] [--seed N] [--concurrency 32]
//! ```
//!
//! Per size: a source bed is seeded and backed up once (`skiff backup --include-namespaces <the
//! workload's namespaces>`) into a local folder, and the backup's items are written out as one
//! JSON file per object (`skiff inspect --extract`, metadata reset as Velero resets it, `managedFields` kept, events and nodes
//! left out, files ordered CRDs → namespaces → cluster objects → namespaced). Each measurement
//! then gets a fresh, empty target bed with a controller-manager (so every run creates
//! everything, against the same kind of cluster):
//! * loopback: `skiff restore`, then on the same bed the bed's ceiling (`raw_create_rate`: bare
//!   `ConfigMaps`, or `Secrets` for `deep`, same concurrency) — printed for reference, no goal;
//! * loopback: **the goal's baseline**, raw concurrent creates of the same objects
//!   (`raw_same_objects`): CRDs and namespaces first as untimed setup (CRDs waited for until
//!   `Established`), then every other file sent (POST) at the restore's concurrency with no client-side
//!   work and no ordering (201 and 409 `AlreadyExists` count as done, failures are reported);
//! * loopback: serial `kubectl create --validate=false -f <dir>` of the same files;
//! * through a `FaultProxy` adding 5 ms latency per request: `skiff restore` and kubectl again.
//!
//! For `deep` (30k Secrets in one namespace) the serial kubectl baselines create the first 3,000
//! files only (a serial rate is steady, and all of them would take minutes per run); the skiff
//! restores create all 30k. Its wall time is printed beside Velero's published figure (52 min). Its source bed runs without
//! the controller-manager (nothing in the workload needs a controller), which seeds faster.
//!
//! The fault proxy serves TLS with the bed's certificate: kubectl (client-go) sends no credentials
//! over plain HTTP, so the 5 ms kubectl baseline needs it. All figures are repeated in a summary
//! at the end of the run.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

#[path = "../common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::Value;
use skiff_testkit::bed::{BedOptions, TestBed};
use skiff_testkit::proxy::{FaultProxy, Faults};
use skiff_testkit::seed::{self, ProbeKind};
use skiff_testkit::workload::{self, Size};

const LATENCY: Duration = Duration::from_millis(5);
const VELERO_DEEP_MINUTES: f64 = 52.0;
const PROBE_MAX: usize = 10_000;
/// Files serial kubectl creates for the deep workload.
const KUBECTL_DEEP_FILES: usize = 3_000;

/// Restore throughput of the real `skiff restore` binary against baselines measured in the
/// same run (build `cargo build --release -p skiff-cli` first).
#[derive(Debug, Parser)]
struct Args {
    /// Workload sizes: s, m, l, deep.
    #[arg(long, value_delimiter = ',', required = true, default_values_t = [Size::S, Size::Deep])]
    sizes: Vec<Size>,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Requests in flight (skiff restore and the raw baselines).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Only start a fresh target bed behind the 5 ms latency proxy, write its kubeconfig to
    /// `DIR/kubeconfig` and wait for Ctrl-C (for profiling by hand, e.g.
    /// `SKIFF_LOG=debug skiff restore … --kubeconfig DIR/kubeconfig`).
    #[arg(long, value_name = "DIR")]
    serve_latency_target: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("restore bench failed: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args = Args::parse();
    skiff_kube::install_crypto_provider();
    if let Some(dir) = &args.serve_latency_target {
        std::fs::create_dir_all(dir)?;
        let tgt = target("rsbench-manual", Via::Latency, dir).await?;
        let kc = dir.join("kubeconfig");
        std::fs::copy(&tgt.kubeconfig, &kc)?;
        println!(
            "target bed behind the {LATENCY:?} latency proxy: --kubeconfig {} (Ctrl-C stops it)",
            kc.display()
        );
        tokio::signal::ctrl_c().await?;
        if let Some(proxy) = &tgt.proxy {
            println!("proxy stats: {:?}", proxy.stats());
        }
        return Ok(());
    }
    let skiff = common::skiff_binary()?;
    let mut summary = Vec::new();
    for &size in &args.sizes {
        println!("\n=== size {size} ===");
        one_size(&skiff, size, &args, &mut summary).await?;
    }
    println!("\n=== summary ===");
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

/// Runs a blocking child process off the async workers (the in-process fault proxy must keep
/// serving while the child talks to it).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("child process task panicked")?
}

struct RestoreRun {
    objects: u64,
    wall: Duration,
}

impl RestoreRun {
    fn rate(&self) -> f64 {
        self.objects as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

async fn skiff_restore(
    skiff: &Path,
    location: &Path,
    kubeconfig: &Path,
    name: &str,
    concurrency: usize,
) -> Result<RestoreRun> {
    let skiff = skiff.to_path_buf();
    let loc = location.to_string_lossy().into_owned();
    let kc = kubeconfig.to_string_lossy().into_owned();
    let name = name.to_owned();
    let conc = concurrency.to_string();
    let run = blocking(move || {
        common::run_timed(
            &skiff,
            &[
                "restore",
                &name,
                "--from-backup",
                "bench",
                "--location",
                &loc,
                "--kubeconfig",
                &kc,
                "--concurrency",
                &conc,
                "-o",
                "json",
                "--no-progress",
            ],
            &[],
        )
    })
    .await?;
    // 0 = completed, 3 = some items failed (reported below); anything else is a failed run.
    if !matches!(run.status.code(), Some(0 | 3)) {
        bail!("skiff restore exited with {}: {}", run.status, run.stderr.trim());
    }
    let rep: Value = serde_json::from_slice(&run.stdout).context("parsing skiff restore -o json")?;
    let counts = rep["counts"].as_object().cloned().unwrap_or_default();
    let done: u64 = counts
        .iter()
        .filter(|(k, _)| k.as_str() != "skipped")
        .map(|(_, v)| v.as_u64().unwrap_or_default())
        .sum();
    let shown: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "  skiff restore: phase {}, {}, wall {:.2}s = {:.0} objects/s (skipped not counted), peak RSS {}",
        rep["phase"].as_str().unwrap_or("?"),
        shown.join(" "),
        run.wall.as_secs_f64(),
        done as f64 / run.wall.as_secs_f64(),
        run.max_rss_kib
            .map_or_else(|| "n/a".to_owned(), |k| format!("{:.1} MiB", common::mib(k)))
    );
    let failures: Vec<&Value> = rep["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| matches!(i["outcome"].as_str(), Some("failed" | "conflict")))
        .take(3)
        .collect();
    for f in failures {
        println!("    e.g. {} {}: {}", f["outcome"], f["item"], f["message"]);
    }
    Ok(RestoreRun {
        objects: done,
        wall: run.wall,
    })
}

/// Order prefix so `kubectl create -f <dir>` (lexical file order) creates dependencies first.
fn order(obj: &Value) -> u8 {
    match obj["kind"].as_str().unwrap_or_default() {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => 9,
        "ServiceAccount" | "Secret" | "ConfigMap" | "PersistentVolumeClaim" => 4,
        _ if obj["metadata"]["namespace"].is_string() => 5,
        _ => 2,
    }
}

/// Copies the first `n` files of `dir` (in name order: dependencies first) into `to`.
fn first_files(dir: &Path, to: &Path, n: usize) -> Result<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    std::fs::create_dir_all(to)?;
    for p in names.iter().take(n) {
        if let Some(name) = p.file_name() {
            std::fs::copy(p, to.join(name)).with_context(|| format!("copying {}", p.display()))?;
        }
    }
    Ok(to.to_path_buf())
}

/// Extracts the backup, strips server-set fields and writes one ordered JSON file per object.
fn prepare_kubectl_dir(skiff: &Path, location: &Path, work: &Path) -> Result<(PathBuf, usize)> {
    let extract = work.join("extract");
    common::run_checked(
        std::process::Command::new(skiff)
            .args(["inspect", "bench", "--location"])
            .arg(location)
            .arg("--extract")
            .arg(&extract)
            .args(["-o", "json", "--no-progress"]),
        "skiff inspect --extract",
    )?;
    let mut files = Vec::new();
    let mut stack = vec![extract];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    let out = work.join("kubectl");
    std::fs::create_dir_all(&out)?;
    let mut n = 0;
    for (i, f) in files.iter().enumerate() {
        let mut obj: Value =
            serde_json::from_slice(&std::fs::read(f)?).with_context(|| format!("parsing {}", f.display()))?;
        if matches!(obj["kind"].as_str(), Some("Event" | "Node")) {
            continue;
        }
        // The fields Velero's restore resets (§5.4 of the format spec). `managedFields` stay:
        // Velero — and so skiff — send them with the create, and the apiserver's work for an
        // object depends on them, so the baselines send the same bodies.
        if let Some(meta) = obj["metadata"].as_object_mut() {
            for k in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "selfLink",
                "generation",
                "ownerReferences",
            ] {
                meta.remove(k);
            }
        }
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
        std::fs::write(
            out.join(format!("{}-{i:07}.json", order(&obj))),
            serde_json::to_vec(&obj)?,
        )?;
        n += 1;
    }
    Ok((out, n))
}

async fn kubectl_serial(dir: &Path, kubeconfig: &Path, files: usize) -> Result<RestoreRun> {
    let dir = dir.to_path_buf();
    let kc = kubeconfig.to_path_buf();
    let (out, wall) = blocking(move || {
        let t = Instant::now();
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .arg("create")
            // No client-side OpenAPI validation (one less download; it also fails through the proxy).
            .arg("--validate=false")
            .arg("-f")
            .arg(&dir)
            .output()
            .context("could not start kubectl")?;
        Ok((out, t.elapsed()))
    })
    .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let created = stdout.lines().filter(|l| l.ends_with(" created")).count();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error")).collect();
    println!(
        "  kubectl create -f (serial, {files} files): {created} created, {} errors, wall {:.2}s = {:.0} requests/s",
        errors.len(),
        wall.as_secs_f64(),
        files as f64 / wall.as_secs_f64()
    );
    if let Some(e) = errors.first() {
        println!("    e.g. {}", e.chars().take(200).collect::<String>());
    }
    if created == 0 {
        bail!(
            "kubectl created nothing: {}",
            stderr.chars().take(1000).collect::<String>()
        );
    }
    Ok(RestoreRun {
        objects: files as u64,
        wall,
    })
}

/// One object file of the kubectl directory, ready to POST.
struct ObjectFile {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    body: Vec<u8>,
}

/// What [`raw_same_objects`] did.
struct RawSame {
    /// Objects sent in the timed part.
    timed: usize,
    created: usize,
    existed: usize,
    failed: usize,
    first_failure: Option<String>,
    /// CRDs and namespaces created (and CRDs waited for) before the clock starts.
    setup: usize,
    setup_wall: Duration,
    wall: Duration,
}

impl RawSame {
    fn rate(&self) -> f64 {
        (self.created + self.existed) as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Reads the files `prepare_kubectl_dir` wrote (the backup's objects, metadata reset as Velero resets it).
fn read_object_files(dir: &Path) -> Result<Vec<ObjectFile>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let body = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            let v: Value =
                serde_json::from_slice(&body).with_context(|| format!("parsing {}", p.display()))?;
            let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
            Ok(ObjectFile {
                api_version: s("/apiVersion").unwrap_or_default(),
                kind: s("/kind").unwrap_or_default(),
                namespace: s("/metadata/namespace"),
                name: s("/metadata/name").unwrap_or_default(),
                body,
            })
        })
        .collect()
}

/// How one POST ended.
enum Posted {
    Created,
    Existed,
    Failed(String),
}

async fn post_object(client: &kube::Client, path: String, body: Vec<u8>) -> Posted {
    let req = match http::Request::post(&path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
    {
        Ok(r) => r,
        Err(e) => return Posted::Failed(format!("{path}: {e}")),
    };
    match client.request_text(req).await {
        Ok(_) => Posted::Created,
        Err(kube::Error::Api(status)) if status.code == 409 => Posted::Existed,
        Err(e) => Posted::Failed(format!("POST {path}: {e}")),
    }
}

/// POSTs every `(path, body)` with exactly `concurrency` requests in flight (workers taking the
/// next object in order as soon as one finishes).
async fn post_all(
    client: &kube::Client,
    work: Vec<(String, Vec<u8>)>,
    concurrency: usize,
) -> Result<Vec<Posted>> {
    let queue = std::sync::Arc::new(std::sync::Mutex::new(work.into_iter()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let client = client.clone();
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = queue.lock().map_or(None, |mut q| q.next());
                let Some((path, body)) = next else { break };
                done.push(post_object(&client, path, body).await);
            }
            done
        });
    }
    let mut out = Vec::new();
    while let Some(done) = workers.join_next().await {
        out.extend(done.context("raw baseline worker panicked")?);
    }
    Ok(out)
}

/// `(apiVersion, kind)` → `(plural, namespaced)` for every served version, from discovery.
async fn kind_map(
    client: &kube::Client,
) -> Result<std::collections::HashMap<(String, String), (String, bool)>> {
    let cluster = skiff_kube::Cluster::from_client(client.clone(), skiff_kube::LimiterConfig::default());
    let surface = cluster.discover(true).await.context("discovery")?;
    Ok(surface
        .resources
        .iter()
        .map(|r| {
            (
                (r.api_version(), r.kind.clone()),
                (r.resource.clone(), r.namespaced),
            )
        })
        .collect())
}

/// The honest baseline of the restore: the same objects (the stripped files of
/// `prepare_kubectl_dir`) created on a fresh bed at the same concurrency, with no client-side work
/// and no ordering beyond CRDs and namespaces first (untimed setup, CRDs waited for until
/// `Established`). Everything else is sent at once, `concurrency` in flight, in file order;
/// 201 and 409 `AlreadyExists` both count as done (a controller may have created the object first).
async fn raw_same_objects(bed: &TestBed, dir: &Path, concurrency: usize) -> Result<RawSame> {
    let files = read_object_files(dir)?;
    let client = bed.client().await?;
    let (setup, timed): (Vec<ObjectFile>, Vec<ObjectFile>) = files
        .into_iter()
        .partition(|f| matches!(f.kind.as_str(), "CustomResourceDefinition" | "Namespace"));
    let path_of = |map: &std::collections::HashMap<(String, String), (String, bool)>, f: &ObjectFile| {
        let (plural, namespaced) = map.get(&(f.api_version.clone(), f.kind.clone()))?;
        let prefix = if f.api_version.contains('/') {
            format!("/apis/{}", f.api_version)
        } else {
            format!("/api/{}", f.api_version)
        };
        Some(match (&f.namespace, namespaced) {
            (Some(ns), true) => format!("{prefix}/namespaces/{ns}/{plural}"),
            _ => format!("{prefix}/{plural}"),
        })
    };

    // Untimed setup: CRDs and namespaces, then wait for the CRDs.
    let setup_begin = Instant::now();
    let map = kind_map(&client).await?;
    let mut setup_failures = Vec::new();
    let mut setup_work = Vec::new();
    for f in &setup {
        match path_of(&map, f) {
            Some(p) => setup_work.push((p, f.body.clone())),
            None => setup_failures.push(format!("{} {}: not served", f.api_version, f.kind)),
        }
    }
    for o in post_all(&client, setup_work, concurrency).await? {
        if let Posted::Failed(e) = o {
            setup_failures.push(e);
        }
    }
    if let Some(e) = setup_failures.first() {
        bail!("raw baseline setup: {} failures, e.g. {e}", setup_failures.len());
    }
    for f in setup.iter().filter(|f| f.kind == "CustomResourceDefinition") {
        seed::wait_crd_established(&client, &f.name, Duration::from_secs(60)).await?;
    }
    // Discovery again, until it serves every kind of the files (new CRDs show up shortly after
    // they are Established).
    let mut map = kind_map(&client).await?;
    for _ in 0..50 {
        if timed.iter().all(|f| path_of(&map, f).is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        map = kind_map(&client).await?;
    }
    let setup_wall = setup_begin.elapsed();

    let mut unmapped = 0;
    let work: Vec<(String, Vec<u8>)> = timed
        .iter()
        .filter_map(|f| {
            let p = path_of(&map, f);
            if p.is_none() {
                unmapped += 1;
            }
            p.map(|p| (p, f.body.clone()))
        })
        .collect();
    let begin = Instant::now();
    let outcomes = post_all(&client, work, concurrency).await?;
    let wall = begin.elapsed();
    let mut out = RawSame {
        timed: timed.len(),
        created: 0,
        existed: 0,
        failed: unmapped,
        first_failure: (unmapped > 0).then(|| format!("{unmapped} objects of kinds the bed does not serve")),
        setup: setup.len(),
        setup_wall,
        wall,
    };
    for o in outcomes {
        match o {
            Posted::Created => out.created += 1,
            Posted::Existed => out.existed += 1,
            Posted::Failed(e) => {
                out.failed += 1;
                out.first_failure.get_or_insert(e);
            }
        }
    }
    Ok(out)
}

/// What a measurement talks to: the bed directly or through a 5 ms latency proxy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Loopback,
    Latency,
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Via::Loopback => "loopback",
            Via::Latency => "5 ms latency proxy",
        })
    }
}

/// A fresh empty target bed, optionally behind a latency proxy; the kubeconfig to use.
struct Target {
    bed: TestBed,
    proxy: Option<FaultProxy>,
    kubeconfig: PathBuf,
}

async fn target(name: &str, via: Via, work: &Path) -> Result<Target> {
    let t = Instant::now();
    // A bed started right after another was torn down occasionally loses a port race: retry.
    let mut attempt = 1;
    let bed = loop {
        match TestBed::start_named(name).await {
            Ok(bed) => break bed,
            Err(e) if attempt < 3 => {
                let msg: String = e.to_string().chars().take(300).collect();
                println!("target bed {name}: start attempt {attempt} failed ({msg}…); retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("starting target bed {name}")),
        }
    };
    let (proxy, kubeconfig) = if via == Via::Latency {
        let proxy = FaultProxy::for_bed(&bed).await?;
        proxy.set_faults(Faults::none().latency(LATENCY));
        let kc = work.join(format!("{name}-proxy.kubeconfig"));
        proxy.write_kubeconfig(&bed, &kc)?;
        (Some(proxy), kc)
    } else {
        let kc = bed.kubeconfig_path().to_path_buf();
        (None, kc)
    };
    println!(
        "target bed {name} up in {:.1}s ({via})",
        t.elapsed().as_secs_f64()
    );
    Ok(Target {
        bed,
        proxy,
        kubeconfig,
    })
}

async fn one_size(skiff: &Path, size: Size, args: &Args, summary: &mut Vec<String>) -> Result<()> {
    let work = tempfile::tempdir()?;
    let location = work.path().join("bk");
    let namespaces = workload::generate(size, args.seed).namespaces();

    // Source: seed and back up once.
    let src = TestBed::start_with(BedOptions {
        // Deep is Secrets only: no controller needed, and the bed seeds faster without one.
        controller_manager: size != Size::Deep,
        ..BedOptions::named(format!("rsbench-src-{size}"))
    })
    .await
    .context("starting the source bed")?;
    let client = src.client().await?;
    let rep = seed::seed(&client, size, args.seed).await?;
    println!(
        "seeded {size}: {} objects in {:.1}s",
        rep.objects,
        rep.elapsed.as_secs_f64()
    );
    let loc = location.to_string_lossy().into_owned();
    let kc = src.kubeconfig_path().to_string_lossy().into_owned();
    let ns = namespaces.join(",");
    let out = common::run_checked(
        std::process::Command::new(skiff).args([
            "backup",
            "bench",
            "--location",
            &loc,
            "--kubeconfig",
            &kc,
            "--include-namespaces",
            &ns,
            "-o",
            "json",
            "--no-progress",
        ]),
        "skiff backup",
    )?;
    let backup_doc: Value = serde_json::from_slice(&out.stdout)?;
    println!(
        "backup: {} items ({} namespaces) in {}",
        backup_doc["items"],
        namespaces.len(),
        location.display()
    );
    drop(client);
    drop(src);

    let probe_kind = if size == Size::Deep {
        ProbeKind::Secret
    } else {
        ProbeKind::ConfigMap
    };
    let deep = size == Size::Deep;
    let tag = |s: &str| format!("rsbench-{size}-{s}");

    // 1. Loopback: raw creates, then skiff restore, on one fresh bed.
    let first = target(&tag("a"), Via::Loopback, work.path()).await?;
    let restore = skiff_restore(
        skiff,
        &location,
        &first.kubeconfig,
        "r-loopback",
        args.concurrency,
    )
    .await?;
    let probe_n = usize::try_from(restore.objects)
        .unwrap_or(PROBE_MAX)
        .clamp(500, PROBE_MAX);
    let probe_client = first.bed.client().await?;
    let raw = seed::raw_create_rate(&probe_client, probe_kind, probe_n, args.concurrency).await?;
    println!(
        "  raw concurrent creates ({probe_kind:?}, {probe_n}, concurrency {}): {:.2}s = {:.0} objects/s",
        args.concurrency,
        raw.elapsed.as_secs_f64(),
        raw.per_sec()
    );
    drop(probe_client);
    drop(first);
    let line = common::ratio_line(
        &format!(
            "[{size}] restore objects/s ÷ bed ceiling, raw concurrent {probe_kind:?} creates (concurrency {}; {:.0} vs {:.0})",
            args.concurrency,
            restore.rate(),
            raw.per_sec()
        ),
        restore.rate(),
        raw.per_sec(),
        None,
    );
    println!("{line}");
    summary.push(line);

    // 2. The backup's objects as files (the raw baseline and kubectl POST these).
    let (kdir, files) = {
        let skiff = skiff.to_path_buf();
        let location = location.clone();
        let w = work.path().to_path_buf();
        blocking(move || prepare_kubectl_dir(&skiff, &location, &w)).await?
    };
    println!(
        "object files: {files} (events/nodes left out, metadata reset as Velero does, managedFields kept)"
    );

    // 3. Raw concurrent creates of the same objects on a fresh bed: the goal's baseline.
    let tgt = target(&tag("r"), Via::Loopback, work.path()).await?;
    let same = raw_same_objects(&tgt.bed, &kdir, args.concurrency).await?;
    drop(tgt);
    println!(
        "  raw concurrent creates of the same objects (concurrency {}): {} timed: {} created, {} already existed, {} failed, wall {:.2}s = {:.0} objects/s (untimed setup: {} CRDs/namespaces in {:.2}s)",
        args.concurrency,
        same.timed,
        same.created,
        same.existed,
        same.failed,
        same.wall.as_secs_f64(),
        same.rate(),
        same.setup,
        same.setup_wall.as_secs_f64()
    );
    if let Some(e) = &same.first_failure {
        println!("    e.g. {}", e.chars().take(300).collect::<String>());
    }
    let line = common::ratio_line(
        &format!(
            "[{size}] restore objects/s ÷ raw concurrent creates of the same objects (concurrency {}; {:.0} vs {:.0}; raw failures {})",
            args.concurrency,
            restore.rate(),
            same.rate(),
            same.failed
        ),
        restore.rate(),
        same.rate(),
        Some((">=", 0.7)),
    );
    println!("{line}");
    summary.push(line);
    if deep {
        let minutes = restore.wall.as_secs_f64() / 60.0;
        let line = format!(
            "[deep] skiff restore wall time ({} objects): {:.1}s ({minutes:.2} min) — Velero's published figure for this case: {VELERO_DEEP_MINUTES} min ({:.0}× faster)",
            restore.objects,
            restore.wall.as_secs_f64(),
            VELERO_DEEP_MINUTES / minutes.max(1e-9)
        );
        println!("{line}");
        summary.push(line);
    }

    // 4. Serial kubectl, loopback and through the latency proxy. For deep, kubectl creates the
    // first files only (a serial rate is steady; all 30k would take about 8 minutes per run).
    let (kdir, files) = if deep {
        let n = files.min(KUBECTL_DEEP_FILES);
        let w = work.path().to_path_buf();
        let sub = blocking(move || first_files(&kdir, &w.join("kubectl-subset"), n)).await?;
        println!("kubectl baseline for deep: the first {n} of {files} files");
        (sub, n)
    } else {
        (kdir, files)
    };
    let mut ratios = Vec::new();
    for via in [Via::Loopback, Via::Latency] {
        println!("-- {via}");
        let skiff_run = if via == Via::Loopback {
            restore.rate()
        } else {
            let tgt = target(&tag("b"), via, work.path()).await?;
            let run = skiff_restore(skiff, &location, &tgt.kubeconfig, "r-latency", args.concurrency).await?;
            drop(tgt);
            run.rate()
        };
        let tgt = target(&tag("k"), via, work.path()).await?;
        let kube_run = match kubectl_serial(&kdir, &tgt.kubeconfig, files).await {
            Ok(run) => run,
            Err(e) => {
                let line = format!("[{size}] kubectl baseline ({via}) FAILED, ratio not available: {e:#}");
                println!("  {line}");
                summary.push(line.chars().take(400).collect());
                continue;
            }
        };
        if let Some(proxy) = &tgt.proxy {
            println!("  (proxy stats: {:?})", proxy.stats());
        }
        drop(tgt);
        ratios.push((via, skiff_run, kube_run.rate()));
    }
    for (via, skiff_rate, kubectl_rate) in ratios {
        let goal = (via == Via::Latency).then_some((">=", 10.0));
        let line = common::ratio_line(
            &format!(
                "[{size}] restore objects/s ÷ serial kubectl create objects/s ({via}; {skiff_rate:.0} vs {kubectl_rate:.0})"
            ),
            skiff_rate,
            kubectl_rate,
            goal,
        );
        println!("{line}");
        summary.push(line);
    }
    Ok(())
}
