//! Where a tailer starts: after its resume position (found by inode or
//! fingerprint, wherever rotation took the file), or fresh.

use super::{known, Entry, PendingGap, Tailer, MAX_RELISTS};
use crate::error::TailError;
use crate::event::GapReason;
use crate::listing::{list, ActiveState, Candidate, Listing};
use crate::position::{TailPosition, POSITION_VERSION};
use crate::source::Source;
use crate::spec::StartAt;

impl Tailer {
    /// First look at the directory: find where to start.
    pub(super) fn initialize(&mut self) -> Result<(), TailError> {
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
        // Gone. Backups go oldest first, so all that is left is newer: also
        // when the file at the path has the position's inode with other
        // content (truncated and its copy deleted — then the copy was the
        // newest backup — or the inode number reused by a later file).
        let reason = GapReason::ResumeFileGone;
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
