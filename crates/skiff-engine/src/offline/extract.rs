//! `inspect --extract`: every item (classic copy) as `<target>/<resource>/<namespace>/<name>.<ext>`
//! (`_cluster` for cluster-scoped items), never outside the target.
//!
//! How it stays inside the target:
//! * the target itself must not be a symbolic link; every folder below it is opened relative to
//!   its parent's descriptor without following links (`openat` with `O_NOFOLLOW |
//!   O_DIRECTORY`), so a link planted in the target (`out/configmaps → /elsewhere`) is refused,
//!   not followed, and no path is ever resolved twice;
//! * a target that already holds files is refused unless `force` is set;
//! * each file is written to a temp file in its folder and renamed into place (never a half
//!   file; without `force`, the rename refuses to replace anything);
//! * on failure, what this run created is removed again, and the error says what is left.
//!
//! File names. Any valid Kubernetes name fits: a name becomes `<name>.<ext>` when that is a
//! plain file name of at most 255 bytes (no `/`, control or format characters, `~` or `\`, not
//! starting with `.` or `_`); otherwise, and whenever two names would land on the same file of
//! a case-insensitive filesystem, it becomes `<prefix>~<hash>.<ext>`: the name with unsafe
//! characters replaced by `_`, cut to fit 255 bytes, and the first 12 hex digits of the
//! SHA-256 of the full name. Resource and namespace folders follow the same rule. Names with
//! `~` never come out of the plain rule, so the two forms cannot meet. When any name was
//! changed, [`INDEX_FILE`] in the target maps each changed file back to its item.

use super::OfflineError;
use super::source::{BackupSource, scan_entries};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scope::Scope;
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use serde::Serialize;
use sha2::{Digest, Sha256};
use skiff_format::path::VersionDir;
use skiff_format::reader::{EntryKind, EntryRef, ReaderOptions};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The file mapping changed names back to items, written in the target when any name changed.
pub const INDEX_FILE: &str = "_index.json";
/// Folder of cluster-scoped items (no namespace can be spelled so: namespaces have no `_`).
pub const CLUSTER_DIR: &str = "_cluster";
/// Longest file name written, in bytes (`NAME_MAX` of Linux, macOS and Windows filesystems).
pub const MAX_FILE_NAME: usize = 255;
/// Hex digits of the name hash in a changed name.
const HASH_HEX: usize = 12;
/// Prefix of temp files (hidden; items never start with `.`).
const TEMP_PREFIX: &str = ".skiff-tmp.";

/// Output format of extracted files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractFormat {
    /// `<name>.yaml`.
    Yaml,
    /// `<name>.json` (indented).
    Json,
}

impl ExtractFormat {
    fn ext(self) -> &'static str {
        match self {
            ExtractFormat::Yaml => "yaml",
            ExtractFormat::Json => "json",
        }
    }
}

/// How to extract.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    /// File format.
    pub format: ExtractFormat,
    /// Write into a target that already holds files, replacing files of the same names.
    pub force: bool,
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtractReport {
    /// Files written.
    pub written: u64,
    /// Of those, files that replaced an existing file (only with `force`).
    pub replaced: u64,
    /// Items whose file name differs from `<name>.<ext>` (see the module documentation).
    pub renamed: u64,
    /// [`INDEX_FILE`], when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_file: Option<String>,
}

/// One changed name in [`INDEX_FILE`].
#[derive(Debug, Clone, Serialize)]
struct IndexRow {
    /// The file, relative to the target.
    file: String,
    /// The archive entry.
    entry: String,
    resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    name: String,
}

