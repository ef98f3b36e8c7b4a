//! The CLI's error type and skiff's one exit-code table. The help text (`skiff --help`), the
//! README's table and the tests all read [`EXIT_CODES`].

use std::fmt::Write as _;

/// One documented exit code.
#[derive(Debug, Clone, Copy)]
pub struct ExitCodeRow {
    /// The code.
    pub code: u8,
    /// What it means.
    pub meaning: &'static str,
}

/// Documented exit codes.
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
    /// `preflight` found errors: the target is not ready for the migration.
    pub const PREFLIGHT_ERRORS: u8 = 5;
    /// `verify` / `diff` found differences.
    pub const DIFFERENCES: u8 = 6;
    /// `verify`: workloads not ready (or not ready before `--timeout`).
    pub const NOT_READY: u8 = 7;
    /// The backup location failed (unreachable, credentials, permissions).
    pub const STORAGE: u8 = 10;
    /// The named backup does not exist, or exists when it must not.
    pub const BACKUP_NOT_FOUND_OR_EXISTS: u8 = 11;
    /// `sync status` / `cutover`: no such sync, or its state does not allow the step (no
    /// initial copy yet, nothing to roll back, already cut over).
    pub const SYNC_STATE: u8 = 12;
    /// The cluster failed (kubeconfig, connection, discovery, authorization).
    pub const CLUSTER: u8 = 20;
    /// The archive or a document is malformed.
    pub const ARCHIVE: u8 = 30;
    /// Interrupted (Ctrl-C); nothing half-written was left visible.
    pub const INTERRUPTED: u8 = 130;
}

/// The exit-code table, in order.
pub const EXIT_CODES: &[ExitCodeRow] = &[
    ExitCodeRow {
        code: code::OK,
        meaning: "success",
    },
    ExitCodeRow {
        code: code::UNEXPECTED,
        meaning: "unexpected failure",
    },
    ExitCodeRow {
        code: code::USAGE,
        meaning: "bad command line or options",
    },
    ExitCodeRow {
        code: code::ITEM_FAILURES,
        meaning: "completed, but some items failed (backup `PartiallyFailed`, restore item errors)",
    },
    ExitCodeRow {
        code: code::INVALID_BACKUP,
        meaning: "`validate` found errors",
    },
    ExitCodeRow {
        code: code::PREFLIGHT_ERRORS,
        meaning: "`preflight` found errors: the target is not ready",
    },
    ExitCodeRow {
        code: code::DIFFERENCES,
        meaning: "`verify` or `diff` found differences",
    },
    ExitCodeRow {
        code: code::NOT_READY,
        meaning: "`verify`: workloads not ready (or not before `--timeout`)",
    },
    ExitCodeRow {
        code: code::STORAGE,
        meaning: "backup location failed (unreachable, credentials, permissions)",
    },
    ExitCodeRow {
        code: code::BACKUP_NOT_FOUND_OR_EXISTS,
        meaning: "backup not found, or already exists",
    },
    ExitCodeRow {
        code: code::SYNC_STATE,
        meaning: "no such sync, or its state does not allow the step (`cutover` before the initial copy, nothing to roll back)",
    },
    ExitCodeRow {
        code: code::CLUSTER,
        meaning: "cluster failed (kubeconfig, connection, discovery, authorization)",
    },
    ExitCodeRow {
        code: code::ARCHIVE,
        meaning: "archive or document malformed",
    },
    ExitCodeRow {
        code: code::INTERRUPTED,
        meaning: "interrupted (nothing half-written is left visible)",
    },
];

/// The "Exit codes:" section of `skiff --help`.
pub fn help_text() -> String {
    let mut s = String::from("Exit codes:\n");
    for r in EXIT_CODES {
        let _ = writeln!(s, "  {:<4} {}", r.code, r.meaning.replace('`', ""));
    }
    s.trim_end().to_string()
}

/// An error on its way out of the CLI: what failed, and `hint:` lines. The exit code follows
/// from the variant (and, for engine errors, from the error's class).
#[derive(Debug)]
pub enum CliError {
    /// Bad command line or options (exit 2).
    Usage {
        /// The message.
        message: String,
        /// Hints.
        hints: Vec<String>,
    },
    /// An engine operation failed.
    Engine {
        /// The error.
        error: skiff_engine::Error,
        /// Hints added by the command (besides the class's own).
        hints: Vec<String>,
    },
    /// A named thing does not exist in the backup or location (exit 11).
    NotFound {
        /// The message.
        message: String,
        /// Hints.
        hints: Vec<String>,
    },
    /// No such sync, or its state does not allow the step (exit 12).
    SyncState {
        /// The message.
        message: String,
        /// Hints.
        hints: Vec<String>,
    },
    /// The run was interrupted (exit 130).
    Interrupted {
        /// The message.
        message: String,
        /// Hints.
        hints: Vec<String>,
    },
    /// Local input/output failed (exit 1).
    Io(std::io::Error),
    /// Installing, removing or checking Velero failed.
    Velero(skiff_engine::velero::VeleroError),
}

