//! One file per command: turn arguments into one engine call and print the result through
//! [`crate::output`]. This module holds the dispatch and what several commands share (opening a
//! location, connecting to a cluster, Ctrl-C).

use crate::args::{Cli, ClusterArgs, Command, LocationArgs};
use crate::exit::{CliError, code};
use crate::progress::{CliProgress, ProgressMode};
use skiff_store::{BackupStore, Location, LocationOptions};
use std::sync::Arc;

pub mod backup;
pub mod backups;
pub mod completions;
pub mod inspect;
pub mod preflight;
pub mod restore;
pub mod validate;
pub mod velero;

/// Run a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let mode = if cli.global.no_progress || cli.global.quiet {
        ProgressMode::None
    } else {
        cli.global.progress
    };
    let progress = CliProgress::new(mode);
    let out = match cli.command {
        Command::Backup(a) => backup::run(a, &progress).await,
        Command::Restore(a) => restore::run(a, &progress).await,
        Command::Backups(c) => backups::run(c, &progress).await,
        Command::Inspect(a) => inspect::run(a, &progress).await,
        Command::Validate(a) => validate::run(a, &progress).await,
        Command::Completions(a) => completions::completions(&a),
        Command::Man(a) => completions::man(&a),
        Command::Velero(a) => velero::run(a).await,
        Command::Preflight(a) => preflight::run(a, &progress).await,
    };
    progress.clear();
    out
}

/// Open the store named by the location flags (None when no location was given).
pub async fn open_store(args: &LocationArgs) -> Result<Option<Arc<dyn BackupStore>>, CliError> {
    let Some(loc) = &args.location else {
        return Ok(None);
    };
    let mut options = LocationOptions::default();
    let path = std::path::Path::new(loc);
    let is_bsl_file = path.is_file()
        && path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
    let location = if is_bsl_file {
        let bsl = skiff_store::location::BackupStorageLocation::from_file(path)?;
        bsl.apply_to(&mut options)?;
        bsl.location()
    } else {
        Location::parse(loc)?
    };
    if let Some(e) = &args.s3_endpoint {
        options.endpoint = Some(e.clone());
        if options.path_style.is_none() {
            options.path_style = Some(true);
        }
    }
    if let Some(r) = &args.region {
        options.region = Some(r.clone());
    }
    if let Some(p) = args.s3_force_path_style {
        options.path_style = Some(p);
    }
    if let Some(f) = &args.credentials_file {
        options.credentials_file = Some(f.clone());
    }
    if let Some(p) = &args.profile {
        options.profile = Some(p.clone());
    }
    if options.credentials.is_none() && options.credentials_file.is_none() {
        options.credentials = skiff_store::Credentials::from_env_lookup(|k| std::env::var(k).ok());
    }
    if let Some(ca) = &args.cacert {
        options.ca_bundle = Some(
            std::fs::read(ca).map_err(|e| CliError::usage(format!("read --cacert {}: {e}", ca.display())))?,
        );
    }
    if args.insecure_skip_tls_verify {
        options.insecure_skip_tls_verify = Some(true);
    }
    Ok(Some(skiff_store::open(&location, &options).await?))
}

pub fn require_store(store: Option<Arc<dyn BackupStore>>) -> Result<Arc<dyn BackupStore>, CliError> {
    store.ok_or_else(|| {
        CliError::usage("no backup location: pass --location <folder | s3://bucket/prefix | bsl.yaml>")
            .hint(format!("or set {}", crate::env::LOCATION))
    })
}

/// Connect to the cluster named by the cluster flags.
pub async fn connect(args: &ClusterArgs) -> Result<skiff_kube::Cluster, CliError> {
    let config = skiff_kube::ClusterConfig {
        kubeconfig: args.kubeconfig.clone(),
        kubeconfig_env: std::env::var_os("KUBECONFIG"),
        home_dir: std::env::var_os("HOME").map(std::path::PathBuf::from),
        context: args.context.clone(),
        allow_in_cluster: true,
        ..skiff_kube::ClusterConfig::default()
    };
    let max = args.max_requests.max(1);
    // Start at half the cap: the window still halves on the first 429 and grows on fast answers.
    let limiter = skiff_kube::LimiterConfig {
        max_concurrency: max,
        initial_concurrency: (max / 2).max(1),
        ..skiff_kube::LimiterConfig::default()
    };
    Ok(skiff_kube::Cluster::connect(&config, limiter).await?)
}

/// A cancellation token tripped by Ctrl-C (SIGINT) or SIGTERM.
pub fn tokio_util_cancel() -> skiff_engine::CancellationToken {
    let token = skiff_engine::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        }
        crate::progress::suspend(|| {
            eprintln!("interrupt: finishing in-flight work and cleaning up (press Ctrl-C again to abort)");
        });
        t.cancel();
        let _ = tokio::signal::ctrl_c().await;
        crate::progress::clear_screen();
        std::process::exit(i32::from(code::INTERRUPTED));
    });
    token
}
