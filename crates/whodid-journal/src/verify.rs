//! `whodid verify`: recompute everything and check every signature.
//!
//! For each stream: retention records (signed, chained from record 0), then
//! every segment (header, frame checksums, record numbering), every record's
//! leaf hash (against the sidecar, to name the record that changed), the
//! Merkle root at every signed checkpoint, and checkpoints that claim more
//! records than exist. What an attacker with write access but without the
//! private key can do — edit, delete, reorder, truncate, re-sign with another
//! key, or rewrite a segment with a consistent hash chain — changes a root
//! that a valid signature commits to, or breaks a signature, and is reported
//! here with the stream, segment, record and what is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use whodid_model::Stream;

use crate::checkpoint::{Checkpoint, CheckpointError, Verifier};
use crate::datadir::{numbered_files, Layout};
use crate::error::JournalError;
use crate::format::{record_leaf_hash, FormatError};
use crate::leaves::read_sidecar;
use crate::merkle::{CompactRange, Hash};
use crate::reader::JournalReader;
use crate::retention::RetentionRecord;
use crate::segment::ScannedSegment;

/// What kind of problem `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A root does not match a signed checkpoint: records were changed.
    HashMismatch,
    /// A frame fails its checksum: bytes were changed.
    ChecksumMismatch,
    /// Records or segments are missing (not removed by retention).
    MissingRecords,
    /// Records or segments are out of order.
    Reordered,
    /// The journal ends before a signed checkpoint says it does, or a frame is cut.
    Truncated,
    /// A checkpoint or retention record whose signature does not verify.
    BadSignature,
    /// A checkpoint signed by a key other than the journal's.
    UnknownKey,
    /// A file that is not what it claims to be.
    Malformed,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::HashMismatch => "hash mismatch",
            ProblemKind::ChecksumMismatch => "checksum mismatch",
            ProblemKind::MissingRecords => "missing records",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Truncated => "truncated",
            ProblemKind::BadSignature => "bad signature",
            ProblemKind::UnknownKey => "signed by another key",
            ProblemKind::Malformed => "malformed",
        })
    }
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The stream.
    pub stream: Stream,
    /// The file involved.
    pub file: Option<String>,
    /// The record involved, when one can be named.
    pub record: Option<u64>,
    /// What kind.
    pub kind: ProblemKind,
    /// Details.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {}", self.stream)?;
        if let Some(file) = &self.file {
            write!(f, ", {file}")?;
        }
        if let Some(record) = self.record {
            write!(f, ", record {record}")?;
        }
        write!(f, ": {}: {}", self.kind, self.detail)
    }
}

/// What `verify` found in one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    /// Records present, `[first, end)`.
    pub records: (u64, u64),
    /// Signed checkpoints whose root was recomputed and matched.
    pub checkpoints_verified: usize,
    /// Ranges removed by (valid, signed) retention records, with the reason.
    pub removed_by_retention: Vec<(u64, u64, String)>,
    /// Records after the last checkpoint (not yet signed).
    pub unsigned_tail: u64,
}

/// The result of verifying a data directory.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Per stream.
    pub streams: BTreeMap<Stream, StreamReport>,
    /// Every problem found; empty means intact.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

fn name(path: &Path) -> String {
    let mut parts: Vec<String> = path
        .iter()
        .rev()
        .take(2)
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

/// The sidecar only helps to name a changed record; an unreadable one is
/// treated as absent (the records themselves are what is verified).
fn read_leaf_sidecar(path: &Path) -> Vec<Hash> {
    read_sidecar(path).unwrap_or_default()
}

/// Verifies every stream of the data directory `root` against `verifier`.
pub fn verify(root: &Path, verifier: &Verifier) -> Result<VerifyReport, JournalError> {
    let reader = JournalReader::open(root)?;
    let mut report = VerifyReport::default();
    for stream in Stream::ALL {
        let (stream_report, problems) = verify_stream(reader.layout(), stream, verifier)?;
        report.streams.insert(stream, stream_report);
        report.problems.extend(problems);
    }
    Ok(report)
}

struct StreamCheck<'a> {
    stream: Stream,
    problems: Vec<Problem>,
    checkpoints: &'a BTreeMap<u64, (String, Hash)>,
    verified: usize,
    last_good: u64,
    mismatch_reported: bool,
}

