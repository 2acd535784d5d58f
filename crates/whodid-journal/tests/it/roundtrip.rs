//! Append from many writers, reopen, read back, prove.

use std::sync::Arc;

use proptest::prelude::*;
use whodid_journal::reader::JournalReader;
use whodid_journal::{HashedRecord, Journal, RecordInput};
use whodid_model::Stream;

use crate::common::{build, check, record, small_config, verifier};

#[test]
fn concurrent_writers_then_reopen_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(dir.path(), small_config()).unwrap());
    let mut threads = Vec::new();
    for writer in 0..8u64 {
        let journal = Arc::clone(&journal);
        threads.push(std::thread::spawn(move || {
            let mut acked = Vec::new();
            for n in 0..25u64 {
                let payload = RecordInput {
                    envelope: format!("{{\"writer\":{writer}}}").into_bytes(),
                    raw: format!("event {writer}-{n}").into_bytes(),
                };
                let receipt = journal.append_wait(Stream::AuthLog, vec![payload]).unwrap();
                acked.push((receipt.first_index, format!("event {writer}-{n}")));
            }
            acked
        }));
    }
    let acked: Vec<(u64, String)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    journal.close().unwrap();
    drop(journal);

    let reader = JournalReader::open(dir.path()).unwrap();
    assert_eq!(reader.bounds(Stream::AuthLog).unwrap(), (0, 200));
    for (index, raw) in &acked {
        assert_eq!(
            reader.read(Stream::AuthLog, *index).unwrap().raw,
            raw.as_bytes()
        );
    }
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(
        report.streams[&Stream::AuthLog].unsigned_tail,
        0,
        "close signs a final checkpoint"
    );
}

#[test]
fn reopen_continues_numbering_and_proofs_verify() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 120);
    // Reopen and append more.
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let receipt = journal
        .append_wait(Stream::KubeAudit, vec![record(120)])
        .unwrap();
    assert_eq!(receipt.first_index, 120);
    journal.close().unwrap();
    drop(journal);

    let reader = JournalReader::open(dir.path()).unwrap();
    let v = verifier(dir.path());
    for index in [0, 7, 64, 119, 120] {
        let proof = reader
            .prove_inclusion(Stream::KubeAudit, index, None, &v)
            .unwrap();
        assert_eq!(proof.raw.as_bytes(), record(index).raw.as_slice());
        proof.verify(&v).unwrap();
        let mut forged = proof.clone();
        forged.raw.push(' ');
        assert!(
            forged.verify(&v).is_err(),
            "a changed record must not verify"
        );
    }
    let sizes: Vec<u64> = reader
        .checkpoints(Stream::KubeAudit)
        .unwrap()
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert!(sizes.len() >= 3, "{sizes:?}");
    let proof = reader
        .prove_consistency(Stream::KubeAudit, sizes[0], *sizes.last().unwrap(), &v)
        .unwrap();
    proof.verify(&v).unwrap();
    assert!(check(dir.path()).is_intact());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn append_then_reopen_round_trips(sizes in proptest::collection::vec(1usize..40, 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = Vec::new();
        for (round, size) in sizes.iter().enumerate() {
            let journal = Journal::open(dir.path(), small_config()).unwrap();
            let batch: Vec<RecordInput> = (0..*size)
                .map(|k| RecordInput { envelope: vec![round as u8], raw: format!("{round}/{k}").into_bytes() })
                .collect();
            expected.extend(batch.iter().map(|r| r.raw.clone()));
            journal.append_wait(Stream::PgAudit, batch).unwrap();
            journal.close().unwrap();
        }
        let reader = JournalReader::open(dir.path()).unwrap();
        let got: Vec<Vec<u8>> = reader.iter_from(Stream::PgAudit, 0).unwrap().map(|r| r.unwrap().raw).collect();
        prop_assert_eq!(got, expected);
        prop_assert!(check(dir.path()).is_intact());
    }
}

/// Records hashed by the caller (on several threads) append exactly as
/// records the journal hashes itself: same leaves, a journal that verifies.
#[test]
fn records_hashed_by_the_caller_make_the_same_journal() {
    let records: Vec<RecordInput> = (0..3000).map(record).collect();
    let alone: Vec<_> = records.iter().cloned().map(HashedRecord::new).collect();
    for threads in [1, 2, 3, 8] {
        let hashed = HashedRecord::hash_all(records.clone(), threads);
        assert_eq!(hashed, alone, "{threads} threads");
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    journal
        .append_hashed_with(
            Stream::KubeAudit,
            HashedRecord::hash_all(records.clone(), 4),
            move |r| {
                tx.send(r).unwrap();
            },
        )
        .unwrap();
    assert_eq!(rx.recv().unwrap().unwrap().count, 3000);
    journal.close().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let got: Vec<RecordInput> = reader
        .iter_from(Stream::KubeAudit, 0)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            RecordInput {
                envelope: r.envelope,
                raw: r.raw,
            }
        })
        .collect();
    assert_eq!(got, records);
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
}
