//! The journal's front door: open a data directory, append, checkpoint,
//! apply retention, close.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use whodid_model::Stream;

use crate::checkpoint::Verifier;
use crate::datadir::{prepare, sync_dir, write_durably, DirLock, Layout};
use crate::error::JournalError;
use crate::format::{record_leaf_hash, RecordInput};
use crate::hashed::HashedRecord;
use crate::keys::SigningKeyPair;
use crate::retention::{RetentionOutcome, RetentionPolicy};
use crate::stream_log::StreamLog;
use crate::sync_stats::{SyncCounters, SyncStats};
use crate::writer::{self, AppendReceipt, Command, FsyncPolicy, Reply, Ticket, WriterSettings};

/// How a journal behaves.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// When records are forced to disk.
    pub fsync: FsyncPolicy,
    /// A segment is sealed once it is this large.
    pub segment_max_bytes: u64,
    /// Sign a checkpoint after this many new records…
    pub checkpoint_every_records: u64,
    /// …or after this long, whichever comes first (and at close).
    pub checkpoint_every: Duration,
    /// Checkpoint origins are `<origin_prefix>/<stream>`.
    pub origin_prefix: String,
    /// The name of the signing key (on every signature line).
    pub key_name: String,
    /// The most records one group commit takes.
    pub max_batch_records: usize,
    /// zstd level at which sealed segments are rewritten into large frames
    /// in the background; `None` keeps segments as group commit wrote them.
    pub compaction_level: Option<i32>,
    /// Appends are refused with [`JournalError::LowSpace`] while the data
    /// directory's file system has fewer bytes free than this, so that
    /// checkpoints, the index and retention keep room to work. 0: no reserve
    /// (appends fail only when a write does).
    pub min_free_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            fsync: FsyncPolicy::EveryBatch,
            segment_max_bytes: 64 << 20,
            checkpoint_every_records: 10_000,
            checkpoint_every: Duration::from_secs(10),
            origin_prefix: "whodid".to_owned(),
            key_name: "whodid-journal".to_owned(),
            max_batch_records: 16_384,
            compaction_level: Some(5),
            min_free_bytes: 0,
        }
    }
}

