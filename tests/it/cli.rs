//! CLI transcripts: the `skiff` binary run as a subprocess on real Velero fixtures and on bad
//! input crafted byte by byte, checking exit codes (crates/skiff-cli/src/exit.rs), output and
//! that nothing is ever written outside an extract folder.
//!
//! The binary is looked up beside the test executable (`<target>/debug/skiff`); `cargo test
//! --workspace` builds it, `cargo test -p skiff-tests` alone does not: run
//! `cargo build -p skiff-cli` first.

use crate::common::skiff_bin;
use anyhow::{Context, Result, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Exit codes documented in crates/skiff-cli/src/exit.rs.
const EXIT_OK: i32 = 0;
const EXIT_INVALID_BACKUP: i32 = 4;
const EXIT_STORAGE: i32 = 10;
const EXIT_NOT_FOUND: i32 = 11;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn skiff(args: &[&str]) -> Result<Run> {
    let out: Output = Command::new(skiff_bin()?)
        .args(args)
        .env_remove("SKIFF_LOCATION")
        .env("NO_COLOR", "1")
        .output()
        .context("run skiff")?;
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    ensure!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
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

/// `../shared` (or `SKIFF_SHARED_DIR`). The tests that need it are `#[ignore]`d, so a run
/// without it lists them as ignored; `scripts/test` runs them (`--ignored`) whenever the folder
/// is there, and a test run that way fails when the folder is missing.
fn shared_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("SKIFF_SHARED_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
        PathBuf::from,
    );
    ensure!(
        dir.join("fixtures/velero-made").is_dir(),
        "{}/fixtures/velero-made not found (set SKIFF_SHARED_DIR)",
        dir.display()
    );
    Ok(dir)
}

/// Every file (relative path) under `dir`, recursively.
fn tree(dir: &Path) -> Result<BTreeSet<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            let rel = p.strip_prefix(root)?.to_string_lossy().into_owned();
            if e.file_type()?.is_dir() {
                out.insert(format!("{rel}/"));
                walk(root, &p, out)?;
            } else {
                out.insert(rel);
            }
        }
        Ok(())
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn fixtures_inspect_validate_list() -> Result<()> {
    let shared = shared_dir()?;
    let made = shared.join("fixtures/velero-made");
    for (version, expected) in [
        ("v1.3.2", [("b1", 21u64), ("b2", 21), ("bench", 1181)]),
        ("v1.1.0", [("b1", 21), ("b2", 21), ("bench", 1180)]),
    ] {
        let loc = made.join(version);
        let loc = loc.to_str().context("utf-8 path")?;

        let list =
            skiff(&["backups", "list", "--location", loc, "-o", "json"])?.expect(EXIT_OK, "backups list")?;
        let listed: Value = serde_json::from_str(&list.stdout)
            .with_context(|| format!("backups list json: {}", list.stdout))?;
        let names: BTreeSet<String> = listed
            .as_array()
            .context("backups list -o json is an array")?
            .iter()
            .filter_map(|b| {
                b["name"]
                    .as_str()
                    .or_else(|| b["metadata"]["name"].as_str())
                    .map(str::to_owned)
            })
            .collect();
        let want: BTreeSet<String> = expected.iter().map(|(n, _)| (*n).to_owned()).collect();
        ensure!(
            names == want,
            "{version}: backups list gave {names:?}, want {want:?}"
        );

        for (name, items) in expected {
            let summary =
                skiff(&["inspect", name, "--location", loc, "-o", "json"])?.expect(EXIT_OK, "inspect")?;
            let s: Value = serde_json::from_str(&summary.stdout)?;
            ensure!(
                s["items"] == items,
                "{version}/{name}: inspect items {} want {items}",
                s["items"]
            );
            ensure!(
                s["phase"] == "Completed",
                "{version}/{name}: phase {}",
                s["phase"]
            );
            ensure!(
                s["format_version"] == "1",
                "{version}/{name}: format {}",
                s["format_version"]
            );
            let table = skiff(&["inspect", name, "--location", loc])?.expect(EXIT_OK, "inspect table")?;
            ensure!(
                table.stdout.contains(&format!("Items:           {items} ")),
                "{version}/{name}: table:\n{}",
                table.stdout
            );

            let v =
                skiff(&["validate", name, "--location", loc, "-o", "json"])?.expect(EXIT_OK, "validate")?;
            let r: Value = serde_json::from_str(&v.stdout)?;
            ensure!(
                r["items"] == items,
                "{version}/{name}: validate items {}",
                r["items"]
            );
            let errors = r["findings"]
                .as_array()
                .context("findings")?
                .iter()
                .filter(|f| f["severity"] == "error")
                .count();
            ensure!(
                errors == 0,
                "{version}/{name}: validate errors: {}",
                r["findings"]
            );
        }

        // --show prints the object (YAML by default, JSON with -o json).
        let show = skiff(&[
            "inspect",
            "b1",
            "--location",
            loc,
            "--show",
            "configmaps/demo/cm1",
            "-o",
            "json",
        ])?
        .expect(EXIT_OK, "inspect --show")?;
        let obj: Value =
            serde_json::from_str(&show.stdout).with_context(|| format!("--show output: {}", show.stdout))?;
        ensure!(
            obj["kind"] == "ConfigMap"
                && obj["metadata"]["name"] == "cm1"
                && obj["metadata"]["namespace"] == "demo"
        );
        ensure!(obj["data"]["k1"] == "v1", "--show data: {}", obj["data"]);
        let yaml = skiff(&[
            "inspect",
            "b1",
            "--location",
            loc,
            "--show",
            "configmaps/demo/cm1",
        ])?
        .expect(EXIT_OK, "show yaml")?;
        ensure!(
            yaml.stdout.contains("kind: ConfigMap") && yaml.stdout.contains("name: cm1"),
            "{}",
            yaml.stdout
        );
        // An absent object is an error, not an empty success.
        let missing = skiff(&[
            "inspect",
            "b1",
            "--location",
            loc,
            "--show",
            "configmaps/demo/nope",
        ])?;
        ensure!(missing.code != EXIT_OK, "--show of a missing object exited 0");

        // --extract writes one file per item, all inside the target folder.
        let tmp = tempfile::tempdir()?;
        std::fs::write(tmp.path().join("sentinel"), b"keep")?;
        let target = tmp.path().join("out");
        skiff(&[
            "inspect",
            "b1",
            "--location",
            loc,
            "--extract",
            target.to_str().context("utf-8")?,
        ])?
        .expect(EXIT_OK, "extract")?;
        let files: Vec<String> = tree(&target)?.into_iter().filter(|f| !f.ends_with('/')).collect();
        ensure!(
            files.len() == 21,
            "{version}: extracted {} files: {files:?}",
            files.len()
        );
        ensure!(
            files.contains(&"configmaps/demo/cm1.yaml".to_owned()),
            "{files:?}"
        );
        ensure!(
            files.iter().any(|f| f.starts_with("namespaces/_cluster/")),
            "{files:?}"
        );
        let outside = tree(tmp.path())?;
        ensure!(
            outside.iter().all(|p| p == "sentinel" || p.starts_with("out/")),
            "written outside: {outside:?}"
        );
        ensure!(std::fs::read(tmp.path().join("sentinel"))? == b"keep");
    }
    Ok(())
}

