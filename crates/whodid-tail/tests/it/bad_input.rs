//! Long lines, corrupt gzip, the path replaced by a directory, and memory
//! staying bounded (measured in a child process).

use std::fs::{self, File};
use std::io::Write;
use std::process::Command;

use whodid_tail::{GapReason, StartAt, TailError, TailEvent, TailSpec, Tailer};

use crate::common::{append, drain, scratch, texts};

#[test]
fn long_line_is_reported_and_skipped() {
    let dir = scratch();
    let path = dir.path().join("audit.log");
    let mut data = b"short\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', 300_000));
    data.extend(b"\nafter\n");
    fs::write(&path, &data).unwrap();
    let mut t = Tailer::new(TailSpec::new(&path).with_max_line_bytes(100_000), None);
    let ev = drain(&mut t).unwrap();
    assert_eq!(texts(&ev), ["short", "after"]);
    match &ev[1] {
        TailEvent::LineTooLong {
            line,
            offset,
            len,
            after,
            ..
        } => {
            assert_eq!((*line, *offset, *len), (2, 6, 300_000));
            assert_eq!((after.offset, after.line), (300_007, 3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_gzip_backup_is_a_gap_and_tailing_goes_on() {
    let dir = scratch();
    let path = dir.path().join("audit.log");
    let backup = dir.path().join("audit-2026-11-22T10-00-00.000.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..20_000 {
        writeln!(enc, "backup line {i:06} with some text to compress").unwrap();
    }
    let mut gz = enc.finish().unwrap();
    let half = gz.len() / 2;
    gz.truncate(half);
    fs::write(&backup, &gz).unwrap();
    fs::write(&path, b"active\n").unwrap();
    let mut t = Tailer::new(TailSpec::new(&path).with_start(StartAt::OldestBackup), None);
    let ev = drain(&mut t).unwrap();
    let gap = ev.iter().position(|e| {
        matches!(
            e,
            TailEvent::Gap {
                reason: GapReason::Unreadable,
                ..
            }
        )
    });
    let gap = gap.expect("a gap for the cut gzip");
    let lines = texts(&ev);
    assert!(
        lines.len() > 100 && lines.last().map(String::as_str) == Some("active"),
        "{}",
        lines.len()
    );
    assert!(matches!(ev.last(), Some(TailEvent::Line { .. })) && gap < ev.len() - 1);
}

#[test]
fn path_replaced_by_a_directory_and_back() {
    let dir = scratch();
    let path = dir.path().join("audit.log");
    append(&path, b"one\n");
    let mut t = Tailer::new(TailSpec::new(&path), None);
    assert_eq!(texts(&drain(&mut t).unwrap()), ["one"]);
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let mut out = Vec::new();
    for _ in 0..3 {
        match t.poll(1024, &mut out) {
            Err(TailError::NotAFile { path: p }) => assert_eq!(p, path),
            other => panic!("{other:?} {out:?}"),
        }
    }
    fs::remove_dir(&path).unwrap();
    append(&path, b"two\n");
    assert_eq!(texts(&drain(&mut t).unwrap()), ["two"]);
}

/// Set in the child process of `fifty_megabyte_line_in_bounded_memory`.
const CHILD: &str = "WHODID_TAIL_MEMORY_CHILD";

#[test]
fn fifty_megabyte_line_in_bounded_memory() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "bad_input::child_reads_a_fifty_megabyte_line",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak: u64 = stdout
        .lines()
        .find_map(|l| l.split("peak-rss-kib ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak in child output: {stdout}"));
    eprintln!("peak RSS reading a 50 MB line with a 1 MiB limit: {peak} KiB");
    // The line alone would be 51,200 KiB.
    assert!(peak < 30_000, "peak RSS {peak} KiB");
}

#[test]
#[ignore = "run by fifty_megabyte_line_in_bounded_memory in a child process"]
fn child_reads_a_fifty_megabyte_line() {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "run through fifty_megabyte_line_in_bounded_memory"
    );
    let dir = scratch();
    let path = dir.path().join("audit.log");
    let mut f = File::create(&path).unwrap();
    f.write_all(b"before\n").unwrap();
    let chunk = vec![b'y'; 1 << 20];
    for _ in 0..50 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\nafter\n").unwrap();
    drop(f);
    let mut t = Tailer::new(TailSpec::new(&path), None);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    loop {
        out.clear();
        let o = t.poll(4 << 20, &mut out).unwrap();
        for e in &out {
            match e {
                TailEvent::Line { text, .. } => seen.push(String::from_utf8(text.clone()).unwrap()),
                TailEvent::LineTooLong { len, line, .. } => {
                    seen.push(format!("too long {line} {len}"))
                }
                TailEvent::Gap { .. } => panic!("{e:?}"),
            }
        }
        if o.caught_up {
            break;
        }
    }
    assert_eq!(seen, ["before", "too long 2 52428800", "after"]);
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = hwm.split_whitespace().nth(1).unwrap().parse().unwrap();
    println!("peak-rss-kib {kib}");
}
