//! Backup storage locations in Velero's object-store key layout.
//!
//! - [`BackupStore`]: the async object-store trait (keys relative to the location's prefix).
//! - Backends: [`LocalStore`] (a directory laid out like a bucket) and [`S3Store`]
//!   (aws-sdk-s3 over rustls/ring; streaming multipart uploads).
//! - [`Location`] / [`LocationOptions`] / [`open`]: `s3://bucket/prefix` URLs, directories, and
//!   Velero `BackupStorageLocation` YAML as a source of settings.
//! - [`layout`]: Velero's keys under `backups/<b>/` and `restores/<r>/`, the commit order
//!   (`velero-backup.json` last), listing and deleting backups.
//! - [`bridge`]: blocking `Read`/`Write` adapters for the sync format crate.
//!
//! Architecture invariants: the store knows nothing of Kubernetes objects; every error names its
//! key and operation; no credential ever appears in an error, a log line or `Debug` output;
//! skiff never creates a top-level prefix other than `backups/` and `restores/`.

pub mod aws_config;
pub mod bridge;
pub mod credentials;
pub mod error;
pub mod layout;
pub mod local;
pub mod location;
pub mod s3;
pub mod store;
mod tls;

pub use credentials::{Credentials, Secret};
pub use error::{Error, Op, Result};
pub use local::LocalStore;
pub use location::{BackupStorageLocation, Location, LocationOptions, open};
pub use s3::{Checksum, ChecksumMode, S3Config, S3Store};
pub use store::{BackupStore, ObjectMeta, ObjectReader, ObjectSink, validate_key, validate_prefix};
