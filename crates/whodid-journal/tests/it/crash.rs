//! Crash safety: a child process appends with fsync-every-batch and prints
//! every acknowledged range; it is killed with SIGKILL at random moments,
//! 200 times. After each kill the journal is reopened (recovering any torn
//! tail): every acknowledged record is present, intact and in order, and
//! `verify` passes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use whodid_journal::reader::JournalReader;
use whodid_journal::{Journal, RecordInput};
use whodid_model::Stream;

use crate::common::{check, record, small_config};

const CHILD_ENV: &str = "WHODID_CRASH_CHILD_DIR";

/// Not a test of its own: the body of the child process, which the test
/// below starts by running this test binary again with `CHILD_ENV` set.
#[test]
fn crash_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let journal =
        Journal::open(std::path::Path::new(&dir), small_config()).expect("child opens the journal");
    let reader = JournalReader::open(std::path::Path::new(&dir)).expect("reader");
    let mut next = reader.bounds(Stream::KubeAudit).expect("bounds").1;
    let stdout = std::io::stdout();
    let mut size = 1u64;
    loop {
        let batch: Vec<RecordInput> = (next..next + size).map(record).collect();
        let receipt = journal
            .append_wait(Stream::KubeAudit, batch)
            .expect("append");
        assert_eq!(receipt.first_index, next);
        let mut out = stdout.lock();
        writeln!(out, "ack {} {}", receipt.first_index, receipt.count).expect("stdout");
        out.flush().expect("flush");
        next += size;
        size = size % 17 + 1;
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut acked_end = 0u64;
    let mut kills = 0;
    for round in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child_entry",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    // libtest may print "test … " on the same line first.
                    let at = l.find("ack ")?;
                    let mut parts = l[at + 4..].split(' ');
                    Some((
                        parts.next()?.parse::<u64>().ok()?,
                        parts.next()?.parse::<u64>().ok()?,
                    ))
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(5 + seed % 60));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let acks = lines.join().unwrap();
        for (first, count) in &acks {
            assert_eq!(
                *first, acked_end,
                "round {round}: acknowledged ranges are consecutive"
            );
            acked_end = first + count;
        }
        // Restart: recovery, then every acknowledged record is there.
        let journal = Journal::open(dir.path(), small_config()).unwrap();
        journal.close().unwrap();
        drop(journal);
        let reader = JournalReader::open(dir.path()).unwrap();
        let (_, end) = reader.bounds(Stream::KubeAudit).unwrap();
        assert!(
            end >= acked_end,
            "round {round}: {end} records on disk, {acked_end} acknowledged"
        );
        let start = acks.first().map(|(f, _)| *f).unwrap_or(acked_end);
        for (offset, stored) in reader
            .iter_from(Stream::KubeAudit, start)
            .unwrap()
            .enumerate()
        {
            let stored = stored.unwrap();
            assert_eq!(
                stored.index,
                start + offset as u64,
                "round {round}: in order"
            );
            assert_eq!(
                stored.raw,
                record(stored.index).raw,
                "round {round}: record {} intact",
                stored.index
            );
        }
        // Records written but not acknowledged may survive; the next child
        // continues after them, so the acknowledged numbering moves there.
        acked_end = end;
        let report = check(dir.path());
        assert!(report.is_intact(), "round {round}: {:?}", report.problems);
    }
    assert_eq!(kills, 200);
    assert!(
        acked_end > 200,
        "the children appended ({acked_end} records)"
    );
}
