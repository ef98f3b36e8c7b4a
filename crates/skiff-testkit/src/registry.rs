//! A real container registry on loopback, tiny OCI images written by hand, and `skopeo`.
//!
//! [`Registry::start`] runs Debian's `docker-registry` (the CNCF distribution registry) on
//! `127.0.0.1:<free port>` over plain HTTP, with its own temporary storage directory and
//! configuration file, and waits until `/v2/` answers. Dropping the [`Registry`] kills the process
//! and removes its directory (its log is kept, and its path printed, when a test panics); a
//! watchdog process kills it when the owning process dies without running `Drop`, as the bed's
//! does.
//!
//! [`OciImage::build`] writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`)
//! holding a one-file layer: the tar, its gzip, the config JSON and the manifest are made here,
//! byte for byte deterministic, so the manifest digest is known before anything is pushed.
//! [`Skopeo`] runs the real `skopeo` (Debian package) — [`Skopeo::push`] copies such a layout into
//! a registry with `skopeo copy --dest-tls-verify=false oci:<dir>:<ref> docker://…`.
//!
//! Architecture invariant: the registry listens on 127.0.0.1 only, and skopeo is only ever pointed
//! at loopback registries by this module.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest as _, Sha256};

use crate::bed::{PROVISION_HINT, log_tail};

/// Path of the `docker-registry` binary (default: `docker-registry` on `PATH`).
pub const ENV_REGISTRY: &str = "SKIFF_DOCKER_REGISTRY";
/// Path of the `skopeo` binary (default: `skopeo` on `PATH`).
pub const ENV_SKOPEO: &str = "SKIFF_SKOPEO";

/// Media types of what [`OciImage::build`] writes.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest (skopeo may convert to it).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn find_program(env: &str, program: &str, package: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "`{program}` is not on PATH (Debian package {package}); provision it with `{PROVISION_HINT}` \
                 (or set {env})"
            )
        })
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
    Ok(listener.local_addr().context("read a bound port")?.port())
}

/// A running `docker-registry` on loopback. See the module docs.
pub struct Registry {
    name: String,
    child: Option<Child>,
    watchdog: Option<(Child, ChildStdin)>,
    port: u16,
    log: PathBuf,
    client: Client<HttpConnector, Empty<Bytes>>,
    // Removed after the process is killed (Drop).
    dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("name", &self.name)
            .field("host", &self.host())
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish_non_exhaustive()
    }
}

