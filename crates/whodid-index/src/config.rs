//! How the index writer works: memory, threads, commit and poll intervals.

use std::time::Duration;

/// Index writer settings.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// tantivy's memory budget per open day index writer, in bytes (at least 15 MB per thread).
    pub writer_memory_bytes: usize,
    /// Indexing threads per open day index writer.
    pub writer_threads: usize,
    /// Day index writers kept open at once (the newest days take the writes).
    pub max_open_days: usize,
    /// The follower commits at least this often while records arrive: the
    /// bound on how long an appended record stays unsearchable, plus `poll_every`.
    pub commit_every: Duration,
    /// How often the follower looks at the journal for new records.
    pub poll_every: Duration,
    /// Records read from the journal per indexing step.
    pub batch_records: usize,
    /// A bulk catch-up (reindex) commits after this many records.
    pub bulk_commit_records: u64,
    /// Records a day writer holds back to store alike ones side by side
    /// (smaller doc store; costs memory for that many documents per open day).
    pub group_records: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            writer_memory_bytes: 64 << 20,
            writer_threads: 1,
            max_open_days: 3,
            commit_every: Duration::from_secs(1),
            poll_every: Duration::from_millis(250),
            batch_records: 8192,
            bulk_commit_records: 2_000_000,
            group_records: 8192,
        }
    }
}
