//! Retention removes index days together with the journal segments: whole
//! days go, the boundary day loses its removed records.

use std::collections::BTreeMap;

use whodid_index::{Follower, IndexConfig, IndexLayout, Indexer};
use whodid_journal::reader::JournalReader;
use whodid_journal::retention::RetentionPolicy;
use whodid_journal::Journal;
use whodid_model::Stream;

use crate::common::{build, doc_count, selection, small_segments};

fn keep_segments(n: usize) -> BTreeMap<Stream, RetentionPolicy> {
    BTreeMap::from([(
        Stream::KubeAudit,
        RetentionPolicy {
            max_segments: Some(n),
            ..RetentionPolicy::default()
        },
    )])
}

#[test]
fn retention_removes_index_days_with_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 120); // five days, hourly
    let mut indexer = Indexer::open(dir.path(), IndexConfig::default()).unwrap();
    indexer.catch_up(&mut |_| {}).unwrap();
    indexer.close().unwrap();
    assert_eq!(IndexLayout::new(dir.path()).days().unwrap().len(), 5);

    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    journal.checkpoint().unwrap();
    let segments = JournalReader::open(dir.path())
        .unwrap()
        .segments(Stream::KubeAudit)
        .unwrap();
    assert!(segments.len() > 3, "{} segments", segments.len());
    let outcome = journal.apply_retention(keep_segments(2)).unwrap();
    let (_, removed_end) = outcome[&Stream::KubeAudit]
        .removed
        .expect("segments removed");
    let (first, end) = JournalReader::open(dir.path())
        .unwrap()
        .bounds(Stream::KubeAudit)
        .unwrap();
    assert_eq!(first, removed_end);
    assert!(
        first > 24,
        "retention should remove at least a whole day (first = {first})"
    );

    // The server's follower notices and follows.
    let follower = Follower::spawn(dir.path(), IndexConfig::default()).unwrap();
    follower.shutdown().unwrap();
    journal.close().unwrap();

    assert_eq!(doc_count(dir.path()), end - first);
    let first_day = (first / 24) as usize; // hourly events from midnight
    let days = IndexLayout::new(dir.path()).days().unwrap();
    assert_eq!(days.len(), 5 - first_day, "{days:?}");
    // No removed record is still searchable.
    for day in selection(dir.path()).days {
        for segment in day.searcher.segment_readers() {
            let seq = segment.fast_fields().u64("seq").unwrap();
            for doc in 0..segment.max_doc() {
                if segment.is_deleted(doc) {
                    continue;
                }
                assert!(seq.first(doc).unwrap() >= first);
            }
        }
    }
}
