//! The cluster handle: a real etcd + kube-apiserver + kube-controller-manager on loopback.
//!
//! [`TestBed::start`] locates the Kubernetes binaries (built once by
//! `scripts/provision-testbed.sh`), generates a CA, a serving certificate and a service-account
//! key with the `openssl` CLI, writes a static token file (one `system:masters` admin, one ordinary
//! user), starts the three processes on free loopback ports and waits until the apiserver answers
//! `/readyz` and the controller-manager has created the `default` `ServiceAccount`.
//!
//! Dropping the bed kills every process it started and removes its temporary directories, also
//! while a test is panicking; the logs are then copied to a directory that is printed (see
//! [`ENV_LOG_DIR`]). A watchdog process per bed kills the children when the process that owns the
//! bed dies without running `Drop` (SIGKILL, `std::process::exit`, a bed kept in a `static`).
//!
//! Architecture invariant: nothing here listens on or dials anything but 127.0.0.0/8. The service
//! CIDR is inside loopback too, so admission webhooks and aggregated APIs dialled by the apiserver
//! at a `ClusterIP` fail locally instead of leaving the machine.

use std::fmt::Write as _;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use rand::Rng as _;
use serde_json::json;

/// The Kubernetes version the bed runs (built by `scripts/provision-testbed.sh`).
pub const K8S_VERSION: &str = "1.20.2";
/// Directory holding `kube-apiserver` and `kube-controller-manager`; overrides the cache.
pub const ENV_K8S_BIN: &str = "SKIFF_K8S_BIN";
/// Cache root (default `~/.cache/skiff`); binaries live in `kubernetes-<version>/bin` below it.
pub const ENV_CACHE: &str = "SKIFF_CACHE";
/// Path of the `etcd` binary (default: `etcd` on `PATH`).
pub const ENV_ETCD: &str = "SKIFF_ETCD";
/// Where logs of a bed dropped during a panic are kept (default: the system temp dir).
pub const ENV_LOG_DIR: &str = "SKIFF_BED_LOG_DIR";
/// The command that provisions the binaries, quoted in errors.
pub const PROVISION_HINT: &str = "bash scripts/provision-testbed.sh";

/// Name of the admin context (and user) in the bed's kubeconfig.
pub const ADMIN_CONTEXT: &str = "admin";
/// Name of the ordinary-user context (and user) in the bed's kubeconfig.
pub const USER_CONTEXT: &str = "user";
/// User name the ordinary-user token authenticates as (no groups but `system:authenticated`).
pub const USER_NAME: &str = "skiff-user";

