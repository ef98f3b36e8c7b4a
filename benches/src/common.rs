//! Helpers shared by the `backup` and `restore` bench programs (included with `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

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
    /// CPU time of the child, user + system ("User time" + "System time").
    pub cpu: Option<Duration>,
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
    let seconds = |label: &str| -> Option<f64> {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
    };
    let cpu = match (seconds("User time (seconds):"), seconds("System time (seconds):")) {
        (Some(u), Some(s)) => Some(Duration::from_secs_f64(u + s)),
        _ => None,
    };
    Ok(Timed {
        status: out.status,
        wall,
        max_rss_kib,
        cpu,
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

/// The true LIST ceiling: a lean client that only pages and parses. One TLS connection
/// (HTTP/1.1 keep-alive, hyper's low-level client: no pool, no tower layers), requests sent one
/// after another, bearer-token auth, every response body parsed in full by `serde_json` into
/// `IgnoredAny` items (every byte is tokenized and validated, nothing is built).
pub struct LeanLister {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    authority: String,
    authorization: Option<String>,
    conn: tokio::task::JoinHandle<()>,
}

/// The part of a LIST response the lean lister reads.
#[derive(serde::Deserialize)]
struct LeanPage {
    #[serde(default)]
    metadata: LeanMeta,
    #[serde(default)]
    items: Vec<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize, Default)]
struct LeanMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

impl LeanLister {
    /// Open the one connection to `config`'s server (its CA, its bearer token).
    pub async fn connect(config: &kube::Config) -> Result<Self> {
        use rustls::pki_types::{CertificateDer, ServerName};
        let uri = &config.cluster_url;
        let host = uri.host().context("cluster URL without host")?.to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let mut roots = rustls::RootCertStore::empty();
        for der in config.root_cert.iter().flatten() {
            roots.add(CertificateDer::from(der.clone()))?;
        }
        let mut tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        if std::env::var_os("H3_NO_ALPN").is_none() {
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .with_context(|| format!("connect {host}:{port}"))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())?;
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let conn = tokio::spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("lean lister connection: {e}");
            }
        });
        // kube's AuthInfo serializes its token in the clear (as a kubeconfig holds it).
        let authorization = serde_json::to_value(&config.auth_info)?["token"]
            .as_str()
            .map(|t| format!("Bearer {t}"));
        Ok(Self {
            send,
            authority: format!("{host}:{port}"),
            authorization,
            conn,
        })
    }

    /// Page through `collection` (`/api/v1/configmaps`) with `limit=page_size`; returns the items.
    pub async fn list(&mut self, collection: &str, page_size: u32) -> Result<u64> {
        use http_body_util::BodyExt as _;
        let mut objects = 0u64;
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("{collection}?limit={page_size}");
            if let Some(t) = &token {
                path.push_str("&continue=");
                path.push_str(&query_escape(t));
            }
            let mut req = http::Request::get(&path)
                .header(http::header::HOST, &self.authority)
                .header(http::header::ACCEPT, "application/json");
            if let Some(a) = &self.authorization {
                req = req.header(http::header::AUTHORIZATION, a);
            }
            self.send.ready().await?;
            let resp = self
                .send
                .send_request(req.body(http_body_util::Empty::new())?)
                .await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
            }
            let page: LeanPage =
                serde_json::from_slice(&body).with_context(|| format!("GET {path}: body"))?;
            objects += page.items.len() as u64;
            token = page.metadata.continue_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(objects);
            }
        }
    }

    /// List every collection in turn; objects and wall time.
    pub async fn list_all(&mut self, collections: &[String], page_size: u32) -> Result<(u64, Duration)> {
        let begin = Instant::now();
        let mut objects = 0;
        for c in collections {
            objects += self.list(c, page_size).await?;
        }
        Ok((objects, begin.elapsed()))
    }
}

impl Drop for LeanLister {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

fn query_escape(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`; `None` when it
/// is gone or `/proc` is not there.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The command name of a process (`kube-apiserver`, `etcd`).
pub fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map_or_else(|_| format!("pid {pid}"), |s| s.trim().to_owned())
}

/// CPU used by a set of processes (the bed's) between two points.
pub struct CpuMeter {
    pids: Vec<u32>,
    start: Vec<Option<Duration>>,
}

impl CpuMeter {
    /// Start measuring `pids`.
    pub fn start(pids: &[u32]) -> Self {
        Self {
            pids: pids.to_vec(),
            start: pids.iter().map(|&p| process_cpu(p)).collect(),
        }
    }

    /// CPU used since [`CpuMeter::start`], per process name.
    pub fn stop(&self) -> Vec<(String, Duration)> {
        self.pids
            .iter()
            .zip(&self.start)
            .filter_map(|(&pid, start)| {
                let used = process_cpu(pid)?.checked_sub((*start)?)?;
                Some((process_name(pid), used))
            })
            .collect()
    }
}

/// The collection paths of the namespaced types a default `skiff backup` lists.
pub async fn backup_collections(client: &kube::Client) -> Result<Vec<String>> {
    let cluster = skiff_kube::Cluster::from_client(client.clone(), skiff_kube::LimiterConfig::default());
    let source = skiff_engine::backup::Source::discover(
        &cluster,
        &skiff_engine::Scope::default(),
        false,
        &skiff_engine::NoProgress,
        &skiff_engine::CancellationToken::new(),
    )
    .await?;
    Ok(source
        .types()
        .iter()
        .filter(|r| r.namespaced)
        .map(|r| {
            if r.group.is_empty() {
                format!("/api/{}/{}", r.version, r.resource)
            } else {
                format!("/apis/{}/{}/{}", r.group, r.version, r.resource)
            }
        })
        .collect())
}
