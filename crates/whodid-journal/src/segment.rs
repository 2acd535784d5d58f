//! Reading a segment file: its header and its frames, either stopping at
//! the first frame that is incomplete or does not check out
//! ([`ScannedSegment`], what readers and compaction use), or going on past
//! it to the next valid frame ([`Salvage`], what recovery and `verify` use
//! to tell a torn tail from damage and to lose one frame per bad byte, not
//! the rest of the segment). A segment is at most a few tens of megabytes,
//! so it is read whole.

use std::path::Path;

use crate::error::JournalError;
use crate::format::{
    check_frame, decode_frame_header, decode_payload, decode_segment_header, FormatError,
    FrameHeader, SegmentHeader, StoredRecord, FRAME_HEADER_LEN, FRAME_MAGIC, SEGMENT_HEADER_LEN,
};

/// A frame found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    /// Byte offset of the frame header.
    pub offset: usize,
    /// Byte offset just past the frame.
    pub end: usize,
    /// The frame's header.
    pub header: FrameHeader,
}

/// Where and why reading a segment stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Byte offset of the bad or incomplete frame.
    pub offset: usize,
    /// What is wrong there.
    pub reason: FormatError,
}

/// A segment's content.
#[derive(Debug)]
pub struct ScannedSegment {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// The header.
    pub header: SegmentHeader,
    /// The good frames, in order.
    pub frames: Vec<FrameSpan>,
    /// Set when something other than a clean end follows the good frames.
    pub stop: Option<Stop>,
}

impl ScannedSegment {
    /// Reads and scans a segment file.
    pub fn read(path: &Path) -> Result<Result<ScannedSegment, FormatError>, JournalError> {
        let bytes = std::fs::read(path).map_err(JournalError::io(path))?;
        Ok(ScannedSegment::scan(bytes))
    }

    /// Scans a segment's bytes. `Err` when even the header is unusable.
    pub fn scan(bytes: Vec<u8>) -> Result<ScannedSegment, FormatError> {
        let header = decode_segment_header(&bytes)?;
        let mut frames = Vec::new();
        let mut stop = None;
        let mut offset = SEGMENT_HEADER_LEN;
        let mut expected_index = header.first_index;
        while offset < bytes.len() {
            let frame_header = match decode_frame_header(&bytes[offset..]) {
                Ok(h) => h,
                Err(reason) => {
                    stop = Some(Stop { offset, reason });
                    break;
                }
            };
            let end = offset + FRAME_HEADER_LEN + frame_header.payload_len as usize;
            if end > bytes.len() {
                stop = Some(Stop {
                    offset,
                    reason: FormatError::Truncated {
                        have: bytes.len() - offset,
                        need: end - offset,
                    },
                });
                break;
            }
            if let Err(reason) = check_frame(&frame_header, &bytes[offset..end]) {
                stop = Some(Stop { offset, reason });
                break;
            }
            if frame_header.first_index != expected_index {
                stop = Some(Stop {
                    offset,
                    reason: FormatError::Payload("frame does not continue the record numbering"),
                });
                break;
            }
            expected_index += u64::from(frame_header.count);
            frames.push(FrameSpan {
                offset,
                end,
                header: frame_header,
            });
            offset = end;
        }
        Ok(ScannedSegment {
            bytes,
            header,
            frames,
            stop,
        })
    }

    /// One past the index of the last record in the good frames.
    pub fn end_index(&self) -> u64 {
        self.frames
            .last()
            .map(|f| f.header.first_index + u64::from(f.header.count))
            .unwrap_or(self.header.first_index)
    }

    /// Byte length of the good part.
    pub fn good_len(&self) -> usize {
        self.frames
            .last()
            .map(|f| f.end)
            .unwrap_or(SEGMENT_HEADER_LEN)
    }

    /// The frame holding record `index`, if this segment has it.
    pub fn frame_of(&self, index: u64) -> Option<&FrameSpan> {
        let at = self
            .frames
            .partition_point(|f| f.header.first_index + u64::from(f.header.count) <= index);
        self.frames
            .get(at)
            .filter(|f| f.header.first_index <= index)
    }

    /// The records of one frame.
    pub fn records(&self, frame: &FrameSpan) -> Result<Vec<StoredRecord>, FormatError> {
        decode_payload(
            &frame.header,
            &self.bytes[frame.offset + FRAME_HEADER_LEN..frame.end],
        )
    }
}

/// Bytes of a segment that do not hold valid frames: a damaged header, a
/// frame that fails its checksum or numbering, or a tail that ends inside a
/// frame (see [`Salvage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRange {
    /// First damaged byte.
    pub start: usize,
    /// One past the last damaged byte (the next valid frame, or the end of
    /// the file).
    pub end: usize,
    /// The first record whose bytes lie in the range.
    pub first_record: u64,
    /// One past the last record in the range, when a valid frame follows
    /// (`None` for a damaged tail: the caller knows where the segment ends).
    pub end_record: Option<u64>,
    /// What is wrong at `start`.
    pub reason: FormatError,
}

