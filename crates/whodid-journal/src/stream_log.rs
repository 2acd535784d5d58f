//! One stream's journal, as the writer sees it: its segments, the running
//! Merkle tree, the active segment and its leaf-hash sidecar.
//!
//! Opening recovers from a crash and from damage ([`crate::recovery`]): a
//! torn tail of the last segment that nothing signed covers is cut back to
//! the last whole frame (its bytes kept in `torn/`); anything else that does
//! not check out is kept as it is and recorded ([`crate::damage`]), and the
//! stream goes on in a new segment. The last segment's sidecar is rebuilt
//! from its records, so the tree covers exactly the records on disk.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use whodid_model::Stream;

use crate::checkpoint::{open_note, Checkpoint, Verifier};
use crate::compaction::{Compacted, CompactionJob};
use crate::damage::{read_notes, write_note, DamageKind, DamageNote, DamageRecord, LeafSource};
use crate::datadir::{index_name, numbered_files, sync_dir, write_durably, Layout};
use crate::error::JournalError;
use crate::format::{encode_frame, encode_segment_header, frame_runs, RecordInput};
use crate::keys::SigningKeyPair;
use crate::merkle::{CompactRange, Hash};
use crate::recovery::{self, Signed};
use crate::retention::RetentionRecord;

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
    /// Holds damage (see `crate::damage`): never written, compacted or
    /// removed by retention.
    pub(crate) damaged: bool,
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
    /// Set when damage leaves the stream's tree unknown: why nothing is
    /// appended to it (see [`StreamLog::open`]).
    pub(crate) stopped: Option<String>,
}

fn leaves_path_of(segment: &std::path::Path) -> PathBuf {
    segment.with_extension("leaves")
}

/// The latest checkpoint of a stream whose signature verifies with the
/// journal's own key, the checkpoints newer than it that do not (damage:
/// path and why), and the largest size any of them claims.
struct Checkpoints {
    signed: Option<(Checkpoint, PathBuf)>,
    damaged: Vec<(PathBuf, String)>,
    guard: u64,
}

fn checkpoints(
    layout: &Layout,
    stream: Stream,
    verifier: &Verifier,
) -> Result<Checkpoints, JournalError> {
    let mut found = Checkpoints {
        signed: None,
        damaged: Vec::new(),
        guard: 0,
    };
    let suffix = format!("/{stream}");
    for (size, path) in numbered_files(&layout.checkpoints_dir(stream), "note")?
        .into_iter()
        .rev()
    {
        found.guard = found.guard.max(size);
        let note = fs::read(&path).map_err(JournalError::io(&path))?;
        let note = String::from_utf8_lossy(&note);
        match Checkpoint::parse_and_verify(&note, verifier) {
            Ok(cp) if cp.size == size && cp.origin.ends_with(&suffix) => {
                found.signed = Some((cp, path));
                break;
            }
            Ok(cp) => found.damaged.push((
                path,
                format!(
                    "checkpoint of {} at size {} is filed under size {size}",
                    cp.origin, cp.size
                ),
            )),
            Err(e) => found
                .damaged
                .push((path, format!("checkpoint does not verify: {e}"))),
        }
    }
    Ok(found)
}

/// The latest retention record, its signature checked. A record whose
/// signature does not verify but whose body reads is used (the signed root
/// at open then confirms its frontier) and reported; one that does not read
/// at all leaves the tree without a start.
enum Retained {
    None,
    Record(RetentionRecord),
    Damaged(Option<RetentionRecord>, DamageRecord),
}

fn retained(
    layout: &Layout,
    stream: Stream,
    verifier: &Verifier,
) -> Result<Retained, JournalError> {
    let Some((_, path)) = numbered_files(&layout.retention_dir(stream), "note")?.pop() else {
        return Ok(Retained::None);
    };
    let bytes = fs::read(&path).map_err(JournalError::io(&path))?;
    let text = String::from_utf8_lossy(&bytes);
    let why = match open_note(&text, verifier) {
        Ok(body) => match RetentionRecord::parse(&body) {
            Some(record) => return Ok(Retained::Record(record)),
            None => "signed, but not a readable retention record".to_owned(),
        },
        Err(e) => format!("signature does not verify ({e})"),
    };
    let body = text.split("\n\n").next().unwrap_or("").to_owned() + "\n";
    let record = RetentionRecord::parse(&body);
    let detail = match &record {
        Some(r) => format!("retention record {why}; its body still reads (records {}..{} removed) and is used: the signed root at open confirms its frontier", r.first, r.end),
        None => format!("retention record {why} and its body does not read: the tree of the records it removed is unknown"),
    };
    let name = path
        .file_name()
        .map(|n| format!("retention/{}", n.to_string_lossy()))
        .unwrap_or_default();
    let finding = DamageRecord {
        stream: stream.to_string(),
        file: name,
        kind: DamageKind::Retention,
        bytes: (0, bytes.len() as u64),
        records: None,
        leaves: if record.is_some() {
            LeafSource::None
        } else {
            LeafSource::Unknown
        },
        kept: "in place".to_owned(),
        detail,
        time: crate::damage::now_secs(),
    };
    Ok(Retained::Damaged(record, finding))
}

