//! Backup throughput and memory of the real `skiff backup` binary against baselines measured in the
//! same run on the same test bed.
//!
//! ```text
//! cargo build --release -p skiff-cli
//! cargo run --release -p skiff-benches --bin backup -- [--sizes s,m[,l]] [--seed N]
//! ```
//!
//! For each size a fresh test bed is started without the controller-manager (so the cluster holds
//! exactly the seeded objects: S ≈ 1k, M ≈ 10k, L ≈ 100k, and nothing changes under the
//! measurements) and seeded, then (after one warm-up LIST pass):
//! * raw paged LIST (`limit=500`) of every listable type, cluster-wide, one type after another;
//! * `skiff backup` of the whole cluster to a local folder (release binary, run under
//!   `/usr/bin/time -v` for its peak RSS);
//! * `kubectl get <every listed type> -A -o json --chunk-size=500 | gzip`.
//!
//! It prints backup objects/s ÷ LIST objects/s (goal ≥ 0.8), ÷ kubectl objects/s, the wall times,
//! and peak RSS at the largest size ÷ S (goal ≤ 1.5) with the absolute MiB (goal < 128 MiB).
//! Default sizes are S and M (about 3 minutes); add `l` for L: seeding L takes about 10 minutes
//! on 2 cores and is given 25; past that the L run is dropped and M stands in for the RSS ratio
//! (said so in the output).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

#[path = "../common.rs"]
mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use skiff_testkit::bed::{BedOptions, TestBed};
use skiff_testkit::seed;
use skiff_testkit::workload::Size;

const L_SEED_LIMIT: Duration = Duration::from_secs(25 * 60);

struct Args {
    sizes: Vec<Size>,
    seed: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        sizes: vec![Size::S, Size::M],
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" => args.sizes = common::parse_sizes(&it.next().context("--sizes needs a value")?)?,
            "--seed" => args.seed = it.next().context("--seed needs a value")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "usage: backup [--sizes s,m,l] [--seed S]   (build `cargo build --release -p skiff-cli` first)"
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

struct SizeResult {
    size: Size,
    objects: u64,
    wall: Duration,
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
    let args = parse_args()?;
    skiff_kube::install_crypto_provider();
    let skiff = common::skiff_binary()?;
    let mut results: Vec<SizeResult> = Vec::new();
    for &size in &args.sizes {
        println!("\n=== size {size} ===");
        match one_size(&skiff, size, args.seed).await? {
            Some(r) => results.push(r),
            None => println!("size {size}: skipped (see above)"),
        }
    }

    println!("\n=== summary ===");
    for r in &results {
        println!(
            "{:>4}: {} objects, skiff backup wall {:.2}s, peak RSS {}",
            r.size.to_string(),
            r.objects,
            r.wall.as_secs_f64(),
            r.rss_kib
                .map_or_else(|| "n/a".to_owned(), |k| format!("{:.1} MiB", common::mib(k)))
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

async fn one_size(skiff: &std::path::Path, size: Size, seed_no: u64) -> Result<Option<SizeResult>> {
    let t = Instant::now();
    let bed = TestBed::start_with(BedOptions {
        controller_manager: false,
        ..BedOptions::named(format!("bkbench-{size}"))
    })
    .await
    .context("starting a test bed")?;
    println!("bed {} up in {:.1}s", bed.name(), t.elapsed().as_secs_f64());
    let client = bed.client().await?;

    let seeding = seed::seed(&client, size, seed_no);
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

    let types = common::discover(&client).await?;
    let collections: Vec<String> = types.iter().map(|t| t.collection.clone()).collect();
    println!("discovery: {} listable types", types.len());

    // Warm-up pass so the first measured reader does not pay for cold caches alone.
    let _ = seed::raw_list_rate(&client, &collections).await?;
    let list = seed::raw_list_rate(&client, &collections).await?;
    println!(
        "raw paged LIST: {} objects in {:.2}s = {:.0} objects/s",
        list.objects,
        list.elapsed.as_secs_f64(),
        list.per_sec()
    );

    let dir = tempfile::tempdir()?;
    let location = dir.path().join("bk");
    let kubeconfig = bed.kubeconfig_path().to_string_lossy().into_owned();
    let loc = location.to_string_lossy().into_owned();
    let run = common::run_timed(
        skiff,
        &[
            "backup",
            "bench",
            "--location",
            &loc,
            "--kubeconfig",
            &kubeconfig,
            "-o",
            "json",
            "--no-progress",
        ],
        &[],
    )?;
    if !run.status.success() {
        bail!("skiff backup exited with {}: {}", run.status, run.stderr.trim());
    }
    let rep: serde_json::Value =
        serde_json::from_slice(&run.stdout).context("parsing skiff backup -o json")?;
    let items = rep["items"].as_u64().unwrap_or_default();
    let backup_rate = items as f64 / run.wall.as_secs_f64();
    println!(
        "skiff backup: phase {}, {} items, {:.1} MiB tarball, wall {:.2}s = {:.0} objects/s, peak RSS {}",
        rep["phase"].as_str().unwrap_or("?"),
        items,
        rep["tarballBytes"]
            .as_u64()
            .or_else(|| rep["tarball_bytes"].as_u64())
            .unwrap_or_default() as f64
            / 1_048_576.0,
        run.wall.as_secs_f64(),
        backup_rate,
        run.rss_kib_text()
    );

    let names: Vec<&str> = types.iter().map(|t| t.kubectl_name.as_str()).collect();
    let out = dir.path().join("kubectl.json.gz");
    let script = format!(
        "set -o pipefail; kubectl --kubeconfig '{kubeconfig}' get {} -A -o json --chunk-size=500 | gzip > '{}'",
        names.join(","),
        out.display()
    );
    let t = Instant::now();
    common::run_checked(
        std::process::Command::new("bash").arg("-c").arg(&script),
        "kubectl get | gzip",
    )?;
    let kwall = t.elapsed();
    let kubectl_rate = list.objects as f64 / kwall.as_secs_f64();
    println!(
        "kubectl get (all {} types) -A -o json --chunk-size=500 | gzip: {:.1} MiB, wall {:.2}s = {:.0} objects/s (object count from the raw LIST)",
        names.len(),
        std::fs::metadata(&out)?.len() as f64 / 1_048_576.0,
        kwall.as_secs_f64(),
        kubectl_rate
    );

    println!(
        "{}",
        common::ratio_line(
            &format!("[{size}] backup objects/s ÷ raw LIST objects/s"),
            backup_rate,
            list.per_sec(),
            Some((">=", 0.8))
        )
    );
    println!(
        "{}",
        common::ratio_line(
            &format!("[{size}] backup objects/s ÷ kubectl-get|gzip objects/s"),
            backup_rate,
            kubectl_rate,
            None
        )
    );
    println!("[{size}] skiff backup wall time: {:.2}s", run.wall.as_secs_f64());
    drop(client);
    drop(bed);
    Ok(Some(SizeResult {
        size,
        objects: items,
        wall: run.wall,
        rss_kib: run.max_rss_kib,
    }))
}

trait RssText {
    fn rss_kib_text(&self) -> String;
}

impl RssText for common::Timed {
    fn rss_kib_text(&self) -> String {
        self.max_rss_kib
            .map_or_else(|| "n/a".to_owned(), |k| format!("{:.1} MiB", common::mib(k)))
    }
}