#[test]
fn missing_backup_and_bad_location() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let loc = tmp.path().to_str().context("utf-8")?;
    for cmd in [
        &["inspect", "nosuch"][..],
        &["validate", "nosuch"],
        &["backups", "describe", "nosuch"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--location", loc]);
        let r = skiff(&args)?.expect(EXIT_NOT_FOUND, "missing backup")?;
        ensure!(
            r.stderr.contains("nosuch") && r.stderr.contains("not found"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // An unsupported scheme is a storage-location error (exit.rs: Store errors → 10).
    let r = skiff(&["inspect", "b1", "--location", "ftp://bucket/prefix"])?
        .expect(EXIT_STORAGE, "ftp location")?;
    ensure!(r.stderr.contains("ftp"), "{}", r.stderr);
    Ok(())
}

// --- crafted archives -------------------------------------------------------------------------

/// A ustar header; `size_field` is written verbatim (so a size can be declared without data).
fn header(path: &str, size_field: &str, typeflag: u8, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..124 + size_field.len()].copy_from_slice(size_field.as_bytes());
    h[136..148].copy_from_slice(b"14000000000\0");
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn file_entry(out: &mut Vec<u8>, path: &str, data: &[u8]) {
    let path = if path.len() > 99 {
        // A PAX header carries the long path, as Go's archive/tar (and so Velero) writes it.
        let body = format!(" path={path}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        let record = format!("{len}{body}");
        out.extend_from_slice(&header(
            "PaxHeaders/x",
            &format!("{:011o}\0", record.len()),
            b'x',
            "",
        ));
        out.extend_from_slice(record.as_bytes());
        out.resize(out.len().div_ceil(512) * 512, 0);
        &path[..99]
    } else {
        path
    };
    out.extend_from_slice(&header(path, &format!("{:011o}\0", data.len()), b'0', ""));
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn configmap(ns: &str, name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns}, "data": {"k": "v"}
    }))
    .expect("json")
}

/// A small valid archive body (without the end-of-archive blocks).
fn valid_body() -> Vec<u8> {
    let mut t = Vec::new();
    file_entry(&mut t, "metadata/version", b"1.1.0\n");
    file_entry(
        &mut t,
        "resources/configmaps/namespaces/demo/a.json",
        &configmap("demo", "a"),
    );
    file_entry(
        &mut t,
        "resources/configmaps/v1-preferredversion/namespaces/demo/a.json",
        &configmap("demo", "a"),
    );
    t
}

fn finish(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&[0u8; 1024]);
    body
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

/// Bad tarballs: (name, gzip bytes, a string the finding must contain).
fn bad_tarballs() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = gz(&finish(valid_body()));
    let mut cases = Vec::new();

    cases.push(("truncated-gzip", good[..good.len() * 2 / 3].to_vec(), "gzip"));

    let mut corrupt = valid_body();
    let second = 512 + 512; // header of the second entry
    corrupt[second + 148] ^= 0x07; // checksum mismatch
    corrupt[second + 5] = b'#';
    cases.push(("corrupt-tar", gz(&finish(corrupt)), ""));

    let mut v2 = Vec::new();
    file_entry(&mut v2, "metadata/version", b"2.0.0\n");
    file_entry(
        &mut v2,
        "resources/configmaps/namespaces/demo/a.json",
        &configmap("demo", "a"),
    );
    cases.push(("version-major-2", gz(&finish(v2)), "2.0.0"));

    let mut dotdot = valid_body();
    file_entry(
        &mut dotdot,
        "resources/configmaps/namespaces/demo/../../../../../escaped.json",
        &configmap("demo", "escaped"),
    );
    cases.push(("dotdot", gz(&finish(dotdot)), "escaped"));

    let mut huge = valid_body();
    // 10 GiB declared as 12 octal digits (no terminator, as GNU tar does), followed by no data.
    huge.extend_from_slice(&header(
        "resources/configmaps/namespaces/demo/huge.json",
        "120000000000",
        b'0',
        "",
    ));
    huge.extend_from_slice(&[b'{'; 4096]);
    cases.push(("huge-declared-size", gz(&finish(huge)), "huge.json"));

    let mut symlink = valid_body();
    symlink.extend_from_slice(&header(
        "resources/configmaps/namespaces/demo/link.json",
        "00000000000\0",
        b'2',
        "/etc/passwd",
    ));
    cases.push(("symlink", gz(&finish(symlink)), "link.json"));

    cases
}

