//! skiff's integrity sidecar (`<name>-skiff-index.json.gz`, ignored by Velero).
//!
//! Records the gzip members of the tarball (compressed and uncompressed offsets and lengths) and
//! every entry (path, size, sha256, member, offset of its first header block in the uncompressed
//! stream). With it a single object can be fetched by a ranged read of one member
//! ([`read_member`]) and a whole archive can be verified ([`ArchiveIndex::verify`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::shorten;
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
    /// Path → (entry, seen yet).
    expected: HashMap<&'a str, (&'a IndexEntry, bool)>,
    report: VerifyReport,
}

impl Verifier<'_> {
    /// Check one entry's data (a path fed twice is reported as extra).
    pub fn check(&mut self, path: &str, data: &[u8]) {
        match self.expected.get_mut(path) {
            None | Some((_, true)) => self.report.extra.push(path.to_owned()),
            Some((e, seen)) => {
                *seen = true;
                if e.size == data.len() as u64 && e.sha256 == hex(&Sha256::digest(data)) {
                    self.report.matched += 1;
                } else {
                    self.report.mismatched.push(path.to_owned());
                }
            }
        }
    }

    /// The report; entries never fed are `missing` (in path order).
    pub fn finish(mut self) -> VerifyReport {
        let mut missing: Vec<String> = self
            .expected
            .iter()
            .filter(|(_, (_, seen))| !seen)
            .map(|(p, _)| (*p).to_owned())
            .collect();
        missing.sort_unstable();
        self.report.missing = missing;
        self.report
    }
}

/// Largest gzip member read through the index, compressed or not. skiff's writer starts a new
/// member after 1 MiB, so a member is that plus at most one item's two copies.
pub const MAX_MEMBER_SIZE: u64 = 256 << 20;

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidIndex {
        reason: reason.into(),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl MemberInfo {
    fn compressed_end(&self) -> Option<u64> {
        self.compressed_offset.checked_add(self.compressed_length)
    }

    fn uncompressed_end(&self) -> Option<u64> {
        self.uncompressed_offset.checked_add(self.uncompressed_length)
    }

    /// The member's own consistency, and its fit in a tarball of `tarball_size` bytes.
    fn check(&self, n: usize, tarball_size: Option<u64>) -> Result<()> {
        let end = self
            .compressed_end()
            .ok_or_else(|| invalid(format!("member {n} ends beyond 2^64")))?;
        self.uncompressed_end()
            .ok_or_else(|| invalid(format!("member {n} ends beyond 2^64 in the tar stream")))?;
        if self.compressed_length == 0 || self.compressed_length > MAX_MEMBER_SIZE {
            return Err(invalid(format!(
                "member {n} has a compressed length of {} bytes (limit {MAX_MEMBER_SIZE})",
                self.compressed_length
            )));
        }
        if self.uncompressed_length > MAX_MEMBER_SIZE {
            return Err(invalid(format!(
                "member {n} has an uncompressed length of {} bytes (limit {MAX_MEMBER_SIZE})",
                self.uncompressed_length
            )));
        }
        if let Some(size) = tarball_size
            && end > size
        {
            return Err(invalid(format!(
                "member {n} ends at byte {end}, beyond the tarball's {size} bytes"
            )));
        }
        Ok(())
    }
}

/// One entry located through the index, checked against the index's own rules and the
/// tarball's size; [`Located::read`] reads it from the bytes of [`Located::range`].
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// The index entry.
    pub entry: &'a IndexEntry,
    /// Its member.
    pub member: MemberInfo,
}

impl Located<'_> {
    /// Byte range of the member in the `.tar.gz` (for a ranged read).
    pub fn range(&self) -> Range<u64> {
        self.member.compressed_offset..self.member.compressed_offset + self.member.compressed_length
    }

    /// Read the entry out of `member` (the bytes of [`Located::range`]) and verify everything
    /// the index claims: exactly one gzip member of the recorded sizes whose CRC checks, the
    /// entry at the recorded offset with the requested path (once), of the recorded size
    /// (checked from its header, before its data is read) and SHA-256. Any error means the
    /// index cannot be trusted for this entry: read the archive as a stream instead.
    pub fn read(&self, member: &[u8], opts: ReaderOptions) -> Result<Vec<u8>> {
        let mismatch = |reason| Error::IndexMismatch {
            entry: shorten(&self.entry.path),
            reason,
        };
        if member.len() as u64 != self.member.compressed_length {
            return Err(mismatch("the member read has a different length"));
        }
        // Neighbours are skipped, not buffered; the entry's own size is checked against the
        // index from its header; the member's output is bounded by the recorded length.
        let opts = ReaderOptions {
            allow_duplicates: true,
            ..opts
        };
        let mut reader = ArchiveReader::member(member, opts, self.member.uncompressed_length);
        let mut found: Option<Vec<u8>> = None;
        while let Some(header) = reader.next_header()? {
            if reader.current_path() != self.entry.path {
                reader.skip_data()?;
                continue;
            }
            if found.is_some() {
                return Err(mismatch("the entry occurs twice in its member"));
            }
            if self.member.uncompressed_offset + header.offset != self.entry.header_offset {
                return Err(mismatch("the entry is not at the offset the index records"));
            }
            if header.size != self.entry.size {
                return Err(mismatch("the entry's size differs from the index"));
            }
            reader.read_data(&header)?;
            let data = reader.take_data();
            if hex(&Sha256::digest(&data)) != self.entry.sha256 {
                return Err(mismatch("the entry's SHA-256 differs from the index"));
            }
            found = Some(data);
        }
        if reader.uncompressed_bytes() != self.member.uncompressed_length {
            return Err(mismatch(
                "the member decompresses to a different size than the index records",
            ));
        }
        found.ok_or_else(|| mismatch("the entry is not in the member the index names"))
    }
}

