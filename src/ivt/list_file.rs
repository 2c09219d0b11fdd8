//! Reading a list file: every list `ivt` names (bot patterns, the IAB
//! lists, networks, AS numbers, publisher statuses) is a text file read
//! whole and parsed by its owner, and a problem names the file.

use std::path::{Path, PathBuf};

/// A list file that does not load: it cannot be read, or its text does not
/// parse (`E`, the owner's error, says which line and why).
#[derive(Debug, thiserror::Error)]
pub enum ListFileError<E> {
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Bad { path: PathBuf, error: E },
}

/// The file's text.
pub(crate) fn read<E>(path: &Path) -> Result<String, ListFileError<E>> {
    std::fs::read_to_string(path).map_err(|error| ListFileError::Unreadable {
        path: path.to_path_buf(),
        error,
    })
}

/// The file read and parsed by `parse`; either error names the file.
pub(crate) fn load<T, E>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ListFileError<E>> {
    parse(&read(path)?).map_err(|error| ListFileError::Bad {
        path: path.to_path_buf(),
        error,
    })
}
