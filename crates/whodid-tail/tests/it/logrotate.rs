//! logrotate: numbered backups, delaycompress, dateext, copytruncate —
//! live and across restarts.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use whodid_tail::{GapReason, TailEvent, TailSpec, Tailer};

use crate::common::{append, drain, numbered, persisted, scratch, texts};
use crate::scenario::{Checker, LogDir, Style};

#[test]
fn numbered_backups_with_delaycompress_live_and_resumed() {
    let dir = scratch();
    let mut log = LogDir::new(dir.path(), Style::Logrotate);
    let spec = TailSpec::new(&log.active);
    let mut t = Tailer::new(spec.clone(), None);
    let mut checker = Checker::new();
    for round in 0..6 {
        log.write(40, 30);
        checker.feed(&drain(&mut t).unwrap());
        log.write(7, 30);
        log.rotate();
        // delaycompress: .1 stays plain, .2 is compressed.
        log.delaycompress();
        if round % 2 == 1 {
            // Restart with two rotations while stopped.
            let pos = persisted(&t);
            log.write(5, 10);
            log.rotate();
            log.delaycompress();
            t = Tailer::new(spec.clone(), pos);
        }
    }
    log.write(3, 10);
    checker.feed(&drain(&mut t).unwrap());
    checker.finish(log.written());
    assert_eq!((checker.gaps, checker.missing), (0, 0));
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".gz")), "{names:?}");
    assert!(names.contains(&"auth.log.1".to_string()), "{names:?}");
}

#[test]
fn dateext_backups_are_read_in_date_order() {
    let dir = scratch();
    let path = dir.path().join("auth.log");
    fs::write(dir.path().join("auth.log-20261120"), numbered(1, 3)).unwrap();
    fs::write(dir.path().join("auth.log-20261121"), numbered(4, 3)).unwrap();
    fs::write(&path, numbered(7, 2)).unwrap();
    let spec = TailSpec::new(&path).with_start(whodid_tail::StartAt::OldestBackup);
    let mut t = Tailer::new(spec, None);
    let got = texts(&drain(&mut t).unwrap());
    assert_eq!(got, texts_of(1, 8));
}

fn texts_of(from: u64, n: u64) -> Vec<String> {
    (from..from + n).map(|i| format!("line {i:06}")).collect()
}

/// `auth.log` with `lines` numbered lines, and a tailer that read the first
/// `budget` bytes of it (the events it handed out).
fn partly_read(dir: &Path, lines: u64, budget: usize) -> (PathBuf, Tailer, Vec<TailEvent>) {
    let path = dir.join("auth.log");
    append(&path, numbered(1, lines).as_bytes());
    let mut t = Tailer::new(TailSpec::new(&path), None);
    let mut out = Vec::new();
    t.poll(budget, &mut out).unwrap();
    assert!((texts(&out).len() as u64) < lines);
    (path, t, out)
}

/// logrotate's copytruncate: copy to `.1`, truncate in place.
fn copytruncate(path: &Path) {
    let mut copy = path.as_os_str().to_owned();
    copy.push(".1");
    fs::copy(path, PathBuf::from(copy)).unwrap();
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

#[test]
fn copytruncate_reads_the_rest_from_the_copy() {
    let dir = scratch();
    let (path, mut t, out) = partly_read(dir.path(), 100, 500);
    let first = texts(&out);
    // Then the writer goes on.
    copytruncate(&path);
    append(&path, numbered(101, 5).as_bytes());
    let mut got = first;
    got.extend(texts(&drain(&mut t).unwrap()));
    assert_eq!(got, texts_of(1, 105));
}

#[test]
fn copytruncate_while_stopped_resumes_in_the_copy() {
    let dir = scratch();
    let (path, t, out) = partly_read(dir.path(), 50, 300);
    let mut got = texts(&out);
    let pos = persisted(&t);
    drop(t);
    append(&path, numbered(51, 10).as_bytes());
    copytruncate(&path);
    append(&path, numbered(61, 3).as_bytes());
    let mut t = Tailer::new(TailSpec::new(&path), pos);
    got.extend(texts(&drain(&mut t).unwrap()));
    assert_eq!(got, texts_of(1, 63));
}

#[test]
fn truncation_without_a_copy_is_a_gap() {
    let dir = scratch();
    let (path, mut t, out) = partly_read(dir.path(), 100, 500);
    let read = texts(&out).len() as u64;
    File::create(&path).unwrap();
    append(&path, numbered(101, 2).as_bytes());
    let ev = drain(&mut t).unwrap();
    match &ev[0] {
        TailEvent::Gap {
            reason: GapReason::Truncated,
            unread_bytes: Some(n),
            ..
        } => assert_eq!(*n, (100 - read) * 12 - (out_bytes(&out) % 12)),
        other => panic!("{other:?}"),
    }
    assert_eq!(texts(&ev), texts_of(101, 2));
}

/// Bytes of the lines handed out (each `line NNNNNN\n` is 12 bytes).
fn out_bytes(events: &[TailEvent]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            TailEvent::Line { text, .. } => text.len() as u64 + 1,
            _ => 0,
        })
        .sum()
}
