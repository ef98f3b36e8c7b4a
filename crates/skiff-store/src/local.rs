//! [`LocalStore`]: a directory laid out exactly like a bucket, so it can be synced to S3 as is.
//!
//! Architecture invariants:
//! - No partially written object is ever visible. Every upload goes to a hidden temp file
//!   (`.skiff-tmp.*`) in the destination directory, is fsynced and then renamed into place;
//!   aborted or dropped uploads remove their temp file; listings never report temp files.
//! - Keys cannot escape the root, and nothing below the root is trusted: `..` and absolute keys
//!   are rejected, every folder of a key is opened relative to its parent without following a
//!   symbolic link (`openat` with `O_NOFOLLOW | O_DIRECTORY`), and an object is only read from
//!   a regular file (opened without following a link and without blocking on a FIFO), never
//!   beyond the size it had when opened. A link anywhere below the root is not an object and is
//!   not listed; the root itself may be a link (the user named it).

use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

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

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// A key (or its folder) that is a link or not a regular file: refused, never followed or read.
fn refused(key: &str, reason: &'static str) -> Error {
    Error::InvalidKey {
        key: key.to_owned(),
        reason,
    }
}

const LINK_ON_THE_WAY: &str =
    "a folder on the way is a symbolic link or a file (links inside a local location are not followed)";
const NOT_REGULAR: &str = "the object is a symbolic link, a FIFO, a device or a folder, not a regular file (links inside a local location are not followed)";

/// The folders of a key opened from the root: `fds[0]` is the root, `fds[i]` the folder of
/// segment `i - 1`; the last segment (the object's name) is not opened.
struct Chain {
    fds: Vec<OwnedFd>,
}

impl Chain {
    fn parent(&self) -> &OwnedFd {
        self.fds
            .last()
            .unwrap_or_else(|| unreachable!("a chain holds at least the root"))
    }
}

