//! `skiff backups copy` against the real S3 server (s3s-fs) and local folders: a skiff backup
//! made on the real bed is copied bucket to bucket and into a folder; each copy is byte-equal,
//! validates and plans a restore; an existing backup is refused (and replaced with
//! `--overwrite`); leftovers of an unfinished write are refused; a corrupted tarball member at
//! the source is a clear error with nothing visible at the destination; a cancelled copy leaves
//! nothing behind.

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};
use skiff_engine::offline::{CopyOptions, copy_backup};
use skiff_engine::{CancellationToken, NoProgress};
use skiff_kube::{ApiResourceInfo, Cluster, LimiterConfig};
use skiff_store::{BackupStore, Credentials, Location, LocationOptions};
use skiff_testkit::bed::TestBed;
use skiff_testkit::s3::S3Server;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// Exit codes documented in crates/skiff-cli/src/exit.rs.
const EXIT_OK: i32 = 0;
const EXIT_USAGE: i32 = 2;
const EXIT_EXISTS: i32 = 11;
const EXIT_ARCHIVE: i32 = 30;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn skiff(bed: &TestBed, args: &[&str]) -> Result<Run> {
    let out = Command::new(crate::common::skiff_bin()?)
        .args(args)
        .env("KUBECONFIG", bed.kubeconfig_path())
        .env("NO_COLOR", "1")
        .env_remove("SKIFF_LOCATION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_REQUEST_CHECKSUM_CALCULATION")
        .output()
        .context("run skiff")?;
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    ensure!(
        !run.stderr.contains("panicked"),
        "skiff {args:?} panicked:\n{}",
        run.stderr
    );
    Ok(run)
}

