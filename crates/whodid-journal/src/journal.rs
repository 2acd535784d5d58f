//! The journal's front door: open a data directory, append, checkpoint,
//! apply retention, close.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use whodid_model::Stream;

use crate::checkpoint::Verifier;
use crate::datadir::{prepare, DirLock, Layout};
use crate::error::JournalError;
use crate::format::RecordInput;
use crate::keys::SigningKeyPair;
use crate::retention::{RetentionOutcome, RetentionPolicy};
use crate::stream_log::StreamLog;
use crate::writer::{self, AppendReceipt, Command, FsyncPolicy, Ticket, WriterSettings};

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
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
            segment_max_bytes: 64 << 20,
            checkpoint_every_records: 10_000,
            checkpoint_every: Duration::from_secs(10),
            origin_prefix: "whodid".to_owned(),
            key_name: "whodid-journal".to_owned(),
            max_batch_records: 16_384,
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
                StreamLog::open(&layout, stream, origin, config.segment_max_bytes)?,
            );
        }
        let settings = WriterSettings {
            fsync: config.fsync,
            checkpoint_every_records: config.checkpoint_every_records,
            checkpoint_every: config.checkpoint_every,
            max_batch_records: config.max_batch_records,
        };
        let (commands, writer) = writer::spawn(logs, key, settings)?;
        Ok(Journal {
            layout,
            verifier,
            commands: Mutex::new(Some(commands)),
            writer: Mutex::new(Some(writer)),
            _lock: lock,
        })
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
        let guard = self
            .commands
            .lock()
            .map_err(|_| JournalError::WriterStopped("lock poisoned".into()))?;
        let Some(sender) = guard.as_ref() else {
            return Err(JournalError::WriterStopped("journal is closed".into()));
        };
        sender
            .send(command)
            .map_err(|_| JournalError::WriterStopped("writer thread ended".into()))
    }

    /// Appends records to a stream; the ticket answers once they are durable.
    pub fn append(
        &self,
        stream: Stream,
        records: Vec<RecordInput>,
    ) -> Result<Ticket, JournalError> {
        let (reply, rx) = mpsc::channel();
        self.send(Command::Append {
            stream,
            records,
            reply,
        })?;
        Ok(Ticket::from_receiver(rx))
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
        rx.recv()
            .map_err(|_| JournalError::WriterStopped("writer thread ended".into()))?
            .map_err(JournalError::WriterStopped)
    }

    /// Applies retention limits to the given streams.
    pub fn apply_retention(
        &self,
        policies: BTreeMap<Stream, RetentionPolicy>,
    ) -> Result<BTreeMap<Stream, RetentionOutcome>, JournalError> {
        let (reply, rx) = mpsc::channel();
        self.send(Command::Retention { policies, reply })?;
        rx.recv()
            .map_err(|_| JournalError::WriterStopped("writer thread ended".into()))?
            .map_err(JournalError::WriterStopped)
    }

    /// Makes everything durable, signs final checkpoints and stops the writer.
    pub fn close(&self) -> Result<(), JournalError> {
        let sender = self
            .commands
            .lock()
            .map_err(|_| JournalError::WriterStopped("lock poisoned".into()))?
            .take();
        let Some(sender) = sender else {
            return Ok(());
        };
        let (reply, rx) = mpsc::channel();
        let sent = sender.send(Command::Close { reply }).is_ok();
        let result = if sent {
            rx.recv()
                .map_err(|_| JournalError::WriterStopped("writer thread ended".into()))?
                .map_err(JournalError::WriterStopped)
        } else {
            Ok(())
        };
        if let Ok(mut writer) = self.writer.lock() {
            if let Some(handle) = writer.take() {
                let _ = handle.join();
            }
        }
        result
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
