//! Helpers: a scratch directory, appending lines, lumberjack-style renames,
//! and polling a tailer until it has caught up.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use whodid_tail::{TailError, TailEvent, TailPosition, Tailer};

/// Appends `text` to `path` (created if missing).
pub(crate) fn append(path: &Path, text: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text).unwrap();
}

/// The lumberjack backup name of `dir/audit.log` for rotation number `n`
/// (times one second apart, so they sort by `n`).
pub(crate) fn lumberjack_name(dir: &Path, n: u32) -> PathBuf {
    let (h, m, s) = (n / 3600, n / 60 % 60, n % 60);
    dir.join(format!(
        "audit-2026-11-22T{h:02}-{m:02}-{s:02}.{:03}.log",
        n % 1000
    ))
}

/// Polls until caught up (small budget, so reading is cut into many polls).
pub(crate) fn drain(t: &mut Tailer) -> Result<Vec<TailEvent>, TailError> {
    drain_with(t, 64 * 1024)
}

/// Polls with `budget` until caught up.
pub(crate) fn drain_with(t: &mut Tailer, budget: usize) -> Result<Vec<TailEvent>, TailError> {
    let mut out = Vec::new();
    loop {
        let outcome = t.poll(budget, &mut out)?;
        if outcome.caught_up {
            return Ok(out);
        }
    }
}

/// The text of the `Line` events.
pub(crate) fn texts(events: &[TailEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            TailEvent::Line { text, .. } => Some(String::from_utf8(text.clone()).unwrap()),
            _ => None,
        })
        .collect()
}

/// The number of `Gap` events.
pub(crate) fn gaps(events: &[TailEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, TailEvent::Gap { .. }))
        .count()
}

/// The position after the last event, as a caller would persist it,
/// round-tripped through JSON like a real checkpoint.
pub(crate) fn persisted(t: &Tailer) -> Option<TailPosition> {
    let p = t.position()?;
    let json = serde_json::to_string(&p).unwrap();
    Some(serde_json::from_str(&json).unwrap())
}

/// `n` numbered lines starting at `from`: `line 000001\n` …
pub(crate) fn numbered(from: u64, n: u64) -> String {
    (from..from + n).map(|i| format!("line {i:06}\n")).collect()
}

/// A fresh scratch directory.
pub(crate) fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
