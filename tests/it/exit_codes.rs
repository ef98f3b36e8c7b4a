//! One exit-code table: the README's "Exit codes" table and `skiff --help`'s "Exit codes:"
//! section (rendered from `EXIT_CODES` in crates/skiff-cli/src/exit.rs) must list the same codes
//! with the same meanings, in the same order.

use crate::common::skiff_bin;
use anyhow::{Context, Result, bail, ensure};

/// `(code, meaning)` rows of the README's table under `### Exit codes`, backticks removed (the
/// help text prints none).
fn readme_table(readme: &str) -> Result<Vec<(u8, String)>> {
    let section = readme
        .split("### Exit codes")
        .nth(1)
        .context("README has no `### Exit codes` section")?;
    let mut rows = Vec::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 2 {
            bail!("README exit-code row without two cells: {line:?}");
        }
        if cells[0] == "code" || cells[0].starts_with("---") {
            continue;
        }
        let code: u8 = cells[0]
            .parse()
            .with_context(|| format!("README exit code {:?}", cells[0]))?;
        rows.push((code, cells[1].replace('`', "")));
    }
    ensure!(!rows.is_empty(), "README exit-code table is empty");
    Ok(rows)
}

/// `(code, meaning)` rows of the "Exit codes:" section of `skiff --help`.
fn help_table(help: &str) -> Result<Vec<(u8, String)>> {
    let section = help
        .split("Exit codes:\n")
        .nth(1)
        .context("`skiff --help` has no `Exit codes:` section")?;
    let mut rows = Vec::new();
    for line in section.lines() {
        let Some(rest) = line.strip_prefix("  ") else {
            break;
        };
        let (code, meaning) = rest
            .trim_start()
            .split_once(char::is_whitespace)
            .with_context(|| format!("help exit-code line {line:?}"))?;
        rows.push((
            code.parse().with_context(|| format!("help exit code {code:?}"))?,
            meaning.trim().to_string(),
        ));
    }
    ensure!(!rows.is_empty(), "help exit-code section is empty");
    Ok(rows)
}

#[test]
fn readme_and_help_list_the_same_exit_codes() -> Result<()> {
    let out = std::process::Command::new(skiff_bin()?)
        .arg("--help")
        .env("COLUMNS", "200")
        .output()?;
    ensure!(out.status.success(), "skiff --help exited {:?}", out.status);
    let help = help_table(&String::from_utf8(out.stdout)?)?;
    let readme = readme_table(&std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../README.md"
    ))?)?;
    let fmt = |rows: &[(u8, String)]| {
        rows.iter()
            .map(|(c, m)| format!("{c:>3}  {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    ensure!(
        readme == help,
        "README exit codes differ from `skiff --help` (EXIT_CODES in crates/skiff-cli/src/exit.rs):\nREADME:\n{}\nhelp:\n{}",
        fmt(&readme),
        fmt(&help)
    );
    // The codes the error classes map to are documented (exit.rs's `code` module).
    let codes: Vec<u8> = help.iter().map(|(c, _)| *c).collect();
    for documented in [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 20, 30, 130] {
        ensure!(
            codes.contains(&documented),
            "exit code {documented} missing: {codes:?}"
        );
    }
    Ok(())
}

#[test]
fn parsers_read_what_they_are_given() -> Result<()> {
    let readme = "x\n### Exit codes\n\n| code | meaning |\n|---|---|\n| 0 | success |\n| 4 | `validate` found errors |\n\nafter\n";
    assert_eq!(
        readme_table(readme)?,
        vec![(0, "success".into()), (4, "validate found errors".into())]
    );
    let help = "Usage: skiff\n\nExit codes:\n  0    success\n  130  interrupted (x)\n";
    assert_eq!(
        help_table(help)?,
        vec![(0, "success".into()), (130, "interrupted (x)".into())]
    );
    Ok(())
}
