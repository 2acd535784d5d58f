//! The index writer lock: only one process writes the index (the running
//! `whodid serve`, or `whodid reindex` when no server runs). Readers never
//! take it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;

use crate::error::IndexError;

/// Held while a process writes the index; released on drop.
#[derive(Debug)]
pub struct IndexLock {
    _file: File,
    path: PathBuf,
}

impl IndexLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(path: &Path) -> Result<IndexLock, IndexError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(IndexError::io(dir))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(IndexError::io(path))?;
        if file.try_lock_exclusive().is_err() {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(IndexError::Locked {
                path: path.to_owned(),
                pid: (!pid.is_empty()).then(|| pid.to_owned()),
            });
        }
        file.set_len(0).map_err(IndexError::io(path))?;
        file.seek(SeekFrom::Start(0))
            .map_err(IndexError::io(path))?;
        write!(file, "{}", std::process::id()).map_err(IndexError::io(path))?;
        Ok(IndexLock {
            _file: file,
            path: path.to_owned(),
        })
    }

    /// Whether some process holds the lock right now.
    pub fn is_held(path: &Path) -> bool {
        let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else {
            return false;
        };
        match file.try_lock_exclusive() {
            Ok(()) => {
                let _ = FileExt::unlock(&file);
                false
            }
            Err(_) => true,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
