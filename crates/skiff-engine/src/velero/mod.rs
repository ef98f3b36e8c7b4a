//! Installing Velero itself, and registering skiff's backups and restores with a Velero that runs
//! in the cluster.
//!
//! * [`install`]: the objects of `velero install` for the AWS / S3-compatible provider, as a pure
//!   function of [`InstallOptions`], in Velero's order; their `--dry-run -o yaml|json` rendering;
//!   the images an install needs. CRDs come from `skiff_format::velero` (generated from its typed
//!   models, never copied).
//! * [`location`]: fill an install from a skiff location (`s3://…` plus options, or a BSL file).
//! * [`cluster`]: carry an install out through `skiff_kube::Cluster` (create, or server-side
//!   apply), wait for CRDs and the Deployment, uninstall in reverse order, report status.
//! * [`crs`]: the Backup CR Velero's sync controller would create from a `velero-backup.json`,
//!   and a Restore CR for a skiff restore; created in the cluster when a `BackupStorageLocation`
//!   points at the same bucket and prefix (otherwise a warning, never an error).
//!
//! Invariants: building is pure and deterministic; the cluster functions run only what the
//! builders produced; the credentials file never reaches a log, an error or `Debug` output;
//! nothing here reads or writes bucket data.

pub mod cluster;
pub mod crs;
pub mod install;
pub mod location;
mod quantity;

pub use cluster::{
    Action, ApplyOptions, InstallReport, ObjectRef, UninstallOptions, UninstallReport, VeleroStatus,
    install as apply_install, status, uninstall,
};
pub use crs::{
    BackupCr, RegisterOutcome, RestoreCrParams, backup_cr_for_sync, register_backup, register_restore,
    restore_cr,
};
pub use install::{
    DEFAULT_AWS_PLUGIN_IMAGE, DEFAULT_NAMESPACE, DEFAULT_VELERO_IMAGE, InstallOptions, ListFormat,
    PodResources, SecretData, build, crds, images, plugin_container_name, render_list,
};
pub use location::{apply_bsl, apply_location};
pub use quantity::Quantity;

/// Result alias of this module.
pub type Result<T, E = VeleroError> = std::result::Result<T, E>;

/// What can stop a Velero install, uninstall or status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VeleroError {
    /// The options are inconsistent or invalid (nothing was applied).
    #[error("invalid install options: {0}")]
    InvalidOptions(String),
    /// The API server refused or failed a request the operation cannot do without.
    #[error("talk to the cluster")]
    Kube(#[from] skiff_kube::KubeError),
    /// A wait ran out of time.
    #[error("{what} not ready after {waited:?} (last state: {last_state})")]
    Timeout {
        /// What was waited for, e.g. `deployment velero/velero`.
        what: String,
        /// How long the wait lasted.
        waited: std::time::Duration,
        /// The last state observed.
        last_state: String,
    },
    /// A local file could not be read.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An object could not be rendered as JSON or YAML.
    #[error("render the install objects: {0}")]
    Render(String),
}
