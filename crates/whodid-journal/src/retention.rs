//! Retention: removing whole old segments, and saying so in a signed record.
//!
//! The knobs are the apiserver's (`--audit-log-maxage`, `--audit-log-maxsize`,
//! `--audit-log-maxbackup`): maximum age, total size and number of segments
//! per stream. Only sealed segments whose every record is covered by a signed
//! checkpoint are removed, oldest first. Before a segment goes, a retention
//! record is signed and written: which records, which files, when, why, and
//! the Merkle frontier at the cut, so `verify` can still recompute every
//! later root and reports the gap as removed by retention, not as tampering.
//! A `LEGAL_HOLD` file in the stream's directory blocks all removal. A
//! damaged segment (see `damage`) stops retention until its damage is
//! acknowledged; then it is removed like any other, its leaf hashes taken
//! from its sidecar (which the signed root confirmed at open).

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use whodid_model::Stream;

use crate::checkpoint::{open_note, sign_note, Verifier};
use crate::damage::{damage_status, LeafSource};
use crate::datadir::{index_name, numbered_files, sync_dir, write_durably, Layout};
use crate::error::JournalError;
use crate::keys::SigningKeyPair;
use crate::leaves::read_sidecar;
use crate::merkle::{CompactRange, Hash};
use crate::stream_log::StreamLog;

/// Limits for one stream; `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Remove segments whose newest record is older than this.
    pub max_age: Option<Duration>,
    /// Keep the stream's segments under this many bytes in total.
    pub max_bytes: Option<u64>,
    /// Keep at most this many segments.
    pub max_segments: Option<usize>,
}

/// Why a segment was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetentionReason {
    /// Older than `max_age`.
    MaxAge,
    /// Over `max_bytes`.
    MaxBytes,
    /// Over `max_segments`.
    MaxSegments,
}

impl RetentionReason {
    fn as_str(self) -> &'static str {
        match self {
            RetentionReason::MaxAge => "max_age",
            RetentionReason::MaxBytes => "max_bytes",
            RetentionReason::MaxSegments => "max_segments",
        }
    }
}

/// A signed statement that records `[first, end)` were removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRecord {
    /// The stream.
    pub stream: String,
    /// First removed record.
    pub first: u64,
    /// One past the last removed record.
    pub end: u64,
    /// The removed segment files.
    pub segments: Vec<String>,
    /// Why.
    pub reason: String,
    /// When (seconds since the Unix epoch).
    pub time: u64,
    /// The Merkle frontier (compact range) over records `[0, end)`.
    pub frontier: Vec<Hash>,
}

impl RetentionRecord {
    /// The note body.
    pub fn body(&self) -> String {
        let frontier: Vec<String> = self.frontier.iter().map(|h| B64.encode(h)).collect();
        format!(
            "whodid retention v1\nstream {}\nremoved {} {}\nsegments {}\nreason {}\ntime {}\nfrontier {}\n",
            self.stream,
            self.first,
            self.end,
            self.segments.join(","),
            self.reason,
            self.time,
            frontier.join(",")
        )
    }

    /// Parses a note body.
    pub fn parse(body: &str) -> Option<RetentionRecord> {
        let mut lines = body.lines();
        if lines.next()? != "whodid retention v1" {
            return None;
        }
        let stream = lines.next()?.strip_prefix("stream ")?.to_owned();
        let (first, end) = lines.next()?.strip_prefix("removed ")?.split_once(' ')?;
        let segments = lines.next()?.strip_prefix("segments ")?;
        let reason = lines.next()?.strip_prefix("reason ")?.to_owned();
        let time = lines.next()?.strip_prefix("time ")?.parse().ok()?;
        let frontier_text = lines.next()?.strip_prefix("frontier ")?;
        let mut frontier = Vec::new();
        for part in frontier_text.split(',').filter(|p| !p.is_empty()) {
            frontier.push(B64.decode(part).ok()?.try_into().ok()?);
        }
        Some(RetentionRecord {
            stream,
            first: first.parse().ok()?,
            end: end.parse().ok()?,
            segments: segments
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            reason,
            time,
            frontier,
        })
    }

