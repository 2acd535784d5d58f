//! A writer thread appends numbered lines and rotates every few hundred
//! lines (lumberjack names; with and without compression; with and without
//! deleting old backups) while a reader tails, restarting at random points
//! from the last persisted position — sometimes after several rotations
//! while stopped, sometimes keeping only part of a poll's events as if the
//! rest had not been made durable before a crash.

use std::thread;
use std::time::Duration;

use whodid_tail::{StartAt, TailError, TailPosition, TailSpec, Tailer};

use crate::common::scratch;
use crate::scenario::{Checker, LogDir, Style};

/// A small deterministic random source (xorshift64*).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

struct Outcome {
    checker: Checker,
    restarts: u32,
    deletions: u32,
    rotations: u32,
}

fn run(style: Style, compress: bool, keep: Option<usize>, seed: u64) -> Outcome {
    let dir = scratch();
    let mut logdir = LogDir::new(dir.path(), style);
    let spec = TailSpec::new(&logdir.active).with_start(StartAt::OldestBackup);
    // The tailer knows the (empty) active file before the writer starts.
    let mut tailer = Tailer::new(spec.clone(), None);
    let mut events = Vec::new();
    tailer.poll(1 << 16, &mut events).unwrap();
    assert!(events.is_empty());

    let rotations = 40;
    let writer = thread::spawn(move || {
        let mut rng = Rng::new(seed ^ 0xabcdef);
        for _ in 0..rotations {
            let lines = 100 + rng.below(400);
            let mut written = 0;
            while written < lines {
                let n = (1 + rng.below(60)).min(lines - written);
                logdir.write(n, 20 + rng.below(200) as usize);
                written += n;
                if rng.below(4) == 0 {
                    thread::sleep(Duration::from_micros(rng.below(800)));
                }
            }
            logdir.rotate();
            if compress {
                logdir.compress(usize::MAX);
            }
            if let Some(keep) = keep {
                logdir.keep_newest(keep);
            }
        }
        logdir.write(57, 30);
        logdir
    });

    let mut rng = Rng::new(seed);
    let mut checker = Checker::new();
    let mut persisted: Option<TailPosition> = tailer.position();
    let mut restarts = 0;
    let mut polls = 0u64;
    loop {
        let finished = writer.is_finished();
        events.clear();
        let outcome = match tailer.poll(1 + rng.below(200_000) as usize, &mut events) {
            Ok(o) => o,
            Err(TailError::NotFound { .. }) => {
                thread::sleep(Duration::from_micros(100));
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        // (Without a position yet a restart would be a first start, which
        // cannot know what was deleted before it.)
        polls += 1;
        if persisted.is_some()
            && (rng.below(25) == 0 || (restarts == 0 && polls.is_multiple_of(16)))
        {
            // Crash: only a prefix of this poll's events became durable.
            let keep = rng.below(events.len() as u64 + 1) as usize;
            checker.feed(&events[..keep]);
            if keep > 0 {
                if let Some(p) = events[keep - 1].after() {
                    persisted = Some(p.clone());
                }
            }
            drop(tailer);
            restarts += 1;
            checker.note(format!("restart at {persisted:?}"));
            // Down for a while: often long enough for several rotations.
            thread::sleep(Duration::from_millis(rng.below(40)));
            tailer = Tailer::new(spec.clone(), persisted.clone());
            continue;
        }
        checker.feed(&events);
        if let Some(p) = tailer.position() {
            persisted = Some(p);
        }
        if finished && outcome.caught_up {
            break;
        }
        if outcome.caught_up {
            thread::sleep(Duration::from_micros(200));
        }
    }
    let logdir = writer.join().unwrap();
    // Read whatever the last poll raced with.
    loop {
        events.clear();
        let o = tailer.poll(1 << 20, &mut events).unwrap();
        checker.feed(&events);
        if o.caught_up {
            break;
        }
    }
    checker.finish(logdir.written());
    Outcome {
        checker,
        restarts,
        deletions: logdir.deletions,
        rotations,
    }
}

fn report(name: &str, o: &Outcome) {
    eprintln!(
        "{name}: {} lines read, {} rotations, {} restarts, {} backups deleted, {} gaps ({} without loss), {} lines lost",
        o.checker.lines, o.rotations, o.restarts, o.deletions, o.checker.gaps, o.checker.gaps_without_loss, o.checker.missing
    );
}

#[test]
fn lumberjack_rotation_with_restarts_loses_nothing() {
    for seed in 1..=3 {
        let o = run(Style::Lumberjack, false, None, seed);
        report("plain", &o);
        assert!(o.restarts > 0);
        assert_eq!((o.checker.gaps, o.checker.missing), (0, 0));
    }
}

#[test]
fn lumberjack_compressed_rotation_with_restarts_loses_nothing() {
    for seed in 4..=6 {
        let o = run(Style::Lumberjack, true, None, seed);
        report("compressed", &o);
        assert!(o.restarts > 0);
        assert_eq!((o.checker.gaps, o.checker.missing), (0, 0));
    }
}

#[test]
fn deleted_backups_are_gaps_and_nothing_else_is_lost() {
    let mut lost = 0;
    for seed in 7..=12 {
        let o = run(Style::Lumberjack, seed % 2 == 0, Some(2), seed);
        report("keep 2", &o);
        assert!(o.deletions > 0);
        lost += o.checker.missing;
    }
    // Some restart must have outlasted the deletion of unread backups.
    assert!(
        lost > 0,
        "no run lost anything; the test did not exercise gaps"
    );
}

#[test]
fn logrotate_rotation_with_restarts_loses_nothing() {
    for (compress, seed) in [(false, 13), (true, 14)] {
        let o = run(Style::Logrotate, compress, None, seed);
        report("logrotate", &o);
        assert_eq!((o.checker.gaps, o.checker.missing), (0, 0));
    }
}
