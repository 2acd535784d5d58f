//! One stream's journal, as the writer sees it: its segments, the running
//! Merkle tree, the active segment and its leaf-hash sidecar.
//!
//! Opening recovers from a crash: a torn or partial tail of the last segment
//! is cut back to the last whole frame, and the sidecar of the last segment is
//! rebuilt from the records, so the tree always covers exactly the records on
//! disk.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use whodid_model::Stream;

use crate::checkpoint::Checkpoint;
use crate::datadir::{index_name, numbered_files, sync_dir, write_durably, Layout};
use crate::error::JournalError;
use crate::format::{encode_frame, encode_segment_header, leaf_data, RecordInput};
use crate::keys::SigningKeyPair;
use crate::merkle::{leaf_hash, CompactRange, Hash};
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
    dirty: bool,
    pub(crate) checkpoint_size: u64,
    pub(crate) last_checkpoint_at: Instant,
    segment_max_bytes: u64,
}

fn leaves_path_of(segment: &std::path::Path) -> PathBuf {
    segment.with_extension("leaves")
}

fn read_leaves(path: &std::path::Path) -> Result<Vec<Hash>, JournalError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(JournalError::io(path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(JournalError::io(path)(e)),
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
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
                .map(|r| leaf_hash(&leaf_data(&r.envelope, &r.raw))),
        );
    }
    Ok(leaves)
}

fn write_leaves(path: &std::path::Path, leaves: &[Hash]) -> Result<(), JournalError> {
    let bytes: Vec<u8> = leaves.iter().flat_map(|h| h.iter().copied()).collect();
    write_durably(path, &bytes)
}

impl StreamLog {
    /// Opens (and recovers) a stream.
    pub(crate) fn open(
        layout: &Layout,
        stream: Stream,
        origin: String,
        segment_max_bytes: u64,
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
                read_leaves(&leaves_path)?
            };
            if leaves.len() as u64 != expected || position == last {
                leaves = segment_leaves(stream, path, &scanned)?;
                write_leaves(&leaves_path, &leaves)?;
            }
            for leaf in &leaves {
                range.push(*leaf);
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
            });
        }
        if let (Some(record), Some(first)) = (&retention, segments.first()) {
            debug_assert!(first.first_index >= record.end);
        }
        let checkpoint_size = numbered_files(&layout.checkpoints_dir(stream), "note")?
            .last()
            .map(|(size, _)| *size)
            .unwrap_or(0);
        Ok(StreamLog {
            stream,
            layout: layout.clone(),
            origin,
            range,
            segments,
            active: None,
            dirty: false,
            checkpoint_size,
            last_checkpoint_at: Instant::now(),
            segment_max_bytes,
        })
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
            self.sync()?;
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
            file.write_all(&encode_segment_header(self.stream, first))
                .and_then(|()| file.sync_all())
                .map_err(JournalError::io(&path))?;
            let leaves = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&leaves_path)
                .map_err(JournalError::io(&leaves_path))?;
            sync_dir(&self.layout.stream_dir(self.stream))?;
            self.segments.push(SegmentMeta {
                first_index: first,
                end_index: first,
                bytes: crate::format::SEGMENT_HEADER_LEN as u64,
                path,
                leaves_path,
                last_time_micros: 0,
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

    /// Appends one frame of records; returns the index of the first. On an
    /// error nothing of the frame stays on disk and the tree is unchanged.
    pub(crate) fn append(
        &mut self,
        records: &[RecordInput],
        time_micros: u64,
    ) -> Result<u64, JournalError> {
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
        let leaves: Vec<Hash> = records
            .iter()
            .map(|r| leaf_hash(&leaf_data(&r.envelope, &r.raw)))
            .collect();
        let leaf_bytes: Vec<u8> = leaves.iter().flat_map(|h| h.iter().copied()).collect();
        let (Some(active), Some(meta)) = (self.active.as_mut(), self.segments.last_mut()) else {
            return Err(JournalError::WriterStopped("no active segment".into()));
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
            self.range.push(leaf);
        }
        self.dirty = true;
        Ok(first)
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&mut self) -> Result<(), JournalError> {
        if !self.dirty {
            return Ok(());
        }
        if let (Some(active), Some(meta)) = (&self.active, self.segments.last()) {
            active
                .file
                .sync_data()
                .map_err(JournalError::io(&meta.path))?;
            active
                .leaves
                .sync_data()
                .map_err(JournalError::io(&meta.leaves_path))?;
        }
        self.dirty = false;
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

    /// Forgets the active file handles (before removing segments).
    pub(crate) fn seal(&mut self) -> Result<(), JournalError> {
        self.sync()?;
        self.active = None;
        Ok(())
    }
}