/// Writes a signed note for each finding not recorded before (the same
/// damage is found again at every open until it is dealt with).
fn record_findings(
    layout: &Layout,
    stream: Stream,
    findings: &[DamageRecord],
    key: &SigningKeyPair,
) -> Result<(), JournalError> {
    if findings.is_empty() {
        return Ok(());
    }
    let known: Vec<_> = read_notes(layout, stream, &key.verifier())?
        .into_iter()
        .filter_map(|(_, _, note)| match note {
            Ok(DamageNote::Damage(record)) => Some(record.key()),
            _ => None,
        })
        .collect();
    for finding in findings {
        if known.contains(&finding.key()) {
            continue;
        }
        let (seq, path) = write_note(layout, stream, &finding.body(), key)?;
        tracing::error!(stream = %stream, file = %finding.file, bytes = ?finding.bytes, records = ?finding.records, note = %path.display(), seq, "journal damage found and kept: {finding}; `whodid verify` reports it until `whodid journal acknowledge-damage`");
    }
    Ok(())
}

impl StreamLog {
    /// Opens (and recovers) a stream: cuts a torn tail (kept aside), and
    /// records damage instead of cutting it (see [`crate::recovery`]). A
    /// stream whose damage leaves its tree unknown opens *stopped*: nothing
    /// is appended to it or signed for it, the other streams go on.
    pub(crate) fn open(
        layout: &Layout,
        stream: Stream,
        origin: String,
        segment_max_bytes: u64,
        key: &SigningKeyPair,
    ) -> Result<StreamLog, JournalError> {
        let verifier = key.verifier();
        let dir = layout.stream_dir(stream);
        for d in [
            dir.clone(),
            layout.checkpoints_dir(stream),
            layout.retention_dir(stream),
        ] {
            fs::create_dir_all(&d).map_err(JournalError::io(&d))?;
        }
        // Leftovers of a compaction cut short: the segment itself is intact.
        for (_, stray) in numbered_files(&dir, "compact")? {
            fs::remove_file(&stray).map_err(JournalError::io(&stray))?;
        }
        let mut early = Vec::new();
        let (start, retention_end) = match retained(layout, stream, &verifier)? {
            Retained::None => (CompactRange::new(), 0),
            Retained::Record(record) => (record.frontier_range()?, record.end),
            Retained::Damaged(record, finding) => {
                match record.map(|r| (r.frontier_range(), r.end)) {
                    Some((Ok(range), end)) => {
                        early.push(finding);
                        (range, end)
                    }
                    _ => {
                        return StreamLog::stopped(
                            layout,
                            stream,
                            origin,
                            segment_max_bytes,
                            key,
                            vec![finding],
                            "its latest retention record is damaged".to_owned(),
                        );
                    }
                }
            }
        };
        let found = checkpoints(layout, stream, &verifier)?;
        let signed = Signed {
            checkpoint: found
                .signed
                .as_ref()
                .map(|(cp, _)| cp)
                .filter(|cp| cp.size >= start.size()),
            guard: found.guard,
        };
        let mut plan = recovery::plan(layout, stream, start.clone(), &signed, true)?;
        if plan.mismatch && plan.unknown.is_none() {
            // A sidecar may disagree with its records: hash every record.
            plan = recovery::plan(layout, stream, start, &signed, false)?;
        }
        let retention_damaged = !early.is_empty();
        plan.findings.append(&mut early);
        let mut moves = Vec::new();
        for (path, detail) in &found.damaged {
            moves.push(recovery::Action::MoveAside {
                path: path.clone(),
                finding: plan.findings.len(),
            });
            let name = path
                .file_name()
                .map(|n| format!("checkpoints/{}", n.to_string_lossy()))
                .unwrap_or_default();
            let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            plan.findings.push(DamageRecord {
                stream: stream.to_string(),
                file: name,
                kind: DamageKind::Checkpoint,
                bytes: (0, len),
                records: None,
                leaves: LeafSource::None,
                kept: "damaged/".to_owned(),
                detail: format!("{detail}: moved aside; the latest valid checkpoint is used"),
                time: crate::damage::now_secs(),
            });
        }
        let checkpoint_path = || {
            found
                .signed
                .as_ref()
                .map(|(_, p)| p.clone())
                .unwrap_or_default()
        };
        let signed_size = signed.checkpoint.map(|cp| cp.size).unwrap_or(0);
        let trouble = if plan.mismatch {
            Some(format!(
                "its records do not hash to the root signed at size {signed_size}"
            ))
        } else if plan.short {
            Some(format!(
                "it holds {} records but a signed checkpoint covers {signed_size}",
                plan.range.size()
            ))
        } else {
            plan.unknown.clone()
        };
        if let Some(trouble) = trouble {
            if !plan.has_data_damage() && !retention_damaged {
                // Changed or cut with every frame intact: not damage whodid
                // can account for. Refuse rather than sign over it.
                return Err(if plan.mismatch {
                    JournalError::CheckpointMismatch {
                        stream,
                        size: signed_size,
                        path: checkpoint_path(),
                    }
                } else {
                    JournalError::SignedBeyondEnd {
                        stream,
                        records: plan.range.size(),
                        size: signed_size,
                        path: checkpoint_path(),
                    }
                });
            }
            let mut findings = plan.findings;
            for finding in &mut findings {
                if finding.records.is_some() {
                    finding.leaves = LeafSource::Unknown;
                }
            }
            return StreamLog::stopped(
                layout,
                stream,
                origin,
                segment_max_bytes,
                key,
                findings,
                trouble,
            );
        }
        plan.actions.extend(moves);
        plan.apply(layout, stream)?;
        record_findings(layout, stream, &plan.findings, key)?;
        let checkpoint_size = signed_size.max(retention_end);
        let mut log = StreamLog {
            stream,
            layout: layout.clone(),
            origin,
            range: plan.range,
            segments: plan.segments,
            active: None,
            dirty: false,
            sidecar_dirty: false,
            to_compact: Vec::new(),
            checkpoint_size,
            last_checkpoint_at: Instant::now(),
            segment_max_bytes,
            stopped: None,
        };
        let sealed = log.segments.len().saturating_sub(1);
        let waiting: Vec<CompactionJob> = log.segments[..sealed]
            .iter()
            .filter(|s| !s.compacted && !s.damaged)
            .map(|s| log.compaction_job(s))
            .collect();
        log.to_compact = waiting;
        if log.segments.last().is_some_and(|s| s.damaged) {
            // A damaged segment is never written again: the stream goes on
            // in a new one, made now so readers see where the stream ends.
            log.open_active()?;
        }
        Ok(log)
    }