#[test]
fn bad_tarballs_validate_and_extract() -> Result<()> {
    let inputs = tempfile::tempdir()?;
    for (name, bytes, needle) in bad_tarballs() {
        let file = inputs.path().join(format!("{name}.tar.gz"));
        std::fs::write(&file, &bytes)?;
        let file = file.to_str().context("utf-8")?;

        let v = skiff(&["validate", file, "-o", "json"])?.expect(EXIT_INVALID_BACKUP, name)?;
        let report: Value =
            serde_json::from_str(&v.stdout).with_context(|| format!("{name}: {}", v.stdout))?;
        let errors: Vec<&Value> = report["findings"]
            .as_array()
            .context("findings")?
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect();
        ensure!(!errors.is_empty(), "{name}: no error finding: {report}");
        let text = serde_json::to_string(&errors)?;
        ensure!(
            text.contains(needle),
            "{name}: findings do not name {needle:?}: {text}"
        );

        // --extract: non-zero exit, nothing outside the target folder.
        let tmp = tempfile::tempdir()?;
        std::fs::create_dir(tmp.path().join("sibling"))?;
        std::fs::write(tmp.path().join("sibling/keep"), b"keep")?;
        let target = tmp.path().join("out");
        let before = tree(tmp.path())?;
        let x = skiff(&["inspect", file, "--extract", target.to_str().context("utf-8")?])?;
        ensure!(
            x.code != EXIT_OK,
            "{name}: extract exited 0:\n{}\n{}",
            x.stdout,
            x.stderr
        );
        ensure!(
            x.stderr.contains("error"),
            "{name}: no error message: {}",
            x.stderr
        );
        let after: BTreeSet<String> = tree(tmp.path())?
            .into_iter()
            .filter(|p| !p.starts_with("out/"))
            .collect();
        ensure!(
            after == before,
            "{name}: tmp dir changed outside out/: {before:?} → {after:?}"
        );
        ensure!(std::fs::read(tmp.path().join("sibling/keep"))? == b"keep");
        ensure!(!inputs.path().join("escaped.json").exists() && !Path::new("/tmp/escaped.json").exists());
        if let Ok(out) = tree(&target) {
            ensure!(
                !out.iter().any(|f| f.contains("escaped") || f.contains("link")),
                "{name}: {out:?}"
            );
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn bad_documents_validate() -> Result<()> {
    let shared = shared_dir()?;
    let src = shared.join("fixtures/velero-made/v1.3.2/backups/b1");
    let tmp = tempfile::tempdir()?;

    // Each case: a copy of the real b1 folder with one thing broken.
    let case = |name: &str| -> Result<PathBuf> {
        let dir = tmp.path().join(name).join("backups/b1");
        copy_dir(&src, &dir)?;
        Ok(dir)
    };

    let notjson = case("not-json")?;
    std::fs::write(notjson.join("velero-backup.json"), b"{ this is not json")?;

    let list = case("resource-list")?;
    let raw = gunzip(&std::fs::read(list.join("b1-resource-list.json.gz"))?)?;
    let mut rl: Value = serde_json::from_slice(&raw)?;
    rl["v1/ConfigMap"]
        .as_array_mut()
        .context("v1/ConfigMap in resource list")?
        .push("demo/ghost".into());
    std::fs::write(
        list.join("b1-resource-list.json.gz"),
        gz(&serde_json::to_vec(&rl)?),
    )?;

    let version = case("version")?;
    let tar = gunzip(&std::fs::read(version.join("b1.tar.gz"))?)?;
    let mut rebuilt = Vec::new();
    let mut ar = tar::Archive::new(&tar[..]);
    for e in ar.entries()? {
        let mut e = e?;
        let path = e.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data)?;
        if e.header().entry_type().is_file() {
            let data = if path.ends_with("metadata/version") {
                b"2\n".to_vec()
            } else {
                data
            };
            file_entry(&mut rebuilt, &path, &data);
        }
    }
    std::fs::write(version.join("b1.tar.gz"), gz(&finish(rebuilt)))?;

    for (name, needle) in [
        ("not-json", "velero-backup.json"),
        ("resource-list", "ghost"),
        ("version", "version"),
    ] {
        let loc = tmp.path().join(name);
        let loc = loc.to_str().context("utf-8")?;
        let v = skiff(&["validate", "b1", "--location", loc, "-o", "json"])?;
        if v.code == EXIT_INVALID_BACKUP {
            let text = v.stdout;
            ensure!(
                text.contains(needle),
                "{name}: findings do not mention {needle:?}: {text}"
            );
        } else {
            // A document that cannot even be read is reported as an archive error (30) naming it.
            ensure!(
                v.code == 30,
                "{name}: validate exit {} (want 4 or 30): {}{}",
                v.code,
                v.stdout,
                v.stderr
            );
            ensure!(
                v.stderr.contains(needle),
                "{name}: error does not name {needle:?}: {}",
                v.stderr
            );
        }
        let i = skiff(&["inspect", "b1", "--location", loc])?;
        if name == "not-json" {
            ensure!(i.code != EXIT_OK, "{name}: inspect exited 0: {}", i.stdout);
        }
        if name == "version" {
            // The summary may show the unknown version, but extracting it is refused.
            ensure!(i.stdout.contains("Format version:  2"), "{name}: {}", i.stdout);
            let out = tmp.path().join("version-out");
            let x = skiff(&[
                "inspect",
                "b1",
                "--location",
                loc,
                "--extract",
                out.to_str().context("utf-8")?,
            ])?;
            ensure!(
                x.code != EXIT_OK && x.stderr.contains('2'),
                "{name}: extract: {} {}",
                x.code,
                x.stderr
            );
        }
    }
    Ok(())
}

// --- hostile input (issue 11): one regression per class --------------------------------------

/// `skiff` with a deadline: a hang is a failure, not a stuck test.
fn skiff_within(args: &[&str], secs: u64) -> Result<Run> {
    let mut child = Command::new(skiff_bin()?)
        .args(args)
        .env_remove("SKIFF_LOCATION")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("run skiff")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            anyhow::bail!("skiff {args:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    Ok(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

const EXIT_USAGE: i32 = 2;
const EXIT_ARCHIVE: i32 = 30;

fn item_json(kind: &str, ns: Option<&str>, name: &str, extra: &str) -> Vec<u8> {
    let meta = match ns {
        Some(ns) => format!(
            r#"{{"name":{},"namespace":{}}}"#,
            Value::from(name),
            Value::from(ns)
        ),
        None => format!(r#"{{"name":{}}}"#, Value::from(name)),
    };
    format!(r#"{{"apiVersion":"v1","kind":"{kind}","metadata":{meta}{extra}}}"#).into_bytes()
}

/// A tarball of config maps in namespace `demo` (classic and preferred copies), given as
/// (name, extra JSON members).
fn configmaps_tarball(items: &[(&str, &str)]) -> Vec<u8> {
    let mut t = Vec::new();
    file_entry(&mut t, "metadata/version", b"1.1.0\n");
    for (name, extra) in items {
        let data = item_json("ConfigMap", Some("demo"), name, extra);
        file_entry(
            &mut t,
            &format!("resources/configmaps/namespaces/demo/{name}.json"),
            &data,
        );
        file_entry(
            &mut t,
            &format!("resources/configmaps/v1-preferredversion/namespaces/demo/{name}.json"),
            &data,
        );
    }
    gz(&finish(t))
}

fn backup_json(name: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "kind": "Backup", "apiVersion": "velero.io/v1",
        "metadata": {"name": name, "namespace": "velero"},
        "spec": {"storageLocation": "default"},
        "status": {"phase": "Completed", "formatVersion": "1.1.0", "expiration": "2030-01-01T00:00:00Z"}
    }))
    .expect("json")
}

/// A backup folder `<dir>` holding `<file_stem>.tar.gz` and a velero-backup.json naming `doc_name`.
fn backup_folder(dir: &Path, file_stem: &str, doc_name: &str, tarball: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{file_stem}.tar.gz")), tarball)?;
    std::fs::write(dir.join("velero-backup.json"), backup_json(doc_name))?;
    Ok(())
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str().context("utf-8 path")
}

fn findings(report: &str) -> Result<Vec<Value>> {
    let r: Value = serde_json::from_str(report).with_context(|| format!("report: {report}"))?;
    Ok(r["findings"].as_array().context("findings")?.clone())
}

/// Class 4: a name from a document never becomes a path; a folder whose name differs from
/// `metadata.name` is flagged.
#[test]
fn issue11_names_from_documents_are_not_paths() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    // What a path from the document would reach: <tmp>/victim/secret.tar.gz.
    backup_folder(
        &tmp.path().join("victim"),
        "secret",
        "secret",
        &configmaps_tarball(&[("stolen", "")]),
    )?;
    let evil = tmp.path().join("loc/backups/evil");
    backup_folder(
        &evil,
        "evil",
        "../../victim/secret",
        &configmaps_tarball(&[("own", "")]),
    )?;

    let list = skiff(&["inspect", utf8(&evil)?, "--list", "-o", "json"])?.expect(EXIT_OK, "list")?;
    ensure!(
        list.stdout.contains("\"own\"") && !list.stdout.contains("stolen"),
        "{}",
        list.stdout
    );
    let v = skiff(&["validate", utf8(&evil)?, "-o", "json"])?.expect(EXIT_INVALID_BACKUP, "validate")?;
    let text = serde_json::to_string(&findings(&v.stdout)?)?;
    ensure!(
        text.contains("not a valid backup name") && !text.contains("stolen"),
        "{text}"
    );

    // A renamed folder: the tarball is found under metadata.name, the difference is an error.
    let renamed = tmp.path().join("renamed");
    backup_folder(&renamed, "b1", "b1", &configmaps_tarball(&[("a", "")]))?;
    let v =
        skiff(&["validate", utf8(&renamed)?, "-o", "json"])?.expect(EXIT_INVALID_BACKUP, "renamed folder")?;
    let text = serde_json::to_string(&findings(&v.stdout)?)?;
    ensure!(text.contains("differs from the folder name"), "{text}");

    // No usable name at all: neither the folder's nor the document's.
    let nameless = tmp.path().join("Not_A_Name");
    backup_folder(&nameless, "x", "../x", &configmaps_tarball(&[("a", "")]))?;
    let r = skiff(&["inspect", utf8(&nameless)?])?.expect(EXIT_ARCHIVE, "no valid name")?;
    ensure!(r.stderr.contains("valid backup name"), "{}", r.stderr);
    Ok(())
}

fn tree_bytes(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for p in tree(dir)? {
        let full = dir.join(&p);
        if !p.ends_with('/') && !full.is_symlink() {
            out.push((p, std::fs::read(full)?));
        }
    }
    Ok(out)
}

/// Class 5: extraction never leaves the target, never follows a link in it, refuses a non-empty
/// target without --force, writes whole files, and cleans up after a failure.
#[test]
fn issue11_extract_stays_in_the_target() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let tarball = tmp.path().join("b.tar.gz");
    std::fs::write(&tarball, configmaps_tarball(&[("a", ""), ("b", "")]))?;
    let tarball = utf8(&tarball)?;
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere)?;
    std::fs::write(elsewhere.join("keep"), b"keep")?;
    let untouched = || -> Result<()> {
        ensure!(
            tree_bytes(&elsewhere)? == vec![("keep".to_owned(), b"keep".to_vec())],
            "elsewhere changed: {:?}",
            tree(&elsewhere)?
        );
        Ok(())
    };

    // The target itself is a link.
    let link = tmp.path().join("link-target");
    std::os::unix::fs::symlink(&elsewhere, &link)?;
    let r = skiff(&["inspect", tarball, "--extract", utf8(&link)?])?.expect(EXIT_USAGE, "link target")?;
    ensure!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    untouched()?;

    // A non-empty target without --force.
    let full = tmp.path().join("full");
    std::fs::create_dir(&full)?;
    std::fs::write(full.join("mine"), b"mine")?;
    let r = skiff(&["inspect", tarball, "--extract", utf8(&full)?])?.expect(EXIT_USAGE, "non-empty")?;
    ensure!(
        r.stderr.contains("not empty") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    ensure!(tree(&full)? == BTreeSet::from(["mine".to_owned()]));

    // --force with a link planted inside: refused, not followed.
    std::os::unix::fs::symlink(&elsewhere, full.join("configmaps"))?;
    let r = skiff(&["inspect", tarball, "--extract", utf8(&full)?, "--force"])?;
    ensure!(r.code == EXIT_USAGE, "planted link: exit {} {}", r.code, r.stderr);
    ensure!(r.stderr.contains("configmaps"), "{}", r.stderr);
    untouched()?;

    // --force over existing files: replaced whole, no temp file left, the rest kept.
    std::fs::remove_file(full.join("configmaps"))?;
    std::fs::create_dir_all(full.join("configmaps/demo"))?;
    std::fs::write(full.join("configmaps/demo/a.yaml"), b"old")?;
    let r = skiff(&["inspect", tarball, "--extract", utf8(&full)?, "--force"])?.expect(EXIT_OK, "force")?;
    ensure!(r.stderr.contains("1 existing files replaced"), "{}", r.stderr);
    let files = tree(&full)?;
    ensure!(
        files
            == BTreeSet::from([
                "mine".to_owned(),
                "configmaps/".to_owned(),
                "configmaps/demo/".to_owned(),
                "configmaps/demo/a.yaml".to_owned(),
                "configmaps/demo/b.yaml".to_owned(),
            ]),
        "{files:?}"
    );
    ensure!(std::fs::read_to_string(full.join("configmaps/demo/a.yaml"))?.contains("name: a"));

    // A failure part-way (the second item is not JSON): what this run created is removed.
    let mut t = Vec::new();
    file_entry(&mut t, "metadata/version", b"1.1.0\n");
    file_entry(
        &mut t,
        "resources/configmaps/namespaces/demo/a.json",
        &item_json("ConfigMap", Some("demo"), "a", ""),
    );
    file_entry(&mut t, "resources/secrets/namespaces/demo/s.json", b"{not json");
    let broken = tmp.path().join("broken.tar.gz");
    std::fs::write(&broken, gz(&finish(t)))?;
    let fresh = tmp.path().join("fresh/out");
    let r = skiff(&["inspect", utf8(&broken)?, "--extract", utf8(&fresh)?])?;
    ensure!(r.code == EXIT_ARCHIVE, "broken: exit {} {}", r.code, r.stderr);
    ensure!(
        r.stderr.contains("stopped after 1 files") && r.stderr.contains("removed"),
        "{}",
        r.stderr
    );
    ensure!(!fresh.exists(), "partial output left: {:?}", tree(tmp.path())?);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty)?;
    skiff(&["inspect", utf8(&broken)?, "--extract", utf8(&empty)?])?;
    ensure!(
        tree(&empty)?.is_empty(),
        "left in an existing target: {:?}",
        tree(&empty)?
    );
    Ok(())
}

