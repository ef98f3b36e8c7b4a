//! Copy a backup between locations (`skiff backups copy`), e.g. into an air-gapped bucket.
//!
//! Every object under `backups/<name>/` is streamed from the source to the destination, except
//! `velero-backup.json`. The copy is then checked where it landed: each object's size, each
//! document's SHA-256 read back from the destination, and a full [`validate`] of the
//! destination's files (tarball integrity, skiff's index, documents) as the backup will look
//! once committed. Only then is `velero-backup.json` written — last, as every writer of Velero's
//! layout does — so neither Velero's sync nor skiff ever lists a half-copied backup. A failed
//! check, an error or a cancellation removes what was copied; a hard kill leaves only objects
//! no tool lists (no `velero-backup.json`), which the next copy with `--overwrite` replaces.

use super::OfflineError;
use super::source::BackupSource;
use super::validate::{Severity, validate};
use crate::error::{Error, Result};
use crate::progress::Progress;
use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use skiff_store::layout::{self, BackupFile};
use skiff_store::{BackupStore, ObjectMeta, ObjectReader, ObjectSink};
use std::ops::Range;
use std::sync::Arc;
use tokio::io::AsyncReadExt as _;
use tokio_util::sync::CancellationToken;

/// Bytes read from the source per write to the destination.
const CHUNK: usize = 1 << 20;

/// How to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Replace a backup of the same name at the destination (it is deleted first,
    /// `velero-backup.json` first, so it is never listed half-replaced).
    pub overwrite: bool,
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    /// Backup name.
    pub name: String,
    /// Source location.
    pub from: String,
    /// Destination location.
    pub to: String,
    /// Objects copied (`velero-backup.json` included).
    pub objects: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Tarball entries the validation of the copy read.
    pub entries: u64,
    /// Items the validation of the copy checked.
    pub items: u64,
    /// Warnings of the validation (the copy is usable; `skiff validate` lists them).
    pub warnings: u64,
    /// Whether a backup of that name was replaced at the destination.
    pub replaced: bool,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Copy backup `name` from `from` to `to` (see the module docs).
