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

/// The log filter when neither `SKIFF_LOG` nor `RUST_LOG` is set. At the default level only
/// skiff's own crates speak (the `skiff` target prefix matches `skiff_engine`, `skiff_kube`, …):
/// they know what was retried and what failed, while a dependency's line (kube's `failed with
/// status 500` for a request skiff then retried, rustls' per-connection notes) would only alarm.
/// `-v` adds the dependencies' warnings, `-vv` everything at debug.
fn default_log_filter(verbose: u8, quiet: bool) -> &'static str {
    if quiet {
        return "skiff=error";
    }
    match verbose {
        0 => "skiff=warn",
        1 => "warn,skiff=info",
        2 => "debug",
        _ => "trace",
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = std::env::var(env::LOG)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_log_filter(verbose, quiet).to_string());
    let ansi = std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Log lines go through the progress display, which takes the bar off the screen meanwhile.
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(progress::LogWriter)
        .with_ansi(ansi)
        .with_target(verbose >= 2);
    // Times, levels and targets help when reading a verbose log; at the default level a log line
    // is a message to the user, shaped like the CLI's own `error:` and `hint:` lines.
    let layer = if verbose == 0 {
        layer.event_format(UserLine).boxed()
    } else {
        layer.boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(layer)
        .try_init();
}

/// A log event as the user reads it at the default level: `warning: <message> <fields>`.
struct UserLine;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for UserLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(writer, "{level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(all(unix, not(target_env = "musl"), feature = "jemalloc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The name usage lines show: `kubectl skiff` when run as the kubectl plugin `kubectl-skiff`
/// (kubectl runs `kubectl-<name>` from PATH for `kubectl <name>`), otherwise clap's default
/// (the file name skiff was run as).
fn plugin_bin_name(argv0: Option<&std::ffi::OsStr>) -> Option<&'static str> {
    let name = std::path::Path::new(argv0?).file_name()?.to_str()?;
    (name == "kubectl-skiff").then_some("kubectl skiff")
}

/// Parse argv, with the kubectl plugin's name in usage and help when run as one.
fn parse_args() -> Result<args::Cli, clap::Error> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let argv0 = std::env::args_os().next();
    let mut command = args::Cli::command();
    if let Some(name) = plugin_bin_name(argv0.as_deref()) {
        command = command.bin_name(name).display_name(name);
    }
    let matches = command.try_get_matches()?;
    args::Cli::from_arg_matches(&matches)
}

fn main() -> ExitCode {
    let cli = match parse_args() {
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
            let mut text = e.render();
            if let Some(h) = resolver_hint(&text, |p| std::path::Path::new(p).exists()) {
                text.push_str("hint: ");
                text.push_str(h);
                text.push('\n');
            }
            eprint!("{text}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// A host name could not be resolved in a root with no resolver configuration (a static binary
/// in an empty root or a bare container): say what is missing.
fn resolver_hint(rendered: &str, exists: impl Fn(&str) -> bool) -> Option<&'static str> {
    let lower = rendered.to_ascii_lowercase();
    let lookup_failed = [
        "dns error",
        "failed to lookup address",
        "name resolution",
        "name or service not known",
    ]
    .iter()
    .any(|m| lower.contains(m));
    (lookup_failed && !exists("/etc/resolv.conf") && !exists("/etc/hosts")).then_some(
        "this system has no /etc/resolv.conf or /etc/hosts, so host names cannot be resolved: mount a resolver configuration, or use IP addresses",
    )
}

#[cfg(test)]
mod tests {
    use super::plugin_bin_name;
    use std::ffi::OsStr;

    #[test]
    fn kubectl_plugin_name_from_argv0() {
        assert_eq!(
            plugin_bin_name(Some(OsStr::new("/usr/local/bin/kubectl-skiff"))),
            Some("kubectl skiff")
        );
        assert_eq!(
            plugin_bin_name(Some(OsStr::new("kubectl-skiff"))),
            Some("kubectl skiff")
        );
        assert_eq!(plugin_bin_name(Some(OsStr::new("/usr/bin/skiff"))), None);
        assert_eq!(plugin_bin_name(Some(OsStr::new("kubectl-skiff-old"))), None);
        assert_eq!(plugin_bin_name(None), None);
    }

    #[test]
    fn resolver_hint_only_without_resolver_files() {
        let err = "error: access the backup store: dispatch failure: dns error: failed to lookup address information";
        assert!(super::resolver_hint(err, |_| false).is_some());
        assert!(super::resolver_hint(err, |p| p == "/etc/hosts").is_none());
        assert!(super::resolver_hint("error: access denied", |_| false).is_none());
    }
}