    /// The tree state at the cut.
    pub fn frontier_range(&self) -> Result<CompactRange, JournalError> {
        Ok(CompactRange::from_parts(self.end, self.frontier.clone())?)
    }

    /// The latest retention record of a stream, read without checking its
    /// signature (the writer trusts its own directory; `verify` checks).
    pub(crate) fn latest(
        layout: &Layout,
        stream: Stream,
    ) -> Result<Option<RetentionRecord>, JournalError> {
        let Some((_, path)) = numbered_files(&layout.retention_dir(stream), "note")?.pop() else {
            return Ok(None);
        };
        let bytes = fs::read(&path).map_err(JournalError::io(&path))?;
        let text = String::from_utf8_lossy(&bytes);
        let body = text.split("\n\n").next().unwrap_or("").to_owned() + "\n";
        RetentionRecord::parse(&body)
            .map(Some)
            .ok_or_else(|| JournalError::Corrupt {
                stream: stream.to_string(),
                path,
                source: crate::format::FormatError::Payload("unreadable retention record"),
            })
    }

    /// The body of a retention record file whose signature does not verify,
    /// if it still reads (see `verify` and `docs/journal.md`, damage).
    pub fn read_unsigned(path: &std::path::Path) -> Option<RetentionRecord> {
        let bytes = fs::read(path).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let body = text.split("\n\n").next().unwrap_or("").to_owned() + "\n";
        RetentionRecord::parse(&body)
    }

    /// Reads and verifies every retention record of a stream.
    pub fn read_all(
        layout: &Layout,
        stream: Stream,
        verifier: &Verifier,
    ) -> Result<Vec<CheckedRetentionRecord>, JournalError> {
        let mut out = Vec::new();
        for (_, path) in numbered_files(&layout.retention_dir(stream), "note")? {
            let bytes = fs::read(&path).map_err(JournalError::io(&path))?;
            let text = String::from_utf8_lossy(&bytes);
            let parsed = match open_note(&text, verifier) {
                Ok(body) => RetentionRecord::parse(&body).ok_or(RetentionRecordError::Unreadable),
                Err(e) => Err(RetentionRecordError::Signature(e)),
            };
            out.push((path, parsed));
        }
        Ok(out)
    }
}

/// A retention record file and whether it verified (with the reason if not).
pub type CheckedRetentionRecord = (
    std::path::PathBuf,
    Result<RetentionRecord, RetentionRecordError>,
);

/// Why a retention record does not count.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionRecordError {
    /// Its signature does not verify with the journal's key.
    #[error("{0}")]
    Signature(#[source] crate::checkpoint::CheckpointError),
    /// The signed body is not a retention record.
    #[error("signed, but not a readable retention record")]
    Unreadable,
}

/// What retention did on one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Records removed, `[first, end)`, if any.
    pub removed: Option<(u64, u64)>,
    /// Segment files removed.
    pub segments: Vec<String>,
    /// True when a legal hold prevented removal that limits asked for.
    pub held: bool,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// True when every damage record naming `segment` is acknowledged (its
/// leaf hashes, from its sidecar, were confirmed by the signed root).
fn acknowledged(
    log: &StreamLog,
    segment: &crate::stream_log::SegmentMeta,
    key: &SigningKeyPair,
) -> Result<bool, JournalError> {
    let name = segment
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let damage = damage_status(&log.layout, log.stream, &key.verifier())?;
    let about: Vec<_> = damage
        .records
        .iter()
        .filter(|d| d.record.file == name)
        .collect();
    Ok(!about.is_empty()
        && about
            .iter()
            .all(|d| d.ack.is_some() && d.record.leaves != LeafSource::Unknown))
}

