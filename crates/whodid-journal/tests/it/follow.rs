//! A record iterator beside a live writer: it stops at the current end
//! without losing its place, and later calls see what was appended since,
//! in the same segment and in segments created since.

use whodid_journal::reader::JournalReader;
use whodid_journal::{Journal, RecordInput};
use whodid_model::Stream;

use crate::common::{record, segments, small_config};

fn append(journal: &Journal, range: std::ops::Range<u64>) {
    let batch: Vec<RecordInput> = range.map(record).collect();
    journal.append_wait(Stream::KubeAudit, batch).unwrap();
}

fn drain(iter: &mut whodid_journal::reader::RecordIter) -> Vec<u64> {
    iter.by_ref().map(|r| r.unwrap().index).collect()
}

#[test]
fn an_iterator_at_the_end_continues_with_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    // Nothing yet: an empty stream ends at once, and stays usable.
    let mut iter = reader.iter_from(Stream::KubeAudit, 0).unwrap();
    assert_eq!(drain(&mut iter), Vec::<u64>::new());
    append(&journal, 0..3);
    assert_eq!(drain(&mut iter), vec![0, 1, 2]);
    assert_eq!(
        drain(&mut iter),
        Vec::<u64>::new(),
        "nothing new: nothing again"
    );
    // Enough to seal segments (1 KiB each): the iterator goes on into them.
    let before = segments(dir.path()).len();
    for start in (3..200).step_by(7) {
        append(&journal, start..(start + 7).min(200));
    }
    assert!(
        segments(dir.path()).len() > before + 3,
        "several new segments"
    );
    assert_eq!(drain(&mut iter), (3..200).collect::<Vec<_>>());
    append(&journal, 200..201);
    assert_eq!(drain(&mut iter), vec![200]);
    journal.close().unwrap();
}

#[test]
fn starting_mid_stream_skips_earlier_frames_and_records() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::build(dir.path(), 500);
    let reader = JournalReader::open(dir.path()).unwrap();
    for from in [0, 1, 9, 10, 11, 255, 499] {
        let got: Vec<_> = reader
            .iter_from(Stream::KubeAudit, from)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got.len() as u64, 500 - from, "from {from}");
        for (offset, stored) in got.iter().enumerate() {
            assert_eq!(stored.index, from + offset as u64);
            assert_eq!(stored.raw, record(stored.index).raw);
        }
    }
    assert_eq!(reader.iter_from(Stream::KubeAudit, 500).unwrap().count(), 0);
}

#[test]
fn a_corrupt_frame_is_an_error_not_a_silent_end() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::build(dir.path(), 300);
    // Flip a payload byte of the first frame of the second segment.
    let second = &segments(dir.path())[1];
    let mut bytes = std::fs::read(second).unwrap();
    let at = 32 + 32 + 3;
    bytes[at] ^= 0xff;
    std::fs::write(second, &bytes).unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let results: Vec<_> = reader.iter_from(Stream::KubeAudit, 0).unwrap().collect();
    let error = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("the corruption is reported");
    assert!(error.to_string().contains("checksum"), "{error}");
}
