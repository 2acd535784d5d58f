//! One look at the active file's directory: the active file and the backups
//! the naming scheme recognises, oldest first, each with its identity
//! (device, inode) and its first bytes, from which files are recognised
//! across renames, compression and inode reuse.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;

use crate::error::TailError;
use crate::naming::{classify, OrderKey};
use crate::position::FINGERPRINT_MAX;
use crate::spec::TailSpec;

/// A file found in the directory.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) path: PathBuf,
    /// `None` for the active file itself.
    pub(crate) key: Option<OrderKey>,
    pub(crate) compressed: bool,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// Size on disk (compressed size for `.gz`).
    pub(crate) size: u64,
    pub(crate) modified: Option<SystemTime>,
    /// The first [`FINGERPRINT_MAX`] bytes of the uncompressed content (fewer
    /// if the file is shorter).
    pub(crate) prefix: Vec<u8>,
}

impl Candidate {
    pub(crate) fn is_active(&self) -> bool {
        self.key.is_none()
    }
}

/// What is at the spec's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActiveState {
    File,
    Missing,
    NotAFile,
}

/// The directory's files, oldest first, the active file (if any) last.
#[derive(Debug)]
pub(crate) struct Listing {
    pub(crate) files: Vec<Candidate>,
    pub(crate) active: ActiveState,
}

/// First bytes of `.gz` backups, which cost a decompression to learn, by
/// (dev, inode, size, mtime): a backup does not change, a reused inode does.
#[derive(Debug, Default)]
pub(crate) struct PrefixCache {
    gz: HashMap<(u64, u64, u64, i64, i64), Vec<u8>>,
}

/// The directory and file name of the active file.
pub(crate) fn split_path(path: &Path) -> (PathBuf, String) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, name)
}

/// Lists the active file and its backups.
pub(crate) fn list(spec: &TailSpec, cache: &mut PrefixCache) -> Result<Listing, TailError> {
    let (dir, active_name) = split_path(&spec.path);
    let entries = fs::read_dir(&dir).map_err(|e| TailError::io(&dir, "list directory", e))?;
    let mut files = Vec::new();
    let mut seen = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TailError::io(&dir, "list directory", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(backup) = classify(&active_name, name, spec.naming) else {
            continue;
        };
        let path = entry.path();
        let meta = match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "backup not readable; skipped");
                continue;
            }
        };
        let key = cache_key(&meta);
        let prefix = if backup.compressed {
            match cache.gz.get(&key) {
                Some(prefix) => Ok(prefix.clone()),
                None => read_prefix(&path, true),
            }
        } else {
            read_prefix(&path, false)
        };
        let prefix = match prefix {
            Ok(prefix) => prefix,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "backup not readable; skipped");
                continue;
            }
        };
        if backup.compressed {
            cache.gz.insert(key, prefix.clone());
        }
        seen.push(key);
        files.push(candidate(
            path,
            Some(backup.key),
            backup.compressed,
            &meta,
            prefix,
        ));
    }
    cache.gz.retain(|key, _| seen.contains(key));
    files.sort_by(|a, b| a.key.cmp(&b.key));

    let active = match fs::metadata(&spec.path) {
        Ok(meta) if meta.is_file() => match read_prefix(&spec.path, false) {
            Ok(prefix) => {
                files.push(candidate(spec.path.clone(), None, false, &meta, prefix));
                ActiveState::File
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => ActiveState::Missing,
            Err(e) => return Err(TailError::io(&spec.path, "open", e)),
        },
        Ok(_) => ActiveState::NotAFile,
        Err(e) if e.kind() == io::ErrorKind::NotFound => ActiveState::Missing,
        Err(e) => return Err(TailError::io(&spec.path, "stat", e)),
    };
    Ok(Listing { files, active })
}

fn cache_key(meta: &fs::Metadata) -> (u64, u64, u64, i64, i64) {
    (
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

fn candidate(
    path: PathBuf,
    key: Option<OrderKey>,
    compressed: bool,
    meta: &fs::Metadata,
    prefix: Vec<u8>,
) -> Candidate {
    Candidate {
        path,
        key,
        compressed,
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.len(),
        modified: meta.modified().ok(),
        prefix,
    }
}

/// The first [`FINGERPRINT_MAX`] bytes of a file's (uncompressed) content.
/// A `.gz` that is corrupt after its first bytes still has a prefix: what
/// decoded before the error.
pub(crate) fn read_prefix(path: &Path, compressed: bool) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    if compressed {
        read_up_to(MultiGzDecoder::new(file), FINGERPRINT_MAX, true)
    } else {
        read_up_to(file, FINGERPRINT_MAX, false)
    }
}

/// Reads up to `max` bytes; with `lenient`, a decoding error ends the read
/// with what was read so far.
pub(crate) fn read_up_to(mut reader: impl Read, max: usize, lenient: bool) -> io::Result<Vec<u8>> {
    let mut out = vec![0; max];
    let mut filled = 0;
    while filled < max {
        match reader.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if lenient && e.kind() != io::ErrorKind::PermissionDenied => break,
            Err(e) => return Err(e),
        }
    }
    out.truncate(filled);
    Ok(out)
}