impl CliError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage {
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// Add a hint.
    #[must_use]
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        match &mut self {
            Self::Usage { hints, .. }
            | Self::Engine { hints, .. }
            | Self::NotFound { hints, .. }
            | Self::SyncState { hints, .. }
            | Self::Interrupted { hints, .. } => hints.push(h.into()),
            Self::Io(_) | Self::Velero(_) => {}
        }
        self
    }

    /// The documented exit code.
    pub fn exit_code(&self) -> u8 {
        use skiff_engine::Error as E;
        use skiff_engine::offline::OfflineErrorClass;
        match self {
            Self::Usage { .. } => code::USAGE,
            Self::NotFound { .. } => code::BACKUP_NOT_FOUND_OR_EXISTS,
            Self::SyncState { .. } => code::SYNC_STATE,
            Self::Interrupted { .. } => code::INTERRUPTED,
            Self::Io(_) => code::UNEXPECTED,
            Self::Velero(e) => {
                use skiff_engine::velero::VeleroError as V;
                match e {
                    V::InvalidOptions(_) | V::Io { .. } => code::USAGE,
                    V::Kube(_) | V::Timeout { .. } => code::CLUSTER,
                    _ => code::UNEXPECTED,
                }
            }
            Self::Engine { error, .. } => match error {
                E::Store(s) if s.is_not_found() => code::BACKUP_NOT_FOUND_OR_EXISTS,
                E::Store(_) => code::STORAGE,
                E::Kube(_) => code::CLUSTER,
                E::Format(_) => code::ARCHIVE,
                E::InvalidOptions(_) | E::Scope(_) | E::Mapping(_) => code::USAGE,
                E::BackupExists { .. } | E::BackupNotFound { .. } => code::BACKUP_NOT_FOUND_OR_EXISTS,
                E::Offline(o) => match o.class() {
                    OfflineErrorClass::NotFound => code::BACKUP_NOT_FOUND_OR_EXISTS,
                    OfflineErrorClass::Usage => code::USAGE,
                    OfflineErrorClass::Malformed => code::ARCHIVE,
                    OfflineErrorClass::Storage => code::STORAGE,
                    _ => code::UNEXPECTED,
                },
                E::Interrupted => code::INTERRUPTED,
                _ => code::UNEXPECTED,
            },
        }
    }

    /// The class's own hints for an engine error.
    fn class_hints(&self) -> &'static [&'static str] {
        use skiff_engine::Error as E;
        use skiff_engine::velero::VeleroError as V;
        let error = match self {
            Self::Engine { error, .. } => error,
            Self::Velero(V::Kube(_)) => {
                return &[
                    "check --kubeconfig / KUBECONFIG and --context; installing Velero needs cluster-admin",
                ];
            }
            Self::Velero(V::Timeout { .. }) => {
                return &[
                    "`skiff velero status` shows what is not ready; `kubectl -n <namespace> describe deploy/velero` tells why",
                ];
            }
            _ => return &[],
        };
        match error {
            E::Store(s) if s.is_not_found() => &[],
            E::Store(_) => &[
                "check --location, the endpoint (--s3-endpoint), region and credentials (--credentials-file / AWS_* variables)",
            ],
            E::Kube(_) => &[
                "check --kubeconfig / KUBECONFIG and --context; `kubectl get ns` with the same settings should work",
            ],
            E::Format(_) => &["`skiff validate <backup>` lists every problem of an archive"],
            E::BackupExists { .. } => {
                &["choose another name, or delete it first with `skiff backups delete <name> --location …`"]
            }
            E::BackupNotFound { .. } => &["`skiff backups list --location …` shows the complete backups"],
            E::Offline(o) if o.class() == skiff_engine::offline::OfflineErrorClass::Malformed => {
                &["`skiff validate <backup>` lists every problem of a backup"]
            }
            _ => &[],
        }
    }

    /// Render for stderr: `error: <chain>` and `hint:` lines.
    pub fn render(&self) -> String {
        let (message, hints): (String, &[String]) = match self {
            Self::Usage { message, hints }
            | Self::NotFound { message, hints }
            | Self::SyncState { message, hints }
            | Self::Interrupted { message, hints } => (message.clone(), hints),
            Self::Engine { error, hints } => (chain(error), hints),
            Self::Io(e) => (chain(e), &[]),
            Self::Velero(e) => (chain(e), &[]),
        };
        let mut s = format!("error: {message}\n");
        for h in self
            .class_hints()
            .iter()
            .copied()
            .chain(hints.iter().map(String::as_str))
        {
            let _ = writeln!(s, "hint: {h}");
        }
        s
    }
}

/// An error and its sources, joined with `: ` (`read the backup archive: entry x: …`), with each
/// level's text included once even when a level repeats its source's message.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

impl From<skiff_engine::Error> for CliError {
    fn from(error: skiff_engine::Error) -> Self {
        Self::Engine {
            error,
            hints: Vec::new(),
        }
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

impl From<skiff_engine::scope::ScopeError> for CliError {
    fn from(e: skiff_engine::scope::ScopeError) -> Self {
        Self::usage(e.to_string())
    }
}

impl From<skiff_engine::mappings::MappingError> for CliError {
    fn from(e: skiff_engine::mappings::MappingError) -> Self {
        Self::usage(e.to_string())
    }
}

impl From<skiff_engine::velero::VeleroError> for CliError {
    fn from(e: skiff_engine::velero::VeleroError) -> Self {
        Self::Velero(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_in_help() {
        let codes: Vec<u8> = EXIT_CODES.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        let help = help_text();
        for r in EXIT_CODES {
            assert!(help.contains(&format!("  {:<4} ", r.code)), "{help}");
        }
    }

    #[test]
    fn codes_follow_the_class() {
        assert_eq!(CliError::usage("x").exit_code(), code::USAGE);
        assert_eq!(
            CliError::from(skiff_engine::Error::Interrupted).exit_code(),
            code::INTERRUPTED
        );
        let e = CliError::from(skiff_engine::Error::BackupNotFound {
            name: "b".into(),
            location: "l".into(),
        })
        .hint("extra");
        assert_eq!(e.exit_code(), code::BACKUP_NOT_FOUND_OR_EXISTS);
        let r = e.render();
        assert!(r.starts_with("error: backup \"b\" not found in l\n"), "{r}");
        assert!(r.contains("hint: `skiff backups list"), "{r}");
        assert!(r.ends_with("hint: extra\n"), "{r}");
    }
}
