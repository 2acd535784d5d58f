//! Compaction: sealed segments written one record per frame are rewritten
//! into large frames — smaller, same records, same leaf hashes — and a
//! changed record is never compacted into a clean-looking file.

use std::path::Path;
use std::time::{Duration, Instant};

use whodid_journal::format::{decode_segment_header, FLAG_COMPACTED};
use whodid_journal::reader::JournalReader;
use whodid_journal::{Journal, JournalConfig};
use whodid_model::Stream;

use crate::common::{check, record, segments, small_config};

fn config(compaction: bool) -> JournalConfig {
    JournalConfig {
        segment_max_bytes: 16 << 10,
        compaction_level: compaction.then_some(5),
        ..small_config()
    }
}

fn compacted(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    decode_segment_header(&bytes).unwrap().flags & FLAG_COMPACTED != 0
}

/// Appends `n` records one per group commit (the worst case for compression).
fn one_per_frame(dir: &Path, n: u64, compaction: bool) -> Journal {
    let journal = Journal::open(dir, config(compaction)).unwrap();
    for i in 0..n {
        journal
            .append_wait(Stream::KubeAudit, vec![record(i)])
            .unwrap();
    }
    journal
}

fn stream_bytes(dir: &Path) -> u64 {
    segments(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn sealed_segments_are_rewritten_smaller_with_the_same_records() {
    let plain = tempfile::tempdir().unwrap();
    one_per_frame(plain.path(), 400, false).close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let journal = one_per_frame(dir.path(), 400, true);
    // Compaction runs in the background: wait for every sealed segment.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = segments(dir.path());
        let sealed = &all[..all.len() - 1];
        if !sealed.is_empty() && sealed.iter().all(|p| compacted(p)) {
            break;
        }
        assert!(Instant::now() < deadline, "sealed segments not compacted");
        std::thread::sleep(Duration::from_millis(20));
    }
    journal.close().unwrap();
    drop(journal);

    let (before, after) = (stream_bytes(plain.path()), stream_bytes(dir.path()));
    assert!(after * 2 < before, "compacted {after} bytes vs {before}");
    let reader = JournalReader::open(dir.path()).unwrap();
    for (i, stored) in reader.iter_from(Stream::KubeAudit, 0).unwrap().enumerate() {
        let stored = stored.unwrap();
        assert_eq!(stored.index, i as u64);
        assert_eq!(stored.raw, record(i as u64).raw);
    }
    assert_eq!(
        reader.read(Stream::KubeAudit, 399).unwrap().raw,
        record(399).raw
    );
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    let v = crate::common::verifier(dir.path());
    reader
        .prove_inclusion(Stream::KubeAudit, 3, None, &v)
        .unwrap()
        .verify(&v)
        .unwrap();
}

#[test]
fn a_changed_record_is_not_compacted() {
    let dir = tempfile::tempdir().unwrap();
    one_per_frame(dir.path(), 200, false).close().unwrap();
    let victim = segments(dir.path())[0].clone();
    crate::tamper::rewrite_first_frame(&victim, false, |records| {
        records[0].raw = b"{\"forged\":true}".to_vec()
    });
    // Reopen with compaction: open itself refuses, because the records no
    // longer hash to the signed roots; nothing gets rewritten.
    let err = Journal::open(dir.path(), config(true));
    let before = std::fs::read(&victim).unwrap();
    if let Ok(journal) = err {
        std::thread::sleep(Duration::from_millis(300));
        journal.close().unwrap();
    }
    assert!(!compacted(&victim));
    assert_eq!(std::fs::read(&victim).unwrap(), before);
    assert!(!check(dir.path()).is_intact());
}
