//! Every file the edge and its commands create goes through here, so no
//! planted link can redirect a write and no reader sees half a file.
//!
//! Invariants:
//! - A file is created with `O_CREAT | O_EXCL | O_NOFOLLOW`: if anything,
//!   a symbolic link included, already has its name, nothing is written
//!   through it. The edge's default pid file is under `/tmp`, where anyone
//!   can plant `clickedge.pid.tmp -> /etc/passwd`.
//! - A file that is appended to or locked is opened with `O_NOFOLLOW` and
//!   must be a regular file.
//! - A file replaced whole ([`replace_whole`], [`Replacement`]) is written
//!   under a fresh hidden name in the same directory, synced, renamed over
//!   the old one, and the directory is synced: after a crash the old file
//!   or the new one is there, never a part, and the rename itself is on
//!   disk. `rename` replaces a link at the destination, never its target.
//!
//! - A file made whole under a hidden name and then named
//!   ([`publish_new`]: a spool segment) never replaces a file of that name,
//!   and its directory is synced once it has the name.
//!
//! Costs: one `fsync` of the file and one of its directory per
//! replacement; nothing here is on the request path.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A write that failed, with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub(crate) struct FileError {
    pub path: PathBuf,
    /// Why; said in the message, so not also a `source` (a chain printed
    /// whole would say it twice).
    pub error: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |error| FileError {
        path: path.to_path_buf(),
        error,
    }
}

/// Creates `path`, which must not exist (not even as a dangling link),
/// for writing, with `mode` (less the umask).
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    new_file(path, mode, false)
}

/// [`create_new`], for appending (a spool segment in the making).
pub(crate) fn create_new_append(path: &Path, mode: u32) -> io::Result<File> {
    new_file(path, mode, true)
}

fn new_file(path: &Path, mode: u32, append: bool) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .append(append)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Gives a file made under a hidden name in the same directory (with
/// [`create_new`]) its name, never replacing a file that has it: a hard
/// link, then the hidden name removed; on a file system without hard links
/// (vfat, some FUSE), a rename, so the caller's names must be unique. The
/// directory is synced either way, so the name is on disk.
pub(crate) fn publish_new(hidden: &Path, path: &Path) -> io::Result<()> {
    match std::fs::hard_link(hidden, path) {
        Ok(()) => std::fs::remove_file(hidden)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(hidden);
            return Err(e);
        }
        Err(_) => std::fs::rename(hidden, path)?,
    }
    sync_dir(path.parent().unwrap_or(Path::new("")))
}

/// Opens `path` for appending (and locking), creating it if missing; a
/// link or anything but a regular file there is refused.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Syncs a directory, so the names created, renamed or removed in it are
/// on disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` and replaces whatever was there (creating the
/// directory), as the module doc says.
pub(crate) fn replace_whole(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(at(dir))?;
    }
    let mut r = Replacement::new(path)?;
    r.file().write_all(bytes).map_err(at(path))?;
    r.commit()
}

/// A file being written to replace `path` when committed; dropped
/// uncommitted, it is removed and `path` is left as it was.
pub(crate) struct Replacement {
    path: PathBuf,
    tmp: PathBuf,
    file: File,
    committed: bool,
}

impl Replacement {
    /// Creates the hidden file beside `path` (its directory must exist).
    pub(crate) fn new(path: &Path) -> Result<Replacement, FileError> {
        let dir = path.parent().unwrap_or(Path::new(""));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Fresh for this process; a name left by a crashed process that had
        // the same pid is skipped, never opened.
        let mut n = 0u32;
        loop {
            let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
            match create_new(&tmp, 0o644) {
                Ok(file) => {
                    return Ok(Replacement {
                        path: path.to_path_buf(),
                        tmp,
                        file,
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(at(&tmp)(e)),
            }
        }
    }

    /// The file to write the new contents to.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Syncs the new file, renames it over `path` and syncs the directory.
    pub(crate) fn commit(mut self) -> Result<(), FileError> {
        self.file.sync_all().map_err(at(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(at(&self.path))?;
        self.committed = true;
        let dir = self.path.parent().unwrap_or(Path::new(""));
        sync_dir(dir).map_err(at(dir))
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_link_at_the_temporary_name_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let path = dir.path().join("clickedge.pid");
        // Every name a replacement could pick for this process, and the
        // old fixed one, point at the precious file.
        for n in 0..3 {
            let tmp = dir
                .path()
                .join(format!(".clickedge.pid.{}-{n}.tmp", std::process::id()));
            std::os::unix::fs::symlink(&target, tmp).unwrap();
        }
        std::os::unix::fs::symlink(&target, path.with_extension("pid.tmp")).unwrap();
        replace_whole(&path, b"123\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "123\n");
    }

    #[test]
    fn a_link_at_the_destination_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let path = dir.path().join("state.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        replace_whole(&path, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
    }

    #[test]
    fn appending_or_creating_through_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_append(&link).is_err());
        assert!(create_new(&link, 0o644).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }

    #[test]
    fn publishing_never_replaces_a_file_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.ndjson");
        std::fs::write(&path, "theirs").unwrap();
        let hidden = dir.path().join(".seg.ndjson.new");
        create_new_append(&hidden, 0o644)
            .unwrap()
            .write_all(b"ours")
            .unwrap();
        let e = publish_new(&hidden, &path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        assert!(!hidden.exists());
        let other = dir.path().join("other.ndjson");
        create_new_append(&hidden, 0o644).unwrap();
        publish_new(&hidden, &other).unwrap();
        assert!(other.exists() && !hidden.exists());
    }

    #[test]
    fn an_uncommitted_replacement_leaves_the_old_file_and_no_litter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "old").unwrap();
        let mut r = Replacement::new(&path).unwrap();
        r.file().write_all(b"new").unwrap();
        drop(r);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
