//! A file truncated in place (copytruncate, `: > file`): read its unread
//! rest from the copy, or report the loss.

use std::io;

use super::{Entry, PendingGap, Tailer};
use crate::error::TailError;
use crate::event::GapReason;
use crate::identity::same_content;
use crate::listing::Listing;
use crate::source::{Source, CHANGED};

impl Tailer {
    /// If the open active file was truncated in place: its unread rest is
    /// read from a copy (copytruncate) found in `listing`, else reported as
    /// a gap; then it is read again from its first byte. Either goes just
    /// before it in the queue, so backups rotated later come after. Returns
    /// false (nothing changed) when the copy moved since `listing`: list
    /// again.
    pub(super) fn check_truncation(&mut self, listing: &Listing) -> Result<bool, TailError> {
        let at = self
            .queue
            .iter()
            .position(|e| matches!(e, Entry::File(s) if s.active && !s.compressed));
        let Some(at) = at else { return Ok(true) };
        let Some(Entry::File(active)) = self.queue.get_mut(at) else {
            return Ok(true);
        };
        let truncated = active
            .truncated()
            .map_err(|e| TailError::io(&active.path, "stat", e))?;
        if !truncated {
            return Ok(true);
        }
        let old_prefix = active.prefix.clone();
        let (offset, line) = (active.offset, active.line);
        let unread = active.unread_known();
        let path = active.path.clone();
        let modified = active.modified;
        let (dev, ino) = (active.dev, active.ino);
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
                let mut source = match Source::open(c) {
                    Ok(source) => source,
                    Err(e) if e.kind() == io::ErrorKind::NotFound || e.to_string() == CHANGED => {
                        return Ok(false)
                    }
                    Err(e) => return Err(TailError::io(&c.path, "open", e)),
                };
                source.active = false;
                source
                    .seek_to(offset, line)
                    .map_err(|e| TailError::io(&c.path, "read", e))?;
                Entry::File(Box::new(source))
            }
            None => Entry::Gap(PendingGap {
                file: path.clone(),
                reason: GapReason::Truncated,
                unread_bytes: (unread > 0).then_some(unread),
                written_after: None,
                written_before: modified,
            }),
        };
        tracing::warn!(file = %path.display(), offset, "file truncated in place");
        if let Some(Entry::File(active)) = self.queue.get_mut(at) {
            active
                .restart()
                .map_err(|e| TailError::io(&path, "read", e))?;
        }
        self.queue.insert(at, entry);
        Ok(true)
    }
}
