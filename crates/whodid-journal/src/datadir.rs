//! The data directory: its marker, its lock and its layout.
//!
//! ```text
//! <data>/WHODID                      "whodid-data 1": marks the directory as whodid's
//! <data>/LOCK                        exclusive flock while a process has it open; holds the pid
//! <data>/keys/journal.key|pub        the signing key (see `keys`)
//! <data>/journal/<stream>/           one directory per stream:
//!     <first index>.seg              segments (20-digit zero-padded first record index)
//!     <first index>.leaves           32-byte leaf hashes, one per record (derived, rebuildable)
//!     checkpoints/<size>.note        signed checkpoints
//!     retention/<end>.note           signed retention records
//!     LEGAL_HOLD                     present: retention removes nothing
//! ```
//!
//! A directory that is neither empty nor marked is refused, so whodid never
//! writes into a directory that belongs to something else.
//!
//! Everything here is its owner's only: directories are created 0700 and
//! files 0600, whatever the process umask (audit records, keys and the index
//! are evidence and personal data).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use whodid_model::Stream;

use crate::error::JournalError;

/// The marker file's content.
pub const MARKER: &str = "whodid-data 1";
const MARKER_FILE: &str = "WHODID";
const LOCK_FILE: &str = "LOCK";

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of `root`.
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_owned(),
        }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the signing key lives.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// A stream's directory.
    pub fn stream_dir(&self, stream: Stream) -> PathBuf {
        self.root.join("journal").join(stream.as_str())
    }

    /// A stream's checkpoint directory.
    pub fn checkpoints_dir(&self, stream: Stream) -> PathBuf {
        self.stream_dir(stream).join("checkpoints")
    }

    /// A stream's retention-record directory.
    pub fn retention_dir(&self, stream: Stream) -> PathBuf {
        self.stream_dir(stream).join("retention")
    }

    /// The legal-hold flag file of a stream.
    pub fn legal_hold(&self, stream: Stream) -> PathBuf {
        self.stream_dir(stream).join("LEGAL_HOLD")
    }
}

/// Formats a record index or size as a file name stem.
pub fn index_name(index: u64) -> String {
    format!("{index:020}")
}

/// Checks that `root` is whodid's (or empty, and then marks it).
pub fn prepare(root: &Path, create: bool) -> Result<(), JournalError> {
    let marker = root.join(MARKER_FILE);
    match fs::read_to_string(&marker) {
        Ok(text) if text.trim() == MARKER => return Ok(()),
        Ok(text) => {
            return Err(JournalError::DataDirVersion {
                path: marker,
                found: text.trim().to_owned(),
                expected: MARKER,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(JournalError::io(&marker)(e)),
    }
    let exists = root.try_exists().map_err(JournalError::io(root))?;
    if exists {
        let mut entries = fs::read_dir(root).map_err(JournalError::io(root))?;
        if entries.next().is_some() {
            return Err(JournalError::NotADataDir {
                path: root.to_owned(),
            });
        }
    }
    if !create {
        return Err(JournalError::NotADataDir {
            path: root.to_owned(),
        });
    }
    create_private_dir(root).map_err(JournalError::io(root))?;
    let mut file = create_private(&marker).map_err(JournalError::io(&marker))?;
    file.write_all(format!("{MARKER}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(JournalError::io(&marker))?;
    sync_dir(root)
}

/// An exclusive lock on a data directory, released on drop.
#[derive(Debug)]
pub struct DirLock {
    file: File,
}

impl DirLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(root: &Path) -> Result<DirLock, JournalError> {
        let path = root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(JournalError::io(&path))?;
        if file.try_lock_exclusive().is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "unknown process".to_owned(),
                pid => format!("pid {pid}"),
            };
            return Err(JournalError::Locked {
                path: root.to_owned(),
                holder,
            });
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
            .map_err(JournalError::io(&path))?;
        Ok(DirLock { file })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// fsyncs a directory so that created, renamed and removed entries are durable.
pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(JournalError::io(dir))
}

/// Writes a file durably: temporary file, fsync, rename, fsync of the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let tmp = path.with_extension("tmp");
    let mut file = create_private(&tmp).map_err(JournalError::io(&tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(JournalError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(JournalError::io(path))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700 (before the umask).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates (or truncates) `path` for writing with mode 0600 (before the umask).
fn create_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Lists files `<20 digits>.<ext>` in `dir`, sorted by their number.
pub fn numbered_files(dir: &Path, ext: &str) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JournalError::io(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(JournalError::io(dir))?.path();
        if path.extension().is_none_or(|e| e != ext) {
            continue;
        }
        let Some(number) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((number, path));
    }
    found.sort();
    Ok(found)
}