/// Applies `policy` to one stream.
pub(crate) fn apply(
    log: &mut StreamLog,
    policy: &RetentionPolicy,
    key: &SigningKeyPair,
) -> Result<RetentionOutcome, JournalError> {
    let mut outcome = RetentionOutcome::default();
    if log.stopped.is_some() {
        return Ok(outcome);
    }
    // Candidates: sealed segments (not the last) fully covered by a checkpoint.
    let sealed = log.segments.len().saturating_sub(1);
    let covered = log.checkpoint_size;
    let total_bytes: u64 = log.segments.iter().map(|s| s.bytes).sum();
    let now = now_micros();
    let mut remove = 0usize;
    let mut reason = None;
    let mut bytes_left = total_bytes;
    for (position, segment) in log.segments.iter().enumerate().take(sealed) {
        if segment.end_index > covered || (segment.damaged && !acknowledged(log, segment, key)?) {
            // A damaged segment is evidence: retention stops before it
            // until an operator has acknowledged its damage.
            break;
        }
        let remaining = log.segments.len() - position;
        let why = if policy.max_segments.is_some_and(|max| remaining > max) {
            Some(RetentionReason::MaxSegments)
        } else if policy.max_bytes.is_some_and(|max| bytes_left > max) {
            Some(RetentionReason::MaxBytes)
        } else if policy.max_age.is_some_and(|age| {
            now.saturating_sub(segment.last_time_micros) > age.as_micros() as u64
        }) {
            Some(RetentionReason::MaxAge)
        } else {
            None
        };
        let Some(why) = why else {
            break;
        };
        reason.get_or_insert(why);
        bytes_left -= segment.bytes;
        remove = position + 1;
    }
    if remove == 0 {
        return Ok(outcome);
    }
    let hold = log.layout.legal_hold(log.stream);
    if hold.try_exists().map_err(JournalError::io(&hold))? {
        tracing::info!(stream = %log.stream, segments = remove, "legal hold: retention removes nothing");
        outcome.held = true;
        return Ok(outcome);
    }
    let first = log.segments[0].first_index;
    let end = log.segments[remove - 1].end_index;
    // The frontier at `end`: replay from the previous cut (or 0) over the
    // leaf hashes of the removed segments.
    let mut range = match RetentionRecord::latest(&log.layout, log.stream)? {
        Some(previous) if previous.end == first => previous.frontier_range()?,
        _ => CompactRange::new(),
    };
    for segment in &log.segments[..remove] {
        // A damaged last segment's sidecar may hold leaf hashes past its
        // end (records no signature covered): only its records count.
        let count = (segment.end_index - segment.first_index) as usize;
        for leaf in read_sidecar(&segment.leaves_path)?.into_iter().take(count) {
            range.push(leaf);
        }
    }
    if range.size() != end {
        return Err(JournalError::Corrupt {
            stream: log.stream.to_string(),
            path: log.segments[0].leaves_path.clone(),
            source: crate::format::FormatError::Payload(
                "leaf hashes do not cover the segments: run `whodid verify`",
            ),
        });
    }
    let names: Vec<String> = log.segments[..remove]
        .iter()
        .filter_map(|s| {
            s.path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
        })
        .collect();
    let record = RetentionRecord {
        stream: log.stream.to_string(),
        first,
        end,
        segments: names.clone(),
        reason: reason
            .map(RetentionReason::as_str)
            .unwrap_or("max_segments")
            .to_owned(),
        time: now / 1_000_000,
        frontier: range.hashes().to_vec(),
    };
    let note = sign_note(&record.body(), key);
    let path = log
        .layout
        .retention_dir(log.stream)
        .join(format!("{}.note", index_name(end)));
    write_durably(&path, note.as_bytes())?;
    log.seal()?;
    for segment in log.segments.drain(..remove) {
        fs::remove_file(&segment.path).map_err(JournalError::io(&segment.path))?;
        let _ = fs::remove_file(&segment.leaves_path);
    }
    sync_dir(&log.layout.stream_dir(log.stream))?;
    tracing::info!(stream = %log.stream, first, end, reason = %record.reason, "retention removed segments");
    outcome.removed = Some((first, end));
    outcome.segments = names;
    Ok(outcome)
}
