//! How the writer's fsyncs are going: how many, how long they take, and the
//! longest any written record waited to become durable.
//!
//! The fsync policy trades latency for disk operations; these figures are
//! what an operator needs to see that trade (and what the ingest benchmark
//! reports as "fsync at most every N ms"). Written by the writer thread,
//! read by anyone (`/metrics`), without locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared between the writer thread and readers.
#[derive(Debug, Default)]
pub(crate) struct SyncCounters {
    fsyncs: AtomicU64,
    fsync_nanos: AtomicU64,
    longest_fsync_nanos: AtomicU64,
    longest_wait_nanos: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl SyncCounters {
    /// One fsync round took `took`; the oldest record it made durable had
    /// been written `waited` before it finished.
    pub(crate) fn record(&self, took: Duration, waited: Duration) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos.fetch_add(nanos(took), Ordering::Relaxed);
        self.longest_fsync_nanos
            .fetch_max(nanos(took), Ordering::Relaxed);
        self.longest_wait_nanos
            .fetch_max(nanos(waited), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SyncStats {
        let secs = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed)).as_secs_f64();
        SyncStats {
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            fsync_seconds: secs(&self.fsync_nanos),
            longest_fsync_seconds: secs(&self.longest_fsync_nanos),
            longest_wait_seconds: secs(&self.longest_wait_nanos),
        }
    }
}

/// The journal's fsync figures since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SyncStats {
    /// fsync rounds (every stream with unsynced data, one round).
    pub fsyncs: u64,
    /// Seconds spent in them.
    pub fsync_seconds: f64,
    /// The longest one.
    pub longest_fsync_seconds: f64,
    /// The longest time from a record's write to the end of the fsync that
    /// made it durable: the longest any acknowledgement waited for the disk.
    pub longest_wait_seconds: f64,
}
