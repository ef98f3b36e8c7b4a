//! The [`BackupStore`] trait, object metadata and key rules shared by every backend.

use std::fmt::Debug;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::error::{Error, Result};

/// Metadata of one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the location's prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the backend reports one.
    pub last_modified: Option<SystemTime>,
}

/// A streaming object upload.
///
/// Nothing is visible under the key until [`finish`](ObjectSink::finish) returns `Ok`. Dropping a
/// sink without finishing it aborts the upload (best effort, in the background on S3); call
/// [`abort`](ObjectSink::abort) to wait for the clean-up.
#[async_trait]
pub trait ObjectSink: Send {
    /// Appends a chunk. May wait for earlier parts to be uploaded (backpressure).
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Completes the upload and makes the object visible; returns its size in bytes.
    async fn finish(self: Box<Self>) -> Result<u64>;
    /// Discards the upload; nothing becomes visible.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// A streaming reader over a stored object. I/O errors carry the store's [`Error`] (naming the
/// key) as their inner error.
pub type ObjectReader = Box<dyn AsyncRead + Send + Unpin>;

/// An object store holding backups in Velero's key layout.
///
/// Keys are relative to the location's prefix and use `/` as separator. The store knows nothing
/// of Kubernetes. Every error names the key (or prefix) and operation it concerns.
///
/// Key rules (identical on every backend, checked by [`validate_key`]): not empty, no leading or
/// trailing `/`, no empty, `.` or `..` segment, no backslash or NUL.
#[async_trait]
pub trait BackupStore: Send + Sync + Debug {
    /// Stores `data` under `key`, replacing any existing object atomically.
    async fn put(&self, key: &str, data: Bytes) -> Result<()>;

    /// Starts a streaming upload to `key`.
    async fn put_writer(&self, key: &str) -> Result<Box<dyn ObjectSink>>;

    /// Reads a whole object.
    async fn get(&self, key: &str) -> Result<Bytes>;

    /// Opens a streaming reader over an object. A missing object fails here, not on first read.
    async fn get_reader(&self, key: &str) -> Result<ObjectReader>;

    /// Reads the bytes in `range` (end exclusive). An `end` past the object's size is clamped; a
    /// non-empty range starting at or after the end of the object is [`Error::InvalidRange`].
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes>;

    /// Returns the object's metadata, or `None` if it does not exist.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>>;

    /// Lists every object whose key starts with `prefix` (recursively), sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;

    /// Lists the common prefixes directly below `prefix` with delimiter `/`, like S3's
    /// `ListObjectsV2` with a delimiter: each entry is a full relative key prefix ending in `/`
    /// (e.g. `backups/b1/` for prefix `backups/`), sorted. Only prefixes holding at least one
    /// object are reported.
    async fn list_prefixes(&self, prefix: &str) -> Result<Vec<String>>;

    /// Deletes an object. Deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Deletes every object whose key starts with `prefix` and returns how many were deleted.
    /// An empty prefix is refused (it would empty the whole location).
    async fn delete_prefix(&self, prefix: &str) -> Result<usize>;

    /// The location as a URL or path, for messages. Never contains credentials.
    fn describe(&self) -> String;
}

/// Checks an object key against the rules shared by every backend.
pub fn validate_key(key: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("key is empty");
    }
    if key.ends_with('/') {
        return invalid("key ends with '/'");
    }
    check_segments(key)
}

/// Checks a listing/deletion prefix: like a key, but may be empty and may end with `/`.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    check_segments(prefix.strip_suffix('/').unwrap_or(prefix)).map_err(|e| match e {
        Error::InvalidKey { reason, .. } => Error::InvalidKey {
            key: prefix.to_owned(),
            reason,
        },
        other => other,
    })
}

fn check_segments(key: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.starts_with('/') {
        return invalid("key is absolute (starts with '/')");
    }
    if key.contains('\\') {
        return invalid("key contains a backslash");
    }
    if key.contains('\0') {
        return invalid("key contains a NUL byte");
    }
    for segment in key.split('/') {
        match segment {
            "" => return invalid("key has an empty segment ('//')"),
            "." | ".." => return invalid("key has a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "a",
            "backups/b1/velero-backup.json",
            "x/with space:@+%=/é",
            "a..b",
            ".hidden",
        ] {
            validate_key(ok).unwrap();
        }
        for bad in [
            "", "/abs", "a/", "a//b", "../x", "a/../b", "a/./b", ".", "..", "a\\b", "a\0b",
        ] {
            assert!(
                matches!(validate_key(bad), Err(Error::InvalidKey { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn prefixes() {
        for ok in ["", "backups/", "backups/b", "a/b/"] {
            validate_prefix(ok).unwrap();
        }
        for bad in ["/", "//", "../", "a//", "/a"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?} accepted");
        }
    }
}
