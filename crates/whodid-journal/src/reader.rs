//! Reading a journal: records by index, iteration, checkpoints, and proofs.
//!
//! Readers take no lock and never write: they can run beside `whodid serve`.
//! A frame still being written at the end of the active segment is simply
//! not seen yet.

use std::fs;
use std::path::PathBuf;

use whodid_model::Stream;

use crate::checkpoint::{Checkpoint, Verifier};
use crate::datadir::{index_name, numbered_files, prepare, Layout};
use crate::error::JournalError;
use crate::format::{leaf_data, StoredRecord};
pub use crate::leaves::StreamLeaves;
use crate::merkle::leaf_hash;
use crate::proof::{consistency_proof, inclusion_proof};
use crate::proof_json::{hex, ConsistencyProofJson, InclusionProofJson};
use crate::record_iter::segment_end_index;
pub use crate::record_iter::{DamagedFrame, Entry, RecordIter};
use crate::segment::ScannedSegment;

/// Read access to a data directory.
#[derive(Debug, Clone)]
pub struct JournalReader {
    layout: Layout,
}

impl JournalReader {
    /// Opens `root` for reading; it must be a whodid data directory.
    pub fn open(root: &std::path::Path) -> Result<JournalReader, JournalError> {
        prepare(root, false)?;
        Ok(JournalReader {
            layout: Layout::new(root),
        })
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The segments of a stream: (first index, path).
    pub fn segments(&self, stream: Stream) -> Result<Vec<(u64, PathBuf)>, JournalError> {
        numbered_files(&self.layout.stream_dir(stream), "seg")
    }

    fn scan(&self, stream: Stream, path: &std::path::Path) -> Result<ScannedSegment, JournalError> {
        ScannedSegment::read(path)?.map_err(|source| JournalError::Corrupt {
            stream: stream.to_string(),
            path: path.to_owned(),
            source,
        })
    }

    /// The kept range `[first, end)` of a stream. The end is past the last
    /// frame that checks out: damage before it does not shorten the stream.
    pub fn bounds(&self, stream: Stream) -> Result<(u64, u64), JournalError> {
        let segments = self.segments(stream)?;
        let Some((first, _)) = segments.first() else {
            return Ok((0, 0));
        };
        let Some((named, last)) = segments.last() else {
            return Ok((0, 0));
        };
        let bytes = fs::read(last).map_err(JournalError::io(last))?;
        Ok((*first, segment_end_index(&bytes, *named)))
    }

    /// Reads one record: finds its segment and decodes only its frame.
    pub fn read(&self, stream: Stream, index: u64) -> Result<StoredRecord, JournalError> {
        let segments = self.segments(stream)?;
        let found = segments
            .iter()
            .rposition(|(first, _)| *first <= index)
            .map(|at| &segments[at].1);
        if let Some(path) = found {
            let scanned = self.scan(stream, path)?;
            if let Some(frame) = scanned.frame_of(index) {
                let records = scanned
                    .records(frame)
                    .map_err(|source| JournalError::Corrupt {
                        stream: stream.to_string(),
                        path: path.clone(),
                        source,
                    })?;
                let offset = index - frame.header.first_index;
                if let Some(record) = records.into_iter().nth(offset as usize) {
                    return Ok(record);
                }
            }
            if scanned.stop.is_some() {
                // Past damage in its segment: read on after it.
                match self.iter_from(stream, index)?.next_entry() {
                    Some(Ok(Entry::Record(record))) if record.index == index => return Ok(record),
                    Some(Ok(Entry::Damaged(damage))) if damage.first <= index => {
                        return Err(JournalError::Corrupt {
                            stream: stream.to_string(),
                            path: damage.segment,
                            source: damage.reason,
                        })
                    }
                    Some(Err(error)) => return Err(error),
                    _ => {}
                }
            }
        }
        let (first, end) = self.bounds(stream)?;
        Err(JournalError::NoSuchRecord {
            stream: stream.to_string(),
            index,
            first,
            end,
        })
    }

    /// Every record from `index` on, in order; see [`RecordIter`].
    pub fn iter_from(&self, stream: Stream, index: u64) -> Result<RecordIter, JournalError> {
        Ok(RecordIter::new(
            self.clone(),
            stream,
            self.segments(stream)?,
            index,
        ))
    }

    /// The leaf hashes of the kept records before `end`, from the sidecars.
    pub fn leaves(&self, stream: Stream, end: u64) -> Result<StreamLeaves, JournalError> {
        StreamLeaves::load(&self.layout, stream, &self.segments(stream)?, end)
    }

    /// The size of the latest signed checkpoint of a stream (0 if none).
    pub fn latest_checkpoint_size(&self, stream: Stream) -> Result<u64, JournalError> {
        Ok(
            numbered_files(&self.layout.checkpoints_dir(stream), "note")?
                .last()
                .map(|(size, _)| *size)
                .unwrap_or(0),
        )
    }

    /// The signed checkpoint notes of a stream: (size, note text).
    pub fn checkpoints(&self, stream: Stream) -> Result<Vec<(u64, String)>, JournalError> {
        let mut out = Vec::new();
        for (size, path) in numbered_files(&self.layout.checkpoints_dir(stream), "note")? {
            out.push((
                size,
                fs::read_to_string(&path).map_err(JournalError::io(&path))?,
            ));
        }
        Ok(out)
    }

    /// The checkpoint note signed at `size`, checked with `verifier`.
    pub fn checkpoint_at(
        &self,
        stream: Stream,
        size: u64,
        verifier: &Verifier,
    ) -> Result<(String, Checkpoint), JournalError> {
        let path = self
            .layout
            .checkpoints_dir(stream)
            .join(format!("{}.note", index_name(size)));
        let note = match fs::read_to_string(&path) {
            Ok(note) => note,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(JournalError::NoCheckpoint {
                    stream: stream.to_string(),
                    size,
                    available: available(&self.checkpoint_sizes(stream)?),
                })
            }
            Err(e) => return Err(JournalError::io(&path)(e)),
        };
        let checkpoint = Checkpoint::parse_and_verify(&note, verifier)
            .map_err(|source| JournalError::Checkpoint { path, source })?;
        Ok((note, checkpoint))
    }

