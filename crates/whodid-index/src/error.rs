//! What can go wrong while indexing or opening indexes, with the facts a
//! person needs (stream, record index, path).

use std::path::PathBuf;

/// An index error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Reading the journal failed.
    #[error("reading the journal: {0}")]
    Journal(#[from] whodid_journal::JournalError),
    /// A file or directory of the index could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// tantivy failed on a day index.
    #[error("index {}: {source}", path.display())]
    Tantivy {
        /// The day index directory.
        path: PathBuf,
        /// The cause.
        source: tantivy::TantivyError,
    },
    /// A journal record whose envelope cannot be indexed.
    #[error("{stream} record {index}: cannot index its {what}")]
    BadRecord {
        /// The stream.
        stream: String,
        /// The record's journal index.
        index: u64,
        /// What is wrong.
        what: String,
    },
    /// Another process (normally `whodid serve`) holds the index writer.
    #[error("the index in {} is being written by another process{}: stop it (whodid serve keeps the index up to date itself) or try again", path.display(), pid.as_deref().map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The pid written in the lock file, when readable.
        pid: Option<String>,
    },
    /// The index state file was written by another index format version:
    /// every day index is rebuilt, none is trusted.
    #[error("{}: index format version {found}, this build's is {expected}", path.display())]
    StateVersion {
        /// The state file.
        path: PathBuf,
        /// The version it names.
        found: u32,
        /// This build's.
        expected: u32,
    },
    /// The index state file is not what this build writes.
    #[error("{}: not an index state file: {what}", path.display())]
    BadState {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

impl IndexError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
        move |source| IndexError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn tantivy(
        path: &std::path::Path,
    ) -> impl FnOnce(tantivy::TantivyError) -> IndexError + '_ {
        move |source| IndexError::Tantivy {
            path: path.to_owned(),
            source,
        }
    }
}
