//! What every parser hands out: records with their envelope and position,
//! diagnostics, and counts.
//!
//! Parsers are fed one line at a time (a tailer's view of a file) and call
//! back with [`Item`]s, so the caller decides whether to collect, journal or
//! drop them; [`Batch`] is the collected form for whole files and tests.

use serde::Serialize;
use whodid_model::Envelope;

use crate::diagnostic::Diagnostic;

/// Where a line starts in its file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte.
    pub offset: u64,
}

impl Position {
    /// The first line of a file.
    pub const START: Position = Position { line: 1, offset: 0 };

    /// The position of the line after one of `len` bytes (plus its `\n`).
    pub fn next(self, len: usize) -> Position {
        Position {
            line: self.line + 1,
            offset: self.offset + len as u64 + 1,
        }
    }
}

/// One audit record: the typed record, its envelope, and the original text.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<R> {
    /// Where the record starts (its first line, for multi-line records).
    pub position: Position,
    /// The original text as received, with secrets replaced (see
    /// `envelope.redacted`); multi-line records keep their `\n`s.
    pub raw: String,
    /// The typed record.
    pub record: R,
    /// The normalised envelope.
    pub envelope: Envelope,
}

/// What a parser emits.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<R> {
    /// An audit record.
    Record(Box<Parsed<R>>),
    /// A line or record that could not be read.
    Diagnostic(Diagnostic),
}

/// Counts kept by a parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Lines fed.
    pub lines: u64,
    /// Audit records emitted.
    pub records: u64,
    /// Entries read correctly but not audit-relevant (auth lines that are
    /// noise, PostgreSQL log records that are not `AUDIT:`), and empty lines.
    pub skipped: u64,
    /// Diagnostics emitted.
    pub diagnostics: u64,
}

/// Everything a parser produced for a whole input.
#[derive(Debug, Clone, Default)]
pub struct Batch<R> {
    /// The records, in input order.
    pub records: Vec<Parsed<R>>,
    /// The diagnostics, in input order.
    pub diagnostics: Vec<Diagnostic>,
    /// The counts.
    pub stats: Stats,
}

impl<R> Batch<R> {
    /// An empty batch.
    pub fn new() -> Batch<R> {
        Batch {
            records: Vec::new(),
            diagnostics: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Adds one item.
    pub fn push(&mut self, item: Item<R>) {
        match item {
            Item::Record(parsed) => self.records.push(*parsed),
            Item::Diagnostic(diagnostic) => self.diagnostics.push(diagnostic),
        }
    }
}

/// Splits a whole input into lines with their positions (`\n`-terminated;
/// a final line without `\n` counts; a trailing `\r` is left to the parser).
pub fn lines(input: &[u8]) -> impl Iterator<Item = (Position, &[u8])> {
    let mut position = Position::START;
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let at = position;
        position = position.next(line.len());
        rest = after;
        Some((at, line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_positions() {
        let got: Vec<(Position, &[u8])> = lines(b"ab\n\ncd").collect();
        assert_eq!(
            got,
            [
                (Position { line: 1, offset: 0 }, &b"ab"[..]),
                (Position { line: 2, offset: 3 }, &b""[..]),
                (Position { line: 3, offset: 4 }, &b"cd"[..]),
            ]
        );
    }
}
