//! One file per command: turn arguments into one engine call and print the result through
//! [`crate::output`]. This module holds the dispatch and what several commands share (opening a
//! location, connecting to a cluster, Ctrl-C).

use crate::args::{Cli, ClusterArgs, Command, FromArgs, LocationArgs, ToArgs};
use crate::exit::{CliError, code};
use crate::progress::{CliProgress, ProgressMode};
use skiff_store::{BackupStore, Location, LocationOptions};
use std::sync::Arc;

pub mod backup;
pub mod backups;
pub mod completions;
pub mod diff;
pub mod images;
pub mod inspect;
pub mod migrate;
pub mod preflight;
pub mod restore;
pub mod schedule;
pub mod sync;
pub mod validate;
pub mod velero;
pub mod verify;

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
        Command::Restore(a) => Box::pin(restore::run(a, &progress)).await,
        Command::Backups(c) => backups::run(c, &progress).await,
        Command::Inspect(a) => inspect::run(a, &progress).await,
        Command::Validate(a) => validate::run(a, &progress).await,
        Command::Completions(a) => completions::completions(&a),
        Command::Man(a) => completions::man(&a),
        Command::Velero(a) => velero::run(a).await,
        Command::Images(a) => images::run(a, &progress).await,
        Command::Schedule(c) => schedule::run(c).await,
        Command::Migrate(a) => Box::pin(migrate::run(a, &progress)).await,
        Command::Preflight(a) => preflight::run(a, &progress).await,
        Command::Verify(a) => Box::pin(verify::run(a, &progress)).await,
        Command::Diff(a) => diff::run(a, &progress).await,
        Command::Sync(a) => Box::pin(sync::run(a, &progress)).await,
        Command::Cutover(a) => Box::pin(sync::cutover(a, &progress)).await,
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
    if options.endpoint.is_none() && matches!(location, Location::S3 { .. }) {
        // Where no flag or BSL names an endpoint, the AWS SDK's own settings do
        // (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url).
        let config_path = std::env::var_os(skiff_store::aws_config::ENV_CONFIG_FILE)
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".aws/config")));
        let config_text = config_path.and_then(|p| std::fs::read_to_string(p).ok());
        let profile = args.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok());
        if let Some(e) = skiff_store::aws_config::configured_s3_endpoint(
            &|k| std::env::var(k).ok(),
            config_text.as_deref(),
            profile.as_deref(),
        ) {
            options.endpoint = Some(e);
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
    if args.checksum_mode.is_some() {
        options.checksum_mode = args.checksum_mode;
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

/// Bucket and prefix of an S3 location (`None` for a folder or an unreadable BSL file).
pub fn s3_bucket_prefix(args: &LocationArgs) -> Option<(String, String)> {
    let loc = args.location.as_deref()?;
    let path = std::path::Path::new(loc);
    let location = if path.is_file() {
        skiff_store::location::BackupStorageLocation::from_file(path)
            .ok()?
            .location()
    } else {
        Location::parse(loc).ok()?
    };
    match location {
        Location::S3 { bucket, prefix, .. } => Some((bucket, prefix)),
        Location::Local(_) => None,
    }
}

/// Where Velero runs in `cluster` with a `BackupStorageLocation` on the same bucket and prefix,
/// create the Backup object of backup `name` at once (as Velero's sync would); warnings only.
pub async fn register_with_velero(
    cluster: &skiff_kube::Cluster,
    store: Arc<dyn BackupStore>,
    location: &LocationArgs,
    name: &str,
) {
    let Some((bucket, prefix)) = s3_bucket_prefix(location) else {
        return;
    };
    let source = skiff_engine::offline::BackupSource::Stored {
        store,
        name: name.to_owned(),
    };
    let doc = match skiff_engine::offline::read_backup_doc(&source).await {
        Ok(Some(doc)) => doc,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(backup = name, error = %crate::exit::chain(&e), "cannot read velero-backup.json back: not registered with Velero");
            return;
        }
    };
    let out =
        skiff_engine::velero::register_backup(cluster, &bucket, &prefix, &doc, chrono::Utc::now()).await;
    log_registration(&out);
}

/// Where Velero runs in `cluster` with a `BackupStorageLocation` on the same bucket and prefix,
/// create the Restore object of a finished restore whose results skiff wrote to `restores/<name>/`
/// in that bucket (so `velero restore get/describe/logs` show it); warnings only.
pub async fn register_restore_with_velero(
    cluster: &skiff_kube::Cluster,
    store: &dyn BackupStore,
    location: &LocationArgs,
    opts: &skiff_engine::restore::RestoreOptions,
    report: &skiff_engine::restore::RestoreReport,
) {
    let Some((bucket, prefix)) = s3_bucket_prefix(location) else {
        return;
    };
    // Only a restore whose results are in the bucket: Velero reads them from there.
    let results = skiff_store::layout::RestoreFile::Results.key(&report.name);
    match results {
        Ok(key) => match store.head(&key).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(restore = %report.name, error = %crate::exit::chain(&e), "cannot check the restore's results: not registered with Velero");
                return;
            }
        },
        Err(_) => return,
    }
    let params = skiff_engine::velero::RestoreCrParams::from_restore(opts, report, chrono::Utc::now());
    let out = skiff_engine::velero::register_restore(cluster, &bucket, &prefix, &params).await;
    log_registration(&out);
}