/// Errors of the test kit's bed, proxy and seeder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Kubernetes or etcd binaries are not there: provision them.
    #[error(
        "locate the test bed binaries: {reason}; provision them with `{PROVISION_HINT}` (or set {ENV_K8S_BIN})"
    )]
    BinariesMissing {
        /// What was looked for, and where.
        reason: String,
    },
    /// A process could not be started.
    #[error("start {program}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A component exited while the bed was starting.
    #[error("start {component}: it exited with {status}; log {log}, last lines:\n{log_tail}")]
    Exited {
        /// `etcd`, `kube-apiserver` or `kube-controller-manager`.
        component: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Path of its log file.
        log: PathBuf,
        /// The end of its log.
        log_tail: String,
    },
    /// A component did not become ready in time.
    #[error("wait for {component} to become ready ({waited:?}); log {log}, last lines:\n{log_tail}")]
    NotReady {
        /// The component waited for.
        component: &'static str,
        /// How long it was waited for.
        waited: Duration,
        /// Path of its log file.
        log: PathBuf,
        /// The end of its log.
        log_tail: String,
    },
    /// A file or directory operation failed.
    #[error("access {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("{what}")]
    Net {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `openssl` failed to generate the bed's keys and certificates.
    #[error("generate certificates with openssl ({step}): {stderr}")]
    Openssl {
        /// Which step.
        step: &'static str,
        /// Its standard error.
        stderr: String,
    },
    /// The kubeconfig could not be built or loaded.
    #[error("load the kubeconfig {path}")]
    Kubeconfig {
        /// Path of the kubeconfig.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request to the API server failed.
    #[error("{what}")]
    Kube {
        /// What was being done (method, path).
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The TLS configuration for a client could not be built.
    #[error("build a tls client configuration")]
    Tls(#[source] rustls::Error),
    /// A seeded object was malformed (missing kind, apiVersion or name).
    #[error("seed object #{index}: {reason}")]
    BadObject {
        /// Index in the workload.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A kind of the workload is not served by the API server.
    #[error("resolve {api_version}/{kind} through discovery")]
    UnknownKind {
        /// apiVersion.
        api_version: String,
        /// Kind.
        kind: String,
    },
    /// A URL does not parse.
    #[error("parse the url `{url}`")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// A wait for a cluster condition timed out.
    #[error("wait for {what} ({waited:?})")]
    Timeout {
        /// The condition.
        what: String,
        /// How long it was waited for.
        waited: Duration,
    },
}

/// Result alias of the test kit's bed, proxy and seeder.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// Installs rustls' `ring` crypto provider as the process default, once. kube's rustls client
/// (and anything else on rustls 0.23) panics at the first TLS connection without one when more than
/// one provider is compiled in (design §8). Safe to call any number of times.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Paths of the programs the bed runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `kube-apiserver`.
    pub apiserver: PathBuf,
    /// `kube-controller-manager`.
    pub controller_manager: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
}

impl Binaries {
    /// The directory the binaries are looked for in: `$SKIFF_K8S_BIN`, else
    /// `${SKIFF_CACHE:-~/.cache/skiff}/kubernetes-1.20.2/bin`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os(ENV_K8S_BIN) {
            return PathBuf::from(dir);
        }
        let cache = std::env::var_os(ENV_CACHE).map_or_else(
            || {
                let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
                Path::new(&home).join(".cache/skiff")
            },
            PathBuf::from,
        );
        cache.join(format!("kubernetes-{K8S_VERSION}/bin"))
    }

    /// Finds the binaries, failing with the reason and the provisioning command when one is
    /// missing. Never falls back to anything else.
    pub fn locate() -> Result<Self> {
        Self::locate_in(&Self::default_dir())
    }

    /// Finds `kube-apiserver` and `kube-controller-manager` in `dir` (and etcd as
    /// [`Binaries::locate`] does).
    pub fn locate_in(dir: &Path) -> Result<Self> {
        let apiserver = dir.join("kube-apiserver");
        let controller_manager = dir.join("kube-controller-manager");
        for path in [&apiserver, &controller_manager] {
            if !is_executable(path) {
                return Err(Error::BinariesMissing {
                    reason: format!("{} is missing or not executable", path.display()),
                });
            }
        }
        let etcd = match std::env::var_os(ENV_ETCD) {
            Some(path) => PathBuf::from(path),
            None => find_on_path("etcd").ok_or_else(|| Error::BinariesMissing {
                reason: "`etcd` is not on PATH (Debian package etcd-server)".into(),
            })?,
        };
        if !is_executable(&etcd) {
            return Err(Error::BinariesMissing {
                reason: format!("{} is missing or not executable", etcd.display()),
            });
        }
        Ok(Self {
            apiserver,
            controller_manager,
            etcd,
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// How to start a bed.
#[derive(Debug, Clone)]
pub struct BedOptions {
    /// A name for logs and directory prefixes (e.g. `source`, `target`).
    pub name: String,
    /// Keep the bed's files (kubeconfig, certificates, tokens, logs) in this directory instead of
    /// a temporary one; it is created if needed and not removed on drop. etcd's data always lives
    /// in a temporary directory (on `/dev/shm` when available) and is removed.
    pub dir: Option<PathBuf>,
    /// Start kube-controller-manager (default true).
    pub controller_manager: bool,
    /// How long to wait for readiness before failing.
    pub start_timeout: Duration,
    /// Extra `--flag=value` arguments for kube-apiserver (appended, so they win).
    pub apiserver_args: Vec<String>,
}

impl Default for BedOptions {
    fn default() -> Self {
        Self {
            name: "bed".into(),
            dir: None,
            controller_manager: true,
            start_timeout: Duration::from_secs(180),
            apiserver_args: Vec::new(),
        }
    }
}

impl BedOptions {
    /// Default options with a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

struct Proc {
    component: &'static str,
    child: Child,
    log: PathBuf,
}

enum BedDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl BedDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temp(dir) => dir.path(),
            Self::Kept(path) => path,
        }
    }
}

/// A running etcd + kube-apiserver + kube-controller-manager on loopback. See the module docs.
pub struct TestBed {
    name: String,
    procs: Vec<Proc>,
    watchdog: Option<(Child, ChildStdin)>,
    // Field order matters: the directories are removed after the processes are killed (Drop).
    etcd_dir: Option<tempfile::TempDir>,
    dir: BedDir,
    server_url: String,
    ca_pem: String,
    admin_token: String,
    user_token: String,
    kubeconfig_path: PathBuf,
    started_in: Duration,
}

impl std::fmt::Debug for TestBed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens stay out of Debug output.
        f.debug_struct("TestBed")
            .field("name", &self.name)
            .field("server_url", &self.server_url)
            .field("dir", &self.dir.path())
            .field("pids", &self.pids())
            .finish_non_exhaustive()
    }
}

impl TestBed {
    /// Starts a bed with default options.
    pub async fn start() -> Result<Self> {
        Self::start_with(BedOptions::default()).await
    }

    /// Starts a bed named `name` (use distinct names for source and target clusters).
    pub async fn start_named(name: &str) -> Result<Self> {
        Self::start_with(BedOptions::named(name)).await
    }

    /// Starts a bed. Retries (twice) from scratch if a component lost a port race, or if the
    /// controller-manager exited during start-up (seen on a loaded 2-core machine: exit 255).
    pub async fn start_with(options: BedOptions) -> Result<Self> {
        install_crypto_provider();
        let binaries = Binaries::locate()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&binaries, &options).await {
                Err(Error::Exited {
                    component,
                    ref log_tail,
                    ..
                }) if attempt < 3
                    && (log_tail.contains("address already in use")
                        || component == "kube-controller-manager") =>
                {
                    tracing::warn!(bed = %options.name, component, "component exited during start-up; retrying");
                }
                other => return other,
            }
        }
    }

    async fn start_once(binaries: &Binaries, options: &BedOptions) -> Result<Self> {
        let begin = Instant::now();
        let dir = match &options.dir {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(io_err(path))?;
                BedDir::Kept(path.clone())
            }
            None => BedDir::Temp(
                tempfile::Builder::new()
                    .prefix(&format!("skiff-bed-{}-", options.name))
                    .tempdir()
                    .map_err(io_err(std::env::temp_dir()))?,
            ),
        };
        let shm = Path::new("/dev/shm");
        let etcd_parent = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            dir.path().to_path_buf()
        };
        let etcd_dir = tempfile::Builder::new()
            .prefix(&format!("skiff-etcd-{}-", options.name))
            .tempdir_in(&etcd_parent)
            .map_err(io_err(&etcd_parent))?;
        let root = dir.path().to_path_buf();

        generate_pki(&root)?;
        let admin_token = random_token();
        let user_token = random_token();
        let tokens = root.join("tokens.csv");
        write_private(
            &tokens,
            &format!(
                "{admin_token},skiff-admin,skiff-admin,\"system:masters\"\n{user_token},{USER_NAME},{USER_NAME}\n"
            ),
        )?;

        let [etcd_client, etcd_peer, api_port] = free_ports()?;
        let server_url = format!("https://127.0.0.1:{api_port}");
        let ca_pem = std::fs::read_to_string(root.join("ca.crt")).map_err(io_err(root.join("ca.crt")))?;
        let kubeconfig_path = root.join("kubeconfig");
        write_private(
            &kubeconfig_path,
            &kubeconfig_yaml(&server_url, &ca_pem, &admin_token, &user_token),
        )?;

        let mut bed = Self {
            name: options.name.clone(),
            procs: Vec::new(),
            watchdog: None,
            etcd_dir: None,
            dir,
            server_url,
            ca_pem,
            admin_token,
            user_token,
            kubeconfig_path,
            started_in: Duration::ZERO,
        };

        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        bed.spawn(
            "etcd",
            &binaries.etcd,
            &[
                "--name=skiff".into(),
                format!("--data-dir={}", etcd_dir.path().join("data").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=skiff={peer_url}"),
                "--initial-cluster-state=new".into(),
                // 8 GiB: the L workload (100k objects) with history stays below the quota.
                "--quota-backend-bytes=8589934592".into(),
                "--logger=zap".into(),
                "--log-level=warn".into(),
            ],
        )?;
        bed.etcd_dir = Some(etcd_dir);

        let p = |name: &str| root.join(name).display().to_string();
        let mut api_args = vec![
            format!("--etcd-servers={etcd_url}"),
            "--advertise-address=127.0.0.1".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={api_port}"),
            "--insecure-port=0".into(),
            format!("--cert-dir={}", p("apiserver-certs")),
            format!("--tls-cert-file={}", p("server.crt")),
            format!("--tls-private-key-file={}", p("server.key")),
            format!("--token-auth-file={}", tokens.display()),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-key-file={}", p("sa.key")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            // Inside loopback: webhooks and aggregated APIs dialled at a ClusterIP stay local.
            "--service-cluster-ip-range=127.100.0.0/16".into(),
            "--allow-privileged=true".into(),
            // Throughput: no flow-control queueing and generous in-flight limits (one client
            // at a time drives the bed; fairness between tenants is not under test).
            "--enable-priority-and-fairness=false".into(),
            "--max-requests-inflight=3000".into(),
            "--max-mutating-requests-inflight=1500".into(),
            "--delete-collection-workers=8".into(),
            "--profiling=false".into(),
            "--logtostderr=true".into(),
            "--v=1".into(),
        ];
        api_args.extend(options.apiserver_args.iter().cloned());
        bed.spawn("kube-apiserver", &binaries.apiserver, &api_args)?;
        if options.controller_manager {
            bed.spawn(
                "kube-controller-manager",
                &binaries.controller_manager,
                &[
                    format!("--kubeconfig={}", bed.kubeconfig_path.display()),
                    "--controllers=*,-nodeipam,-nodelifecycle".into(),
                    "--leader-elect=false".into(),
                    "--port=0".into(),
                    "--secure-port=0".into(),
                    format!("--service-account-private-key-file={}", p("sa.key")),
                    format!("--root-ca-file={}", p("ca.crt")),
                    "--use-service-account-credentials=false".into(),
                    // Seeded workloads are large: let GC, namespace deletion and the workload
                    // controllers keep up.
                    "--kube-api-qps=1000".into(),
                    "--kube-api-burst=2000".into(),
                    "--concurrent-gc-syncs=30".into(),
                    "--concurrent-namespace-syncs=10".into(),
                    "--concurrent-deployment-syncs=10".into(),
                    "--concurrent-replicaset-syncs=10".into(),
                    "--concurrent-statefulset-syncs=10".into(),
                    "--concurrent-serviceaccount-token-syncs=10".into(),
                    "--logtostderr=true".into(),
                    "--v=1".into(),
                ],
            )?;
        }
        bed.start_watchdog()?;

        let deadline = begin + options.start_timeout;
        let client = bed.client().await?;
        bed.wait_until("kube-apiserver", deadline, || {
            let client = client.clone();
            async move {
                let req = http::Request::get("/readyz").body(Vec::new()).ok()?;
                client.request_text(req).await.ok().filter(|t| t.trim() == "ok")
            }
        })
        .await?;
        if options.controller_manager {
            bed.wait_until("kube-controller-manager", deadline, || {
                let client = client.clone();
                async move {
                    let req = http::Request::get("/api/v1/namespaces/default/serviceaccounts/default")
                        .body(Vec::new())
                        .ok()?;
                    client.request_text(req).await.ok()
                }
            })
            .await?;
        }
        bed.started_in = begin.elapsed();
        tracing::info!(bed = %bed.name, url = %bed.server_url, elapsed = ?bed.started_in, "test bed ready");
        Ok(bed)
    }

    fn spawn(&mut self, component: &'static str, program: &Path, args: &[String]) -> Result<()> {
        let log = self.dir.path().join(format!("{component}.log"));
        let out = std::fs::File::create(&log).map_err(io_err(&log))?;
        let err = out.try_clone().map_err(io_err(&log))?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.to_path_buf(),
                source,
            })?;
        tracing::debug!(bed = %self.name, component, pid = child.id(), "started");
        self.procs.push(Proc {
            component,
            child,
            log,
        });
        Ok(())
    }

    /// A `sh` that blocks reading a pipe only this process holds; when this process dies without
    /// running Drop, the pipe closes and the shell kills the bed's processes.
    fn start_watchdog(&mut self) -> Result<()> {
        let pids: Vec<String> = self.procs.iter().map(|p| p.child.id().to_string()).collect();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"read -r _; kill -9 "$@" 2>/dev/null; exit 0"#)
            .arg("skiff-bed-watchdog")
            .args(&pids)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "sh".into(),
                source,
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        self.watchdog = Some((child, stdin));
        Ok(())
    }

    async fn wait_until<F, Fut, T>(
        &mut self,
        component: &'static str,
        deadline: Instant,
        mut probe: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let begin = Instant::now();
        loop {
            if let Some(value) = probe().await {
                return Ok(value);
            }
            for proc in &mut self.procs {
                if let Ok(Some(status)) = proc.child.try_wait() {
                    return Err(Error::Exited {
                        component: proc.component,
                        status,
                        log: proc.log.clone(),
                        log_tail: log_tail(&proc.log),
                    });
                }
            }
            if Instant::now() >= deadline {
                let log = self
                    .procs
                    .iter()
                    .find(|p| p.component == component)
                    .map_or_else(|| self.dir.path().join("kube-apiserver.log"), |p| p.log.clone());
                return Err(Error::NotReady {
                    component,
                    waited: begin.elapsed(),
                    log_tail: log_tail(&log),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bed's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// PEM of the CA that signed the apiserver's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Bearer token of a `system:masters` user.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Bearer token of an ordinary user ([`USER_NAME`], no RBAC grants).
    pub fn user_token(&self) -> &str {
        &self.user_token
    }

    /// The kubeconfig with contexts [`ADMIN_CONTEXT`] (current) and [`USER_CONTEXT`].
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// Directory of the bed's files (kubeconfig, certificates, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of a component's log (`etcd`, `kube-apiserver`, `kube-controller-manager`).
    pub fn log_path(&self, component: &str) -> PathBuf {
        self.dir.path().join(format!("{component}.log"))
    }

    /// How long [`TestBed::start`] took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Process ids of etcd, kube-apiserver and kube-controller-manager (in start order).
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(|p| p.child.id()).collect()
    }

    /// Admin client (`system:masters`).
    pub async fn client(&self) -> Result<kube::Client> {
        self.context_client(ADMIN_CONTEXT).await
    }

    /// Client of the ordinary user (authenticated, no RBAC grants).
    pub async fn user_client(&self) -> Result<kube::Client> {
        self.context_client(USER_CONTEXT).await
    }

    async fn context_client(&self, context: &str) -> Result<kube::Client> {
        client_from_kubeconfig(&self.kubeconfig_path, Some(context)).await
    }

    fn keep_logs(&self) -> Option<PathBuf> {
        let base = std::env::var_os(ENV_LOG_DIR)
            .map_or_else(|| std::env::temp_dir().join("skiff-bed-logs"), PathBuf::from);
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let target = base.join(format!("{}-{}-{stamp}", self.name, std::process::id()));
        std::fs::create_dir_all(&target).ok()?;
        for proc in &self.procs {
            let file = proc.log.file_name()?;
            std::fs::copy(&proc.log, target.join(file)).ok()?;
        }
        Some(target)
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        // The watchdog first, so it cannot signal pids this process reaps (and the OS reuses).
        if let Some((mut child, stdin)) = self.watchdog.take() {
            let _ = child.kill();
            drop(stdin);
            let _ = child.wait();
        }
        for proc in self.procs.iter_mut().rev() {
            let _ = proc.child.kill();
            let _ = proc.child.wait();
        }
        if std::thread::panicking()
            && let Some(kept) = self.keep_logs()
        {
            tracing::error!(bed = %self.name, logs = %kept.display(), "test panicked; bed logs kept");
            // The test harness shows a failing test's stderr: say where the logs are.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skiff test bed `{}`: logs kept in {}", self.name, kept.display());
            }
        }
        drop(self.etcd_dir.take());
    }
}

/// Builds a kube client from a kubeconfig file and context (`None`: its current context), with
/// kube's default retry of 429/503/504 on.
pub async fn client_from_kubeconfig(path: &Path, context: Option<&str>) -> Result<kube::Client> {
    install_crypto_provider();
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    client_from(kubeconfig, context, path, true).await
}

pub(crate) async fn client_from(
    kubeconfig: Kubeconfig,
    context: Option<&str>,
    path: &Path,
    retry: bool,
) -> Result<kube::Client> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Error::Kubeconfig {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
    config.default_retry = retry;
    kube::Client::try_from(config).map_err(|source| Error::Kube {
        what: "build a client".into(),
        source,
    })
}

/// A kubeconfig (YAML) with contexts `admin` (current) and `user` for `server`. `ca_pem` is
/// omitted for a plain-HTTP server (the fault proxy).
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, admin_token: &str, user_token: &str) -> String {
    let mut cluster = json!({ "server": server });
    if server.starts_with("https://") {
        cluster["certificate-authority-data"] =
            base64::engine::general_purpose::STANDARD.encode(ca_pem).into();
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "skiff-testbed", "cluster": cluster }],
        "users": [
            { "name": ADMIN_CONTEXT, "user": { "token": admin_token } },
            { "name": USER_CONTEXT, "user": { "token": user_token } },
        ],
        "contexts": [
            { "name": ADMIN_CONTEXT, "context": { "cluster": "skiff-testbed", "user": ADMIN_CONTEXT, "namespace": "default" } },
            { "name": USER_CONTEXT, "context": { "cluster": "skiff-testbed", "user": USER_CONTEXT, "namespace": "default" } },
        ],
        "current-context": ADMIN_CONTEXT,
        "preferences": {},
    });
    serde_yaml_ng::to_string(&doc).expect("a JSON value serialises as YAML")
}

