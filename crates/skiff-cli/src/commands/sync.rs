//! `skiff sync`: keep a target in step with a live source until cutover; `skiff sync status`;
//! and `skiff cutover`.

use super::restore::{ApplyArgs, restore_options};
use super::{connect_to, open_from, refuse_same_cluster, tokio_util_cancel};
use crate::args::{FromArgs, LocationArgs, Output, ToArgs};
use crate::exit::{CliError, chain, code};
use crate::output;
use crate::progress::CliProgress;
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use skiff_engine::side::Side;
use skiff_engine::sync::{
    self, CutoverOptions, CutoverReport, DriftMode, SyncError, SyncMonitor, SyncOptions, SyncState,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `skiff sync`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SyncArgs {
    /// `status`.
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
    /// Run a sync.
    #[command(flatten)]
    pub run: SyncRunArgs,
}

/// `skiff sync` subcommands.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Show a sync's state (from its state file, written by the running sync).
    Status(SyncStatusArgs),
}

/// `skiff sync <name> …`.
#[derive(Debug, Args)]
pub struct SyncRunArgs {
    /// Sync name: the value of the `skiff.io/sync` label on everything it puts on the target,
    /// and the name of its state file.
    #[arg(required = true)]
    pub name: Option<String>,
    /// The source cluster (a live cluster).
    #[command(flatten)]
    pub from: FromArgs,
    /// The target cluster.
    #[command(flatten)]
    pub to: ToArgs,
    /// What to apply and how (as `skiff migrate`; workloads are held unless --activate).
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Land workloads running (no hold): only when the source's copy is not running too.
    #[arg(long)]
    pub activate: bool,
    /// A target object changed by another manager: overwrite it, keep the other manager's
    /// fields (apply the rest), or report only (write nothing to it).
    #[arg(long, default_value = "overwrite", value_parser = drift_parser())]
    pub drift: DriftMode,
    /// Stop after the initial copy (first run) or one reconcile pass (a restart).
    #[arg(long)]
    pub once: bool,
    /// Stop after watching this many seconds.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Folder of the state file (default: `$XDG_STATE_HOME/skiff/syncs`, else
    /// `~/.local/state/skiff/syncs`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Serve Prometheus metrics (counters, lag histogram) at this address, e.g. 127.0.0.1:9090.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Upper bound on requests in flight to each cluster.
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
}

