//! `skiff migrate` against its baseline measured in the same run: `skiff backup` into a local
//! folder plus `skiff restore` from it, of the same objects, between the same kind of beds.
//!
//! ```text
//! cargo build --release -p skiff-cli
//! cargo run --release -p skiff-benches --bin migrate -- [--sizes m,l] [--seed N]
//! ```
//!
//! Per size: one source bed is seeded once; each measurement gets a fresh, empty target bed with
//! a controller-manager. Baseline: `skiff backup` of the workload's namespaces to a folder, then
//! `skiff restore` of it into the first target (wall = the sum). Then `skiff migrate` of the same
//! namespaces into the second target. Goal: migrate wall ≤ 0.9 × (backup + restore). Peak RSS
//! of each process is reported (`/usr/bin/time -v`).
//!
//! Then, with both beds still up, `skiff verify` and `skiff diff` of the migrated namespaces
//! (source cluster vs the second target) against their baseline measured right before: a lean
//! client paging through the same namespaced types on both clusters (every object read once,
//! parsed and dropped). Goal: verify and diff wall ≤ 2 × that raw paged LIST (rate ≥ 0.5×).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

#[path = "../common.rs"]
mod common;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_testkit::bed::{BedOptions, TestBed};
use skiff_testkit::seed;
use skiff_testkit::workload::{self, Size};

