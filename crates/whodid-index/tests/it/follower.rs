//! The follower indexes what a live journal appends, with bounded lag, and
//! holds the writer lock so `reindex` refuses clearly meanwhile.

use std::time::{Duration, Instant};

use whodid_index::{Follower, IndexConfig, IndexError, Indexer};
use whodid_journal::Journal;
use whodid_model::Stream;

use crate::common::{append, doc_count, small_segments};

fn fast() -> IndexConfig {
    IndexConfig {
        commit_every: Duration::from_millis(100),
        poll_every: Duration::from_millis(20),
        ..IndexConfig::default()
    }
}

/// Waits (at most a generous minute: not a timing assertion) until `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The nice values of this process's threads whose name starts with `prefix`.
fn thread_nice(prefix: &str) -> Vec<i64> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(task.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        let Ok(stat) = std::fs::read_to_string(task.join("stat")) else {
            continue;
        };
        if comm.trim_end().starts_with(prefix) {
            // Fields after the command name's closing parenthesis start at
            // field 3 (state); nice is field 19.
            let after = &stat[stat.rfind(')').unwrap() + 1..];
            found.push(after.split_whitespace().nth(16).unwrap().parse().unwrap());
        }
    }
    found
}

#[test]
fn follows_a_live_journal_and_reports_lag() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    append(&journal, 0, 50);
    let follower = Follower::spawn(dir.path(), fast()).unwrap();
    // The lag is known at once: 50 records behind (or already caught up).
    let lag = follower.lag()[&Stream::KubeAudit];
    assert_eq!(lag.journal_end, 50);
    assert_eq!(lag.records, 50 - lag.indexed_next);
    for round in 1..=4u64 {
        append(&journal, round * 50, round * 50 + 50);
        let end = round * 50 + 50;
        eventually("searchable", || doc_count(dir.path()) == end);
        eventually("lag reported as zero", || {
            let lag = follower.lag()[&Stream::KubeAudit];
            lag.records == 0 && lag.indexed_next == end && lag.journal_end == end
        });
        assert!(follower.error().is_none());
    }
    // It (and tantivy's threads it started) yield the CPU to ingest.
    let nice = thread_nice("whodid-index");
    assert!(
        !nice.is_empty() && nice.iter().all(|&n| n == 10),
        "{nice:?}"
    );
    // (Other tests in this process may run indexers of their own at nice 0.)
    let indexing = thread_nice("thrd-tantivy");
    assert!(indexing.contains(&10), "{indexing:?}");
    // A second writer is refused, naming the holder.
    match Indexer::open(dir.path(), IndexConfig::default()) {
        Err(IndexError::Locked { pid, .. }) => {
            assert_eq!(
                pid.as_deref(),
                Some(std::process::id().to_string().as_str())
            )
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    follower.shutdown().unwrap();
    journal.close().unwrap();
    // Released on shutdown; nothing left to do.
    let mut indexer = Indexer::open(dir.path(), IndexConfig::default()).unwrap();
    assert!(indexer.repairs().is_empty());
    assert_eq!(indexer.catch_up(&mut |_| {}).unwrap(), 0);
    assert_eq!(doc_count(dir.path()), 250);
}

#[test]
fn readers_see_new_commits_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    append(&journal, 0, 30);
    let set = whodid_index::IndexSet::open(dir.path());
    let count = |set: &whodid_index::IndexSet| -> u64 {
        set.select(&[Stream::KubeAudit], 0, i64::MAX / 2)
            .unwrap()
            .days
            .iter()
            .map(|d| d.searcher.num_docs())
            .sum()
    };
    assert_eq!(count(&set), 0);
    let follower = Follower::spawn(dir.path(), fast()).unwrap();
    eventually("first records visible to an open reader", || {
        count(&set) == 30
    });
    append(&journal, 30, 60);
    eventually("later records visible to the same reader", || {
        count(&set) == 60
    });
    follower.shutdown().unwrap();
    journal.close().unwrap();
}