impl StreamCheck<'_> {
    fn problem(
        &mut self,
        file: Option<String>,
        record: Option<u64>,
        kind: ProblemKind,
        detail: String,
    ) {
        self.problems.push(Problem {
            stream: self.stream,
            file,
            record,
            kind,
            detail,
        });
    }

    /// Called after the tree grew to `range.size()`.
    fn at_size(&mut self, range: &CompactRange, suspects: &[u64]) {
        let size = range.size();
        let Some((file, root)) = self.checkpoints.get(&size) else {
            return;
        };
        if range.root() == *root {
            self.verified += 1;
            self.last_good = size;
            return;
        }
        if self.mismatch_reported {
            return;
        }
        self.mismatch_reported = true;
        let record = suspects
            .iter()
            .copied()
            .find(|&i| i >= self.last_good && i < size);
        let detail = format!(
            "the records do not hash to the root signed at size {size}: one or more of records {}..{size} were changed, removed or reordered",
            self.last_good
        );
        self.problem(
            Some(file.clone()),
            record,
            ProblemKind::HashMismatch,
            detail,
        );
    }
}

fn verify_stream(
    layout: &Layout,
    stream: Stream,
    verifier: &Verifier,
) -> Result<(StreamReport, Vec<Problem>), JournalError> {
    let mut report = StreamReport::default();
    let mut problems = Vec::new();
    let push = |problems: &mut Vec<Problem>,
                file: Option<String>,
                record: Option<u64>,
                kind,
                detail: String| {
        problems.push(Problem {
            stream,
            file,
            record,
            kind,
            detail,
        });
    };

    // Signed checkpoints.
    let mut checkpoints: BTreeMap<u64, (String, Hash)> = BTreeMap::new();
    for (size_in_name, path) in numbered_files(&layout.checkpoints_dir(stream), "note")? {
        let file = name(&path);
        let text = std::fs::read_to_string(&path).map_err(JournalError::io(&path))?;
        match Checkpoint::parse_and_verify(&text, verifier) {
            Ok(cp) if cp.size != size_in_name || !cp.origin.ends_with(&format!("/{stream}")) => push(
                &mut problems,
                Some(file),
                None,
                ProblemKind::Malformed,
                format!("checkpoint for {} at size {} is filed under size {size_in_name}", cp.origin, cp.size),
            ),
            Ok(cp) => {
                checkpoints.insert(cp.size, (file, cp.root));
            }
            Err(CheckpointError::NotSignedByKey(key)) => push(
                &mut problems,
                Some(file),
                None,
                ProblemKind::UnknownKey,
                format!("checkpoint is not signed by the journal key {key:?}: it was signed by another key"),
            ),
            Err(e) => push(
                &mut problems,
                Some(file),
                None,
                ProblemKind::BadSignature,
                format!("checkpoint signature does not verify ({e}): the checkpoint was edited"),
            ),
        }
    }

    // Retention records, chained from record 0.
    let mut range = CompactRange::new();
    for (path, record) in RetentionRecord::read_all(layout, stream, verifier)? {
        let file = name(&path);
        match record {
            Ok(record) if record.first == range.size() && record.stream == stream.as_str() => {
                match record.frontier_range() {
                    Ok(frontier) => {
                        report.removed_by_retention.push((
                            record.first,
                            record.end,
                            record.reason.clone(),
                        ));
                        range = frontier;
                    }
                    Err(e) => push(
                        &mut problems,
                        Some(file),
                        None,
                        ProblemKind::Malformed,
                        e.to_string(),
                    ),
                }
            }
            Ok(record) => push(
                &mut problems,
                Some(file),
                Some(record.first),
                ProblemKind::Malformed,
                format!(
                    "retention record for {}..{} does not continue from record {}",
                    record.first,
                    record.end,
                    range.size()
                ),
            ),
            Err(e) => push(
                &mut problems,
                Some(file),
                None,
                ProblemKind::BadSignature,
                format!("retention record signature does not verify: {e}"),
            ),
        }
    }
    let removed_end = range.size();
    if let Some((file, root)) = checkpoints.get(&removed_end) {
        if removed_end > 0 && range.root() != *root {
            push(
                &mut problems,
                Some(file.clone()),
                None,
                ProblemKind::HashMismatch,
                "retention frontier does not match the checkpoint at the cut".into(),
            );
        }
    }

    let mut check = StreamCheck {
        stream,
        problems,
        checkpoints: &checkpoints,
        verified: 0,
        last_good: removed_end,
        mismatch_reported: false,
    };
    let mut expected = removed_end;
    let mut broken = false;
    let segments = numbered_files(&layout.stream_dir(stream), "seg")?;
    report.records.0 = segments.first().map(|(f, _)| *f).unwrap_or(removed_end);
    for (first_in_name, path) in &segments {
        let file = name(path);
        let scanned = match ScannedSegment::read(path)? {
            Ok(s) => s,
            Err(e) => {
                check.problem(
                    Some(file),
                    Some(*first_in_name),
                    ProblemKind::Malformed,
                    format!("segment header unreadable: {e}"),
                );
                broken = true;
                continue;
            }
        };
        let first = scanned.header.first_index;
        if first != *first_in_name {
            check.problem(
                Some(file.clone()),
                Some(first),
                ProblemKind::Reordered,
                format!("segment holds records from {first} but is named for {first_in_name}"),
            );
        }
        if !broken && first > expected {
            check.problem(
                Some(file.clone()),
                Some(expected),
                ProblemKind::MissingRecords,
                format!("records {expected}..{first} are missing (a segment was deleted) and no retention record covers them"),
            );
            broken = true;
        } else if !broken && first < expected {
            check.problem(
                Some(file.clone()),
                Some(first),
                ProblemKind::Reordered,
                format!(
                    "segment starts at record {first}, but records up to {expected} came before it"
                ),
            );
            broken = true;
        }
        let sidecar = read_leaf_sidecar(&path.with_extension("leaves"));
        let mut suspects: Vec<u64> = Vec::new();
        let mut leaves: Vec<Hash> = Vec::new();
        for frame in &scanned.frames {
            match scanned.records(frame) {
                Ok(records) => leaves.extend(
                    records
                        .iter()
                        .map(|r| record_leaf_hash(&r.envelope, &r.raw)),
                ),
                Err(e) => {
                    check.problem(
                        Some(file.clone()),
                        Some(frame.header.first_index),
                        ProblemKind::Malformed,
                        format!("frame at byte {} does not decode: {e}", frame.offset),
                    );
                    broken = true;
                    break;
                }
            }
        }
        // Name changed records by their leaf hashes, and spot swaps.
        let mismatched: Vec<usize> = leaves
            .iter()
            .enumerate()
            .filter(|(i, leaf)| sidecar.get(*i).is_some_and(|s| s != *leaf))
            .map(|(i, _)| i)
            .collect();
        if mismatched.len() == 2 {
            let (i, j) = (mismatched[0], mismatched[1]);
            if leaves[i] == sidecar[j] && leaves[j] == sidecar[i] {
                check.problem(
                    Some(file.clone()),
                    Some(first + i as u64),
                    ProblemKind::Reordered,
                    format!(
                        "records {} and {} are swapped",
                        first + i as u64,
                        first + j as u64
                    ),
                );
            }
        }
        suspects.extend(mismatched.iter().map(|&i| first + i as u64));
        if !broken {
            for leaf in &leaves {
                range.push(*leaf);
                check.at_size(&range, &suspects);
            }
        }
        if let Some(stop) = &scanned.stop {
            let next = scanned.end_index();
            let (kind, detail) = match &stop.reason {
                FormatError::Truncated { .. } => (ProblemKind::Truncated, format!("segment ends inside a frame at byte {}: the segment was truncated", stop.offset)),
                FormatError::Checksum => (ProblemKind::ChecksumMismatch, format!("frame at byte {} (records from {next}) fails its checksum: its bytes were changed", stop.offset)),
                FormatError::Payload(_) => (ProblemKind::MissingRecords, format!("record numbering breaks at byte {} (after record {next}): records were removed or inserted", stop.offset)),
                other => (ProblemKind::Malformed, format!("frame at byte {}: {other}", stop.offset)),
            };
            check.problem(Some(file.clone()), Some(next), kind, detail);
            broken = true;
        }
        expected = scanned.end_index();
    }
    let end = expected;
    report.records.1 = end;
    if let Some((&size, (file, _))) = checkpoints.iter().next_back() {
        if size > end && !broken {
            let file = file.clone();
            check.problem(
                Some(file),
                Some(end),
                ProblemKind::Truncated,
                format!("a signed checkpoint covers {size} records but only {end} exist: records {end}..{size} were cut off"),
            );
        }
        report.unsigned_tail = end.saturating_sub(size);
    } else {
        report.unsigned_tail = end.saturating_sub(removed_end);
    }
    report.checkpoints_verified = check.verified;
    Ok((report, check.problems))
}
