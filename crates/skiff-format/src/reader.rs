//! Streaming reader of Velero tarballs: (multi-member) gzip → tar, one entry at a time.
//!
//! Accepts what Velero's extractor accepts — regular files and directories — and refuses the rest
//! with an error naming the entry: absolute paths, `..`, links, devices, fifos, and entries whose
//! declared size exceeds [`ReaderOptions::max_entry_size`] (checked from the header, before any
//! data is read). Directories are checked and skipped; nothing is buffered beyond one entry.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use tar::EntryType;

use crate::path::{self, ItemRef, PathKind, VersionDir};
use crate::{Error, Result};

/// Default per-entry size limit: 64 MiB (Kubernetes objects are limited to ~1.5 MiB by etcd).
pub const DEFAULT_MAX_ENTRY_SIZE: u64 = 64 << 20;

/// Reader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Largest entry accepted, by declared size.
    pub max_entry_size: u64,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// `metadata/version`.
    Version,
    /// An item file, with the directory variant it was found in.
    Item(ItemRef, VersionDir),
    /// Any other regular file.
    Other,
}

/// One regular-file entry, fully read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Sanitized path (no leading `./`).
    pub path: String,
    /// Classification of the path.
    pub kind: EntryKind,
    /// The file's bytes (raw JSON for items).
    pub data: Vec<u8>,
}

/// Byte counters of a reader, readable while and after iterating.
#[derive(Debug, Default)]
struct Counters {
    compressed: AtomicU64,
    uncompressed: AtomicU64,
    gzip_failed: AtomicBool,
    source_failed: AtomicBool,
}

/// Counts bytes pulled through a reader.
struct CountingRead<R> {
    inner: R,
    counters: Arc<Counters>,
    compressed_side: bool,
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                let c = if self.compressed_side {
                    &self.counters.compressed
                } else {
                    &self.counters.uncompressed
                };
                c.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                if self.compressed_side {
                    self.counters.source_failed.store(true, Ordering::Relaxed);
                } else {
                    // Errors surfacing from the decoder are gzip errors (or the source's IO).
                    self.counters.gzip_failed.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }
}

type Inner<R> = CountingRead<MultiGzDecoder<CountingRead<R>>>;

/// Streaming reader of a `.tar.gz` Velero archive.
pub struct ArchiveReader<R: Read> {
    archive: tar::Archive<Inner<R>>,
    counters: Arc<Counters>,
    opts: ReaderOptions,
}

impl<R: Read> std::fmt::Debug for ArchiveReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader")
            .field("opts", &self.opts)
            .field("compressed_bytes", &self.compressed_bytes())
            .field("uncompressed_bytes", &self.uncompressed_bytes())
            .finish_non_exhaustive()
    }
}

impl<R: Read> ArchiveReader<R> {
    /// A reader with default options.
    pub fn new(input: R) -> Self {
        Self::with_options(input, ReaderOptions::default())
    }

    /// A reader with the given options.
    pub fn with_options(input: R, opts: ReaderOptions) -> Self {
        let counters = Arc::new(Counters::default());
        let compressed = CountingRead {
            inner: input,
            counters: counters.clone(),
            compressed_side: true,
        };
        let uncompressed = CountingRead {
            inner: MultiGzDecoder::new(compressed),
            counters: counters.clone(),
            compressed_side: false,
        };
        ArchiveReader {
            archive: tar::Archive::new(uncompressed),
            counters,
            opts,
        }
    }

    /// Compressed bytes consumed from the input so far.
    pub fn compressed_bytes(&self) -> u64 {
        self.counters.compressed.load(Ordering::Relaxed)
    }

    /// Uncompressed (tar) bytes produced so far.
    pub fn uncompressed_bytes(&self) -> u64 {
        self.counters.uncompressed.load(Ordering::Relaxed)
    }

    /// Iterate the regular-file entries. The iterator stops after the first error.
    pub fn entries(&mut self) -> Result<Entries<'_, R>> {
        let counters = self.counters.clone();
        let inner = self
            .archive
            .entries()
            .map_err(|source| classify_io(&counters, None, source))?;
        Ok(Entries {
            inner,
            counters,
            opts: self.opts,
            done: false,
            last_path: None,
        })
    }
}

