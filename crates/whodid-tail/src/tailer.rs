//! The tailer: which file to read next and when a file is finished. It keeps
//! a queue of open files — the one being read, then every newer backup seen,
//! then the active file — so a backup seen once is read even if it is
//! deleted before its turn (the open handle keeps its data), and a
//! remembered set of files already read, so they are not read twice under a
//! new name or as a `.gz`.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::TailError;
use crate::event::{GapReason, PollOutcome, TailEvent};
use crate::identity::Known;
use crate::listing::{list, Candidate, PrefixCache};
use crate::position::{TailPosition, FINGERPRINT_MAX};
use crate::source::Source;
use crate::spec::TailSpec;

mod directory;
mod resume;
mod truncation;

/// How often a directory is listed again when files change while it is.
const MAX_RELISTS: usize = 5;

/// After how many listings without it a file read to its end is forgotten.
const FORGET_AFTER_MISSES: u8 = 16;

/// A gap to report when reading reaches its place in the queue.
#[derive(Debug)]
struct PendingGap {
    file: PathBuf,
    reason: GapReason,
    unread_bytes: Option<u64>,
    written_after: Option<SystemTime>,
    written_before: Option<SystemTime>,
}

/// What a listed file is to the tailer.
#[derive(Clone, Copy, Debug)]
enum Class {
    /// Open (queue index): itself, or a copy of it.
    Held(usize),
    /// Read to its end (index in `done`).
    Done(usize),
    /// Perhaps a copy of a known file, still being written.
    Pending,
    /// Not seen before.
    New,
}

#[derive(Debug)]
enum Entry {
    File(Box<Source>),
    Gap(PendingGap),
}

/// Tails one file and its rotated backups; see the crate documentation.
#[derive(Debug)]
pub struct Tailer {
    spec: TailSpec,
    /// The position given at creation, until the first successful look at
    /// the directory.
    resume: Option<TailPosition>,
    initialized: bool,
    queue: VecDeque<Entry>,
    done: Vec<Known>,
    /// The position after the last event handed out (or the resume
    /// position), for when the queue's front has no content to identify.
    last: Option<TailPosition>,
    /// (dev, inode) at the spec's path when last looked at.
    active_id: Option<(u64, u64)>,
    cache: PrefixCache,
}

impl Tailer {
    /// A tailer for `spec`, continuing after `resume` (a position handed out
    /// by an earlier tailer for the same spec) or, without it, where
    /// `spec.start` says. Touches no file until the first poll.
    pub fn new(spec: TailSpec, resume: Option<TailPosition>) -> Tailer {
        Tailer {
            spec,
            last: resume.clone(),
            resume,
            initialized: false,
            queue: VecDeque::new(),
            done: Vec::new(),
            active_id: None,
            cache: PrefixCache::default(),
        }
    }

    /// The spec this tailer follows.
    pub fn spec(&self) -> &TailSpec {
        &self.spec
    }

    /// The position after the last event handed out: persist it once those
    /// events are durable. After a file was read to its end this already
    /// points at the start of the next one (when that has content), so a
    /// restart does not depend on the finished file still existing.
    pub fn position(&self) -> Option<TailPosition> {
        self.front_position().or_else(|| self.last.clone())
    }

    fn front_position(&self) -> Option<TailPosition> {
        match self.queue.front() {
            Some(Entry::File(s)) if s.identifiable() => Some(s.position()),
            _ => None,
        }
    }