impl Run {
    fn expect(self, code: i32, what: &str) -> Result<Self> {
        ensure!(
            self.code == code,
            "{what}: exit {} (want {code})\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        Ok(self)
    }
}

async fn bed() -> Result<TestBed> {
    skiff_kube::install_crypto_provider();
    let mut last = None;
    for _ in 0..3 {
        match TestBed::start().await {
            Ok(b) => return Ok(b),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| anyhow!("no bed"), anyhow::Error::from))
}

fn res(resource: &str, kind: &str) -> ApiResourceInfo {
    ApiResourceInfo {
        group: String::new(),
        version: "v1".into(),
        resource: resource.into(),
        kind: kind.into(),
        singular: String::new(),
        namespaced: resource != "namespaces",
        verbs: vec![],
        short_names: vec![],
        preferred: true,
    }
}

/// Every object under `backups/<name>/` of a store: key → bytes.
async fn objects(store: &Arc<dyn BackupStore>, name: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for o in store.list(&format!("backups/{name}/")).await? {
        out.push((o.key.clone(), store.get(&o.key).await?.to_vec()));
    }
    Ok(out)
}

/// Flip bytes in the middle of a file (inside the gzip data of a tarball member).
fn corrupt(path: &Path) -> Result<()> {
    let mut data = std::fs::read(path)?;
    ensure!(data.len() > 200, "{} is too small to corrupt", path.display());
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(path, data)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_between_buckets_and_into_a_folder() -> Result<()> {
    let bed = bed().await?;
    let cluster = Cluster::from_client(bed.client().await?, LimiterConfig::default());
    let s3 = S3Server::start()?;
    let (a, b, c) = (s3.fresh_bucket()?, s3.fresh_bucket()?, s3.fresh_bucket()?);
    let tmp = tempfile::tempdir()?;
    let creds = tmp.path().join("cloud");
    std::fs::write(&creds, s3.credentials_file_contents())?;
    let creds = creds.to_str().context("utf-8")?;
    let endpoint = s3.endpoint();
    let (url_a, url_b, url_c) = (
        format!("s3://{a}/site-a"),
        format!("s3://{b}/air-gapped"),
        format!("s3://{c}"),
    );
    let store_of = |url: &str| {
        let opts = LocationOptions {
            endpoint: Some(s3.endpoint()),
            path_style: Some(true),
            credentials: Some(Credentials::new(s3.access_key(), s3.secret_key())),
            ..LocationOptions::default()
        };
        let loc = Location::parse(url);
        async move { anyhow::Ok(skiff_store::open(&loc?, &opts).await?) }
    };
    let (store_a, store_b, store_c) = (
        store_of(&url_a).await?,
        store_of(&url_b).await?,
        store_of(&url_c).await?,
    );

    // A skiff backup of a namespace with some objects, in bucket A.
    cluster
        .create(
            &res("namespaces", "Namespace"),
            None,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "copy-app"}}),
            false,
        )
        .await?;
    for i in 0..40 {
        let data: String = format!("{i}-").repeat(2000);
        cluster
            .create(
                &res("configmaps", "ConfigMap"),
                Some("copy-app"),
                &json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i}"), "namespace": "copy-app"}, "data": {"k": data}}),
                false,
            )
            .await?;
    }
    let loc_a = [
        "--location",
        url_a.as_str(),
        "--s3-endpoint",
        endpoint.as_str(),
        "--credentials-file",
        creds,
    ];
    let mut args = vec!["backup", "b1", "--include-namespaces", "copy-app"];
    args.extend(loc_a);
    skiff(&bed, &args)?.expect(EXIT_OK, "skiff backup")?;
    let source = objects(&store_a, "b1").await?;
    ensure!(
        source.len() >= 4,
        "{:?}",
        source.iter().map(|o| &o.0).collect::<Vec<_>>()
    );

    let from_a = [
        "--from-location",
        url_a.as_str(),
        "--from-s3-endpoint",
        endpoint.as_str(),
        "--from-credentials-file",
        creds,
    ];
    let to_b = [
        "--to-location",
        url_b.as_str(),
        "--to-s3-endpoint",
        endpoint.as_str(),
        "--to-credentials-file",
        creds,
    ];

    // Bucket to bucket: every object, byte for byte.
    let mut args = vec!["backups", "copy", "b1", "-o", "json"];
    args.extend(from_a);
    args.extend(to_b);
    let run = skiff(&bed, &args)?.expect(EXIT_OK, "copy A → B")?;
    let report: Value = serde_json::from_str(&run.stdout)?;
    ensure!(
        report["objects"] == source.len() && report["entries"].as_u64().unwrap_or(0) > 40,
        "{report}"
    );
    let copied = objects(&store_b, "b1").await?;
    ensure!(copied == source, "the copy differs from the source");
    // Velero's and skiff's view: listed, valid, restorable.
    let loc_b = [
        "--location",
        url_b.as_str(),
        "--s3-endpoint",
        endpoint.as_str(),
        "--credentials-file",
        creds,
    ];
    let mut args = vec!["backups", "list", "-o", "json"];
    args.extend(loc_b);
    let listed: Value = serde_json::from_str(&skiff(&bed, &args)?.expect(EXIT_OK, "list B")?.stdout)?;
    ensure!(
        listed[0]["name"] == "b1" && listed[0]["phase"] == "Completed",
        "{listed}"
    );
    let mut args = vec!["validate", "b1"];
    args.extend(loc_b);
    skiff(&bed, &args)?.expect(EXIT_OK, "validate the copy")?;
    let mut args = vec![
        "restore",
        "--from-backup",
        "b1",
        "--dry-run",
        "--namespace-mappings",
        "copy-app:copy-restored",
    ];
    args.extend(loc_b);
    let plan = skiff(&bed, &args)?.expect(EXIT_OK, "restore --dry-run from the copy")?;
    ensure!(plan.stdout.contains("cm-39"), "{}", plan.stdout);

    // Already there: refused (exit 11, nothing changed), replaced with --overwrite.
    let mut args = vec!["backups", "copy", "b1"];
    args.extend(from_a);
    args.extend(to_b);
    let again = skiff(&bed, &args)?.expect(EXIT_EXISTS, "copy onto an existing backup")?;
    ensure!(again.stderr.contains("--overwrite"), "{}", again.stderr);
    args.push("--overwrite");
    let run = skiff(&bed, &args)?.expect(EXIT_OK, "copy --overwrite")?;
    ensure!(run.stdout.contains("replaced"), "{}", run.stdout);
    ensure!(objects(&store_b, "b1").await? == source);

    // Into a local folder (e.g. to carry into an air gap), then out of it.
    let folder = tmp.path().join("carry");
    let folder_s = folder.to_str().context("utf-8")?;
    let mut args = vec!["backups", "copy", "b1", "--to-location", folder_s];
    args.extend(from_a);
    skiff(&bed, &args)?.expect(EXIT_OK, "copy A → folder")?;
    let tarball = folder.join("backups/b1/b1.tar.gz");
    ensure!(
        std::fs::read(&tarball)?
            == source
                .iter()
                .find(|o| o.0.ends_with(".tar.gz"))
                .context("tarball")?
                .1
    );
    skiff(&bed, &["validate", "b1", "--location", folder_s])?.expect(EXIT_OK, "validate the folder copy")?;
    skiff(
        &bed,
        &[
            "restore",
            "--from-backup",
            "b1",
            "--location",
            folder_s,
            "--dry-run",
        ],
    )?
    .expect(EXIT_OK, "restore --dry-run from the folder")?;

    // Leftovers of an unfinished write at the destination (no velero-backup.json): refused.
    store_c
        .put("backups/b1/b1.tar.gz", b"partial".to_vec().into())
        .await?;
    let to_c = [
        "--to-location",
        url_c.as_str(),
        "--to-s3-endpoint",
        endpoint.as_str(),
        "--to-credentials-file",
        creds,
    ];
    let mut args = vec!["backups", "copy", "b1", "--from-location", folder_s];
    args.extend(to_c);
    let left = skiff(&bed, &args)?.expect(EXIT_USAGE, "copy onto leftovers")?;
    ensure!(
        left.stderr.contains("unfinished write") && left.stderr.contains("--overwrite"),
        "{}",
        left.stderr
    );
    store_c.delete("backups/b1/b1.tar.gz").await?;

    // A corrupted member at the source: a clear error, nothing visible (or left) at the
    // destination.
    corrupt(&tarball)?;
    let bad = skiff(&bed, &args)?.expect(EXIT_ARCHIVE, "copy of a corrupted backup")?;
    ensure!(
        bad.stderr.contains("failed its check") && bad.stderr.contains("nothing was committed"),
        "{}",
        bad.stderr
    );
    ensure!(
        store_c.list("").await?.is_empty(),
        "objects left at the destination: {:?}",
        store_c.list("").await?
    );
    let mut list = vec!["backups", "list", "-o", "json", "--location", url_c.as_str()];
    list.extend(["--s3-endpoint", endpoint.as_str(), "--credentials-file", creds]);
    let listed: Value = serde_json::from_str(&skiff(&bed, &list)?.expect(EXIT_OK, "list C")?.stdout)?;
    ensure!(listed == json!([]), "{listed}");

    // Cancelled (Ctrl-C): an error, and nothing at the destination.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let e = copy_backup(
        &store_a,
        &store_c,
        "b1",
        CopyOptions::default(),
        &NoProgress,
        &cancel,
    )
    .await
    .expect_err("a cancelled copy");
    ensure!(matches!(e, skiff_engine::Error::Interrupted), "{e}");
    ensure!(store_c.list("").await?.is_empty());
    // The same location on both sides is refused before anything is touched.
    let e = copy_backup(
        &store_a,
        &store_a,
        "b1",
        CopyOptions { overwrite: true },
        &NoProgress,
        &CancellationToken::new(),
    )
    .await
    .expect_err("copy onto itself");
    ensure!(e.to_string().contains("same location"), "{e}");
    ensure!(objects(&store_a, "b1").await? == source, "the source changed");
    Ok(())
}
