//! Random schedules of write / rotate / compress / delete / poll / restart
//! (proptest), lumberjack, logrotate and copytruncate: the lines handed out
//! are the lines written minus exactly those inside reported gaps, in
//! order, none twice; without deletions there are no gaps at all. (No
//! deletions with copytruncate: see `run`.)

use proptest::prelude::*;
use whodid_tail::{RotationNaming, TailPosition, TailSpec, Tailer};

use crate::common::scratch;
use crate::scenario::{Checker, LogDir, Style};

#[derive(Clone, Debug)]
enum Op {
    Write(u64),
    Partial,
    Rotate,
    Compress(usize),
    DeleteOldest,
    Poll(usize),
    /// Restart; keep this many of the last poll's events as durable (of 8).
    Restart(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..40).prop_map(Op::Write),
        1 => Just(Op::Partial),
        2 => Just(Op::Rotate),
        1 => (0usize..4).prop_map(Op::Compress),
        1 => Just(Op::DeleteOldest),
        4 => (1usize..6000).prop_map(Op::Poll),
        1 => (0u8..=8).prop_map(Op::Restart),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Lumberjack),
        Just(Style::Logrotate),
        Just(Style::CopyTruncate)
    ]
}

fn run(style: Style, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = scratch();
    let mut log = LogDir::new(dir.path(), style);
    let naming = match style {
        Style::Lumberjack => RotationNaming::Lumberjack,
        Style::Logrotate | Style::CopyTruncate => RotationNaming::Logrotate,
    };
    let spec = TailSpec::new(&log.active)
        .with_start(whodid_tail::StartAt::OldestBackup)
        .with_naming(naming);
    let mut tailer = Tailer::new(spec.clone(), None);
    // The tailer has looked once before anything happens (a first start
    // cannot know what was deleted before it).
    tailer
        .poll(1, &mut Vec::new())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut checker = Checker::new();
    let mut last = Vec::new();
    let mut persisted: Option<TailPosition> = None;
    let mut before_poll: Option<TailPosition> = None;
    let mut partial = false;
    for op in ops {
        match op {
            Op::Write(n) => {
                if partial {
                    log.finish_line();
                    partial = false;
                }
                log.write(*n, 40);
            }
            Op::Partial => {
                if !partial {
                    log.start_line();
                    partial = true;
                }
            }
            // Rotators rotate between writes, not within a line.
            Op::Rotate if !partial => log.rotate(),
            Op::Compress(i) => log.compress(*i),
            // A copytruncate copy deleted before the tailer looked again
            // takes lines the tailer never saw, with no trace left (the
            // file keeps its inode; documented as not detectable).
            Op::DeleteOldest if style != Style::CopyTruncate => log.delete_oldest(),
            Op::Poll(budget) => {
                last.clear();
                before_poll = persisted.clone();
                if tailer.poll(*budget, &mut last).is_ok() {
                    checker.feed(&last);
                    if let Some(p) = tailer.position() {
                        persisted = Some(p);
                    }
                }
            }
            Op::Restart(keep) => {
                // The last poll's events were fed; pretend only a prefix of
                // them was durable: resume from there. Lines after it come
                // again, so the checker restarts from that point too.
                let keep = last.len() * usize::from(*keep) / 8;
                let mut resume = persisted.clone();
                if keep < last.len() {
                    resume = before_poll.clone();
                    for e in &last[..keep] {
                        if let Some(p) = e.after() {
                            resume = Some(p.clone());
                        }
                    }
                }
                // Without a position a restart would be a first start.
                if resume.is_some() {
                    if keep < last.len() {
                        checker.rewind(&last[keep..]);
                    }
                    persisted = resume;
                    tailer = Tailer::new(spec.clone(), persisted.clone());
                }
                last.clear();
            }
            Op::Rotate | Op::DeleteOldest => {}
        }
    }
    if partial {
        log.finish_line();
    }
    let mut out = Vec::new();
    loop {
        out.clear();
        let o = tailer
            .poll(1 << 20, &mut out)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        checker.feed(&out);
        if o.caught_up {
            break;
        }
    }
    checker.finish(log.written());
    if log.deletions == 0 {
        prop_assert_eq!(
            (checker.gaps, checker.missing),
            (0, 0),
            "no deletion, yet gaps"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lines_out_are_lines_in_minus_gaps(style in style(), ops in prop::collection::vec(op(), 1..80)) {
        run(style, &ops)?;
    }
}

#[test]
fn copytruncate_twice_after_a_partial_read() {
    run(
        Style::CopyTruncate,
        &[
            Op::Write(1),
            Op::Poll(1),
            Op::Write(1),
            Op::Rotate,
            Op::Write(1),
            Op::Rotate,
        ],
    )
    .unwrap();
}

#[test]
fn copytruncate_of_a_file_first_seen_mid_line() {
    run(
        Style::CopyTruncate,
        &[
            Op::Partial,
            Op::Poll(1),
            Op::Write(1),
            Op::Rotate,
            Op::Poll(1),
        ],
    )
    .unwrap();
}

#[test]
fn empty_backups_deleted_then_rotations() {
    run(
        Style::Lumberjack,
        &[
            Op::Rotate,
            Op::Rotate,
            Op::Poll(1),
            Op::DeleteOldest,
            Op::DeleteOldest,
            Op::Rotate,
            Op::Write(1),
            Op::Rotate,
            Op::Rotate,
        ],
    )
    .unwrap();
}

#[test]
fn found_by_proptest_deletions_compression_restarts() {
    use Op::*;
    run(
        Style::Lumberjack,
        &[
            Rotate,
            DeleteOldest,
            Poll(1),
            Write(14),
            Write(7),
            Rotate,
            DeleteOldest,
            Write(1),
            Rotate,
            Write(1),
            Write(12),
            Partial,
            Compress(0),
            Write(10),
            Poll(1480),
            Rotate,
            Rotate,
            Restart(1),
            Poll(1),
            Write(1),
            Rotate,
            Poll(53),
            Restart(0),
        ],
    )
    .unwrap();
}