/// Class 7: the same path twice fails validate and --show; names that one filesystem would
/// store as one file are extracted to two.
#[test]
fn issue11_duplicates_and_collisions() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut t = Vec::new();
    file_entry(&mut t, "metadata/version", b"1.1.0\n");
    let path = "resources/configmaps/namespaces/demo/a.json";
    file_entry(
        &mut t,
        path,
        &item_json("ConfigMap", Some("demo"), "a", r#","data":{"copy":"1"}"#),
    );
    file_entry(
        &mut t,
        path,
        &item_json("ConfigMap", Some("demo"), "a", r#","data":{"copy":"2"}"#),
    );
    let dup = tmp.path().join("dup.tar.gz");
    std::fs::write(&dup, gz(&finish(t)))?;
    let dup = utf8(&dup)?;
    let v = skiff(&["validate", dup, "-o", "json"])?.expect(EXIT_INVALID_BACKUP, "duplicate")?;
    let text = serde_json::to_string(&findings(&v.stdout)?)?;
    ensure!(text.contains("more than once"), "{text}");
    let s = skiff(&["inspect", dup, "--show", "configmaps/demo/a"])?;
    ensure!(
        s.code == EXIT_ARCHIVE && s.stdout.is_empty() && s.stderr.contains("more than once"),
        "--show of a duplicate: exit {} {} {}",
        s.code,
        s.stdout,
        s.stderr
    );

    // Names equal but for case (valid in some resources, e.g. RBAC): two files, one renamed.
    let case = tmp.path().join("case.tar.gz");
    std::fs::write(
        &case,
        configmaps_tarball(&[
            ("Web", r#","data":{"v":"upper"}"#),
            ("web", r#","data":{"v":"lower"}"#),
        ]),
    )?;
    let out = tmp.path().join("out");
    let r = skiff(&["inspect", utf8(&case)?, "--extract", utf8(&out)?])?.expect(EXIT_OK, "case")?;
    ensure!(r.stderr.contains("_index.json"), "{}", r.stderr);
    let files: Vec<String> = tree(&out)?
        .into_iter()
        .filter(|f| Path::new(f).extension().is_some_and(|e| e == "yaml"))
        .collect();
    ensure!(files.len() == 2, "{files:?}");
    let folded: BTreeSet<String> = files.iter().map(|f| f.to_lowercase()).collect();
    ensure!(
        folded.len() == 2,
        "files collide on a case-insensitive filesystem: {files:?}"
    );
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("_index.json"))?)?;
    ensure!(
        index[0]["name"] == "web" && index.as_array().map(Vec::len) == Some(1),
        "{index}"
    );
    let renamed = index[0]["file"].as_str().context("file")?;
    ensure!(std::fs::read_to_string(out.join(renamed))?.contains("lower"));
    Ok(())
}

/// Class 8: any valid Kubernetes name (253 characters) fits a file name.
#[test]
fn issue11_long_names_are_extracted() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let long = format!("{}.{}", "a".repeat(200), "b".repeat(52));
    ensure!(long.len() == 253);
    let tarball = tmp.path().join("long.tar.gz");
    std::fs::write(&tarball, configmaps_tarball(&[(&long, ""), ("short", "")]))?;
    let out = tmp.path().join("out");
    skiff(&["inspect", utf8(&tarball)?, "--extract", utf8(&out)?, "-o", "json"])?.expect(EXIT_OK, "long")?;
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("_index.json"))?)?;
    let row = &index[0];
    ensure!(row["name"] == long.as_str(), "{index}");
    let file = row["file"].as_str().context("file")?;
    let name = file.rsplit('/').next().context("file name")?;
    ensure!(
        name.len() <= 255 && Path::new(name).extension().is_some_and(|e| e == "json"),
        "{name}"
    );
    let obj: Value = serde_json::from_slice(&std::fs::read(out.join(file))?)?;
    ensure!(obj["metadata"]["name"] == long.as_str());
    ensure!(out.join("configmaps/demo/short.json").is_file());
    Ok(())
}

