//! Where parsed records go: the deduplicating Kubernetes store, or straight
//! into a stream of the journal. Both answer once the records are durable.

use std::sync::Arc;

use tokio::sync::oneshot;
use whodid_journal::{AppendReceipt, Journal, JournalError, RecordInput};
use whodid_model::Stream;

use crate::kube::prepare::Prepared;
use crate::kube::store::{KubeStore, StoreError};
use crate::line_source::Parsed;

/// What a batch of parsed items came to once stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Records now durable.
    pub records: u64,
    /// Kubernetes events already stored before.
    pub deduplicated: u64,
    /// Dropped by policy or keep rules.
    pub dropped: u64,
    /// Records with redacted values.
    pub redacted: u64,
    /// The stream's journal end after this batch, when something was stored.
    pub journal_end: Option<u64>,
}

/// A destination for parsed items.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Kubernetes events of one cluster.
    Kube {
        /// The store.
        store: Arc<KubeStore>,
        /// The cluster.
        cluster: String,
    },
    /// A stream of the journal.
    Journal {
        /// The journal.
        journal: Arc<Journal>,
        /// The stream.
        stream: Stream,
    },
}

/// Appends to the journal and waits, without blocking the async runtime.
pub async fn append_durable(
    journal: &Journal,
    stream: Stream,
    records: Vec<RecordInput>,
) -> Result<AppendReceipt, JournalError> {
    let (tx, rx) = oneshot::channel();
    journal.append_with(stream, records, move |result| {
        let _ = tx.send(result);
    })?;
    rx.await.unwrap_or(Err(JournalError::WriterGone))
}

impl Sink {
    /// Stores `items` (diagnostics are the caller's; they are skipped here).
    pub async fn store(&self, items: Vec<Parsed>) -> Result<Stored, StoreError> {
        let mut stored = Stored::default();
        match self {
            Sink::Kube { store, cluster } => {
                let mut prepared: Vec<Prepared> = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Parsed::Kube(p) => prepared.push(p),
                        Parsed::Dropped => stored.dropped += 1,
                        Parsed::Record(_) | Parsed::Diagnostic(_) => {}
                    }
                }
                if prepared.is_empty() {
                    return Ok(stored);
                }
                let report = store.store(cluster, prepared).await?;
                stored.records = (report.accepted + report.invalid.len()) as u64;
                stored.deduplicated = report.deduplicated as u64;
                stored.dropped += report.dropped_by_policy as u64;
                stored.redacted = report.redacted as u64;
                stored.journal_end = report.first_index.map(|i| i + stored.records);
            }
            Sink::Journal { journal, stream } => {
                let mut records = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Parsed::Record(r) => records.push(r),
                        Parsed::Dropped => stored.dropped += 1,
                        Parsed::Kube(_) | Parsed::Diagnostic(_) => {}
                    }
                }
                if records.is_empty() {
                    return Ok(stored);
                }
                stored.redacted = records
                    .iter()
                    .filter(|r| memchr::memmem::find(&r.envelope, b"\"redacted\"").is_some())
                    .count() as u64;
                let receipt = append_durable(journal, *stream, records)
                    .await
                    .map_err(|e| StoreError::Journal(Arc::new(e)))?;
                stored.records = receipt.count;
                stored.journal_end = Some(receipt.first_index + receipt.count);
            }
        }
        Ok(stored)
    }
}