    /// A stream whose tree cannot be rebuilt: its damage is recorded, nothing
    /// on disk is changed, and appends to it are refused.
    fn stopped(
        layout: &Layout,
        stream: Stream,
        origin: String,
        segment_max_bytes: u64,
        key: &SigningKeyPair,
        mut findings: Vec<DamageRecord>,
        why: String,
    ) -> Result<StreamLog, JournalError> {
        let reason = format!("stream {stream} is stopped: {why}; its damage is recorded and nothing of it was changed; other streams go on; run `whodid verify` and see docs/journal.md (damage)");
        for finding in &mut findings {
            // Nothing is moved in a stopped stream.
            finding.kept = "in place".to_owned();
            finding.detail.push_str(&format!("; {reason}"));
        }
        record_findings(layout, stream, &findings, key)?;
        tracing::error!(stream = %stream, "{reason}");
        Ok(StreamLog {
            stream,
            layout: layout.clone(),
            origin,
            range: CompactRange::new(),
            segments: Vec::new(),
            active: None,
            dirty: false,
            sidecar_dirty: false,
            to_compact: Vec::new(),
            checkpoint_size: 0,
            last_checkpoint_at: Instant::now(),
            segment_max_bytes,
            stopped: Some(reason),
        })
    }

    /// The number of records ever appended (the tree size).
    pub(crate) fn size(&self) -> u64 {
        self.range.size()
    }

    fn open_active(&mut self) -> Result<(), JournalError> {
        let need_new = match self.segments.last() {
            None => true,
            Some(last) => last.bytes >= self.segment_max_bytes || last.damaged,
        };
        if need_new {
            self.sync_with_sidecar()?;
            if let Some(sealed) = self.segments.last().filter(|s| !s.damaged) {
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
                damaged: false,
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
        if let Some(reason) = &self.stopped {
            return Err(JournalError::StreamStopped {
                stream: self.stream,
                reason: reason.clone(),
            });
        }
        if self
            .segments
            .last()
            .is_none_or(|last| last.bytes >= self.segment_max_bytes)
            || self.active.is_none()
        {
            self.open_active()?;
        }
        let first = self.size();
        // Bounded frames: one damaged byte costs at most one frame's records.
        let mut frame = Vec::new();
        for run in frame_runs(records) {
            let at = first + run.start as u64;
            let encoded =
                encode_frame(at, time_micros, &records[run]).map_err(JournalError::io("zstd"))?;
            frame.extend_from_slice(&encoded);
        }
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
        if size == 0 || size == self.checkpoint_size || self.stopped.is_some() {
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
            .find(|s| s.first_index == done.first_index && !s.compacted && !s.damaged)
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
