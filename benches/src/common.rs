//! Helpers shared by the `backup` and `restore` bench programs (included with `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use skiff_testkit::workload::Size;

/// The release `skiff` binary: `$CARGO_TARGET_DIR/release/skiff` (or `./target/release/skiff`).
pub fn skiff_binary() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let bin = target.join("release").join("skiff");
    if !bin.is_file() {
        bail!(
            "release skiff binary not found at {} — build it first: `cargo build --release -p skiff-cli` \
             (with the same CARGO_TARGET_DIR)",
            bin.display()
        );
    }
    let age = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or_else(
            || "unknown age".to_owned(),
            |d| format!("built {} min ago", d.as_secs() / 60),
        );
    println!("skiff binary: {} (release, {age})", bin.display());
    Ok(bin)
}

/// Parses `--sizes s,m,l,deep`.
pub fn parse_sizes(v: &str) -> Result<Vec<Size>> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Size>().map_err(anyhow::Error::from))
        .collect()
}

/// Runs a command to completion, failing with its stderr when it exits non-zero.
pub fn run_checked(cmd: &mut std::process::Command, what: &str) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("could not start {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(2000)
                .collect::<String>()
        );
    }
    Ok(out)
}

/// A child process run under `/usr/bin/time -v`: wall time, peak RSS, output.
pub struct Timed {
    /// Exit status.
    pub status: std::process::ExitStatus,
    /// Wall-clock time (process start to exit).
    pub wall: Duration,
    /// Peak resident set size in KiB ("Maximum resident set size").
    pub max_rss_kib: Option<u64>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error with `time`'s report removed.
    pub stderr: String,
}

/// Runs `program args…` under `/usr/bin/time -v` when it is installed (else plainly, no RSS).
pub fn run_timed(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Timed> {
    let use_time = Path::new("/usr/bin/time").is_file();
    let mut cmd = if use_time {
        let mut c = std::process::Command::new("/usr/bin/time");
        c.arg("-v").arg(program);
        c
    } else {
        std::process::Command::new(program)
    };
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let begin = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("could not start {}", program.display()))?;
    let wall = begin.elapsed();
    let stderr_all = String::from_utf8_lossy(&out.stderr).into_owned();
    let (stderr, report) = match stderr_all.find("\tCommand being timed:") {
        Some(i) if use_time => (stderr_all[..i].to_owned(), stderr_all[i..].to_owned()),
        _ => (stderr_all, String::new()),
    };
    let max_rss_kib = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok());
    Ok(Timed {
        status: out.status,
        wall,
        max_rss_kib,
        stdout: out.stdout,
        stderr,
    })
}

/// One listable resource type found by discovery.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// Cluster-wide collection path (`/api/v1/configmaps`, `/apis/apps/v1/deployments`).
    pub collection: String,
    /// Name kubectl accepts (`configmaps`, `deployments.apps`).
    pub kubectl_name: String,
}

async fn get_json(client: &kube::Client, path: &str) -> Result<Value> {
    let req = http::Request::get(path).body(Vec::new())?;
    client
        .request::<Value>(req)
        .await
        .with_context(|| format!("GET {path}"))
}

/// Every listable resource type of the cluster at its group's preferred version, without the
/// duplicates served under a second group (`events.k8s.io` events, `extensions` ingresses).
pub async fn discover(client: &kube::Client) -> Result<Vec<ResourceType>> {
    let mut versions: Vec<(String, String)> = vec![(String::new(), "/api/v1".to_owned())];
    let groups = get_json(client, "/apis").await?;
    for g in groups["groups"].as_array().into_iter().flatten() {
        let name = g["name"].as_str().unwrap_or_default();
        if name == "events.k8s.io" || name == "extensions" {
            continue;
        }
        if let Some(gv) = g["preferredVersion"]["groupVersion"].as_str() {
            versions.push((name.to_owned(), format!("/apis/{gv}")));
        }
    }
    let mut out = Vec::new();
    for (group, prefix) in versions {
        let list = get_json(client, &prefix).await?;
        for r in list["resources"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or_default();
            let listable = r["verbs"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == "list"));
            if name.contains('/') || !listable {
                continue;
            }
            out.push(ResourceType {
                collection: format!("{prefix}/{name}"),
                kubectl_name: if group.is_empty() {
                    name.to_owned()
                } else {
                    format!("{name}.{group}")
                },
            });
        }
    }
    Ok(out)
}

/// `x / y` formatted to two decimals, with the goal verdict when there is one.
pub fn ratio_line(label: &str, x: f64, y: f64, goal: Option<(&str, f64)>) -> String {
    let r = x / y.max(1e-9);
    match goal {
        Some((">=", g)) => format!(
            "{label}: {r:.2}  (goal ≥ {g}: {})",
            if r >= g { "MET" } else { "NOT MET" }
        ),
        Some(("<=", g)) => format!(
            "{label}: {r:.2}  (goal ≤ {g}: {})",
            if r <= g { "MET" } else { "NOT MET" }
        ),
        _ => format!("{label}: {r:.2}"),
    }
}

/// Bytes of RSS in MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
