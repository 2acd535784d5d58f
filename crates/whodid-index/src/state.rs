//! "Indexed up to journal index N per stream": the state that makes the
//! index resumable. Written atomically (temporary file, fsync, rename) after
//! every commit of the day indexes it describes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use whodid_model::Stream;

use crate::error::IndexError;

/// The index format version, kept in the state file: an index written by
/// another version is rebuilt from the journal, never read. 2: `seq` and
/// `time` are columns only; documents stored in shape order.
const STATE_VERSION: u32 = 2;

/// What one stream's index holds: journal records `[first, next)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// The first journal index still indexed (moves up with retention).
    pub first: u64,
    /// The next journal index to index.
    pub next: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    streams: BTreeMap<String, StreamState>,
}

/// The state of every stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexState {
    /// Per stream.
    pub streams: BTreeMap<Stream, StreamState>,
}

impl IndexState {
    /// One stream's state (empty if never indexed).
    pub fn get(&self, stream: Stream) -> StreamState {
        self.streams.get(&stream).copied().unwrap_or_default()
    }

    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<IndexState, IndexError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IndexState::default()),
            Err(e) => return Err(IndexError::io(path)(e)),
        };
        let bad = |what: String| IndexError::BadState {
            path: path.to_owned(),
            what,
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if file.version != STATE_VERSION {
            return Err(bad(format!("version {}", file.version)));
        }
        let mut streams = BTreeMap::new();
        for (name, state) in file.streams {
            let stream: Stream = name
                .parse()
                .map_err(|e: whodid_model::UnknownStream| bad(e.to_string()))?;
            streams.insert(stream, state);
        }
        Ok(IndexState { streams })
    }

    /// Writes the state file atomically.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let file = StateFile {
            version: STATE_VERSION,
            streams: self
                .streams
                .iter()
                .map(|(s, st)| (s.as_str().to_owned(), *st))
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| IndexError::BadState {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
        let tmp = path.with_extension("json.tmp");
        let mut out = std::fs::File::create(&tmp).map_err(IndexError::io(&tmp))?;
        out.write_all(&text).map_err(IndexError::io(&tmp))?;
        out.sync_all().map_err(IndexError::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(IndexError::io(path))?;
        Ok(())
    }
}
