//! The backup's documents: `velero-backup.json` (its names included), the sidecars, the resource
//! list and skiff's integrity index.

use super::{Findings, Severity};
use crate::error::{Error, Result};
use crate::offline::source::BackupSource;
use crate::offline::{chain, escape_for_display};
use serde_json::Value;
use skiff_format::docs::{self, Backup, Results};
use skiff_format::index::ArchiveIndex;
use skiff_store::layout::{BackupFile, validate_backup_name};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the documents hold, for the checks that follow.
#[derive(Debug, Default)]
pub(super) struct Documents {
    /// `velero-backup.json`, when readable.
    pub backup: Option<Backup>,
    /// The resource list, when readable.
    pub resource_list: Option<BTreeMap<String, Vec<String>>>,
    /// skiff's index, when present and readable.
    pub index: Option<Arc<ArchiveIndex>>,
}

const METADATA: &str = "velero-backup.json";

/// Read and check every document. Unreadable or malformed documents are findings; an error
/// only when the location itself fails.
pub(super) async fn read(source: &BackupSource, f: &mut Findings) -> Result<Documents> {
    let mut docs = Documents::default();
    if !matches!(source, BackupSource::Tarball(_)) {
        docs.backup = backup_doc(source, f).await?;
        sidecars(source, f).await?;
    }
    let list_name = BackupFile::ResourceList.file_name(&source.name());
    docs.resource_list = match read_or_report(source, BackupFile::ResourceList, f).await? {
        Some(d) => match docs::decode_sidecar(&d, &list_name) {
            Ok(list) => Some(list),
            Err(e) => {
                f.error("sidecar", Some(list_name), chain(&e));
                None
            }
        },
        None => None,
    };
    if docs.resource_list.is_none() && !matches!(source, BackupSource::Tarball(_)) {
        f.add(
            Severity::Info,
            "resource-list",
            None,
            "no resource list (Velero writes one for every backup since v1.0)",
        );
    }
    docs.index = match read_or_report(source, BackupFile::SkiffIndex, f).await? {
        Some(d) => match ArchiveIndex::from_gzip_json(&d) {
            Ok(i) => {
                // Its own consistency and its fit to the tarball; the entries' content is
                // compared during the pass either way.
                let size = source.tarball_size().await.unwrap_or(None);
                if let Err(e) = i.check(size) {
                    f.error("index", Some(index_name(source)), chain(&e));
                }
                Some(Arc::new(i))
            }
            Err(e) => {
                f.error("index", Some(index_name(source)), chain(&e));
                None
            }
        },
        None => None,
    };
    Ok(docs)
}

fn index_name(source: &BackupSource) -> String {
    BackupFile::SkiffIndex.file_name(&source.name())
}

/// Read a document; a file that cannot be read safely (too large, a link, a FIFO, …) is an
/// error finding, not a failure of the run.
async fn read_or_report(
    source: &BackupSource,
    file: BackupFile,
    f: &mut Findings,
) -> Result<Option<bytes::Bytes>> {
    match source.read_file(file).await {
        Ok(d) => Ok(d),
        Err(e @ (Error::Offline(_) | Error::Format(_) | Error::Io { .. })) => {
            let code = match file {
                BackupFile::Metadata => "metadata",
                BackupFile::SkiffIndex => "index",
                BackupFile::ResourceList => "resource-list",
                _ => "sidecar",
            };
            f.error(code, Some(file.file_name(&source.name())), chain(&e));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn backup_doc(source: &BackupSource, f: &mut Findings) -> Result<Option<Backup>> {
    let obj = || Some(METADATA.to_owned());
    let raw = match source.read_file(BackupFile::Metadata).await {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            f.error("metadata", obj(), "missing: Velero will not list this backup");
            return Ok(None);
        }
        Err(e @ (Error::Offline(_) | Error::Io { .. })) => {
            f.error("metadata", obj(), chain(&e));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let doc = match Backup::from_json(&raw) {
        Ok(d) => d,
        Err(e) => {
            f.error("metadata", obj(), chain(&e));
            return Ok(None);
        }
    };
    if !doc.has_velero_type() {
        f.error("metadata", obj(), "apiVersion/kind are not velero.io/v1 Backup");
    }
    check_names(source, &doc, f);
    let phase = doc.status.phase.as_str();
    if !matches!(phase, "Completed" | "PartiallyFailed" | "Failed") {
        f.error(
            "metadata",
            obj(),
            format!("phase {:?} is not terminal", escape_for_display(phase)),
        );
    }
    if doc.status.expiration.is_none() {
        f.warning("metadata", obj(), "no status.expiration: never expires");
    }
    Ok(Some(doc))
}

/// `metadata.name` must be a valid backup name (it is never used as a path otherwise) and the
/// name of the folder the backup is in.
fn check_names(source: &BackupSource, doc: &Backup, f: &mut Findings) {
    let obj = || Some(METADATA.to_owned());
    let doc_name = doc.metadata.name.as_str();
    if let Err(e) = validate_backup_name(doc_name) {
        f.error(
            "metadata",
            obj(),
            format!(
                "metadata.name {:?} is not a valid backup name ({}): Velero cannot sync it, and skiff does not use it as a path",
                escape_for_display(doc_name),
                chain(&e)
            ),
        );
        return;
    }
    let (folder, what) = match source {
        BackupSource::Stored { name, .. } => (name.clone(), "the backup's folder in the location"),
        BackupSource::Folder { dir, .. } => (
            dir.canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default(),
            "the folder name",
        ),
        BackupSource::Tarball(_) => return,
    };
    if doc_name != folder {
        f.error(
            "metadata",
            obj(),
            format!(
                "metadata.name {:?} differs from {what} {:?}: Velero's sync would flap",
                escape_for_display(doc_name),
                escape_for_display(&folder)
            ),
        );
    }
}

/// Largest decompressed log file checked.
const MAX_LOGS_SIZE: u64 = 1 << 30;

/// Every sidecar present (besides the resource list, read by [`read`]) must decode.
async fn sidecars(source: &BackupSource, f: &mut Findings) -> Result<()> {
    let name = source.name();
    for file in [
        BackupFile::Results,
        BackupFile::VolumeSnapshots,
        BackupFile::PodVolumeBackups,
        BackupFile::ItemOperations,
        BackupFile::VolumeInfo,
        BackupFile::CsiVolumeSnapshots,
        BackupFile::CsiVolumeSnapshotContents,
        BackupFile::Logs,
    ] {
        let Some(data) = read_or_report(source, file, f).await? else {
            continue;
        };
        let fname = file.file_name(&name);
        let outcome = match file {
            BackupFile::Results => docs::decode_sidecar::<Results>(&data, &fname).map(|_| ()),
            BackupFile::Logs => check_gzip(&data),
            _ => docs::decode_sidecar::<Option<Vec<Value>>>(&data, &fname).map(|_| ()),
        };
        if let Err(e) = outcome {
            f.error("sidecar", Some(fname), chain(&e));
        }
    }
    Ok(())
}

/// A gzip stream decompresses without error within [`MAX_LOGS_SIZE`] (nothing is kept).
fn check_gzip(data: &[u8]) -> skiff_format::Result<()> {
    use std::io::Read;
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(MAX_LOGS_SIZE + 1);
    let n = std::io::copy(&mut dec, &mut std::io::sink())
        .map_err(|source| skiff_format::Error::Gzip { source })?;
    if n > MAX_LOGS_SIZE {
        return Err(skiff_format::Error::DecompressedTooLarge { limit: MAX_LOGS_SIZE });
    }
    Ok(())
}
