//! `skiff schedule create` on a real bed: the objects it prints with `--dry-run` (`CronJob` version
//! chosen by discovery: `batch/v1beta1` on this 1.20 bed), the same objects applied, and the
//! least privilege of the job's identity checked by the API server itself (`SubjectAccessReview`):
//! it may get and list everything, and write nothing. No pod runs on the bed (no kubelet), so the
//! job's backup itself is not run here; `skiff backup --timestamped` is what it runs.

use crate::common::skiff_bin;
use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use serde_json::{Value, json};
use skiff_kube::{ApiResourceInfo, Cluster, LimiterConfig};
use skiff_testkit::bed::TestBed;
use std::process::Command;

fn skiff(bed: &TestBed, args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(skiff_bin()?)
        .args(args)
        .env("KUBECONFIG", bed.kubeconfig_path())
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

async fn allowed(c: &Cluster, verb: &str, resource: &str) -> Result<bool> {
    let res = ApiResourceInfo::known(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    );
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "system:serviceaccount:skiff:skiff-nightly",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:skiff", "system:authenticated"],
            "resourceAttributes": {"verb": verb, "resource": resource, "namespace": "app"}}});
    let answer = c.create(&res, None, &review, false).await?;
    Ok(answer["status"]["allowed"] == true)
}

#[tokio::test]
async fn schedule_create_dry_run_apply_least_privilege() -> Result<()> {
    skiff_kube::install_crypto_provider();
    let _serial = crate::restore::SERIAL.lock().await;
    let bed = TestBed::start().await?;
    let cluster = Cluster::from_client(bed.client().await?, LimiterConfig::default());
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("creds");
    std::fs::write(
        &creds,
        "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s3cr3t\n",
    )?;
    let creds_s = creds.to_str().context("utf-8")?;
    let base = [
        "schedule",
        "create",
        "nightly",
        "--schedule",
        "0 3 * * *",
        "--location",
        "s3://bucket/cluster-a",
        "--s3-endpoint",
        "http://127.0.0.1:9",
        "--credentials-file",
        creds_s,
        "--include-namespaces",
        "app",
    ];

    let mut args = base.to_vec();
    args.extend(["--dry-run", "-o", "json"]);
    let (code, out, err) = skiff(&bed, &args)?;
    ensure!(code == 0, "dry run: {code} {err}");
    let list: Value = serde_json::from_str(&out)?;
    let items = list["items"].as_array().context("items")?;
    let kinds: Vec<&str> = items.iter().filter_map(|i| i["kind"].as_str()).collect();
    ensure!(
        kinds
            == [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Secret",
                "CronJob"
            ],
        "{kinds:?}"
    );
    let cron = &items[5];
    ensure!(
        cron["apiVersion"] == "batch/v1beta1",
        "chosen by discovery on 1.20: {}",
        cron["apiVersion"]
    );
    ensure!(cron["spec"]["schedule"] == "0 3 * * *" && cron["spec"]["concurrencyPolicy"] == "Forbid");
    let container = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let cargs: Vec<&str> = container["args"]
        .as_array()
        .context("args")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "backup",
        "nightly",
        "--timestamped",
        "--include-namespaces=app",
        "/credentials/cloud",
        "http://127.0.0.1:9",
    ] {
        ensure!(cargs.contains(&want), "{want} not in {cargs:?}");
    }
    let secret = base64::engine::general_purpose::STANDARD
        .decode(items[4]["data"]["cloud"].as_str().context("cloud")?)?;
    ensure!(secret == std::fs::read(&creds)?);
    ensure!(!out.contains("s3cr3t"), "the secret is printed in clear");
    let rules = items[2]["rules"].to_string();
    ensure!(
        !rules.contains("create") && !rules.contains("delete") && !rules.contains("\"*\"]}"),
        "{rules}"
    );
    ensure!(
        cluster
            .get(
                &ApiResourceInfo::known("", "v1", "namespaces", "Namespace", false),
                None,
                "skiff"
            )
            .await?
            .is_none(),
        "a dry run created objects"
    );

    // Applied: the same objects exist, and the identity can read but never write.
    let (code, _, err) = skiff(&bed, &base)?;
    ensure!(code == 0, "create: {code} {err}");
    let cj = cluster
        .get(
            &ApiResourceInfo::known("batch", "v1beta1", "cronjobs", "CronJob", true),
            Some("skiff"),
            "skiff-nightly",
        )
        .await?
        .context("CronJob")?;
    ensure!(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == "skiff-nightly");
    ensure!(allowed(&cluster, "list", "secrets").await? && allowed(&cluster, "get", "configmaps").await?);
    ensure!(
        !allowed(&cluster, "create", "configmaps").await? && !allowed(&cluster, "delete", "secrets").await?
    );
    // Applied again: idempotent.
    let (code, _, err) = skiff(&bed, &base)?;
    ensure!(code == 0, "re-apply: {code} {err}");

    // Bad input: a schedule that is not a cron expression.
    let mut bad = base.to_vec();
    bad[4] = "every day";
    let (code, _, err) = skiff(&bed, &bad)?;
    ensure!(code == 2 && err.contains("cron"), "{code} {err}");
    Ok(())
}
