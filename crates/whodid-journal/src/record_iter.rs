//! Iterating a stream's records in order, one frame in memory at a time,
//! reading past damage.
//!
//! The index follower, `whodid reindex` and the reports read the whole
//! journal through this, beside a writer that keeps appending. So it reads a
//! segment frame by frame with positioned reads instead of whole: frames
//! before the start are skipped by their headers (no payload read or
//! decompressed), and only one frame's records are in memory at once,
//! however large the segment. At the end of the active segment it answers
//! `None` without losing its place: a frame still being written is not seen
//! yet, and a later call to `next` picks up the frames appended since and
//! the segments created since.
//!
//! One bad byte must not hide the rest of a stream. A frame that does not
//! check out (header, checksum, numbering, payload) is handed out as an
//! [`Entry::Damaged`] naming the stream, segment, byte range and the records
//! it held, and reading goes on at the next frame that checks out (found by
//! its magic and checksum; its numbering and the previous frame's give the
//! lost records). Damage at the very end of the *active* segment is not
//! reported: that may be a frame being written, and it is reported once a
//! newer segment shows the segment sealed. [`RecordIter::next_entry`] is the
//! API for readers that go on past damage; the plain [`Iterator`] hands the
//! damage out as a [`JournalError::Corrupt`] and also goes on after it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use whodid_model::Stream;

use crate::error::JournalError;
use crate::format::{
    check_frame, decode_frame_header, decode_payload, decode_segment_header, FormatError,
    FrameHeader, StoredRecord, FRAME_HEADER_LEN, FRAME_MAGIC, SEGMENT_HEADER_LEN,
};
use crate::reader::JournalReader;

/// Bytes of a segment that could not be read, and the records they held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedFrame {
    /// The stream.
    pub stream: Stream,
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the first damaged byte in the segment.
    pub offset: u64,
    /// Bytes that could not be read (up to the next frame that checks out,
    /// or the end of the segment).
    pub len: u64,
    /// The first record that could not be read.
    pub first: u64,
    /// One past the last record that could not be read (`first == end`:
    /// damaged bytes that held no record, e.g. a segment header).
    pub end: u64,
    /// What is wrong.
    pub reason: FormatError,
    /// When the frame before the damage was written (µs since the epoch).
    pub written_after_micros: Option<u64>,
    /// When the frame after the damage was written (µs since the epoch).
    pub written_before_micros: Option<u64>,
}

impl std::fmt::Display for DamagedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stream {}, segment {}, bytes {}..{}: {}; ",
            self.stream,
            self.segment.display(),
            self.offset,
            self.offset + self.len,
            self.reason
        )?;
        if self.first == self.end {
            write!(f, "no record lost")
        } else {
            write!(f, "records {}..{} unreadable", self.first, self.end)
        }
    }
}

/// What reading a stream finds next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A record.
    Record(StoredRecord),
    /// Damaged bytes; reading goes on after them.
    Damaged(DamagedFrame),
}

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
    /// Damage found and not handed out yet.
    damaged: VecDeque<DamagedFrame>,
    /// The next index to hand out; records before it are skipped.
    from: u64,
    /// When the last frame read was written.
    last_time: Option<u64>,
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
    /// Damaged bytes, passed over.
    Damaged(DamagedFrame),
    /// Nothing more yet: the end, or a frame not completely written.
    End,
}

/// The next frame at or after `from` in `bytes` that checks out and whose
/// numbering is at least `min_index`: (offset, header). What readers resume
/// at after damage.
pub(crate) fn next_valid_frame(
    bytes: &[u8],
    from: usize,
    min_index: u64,
) -> Option<(usize, FrameHeader)> {
    let mut at = from;
    while at + FRAME_HEADER_LEN <= bytes.len() {
        let found = bytes[at..]
            .windows(FRAME_MAGIC.len())
            .position(|w| w == FRAME_MAGIC)?;
        at += found;
        if let Ok(header) = decode_frame_header(&bytes[at..]) {
            let end = at + FRAME_HEADER_LEN + header.payload_len as usize;
            if end <= bytes.len()
                && header.first_index >= min_index
                && check_frame(&header, &bytes[at..end]).is_ok()
            {
                return Some((at, header));
            }
        }
        at += 1;
    }
    None
}

