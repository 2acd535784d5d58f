//! The group-commit writer: one thread owns every stream's files.
//!
//! Appenders send their records over a channel and get a [`Ticket`]. The
//! writer takes everything waiting (up to a batch limit), writes one frame
//! per stream, and — under the fsync policy — makes the batch durable before
//! answering the tickets, so many concurrent appenders share one fsync.
//! Checkpoints are signed every N records or T seconds, always after the
//! fsync that covers them.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use whodid_model::Stream;

use crate::compaction::{Compacted, Compactor};
use crate::error::JournalError;
use crate::format::RecordInput;
use crate::keys::SigningKeyPair;
use crate::merkle::Hash;
use crate::retention::{self, RetentionOutcome, RetentionPolicy};
use crate::stream_log::StreamLog;
use crate::sync_stats::SyncCounters;

/// When appended records are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// fsync every batch before acknowledging it.
    EveryBatch,
    /// fsync at most this often; acknowledgements wait for the fsync.
    Interval(Duration),
    /// Never fsync; acknowledge once written to the OS.
    Never,
}

/// Where appended records ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The stream.
    pub stream: Stream,
    /// Index of the first record appended.
    pub first_index: u64,
    /// How many.
    pub count: u64,
}

/// Why the writer refused an append.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// This batch failed (e.g. the disk is full); later appends may succeed.
    Batch(Arc<JournalError>),
    /// An earlier fsync failed; nothing more is acknowledged.
    Poisoned(Arc<JournalError>),
}

impl Refusal {
    pub(crate) fn into_error(self, stream: Stream) -> JournalError {
        match self {
            Refusal::Batch(source) => JournalError::AppendRefused { stream, source },
            Refusal::Poisoned(source) => JournalError::Poisoned { source },
        }
    }
}

/// How the writer answers one append; runs on the writer thread.
pub(crate) type Reply = Box<dyn FnOnce(Result<AppendReceipt, Refusal>) + Send>;

/// The answer to an append, once the records are durable (per the policy).
#[derive(Debug)]
pub struct Ticket {
    stream: Stream,
    rx: Receiver<Result<AppendReceipt, Refusal>>,
}

impl Ticket {
    pub(crate) fn new(stream: Stream) -> (Ticket, Reply) {
        let (tx, rx) = mpsc::sync_channel(1);
        let reply: Reply = Box::new(move |result| {
            // The ticket may have been dropped: nobody waits, that is fine.
            let _ = tx.send(result);
        });
        (Ticket { stream, rx }, reply)
    }

    /// Blocks until the records are durable, or the append failed.
    pub fn wait(self) -> Result<AppendReceipt, JournalError> {
        match self.rx.recv() {
            Ok(Ok(receipt)) => Ok(receipt),
            Ok(Err(refusal)) => Err(refusal.into_error(self.stream)),
            Err(_) => Err(JournalError::WriterGone),
        }
    }

    /// The answer if it is there already; `None` while the records are not
    /// yet durable. Never blocks.
    pub fn try_wait(&self) -> Option<Result<AppendReceipt, JournalError>> {
        match self.rx.try_recv() {
            Ok(Ok(receipt)) => Some(Ok(receipt)),
            Ok(Err(refusal)) => Some(Err(refusal.into_error(self.stream))),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(JournalError::WriterGone)),
        }
    }
}

/// A request to the writer thread.
pub(crate) enum Command {
    Append {
        stream: Stream,
        records: Vec<RecordInput>,
        /// The records' leaf hashes, computed by the appending thread so that
        /// hashing runs in parallel and the writer only compresses and writes.
        leaves: Vec<Hash>,
        reply: Reply,
    },
    Checkpoint {
        reply: Sender<Result<(), JournalError>>,
    },
    Retention {
        policies: BTreeMap<Stream, RetentionPolicy>,
        reply: Sender<Result<BTreeMap<Stream, RetentionOutcome>, JournalError>>,
    },
    Close {
        reply: Sender<Result<(), JournalError>>,
    },
    /// A segment rewritten by the compaction thread, to put in place.
    Compacted(Compacted),
}

/// Writer settings.
#[derive(Debug, Clone)]
pub(crate) struct WriterSettings {
    pub(crate) fsync: FsyncPolicy,
    pub(crate) checkpoint_every_records: u64,
    pub(crate) checkpoint_every: Duration,
    pub(crate) max_batch_records: usize,
    pub(crate) compaction_level: Option<i32>,
}