/// `skiff sync status <name>`.
#[derive(Debug, Args)]
pub struct SyncStatusArgs {
    /// Sync name.
    pub name: String,
    /// Folder of the state file.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Output.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `skiff cutover <name>`.
#[derive(Debug, Args)]
pub struct CutoverArgs {
    /// Sync name.
    pub name: String,
    /// Folder of the sync's state file.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Say what would be held and released; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave the sync's markers on the target.
    #[arg(long)]
    pub keep_markers: bool,
    /// Reverse the cutover: hold the target again, release the source.
    #[arg(long, conflicts_with = "keep_markers")]
    pub rollback: bool,
    /// Output.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Re-reads the sync's own command line from its state file.
#[derive(Debug, Parser)]
#[command(name = "sync")]
struct Stored {
    /// Global flags given with the sync (ignored here).
    #[command(flatten)]
    _global: crate::args::GlobalArgs,
    #[command(flatten)]
    run: SyncRunArgs,
}

fn drift_parser() -> impl clap::builder::TypedValueParser<Value = DriftMode> {
    clap::builder::PossibleValuesParser::new(["overwrite", "keep", "report"])
        .try_map(|s| s.parse::<DriftMode>())
}

/// Where the state file of sync `name` lives.
fn state_path(dir: Option<&Path>, name: &str) -> Result<PathBuf, CliError> {
    skiff_store::layout::validate_restore_name(name)?;
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .ok_or_else(|| {
                CliError::usage("no HOME or XDG_STATE_HOME for the sync state: pass --state-dir <folder>")
            })?
            .join("skiff/syncs"),
    };
    Ok(dir.join(format!("{name}.json")))
}

fn sync_error(e: SyncError) -> CliError {
    match e {
        SyncError::Engine(e) | SyncError::Restore(skiff_engine::restore::RestoreError::Engine(e)) => e.into(),
        SyncError::NotReady { .. } | SyncError::NoCutover { .. } => CliError::SyncState {
            message: chain(&e),
            hints: vec![],
        },
        other => CliError::usage(chain(&other)),
    }
}

/// Run `skiff sync`.
pub async fn run(a: SyncArgs, progress: &CliProgress) -> Result<u8, CliError> {
    match a.command {
        Some(SyncCommand::Status(s)) => status(&s),
        None => Box::pin(run_sync(a.run, progress)).await,
    }
}

/// The sync's options from its arguments.
fn options(a: &SyncRunArgs, name: &str) -> Result<SyncOptions, CliError> {
    let mut restore = restore_options(&a.apply, name.to_owned(), name)?;
    if a.activate {
        restore.hold = None;
    } else if restore.hold.is_none() {
        restore.hold = Some(skiff_engine::hold::HoldRules::default());
    }
    let mut o = SyncOptions::new(name, restore);
    o.drift = a.drift;
    o.once = a.once;
    o.duration = a.duration.map(std::time::Duration::from_secs);
    o.concurrency = a.apply.concurrency.max(1);
    o.wait_timeout = std::time::Duration::from_secs(a.apply.wait_timeout);
    Ok(o)
}

/// Both clusters of a sync, checked: a live source, a different target.
async fn clusters(a: &SyncRunArgs) -> Result<(skiff_kube::Cluster, skiff_kube::Cluster), CliError> {
    if a.from.from_backup.is_some() {
        return Err(CliError::usage(
            "skiff sync reads a live source (--from-context / --from-kubeconfig), not a backup",
        ));
    }
    let target = connect_to(&a.to, a.max_requests).await?;
    let source = open_from(&a.from, None, &LocationArgs::default(), a.max_requests).await?;
    refuse_same_cluster(&source, &target).await?;
    let Side::Cluster(source) = source else {
        return Err(CliError::usage("skiff sync needs a live source cluster"));
    };
    Ok((source, target))
}

async fn run_sync(a: SyncRunArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let name = a.name.clone().unwrap_or_default();
    let path = state_path(a.state_dir.as_deref(), &name)?;
    if a.apply.dry_run || a.apply.server_dry_run {
        return Err(CliError::usage(
            "skiff sync has no dry run: use skiff migrate --dry-run to see the plan",
        ));
    }
    let opts = options(&a, &name)?;
    let (source, target) = clusters(&a).await?;
    let mut state = SyncState::load(&path)
        .map_err(sync_error)?
        .unwrap_or_else(|| SyncState::new(&name));
    if state.cutover.as_ref().is_some_and(|c| !c.rolled_back) {
        return Err(CliError::SyncState {
            message: format!("sync {name:?} was cut over"),
            hints: vec!["roll it back first: skiff cutover --rollback".into()],
        });
    }
    // The command line after `sync`, for `skiff cutover` and for restarts.
    state.args = std::env::args().skip_while(|x| x != "sync").skip(1).collect();
    let monitor = SyncMonitor::new(&name);
    if let Some(addr) = a.metrics_addr {
        serve_metrics(addr, monitor.clone()).await?;
    }
    let cancel = tokio_util_cancel();
    let report = Box::pin(sync::run(
        &source, &target, &opts, &path, state, &monitor, progress, &cancel,
    ))
    .await
    .map_err(sync_error)?;
    progress.clear();
    match a.apply.output {
        Output::Table => {
            let mut o = String::new();
            let s = &report.stats;
            let _ = writeln!(
                o,
                "Sync {name:?}{}: {} types, {}",
                if report.initial_copy {
                    " (initial copy)"
                } else {
                    ""
                },
                report.types,
                sync::status_line(s)
            );
            for d in &report.drift {
                let _ = writeln!(
                    o,
                    "  drift {:?} {}: {}{}",
                    d.action,
                    d.object,
                    d.fields.join(", "),
                    if d.managers.is_empty() {
                        String::new()
                    } else {
                        format!(" (by {})", d.managers.join(", "))
                    }
                );
            }
            let _ = writeln!(o, "State: {}", path.display());
            output::text_out(&o)?;
        }
        o => output::data(&report, o)?,
    }
    Ok(if report.stats.errors > 0 {
        code::ITEM_FAILURES
    } else {
        code::OK
    })
}

/// A tiny Prometheus endpoint: every request gets the current text exposition.
async fn serve_metrics(addr: std::net::SocketAddr, monitor: SyncMonitor) -> Result<(), CliError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::usage(format!("--metrics-addr {addr}: {e}")))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let monitor = monitor.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf)).await;
                let body = monitor.prometheus();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(())
}

fn load(dir: Option<&Path>, name: &str) -> Result<(PathBuf, SyncState), CliError> {
    let path = state_path(dir, name)?;
    let state = SyncState::load(&path)
        .map_err(sync_error)?
        .ok_or_else(|| CliError::SyncState {
            message: format!("no sync named {name:?} (no state file {})", path.display()),
            hints: vec![
                "start it with skiff sync <name> --from-context A --to-context B, or pass --state-dir".into(),
            ],
        })?;
    Ok((path, state))
}

