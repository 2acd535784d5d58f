//! The deduplicating store: the same batch delivered concurrently, again
//! after a restart, or after a failed append is stored exactly once, and
//! every caller is answered only once its events are durable.

use std::sync::Arc;

use whodid_ingest::kube::prepare::{KubeSource, Prepared};
use whodid_ingest::kube::store::{DedupConfig, KubeStore};
use whodid_ingest::IngestMetrics;
use whodid_journal::reader::JournalReader;
use whodid_journal::{Journal, JournalConfig};
use whodid_model::Stream;

use crate::fixtures::capture_lines;

pub(crate) fn source() -> KubeSource {
    KubeSource {
        cluster: "prod".into(),
        policy: None,
        redaction: None,
    }
}

pub(crate) fn prepared(lines: &[Vec<u8>]) -> Vec<Prepared> {
    let source = source();
    lines.iter().map(|l| source.prepare(l)).collect()
}

/// A store on `journal` with the default window and unregistered metrics.
pub(crate) fn store_for(journal: &Arc<Journal>) -> KubeStore {
    KubeStore::new(
        Arc::clone(journal),
        DedupConfig::default(),
        Arc::new(IngestMetrics::unregistered()),
    )
}

pub(crate) fn count(dir: &std::path::Path) -> u64 {
    let reader = JournalReader::open(dir).unwrap();
    let (first, end) = reader.bounds(Stream::KubeAudit).unwrap();
    end - first
}

#[test]
fn concurrent_deliveries_of_one_batch_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(dir.path(), JournalConfig::default()).unwrap());
    let store = Arc::new(store_for(&journal));
    let lines = capture_lines();
    let batch = &lines[..400];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let reports = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = Arc::clone(&store);
            let items = prepared(batch);
            tasks.push(tokio::spawn(
                async move { store.store("prod", items).await },
            ));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap());
        }
        out
    });
    let accepted: usize = reports.iter().map(|r| r.accepted).sum();
    let deduplicated: usize = reports.iter().map(|r| r.deduplicated).sum();
    assert_eq!(accepted, 400);
    assert_eq!(deduplicated, 7 * 400);
    // Every answer came after the events were durable: all are readable now.
    assert_eq!(count(dir.path()), 400);
    journal.close().unwrap();
}

#[test]
fn retries_after_a_restart_are_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let lines = capture_lines();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    {
        let journal = Arc::new(Journal::open(dir.path(), JournalConfig::default()).unwrap());
        let store = store_for(&journal);
        let report = rt
            .block_on(store.store("prod", prepared(&lines[..1000])))
            .unwrap();
        assert_eq!(report.accepted, 1000);
        journal.close().unwrap();
    }
    let journal = Arc::new(Journal::open(dir.path(), JournalConfig::default()).unwrap());
    let store = store_for(&journal);
    let refilled = store
        .refill_from(&JournalReader::open(dir.path()).unwrap(), 10_000)
        .unwrap();
    assert_eq!(refilled, 1000);
    let report = rt
        .block_on(store.store("prod", prepared(&lines[500..1500])))
        .unwrap();
    assert_eq!((report.accepted, report.deduplicated), (500, 500));
    // Another cluster's events with the same IDs are its own.
    let other = KubeSource {
        cluster: "dev".into(),
        policy: None,
        redaction: None,
    };
    let items: Vec<Prepared> = lines[..10].iter().map(|l| other.prepare(l)).collect();
    let report = rt.block_on(store.store("dev", items)).unwrap();
    assert_eq!(report.accepted, 10);
    journal.close().unwrap();
    assert_eq!(count(dir.path()), 1510);
}

#[test]
fn a_failed_append_is_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(dir.path(), JournalConfig::default()).unwrap());
    let store = store_for(&journal);
    let lines = capture_lines();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    journal.close().unwrap();
    let err = rt
        .block_on(store.store("prod", prepared(&lines[..10])))
        .unwrap_err();
    assert!(err.to_string().contains("journal"), "{err}");
    drop(store);
    drop(journal);
    // A new journal and store: the same batch is stored (it was not before).
    let journal = Arc::new(Journal::open(dir.path(), JournalConfig::default()).unwrap());
    let store = store_for(&journal);
    let report = rt
        .block_on(store.store("prod", prepared(&lines[..10])))
        .unwrap();
    assert_eq!(report.accepted, 10);
    journal.close().unwrap();
}
