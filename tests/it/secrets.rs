//! Secrets never leave where they belong (issue: reliability and security): backup, restore,
//! inspect, validate and a failing location, all with `-vv --progress json`, against a bed whose
//! Secret, S3 keys and bearer token hold canary values. The canaries appear in no stdout/stderr
//! line, no progress event, no error message and no document skiff writes beside the archive
//! (logs, results, metadata). Secret data inside the backup tarball is expected, as in Velero.

use crate::common::skiff_bin;
use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use serde_json::json;
use skiff_kube::{ApiResourceInfo, Cluster, LimiterConfig};
use skiff_testkit::bed::TestBed;
use skiff_testkit::s3::S3Server;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

const SECRET_VALUE: &str = "canary-secret-value-5d8e1f";
const S3_SECRET_KEY: &str = "canaryS3SecretKey0123456789abcdefCANARY9";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_never_reach_logs_progress_errors_or_documents() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let _serial = crate::restore::SERIAL.lock().await;
    let bed = TestBed::start().await?;
    let cluster = Cluster::from_client(bed.client().await?, LimiterConfig::default());
    let ns = ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false);
    cluster
        .create(
            &ns,
            None,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "vault"}}),
            false,
        )
        .await?;
    let secrets = ApiResourceInfo::known("", "v1", "secrets", "Secret", true);
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    cluster
        .create(
            &secrets,
            Some("vault"),
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "vault"},
                "type": "Opaque", "data": {"password": encoded}}),
            false,
        )
        .await?;

    let root = tempfile::tempdir()?;
    let s3 = S3Server::start_with(
        root.path(),
        0,
        "CANARYACCESSKEY00001".to_owned(),
        S3_SECRET_KEY.to_owned(),
    )?;
    s3.create_bucket("vault")?;
    let work = tempfile::tempdir()?;
    let creds = work.path().join("creds");
    std::fs::write(&creds, s3.credentials_file_contents())?;
    let wrong = work.path().join("wrong-creds");
    std::fs::write(
        &wrong,
        format!(
            "[default]\naws_access_key_id=CANARYACCESSKEY00001\naws_secret_access_key={S3_SECRET_KEY}x\n"
        ),
    )?;
    let kubeconfig = bed.kubeconfig_path();
    let endpoint = s3.endpoint();
    let loc = ["--location", "s3://vault/p", "--s3-endpoint", endpoint.as_str()];
    let canaries = [
        SECRET_VALUE.to_owned(),
        encoded.clone(),
        S3_SECRET_KEY.to_owned(),
        bed.admin_token().to_owned(),
    ];

    let mut outputs = String::new();
    let mut run = |args: &[&str], credentials: &Path, want_ok: bool| -> Result<()> {
        let out = Command::new(skiff_bin()?)
            .args(["-vv", "--progress", "json"])
            .args(args)
            .arg("--credentials-file")
            .arg(credentials)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "debug")
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.success() == want_ok,
            "skiff {args:?}: {}\n{text}",
            out.status
        );
        let _ = write!(outputs, "\n=== skiff {args:?}\n{text}");
        Ok(())
    };
    let with = |cmd: &[&'static str]| -> Vec<&str> { cmd.iter().copied().chain(loc).collect() };
    run(&with(&["backup", "b1", "-n", "vault"]), &creds, true)?;
    run(&with(&["validate", "b1"]), &creds, true)?;
    run(&with(&["inspect", "b1"]), &creds, true)?;
    run(&with(&["inspect", "b1", "--list"]), &creds, true)?;
    run(&with(&["backups", "describe", "b1"]), &creds, true)?;
    run(
        &with(&[
            "restore",
            "r1",
            "--from-backup",
            "b1",
            "--namespace-mappings",
            "vault:vault-2",
        ]),
        &creds,
        true,
    )?;
    // A failing location: the server refuses the signature made with a wrong secret key.
    run(&with(&["backups", "list"]), &wrong, false)?;

    ensure!(
        outputs.contains("\"stage\"") || outputs.contains("{\""),
        "no JSON progress captured: {outputs}"
    );
    for c in &canaries {
        if let Some(at) = outputs.find(c.as_str()) {
            let from = outputs[..at].rfind("===").unwrap_or(0);
            anyhow::bail!(
                "a canary reached the output of {}",
                outputs[from..at].lines().next().unwrap_or("?")
            );
        }
    }

    // Every document skiff wrote to the bucket except the backup tarball itself.
    let mut checked = 0;
    for file in walk(root.path())? {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "b1.tar.gz" || file.components().any(|c| c.as_os_str() == ".s3s-fs") {
            continue;
        }
        let raw = std::fs::read(&file)?;
        let mut text = raw.clone();
        if raw.starts_with(&[0x1f, 0x8b]) {
            text.clear();
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut text)?;
            // Logs skiff writes may be gzipped twice (a documented Velero quirk it tolerates).
            if text.starts_with(&[0x1f, 0x8b]) {
                let inner = std::mem::take(&mut text);
                flate2::read::MultiGzDecoder::new(&inner[..]).read_to_end(&mut text)?;
            }
        }
        let text = String::from_utf8_lossy(&text);
        for c in &canaries {
            ensure!(!text.contains(c.as_str()), "a canary is in {}", file.display());
        }
        checked += 1;
    }
    ensure!(
        checked >= 4,
        "only {checked} documents checked under {}",
        root.path().display()
    );
    let restored = cluster
        .get(&secrets, Some("vault-2"), "db")
        .await?
        .context("the restore did not land")?;
    ensure!(restored["data"]["password"] == encoded.as_str());
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}