fn status(a: &SyncStatusArgs) -> Result<u8, CliError> {
    let (path, state) = load(a.state_dir.as_deref(), &a.name)?;
    match a.output {
        Output::Table => {
            let mut o = String::new();
            let s = &state.stats;
            let age = skiff_engine_now() - state.updated_unix;
            let running = state
                .pid
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            let _ = writeln!(o, "Sync {:?}", state.name);
            let _ = writeln!(
                o,
                "  state       {}",
                match (&state.cutover, running) {
                    (Some(c), _) if c.rolled_back => "cut over, rolled back".to_owned(),
                    (Some(_), _) => "cut over".to_owned(),
                    (None, true) => format!("running (pid {})", state.pid.unwrap_or_default()),
                    (None, false) if state.initial_copy_done => "stopped".to_owned(),
                    (None, false) => "initial copy not completed".to_owned(),
                }
            );
            let _ = writeln!(o, "  updated     {age:.0}s ago");
            let _ = writeln!(o, "  in sync     {}", s.in_sync);
            let _ = writeln!(o, "  pending     {}", s.pending);
            let _ = writeln!(o, "  applied     {}", s.applied);
            let _ = writeln!(o, "  deleted     {}", s.deleted);
            let _ = writeln!(o, "  skipped     {}", s.skipped);
            let _ = writeln!(o, "  errors      {}", s.errors);
            let _ = writeln!(o, "  drift       {}", s.drift);
            let _ = writeln!(o, "  relists     {}", s.relists);
            let _ = writeln!(
                o,
                "  lag         p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                s.lag_p50_ms, s.lag_p99_ms, s.lag_max_ms
            );
            if let Some(t) = s.last_event_unix {
                let _ = writeln!(o, "  last event  {:.0}s ago", skiff_engine_now() - t);
            }
            let _ = writeln!(o, "  types       {}", state.types.len());
            for d in state.drift.iter().rev().take(10) {
                let _ = writeln!(o, "  drift {:?} {}: {}", d.action, d.object, d.fields.join(", "));
            }
            for e in state.errors.iter().rev().take(10) {
                let _ = writeln!(o, "  error {e}");
            }
            let _ = writeln!(o, "  file        {}", path.display());
            output::text_out(&o)?;
        }
        o => output::data(&state, o)?,
    }
    Ok(code::OK)
}

fn skiff_engine_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Run `skiff cutover`.
pub async fn cutover(a: CutoverArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let (path, mut state) = load(a.state_dir.as_deref(), &a.name)?;
    let stored = Stored::try_parse_from(std::iter::once("sync".to_owned()).chain(state.args.iter().cloned()))
        .map_err(|e| CliError::usage(format!("the sync's stored command line does not parse: {e}")))?;
    let opts = options(&stored.run, &a.name)?;
    let (source, target) = clusters(&stored.run).await?;
    if let Some(pid) = state.pid
        && Path::new(&format!("/proc/{pid}")).exists()
        && pid != std::process::id()
    {
        tracing::warn!(
            pid,
            "the sync is still running; its changes race the cutover's: stop it first"
        );
    }
    let report = if a.rollback {
        sync::rollback(&source, &target, &opts, &mut state, a.dry_run)
            .await
            .map_err(sync_error)?
    } else {
        let cancel = tokio_util_cancel();
        let c = CutoverOptions {
            dry_run: a.dry_run,
            keep_markers: a.keep_markers,
        };
        Box::pin(sync::cutover(
            &source, &target, &opts, &mut state, &c, progress, &cancel,
        ))
        .await
        .map_err(sync_error)?
    };
    progress.clear();
    if !a.dry_run {
        state.save(&path).map_err(sync_error)?;
    }
    print_cutover(&report, a.rollback, a.output)?;
    let clean = report.verify.as_ref().is_none_or(sync::CutoverVerify::is_clean);
    Ok(if !report.errors.is_empty() {
        code::ITEM_FAILURES
    } else if !clean {
        code::DIFFERENCES
    } else {
        code::OK
    })
}

fn print_cutover(r: &CutoverReport, rollback: bool, output: Output) -> Result<(), CliError> {
    if output != Output::Table {
        return output::data(r, output);
    }
    let mut o = String::new();
    let what = if rollback { "Rollback" } else { "Cutover" };
    let _ = writeln!(
        o,
        "{what} of sync {:?}{}",
        r.name,
        if r.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    let mut at = 0.0;
    for s in &r.timeline {
        at += s.seconds;
        let _ = writeln!(
            o,
            "  {:>7.2}s  {:<16} {:>6} objects  ({:.2}s)",
            at, s.what, s.objects, s.seconds
        );
    }
    if r.dry_run {
        let _ = writeln!(
            o,
            "  would hold {} source objects, release {} target objects",
            r.quiesced, r.activated
        );
    }
    if let Some(v) = &r.verify {
        let _ = writeln!(
            o,
            "  verify: {} expected, {} equal, {} missing, {} different",
            v.expected,
            v.equal,
            v.missing.len(),
            v.different.len()
        );
        for m in v.missing.iter().take(20) {
            let _ = writeln!(o, "    missing   {m}");
        }
        for (d, f) in v.different.iter().take(20) {
            let _ = writeln!(o, "    different {d}: {}", f.join(", "));
        }
    }
    for e in r.errors.iter().take(50) {
        let _ = writeln!(o, "  error {e}");
    }
    output::text_out(&o)
}
