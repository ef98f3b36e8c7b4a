//! Velero's key layout under a location's prefix, and the commit order.
//!
//! Architecture invariants:
//! - skiff only ever writes under `backups/` and `restores/`: Velero marks a location with any
//!   other top-level prefix `Unavailable`. skiff's own files live inside `backups/<b>/`.
//! - `velero-backup.json` is the commit marker: it is uploaded last ([`BackupCommit`]) and
//!   deleted first ([`delete_backup`]), so no reader ever sees a half backup as complete.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Op, Result};
use crate::store::{BackupStore, ObjectSink};

/// Top-level prefix of backups.
pub const BACKUPS_PREFIX: &str = "backups/";
/// Top-level prefix of restores.
pub const RESTORES_PREFIX: &str = "restores/";
/// The metadata file (commit marker) of a backup.
pub const METADATA_FILE: &str = "velero-backup.json";

/// One file of a backup folder `backups/<b>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackupFile {
    /// `velero-backup.json` (uncompressed; the commit marker).
    Metadata,
    /// `<b>.tar.gz`.
    Tarball,
    /// `<b>-logs.gz`.
    Logs,
    /// `<b>-resource-list.json.gz`.
    ResourceList,
    /// `<b>-results.gz`.
    Results,
    /// `<b>-volumesnapshots.json.gz`.
    VolumeSnapshots,
    /// `<b>-podvolumebackups.json.gz`.
    PodVolumeBackups,
    /// `<b>-itemoperations.json.gz`.
    ItemOperations,
    /// `<b>-volumeinfo.json.gz`.
    VolumeInfo,
    /// `<b>-csi-volumesnapshots.json.gz` (read only; not written by Velero ≥ 1.17).
    CsiVolumeSnapshots,
    /// `<b>-csi-volumesnapshotcontents.json.gz` (read only).
    CsiVolumeSnapshotContents,
    /// `<b>-csi-volumesnapshotclasses.json.gz` (read only).
    CsiVolumeSnapshotClasses,
    /// `<b>-skiff-index.json.gz`: skiff's own index sidecar (Velero ignores unknown files here).
    SkiffIndex,
}

impl BackupFile {
    /// Every backup file, metadata first.
    pub const ALL: [BackupFile; 13] = [
        BackupFile::Metadata,
        BackupFile::Tarball,
        BackupFile::Logs,
        BackupFile::ResourceList,
        BackupFile::Results,
        BackupFile::VolumeSnapshots,
        BackupFile::PodVolumeBackups,
        BackupFile::ItemOperations,
        BackupFile::VolumeInfo,
        BackupFile::CsiVolumeSnapshots,
        BackupFile::CsiVolumeSnapshotContents,
        BackupFile::CsiVolumeSnapshotClasses,
        BackupFile::SkiffIndex,
    ];

    /// The file name inside `backups/<backup>/`.
    pub fn file_name(self, backup: &str) -> String {
        let suffix = match self {
            BackupFile::Metadata => return METADATA_FILE.to_owned(),
            BackupFile::Tarball => ".tar.gz",
            BackupFile::Logs => "-logs.gz",
            BackupFile::ResourceList => "-resource-list.json.gz",
            BackupFile::Results => "-results.gz",
            BackupFile::VolumeSnapshots => "-volumesnapshots.json.gz",
            BackupFile::PodVolumeBackups => "-podvolumebackups.json.gz",
            BackupFile::ItemOperations => "-itemoperations.json.gz",
            BackupFile::VolumeInfo => "-volumeinfo.json.gz",
            BackupFile::CsiVolumeSnapshots => "-csi-volumesnapshots.json.gz",
            BackupFile::CsiVolumeSnapshotContents => "-csi-volumesnapshotcontents.json.gz",
            BackupFile::CsiVolumeSnapshotClasses => "-csi-volumesnapshotclasses.json.gz",
            BackupFile::SkiffIndex => "-skiff-index.json.gz",
        };
        format!("{backup}{suffix}")
    }

    /// The key relative to the location's prefix. Validates the backup name.
    pub fn key(self, backup: &str) -> Result<String> {
        validate_backup_name(backup)?;
        Ok(format!(
            "{}{}",
            backup_prefix_unchecked(backup),
            self.file_name(backup)
        ))
    }
}

/// One file of a restore folder `restores/<r>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RestoreFile {
    /// `restore-<r>-logs.gz`.
    Logs,
    /// `restore-<r>-results.gz`.
    Results,
    /// `restore-<r>-resource-list.json.gz`.
    ResourceList,
    /// `restore-<r>-itemoperations.json.gz`.
    ItemOperations,
    /// `<r>-volumeinfo.json.gz` (no `restore-` prefix, as Velero writes it).
    VolumeInfo,
}

