//! skiff's integrity sidecar (`<name>-skiff-index.json.gz`, ignored by Velero).
//!
//! Records the gzip members of the tarball (compressed and uncompressed offsets and lengths) and
//! every entry (path, size, sha256, member, offset of its first header block in the uncompressed
//! stream). With it a single object can be fetched by a ranged read of one member
//! ([`read_member`]) and a whole archive can be verified ([`ArchiveIndex::verify`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::reader::{ArchiveReader, Entry, ReaderOptions};
use crate::writer::hex;
use crate::{Error, Result, gojson};

/// Format version of the index document.
pub const INDEX_FORMAT_VERSION: u32 = 1;
/// Largest decompressed index accepted (an entry takes ~200 bytes; 1M entries ≈ 200 MiB).
pub const MAX_INDEX_SIZE: u64 = 512 << 20;

/// One gzip member of the tarball.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    /// Byte offset of the member in the `.tar.gz`.
    pub compressed_offset: u64,
    /// Length of the member in the `.tar.gz`.
    pub compressed_length: u64,
    /// Offset of the member's content in the tar stream.
    pub uncompressed_offset: u64,
    /// Length of the member's content.
    pub uncompressed_length: u64,
}

/// One entry of the tarball.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    /// Path in the tarball.
    pub path: String,
    /// Data size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the data.
    pub sha256: String,
    /// Index into [`ArchiveIndex::members`] of the member holding the whole entry.
    pub member: usize,
    /// Offset of the entry's first header block (PAX header if any) in the tar stream.
    pub header_offset: u64,
}

/// The integrity index of one tarball.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveIndex {
    /// [`INDEX_FORMAT_VERSION`].
    pub format_version: u32,
    /// gzip members in file order.
    pub members: Vec<MemberInfo>,
    /// Entries in archive order.
    pub entries: Vec<IndexEntry>,
    /// Total size of the `.tar.gz`.
    #[serde(default)]
    pub compressed_size: u64,
    /// Total size of the tar stream.
    #[serde(default)]
    pub uncompressed_size: u64,
}

/// Writes an index document (gzip'd JSON, the shape [`ArchiveIndex::from_gzip_json`] reads) while
/// the archive is being written: entries go out as they come, so a writer of a million entries
/// holds none of them. Members and sizes, known only at the end, follow the entries.
pub struct IndexStream<S: Write> {
    /// Buffered: serde writes a few bytes at a time, and every write into the encoder runs the
    /// compressor and the CRC.
    enc: std::io::BufWriter<flate2::write::GzEncoder<S>>,
    entries: u64,
}

impl<S: Write> std::fmt::Debug for IndexStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexStream")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

fn write_err(source: std::io::Error) -> Error {
    Error::Write { source }
}

impl<S: Write> IndexStream<S> {
    /// Starts the document on `sink`.
    pub fn new(sink: S) -> Result<Self> {
        let mut enc =
            std::io::BufWriter::with_capacity(64 << 10, gojson::gz_writer(sink, flate2::Compression::new(6)));
        write!(enc, "{{\"formatVersion\":{INDEX_FORMAT_VERSION},\"entries\":[").map_err(write_err)?;
        Ok(Self { enc, entries: 0 })
    }

    /// Appends entries (in archive order).
    pub fn push_all(&mut self, entries: impl IntoIterator<Item = IndexEntry>) -> Result<()> {
        for e in entries {
            if self.entries > 0 {
                self.enc.write_all(b",").map_err(write_err)?;
            }
            serde_json::to_writer(&mut self.enc, &e).map_err(|source| Error::Json {
                document: "skiff index".into(),
                source,
            })?;
            self.entries += 1;
        }
        Ok(())
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Appends the members and sizes of `index` (its `entries` must already have been pushed;
    /// any still in it are pushed first), ends the document and returns the sink.
    pub fn finish(mut self, index: ArchiveIndex) -> Result<S> {
        self.push_all(index.entries)?;
        let json_err = |source| Error::Json {
            document: "skiff index".into(),
            source,
        };
        self.enc.write_all(b"],\"members\":").map_err(write_err)?;
        serde_json::to_writer(&mut self.enc, &index.members).map_err(json_err)?;
        writeln!(
            self.enc,
            ",\"compressedSize\":{},\"uncompressedSize\":{}}}",
            index.compressed_size, index.uncompressed_size
        )
        .map_err(write_err)?;
        self.enc
            .into_inner()
            .map_err(|e| write_err(e.into_error()))?
            .finish()
            .map_err(write_err)
    }
}

/// Outcome of checking an archive against its index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked and matching.
    pub matched: u64,
    /// Paths in the index but not in the archive.
    pub missing: Vec<String>,
    /// Paths in the archive but not in the index.
    pub extra: Vec<String>,
    /// Paths whose size or hash differ.
    pub mismatched: Vec<String>,
}

impl VerifyReport {
    /// True when nothing is missing, extra or mismatched.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.mismatched.is_empty()
    }
}

