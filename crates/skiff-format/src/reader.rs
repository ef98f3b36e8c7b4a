//! Streaming reader of Velero tarballs: (multi-member) gzip → tar, one entry at a time, with every
//! limit applied in this one place.
//!
//! Accepts what Velero's extractor accepts — regular files and directories, with USTAR, GNU
//! long-name and PAX headers — and refuses the rest with an error naming the entry: absolute
//! paths, `..`, links, devices, fifos, sparse files, paths longer than [`MAX_PATH_LEN`],
//! extension headers larger than [`MAX_EXTENSION_SIZE`] (refused from their header, before their
//! data is read), entries whose declared size exceeds [`ReaderOptions::max_entry_size`] (idem),
//! and the same path twice (unless [`ReaderOptions::allow_duplicates`], for a validator that
//! reports them itself). Directories are checked and skipped; nothing is buffered beyond one
//! entry, whose buffer is reused.
//!
//! Reaching the end checks the end: the two zero blocks of the end-of-archive marker, nothing but
//! zeros after them (at most [`MAX_TRAILING_PADDING`]), and every gzip member's CRC-32 and size,
//! including the last one's. A caller that stops early (found what it wanted) can call
//! [`ArchiveReader::finish`] to have the rest checked.
//!
//! Two ways to iterate: [`ArchiveReader::next_entry`] lends each entry (`while let Some(e) =
//! reader.next_entry()? { … }`, or [`ArchiveReader::for_each`] with any `FnMut`), and
//! [`ArchiveReader::entries`] yields owned [`Entry`] values.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;

use crate::error::shorten;
use crate::gzip::{Failure, Members};
use crate::path::{self, ItemRef, PathKind, VersionDir};
use crate::{Error, Result};

/// Default per-entry size limit: 64 MiB (Kubernetes objects are limited to ~1.5 MiB by etcd).
pub const DEFAULT_MAX_ENTRY_SIZE: u64 = 64 << 20;

/// Longest entry path accepted, in bytes: Linux' `PATH_MAX`. A Velero path is at most
/// `resources/` + group-resource (≤ 317) + version directory (≤ 81) + `/namespaces/` + namespace
/// (≤ 63) + a file name (≤ 255 bytes on common filesystems, which Velero's restore extracts
/// to), about 750 bytes; anything beyond `PATH_MAX` cannot be extracted anyway.
pub const MAX_PATH_LEN: usize = 4096;

/// Largest PAX extended header or GNU long-name record accepted (the data of an `x`, `g`, `L`
/// or `K` entry). A PAX header of a Velero entry holds a path (≤ [`MAX_PATH_LEN`]) and a few
/// short records; Go's `archive/tar` itself refuses more than 1 MiB.
pub const MAX_EXTENSION_SIZE: u64 = 8 << 10;

/// Most zero bytes accepted after the end-of-archive marker (tar writers pad to their record
/// size, 10 KiB for GNU tar; Velero pads nothing).
pub const MAX_TRAILING_PADDING: u64 = 1 << 20;

const BLOCK: usize = 512;
/// Buffer over the decompressed tar stream.
const TAR_BUFFER: usize = 64 << 10;

/// Reader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Largest entry accepted, by declared size (regular files and directories alike).
    pub max_entry_size: u64,
    /// Yield a path seen before (with [`EntryRef::duplicate`] set) instead of failing with
    /// [`Error::DuplicateEntry`]. For a validator that reports duplicates and goes on.
    pub allow_duplicates: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            allow_duplicates: false,
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

impl EntryKind {
    /// Classify a sanitized path.
    pub fn of(path: &str) -> EntryKind {
        match path::parse(path) {
            PathKind::Version => EntryKind::Version,
            PathKind::Item(item, dir) => EntryKind::Item(item, dir),
            PathKind::Other => EntryKind::Other,
        }
    }
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

/// One regular-file entry lent by [`ArchiveReader::next_entry`]; valid until the next call.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// Sanitized path (no leading `./`), at most [`MAX_PATH_LEN`] bytes. May hold control
    /// characters (Kubernetes allows them in some names): escape it before printing, e.g. with
    /// [`path::escape_for_display`].
    pub path: &'a str,
    /// Classification of the path.
    pub kind: &'a EntryKind,
    /// The file's bytes (raw JSON for items).
    pub data: &'a [u8],
    /// Offset of the entry's first header block (its PAX or long-name header, if any) in the
    /// uncompressed tar stream — what skiff's index records as `headerOffset`.
    pub header_offset: u64,
    /// The same path was seen earlier in this archive (only with
    /// [`ReaderOptions::allow_duplicates`]; otherwise that is an error).
    pub duplicate: bool,
}

