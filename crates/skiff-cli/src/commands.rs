//! Command implementations: turn arguments into engine calls and print the results.

use crate::args::{
    BackupArgs, BackupsCommand, Cli, ClusterArgs, Command, InspectArgs, LocationArgs, Output, ValidateArgs,
};
use crate::exit::{CliError, code};
use crate::progress::{CliProgress, ProgressMode};
use serde::Serialize;
use skiff_engine::offline::{self, BackupSource, ExtractFormat, ItemFilter, Severity};
use skiff_store::layout::BackupFile;
use skiff_store::{BackupStore, Location, LocationOptions};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

mod restore;
pub(crate) mod velero;

/// Run a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let mode = if cli.global.no_progress || cli.global.quiet {
        ProgressMode::None
    } else {
        cli.global.progress
    };
    let progress = CliProgress::new(mode);
    let out = match cli.command {
        Command::Backup(a) => backup(a, &progress).await,
        Command::Restore(a) => restore::run(a, &progress).await,
        Command::Backups(c) => backups(c, &progress).await,
        Command::Inspect(a) => inspect(a, &progress).await,
        Command::Validate(a) => validate(a, &progress).await,
        Command::Velero(a) => velero::run(a).await,
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

fn require_store(store: Option<Arc<dyn BackupStore>>) -> Result<Arc<dyn BackupStore>, CliError> {
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

/// Print a serializable value as JSON or YAML.
pub fn print_data<T: Serialize>(value: &T, output: Output) -> Result<(), CliError> {
    let text = if output == Output::Yaml {
        serde_yaml_ng::to_string(value).map_err(|e| CliError::usage(e.to_string()))?
    } else {
        let mut s = serde_json::to_string_pretty(value).map_err(|e| CliError::usage(e.to_string()))?;
        s.push('\n');
        s
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    Ok(())
}

/// Print table rows with aligned columns.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let fmt_row = |cells: Vec<&str>, out: &mut String| {
        let line: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    fmt_row(header.to_vec(), &mut out);
    for r in rows {
        fmt_row(r.iter().map(String::as_str).collect(), &mut out);
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct BackupRow {
    name: String,
    phase: String,
    created: String,
    expires: String,
    items: i64,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn backups(cmd: BackupsCommand, progress: &CliProgress) -> Result<u8, CliError> {
    match cmd {
        BackupsCommand::List { location, output } => {
            let store = require_store(open_store(&location).await?)?;
            let names = skiff_store::layout::list_backups(store.as_ref()).await?;
            let mut rows = Vec::new();
            for name in names {
                let source = BackupSource::Stored {
                    store: store.clone(),
                    name: name.clone(),
                };
                let size = store
                    .head(&BackupFile::Tarball.key(&name)?)
                    .await?
                    .map_or(0, |m| m.size);
                let row = match offline::read_backup_doc(&source).await {
                    Ok(Some(b)) => BackupRow {
                        name,
                        phase: b.status.phase.clone(),
                        created: b.status.start_timestamp.clone().unwrap_or_default(),
                        expires: b.status.expiration.clone().unwrap_or_else(|| "never".into()),
                        items: b.status.progress.as_ref().map_or(0, |p| p.total_items),
                        size,
                        error: None,
                    },
                    Ok(None) => continue,
                    Err(e) => BackupRow {
                        name,
                        phase: "<unreadable>".into(),
                        created: String::new(),
                        expires: String::new(),
                        items: 0,
                        size,
                        error: Some(offline::chain(&e)),
                    },
                };
                rows.push(row);
            }
            if output == Output::Table {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.phase.clone(),
                            r.created.clone(),
                            r.expires.clone(),
                            r.items.to_string(),
                            human_bytes(r.size),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "PHASE", "CREATED", "EXPIRES", "ITEMS", "SIZE"], &table)?;
            } else {
                print_data(&rows, output)?;
            }
            Ok(code::OK)
        }
        BackupsCommand::Describe {
            name,
            location,
            output,
        } => {
            let store = require_store(open_store(&location).await?)?;
            let source = BackupSource::Stored {
                store,
                name: name.clone(),
            };
            describe(&source, output, progress).await
        }
        BackupsCommand::Delete {
            name,
            location,
            confirm,
        } => {
            let store = require_store(open_store(&location).await?)?;
            skiff_store::layout::validate_backup_name(&name)?;
            if store.head(&BackupFile::Metadata.key(&name)?).await?.is_none()
                && store
                    .list(&skiff_store::layout::backup_prefix(&name)?)
                    .await?
                    .is_empty()
            {
                return Err(skiff_engine::Error::BackupNotFound {
                    name,
                    location: store.describe(),
                }
                .into());
            }
            if !confirm {
                if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    return Err(CliError::usage(
                        "refusing to delete without --confirm (stdin is not a terminal)",
                    ));
                }
                eprint!("Delete backup {name:?} from {}? [y/N] ", store.describe());
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("not deleted");
                    return Ok(code::OK);
                }
            }
            let n = skiff_store::layout::delete_backup(store.as_ref(), &name).await?;
            eprintln!("deleted backup {name:?} ({n} objects)");
            Ok(code::OK)
        }
    }
}

/// `velero backup describe --details`-style text.
async fn describe(source: &BackupSource, output: Output, progress: &CliProgress) -> Result<u8, CliError> {
    let Some(doc) = offline::read_backup_doc(source).await? else {
        return Err(skiff_engine::Error::BackupNotFound {
            name: source.name(),
            location: source.describe(),
        }
        .into());
    };
    let resource_list: std::collections::BTreeMap<String, Vec<String>> =
        match source.read_file(BackupFile::ResourceList).await? {
            Some(d) => {
                skiff_format::docs::decode_sidecar(&d, "resource list").map_err(skiff_engine::Error::from)?
            }
            None => std::collections::BTreeMap::default(),
        };
    let results: skiff_format::docs::Results = match source.read_file(BackupFile::Results).await? {
        Some(d) => skiff_format::docs::decode_sidecar(&d, "results").map_err(skiff_engine::Error::from)?,
        None => skiff_format::docs::Results::default(),
    };
    let _ = progress;
    if output != Output::Table {
        let v = serde_json::json!({
            "backup": serde_json::from_slice::<serde_json::Value>(&doc.to_json().map_err(skiff_engine::Error::from)?).unwrap_or_default(),
            "resourceList": resource_list,
            "results": results,
        });
        print_data(&v, output)?;
        return Ok(code::OK);
    }
    let spec = &doc.spec;
    let st = &doc.status;
    let list = |v: &[String]| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut s = String::new();
    let _ = writeln!(s, "Name:         {}", doc.metadata.name);
    let _ = writeln!(s, "Namespace:    {}", doc.metadata.namespace);
    let labels: Vec<String> = doc
        .metadata
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(s, "Labels:       {}", list(&labels));
    let ann: Vec<String> = doc
        .metadata
        .annotations
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(s, "Annotations:  {}", list(&ann));
    let _ = writeln!(s);
    let _ = writeln!(s, "Phase:  {}", st.phase);
    let _ = writeln!(s);
    let _ = writeln!(s, "Namespaces:");
    let _ = writeln!(
        s,
        "  Included:  {}",
        if spec.included_namespaces.is_empty() {
            "*".into()
        } else {
            spec.included_namespaces.join(", ")
        }
    );
    let _ = writeln!(s, "  Excluded:  {}", list(&spec.excluded_namespaces));
    let _ = writeln!(s);
    let _ = writeln!(s, "Resources:");
    if spec.included_resources.is_empty()
        && spec.excluded_resources.is_empty()
        && spec.include_cluster_resources.is_none()
    {
        let _ = writeln!(
            s,
            "  Included cluster-scoped:    {}",
            list(&spec.included_cluster_scoped_resources)
        );
        let _ = writeln!(
            s,
            "  Excluded cluster-scoped:    {}",
            list(&spec.excluded_cluster_scoped_resources)
        );
        let _ = writeln!(
            s,
            "  Included namespace-scoped:  {}",
            if spec.included_namespace_scoped_resources.is_empty() {
                "*".into()
            } else {
                spec.included_namespace_scoped_resources.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "  Excluded namespace-scoped:  {}",
            list(&spec.excluded_namespace_scoped_resources)
        );
    } else {
        let _ = writeln!(
            s,
            "  Included:        {}",
            if spec.included_resources.is_empty() {
                "*".into()
            } else {
                spec.included_resources.join(", ")
            }
        );
        let _ = writeln!(s, "  Excluded:        {}", list(&spec.excluded_resources));
        let _ = writeln!(
            s,
            "  Cluster-scoped:  {}",
            match spec.include_cluster_resources {
                None => "auto",
                Some(true) => "included",
                Some(false) => "excluded",
            }
        );
    }
    let _ = writeln!(s);
    let sel = spec.label_selector.as_ref().map_or_else(
        || "<none>".to_string(),
        |l| serde_json::to_string(l).unwrap_or_default(),
    );
    let _ = writeln!(s, "Label selector:  {sel}");
    let _ = writeln!(s);
    let _ = writeln!(s, "Storage Location:  {}", spec.storage_location);
    let _ = writeln!(s, "TTL:  {}", spec.ttl.as_deref().unwrap_or("<none>"));
    let _ = writeln!(s);
    let _ = writeln!(s, "Backup Format Version:  {}", st.format_version);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Started:    {}",
        st.start_timestamp.clone().unwrap_or_else(|| "<n/a>".into())
    );
    let _ = writeln!(
        s,
        "Completed:  {}",
        st.completion_timestamp.clone().unwrap_or_else(|| "<n/a>".into())
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Expiration:  {}",
        st.expiration.clone().unwrap_or_else(|| "<never>".into())
    );
    let _ = writeln!(s);
    if let Some(p) = &st.progress {
        let _ = writeln!(s, "Total items to be backed up:  {}", p.total_items);
        let _ = writeln!(s, "Items backed up:              {}", p.items_backed_up);
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "Resource List:");
    for (k, v) in &resource_list {
        let _ = writeln!(s, "  {k}:");
        for n in v {
            let _ = writeln!(s, "    - {n}");
        }
    }
    let _ = writeln!(s);
    for (title, set) in [("Errors", &results.errors), ("Warnings", &results.warnings)] {
        if set.is_empty() {
            let _ = writeln!(s, "{title}:  <none>");
            continue;
        }
        let _ = writeln!(s, "{title}:");
        for m in &set.velero {
            let _ = writeln!(s, "  Velero:   {m}");
        }
        for m in &set.cluster {
            let _ = writeln!(s, "  Cluster:  {m}");
        }
        for (ns, msgs) in &set.namespaces {
            for m in msgs {
                let _ = writeln!(s, "  Namespace {ns}:  {m}");
            }
        }
    }
    std::io::stdout().lock().write_all(s.as_bytes())?;
    Ok(code::OK)
}

// ---------------------------------------------------------------------------------------------

async fn inspect(a: InspectArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let store = open_store(&a.location).await?;
    let source = offline::resolve_source(&a.backup, store)?;
    let filter = ItemFilter {
        resources: a.resource.clone(),
        namespaces: a.namespace.clone(),
        name: a.name.clone(),
    };
    if let Some(spec) = &a.show {
        let Some(obj) = offline::show_item(&source, spec).await? else {
            return Err(CliError {
                code: code::BACKUP_NOT_FOUND_OR_EXISTS,
                message: format!("no item {spec:?} in {}", source.describe()),
                hints: vec!["`skiff inspect <backup> --list` shows what is there".into()],
            });
        };
        print_data(&obj, a.output.unwrap_or(Output::Yaml))?;
        return Ok(code::OK);
    }
    if let Some(dir) = &a.extract {
        let format = if a.output == Some(Output::Json) {
            ExtractFormat::Json
        } else {
            ExtractFormat::Yaml
        };
        let n = offline::extract(&source, dir, filter, format, progress).await?;
        progress.clear();
        eprintln!("extracted {n} items to {}", dir.display());
        return Ok(code::OK);
    }
    if a.list {
        let items = offline::list_items(&source, filter, progress).await?;
        progress.clear();
        match a.output.unwrap_or(Output::Table) {
            Output::Table => {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|i| {
                        vec![
                            i.resource.clone(),
                            i.namespace.clone().unwrap_or_default(),
                            i.name.clone(),
                            i.size.to_string(),
                        ]
                    })
                    .collect();
                print_table(&["RESOURCE", "NAMESPACE", "NAME", "BYTES"], &rows)?;
            }
            o => print_data(&items, o)?,
        }
        return Ok(code::OK);
    }
    let summary = offline::summarize(&source, progress).await?;
    progress.clear();
    match a.output.unwrap_or(Output::Table) {
        Output::Table => print_summary(&summary)?,
        o => print_data(&summary, o)?,
    }
    Ok(code::OK)
}