/// Incremental verifier: feed it every entry while reading an archive, then [`Verifier::finish`].
#[derive(Debug)]
pub struct Verifier<'a> {
    expected: BTreeMap<&'a str, &'a IndexEntry>,
    seen: BTreeSet<String>,
    report: VerifyReport,
}

impl Verifier<'_> {
    /// Check one entry's data.
    pub fn check(&mut self, path: &str, data: &[u8]) {
        match self.expected.get(path) {
            None => self.report.extra.push(path.to_owned()),
            Some(e) => {
                if !self.seen.insert(path.to_owned()) {
                    self.report.extra.push(path.to_owned());
                } else if e.size == data.len() as u64 && e.sha256 == hex(&Sha256::digest(data)) {
                    self.report.matched += 1;
                } else {
                    self.report.mismatched.push(path.to_owned());
                }
            }
        }
    }

    /// The report; entries never fed are `missing`.
    pub fn finish(mut self) -> VerifyReport {
        for path in self.expected.keys() {
            if !self.seen.contains(*path) {
                self.report.missing.push((*path).to_owned());
            }
        }
        self.report
    }
}

impl ArchiveIndex {
    /// Serialize as skiff stores it: gzip'd compact JSON with a trailing newline.
    pub fn to_gzip_json(&self) -> Result<Vec<u8>> {
        gojson::gzip_sidecar_of(self)
    }

    /// Parse a stored index.
    pub fn from_gzip_json(data: &[u8]) -> Result<Self> {
        let raw = gojson::gunzip(data, MAX_INDEX_SIZE)?;
        serde_json::from_slice(&raw).map_err(|source| Error::Json {
            document: "skiff index".into(),
            source,
        })
    }

    /// The entry at `path`.
    pub fn entry(&self, path: &str) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Byte range of a member in the `.tar.gz` (for a ranged GET).
    pub fn member_range(&self, member: usize) -> Option<Range<u64>> {
        self.members
            .get(member)
            .map(|m| m.compressed_offset..m.compressed_offset + m.compressed_length)
    }

    /// A verifier to feed entries to while reading the archive.
    pub fn verifier(&self) -> Verifier<'_> {
        Verifier {
            expected: self.entries.iter().map(|e| (e.path.as_str(), e)).collect(),
            seen: BTreeSet::new(),
            report: VerifyReport::default(),
        }
    }

    /// Read a whole archive and compare it with this index.
    pub fn verify<R: Read>(&self, archive: R, opts: ReaderOptions) -> Result<VerifyReport> {
        let mut v = self.verifier();
        let mut reader = ArchiveReader::with_options(archive, opts);
        for entry in reader.entries()? {
            let entry = entry?;
            v.check(&entry.path, &entry.data);
        }
        Ok(v.finish())
    }
}

/// Read the entries of a single gzip member given its compressed bytes (from a ranged read of the
/// range [`ArchiveIndex::member_range`] gives). Members start and end at entry boundaries.
pub fn read_member(member: &[u8], opts: ReaderOptions) -> Result<Vec<Entry>> {
    let mut reader = ArchiveReader::with_options(member, opts);
    reader.entries()?.collect()
}

/// Fetch one entry's data out of its member's bytes and check it against the index.
pub fn extract_entry(member: &[u8], entry: &IndexEntry, opts: ReaderOptions) -> Result<Vec<u8>> {
    for e in read_member(member, opts)? {
        if e.path == entry.path {
            if e.data.len() as u64 != entry.size || hex(&Sha256::digest(&e.data)) != entry.sha256 {
                return Err(Error::IndexMismatch {
                    entry: entry.path.clone(),
                });
            }
            return Ok(e.data);
        }
    }
    Err(Error::IndexMismatch {
        entry: entry.path.clone(),
    })
}
