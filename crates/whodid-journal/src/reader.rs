//! Reading a journal: records by index, iteration, checkpoints, and proofs.
//!
//! Readers take no lock and never write: they can run beside `whodid serve`.
//! A frame still being written at the end of the active segment is simply
//! not seen yet.

use std::fs;
use std::path::PathBuf;

use whodid_model::Stream;

use crate::checkpoint::{Checkpoint, Verifier};
use crate::datadir::{numbered_files, prepare, Layout};
use crate::error::JournalError;
use crate::format::{leaf_data, StoredRecord};
use crate::merkle::{leaf_hash, Hash, LeafHashes, ProofError};
use crate::proof::{consistency_proof, inclusion_proof};
use crate::proof_json::{hex, ConsistencyProofJson, InclusionProofJson};
use crate::segment::ScannedSegment;

/// Read access to a data directory.
#[derive(Debug, Clone)]
pub struct JournalReader {
    layout: Layout,
}

/// The leaf hashes of a stream's kept records, in memory.
#[derive(Debug)]
pub struct StreamLeaves {
    first: u64,
    hashes: Vec<Hash>,
    /// Subtree roots over records removed by retention: (begin, size, root).
    frontier: Vec<(u64, u64, Hash)>,
}

impl LeafHashes for StreamLeaves {
    fn leaf_hash_at(&self, index: u64) -> Result<Hash, ProofError> {
        index
            .checked_sub(self.first)
            .and_then(|i| self.hashes.get(i as usize).copied())
            .ok_or(ProofError::OutOfRange {
                index,
                size: self.first + self.hashes.len() as u64,
            })
    }

    fn first_available(&self) -> u64 {
        self.first
    }

    fn known_subtree(&self, begin: u64, size: u64) -> Option<Hash> {
        self.frontier
            .iter()
            .find(|(b, s, _)| *b == begin && *s == size)
            .map(|(_, _, h)| *h)
    }
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

    /// The kept range `[first, end)` of a stream.
    pub fn bounds(&self, stream: Stream) -> Result<(u64, u64), JournalError> {
        let segments = self.segments(stream)?;
        let Some((first, _)) = segments.first() else {
            return Ok((0, 0));
        };
        let Some((_, last)) = segments.last() else {
            return Ok((0, 0));
        };
        Ok((*first, self.scan(stream, last)?.end_index()))
    }

    /// Reads one record.
    pub fn read(&self, stream: Stream, index: u64) -> Result<StoredRecord, JournalError> {
        let mut records = self.iter_from(stream, index)?;
        match records.next() {
            Some(Ok(record)) if record.index == index => Ok(record),
            Some(Err(e)) => Err(e),
            _ => {
                let (first, end) = self.bounds(stream)?;
                Err(JournalError::NoSuchRecord {
                    stream: stream.to_string(),
                    index,
                    first,
                    end,
                })
            }
        }
    }

    /// Every record from `index` on, in order.
    pub fn iter_from(&self, stream: Stream, index: u64) -> Result<RecordIter, JournalError> {
        let segments = self.segments(stream)?;
        // Start with the last segment that begins at or before `index`.
        let start = segments
            .iter()
            .rposition(|(first, _)| *first <= index)
            .unwrap_or(0);
        Ok(RecordIter {
            reader: self.clone(),
            stream,
            segments: segments[start..].iter().map(|(_, p)| p.clone()).collect(),
            next_segment: 0,
            buffered: Vec::new().into_iter(),
            from: index,
        })
    }

    /// The leaf hashes of every kept record, recomputed from the records.
    pub fn leaves(&self, stream: Stream) -> Result<StreamLeaves, JournalError> {
        let (first, _) = self.bounds(stream)?;
        let mut hashes = Vec::new();
        for record in self.iter_from(stream, first)? {
            let record = record?;
            hashes.push(leaf_hash(&leaf_data(&record.envelope, &record.raw)));
        }
        // Records removed by retention are represented by the frontier of
        // the latest retention record: the perfect subtrees covering them.
        let mut frontier = Vec::new();
        if let Some(record) = crate::retention::RetentionRecord::latest(&self.layout, stream)? {
            let mut begin = 0u64;
            let mut hashes_iter = record.frontier.iter();
            for bit in (0..64).rev() {
                let size = 1u64 << bit;
                if record.end & size != 0 {
                    if let Some(hash) = hashes_iter.next() {
                        frontier.push((begin, size, *hash));
                    }
                    begin += size;
                }
            }
        }
        Ok(StreamLeaves {
            first,
            hashes,
            frontier,
        })
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

    fn checkpoint_at(
        &self,
        stream: Stream,
        size: u64,
        verifier: &Verifier,
    ) -> Result<(String, Checkpoint), JournalError> {
        let all = self.checkpoints(stream)?;
        let Some((_, note)) = all.iter().find(|(s, _)| *s == size) else {
            return Err(JournalError::NoCheckpoint {
                stream: stream.to_string(),
                size,
                available: available(&all),
            });
        };
        let path = self
            .layout
            .checkpoints_dir(stream)
            .join(format!("{size:020}.note"));
        let checkpoint = Checkpoint::parse_and_verify(note, verifier)
            .map_err(|source| JournalError::Checkpoint { path, source })?;
        Ok((note.clone(), checkpoint))
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
        let all = self.checkpoints(stream)?;
        let size = match tree_size {
            Some(size) => size,
            None => all.last().map(|(s, _)| *s).unwrap_or(0),
        };
        if index >= size {
            return Err(JournalError::NoCheckpoint {
                stream: stream.to_string(),
                size: index + 1,
                available: available(&all),
            });
        }
        let (note, _) = self.checkpoint_at(stream, size, verifier)?;
        let record = self.read(stream, index)?;
        let leaves = self.leaves(stream)?;
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
        let leaves = self.leaves(stream)?;
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

fn available(all: &[(u64, String)]) -> String {
    if all.is_empty() {
        return "none yet".to_owned();
    }
    let sizes: Vec<String> = all
        .iter()
        .rev()
        .take(10)
        .map(|(s, _)| s.to_string())
        .collect();
    sizes.join(", ")
}

/// Records of a stream, in order.
#[derive(Debug)]
pub struct RecordIter {
    reader: JournalReader,
    stream: Stream,
    segments: Vec<PathBuf>,
    next_segment: usize,
    buffered: std::vec::IntoIter<StoredRecord>,
    from: u64,
}

impl Iterator for RecordIter {
    type Item = Result<StoredRecord, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.buffered.next() {
                if record.index < self.from {
                    continue;
                }
                return Some(Ok(record));
            }
            let path = self.segments.get(self.next_segment)?.clone();
            self.next_segment += 1;
            let scanned = match self.reader.scan(self.stream, &path) {
                Ok(s) => s,
                Err(e) => return Some(Err(e)),
            };
            let mut records = Vec::new();
            for frame in &scanned.frames {
                if frame.header.first_index + u64::from(frame.header.count) <= self.from {
                    continue;
                }
                match scanned.records(frame) {
                    Ok(r) => records.extend(r),
                    Err(source) => {
                        return Some(Err(JournalError::Corrupt {
                            stream: self.stream.to_string(),
                            path,
                            source,
                        }))
                    }
                }
            }
            self.buffered = records.into_iter();
        }
    }
}