///
/// Errors: [`Error::BackupNotFound`] when the source has no complete backup of that name;
/// [`Error::BackupExists`] when the destination has one and `overwrite` is off;
/// [`OfflineError::CopyLeftovers`] when the destination holds objects of an unfinished write of
/// that name; [`OfflineError::CopyInvalid`] when the copy fails its checks;
/// [`Error::Interrupted`] on cancellation. After any error nothing is visible at the
/// destination (the copied objects are removed; the error says when that failed).
pub async fn copy_backup(
    from: &Arc<dyn BackupStore>,
    to: &Arc<dyn BackupStore>,
    name: &str,
    opts: CopyOptions,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<CopyReport> {
    let clock = std::time::Instant::now();
    layout::validate_backup_name(name)?;
    if from.describe() == to.describe() {
        return Err(Error::InvalidOptions(format!(
            "source and destination are the same location ({})",
            from.describe()
        )));
    }
    let meta_key = BackupFile::Metadata.key(name)?;
    let prefix = layout::backup_prefix(name)?;
    // Only a complete backup is copied; its document is checked before anything is written.
    let doc = match from.get(&meta_key).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            return Err(Error::BackupNotFound {
                name: name.to_owned(),
                location: from.describe(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    skiff_format::docs::Backup::from_json(&doc)?;

    let replaced = to.head(&meta_key).await?.is_some();
    if opts.overwrite {
        let n = layout::delete_backup(to.as_ref(), name).await?;
        if n > 0 {
            tracing::info!(backup = name, objects = n, to = %to.describe(), "replacing the backup at the destination");
        }
    } else {
        if replaced {
            return Err(Error::BackupExists {
                name: name.to_owned(),
                location: to.describe(),
            });
        }
        let leftovers = to.list(&prefix).await?;
        if !leftovers.is_empty() {
            return Err(OfflineError::CopyLeftovers {
                name: name.to_owned(),
                location: to.describe(),
                objects: leftovers.len(),
            }
            .into());
        }
    }

    let objects: Vec<ObjectMeta> = from
        .list(&prefix)
        .await?
        .into_iter()
        .filter(|o| o.key != meta_key)
        .collect();
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let out = Box::pin(copy_and_check(
        from, to, name, &doc, &objects, total, progress, cancel,
    ))
    .await;
    let (entries, items, warnings) = match out {
        Ok(v) => v,
        Err(e) => return Err(clean_up(to, name, &prefix, e).await),
    };
    if cancel.is_cancelled() {
        return Err(clean_up(to, name, &prefix, Error::Interrupted).await);
    }
    // The commit: velero-backup.json last, byte for byte the source's.
    if let Err(e) = to.put(&meta_key, doc.clone()).await {
        return Err(clean_up(to, name, &prefix, e.into()).await);
    }
    tracing::info!(backup = name, from = %from.describe(), to = %to.describe(), "backup copied");
    Ok(CopyReport {
        name: name.to_owned(),
        from: from.describe(),
        to: to.describe(),
        objects: objects.len() as u64 + 1,
        bytes: total + doc.len() as u64,
        entries,
        items,
        warnings,
        replaced,
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// Copy every object, then check the copy; the validation's (entries, items, warnings).
#[allow(clippy::too_many_arguments)]
async fn copy_and_check(
    from: &Arc<dyn BackupStore>,
    to: &Arc<dyn BackupStore>,
    name: &str,
    doc: &Bytes,
    objects: &[ObjectMeta],
    total: u64,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<(u64, u64, u64)> {
    let tarball = BackupFile::Tarball.key(name)?;
    progress.stage("copying", Some(total));
    let mut digests = Vec::with_capacity(objects.len());
    for o in objects {
        // Only documents are hashed (and read back below); the tarball is checked entry by
        // entry by the validation, which reads it back anyway.
        let hash = o.key != tarball;
        digests.push(copy_object(from.as_ref(), to.as_ref(), &o.key, hash, progress, cancel).await?);
    }
    progress.finish_stage();
    progress.stage("checking the copy", Some(objects.len() as u64));
    for (o, digest) in objects.iter().zip(&digests) {
        if cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
        let (size, copied) = match to.head(&o.key).await? {
            Some(m) => (m.size, digest.0),
            None => (0, digest.0),
        };
        if size != o.size || copied != o.size {
            return Err(invalid(
                name,
                1,
                format!(
                    "{}: {} bytes at the source, {copied} read, {size} at the destination",
                    o.key, o.size
                ),
            ));
        }
        if let Some(want) = &digest.1 {
            let got = read_digest(to.as_ref(), &o.key, cancel).await?;
            if got.0 != o.size || &got.1 != want {
                return Err(invalid(
                    name,
                    1,
                    format!("{}: the copy's SHA-256 differs from the source's", o.key),
                ));
            }
        }
        progress.advance(1, 0);
    }
    progress.finish_stage();
    // Validate the destination's files as the committed backup will be seen: the source's
    // velero-backup.json over the copied objects.
    let staged: Arc<dyn BackupStore> = Arc::new(Staged {
        inner: to.clone(),
        key: BackupFile::Metadata.key(name)?,
        data: doc.clone(),
    });
    let source = BackupSource::Stored {
        store: staged,
        name: name.to_owned(),
    };
    let report = tokio::select! {
        r = validate(&source, progress) => r?,
        () = cancel.cancelled() => return Err(Error::Interrupted),
    };
    let errors = report.errors();
    if errors > 0 {
        let first = report
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error)
            .map(|f| match &f.object {
                Some(o) => format!("{}: {o}: {}", f.code, f.message),
                None => format!("{}: {}", f.code, f.message),
            })
            .unwrap_or_default();
        return Err(invalid(name, errors, first));
    }
    let warnings =
        report.count(Severity::Warning) + report.dropped.values().map(|d| d.count - d.errors).sum::<u64>();
    Ok((report.entries, report.items, warnings))
}

fn invalid(name: &str, errors: u64, first: String) -> Error {
    OfflineError::CopyInvalid {
        name: name.to_owned(),
        errors,
        first,
    }
    .into()
}

/// Stream one object; its size and, when asked, the SHA-256 of what was read.
async fn copy_object(
    from: &dyn BackupStore,
    to: &dyn BackupStore,
    key: &str,
    hash: bool,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<(u64, Option<[u8; 32]>)> {
    let mut reader = from.get_reader(key).await?;
    let mut sink = to.put_writer(key).await?;
    let mut hasher = hash.then(Sha256::new);
    let mut size = 0u64;
    let outcome: Result<()> = async {
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Interrupted);
            }
            let chunk = read_chunk(&mut reader, key).await?;
            if chunk.is_empty() {
                return Ok(());
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            size += chunk.len() as u64;
            progress.advance(0, chunk.len() as u64);
            sink.write(chunk).await?;
        }
    }
    .await;
    if let Err(e) = outcome {
        let _ = sink.abort().await;
        return Err(e);
    }
    sink.finish().await?;
    Ok((size, hasher.map(|h| h.finalize().into())))
}

/// Up to [`CHUNK`] bytes (empty at the end).
async fn read_chunk(reader: &mut ObjectReader, key: &str) -> Result<Bytes> {
    let mut buf = Vec::with_capacity(CHUNK);
    let mut limited = (&mut *reader).take(CHUNK as u64);
    limited
        .read_to_end(&mut buf)
        .await
        .map_err(|e| read_error(e, key))?;
    Ok(Bytes::from(buf))
}

/// The SHA-256 of a stored object, streamed.
async fn read_digest(
    store: &dyn BackupStore,
    key: &str,
    cancel: &CancellationToken,
) -> Result<(u64, [u8; 32])> {
    let mut reader = store.get_reader(key).await?;
    let mut h = Sha256::new();
    let mut size = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
        let chunk = read_chunk(&mut reader, key).await?;
        if chunk.is_empty() {
            return Ok((size, h.finalize().into()));
        }
        size += chunk.len() as u64;
        h.update(&chunk);
    }
}

/// A read error, keeping the store's error (which names the key) when the reader carried one.
fn read_error(e: std::io::Error, key: &str) -> Error {
    type Inner = dyn std::error::Error + Send + Sync;
    if e.get_ref().is_some_and(<Inner>::is::<skiff_store::Error>)
        && let Some(Ok(store)) = e.into_inner().map(<Inner>::downcast::<skiff_store::Error>)
    {
        return Error::Store(*store);
    }
    Error::Io {
        op: "read",
        path: key.to_owned(),
        source: std::io::Error::other("object read failed"),
    }
}

/// Remove what was copied after `cause`; `cause` comes back, saying so when the clean-up
/// failed (then only objects no tool lists are left: there is no `velero-backup.json`).
async fn clean_up(to: &Arc<dyn BackupStore>, name: &str, prefix: &str, cause: Error) -> Error {
    match to.delete_prefix(prefix).await {
        Ok(n) => {
            tracing::debug!(backup = name, objects = n, "copy removed from the destination");
            cause
        }
        Err(e) => {
            tracing::warn!(
                backup = name,
                error = %super::chain(&e),
                "could not remove the partial copy under {prefix} at {}: it has no velero-backup.json, so no tool lists it; `skiff backups delete {name} --location …` removes it",
                to.describe()
            );
            cause
        }
    }
}

/// The destination as it will look once committed: one object (`velero-backup.json`) served
/// from memory, everything else from the destination. Read-only.
#[derive(Debug)]
struct Staged {
    inner: Arc<dyn BackupStore>,
    key: String,
    data: Bytes,
}

impl Staged {
    fn read_only(&self, key: &str) -> skiff_store::Error {
        skiff_store::Error::Config {
            location: self.inner.describe(),
            reason: format!("staged copy is read-only (write to {key})"),
        }
    }
}

#[async_trait]
impl BackupStore for Staged {
    async fn put(&self, key: &str, _data: Bytes) -> skiff_store::Result<()> {
        Err(self.read_only(key))
    }

    async fn put_writer(&self, key: &str) -> skiff_store::Result<Box<dyn ObjectSink>> {
        Err(self.read_only(key))
    }

    async fn get(&self, key: &str) -> skiff_store::Result<Bytes> {
        if key == self.key {
            return Ok(self.data.clone());
        }
        self.inner.get(key).await
    }

    async fn get_reader(&self, key: &str) -> skiff_store::Result<ObjectReader> {
        if key == self.key {
            return Ok(Box::new(std::io::Cursor::new(self.data.clone())));
        }
        self.inner.get_reader(key).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> skiff_store::Result<Bytes> {
        if key == self.key {
            let len = self.data.len() as u64;
            let end = range.end.min(len);
            if range.start >= len && range.start < range.end {
                return Err(skiff_store::Error::InvalidRange {
                    op: skiff_store::Op::GetRange,
                    key: key.to_owned(),
                    range,
                });
            }
            let start = usize::try_from(range.start.min(end)).unwrap_or(usize::MAX);
            let end = usize::try_from(end).unwrap_or(usize::MAX);
            return Ok(self.data.slice(start..end));
        }
        self.inner.get_range(key, range).await
    }

    async fn head(&self, key: &str) -> skiff_store::Result<Option<ObjectMeta>> {
        if key == self.key {
            return Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: self.data.len() as u64,
                last_modified: None,
            }));
        }
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str) -> skiff_store::Result<Vec<ObjectMeta>> {
        let mut out = self.inner.list(prefix).await?;
        if self.key.starts_with(prefix) && !out.iter().any(|o| o.key == self.key) {
            out.push(ObjectMeta {
                key: self.key.clone(),
                size: self.data.len() as u64,
                last_modified: None,
            });
            out.sort_by(|a, b| a.key.cmp(&b.key));
        }
        Ok(out)
    }

    async fn list_prefixes(&self, prefix: &str) -> skiff_store::Result<Vec<String>> {
        let mut out = self.inner.list_prefixes(prefix).await?;
        if let Some(rest) = self.key.strip_prefix(prefix)
            && let Some((dir, _)) = rest.split_once('/')
        {
            let p = format!("{prefix}{dir}/");
            if !out.contains(&p) {
                out.push(p);
                out.sort();
            }
        }
        Ok(out)
    }

    async fn delete(&self, key: &str) -> skiff_store::Result<()> {
        Err(self.read_only(key))
    }

    async fn delete_prefix(&self, prefix: &str) -> skiff_store::Result<usize> {
        Err(self.read_only(prefix))
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
