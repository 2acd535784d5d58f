//! Appending, partial lines, plain lumberjack rotation and resuming.

use std::fs;

use whodid_tail::{TailError, TailEvent, TailSpec, Tailer};

use crate::common::{append, drain, gaps, lumberjack_name, numbered, persisted, scratch, texts};

#[test]
fn reads_appended_lines_and_holds_back_a_partial_one() {
    let dir = scratch();
    let path = dir.path().join("audit.log");
    append(&path, b"one\ntwo\r\nthr");
    let mut t = Tailer::new(TailSpec::new(&path), None);
    let ev = drain(&mut t).unwrap();
    assert_eq!(texts(&ev), ["one", "two\r"]);
    match &ev[1] {
        TailEvent::Line {
            line,
            offset,
            after,
            ..
        } => {
            assert_eq!((*line, *offset), (2, 4));
            assert_eq!((after.offset, after.line), (9, 3));
        }
        other => panic!("{other:?}"),
    }
    append(&path, b"ee\n");
    assert_eq!(texts(&drain(&mut t).unwrap()), ["three"]);
    assert!(drain(&mut t).unwrap().is_empty());
}

#[test]
fn missing_file_is_an_error_naming_it_until_it_appears() {
    let dir = scratch();
    let path = dir.path().join("audit.log");
    let mut t = Tailer::new(TailSpec::new(&path), None);
    let mut out = Vec::new();
    match t.poll(1024, &mut out) {
        Err(TailError::NotFound { path: p }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    append(&path, b"a\n");
    assert_eq!(texts(&drain(&mut t).unwrap()), ["a"]);
}

#[test]
fn follows_lumberjack_rotation_and_completes_the_last_line() {
    let dir = scratch();
    let path = dir.path().join("audit.log");
    append(&path, numbered(1, 3).as_bytes());
    let mut t = Tailer::new(TailSpec::new(&path), None);
    assert_eq!(texts(&drain(&mut t).unwrap()).len(), 3);
    append(&path, b"line 000004\nunterminated");
    fs::rename(&path, lumberjack_name(dir.path(), 1)).unwrap();
    append(&path, numbered(5, 2).as_bytes());
    let got = texts(&drain(&mut t).unwrap());
    assert_eq!(
        got,
        ["line 000004", "unterminated", "line 000005", "line 000006"]
    );
}

#[test]
fn resumes_after_several_rotations_while_stopped() {
    let dir = scratch();
    let path = dir.path().join("audit.log");
    append(&path, numbered(1, 10).as_bytes());
    let mut t = Tailer::new(TailSpec::new(&path), None);
    let mut out = Vec::new();
    t.poll(40, &mut out).unwrap();
    let first = texts(&out);
    assert!(!first.is_empty() && first.len() < 10, "{first:?}");
    let pos = persisted(&t);
    drop(t);
    let mut next = first.len() as u64 + 1;
    // Three rotations while stopped.
    let mut written = 10;
    for r in 1..=3 {
        fs::rename(&path, lumberjack_name(dir.path(), r)).unwrap();
        append(&path, numbered(written + 1, 5).as_bytes());
        written += 5;
    }
    let mut t = Tailer::new(TailSpec::new(&path), pos);
    let ev = drain(&mut t).unwrap();
    assert_eq!(gaps(&ev), 0);
    for text in texts(&ev) {
        assert_eq!(text, format!("line {next:06}"));
        next += 1;
    }
    assert_eq!(next, written + 1);
}
