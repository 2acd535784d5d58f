//! Reading past damage: each kind of damage a segment can take is named
//! once, with the records it cost, and every other record is read.

use std::path::{Path, PathBuf};

use whodid_model::Stream;

use super::{DamagedFrame, Entry};
use crate::reader::JournalReader;
use crate::segment::ScannedSegment;
use crate::{Journal, JournalConfig, RecordInput};

const N: u64 = 400;

fn record(i: u64) -> RecordInput {
    RecordInput {
        envelope: format!("{{\"i\":{i}}}").into_bytes(),
        raw: format!("event {i} {}", "x".repeat((i % 37) as usize)).into_bytes(),
    }
}

/// `N` records in frames of 10, segments of about 1 KiB, not compacted.
fn build(dir: &Path) -> Vec<PathBuf> {
    let config = JournalConfig {
        segment_max_bytes: 1024,
        compaction_level: None,
        ..JournalConfig::default()
    };
    let journal = Journal::open(dir, config).unwrap();
    for start in (0..N).step_by(10) {
        journal
            .append_wait(Stream::KubeAudit, (start..start + 10).map(record).collect())
            .unwrap();
    }
    journal.close().unwrap();
    let segments = JournalReader::open(dir)
        .unwrap()
        .segments(Stream::KubeAudit)
        .unwrap();
    assert!(segments.len() >= 4, "{segments:?}");
    segments.into_iter().map(|(_, p)| p).collect()
}

/// Every record index read and every damage found, from `from` on.
fn read_all(dir: &Path, from: u64) -> (Vec<u64>, Vec<DamagedFrame>) {
    let reader = JournalReader::open(dir).unwrap();
    let mut iter = reader.iter_from(Stream::KubeAudit, from).unwrap();
    let (mut records, mut damage) = (Vec::new(), Vec::new());
    while let Some(entry) = iter.next_entry() {
        match entry.unwrap() {
            Entry::Record(r) => {
                assert_eq!(r.raw, record(r.index).raw);
                records.push(r.index);
            }
            Entry::Damaged(d) => damage.push(d),
        }
    }
    (records, damage)
}

fn all_but(lost: std::ops::Range<u64>, from: u64) -> Vec<u64> {
    (from..N).filter(|i| !lost.contains(i)).collect()
}

fn edit(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_bad_checksum_or_magic_costs_its_frame_only() {
    for at_magic in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let segments = build(dir.path());
        let scanned = ScannedSegment::read(&segments[1]).unwrap().unwrap();
        let frame = scanned.frames[1];
        edit(&segments[1], |b| {
            let at = if at_magic {
                frame.offset
            } else {
                frame.end - 3
            };
            b[at] ^= 0x04;
        });
        let lost = frame.header.first_index..frame.header.first_index + 10;
        let (records, damage) = read_all(dir.path(), 0);
        assert_eq!(records, all_but(lost.clone(), 0));
        assert_eq!(damage.len(), 1, "{damage:?}");
        let d = &damage[0];
        assert_eq!((d.first, d.end), (lost.start, lost.end));
        assert_eq!(
            (d.segment.clone(), d.offset),
            (segments[1].clone(), frame.offset as u64)
        );
        assert_eq!(d.len, (frame.end - frame.offset) as u64);
        assert!(d.written_after_micros.is_some() && d.written_before_micros.is_some());
        assert!(
            d.to_string()
                .contains(&format!("records {}..{}", lost.start, lost.end)),
            "{d}"
        );
        // Starting inside the damage: what is asked for and lost is named.
        let (records, damage) = read_all(dir.path(), lost.start + 4);
        assert_eq!(records, all_but(lost.clone(), lost.start + 4));
        assert_eq!((damage[0].first, damage[0].end), (lost.start + 4, lost.end));
        // Starting after it: nothing to say.
        let (_, damage) = read_all(dir.path(), lost.end);
        assert!(damage.is_empty());
        // The plain iterator: an error, then the rest.
        let reader = JournalReader::open(dir.path()).unwrap();
        let results: Vec<_> = reader.iter_from(Stream::KubeAudit, 0).unwrap().collect();
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(results.len() as u64, N - 10 + 1);
        // One record past the damage, by index.
        assert_eq!(
            reader.read(Stream::KubeAudit, lost.end).unwrap().index,
            lost.end
        );
        assert!(reader.read(Stream::KubeAudit, lost.start).is_err());
        assert_eq!(reader.bounds(Stream::KubeAudit).unwrap(), (0, N));
    }
}

#[test]
fn a_frame_cut_out_is_named_by_the_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let segments = build(dir.path());
    let scanned = ScannedSegment::read(&segments[2]).unwrap().unwrap();
    let frame = scanned.frames[1];
    edit(&segments[2], |b| {
        b.drain(frame.offset..frame.end);
    });
    let lost = frame.header.first_index..frame.header.first_index + 10;
    let (records, damage) = read_all(dir.path(), 0);
    assert_eq!(records, all_but(lost.clone(), 0));
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(
        (damage[0].first, damage[0].end, damage[0].len),
        (lost.start, lost.end, 0)
    );
}

#[test]
fn a_sealed_segment_cut_short_loses_its_tail_only() {
    let dir = tempfile::tempdir().unwrap();
    let segments = build(dir.path());
    let scanned = ScannedSegment::read(&segments[1]).unwrap().unwrap();
    let last = *scanned.frames.last().unwrap();
    edit(&segments[1], |b| b.truncate(last.offset + 7));
    let next_first = ScannedSegment::read(&segments[2])
        .unwrap()
        .unwrap()
        .header
        .first_index;
    let lost = last.header.first_index..next_first;
    let (records, damage) = read_all(dir.path(), 0);
    assert_eq!(records, all_but(lost.clone(), 0));
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!((damage[0].first, damage[0].end), (lost.start, lost.end));
}

#[test]
fn a_bad_segment_header_costs_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let segments = build(dir.path());
    edit(&segments[1], |b| b[17] ^= 0x01);
    let (records, damage) = read_all(dir.path(), 0);
    assert_eq!(records, all_but(0..0, 0));
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].first, damage[0].end);
    assert_eq!(damage[0].offset, 0);
    assert!(damage[0].to_string().contains("no record lost"));
}

#[test]
fn the_active_segments_unfinished_tail_is_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let segments = build(dir.path());
    let active = segments.last().unwrap();
    let scanned = ScannedSegment::read(active).unwrap().unwrap();
    let last = *scanned.frames.last().unwrap();
    // A frame being written: its header and part of its payload.
    edit(active, |b| b.truncate(last.end - 5));
    let (records, damage) = read_all(dir.path(), 0);
    assert!(damage.is_empty(), "{damage:?}");
    assert_eq!(records, (0..last.header.first_index).collect::<Vec<_>>());
    // A damaged frame followed by one that checks out is damage.
    let dir = tempfile::tempdir().unwrap();
    let segments = build(dir.path());
    let active = segments.last().unwrap();
    let scanned = ScannedSegment::read(active).unwrap().unwrap();
    assert!(scanned.frames.len() >= 2, "{:?}", scanned.frames);
    let first = scanned.frames[0];
    edit(active, |b| b[first.end - 2] ^= 0x40);
    let (records, damage) = read_all(dir.path(), 0);
    assert_eq!(damage.len(), 1, "{damage:?}");
    let lost = first.header.first_index..first.header.first_index + 10;
    assert_eq!((damage[0].first, damage[0].end), (lost.start, lost.end));
    assert_eq!(records, all_but(lost, 0));
}
