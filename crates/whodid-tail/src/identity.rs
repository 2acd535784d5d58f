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
    /// Consecutive looks at the directory that did not find it.
    pub(crate) misses: u8,
}

/// Below this many equal first bytes, two files are the same only if the
/// equal part ends a line: the first bytes of every kube-apiserver audit log
/// are the same `{"kind":"Event","apiVersion":"audit.k8s.io/v1",…` header.
pub(crate) const MATCH_MIN: usize = 512;

/// Whether two files start with the same bytes: equal over the shorter of
/// the two prefixes, which is long enough to be unique, or ends a line
/// (lines carry times and ids), or is all of both.
pub(crate) fn same_content(a: &[u8], b: &[u8]) -> bool {
    let m = a.len().min(b.len());
    m > 0 && a[..m] == b[..m] && (m >= MATCH_MIN || a[m - 1] == b'\n' || a.len() == b.len())
}

/// Whether `partial` could be the beginning of a copy of `of` still being
/// written (equal so far, but too short to tell).
pub(crate) fn maybe_copy(partial: &[u8], of: &[u8]) -> bool {
    !partial.is_empty() && partial.len() < of.len() && of.starts_with(partial)
}

impl Known {
    /// Whether `c` is this file: the same first bytes. (Inodes are reused
    /// once a file is deleted, so they say nothing about files not open.)
    pub(crate) fn is(&self, c: &Candidate) -> bool {
        same_content(&self.prefix, &c.prefix)
    }
}