impl DamagedRange {
    /// True for the header (bytes before the first frame).
    pub fn is_header(&self) -> bool {
        self.start == 0
    }
}

/// A segment read for recovery and `verify`: every valid frame, wherever it
/// is, and the byte ranges between them that are damaged.
///
/// Unlike [`ScannedSegment::scan`], which stops at the first bad frame (all a
/// torn tail needs), salvaging goes on: after a bad frame it looks for the
/// next frame that checks out (magic, length, checksum, numbering that goes
/// forward), so one damaged byte costs one frame, and the records after it
/// stay readable. A damaged header does not stop it either: the first index
/// is then the file name's.
#[derive(Debug)]
pub struct Salvage {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// The first record's index (from the file name).
    pub first_index: u64,
    /// The header's flags when the header is valid.
    pub flags: Option<u32>,
    /// The valid frames, in order.
    pub frames: Vec<FrameSpan>,
    /// The damaged ranges, in order.
    pub damaged: Vec<DamagedRange>,
}

/// A whole frame at `offset` that checks out and whose first index is at
/// least `expected`.
fn valid_frame_at(bytes: &[u8], offset: usize, expected: u64) -> Option<FrameSpan> {
    let header = decode_frame_header(bytes.get(offset..)?).ok()?;
    let end = offset
        .checked_add(FRAME_HEADER_LEN)?
        .checked_add(header.payload_len as usize)?;
    if end > bytes.len() || header.first_index < expected {
        return None;
    }
    check_frame(&header, &bytes[offset..end]).ok()?;
    Some(FrameSpan {
        offset,
        end,
        header,
    })
}

/// Why the bytes at `offset` are not the frame numbered `expected`.
fn frame_problem(bytes: &[u8], offset: usize, expected: u64) -> FormatError {
    match decode_frame_header(&bytes[offset..]) {
        Err(reason) => reason,
        Ok(header) => {
            let end = offset + FRAME_HEADER_LEN + header.payload_len as usize;
            if end > bytes.len() {
                FormatError::Truncated {
                    have: bytes.len() - offset,
                    need: end - offset,
                }
            } else if let Err(reason) = check_frame(&header, &bytes[offset..end]) {
                reason
            } else if header.first_index != expected {
                FormatError::Payload("frame does not continue the record numbering")
            } else {
                FormatError::Payload("frame not readable")
            }
        }
    }
}

/// The next valid frame at or after `from` numbered at least `expected`.
fn next_valid_frame(bytes: &[u8], from: usize, expected: u64) -> Option<FrameSpan> {
    let mut at = from;
    while at + FRAME_HEADER_LEN <= bytes.len() {
        let rest = &bytes[at..];
        let found = rest.windows(4).position(|w| w == FRAME_MAGIC)?;
        at += found;
        if let Some(span) = valid_frame_at(bytes, at, expected) {
            return Some(span);
        }
        at += 1;
    }
    None
}

impl Salvage {
    /// Reads and salvages a segment file named for record `first_index`.
    pub fn read(path: &Path, first_index: u64) -> Result<Salvage, JournalError> {
        let bytes = std::fs::read(path).map_err(JournalError::io(path))?;
        Ok(Salvage::scan(bytes, first_index))
    }

    /// Salvages a segment's bytes; `first_index` is what its name says.
    pub fn scan(bytes: Vec<u8>, first_index: u64) -> Salvage {
        let mut salvage = Salvage {
            flags: None,
            first_index,
            frames: Vec::new(),
            damaged: Vec::new(),
            bytes,
        };
        let bytes = &salvage.bytes;
        match decode_segment_header(bytes) {
            Ok(header) if header.first_index == first_index => salvage.flags = Some(header.flags),
            Ok(_) => salvage.damaged.push(DamagedRange {
                start: 0,
                end: SEGMENT_HEADER_LEN,
                first_record: first_index,
                end_record: Some(first_index),
                reason: FormatError::Payload("the header names another first record"),
            }),
            Err(reason) => salvage.damaged.push(DamagedRange {
                start: 0,
                end: SEGMENT_HEADER_LEN.min(bytes.len()),
                first_record: first_index,
                end_record: Some(first_index),
                reason,
            }),
        }
        let mut offset = SEGMENT_HEADER_LEN;
        let mut expected = first_index;
        while offset < bytes.len() {
            if let Some(span) =
                valid_frame_at(bytes, offset, expected).filter(|s| s.header.first_index == expected)
            {
                expected += u64::from(span.header.count);
                offset = span.end;
                salvage.frames.push(span);
                continue;
            }
            let reason = frame_problem(bytes, offset, expected);
            match next_valid_frame(bytes, offset, expected) {
                Some(next) => {
                    salvage.damaged.push(DamagedRange {
                        start: offset,
                        end: next.offset,
                        first_record: expected,
                        end_record: Some(next.header.first_index),
                        reason,
                    });
                    expected = next.header.first_index;
                    offset = next.offset;
                }
                None => {
                    salvage.damaged.push(DamagedRange {
                        start: offset,
                        end: bytes.len(),
                        first_record: expected,
                        end_record: None,
                        reason,
                    });
                    break;
                }
            }
        }
        salvage
    }

