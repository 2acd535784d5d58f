//! Taking in a look at the directory: which listed files are open, read,
//! news or history, where news goes in the queue, and when backups may have
//! come and gone unseen.

use std::io;

use super::{identity, known, Class, Entry, PendingGap, Tailer, FORGET_AFTER_MISSES};
use crate::error::TailError;
use crate::event::GapReason;
use crate::identity::{maybe_copy, same_content, Known};
use crate::listing::{Candidate, Listing};
use crate::source::{Source, CHANGED};

impl Tailer {
    /// Takes in a listing. Returns false when a file changed between the
    /// listing and opening it (list again).
    pub(super) fn absorb(&mut self, listing: Listing) -> Result<bool, TailError> {
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
}
