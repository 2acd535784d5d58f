//! The on-disk format of journal segments (see `docs/journal.md`).
//!
//! A segment file is a 32-byte header followed by frames. A frame holds the
//! records of one group commit, zstd-compressed together (compression works
//! across records, which is where audit events repeat themselves), behind a
//! 32-byte header with a crc32 over header and payload, so a torn or edited
//! frame is detected. Every integer is little-endian.
//!
//! ```text
//! segment header: magic "WHODIDSG" | version u32 | stream u32 | first index u64 | flags u32 | crc32 u32
//! frame header:   magic "WFR1"     | first index u64 | count u32 | time µs u64 | payload len u32 | crc32 u32
//! payload:        zstd( { envelope len u32 | raw len u32 | envelope | raw } × count )
//! ```
//!
//! The Merkle leaf of a record is `u32be(envelope len) ‖ envelope ‖ raw`.

use sha2::{Digest, Sha256};
use whodid_model::Stream;

use crate::merkle::Hash;

/// The first bytes of every segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"WHODIDSG";
/// The first bytes of every frame.
pub const FRAME_MAGIC: &[u8; 4] = b"WFR1";
/// The segment format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Size of a frame header.
pub const FRAME_HEADER_LEN: usize = 32;
/// The largest frame payload accepted when reading (guards against garbage lengths).
pub const MAX_FRAME_PAYLOAD: u32 = 256 << 20;
/// zstd level for frames written by group commit: the fastest, because the
/// writer thread compresses every group commit on the way to every
/// acknowledgement (level 3 took ~10% more of the tailer's time; on the
/// capture's events in 400-record frames level 1 wrote 179,817 bytes, level
/// 3 181,373). Compaction recompresses sealed segments at its own level.
pub const ZSTD_LEVEL: i32 = 1;
/// Segment header flag: the segment was rewritten by compaction (its frames
/// hold up to [`FRAME_MAX_RECORDS`] records each).
pub const FLAG_COMPACTED: u32 = 1;
/// The most records the writer and compaction put in one frame. One
/// damaged byte costs the records of its frame (the next valid frame is
/// found again), so this bounds what a bad byte loses: at most 256 records
/// or [`FRAME_MAX_BYTES`] of them, whichever is less (a single larger
/// record is a frame of its own). On the capture (2,947 events, 3.8 MB)
/// compacted at zstd 5 this costs 179,043 bytes instead of 149,307 in
/// frames of 4,096 records / 4 MiB (+19.9%); see `docs/journal.md`.
pub const FRAME_MAX_RECORDS: usize = 256;
/// The most uncompressed record bytes in one frame (see [`FRAME_MAX_RECORDS`]).
pub const FRAME_MAX_BYTES: usize = 256 << 10;

/// Splits records into the frames they are written in: consecutive runs of
/// at most [`FRAME_MAX_RECORDS`] records and [`FRAME_MAX_BYTES`] bytes
/// (a run ends with the record that reaches either).
pub fn frame_runs(records: &[RecordInput]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, record) in records.iter().enumerate() {
        bytes += 8 + record.envelope.len() + record.raw.len();
        if i + 1 - start >= FRAME_MAX_RECORDS || bytes >= FRAME_MAX_BYTES {
            runs.push(start..i + 1);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < records.len() || records.is_empty() {
        runs.push(start..records.len());
    }
    runs
}

/// One record: the original bytes exactly as received, and the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInput {
    /// The normalised envelope (its stored JSON form).
    pub envelope: Vec<u8>,
    /// The original event, exactly as received.
    pub raw: Vec<u8>,
}

/// The bytes a record's Merkle leaf is the hash of.
pub fn leaf_data(envelope: &[u8], raw: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(4 + envelope.len() + raw.len());
    data.extend_from_slice(&(envelope.len() as u32).to_be_bytes());
    data.extend_from_slice(envelope);
    data.extend_from_slice(raw);
    data
}

/// The record's Merkle leaf hash, `SHA-256(0x00 ‖ leaf_data(envelope, raw))`,
/// computed without copying the record.
pub fn record_leaf_hash(envelope: &[u8], raw: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update((envelope.len() as u32).to_be_bytes());
    hasher.update(envelope);
    hasher.update(raw);
    hasher.finalize().into()
}