/// Class 9: exit codes and JSON output follow the documented table.
#[test]
fn issue11_exit_codes_follow_the_table() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    // A backup folder with no tarball: inspect says not found (11); validate reports it (4).
    let notar = tmp.path().join("loc/backups/notar");
    std::fs::create_dir_all(&notar)?;
    std::fs::write(notar.join("velero-backup.json"), backup_json("notar"))?;
    let r = skiff(&["inspect", utf8(&notar)?, "-o", "json"])?.expect(EXIT_NOT_FOUND, "no tarball")?;
    ensure!(r.stderr.contains("notar.tar.gz"), "{}", r.stderr);
    let v = skiff(&["validate", utf8(&notar)?, "-o", "json"])?.expect(EXIT_INVALID_BACKUP, "validate")?;
    ensure!(serde_json::to_string(&findings(&v.stdout)?)?.contains("tarball is missing"));

    // A missing path, and an unknown name in a location: 11.
    let missing = tmp.path().join("nope/b.tar.gz");
    skiff(&["inspect", utf8(&missing)?])?.expect(EXIT_NOT_FOUND, "missing path")?;
    skiff(&["validate", utf8(&missing)?])?.expect(EXIT_NOT_FOUND, "missing path")?;
    let loc = tmp.path().join("loc");
    skiff(&["inspect", "unknown", "--location", utf8(&loc)?])?.expect(EXIT_NOT_FOUND, "unknown")?;

    // A folder with an invalid backup name in a location: listed as a bad row, not a failure.
    backup_folder(
        &loc.join("backups/good"),
        "good",
        "good",
        &configmaps_tarball(&[("a", "")]),
    )?;
    let bad = loc.join("backups/Bad_Name");
    std::fs::create_dir_all(&bad)?;
    std::fs::write(bad.join("velero-backup.json"), backup_json("Bad_Name"))?;
    let l = skiff(&["backups", "list", "--location", utf8(&loc)?, "-o", "json"])?.expect(EXIT_OK, "list")?;
    let rows: Value = serde_json::from_str(&l.stdout)?;
    let rows = rows.as_array().context("rows")?;
    let row = |n: &str| rows.iter().find(|r| r["name"] == n);
    ensure!(
        row("good").is_some_and(|r| r["phase"] == "Completed" && r.get("error").is_none()),
        "{rows:?}"
    );
    ensure!(
        row("Bad_Name").is_some_and(|r| r["error"].is_string()),
        "{rows:?}"
    );
    let t = skiff(&["backups", "list", "--location", utf8(&loc)?])?.expect(EXIT_OK, "list table")?;
    ensure!(
        t.stdout.contains("good") && t.stderr.contains("Bad_Name"),
        "{}{}",
        t.stdout,
        t.stderr
    );
    Ok(())
}

