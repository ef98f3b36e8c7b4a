//! Restore throughput of the real `skiff restore` binary against baselines measured in the same
//! run: raw concurrent creates, and serial `kubectl create -f` (loopback and through a 5 ms
//! latency proxy standing in for a remote cluster).
//!
//! ```text
//! cargo build --release -p skiff-cli
//! cargo run --release -p skiff-benches --bin restore -- [--sizes s,deep] [--seed N] [--concurrency 32]
//! ```
//!
//! Per size: a source bed is seeded and backed up once (`skiff backup --include-namespaces <the
//! workload's namespaces>`) into a local folder. Each measurement then gets a fresh, empty target
//! bed (so every run creates everything):
//! * loopback: raw creates (`raw_create_rate`, same concurrency as the restore) then `skiff restore`;
//! * loopback: serial `kubectl create --validate=false -f <dir>` of the items `skiff inspect --extract` wrote
//!   (server-set fields stripped, files ordered CRDs → namespaces → cluster objects → namespaced);
//! * the same two through a `FaultProxy` adding 5 ms latency per request.
//!
//! For `deep` (30k Secrets in one namespace) only the skiff restore and the raw-create probe run;
//! its wall time is printed beside Velero's published figure (52 min). Its source bed runs without
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
use serde_json::Value;
use skiff_testkit::bed::{BedOptions, TestBed};
use skiff_testkit::proxy::{FaultProxy, Faults};
use skiff_testkit::seed::{self, ProbeKind};
use skiff_testkit::workload::{self, Size};

const LATENCY: Duration = Duration::from_millis(5);
const VELERO_DEEP_MINUTES: f64 = 52.0;
const PROBE_MAX: usize = 10_000;

struct Args {
    sizes: Vec<Size>,
    seed: u64,
    concurrency: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        sizes: vec![Size::S, Size::Deep],
        seed: 42,
        concurrency: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" => args.sizes = common::parse_sizes(&it.next().context("--sizes needs a value")?)?,
            "--seed" => args.seed = it.next().context("--seed needs a value")?.parse()?,
            "--concurrency" => {
                args.concurrency = it.next().context("--concurrency needs a value")?.parse()?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: restore [--sizes s,m,deep] [--seed S] [--concurrency N]   (build `cargo build --release -p skiff-cli` first)"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    if args.sizes.is_empty() {
        bail!("--sizes is empty");
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("restore bench failed: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args = parse_args()?;
    skiff_kube::install_crypto_provider();
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
        if let Some(meta) = obj["metadata"].as_object_mut() {
            for k in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "managedFields",
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
            "[{size}] restore objects/s ÷ raw concurrent-create objects/s (concurrency {}; {:.0} vs {:.0})",
            args.concurrency,
            restore.rate(),
            raw.per_sec()
        ),
        restore.rate(),
        raw.per_sec(),
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
        return Ok(());
    }

    // 2. kubectl baseline files.
    let (kdir, files) = {
        let skiff = skiff.to_path_buf();
        let location = location.clone();
        let w = work.path().to_path_buf();
        blocking(move || prepare_kubectl_dir(&skiff, &location, &w)).await?
    };
    println!("kubectl baseline: {files} object files (events/nodes left out, server fields stripped)");

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