/// The index of a stream in segment headers.
pub fn stream_code(stream: Stream) -> u32 {
    Stream::ALL.iter().position(|s| *s == stream).unwrap_or(0) as u32
}

/// Encodes a segment header.
pub fn encode_segment_header(
    stream: Stream,
    first_index: u64,
    flags: u32,
) -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&stream_code(stream).to_le_bytes());
    header[16..24].copy_from_slice(&first_index.to_le_bytes());
    header[24..28].copy_from_slice(&flags.to_le_bytes());
    let crc = crc32fast::hash(&header[..28]);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
    header
}

/// What a segment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format version.
    pub version: u32,
    /// The stream code.
    pub stream: u32,
    /// The index of the first record.
    pub first_index: u64,
    /// Flags ([`FLAG_COMPACTED`]).
    pub flags: u32,
}

/// Why bytes are not a valid segment header or frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Fewer bytes than a header.
    #[error("truncated: {have} of {need} bytes")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Wrong magic bytes.
    #[error("not a whodid segment or frame (bad magic)")]
    BadMagic,
    /// A format version this build does not know.
    #[error("unsupported format version {0}")]
    Version(u32),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// A length that cannot be right.
    #[error("implausible frame length {0}")]
    Length(u32),
    /// The payload does not decompress or parse.
    #[error("corrupt payload: {0}")]
    Payload(&'static str),
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Decodes a segment header.
pub fn decode_segment_header(bytes: &[u8]) -> Result<SegmentHeader, FormatError> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err(FormatError::Truncated {
            have: bytes.len(),
            need: SEGMENT_HEADER_LEN,
        });
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err(FormatError::BadMagic);
    }
    if crc32fast::hash(&bytes[..28]) != u32_at(bytes, 28) {
        return Err(FormatError::Checksum);
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(FormatError::Version(version));
    }
    Ok(SegmentHeader {
        version,
        stream: u32_at(bytes, 12),
        first_index: u64_at(bytes, 16),
        flags: u32_at(bytes, 24),
    })
}

/// A frame's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Index of the frame's first record.
    pub first_index: u64,
    /// Number of records.
    pub count: u32,
    /// When the frame was written (µs since the Unix epoch).
    pub time_micros: u64,
    /// Compressed payload length.
    pub payload_len: u32,
    /// The stored crc32.
    pub crc: u32,
}

/// Encodes the records of one frame (header + compressed payload).
pub fn encode_frame(
    first_index: u64,
    time_micros: u64,
    records: &[RecordInput],
) -> std::io::Result<Vec<u8>> {
    encode_frame_at_level(first_index, time_micros, records, ZSTD_LEVEL)
}

/// [`encode_frame`] with a chosen zstd level.
pub fn encode_frame_at_level(
    first_index: u64,
    time_micros: u64,
    records: &[RecordInput],
    level: i32,
) -> std::io::Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(
        records
            .iter()
            .map(|r| 8 + r.envelope.len() + r.raw.len())
            .sum(),
    );
    for record in records {
        plain.extend_from_slice(&(record.envelope.len() as u32).to_le_bytes());
        plain.extend_from_slice(&(record.raw.len() as u32).to_le_bytes());
        plain.extend_from_slice(&record.envelope);
        plain.extend_from_slice(&record.raw);
    }
    let payload = zstd::bulk::compress(&plain, level)?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    frame.extend_from_slice(FRAME_MAGIC);
    frame.extend_from_slice(&first_index.to_le_bytes());
    frame.extend_from_slice(&(records.len() as u32).to_le_bytes());
    frame.extend_from_slice(&time_micros.to_le_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&frame[..28]);
    crc.update(&payload);
    frame.extend_from_slice(&crc.finalize().to_le_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Decodes a frame header (not its payload).
pub fn decode_frame_header(bytes: &[u8]) -> Result<FrameHeader, FormatError> {
    if bytes.len() < FRAME_HEADER_LEN {
        return Err(FormatError::Truncated {
            have: bytes.len(),
            need: FRAME_HEADER_LEN,
        });
    }
    if &bytes[..4] != FRAME_MAGIC {
        return Err(FormatError::BadMagic);
    }
    let header = FrameHeader {
        first_index: u64_at(bytes, 4),
        count: u32_at(bytes, 12),
        time_micros: u64_at(bytes, 16),
        payload_len: u32_at(bytes, 24),
        crc: u32_at(bytes, 28),
    };
    if header.payload_len > MAX_FRAME_PAYLOAD {
        return Err(FormatError::Length(header.payload_len));
    }
    Ok(header)
}

/// Checks a whole frame's checksum: `frame` is header + payload.
pub fn check_frame(header: &FrameHeader, frame: &[u8]) -> Result<(), FormatError> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&frame[..28]);
    crc.update(&frame[FRAME_HEADER_LEN..]);
    if crc.finalize() != header.crc {
        return Err(FormatError::Checksum);
    }
    Ok(())
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's index in its stream.
    pub index: u64,
    /// The envelope bytes.
    pub envelope: Vec<u8>,
    /// The original bytes.
    pub raw: Vec<u8>,
    /// When its frame was written (µs since the Unix epoch).
    pub time_micros: u64,
}