impl EntryRef<'_> {
    /// An owned copy.
    pub fn to_entry(&self) -> Entry {
        Entry {
            path: self.path.to_owned(),
            kind: self.kind.clone(),
            data: self.data.to_vec(),
        }
    }
}

/// Passes a hash through: the keys of the duplicate set are already keyed hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Paths seen so far, as two independently keyed 64-bit `SipHash` values (16 bytes an entry instead
/// of the path). A false duplicate needs a 128-bit collision of secret-keyed hashes: for a
/// million entries, a chance below 2^-88.
struct SeenPaths {
    keys: (RandomState, RandomState),
    set: HashSet<u128, BuildHasherDefault<PassThrough>>,
}

impl SeenPaths {
    fn new() -> Self {
        SeenPaths {
            keys: (RandomState::new(), RandomState::new()),
            set: HashSet::default(),
        }
    }

    /// Records `path`; false if it was seen before.
    fn insert(&mut self, path: &str) -> bool {
        let a = self.keys.0.hash_one(path);
        let b = self.keys.1.hash_one(path);
        self.set.insert((u128::from(a) << 64) | u128::from(b))
    }
}

/// Where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Entries,
    /// The end was reached and checked.
    Finished,
    /// An error was returned; nothing more is read.
    Failed,
}

/// Extension records waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    /// Offset of the first extension header.
    offset: Option<u64>,
    long_name: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_size: Option<u64>,
    pax_seen: bool,
    sparse: bool,
}

/// A parsed header of a file-like entry, its data not yet read.
pub(crate) struct Header {
    /// Offset of the entry's first header block.
    pub(crate) offset: u64,
    flag: u8,
    /// Declared data size.
    pub(crate) size: u64,
}

/// Streaming reader of a `.tar.gz` Velero archive.
pub struct ArchiveReader<R: Read> {
    tar: BufReader<Members<R>>,
    opts: ReaderOptions,
    /// Offset in the tar stream of the next block to read.
    pos: u64,
    phase: Phase,
    /// A member fetched alone: no end-of-archive marker required.
    fragment: bool,
    seen: SeenPaths,
    path: String,
    kind: EntryKind,
    data: Vec<u8>,
    /// Declared size of the entry whose header was read last.
    data_size: u64,
    /// Path of the last entry returned, for errors between entries.
    last_path: Option<String>,
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

fn tar_error(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn eof_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("tar stream truncated {what}"),
    )
}

