//! When two sightings are the same file: by inode while the tailer holds the
//! file open (an inode cannot be reused while it is open), otherwise by the
//! content's first bytes, which survive renames, gzip and copytruncate
//! copies and tell a reused inode from the file that had it.

use crate::listing::Candidate;

/// A file read to its end, remembered so that it is not read again while it
/// stays in the directory (under whatever name, compressed or not).
#[derive(Clone, Debug)]
pub(crate) struct Known {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) compressed: bool,
    pub(crate) prefix: Vec<u8>,
}

/// Whether two files start with the same bytes (over the shorter of the two
/// prefixes; an empty prefix says nothing).
pub(crate) fn same_content(a: &[u8], b: &[u8]) -> bool {
    let m = a.len().min(b.len());
    m > 0 && a[..m] == b[..m]
}

impl Known {
    /// Whether `c` is this file. Empty files have no content to compare and
    /// are matched by inode.
    pub(crate) fn is(&self, c: &Candidate) -> bool {
        if self.prefix.is_empty() || c.prefix.is_empty() {
            return !self.compressed && !c.compressed && (self.dev, self.ino) == (c.dev, c.ino);
        }
        same_content(&self.prefix, &c.prefix)
    }
}