fn print_summary(s: &offline::Summary) -> Result<(), CliError> {
    let mut o = String::new();
    let _ = writeln!(o, "Backup:          {}", s.name);
    let _ = writeln!(o, "Source:          {}", s.source);
    let _ = writeln!(o, "Format version:  {}", s.format_version);
    if let Some(b) = &s.backup {
        let g = |p: &str| b.pointer(p).and_then(|v| v.as_str()).unwrap_or("-").to_string();
        let _ = writeln!(o, "Phase:           {}", g("/status/phase"));
        let _ = writeln!(
            o,
            "Velero version:  status.version {} formatVersion {}",
            b.pointer("/status/version")
                .map_or("-".into(), ToString::to_string),
            g("/status/formatVersion")
        );
        let _ = writeln!(
            o,
            "Source cluster:  {}",
            g("/metadata/annotations/velero.io~1source-cluster-k8s-gitversion")
        );
        let _ = writeln!(o, "Started:         {}", g("/status/startTimestamp"));
        let _ = writeln!(o, "Completed:       {}", g("/status/completionTimestamp"));
        let _ = writeln!(o, "Expires:         {}", g("/status/expiration"));
    } else {
        let _ = writeln!(o, "Documents:       none (bare tarball)");
    }
    let _ = writeln!(o, "Items:           {} ({} tar entries)", s.items, s.entries);
    let _ = writeln!(
        o,
        "Size:            {} compressed, {} uncompressed",
        human_bytes(s.compressed_bytes),
        human_bytes(s.uncompressed_bytes)
    );
    let _ = writeln!(
        o,
        "Integrity index: {}",
        if s.has_index { "present" } else { "absent" }
    );
    let _ = writeln!(o, "\nResources:");
    for (r, n) in &s.per_resource {
        let _ = writeln!(o, "  {n:>8}  {r}");
    }
    let _ = writeln!(o, "\nNamespaces:");
    for (ns, n) in &s.per_namespace {
        let _ = writeln!(o, "  {n:>8}  {ns}");
    }
    if !s.extra_versions.is_empty() {
        let _ = writeln!(o, "\nOther API versions (EnableAPIGroupVersions layout):");
        for (gr, vs) in &s.extra_versions {
            let _ = writeln!(o, "  {gr}: {}", vs.iter().cloned().collect::<Vec<_>>().join(", "));
        }
    }
    std::io::stdout().lock().write_all(o.as_bytes())?;
    Ok(())
}