/// One past the last record of a segment's bytes that checks out, reading
/// past damaged frames; `named_first` (from the file name) when even the
/// header is unusable.
pub(crate) fn segment_end_index(bytes: &[u8], named_first: u64) -> u64 {
    let mut end = decode_segment_header(bytes).map_or(named_first, |h| h.first_index);
    let mut at = SEGMENT_HEADER_LEN;
    while let Some((offset, frame)) = next_valid_frame(bytes, at, end) {
        end = frame.first_index + u64::from(frame.count);
        at = offset + FRAME_HEADER_LEN + frame.payload_len as usize;
    }
    end
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
            damaged: VecDeque::new(),
            from,
            last_time: None,
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

    /// Whether the segment being read is sealed (a newer one exists), and
    /// the first index of the next one.
    fn sealed(&mut self) -> Result<Option<u64>, JournalError> {
        if self.queued.is_empty() {
            self.look_for_new_segments()?;
        }
        Ok(self.queued.front().map(|(first, _)| *first))
    }

    fn damage(
        &self,
        path: &Path,
        offset: u64,
        len: u64,
        records: (u64, u64),
        reason: FormatError,
        written_before_micros: Option<u64>,
    ) -> DamagedFrame {
        DamagedFrame {
            stream: self.stream,
            segment: path.to_owned(),
            offset,
            len,
            first: records.0,
            end: records.1.max(records.0),
            reason,
            written_after_micros: self.last_time,
            written_before_micros,
        }
    }

    /// Opens the next queued segment; `None` when its header is not written yet.
    fn open_next(&mut self) -> Result<Option<OpenSegment>, JournalError> {
        let Some((named_first, path)) = self.queued.front().cloned() else {
            return Ok(None);
        };
        let file = File::open(&path).map_err(JournalError::io(&path))?;
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        let read = match file.read_exact_at(&mut head, 0) {
            Ok(()) => decode_segment_header(&head),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(FormatError::Truncated {
                have: file.metadata().map_or(0, |m| m.len() as usize),
                need: SEGMENT_HEADER_LEN,
            }),
            Err(e) => return Err(JournalError::io(&path)(e)),
        };
        self.queued.pop_front();
        let expected = match read {
            Ok(header) => header.first_index,
            Err(reason) => {
                let sealed = self.sealed()?.is_some();
                if !sealed && matches!(reason, FormatError::Truncated { .. }) {
                    // The active segment's header, not written yet.
                    self.queued.push_front((named_first, path));
                    return Ok(None);
                }
                // The file's name says where its records begin; its frames
                // may still be readable.
                let damage = self.damage(
                    &path,
                    0,
                    SEGMENT_HEADER_LEN as u64,
                    (named_first, named_first),
                    reason,
                    None,
                );
                self.damaged.push_back(damage);
                named_first
            }
        };
        Ok(Some(OpenSegment {
            path,
            file,
            offset: SEGMENT_HEADER_LEN as u64,
            expected,
        }))
    }

    /// Bad bytes at the segment's offset: finds the next frame that checks
    /// out and hands out what lies between as damage.
    fn resync(
        &mut self,
        segment: &mut OpenSegment,
        reason: FormatError,
    ) -> Result<Frame, JournalError> {
        let path = segment.path.clone();
        let io = JournalError::io(&path);
        let len = segment.file.metadata().map_err(io)?.len();
        let start = segment.offset;
        let mut rest = vec![0u8; len.saturating_sub(start) as usize];
        segment
            .file
            .read_exact_at(&mut rest, start)
            .map_err(JournalError::io(&path))?;
        // A frame that checks out but starts past the expected record (a
        // frame gone) is resumed at; one that checks out but cannot be
        // decoded is passed.
        let found = match next_valid_frame(&rest, 0, segment.expected) {
            Some((0, header)) if header.first_index == segment.expected => {
                next_valid_frame(&rest, 1, segment.expected)
            }
            found => found,
        };
        if let Some((at, header)) = found {
            let damage = self.damage(
                &path,
                start,
                at as u64,
                (segment.expected, header.first_index),
                reason,
                Some(header.time_micros),
            );
            segment.offset = start + at as u64;
            segment.expected = header.first_index;
            return Ok(Frame::Damaged(damage));
        }
        match self.sealed()? {
            // Maybe a frame being written: look again later.
            None => Ok(Frame::End),
            Some(next_first) => {
                let damage = self.damage(
                    &path,
                    start,
                    len - start,
                    (segment.expected, next_first),
                    reason,
                    None,
                );
                segment.offset = len;
                segment.expected = next_first.max(segment.expected);
                Ok(Frame::Damaged(damage))
            }
        }
    }

    /// Reads at the open segment's offset.
    fn read_frame(&mut self, segment: &mut OpenSegment) -> Result<Frame, JournalError> {
        let path = segment.path.clone();
        let io = JournalError::io(&path);
        let mut head = [0u8; FRAME_HEADER_LEN];
        match segment.file.read_exact_at(&mut head, segment.offset) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return self.at_end(segment),
            Err(e) => return Err(io(e)),
        }
        let header = match decode_frame_header(&head) {
            Ok(header) => header,
            Err(reason) => return self.resync(segment, reason),
        };
        if header.first_index != segment.expected {
            let reason = FormatError::Payload("frame does not continue the record numbering");
            return self.resync(segment, reason);
        }
        let end = segment.offset + (FRAME_HEADER_LEN as u64) + u64::from(header.payload_len);
        let next = header.first_index + u64::from(header.count);
        let len = segment.file.metadata().map_err(io)?.len();
        if len < end {
            // Not all there: being written, or a length that cannot be right.
            let have = (len - segment.offset) as usize;
            let need = (end - segment.offset) as usize;
            return self.resync(segment, FormatError::Truncated { have, need });
        }
        if next <= self.from {
            // Passed over unread.
            segment.offset = end;
            segment.expected = next;
            self.last_time = Some(header.time_micros);
            return Ok(Frame::Skipped);
        }
        let mut frame = vec![0u8; FRAME_HEADER_LEN + header.payload_len as usize];
        match segment.file.read_exact_at(&mut frame, segment.offset) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return self.at_end(segment),
            Err(e) => return Err(JournalError::io(&path)(e)),
        }
        let records = check_frame(&header, &frame)
            .and_then(|()| decode_payload(&header, &frame[FRAME_HEADER_LEN..]));
        match records {
            Ok(records) => {
                segment.offset = end;
                segment.expected = next;
                self.last_time = Some(header.time_micros);
                Ok(Frame::Records(records))
            }
            Err(reason) => self.resync(segment, reason),
        }
    }

    /// No whole frame at the offset: the end for now, or (in a sealed
    /// segment) trailing bytes or records that are missing.
    fn at_end(&mut self, segment: &mut OpenSegment) -> Result<Frame, JournalError> {
        let Some(next_first) = self.sealed()? else {
            return Ok(Frame::End);
        };
        let len = segment
            .file
            .metadata()
            .map_err(JournalError::io(&segment.path))?
            .len();
        if len > segment.offset || next_first > segment.expected {
            let have = len.saturating_sub(segment.offset) as usize;
            let damage = self.damage(
                &segment.path,
                segment.offset,
                len.saturating_sub(segment.offset),
                (segment.expected, next_first),
                FormatError::Truncated {
                    have,
                    need: have.max(FRAME_HEADER_LEN),
                },
                None,
            );
            segment.offset = len.max(segment.offset);
            segment.expected = next_first.max(segment.expected);
            return Ok(Frame::Damaged(damage));
        }
        Ok(Frame::End)
    }

    /// Damage to hand out, unless it lies wholly before the start.
    fn take_damage(&mut self) -> Option<DamagedFrame> {
        while let Some(mut damage) = self.damaged.pop_front() {
            let lost_records = damage.first < damage.end;
            if (lost_records && damage.end <= self.from)
                || (!lost_records && damage.first < self.from)
            {
                continue;
            }
            damage.first = damage.first.max(self.from);
            self.from = self.from.max(damage.end);
            return Some(damage);
        }
        None
    }

    fn advance(&mut self) -> Result<Option<Entry>, JournalError> {
        loop {
            if let Some(damage) = self.take_damage() {
                return Ok(Some(Entry::Damaged(damage)));
            }
            if let Some(record) = self.buffered.next() {
                if record.index < self.from {
                    continue;
                }
                self.from = record.index + 1;
                return Ok(Some(Entry::Record(record)));
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
            match self.read_frame(&mut segment)? {
                Frame::Records(records) => {
                    self.buffered = records.into_iter();
                    self.current = Some(segment);
                }
                Frame::Skipped => self.current = Some(segment),
                Frame::Damaged(damage) => {
                    self.damaged.push_back(damage);
                    self.current = Some(segment);
                }
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

    /// The next record or damaged part; `None` at the current end of the
    /// journal (calling again later continues with what was appended since).
    pub fn next_entry(&mut self) -> Option<Result<Entry, JournalError>> {
        self.advance().transpose()
    }
}

impl Iterator for RecordIter {
    type Item = Result<StoredRecord, JournalError>;

    /// The next record; `None` at the current end of the journal (calling
    /// again later continues with what was appended since). Damage is an
    /// `Err` ([`JournalError::Corrupt`]); the next call reads on after it.
    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.next_entry()? {
            Ok(Entry::Record(record)) => Ok(record),
            Ok(Entry::Damaged(damage)) => Err(JournalError::Corrupt {
                stream: damage.stream.to_string(),
                path: damage.segment,
                source: damage.reason,
            }),
            Err(error) => Err(error),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
