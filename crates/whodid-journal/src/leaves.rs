//! The leaf hashes of a stream, read from the per-segment `.leaves`
//! sidecars, so that building a proof costs 32 bytes per record of reading
//! instead of decompressing and hashing every record.
//!
//! The sidecars are derived data: a proof built from a wrong sidecar does not
//! verify against the signed checkpoint, so nothing here is trusted blindly.
//! A sidecar shorter than its segment (a reader racing the writer, or one
//! removed by hand) is replaced by hashing that segment's records.

use std::path::Path;

use whodid_model::Stream;

use crate::datadir::Layout;
use crate::error::JournalError;
use crate::format::record_leaf_hash;
use crate::merkle::{Hash, LeafHashes, ProofError};
use crate::recovery::{frame_leaves, leaf_slots};
use crate::retention::RetentionRecord;
use crate::segment::{Salvage, ScannedSegment};

/// The leaf hashes of a stream's records `[first, end)`, plus the subtree
/// roots that stand for the records retention removed.
#[derive(Debug)]
pub struct StreamLeaves {
    first: u64,
    hashes: Vec<Hash>,
    /// Perfect subtrees over records removed by retention: (begin, size, root).
    frontier: Vec<(u64, u64, Hash)>,
}

impl StreamLeaves {
    /// Loads the leaf hashes of records `[first kept, end)` of `stream`, where
    /// `segments` are the stream's segment files (first index, path) in order.
    pub(crate) fn load(
        layout: &Layout,
        stream: Stream,
        segments: &[(u64, std::path::PathBuf)],
        end: u64,
    ) -> Result<StreamLeaves, JournalError> {
        let first = segments.first().map(|(f, _)| *f).unwrap_or(end);
        let mut hashes = Vec::new();
        for (position, (segment_first, path)) in segments.iter().enumerate() {
            if *segment_first >= end {
                break;
            }
            let segment_end = segments
                .get(position + 1)
                .map(|(next, _)| *next)
                .unwrap_or(u64::MAX)
                .min(end);
            let need = (segment_end - segment_first) as usize;
            let mut leaves = read_sidecar(&path.with_extension("leaves"))?;
            if leaves.len() < need {
                leaves = hash_segment(stream, path)?;
            }
            if leaves.len() < need {
                return Err(JournalError::NoSuchRecord {
                    stream: stream.to_string(),
                    index: segment_first + leaves.len() as u64,
                    first,
                    end,
                });
            }
            hashes.extend_from_slice(&leaves[..need]);
        }
        Ok(StreamLeaves {
            first,
            hashes,
            frontier: retention_frontier(layout, stream)?,
        })
    }

    /// Like [`StreamLeaves::load`], but every leaf hash recomputed from the
    /// records (salvaged: frames after a damaged one count); the sidecar
    /// stands in only for records that cannot be read. Also returns the
    /// sidecars that disagree with their records (they would give proofs
    /// that do not verify). For `whodid prove` when a proof from the
    /// sidecars does not verify.
    pub fn from_records(
        layout: &Layout,
        stream: Stream,
        segments: &[(u64, std::path::PathBuf)],
        end: u64,
    ) -> Result<(StreamLeaves, Vec<std::path::PathBuf>), JournalError> {
        let first = segments.first().map(|(f, _)| *f).unwrap_or(end);
        let mut hashes = Vec::new();
        let mut disagreeing = Vec::new();
        for (position, (segment_first, path)) in segments.iter().enumerate() {
            if *segment_first >= end {
                break;
            }
            let segment_end = segments
                .get(position + 1)
                .map(|(next, _)| *next)
                .unwrap_or(end)
                .min(end);
            let need = (segment_end - segment_first) as usize;
            let sidecar_path = path.with_extension("leaves");
            let sidecar = read_sidecar(&sidecar_path)?;
            let mut salvage = Salvage::read(path, *segment_first)?;
            let per_frame = frame_leaves(&mut salvage);
            let leaves = leaf_slots(&salvage, &per_frame, need);
            if leaves
                .iter()
                .zip(&sidecar)
                .any(|(leaf, side)| leaf.is_some_and(|l| l != *side))
            {
                disagreeing.push(sidecar_path);
            }
            for (i, leaf) in leaves.into_iter().enumerate() {
                match leaf.or_else(|| sidecar.get(i).copied()) {
                    Some(hash) => hashes.push(hash),
                    None => {
                        return Err(JournalError::NoSuchRecord {
                            stream: stream.to_string(),
                            index: segment_first + i as u64,
                            first,
                            end,
                        })
                    }
                }
            }
        }
        Ok((
            StreamLeaves {
                first,
                hashes,
                frontier: retention_frontier(layout, stream)?,
            },
            disagreeing,
        ))
    }

    /// One past the last leaf held.
    pub fn end(&self) -> u64 {
        self.first + self.hashes.len() as u64
    }
}

impl LeafHashes for StreamLeaves {
    fn leaf_hash_at(&self, index: u64) -> Result<Hash, ProofError> {
        index
            .checked_sub(self.first)
            .and_then(|i| self.hashes.get(i as usize).copied())
            .ok_or(ProofError::OutOfRange {
                index,
                size: self.end(),
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

/// Reads a sidecar: whole 32-byte hashes, in order (a missing file is empty).
pub(crate) fn read_sidecar(path: &Path) -> Result<Vec<Hash>, JournalError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(JournalError::io(path)(e)),
    };
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// The leaf hashes of a segment's whole frames, recomputed from its records.
fn hash_segment(stream: Stream, path: &Path) -> Result<Vec<Hash>, JournalError> {
    let corrupt = |source| JournalError::Corrupt {
        stream: stream.to_string(),
        path: path.to_owned(),
        source,
    };
    let scanned = ScannedSegment::read(path)?.map_err(corrupt)?;
    let mut leaves = Vec::new();
    for frame in &scanned.frames {
        let records = scanned.records(frame).map_err(corrupt)?;
        leaves.extend(
            records
                .iter()
                .map(|r| record_leaf_hash(&r.envelope, &r.raw)),
        );
    }
    Ok(leaves)
}

/// The perfect subtrees covering the records removed by the latest
/// retention record, largest (leftmost) first: one per set bit of its end.
fn retention_frontier(
    layout: &Layout,
    stream: Stream,
) -> Result<Vec<(u64, u64, Hash)>, JournalError> {
    let mut frontier = Vec::new();
    let Some(record) = RetentionRecord::latest(layout, stream)? else {
        return Ok(frontier);
    };
    let mut begin = 0u64;
    let mut hashes = record.frontier.iter();
    for bit in (0..64).rev() {
        let size = 1u64 << bit;
        if record.end & size != 0 {
            if let Some(hash) = hashes.next() {
                frontier.push((begin, size, *hash));
            }
            begin += size;
        }
    }
    Ok(frontier)
}
