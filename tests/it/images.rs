//! What a migration must mirror, against the real tools: two `docker-registry` instances on
//! loopback, tiny OCI images written by the test kit and pushed with `skopeo copy`, the engine's
//! image aggregate with a mapping from the first registry to the second — through
//! `skiff images` on a backup tarball — and a real `skopeo sync --src yaml` run from the files
//! `skiff images --format skopeo-sync --sync-dir` writes. The second registry is then read
//! through its HTTP API: it must hold exactly the referenced images, by tag and by digest.
//!
//! Needs Debian's `docker-registry` and `skopeo` (`bash scripts/provision-testbed.sh`); without
//! them the test fails with that hint.

use std::collections::BTreeMap;

use crate::common::skiff_bin;
use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};
use skiff_engine::images::{ImageCollector, ImageReport, Pin, SkopeoSyncOptions, skopeo_sync_plan};
use skiff_format::{ArchiveWriter, ItemRef};
use skiff_testkit::registry::{OciImage, Registry, Skopeo};

fn deployment(ns: &str, name: &str, containers: &[&str], init: &[&str]) -> Value {
    let list = |images: &[&str]| -> Vec<Value> {
        images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect()
    };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"initContainers": list(init), "containers": list(containers)}}}
    })
}

/// Runs skiff; its stdout, or an error with stderr unless it exits 0.
fn skiff(args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(skiff_bin()?).args(args).output()?;
    ensure!(
        out.status.success(),
        "skiff {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[tokio::test]
async fn skopeo_sync_mirrors_exactly_the_mapped_images() -> Result<()> {
    let (src, dst) = tokio::try_join!(Registry::start("src"), Registry::start("dst"))?;
    let skopeo = Skopeo::locate()?;
    let work = tempfile::tempdir()?;

    // Three distinct images: `app` under two tags, `pinned` referenced by digest only, `unused`
    // never referenced.
    let app = OciImage::build(&work.path().join("app"), "app", "hello.txt", b"hello\n")?;
    let pinned = OciImage::build(&work.path().join("pinned"), "pinned", "hello.txt", b"pinned\n")?;
    let unused = OciImage::build(&work.path().join("unused"), "unused", "hello.txt", b"unused\n")?;
    ensure!(app.manifest_digest != pinned.manifest_digest);
    skopeo.push(&app, &src, "team/app", "v1").await?;
    skopeo.push(&app, &src, "team/app", "v2").await?;
    skopeo.push(&pinned, &src, "team/app", "pinned").await?;
    skopeo.push(&app, &src, "solo", "1.0").await?;
    skopeo.push(&unused, &src, "team/unused", "v1").await?;
    // The registry stored the manifests unchanged: their digests are the ones computed here.
    assert_eq!(
        src.manifest_digest("team/app", "v1").await?.as_deref(),
        Some(app.manifest_digest.as_str())
    );
    assert_eq!(
        src.manifest_digest("team/app", "pinned").await?.as_deref(),
        Some(pinned.manifest_digest.as_str())
    );
    assert_eq!(src.tags("team/app").await?, ["pinned", "v1", "v2"]);

    let p1 = src.host();
    let by_tag = format!("{p1}/team/app:v1");
    let by_digest = format!("{p1}/team/app@{}", pinned.manifest_digest);
    let solo = format!("{p1}/solo:1.0");
    let objects = [
        deployment("shop", "web", &[&by_tag, "busybox:1.36"], &[&solo]),
        deployment("shop-2", "web", &[&by_tag], &[]),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "shop"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "job", "image": by_digest}]}}}}}}),
        // A custom resource embedding a pod template at a path of its own.
        json!({"apiVersion": "ci.example.com/v1", "kind": "Runner", "metadata": {"name": "r", "namespace": "ci"},
            "spec": {"pools": [{"template": {"spec": {"containers": [{"name": "r", "image": by_tag}]}}}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}),
    ];
    // Through the CLI, as a user runs it: the objects in a backup tarball written by skiff's
    // own archive writer, `skiff images <tarball> --image-registry-mappings src:dst -o json`.
    let tarball = work.path().join("objects.tar.gz");
    let mut w = ArchiveWriter::new(std::fs::File::create(&tarball)?);
    for obj in &objects {
        let (gr, version) = match obj["kind"].as_str() {
            Some("Deployment") => ("deployments.apps", "v1"),
            Some("CronJob") => ("cronjobs.batch", "v1"),
            Some("Runner") => ("runners.ci.example.com", "v1"),
            _ => ("configmaps", "v1"),
        };
        let item = ItemRef::namespaced(
            gr,
            obj["metadata"]["namespace"].as_str().context("ns")?,
            obj["metadata"]["name"].as_str().context("name")?,
        );
        w.add_item(&item, version, &serde_json::to_vec(obj)?)?;
    }
    w.finish()?;
    let tarball = tarball.to_str().context("utf-8 path")?;
    let mapping = format!("{p1}:{}", dst.host());
    let out = skiff(&[
        "images",
        tarball,
        "--image-registry-mappings",
        &mapping,
        "-o",
        "json",
    ])?;
    let report: ImageReport = serde_json::from_str(&out).context("skiff images -o json")?;
    // The same objects through the engine directly give the same report.
    let mut collector = ImageCollector::new(BTreeMap::from([(p1.clone(), dst.host())]));
    for obj in &objects {
        collector.add(obj);
    }
    assert_eq!(report, collector.finish());
    let p2 = dst.host();
    let images: Vec<(&str, usize, Pin, bool)> = report
        .images
        .iter()
        .map(|e| (e.image.as_str(), e.objects, e.pin, e.mapped))
        .collect();
    assert_eq!(
        images,
        [
            (format!("{p2}/solo:1.0").as_str(), 1, Pin::Tag, true),
            (format!("{p2}/team/app:v1").as_str(), 3, Pin::Tag, true),
            (
                format!("{p2}/team/app@{}", pinned.manifest_digest).as_str(),
                1,
                Pin::Digest,
                true
            ),
            ("docker.io/library/busybox:1.36", 1, Pin::Tag, false),
        ]
    );
    let app_entry = &report.images[1];
    assert_eq!(
        app_entry.kinds.iter().map(String::as_str).collect::<Vec<_>>(),
        ["Deployment.apps", "Runner.ci.example.com"]
    );
    assert_eq!(
        app_entry
            .restore_keeps_original_in
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["Runner.ci.example.com"]
    );
    assert_eq!(
        app_entry
            .namespaces
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["ci", "shop", "shop-2"]
    );

    let options = SkopeoSyncOptions {
        tls_verify: BTreeMap::from([(p1.clone(), false)]),
        ..SkopeoSyncOptions::default()
    };
    let plan = skopeo_sync_plan(&report, &options);
    assert_eq!(plan.unmapped, ["docker.io/library/busybox:1.36"]);
    assert!(plan.copies.is_empty() && plan.conflicts.is_empty());
    let destinations: Vec<&str> = plan.jobs.iter().map(|j| j.destination.as_str()).collect();
    assert_eq!(destinations, [p2.clone(), format!("{p2}/team")]);

    // The YAML reads back as skopeo's source format, with exactly the references to copy.
    let team: serde_yaml_ng::Value = serde_yaml_ng::from_str(&plan.jobs[1].yaml)?;
    let source = &team[p1.as_str()];
    assert_eq!(source["tls-verify"], serde_yaml_ng::Value::Bool(false));
    let repos = source["images"].as_mapping().context("images is a mapping")?;
    assert_eq!(repos.len(), 1, "{}", plan.jobs[1].yaml);
    let refs: Vec<&str> = source["images"]["team/app"]
        .as_sequence()
        .context("a list of tags and digests")?
        .iter()
        .filter_map(serde_yaml_ng::Value::as_str)
        .collect();
    assert_eq!(refs, [pinned.manifest_digest.as_str(), "v1"]);

    // `skiff images --format skopeo-sync --sync-dir` writes the same YAML files and a sync.sh;
    // run each of its skopeo commands (the runner adds --insecure-policy: no policy file here).
    let sync_dir = work.path().join("sync");
    let sync_dir_s = sync_dir.to_str().context("utf-8 path")?;
    let insecure_src = p1.clone();
    skiff(&[
        "images",
        tarball,
        "--image-registry-mappings",
        &mapping,
        "--format",
        "skopeo-sync",
        "--sync-dir",
        sync_dir_s,
        "--src-insecure-registry",
        &insecure_src,
        "--dest-insecure",
    ])?;
    for (i, job) in plan.jobs.iter().enumerate() {
        let written = std::fs::read_to_string(sync_dir.join(format!("sync-{}.yaml", i + 1)))?;
        assert_eq!(written, job.yaml, "sync-{}.yaml", i + 1);
    }
    let script = std::fs::read_to_string(sync_dir.join("sync.sh"))?;
    let commands: Vec<&str> = script.lines().filter_map(|l| l.strip_prefix("skopeo ")).collect();
    assert_eq!(commands.len(), plan.jobs.len(), "{script}");
    for c in commands {
        let mut args: Vec<String> = c.split_whitespace().map(str::to_owned).collect();
        // sync.sh runs from its folder: the YAML is named relative to it.
        for a in &mut args {
            if a.starts_with("sync-") {
                *a = sync_dir.join(&*a).display().to_string();
            }
        }
        ensure!(args.iter().any(|a| a == "--dest-tls-verify=false"), "{c}");
        skopeo.run(&args).await?;
    }
    // Without a mapping nothing is to be mirrored: a usage error (exit 2) saying so.
    let status = std::process::Command::new(skiff_bin()?)
        .args(["images", tarball, "--format", "skopeo-sync"])
        .output()?;
    assert_eq!(
        status.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stderr).contains("no image to mirror"));

    // Exactly the referenced images are in the second registry: no `v2`, no `pinned` tag (the
    // digest reference copies the manifest only), no `team/unused`, and digests preserved.
    assert_eq!(dst.catalog().await?, ["solo", "team/app"]);
    assert_eq!(dst.tags("team/app").await?, ["v1"]);
    assert_eq!(dst.tags("solo").await?, ["1.0"]);
    assert_eq!(
        dst.manifest_digest("team/app", &pinned.manifest_digest)
            .await?
            .as_deref(),
        Some(pinned.manifest_digest.as_str())
    );
    assert_eq!(
        dst.manifest_digest("team/app", "v1").await?.as_deref(),
        Some(app.manifest_digest.as_str())
    );
    assert_eq!(dst.manifest_digest("team/app", "v2").await?, None);
    assert_eq!(dst.manifest_digest("team/unused", "v1").await?, None);
    // Every mapped reference of the report now resolves in the target.
    for entry in report.images.iter().filter(|e| e.mapped) {
        let r = &entry.reference;
        let got = dst.manifest_digest(&r.repository, r.copy_reference()).await?;
        ensure!(got.is_some(), "{} is not in the target registry", entry.image);
    }
    Ok(())
}
