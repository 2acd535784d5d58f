//! Compaction: rewriting a sealed segment into large frames.
//!
//! Group commit writes one frame per batch, and a batch can be a single
//! record (one webhook request, fsync every batch): such frames compress
//! ten times worse than the same records compressed together. Once a segment
//! is sealed, a background thread rewrites it with frames of up to
//! [`FRAME_MAX_RECORDS`] records or [`FRAME_MAX_BYTES`] bytes (the bound on
//! what one damaged byte loses), at a higher zstd level, so the size on
//! disk no longer depends on how appends were batched. A damaged segment is
//! never compacted: it is not queued, and a segment that does not read
//! whole or disagrees with its sidecar is refused here.
//!
//! Compaction changes bytes, never records: it decodes the segment, checks
//! every record against the leaf-hash sidecar (so it never launders a
//! changed record into a clean-looking file), writes `<first>.compact`,
//! fsyncs it, and hands it to the writer thread, which renames it over the
//! segment unless retention removed the segment meanwhile. A crash leaves
//! either the old or the new file (same records, same leaf hashes); stray
//! `.compact` files are removed at open.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use whodid_model::Stream;

use crate::error::JournalError;
use crate::format::{
    encode_frame_at_level, encode_segment_header, record_leaf_hash, FormatError, RecordInput,
    FLAG_COMPACTED, FRAME_MAX_BYTES, FRAME_MAX_RECORDS,
};
use crate::leaves::read_sidecar;
use crate::segment::ScannedSegment;
use crate::writer::Command;

/// A sealed segment to rewrite.
#[derive(Debug, Clone)]
pub(crate) struct CompactionJob {
    pub(crate) stream: Stream,
    pub(crate) first_index: u64,
    pub(crate) path: PathBuf,
    pub(crate) leaves_path: PathBuf,
}

/// A rewritten segment, ready to be renamed over the original.
#[derive(Debug)]
pub(crate) struct Compacted {
    pub(crate) stream: Stream,
    pub(crate) first_index: u64,
    pub(crate) tmp: PathBuf,
    pub(crate) bytes: u64,
}

/// The compaction thread, stopped and joined by [`Compactor::stop`].
#[derive(Debug)]
pub(crate) struct Compactor {
    jobs: Option<Sender<CompactionJob>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Compactor {
    /// Starts the thread; finished segments are sent to the writer as
    /// [`Command::Compacted`].
    pub(crate) fn spawn(level: i32, writer: Sender<Command>) -> Result<Compactor, JournalError> {
        let (jobs, rx) = mpsc::channel::<CompactionJob>();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("whodid-journal-compaction".into())
            .spawn(move || run(&rx, level, &writer, &thread_stop))
            .map_err(JournalError::io("compaction thread"))?;
        Ok(Compactor {
            jobs: Some(jobs),
            stop,
            handle: Some(handle),
        })
    }

    /// Queues a segment.
    pub(crate) fn submit(&self, job: CompactionJob) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    /// Abandons queued work (it is resumed at the next open) and joins the thread.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(rx: &Receiver<CompactionJob>, level: i32, writer: &Sender<Command>, stop: &AtomicBool) {
    while let Ok(job) = rx.recv() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match compact(&job, level, stop) {
            Ok(Some(done)) => {
                let tmp = done.tmp.clone();
                if writer.send(Command::Compacted(done)).is_err() {
                    let _ = fs::remove_file(tmp);
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                // The segment stays as it is: still valid, just larger.
                tracing::warn!(stream = %job.stream, segment = %job.path.display(), error = %e, "segment not compacted");
            }
        }
    }
}

/// The temporary file compaction writes next to `segment`.
pub(crate) fn tmp_path(segment: &Path) -> PathBuf {
    segment.with_extension("compact")
}

/// Writes one compacted frame; its length.
fn write_group(
    out: &mut File,
    tmp: &Path,
    first: u64,
    time: u64,
    group: &[RecordInput],
    level: i32,
) -> Result<u64, JournalError> {
    let encoded =
        encode_frame_at_level(first, time, group, level).map_err(JournalError::io(tmp))?;
    out.write_all(&encoded).map_err(JournalError::io(tmp))?;
    Ok(encoded.len() as u64)
}

/// Rewrites one segment into `<first>.compact`; `None` when stopped.
fn compact(
    job: &CompactionJob,
    level: i32,
    stop: &AtomicBool,
) -> Result<Option<Compacted>, JournalError> {
    let corrupt = |source| JournalError::Corrupt {
        stream: job.stream.to_string(),
        path: job.path.clone(),
        source,
    };
    let scanned = ScannedSegment::read(&job.path)?.map_err(corrupt)?;
    if let Some(stop) = &scanned.stop {
        return Err(corrupt(stop.reason.clone()));
    }
    let sidecar = read_sidecar(&job.leaves_path)?;
    let count = scanned.end_index() - scanned.header.first_index;
    if sidecar.len() as u64 != count {
        return Err(corrupt(FormatError::Payload(
            "leaf sidecar does not match the segment",
        )));
    }
    let tmp = tmp_path(&job.path);
    let mut out = File::create(&tmp).map_err(JournalError::io(&tmp))?;
    let header = encode_segment_header(job.stream, scanned.header.first_index, FLAG_COMPACTED);
    out.write_all(&header).map_err(JournalError::io(&tmp))?;
    let mut bytes = header.len() as u64;
    let mut group: Vec<RecordInput> = Vec::new();
    let mut group_bytes = 0usize;
    let mut group_first = scanned.header.first_index;
    let mut group_time = 0u64;
    let mut next = scanned.header.first_index;
    for frame in &scanned.frames {
        if stop.load(Ordering::Relaxed) {
            drop(out);
            let _ = fs::remove_file(&tmp);
            return Ok(None);
        }
        for record in scanned.records(frame).map_err(corrupt)? {
            let offset = (record.index - scanned.header.first_index) as usize;
            if sidecar.get(offset) != Some(&record_leaf_hash(&record.envelope, &record.raw)) {
                drop(out);
                let _ = fs::remove_file(&tmp);
                return Err(corrupt(FormatError::Payload(
                    "a record does not match its leaf hash: not compacted, run `whodid verify`",
                )));
            }
            group_bytes += 8 + record.envelope.len() + record.raw.len();
            group_time = group_time.max(record.time_micros);
            group.push(RecordInput {
                envelope: record.envelope,
                raw: record.raw,
            });
            next += 1;
            if group.len() >= FRAME_MAX_RECORDS || group_bytes >= FRAME_MAX_BYTES {
                bytes += write_group(&mut out, &tmp, group_first, group_time, &group, level)?;
                group.clear();
                group_bytes = 0;
                group_time = 0;
                group_first = next;
            }
        }
    }
    if !group.is_empty() {
        bytes += write_group(&mut out, &tmp, group_first, group_time, &group, level)?;
    }
    out.sync_all().map_err(JournalError::io(&tmp))?;
    Ok(Some(Compacted {
        stream: job.stream,
        first_index: job.first_index,
        tmp,
        bytes,
    }))
}
