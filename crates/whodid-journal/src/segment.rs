//! Reading a segment file: its header and its frames, stopping at the first
//! frame that is incomplete or does not check out.
//!
//! Used by recovery (to find a torn tail), by readers and by `verify`. A
//! segment is at most a few tens of megabytes, so it is read whole.

use std::path::Path;

use crate::error::JournalError;
use crate::format::{
    check_frame, decode_frame_header, decode_payload, decode_segment_header, FormatError,
    FrameHeader, SegmentHeader, StoredRecord, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
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