/// Iterator over an archive's entries; see [`ArchiveReader::entries`].
pub struct Entries<'a, R: Read> {
    inner: tar::Entries<'a, Inner<R>>,
    counters: Arc<Counters>,
    opts: ReaderOptions,
    done: bool,
    last_path: Option<String>,
}

impl<R: Read> std::fmt::Debug for Entries<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries")
            .field("last_path", &self.last_path)
            .finish_non_exhaustive()
    }
}

fn classify_io(counters: &Counters, entry: Option<String>, source: io::Error) -> Error {
    if counters.source_failed.load(Ordering::Relaxed) {
        Error::Read { source }
    } else if counters.gzip_failed.load(Ordering::Relaxed) {
        Error::Gzip { source }
    } else {
        Error::Tar { entry, source }
    }
}

fn type_name(t: EntryType) -> String {
    match t {
        EntryType::Symlink => "symlink".into(),
        EntryType::Link => "hard link".into(),
        EntryType::Char => "character device".into(),
        EntryType::Block => "block device".into(),
        EntryType::Fifo => "fifo".into(),
        EntryType::Continuous => "contiguous file".into(),
        EntryType::GNUSparse => "sparse file".into(),
        other => format!("type {:?}", other.as_byte() as char),
    }
}

impl<R: Read> Entries<'_, R> {
    fn next_entry(&mut self) -> Option<Result<Entry>> {
        loop {
            let raw = match self.inner.next()? {
                Ok(e) => e,
                Err(source) => {
                    let after = self.last_path.clone().map(|p| format!("after {p}"));
                    return Some(Err(classify_io(&self.counters, after, source)));
                }
            };
            let mut raw = raw;
            let path_bytes = raw.path_bytes().into_owned();
            let Ok(path_str) = String::from_utf8(path_bytes.clone()) else {
                return Some(Err(Error::UnsafePath {
                    entry: String::from_utf8_lossy(&path_bytes).into_owned(),
                    reason: "path is not UTF-8",
                }));
            };
            let clean = match path::sanitize(&path_str) {
                Ok(p) => p.to_owned(),
                Err(e) => return Some(Err(e)),
            };
            let etype = raw.header().entry_type();
            match etype {
                EntryType::Regular => {}
                EntryType::Directory | EntryType::XGlobalHeader => continue,
                other => {
                    return Some(Err(Error::UnsupportedEntryType {
                        entry: clean,
                        kind: type_name(other),
                    }));
                }
            }
            let size = raw.size();
            if size > self.opts.max_entry_size {
                return Some(Err(Error::EntryTooLarge {
                    entry: clean,
                    size,
                    limit: self.opts.max_entry_size,
                }));
            }
            let mut data = Vec::with_capacity(size as usize);
            if let Err(source) = raw.read_to_end(&mut data) {
                return Some(Err(classify_io(&self.counters, Some(clean), source)));
            }
            if (data.len() as u64) != size {
                return Some(Err(Error::Tar {
                    entry: Some(clean),
                    source: io::Error::new(io::ErrorKind::UnexpectedEof, "entry data truncated"),
                }));
            }
            let kind = match path::parse(&clean) {
                PathKind::Version => EntryKind::Version,
                PathKind::Item(item, dir) => EntryKind::Item(item, dir),
                PathKind::Other => EntryKind::Other,
            };
            self.last_path = Some(clean.clone());
            return Some(Ok(Entry {
                path: clean,
                kind,
                data,
            }));
        }
    }
}

impl<R: Read> Iterator for Entries<'_, R> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_entry();
        match &r {
            None | Some(Err(_)) => self.done = true,
            Some(Ok(_)) => {}
        }
        r
    }
}

/// Read entries until `metadata/version` and check its major version (accepts `1` and `1.x.y`).
/// Returns the version string.
pub fn read_version<R: Read>(input: R) -> Result<String> {
    let mut reader = ArchiveReader::new(input);
    for entry in reader.entries()? {
        let entry = entry?;
        if entry.kind == EntryKind::Version {
            return path::check_version(&entry.data);
        }
    }
    Err(Error::MissingVersion)
}

/// Check a `metadata/version` entry's content (accepts `1` and `1.x.y`).
pub fn check_version_entry(entry: &Entry) -> Result<String> {
    path::check_version(&entry.data)
}
