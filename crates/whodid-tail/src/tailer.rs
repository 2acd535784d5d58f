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
use crate::identity::{maybe_copy, same_content, Known};
use crate::listing::{list, ActiveState, Candidate, Listing, PrefixCache};
use crate::position::{TailPosition, FINGERPRINT_MAX, POSITION_VERSION};
use crate::source::{Source, CHANGED};
use crate::spec::{StartAt, TailSpec};

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
            self.check_truncation(&listing)?;
            if self.absorb(listing)? {
                return Ok(());
            }
        }
        tracing::debug!(path = %self.spec.path.display(), "directory kept changing while listed");
        Ok(())
    }

    /// Takes in a listing. Returns false when a file changed between the
    /// listing and opening it (list again).
    fn absorb(&mut self, listing: Listing) -> Result<bool, TailError> {
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
                s.listed_at = None;
            }
        }
        self.active_id = active_id;
        let newest_seen = self.newest_seen(&listing);
        let classes: Vec<Class> = listing.files.iter().map(|c| self.class_of(c)).collect();
        for (i, class) in classes.iter().enumerate() {
            if let Class::Held(q) = class {
                if let Some(Entry::File(s)) = self.queue.get_mut(*q) {
                    // Listed twice (a backup and its `.gz`): the first place.
                    s.listed_at = Some(s.listed_at.map_or(i, |l| l.min(i)));
                    let c = &listing.files[i];
                    if !c.compressed && (s.dev, s.ino) == (c.dev, c.ino) {
                        s.path = c.path.clone();
                    }
                }
            }
        }
        // Backups listed before what is read or being read are history
        // (missed by an earlier look that raced with renames), not news.
        let front = self.queue.iter().position(|e| matches!(e, Entry::File(_)));
        let started = |q: usize| matches!(self.queue.get(q), Some(Entry::File(s)) if s.line > 1);
        let horizon = classes.iter().rposition(|c| {
            matches!(c, Class::Done(_))
                || matches!(c, Class::Held(q) if Some(*q) == front && started(*q))
        });
        let mut seen_done = vec![false; self.done.len()];
        let mut history = Vec::new();
        let mut new_backups = Vec::new();
        for (i, class) in classes.into_iter().enumerate() {
            let c = &listing.files[i];
            // A copy of a file queued just before it in this listing (a
            // backup and its `.gz` while being compressed) is that file.
            let class = match class {
                Class::New => self.class_of(c),
                other => other,
            };
            match class {
                Class::Held(_) => {}
                Class::Done(d) => seen_done[d] = true,
                Class::Pending => {
                    for (d, k) in self.done.iter().enumerate() {
                        if maybe_copy(&c.prefix, &k.prefix) {
                            seen_done[d] = true;
                        }
                    }
                    tracing::debug!(file = %c.path.display(), "copy being written; looked at again later");
                }
                Class::New if !c.is_active() && horizon.is_some_and(|h| i < h) => {
                    tracing::debug!(file = %c.path.display(), "older than what was read; not read");
                    history.push(known(c));
                }
                Class::New => {
                    if !self.enqueue(c, i)? {
                        return Ok(false);
                    }
                    new_backups.push((c.dev, c.ino));
                }
            }
        }
        if !newest_seen && !new_backups.is_empty() {
            self.insert_unseen_gap(&new_backups);
        }
        // Forget files read long ago once they are gone (not at the first
        // miss: a listing can race with a rename or a compression).
        for (known, seen) in self.done.iter_mut().zip(seen_done) {
            known.misses = if seen {
                0
            } else {
                known.misses.saturating_add(1)
            };
        }
        self.done.retain(|k| k.misses < FORGET_AFTER_MISSES);
        self.done.extend(history);
        Ok(true)
    }

    /// What a listed file is to the tailer.
    fn class_of(&self, c: &Candidate) -> Class {
        let by_content = !c.is_active();
        let held = self.queue.iter().position(|e| match e {
            Entry::File(s) => {
                (!c.compressed && !s.compressed && (s.dev, s.ino) == (c.dev, c.ino))
                    || (by_content && same_content(&s.prefix, &c.prefix))
            }
            Entry::Gap(_) => false,
        });
        if let Some(q) = held {
            return Class::Held(q);
        }
        if c.is_active() {
            return Class::New;
        }
        if c.prefix.is_empty() {
            // An empty backup: nothing to read, nothing to recognise it by.
            return Class::Pending;
        }
        if let Some(d) = self.done.iter().position(|k| k.is(c)) {
            return Class::Done(d);
        }
        let open = self
            .queue
            .iter()
            .any(|e| matches!(e, Entry::File(s) if maybe_copy(&c.prefix, &s.prefix)));
        if open || self.done.iter().any(|k| maybe_copy(&c.prefix, &k.prefix)) {
            return Class::Pending;
        }
        Class::New
    }

    /// Whether the newest file known (last open, else last read) is still in
    /// the directory, under any name.
    fn newest_seen(&self, listing: &Listing) -> bool {
        let newest = self
            .queue
            .iter()
            .rev()
            .find_map(|e| match e {
                Entry::File(s) => Some(Known {
                    dev: s.dev,
                    ino: s.ino,
                    compressed: s.compressed,
                    prefix: s.prefix.clone(),
                    misses: 0,
                }),
                Entry::Gap(_) => None,
            })
            .or_else(|| self.done.last().cloned());
        // (An empty newest file compressed to an empty `.gz` cannot be
        // recognised: that reports a gap that lost nothing.)
        newest.as_ref().is_none_or(|k| {
            listing.files.iter().any(|c| {
                (!c.compressed && !k.compressed && (c.dev, c.ino) == (k.dev, k.ino))
                    || k.is(c)
                    || maybe_copy(&c.prefix, &k.prefix)
            })
        })
    }

    /// Backups may have come and gone unseen before the first of
    /// `new_backups`: a gap there.
    fn insert_unseen_gap(&mut self, new_backups: &[(u64, u64)]) {
        let at = self
            .queue
            .iter()
            .position(|e| matches!(e, Entry::File(s) if new_backups.contains(&(s.dev, s.ino))));
        if let Some(at) = at {
            let file = match &self.queue[at] {
                Entry::File(s) => s.path.clone(),
                Entry::Gap(g) => g.file.clone(),
            };
            self.queue.insert(
                at,
                Entry::Gap(PendingGap {
                    file,
                    reason: GapReason::Unseen,
                    unread_bytes: None,
                    written_after: None,
                    written_before: None,
                }),
            );
        }
    }

    /// Opens a newly seen file, listed at `listed_at`, and queues it in
    /// listing order among the open files (the active file last). Returns
    /// false when the directory changed under the listing.
    fn enqueue(&mut self, c: &Candidate, listed_at: usize) -> Result<bool, TailError> {
        let mut source = match Source::open(c) {
            Ok(source) => source,
            Err(e) if e.kind() == io::ErrorKind::Other && e.to_string() == CHANGED => {
                return Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && c.is_active() => return Ok(true),
            // Renamed, compressed or deleted since listed: look again (a
            // deletion then shows as the newest file gone, if it was).
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(TailError::io(&c.path, "open", e)),
        };
        if c.is_active() && identity(&self.spec.path) != Some((source.dev, source.ino)) {
            // Rotated between the listing and the open.
            return Ok(false);
        }
        source.active = c.is_active();
        source.listed_at = Some(listed_at);
        tracing::debug!(file = %c.path.display(), "new file queued");
        let before = self.queue.iter().position(
            |e| matches!(e, Entry::File(s) if s.listed_at.is_some_and(|l| l > listed_at)),
        );
        let entry = Entry::File(Box::new(source));
        match before {
            Some(i) => self.queue.insert(i, entry),
            None => self.queue.push_back(entry),
        }
        Ok(true)
    }

    /// First look at the directory: find where to start.
    fn initialize(&mut self) -> Result<(), TailError> {
        if let Some(pos) = &self.resume {
            if pos.version != POSITION_VERSION {
                return Err(TailError::PositionVersion {
                    name: pos.name.clone(),
                    found: pos.version,
                    supported: POSITION_VERSION,
                });
            }
        }
        let mut attempt = 0;
        loop {
            let listing = list(&self.spec, &mut self.cache)?;
            let started = match self.resume.clone() {
                None => self.start_fresh(listing),
                Some(pos) => self.resume_at(&pos, listing),
            };
            attempt += 1;
            match started {
                // The position's file was renamed or replaced between the
                // listing and opening it: list again.
                Err(TailError::NotFound { .. } | TailError::Io { .. })
                    if attempt < MAX_RELISTS && self.queue.is_empty() =>
                {
                    self.done.clear();
                    continue;
                }
                other => other?,
            }
            break;
        }
        self.initialized = true;
        self.resume = None;
        Ok(())
    }

    fn start_fresh(&mut self, listing: Listing) -> Result<(), TailError> {
        if self.spec.start == StartAt::ActiveFile {
            if listing.active != ActiveState::File {
                return Err(self.missing());
            }
            self.done
                .extend(listing.files.iter().filter(|c| !c.is_active()).map(known));
        }
        if !self.absorb(listing)? {
            self.refresh()?;
        }
        if self.queue.is_empty() && self.active_id.is_none() {
            return Err(self.missing());
        }
        Ok(())
    }

    fn resume_at(&mut self, pos: &TailPosition, listing: Listing) -> Result<(), TailError> {
        if let Some(i) = find_position_file(pos, &listing.files) {
            let c = &listing.files[i];
            let mut source = Source::open(c).map_err(|e| TailError::io(&c.path, "open", e))?;
            let complete = source
                .seek_to(pos.offset, pos.line)
                .map_err(|e| TailError::io(&c.path, "read", e))?;
            if !complete {
                tracing::warn!(file = %c.path.display(), offset = pos.offset, "resume file shorter than the position; continuing at its end");
            }
            tracing::info!(file = %c.path.display(), offset = pos.offset, line = pos.line, "resuming");
            self.done.extend(listing.files[..i].iter().map(known));
            self.queue.push_back(Entry::File(Box::new(source)));
            if !self.absorb(listing)? {
                self.refresh()?;
            }
            return Ok(());
        }
        let truncated_in_place = pos.fingerprint.len > 0
            && listing
                .files
                .iter()
                .any(|c| c.is_active() && (c.dev, c.ino) == (pos.dev, pos.inode));
        let reason = if truncated_in_place {
            // The file at the path is the position's, with other content:
            // truncated, and its copy (if any) is gone. Backups are older.
            self.done
                .extend(listing.files.iter().filter(|c| !c.is_active()).map(known));
            GapReason::Truncated
        } else {
            // Deleted; backups go oldest first, so all that is left is newer.
            GapReason::ResumeFileGone
        };
        if listing.files.is_empty() {
            self.done.clear();
            return Err(self.missing());
        }
        self.queue.push_back(Entry::Gap(PendingGap {
            file: pos.name.clone(),
            reason,
            unread_bytes: None,
            written_after: None,
            written_before: None,
        }));
        if !self.absorb(listing)? {
            self.refresh()?;
        }
        Ok(())
    }

    /// If the open active file was truncated in place: its unread rest is
    /// read from a copy (copytruncate) found in `listing`, else reported as
    /// a gap; then it is read again from its first byte. Either goes just
    /// before it in the queue, so backups rotated later come after.
    fn check_truncation(&mut self, listing: &Listing) -> Result<(), TailError> {
        let at = self
            .queue
            .iter()
            .position(|e| matches!(e, Entry::File(s) if s.active && !s.compressed));
        let Some(at) = at else { return Ok(()) };
        let Some(Entry::File(active)) = self.queue.get_mut(at) else {
            return Ok(());
        };
        let truncated = active
            .truncated()
            .map_err(|e| TailError::io(&active.path, "stat", e))?;
        if !truncated {
            return Ok(());
        }
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
        // The copy starts with all that was known of the file; if several
        // do, the newest (copytruncate's copy is the newest backup).
        let copy = listing
            .files
            .iter()
            .rev()
            .filter(|c| !c.is_active() && (c.compressed || (c.dev, c.ino) != (dev, ino)))
            .filter(|c| c.compressed || c.size >= offset)
            .find(|c| {
                same_content(&old_prefix, &c.prefix)
                    || (!old_prefix.is_empty() && c.prefix.starts_with(&old_prefix))
            });
        let entry = match copy {
            Some(c) => {
                tracing::info!(file = %path.display(), copy = %c.path.display(), "reading the rest from the copy");
                let mut source = Source::open(c).map_err(|e| TailError::io(&c.path, "open", e))?;
                source.active = false;
                source
                    .seek_to(offset, line)
                    .map_err(|e| TailError::io(&c.path, "read", e))?;
                Entry::File(Box::new(source))
            }
            None => Entry::Gap(PendingGap {
                file: path,
                reason: GapReason::Truncated,
                unread_bytes: (unread > 0).then_some(unread),
                written_after: None,
                written_before: modified,
            }),
        };
        self.queue.insert(at, entry);
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
