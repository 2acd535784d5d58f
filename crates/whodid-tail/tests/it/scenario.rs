//! A log directory as real rotators leave it, driven step by step: writes of
//! numbered lines, rotation lumberjack-style (rename to a timestamped name,
//! new file), logrotate-style (`.N` shifted, new file) or copytruncate
//! (copy to `.1`, truncate in place), gzip compression of a backup (written
//! under its final name, then the plain file removed, as lumberjack and
//! gzip do), deletion of the oldest backup. And a checker of what a tailer
//! handed out against what was written.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use whodid_tail::{GapReason, TailEvent};

/// How the directory is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Lumberjack,
    Logrotate,
    CopyTruncate,
}

/// The directory and what was written to it.
#[derive(Debug)]
pub(crate) struct LogDir {
    pub(crate) dir: PathBuf,
    pub(crate) active: PathBuf,
    style: Style,
    rotations: u32,
    /// Backups, oldest first.
    backups: Vec<PathBuf>,
    /// The next line's sequence number (lines are `0000000001 …`).
    pub(crate) next_seq: u64,
    pub(crate) deletions: u32,
}

impl LogDir {
    /// An empty active file in `dir`.
    pub(crate) fn new(dir: &Path, style: Style) -> LogDir {
        let name = if style == Style::Lumberjack {
            "audit.log"
        } else {
            "auth.log"
        };
        let active = dir.join(name);
        File::create(&active).unwrap();
        LogDir {
            dir: dir.to_path_buf(),
            active,
            style,
            rotations: 0,
            backups: Vec::new(),
            next_seq: 1,
            deletions: 0,
        }
    }

    /// Appends `n` lines, each padded with `pad` bytes (varied by line).
    pub(crate) fn write(&mut self, n: u64, pad: usize) {
        let mut text = Vec::new();
        for _ in 0..n {
            let seq = self.next_seq;
            self.next_seq += 1;
            let width = pad + (seq as usize * 7) % (pad + 1);
            text.extend_from_slice(format!("{seq:010} ").as_bytes());
            text.extend(std::iter::repeat_n(b'x', width));
            text.push(b'\n');
        }
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.active)
            .unwrap();
        f.write_all(&text).unwrap();
    }

    /// Starts a line without ending it (a writer mid-write).
    pub(crate) fn start_line(&mut self) {
        let seq = self.next_seq;
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.active)
            .unwrap();
        f.write_all(format!("{seq:010} partial").as_bytes())
            .unwrap();
    }

    /// Ends the line [`LogDir::start_line`] began.
    pub(crate) fn finish_line(&mut self) {
        self.next_seq += 1;
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.active)
            .unwrap();
        f.write_all(b" line\n").unwrap();
    }

    /// Lines written so far.
    pub(crate) fn written(&self) -> u64 {
        self.next_seq - 1
    }

    /// Rotates the active file.
    pub(crate) fn rotate(&mut self) {
        self.rotations += 1;
        match self.style {
            Style::Lumberjack => {
                let n = self.rotations;
                let name = format!(
                    "audit-2026-11-22T{:02}-{:02}-{:02}.{:03}.log",
                    n / 3600 % 24,
                    n / 60 % 60,
                    n % 60,
                    n % 1000
                );
                let to = self.dir.join(name);
                fs::rename(&self.active, &to).unwrap();
                File::create(&self.active).unwrap();
                self.backups.push(to);
            }
            Style::Logrotate | Style::CopyTruncate => {
                self.shift();
                let first = self.numbered(1, false);
                if self.style == Style::Logrotate {
                    fs::rename(&self.active, &first).unwrap();
                    File::create(&self.active).unwrap();
                } else {
                    fs::copy(&self.active, &first).unwrap();
                    OpenOptions::new()
                        .write(true)
                        .open(&self.active)
                        .unwrap()
                        .set_len(0)
                        .unwrap();
                }
                self.backups.push(first);
            }
        }
    }

    fn numbered(&self, n: usize, gz: bool) -> PathBuf {
        let base = self.active.file_name().unwrap().to_str().unwrap();
        self.dir
            .join(format!("{base}.{n}{}", if gz { ".gz" } else { "" }))
    }

    /// logrotate's shift: `.k` → `.k+1`, oldest first.
    fn shift(&mut self) {
        let count = self.backups.len();
        for (i, path) in self.backups.iter_mut().enumerate() {
            let number = count - i;
            let gz = path.extension().is_some_and(|e| e == "gz");
            let base = self.active.file_name().unwrap().to_str().unwrap();
            let to = self.dir.join(format!(
                "{base}.{}{}",
                number + 1,
                if gz { ".gz" } else { "" }
            ));
            fs::rename(&*path, &to).unwrap();
            *path = to;
        }
    }

    /// Compresses the `i`-th plain backup (oldest first), if there is one.
    pub(crate) fn compress(&mut self, i: usize) {
        let plain: Vec<usize> = (0..self.backups.len())
            .filter(|&j| self.backups[j].extension().is_none_or(|e| e != "gz"))
            .collect();
        let Some(&j) = plain.get(i % plain.len().max(1)) else {
            return;
        };
        let from = self.backups[j].clone();
        if fs::metadata(&from).unwrap().len() == 0 {
            // An empty `.gz` cannot be told from any other: the tailer then
            // reports a possible gap. Rotators do not compress empty files
            // (lumberjack never rotates one; logrotate has `notifempty`).
            return;
        }
        let mut to = from.clone().into_os_string();
        to.push(".gz");
        let to = PathBuf::from(to);
        let mut data = Vec::new();
        File::open(&from).unwrap().read_to_end(&mut data).unwrap();
        let mut enc = GzEncoder::new(File::create(&to).unwrap(), Compression::fast());
        enc.write_all(&data).unwrap();
        enc.finish().unwrap();
        fs::remove_file(&from).unwrap();
        self.backups[j] = to;
    }

    /// logrotate's delaycompress: every plain backup but the newest
    /// compressed.
    pub(crate) fn delaycompress(&mut self) {
        loop {
            let plain = self
                .backups
                .iter()
                .filter(|p| p.extension().is_none_or(|e| e != "gz"))
                .count();
            if plain < 2 {
                return;
            }
            self.compress(0);
        }
    }

    /// Deletes the oldest backup, if any.
    pub(crate) fn delete_oldest(&mut self) {
        if !self.backups.is_empty() {
            let path = self.backups.remove(0);
            fs::remove_file(path).unwrap();
            self.deletions += 1;
        }
    }

    /// Deletes backups beyond the newest `keep`.
    pub(crate) fn keep_newest(&mut self, keep: usize) {
        while self.backups.len() > keep {
            self.delete_oldest();
        }
    }
}

