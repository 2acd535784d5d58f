//! Where parsed records go: the deduplicating Kubernetes store, or straight
//! into a stream of the journal. Both answer once the records are durable.

use std::sync::Arc;

use tokio::sync::oneshot;
use whodid_journal::{AppendReceipt, Journal, JournalError, RecordInput};
use whodid_model::Stream;

use crate::kube::prepare::Prepared;
use crate::kube::store::{KubeStore, StoreError, Submitted};
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
    /// Stores `items` (diagnostics are the caller's; they are skipped here)
    /// and waits until they are durable.
    pub async fn store(&self, items: Vec<Parsed>) -> Result<Stored, StoreError> {
        self.submit(items)?.wait().await
    }

    /// Hands `items` to the journal now, in call order; [`Pending::wait`]
    /// answers once they are durable.
    pub fn submit(&self, items: Vec<Parsed>) -> Result<Pending, StoreError> {
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
                    return Ok(Pending {
                        stored,
                        waiting: Waiting::Nothing,
                    });
                }
                let submitted = store.submit(cluster, prepared)?;
                Ok(Pending {
                    stored,
                    waiting: Waiting::Kube(Arc::clone(store), submitted),
                })
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
                    return Ok(Pending {
                        stored,
                        waiting: Waiting::Nothing,
                    });
                }
                stored.redacted = records
                    .iter()
                    .filter(|r| memchr::memmem::find(&r.envelope, b"\"redacted\"").is_some())
                    .count() as u64;
                let (tx, rx) = oneshot::channel();
                journal
                    .append_with(*stream, records, move |result| {
                        let _ = tx.send(result);
                    })
                    .map_err(|e| StoreError::Journal(Arc::new(e)))?;
                Ok(Pending {
                    stored,
                    waiting: Waiting::Journal(rx),
                })
            }
        }
    }
}

/// Items handed to the journal, not yet known to be durable.
#[derive(Debug)]
pub struct Pending {
    stored: Stored,
    waiting: Waiting,
}

#[derive(Debug)]
enum Waiting {
    Nothing,
    Kube(Arc<KubeStore>, Submitted),
    Journal(oneshot::Receiver<Result<AppendReceipt, JournalError>>),
}

impl Pending {
    /// Waits until durable; what was stored.
    pub async fn wait(self) -> Result<Stored, StoreError> {
        let mut stored = self.stored;
        match self.waiting {
            Waiting::Nothing => {}
            Waiting::Kube(store, submitted) => {
                let report = submitted.finish(&store).await?;
                stored.records = (report.accepted + report.invalid.len()) as u64;
                stored.deduplicated = report.deduplicated as u64;
                stored.dropped += report.dropped_by_policy as u64;
                stored.redacted = report.redacted as u64;
                stored.journal_end = report.first_index.map(|i| i + stored.records);
            }
            Waiting::Journal(rx) => {
                let receipt = rx
                    .await
                    .unwrap_or(Err(JournalError::WriterGone))
                    .map_err(|e| StoreError::Journal(Arc::new(e)))?;
                stored.records = receipt.count;
                stored.journal_end = Some(receipt.first_index + receipt.count);
            }
        }
        Ok(stored)
    }
}