    /// Reads what is available now, about `budget` bytes at most, without
    /// blocking: first the unread rest of rotated files, oldest first, then
    /// the active file. Appends events to `out`.
    ///
    /// On `Err`, nothing was appended and the tailer is unchanged apart from
    /// what it learnt of the directory; poll again later (the error names the
    /// path: not there yet, a directory, permission denied, …). A problem met
    /// after some events were appended is reported by the next poll.
    pub fn poll(
        &mut self,
        budget: usize,
        out: &mut Vec<TailEvent>,
    ) -> Result<PollOutcome, TailError> {
        let before = out.len();
        let mut bytes = 0;
        let result = self.poll_inner(budget.max(1) as u64, &mut bytes, out);
        if let Some(p) = self.front_position() {
            self.last = Some(p);
        }
        match result {
            Ok(caught_up) => Ok(PollOutcome {
                bytes_read: bytes,
                caught_up,
            }),
            Err(e) if out.len() > before => {
                tracing::debug!(error = %e, "poll stopped early; events so far handed out");
                Ok(PollOutcome {
                    bytes_read: bytes,
                    caught_up: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    fn poll_inner(
        &mut self,
        budget: u64,
        bytes: &mut u64,
        out: &mut Vec<TailEvent>,
    ) -> Result<bool, TailError> {
        if !self.initialized {
            self.initialize()?;
        } else {
            self.refresh_if_moved()?;
        }
        let max_line = self.spec.max_line_bytes;
        loop {
            let Some(front) = self.queue.front_mut() else {
                self.refresh()?;
                if self.queue.is_empty() {
                    if self.active_id.is_some() {
                        // The active file is there, empty.
                        return Ok(true);
                    }
                    return Err(self.missing());
                }
                continue;
            };
            let source = match front {
                Entry::Gap(_) => {
                    if let Some(Entry::Gap(gap)) = self.queue.pop_front() {
                        self.emit_gap(gap, out);
                    }
                    continue;
                }
                Entry::File(source) => source,
            };
            if source.active && !source.compressed {
                let truncated = source
                    .truncated()
                    .map_err(|e| TailError::io(&source.path, "stat", e))?;
                if truncated {
                    // Looking at the directory handles it (the copy is there).
                    self.refresh()?;
                    continue;
                }
            }
            if source.active && source.unverified() {
                // Content appeared in a file seen empty: it may have been
                // filled and copytruncated since; a look at the directory
                // first (a copy then comes before it).
                source.refresh_prefix_now();
                self.refresh()?;
                continue;
            }
            let events_before = out.len();
            let line_start = (source.offset, source.line);
            let (n, eof) = match source.read_lines(budget - *bytes, max_line, out) {
                Ok(r) => r,
                Err(e) if source.compressed => {
                    tracing::error!(file = %source.path.display(), error = %e, "gzip data unreadable; rest of file skipped");
                    source.abandon();
                    let gap = PendingGap {
                        file: source.path.clone(),
                        reason: GapReason::Unreadable,
                        unread_bytes: None,
                        written_after: None,
                        written_before: source.modified,
                    };
                    self.finish_front(out);
                    self.queue.push_front(Entry::Gap(gap));
                    continue;
                }
                Err(e) => return Err(TailError::io(&source.path, "read", e)),
            };
            *bytes += n;
            if source.active && !source.compressed {
                let truncated = source
                    .truncated()
                    .map_err(|e| TailError::io(&source.path, "stat", e))?;
                if truncated {
                    // Truncated while being read: what was just read may be
                    // the new content at the old offset. Take it back; the
                    // copy (if any) has the old content from `line_start`.
                    out.truncate(events_before);
                    source.rewind(line_start.0, line_start.1);
                    self.refresh()?;
                    continue;
                }
            }
            if !eof {
                return Ok(false);
            }
            if source.active {
                self.refresh_if_moved()?;
                if matches!(self.queue.front(), Some(Entry::File(s)) if s.active) {
                    return Ok(true);
                }
                // Rotated away while being read: read it to its end.
                continue;
            }
            self.finish_front(out);
            // Look again before the next file: rotations go on meanwhile.
            self.refresh_if_moved()?;
        }
    }

    /// The front file is read to its end and will not grow: hand out its
    /// last line, remember it as read, and go on with the next.
    fn finish_front(&mut self, out: &mut Vec<TailEvent>) {
        let Some(Entry::File(mut source)) = self.queue.pop_front() else {
            return;
        };
        source.finish(self.spec.max_line_bytes, out);
        // Remember all of its first bytes (an error keeps what is known).
        let _ = source.refresh_prefix();
        if source.identifiable() {
            self.last = Some(source.position());
        }
        tracing::debug!(file = %source.path.display(), lines = source.line - 1, "file read to its end");
        if source.prefix.is_empty() {
            // Nothing to recognise it by (and nothing was read from it).
            return;
        }
        self.done.push(Known {
            dev: source.dev,
            ino: source.ino,
            compressed: source.compressed,
            prefix: std::mem::take(&mut source.prefix),
            misses: 0,
        });
    }

    fn emit_gap(&mut self, gap: PendingGap, out: &mut Vec<TailEvent>) {
        tracing::error!(file = %gap.file.display(), reason = ?gap.reason, unread_bytes = ?gap.unread_bytes, "audit data lost before it could be read");
        let after = self.position();
        out.push(TailEvent::Gap {
            file: gap.file,
            reason: gap.reason,
            unread_bytes: gap.unread_bytes,
            written_after: gap.written_after,
            written_before: gap.written_before,
            after,
        });
    }

    /// The error for "nothing to read": what is at the path.
    fn missing(&self) -> TailError {
        match fs::metadata(&self.spec.path) {
            Ok(meta) if !meta.is_file() => TailError::NotAFile {
                path: self.spec.path.clone(),
            },
            Ok(_) => TailError::NotFound {
                path: self.spec.path.clone(),
            },
            Err(e) => TailError::io(&self.spec.path, "stat", e),
        }
    }

    /// Looks at the directory again if another file is at the path than at
    /// the last look (a rotation, or the file appeared).
    fn refresh_if_moved(&mut self) -> Result<(), TailError> {
        let now = match fs::metadata(&self.spec.path) {
            Ok(meta) if meta.is_file() => Some((meta.dev(), meta.ino())),
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(TailError::io(&self.spec.path, "stat", e)),
        };
        // While the active file is shorter than a fingerprint, a copytruncate
        // of content never seen would go unnoticed at the path itself; the
        // copy shows in the directory.
        let short = self
            .queue
            .iter()
            .any(|e| matches!(e, Entry::File(s) if s.active && s.prefix.len() < FINGERPRINT_MAX));
        if now != self.active_id || self.queue.is_empty() || short {
            self.refresh()?;
        }
        Ok(())
    }

    /// Looks at the directory: marks which open file is still the active
    /// one, and queues (opened) every file neither open nor already read.
    fn refresh(&mut self) -> Result<(), TailError> {
        for _ in 0..MAX_RELISTS {
            let listing = list(&self.spec, &mut self.cache)?;
            if !self.check_truncation(&listing)? {
                continue;
            }
            if self.absorb(listing)? {
                return Ok(());
            }
        }
        tracing::debug!(path = %self.spec.path.display(), "directory kept changing while listed");
        Ok(())
    }
}

/// (dev, inode) of the file at `path`, if it is one.
fn identity(path: &std::path::Path) -> Option<(u64, u64)> {
    fs::metadata(path)
        .ok()
        .filter(fs::Metadata::is_file)
        .map(|m| (m.dev(), m.ino()))
}

fn known(c: &Candidate) -> Known {
    Known {
        dev: c.dev,
        ino: c.ino,
        compressed: c.compressed,
        prefix: c.prefix.clone(),
        misses: 0,
    }
}