/// Class 10: documents behind links, devices and FIFOs are refused, not read (no hang, no
/// memory blow-up); a local location does not follow links out of itself.
#[test]
fn issue11_unbounded_reads_are_refused() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let tarball = configmaps_tarball(&[("a", "")]);
    let zero = tmp.path().join("zero/backups/zero");
    backup_folder(&zero, "zero", "zero", &tarball)?;
    std::fs::remove_file(zero.join("velero-backup.json"))?;
    std::os::unix::fs::symlink("/dev/zero", zero.join("velero-backup.json"))?;
    let fifo = tmp.path().join("fifo/backups/fifo");
    backup_folder(&fifo, "fifo", "fifo", &tarball)?;
    std::fs::remove_file(fifo.join("velero-backup.json"))?;
    let st = Command::new("mkfifo")
        .arg(fifo.join("velero-backup.json"))
        .status()?;
    ensure!(st.success(), "mkfifo");
    for (dir, what) in [(&zero, "symbolic link"), (&fifo, "FIFO")] {
        let v = skiff_within(&["validate", utf8(dir)?, "-o", "json"], 60)?;
        ensure!(
            v.code == EXIT_INVALID_BACKUP,
            "{what}: exit {} {}",
            v.code,
            v.stderr
        );
        ensure!(
            serde_json::to_string(&findings(&v.stdout)?)?.contains(what),
            "{what}: {}",
            v.stdout
        );
        let i = skiff_within(&["inspect", utf8(dir)?], 60)?;
        ensure!(
            i.code == EXIT_ARCHIVE,
            "{what}: inspect exit {} {}",
            i.code,
            i.stderr
        );
        // Through the location too.
        let loc = dir.parent().and_then(Path::parent).context("location")?;
        let name = dir.file_name().and_then(|n| n.to_str()).context("name")?;
        let i = skiff_within(&["inspect", name, "--location", utf8(loc)?], 60)?;
        ensure!(i.code != EXIT_OK, "{what}: inspect via location exited 0");
        let l = skiff_within(&["backups", "list", "--location", utf8(loc)?, "-o", "json"], 60)?;
        ensure!(l.code == EXIT_OK, "{what}: list exit {} {}", l.code, l.stderr);
    }

    // A location whose backup files are links to files outside it.
    let outside = tmp.path().join("outside");
    backup_folder(&outside, "b1", "b1", &tarball)?;
    let loc = tmp.path().join("linked");
    std::fs::create_dir_all(loc.join("backups/b1"))?;
    for f in ["velero-backup.json", "b1.tar.gz"] {
        std::os::unix::fs::symlink(outside.join(f), loc.join("backups/b1").join(f))?;
    }
    let r = skiff(&["inspect", "b1", "--location", utf8(&loc)?, "--list"])?;
    ensure!(
        r.code != EXIT_OK && !r.stdout.contains("\"a\""),
        "read through a link: {}",
        r.stdout
    );
    Ok(())
}