/// Decompresses and splits a frame's payload into its records.
pub fn decode_payload(
    header: &FrameHeader,
    payload: &[u8],
) -> Result<Vec<StoredRecord>, FormatError> {
    let plain = zstd::stream::decode_all(payload).map_err(|_| FormatError::Payload("zstd"))?;
    let mut records = Vec::with_capacity(header.count as usize);
    let mut at = 0usize;
    while at < plain.len() {
        if plain.len() - at < 8 {
            return Err(FormatError::Payload("record header cut short"));
        }
        let envelope_len = u32_at(&plain, at) as usize;
        let raw_len = u32_at(&plain, at + 4) as usize;
        at += 8;
        if plain.len() - at < envelope_len + raw_len {
            return Err(FormatError::Payload("record cut short"));
        }
        records.push(StoredRecord {
            index: header.first_index + records.len() as u64,
            envelope: plain[at..at + envelope_len].to_vec(),
            raw: plain[at + envelope_len..at + envelope_len + raw_len].to_vec(),
            time_micros: header.time_micros,
        });
        at += envelope_len + raw_len;
    }
    if records.len() != header.count as usize {
        return Err(FormatError::Payload(
            "record count differs from the frame header",
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_bounded_in_records_and_bytes() {
        let small = RecordInput {
            envelope: vec![],
            raw: vec![b'x'; 100],
        };
        let runs = frame_runs(&vec![small.clone(); 600]);
        assert_eq!(runs, vec![0..256, 256..512, 512..600]);
        let big = RecordInput {
            envelope: vec![],
            raw: vec![b'x'; 100 << 10],
        };
        let runs = frame_runs(&[big.clone(), big.clone(), big.clone(), small]);
        assert_eq!(runs, vec![0..3, 3..4]);
        assert_eq!(frame_runs(&[]), vec![0..0]);
    }

    #[test]
    fn frame_round_trip_and_corruption() {
        let records = vec![
            RecordInput {
                envelope: b"{\"a\":1}".to_vec(),
                raw: b"raw one".to_vec(),
            },
            RecordInput {
                envelope: vec![],
                raw: vec![0, 1, 2],
            },
        ];
        let frame = encode_frame(7, 1234, &records).unwrap();
        let header = decode_frame_header(&frame).unwrap();
        assert_eq!(
            (header.first_index, header.count, header.time_micros),
            (7, 2, 1234)
        );
        check_frame(&header, &frame).unwrap();
        let decoded = decode_payload(&header, &frame[FRAME_HEADER_LEN..]).unwrap();
        assert_eq!(decoded[1].index, 8);
        assert_eq!(decoded[0].raw, b"raw one");
        let mut bad = frame.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(check_frame(&header, &bad), Err(FormatError::Checksum));
        assert_eq!(
            record_leaf_hash(&records[0].envelope, &records[0].raw),
            crate::merkle::leaf_hash(&leaf_data(&records[0].envelope, &records[0].raw))
        );
        let seg = encode_segment_header(Stream::PgAudit, 99, FLAG_COMPACTED);
        let decoded = decode_segment_header(&seg).unwrap();
        assert_eq!((decoded.first_index, decoded.flags), (99, FLAG_COMPACTED));
    }
}