pub(crate) fn spawn(
    mut logs: BTreeMap<Stream, StreamLog>,
    key: SigningKeyPair,
    settings: WriterSettings,
    counters: Arc<SyncCounters>,
) -> Result<(Sender<Command>, std::thread::JoinHandle<()>), JournalError> {
    let (tx, rx) = mpsc::channel::<Command>();
    let mut compactor = match settings.compaction_level {
        Some(level) => Some(Compactor::spawn(level, tx.clone())?),
        None => None,
    };
    let handle = std::thread::Builder::new()
        .name("whodid-journal-writer".into())
        .spawn(move || {
            run(
                &mut logs,
                &key,
                &settings,
                &rx,
                compactor.as_ref(),
                &counters,
            );
            if let Some(compactor) = compactor.as_mut() {
                compactor.stop();
            }
        })
        .map_err(JournalError::io("writer thread"))?;
    Ok((tx, handle))
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

struct Pending {
    reply: Reply,
    receipt: AppendReceipt,
}

/// One append as the writer batches it.
struct Append {
    stream: Stream,
    records: Vec<RecordInput>,
    leaves: Vec<Hash>,
    reply: Reply,
}

/// The writer's failure state: after a failed fsync the page cache cannot be
/// trusted to hold what was written, so nothing more is acknowledged.
#[derive(Default)]
struct Failure(Option<Arc<JournalError>>);

impl Failure {
    fn set(&mut self, error: JournalError) -> Arc<JournalError> {
        Arc::clone(self.0.get_or_insert_with(|| Arc::new(error)))
    }

    fn refusal(&self) -> Option<Refusal> {
        self.0.as_ref().map(|e| Refusal::Poisoned(Arc::clone(e)))
    }

    fn to_error(&self) -> Option<JournalError> {
        self.0.as_ref().map(|e| JournalError::Poisoned {
            source: Arc::clone(e),
        })
    }
}

fn run(
    logs: &mut BTreeMap<Stream, StreamLog>,
    key: &SigningKeyPair,
    settings: &WriterSettings,
    rx: &Receiver<Command>,
    compactor: Option<&Compactor>,
    counters: &SyncCounters,
) {
    let mut pending: Vec<Pending> = Vec::new();
    // When the oldest record not yet fsynced was written.
    let mut unsynced_since: Option<Instant> = None;
    let mut last_fsync = Instant::now();
    let mut failure = Failure::default();
    loop {
        let timeout = match settings.fsync {
            FsyncPolicy::Interval(interval) if !pending.is_empty() => {
                interval.saturating_sub(last_fsync.elapsed())
            }
            _ => settings.checkpoint_every.min(Duration::from_millis(500)),
        };
        let first = match rx.recv_timeout(timeout) {
            Ok(command) => Some(command),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                finish(logs, key, &mut pending, &mut failure);
                return;
            }
        };
        // Group commit: take everything already waiting, up to the limit.
        let mut appends: Vec<Append> = Vec::new();
        let mut others: Vec<Command> = Vec::new();
        let mut batched = 0usize;
        let mut next = first;
        while let Some(command) = next {
            match command {
                Command::Append {
                    stream,
                    records,
                    leaves,
                    reply,
                } => {
                    batched += records.len();
                    appends.push(Append {
                        stream,
                        records,
                        leaves,
                        reply,
                    });
                }
                other => others.push(other),
            }
            if batched >= settings.max_batch_records || !others.is_empty() {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !appends.is_empty() {
            write_batch(logs, appends, &mut pending, &failure);
            if !pending.is_empty() {
                unsynced_since.get_or_insert_with(Instant::now);
            }
        }
        let fsync_due = match settings.fsync {
            FsyncPolicy::EveryBatch | FsyncPolicy::Never => true,
            FsyncPolicy::Interval(interval) => {
                last_fsync.elapsed() >= interval || !others.is_empty()
            }
        };
        if fsync_due && !pending.is_empty() {
            if settings.fsync != FsyncPolicy::Never {
                let started = Instant::now();
                sync_all(logs, &mut pending, &mut failure);
                last_fsync = Instant::now();
                let waited = unsynced_since.map_or(Duration::ZERO, |t| last_fsync - t);
                counters.record(last_fsync - started, waited);
            }
            unsynced_since = None;
            answer(&mut pending, &failure);
        }
        if failure.0.is_none() {
            for log in logs.values_mut() {
                let by_count =
                    log.size() >= log.checkpoint_size + settings.checkpoint_every_records;
                let by_time = log.last_checkpoint_at.elapsed() >= settings.checkpoint_every
                    && log.size() > log.checkpoint_size;
                if by_count || by_time {
                    if let Err(e) = log.checkpoint(key) {
                        // The records stay; the next checkpoint covers them.
                        tracing::error!(stream = %log.stream, error = %e, "checkpoint failed");
                    }
                }
            }
        }
        for log in logs.values_mut() {
            for job in log.to_compact.drain(..) {
                if let Some(compactor) = compactor {
                    compactor.submit(job);
                }
            }
        }
        for command in others {
            match command {
                Command::Compacted(done) => {
                    if let Some(log) = logs.get_mut(&done.stream) {
                        if let Err(e) = log.install_compacted(done) {
                            tracing::warn!(stream = %log.stream, error = %e, "compacted segment not installed");
                        }
                    }
                }
                Command::Checkpoint { reply } => {
                    let result = match failure.to_error() {
                        Some(e) => Err(e),
                        None => checkpoint_all(logs, key),
                    };
                    answer(&mut pending, &failure);
                    let _ = reply.send(result);
                }
                Command::Retention { policies, reply } => {
                    let _ = reply.send(apply_retention(logs, &policies, key));
                }
                Command::Close { reply } => {
                    finish(logs, key, &mut pending, &mut failure);
                    let _ = reply.send(match failure.to_error() {
                        Some(e) => Err(e),
                        None => Ok(()),
                    });
                    return;
                }
                Command::Append { .. } => {}
            }
        }
    }
}

fn apply_retention(
    logs: &mut BTreeMap<Stream, StreamLog>,
    policies: &BTreeMap<Stream, RetentionPolicy>,
    key: &SigningKeyPair,
) -> Result<BTreeMap<Stream, RetentionOutcome>, JournalError> {
    let mut outcomes = BTreeMap::new();
    for (stream, policy) in policies {
        if let Some(log) = logs.get_mut(stream) {
            outcomes.insert(*stream, retention::apply(log, policy, key)?);
        }
    }
    Ok(outcomes)
}

/// One stream's share of a batch: its records and leaves, and who waits for how many.
#[derive(Default)]
struct StreamBatch {
    records: Vec<RecordInput>,
    leaves: Vec<Hash>,
    replies: Vec<(Reply, u64)>,
}

fn write_batch(
    logs: &mut BTreeMap<Stream, StreamLog>,
    appends: Vec<Append>,
    pending: &mut Vec<Pending>,
    failure: &Failure,
) {
    let time = now_micros();
    // One frame per stream: concatenate the batch's records per stream.
    let mut by_stream: BTreeMap<Stream, StreamBatch> = BTreeMap::new();
    for append in appends {
        let entry = by_stream.entry(append.stream).or_default();
        entry
            .replies
            .push((append.reply, append.records.len() as u64));
        entry.records.extend(append.records);
        entry.leaves.extend(append.leaves);
    }
    for (stream, batch) in by_stream {
        if let Some(refusal) = failure.refusal() {
            for (reply, _) in batch.replies {
                reply(Err(refusal.clone()));
            }
            continue;
        }
        let Some(log) = logs.get_mut(&stream) else {
            continue;
        };
        if batch.records.is_empty() {
            for (reply, _) in batch.replies {
                reply(Ok(AppendReceipt {
                    stream,
                    first_index: log.size(),
                    count: 0,
                }));
            }
            continue;
        }
        match log.append(&batch.records, &batch.leaves, time) {
            Ok(mut first) => {
                for (reply, count) in batch.replies {
                    pending.push(Pending {
                        reply,
                        receipt: AppendReceipt {
                            stream,
                            first_index: first,
                            count,
                        },
                    });
                    first += count;
                }
            }
            Err(e) => {
                // Nothing of this frame is on disk: refuse it, keep going.
                tracing::warn!(stream = %stream, error = %e, "append failed, batch refused");
                let refusal = Refusal::Batch(Arc::new(e));
                for (reply, _) in batch.replies {
                    reply(Err(refusal.clone()));
                }
            }
        }
    }
}

/// fsyncs every stream; on failure, the pending appends are refused with
/// that error and the writer refuses everything after.
fn sync_all(
    logs: &mut BTreeMap<Stream, StreamLog>,
    pending: &mut Vec<Pending>,
    failure: &mut Failure,
) {
    for log in logs.values_mut() {
        if let Err(e) = log.sync() {
            tracing::error!(stream = %log.stream, error = %e, "fsync failed: acknowledging nothing more until reopened");
            let error = failure.set(e);
            for p in pending.drain(..) {
                (p.reply)(Err(Refusal::Batch(Arc::clone(&error))));
            }
        }
    }
}

fn answer(pending: &mut Vec<Pending>, failure: &Failure) {
    for p in pending.drain(..) {
        match failure.refusal() {
            Some(refusal) => (p.reply)(Err(refusal)),
            None => (p.reply)(Ok(p.receipt)),
        }
    }
}

fn checkpoint_all(
    logs: &mut BTreeMap<Stream, StreamLog>,
    key: &SigningKeyPair,
) -> Result<(), JournalError> {
    for log in logs.values_mut() {
        log.checkpoint(key)?;
    }
    Ok(())
}

fn finish(
    logs: &mut BTreeMap<Stream, StreamLog>,
    key: &SigningKeyPair,
    pending: &mut Vec<Pending>,
    failure: &mut Failure,
) {
    sync_all(logs, pending, failure);
    answer(pending, failure);
    if failure.0.is_none() {
        for log in logs.values_mut() {
            if let Err(e) = log.sync_with_sidecar() {
                // Derived data: the next open rebuilds it from the records.
                tracing::warn!(stream = %log.stream, error = %e, "leaf sidecar not synced at shutdown");
            }
        }
        if let Err(e) = checkpoint_all(logs, key) {
            tracing::error!(error = %e, "final checkpoint failed");
            failure.set(e);
        }
    }
}
