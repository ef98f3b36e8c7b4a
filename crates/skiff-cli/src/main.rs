//! The `skiff` command: back up, restore, migrate and inspect Kubernetes resources in Velero's
//! backup format, without Velero.
//!
//! This crate is the only one that reads argv/env, prints, or exits. Precedence of settings:
//! flags > environment variables (named in [`mod@env`]) > defaults.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod args;
mod commands;
mod exit;
mod output;
mod progress;

use clap::Parser;
use exit::{CliError, code};
use std::process::ExitCode;

/// Names of the environment variables skiff reads (besides `KUBECONFIG` and the AWS ones).
pub mod env {
    /// Default `--location`.
    pub const LOCATION: &str = "SKIFF_LOCATION";
    /// Default `--s3-endpoint`.
    pub const S3_ENDPOINT: &str = "SKIFF_S3_ENDPOINT";
    /// Log filter (`RUST_LOG` syntax).
    pub const LOG: &str = "SKIFF_LOG";
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info,skiff=info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = std::env::var(env::LOG)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .with_target(false)
        .try_init();
}

#[cfg(all(unix, not(target_env = "musl"), feature = "jemalloc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => code::OK,
                _ => code::USAGE,
            });
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    skiff_kube::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprint!("{}", CliError::from(e).render());
            return ExitCode::from(code::UNEXPECTED);
        }
    };
    let result: Result<u8, CliError> = runtime.block_on(commands::run(cli));
    // Do not wait for background uploads or requests that were abandoned.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprint!("{}", e.render());
            ExitCode::from(e.exit_code())
        }
    }
}