/// Go's `parseNumeric`: octal text (spaces and NULs around it ignored) or GNU base-256.
fn parse_numeric(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        // Base-256: big-endian two's complement with the marker bit; negative is invalid here.
        if field[0] & 0x40 != 0 {
            return None;
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text = trim_field(field);
    if text.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for &b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn trim_field(field: &[u8]) -> &[u8] {
    let is_pad = |b: &u8| *b == b' ' || *b == 0;
    let start = field.iter().position(|b| !is_pad(b)).unwrap_or(field.len());
    let end = field.iter().rposition(|b| !is_pad(b)).map_or(start, |e| e + 1);
    &field[start..end]
}

/// Bytes up to the first NUL.
fn c_string(field: &[u8]) -> &[u8] {
    field.iter().position(|&b| b == 0).map_or(field, |n| &field[..n])
}

/// The header checksum matches as an unsigned or (old tars) a signed sum.
fn checksum_ok(block: &[u8; BLOCK]) -> bool {
    let Some(stored) = parse_numeric(&block[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// One PAX record set (`"<len> <key>=<value>\n"…`), checked as Go's `parsePAX` does.
fn parse_pax(data: &[u8], pending: &mut Pending, global: bool) -> io::Result<()> {
    let bad = || tar_error("malformed PAX extended header");
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len_text = &rest[..sp];
        if len_text.is_empty() || len_text.len() > 8 || !len_text.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let len: usize = std::str::from_utf8(len_text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        if key.is_empty() {
            return Err(bad());
        }
        if global {
            continue;
        }
        match key {
            b"path" => {
                if value.contains(&0) {
                    return Err(bad());
                }
                pending.pax_path = Some(value.to_vec());
            }
            b"size" => {
                let text = std::str::from_utf8(value).map_err(|_| bad())?;
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                pending.pax_size = Some(text.parse().map_err(|_| bad())?);
            }
            k if k.starts_with(b"GNU.sparse.") => pending.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

fn type_name(flag: u8) -> String {
    match flag {
        b'1' => "hard link".into(),
        b'2' => "symlink".into(),
        b'3' => "character device".into(),
        b'4' => "block device".into(),
        b'6' => "fifo".into(),
        b'7' => "contiguous file".into(),
        b'S' => "sparse file".into(),
        b'K' => "GNU long link name".into(),
        b'V' => "volume header".into(),
        b'M' => "multi-volume continuation".into(),
        other if other.is_ascii_graphic() => format!("type {:?}", other as char),
        other => format!("type 0x{other:02x}"),
    }
}

impl<R: Read> ArchiveReader<R> {
    /// A reader with default options.
    pub fn new(input: R) -> Self {
        Self::with_options(input, ReaderOptions::default())
    }

    /// A reader with the given options.
    pub fn with_options(input: R, opts: ReaderOptions) -> Self {
        Self::build(input, opts, false, u64::MAX)
    }

    /// A reader of one gzip member fetched on its own (skiff's index): exactly one member, no
    /// end-of-archive marker required, at most `max_output` bytes decompressed.
    pub(crate) fn member(input: R, opts: ReaderOptions, max_output: u64) -> Self {
        Self::build(input, opts, true, max_output)
    }

    fn build(input: R, opts: ReaderOptions, fragment: bool, max_output: u64) -> Self {
        ArchiveReader {
            tar: BufReader::with_capacity(TAR_BUFFER, Members::new(input, fragment, max_output)),
            opts,
            pos: 0,
            phase: Phase::Entries,
            fragment,
            seen: SeenPaths::new(),
            path: String::new(),
            kind: EntryKind::Other,
            data: Vec::new(),
            data_size: 0,
            last_path: None,
        }
    }

    /// Compressed bytes consumed from the input so far.
    pub fn compressed_bytes(&self) -> u64 {
        self.tar.get_ref().consumed()
    }

    /// Uncompressed (tar) bytes produced so far.
    pub fn uncompressed_bytes(&self) -> u64 {
        self.tar.get_ref().produced()
    }

    /// gzip members started so far.
    pub fn gzip_members(&self) -> u64 {
        self.tar.get_ref().members()
    }

    /// Iterate the regular-file entries as owned values. The iterator stops after the first
    /// error; the end of the archive is checked before it ends.
    pub fn entries(&mut self) -> Result<Entries<'_, R>> {
        Ok(Entries { reader: self })
    }

    /// Call `f` for every regular-file entry until it breaks or the archive ends (checked).
    /// Errors of the archive are converted into `E`.
    pub fn for_each<E, F>(&mut self, mut f: F) -> std::result::Result<(), E>
    where
        E: From<Error>,
        F: FnMut(EntryRef<'_>) -> std::result::Result<ControlFlow<()>, E>,
    {
        while let Some(e) = self.next_entry()? {
            if f(e)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Read and check the rest of the archive without keeping anything: after an early stop,
    /// this verifies the remaining entries, the end-of-archive marker and every gzip trailer.
    pub fn finish(&mut self) -> Result<()> {
        while self.next_header()?.is_some() {
            self.skip_data()?;
        }
        Ok(())
    }

    /// The next regular-file entry, lent until the next call; `None` once the end was reached
    /// and checked (or after an error was returned).
    pub fn next_entry(&mut self) -> Result<Option<EntryRef<'_>>> {
        let Some(h) = self.next_header()? else {
            return Ok(None);
        };
        let duplicate = self.read_data(&h)?;
        Ok(Some(EntryRef {
            path: &self.path,
            kind: &self.kind,
            data: &self.data,
            header_offset: h.offset,
            duplicate,
        }))
    }

    /// Path of the entry whose header was read last.
    pub(crate) fn current_path(&self) -> &str {
        &self.path
    }

    /// The data read last, taken out of the reader's buffer.
    pub(crate) fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }

    /// An error of this reader: classified by the layer that failed, and the end of reading.
    fn fail(&mut self, entry: Option<String>, source: io::Error) -> Error {
        self.phase = Phase::Failed;
        match self.tar.get_ref().failure() {
            Some(Failure::Source) => Error::Read { source },
            Some(Failure::Gzip) => Error::Gzip { source },
            None => Error::Tar {
                entry: entry.map(|e| shorten(&e)),
                source,
            },
        }
    }

    fn failed(&mut self, e: Error) -> Error {
        self.phase = Phase::Failed;
        e
    }

    fn context(&self) -> Option<String> {
        self.last_path.as_ref().map(|p| format!("after {p}"))
    }

    /// Read one 512-byte block; `Ok(false)` on a clean end of input before it.
    fn block(&mut self, buf: &mut [u8; BLOCK]) -> io::Result<bool> {
        let mut got = 0;
        while got < BLOCK {
            match self.tar.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(eof_error("inside a header block")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pos += BLOCK as u64;
        Ok(true)
    }

    /// Skip `n` bytes of the tar stream.
    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let buf = self.tar.fill_buf()?;
            if buf.is_empty() {
                return Err(eof_error("inside entry data"));
            }
            let k = (buf.len() as u64).min(n) as usize;
            self.tar.consume(k);
            n -= k as u64;
            self.pos += k as u64;
        }
        Ok(())
    }

    fn padding(size: u64) -> u64 {
        (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
    }

    /// Read the data of an extension header (bounded by its caller) and its padding.
    fn read_small(&mut self, size: u64) -> io::Result<Vec<u8>> {
        let mut v = vec![0; size as usize];
        self.tar.read_exact(&mut v).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                eof_error("inside an extension header")
            } else {
                e
            }
        })?;
        self.pos += size;
        self.skip(Self::padding(size))?;
        Ok(v)
    }

    /// The end-of-archive marker was met (one zero block read): check the rest.
    fn end_of_archive(&mut self) -> io::Result<()> {
        let mut b = [0u8; BLOCK];
        if !self.fragment {
            if !self.block(&mut b)? {
                return Err(eof_error("after the first end-of-archive block"));
            }
            if b.iter().any(|&x| x != 0) {
                return Err(tar_error(format!(
                    "a zero block followed by a non-zero block at offset {}",
                    self.pos - BLOCK as u64
                )));
            }
        }
        let mut padding = 0u64;
        loop {
            let buf = self.tar.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            if buf.iter().any(|&x| x != 0) {
                return Err(tar_error("data after the end-of-archive marker"));
            }
            let n = buf.len();
            padding += n as u64;
            if padding > MAX_TRAILING_PADDING {
                return Err(tar_error(format!(
                    "more than {MAX_TRAILING_PADDING} bytes of padding after the end-of-archive marker"
                )));
            }
            self.tar.consume(n);
        }
    }

    /// The next header of a file or directory entry, extension headers applied; `None` at the
    /// (checked) end. Sets `self.path` and `self.kind`; the data is not read yet.
    pub(crate) fn next_header(&mut self) -> Result<Option<Header>> {
        loop {
            if self.phase != Phase::Entries {
                return Ok(None);
            }
            match self.header_inner() {
                Ok(HeaderStep::Entry(h)) => match h.flag {
                    b'5' => {
                        if let Err(e) = self.skip_data_of(h.size) {
                            let ctx = Some(self.path.clone());
                            return Err(self.fail(ctx, e));
                        }
                    }
                    _ => return Ok(Some(h)),
                },
                Ok(HeaderStep::End) => {
                    self.phase = Phase::Finished;
                    return Ok(None);
                }
                Err(Step::Io(e)) => {
                    let ctx = self.context();
                    return Err(self.fail(ctx, e));
                }
                Err(Step::Format(e)) => return Err(self.failed(e)),
            }
        }
    }

    fn skip_data_of(&mut self, size: u64) -> io::Result<()> {
        self.skip(size + Self::padding(size))
    }

    /// Skip the data of the entry whose header was just returned.
    pub(crate) fn skip_data(&mut self) -> Result<()> {
        let size = self.data_size;
        self.skip_data_of(size).map_err(|e| {
            let ctx = Some(self.path.clone());
            self.fail(ctx, e)
        })
    }

    /// Read the data of the entry whose header was just returned into `self.data`; returns
    /// whether the path is a duplicate.
    pub(crate) fn read_data(&mut self, h: &Header) -> Result<bool> {
        let size = h.size;
        self.data.clear();
        self.data.resize(size as usize, 0);
        let r = match self.tar.read_exact(&mut self.data) {
            Ok(()) => {
                self.pos += size;
                self.skip(Self::padding(size))
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(eof_error("inside entry data")),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            let ctx = Some(self.path.clone());
            return Err(self.fail(ctx, e));
        }
        let duplicate = !self.seen.insert(&self.path);
        if duplicate && !self.opts.allow_duplicates {
            let entry = shorten(&self.path);
            return Err(self.failed(Error::DuplicateEntry { entry }));
        }
        self.last_path = Some(shorten(&self.path));
        Ok(duplicate)
    }

    fn header_inner(&mut self) -> std::result::Result<HeaderStep, Step> {
        let mut pending = Pending::default();
        let mut b = [0u8; BLOCK];
        loop {
            let offset = self.pos;
            if !self.block(&mut b)? {
                if pending.offset.is_some() {
                    return Err(eof_error("after an extension header").into());
                }
                if self.fragment {
                    return Ok(HeaderStep::End);
                }
                return Err(eof_error("before the end-of-archive marker").into());
            }
            if b.iter().all(|&x| x == 0) {
                if pending.offset.is_some() {
                    return Err(tar_error("extension header without an entry").into());
                }
                self.end_of_archive()?;
                return Ok(HeaderStep::End);
            }
            if !checksum_ok(&b) {
                return Err(tar_error(format!("bad header checksum at offset {offset}")).into());
            }
            let flag = b[156];
            let size = parse_numeric(&b[124..136])
                .ok_or_else(|| tar_error(format!("invalid size field at offset {offset}")))?;
            match flag {
                b'x' | b'g' | b'L' | b'K' => {
                    let (kind, limit) = match flag {
                        b'x' => ("PAX extended header", MAX_EXTENSION_SIZE),
                        b'g' => ("PAX global header", MAX_EXTENSION_SIZE),
                        b'L' => ("GNU long name", MAX_PATH_LEN as u64 + 1),
                        _ => ("GNU long link name", MAX_PATH_LEN as u64 + 1),
                    };
                    if size > limit {
                        return Err(Step::Format(Error::ExtensionTooLarge {
                            kind,
                            offset,
                            size,
                            limit,
                        }));
                    }
                    pending.offset.get_or_insert(offset);
                    let data = self.read_small(size)?;
                    match flag {
                        b'x' => {
                            if std::mem::replace(&mut pending.pax_seen, true) {
                                return Err(tar_error(format!(
                                    "two PAX headers for one entry at offset {offset}"
                                ))
                                .into());
                            }
                            parse_pax(&data, &mut pending, false)?;
                        }
                        b'g' => {
                            parse_pax(&data, &mut pending, true)?;
                            if pending.long_name.is_none() && !pending.pax_seen {
                                // A global header describes no entry of its own.
                                pending.offset = None;
                            }
                        }
                        b'L' => {
                            if pending.long_name.is_some() {
                                return Err(tar_error(format!(
                                    "two GNU long names for one entry at offset {offset}"
                                ))
                                .into());
                            }
                            pending.long_name = Some(c_string(&data).to_vec());
                        }
                        _ => {} // a link's name: the link itself is refused
                    }
                    continue;
                }
                _ => {}
            }
            // A file-like entry: its path.
            let ustar = &b[257..263] == b"ustar\0";
            let raw_path: Vec<u8> = match (pending.long_name.take(), pending.pax_path.take()) {
                (Some(_), Some(_)) => {
                    return Err(tar_error(format!(
                        "entry at offset {offset} has both a GNU long name and a PAX path"
                    ))
                    .into());
                }
                (Some(p), None) | (None, Some(p)) => p,
                (None, None) => {
                    let name = c_string(&b[..100]);
                    let prefix = if ustar { c_string(&b[345..500]) } else { &[][..] };
                    if prefix.is_empty() {
                        name.to_vec()
                    } else {
                        [prefix, b"/", name].concat()
                    }
                }
            };
            let size = pending.pax_size.unwrap_or(size);
            let first_offset = pending.offset.unwrap_or(offset);
            self.set_path(&raw_path)?;
            match flag {
                b'0' | 0 | b'5' => {}
                other => {
                    return Err(Step::Format(Error::UnsupportedEntryType {
                        entry: shorten(&self.path),
                        kind: type_name(other),
                    }));
                }
            }
            if pending.sparse {
                return Err(Step::Format(Error::UnsupportedEntryType {
                    entry: shorten(&self.path),
                    kind: type_name(b'S'),
                }));
            }
            if size > self.opts.max_entry_size {
                return Err(Step::Format(Error::EntryTooLarge {
                    entry: shorten(&self.path),
                    size,
                    limit: self.opts.max_entry_size,
                }));
            }
            self.data_size = size;
            if flag != b'5' {
                self.kind = EntryKind::of(&self.path);
            }
            return Ok(HeaderStep::Entry(Header {
                offset: first_offset,
                flag: if flag == 0 { b'0' } else { flag },
                size,
            }));
        }
    }

    /// Check and store an entry's path.
    fn set_path(&mut self, raw: &[u8]) -> std::result::Result<(), Step> {
        let Ok(text) = std::str::from_utf8(raw) else {
            return Err(Step::Format(Error::UnsafePath {
                entry: shorten(&String::from_utf8_lossy(raw)),
                reason: "path is not UTF-8",
            }));
        };
        if text.len() > MAX_PATH_LEN {
            return Err(Step::Format(Error::PathTooLong {
                entry: shorten(text),
                len: text.len(),
                limit: MAX_PATH_LEN,
            }));
        }
        let clean = path::sanitize(text).map_err(Step::Format)?;
        self.path.clear();
        self.path.push_str(clean);
        Ok(())
    }
}

enum HeaderStep {
    Entry(Header),
    End,
}

/// An error while reading a header: of the stream (classified later) or of the format.
enum Step {
    Io(io::Error),
    Format(Error),
}

impl From<io::Error> for Step {
    fn from(e: io::Error) -> Self {
        Step::Io(e)
    }
}

/// Iterator over an archive's entries; see [`ArchiveReader::entries`].
pub struct Entries<'a, R: Read> {
    reader: &'a mut ArchiveReader<R>,
}

impl<R: Read> std::fmt::Debug for Entries<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries")
            .field("last_path", &self.reader.last_path)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Iterator for Entries<'_, R> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.next_entry() {
            Ok(Some(e)) => Some(Ok(e.to_entry())),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Read entries until `metadata/version` and check its major version (accepts `1` and `1.x.y`).
/// Returns the version string. Reads no further than that entry.
pub fn read_version<R: Read>(input: R) -> Result<String> {
    let mut reader = ArchiveReader::new(input);
    while let Some(entry) = reader.next_entry()? {
        if *entry.kind == EntryKind::Version {
            return path::check_version(entry.data);
        }
    }
    Err(Error::MissingVersion)
}

/// Check a `metadata/version` entry's content (accepts `1` and `1.x.y`).
pub fn check_version_entry(entry: &Entry) -> Result<String> {
    path::check_version(&entry.data)
}

/// Read a whole archive and return the one entry `matches` selects, checking everything on
/// the way (so a corrupt or truncated archive is an error even when the entry came early).
/// Entries that do not match are skipped without being buffered. Two matching entries are
/// [`Error::AmbiguousEntry`]: a caller showing an object must not pick one silently.
pub fn find_unique<R, F>(input: R, opts: ReaderOptions, mut matches: F) -> Result<Option<Entry>>
where
    R: Read,
    F: FnMut(&str, &EntryKind) -> bool,
{
    let mut reader = ArchiveReader::with_options(
        input,
        ReaderOptions {
            allow_duplicates: true,
            ..opts
        },
    );
    let mut found: Option<Entry> = None;
    while let Some(h) = reader.next_header()? {
        if h.flag == b'0' && matches(&reader.path, &reader.kind) {
            reader.read_data(&h)?;
            if let Some(first) = &found {
                return Err(Error::AmbiguousEntry {
                    first: shorten(&first.path),
                    second: shorten(&reader.path),
                });
            }
            found = Some(Entry {
                path: reader.path.clone(),
                kind: reader.kind.clone(),
                data: std::mem::take(&mut reader.data),
            });
        } else {
            reader.skip_data()?;
        }
    }
    Ok(found)
}
