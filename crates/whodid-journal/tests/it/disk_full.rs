//! A full disk: writes start failing in the middle of a frame. The append
//! fails with an error, nothing acknowledged is lost, and after a restart
//! with space again the journal verifies and accepts appends.
//!
//! The child process runs with a file-size limit (`ulimit -f`, SIGXFSZ
//! ignored), so the segment write fails with EFBIG exactly as it would with
//! ENOSPC: a short write, then an error.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use whodid_journal::reader::JournalReader;
use whodid_journal::{FsyncPolicy, Journal, JournalConfig, JournalError};
use whodid_model::Stream;

use crate::common::{check, record};

const CHILD_ENV: &str = "WHODID_DISK_FULL_CHILD_DIR";

fn config() -> JournalConfig {
    JournalConfig {
        fsync: FsyncPolicy::EveryBatch,
        segment_max_bytes: 64 << 20,
        checkpoint_every_records: 100,
        checkpoint_every: Duration::from_secs(3600),
        ..JournalConfig::default()
    }
}

/// Not a test of its own: the child process of the test below.
#[test]
fn disk_full_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let journal = Journal::open(std::path::Path::new(&dir), config()).expect("open");
    let stdout = std::io::stdout();
    let mut next = 0u64;
    let mut failures = 0;
    while failures < 3 && next < 100_000 {
        let batch = (next..next + 7).map(record).collect();
        let mut out = stdout.lock();
        match journal.append_wait(Stream::KubeAudit, batch) {
            Ok(receipt) => {
                writeln!(out, "ack {} {}", receipt.first_index, receipt.count).expect("stdout");
                next += 7;
            }
            Err(e) => {
                let typed = matches!(e, JournalError::AppendRefused { .. });
                writeln!(
                    out,
                    "refused typed={typed} full={} {e}",
                    e.is_storage_full()
                )
                .expect("stdout");
                failures += 1;
            }
        }
        out.flush().expect("flush");
    }
}

#[test]
fn a_full_disk_refuses_appends_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = "trap '' XFSZ; ulimit -f 64; exec \"$0\" --exact disk_full::disk_full_child_entry --nocapture --test-threads 1";
    let mut child = Command::new("sh")
        .args(["-c", script, exe.to_str().unwrap()])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(child.wait().unwrap().success());
    let mut acked_end = 0;
    let mut refused = 0;
    for line in &lines {
        if let Some(at) = line.find("ack ") {
            let mut parts = line[at + 4..].split(' ');
            let first: u64 = parts.next().unwrap().parse().unwrap();
            let count: u64 = parts.next().unwrap().parse().unwrap();
            assert_eq!(first, acked_end);
            acked_end = first + count;
        }
        if line.contains("refused") {
            assert!(
                line.contains("typed=true full=true"),
                "a typed disk-full error: {line}"
            );
            refused += 1;
        }
    }
    assert!(acked_end > 0, "some appends succeeded: {lines:?}");
    assert_eq!(
        refused, 3,
        "appends are refused once the disk is full: {lines:?}"
    );

    // Space again: restart, everything acknowledged is there, verify passes.
    let journal = Journal::open(dir.path(), config()).unwrap();
    let receipt = journal
        .append_wait(Stream::KubeAudit, vec![record(acked_end)])
        .unwrap();
    assert_eq!(
        receipt.first_index, acked_end,
        "no half-written frame survived"
    );
    journal.close().unwrap();
    drop(journal);
    let reader = JournalReader::open(dir.path()).unwrap();
    for (i, stored) in reader.iter_from(Stream::KubeAudit, 0).unwrap().enumerate() {
        let stored = stored.unwrap();
        assert_eq!(stored.raw, record(i as u64).raw);
    }
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[test]
fn free_space_below_the_reserve_refuses_appends_as_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let reserve = |min_free_bytes| JournalConfig {
        min_free_bytes,
        ..config()
    };
    {
        // No file system has this much free: every append is refused.
        let journal = Journal::open(dir.path(), reserve(u64::MAX)).unwrap();
        let e = journal
            .append_wait(Stream::KubeAudit, vec![record(0)])
            .unwrap_err();
        assert!(matches!(e, JournalError::LowSpace { .. }), "{e}");
        assert!(e.is_storage_full(), "{e}");
        assert!(e.to_string().contains("min_free_bytes"), "{e}");
        journal.close().unwrap();
    }
    let journal = Journal::open(dir.path(), reserve(1)).unwrap();
    let receipt = journal
        .append_wait(Stream::KubeAudit, vec![record(0)])
        .unwrap();
    assert_eq!(
        receipt.first_index, 0,
        "nothing of the refused append was kept"
    );
    journal.close().unwrap();
    assert!(check(dir.path()).is_intact());
}
