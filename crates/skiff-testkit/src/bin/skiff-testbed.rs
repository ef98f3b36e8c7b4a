//! `skiff-testbed`: bring a local test bed (real kube-apiserver + controller-manager + etcd, and
//! optionally an S3 server) up and down, seed it, and measure its raw rates.
//!
//! ```text
//! skiff-testbed up --detach --with-s3      # start in the background, write kubeconfig + env
//! source "$(skiff-testbed env --path)"     # KUBECONFIG=… and the S3 settings
//! skiff-testbed seed --size s              # seeded workload through the API
//! kubectl get deploy -A
//! skiff-testbed down
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)] // A CLI: stdout for data, stderr for status.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use skiff_testkit::bed::{self, BedOptions, TestBed};
use skiff_testkit::s3::S3Server;
use skiff_testkit::seed::{self, ProbeKind};
use skiff_testkit::workload::Size;

#[derive(Debug, Parser)]
#[command(
    name = "skiff-testbed",
    version,
    about = "Local Kubernetes 1.20 control plane (and S3) for skiff"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Args)]
struct Where {
    /// Directory of the bed's files (kubeconfig, env, certificates, logs, pid file).
    /// Default: `$TMPDIR/skiff-testbed/<name>`.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Name of the bed (several can run at once under different names).
    #[arg(long, default_value = "dev")]
    name: String,
}

impl Where {
    fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("skiff-testbed").join(&self.name))
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start a bed (foreground until Ctrl-C/SIGTERM, or in the background with --detach).
    Up {
        #[command(flatten)]
        at: Where,
        /// Also start an S3 server (s3s-fs) on loopback with a bucket `skiff`.
        #[arg(long)]
        with_s3: bool,
        /// Do not start kube-controller-manager: the cluster then holds exactly what is
        /// created in it (no ReplicaSets/Pods from Deployments, no token Secrets) — what the
        /// backup benchmark uses.
        #[arg(long)]
        no_controller_manager: bool,
        /// Return once the bed is ready; stop it later with `skiff-testbed down`.
        #[arg(long, short)]
        detach: bool,
    },
    /// Print the env file (`KUBECONFIG=…`, S3 settings) of a running bed, or its path.
    Env {
        #[command(flatten)]
        at: Where,
        /// Print the path of the env file instead of its contents.
        #[arg(long)]
        path: bool,
    },
    /// Stop a detached bed.
    Down {
        #[command(flatten)]
        at: Where,
    },
    /// Create a seeded workload in the cluster of $KUBECONFIG.
    Seed {
        /// s (1k objects), m (10k), l (100k) or deep (30k Secrets in one namespace).
        #[arg(long, default_value = "s")]
        size: Size,
        /// Seed of the generator: same seed, same objects.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Requests in flight.
        #[arg(long, default_value_t = seed::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// Kubeconfig (default: $KUBECONFIG).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: PathBuf,
    },
    /// Measure raw concurrent creates/s and paged LIST objects/s (the benches' roofline).
    Probe {
        /// Objects to create per kind.
        #[arg(long, default_value_t = 2000)]
        n: usize,
        /// Requests in flight while creating.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Kubeconfig (default: $KUBECONFIG).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: PathBuf,
    },
}

fn main() -> Result<()> {
    tracing_init();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Up {
            at,
            with_s3,
            no_controller_manager,
            detach,
        } if detach => up_detached(&at, with_s3, !no_controller_manager),
        Cmd::Up {
            at,
            with_s3,
            no_controller_manager,
            ..
        } => runtime()?.block_on(up_foreground(&at, with_s3, !no_controller_manager)),
        Cmd::Env { at, path } => {
            let file = at.dir().join("env");
            if path {
                println!("{}", file.display());
            } else {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("read {} (is the bed up? `skiff-testbed up`)", file.display()))?;
                print!("{text}");
            }
            Ok(())
        }
        Cmd::Down { at } => down(&at.dir()),
        Cmd::Seed { size, seed, concurrency, kubeconfig } => runtime()?.block_on(async {
            let client = bed::client_from_kubeconfig(&kubeconfig, None).await?;
            let workload = skiff_testkit::workload::generate(size, seed);
            let report = seed::seed_workload(&client, &workload, concurrency).await?;
            eprintln!(
                "seeded size {size} seed {seed}: {} objects ({} created, {} already there) in {:.1?} ({:.0} objects/s)",
                report.objects,
                report.total_created(),
                report.existed,
                report.elapsed,
                report.objects as f64 / report.elapsed.as_secs_f64()
            );
            for (kind, n) in &report.created {
                println!("{kind}\t{n}");
            }
            Ok(())
        }),
        Cmd::Probe { n, concurrency, kubeconfig } => runtime()?.block_on(async {
            let client = bed::client_from_kubeconfig(&kubeconfig, None).await?;
            for (kind, label) in [(ProbeKind::ConfigMap, "configmaps"), (ProbeKind::Secret, "secrets")] {
                let rate = seed::raw_create_rate(&client, kind, n, concurrency).await?;
                println!("create {label}: {} in {:.2?} = {:.0}/s (concurrency {concurrency})", rate.objects, rate.elapsed, rate.per_sec());
            }
            let collections = ["/api/v1/configmaps".to_owned(), "/api/v1/secrets".to_owned()];
            let rate = seed::raw_list_rate(&client, &collections).await?;
            println!("paged list (limit {}): {} objects in {:.2?} = {:.0}/s", seed::LIST_PAGE, rate.objects, rate.elapsed, rate.per_sec());
            Ok(())
        }),
    }
}

