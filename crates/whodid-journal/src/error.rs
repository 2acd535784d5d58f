//! The journal's errors: each names the stream, file and position involved.

use std::path::PathBuf;
use std::sync::Arc;

use whodid_model::Stream;

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
    /// An append was refused: none of its records were acknowledged.
    #[error("stream {stream}: append refused: {source}")]
    AppendRefused {
        /// The stream.
        stream: Stream,
        /// Why (shared by every append of the refused batch).
        #[source]
        source: Arc<JournalError>,
    },
    /// An fsync failed earlier: the writer acknowledges nothing more until the
    /// journal is reopened (recovery then re-reads what really is on disk).
    #[error("journal writer stopped after an earlier failure, reopen the journal: {source}")]
    Poisoned {
        /// The first failure.
        #[source]
        source: Arc<JournalError>,
    },
    /// The data directory's file system has less free space than the
    /// configured reserve: appends are refused (like a full disk) so that
    /// checkpoints, the index and retention still have room.
    #[error("{path}: only {free} bytes free, below the reserve of {reserve} bytes (journal.min_free_bytes): not storing; free space and retry")]
    LowSpace {
        /// The data directory.
        path: PathBuf,
        /// Bytes available to whodid.
        free: u64,
        /// The configured reserve.
        reserve: u64,
    },
    /// The journal was closed.
    #[error("the journal is closed")]
    Closed,
    /// The writer thread ended without answering (it panicked).
    #[error("the journal writer thread ended unexpectedly")]
    WriterGone,
    /// On open, the records on disk do not hash to the root of the latest
    /// signed checkpoint: the journal was changed while whodid was not
    /// running, and signing new checkpoints over it would hide that.
    #[error("stream {stream}: the records on disk do not hash to the root signed at size {size} ({path}): the journal was changed; run `whodid verify`")]
    CheckpointMismatch {
        /// The stream.
        stream: Stream,
        /// The signed size.
        size: u64,
        /// The checkpoint note.
        path: PathBuf,
    },
    /// On open, a signed checkpoint covers more records than the journal
    /// holds: records were cut off while whodid was not running.
    #[error("stream {stream}: the journal holds {records} records but a signed checkpoint covers {size} ({path}): records were cut off; run `whodid verify`")]
    SignedBeyondEnd {
        /// The stream.
        stream: Stream,
        /// Records on disk (the tree size).
        records: u64,
        /// The signed size.
        size: u64,
        /// The checkpoint note.
        path: PathBuf,
    },
    /// Damage leaves the stream's Merkle tree unknown: nothing is appended
    /// to it or signed for it until an operator deals with the damage.
    #[error("stream {stream}: append refused: {reason}")]
    StreamStopped {
        /// The stream.
        stream: Stream,
        /// Why, with what was found.
        reason: String,
    },
    /// A proof built from the journal does not verify against the signed
    /// checkpoint even from the records themselves: they were changed.
    #[error("stream {stream}: no proof that verifies can be built at size {size}: {reason}; run `whodid verify`")]
    ProofDoesNotVerify {
        /// The stream.
        stream: Stream,
        /// The tree size.
        size: u64,
        /// What did not verify.
        reason: String,
    },
    /// A legal hold blocks retention on the stream.
    #[error("stream {0} is under legal hold: retention removes nothing")]
    LegalHold(String),
}

impl JournalError {
    /// True when the error comes from a full disk or quota (ENOSPC, EDQUOT,
    /// EFBIG) or free space below the reserve: the caller should answer
    /// "try later" (503), not "bad input".
    pub fn is_storage_full(&self) -> bool {
        match self {
            JournalError::LowSpace { .. } => true,
            JournalError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull
                    | std::io::ErrorKind::QuotaExceeded
                    | std::io::ErrorKind::FileTooLarge
            ),
            JournalError::AppendRefused { source, .. } | JournalError::Poisoned { source } => {
                source.is_storage_full()
            }
            _ => false,
        }
    }

    /// Wraps an IO error with its path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> JournalError {
        let path = path.into();
        move |source| JournalError::Io { path, source }
    }
}