impl ArchiveIndex {
    /// Check the index against itself and, when known, the tarball's size: format version,
    /// members contiguous from offset 0 and within the tarball, bounded sizes, every entry in
    /// an existing member at an offset inside it, SHA-256 values of the right form, no path
    /// twice. For `validate`; [`ArchiveIndex::locate`] checks what one read needs.
    pub fn check(&self, tarball_size: Option<u64>) -> Result<()> {
        if self.format_version != INDEX_FORMAT_VERSION {
            return Err(invalid(format!(
                "format version {} (supported: {INDEX_FORMAT_VERSION})",
                self.format_version
            )));
        }
        let (mut compressed, mut uncompressed) = (0u64, 0u64);
        for (n, m) in self.members.iter().enumerate() {
            m.check(n, tarball_size)?;
            if m.compressed_offset != compressed || m.uncompressed_offset != uncompressed {
                return Err(invalid(format!(
                    "member {n} does not start where the previous one ends"
                )));
            }
            compressed = m.compressed_offset + m.compressed_length;
            uncompressed = m.uncompressed_offset + m.uncompressed_length;
        }
        if compressed != self.compressed_size || uncompressed != self.uncompressed_size {
            return Err(invalid("the members do not add up to the recorded sizes"));
        }
        if let Some(size) = tarball_size
            && size != self.compressed_size
        {
            return Err(invalid(format!(
                "the index records a tarball of {} bytes, it has {size}",
                self.compressed_size
            )));
        }
        let mut paths = std::collections::HashSet::with_capacity(self.entries.len());
        for e in &self.entries {
            self.entry_member(e)?;
            if !paths.insert(e.path.as_str()) {
                return Err(invalid(format!("entry {:?} is listed twice", shorten(&e.path))));
            }
        }
        Ok(())
    }

    /// The member of `e`, checked: it exists and holds the entry's header offset and data.
    fn entry_member(&self, e: &IndexEntry) -> Result<MemberInfo> {
        let bad = |reason: &str| invalid(format!("entry {:?}: {reason}", shorten(&e.path)));
        if !is_sha256_hex(&e.sha256) {
            return Err(bad("sha256 is not 64 lowercase hex digits"));
        }
        let m = *self
            .members
            .get(e.member)
            .ok_or_else(|| bad("names a member the index does not have"))?;
        let end = m.uncompressed_end().unwrap_or(u64::MAX);
        let data_end = e
            .header_offset
            .checked_add(512)
            .and_then(|x| x.checked_add(e.size));
        if e.header_offset < m.uncompressed_offset || data_end.is_none_or(|d| d > end) {
            return Err(bad("lies outside its member"));
        }
        Ok(m)
    }

    /// Find `path` for a ranged read: `None` when the index does not list it, an error when
    /// the index is inconsistent for it (listed twice, member missing, out of the tarball's
    /// `tarball_size` bytes, larger than [`MAX_MEMBER_SIZE`], …) — then read the archive as a
    /// stream instead.
    pub fn locate(&self, path: &str, tarball_size: u64) -> Result<Option<Located<'_>>> {
        let mut hits = self.entries.iter().filter(|e| e.path == path);
        let Some(entry) = hits.next() else {
            return Ok(None);
        };
        if hits.next().is_some() {
            return Err(invalid(format!("entry {:?} is listed twice", shorten(path))));
        }
        let member = self.entry_member(entry)?;
        member.check(entry.member, Some(tarball_size))?;
        Ok(Some(Located { entry, member }))
    }

    /// Serialize as skiff stores it: gzip'd compact JSON with a trailing newline.
    pub fn to_gzip_json(&self) -> Result<Vec<u8>> {
        gojson::gzip_sidecar_of(self)
    }

    /// Parse a stored index (at most [`MAX_INDEX_SIZE`] bytes decompressed). The result is not
    /// checked: see [`ArchiveIndex::check`] and [`ArchiveIndex::locate`].
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

    /// Byte range of a member in the `.tar.gz` (for a ranged GET). Unchecked: prefer
    /// [`ArchiveIndex::locate`].
    pub fn member_range(&self, member: usize) -> Option<Range<u64>> {
        self.members
            .get(member)
            .and_then(|m| Some(m.compressed_offset..m.compressed_end()?))
    }

    /// A verifier to feed entries to while reading the archive.
    pub fn verifier(&self) -> Verifier<'_> {
        Verifier {
            expected: self
                .entries
                .iter()
                .map(|e| (e.path.as_str(), (e, false)))
                .collect(),
            report: VerifyReport::default(),
        }
    }

    /// Read a whole archive and compare it with this index (a path seen twice is reported as
    /// extra).
    pub fn verify<R: Read>(&self, archive: R, opts: ReaderOptions) -> Result<VerifyReport> {
        let mut v = self.verifier();
        let mut reader = ArchiveReader::with_options(
            archive,
            ReaderOptions {
                allow_duplicates: true,
                ..opts
            },
        );
        while let Some(entry) = reader.next_entry()? {
            v.check(entry.path, entry.data);
        }
        Ok(v.finish())
    }
}

/// Read the entries of a single gzip member given its compressed bytes (from a ranged read of the
/// range [`ArchiveIndex::member_range`] gives). Members start and end at entry boundaries.
pub fn read_member(member: &[u8], opts: ReaderOptions) -> Result<Vec<Entry>> {
    let mut reader = ArchiveReader::member(member, opts, MAX_MEMBER_SIZE);
    reader.entries()?.collect()
}
