//! Backup throughput and memory of the real `skiff backup` binary against the true LIST ceiling
//! of the same cluster, measured in the same run.
//!
//! ```text
//! cargo build --release -p skiff-cli
//! cargo run --release -p skiff-benches --bin backup -- [--sizes s,m[,l]] [--seed N]
//! ```
//!
//! For each size a fresh test bed is started without the controller-manager (so the cluster holds
//! exactly the seeded objects: S ≈ 1k, M ≈ 10k, L ≈ 100k, and nothing changes under the
//! measurements) and seeded. Then:
//! * **the ceiling** (the goal's baseline): a lean client that only pages and parses
//!   ([`common::LeanLister`]) — one TLS connection (HTTP/1.1 keep-alive), `limit=500`, every
//!   namespaced type the backup takes (resolved by skiff's own selection, so the types are the
//!   same), one after another, cluster-wide, every body parsed by `serde_json` into `IgnoredAny`
//!   items. Three passes (a warm-up, one before the backups, one after); the fastest is the
//!   ceiling, so the ratio can only move by making skiff faster;
//! * the old baseline, for comparison with earlier figures: `raw_list_rate` (kube client,
//!   bodies parsed into `serde_json::Value`, every listable type);
//! * `skiff backup` of the whole cluster to a local folder (release binary, under
//!   `/usr/bin/time -v` for its peak RSS), `--runs` times;
//! * `kubectl get <every listed type> -A -o json --chunk-size=500 | gzip` (unless `--no-kubectl`).
//!
//! It prints backup objects/s ÷ ceiling objects/s (goal ≥ 0.8 from M up), ÷ the old baseline, ÷
//! kubectl, the wall times, and peak RSS at the largest size ÷ S (goal ≤ 1.5) with the absolute
//! MiB (goal < 128 MiB). Default sizes are S and M (about 3 minutes); add `l` for L: seeding L
//! takes several minutes on 2 cores and is given 25; past that the L run is dropped and M stands
//! in for the RSS ratio (said so in the output).
//!
//! `--kubeconfig` measures an already running, already seeded cluster instead (for profiling:
//! `skiff-testbed up --no-controller-manager`, `skiff-testbed seed --size m --seed 42`); `--size`
//! then only labels the figures. `--skiff-arg` passes extra arguments to `skiff backup`.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

#[path = "../common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_testkit::bed::{BedOptions, TestBed};
use skiff_testkit::seed;
use skiff_testkit::workload::Size;

const L_SEED_LIMIT: Duration = Duration::from_secs(25 * 60);
/// Page size of the ceiling's LISTs (and of the old baseline and kubectl).
const CEILING_PAGE: u32 = 500;

/// Backup throughput and memory of `skiff backup` against the true LIST ceiling (build
/// `cargo build --release -p skiff-cli` first).
#[derive(Debug, Parser)]
struct Args {
    /// Workload sizes: s, m, l.
    #[arg(long, value_delimiter = ',', default_values_t = [Size::S, Size::M])]
    sizes: Vec<Size>,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Measure this already running and seeded cluster instead of starting and seeding beds
    /// (the first of `--sizes` labels the figures).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// `skiff backup` runs per size (each reported; the summary keeps the fastest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Extra argument for `skiff backup` (repeatable), e.g. `--skiff-arg=--compression-level=1`.
    #[arg(long = "skiff-arg", value_name = "ARG", allow_hyphen_values = true)]
    extra: Vec<String>,
    /// Skip the `kubectl get | gzip` baseline.
    #[arg(long)]
    no_kubectl: bool,
}

