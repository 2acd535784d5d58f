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

/// Journal records `[first, end)` of a stream that could not be read
/// (damaged bytes in a segment): not indexed, and not read again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableRange {
    /// The first record not read.
    pub first: u64,
    /// One past the last record not read.
    pub end: u64,
    /// The segment file's name.
    pub segment: String,
    /// Byte offset of the damage in the segment.
    pub offset: u64,
    /// Bytes damaged.
    pub len: u64,
    /// What is wrong there.
    pub reason: String,
    /// The records were written after this time (µs), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_after_micros: Option<u64>,
    /// The records were written before this time (µs), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_before_micros: Option<u64>,
}

impl UnreadableRange {
    /// The range as read from the journal.
    pub fn of(damage: &whodid_journal::reader::DamagedFrame) -> UnreadableRange {
        UnreadableRange {
            first: damage.first,
            end: damage.end,
            segment: damage
                .segment
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            offset: damage.offset,
            len: damage.len,
            reason: damage.reason.to_string(),
            written_after_micros: damage.written_after_micros,
            written_before_micros: damage.written_before_micros,
        }
    }

    /// Records in it.
    pub fn records(&self) -> u64 {
        self.end.saturating_sub(self.first)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    streams: BTreeMap<String, StreamState>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    unreadable: BTreeMap<String, Vec<UnreadableRange>>,
}

/// The state of every stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexState {
    /// Per stream.
    pub streams: BTreeMap<Stream, StreamState>,
    /// Per stream, the records inside `[first, next)` that could not be read
    /// from the journal, in order.
    pub unreadable: BTreeMap<Stream, Vec<UnreadableRange>>,
}

/// What a day index's commit payload says about its stream: the state at
/// that commit. `state.json` can be recovered from these.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    /// The index format version ([`STATE_VERSION`]): a payload of another
    /// (or none) is not recovered from.
    version: u32,
    first: u64,
    next: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unreadable: Vec<UnreadableRange>,
}

impl IndexState {
    /// The commit payload of a day index of `stream`: its state now.
    pub fn payload(&self, stream: Stream) -> String {
        let state = self.get(stream);
        let payload = Payload {
            version: STATE_VERSION,
            first: state.first,
            next: state.next,
            unreadable: self.unreadable(stream).to_vec(),
        };
        serde_json::to_string(&payload).unwrap_or_default()
    }

    /// Takes a day index's payload into a state being recovered: per
    /// stream, the payload of the latest commit (the largest `next`) wins.
    pub fn recover_from_payload(&mut self, stream: Stream, payload: &str) {
        let Ok(payload) = serde_json::from_str::<Payload>(payload) else {
            return;
        };
        if payload.version != STATE_VERSION {
            return;
        }
        if self
            .streams
            .get(&stream)
            .is_some_and(|s| s.next >= payload.next)
        {
            return;
        }
        self.streams.insert(
            stream,
            StreamState {
                first: payload.first,
                next: payload.next,
            },
        );
        self.unreadable.insert(stream, payload.unreadable);
    }

    /// One stream's state (empty if never indexed).
    pub fn get(&self, stream: Stream) -> StreamState {
        self.streams.get(&stream).copied().unwrap_or_default()
    }

    /// The unreadable records of a stream.
    pub fn unreadable(&self, stream: Stream) -> &[UnreadableRange] {
        self.unreadable.get(&stream).map_or(&[], Vec::as_slice)
    }

    /// Records of `[first, next)` that are indexed (not unreadable).
    pub fn indexed_records(&self, stream: Stream) -> u64 {
        let state = self.get(stream);
        let lost: u64 = self
            .unreadable(stream)
            .iter()
            .map(|r| {
                r.end
                    .min(state.next)
                    .saturating_sub(r.first.max(state.first))
            })
            .sum();
        (state.next - state.first.min(state.next)).saturating_sub(lost)
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
            return Err(IndexError::StateVersion {
                path: path.to_owned(),
                found: file.version,
                expected: STATE_VERSION,
            });
        }
        let mut streams = BTreeMap::new();
        for (name, state) in file.streams {
            let stream: Stream = name
                .parse()
                .map_err(|e: whodid_model::UnknownStream| bad(e.to_string()))?;
            streams.insert(stream, state);
        }
        let mut unreadable = BTreeMap::new();
        for (name, ranges) in file.unreadable {
            let stream: Stream = name
                .parse()
                .map_err(|e: whodid_model::UnknownStream| bad(e.to_string()))?;
            unreadable.insert(stream, ranges);
        }
        Ok(IndexState {
            streams,
            unreadable,
        })
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
            unreadable: self
                .unreadable
                .iter()
                .filter(|(_, ranges)| !ranges.is_empty())
                .map(|(s, ranges)| (s.as_str().to_owned(), ranges.clone()))
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