/// Checks a stream of events against the numbered lines written: strictly
/// in order, no line twice, a line missing only right after a gap.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    next: u64,
    /// The reason of the gap(s) since the last line, and whether any said
    /// how many bytes were lost.
    gap_open: Option<(GapReason, bool)>,
    pub(crate) lines: u64,
    pub(crate) gaps: u64,
    pub(crate) missing: u64,
    /// Gaps after which no line was missing (possible only when the loss
    /// could not be known: `unread_bytes: None`).
    pub(crate) gaps_without_loss: u64,
    /// The last events, for failure messages.
    recent: std::collections::VecDeque<String>,
}

impl Checker {
    pub(crate) fn new() -> Checker {
        Checker {
            next: 1,
            ..Checker::default()
        }
    }

    /// Notes something (a restart) in the failure context.
    pub(crate) fn note(&mut self, what: String) {
        self.recent.push_back(what);
        if self.recent.len() > 40 {
            self.recent.pop_front();
        }
    }

    fn context(&self) -> String {
        self.recent.iter().map(|s| format!("\n  {s}")).collect()
    }

    pub(crate) fn feed(&mut self, events: &[TailEvent]) {
        for e in events {
            let desc = match e {
                TailEvent::Line {
                    file,
                    line,
                    offset,
                    text,
                    ..
                } => format!(
                    "line {} {}:{line}@{offset}",
                    String::from_utf8_lossy(&text[..10.min(text.len())]),
                    file.display()
                ),
                other => format!("{other:?}"),
            };
            self.note(desc);
            match e {
                TailEvent::Line {
                    text,
                    offset,
                    after,
                    file,
                    ..
                } => {
                    let seq: u64 = std::str::from_utf8(&text[..10]).unwrap().parse().unwrap();
                    assert!(
                        seq >= self.next,
                        "line {seq} after {} (duplicate or out of order) in {file:?}{}",
                        self.next - 1,
                        self.context()
                    );
                    if seq > self.next {
                        assert!(
                            self.gap_open.is_some(),
                            "lines {}..{seq} missing without a gap (at {file:?} offset {offset}){}",
                            self.next,
                            self.context()
                        );
                        self.missing += seq - self.next;
                    } else if let Some((reason, known)) = self.gap_open {
                        self.gaps_without_loss += 1;
                        assert!(
                            !known,
                            "gap {reason:?} with a known loss, but nothing missing"
                        );
                    }
                    assert!(
                        after.offset == offset + text.len() as u64 + 1
                            || after.offset == offset + text.len() as u64
                    );
                    self.gap_open = None;
                    self.next = seq + 1;
                    self.lines += 1;
                }
                TailEvent::Gap {
                    reason,
                    unread_bytes,
                    ..
                } => {
                    let known = unread_bytes.is_some() || self.gap_open.is_some_and(|(_, k)| k);
                    self.gap_open = Some((*reason, known));
                    self.gaps += 1;
                }
                TailEvent::LineTooLong { .. } => panic!("unexpected {e:?}"),
            }
        }
    }

    /// Takes back `events` (fed already, but not durable before a crash):
    /// they will be handed out again.
    pub(crate) fn rewind(&mut self, events: &[TailEvent]) {
        let first = events.iter().find_map(|e| match e {
            TailEvent::Line { text, .. } => {
                std::str::from_utf8(&text[..10]).ok()?.parse::<u64>().ok()
            }
            _ => None,
        });
        let lines = events
            .iter()
            .filter(|e| matches!(e, TailEvent::Line { .. }))
            .count() as u64;
        let gaps = events
            .iter()
            .filter(|e| matches!(e, TailEvent::Gap { .. }))
            .count() as u64;
        if let Some(first) = first {
            // Lines skipped by a gap among the taken-back events stay counted
            // as missing only if lost again.
            let skipped = self.next - first - lines;
            self.missing -= skipped;
            self.next = first;
        }
        self.lines -= lines;
        self.gaps -= gaps;
        self.gap_open = None;
        self.note(format!("rewound {lines} lines"));
    }

    /// At the end: every written line was handed out or lost in a gap.
    pub(crate) fn finish(&mut self, written: u64) {
        if self.next <= written {
            assert!(
                self.gap_open.is_some(),
                "lines {}..={written} never handed out",
                self.next
            );
            self.missing += written + 1 - self.next;
            self.next = written + 1;
        }
        assert_eq!(self.next, written + 1, "more lines than written");
        assert_eq!(self.lines + self.missing, written);
    }
}
