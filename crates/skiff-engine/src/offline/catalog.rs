//! The backups of a location: list (one row per backup, a bad backup a row with its error, never
//! a failed listing), describe (the documents as `velero backup describe --details` shows them)
//! and delete.

use super::source::{BackupSource, read_backup_doc};
use super::{chain, escape_for_display};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use skiff_format::docs::{self, Backup, Results};
use skiff_store::BackupStore;
use skiff_store::layout::{self, BackupFile};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One backup of a location, as `backups list` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Backup name (the folder name under `backups/`, as found: escape it before printing).
    pub name: String,
    /// `status.phase` (`<invalid>` / `<unreadable>` when the backup cannot be read).
    pub phase: String,
    /// `status.startTimestamp`.
    pub created: String,
    /// `status.expiration` (`never` when unset).
    pub expires: String,
    /// `status.progress.totalItems`.
    pub items: i64,
    /// Size of the tarball in bytes.
    pub size: u64,
    /// Why the backup cannot be read, for a bad one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CatalogEntry {
    fn bad(name: String, phase: &str, size: u64, error: String) -> Self {
        CatalogEntry {
            name,
            phase: phase.into(),
            created: String::new(),
            expires: String::new(),
            items: 0,
            size,
            error: Some(error),
        }
    }
}

/// The complete backups of a location (those with a `velero-backup.json`), sorted by name. A
/// backup that cannot be read — an invalid name, an unreadable document — is a row with its
/// error; only the location failing fails the listing.
pub async fn list(store: &Arc<dyn BackupStore>) -> Result<Vec<CatalogEntry>> {
    let names = layout::list_backups(store.as_ref()).await?;
    let mut rows = Vec::with_capacity(names.len());
    for name in names {
        if let Err(e) = layout::validate_backup_name(&name) {
            rows.push(CatalogEntry::bad(name, "<invalid>", 0, chain(&e)));
            continue;
        }
        let size = store
            .head(&BackupFile::Tarball.key(&name)?)
            .await?
            .map_or(0, |m| m.size);
        let source = BackupSource::Stored {
            store: store.clone(),
            name: name.clone(),
        };
        let row = match read_backup_doc(&source).await {
            Ok(Some(b)) => CatalogEntry {
                name,
                phase: b.status.phase.clone(),
                created: b.status.start_timestamp.clone().unwrap_or_default(),
                expires: b.status.expiration.clone().unwrap_or_else(|| "never".into()),
                items: b.status.progress.as_ref().map_or(0, |p| p.total_items),
                size,
                error: None,
            },
            // Deleted between the listing and the read.
            Ok(None) => continue,
            Err(e @ (Error::Format(_) | Error::Offline(_))) => {
                CatalogEntry::bad(name, "<unreadable>", size, chain(&e))
            }
            Err(Error::Store(e)) if is_per_object(&e) => {
                CatalogEntry::bad(name, "<unreadable>", size, chain(&e))
            }
            Err(e) => return Err(e),
        };
        rows.push(row);
    }
    Ok(rows)
}

/// A store error about one object rather than the location (an invalid key, a file that is not
/// a regular file in a local location).
fn is_per_object(e: &skiff_store::Error) -> bool {
    match e {
        skiff_store::Error::InvalidKey { .. } | skiff_store::Error::InvalidName { .. } => true,
        skiff_store::Error::Io { source, .. } => source.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// A backup's documents, for `backups describe`.
#[derive(Debug, Clone)]
pub struct BackupDescription {
    /// `velero-backup.json`.
    pub backup: Backup,
    /// The resource list (empty when absent).
    pub resource_list: BTreeMap<String, Vec<String>>,
    /// The results (empty when absent).
    pub results: Results,
}

impl BackupDescription {
    /// The description as one JSON document: `{"backup", "resourceList", "results"}`.
    pub fn to_json(&self) -> Result<Value> {
        let backup: Value = serde_json::from_slice(&self.backup.to_json()?).map_err(|source| {
            Error::Format(skiff_format::Error::Json {
                document: "velero-backup.json".into(),
                source,
            })
        })?;
        Ok(serde_json::json!({
            "backup": backup,
            "resourceList": self.resource_list,
            "results": self.results,
        }))
    }
}

/// Read a backup's documents; [`Error::BackupNotFound`] without a `velero-backup.json`.
pub async fn describe(source: &BackupSource) -> Result<BackupDescription> {
    if let BackupSource::Stored { name, .. } = source {
        check_name(name)?;
    }
    let Some(backup) = read_backup_doc(source).await? else {
        return Err(Error::BackupNotFound {
            name: escape_for_display(&source.name()).into_owned(),
            location: source.describe(),
        });
    };
    let name = source.name();
    let resource_list = match source.read_file(BackupFile::ResourceList).await? {
        Some(d) => docs::decode_sidecar(&d, &BackupFile::ResourceList.file_name(&name))?,
        None => BTreeMap::default(),
    };
    let results = match source.read_file(BackupFile::Results).await? {
        Some(d) => docs::decode_sidecar(&d, &BackupFile::Results.file_name(&name))?,
        None => Results::default(),
    };
    Ok(BackupDescription {
        backup,
        resource_list,
        results,
    })
}

/// A name given on the command line must be a valid backup name ([`Error::InvalidOptions`]).
fn check_name(name: &str) -> Result<()> {
    layout::validate_backup_name(name)
        .map_err(|e| Error::InvalidOptions(format!("invalid backup name: {}", chain(&e))))
}

/// Whether the location holds anything under `name`: `Ok` when it does,
/// [`Error::BackupNotFound`] when not, [`Error::InvalidOptions`] for an invalid name.
pub async fn find(store: &Arc<dyn BackupStore>, name: &str) -> Result<()> {
    check_name(name)?;
    if store.head(&BackupFile::Metadata.key(name)?).await?.is_none()
        && store.list(&layout::backup_prefix(name)?).await?.is_empty()
    {
        return Err(Error::BackupNotFound {
            name: name.to_owned(),
            location: store.describe(),
        });
    }
    Ok(())
}

/// Delete a backup's objects (`velero-backup.json` first); returns how many were deleted.
/// Fails as [`find`] does when there is nothing to delete.
pub async fn delete(store: &Arc<dyn BackupStore>, name: &str) -> Result<usize> {
    find(store, name).await?;
    Ok(layout::delete_backup(store.as_ref(), name).await?)
}