/// An HTTP answer of the registry.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Registry {
    /// Starts a registry named `name` (for logs and directory prefixes) and waits for it to
    /// answer. Retries twice from scratch when it lost a race for its port.
    pub async fn start(name: &str) -> Result<Self> {
        let program = find_program(ENV_REGISTRY, "docker-registry", "docker-registry")?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&program, name).await {
                Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                    tracing::warn!(registry = name, "registry lost its port; retrying");
                }
                other => return other,
            }
        }
    }

    async fn start_once(program: &Path, name: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("skiff-registry-{name}-"))
            .tempdir()
            .context("create the registry's directory")?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).context("create the registry's storage")?;
        let port = free_port()?;
        let config = dir.path().join("config.yml");
        // Plain HTTP on loopback, deletes allowed, no auth, no health checks or notifications.
        let yaml = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: skiff-test-registry\n",
            serde_json::to_string(&storage.display().to_string())?,
        );
        std::fs::write(&config, yaml).with_context(|| format!("write {}", config.display()))?;
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(program)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        let watchdog = start_watchdog(child.id())?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut registry = Self {
            name: name.to_owned(),
            child: Some(child),
            watchdog: Some(watchdog),
            port,
            log,
            client,
            dir: Some(dir),
        };
        registry.wait_ready(Duration::from_secs(30)).await?;
        tracing::info!(registry = %registry.name, host = %registry.host(), "registry ready");
        Ok(registry)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let begin = Instant::now();
        loop {
            if let Ok(answer) = self.request(Method::GET, "/v2/", &[]).await
                && answer.status == StatusCode::OK
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "start docker-registry: it exited with {status}; log {}, last lines:\n{}",
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            if begin.elapsed() > timeout {
                bail!(
                    "wait for docker-registry to answer ({timeout:?}); log {}, last lines:\n{}",
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The registry's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `127.0.0.1:<port>`: the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Process id of the registry.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a request (`path` starts with `/v2/`) with extra headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, &str)],
    ) -> Result<Answer> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("http://{}{path}", self.host()));
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        let req = req.body(Empty::new()).context("build a registry request")?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
            .await
            .with_context(|| format!("{method} {path}: no answer in 30s"))?
            .with_context(|| format!("{method} {path}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .with_context(|| format!("{method} {path}: read the body"))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// The repositories (`/v2/_catalog`), sorted.
    pub async fn catalog(&self) -> Result<Vec<String>> {
        let answer = self.request(Method::GET, "/v2/_catalog?n=1000", &[]).await?;
        ensure!(
            answer.status == StatusCode::OK,
            "GET /v2/_catalog: {}",
            answer.status
        );
        let doc: serde_json::Value = serde_json::from_slice(&answer.body).context("decode the catalog")?;
        let mut repos: Vec<String> = doc["repositories"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        repos.sort();
        Ok(repos)
    }

    /// The tags of a repository (`/v2/<repo>/tags/list`), sorted; empty when the repository does
    /// not exist.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let path = format!("/v2/{repository}/tags/list");
        let answer = self.request(Method::GET, &path, &[]).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        ensure!(answer.status == StatusCode::OK, "GET {path}: {}", answer.status);
        let doc: serde_json::Value = serde_json::from_slice(&answer.body).context("decode the tag list")?;
        let mut tags: Vec<String> = doc["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        tags.sort();
        Ok(tags)
    }

    /// The digest of a manifest (`HEAD /v2/<repo>/manifests/<tag or digest>`, any manifest media
    /// type accepted); `None` when the registry does not have it.
    pub async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<String>> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(", ");
        let answer = self
            .request(Method::HEAD, &path, &[(header::ACCEPT, &accept)])
            .await?;
        match answer.status {
            StatusCode::OK => Ok(answer
                .headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)),
            StatusCode::NOT_FOUND => Ok(None),
            other => bail!("HEAD {path}: {other}"),
        }
    }

    fn keep_log(&self) -> Option<PathBuf> {
        let base = std::env::var_os(crate::bed::ENV_LOG_DIR)
            .map_or_else(|| std::env::temp_dir().join("skiff-bed-logs"), PathBuf::from);
        std::fs::create_dir_all(&base).ok()?;
        let target = base.join(format!(
            "registry-{}-{}-{}.log",
            self.name,
            std::process::id(),
            self.port
        ));
        std::fs::copy(&self.log, &target).ok()?;
        Some(target)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // The watchdog first, so it cannot signal a pid this process reaps (and the OS reuses).
        if let Some((mut child, stdin)) = self.watchdog.take() {
            let _ = child.kill();
            drop(stdin);
            let _ = child.wait();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking()
            && let Some(kept) = self.keep_log()
        {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "skiff test registry `{}`: log kept in {}",
                    self.name,
                    kept.display()
                );
            }
        }
        drop(self.dir.take());
    }
}

/// A `sh` that blocks reading a pipe only this process holds; when this process dies without
/// running Drop, the pipe closes and the shell kills `pid`.
fn start_watchdog(pid: u32) -> Result<(Child, ChildStdin)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"read -r _; kill -9 "$@" 2>/dev/null; exit 0"#)
        .arg("skiff-registry-watchdog")
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start the registry watchdog")?;
    let stdin = child.stdin.take().context("watchdog stdin")?;
    Ok((child, stdin))
}

/// An OCI image layout on disk holding one single-layer image. See the module docs.
#[derive(Debug, Clone)]
pub struct OciImage {
    /// The layout directory.
    pub layout: PathBuf,
    /// The name of the image inside the layout (`org.opencontainers.image.ref.name`).
    pub ref_name: String,
    /// `sha256:<hex>` of the manifest: what a registry reports as `Docker-Content-Digest` when the
    /// manifest is pushed unchanged.
    pub manifest_digest: String,
    /// `sha256:<hex>` of the config blob.
    pub config_digest: String,
    /// `sha256:<hex>` of the (gzipped) layer blob.
    pub layer_digest: String,
}