impl RestoreFile {
    /// Every restore file, in Velero's upload order.
    pub const ALL: [RestoreFile; 5] = [
        RestoreFile::Logs,
        RestoreFile::Results,
        RestoreFile::ResourceList,
        RestoreFile::ItemOperations,
        RestoreFile::VolumeInfo,
    ];

    /// The file name inside `restores/<restore>/`.
    pub fn file_name(self, restore: &str) -> String {
        match self {
            RestoreFile::Logs => format!("restore-{restore}-logs.gz"),
            RestoreFile::Results => format!("restore-{restore}-results.gz"),
            RestoreFile::ResourceList => format!("restore-{restore}-resource-list.json.gz"),
            RestoreFile::ItemOperations => format!("restore-{restore}-itemoperations.json.gz"),
            RestoreFile::VolumeInfo => format!("{restore}-volumeinfo.json.gz"),
        }
    }

    /// The key relative to the location's prefix. Validates the restore name.
    pub fn key(self, restore: &str) -> Result<String> {
        validate_name("restore", restore)?;
        Ok(format!("{RESTORES_PREFIX}{restore}/{}", self.file_name(restore)))
    }
}

/// Checks that `name` is usable as a backup name: a Kubernetes object name (DNS-1123 subdomain:
/// at most 253 characters of lowercase letters, digits, `-` and `.`, starting and ending with a
/// letter or digit), which in particular excludes `/`, `..` and the empty string.
pub fn validate_backup_name(name: &str) -> Result<()> {
    validate_name("backup", name)
}

/// Same rule as [`validate_backup_name`], for restores.
pub fn validate_restore_name(name: &str) -> Result<()> {
    validate_name("restore", name)
}

fn validate_name(kind: &'static str, name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            kind,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("name is empty");
    }
    if name.len() > 253 {
        return bad("name is longer than 253 characters");
    }
    if name.contains('/') {
        return bad("name contains '/'");
    }
    if name.contains("..") {
        return bad("name contains '..'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return bad("name may only contain lowercase letters, digits, '-' and '.'");
    }
    let first_last_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !first_last_ok(name.as_bytes()[0]) || !first_last_ok(name.as_bytes()[name.len() - 1]) {
        return bad("name must start and end with a lowercase letter or digit");
    }
    Ok(())
}

fn backup_prefix_unchecked(backup: &str) -> String {
    format!("{BACKUPS_PREFIX}{backup}/")
}

/// `backups/<backup>/` (with the trailing slash, so `backups/<backup>-other/` never matches).
pub fn backup_prefix(backup: &str) -> Result<String> {
    validate_backup_name(backup)?;
    Ok(backup_prefix_unchecked(backup))
}

/// `restores/<restore>/`.
pub fn restore_prefix(restore: &str) -> Result<String> {
    validate_restore_name(restore)?;
    Ok(format!("{RESTORES_PREFIX}{restore}/"))
}

/// Names of the complete backups in the store: common prefixes under `backups/` whose
/// `velero-backup.json` exists (like Velero's sync controller). Sorted. Names come from the
/// store and are not validated.
pub async fn list_backups(store: &dyn BackupStore) -> Result<Vec<String>> {
    let prefixes = store.list_prefixes(BACKUPS_PREFIX).await?;
    let names: Vec<String> = prefixes
        .iter()
        .filter_map(|p| p.strip_prefix(BACKUPS_PREFIX)?.strip_suffix('/'))
        .map(ToOwned::to_owned)
        .collect();
    let mut found: Vec<String> = futures::stream::iter(names)
        .map(|name| async move {
            let key = format!("{BACKUPS_PREFIX}{name}/{METADATA_FILE}");
            Ok::<_, Error>(store.head(&key).await?.map(|_| name))
        })
        .buffer_unordered(16)
        .try_filter_map(|n| async move { Ok(n) })
        .try_collect()
        .await?;
    found.sort();
    Ok(found)
}

/// Deletes every object under `backups/<name>/`, `velero-backup.json` first so a half-deleted
/// backup is never listed as complete. Returns the number of objects deleted.
pub async fn delete_backup(store: &dyn BackupStore, name: &str) -> Result<usize> {
    let metadata = BackupFile::Metadata.key(name)?;
    let existed = store.head(&metadata).await?.is_some();
    store.delete(&metadata).await?;
    let rest = store.delete_prefix(&backup_prefix_unchecked(name)).await?;
    Ok(rest + usize::from(existed))
}

/// Deletes every object under `restores/<name>/`. Returns the number of objects deleted.
pub async fn delete_restore(store: &dyn BackupStore, name: &str) -> Result<usize> {
    store.delete_prefix(&restore_prefix(name)?).await
}

