//! What to tail and how its rotated backups are named: the caller's
//! configuration, separate from the tailer's state so it can be built from a
//! config file without touching the filesystem.

use std::path::PathBuf;

/// The default longest line handed out whole (1 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How rotated copies of the active file are named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RotationNaming {
    /// Accept both schemes below.
    #[default]
    Auto,
    /// kube-apiserver's log backend (natefinch/lumberjack):
    /// `audit.log` → `audit-2026-11-22T18-29-44.518.log[.gz]`, ordered by the
    /// embedded UTC rotation time.
    Lumberjack,
    /// logrotate: `auth.log.1`, `auth.log.2.gz`, … (higher number = older)
    /// or dateext `auth.log-20261122[.gz]` (ordered by the date text).
    Logrotate,
}

/// Where a tailer without a resume position starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartAt {
    /// At the first byte of the active file; existing backups are history
    /// and are not read.
    #[default]
    ActiveFile,
    /// At the first byte of the oldest rotated backup still present, then
    /// every newer one, then the active file.
    OldestBackup,
}

/// One file source to tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailSpec {
    /// The active file's path (`/var/log/kube-apiserver/audit.log`). Its
    /// rotated backups are looked for in the same directory.
    pub path: PathBuf,
    /// Lines longer than this (without their `\n`) are not held in memory:
    /// they are streamed past and reported as
    /// [`TailEvent::LineTooLong`](crate::TailEvent::LineTooLong).
    pub max_line_bytes: usize,
    /// How backups are named.
    pub naming: RotationNaming,
    /// Where to start without a resume position.
    pub start: StartAt,
}

impl TailSpec {
    /// A spec with the defaults: 1 MiB lines, [`RotationNaming::Auto`],
    /// starting at the active file.
    pub fn new(path: impl Into<PathBuf>) -> TailSpec {
        TailSpec {
            path: path.into(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            naming: RotationNaming::Auto,
            start: StartAt::ActiveFile,
        }
    }

    /// The same spec with another line limit.
    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> TailSpec {
        self.max_line_bytes = max_line_bytes;
        self
    }

    /// The same spec with another naming scheme.
    pub fn with_naming(mut self, naming: RotationNaming) -> TailSpec {
        self.naming = naming;
        self
    }

    /// The same spec with another start for a fresh tailer.
    pub fn with_start(mut self, start: StartAt) -> TailSpec {
        self.start = start;
        self
    }
}
