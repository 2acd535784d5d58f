//! Journals of generated Kubernetes events, written through the journal API.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use whodid_index::{IndexConfig, IndexSet, Indexer, Repair, Selection};
use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;

/// 2026-11-20T00:00:00Z.
pub(crate) const START: i64 = 1_795_132_800_000_000;
pub(crate) const HOUR: i64 = 3_600_000_000;

/// Small segments, so retention has something to remove.
pub(crate) fn small_segments() -> JournalConfig {
    JournalConfig {
        fsync: FsyncPolicy::EveryBatch,
        segment_max_bytes: 1024,
        checkpoint_every_records: 50,
        checkpoint_every: Duration::from_secs(3600),
        ..JournalConfig::default()
    }
}

/// Event `n`, `n` hours after [`START`].
pub(crate) fn event(n: u64) -> RecordInput {
    let time = jiff::Timestamp::from_microsecond(START + n as i64 * HOUR)
        .unwrap()
        .to_string();
    let raw = serde_json::to_vec(&json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("a-{n}"), "stage": "ResponseComplete", "requestURI": "/api/v1/pods",
        "verb": if n.is_multiple_of(2) { "get" } else { "list" },
        "user": {"username": format!("user{}@example.com", n % 3)},
        "sourceIPs": ["10.0.0.1"], "objectRef": {"resource": "pods", "namespace": "team-a"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": time, "stageTimestamp": time,
    }))
    .unwrap();
    let envelope =
        whodid_parse::kube::envelope(&whodid_model::k8s::decode_event(&raw).unwrap()).unwrap();
    RecordInput {
        envelope: envelope.to_json(),
        raw,
    }
}

/// Appends events `from..to` in batches of 10.
pub(crate) fn append(journal: &Journal, from: u64, to: u64) {
    let mut i = from;
    while i < to {
        let end = (i + 10).min(to);
        journal
            .append_wait(Stream::KubeAudit, (i..end).map(event).collect())
            .unwrap();
        i = end;
    }
}

/// A closed journal of `n` events.
pub(crate) fn build(dir: &Path, n: u64) {
    let journal = Journal::open(dir, small_segments()).unwrap();
    append(&journal, 0, n);
    journal.close().unwrap();
}

/// Every searchable document of a data directory.
pub(crate) fn selection(dir: &Path) -> Selection {
    IndexSet::open(dir)
        .select(&Stream::ALL, i64::MIN / 2, i64::MAX / 2)
        .unwrap()
}

pub(crate) fn doc_count(dir: &Path) -> u64 {
    selection(dir)
        .days
        .iter()
        .map(|d| d.searcher.num_docs())
        .sum()
}

/// Opens the index of `dir` (repairing it), catches up and closes; what had to be repaired.
pub(crate) fn index(dir: &std::path::Path) -> Vec<Repair> {
    let mut indexer = Indexer::open(dir, IndexConfig::default()).unwrap();
    let repairs = indexer.repairs().to_vec();
    indexer.catch_up(&mut |_| {}).unwrap();
    indexer.close().unwrap();
    repairs
}

/// Whether the `kubeaudit` stream was rebuilt.
pub(crate) fn rebuilt(repairs: &[Repair]) -> bool {
    repairs.iter().any(|r| {
        matches!(
            r,
            Repair::Rebuilt {
                stream: Stream::KubeAudit,
                ..
            }
        )
    })
}
