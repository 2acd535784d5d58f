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
use crate::identity::{same_content, Known};
use crate::listing::{list, ActiveState, Candidate, Listing, PrefixCache};
use crate::position::{TailPosition, POSITION_VERSION};
use crate::source::Source;
use crate::spec::{StartAt, TailSpec};

/// A gap to report when reading reaches its place in the queue.
#[derive(Debug)]
struct PendingGap {
    file: PathBuf,
    reason: GapReason,
    unread_bytes: Option<u64>,
    written_after: Option<SystemTime>,
    written_before: Option<SystemTime>,
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
            Some(Entry::File(s)) if !s.prefix.is_empty() => Some(s.position()),
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
            self.initialize(out)?;
        } else {
            self.refresh_if_moved()?;
        }
        let max_line = self.spec.max_line_bytes;
        loop {
            let Some(front) = self.queue.front_mut() else {
                self.refresh()?;
                if self.queue.is_empty() {
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
                    self.on_truncated(out)?;
                    continue;
                }
            }
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
        }
    }

    /// The front file is read to its end and will not grow: hand out its
    /// last line, remember it as read, and go on with the next.
    fn finish_front(&mut self, out: &mut Vec<TailEvent>) {
        let Some(Entry::File(mut source)) = self.queue.pop_front() else {
            return;
        };
        source.finish(self.spec.max_line_bytes, out);
        if !source.prefix.is_empty() {
            self.last = Some(source.position());
        }
        tracing::debug!(file = %source.path.display(), lines = source.line - 1, "file read to its end");
        self.done.push(Known {
            dev: source.dev,
            ino: source.ino,
            compressed: source.compressed,
            prefix: std::mem::take(&mut source.prefix),
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
        if now != self.active_id || (now.is_none() && self.queue.is_empty()) {
            self.refresh()?;
        }
        Ok(())
    }

    /// Looks at the directory: marks which open file is still the active
    /// one, and queues (opened) every file neither open nor already read.
    fn refresh(&mut self) -> Result<(), TailError> {
        let listing = list(&self.spec, &mut self.cache)?;
        self.absorb(listing)
    }

    fn absorb(&mut self, listing: Listing) -> Result<(), TailError> {
        let active_id = listing
            .files
            .iter()
            .find(|c| c.is_active())
            .map(|c| (c.dev, c.ino));
        for entry in &mut self.queue {
            if let Entry::File(s) = entry {
                // A short prefix may have grown; an error leaves it as it was.
                let _ = s.refresh_prefix();
                s.active = !s.compressed && Some((s.dev, s.ino)) == active_id;
            }
        }
        self.active_id = active_id;
        let mut seen_done = vec![false; self.done.len()];
        for c in listing.files {
            if let Some(s) = self.held_mut(&c) {
                if !c.compressed && (s.dev, s.ino) == (c.dev, c.ino) {
                    s.path = c.path;
                }
                continue;
            }
            if let Some(i) = self.done.iter().position(|k| k.is(&c)) {
                seen_done[i] = true;
                continue;
            }
            self.enqueue(&c)?;
        }
        let mut i = 0;
        self.done.retain(|_| {
            i += 1;
            seen_done[i - 1]
        });
        Ok(())
    }

    /// The open file `c` is (by inode) or a copy of (by content).
    fn held_mut(&mut self, c: &Candidate) -> Option<&mut Source> {
        self.queue.iter_mut().find_map(|e| match e {
            Entry::File(s)
                if (!c.compressed && !s.compressed && (s.dev, s.ino) == (c.dev, c.ino))
                    || same_content(&s.prefix, &c.prefix) =>
            {
                Some(&mut **s)
            }
            _ => None,
        })
    }

    /// Opens a newly seen file and queues it: a backup before the active
    /// file (if that is still open and active), the active file last.
    fn enqueue(&mut self, c: &Candidate) -> Result<(), TailError> {
        let entry = match Source::open(c) {
            Ok(mut source) => {
                source.active = c.is_active();
                Entry::File(Box::new(source))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && c.is_active() => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Entry::Gap(PendingGap {
                file: c.path.clone(),
                reason: GapReason::BackupDeleted,
                unread_bytes: (!c.compressed).then_some(c.size),
                written_after: None,
                written_before: c.modified,
            }),
            Err(e) => return Err(TailError::io(&c.path, "open", e)),
        };
        tracing::debug!(file = %c.path.display(), "new file queued");
        let active_at = self
            .queue
            .iter()
            .position(|e| matches!(e, Entry::File(s) if s.active));
        match active_at {
            Some(i) if !c.is_active() => self.queue.insert(i, entry),
            _ => self.queue.push_back(entry),
        }
        Ok(())
    }

    /// First look at the directory: find where to start.
    fn initialize(&mut self, out: &mut Vec<TailEvent>) -> Result<(), TailError> {
        if let Some(pos) = &self.resume {
            if pos.version != POSITION_VERSION {
                return Err(TailError::PositionVersion {
                    name: pos.name.clone(),
                    found: pos.version,
                    supported: POSITION_VERSION,
                });
            }
        }
        let listing = list(&self.spec, &mut self.cache)?;
        match self.resume.clone() {
            None => self.start_fresh(listing)?,
            Some(pos) => self.resume_at(&pos, listing, out)?,
        }
        self.initialized = true;
        self.resume = None;
        Ok(())
    }

    fn start_fresh(&mut self, mut listing: Listing) -> Result<(), TailError> {
        if listing.active != ActiveState::File && self.spec.start == StartAt::ActiveFile {
            return Err(self.missing());
        }
        if self.spec.start == StartAt::ActiveFile {
            for c in listing.files.iter().filter(|c| !c.is_active()) {
                self.done.push(known(c));
            }
            listing.files.retain(Candidate::is_active);
        }
        self.absorb(listing)?;
        if self.queue.is_empty() {
            return Err(self.missing());
        }
        Ok(())
    }

    fn resume_at(
        &mut self,
        pos: &TailPosition,
        mut listing: Listing,
        out: &mut Vec<TailEvent>,
    ) -> Result<(), TailError> {
        match find_position_file(pos, &listing.files) {
            Some(i) => {
                let rest = listing.files.split_off(i + 1);
                let Some(c) = listing.files.pop() else {
                    return Err(self.missing());
                };
                self.done.extend(listing.files.iter().map(known));
                let mut source = Source::open(&c).map_err(|e| TailError::io(&c.path, "open", e))?;
                let complete = source
                    .seek_to(pos.offset, pos.line)
                    .map_err(|e| TailError::io(&c.path, "read", e))?;
                if !complete {
                    tracing::warn!(file = %c.path.display(), offset = pos.offset, "resume file shorter than the position; continuing at its end");
                }
                tracing::info!(file = %c.path.display(), offset = pos.offset, line = pos.line, "resuming");
                self.queue.push_back(Entry::File(Box::new(source)));
                self.absorb(Listing {
                    files: rest,
                    active: listing.active,
                })?;
            }
            None => {
                let truncated_in_place = pos.fingerprint.len > 0
                    && listing
                        .files
                        .iter()
                        .any(|c| c.is_active() && (c.dev, c.ino) == (pos.dev, pos.inode));
                let gap = if truncated_in_place {
                    // The file at the path is the position's, with other
                    // content: truncated, and its copy (if any) is gone.
                    for c in listing.files.iter().filter(|c| !c.is_active()) {
                        self.done.push(known(c));
                    }
                    listing.files.retain(Candidate::is_active);
                    GapReason::Truncated
                } else {
                    // Deleted; backups go oldest first, so all that is left
                    // is newer.
                    GapReason::ResumeFileGone
                };
                if listing.files.is_empty() {
                    return Err(self.missing());
                }
                self.queue.push_back(Entry::Gap(PendingGap {
                    file: pos.name.clone(),
                    reason: gap,
                    unread_bytes: None,
                    written_after: None,
                    written_before: None,
                }));
                self.absorb(listing)?;
                let _ = out;
            }
        }
        Ok(())
    }

    /// The active file was truncated in place. Its unread rest is read from
    /// a copy (copytruncate) if one is found, else reported as a gap; then
    /// it is read again from its first byte.
    fn on_truncated(&mut self, out: &mut Vec<TailEvent>) -> Result<(), TailError> {
        let listing = list(&self.spec, &mut self.cache)?;
        let Some(Entry::File(active)) = self.queue.front_mut() else {
            return Ok(());
        };
        let old_prefix = active.prefix.clone();
        let (offset, line) = (active.offset, active.line);
        let unread = active.unread_known();
        let path = active.path.clone();
        let modified = active.modified;
        let (dev, ino) = (active.dev, active.ino);
        tracing::warn!(file = %path.display(), offset, "file truncated in place");
        active
            .restart()
            .map_err(|e| TailError::io(&path, "read", e))?;
        let copy = listing
            .files
            .iter()
            .filter(|c| c.compressed || (c.dev, c.ino) != (dev, ino))
            .filter(|c| c.compressed || c.size > offset)
            .find(|c| same_content(&old_prefix, &c.prefix));
        match copy {
            Some(c) => {
                tracing::info!(file = %path.display(), copy = %c.path.display(), "reading the rest from the copy");
                let mut source = Source::open(c).map_err(|e| TailError::io(&c.path, "open", e))?;
                source.active = false;
                source
                    .seek_to(offset, line)
                    .map_err(|e| TailError::io(&c.path, "read", e))?;
                self.queue.push_front(Entry::File(Box::new(source)));
            }
            None if unread > 0 => {
                self.queue.push_front(Entry::Gap(PendingGap {
                    file: path,
                    reason: GapReason::Truncated,
                    unread_bytes: Some(unread),
                    written_after: None,
                    written_before: modified,
                }));
            }
            None => {}
        }
        let _ = out;
        Ok(())
    }
}

fn known(c: &Candidate) -> Known {
    Known {
        dev: c.dev,
        ino: c.ino,
        compressed: c.compressed,
        prefix: c.prefix.clone(),
    }
}

/// Where the position's file is in the listing: the same inode with the
/// same first bytes, else a copy with the same first bytes (a `.gz`, a
/// copytruncate copy), uncompressed and same-named ones first.
fn find_position_file(pos: &TailPosition, files: &[Candidate]) -> Option<usize> {
    let fp = &pos.fingerprint;
    let by_inode = files.iter().position(|c| {
        !c.compressed
            && (c.dev, c.ino) == (pos.dev, pos.inode)
            && c.size >= pos.offset
            && (fp.len == 0 || fp.matches(&c.prefix))
    });
    if by_inode.is_some() {
        return by_inode;
    }
    let matching: Vec<usize> = (0..files.len())
        .filter(|&i| fp.matches(&files[i].prefix))
        .filter(|&i| files[i].compressed || files[i].size >= pos.offset)
        .collect();
    matching
        .iter()
        .copied()
        .min_by_key(|&i| (files[i].compressed, files[i].path != pos.name))
}
