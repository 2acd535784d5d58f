//! Iterating a stream's records in order, one frame in memory at a time.
//!
//! The index follower and `whodid reindex` read the whole journal through
//! this, beside a writer that keeps appending. So it reads a segment frame
//! by frame with positioned reads instead of whole: frames before the start
//! are skipped by their headers (no payload read or decompressed), and only
//! one frame's records are in memory at once, however large the segment.
//! At the end of the active segment it answers `None` without losing its
//! place: a frame still being written is not seen yet, and a later call to
//! `next` picks up the frames appended since and the segments created since.

use std::collections::VecDeque;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use whodid_model::Stream;

use crate::error::JournalError;
use crate::format::{
    check_frame, decode_frame_header, decode_payload, decode_segment_header, FormatError,
    StoredRecord, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::reader::JournalReader;

/// Every record of a stream from an index on, in order.
pub struct RecordIter {
    reader: JournalReader,
    stream: Stream,
    /// Segments not opened yet: (first index, path), in order.
    queued: VecDeque<(u64, PathBuf)>,
    /// The first index of the newest segment known.
    newest: Option<u64>,
    current: Option<OpenSegment>,
    buffered: std::vec::IntoIter<StoredRecord>,
    /// The next index to hand out; records before it are skipped.
    from: u64,
}

impl std::fmt::Debug for RecordIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordIter")
            .field("stream", &self.stream)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The segment being read.
struct OpenSegment {
    path: PathBuf,
    file: File,
    /// Byte offset of the next frame.
    offset: u64,
    /// The index the next frame must start with.
    expected: u64,
}

/// What reading at a segment's current offset found.
enum Frame {
    /// A whole frame's records.
    Records(Vec<StoredRecord>),
    /// A whole frame before the start, passed over.
    Skipped,
    /// Nothing more yet: the end, or a frame not completely written.
    End,
}

impl RecordIter {
    pub(crate) fn new(
        reader: JournalReader,
        stream: Stream,
        segments: Vec<(u64, PathBuf)>,
        from: u64,
    ) -> RecordIter {
        // Start with the last segment that begins at or before `from`.
        let start = segments
            .iter()
            .rposition(|(first, _)| *first <= from)
            .unwrap_or(0);
        let newest = segments.last().map(|(first, _)| *first);
        RecordIter {
            reader,
            stream,
            queued: segments.into_iter().skip(start).collect(),
            newest,
            current: None,
            buffered: Vec::new().into_iter(),
            from,
        }
    }

    fn corrupt(&self, path: &std::path::Path, source: FormatError) -> JournalError {
        JournalError::Corrupt {
            stream: self.stream.to_string(),
            path: path.to_owned(),
            source,
        }
    }

    /// Queues the segments created since the newest one known; whether any were.
    fn look_for_new_segments(&mut self) -> Result<bool, JournalError> {
        let newest = self.newest;
        let fresh: Vec<_> = self
            .reader
            .segments(self.stream)?
            .into_iter()
            .filter(|(first, _)| newest.is_none_or(|n| *first > n))
            .collect();
        if let Some((first, _)) = fresh.last() {
            self.newest = Some(*first);
        }
        let found = !fresh.is_empty();
        self.queued.extend(fresh);
        Ok(found)
    }

    /// Opens the next queued segment; `None` when its header is not written yet.
    fn open_next(&mut self) -> Result<Option<OpenSegment>, JournalError> {
        let Some((_, path)) = self.queued.front().cloned() else {
            return Ok(None);
        };
        let file = File::open(&path).map_err(JournalError::io(&path))?;
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        match file.read_exact_at(&mut head, 0) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(JournalError::io(&path)(e)),
        }
        let header = decode_segment_header(&head).map_err(|e| self.corrupt(&path, e))?;
        self.queued.pop_front();
        Ok(Some(OpenSegment {
            path,
            file,
            offset: SEGMENT_HEADER_LEN as u64,
            expected: header.first_index,
        }))
    }

    /// Reads at the open segment's offset.
    fn read_frame(&self, segment: &mut OpenSegment) -> Result<Frame, JournalError> {
        let path = &segment.path;
        let io = JournalError::io(path);
        let mut head = [0u8; FRAME_HEADER_LEN];
        match segment.file.read_exact_at(&mut head, segment.offset) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Frame::End),
            Err(e) => return Err(io(e)),
        }
        let header = decode_frame_header(&head).map_err(|e| self.corrupt(path, e))?;
        if header.first_index != segment.expected {
            return Err(self.corrupt(
                path,
                FormatError::Payload("frame does not continue the record numbering"),
            ));
        }
        let end = segment.offset + (FRAME_HEADER_LEN as u64) + u64::from(header.payload_len);
        let next = header.first_index + u64::from(header.count);
        if next <= self.from {
            // Passed over unread, but only once it is all there.
            let len = segment.file.metadata().map_err(io)?.len();
            if len < end {
                return Ok(Frame::End);
            }
            segment.offset = end;
            segment.expected = next;
            return Ok(Frame::Skipped);
        }
        let mut frame = vec![0u8; FRAME_HEADER_LEN + header.payload_len as usize];
        match segment.file.read_exact_at(&mut frame, segment.offset) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Frame::End),
            Err(e) => return Err(JournalError::io(path)(e)),
        }
        check_frame(&header, &frame).map_err(|e| self.corrupt(path, e))?;
        let records = decode_payload(&header, &frame[FRAME_HEADER_LEN..])
            .map_err(|e| self.corrupt(path, e))?;
        segment.offset = end;
        segment.expected = next;
        Ok(Frame::Records(records))
    }

    fn advance(&mut self) -> Result<Option<StoredRecord>, JournalError> {
        loop {
            if let Some(record) = self.buffered.next() {
                if record.index < self.from {
                    continue;
                }
                self.from = record.index + 1;
                return Ok(Some(record));
            }
            let Some(mut segment) = self.current.take() else {
                if self.queued.is_empty() && !self.look_for_new_segments()? {
                    return Ok(None);
                }
                match self.open_next()? {
                    Some(segment) => self.current = Some(segment),
                    None => return Ok(None),
                }
                continue;
            };
            let frame = self.read_frame(&mut segment);
            match frame? {
                Frame::Records(records) => {
                    self.buffered = records.into_iter();
                    self.current = Some(segment);
                }
                Frame::Skipped => self.current = Some(segment),
                Frame::End => {
                    // A newer segment means this one is sealed: go on to it.
                    if self.queued.is_empty() && !self.look_for_new_segments()? {
                        self.current = Some(segment);
                        return Ok(None);
                    }
                }
            }
        }
    }
}

impl Iterator for RecordIter {
    type Item = Result<StoredRecord, JournalError>;

    /// The next record; `None` at the current end of the journal (calling
    /// again later continues with what was appended since).
    fn next(&mut self) -> Option<Self::Item> {
        self.advance().transpose()
    }
}
