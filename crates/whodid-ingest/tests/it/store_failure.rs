//! A retry that waits on earlier batches is answered only by their real
//! outcome: when one of them fails in the journal (the disk is full), the
//! retry fails too — even when a later batch it also waits on succeeded —
//! and the events are stored by the next delivery, once.
//!
//! The journal lives on a small tmpfs filled to the last byte; the journal's
//! writer is held at chosen points by appends whose answers block, so that
//! which batches are in flight together is decided by the test, not by
//! timing.

use std::sync::mpsc;
use std::sync::Arc;

use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;
use whodid_testkit::tmpfs::{fill, Tmpfs};

use crate::fixtures::capture_lines;
use crate::store::{count, prepared, store_for};

/// Appends `n` filler records whose answer blocks the journal's writer
/// until `gate` opens; `reached` is told when it is blocked there (and
/// whether that append was stored).
fn hold_writer(journal: &Journal, n: usize, reached: mpsc::Sender<bool>, gate: mpsc::Receiver<()>) {
    let records = (0..n)
        .map(|_| RecordInput {
            envelope: b"{}".to_vec(),
            raw: b"{}".to_vec(),
        })
        .collect();
    journal
        .append_with(Stream::KubeAudit, records, move |result| {
            let _ = reached.send(result.is_ok());
            let _ = gate.recv();
        })
        .unwrap();
}

#[test]
fn a_retry_fails_when_an_earlier_batch_it_waits_on_failed() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("fs"), 16);
    let data = fs.path().join("data");
    // One frame per 100 records: each batch below is written (or fails) alone.
    let config = JournalConfig {
        fsync: FsyncPolicy::EveryBatch,
        max_batch_records: 100,
        ..JournalConfig::default()
    };
    let journal = Arc::new(Journal::open(&data, config).unwrap());
    let store = store_for(&journal);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lines = capture_lines();
    rt.block_on(store.store("prod", prepared(&lines[..100])))
        .unwrap();

    let (reached_tx, reached) = mpsc::channel();
    let (open_first, first_gate) = mpsc::channel();
    let (open_second, second_gate) = mpsc::channel();
    hold_writer(&journal, 1, reached_tx.clone(), first_gate);
    assert!(reached.recv().unwrap(), "the first hold is stored");
    fill(&fs.path().join("filler"));
    // In flight together: A1 (will fail: the disk is full), a hold, A2.
    let a1 = store.submit("prod", prepared(&lines[100..200])).unwrap();
    hold_writer(&journal, 100, reached_tx, second_gate);
    let a2 = store.submit("prod", prepared(&lines[200..300])).unwrap();
    // A retry of both: every event already taken, by A1 or A2.
    let retry = store.submit("prod", prepared(&lines[100..300])).unwrap();

    open_first.send(()).unwrap();
    // A1 has been tried (~40 KB, more than the filled disk has left);
    // the writer waits in the second hold's answer.
    let second_stored = reached.recv().unwrap();
    std::fs::remove_file(fs.path().join("filler")).unwrap();
    open_second.send(()).unwrap();

    let a2 = rt
        .block_on(a2.finish(&store))
        .expect("A2 is written after space returned");
    assert_eq!(a2.accepted, 100);
    let retried = rt.block_on(retry.finish(&store));
    let error = retried.expect_err("A1 failed: the retry must not be answered as stored");
    assert!(error.to_string().contains("earlier delivery"), "{error}");
    let a1 = rt.block_on(a1.finish(&store));
    assert!(a1.unwrap_err().is_storage_full());

    // The next delivery stores A1's events (not A2's again).
    let again = rt
        .block_on(store.store("prod", prepared(&lines[100..300])))
        .unwrap();
    assert_eq!((again.accepted, again.deduplicated), (100, 100));
    journal.close().unwrap();
    drop(store);
    drop(journal);
    // The first 100, the first hold, maybe the second, A2, A1's events.
    let second = if second_stored { 100 } else { 0 };
    assert_eq!(count(&data), 100 + 1 + second + 100 + 100);
}
