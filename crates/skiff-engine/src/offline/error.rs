//! The offline subsystem's own failures: what the user named is not there, a file of a backup
//! is not what it must be, an extract target cannot be used or an extraction failed part-way.

use std::path::PathBuf;

/// How the CLI classifies an [`OfflineError`] (its exit code follows from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfflineErrorClass {
    /// Something named does not exist (exit 11).
    NotFound,
    /// The command line asks for something that cannot be done (exit 2).
    Usage,
    /// A file of the backup is malformed or unsafe to read (exit 30).
    Malformed,
    /// The backup location failed (exit 10).
    Storage,
    /// Local input/output failed (exit 1).
    Io,
}

/// Failures of offline access (inspect, validate, show, extract, the backups catalog).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// A path named on the command line does not exist.
    #[error("no file or folder {}", .path.display())]
    PathNotFound {
        /// The path.
        path: PathBuf,
    },
    /// A backup folder (or stored backup) has documents but no tarball.
    #[error("{source_desc} has no tarball {file}")]
    TarballMissing {
        /// The backup, as [`crate::offline::BackupSource::describe`] says.
        source_desc: String,
        /// The tarball's file name.
        file: String,
    },
    /// Neither the folder name nor `metadata.name` of a backup folder is a valid backup name,
    /// so no file name can be derived from them.
    #[error("cannot tell the backup name of folder {}: neither {folder_name:?} nor metadata.name {document_name:?} is a valid backup name", .dir.display())]
    NoValidName {
        /// The folder.
        dir: PathBuf,
        /// Its file name.
        folder_name: String,
        /// `metadata.name` of its `velero-backup.json` (empty when unreadable).
        document_name: String,
    },
    /// A file of a backup is a link, a device, a FIFO or a folder where a regular file must be.
    #[error("{} {reason}", .path.display())]
    UnsafeFile {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: &'static str,
    },
    /// The extract target cannot be used (a link, not a folder, a link inside it).
    #[error("extract target {}: {reason}", .path.display())]
    ExtractTarget {
        /// The target, or the offending path inside it.
        path: PathBuf,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The extract target already holds files and `--force` was not given.
    #[error("extract target {} is not empty", .path.display())]
    TargetNotEmpty {
        /// The target.
        path: PathBuf,
    },
    /// Two entries would be written to the same file even after renaming (a filesystem that
    /// treats two spellings as one name).
    #[error("entry {entry:?} would overwrite {file:?}, written earlier in this run")]
    Collision {
        /// The entry path (escaped for display).
        entry: String,
        /// The file, relative to the target.
        file: String,
    },
    /// `backups copy`: the destination holds objects of an unfinished write of that backup (no
    /// `velero-backup.json`): another copy or backup may still be writing them.
    #[error(
        "{location} holds {objects} objects under backups/{name}/ but no velero-backup.json (an unfinished write)"
    )]
    CopyLeftovers {
        /// Backup name.
        name: String,
        /// Destination location.
        location: String,
        /// Objects found.
        objects: usize,
    },
    /// `backups copy`: the copy failed its checks (size, SHA-256 or validation); it was removed.
    #[error(
        "copy of backup {name:?} failed its check ({errors} errors; first: {first}); nothing was committed at the destination"
    )]
    CopyInvalid {
        /// Backup name.
        name: String,
        /// Error count.
        errors: u64,
        /// The first error.
        first: String,
    },
    /// Extraction failed part-way; says what was left behind.
    #[error("extract into {} stopped after {written} files; {left}", .target.display())]
    ExtractFailed {
        /// The target.
        target: PathBuf,
        /// Files written before the failure.
        written: u64,
        /// What is left in the target (cleaned up, or what could not be).
        left: String,
        /// The failure.
        #[source]
        source: Box<crate::Error>,
    },
}

impl OfflineError {
    /// The class of this error (the CLI maps it to an exit code).
    pub fn class(&self) -> OfflineErrorClass {
        match self {
            OfflineError::PathNotFound { .. } | OfflineError::TarballMissing { .. } => {
                OfflineErrorClass::NotFound
            }
            OfflineError::ExtractTarget { .. }
            | OfflineError::TargetNotEmpty { .. }
            | OfflineError::CopyLeftovers { .. } => OfflineErrorClass::Usage,
            OfflineError::NoValidName { .. }
            | OfflineError::UnsafeFile { .. }
            | OfflineError::Collision { .. }
            | OfflineError::CopyInvalid { .. } => OfflineErrorClass::Malformed,
            OfflineError::ExtractFailed { source, .. } => match source.as_ref() {
                crate::Error::Offline(e) => e.class(),
                crate::Error::Format(_) => OfflineErrorClass::Malformed,
                crate::Error::BackupNotFound { .. } => OfflineErrorClass::NotFound,
                crate::Error::Store(s) if s.is_not_found() => OfflineErrorClass::NotFound,
                crate::Error::Store(_) => OfflineErrorClass::Storage,
                crate::Error::InvalidOptions(_) => OfflineErrorClass::Usage,
                _ => OfflineErrorClass::Io,
            },
        }
    }
}