    /// One past the last record of the valid frames (the first index when
    /// there is none).
    pub fn frames_end(&self) -> u64 {
        self.frames
            .last()
            .map(|f| f.header.first_index + u64::from(f.header.count))
            .unwrap_or(self.first_index)
    }

    /// Byte length up to the end of the last valid frame.
    pub fn frames_len(&self) -> usize {
        self.frames
            .last()
            .map(|f| f.end)
            .unwrap_or(SEGMENT_HEADER_LEN.min(self.bytes.len()))
    }

    /// The damaged tail (bytes after the last valid frame up to the end of
    /// the file), if the file ends in one.
    pub fn damaged_tail(&self) -> Option<&DamagedRange> {
        self.damaged
            .last()
            .filter(|d| d.end_record.is_none() && d.start >= SEGMENT_HEADER_LEN)
    }

    /// True when the header is valid and no byte after it is damaged.
    pub fn is_whole(&self) -> bool {
        self.damaged.is_empty()
    }

    /// The records of one frame.
    pub fn records(&self, frame: &FrameSpan) -> Result<Vec<StoredRecord>, FormatError> {
        decode_payload(
            &frame.header,
            &self.bytes[frame.offset + FRAME_HEADER_LEN..frame.end],
        )
    }

    /// Turns a valid frame whose payload does not decode into a damaged
    /// range (its checksum held, so its bytes were written that way).
    pub fn demote(&mut self, frame_at: usize, reason: FormatError) {
        if frame_at >= self.frames.len() {
            return;
        }
        let frame = self.frames.remove(frame_at);
        self.damaged.push(DamagedRange {
            start: frame.offset,
            end: frame.end,
            first_record: frame.header.first_index,
            end_record: Some(frame.header.first_index + u64::from(frame.header.count)),
            reason,
        });
        self.damaged.sort_by_key(|d| d.start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_frame, encode_segment_header, RecordInput};
    use whodid_model::Stream;

    fn segment(first: u64, frames: u64) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = encode_segment_header(Stream::App, first, 0).to_vec();
        let mut offsets = Vec::new();
        for f in 0..frames {
            offsets.push(bytes.len());
            let records: Vec<RecordInput> = (0..3)
                .map(|i| RecordInput {
                    envelope: vec![],
                    raw: format!("record {f}-{i}").into_bytes(),
                })
                .collect();
            bytes.extend(encode_frame(first + f * 3, 1, &records).unwrap());
        }
        (bytes, offsets)
    }

    #[test]
    fn a_bad_frame_costs_that_frame_and_the_next_is_found_again() {
        let (mut bytes, offsets) = segment(30, 4);
        bytes[offsets[1] + 40] ^= 1;
        let salvage = Salvage::scan(bytes, 30);
        let firsts: Vec<u64> = salvage
            .frames
            .iter()
            .map(|f| f.header.first_index)
            .collect();
        assert_eq!(firsts, vec![30, 36, 39]);
        assert_eq!(salvage.damaged.len(), 1);
        let d = &salvage.damaged[0];
        assert_eq!((d.start, d.end), (offsets[1], offsets[2]));
        assert_eq!((d.first_record, d.end_record), (33, Some(36)));
        assert_eq!(d.reason, FormatError::Checksum);
        assert!(salvage.damaged_tail().is_none());
    }

    #[test]
    fn a_damaged_header_keeps_the_frames_and_a_cut_tail_is_a_tail() {
        let (mut bytes, offsets) = segment(0, 3);
        bytes[13] ^= 1;
        let len = bytes.len();
        bytes.truncate(len - 5);
        let salvage = Salvage::scan(bytes, 0);
        assert!(salvage.flags.is_none());
        assert_eq!(salvage.frames.len(), 2);
        assert_eq!(salvage.frames_end(), 6);
        assert!(salvage.damaged[0].is_header());
        let tail = salvage.damaged_tail().expect("a damaged tail");
        assert_eq!((tail.start, tail.end_record), (offsets[2], None));
    }

    #[test]
    fn missing_records_are_a_zero_length_range() {
        // Frames 0 and 2 only: the numbering jumps over frame 1's records.
        let (whole, offsets) = segment(0, 3);
        let mut bytes = whole[..offsets[1]].to_vec();
        bytes.extend_from_slice(&whole[offsets[2]..]);
        let salvage = Salvage::scan(bytes, 0);
        assert_eq!(salvage.frames.len(), 2);
        let d = &salvage.damaged[0];
        assert_eq!(d.start, d.end);
        assert_eq!((d.first_record, d.end_record), (3, Some(6)));
    }

    #[test]
    fn garbage_is_all_damage_never_a_panic() {
        let salvage = Salvage::scan(b"WFR1WFR1garbage".to_vec(), 7);
        assert!(salvage.frames.is_empty());
        assert_eq!(salvage.frames_end(), 7);
        assert_eq!(salvage.damaged.len(), 1);
        assert!(Salvage::scan(Vec::new(), 0).damaged[0].is_header());
    }
}
