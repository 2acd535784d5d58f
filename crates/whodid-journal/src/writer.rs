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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use whodid_model::Stream;

use crate::error::JournalError;
use crate::format::RecordInput;
use crate::keys::SigningKeyPair;
use crate::retention::{self, RetentionOutcome, RetentionPolicy};
use crate::stream_log::StreamLog;

/// When appended records are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

type Reply = Sender<Result<AppendReceipt, String>>;

/// The answer to an append, once the records are durable (per the policy).
#[derive(Debug)]
pub struct Ticket {
    rx: Receiver<Result<AppendReceipt, String>>,
}

impl Ticket {
    pub(crate) fn from_receiver(rx: Receiver<Result<AppendReceipt, String>>) -> Ticket {
        Ticket { rx }
    }

    /// Blocks until the records are durable, or the append failed.
    pub fn wait(self) -> Result<AppendReceipt, JournalError> {
        match self.rx.recv() {
            Ok(Ok(receipt)) => Ok(receipt),
            Ok(Err(message)) => Err(JournalError::WriterStopped(message)),
            Err(_) => Err(JournalError::WriterStopped("writer thread ended".into())),
        }
    }

    /// The answer if it is there already.
    pub fn try_wait(&self) -> Option<Result<AppendReceipt, JournalError>> {
        match self.rx.try_recv() {
            Ok(Ok(receipt)) => Some(Ok(receipt)),
            Ok(Err(message)) => Some(Err(JournalError::WriterStopped(message))),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(JournalError::WriterStopped(
                "writer thread ended".into(),
            ))),
        }
    }
}

/// A request to the writer thread.
pub(crate) enum Command {
    Append {
        stream: Stream,
        records: Vec<RecordInput>,
        reply: Reply,
    },
    Checkpoint {
        reply: Sender<Result<(), String>>,
    },
    Retention {
        policies: BTreeMap<Stream, RetentionPolicy>,
        reply: Sender<Result<BTreeMap<Stream, RetentionOutcome>, String>>,
    },
    Close {
        reply: Sender<Result<(), String>>,
    },
}

/// Writer settings.
#[derive(Debug, Clone)]
pub(crate) struct WriterSettings {
    pub(crate) fsync: FsyncPolicy,
    pub(crate) checkpoint_every_records: u64,
    pub(crate) checkpoint_every: Duration,
    pub(crate) max_batch_records: usize,
}

pub(crate) fn spawn(
    mut logs: BTreeMap<Stream, StreamLog>,
    key: SigningKeyPair,
    settings: WriterSettings,
) -> Result<(Sender<Command>, std::thread::JoinHandle<()>), JournalError> {
    let (tx, rx) = mpsc::channel::<Command>();
    let handle = std::thread::Builder::new()
        .name("whodid-journal-writer".into())
        .spawn(move || run(&mut logs, &key, &settings, &rx))
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

fn run(
    logs: &mut BTreeMap<Stream, StreamLog>,
    key: &SigningKeyPair,
    settings: &WriterSettings,
    rx: &Receiver<Command>,
) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut last_fsync = Instant::now();
    let mut failed: Option<String> = None;
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
                finish(logs, key, &mut pending, &mut failed);
                return;
            }
        };
        let mut appends: Vec<(Stream, Vec<RecordInput>, Reply)> = Vec::new();
        let mut others: Vec<Command> = Vec::new();
        let mut batched = 0usize;
        let mut next = first;
        while let Some(command) = next {
            match command {
                Command::Append {
                    stream,
                    records,
                    reply,
                } => {
                    batched += records.len();
                    appends.push((stream, records, reply));
                }
                other => others.push(other),
            }
            if batched >= settings.max_batch_records || !others.is_empty() {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !appends.is_empty() {
            write_batch(logs, appends, &mut pending, &mut failed);
        }
        let fsync_due = match settings.fsync {
            FsyncPolicy::EveryBatch => true,
            FsyncPolicy::Interval(interval) => {
                last_fsync.elapsed() >= interval || !others.is_empty()
            }
            FsyncPolicy::Never => true,
        };
        if fsync_due && !pending.is_empty() {
            if settings.fsync != FsyncPolicy::Never {
                for log in logs.values_mut() {
                    if let Err(e) = log.sync() {
                        tracing::error!(stream = %log.stream, error = %e, "fsync failed: acknowledging nothing");
                        failed.get_or_insert(e.to_string());
                    }
                }
                last_fsync = Instant::now();
            }
            answer(&mut pending, &failed);
        }
        for log in logs.values_mut() {
            let by_count = log.size() >= log.checkpoint_size + settings.checkpoint_every_records;
            let by_time = log.last_checkpoint_at.elapsed() >= settings.checkpoint_every
                && log.size() > log.checkpoint_size;
            if (by_count || by_time) && failed.is_none() {
                if let Err(e) = log.checkpoint(key) {
                    tracing::error!(stream = %log.stream, error = %e, "checkpoint failed");
                }
            }
        }
        for command in others {
            match command {
                Command::Checkpoint { reply } => {
                    let result = checkpoint_all(logs, key);
                    answer(&mut pending, &failed);
                    let _ = reply.send(result);
                }
                Command::Retention { policies, reply } => {
                    let mut outcomes = BTreeMap::new();
                    let mut result = Ok(());
                    for (stream, policy) in &policies {
                        let Some(log) = logs.get_mut(stream) else {
                            continue;
                        };
                        match retention::apply(log, policy, key) {
                            Ok(outcome) => {
                                outcomes.insert(*stream, outcome);
                            }
                            Err(e) => {
                                result = Err(e.to_string());
                                break;
                            }
                        }
                    }
                    let _ = reply.send(result.map(|()| outcomes));
                }
                Command::Close { reply } => {
                    finish(logs, key, &mut pending, &mut failed);
                    let _ = reply.send(match &failed {
                        Some(message) => Err(message.clone()),
                        None => Ok(()),
                    });
                    return;
                }
                Command::Append { .. } => {}
            }
        }
    }
}