/// Extract every item (classic copy) that passes `filter` into `dir`; see the module
/// documentation for the guarantees.
pub async fn extract(
    source: &BackupSource,
    dir: &Path,
    filter: &Scope,
    opts: ExtractOptions,
    progress: &dyn Progress,
) -> Result<ExtractReport> {
    let target = Target::prepare(dir, opts.force)?;
    let x = Extractor::new(target, filter.clone(), opts);
    progress.stage("extracting", None);
    let pass = scan_entries(source, progress, ReaderOptions::default(), x, Extractor::entry).await?;
    progress.finish_stage();
    let mut x = pass.state;
    match pass.outcome.and_then(|()| x.write_index()) {
        Ok(()) => Ok(x.report),
        Err(e) => Err(x.fail(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// File names

/// Whether `raw` can be used as it is as a file name (before the extension).
fn plain_component(raw: &str) -> bool {
    !raw.is_empty()
        && raw != "."
        && raw != ".."
        && !raw.starts_with(['.', '_'])
        && !raw
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '~') || c.is_control() || super::is_invisible_format(c))
}

/// `raw` + `suffix` as one file name of at most [`MAX_FILE_NAME`] bytes: as it is when
/// `plain_component` allows it and it fits (and `force_hash` is off), else
/// `<sanitized prefix>~<hash>` + `suffix`.
pub fn component_name(raw: &str, suffix: &str, force_hash: bool) -> String {
    if !force_hash && plain_component(raw) && raw.len() + suffix.len() <= MAX_FILE_NAME {
        return format!("{raw}{suffix}");
    }
    let digest = Sha256::digest(raw.as_bytes());
    let hash = digest.iter().take(HASH_HEX / 2).fold(String::new(), |mut h, b| {
        let _ = write!(h, "{b:02x}");
        h
    });
    let room = MAX_FILE_NAME - suffix.len() - 1 - HASH_HEX;
    let mut prefix: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':') {
                c
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    if prefix.starts_with('.') {
        prefix.replace_range(..1, "_");
    }
    format!("{prefix}~{hash}{suffix}")
}

/// The key under which a case-insensitive filesystem stores a name.
fn fold(s: &str) -> String {
    skiff_format::path::fold_key(s)
}

// ---------------------------------------------------------------------------------------------
// The target folder

fn io_err(op: &'static str, path: &Path, e: impl Into<std::io::Error>) -> Error {
    Error::Io {
        op,
        path: path.display().to_string(),
        source: e.into(),
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The target folder: opened without following a link, created on the first write when it
/// does not exist.
struct Target {
    path: PathBuf,
    fd: Option<OwnedFd>,
    /// The folder did not exist: this run creates it (and removes it on failure).
    create: bool,
    force: bool,
}

impl Target {
    /// Check the target before anything is read: not a link, a folder (or absent), and empty
    /// unless `force`.
    fn prepare(path: &Path, force: bool) -> Result<Self> {
        let refuse = |reason| -> Error {
            OfflineError::ExtractTarget {
                path: path.to_path_buf(),
                reason,
            }
            .into()
        };
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target {
                path: path.to_path_buf(),
                fd: None,
                create: true,
                force,
            }),
            Err(e) => Err(io_err("stat", path, e)),
            Ok(m) if m.file_type().is_symlink() => Err(refuse("is a symbolic link (not followed)")),
            Ok(m) if !m.is_dir() => Err(refuse("exists and is not a folder")),
            Ok(_) => {
                let fd = rustix::fs::open(path, dir_flags(), Mode::empty())
                    .map_err(|e| io_err("open", path, e))?;
                if !force && !is_empty(&fd, path)? {
                    return Err(OfflineError::TargetNotEmpty {
                        path: path.to_path_buf(),
                    }
                    .into());
                }
                Ok(Target {
                    path: path.to_path_buf(),
                    fd: Some(fd),
                    create: false,
                    force,
                })
            }
        }
    }

    /// The target's descriptor, creating the folder on first use.
    fn fd(&mut self) -> Result<&OwnedFd> {
        if self.fd.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| io_err("create", parent, e))?;
            }
            std::fs::create_dir(&self.path).map_err(|e| io_err("create", &self.path, e))?;
            let fd = rustix::fs::open(&self.path, dir_flags(), Mode::empty())
                .map_err(|e| io_err("open", &self.path, e))?;
            self.fd = Some(fd);
        }
        self.fd.as_ref().ok_or_else(|| {
            io_err(
                "open",
                &self.path,
                std::io::Error::other("target folder not open"),
            )
        })
    }
}

