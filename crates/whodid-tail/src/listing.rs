//! One look at the active file's directory: the active file and the backups
//! the naming scheme recognises, oldest first, each with its identity
//! (device, inode) and its first bytes, from which files are recognised
//! across renames, compression and inode reuse.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

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
    let mut attempt = 0;
    loop {
        let (listing, raced) = list_once(spec, cache)?;
        attempt += 1;
        if !raced || attempt >= MAX_READS {
            return Ok(listing);
        }
    }
}

/// One listing, and whether a file vanished while it was made (renamed
/// under it: list again, or it would be missing).
fn list_once(spec: &TailSpec, cache: &mut PrefixCache) -> Result<(Listing, bool), TailError> {
    let mut raced = false;
    // The active file first: every backup rotated from it or from an older
    // one is then already in the directory when it is read (the other
    // order misses a rotation that happens in between).
    let (active, mut active_file) = match fs::metadata(&spec.path) {
        Ok(meta) if meta.is_file() => match read_prefix(&spec.path, false) {
            Ok(prefix) => (
                ActiveState::File,
                Some(candidate(spec.path.clone(), None, false, &meta, prefix)),
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (ActiveState::Missing, None),
            Err(e) => return Err(TailError::io(&spec.path, "open", e)),
        },
        Ok(_) => (ActiveState::NotAFile, None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (ActiveState::Missing, None),
        Err(e) => return Err(TailError::io(&spec.path, "stat", e)),
    };
    let (dir, active_name) = split_path(&spec.path);
    let names = stable_names(&dir, spec)?;
    let mut files = Vec::new();
    let mut seen = Vec::new();
    for name in names {
        let Some(backup) = classify(&active_name, &name, spec.naming) else {
            continue;
        };
        let path = dir.join(&name);
        let meta = match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                raced = true;
                continue;
            }
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
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                raced = true;
                continue;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "backup not readable; skipped");
                continue;
            }
        };
        if backup.compressed {
            if prefix.is_empty() {
                // Being written (or empty): nothing to read or recognise yet.
                continue;
            }
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
    // A backup and its `.gz` (while being compressed): the plain one first.
    files.sort_by(|a, b| a.key.cmp(&b.key).then(a.compressed.cmp(&b.compressed)));
    if let Some(a) = &active_file {
        let moved = identity(&spec.path) != Some((a.dev, a.ino));
        raced |= moved;
        if moved
            || files
                .iter()
                .any(|c| !c.compressed && (c.dev, c.ino) == (a.dev, a.ino))
        {
            // Rotated while the directory was read: it is a backup now, and
            // the new active file is for the next look.
            active_file = None;
        }
    }
    let active = if active_file.is_none() && active == ActiveState::File {
        ActiveState::Missing
    } else {
        active
    };
    files.extend(active_file);
    Ok((Listing { files, active }, raced))
}

/// The directory's entries. `readdir` may miss a file renamed into the
/// directory while it runs (POSIX leaves it unspecified), so the directory
/// is read until two reads agree and the active file stayed the same.
fn stable_names(dir: &Path, spec: &TailSpec) -> Result<Vec<String>, TailError> {
    let mut last = read_names(dir)?;
    for _ in 0..MAX_READS {
        let before = identity(&spec.path);
        let names = read_names(dir)?;
        if names == last && identity(&spec.path) == before {
            break;
        }
        last = names;
    }
    Ok(last.into_iter().map(|(name, _)| name).collect())
}

/// How often a changing directory is read again.
const MAX_READS: usize = 8;

fn read_names(dir: &Path) -> Result<Vec<(String, u64)>, TailError> {
    let entries = fs::read_dir(dir).map_err(|e| TailError::io(dir, "list directory", e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TailError::io(dir, "list directory", e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push((name, entry.ino()));
        }
    }
    names.sort();
    Ok(names)
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
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
