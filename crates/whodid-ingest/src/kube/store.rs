//! Storing prepared Kubernetes events: deduplicated, appended, and answered
//! only once durable.
//!
//! [`KubeStore::store`] is what a webhook batch or a log-file chunk ends in.
//! Under one lock it drops events already stored, remembers the new ones as
//! belonging to this batch, and hands them to the journal — so batches reach
//! the journal in the order their keys were remembered. It then waits until
//! the journal says they are durable.
//!
//! A retry that arrives while the original batch is still being written
//! finds its keys taken by that batch: it waits for that batch to become
//! durable (or to fail) before it answers, so a 200 always means stored.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use whodid_journal::reader::JournalReader;
use whodid_journal::{AppendReceipt, Journal, JournalError, RecordInput};
use whodid_model::{Envelope, Stream};
use whodid_parse::kube::EventSummary;

use crate::dedup::{BatchSeq, DedupKey, DedupWindow};
use crate::kube::prepare::Prepared;
use crate::metrics::IngestMetrics;

/// Why a batch was not stored.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The journal refused or failed the append.
    #[error("journal: {0}")]
    Journal(Arc<JournalError>),
    /// Some events are duplicates of a batch whose append failed.
    #[error("an earlier delivery of some of these events failed to be stored; retry")]
    EarlierBatchFailed,
}

impl StoreError {
    /// Whether the disk is full (answer 503: retry later).
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Journal(e) => e.is_storage_full(),
            StoreError::EarlierBatchFailed => false,
        }
    }
}

/// What became of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Events in the batch.
    pub received: usize,
    /// Events stored now.
    pub accepted: usize,
    /// Events already stored.
    pub deduplicated: usize,
    /// Events the policy does not record.
    pub dropped_by_policy: usize,
    /// Stored events with secret values replaced.
    pub redacted: usize,
    /// Items that are not events (stored as invalid records), with why.
    pub invalid: Vec<String>,
    /// Journal index of the first record stored now.
    pub first_index: Option<u64>,
}

/// How many keys the deduplication window keeps, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct DedupConfig {
    /// At most this many (about 40 bytes each).
    pub max_keys: usize,
    /// None older than this. The apiserver retries for about 81 s.
    pub max_age: Duration,
}

impl Default for DedupConfig {
    fn default() -> DedupConfig {
        DedupConfig {
            max_keys: 2_000_000,
            max_age: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug)]
struct State {
    window: DedupWindow,
    next_seq: BatchSeq,
    failed: BTreeSet<BatchSeq>,
}

/// Stores Kubernetes events for every cluster.
#[derive(Debug)]
pub struct KubeStore {
    journal: Arc<Journal>,
    state: Mutex<State>,
    durable: watch::Sender<BatchSeq>,
    metrics: Arc<IngestMetrics>,
}

impl KubeStore {
    /// A store appending to `journal`.
    pub fn new(
        journal: Arc<Journal>,
        dedup: DedupConfig,
        metrics: Arc<IngestMetrics>,
    ) -> KubeStore {
        KubeStore {
            journal,
            state: Mutex::new(State {
                window: DedupWindow::new(dedup.max_keys, dedup.max_age),
                next_seq: 1,
                failed: BTreeSet::new(),
            }),
            durable: watch::Sender::new(0),
            metrics,
        }
    }