fn is_empty(fd: &OwnedFd, path: &Path) -> Result<bool> {
    let mut dir = rustix::fs::Dir::read_from(fd).map_err(|e| io_err("read", path, e))?;
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(|e| io_err("read", path, e))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Open (creating when absent) the folder `name` inside `parent` without following a link.
/// Returns the descriptor and whether it was created.
fn open_subdir(parent: &OwnedFd, name: &str, shown: &Path) -> Result<(OwnedFd, bool)> {
    let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
        Ok(()) => true,
        Err(rustix::io::Errno::EXIST) => false,
        Err(e) => return Err(io_err("create", shown, e)),
    };
    match rustix::fs::openat(parent, name, dir_flags(), Mode::empty()) {
        Ok(fd) => Ok((fd, created)),
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::MLINK) => {
            Err(OfflineError::ExtractTarget {
                path: shown.to_path_buf(),
                reason: "is a symbolic link or a file where a folder must be (not followed)",
            }
            .into())
        }
        Err(e) => Err(io_err("open", shown, e)),
    }
}

// ---------------------------------------------------------------------------------------------
// The extraction

struct Extractor {
    target: Target,
    filter: Scope,
    format: ExtractFormat,
    report: ExtractReport,
    /// Fold key of every file written (relative path) → the entry it holds.
    written: HashMap<String, String>,
    /// (parent folder, raw name) → folder name chosen.
    dir_names: HashMap<(String, String), String>,
    /// Fold keys of the folder names chosen (relative paths).
    dir_folds: HashSet<String>,
    /// Folders this run created (relative paths).
    created_dirs: Vec<String>,
    created_dir_set: HashSet<String>,
    /// Files this run created in folders that existed before (relative paths).
    created_files: Vec<String>,
    /// The folder of the last item, open.
    last_dir: Option<(String, OwnedFd)>,
    renamed: Vec<IndexRow>,
    temp_counter: u64,
}

impl Extractor {
    fn new(target: Target, filter: Scope, opts: ExtractOptions) -> Self {
        Extractor {
            target,
            filter,
            format: opts.format,
            report: ExtractReport::default(),
            written: HashMap::new(),
            dir_names: HashMap::new(),
            dir_folds: HashSet::new(),
            created_dirs: Vec::new(),
            created_dir_set: HashSet::new(),
            created_files: Vec::new(),
            last_dir: None,
            renamed: Vec::new(),
            temp_counter: 0,
        }
    }

