//! `skiff restore`.

use crate::args::RestoreArgs;
use crate::exit::CliError;
use crate::progress::CliProgress;

/// Run a restore.
pub async fn run(a: RestoreArgs, progress: &CliProgress) -> Result<u8, CliError> {
    let _ = (a, progress);
    Err(CliError::usage("restore is not wired yet"))
}
