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