/// Log what a registration with Velero did: "not installed" is no news, the rest a warning.
fn log_registration(out: &skiff_engine::velero::RegisterOutcome) {
    for w in &out.warnings {
        if w.contains("not installed") {
            tracing::debug!("{w}");
        } else {
            tracing::warn!("{w}");
        }
    }
    for c in &out.created {
        tracing::info!(object = %c, "registered with Velero");
    }
}

/// Open the source side named by `--from-backup` (or `backup`, a positional name) or
/// `--from-kubeconfig` / `--from-context`.
pub async fn open_from(
    from: &FromArgs,
    positional: Option<&str>,
    location: &LocationArgs,
    max_requests: usize,
) -> Result<skiff_engine::side::Side, CliError> {
    let backup = match (positional, from.from_backup.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(CliError::usage(format!(
                "two source backups named: {a:?} and --from-backup {b:?}"
            )));
        }
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    if let Some(name) = backup {
        if from.from_kubeconfig.is_some() || from.from_context.is_some() {
            return Err(CliError::usage(
                "name either a source backup or a source cluster (--from-kubeconfig/--from-context), not both",
            ));
        }
        let store = open_store(location).await?;
        let source = skiff_engine::offline::resolve_source(name, store)?;
        return Ok(skiff_engine::side::Side::Backup(source));
    }
    if from.from_kubeconfig.is_none() && from.from_context.is_none() {
        return Err(CliError::usage(
            "no source: name a backup (--from-backup, with --location for a name) or a cluster (--from-context / --from-kubeconfig)",
        ));
    }
    let cluster = connect_checked(
        from.from_kubeconfig.clone(),
        from.from_context.clone(),
        max_requests,
        "source",
    )
    .await?;
    Ok(skiff_engine::side::Side::Cluster(cluster))
}

/// Connect to the target cluster named by `--to-kubeconfig` / `--to-context` and check that it
/// answers.
pub async fn connect_to(to: &ToArgs, max_requests: usize) -> Result<skiff_kube::Cluster, CliError> {
    connect_checked(
        to.to_kubeconfig.clone(),
        to.to_context.clone(),
        max_requests,
        "target",
    )
    .await
}

/// Connect and ask `/version`, so an unknown context or an unreachable server fails here,
/// naming the side.
async fn connect_checked(
    kubeconfig: Option<std::path::PathBuf>,
    context: Option<String>,
    max_requests: usize,
    side: &str,
) -> Result<skiff_kube::Cluster, CliError> {
    let named = context
        .clone()
        .map_or_else(|| "current context".to_owned(), |c| format!("context {c:?}"));
    let args = ClusterArgs {
        kubeconfig,
        context,
        max_requests,
    };
    let cluster = connect(&args)
        .await
        .map_err(|e| e.hint(format!("the {side} cluster: {named}")))?;
    cluster
        .server_version()
        .await
        .map_err(|e| CliError::from(e).hint(format!("the {side} cluster ({named}) does not answer")))?;
    Ok(cluster)
}

/// Refuse when the source is a live cluster and the same one as the target (their
/// `kube-system` namespaces have the same UID): a migration onto itself would only collide.
pub async fn refuse_same_cluster(
    from: &skiff_engine::side::Side,
    to: &skiff_kube::Cluster,
) -> Result<(), CliError> {
    let skiff_engine::side::Side::Cluster(source) = from else {
        return Ok(());
    };
    let (a, b) = tokio::join!(
        skiff_engine::side::cluster_uid(source),
        skiff_engine::side::cluster_uid(to)
    );
    if let (Some(a), Some(b)) = (a, b)
        && a == b
    {
        return Err(CliError::usage(format!(
            "source and target are the same cluster (kube-system UID {a})"
        ))
        .hint("name two different clusters: --from-context / --to-context"));
    }
    Ok(())
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
