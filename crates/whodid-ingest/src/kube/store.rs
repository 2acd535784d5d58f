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
//! finds its keys taken by that batch: it waits for every batch it depends
//! on to become durable, and fails if any of them failed, so a 200 always
//! means stored. Each outcome is settled in the journal's own callback
//! (on its writer thread, in append order) under the store's lock: a key of
//! a failed batch is forgotten in the same step that ends the batch, so a
//! key found in the window belongs either to a batch still in flight (wait
//! on it) or to one that is durable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use whodid_journal::reader::{Entry, JournalReader};
use whodid_journal::{AppendReceipt, HashedRecord, Journal, JournalError, RecordInput};
use whodid_model::k8s::EventSummary;
use whodid_model::{Envelope, Stream};

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
    /// At most this many (about 39 bytes each, the table's slack included).
    pub max_keys: usize,
    /// None older than this. The apiserver retries for about 81 s.
    pub max_age: Duration,
}

impl Default for DedupConfig {
    fn default() -> DedupConfig {
        DedupConfig {
            max_keys: 1_000_000,
            max_age: Duration::from_secs(15 * 60),
        }
    }
}

/// A batch's outcome once settled: `Some(true)` durable, `Some(false)` failed.
type Outcome = watch::Receiver<Option<bool>>;

#[derive(Debug)]
struct State {
    window: DedupWindow,
    next_seq: BatchSeq,
    /// Batches handed to the journal and not settled yet.
    in_flight: HashMap<BatchSeq, Outcome>,
}

/// An item of a batch on its way to the journal.
#[derive(Debug)]
enum Kind {
    Event { key: DedupKey, redacted: bool },
    Invalid(String),
}

/// A prepared batch with its records' leaf hashes made: the part of storing
/// that needs no lock, so a caller can do it on its CPU threads before
/// [`KubeStore::store_hashed`] (the webhook does; the tailer lets
/// [`KubeStore::submit`] do it).
#[derive(Debug)]
pub struct HashedBatch {
    received: usize,
    dropped_by_policy: usize,
    kinds: Vec<Kind>,
    hashed: Vec<HashedRecord>,
}

impl HashedBatch {
    /// Hashes the records `prepared` keeps, on up to `threads` threads.
    pub fn new(prepared: Vec<Prepared>, threads: usize) -> HashedBatch {
        let received = prepared.len();
        let mut dropped_by_policy = 0;
        let mut kinds: Vec<Kind> = Vec::with_capacity(prepared.len());
        let mut unhashed: Vec<RecordInput> = Vec::with_capacity(prepared.len());
        for item in prepared {
            match item {
                Prepared::Keep {
                    key,
                    record,
                    redacted,
                } => {
                    kinds.push(Kind::Event { key, redacted });
                    unhashed.push(record);
                }
                Prepared::DroppedByPolicy => dropped_by_policy += 1,
                Prepared::Invalid { record, reason } => {
                    kinds.push(Kind::Invalid(reason));
                    unhashed.push(record);
                }
            }
        }
        HashedBatch {
            received,
            dropped_by_policy,
            kinds,
            hashed: HashedRecord::hash_all(unhashed, threads),
        }
    }

    /// Events in the batch (kept, dropped by policy and invalid).
    pub fn len(&self) -> usize {
        self.received
    }

    /// Whether the batch had no items.
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }
}

