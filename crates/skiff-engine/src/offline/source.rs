//! Where a backup comes from — a location (local folder or bucket), a backup folder, or a bare
//! `.tar.gz` — and the one way its tarball is read: a streaming pass on a blocking thread that
//! folds every entry into a caller's state. Restore and migrate read backups through this layer
//! too.
//!
//! Every document is read with a size limit; inside a backup folder no link is followed and only
//! regular files are read (a FIFO or `/dev/zero` behind a document name is refused, not read);
//! a name taken from a document is checked before it becomes a key or a path.

use super::OfflineError;
use super::files;
use crate::error::{Error, Result};
use crate::progress::Progress;
use bytes::Bytes;
use skiff_format::docs::{self, Backup};
use skiff_format::reader::{ArchiveReader, Entry, EntryRef, ReaderOptions};
use skiff_store::BackupStore;
use skiff_store::layout::{BackupFile, validate_backup_name};
use std::io::{Read, Seek, SeekFrom};
use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest compressed index read (it decompresses to at most
/// [`skiff_format::index::MAX_INDEX_SIZE`]).
pub const MAX_INDEX_FILE_SIZE: u64 = skiff_format::index::MAX_INDEX_SIZE;
/// Largest compressed log file read.
pub const MAX_LOGS_FILE_SIZE: u64 = 256 << 20;
/// Largest byte range of the tarball read at once (one gzip member through the index).
pub const MAX_RANGE_SIZE: u64 = skiff_format::index::MAX_MEMBER_SIZE;

/// Where a backup is read from.
#[derive(Debug, Clone)]
pub enum BackupSource {
    /// Backup `name` in a location (local folder or bucket) in Velero's key layout.
    Stored {
        /// The location.
        store: Arc<dyn BackupStore>,
        /// Backup name (checked before it becomes a key).
        name: String,
    },
    /// A folder holding one backup's files (`velero-backup.json`, `<name>.tar.gz`, sidecars).
    Folder {
        /// The folder.
        dir: PathBuf,
        /// Backup name: the file-name stem of its files (checked before it becomes a path; see
        /// [`resolve_source`] for how it is chosen).
        name: String,
    },
    /// A bare tarball: no documents.
    Tarball(PathBuf),
}

/// The size limit of a backup file read whole.
fn limit_of(file: BackupFile) -> u64 {
    match file {
        BackupFile::Metadata => docs::MAX_BACKUP_JSON_SIZE,
        BackupFile::SkiffIndex => MAX_INDEX_FILE_SIZE,
        BackupFile::Logs => MAX_LOGS_FILE_SIZE,
        _ => docs::MAX_SIDECAR_FILE_SIZE,
    }
}

impl BackupSource {
    /// The backup's name (for a bare tarball: its file name without `.tar.gz`).
    pub fn name(&self) -> String {
        match self {
            BackupSource::Stored { name, .. } | BackupSource::Folder { name, .. } => name.clone(),
            BackupSource::Tarball(p) => {
                let f = p
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                f.trim_end_matches(".tar.gz").trim_end_matches(".tgz").to_string()
            }
        }
    }

    /// A human description for messages.
    pub fn describe(&self) -> String {
        match self {
            BackupSource::Stored { store, name } => format!(
                "backup {:?} in {}",
                super::escape_for_display(name),
                store.describe()
            ),
            BackupSource::Folder { dir, .. } => format!("backup folder {}", dir.display()),
            BackupSource::Tarball(p) => format!("tarball {}", p.display()),
        }
    }

    /// The file name of one of a folder's files; the backup name is checked first.
    fn folder_file(name: &str, file: BackupFile) -> Result<String> {
        validate_backup_name(name)?;
        Ok(file.file_name(name))
    }

    /// Path of the tarball of a folder or bare tarball (for messages).
    fn local_tarball_path(&self) -> PathBuf {
        match self {
            BackupSource::Folder { dir, name } => dir.join(BackupFile::Tarball.file_name(name)),
            BackupSource::Tarball(p) => p.clone(),
            BackupSource::Stored { .. } => PathBuf::new(),
        }
    }

    /// Read one of the backup's documents whole (not the tarball: see [`Self::tarball_reader`]);
    /// `None` when it does not exist. Refuses files beyond the document's size limit, and in a
    /// folder links and anything but regular files.
    pub async fn read_file(&self, file: BackupFile) -> Result<Option<Bytes>> {
        if file == BackupFile::Tarball {
            return Err(Error::InvalidOptions(
                "the tarball is read as a stream (tarball_reader), not whole".into(),
            ));
        }
        let limit = limit_of(file);
        match self {
            BackupSource::Stored { store, name } => {
                let key = file.key(name)?;
                let reader = match store.get_reader(&key).await {
                    Ok(r) => r,
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let mut out = Vec::new();
                let mut limited = tokio::io::AsyncReadExt::take(reader, limit.saturating_add(1));
                tokio::io::AsyncReadExt::read_to_end(&mut limited, &mut out)
                    .await
                    .map_err(|e| store_read_error(e, &key))?;
                if out.len() as u64 > limit {
                    return Err(skiff_format::Error::DocumentTooLarge { document: key, limit }.into());
                }
                Ok(Some(Bytes::from(out)))
            }
            BackupSource::Folder { dir, name } => {
                let fname = Self::folder_file(name, file)?;
                let dir = dir.clone();
                blocking(move || {
                    let fd = files::open_dir(&dir)?;
                    let Some((f, _)) = files::open_in(&fd, &dir, &fname)? else {
                        return Ok(None);
                    };
                    let data = files::read_limited(f, limit, &fname, &dir.join(&fname))?;
                    Ok(Some(Bytes::from(data)))
                })
                .await
            }
            BackupSource::Tarball(_) => Ok(None),
        }
    }

    /// Whether one of the backup's files exists (as a regular file, in a folder).
    pub async fn has_file(&self, file: BackupFile) -> Result<bool> {
        match self {
            BackupSource::Stored { store, name } => Ok(store.head(&file.key(name)?).await?.is_some()),
            BackupSource::Folder { dir, name } => {
                let fname = Self::folder_file(name, file)?;
                let dir = dir.clone();
                blocking(move || {
                    let fd = files::open_dir(&dir)?;
                    Ok(files::open_in(&fd, &dir, &fname)?.is_some())
                })
                .await
            }
            BackupSource::Tarball(_) => Ok(file == BackupFile::Tarball),
        }
    }

    fn tarball_missing(&self) -> Error {
        OfflineError::TarballMissing {
            source_desc: self.describe(),
            file: BackupFile::Tarball.file_name(&self.name()),
        }
        .into()
    }

    /// Open the tarball in a folder or as named (blocking).
    fn open_local_tarball(&self) -> Result<(std::fs::File, u64)> {
        match self {
            BackupSource::Folder { dir, name } => {
                let fname = Self::folder_file(name, BackupFile::Tarball)?;
                let fd = files::open_dir(dir)?;
                files::open_in(&fd, dir, &fname)?.ok_or_else(|| self.tarball_missing())
            }
            BackupSource::Tarball(p) => files::open_named(p),
            BackupSource::Stored { .. } => Err(Error::InvalidOptions("not a local tarball".into())),
        }
    }

    /// A blocking reader over the tarball, to be used inside `spawn_blocking`.
    pub async fn tarball_reader(&self) -> Result<Box<dyn Read + Send>> {
        let BackupSource::Stored { store, name } = self else {
            let this = self.clone();
            return blocking(move || {
                let (f, _) = this.open_local_tarball()?;
                Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)) as Box<dyn Read + Send>)
            })
            .await;
        };
        let key = BackupFile::Tarball.key(name)?;
        match skiff_store::bridge::blocking_reader(store.as_ref(), &key).await {
            Ok(r) => Ok(Box::new(r)),
            Err(e) if e.is_not_found() => {
                // A name with documents but no tarball is a broken backup; a name with neither
                // is not a backup at all.
                if store.head(&BackupFile::Metadata.key(name)?).await?.is_some() {
                    Err(self.tarball_missing())
                } else {
                    Err(Error::BackupNotFound {
                        name: name.clone(),
                        location: store.describe(),
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The tarball's size in bytes; `None` when it does not exist.
    pub async fn tarball_size(&self) -> Result<Option<u64>> {
        if let BackupSource::Stored { store, name } = self {
            return Ok(store.head(&BackupFile::Tarball.key(name)?).await?.map(|m| m.size));
        }
        let this = self.clone();
        blocking(move || match this.open_local_tarball() {
            Ok((_, size)) => Ok(Some(size)),
            Err(Error::Offline(OfflineError::TarballMissing { .. })) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    /// Read a byte range of the tarball (for single-object reads through the index); at most
    /// [`MAX_RANGE_SIZE`] bytes, and only within the tarball.
    pub async fn tarball_range(&self, range: Range<u64>) -> Result<Bytes> {
        let len = range.end.saturating_sub(range.start);
        if len > MAX_RANGE_SIZE {
            return Err(skiff_format::Error::DocumentTooLarge {
                document: format!("tarball range {}..{}", range.start, range.end),
                limit: MAX_RANGE_SIZE,
            }
            .into());
        }
        if let BackupSource::Stored { store, name } = self {
            return Ok(store.get_range(&BackupFile::Tarball.key(name)?, range).await?);
        }
        let this = self.clone();
        blocking(move || {
            let (mut f, size) = this.open_local_tarball()?;
            let path = this.local_tarball_path();
            let io = |e| Error::Io {
                op: "read",
                path: path.display().to_string(),
                source: e,
            };
            if range.end > size {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "range {}..{} is beyond the file's {size} bytes",
                        range.start, range.end
                    ),
                )));
            }
            f.seek(SeekFrom::Start(range.start)).map_err(io)?;
            let mut buf = vec![0u8; len as usize];
            f.read_exact(&mut buf).map_err(io)?;
            Ok(Bytes::from(buf))
        })
        .await
    }
}

/// An error of reading a stored object, keeping the store's error (which names the key) when the
/// reader carried one.
fn store_read_error(e: std::io::Error, key: &str) -> Error {
    type Inner = dyn std::error::Error + Send + Sync;
    if !e.get_ref().is_some_and(<Inner>::is::<skiff_store::Error>) {
        return Error::Io {
            op: "read",
            path: key.to_owned(),
            source: e,
        };
    }
    match e.into_inner().map(<Inner>::downcast::<skiff_store::Error>) {
        Some(Ok(store)) => Error::Store(*store),
        _ => Error::Io {
            op: "read",
            path: key.to_owned(),
            source: std::io::Error::other("object read failed"),
        },
    }
}

/// Run blocking file work off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

/// Read `velero-backup.json` if present (bounded).
pub async fn read_backup_doc(source: &BackupSource) -> Result<Option<Backup>> {
    match source.read_file(BackupFile::Metadata).await? {
        Some(b) => Ok(Some(Backup::from_json(&b)?)),
        None => Ok(None),
    }
}

/// Resolve what the user named: an existing `.tar.gz` file, a backup folder, or a backup name in
/// `store`.
///
/// A folder's backup name — the stem of its file names — is the folder's own name when that is a
/// valid backup name and its tarball is there, else `metadata.name` of its `velero-backup.json`
/// under the same conditions, else the first of the two that is a valid name (`validate` then
/// reports the missing tarball and any difference between the two). A name that is not a valid
/// backup name never becomes a path.
pub fn resolve_source(target: &str, store: Option<Arc<dyn BackupStore>>) -> Result<BackupSource> {
    let path = Path::new(target);
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(BackupSource::Tarball(path.to_path_buf())),
        Ok(m) if m.is_dir() => resolve_folder(path),
        Ok(_) => Err(OfflineError::UnsafeFile {
            path: path.to_path_buf(),
            reason: "is neither a regular file nor a folder",
        }
        .into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match store {
            Some(store) if validate_backup_name(target).is_ok() => Ok(BackupSource::Stored {
                store,
                name: target.to_string(),
            }),
            _ => Err(OfflineError::PathNotFound {
                path: path.to_path_buf(),
            }
            .into()),
        },
        Err(e) => Err(Error::Io {
            op: "stat",
            path: target.to_owned(),
            source: e,
        }),
    }
}

fn resolve_folder(dir: &Path) -> Result<BackupSource> {
    let folder_name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let fd = files::open_dir(dir)?;
    // The document's name, when it can be read at all (validate reports why it cannot).
    let document_name = files::open_in(&fd, dir, docs_file_name())
        .ok()
        .flatten()
        .and_then(|(f, _)| files::read_limited(f, docs::MAX_BACKUP_JSON_SIZE, "velero-backup.json", dir).ok())
        .and_then(|b| Backup::from_json(&b).ok())
        .map(|b| b.metadata.name)
        .unwrap_or_default();
    let mut candidates: Vec<&str> = Vec::new();
    for n in [folder_name.as_str(), document_name.as_str()] {
        if validate_backup_name(n).is_ok() && !candidates.contains(&n) {
            candidates.push(n);
        }
    }
    let has_tarball =
        |n: &str| files::open_in(&fd, dir, &BackupFile::Tarball.file_name(n)).is_ok_and(|f| f.is_some());
    let name = candidates
        .iter()
        .find(|n| has_tarball(n))
        .or(candidates.first())
        .ok_or_else(|| OfflineError::NoValidName {
            dir: dir.to_path_buf(),
            folder_name: super::escape_for_display(&folder_name).into_owned(),
            document_name: super::escape_for_display(&document_name).into_owned(),
        })?;
    Ok(BackupSource::Folder {
        dir: dir.to_path_buf(),
        name: (*name).to_owned(),
    })
}

fn docs_file_name() -> &'static str {
    skiff_store::layout::METADATA_FILE
}

// ---------------------------------------------------------------------------------------------
// One pass over the tarball

/// Counters of one pass over a tarball.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Regular-file entries read.
    pub entries: u64,
    /// Compressed bytes consumed.
    pub compressed_bytes: u64,
    /// Uncompressed (tar) bytes produced.
    pub uncompressed_bytes: u64,
    /// gzip members read.
    pub gzip_members: u64,
}

/// The end of a pass over a tarball: the folded state, the counters, and how the pass ended
/// (an archive error, or the first error the fold function returned).
#[derive(Debug)]
pub struct Pass<T> {
    /// The state after the last entry folded.
    pub state: T,
    /// What was read.
    pub stats: ArchiveStats,
    /// `Ok` when the archive was read to its end (or the fold function stopped it).
    pub outcome: Result<()>,
}

/// Read the whole tarball on a blocking thread, folding every entry into `state` with `f`
/// (which stops the pass by returning [`ControlFlow::Break`]). The pass itself failing — a
/// corrupt archive, or `f` returning an error — ends in [`Pass::outcome`] with the state kept;
/// only a tarball that cannot be opened is an `Err` here.
///
/// Every limit of the reader applies (the format crate's reader is the one place that checks
/// entries); the state is owned by the pass and handed back, so callers need no locks.
pub async fn scan_entries<T, F>(
    source: &BackupSource,
    progress: &dyn Progress,
    opts: ReaderOptions,
    state: T,
    f: F,
) -> Result<Pass<T>>
where
    T: Send + 'static,
    F: FnMut(&mut T, EntryRef<'_>) -> Result<ControlFlow<()>> + Send + 'static,
{
    run_pass(source, progress, move |reader, tick| {
        let mut folded = state;
        let mut f = f;
        let (counters, outcome) = read_entries(reader, opts, &mut folded, &mut f, tick);
        Pass {
            state: folded,
            stats: counters,
            outcome,
        }
    })
    .await
}

/// Open the tarball and run `pass` over it on a blocking thread, forwarding the progress it
/// reports through `tick(entries, bytes)`. For passes that keep state borrowing each other
/// (the pass is an ordinary closure there; see [`read_entries`]).
pub async fn run_pass<T, P>(source: &BackupSource, progress: &dyn Progress, pass: P) -> Result<T>
where
    T: Send + 'static,
    P: FnOnce(Box<dyn Read + Send>, &mut dyn FnMut(u64, u64)) -> T + Send + 'static,
{
    let reader = source.tarball_reader().await?;
    run_pass_on(reader, progress, pass).await
}

/// [`run_pass`] over a reader already opened with [`BackupSource::tarball_reader`].
pub async fn run_pass_on<T, P>(reader: Box<dyn Read + Send>, progress: &dyn Progress, pass: P) -> Result<T>
where
    T: Send + 'static,
    P: FnOnce(Box<dyn Read + Send>, &mut dyn FnMut(u64, u64)) -> T + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, u64)>(16);
    let task = tokio::task::spawn_blocking(move || {
        pass(reader, &mut |n, b| {
            let _ = tx.try_send((n, b));
        })
    });
    while let Some((n, b)) = rx.recv().await {
        progress.advance(n, b);
    }
    task.await.map_err(|e| Error::Task(e.to_string()))
}

/// [`scan_entries`] that fails when the pass does.
pub async fn fold_entries<T, F>(
    source: &BackupSource,
    progress: &dyn Progress,
    state: T,
    f: F,
) -> Result<(T, ArchiveStats)>
where
    T: Send + 'static,
    F: FnMut(&mut T, EntryRef<'_>) -> Result<ControlFlow<()>> + Send + 'static,
{
    let pass = scan_entries(source, progress, ReaderOptions::default(), state, f).await?;
    pass.outcome?;
    Ok((pass.state, pass.stats))
}

/// Stream the tarball on a blocking thread, calling `f` for every entry until it returns
/// `false`; returns the compressed and uncompressed byte counts.
///
/// Kept for callers written against the earlier API (each entry is copied into an owned
/// [`Entry`]); [`fold_entries`] lends entries without copying and hands the state back instead
/// of requiring it to be shared.
pub async fn for_each_entry<F>(source: &BackupSource, progress: &dyn Progress, mut f: F) -> Result<(u64, u64)>
where
    F: FnMut(&Entry) -> Result<bool> + Send + 'static,
{
    let ((), stats) = fold_entries(source, progress, (), move |(), e| {
        Ok(if f(&e.to_entry())? {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        })
    })
    .await?;
    Ok((stats.compressed_bytes, stats.uncompressed_bytes))
}

/// The synchronous pass: every entry of `reader` through `f` (the format crate's reader applies
/// every limit and check); `tick(entries, bytes)` every 1000 entries.
pub fn read_entries<R, T, F>(
    reader: R,
    opts: ReaderOptions,
    state: &mut T,
    f: &mut F,
    tick: &mut dyn FnMut(u64, u64),
) -> (ArchiveStats, Result<()>)
where
    R: Read,
    F: FnMut(&mut T, EntryRef<'_>) -> Result<ControlFlow<()>>,
{
    let mut ar = ArchiveReader::with_options(reader, opts);
    let mut counters = ArchiveStats::default();
    let mut bytes = 0u64;
    let outcome = (|| -> Result<()> {
        while let Some(entry) = ar.next_entry()? {
            counters.entries += 1;
            bytes += entry.data.len() as u64;
            if counters.entries.is_multiple_of(1000) {
                tick(1000, bytes);
                bytes = 0;
            }
            if f(state, entry)?.is_break() {
                break;
            }
        }
        Ok(())
    })();
    counters.compressed_bytes = ar.compressed_bytes();
    counters.uncompressed_bytes = ar.uncompressed_bytes();
    counters.gzip_members = ar.gzip_members();
    (counters, outcome)
}
