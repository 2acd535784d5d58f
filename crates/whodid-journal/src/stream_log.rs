//! One stream's journal, as the writer sees it: its segments, the running
//! Merkle tree, the active segment and its leaf-hash sidecar.
//!
//! Opening recovers from a crash: a torn or partial tail of the last segment
//! is cut back to the last whole frame, and the sidecar of the last segment is
//! rebuilt from the records, so the tree always covers exactly the records on
//! disk.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use whodid_model::Stream;

use crate::checkpoint::{Checkpoint, Verifier};
use crate::compaction::{Compacted, CompactionJob};
use crate::datadir::{index_name, numbered_files, sync_dir, write_durably, Layout};
use crate::error::JournalError;
use crate::format::{
    encode_frame, encode_segment_header, record_leaf_hash, RecordInput, FLAG_COMPACTED,
};
use crate::keys::SigningKeyPair;
use crate::leaves::read_sidecar;
use crate::merkle::{CompactRange, Hash};
use crate::retention::RetentionRecord;
use crate::segment::ScannedSegment;

/// A sealed or active segment.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub(crate) first_index: u64,
    pub(crate) end_index: u64,
    pub(crate) bytes: u64,
    pub(crate) path: PathBuf,
    pub(crate) leaves_path: PathBuf,
    pub(crate) last_time_micros: u64,
    /// Rewritten by compaction already.
    pub(crate) compacted: bool,
}

#[derive(Debug)]
struct Active {
    file: File,
    leaves: File,
}

/// The writer's view of one stream.
#[derive(Debug)]
pub(crate) struct StreamLog {
    pub(crate) stream: Stream,
    pub(crate) layout: Layout,
    pub(crate) origin: String,
    pub(crate) range: CompactRange,
    pub(crate) segments: Vec<SegmentMeta>,
    active: Option<Active>,
    /// Records appended since the segment's last fsync.
    dirty: bool,
    /// Leaf hashes appended since the sidecar's last fsync.
    sidecar_dirty: bool,
    pub(crate) checkpoint_size: u64,
    pub(crate) last_checkpoint_at: Instant,
    segment_max_bytes: u64,
    /// Sealed segments waiting for compaction (taken by the writer).
    pub(crate) to_compact: Vec<CompactionJob>,
}

fn leaves_path_of(segment: &std::path::Path) -> PathBuf {
    segment.with_extension("leaves")
}

/// The leaf hashes of every good record of a scanned segment.
fn segment_leaves(
    stream: Stream,
    path: &std::path::Path,
    scanned: &ScannedSegment,
) -> Result<Vec<Hash>, JournalError> {
    let mut leaves = Vec::new();
    for frame in &scanned.frames {
        let records = scanned
            .records(frame)
            .map_err(|source| JournalError::Corrupt {
                stream: stream.to_string(),
                path: path.to_owned(),
                source,
            })?;
        leaves.extend(
            records
                .iter()
                .map(|r| record_leaf_hash(&r.envelope, &r.raw)),
        );
    }
    Ok(leaves)
}

fn write_leaves(path: &std::path::Path, leaves: &[Hash]) -> Result<(), JournalError> {
    let bytes: Vec<u8> = leaves.iter().flat_map(|h| h.iter().copied()).collect();
    write_durably(path, &bytes)
}

/// The latest signed checkpoint of a stream, checked against the journal's
/// own key.
fn latest_checkpoint(
    layout: &Layout,
    stream: Stream,
    verifier: &Verifier,
) -> Result<Option<(Checkpoint, PathBuf)>, JournalError> {
    let Some((_, path)) = numbered_files(&layout.checkpoints_dir(stream), "note")?.pop() else {
        return Ok(None);
    };
    let note = fs::read_to_string(&path).map_err(JournalError::io(&path))?;
    let checkpoint = Checkpoint::parse_and_verify(&note, verifier).map_err(|source| {
        JournalError::Checkpoint {
            path: path.clone(),
            source,
        }
    })?;
    Ok(Some((checkpoint, path)))
}

/// At open, the tree rebuilt from the disk must have the root that the
/// latest checkpoint signed, and reach its size: otherwise the journal was
/// changed or cut while whodid was not running, and new checkpoints would
/// sign over that (or overwrite the old ones).
struct SignedCheck {
    stream: Stream,
    signed: Option<(Checkpoint, PathBuf)>,
}

