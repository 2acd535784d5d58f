//! The resumable position the caller persists once the lines before it are
//! durable: which file (identity that survives renames and compression) and
//! where in its uncompressed content the next unread line starts.
//!
//! **API boundary:** callers store this (serde); field names and `version`
//! are the stored format.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format version of [`TailPosition`] this build writes and reads.
pub const POSITION_VERSION: u32 = 1;

/// How many bytes at most a file's fingerprint covers.
pub const FINGERPRINT_MAX: usize = 4096;

/// SHA-256 of a file's first bytes (at most [`FINGERPRINT_MAX`]), so a copy
/// of the file under another inode (a `.gz` backup, a copytruncate copy) is
/// recognised, and a reused inode with other content is not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Lowercase hex SHA-256 of the first `len` bytes of the uncompressed
    /// content.
    pub sha256: String,
    /// How many bytes the hash covers; 0 for an empty file (then only the
    /// inode identifies it).
    pub len: u64,
}

impl Fingerprint {
    /// The fingerprint of `prefix` (the caller passes at most
    /// [`FINGERPRINT_MAX`] bytes).
    pub fn of(prefix: &[u8]) -> Fingerprint {
        let digest = Sha256::digest(prefix);
        let mut sha256 = String::with_capacity(64);
        for byte in digest {
            sha256.push(char::from(HEX[usize::from(byte >> 4)]));
            sha256.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Fingerprint {
            sha256,
            len: prefix.len() as u64,
        }
    }

    /// Whether a file whose first bytes are `prefix` (up to
    /// [`FINGERPRINT_MAX`]) has this fingerprint. An empty fingerprint
    /// matches nothing: it identifies no content.
    pub fn matches(&self, prefix: &[u8]) -> bool {
        let Ok(len) = usize::try_from(self.len) else {
            return false;
        };
        len > 0 && prefix.len() >= len && Fingerprint::of(&prefix[..len]) == *self
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Where the next unread line is: the file's identity, the name it had, and
/// the byte offset (in uncompressed content) and number of that line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailPosition {
    /// [`POSITION_VERSION`] when written.
    pub version: u32,
    /// Device of the file when the position was made.
    pub dev: u64,
    /// Inode of the file when the position was made (a `.gz` copy has
    /// another; the fingerprint finds it).
    pub inode: u64,
    /// The file's first bytes.
    pub fingerprint: Fingerprint,
    /// The file's path when the position was made (informative, and
    /// preferred when several files match).
    pub name: PathBuf,
    /// Byte offset of the next unread byte in the uncompressed content.
    pub offset: u64,
    /// 1-based number of the next unread line.
    pub line: u64,
}
