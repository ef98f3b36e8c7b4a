//! Packaging: the binary as the kubectl plugin `kubectl-skiff` (its usage reads `kubectl skiff`),
//! and the binary in an empty root — no kubeconfig, no CA store, no resolver configuration — where
//! it must say what it needs and exit with a documented code, never panic.
//!
//! The empty root is a fresh folder holding the binary (`chroot`, as root; `unshare -r chroot`
//! otherwise). `SKIFF_STATIC_BIN` names a static binary (`scripts/build-static.sh`); without it
//! the regular binary is used, and when that is dynamically linked its loader and libraries
//! (from `ldd`) are copied in beside it — still no certificates, resolver files or kubeconfig.

use crate::common::skiff_bin;
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit codes documented in crates/skiff-cli/src/exit.rs.
const EXIT_OK: i32 = 0;
const EXIT_STORAGE: i32 = 10;
const EXIT_CLUSTER: i32 = 20;

#[test]
fn kubectl_plugin_usage_reads_kubectl_skiff() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let plugin = dir.path().join("kubectl-skiff");
    std::os::unix::fs::symlink(skiff_bin()?, &plugin)?;
    let help = Command::new(&plugin).arg("--help").output()?;
    let text = String::from_utf8_lossy(&help.stdout);
    ensure!(help.status.code() == Some(EXIT_OK), "{text}");
    ensure!(
        text.contains("Usage: kubectl skiff [OPTIONS] <COMMAND>"),
        "{text}"
    );
    let sub = Command::new(&plugin)
        .args(["backups", "copy", "--help"])
        .output()?;
    let text = String::from_utf8_lossy(&sub.stdout);
    ensure!(text.contains("Usage: kubectl skiff backups copy"), "{text}");
    // A usage error names the plugin too.
    let bad = Command::new(&plugin).arg("--no-such-flag").output()?;
    let text = String::from_utf8_lossy(&bad.stderr);
    ensure!(
        bad.status.code() == Some(2) && text.contains("kubectl skiff"),
        "{text}"
    );
    // Under its own name, nothing changes.
    let own = Command::new(skiff_bin()?).arg("--help").output()?;
    ensure!(String::from_utf8_lossy(&own.stdout).contains("Usage: skiff [OPTIONS] <COMMAND>"));
    Ok(())
}

/// Whether an ELF file asks for a program interpreter (a dynamic loader): a `PT_INTERP` program
/// header. 64-bit little-endian only (the only target built here).
fn is_dynamic(bin: &Path) -> Result<bool> {
    let data = std::fs::read(bin)?;
    ensure!(
        data.len() > 64 && &data[..4] == b"\x7fELF" && data[4] == 2 && data[5] == 1,
        "not an ELF64 LE file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = usize::try_from(u64::from_le_bytes(data[32..40].try_into()?))?;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let kind = u32::from_le_bytes(data[at..at + 4].try_into()?);
        if kind == 3 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The shared objects `ldd` lists for `bin` (absolute paths).
fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(bin).output().context("run ldd")?;
    ensure!(
        out.status.success(),
        "ldd {}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect())
}

/// Run `/skiff <args>` inside `root` with an empty environment plus `env`.
fn in_root(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(i32, String)> {
    // The child's environment is cleared, PATH included: look the tools up here.
    let mut cmd = if is_root() {
        Command::new(tool("chroot")?)
    } else {
        let mut c = Command::new(tool("unshare")?);
        c.arg("-r").arg(tool("chroot")?);
        c
    };
    let out = cmd
        .arg(root)
        .arg("/skiff")
        .args(args)
        .env_clear()
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .context("run chroot")?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "skiff {args:?} panicked in the empty root:\n{stderr}"
    );
    Ok((out.status.code().unwrap_or(-1), stderr))
}

/// A tool's path, from PATH or the sbin folders.
fn tool(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn binary_in_an_empty_root_says_what_it_needs() -> Result<()> {
    let bin = match std::env::var_os("SKIFF_STATIC_BIN") {
        Some(b) => PathBuf::from(b),
        None => skiff_bin()?,
    };
    let root = tempfile::tempdir()?;
    std::fs::copy(&bin, root.path().join("skiff"))?;
    if is_dynamic(&bin)? {
        ensure!(
            std::env::var_os("SKIFF_STATIC_BIN").is_none(),
            "SKIFF_STATIC_BIN={} is dynamically linked",
            bin.display()
        );
        for lib in shared_libraries(&bin)? {
            let inside = root.path().join(lib.strip_prefix("/")?);
            std::fs::create_dir_all(inside.parent().context("parent")?)?;
            std::fs::copy(&lib, &inside)?;
        }
    }
    // Nothing else in the root: no /etc at all.
    ensure!(!root.path().join("etc").exists());
    let (code, stderr) = in_root(root.path(), &["--version"], &[])?;
    if code == 125 || code == 126 || code == 127 || stderr.contains("Operation not permitted") {
        bail!("cannot chroot here (exit {code}): {stderr}");
    }
    ensure!(code == EXIT_OK, "--version: exit {code}: {stderr}");

    // No kubeconfig, no HOME, not in a cluster.
    let (code, stderr) = in_root(root.path(), &["backup", "b1", "--location", "/backups"], &[])?;
    ensure!(
        code == EXIT_CLUSTER && stderr.contains("no kubeconfig file and not running inside a cluster"),
        "no kubeconfig: exit {code}: {stderr}"
    );

    // An https endpoint and no CA store: refused before any connection, naming the way out.
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
    ];
    let (code, stderr) = in_root(
        root.path(),
        &[
            "backups",
            "list",
            "--location",
            "s3://bucket/p",
            "--s3-endpoint",
            "https://127.0.0.1:9",
        ],
        &creds,
    )?;
    ensure!(
        code == EXIT_STORAGE && stderr.contains("no CA store") && stderr.contains("--cacert"),
        "no CA store: exit {code}: {stderr}"
    );
    ensure!(
        !stderr.contains("not-a-secret"),
        "the secret key was printed: {stderr}"
    );

    // A host name and no resolver configuration (only loopback is asked: glibc's default
    // name server is 127.0.0.1).
    let (code, stderr) = in_root(
        root.path(),
        &[
            "backups",
            "list",
            "--location",
            "s3://bucket/p",
            "--s3-endpoint",
            "http://s3.invalid:9000",
        ],
        &creds,
    )?;
    ensure!(
        code == EXIT_STORAGE && stderr.contains("no /etc/resolv.conf or /etc/hosts"),
        "no resolver: exit {code}: {stderr}"
    );
    Ok(())
}
