//! [`LocalStore`]: a directory laid out exactly like a bucket, so it can be synced to S3 as is.
//!
//! Architecture invariant: no partially written object is ever visible. Every upload goes to a
//! hidden temp file (`.skiff-tmp.*`) in the destination directory, is fsynced and then renamed
//! into place; aborted or dropped uploads remove their temp file; listings never report temp
//! files. Keys cannot escape the root: `..`, absolute keys and symlinked directories leading
//! outside the root are rejected.

use std::io::{ErrorKind, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, ReadBuf};

use crate::error::{Error, Op, Result};
use crate::store::{BackupStore, ObjectMeta, ObjectReader, ObjectSink, validate_key, validate_prefix};

/// File-name prefix of in-progress uploads; such files are never listed.
pub const TEMP_PREFIX: &str = ".skiff-tmp.";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A backup location in a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root`. The directory is created on the first write; reading a missing
    /// directory behaves like an empty bucket.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_for(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        if key.split('/').any(|s| s.starts_with(TEMP_PREFIX)) {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
                reason: "key uses the reserved temp-file prefix '.skiff-tmp.'",
            });
        }
        Ok(self.root.join(key))
    }

    /// Checks that an existing directory `dir` resolves inside the root (symlinks included).
    async fn ensure_inside(&self, op: Op, key: &str, dir: &Path) -> Result<()> {
        let root = match tokio::fs::canonicalize(&self.root).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(op, key, e)),
        };
        let dir = match tokio::fs::canonicalize(dir).await {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(op, key, e)),
        };
        if dir.starts_with(&root) {
            Ok(())
        } else {
            Err(Error::InvalidKey {
                key: key.to_owned(),
                reason: "key resolves outside the store's root directory",
            })
        }
    }

    async fn checked_path(&self, op: Op, key: &str) -> Result<PathBuf> {
        let path = self.path_for(key)?;
        if let Some(parent) = path.parent() {
            self.ensure_inside(op, key, parent).await?;
        }
        Ok(path)
    }

    async fn open_sink(&self, op: Op, key: &str) -> Result<LocalSink> {
        let dest = self.path_for(key)?;
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|e| Error::io(op, key, e))?;
        self.ensure_inside(op, key, &parent).await?;
        let tmp = parent.join(format!(
            "{TEMP_PREFIX}{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| Error::io(op, key, e))?;
        Ok(LocalSink {
            op,
            key: key.to_owned(),
            file: Some(file),
            tmp,
            dest,
            size: 0,
            done: false,
        })
    }

    /// Removes now-empty directories from `dir` up to (not including) the root.
    async fn prune_empty_dirs(&self, mut dir: &Path) {
        while dir != self.root && dir.starts_with(&self.root) {
            if tokio::fs::remove_dir(dir).await.is_err() {
                break;
            }
            match dir.parent() {
                Some(p) => dir = p,
                None => break,
            }
        }
    }
}

/// Splits a prefix into its directory part (ending in `/` or empty) and the name part.
fn split_prefix(prefix: &str) -> (&str, &str) {
    match prefix.rfind('/') {
        Some(i) => (&prefix[..=i], &prefix[i + 1..]),
        None => ("", prefix),
    }
}

fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// Recursively collects regular files under `dir` (keys relative to `root`). Symlinks are not
/// followed; temp files and non-UTF-8 names are skipped.
fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectMeta>, stop_at_first: bool) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(path = %entry.path().display(), "skipping non-UTF-8 file name");
            continue;
        };
        if is_temp(name) {
            continue;
        }
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            walk(root, &path, out, stop_at_first)?;
        } else if ft.is_file() {
            let meta = entry.metadata()?;
            let rel = path.strip_prefix(root).map_err(std::io::Error::other)?;
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("/");
            out.push(ObjectMeta {
                key,
                size: meta.len(),
                last_modified: meta.modified().ok(),
            });
        }
        if stop_at_first && !out.is_empty() {
            return Ok(());
        }
    }
    Ok(())
}

#[async_trait]
impl BackupStore for LocalStore {
    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let mut sink = Box::new(self.open_sink(Op::Put, key).await?);
        sink.write(data).await?;
        sink.finish().await.map(|_| ())
    }

    async fn put_writer(&self, key: &str) -> Result<Box<dyn ObjectSink>> {
        Ok(Box::new(self.open_sink(Op::PutStream, key).await?))
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.checked_path(Op::Get, key).await?;
        let data = tokio::fs::read(&path)
            .await
            .map_err(|e| Error::io(Op::Get, key, e))?;
        Ok(Bytes::from(data))
    }

    async fn get_reader(&self, key: &str) -> Result<ObjectReader> {
        let path = self.checked_path(Op::Get, key).await?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::io(Op::Get, key, e))?;
        Ok(Box::new(KeyedReader {
            inner: file,
            key: key.to_owned(),
        }))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let op = Op::GetRange;
        let path = self.checked_path(op, key).await?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::io(op, key, e))?;
        let size = file.metadata().await.map_err(|e| Error::io(op, key, e))?.len();
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        if range.start >= size {
            return Err(Error::InvalidRange {
                op,
                key: key.to_owned(),
                range,
            });
        }
        let end = range.end.min(size);
        file.seek(SeekFrom::Start(range.start))
            .await
            .map_err(|e| Error::io(op, key, e))?;
        let mut buf = vec![0; (end - range.start) as usize];
        file.read_exact(&mut buf)
            .await
            .map_err(|e| Error::io(op, key, e))?;
        Ok(Bytes::from(buf))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let path = self.checked_path(Op::Head, key).await?;
        match tokio::fs::symlink_metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: m.len(),
                last_modified: m.modified().ok(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(Op::Head, key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        validate_prefix(prefix)?;
        let (dir, _) = split_prefix(prefix);
        let root = self.root.clone();
        let start = root.join(dir);
        self.ensure_inside(Op::List, prefix, &start).await?;
        let prefix_owned = prefix.to_owned();
        let mut out = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &start, &mut out, false)?;
            out.retain(|m| m.key.starts_with(&prefix_owned));
            Ok::<_, std::io::Error>(out)
        })
        .await
        .map_err(|e| Error::io(Op::List, prefix, std::io::Error::other(e)))?
        .map_err(|e| Error::io(Op::List, prefix, e))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn list_prefixes(&self, prefix: &str) -> Result<Vec<String>> {
        let op = Op::ListPrefixes;
        validate_prefix(prefix)?;
        let (dir, name_prefix) = split_prefix(prefix);
        let start = self.root.join(dir);
        self.ensure_inside(op, prefix, &start).await?;
        let (dir, name_prefix) = (dir.to_owned(), name_prefix.to_owned());
        let root = self.root.clone();
        let mut out = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let entries = match std::fs::read_dir(&start) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if is_temp(name) || !name.starts_with(&name_prefix) || !entry.file_type()?.is_dir() {
                    continue;
                }
                let mut found = Vec::new();
                walk(&root, &entry.path(), &mut found, true)?;
                if !found.is_empty() {
                    out.push(format!("{dir}{name}/"));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| Error::io(op, prefix, std::io::Error::other(e)))?
        .map_err(|e| Error::io(op, prefix, e))?;
        out.sort();
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.checked_path(Op::Delete, key).await?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(Op::Delete, key, e)),
        }
        if let Some(parent) = path.parent() {
            self.prune_empty_dirs(parent).await;
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        if prefix.is_empty() {
            return Err(Error::InvalidKey {
                key: String::new(),
                reason: "refusing to delete every object of the location (empty prefix)",
            });
        }
        let objects = self.list(prefix).await?;
        for o in &objects {
            self.delete(&o.key).await?;
        }
        Ok(objects.len())
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Streaming upload into a temp file, renamed into place on finish.
struct LocalSink {
    op: Op,
    key: String,
    file: Option<tokio::fs::File>,
    tmp: PathBuf,
    dest: PathBuf,
    size: u64,
    done: bool,
}

#[async_trait]
impl ObjectSink for LocalSink {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let file = self.file.as_mut().ok_or_else(|| Error::Aborted {
            key: self.key.clone(),
        })?;
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io(self.op, &self.key, e))?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64> {
        let Some(mut file) = self.file.take() else {
            return Err(Error::Aborted {
                key: self.key.clone(),
            });
        };
        let (op, key) = (self.op, self.key.clone());
        file.flush().await.map_err(|e| Error::io(op, &key, e))?;
        file.sync_all().await.map_err(|e| Error::io(op, &key, e))?;
        drop(file);
        tokio::fs::rename(&self.tmp, &self.dest)
            .await
            .map_err(|e| Error::io(op, &key, e))?;
        self.done = true;
        tracing::debug!(key = %key, size = self.size, "stored object");
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.file.take();
        let r = tokio::fs::remove_file(&self.tmp).await;
        self.done = true;
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(self.op, &self.key, e)),
        }
    }
}

impl Drop for LocalSink {
    fn drop(&mut self) {
        if !self.done {
            self.file.take();
            if let Err(e) = std::fs::remove_file(&self.tmp)
                && e.kind() != ErrorKind::NotFound
            {
                tracing::warn!(key = %self.key, error = %e, "could not remove temp file of aborted upload");
            }
        }
    }
}

/// Maps the inner reader's I/O errors to the store's error naming the key.
struct KeyedReader<R> {
    inner: R,
    key: String,
}

impl<R: AsyncRead + Unpin> AsyncRead for KeyedReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::io(Op::Get, &this.key, e).into_io())),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(split_prefix("backups/"), ("backups/", ""));
        assert_eq!(split_prefix("backups/b"), ("backups/", "b"));
        assert_eq!(split_prefix("b"), ("", "b"));
        assert_eq!(split_prefix(""), ("", ""));
    }

    #[tokio::test]
    async fn temp_files_are_invisible_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut sink = store.put_writer("a/b").await.unwrap();
        sink.write(Bytes::from_static(b"half")).await.unwrap();
        assert!(store.list("").await.unwrap().is_empty());
        assert!(store.list_prefixes("").await.unwrap().is_empty());
        let n = std::fs::read_dir(dir.path().join("a")).unwrap().count();
        assert_eq!(n, 1, "temp file exists while writing");
        drop(sink);
        let n = std::fs::read_dir(dir.path().join("a")).unwrap().count();
        assert_eq!(n, 0, "temp file removed on drop");
        assert!(store.put("a/.skiff-tmp.x", Bytes::new()).await.is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlink_escape_is_rejected() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let store = LocalStore::new(dir.path());
        let err = store.put("link/x", Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    }
}