fn mtime(st: &rustix::fs::Stat) -> Option<SystemTime> {
    let secs = u64::try_from(st.st_mtime).ok()?;
    let nanos = u32::try_from(st.st_mtime_nsec).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
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

    /// The key's segments, checked.
    fn segments(key: &str) -> Result<Vec<&str>> {
        validate_key(key)?;
        if key.split('/').any(|s| s.starts_with(TEMP_PREFIX)) {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
                reason: "key uses the reserved temp-file prefix '.skiff-tmp.'",
            });
        }
        Ok(key.split('/').collect())
    }

    /// Open the root and then each folder of `dirs` relative to its parent, following no link.
    /// `None` when something on the way does not exist (and `create` is off).
    fn open_chain(&self, op: Op, key: &str, dirs: &[&str], create: bool) -> Result<Option<Chain>> {
        if create {
            std::fs::create_dir_all(&self.root).map_err(|e| Error::io(op, key, e))?;
        }
        let root = match rustix::fs::open(
            &self.root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(Error::io(op, key, e.into())),
        };
        let mut fds = vec![root];
        for seg in dirs {
            let parent = fds.last().unwrap_or_else(|| unreachable!("root pushed above"));
            if create {
                match rustix::fs::mkdirat(parent, *seg, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(Error::io(op, key, e.into())),
                }
            }
            match rustix::fs::openat(parent, *seg, dir_flags(), Mode::empty()) {
                Ok(fd) => fds.push(fd),
                Err(rustix::io::Errno::NOENT) if !create => return Ok(None),
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::MLINK) => {
                    return Err(refused(key, LINK_ON_THE_WAY));
                }
                Err(e) => return Err(Error::io(op, key, e.into())),
            }
        }
        Ok(Some(Chain { fds }))
    }

    /// Open the object `key` for reading: a regular file (no link followed, no FIFO waited
    /// for), with its size at open.
    fn open_object(&self, op: Op, key: &str) -> Result<(std::fs::File, u64)> {
        let segs = Self::segments(key)?;
        let (name, dirs) = segs
            .split_last()
            .unwrap_or_else(|| unreachable!("keys are not empty"));
        let not_found = || Error::NotFound {
            op,
            key: key.to_owned(),
        };
        let Some(chain) = self.open_chain(op, key, dirs, false)? else {
            return Err(not_found());
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(chain.parent(), *name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Err(not_found()),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::MLINK) => return Err(refused(key, NOT_REGULAR)),
            Err(e) => return Err(Error::io(op, key, e.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::io(op, key, e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(refused(key, NOT_REGULAR));
        }
        rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| Error::io(op, key, e.into()))?;
        Ok((std::fs::File::from(fd), st.st_size as u64))
    }

    async fn blocking<T: Send + 'static>(
        op: Op,
        key: &str,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::io(op, key, std::io::Error::other(e)))?
    }

    async fn open_sink(&self, op: Op, key: &str) -> Result<LocalSink> {
        let this = self.clone();
        let k = key.to_owned();
        let (dir, name, tmp, file) = Self::blocking(op, key, move || {
            let segs = Self::segments(&k)?;
            let (name, dirs) = segs
                .split_last()
                .unwrap_or_else(|| unreachable!("keys are not empty"));
            let chain = this
                .open_chain(op, &k, dirs, true)?
                .ok_or_else(|| Error::io(op, &k, std::io::Error::from(ErrorKind::NotFound)))?;
            let tmp = format!(
                "{TEMP_PREFIX}{}.{}",
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(chain.parent(), tmp.as_str(), flags, Mode::from_raw_mode(0o644))
                .map_err(|e| Error::io(op, &k, e.into()))?;
            let Chain { mut fds } = chain;
            let dir = fds
                .pop()
                .unwrap_or_else(|| unreachable!("a chain holds at least the root"));
            Ok((dir, (*name).to_owned(), tmp, std::fs::File::from(fd)))
        })
        .await?;
        Ok(LocalSink {
            op,
            key: key.to_owned(),
            file: Some(tokio::fs::File::from_std(file)),
            dir: Arc::new(dir),
            tmp,
            name,
            size: 0,
            done: false,
        })
    }

    /// Removes now-empty folders of `key`, deepest first, up to (not including) the root.
    fn prune_empty_dirs(&self, key: &str) {
        let segs: Vec<&str> = key.split('/').collect();
        let dirs = &segs[..segs.len().saturating_sub(1)];
        let Ok(Some(chain)) = self.open_chain(Op::Delete, key, dirs, false) else {
            return;
        };
        for (i, seg) in dirs.iter().enumerate().rev() {
            if rustix::fs::unlinkat(&chain.fds[i], *seg, AtFlags::REMOVEDIR).is_err() {
                break;
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

/// Collects regular files under the open folder `dir` (keys are `rel` + name), recursively.
/// Links are neither followed nor listed; temp files and non-UTF-8 names are skipped.
fn walk(dir: &OwnedFd, rel: &str, out: &mut Vec<ObjectMeta>, stop_at_first: bool) -> std::io::Result<()> {
    let mut names = Vec::new();
    let mut d = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = d.read() {
        let entry = entry?;
        let raw = entry.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        match std::str::from_utf8(raw) {
            Ok(name) if !is_temp(name) => names.push(name.to_owned()),
            Ok(_) => {}
            Err(_) => tracing::warn!(folder = %rel, "skipping non-UTF-8 file name"),
        }
    }
    names.sort();
    for name in names {
        let st = match rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let sub = match rustix::fs::openat(dir, name.as_str(), dir_flags(), Mode::empty()) {
                    Ok(fd) => fd,
                    // Replaced by a link or removed since: not part of the listing.
                    Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                walk(&sub, &format!("{rel}{name}/"), out, stop_at_first)?;
            }
            FileType::RegularFile => out.push(ObjectMeta {
                key: format!("{rel}{name}"),
                size: st.st_size as u64,
                last_modified: mtime(&st),
            }),
            _ => {}
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
        let op = Op::Get;
        let this = self.clone();
        let k = key.to_owned();
        Self::blocking(op, key, move || {
            let (f, size) = this.open_object(op, &k)?;
            let mut buf = Vec::with_capacity(size as usize);
            // Never beyond the size at open: a file growing while read (or lying) is cut there.
            f.take(size)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(op, &k, e))?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn get_reader(&self, key: &str) -> Result<ObjectReader> {
        let op = Op::Get;
        let this = self.clone();
        let k = key.to_owned();
        let (file, size) = Self::blocking(op, key, move || this.open_object(op, &k)).await?;
        Ok(Box::new(KeyedReader {
            inner: tokio::fs::File::from_std(file).take(size),
            key: key.to_owned(),
        }))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let op = Op::GetRange;
        let this = self.clone();
        let k = key.to_owned();
        Self::blocking(op, key, move || {
            let (mut file, size) = this.open_object(op, &k)?;
            if range.start >= range.end {
                return Ok(Bytes::new());
            }
            if range.start >= size {
                return Err(Error::InvalidRange { op, key: k, range });
            }
            let end = range.end.min(size);
            file.seek(SeekFrom::Start(range.start))
                .map_err(|e| Error::io(op, &k, e))?;
            let mut buf = vec![0; (end - range.start) as usize];
            file.read_exact(&mut buf).map_err(|e| Error::io(op, &k, e))?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let op = Op::Head;
        let this = self.clone();
        let k = key.to_owned();
        Self::blocking(op, key, move || {
            let segs = Self::segments(&k)?;
            let (name, dirs) = segs
                .split_last()
                .unwrap_or_else(|| unreachable!("keys are not empty"));
            let chain = match this.open_chain(op, &k, dirs, false) {
                Ok(Some(c)) => c,
                // A missing folder, or one that is a link: no object there.
                Ok(None) | Err(Error::InvalidKey { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            match rustix::fs::statat(chain.parent(), *name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                    Ok(Some(ObjectMeta {
                        key: k.clone(),
                        size: st.st_size as u64,
                        last_modified: mtime(&st),
                    }))
                }
                Ok(_) | Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Ok(None),
                Err(e) => Err(Error::io(op, &k, e.into())),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let op = Op::List;
        validate_prefix(prefix)?;
        let this = self.clone();
        let p = prefix.to_owned();
        let mut out = Self::blocking(op, prefix, move || {
            let (dir, _) = split_prefix(&p);
            let dirs: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
            let Some(chain) = this.open_chain(op, &p, &dirs, false)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            walk(chain.parent(), dir, &mut out, false).map_err(|e| Error::io(op, &p, e))?;
            out.retain(|m| m.key.starts_with(&p));
            Ok(out)
        })
        .await?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn list_prefixes(&self, prefix: &str) -> Result<Vec<String>> {
        let op = Op::ListPrefixes;
        validate_prefix(prefix)?;
        let this = self.clone();
        let p = prefix.to_owned();
        let mut out = Self::blocking(op, prefix, move || {
            let (dir, name_prefix) = split_prefix(&p);
            let dirs: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
            let Some(chain) = this.open_chain(op, &p, &dirs, false)? else {
                return Ok(Vec::new());
            };
            let io = |e: std::io::Error| Error::io(op, &p, e);
            let mut children = Vec::new();
            let mut d = rustix::fs::Dir::read_from(chain.parent()).map_err(|e| io(e.into()))?;
            while let Some(entry) = d.read() {
                let entry = entry.map_err(|e| io(e.into()))?;
                if let Ok(name) = std::str::from_utf8(entry.file_name().to_bytes())
                    && name != "."
                    && name != ".."
                    && !is_temp(name)
                    && name.starts_with(name_prefix)
                {
                    children.push(name.to_owned());
                }
            }
            let mut out = Vec::new();
            for name in children {
                let sub = match rustix::fs::openat(chain.parent(), name.as_str(), dir_flags(), Mode::empty())
                {
                    Ok(fd) => fd,
                    // Files, links and entries gone since are not prefixes.
                    Err(
                        rustix::io::Errno::NOENT
                        | rustix::io::Errno::LOOP
                        | rustix::io::Errno::NOTDIR
                        | rustix::io::Errno::MLINK,
                    ) => continue,
                    Err(e) => return Err(io(e.into())),
                };
                let rel = format!("{dir}{name}/");
                let mut found = Vec::new();
                walk(&sub, &rel, &mut found, true).map_err(io)?;
                if !found.is_empty() {
                    out.push(rel);
                }
            }
            Ok(out)
        })
        .await?;
        out.sort();
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let op = Op::Delete;
        let this = self.clone();
        let k = key.to_owned();
        Self::blocking(op, key, move || {
            let segs = Self::segments(&k)?;
            let (name, dirs) = segs
                .split_last()
                .unwrap_or_else(|| unreachable!("keys are not empty"));
            let Some(chain) = this.open_chain(op, &k, dirs, false)? else {
                return Ok(());
            };
            match rustix::fs::unlinkat(chain.parent(), *name, AtFlags::empty()) {
                Ok(()) => {}
                Err(rustix::io::Errno::NOENT) => return Ok(()),
                Err(e) => return Err(Error::io(op, &k, e.into())),
            }
            drop(chain);
            this.prune_empty_dirs(&k);
            Ok(())
        })
        .await
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

/// Streaming upload into a temp file in the object's folder (held open), renamed into place on
/// finish.
struct LocalSink {
    op: Op,
    key: String,
    file: Option<tokio::fs::File>,
    dir: Arc<OwnedFd>,
    tmp: String,
    name: String,
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
        let (dir, tmp, name, k) = (self.dir.clone(), self.tmp.clone(), self.name.clone(), key.clone());
        LocalStore::blocking(op, &key, move || {
            rustix::fs::renameat(&*dir, tmp.as_str(), &*dir, name.as_str())
                .map_err(|e| Error::io(op, &k, e.into()))
        })
        .await?;
        self.done = true;
        tracing::debug!(key = %self.key, size = self.size, "stored object");
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.file.take();
        self.done = true;
        match rustix::fs::unlinkat(&*self.dir, self.tmp.as_str(), AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io(self.op, &self.key, e.into())),
        }
    }
}

impl Drop for LocalSink {
    fn drop(&mut self) {
        if !self.done {
            self.file.take();
            if let Err(e) = rustix::fs::unlinkat(&*self.dir, self.tmp.as_str(), AtFlags::empty())
                && e != rustix::io::Errno::NOENT
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

    /// Issue 11, class 10: objects that are links (to files outside the location or to
    /// `/dev/zero`) or FIFOs are refused without being read or waited for, and not listed.
    #[cfg(unix)]
    #[tokio::test]
    async fn links_and_special_files_are_not_objects() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store
            .put("backups/b/real", Bytes::from_static(b"real"))
            .await
            .unwrap();
        let b = dir.path().join("backups/b");
        std::os::unix::fs::symlink(outside.path().join("secret"), b.join("link")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", b.join("zero")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("backups/out")).unwrap();
        let fifo = b.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for key in [
            "backups/b/link",
            "backups/b/zero",
            "backups/b/fifo",
            "backups/out/secret",
        ] {
            let e = store.get(key).await.unwrap_err();
            assert!(matches!(e, Error::InvalidKey { .. }), "{key}: {e}");
            assert!(store.get_reader(key).await.is_err(), "{key}");
            assert!(store.get_range(key, 0..4).await.is_err(), "{key}");
            assert!(store.head(key).await.unwrap().is_none(), "{key}");
        }
        let listed: Vec<String> = store.list("").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(listed, ["backups/b/real"]);
        assert_eq!(store.list_prefixes("backups/").await.unwrap(), ["backups/b/"]);
        // Writing through a link is refused too; deleting a link removes the link only.
        assert!(
            store
                .put("backups/out/new", Bytes::from_static(b"x"))
                .await
                .is_err()
        );
        store.delete("backups/b/link").await.unwrap();
        assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"secret");
        assert!(!outside.path().join("new").exists());
    }
}