fn tracing_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn pid_alive(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; its state line says `Z`.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

async fn up_foreground(at: &Where, with_s3: bool, controller_manager: bool) -> Result<()> {
    let dir = at.dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let pid_file = dir.join("testbed.pid");
    if let Some(pid) = read_pid(&pid_file).filter(|&p| pid_alive(p) && p != std::process::id()) {
        bail!(
            "a bed named {:?} is already running (pid {pid}); `skiff-testbed down --name {}` first",
            at.name,
            at.name
        );
    }
    let env_file = dir.join("env");
    let _ = std::fs::remove_file(&env_file);
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))?;

    let begin = Instant::now();
    let bed = TestBed::start_with(BedOptions {
        dir: Some(dir.clone()),
        controller_manager,
        ..BedOptions::named(at.name.clone())
    })
    .await?;
    std::fs::write(
        dir.join("children.pids"),
        bed.pids()
            .iter()
            .map(|p| p.to_string() + "\n")
            .collect::<String>(),
    )?;
    let mut env = format!(
        "export KUBECONFIG={}\nexport SKIFF_TESTBED_SERVER={}\n",
        bed.kubeconfig_path().display(),
        bed.server_url()
    );
    let s3 = if with_s3 {
        let s3 = S3Server::start_at(&dir.join("s3"), 0)?;
        s3.create_bucket("skiff")?;
        let creds = dir.join("s3-credentials");
        write_private(&creds, &s3.credentials_file_contents())?;
        let _ = write!(
            env,
            "export AWS_ENDPOINT_URL={ep}\nexport AWS_REGION={region}\nexport AWS_ACCESS_KEY_ID={ak}\n\
             export AWS_SECRET_ACCESS_KEY={sk}\nexport SKIFF_S3_ENDPOINT={ep}\nexport SKIFF_S3_BUCKET=skiff\n\
             export SKIFF_S3_CREDENTIALS_FILE={creds}\n",
            ep = s3.endpoint(),
            region = s3.region(),
            ak = s3.access_key(),
            sk = s3.secret_key(),
            creds = creds.display(),
        );
        Some(s3)
    } else {
        None
    };
    // Written last: its presence tells a detaching parent that the bed is ready.
    write_private(&dir.join("env.tmp"), &env)?;
    std::fs::rename(dir.join("env.tmp"), &env_file)?;
    eprintln!(
        "skiff test bed {:?} ready in {:.1?}: {}",
        at.name,
        begin.elapsed(),
        bed.server_url()
    );
    if let Some(s3) = &s3 {
        eprintln!("S3 server: {} (bucket `skiff`)", s3.endpoint());
    }
    eprintln!(
        "use it:  source {}   (then kubectl get ns; --context user for the ordinary user)",
        env_file.display()
    );
    eprintln!("logs:    {}/kube-apiserver.log", dir.display());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping the bed");
    drop(s3);
    drop(bed);
    let _ = std::fs::remove_file(&env_file);
    let _ = std::fs::remove_file(dir.join("children.pids"));
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
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
        .with_context(|| format!("write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

fn up_detached(at: &Where, with_s3: bool, controller_manager: bool) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let dir = at.dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    if let Some(pid) = read_pid(&dir.join("testbed.pid")).filter(|&p| pid_alive(p)) {
        bail!(
            "a bed named {:?} is already running (pid {pid}); `skiff-testbed down --name {}` first",
            at.name,
            at.name
        );
    }
    let env_file = dir.join("env");
    let _ = std::fs::remove_file(&env_file);
    let log = dir.join("testbed.log");
    let out = std::fs::File::create(&log)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("up").arg("--dir").arg(&dir).arg("--name").arg(&at.name);
    if with_s3 {
        cmd.arg("--with-s3");
    }
    if !controller_manager {
        cmd.arg("--no-controller-manager");
    }
    // Own process group: the terminal's Ctrl-C does not reach the background bed.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .context("start the background bed")?;
    let begin = Instant::now();
    loop {
        if env_file.exists() {
            break;
        }
        if let Some(status) = child.try_wait()? {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("the background bed exited ({status}):\n{text}");
        }
        if begin.elapsed() > Duration::from_secs(240) {
            let _ = child.kill();
            bail!(
                "the background bed was not ready after 240 s; see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "skiff test bed {:?} up in {:.1?} (pid {})",
        at.name,
        begin.elapsed(),
        child.id()
    );
    eprintln!("use it:  source {}", env_file.display());
    eprintln!("stop it: skiff-testbed down --name {}", at.name);
    Ok(())
}

fn down(dir: &Path) -> Result<()> {
    let pid_file = dir.join("testbed.pid");
    let Some(pid) = read_pid(&pid_file) else {
        bail!("no bed is running in {} (no testbed.pid)", dir.display());
    };
    let children: Vec<u32> = std::fs::read_to_string(dir.join("children.pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if pid_alive(pid) {
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let begin = Instant::now();
        while pid_alive(pid) && begin.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Whatever survived a crashed supervisor.
    for p in std::iter::once(pid).chain(children) {
        if pid_alive(p) {
            let _ = Command::new("kill").arg("-KILL").arg(p.to_string()).status();
        }
    }
    for f in ["testbed.pid", "children.pids", "env"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    eprintln!("stopped the bed in {}", dir.display());
    Ok(())
}
