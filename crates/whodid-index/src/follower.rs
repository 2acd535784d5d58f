//! The follower: a thread that keeps the index fed from the journal while
//! `whodid serve` runs, with bounded lag.
//!
//! It looks at the journal every `poll_every` (cheaply: segment names and
//! the last segment's size), indexes what is new and commits at least every
//! `commit_every`, so an appended record is searchable within about
//! `poll_every + commit_every`. [`FollowerHandle::lag`] is the metric. It
//! runs at a lower CPU priority than ingest: durability first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use whodid_journal::reader::JournalReader;
use whodid_model::Stream;

use crate::config::IndexConfig;
use crate::error::IndexError;
use crate::indexer::{Indexer, Lag};

/// Starts followers.
#[derive(Debug)]
pub struct Follower;

/// A running follower.
#[derive(Debug)]
pub struct FollowerHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), IndexError>>>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    lag: Mutex<BTreeMap<Stream, Lag>>,
    last_commit: Mutex<Option<Instant>>,
    error: Mutex<Option<String>>,
}

impl Follower {
    /// Opens the index of `data` (taking the writer lock; repairing what
    /// does not add up) and starts following the journal on a thread.
    pub fn spawn(data: &Path, config: IndexConfig) -> Result<FollowerHandle, IndexError> {
        let indexer = Indexer::open(data, config.clone())?;
        let journal = JournalReader::open(data)?;
        let shared = Arc::new(Shared::default());
        if let Ok(lag) = indexer.lag() {
            if let Ok(mut slot) = shared.lag.lock() {
                *slot = lag;
            }
        }
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("whodid-index".into())
            .spawn(move || {
                yield_to_ingest();
                let result = run(indexer, journal, config, &thread_shared);
                if let Err(error) = &result {
                    tracing::error!(%error, "index follower stopped: search falls behind the journal");
                    if let Ok(mut slot) = thread_shared.error.lock() {
                        *slot = Some(error.to_string());
                    }
                }
                result
            })
            .map_err(|source| IndexError::Io {
                path: data.to_owned(),
                source,
            })?;
        Ok(FollowerHandle {
            shared,
            thread: Some(thread),
        })
    }
}

impl FollowerHandle {
    /// How far each stream's index is behind the journal, as of the last commit.
    pub fn lag(&self) -> BTreeMap<Stream, Lag> {
        self.shared
            .lag
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// When the follower last committed (searchable from then on).
    pub fn last_commit(&self) -> Option<Instant> {
        self.shared.last_commit.lock().ok().and_then(|t| *t)
    }

    /// The error that stopped the follower, if it stopped.
    pub fn error(&self) -> Option<String> {
        self.shared.error.lock().ok().and_then(|e| e.clone())
    }

    /// Commits what was indexed, closes the index and waits for the thread.
    pub fn shutdown(mut self) -> Result<(), IndexError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), IndexError> {
        self.shared.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(IndexError::BadState {
                    path: PathBuf::new(),
                    what: "the index follower panicked".into(),
                })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for FollowerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// The follower's nice value: above ingest's, so that on a busy machine
/// storing what arrives comes first and search catches up (its lag is a
/// metric). tantivy's indexing and merge threads, started from this thread,
/// inherit it.
const FOLLOWER_NICE: i32 = 10;

/// Lowers this thread's CPU priority (Linux: nice is per thread).
fn yield_to_ingest() {
    let me = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(me), FOLLOWER_NICE) {
        tracing::debug!(%error, "index follower: could not lower its priority");
    }
}

/// What a stream's journal looks like from outside, to notice growth without reading it.
fn signature(journal: &JournalReader, stream: Stream) -> Option<(usize, u64, u64)> {
    let segments = journal.segments(stream).ok()?;
    let (first, last) = match (segments.first(), segments.last()) {
        (Some((first, _)), Some((_, last))) => (*first, last),
        _ => return Some((0, 0, 0)),
    };
    let len = std::fs::metadata(last).ok()?.len();
    Some((segments.len(), first, len))
}

fn run(
    mut indexer: Indexer,
    journal: JournalReader,
    config: IndexConfig,
    shared: &Shared,
) -> Result<(), IndexError> {
    let mut seen: BTreeMap<Stream, Option<(usize, u64, u64)>> = BTreeMap::new();
    let mut uncommitted_since: Option<Instant> = None;
    let mut pending_streams: Vec<Stream> = Stream::ALL.to_vec();
    while !shared.stop.load(Ordering::SeqCst) {
        let mut worked = false;
        for stream in Stream::ALL {
            let now = signature(&journal, stream);
            if seen.get(&stream) != Some(&now) {
                seen.insert(stream, now);
                if !pending_streams.contains(&stream) {
                    pending_streams.push(stream);
                }
            }
        }
        let mut still = Vec::new();
        for stream in pending_streams.drain(..) {
            let n = indexer.step(stream, config.batch_records)?;
            if n > 0 {
                worked = true;
                uncommitted_since.get_or_insert_with(Instant::now);
                // Maybe more: the iterator may have stopped at its batch size.
                still.push(stream);
            }
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
        }
        pending_streams = still;
        let due = uncommitted_since.is_some_and(|t| t.elapsed() >= config.commit_every);
        if due || (!worked && uncommitted_since.is_some()) {
            indexer.commit()?;
            uncommitted_since = None;
            if let Ok(mut slot) = shared.last_commit.lock() {
                *slot = Some(Instant::now());
            }
            if let Ok(lag) = indexer.lag() {
                if let Ok(mut slot) = shared.lag.lock() {
                    *slot = lag;
                }
            }
        }
        if !worked {
            sleep_unless_stopped(config.poll_every, shared);
        }
    }
    indexer.close()
}

fn sleep_unless_stopped(total: Duration, shared: &Shared) {
    let deadline = Instant::now() + total;
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}