impl OciImage {
    /// Writes a layout at `layout` (created) holding an image named `ref_name` whose only layer
    /// holds one regular file `file_name` with `contents`. Same arguments, same digests.
    pub fn build(layout: &Path, ref_name: &str, file_name: &str, contents: &[u8]) -> Result<Self> {
        let blobs = layout.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).with_context(|| format!("create {}", blobs.display()))?;
        let put = |bytes: &[u8]| -> Result<(String, usize)> {
            let hex = hex(&Sha256::digest(bytes));
            let path = blobs.join(&hex);
            std::fs::write(&path, bytes).with_context(|| format!("write {}", path.display()))?;
            Ok((format!("sha256:{hex}"), bytes.len()))
        };

        // The layer: a tar with one file, fixed metadata.
        let mut tar = tar::Builder::new(Vec::new());
        let mut head = tar::Header::new_ustar();
        head.set_entry_type(tar::EntryType::Regular);
        head.set_size(contents.len() as u64);
        head.set_mode(0o644);
        head.set_mtime(0);
        head.set_uid(0);
        head.set_gid(0);
        tar.append_data(&mut head, file_name, contents)
            .context("write the layer tar")?;
        let tar = tar.into_inner().context("finish the layer tar")?;
        let diff_id = format!("sha256:{}", hex(&Sha256::digest(&tar)));
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).context("gzip the layer")?;
        let gz = gz.finish().context("gzip the layer")?;
        let (layer_digest, layer_size) = put(&gz)?;

        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))?;
        let (config_digest, config_size) = put(&config)?;

        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": layer_size,
            }],
        }))?;
        let (manifest_digest, manifest_size) = put(&manifest)?;

        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }],
        });
        std::fs::write(layout.join("index.json"), serde_json::to_vec(&index)?).context("write index.json")?;
        std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .context("write oci-layout")?;
        Ok(Self {
            layout: layout.to_path_buf(),
            ref_name: ref_name.to_owned(),
            manifest_digest,
            config_digest,
            layer_digest,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The `skopeo` CLI. Every run passes `--insecure-policy` (no signature policy file is needed or
/// read) and is bounded in time.
#[derive(Debug, Clone)]
pub struct Skopeo {
    program: PathBuf,
}

/// What a finished skopeo run printed.
#[derive(Debug, Clone)]
pub struct SkopeoOutput {
    /// Standard output.
    pub stdout: String,
    /// Standard error (skopeo logs there).
    pub stderr: String,
}

impl Skopeo {
    /// How long one skopeo run may take.
    pub const TIMEOUT: Duration = Duration::from_secs(120);

    /// Finds `skopeo` (`$SKIFF_SKOPEO`, else `PATH`).
    pub fn locate() -> Result<Self> {
        Ok(Self {
            program: find_program(ENV_SKOPEO, "skopeo", "skopeo")?,
        })
    }

    /// Runs `skopeo --insecure-policy <args>`; fails with its stderr unless it exits 0.
    pub async fn run<I, S>(&self, args: I) -> Result<SkopeoOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let shown = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg("--insecure-policy")
            .args(&args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(Self::TIMEOUT, cmd.output())
            .await
            .with_context(|| format!("skopeo {shown}: not done in {:?}", Self::TIMEOUT))?
            .with_context(|| format!("start {}", self.program.display()))?;
        let output = SkopeoOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        ensure!(
            out.status.success(),
            "skopeo {shown}: {}\n{}",
            out.status,
            output.stderr.trim_end()
        );
        Ok(output)
    }

    /// Pushes `image` to `registry` as `<repository>:<tag>` over plain HTTP.
    pub async fn push(
        &self,
        image: &OciImage,
        registry: &Registry,
        repository: &str,
        tag: &str,
    ) -> Result<()> {
        let source = format!("oci:{}:{}", image.layout.display(), image.ref_name);
        let dest = format!("docker://{}/{repository}:{tag}", registry.host());
        self.run(["copy", "--quiet", "--dest-tls-verify=false", &source, &dest])
            .await
            .map(drop)
    }
}
