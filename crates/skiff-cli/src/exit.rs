//! The CLI's error type and its documented exit codes, rendered in one place with hints.

use std::fmt::Write as _;

/// Documented exit codes (README "Exit codes").
pub mod code {
    /// Success.
    pub const OK: u8 = 0;
    /// Unexpected failure (a bug, or something skiff does not classify).
    pub const UNEXPECTED: u8 = 1;
    /// Bad command line or options.
    pub const USAGE: u8 = 2;
    /// The run completed but some items failed (backup `PartiallyFailed`, restore item errors).
    pub const ITEM_FAILURES: u8 = 3;
    /// `validate` found errors in the backup.
    pub const INVALID_BACKUP: u8 = 4;
    /// The backup location failed (unreachable, credentials, permissions).
    pub const STORAGE: u8 = 10;
    /// The named backup does not exist, or exists when it must not.
    pub const BACKUP_NOT_FOUND_OR_EXISTS: u8 = 11;
    /// The cluster failed (kubeconfig, connection, discovery, authorization).
    pub const CLUSTER: u8 = 20;
    /// The archive or a document is malformed.
    pub const ARCHIVE: u8 = 30;
    /// Interrupted (Ctrl-C); nothing half-written was left visible.
    pub const INTERRUPTED: u8 = 130;
}

/// An error on its way out of the CLI.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: u8,
    /// The message (an error chain).
    pub message: String,
    /// `hint:` lines.
    pub hints: Vec<String>,
}

impl CliError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: code::USAGE,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// Add a hint.
    #[must_use]
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hints.push(h.into());
        self
    }

    /// Render for stderr.
    pub fn render(&self) -> String {
        let mut s = format!("error: {}\n", self.message);
        for h in &self.hints {
            let _ = writeln!(s, "hint: {h}");
        }
        s
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    skiff_engine::offline::chain(e)
}

impl From<skiff_engine::Error> for CliError {
    fn from(e: skiff_engine::Error) -> Self {
        use skiff_engine::Error as E;
        let message = chain(&e);
        let (code, hints): (u8, Vec<String>) = match &e {
            E::Store(s) if s.is_not_found() => (code::BACKUP_NOT_FOUND_OR_EXISTS, vec![]),
            E::Store(_) => (
                code::STORAGE,
                vec!["check --location, the endpoint (--s3-endpoint), region and credentials (--credentials-file / AWS_* variables)".into()],
            ),
            E::Kube(_) => (code::CLUSTER, vec!["check --kubeconfig / KUBECONFIG and --context; `kubectl get ns` with the same settings should work".into()]),
            E::Format(_) => (code::ARCHIVE, vec!["`skiff validate <backup>` lists every problem of an archive".into()]),
            E::InvalidOptions(_) => (code::USAGE, vec![]),
            E::BackupExists { .. } => (
                code::BACKUP_NOT_FOUND_OR_EXISTS,
                vec!["choose another name, or delete it first with `skiff backups delete <name> --location …`".into()],
            ),
            E::BackupNotFound { .. } => (code::BACKUP_NOT_FOUND_OR_EXISTS, vec!["`skiff backups list --location …` shows the complete backups".into()]),
            E::Interrupted => (code::INTERRUPTED, vec![]),
            _ => (code::UNEXPECTED, vec![]),
        };
        Self { code, message, hints }
    }
}

impl From<skiff_store::Error> for CliError {
    fn from(e: skiff_store::Error) -> Self {
        skiff_engine::Error::Store(e).into()
    }
}

impl From<skiff_kube::KubeError> for CliError {
    fn from(e: skiff_kube::KubeError) -> Self {
        skiff_engine::Error::Kube(e).into()
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self {
            code: code::UNEXPECTED,
            message: chain(&e),
            hints: vec![],
        }
    }
}