/// Class 11: big integers unchanged, control characters never raw on the terminal, dropped
/// findings counted.
#[test]
fn issue11_no_silent_data_changes() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let big = "123456789012345678901234567890";
    let tarball = tmp.path().join("big.tar.gz");
    std::fs::write(
        &tarball,
        configmaps_tarball(&[("n", &format!(r#","spec":{{"big":{big},"f":1.50}}"#))]),
    )?;
    let t = utf8(&tarball)?;
    for fmt in ["json", "yaml"] {
        let s = skiff(&["inspect", t, "--show", "configmaps/demo/n", "-o", fmt])?.expect(EXIT_OK, fmt)?;
        ensure!(
            s.stdout.contains(big) && s.stdout.contains("1.50"),
            "{fmt}: {}",
            s.stdout
        );
        let out = tmp.path().join(format!("out-{fmt}"));
        skiff(&["inspect", t, "--extract", utf8(&out)?, "-o", fmt])?.expect(EXIT_OK, "extract")?;
        let f = std::fs::read_to_string(out.join(format!("configmaps/demo/n.{fmt}")))?;
        ensure!(f.contains(big), "{fmt} file: {f}");
    }

    // Control characters in entry names.
    let mut t = Vec::new();
    file_entry(&mut t, "metadata/version", b"1.1.0\n");
    let evil = "x\u{1b}]0;pwned\u{7}\nfake";
    file_entry(
        &mut t,
        &format!("resources/configmaps/namespaces/demo/{evil}.json"),
        &item_json("ConfigMap", Some("demo"), "other", ""),
    );
    let esc = tmp.path().join("esc.tar.gz");
    std::fs::write(&esc, gz(&finish(t)))?;
    let esc = utf8(&esc)?;
    let l = skiff(&["inspect", esc, "--list"])?.expect(EXIT_OK, "list")?;
    let v = skiff(&["validate", esc])?.expect(EXIT_INVALID_BACKUP, "validate")?;
    for (what, out) in [
        ("list", &l.stdout),
        ("validate", &v.stdout),
        ("validate stderr", &v.stderr),
    ] {
        ensure!(
            !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains("\nfake"),
            "{what} printed raw control characters: {out:?}"
        );
    }
    ensure!(l.stdout.contains("\\u{1b}"), "{}", l.stdout);

    // More findings of one code than are kept: the rest are counted.
    let names: Vec<String> = (0..1005).map(|i| format!("cm{i}")).collect();
    let mut t = Vec::new();
    file_entry(&mut t, "metadata/version", b"1\n");
    for n in &names {
        file_entry(
            &mut t,
            &format!("resources/configmaps/namespaces/demo/{n}.json"),
            &item_json("ConfigMap", Some("demo"), "wrong", ""),
        );
    }
    let many = tmp.path().join("many.tar.gz");
    std::fs::write(&many, gz(&finish(t)))?;
    let v = skiff(&["validate", utf8(&many)?, "-o", "json"])?.expect(EXIT_INVALID_BACKUP, "many")?;
    let r: Value = serde_json::from_str(&v.stdout)?;
    ensure!(r["dropped"]["item"]["count"] == 5, "{}", r["dropped"]);
    let v = skiff(&["validate", utf8(&many)?])?.expect(EXIT_INVALID_BACKUP, "many table")?;
    ensure!(v.stdout.contains("5 more findings not shown"), "{}", v.stdout);
    ensure!(v.stdout.contains("1005 errors"), "{}", v.stdout);
    Ok(())
}
