//! Helpers every module of the integration binary shares.

use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};

/// The `skiff` binary: `$SKIFF_BIN` when set, otherwise the one in the same target dir as this
/// test executable (`<target>/<profile>/deps/it-<hash>` → `<target>/<profile>/skiff`).
/// `cargo test --workspace` builds it; `cargo test -p skiff-tests` alone does not: run
/// `cargo build -p skiff-cli` first. (`SKIFF_BIN` matters when several checkouts share one
/// `CARGO_TARGET_DIR`: each build of any of them replaces `<target>/debug/skiff`.)
pub fn skiff_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SKIFF_BIN") {
        let bin = PathBuf::from(bin);
        ensure!(bin.is_file(), "SKIFF_BIN={} is not a file", bin.display());
        return Ok(bin);
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no grandparent dir")?;
    let bin = dir.join(format!("skiff{}", std::env::consts::EXE_SUFFIX));
    ensure!(
        bin.is_file(),
        "{} not found: run `cargo build -p skiff-cli` first (with the same CARGO_TARGET_DIR)",
        bin.display()
    );
    Ok(bin)
}