    fn entry(&mut self, e: EntryRef<'_>) -> Result<ControlFlow<()>> {
        if *e.kind == EntryKind::Version {
            // Refuse an archive format this reader does not know (as Velero's restore does).
            skiff_format::path::check_version(e.data)?;
            return Ok(ControlFlow::Continue(()));
        }
        let EntryKind::Item(item, VersionDir::Classic) = e.kind else {
            return Ok(ControlFlow::Continue(()));
        };
        if !self
            .filter
            .matches_entry(&item.group_resource, item.namespace.as_deref(), &item.name)
            || !super::inspect::selectors_match(&self.filter, e.data)
        {
            return Ok(ControlFlow::Continue(()));
        }
        let text = match self.format {
            ExtractFormat::Yaml => super::render::to_yaml(e.data, e.path)?,
            ExtractFormat::Json => super::render::to_json_pretty(e.data, e.path)?,
        };
        let res_dir = self.dir_name("", &item.group_resource);
        let ns_dir = match &item.namespace {
            Some(ns) => self.dir_name(&res_dir, ns),
            None => CLUSTER_DIR.to_owned(),
        };
        let folder = format!("{res_dir}/{ns_dir}");
        let ext = format!(".{}", self.format.ext());
        let mut file = component_name(&item.name, &ext, false);
        if self.written.contains_key(&fold(&format!("{folder}/{file}"))) {
            file = component_name(&item.name, &ext, true);
        }
        let rel = format!("{folder}/{file}");
        if let Some(first) = self.written.get(&fold(&rel)) {
            return Err(OfflineError::Collision {
                entry: super::escape_for_display(e.path).into_owned(),
                file: format!("{rel} (holding {})", super::escape_for_display(first)),
            }
            .into());
        }
        self.write_file(&res_dir, &ns_dir, &file, text.as_bytes(), e.path)?;
        self.written.insert(fold(&rel), e.path.to_owned());
        self.report.written += 1;
        if file != format!("{}{ext}", item.name)
            || res_dir != item.group_resource
            || item.namespace.as_ref().is_some_and(|ns| *ns != ns_dir)
        {
            self.report.renamed += 1;
            self.renamed.push(IndexRow {
                file: rel,
                entry: e.path.to_owned(),
                resource: item.group_resource.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
            });
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The folder name for `raw` inside `parent` ("" for the target): plain when possible and
    /// not folding onto another name's folder, else hashed; the same raw name always gets the
    /// same folder.
    fn dir_name(&mut self, parent: &str, raw: &str) -> String {
        let key = (parent.to_owned(), raw.to_owned());
        if let Some(n) = self.dir_names.get(&key) {
            return n.clone();
        }
        let rel = |n: &str| fold(&format!("{parent}/{n}"));
        let mut name = component_name(raw, "", false);
        if self.dir_folds.contains(&rel(&name)) {
            name = component_name(raw, "", true);
        }
        self.dir_folds.insert(rel(&name));
        self.dir_names.insert(key, name.clone());
        name
    }

    /// Open `<res>/<ns>` below the target (creating what is missing, following no link).
    fn open_folder(&mut self, res: &str, ns: &str) -> Result<()> {
        let folder = format!("{res}/{ns}");
        if self.last_dir.as_ref().is_some_and(|(f, _)| *f == folder) {
            return Ok(());
        }
        self.last_dir = None;
        let root_path = self.target.path.clone();
        let root = self.target.fd()?;
        let (res_fd, res_created) = open_subdir(root, res, &root_path.join(res))?;
        if res_created {
            self.created_dirs.push(res.to_owned());
            self.created_dir_set.insert(res.to_owned());
        }
        let (ns_fd, ns_created) = open_subdir(&res_fd, ns, &root_path.join(&folder))?;
        if ns_created {
            if !self.created_dir_set.contains(res) {
                self.created_dirs.push(folder.clone());
            }
            self.created_dir_set.insert(folder.clone());
        }
        self.last_dir = Some((folder, ns_fd));
        Ok(())
    }

    fn write_file(&mut self, res: &str, ns: &str, file: &str, data: &[u8], entry: &str) -> Result<()> {
        self.open_folder(res, ns)?;
        let folder = format!("{res}/{ns}");
        let shown = self.target.path.join(&folder).join(file);
        let force = self.target.force;
        let in_new_folder = self.created_dir_set.contains(&folder);
        self.temp_counter += 1;
        let tmp = format!("{TEMP_PREFIX}{}.{}", std::process::id(), self.temp_counter);
        let Some((_, dir)) = &self.last_dir else {
            unreachable!("open_folder sets last_dir")
        };
        let existed = write_atomically(dir, &tmp, file, data, force, &shown).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                OfflineError::Collision {
                    entry: super::escape_for_display(entry).into_owned(),
                    file: format!("{folder}/{file}"),
                }
                .into()
            }
            other => other,
        })?;
        if existed {
            self.report.replaced += 1;
        } else if !in_new_folder {
            self.created_files.push(format!("{folder}/{file}"));
        }
        Ok(())
    }

    /// Write [`INDEX_FILE`] when names changed (removing a stale one otherwise).
    fn write_index(&mut self) -> Result<()> {
        if self.renamed.is_empty() {
            if self.target.force
                && let Some(fd) = &self.target.fd
            {
                match rustix::fs::unlinkat(fd, INDEX_FILE, AtFlags::empty()) {
                    Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                    Err(e) => return Err(io_err("remove", &self.target.path.join(INDEX_FILE), e)),
                }
            }
            return Ok(());
        }
        let mut json = serde_json::to_vec_pretty(&self.renamed).map_err(|e| Error::Io {
            op: "encode",
            path: INDEX_FILE.into(),
            source: e.into(),
        })?;
        json.push(b'\n');
        let shown = self.target.path.join(INDEX_FILE);
        let force = self.target.force;
        self.temp_counter += 1;
        let tmp = format!("{TEMP_PREFIX}{}.{}", std::process::id(), self.temp_counter);
        let root = self.target.fd()?;
        write_atomically(root, &tmp, INDEX_FILE, &json, force, &shown)?;
        self.report.index_file = Some(shown.display().to_string());
        Ok(())
    }

    /// Remove what this run created and wrap `cause` with what is left.
    fn fail(mut self, cause: Error) -> Error {
        self.last_dir = None;
        let mut problems = Vec::new();
        let root = self.target.path.clone();
        if self.target.create {
            if self.target.fd.take().is_some()
                && let Err(e) = std::fs::remove_dir_all(&root)
            {
                problems.push(format!("{}: {e}", root.display()));
            }
        } else if let Some(fd) = &self.target.fd {
            for f in self.created_files.iter().rev() {
                if let Err(e) = rustix::fs::unlinkat(fd, f.as_str(), AtFlags::empty()) {
                    problems.push(format!("{f}: {e}"));
                }
            }
            for d in self.created_dirs.iter().rev() {
                if let Err(e) = std::fs::remove_dir_all(root.join(d)) {
                    problems.push(format!("{d}: {e}"));
                }
            }
        }
        let mut left = if problems.is_empty() {
            if self.target.create {
                format!("removed {} again", root.display())
            } else {
                "removed the files and folders it had created".to_owned()
            }
        } else {
            format!(
                "could not remove everything it had created ({})",
                problems.join("; ")
            )
        };
        if self.report.replaced > 0 {
            let _ = write!(
                left,
                "; {} existing files were replaced before the failure and keep their new content",
                self.report.replaced
            );
        }
        OfflineError::ExtractFailed {
            target: root,
            written: self.report.written,
            left,
            source: Box::new(cause),
        }
        .into()
    }
}

