//! The journal's errors: each names the stream, file and position involved.

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;
use crate::format::FormatError;
use crate::keys::KeyError;
use crate::merkle::ProofError;

/// What went wrong in the journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// An IO error on a file of the journal.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The directory exists, is not empty, and is not a whodid data directory.
    #[error("{path} is not a whodid data directory (no WHODID marker file) and is not empty: refusing to use it")]
    NotADataDir {
        /// The directory.
        path: PathBuf,
    },
    /// The data directory was written by an unknown format version.
    #[error("{path}: data directory format {found:?} is not supported (expected {expected:?})")]
    DataDirVersion {
        /// The marker file.
        path: PathBuf,
        /// What it says.
        found: String,
        /// What this build writes.
        expected: &'static str,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is in use by another process ({holder}): only one whodid may open it")]
    Locked {
        /// The directory.
        path: PathBuf,
        /// What the lock file says about the holder.
        holder: String,
    },
    /// A key problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A segment that cannot be read at open (not a torn tail, which is repaired).
    #[error("stream {stream}, segment {path}: {source}")]
    Corrupt {
        /// The stream.
        stream: String,
        /// The segment.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
    /// A record index that does not exist.
    #[error("stream {stream} has no record {index} (records {first}..{end} exist)")]
    NoSuchRecord {
        /// The stream.
        stream: String,
        /// The index asked for.
        index: u64,
        /// The first record still kept.
        first: u64,
        /// One past the last record.
        end: u64,
    },
    /// A proof could not be built.
    #[error("proof: {0}")]
    Proof(#[from] ProofError),
    /// A checkpoint could not be read.
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: CheckpointError,
    },
    /// No signed checkpoint covers the requested size yet.
    #[error("stream {stream}: no signed checkpoint at size {size} (checkpoints: {available})")]
    NoCheckpoint {
        /// The stream.
        stream: String,
        /// The size asked for.
        size: u64,
        /// Sizes that exist.
        available: String,
    },
    /// The journal writer stopped after an earlier error; nothing more is accepted.
    #[error("journal writer stopped: {0}")]
    WriterStopped(String),
    /// A legal hold blocks retention on the stream.
    #[error("stream {0} is under legal hold: retention removes nothing")]
    LegalHold(String),
}

impl JournalError {
    /// Wraps an IO error with its path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> JournalError {
        let path = path.into();
        move |source| JournalError::Io { path, source }
    }
}