    /// Remembers the events of the last `max_records` kubeaudit records in
    /// the journal, so that retries of batches stored before a restart are
    /// recognised. Returns how many keys were added.
    pub fn refill_from(
        &self,
        reader: &JournalReader,
        max_records: u64,
    ) -> Result<usize, JournalError> {
        let (first, end) = reader.bounds(Stream::KubeAudit)?;
        let start = end.saturating_sub(max_records).max(first);
        let now = Instant::now();
        let mut added = 0;
        let mut state = self.lock();
        for record in reader.iter_from(Stream::KubeAudit, start)? {
            let record = record?;
            let Ok(envelope) = Envelope::from_json(&record.envelope) else {
                continue;
            };
            let Ok(summary) = EventSummary::from_json(&record.raw) else {
                continue;
            };
            let key = DedupKey::of(&envelope.cluster, &summary.audit_id, summary.stage);
            state.window.insert(key, 0, now);
            added += 1;
        }
        Ok(added)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every
        // mutation is a single map operation): keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores one batch of `cluster`'s prepared events; answers once every
    /// event of it is durable (stored now or before).
    pub async fn store(
        &self,
        cluster: &str,
        prepared: Vec<Prepared>,
    ) -> Result<BatchReport, StoreError> {
        let label = IngestMetrics::cluster(cluster);
        let mut report = BatchReport {
            received: prepared.len(),
            ..BatchReport::default()
        };
        let mut records: Vec<RecordInput> = Vec::with_capacity(prepared.len());
        let mut keys: Vec<DedupKey> = Vec::with_capacity(prepared.len());
        let mut wait_for: BatchSeq = 0;
        let mut redacted = 0;
        let (seq, pending) = {
            let mut state = self.lock();
            let seq = state.next_seq;
            let now = Instant::now();
            for item in prepared {
                match item {
                    Prepared::Keep {
                        key,
                        record,
                        redacted: r,
                    } => match state.window.get(&key) {
                        Some(earlier) => {
                            report.deduplicated += 1;
                            wait_for = wait_for.max(earlier);
                        }
                        None => {
                            state.window.insert(key, seq, now);
                            keys.push(key);
                            records.push(record);
                            redacted += usize::from(r);
                        }
                    },
                    Prepared::DroppedByPolicy => report.dropped_by_policy += 1,
                    Prepared::Invalid { record, reason } => {
                        records.push(record);
                        report.invalid.push(reason);
                    }
                }
            }
            let pending = if records.is_empty() {
                None
            } else {
                state.next_seq += 1;
                let count = records.len();
                let (tx, rx) = oneshot::channel();
                let submitted =
                    self.journal
                        .append_with(Stream::KubeAudit, records, move |result| {
                            let _ = tx.send(result);
                        });
                if let Err(e) = submitted {
                    state.window.forget(&keys, seq);
                    return Err(StoreError::Journal(Arc::new(e)));
                }
                self.metrics.journal_pending.inc_by(count as i64);
                Some((rx, count))
            };
            (seq, pending)
        };
        self.metrics
            .received
            .get_or_create(&label)
            .inc_by(report.received as u64);
        self.metrics
            .deduplicated
            .get_or_create(&label)
            .inc_by(report.deduplicated as u64);
        self.metrics
            .dropped_by_policy
            .get_or_create(&label)
            .inc_by(report.dropped_by_policy as u64);
        if let Some((rx, count)) = pending {
            let result: Result<AppendReceipt, JournalError> =
                rx.await.unwrap_or(Err(JournalError::WriterGone));
            self.metrics.journal_pending.dec_by(count as i64);
            match result {
                Ok(receipt) => {
                    self.durable.send_modify(|d| *d = (*d).max(seq));
                    report.accepted = count - report.invalid.len();
                    report.redacted = redacted;
                    report.first_index = Some(receipt.first_index);
                    self.metrics
                        .accepted
                        .get_or_create(&label)
                        .inc_by(report.accepted as u64);
                    self.metrics
                        .redacted
                        .get_or_create(&label)
                        .inc_by(redacted as u64);
                    self.metrics
                        .invalid
                        .get_or_create(&label)
                        .inc_by(report.invalid.len() as u64);
                }
                Err(e) => {
                    {
                        let mut state = self.lock();
                        state.window.forget(&keys, seq);
                        state.failed.insert(seq);
                        while state.failed.len() > 10_000 {
                            state.failed.pop_first();
                        }
                    }
                    // Wake retries waiting on this batch.
                    self.durable.send_modify(|_| {});
                    return Err(StoreError::Journal(Arc::new(e)));
                }
            }
        }
        if wait_for > 0 {
            self.wait_durable(wait_for).await?;
        }
        Ok(report)
    }

    /// Waits until batch `seq` is durable, or fails if it failed.
    async fn wait_durable(&self, seq: BatchSeq) -> Result<(), StoreError> {
        let mut rx = self.durable.subscribe();
        loop {
            if *rx.borrow_and_update() >= seq {
                return Ok(());
            }
            if self.lock().failed.contains(&seq) {
                return Err(StoreError::EarlierBatchFailed);
            }
            if rx.changed().await.is_err() {
                return Err(StoreError::EarlierBatchFailed);
            }
        }
    }
}