/// Stores Kubernetes events for every cluster.
#[derive(Debug)]
pub struct KubeStore {
    journal: Arc<Journal>,
    /// Threads that hash a large batch's records.
    hash_threads: usize,
    state: Arc<Mutex<State>>,
    metrics: Arc<IngestMetrics>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves consistent data (every
    // mutation is a single map operation): keep going.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
            hash_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            state: Arc::new(Mutex::new(State {
                window: DedupWindow::new(dedup.max_keys, dedup.max_age),
                next_seq: 1,
                in_flight: HashMap::new(),
            })),
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
        let mut records = reader.iter_from(Stream::KubeAudit, start)?;
        while let Some(entry) = records.next_entry() {
            let record = match entry? {
                Entry::Record(record) => record,
                // Damage is the journal's to record and verify's to report;
                // the events it holds are not in the window, so a retry of
                // them is stored again rather than refused.
                Entry::Damaged(damage) => {
                    tracing::warn!(%damage, "deduplication window: damaged journal records skipped");
                    continue;
                }
            };
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
        lock(&self.state)
    }

    /// Stores one batch of `cluster`'s prepared events; answers once every
    /// event of it is durable (stored now or before).
    pub async fn store(
        &self,
        cluster: &str,
        prepared: Vec<Prepared>,
    ) -> Result<BatchReport, StoreError> {
        self.submit(cluster, prepared)?.finish(self).await
    }

    /// Hands one batch to the journal now (deduplicated, in call order) and
    /// returns what to wait on: callers that pipeline batches submit several
    /// and [`Submitted::finish`] them in order.
    pub fn submit(&self, cluster: &str, prepared: Vec<Prepared>) -> Result<Submitted, StoreError> {
        self.submit_hashed(cluster, HashedBatch::new(prepared, self.hash_threads))
    }

    /// Stores one batch hashed by the caller (on its own thread: see
    /// [`HashedBatch`]); answers once every event of it is durable.
    pub async fn store_hashed(
        &self,
        cluster: &str,
        batch: HashedBatch,
    ) -> Result<BatchReport, StoreError> {
        self.submit_hashed(cluster, batch)?.finish(self).await
    }

    /// [`KubeStore::submit`] of a batch already hashed.
    pub fn submit_hashed(
        &self,
        cluster: &str,
        batch: HashedBatch,
    ) -> Result<Submitted, StoreError> {
        let label = IngestMetrics::cluster(cluster);
        let HashedBatch {
            received,
            dropped_by_policy,
            kinds,
            hashed,
        } = batch;
        let mut report = BatchReport {
            received,
            dropped_by_policy,
            ..BatchReport::default()
        };
        let mut records: Vec<HashedRecord> = Vec::with_capacity(hashed.len());
        let mut keys: Vec<DedupKey> = Vec::with_capacity(hashed.len());
        let mut wait_for: HashMap<BatchSeq, Outcome> = HashMap::new();
        let mut redacted = 0;
        let mut state = self.lock();
        let seq = state.next_seq;
        let now = Instant::now();
        for (kind, record) in kinds.into_iter().zip(hashed) {
            match kind {
                Kind::Event { key, redacted: r } => match state.window.get(&key) {
                    Some(earlier) => {
                        report.deduplicated += 1;
                        // A batch still in flight; one that is not is durable
                        // (a failed one's keys are gone from the window).
                        if let Some(outcome) = state.in_flight.get(&earlier) {
                            wait_for.entry(earlier).or_insert_with(|| outcome.clone());
                        }
                    }
                    None => {
                        state.window.insert(key, seq, now);
                        keys.push(key);
                        records.push(record);
                        redacted += usize::from(r);
                    }
                },
                Kind::Invalid(reason) => {
                    records.push(record);
                    report.invalid.push(reason);
                }
            }
        }
        self.metrics.dedup_keys.set(state.window.len() as i64);
        self.metrics
            .dedup_span_seconds
            .set(state.window.span(now).as_secs_f64());
        let pending = if records.is_empty() {
            None
        } else {
            state.next_seq += 1;
            let count = records.len();
            let (tx, rx) = oneshot::channel();
            let (settle, outcome) = watch::channel(None);
            let shared = Arc::clone(&self.state);
            let settled_keys = keys.clone();
            let submitted =
                self.journal
                    .append_hashed_with(Stream::KubeAudit, records, move |result| {
                        {
                            let mut state = lock(&shared);
                            state.in_flight.remove(&seq);
                            if result.is_err() {
                                state.window.forget(&settled_keys, seq);
                            }
                        }
                        settle.send_replace(Some(result.is_ok()));
                        let _ = tx.send(result);
                    });
            if let Err(e) = submitted {
                state.window.forget(&keys, seq);
                return Err(StoreError::Journal(Arc::new(e)));
            }
            // Still under the lock: the callback cannot settle it before this.
            state.in_flight.insert(seq, outcome);
            self.metrics.journal_pending.inc_by(count as i64);
            Some((rx, count))
        };
        drop(state);
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
        Ok(Submitted {
            label,
            report,
            pending,
            redacted,
            wait_for,
        })
    }
}

/// Waits until every batch in `outcomes` is durable; fails if one failed.
async fn wait_durable(outcomes: HashMap<BatchSeq, Outcome>) -> Result<(), StoreError> {
    for (_, mut outcome) in outcomes {
        match outcome.wait_for(Option::is_some).await {
            Ok(settled) if *settled == Some(true) => {}
            // Failed, or the journal's writer went away without an answer.
            _ => return Err(StoreError::EarlierBatchFailed),
        }
    }
    Ok(())
}

/// A batch handed to the journal, not yet known to be durable.
#[derive(Debug)]
pub struct Submitted {
    label: crate::metrics::ClusterLabel,
    report: BatchReport,
    pending: Option<(
        oneshot::Receiver<Result<AppendReceipt, JournalError>>,
        usize,
    )>,
    redacted: usize,
    wait_for: HashMap<BatchSeq, Outcome>,
}

impl Submitted {
    /// Waits until every event of the batch is durable (stored by this
    /// batch or by an earlier one).
    pub async fn finish(self, store: &KubeStore) -> Result<BatchReport, StoreError> {
        let Submitted {
            label,
            mut report,
            pending,
            redacted,
            wait_for,
        } = self;
        if let Some((rx, count)) = pending {
            let result: Result<AppendReceipt, JournalError> =
                rx.await.unwrap_or(Err(JournalError::WriterGone));
            store.metrics.journal_pending.dec_by(count as i64);
            match result {
                Ok(receipt) => {
                    report.accepted = count - report.invalid.len();
                    report.redacted = redacted;
                    report.first_index = Some(receipt.first_index);
                    store
                        .metrics
                        .accepted
                        .get_or_create(&label)
                        .inc_by(report.accepted as u64);
                    store
                        .metrics
                        .redacted
                        .get_or_create(&label)
                        .inc_by(redacted as u64);
                    store
                        .metrics
                        .invalid
                        .get_or_create(&label)
                        .inc_by(report.invalid.len() as u64);
                }
                Err(e) => {
                    // Its keys were forgotten when the journal answered.
                    return Err(StoreError::Journal(Arc::new(e)));
                }
            }
        }
        wait_durable(wait_for).await?;
        Ok(report)
    }
}
