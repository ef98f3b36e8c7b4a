//! Opening files of a backup someone else wrote without trusting it: no symbolic link is
//! followed below a folder the user named, a FIFO never blocks an open, anything but a regular
//! file is refused, and reads stop at a limit.

use super::OfflineError;
use crate::error::{Error, Result};
use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

/// Flags of every open of a file inside a backup: never follow a link, never block on a FIFO.
fn file_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

/// Opens the folder `dir` (named by the user: a link to it is followed).
pub(crate) fn open_dir(dir: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", dir, e.into()))
}

/// Checks that an open descriptor is a regular file and returns it as a [`File`] with its size.
fn regular(fd: OwnedFd, path: &Path) -> Result<(File, u64)> {
    let st = rustix::fs::fstat(&fd).map_err(|e| io_err("stat", path, e.into()))?;
    let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if ft != rustix::fs::FileType::RegularFile {
        return Err(OfflineError::UnsafeFile {
            path: path.to_path_buf(),
            reason: match ft {
                rustix::fs::FileType::Directory => "is a folder, not a file",
                rustix::fs::FileType::Fifo => "is a FIFO, not a regular file (not read)",
                rustix::fs::FileType::CharacterDevice | rustix::fs::FileType::BlockDevice => {
                    "is a device, not a regular file (not read)"
                }
                rustix::fs::FileType::Socket => "is a socket, not a regular file (not read)",
                _ => "is not a regular file (not read)",
            },
        }
        .into());
    }
    // Back to blocking reads (O_NONBLOCK only kept the open of a FIFO from waiting).
    rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| io_err("open", path, e.into()))?;
    Ok((File::from(fd), st.st_size as u64))
}

/// Opens `name` in the folder `dir` (a descriptor of `dir_path`): `None` when it does not
/// exist; an error when it is a link, a FIFO, a device or a folder.
pub(crate) fn open_in(dir: &OwnedFd, dir_path: &Path, name: &str) -> Result<Option<(File, u64)>> {
    let path = dir_path.join(name);
    match rustix::fs::openat(dir, name, file_flags(), Mode::empty()) {
        Ok(fd) => regular(fd, &path).map(Some),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::MLINK) => Err(OfflineError::UnsafeFile {
            path,
            reason: "is a symbolic link (links inside a backup folder are not followed)",
        }
        .into()),
        Err(e) => Err(io_err("open", &path, e.into())),
    }
}

/// Opens a file the user named (a link to it is followed), refusing anything but a regular file.
pub(crate) fn open_named(path: &Path) -> Result<(File, u64)> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => regular(fd, path),
        Err(rustix::io::Errno::NOENT) => Err(OfflineError::PathNotFound {
            path: path.to_path_buf(),
        }
        .into()),
        Err(e) => Err(io_err("open", path, e.into())),
    }
}

/// Reads all of `input`, refusing more than `limit` bytes without holding more than
/// `limit + 1` of them.
pub(crate) fn read_limited(input: impl Read, limit: u64, document: &str, path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| io_err("read", path, e))?;
    if out.len() as u64 > limit {
        return Err(skiff_format::Error::DocumentTooLarge {
            document: document.to_owned(),
            limit,
        }
        .into());
    }
    Ok(out)
}