/// Write `data` to `tmp` in `dir`, then rename it to `name` (replacing an existing file only
/// when `replace`). Returns whether a file of that name existed and was replaced.
fn write_atomically(
    dir: &OwnedFd,
    tmp: &str,
    name: &str,
    data: &[u8],
    replace: bool,
    shown: &Path,
) -> Result<bool> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, tmp, flags, Mode::from_raw_mode(0o644))
        .map_err(|e| io_err("create", shown, e))?;
    let mut f = std::fs::File::from(fd);
    let unlink_tmp = || {
        let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    };
    if let Err(e) = f.write_all(data) {
        unlink_tmp();
        return Err(io_err("write", shown, e));
    }
    drop(f);
    let existed = if replace {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory => {
                unlink_tmp();
                return Err(OfflineError::ExtractTarget {
                    path: shown.to_path_buf(),
                    reason: "is a folder where a file must be written",
                }
                .into());
            }
            Ok(_) => true,
            Err(_) => false,
        }
    } else {
        false
    };
    let renamed = if replace {
        rustix::fs::renameat(dir, tmp, dir, name)
    } else {
        match rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::NOREPLACE) {
            // A filesystem without RENAME_NOREPLACE: check, then rename (the target is empty or
            // was created by this run, so nothing else writes there).
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                if rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                    Err(rustix::io::Errno::EXIST)
                } else {
                    rustix::fs::renameat(dir, tmp, dir, name)
                }
            }
            other => other,
        }
    };
    if let Err(e) = renamed {
        unlink_tmp();
        return Err(io_err("rename", shown, e));
    }
    Ok(existed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_stay_unique() {
        assert_eq!(component_name("cm-1", ".yaml", false), "cm-1.yaml");
        assert_eq!(
            component_name("system:controller:x", ".yaml", false),
            "system:controller:x.yaml"
        );
        let long = "a".repeat(253);
        let n = component_name(&long, ".yaml", false);
        assert!(n.len() <= MAX_FILE_NAME, "{}", n.len());
        assert!(
            Path::new(&n).extension().is_some_and(|e| e == "yaml") && n.contains('~'),
            "{n}"
        );
        let other = format!("{}b", "a".repeat(252));
        assert_ne!(n, component_name(&other, ".yaml", false));
        for raw in [
            "..", ".", "", "_cluster", ".hidden", "a/b", "x\u{1b}y", "t~1", "a\\b",
        ] {
            let n = component_name(raw, ".json", false);
            assert!(
                n.contains('~') && !n.contains('/') && !n.starts_with('.'),
                "{raw:?} → {n:?}"
            );
            assert!(!n.chars().any(char::is_control), "{n:?}");
        }
        assert_ne!(component_name("A", "", true), component_name("a", "", true));
    }
}
