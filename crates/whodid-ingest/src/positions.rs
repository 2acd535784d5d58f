//! Where each file source is, persisted with the journal.
//!
//! A tailer's position is saved only after the records read before it are
//! durable (`DATA/ingest/positions/<source>.json`, written to a temporary
//! file, fsynced and renamed). A crash between the journal's fsync and the
//! save would make the tailer read those lines again, so the last record of
//! every batch also carries the position in its envelope (`origin`): at
//! start, [`resume_position`] takes the newer of the saved position and the
//! last one found in the journal after it. No line is lost or stored twice.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use whodid_journal::reader::{Entry, JournalReader};
use whodid_journal::JournalError;
use whodid_model::{Envelope, Stream};

/// Reading or writing a position failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PositionError {
    /// IO on the position file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a saved position.
    #[error("{path}: not a saved position: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        message: String,
    },
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A saved position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPosition {
    /// Format version (1).
    pub version: u32,
    /// The source's name.
    pub source: String,
    /// The tailer's position (opaque here).
    pub position: serde_json::Value,
    /// The stream's journal end when it was saved: records after it may
    /// carry a newer position.
    pub journal_end: u64,
}

/// The position files of a data directory.
#[derive(Debug, Clone)]
pub struct PositionStore {
    dir: PathBuf,
}

impl PositionStore {
    /// The store under `data_dir`.
    pub fn new(data_dir: &Path) -> PositionStore {
        PositionStore {
            dir: data_dir.join("ingest").join("positions"),
        }
    }

    fn path(&self, source: &str) -> PathBuf {
        let safe: String = source
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    /// The saved position of `source`, if any.
    pub fn load(&self, source: &str) -> Result<Option<SavedPosition>, PositionError> {
        let path = self.path(source);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PositionError::Io { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| PositionError::Malformed {
                path,
                message: e.to_string(),
            })
    }

    /// Saves durably.
    pub fn save(&self, saved: &SavedPosition) -> Result<(), PositionError> {
        let path = self.path(&saved.source);
        let io = |source| PositionError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        let tmp = path.with_extension("json.tmp");
        let mut file = fs::File::create(&tmp).map_err(io)?;
        let bytes = serde_json::to_vec(saved).unwrap_or_default();
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

/// Where `source` must continue: the newest of its saved position and the
/// positions carried by its records in `stream` after it.
pub fn resume_position(
    store: &PositionStore,
    reader: &JournalReader,
    stream: Stream,
    source: &str,
) -> Result<Option<serde_json::Value>, PositionError> {
    let saved = store.load(source)?;
    let (first, end) = reader.bounds(stream)?;
    let from = saved.as_ref().map_or(first, |s| s.journal_end.max(first));
    let mut position = saved.map(|s| s.position);
    if from < end {
        let mut records = reader.iter_from(stream, from)?;
        while let Some(entry) = records.next_entry() {
            let record = match entry? {
                Entry::Record(record) => record,
                // A position carried by a damaged record is lost: the
                // source resumes from an older one (lines read again)
                // rather than not at all.
                Entry::Damaged(damage) => {
                    tracing::warn!(%damage, source, "resume position: damaged journal records skipped");
                    continue;
                }
            };
            let Ok(envelope) = Envelope::from_json(&record.envelope) else {
                continue;
            };
            if let Some(origin) = envelope.origin {
                if origin.source == source {
                    position = Some(origin.after);
                }
            }
        }
    }
    Ok(position)
}