/// Writes one backup in commit order: the tarball and sidecars first, `velero-backup.json` last.
///
/// ```no_run
/// # async fn f(store: &dyn skiff_store::BackupStore) -> skiff_store::Result<()> {
/// use skiff_store::layout::{BackupCommit, BackupFile};
/// let mut commit = BackupCommit::begin(store, "nightly-1", false).await?;
/// commit.put(BackupFile::Tarball, bytes::Bytes::from_static(b"...")).await?;
/// commit.put(BackupFile::ResourceList, bytes::Bytes::from_static(b"...")).await?;
/// commit.commit(bytes::Bytes::from_static(b"{...}")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BackupCommit<'a> {
    store: &'a dyn BackupStore,
    name: String,
}

impl<'a> BackupCommit<'a> {
    /// Starts writing backup `name`. Fails with [`Error::AlreadyExists`] if a complete backup of
    /// that name exists, unless `overwrite` is set.
    pub async fn begin(store: &'a dyn BackupStore, name: &str, overwrite: bool) -> Result<Self> {
        let metadata = BackupFile::Metadata.key(name)?;
        if !overwrite && store.head(&metadata).await?.is_some() {
            return Err(Error::AlreadyExists {
                op: Op::Put,
                key: metadata,
            });
        }
        Ok(Self {
            store,
            name: name.to_owned(),
        })
    }

    /// The backup name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn data_key(&self, file: BackupFile) -> Result<String> {
        if file == BackupFile::Metadata {
            return Err(Error::Commit {
                name: self.name.clone(),
                reason: "velero-backup.json is written by commit(), last".into(),
            });
        }
        file.key(&self.name)
    }

    /// Uploads a tarball or sidecar.
    pub async fn put(&mut self, file: BackupFile, data: Bytes) -> Result<()> {
        let key = self.data_key(file)?;
        self.store.put(&key, data).await
    }

    /// Starts a streaming upload of a tarball or sidecar.
    pub async fn writer(&mut self, file: BackupFile) -> Result<Box<dyn ObjectSink>> {
        let key = self.data_key(file)?;
        self.store.put_writer(&key).await
    }

    /// Uploads `velero-backup.json`, making the backup visible. Fails without writing it if the
    /// tarball is missing.
    pub async fn commit(self, velero_backup_json: Bytes) -> Result<()> {
        let tarball = BackupFile::Tarball.key(&self.name)?;
        if self.store.head(&tarball).await?.is_none() {
            return Err(Error::Commit {
                name: self.name.clone(),
                reason: format!("tarball {tarball:?} was not uploaded"),
            });
        }
        let metadata = BackupFile::Metadata.key(&self.name)?;
        self.store.put(&metadata, velero_backup_json).await?;
        tracing::info!(backup = %self.name, "backup committed");
        Ok(())
    }

    /// Gives up: deletes everything uploaded under `backups/<name>/` so far.
    pub async fn abandon(self) -> Result<usize> {
        delete_backup(self.store, &self.name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            BackupFile::Metadata.key("b1").unwrap(),
            "backups/b1/velero-backup.json"
        );
        assert_eq!(BackupFile::Tarball.key("b1").unwrap(), "backups/b1/b1.tar.gz");
        assert_eq!(
            BackupFile::CsiVolumeSnapshotClasses.key("b1").unwrap(),
            "backups/b1/b1-csi-volumesnapshotclasses.json.gz"
        );
        assert_eq!(
            BackupFile::SkiffIndex.key("b1").unwrap(),
            "backups/b1/b1-skiff-index.json.gz"
        );
        assert_eq!(
            RestoreFile::VolumeInfo.key("r1").unwrap(),
            "restores/r1/r1-volumeinfo.json.gz"
        );
        assert_eq!(
            RestoreFile::ResourceList.key("r1").unwrap(),
            "restores/r1/restore-r1-resource-list.json.gz"
        );
        assert_eq!(backup_prefix("b1").unwrap(), "backups/b1/");
        // Every key stays under one of the two top-level prefixes.
        for f in BackupFile::ALL {
            assert!(f.key("x").unwrap().starts_with(BACKUPS_PREFIX));
        }
        for f in RestoreFile::ALL {
            assert!(f.key("x").unwrap().starts_with(RESTORES_PREFIX));
        }
    }

    #[test]
    fn names() {
        for ok in ["b1", "nightly-2024.05.01", "a", "0"] {
            validate_backup_name(ok).unwrap();
        }
        for bad in ["", "a/b", "..", "a..b", "-a", "a-", "A", "a b", ".a", "a_b", "é"] {
            assert!(validate_backup_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_backup_name(&"a".repeat(254)).is_err());
    }
}