/// An open journal: the only writer of audit data in a data directory.
#[derive(Debug)]
pub struct Journal {
    layout: Layout,
    verifier: Verifier,
    commands: Mutex<Option<Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    sync_counters: Arc<SyncCounters>,
    min_free_bytes: u64,
    _lock: DirLock,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Journal {
    /// Opens (creating it if empty) the data directory `root`: marker, lock,
    /// key, then every stream with crash recovery.
    pub fn open(root: &Path, config: JournalConfig) -> Result<Journal, JournalError> {
        prepare(root, true)?;
        let lock = DirLock::acquire(root)?;
        let layout = Layout::new(root);
        let key = SigningKeyPair::load_or_create(&layout.keys_dir(), &config.key_name)?;
        let verifier = key.verifier();
        let mut logs = BTreeMap::new();
        for stream in Stream::ALL {
            let origin = format!("{}/{}", config.origin_prefix, stream);
            logs.insert(
                stream,
                StreamLog::open(&layout, stream, origin, config.segment_max_bytes, &key)?,
            );
        }
        let settings = WriterSettings {
            fsync: config.fsync,
            checkpoint_every_records: config.checkpoint_every_records,
            checkpoint_every: config.checkpoint_every,
            max_batch_records: config.max_batch_records,
            compaction_level: config.compaction_level,
        };
        let sync_counters = Arc::new(SyncCounters::default());
        let (commands, writer) = writer::spawn(logs, key, settings, Arc::clone(&sync_counters))?;
        Ok(Journal {
            layout,
            verifier,
            commands: Mutex::new(Some(commands)),
            writer: Mutex::new(Some(writer)),
            sync_counters,
            min_free_bytes: config.min_free_bytes,
            _lock: lock,
        })
    }

    /// The writer's fsync figures so far.
    pub fn sync_stats(&self) -> SyncStats {
        self.sync_counters.snapshot()
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The key that verifies this journal's checkpoints.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    fn send(&self, command: Command) -> Result<(), JournalError> {
        let guard = self.commands.lock().map_err(|_| JournalError::WriterGone)?;
        let Some(sender) = guard.as_ref() else {
            return Err(JournalError::Closed);
        };
        sender.send(command).map_err(|_| JournalError::WriterGone)
    }

    /// Refuses an append while free space is below the reserve. One
    /// `statvfs` per append; if it fails, the writes decide.
    fn check_reserve(&self) -> Result<(), JournalError> {
        if self.min_free_bytes == 0 {
            return Ok(());
        }
        match fs2::available_space(self.layout.root()) {
            Ok(free) if free < self.min_free_bytes => Err(JournalError::LowSpace {
                path: self.layout.root().to_owned(),
                free,
                reserve: self.min_free_bytes,
            }),
            _ => Ok(()),
        }
    }

    fn send_append(
        &self,
        stream: Stream,
        records: Vec<RecordInput>,
        reply: Reply,
    ) -> Result<(), JournalError> {
        self.check_reserve()?;
        // Hash on the caller's thread: appenders hash in parallel and the
        // writer thread is left with compression and IO.
        let leaves = records
            .iter()
            .map(|r| record_leaf_hash(&r.envelope, &r.raw))
            .collect();
        self.send(Command::Append {
            stream,
            records,
            leaves,
            reply,
        })
    }

    /// Appends records to a stream. The [`Ticket`] answers once they are
    /// durable under the fsync policy, with their indexes; the records of
    /// one call get consecutive indexes.
    pub fn append(
        &self,
        stream: Stream,
        records: Vec<RecordInput>,
    ) -> Result<Ticket, JournalError> {
        let (ticket, reply) = Ticket::new(stream);
        self.send_append(stream, records, reply)?;
        Ok(ticket)
    }

    /// Appends records and calls `on_durable` once they are durable (or
    /// refused). For async callers: the callback runs on the writer thread
    /// and must not block — send the result into a oneshot channel.
    pub fn append_with(
        &self,
        stream: Stream,
        records: Vec<RecordInput>,
        on_durable: impl FnOnce(Result<AppendReceipt, JournalError>) + Send + 'static,
    ) -> Result<(), JournalError> {
        let reply: Reply =
            Box::new(move |result| on_durable(result.map_err(|r| r.into_error(stream))));
        self.send_append(stream, records, reply)
    }

    /// [`append_with`](Self::append_with) for records already hashed (so
    /// that the caller hashes where it likes: before its own lock, on
    /// several threads).
    pub fn append_hashed_with(
        &self,
        stream: Stream,
        records: Vec<HashedRecord>,
        on_durable: impl FnOnce(Result<AppendReceipt, JournalError>) + Send + 'static,
    ) -> Result<(), JournalError> {
        self.check_reserve()?;
        let reply: Reply =
            Box::new(move |result| on_durable(result.map_err(|r| r.into_error(stream))));
        let (records, leaves) = records.into_iter().map(HashedRecord::into_parts).unzip();
        self.send(Command::Append {
            stream,
            records,
            leaves,
            reply,
        })
    }

    /// Appends and waits until durable.
    pub fn append_wait(
        &self,
        stream: Stream,
        records: Vec<RecordInput>,
    ) -> Result<AppendReceipt, JournalError> {
        self.append(stream, records)?.wait()
    }

    /// Signs a checkpoint of every stream that grew since its last one.
    pub fn checkpoint(&self) -> Result<(), JournalError> {
        let (reply, rx) = mpsc::channel();
        self.send(Command::Checkpoint { reply })?;
        rx.recv().map_err(|_| JournalError::WriterGone)?
    }

    /// Applies retention limits to the given streams: removes whole,
    /// checkpointed segments, oldest first, and signs a record of it.
    pub fn apply_retention(
        &self,
        policies: BTreeMap<Stream, RetentionPolicy>,
    ) -> Result<BTreeMap<Stream, RetentionOutcome>, JournalError> {
        let (reply, rx) = mpsc::channel();
        self.send(Command::Retention { policies, reply })?;
        rx.recv().map_err(|_| JournalError::WriterGone)?
    }

    /// Makes everything durable, signs final checkpoints and stops the
    /// writer. Appends after this fail with [`JournalError::Closed`].
    pub fn close(&self) -> Result<(), JournalError> {
        let sender = self
            .commands
            .lock()
            .map_err(|_| JournalError::WriterGone)?
            .take();
        let Some(sender) = sender else {
            return Ok(());
        };
        let (reply, rx) = mpsc::channel();
        let result = match sender.send(Command::Close { reply }) {
            Ok(()) => rx.recv().map_err(|_| JournalError::WriterGone)?,
            Err(_) => Err(JournalError::WriterGone),
        };
        if let Ok(mut writer) = self.writer.lock() {
            if let Some(handle) = writer.take() {
                let _ = handle.join();
            }
        }
        result
    }

    /// Puts a legal hold on a stream (retention then removes nothing from
    /// it) with a free-text reason, or lifts it.
    pub fn set_legal_hold(&self, stream: Stream, reason: Option<&str>) -> Result<(), JournalError> {
        let path = self.layout.legal_hold(stream);
        match reason {
            Some(reason) => write_durably(&path, format!("{reason}\n").as_bytes()),
            None => match std::fs::remove_file(&path) {
                Ok(()) => sync_dir(&self.layout.stream_dir(stream)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(JournalError::io(&path)(e)),
            },
        }
    }

    /// The path of the data directory's key directory.
    pub fn keys_dir(&self) -> PathBuf {
        self.layout.keys_dir()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