async fn validate(a: ValidateArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let store = open_store(&a.location).await?;
    let source = offline::resolve_source(&a.backup, store)?;
    let report = offline::validate(&source, progress).await?;
    progress.clear();
    match a.output {
        Output::Table => {
            let mut o = String::new();
            for f in &report.findings {
                let sev = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "info",
                };
                let _ = writeln!(
                    o,
                    "{sev:<7} {:<14} {}{}",
                    f.code,
                    f.object.as_ref().map(|x| format!("{x}: ")).unwrap_or_default(),
                    f.message
                );
            }
            let errors = report.errors();
            let warnings = report
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count();
            let _ = writeln!(
                o,
                "{}: {} entries, {} items, {errors} errors, {warnings} warnings — {}",
                report.name,
                report.entries,
                report.items,
                if errors == 0 { "valid" } else { "INVALID" }
            );
            std::io::stdout().lock().write_all(o.as_bytes())?;
        }
        o => print_data(&report, o)?,
    }
    Ok(if report.errors() == 0 {
        code::OK
    } else {
        code::INVALID_BACKUP
    })
}

// ---------------------------------------------------------------------------------------------

async fn backup(a: BackupArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let store = require_store(open_store(&a.location).await?)?;
    let parse_sel = |s: &str| {
        skiff_engine::labels::LabelSelector::parse(s).map_err(|e| CliError::usage(format!("--selector: {e}")))
    };
    let filters = skiff_engine::backup::BackupFilters {
        included_namespaces: a.include_namespaces.clone(),
        excluded_namespaces: a.exclude_namespaces.clone(),
        included_resources: a.include_resources.clone(),
        excluded_resources: a.exclude_resources.clone(),
        include_cluster_resources: a.include_cluster_resources,
        included_cluster_scoped_resources: a.include_cluster_scoped_resources.clone(),
        excluded_cluster_scoped_resources: a.exclude_cluster_scoped_resources.clone(),
        included_namespace_scoped_resources: a.include_namespace_scoped_resources.clone(),
        excluded_namespace_scoped_resources: a.exclude_namespace_scoped_resources.clone(),
        label_selector: a.selector.as_deref().map(parse_sel).transpose()?,
        or_label_selectors: a
            .or_selector
            .iter()
            .map(|s| parse_sel(s))
            .collect::<Result<_, _>>()?,
    };
    filters.validate().map_err(CliError::usage)?;
    let cluster = connect(&a.cluster).await?;
    let opts = skiff_engine::backup::BackupOptions {
        name: a.name.clone(),
        filters,
        ttl: *a.ttl,
        storage_location: a.storage_location_name.clone(),
        velero_namespace: a.velero_namespace.clone(),
        all_api_versions: a.all_api_versions,
        page_size: a.page_size.max(1),
        list_concurrency: a.list_concurrency.max(1),
        compression_level: a.compression_level,
        overwrite: false,
    };
    let cancel = tokio_util_cancel();
    let report = skiff_engine::backup::run_backup(&cluster, store.clone(), &opts, progress, &cancel).await;
    progress.clear();
    let report = match report {
        Ok(r) => r,
        Err(skiff_engine::Error::Interrupted) => {
            return Err(CliError {
                code: code::INTERRUPTED,
                message: format!("backup {:?} interrupted; nothing was committed", a.name),
                hints: vec![format!(
                    "run the same command again to retry; leftovers, if any, go with `skiff backups delete {} --location … --confirm`",
                    a.name
                )],
            });
        }
        Err(e) => {
            let mut err = CliError::from(e);
            if err.code != code::BACKUP_NOT_FOUND_OR_EXISTS {
                err = err.hint(format!(
                    "no velero-backup.json was written, so no tool lists backup {:?}; retry the same command",
                    a.name
                ));
            }
            return Err(err);
        }
    };
    match a.output {
        Output::Table => {
            let mut o = String::new();
            let _ = writeln!(
                o,
                "Backup {:?} {} in {}",
                report.name, report.phase, report.location
            );
            let _ = writeln!(o, "  items:    {}", report.items);
            let _ = writeln!(
                o,
                "  size:     {} compressed ({} of JSON)",
                human_bytes(report.tarball_bytes),
                human_bytes(report.item_bytes)
            );
            let _ = writeln!(
                o,
                "  time:     {:.1}s ({:.0} items/s)",
                report.seconds,
                report.items as f64 / report.seconds.max(1e-3)
            );
            let _ = writeln!(
                o,
                "  expires:  {}",
                report
                    .expiration
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            if report.api_retries > 0 {
                let _ = writeln!(o, "  retried API requests: {}", report.api_retries);
            }
            for e in &report.errors {
                let _ = writeln!(o, "  error: {e}");
            }
            for w in &report.warnings {
                let _ = writeln!(o, "  warning: {w}");
            }
            std::io::stdout().lock().write_all(o.as_bytes())?;
        }
        o => print_data(&report, o)?,
    }
    Ok(if report.phase == "Completed" {
        code::OK
    } else {
        code::ITEM_FAILURES
    })
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
        eprintln!("interrupt: finishing in-flight work and cleaning up (press Ctrl-C again to abort)");
        t.cancel();
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(i32::from(code::INTERRUPTED));
    });
    token
}