/// `skiff migrate` vs `skiff backup` + `skiff restore` (build `cargo build --release -p skiff-cli` first).
#[derive(Debug, Parser)]
struct Args {
    /// Workload sizes: s, m, l.
    #[arg(long, value_delimiter = ',', default_values_t = [Size::M])]
    sizes: Vec<Size>,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("migrate bench failed: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let args = Args::parse();
    let skiff = common::skiff_binary()?;
    let mut summary = Vec::new();
    for &size in &args.sizes {
        one_size(&skiff, size, &args, &mut summary).await?;
    }
    println!("\nsummary:");
    for l in &summary {
        println!("  {l}");
    }
    Ok(())
}

fn timed(skiff: &Path, what: &str, args: &[&str]) -> Result<common::Timed> {
    let t = common::run_timed(skiff, args, &[])?;
    if !t.status.success() {
        bail!("{what}: {}\n{}", t.status, t.stderr);
    }
    println!(
        "  {what}: {:.2}s, peak RSS {}",
        t.wall.as_secs_f64(),
        t.max_rss_kib
            .map_or_else(|| "?".to_owned(), |k| format!("{:.0} MiB", common::mib(k)))
    );
    Ok(t)
}

async fn fresh_target(name: String) -> Result<TestBed> {
    TestBed::start_with(BedOptions::named(name))
        .await
        .context("starting a target bed")
}

async fn one_size(skiff: &Path, size: Size, args: &Args, summary: &mut Vec<String>) -> Result<()> {
    let work = tempfile::tempdir()?;
    let location = work.path().join("bk");
    let namespaces = workload::generate(size, args.seed).namespaces().join(",");
    let src = TestBed::start_with(BedOptions::named(format!("mgbench-src-{size}")))
        .await
        .context("starting the source bed")?;
    let rep = seed::seed(&src.client().await?, size, args.seed).await?;
    println!(
        "seeded {size}: {} objects in {:.1}s",
        rep.objects,
        rep.elapsed.as_secs_f64()
    );
    let src_kc = src.kubeconfig_path().to_string_lossy().into_owned();
    let loc = location.to_string_lossy().into_owned();

    // Baseline: backup to a folder, then restore into a fresh target.
    let first = fresh_target(format!("mgbench-{size}-a")).await?;
    let kc_a = first.kubeconfig_path().to_string_lossy().into_owned();
    let backup = timed(
        skiff,
        "skiff backup",
        &[
            "backup",
            "bench",
            "--location",
            &loc,
            "--kubeconfig",
            &src_kc,
            "--include-namespaces",
            &namespaces,
            "--no-progress",
        ],
    )?;
    let restore = timed(
        skiff,
        "skiff restore",
        &[
            "restore",
            "r",
            "--from-backup",
            "bench",
            "--location",
            &loc,
            "--kubeconfig",
            &kc_a,
            "--no-progress",
        ],
    )?;
    drop(first);

    // skiff migrate into a second fresh target.
    let second = fresh_target(format!("mgbench-{size}-b")).await?;
    let kc_b = second.kubeconfig_path().to_string_lossy().into_owned();
    let record = work.path().join("record.json").to_string_lossy().into_owned();
    let migrate = timed(
        skiff,
        "skiff migrate",
        &[
            "migrate",
            "m",
            "--from-kubeconfig",
            &src_kc,
            "--to-kubeconfig",
            &kc_b,
            "--include-namespaces",
            &namespaces,
            "--record",
            &record,
            "--no-progress",
        ],
    )?;

    let reads = compare_reads(skiff, size, &src, &second, &namespaces).await?;
    drop(second);

    let sum: Duration = backup.wall + restore.wall;
    let line = common::ratio_line(
        &format!(
            "[{size}] migrate wall ÷ (backup + restore) ({:.2}s vs {:.2}s + {:.2}s); peak RSS migrate {} / backup {} / restore {}",
            migrate.wall.as_secs_f64(),
            backup.wall.as_secs_f64(),
            restore.wall.as_secs_f64(),
            rss(&migrate),
            rss(&backup),
            rss(&restore)
        ),
        migrate.wall.as_secs_f64(),
        sum.as_secs_f64(),
        Some(("<=", 0.9)),
    );
    println!("{line}");
    summary.push(line);
    summary.extend(reads);
    Ok(())
}

/// `skiff verify` and `skiff diff` of the migrated namespaces vs a raw paged LIST of the same
/// types on both clusters, measured right before.
async fn compare_reads(
    skiff: &Path,
    size: Size,
    src: &TestBed,
    tgt: &TestBed,
    namespaces: &str,
) -> Result<Vec<String>> {
    let mut objects_listed = 0;
    let mut list_wall = Duration::ZERO;
    for bed in [src, tgt] {
        let kubeconfig = bed.kubeconfig_path();
        let client = skiff_testkit::bed::client_from_kubeconfig(kubeconfig, None).await?;
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(kubeconfig)?,
            &kube::config::KubeConfigOptions::default(),
        )
        .await?;
        let collections = common::backup_collections(&client).await?;
        let mut lister = common::LeanLister::connect(&config).await?;
        lister.list_all(&collections, 500).await?; // warm-up
        let (objects, wall) = lister.list_all(&collections, 500).await?;
        objects_listed += objects;
        list_wall += wall;
    }
    println!(
        "  raw paged LIST, both clusters: {objects_listed} objects in {:.2}s ({:.0}/s)",
        list_wall.as_secs_f64(),
        objects_listed as f64 / list_wall.as_secs_f64().max(1e-9)
    );
    let src_kc = src.kubeconfig_path().to_string_lossy().into_owned();
    let tgt_kc = tgt.kubeconfig_path().to_string_lossy().into_owned();
    let sides = [
        "--from-kubeconfig",
        src_kc.as_str(),
        "--to-kubeconfig",
        tgt_kc.as_str(),
        "--include-namespaces",
        namespaces,
    ];
    let mut out = Vec::new();
    for (what, extra) in [
        ("verify", &["--no-readiness", "-o", "json"][..]),
        ("diff", &["-o", "json"][..]),
    ] {
        let mut args = vec![what];
        args.extend_from_slice(&sides);
        args.extend_from_slice(extra);
        let t = common::run_timed(skiff, &args, &[])?;
        // 0 = equal, 6 = differences (reported, still a full read and comparison).
        if !matches!(t.status.code(), Some(0 | 6)) {
            bail!("skiff {what}: {}\n{}", t.status, t.stderr);
        }
        println!(
            "  skiff {what}: {:.2}s (exit {}), peak RSS {}",
            t.wall.as_secs_f64(),
            t.status.code().unwrap_or(-1),
            rss(&t)
        );
        out.push(common::ratio_line(
            &format!(
                "[{size}] {what} rate ÷ raw paged LIST rate (LIST {:.2}s vs {what} {:.2}s, {objects_listed} objects)",
                list_wall.as_secs_f64(),
                t.wall.as_secs_f64()
            ),
            list_wall.as_secs_f64(),
            t.wall.as_secs_f64(),
            Some((">=", 0.5)),
        ));
    }
    Ok(out)
}

fn rss(t: &common::Timed) -> String {
    t.max_rss_kib
        .map_or_else(|| "?".to_owned(), |k| format!("{:.0} MiB", common::mib(k)))
}
