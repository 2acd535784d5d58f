//! Errors of a poll: each names the path concerned. None of them poisons
//! the tailer; the next poll tries again.

use std::io;
use std::path::PathBuf;

/// Why a poll could not read.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The active file does not exist (yet, or in the instant between a
    /// rotation's rename and the new file's creation) and nothing else is
    /// left to read.
    #[error("{path}: no such file (yet); waiting for it")]
    NotFound {
        /// The spec's path.
        path: PathBuf,
    },
    /// The path exists but is not a regular file (a directory, a socket).
    #[error("{path}: not a regular file")]
    NotAFile {
        /// The spec's path.
        path: PathBuf,
    },
    /// The file or its directory may not be read.
    #[error("{path}: permission denied")]
    PermissionDenied {
        /// The file or directory.
        path: PathBuf,
    },
    /// Any other IO error, with the operation that failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("read", "open", "list directory", …).
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The resume position was written by a build with another format.
    #[error("resume position for {name} has format version {found}; this build reads version {supported}")]
    PositionVersion {
        /// The position's file name.
        name: PathBuf,
        /// Its version.
        found: u32,
        /// [`POSITION_VERSION`](crate::POSITION_VERSION).
        supported: u32,
    },
}

impl TailError {
    /// The error for `source` while doing `op` on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> TailError {
        let path = path.into();
        match source.kind() {
            io::ErrorKind::NotFound => TailError::NotFound { path },
            io::ErrorKind::PermissionDenied => TailError::PermissionDenied { path },
            _ => TailError::Io { path, op, source },
        }
    }
}