fn random_token() -> String {
    let mut rng = rand::rng();
    (0..32).fold(String::with_capacity(32), |mut s, _| {
        let _ = write!(s, "{:x}", rng.random_range(0..16u8));
        s
    })
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(contents.as_bytes()).map_err(io_err(path))
}

/// Three distinct free loopback ports (held open together while chosen).
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| Error::Net {
            what: "bind a loopback port",
            source,
        })?;
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(|source| Error::Net {
                what: "read a bound port",
                source,
            })?
            .port();
    }
    Ok(ports)
}

/// CA (`ca.crt`/`ca.key`), apiserver serving pair (`server.crt`/`server.key`) and
/// service-account key (`sa.key`), all EC P-256 (fast to generate).
fn generate_pki(dir: &Path) -> Result<()> {
    let sans = "subjectAltName=IP:127.0.0.1,IP:127.100.0.1,DNS:localhost,DNS:kubernetes,\
                DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local";
    let steps: [(&'static str, Vec<&str>); 3] = [
        (
            "ca",
            vec![
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "3650",
                "-subj",
                "/CN=skiff-testbed-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ),
        (
            "serving certificate",
            vec![
                "req",
                "-x509",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.crt",
                "-days",
                "3650",
                "-subj",
                "/CN=kube-apiserver",
                "-addext",
                sans,
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-addext",
                "extendedKeyUsage=serverAuth",
                "-addext",
                "keyUsage=critical,digitalSignature,keyEncipherment",
            ],
        ),
        (
            "service-account key",
            vec![
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "sa.key",
            ],
        ),
    ];
    for (step, args) in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                program: "openssl".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(Error::Openssl {
                step,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
    }
    Ok(())
}

/// The last 40 lines (at most 8 KiB) of a log file.
pub(crate) fn log_tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::from("(no log)");
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(8192)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
