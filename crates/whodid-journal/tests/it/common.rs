//! Shared helpers: a journal with known records in a temporary directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use whodid_journal::checkpoint::Verifier;
use whodid_journal::keys::load_verifier;
use whodid_journal::verify::{verify, VerifyReport};
use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;

/// The record with index `i`: deterministic, so a reader can check it.
pub(crate) fn record(i: u64) -> RecordInput {
    RecordInput {
        envelope: format!("{{\"v\":1,\"i\":{i}}}").into_bytes(),
        raw: format!(
            "{{\"auditID\":\"{i:08}\",\"verb\":\"get\",\"pad\":\"{}\"}}",
            "x".repeat((i % 97) as usize)
        )
        .into_bytes(),
    }
}

/// Small segments and frequent checkpoints, so tests see several of each.
pub(crate) fn small_config() -> JournalConfig {
    JournalConfig {
        fsync: FsyncPolicy::EveryBatch,
        segment_max_bytes: 1024,
        checkpoint_every_records: 50,
        checkpoint_every: Duration::from_secs(3600),
        ..JournalConfig::default()
    }
}

/// A journal of `n` kubeaudit records appended in batches of 10, closed.
pub(crate) fn build(dir: &Path, n: u64) {
    let journal = Journal::open(dir, small_config()).unwrap();
    let mut i = 0;
    while i < n {
        let batch: Vec<RecordInput> = (i..(i + 10).min(n)).map(record).collect();
        let count = batch.len() as u64;
        let receipt = journal.append_wait(Stream::KubeAudit, batch).unwrap();
        assert_eq!(receipt.first_index, i);
        i += count;
    }
    journal.close().unwrap();
}

pub(crate) fn verifier(dir: &Path) -> Verifier {
    load_verifier(&dir.join("keys")).unwrap()
}

pub(crate) fn check(dir: &Path) -> VerifyReport {
    verify(dir, &verifier(dir)).unwrap()
}

pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("journal/kubeaudit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    found.sort();
    found
}
