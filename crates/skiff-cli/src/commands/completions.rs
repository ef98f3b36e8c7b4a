//! `skiff completions <shell>` and `skiff man`: shell completions and man pages, generated from
//! the clap definitions (so they never drift from the real options).

use crate::args::Cli;
use crate::exit::{CliError, code};
use crate::output;
use clap::{Args, CommandFactory};
use std::path::PathBuf;

/// `skiff completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `skiff completions bash > /etc/bash_completion.d/skiff`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `skiff man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (`skiff.1`, `skiff-backup.1`, …) into this folder instead of
    /// printing skiff(1) to stdout.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// Print the completion script for a shell.
pub fn completions(a: &CompletionsArgs) -> Result<u8, CliError> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "skiff", &mut script);
    output::bytes_out(&script)?;
    Ok(code::OK)
}

/// Print skiff(1), or write every command's page into a folder.
pub fn man(a: &ManArgs) -> Result<u8, CliError> {
    let cmd = Cli::command();
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::usage(format!("create --out-dir {}: {e}", dir.display())))?;
        clap_mangen::generate_to(cmd, dir)
            .map_err(|e| CliError::usage(format!("write man pages to {}: {e}", dir.display())))?;
    } else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        output::bytes_out(&page)?;
    }
    Ok(code::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_page_name_the_commands() {
        let mut cmd = Cli::command();
        let mut script = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "skiff", &mut script);
        let script = String::from_utf8(script).unwrap();
        for word in ["restore", "--from-backup", "--include-namespaces", "completions"] {
            assert!(script.contains(word), "bash completion lacks {word}");
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie"), "{}", &page[..page.len().min(200)]);
        assert!(page.contains("validate") && page.contains("Exit codes"), "{page}");
    }

    #[test]
    fn man_writes_a_page_per_command() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("man1");
        man(&ManArgs {
            out_dir: Some(dir.clone()),
        })
        .unwrap();
        for page in [
            "skiff.1",
            "skiff-restore.1",
            "skiff-backups.1",
            "skiff-backups-list.1",
        ] {
            assert!(dir.join(page).is_file(), "{page} missing in {}", dir.display());
        }
    }
}