/// One stream's share of a batch: its records, and who waits for how many.
type StreamBatch = (Vec<RecordInput>, Vec<(Reply, u64)>);

fn write_batch(
    logs: &mut BTreeMap<Stream, StreamLog>,
    appends: Vec<(Stream, Vec<RecordInput>, Reply)>,
    pending: &mut Vec<Pending>,
    failed: &mut Option<String>,
) {
    let time = now_micros();
    // One frame per stream: concatenate the batch's records per stream.
    let mut by_stream: BTreeMap<Stream, StreamBatch> = BTreeMap::new();
    for (stream, records, reply) in appends {
        let entry = by_stream.entry(stream).or_default();
        let count = records.len() as u64;
        entry.0.extend(records);
        entry.1.push((reply, count));
    }
    for (stream, (records, replies)) in by_stream {
        if let Some(message) = failed.as_ref() {
            for (reply, _) in replies {
                let _ = reply.send(Err(message.clone()));
            }
            continue;
        }
        let Some(log) = logs.get_mut(&stream) else {
            continue;
        };
        if records.is_empty() {
            for (reply, _) in replies {
                let _ = reply.send(Ok(AppendReceipt {
                    stream,
                    first_index: log.size(),
                    count: 0,
                }));
            }
            continue;
        }
        match log.append(&records, time) {
            Ok(mut first) => {
                for (reply, count) in replies {
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
                for (reply, _) in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

fn answer(pending: &mut Vec<Pending>, failed: &Option<String>) {
    for p in pending.drain(..) {
        let _ = match failed {
            Some(message) => p.reply.send(Err(message.clone())),
            None => p.reply.send(Ok(p.receipt)),
        };
    }
}

fn checkpoint_all(
    logs: &mut BTreeMap<Stream, StreamLog>,
    key: &SigningKeyPair,
) -> Result<(), String> {
    for log in logs.values_mut() {
        log.checkpoint(key).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn finish(
    logs: &mut BTreeMap<Stream, StreamLog>,
    key: &SigningKeyPair,
    pending: &mut Vec<Pending>,
    failed: &mut Option<String>,
) {
    for log in logs.values_mut() {
        if let Err(e) = log.sync() {
            failed.get_or_insert(e.to_string());
        }
    }
    answer(pending, failed);
    if failed.is_none() {
        if let Err(e) = checkpoint_all(logs, key) {
            tracing::error!(error = %e, "final checkpoint failed");
            failed.get_or_insert(e);
        }
    }
}