    fn checkpoint_sizes(&self, stream: Stream) -> Result<Vec<u64>, JournalError> {
        Ok(
            numbered_files(&self.layout.checkpoints_dir(stream), "note")?
                .into_iter()
                .map(|(size, _)| size)
                .collect(),
        )
    }

    /// An inclusion proof of record `index` against the latest checkpoint
    /// (or the checkpoint of `tree_size`).
    pub fn prove_inclusion(
        &self,
        stream: Stream,
        index: u64,
        tree_size: Option<u64>,
        verifier: &Verifier,
    ) -> Result<InclusionProofJson, JournalError> {
        let size = match tree_size {
            Some(size) => size,
            None => self.latest_checkpoint_size(stream)?,
        };
        if index >= size {
            return Err(JournalError::NoCheckpoint {
                stream: stream.to_string(),
                size: index + 1,
                available: available(&self.checkpoint_sizes(stream)?),
            });
        }
        let (note, _) = self.checkpoint_at(stream, size, verifier)?;
        let record = self.read(stream, index)?;
        let leaves = self.leaves(stream, size)?;
        let hashes = inclusion_proof(&leaves, index, size)?;
        let data = leaf_data(&record.envelope, &record.raw);
        Ok(InclusionProofJson {
            stream: stream.to_string(),
            index,
            tree_size: size,
            leaf_hash: hex(&leaf_hash(&data)),
            hashes: hashes.iter().map(|h| hex(h)).collect(),
            checkpoint: note,
            envelope: String::from_utf8_lossy(&record.envelope).into_owned(),
            raw: String::from_utf8_lossy(&record.raw).into_owned(),
        })
    }

    /// A consistency proof between two checkpointed sizes.
    pub fn prove_consistency(
        &self,
        stream: Stream,
        old_size: u64,
        new_size: u64,
        verifier: &Verifier,
    ) -> Result<ConsistencyProofJson, JournalError> {
        let (old_note, _) = self.checkpoint_at(stream, old_size, verifier)?;
        let (new_note, _) = self.checkpoint_at(stream, new_size, verifier)?;
        let leaves = self.leaves(stream, new_size)?;
        let hashes = consistency_proof(&leaves, old_size, new_size)?;
        Ok(ConsistencyProofJson {
            stream: stream.to_string(),
            old_size,
            new_size,
            hashes: hashes.iter().map(|h| hex(h)).collect(),
            old_checkpoint: old_note,
            new_checkpoint: new_note,
        })
    }
}

/// The newest sizes, for an error message.
fn available(sizes: &[u64]) -> String {
    if sizes.is_empty() {
        return "none yet".to_owned();
    }
    let newest: Vec<String> = sizes.iter().rev().take(10).map(u64::to_string).collect();
    newest.join(", ")
}