struct SizeResult {
    size: Size,
    objects: u64,
    wall: Duration,
    rate: f64,
    ceiling: f64,
    old_baseline: f64,
    rss_kib: Option<u64>,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("backup bench failed: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args = Args::parse();
    skiff_kube::install_crypto_provider();
    let skiff = common::skiff_binary()?;
    let mut results: Vec<SizeResult> = Vec::new();
    if let Some(kubeconfig) = &args.kubeconfig {
        let size = args.sizes.first().copied().unwrap_or(Size::M);
        println!(
            "\n=== size {size} (existing cluster {}) ===",
            kubeconfig.display()
        );
        let pids = bed_pids_beside(kubeconfig);
        results.push(measure(&skiff, size, kubeconfig, &pids, &args).await?);
    } else {
        for &size in &args.sizes {
            println!("\n=== size {size} ===");
            match one_size(&skiff, size, &args).await? {
                Some(r) => results.push(r),
                None => println!("size {size}: skipped (see above)"),
            }
        }
    }

    println!("\n=== summary ===");
    println!(
        "{:>4}  {:>7}  {:>8}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:>9}",
        "size", "objects", "wall", "backup/s", "ceiling/s", "old base/s", "÷ceiling", "÷old", "peak RSS"
    );
    for r in &results {
        println!(
            "{:>4}  {:>7}  {:>7.2}s  {:>10.0}  {:>10.0}  {:>10.0}  {:>9.2}  {:>9.2}  {:>9}",
            r.size.to_string(),
            r.objects,
            r.wall.as_secs_f64(),
            r.rate,
            r.ceiling,
            r.old_baseline,
            r.rate / r.ceiling.max(1e-9),
            r.rate / r.old_baseline.max(1e-9),
            r.rss_kib
                .map_or_else(|| "n/a".to_owned(), |k| format!("{:.1} MiB", common::mib(k)))
        );
    }
    for r in results.iter().filter(|r| r.size != Size::S) {
        println!(
            "{}",
            common::ratio_line(
                &format!("[{}] backup objects/s ÷ LIST ceiling objects/s", r.size),
                r.rate,
                r.ceiling,
                Some((">=", 0.8))
            )
        );
    }
    if let Some(l) = results.iter().find(|r| r.size == Size::L) {
        println!(
            "[l] 100k-object backup wall {:.2}s  (goal ≤ 10 s: {})",
            l.wall.as_secs_f64(),
            if l.wall.as_secs_f64() <= 10.0 {
                "MET"
            } else {
                "NOT MET"
            }
        );
    }
    let small = results.iter().find(|r| r.size == Size::S);
    let large = results
        .iter()
        .find(|r| r.size == Size::L)
        .or_else(|| results.iter().find(|r| r.size == Size::M));
    match (small, large) {
        (Some(s), Some(l)) if l.size != Size::L => {
            println!(
                "NOTE: no L result in this run (not requested, or seeding L exceeded {} min): M stands in for L below.",
                L_SEED_LIMIT.as_secs() / 60
            );
            print_rss(s, l);
        }
        (Some(s), Some(l)) => print_rss(s, l),
        _ => println!("peak RSS ratio: needs S and M or L in --sizes"),
    }
    Ok(())
}

fn print_rss(s: &SizeResult, l: &SizeResult) {
    if let (Some(sk), Some(lk)) = (s.rss_kib, l.rss_kib) {
        println!(
            "{}",
            common::ratio_line(
                &format!(
                    "peak RSS {} ÷ S ({:.1} MiB ÷ {:.1} MiB)",
                    l.size,
                    common::mib(lk),
                    common::mib(sk)
                ),
                lk as f64,
                sk as f64,
                Some(("<=", 1.5))
            )
        );
        println!(
            "peak RSS at {}: {:.1} MiB  (goal < 128 MiB: {})",
            l.size,
            common::mib(lk),
            if common::mib(lk) < 128.0 { "MET" } else { "NOT MET" }
        );
    } else {
        println!("peak RSS: not measured (/usr/bin/time missing? `apt-get install -y time`)");
    }
}

/// Start and seed a bed for `size`, then measure it.
async fn one_size(skiff: &Path, size: Size, args: &Args) -> Result<Option<SizeResult>> {
    let t = Instant::now();
    let bed = TestBed::start_with(BedOptions {
        controller_manager: false,
        ..BedOptions::named(format!("bkbench-{size}"))
    })
    .await
    .context("starting a test bed")?;
    println!("bed {} up in {:.1}s", bed.name(), t.elapsed().as_secs_f64());
    let client = bed.client().await?;
    let seeding = seed::seed(&client, size, args.seed);
    let report = if size == Size::L {
        if let Ok(r) = tokio::time::timeout(L_SEED_LIMIT, seeding).await {
            r?
        } else {
            println!(
                "seeding L exceeded {} min on this machine: L dropped, M stands in for the RSS ratio",
                L_SEED_LIMIT.as_secs() / 60
            );
            return Ok(None);
        }
    } else {
        seeding.await?
    };
    println!(
        "seeded {size}: {} objects ({} created, {} existed) in {:.1}s",
        report.objects,
        report.total_created(),
        report.existed,
        report.elapsed.as_secs_f64()
    );
    drop(client);
    let result = measure(skiff, size, bed.kubeconfig_path(), &bed.pids(), args).await?;
    drop(bed);
    Ok(Some(result))
}

/// One pass of the lean lister over `collections`, with the CPU split (lister and bed).
async fn ceiling_pass(
    lister: &mut common::LeanLister,
    collections: &[String],
    bed_pids: &[u32],
    what: &str,
) -> Result<(u64, f64)> {
    let me = common::process_cpu(std::process::id());
    let meter = common::CpuMeter::start(bed_pids);
    let (objects, elapsed) = lister.list_all(collections, CEILING_PAGE).await?;
    let mut split = meter.stop();
    if let (Some(a), Some(b)) = (me, common::process_cpu(std::process::id())) {
        split.insert(0, ("lean lister".to_owned(), b.saturating_sub(a)));
    }
    let rate = objects as f64 / elapsed.as_secs_f64();
    println!(
        "LIST ceiling ({what}): {objects} objects in {:.2}s = {rate:.0} objects/s; {}",
        elapsed.as_secs_f64(),
        cpu_split(&split, elapsed)
    );
    Ok((objects, rate))
}

/// `name 0.31s, … = 1.31s CPU in 1.01s wall (1.30 cores)`.
fn cpu_split(split: &[(String, Duration)], wall: Duration) -> String {
    let total: Duration = split.iter().map(|(_, d)| *d).sum();
    let parts: Vec<String> = split
        .iter()
        .map(|(n, d)| format!("{n} {:.2}s", d.as_secs_f64()))
        .collect();
    format!(
        "CPU {} = {:.2}s in {:.2}s wall ({:.2} cores)",
        parts.join(", "),
        total.as_secs_f64(),
        wall.as_secs_f64(),
        total.as_secs_f64() / wall.as_secs_f64().max(1e-9)
    )
}

/// The bed's process ids, from `children.pids` beside the kubeconfig (what `skiff-testbed up
/// --dir` writes); none when it is not there.
fn bed_pids_beside(kubeconfig: &Path) -> Vec<u32> {
    kubeconfig
        .parent()
        .and_then(|d| std::fs::read_to_string(d.join("children.pids")).ok())
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Measure one seeded cluster: ceiling, old baseline, skiff backup, kubectl.
async fn measure(
    skiff: &Path,
    size: Size,
    kubeconfig: &Path,
    bed_pids: &[u32],
    args: &Args,
) -> Result<SizeResult> {
    let client = skiff_testkit::bed::client_from_kubeconfig(kubeconfig, None).await?;
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig)?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    let collections = common::backup_collections(&client).await?;
    println!(
        "the backup's namespaced types: {} (the ceiling lists these, cluster-wide, limit={CEILING_PAGE})",
        collections.len()
    );
    let mut lister = common::LeanLister::connect(&config).await?;
    let (_, warm) = ceiling_pass(&mut lister, &collections, bed_pids, "warm-up").await?;
    let (list_objects, before) = ceiling_pass(&mut lister, &collections, bed_pids, "before").await?;

    let types = common::discover(&client).await?;
    let all: Vec<String> = types.iter().map(|t| t.collection.clone()).collect();
    let old = seed::raw_list_rate(&client, &all).await?;
    println!(
        "old baseline (raw_list_rate: kube client, Value, all {} listable types): {} objects in {:.2}s = {:.0} objects/s",
        all.len(),
        old.objects,
        old.elapsed.as_secs_f64(),
        old.per_sec()
    );

    let dir = tempfile::tempdir()?;
    let kc = kubeconfig.to_string_lossy().into_owned();
    let mut best: Option<(Duration, u64, Option<u64>)> = None;
    for run_no in 1..=args.runs {
        let location = dir.path().join(format!("bk{run_no}"));
        let (wall, items, rss) = skiff_backup(skiff, &location, &kc, bed_pids, &args.extra)?;
        if best.is_none_or(|(w, _, _)| wall < w) {
            best = Some((wall, items, rss));
        }
        std::fs::remove_dir_all(&location).ok();
    }
    let (wall, items, rss_kib) = best.context("no backup run")?;
    let (_, after) = ceiling_pass(&mut lister, &collections, bed_pids, "after").await?;
    drop(lister);
    let ceiling = warm.max(before).max(after);
    let rate = items as f64 / wall.as_secs_f64();

    let kubectl = if args.no_kubectl {
        None
    } else {
        Some(kubectl_baseline(&types, &kc, dir.path(), old.objects)?)
    };
    println!(
        "{}",
        common::ratio_line(
            &format!("[{size}] backup objects/s ÷ LIST ceiling objects/s ({list_objects} objects listed)"),
            rate,
            ceiling,
            (size != Size::S).then_some((">=", 0.8))
        )
    );
    println!(
        "{}",
        common::ratio_line(
            &format!("[{size}] backup objects/s ÷ old baseline objects/s"),
            rate,
            old.per_sec(),
            None
        )
    );
    if let Some(k) = kubectl {
        println!(
            "{}",
            common::ratio_line(
                &format!("[{size}] backup objects/s ÷ kubectl-get|gzip objects/s"),
                rate,
                k,
                None
            )
        );
    }
    Ok(SizeResult {
        size,
        objects: items,
        wall,
        rate,
        ceiling,
        old_baseline: old.per_sec(),
        rss_kib,
    })
}

/// One `skiff backup` of the whole cluster to `location`: wall, items, peak RSS.
fn skiff_backup(
    skiff: &Path,
    location: &Path,
    kubeconfig: &str,
    bed_pids: &[u32],
    extra: &[String],
) -> Result<(Duration, u64, Option<u64>)> {
    let loc = location.to_string_lossy().into_owned();
    let mut argv: Vec<&str> = vec![
        "backup",
        "bench",
        "--location",
        &loc,
        "--kubeconfig",
        kubeconfig,
        "-o",
        "json",
        "--no-progress",
    ];
    argv.extend(extra.iter().map(String::as_str));
    let meter = common::CpuMeter::start(bed_pids);
    let run = common::run_timed(skiff, &argv, &[])?;
    let mut split = meter.stop();
    if let Some(cpu) = run.cpu {
        split.insert(0, ("skiff".to_owned(), cpu));
    }
    if !run.status.success() {
        bail!("skiff backup exited with {}: {}", run.status, run.stderr.trim());
    }
    let rep: serde_json::Value =
        serde_json::from_slice(&run.stdout).context("parsing skiff backup -o json")?;
    let items = rep["items"].as_u64().unwrap_or_default();
    println!(
        "skiff backup: phase {}, {} items, {:.1} MiB tarball, wall {:.2}s = {:.0} objects/s, peak RSS {}; {}",
        rep["phase"].as_str().unwrap_or("?"),
        items,
        rep["tarball_bytes"].as_u64().unwrap_or_default() as f64 / 1_048_576.0,
        run.wall.as_secs_f64(),
        items as f64 / run.wall.as_secs_f64(),
        run.max_rss_kib
            .map_or_else(|| "n/a".to_owned(), |k| format!("{:.1} MiB", common::mib(k))),
        cpu_split(&split, run.wall)
    );
    Ok((run.wall, items, run.max_rss_kib))
}

/// `kubectl get … | gzip` of every listable type; objects/s.
fn kubectl_baseline(
    types: &[common::ResourceType],
    kubeconfig: &str,
    dir: &Path,
    objects: u64,
) -> Result<f64> {
    let names: Vec<&str> = types.iter().map(|t| t.kubectl_name.as_str()).collect();
    let out = dir.join("kubectl.json.gz");
    let script = format!(
        "set -o pipefail; kubectl --kubeconfig '{kubeconfig}' get {} -A -o json --chunk-size={CEILING_PAGE} | gzip > '{}'",
        names.join(","),
        out.display()
    );
    let t = Instant::now();
    common::run_checked(
        std::process::Command::new("bash").arg("-c").arg(&script),
        "kubectl get | gzip",
    )?;
    let wall = t.elapsed();
    println!(
        "kubectl get (all {} types) -A -o json --chunk-size={CEILING_PAGE} | gzip: {:.1} MiB, wall {:.2}s = {:.0} objects/s (object count from the old baseline)",
        names.len(),
        std::fs::metadata(&out)?.len() as f64 / 1_048_576.0,
        wall.as_secs_f64(),
        objects as f64 / wall.as_secs_f64()
    );
    Ok(objects as f64 / wall.as_secs_f64())
}
