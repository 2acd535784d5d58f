//! Retention removes whole, checkpointed segments, signs a record of it, and
//! `verify` still passes, naming the removed range; a legal hold blocks it.

use std::collections::BTreeMap;

use whodid_journal::reader::JournalReader;
use whodid_journal::retention::RetentionPolicy;
use whodid_journal::Journal;
use whodid_model::Stream;

use crate::common::{build, check, record, segments, small_config, verifier};

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
fn removed_segments_are_recorded_and_verify_passes() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 300);
    let before = segments(dir.path()).len();
    assert!(before > 4, "{before} segments");
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let outcome = journal.apply_retention(keep_segments(3)).unwrap();
    let (first, end) = outcome[&Stream::KubeAudit]
        .removed
        .expect("something removed");
    assert_eq!(first, 0);
    assert_eq!(segments(dir.path()).len(), 3);
    // The journal keeps working after the cut, across a reopen.
    journal
        .append_wait(Stream::KubeAudit, vec![record(300)])
        .unwrap();
    journal.close().unwrap();
    drop(journal);
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    journal
        .append_wait(Stream::KubeAudit, vec![record(301)])
        .unwrap();
    journal.close().unwrap();
    drop(journal);

    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    let stream = &report.streams[&Stream::KubeAudit];
    assert_eq!(
        stream.removed_by_retention,
        vec![(0, end, "max_segments".to_owned())]
    );
    assert!(stream.checkpoints_verified > 0);
    // Kept records still read and prove.
    let reader = JournalReader::open(dir.path()).unwrap();
    assert_eq!(
        reader.read(Stream::KubeAudit, 301).unwrap().raw,
        record(301).raw
    );
    let v = verifier(dir.path());
    reader
        .prove_inclusion(Stream::KubeAudit, 301, None, &v)
        .unwrap()
        .verify(&v)
        .unwrap();
    assert!(
        reader.read(Stream::KubeAudit, 0).is_err(),
        "removed records are gone"
    );
}

#[test]
fn a_forged_retention_record_is_tampering() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 300);
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    journal.apply_retention(keep_segments(3)).unwrap();
    journal.close().unwrap();
    drop(journal);
    let notes: Vec<_> = std::fs::read_dir(dir.path().join("journal/kubeaudit/retention"))
        .unwrap()
        .collect();
    let path = notes[0].as_ref().unwrap().path();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("reason max_segments", "reason max_age");
    std::fs::write(&path, text).unwrap();
    let report = check(dir.path());
    assert!(!report.is_intact());
}

#[test]
fn legal_hold_blocks_removal() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 300);
    let before = segments(dir.path()).len();
    std::fs::write(
        dir.path().join("journal/kubeaudit/LEGAL_HOLD"),
        "case 2026-17\n",
    )
    .unwrap();
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let outcome = journal.apply_retention(keep_segments(1)).unwrap();
    assert!(outcome[&Stream::KubeAudit].held);
    assert!(outcome[&Stream::KubeAudit].removed.is_none());
    journal.close().unwrap();
    assert_eq!(segments(dir.path()).len(), before);
}

#[test]
fn only_checkpointed_segments_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.checkpoint_every_records = u64::MAX;
    let journal = Journal::open(dir.path(), config).unwrap();
    for i in 0..100 {
        journal
            .append_wait(Stream::KubeAudit, vec![record(i)])
            .unwrap();
    }
    let outcome = journal.apply_retention(keep_segments(1)).unwrap();
    assert!(
        outcome[&Stream::KubeAudit].removed.is_none(),
        "no checkpoint yet: nothing may go"
    );
    journal.close().unwrap();
}

#[test]
fn legal_hold_set_and_lifted_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 300);
    let before = segments(dir.path()).len();
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    journal
        .set_legal_hold(Stream::KubeAudit, Some("case 2026-17"))
        .unwrap();
    assert!(journal.apply_retention(keep_segments(2)).unwrap()[&Stream::KubeAudit].held);
    assert_eq!(segments(dir.path()).len(), before);
    journal.set_legal_hold(Stream::KubeAudit, None).unwrap();
    let outcome = journal.apply_retention(keep_segments(2)).unwrap();
    assert!(outcome[&Stream::KubeAudit].removed.is_some());
    journal.close().unwrap();
    assert_eq!(segments(dir.path()).len(), 2);
    assert!(check(dir.path()).is_intact());
}
