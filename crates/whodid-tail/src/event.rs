//! What a poll hands out: lines, and the facts about data that could not be
//! read (gaps, over-long lines), each with the position just after it.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::position::TailPosition;

/// One thing read from the files, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailEvent {
    /// One complete line, without its `\n` (a `\r` before it is kept).
    Line {
        /// The file's path when it was read.
        file: PathBuf,
        /// 1-based line number in that file.
        line: u64,
        /// Byte offset of the line's first byte (uncompressed content).
        offset: u64,
        /// The line's bytes.
        text: Vec<u8>,
        /// The position just after this line.
        after: TailPosition,
    },
    /// Data lost before it could be read.
    Gap {
        /// The file the data was in (as last known).
        file: PathBuf,
        /// Why it is lost.
        reason: GapReason,
        /// How many bytes were lost, when known (for
        /// [`GapReason::Truncated`]: at least this many).
        unread_bytes: Option<u64>,
        /// The lost data was written after this time, when known.
        written_after: Option<SystemTime>,
        /// The lost data was written before this time, when known (the
        /// file's modification time).
        written_before: Option<SystemTime>,
        /// The position to persist once this event is handled (`None` only
        /// when no position was ever known).
        after: Option<TailPosition>,
    },
    /// A line longer than the spec's `max_line_bytes`, streamed past without
    /// being held in memory; tailing continues after it.
    LineTooLong {
        /// The file's path when it was read.
        file: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line's first byte.
        offset: u64,
        /// The line's length in bytes, without its `\n`.
        len: u64,
        /// The position just after this line.
        after: TailPosition,
    },
}

impl TailEvent {
    /// The position to persist once this event (and all before it) is
    /// durable.
    pub fn after(&self) -> Option<&TailPosition> {
        match self {
            TailEvent::Line { after, .. } | TailEvent::LineTooLong { after, .. } => Some(after),
            TailEvent::Gap { after, .. } => after.as_ref(),
        }
    }
}

/// Why data was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapReason {
    /// The resume position's file is nowhere among the active file and its
    /// backups (deleted while the tailer was not running): its unread rest,
    /// if any, is lost, and so may be backups rotated and deleted after it.
    /// The tailer cannot know whether the position was already at the
    /// file's end, so `unread_bytes` is `None`.
    ResumeFileGone,
    /// A rotated backup seen in the directory was deleted before it could be
    /// opened.
    BackupDeleted,
    /// The file was truncated in place (copytruncate, `: > file`) with bytes
    /// not yet read, and no copy of it was found.
    Truncated,
    /// The file cannot be decoded from here on (corrupt or cut gzip data);
    /// its rest is skipped.
    Unreadable,
}

/// What one [`Tailer::poll`](crate::Tailer::poll) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollOutcome {
    /// Bytes read from files (uncompressed), including bytes of lines not
    /// complete yet.
    pub bytes_read: u64,
    /// True when everything written so far has been read: poll again later.
    /// False when the budget ran out: poll again now.
    pub caught_up: bool,
}