impl SignedCheck {
    fn at(&self, range: &CompactRange) -> Result<(), JournalError> {
        match &self.signed {
            Some((cp, path)) if cp.size == range.size() && cp.root != range.root() => {
                Err(JournalError::CheckpointMismatch {
                    stream: self.stream,
                    size: cp.size,
                    path: path.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    fn at_end(&self, range: &CompactRange) -> Result<(), JournalError> {
        match &self.signed {
            Some((cp, path)) if cp.size > range.size() => Err(JournalError::SignedBeyondEnd {
                stream: self.stream,
                records: range.size(),
                size: cp.size,
                path: path.clone(),
            }),
            _ => Ok(()),
        }
    }
}

impl StreamLog {
    /// Opens (and recovers) a stream.
    pub(crate) fn open(
        layout: &Layout,
        stream: Stream,
        origin: String,
        segment_max_bytes: u64,
        verifier: &Verifier,
    ) -> Result<StreamLog, JournalError> {
        let dir = layout.stream_dir(stream);
        for d in [
            dir.clone(),
            layout.checkpoints_dir(stream),
            layout.retention_dir(stream),
        ] {
            fs::create_dir_all(&d).map_err(JournalError::io(&d))?;
        }
        let retention = RetentionRecord::latest(layout, stream)?;
        let mut range = match &retention {
            Some(record) => record.frontier_range()?,
            None => CompactRange::new(),
        };
        let signed = latest_checkpoint(layout, stream, verifier)?;
        let signed_check = SignedCheck {
            stream,
            signed: signed.filter(|(cp, _)| cp.size >= range.size()),
        };
        signed_check.at(&range)?;
        // Leftovers of a compaction cut short: the segment itself is intact.
        for (_, stray) in numbered_files(&dir, "compact")? {
            fs::remove_file(&stray).map_err(JournalError::io(&stray))?;
        }
        let files = numbered_files(&dir, "seg")?;
        let mut segments = Vec::new();
        let last = files.len().saturating_sub(1);
        for (position, (first_index, path)) in files.iter().enumerate() {
            let scanned = match ScannedSegment::read(path)? {
                Ok(scanned) => scanned,
                Err(source)
                    if position == last
                        && fs::metadata(path).map(|m| m.len() < 32).unwrap_or(false) =>
                {
                    // A segment created but never written to (crash right
                    // after creation): it holds no record.
                    tracing::warn!(stream = %stream, segment = %path.display(), error = %source, "empty segment removed");
                    fs::remove_file(path).map_err(JournalError::io(path))?;
                    let _ = fs::remove_file(leaves_path_of(path));
                    continue;
                }
                Err(source) => {
                    return Err(JournalError::Corrupt {
                        stream: stream.to_string(),
                        path: path.clone(),
                        source,
                    })
                }
            };
            if scanned.header.first_index != *first_index
                || scanned.header.first_index != range.size()
            {
                return Err(JournalError::Corrupt {
                    stream: stream.to_string(),
                    path: path.clone(),
                    source: crate::format::FormatError::Payload(
                        "segment does not continue the previous one (missing or reordered segment): run `whodid verify`",
                    ),
                });
            }
            if let Some(stop) = &scanned.stop {
                if position != last {
                    return Err(JournalError::Corrupt {
                        stream: stream.to_string(),
                        path: path.clone(),
                        source: stop.reason.clone(),
                    });
                }
                let cut = scanned.bytes.len() - scanned.good_len();
                tracing::warn!(
                    stream = %stream,
                    segment = %path.display(),
                    offset = stop.offset,
                    bytes_cut = cut,
                    reason = %stop.reason,
                    "torn tail truncated to the last whole frame"
                );
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(JournalError::io(path))?;
                file.set_len(scanned.good_len() as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(JournalError::io(path))?;
            }
            let leaves_path = leaves_path_of(path);
            let expected = scanned.end_index() - scanned.header.first_index;
            let mut leaves = if position == last {
                Vec::new()
            } else {
                read_sidecar(&leaves_path)?
            };
            if leaves.len() as u64 != expected || position == last {
                leaves = segment_leaves(stream, path, &scanned)?;
                write_leaves(&leaves_path, &leaves)?;
            }
            for leaf in &leaves {
                range.push(*leaf);
                signed_check.at(&range)?;
            }
            segments.push(SegmentMeta {
                first_index: scanned.header.first_index,
                end_index: scanned.end_index(),
                bytes: scanned.good_len() as u64,
                path: path.clone(),
                leaves_path,
                last_time_micros: scanned
                    .frames
                    .last()
                    .map(|f| f.header.time_micros)
                    .unwrap_or(0),
                compacted: scanned.header.flags & FLAG_COMPACTED != 0,
            });
        }
        if let (Some(record), Some(first)) = (&retention, segments.first()) {
            debug_assert!(first.first_index >= record.end);
        }
        signed_check.at_end(&range)?;
        let checkpoint_size = signed_check
            .signed
            .as_ref()
            .map(|(cp, _)| cp.size)
            .unwrap_or(0)
            .max(retention.as_ref().map(|r| r.end).unwrap_or(0));
        let mut log = StreamLog {
            stream,
            layout: layout.clone(),
            origin,
            range,
            segments,
            active: None,
            dirty: false,
            sidecar_dirty: false,
            to_compact: Vec::new(),
            checkpoint_size,
            last_checkpoint_at: Instant::now(),
            segment_max_bytes,
        };
        let sealed = log.segments.len().saturating_sub(1);
        let waiting: Vec<CompactionJob> = log.segments[..sealed]
            .iter()
            .filter(|s| !s.compacted)
            .map(|s| log.compaction_job(s))
            .collect();
        log.to_compact = waiting;
        Ok(log)
    }

    /// The number of records ever appended (the tree size).
    pub(crate) fn size(&self) -> u64 {
        self.range.size()
    }

    fn open_active(&mut self) -> Result<(), JournalError> {
        let need_new = match self.segments.last() {
            None => true,
            Some(last) => last.bytes >= self.segment_max_bytes,
        };
        if need_new {
            self.sync_with_sidecar()?;
            if let Some(sealed) = self.segments.last() {
                let job = self.compaction_job(sealed);
                self.to_compact.push(job);
            }
            let first = self.size();
            let path = self
                .layout
                .stream_dir(self.stream)
                .join(format!("{}.seg", index_name(first)));
            let leaves_path = leaves_path_of(&path);
            let mut file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(JournalError::io(&path))?;
            let created = file
                .write_all(&encode_segment_header(self.stream, first, 0))
                .and_then(|()| file.sync_all())
                .map_err(JournalError::io(&path))
                .and_then(|()| {
                    OpenOptions::new()
                        .create(true)
                        .truncate(true)
                        .write(true)
                        .open(&leaves_path)
                        .map_err(JournalError::io(&leaves_path))
                })
                .and_then(|leaves| {
                    sync_dir(&self.layout.stream_dir(self.stream))?;
                    Ok(leaves)
                });
            let leaves = match created {
                Ok(leaves) => leaves,
                Err(e) => {
                    // A full disk: take back the half-made segment (it holds
                    // no record), so that the next append can make it again.
                    let _ = std::fs::remove_file(&path);
                    let _ = std::fs::remove_file(&leaves_path);
                    return Err(e);
                }
            };
            self.segments.push(SegmentMeta {
                first_index: first,
                end_index: first,
                bytes: crate::format::SEGMENT_HEADER_LEN as u64,
                path,
                leaves_path,
                last_time_micros: 0,
                compacted: false,
            });
            self.active = Some(Active { file, leaves });
            return Ok(());
        }
        if self.active.is_none() {
            let Some(last) = self.segments.last() else {
                return Ok(());
            };
            let file = OpenOptions::new()
                .append(true)
                .open(&last.path)
                .map_err(JournalError::io(&last.path))?;
            let leaves = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&last.leaves_path)
                .map_err(JournalError::io(&last.leaves_path))?;
            self.active = Some(Active { file, leaves });
        }
        Ok(())
    }

    /// Appends one frame of records (with their leaf hashes); returns the
    /// index of the first. On an error nothing of the frame stays on disk
    /// and the tree is unchanged.
    pub(crate) fn append(
        &mut self,
        records: &[RecordInput],
        leaves: &[Hash],
        time_micros: u64,
    ) -> Result<u64, JournalError> {
        debug_assert_eq!(records.len(), leaves.len());
        if self
            .segments
            .last()
            .is_none_or(|last| last.bytes >= self.segment_max_bytes)
            || self.active.is_none()
        {
            self.open_active()?;
        }
        let first = self.size();
        let frame = encode_frame(first, time_micros, records).map_err(JournalError::io("zstd"))?;
        let leaf_bytes: Vec<u8> = leaves.iter().flat_map(|h| h.iter().copied()).collect();
        let (Some(active), Some(meta)) = (self.active.as_mut(), self.segments.last_mut()) else {
            // open_active() leaves an active segment or fails: unreachable.
            let dir = self.layout.stream_dir(self.stream);
            return Err(JournalError::io(dir)(std::io::Error::other(
                "no active segment to append to",
            )));
        };
        let segment_len = meta.bytes;
        let leaves_len = (meta.end_index - meta.first_index) * 32;
        let written = active
            .file
            .write_all(&frame)
            .map_err(JournalError::io(&meta.path))
            .and_then(|()| {
                active
                    .leaves
                    .write_all(&leaf_bytes)
                    .map_err(JournalError::io(&meta.leaves_path))
            });
        if let Err(error) = written {
            // Cut back what was written of this frame, so a later append does
            // not follow a partial frame.
            let _ = active.file.set_len(segment_len);
            let _ = active.leaves.set_len(leaves_len);
            self.active = None;
            return Err(error);
        }
        meta.bytes += frame.len() as u64;
        meta.end_index += records.len() as u64;
        meta.last_time_micros = time_micros;
        for leaf in leaves {
            self.range.push(*leaf);
        }
        self.dirty = true;
        self.sidecar_dirty = true;
        Ok(first)
    }

    /// Makes every record appended so far durable: the segment's bytes.
    ///
    /// The active segment's leaf sidecar is left to the kernel here: it is
    /// derived data, opening rebuilds the last segment's from its records and
    /// readers hash a segment whose sidecar is short, so a crash costs a
    /// rebuild, never a record. Leaving it out halves the fsyncs each group
    /// commit waits for. It is made durable when its segment is sealed
    /// ([`StreamLog::sync_with_sidecar`]).
    pub(crate) fn sync(&mut self) -> Result<(), JournalError> {
        if !self.dirty {
            return Ok(());
        }
        if let (Some(active), Some(meta)) = (&self.active, self.segments.last()) {
            active
                .file
                .sync_data()
                .map_err(JournalError::io(&meta.path))?;
        }
        self.dirty = false;
        Ok(())
    }

    /// [`StreamLog::sync`], and the active segment's leaf sidecar too: before
    /// the segment is sealed (compaction and proofs then read the sidecar
    /// of a sealed segment as it is).
    pub(crate) fn sync_with_sidecar(&mut self) -> Result<(), JournalError> {
        self.sync()?;
        if !self.sidecar_dirty {
            return Ok(());
        }
        if let (Some(active), Some(meta)) = (&self.active, self.segments.last()) {
            active
                .leaves
                .sync_data()
                .map_err(JournalError::io(&meta.leaves_path))?;
        }
        self.sidecar_dirty = false;
        Ok(())
    }

    /// Writes a signed checkpoint of the current tree (after making it durable).
    pub(crate) fn checkpoint(&mut self, key: &SigningKeyPair) -> Result<Option<u64>, JournalError> {
        let size = self.size();
        self.last_checkpoint_at = Instant::now();
        if size == 0 || size == self.checkpoint_size {
            return Ok(None);
        }
        self.sync()?;
        let note = Checkpoint {
            origin: self.origin.clone(),
            size,
            root: self.range.root(),
            extensions: Vec::new(),
        }
        .sign(key);
        let path = self
            .layout
            .checkpoints_dir(self.stream)
            .join(format!("{}.note", index_name(size)));
        write_durably(&path, note.as_bytes())?;
        self.checkpoint_size = size;
        Ok(Some(size))
    }

    fn compaction_job(&self, segment: &SegmentMeta) -> CompactionJob {
        CompactionJob {
            stream: self.stream,
            first_index: segment.first_index,
            path: segment.path.clone(),
            leaves_path: segment.leaves_path.clone(),
        }
    }

    /// Puts a compacted segment in place of the original, unless retention
    /// removed it meanwhile (or it is the active one, which never happens:
    /// only sealed segments are compacted).
    pub(crate) fn install_compacted(&mut self, done: Compacted) -> Result<(), JournalError> {
        let sealed = self.segments.len().saturating_sub(1);
        let Some(meta) = self.segments[..sealed]
            .iter_mut()
            .find(|s| s.first_index == done.first_index && !s.compacted)
        else {
            return fs::remove_file(&done.tmp).map_err(JournalError::io(&done.tmp));
        };
        fs::rename(&done.tmp, &meta.path).map_err(JournalError::io(&meta.path))?;
        sync_dir(&self.layout.stream_dir(self.stream))?;
        tracing::debug!(stream = %self.stream, segment = %meta.path.display(), before = meta.bytes, after = done.bytes, "segment compacted");
        meta.bytes = done.bytes;
        meta.compacted = true;
        Ok(())
    }

    /// Forgets the active file handles (before removing segments).
    pub(crate) fn seal(&mut self) -> Result<(), JournalError> {
        self.sync_with_sidecar()?;
        self.active = None;
        Ok(())
    }
}
