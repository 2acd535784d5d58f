//! PostgreSQL's syslog destination: `postgres[pid]: [SEQ-CHUNK] <prefix>
//! LEVEL:  msg` in a classic, RFC 3339 or RFC 5424 syslog file.
//!
//! PostgreSQL splits each record into chunks: one per line of the message
//! (the next line starts with the TAB the stderr format would have had,
//! which rsyslog escapes as `#011`), and lines longer than ~900 bytes at a
//! space, which stays at the start of the next chunk. Chunks are gathered
//! per process by sequence number; a chunk starting with a TAB begins a new
//! line, any other continues the line it was cut from. (A statement whose
//! line was cut just before a TAB of its own is rejoined as two lines.)

use std::borrow::Cow;
use std::collections::HashMap;

use super::prefix::LinePrefix;
use super::record::PgLogError;
use super::stderr::record_of;
use super::time::ZoneTable;
use super::LogItem;
use crate::diagnostic::Diagnostic;
use crate::parsed::Position;
use crate::syslog::{parse_text, ClassicClock};

/// A record whose chunks stopped this many lines ago is complete:
/// PostgreSQL writes all chunks of a record in one go, and a backend that
/// exited never sends the next record that would close it.
const STALE_LINES: u64 = 256;

#[derive(Debug)]
struct Piece {
    start: Position,
    /// The line of its latest chunk.
    last: u64,
    seq: Option<u64>,
    /// The record as the stderr format would have it.
    text: String,
    /// The syslog lines as received.
    raw: String,
}

/// Reads PostgreSQL records out of syslog lines.
#[derive(Debug)]
pub(crate) struct SyslogReader {
    prefix: LinePrefix,
    zones: ZoneTable,
    clock: ClassicClock,
    ident: String,
    /// (host, pid) → the record being gathered.
    pieces: HashMap<(String, u32), Piece>,
    /// The line at which to look for stale pieces next.
    next_sweep: u64,
}

/// `[12-3] rest` → (Some(12), 3, rest); `[3] rest` → (None, 3, rest).
fn chunk_marker(message: &str) -> Option<(Option<u64>, u32, &str)> {
    let rest = message.strip_prefix('[')?;
    let (marker, rest) = rest.split_once("] ")?;
    match marker.split_once('-') {
        Some((seq, chunk)) => Some((Some(seq.parse().ok()?), chunk.parse().ok()?, rest)),
        None => Some((None, marker.parse().ok()?, rest)),
    }
}

/// rsyslog writes control characters as `#` and three octal digits.
fn unescape_controls(message: &str) -> Cow<'_, str> {
    if !message.contains('#') {
        return Cow::Borrowed(message);
    }
    let bytes = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 3 < bytes.len() {
        let octal = &bytes[i + 1..i + 4];
        if bytes[i] == b'#' && octal.iter().all(|b| (b'0'..=b'7').contains(b)) {
            let value = u32::from(octal[0] - b'0') * 64
                + u32::from(octal[1] - b'0') * 8
                + u32::from(octal[2] - b'0');
            if value < 32 || value == 127 {
                out.push_str(&message[copied..i]);
                out.push(char::from(value as u8));
                i += 4;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&message[copied..]);
    Cow::Owned(out)
}

impl SyslogReader {
    pub(crate) fn new(
        prefix: LinePrefix,
        zones: ZoneTable,
        clock: ClassicClock,
        ident: String,
    ) -> SyslogReader {
        SyslogReader {
            prefix,
            zones,
            clock,
            ident,
            pieces: HashMap::new(),
            next_sweep: STALE_LINES,
        }
    }

    pub(crate) fn set_reference(&mut self, reference: jiff::Timestamp) {
        self.clock.set_reference(reference);
    }

    pub(crate) fn pending_since(&self) -> Option<Position> {
        self.pieces.values().map(|p| p.start).min()
    }

    pub(crate) fn finish(&mut self, out: &mut impl FnMut(LogItem)) {
        let mut pieces: Vec<Piece> = self.pieces.drain().map(|(_, p)| p).collect();
        pieces.sort_by_key(|p| p.start);
        for piece in pieces {
            self.complete(piece, out);
        }
    }

    pub(crate) fn push_line(&mut self, at: Position, line: &str, out: &mut impl FnMut(LogItem)) {
        if line.trim().is_empty() {
            out(LogItem::Skipped);
            return;
        }
        let syslog = match parse_text(line, &self.clock) {
            Ok(syslog) => syslog,
            Err(e) => {
                out(LogItem::Diagnostic(Diagnostic::new(
                    at,
                    PgLogError::from(e).into(),
                    line.as_bytes(),
                )));
                return;
            }
        };
        if syslog.program != self.ident {
            out(LogItem::Skipped);
            return;
        }
        let message = unescape_controls(&syslog.message);
        let Some((seq, chunk, rest)) = chunk_marker(&message) else {
            out(LogItem::Diagnostic(Diagnostic::new(
                at,
                PgLogError::SyslogChunk.into(),
                line.as_bytes(),
            )));
            return;
        };
        let key = (syslog.host.to_string(), syslog.pid.unwrap_or(0));
        if chunk > 1 {
            if let Some(piece) = self.pieces.get_mut(&key).filter(|p| p.seq == seq) {
                piece.last = at.line;
                if !rest.starts_with('\t') && !piece.text.is_empty() {
                    piece.text.push_str(rest);
                } else {
                    piece.text.push('\n');
                    piece.text.push_str(rest);
                }
                piece.raw.push('\n');
                piece.raw.push_str(line);
                return;
            }
        }
        let piece = Piece {
            start: at,
            last: at.line,
            seq,
            text: rest.to_owned(),
            raw: line.to_owned(),
        };
        if let Some(done) = self.pieces.insert(key, piece) {
            self.complete(done, out);
        }
        if at.line >= self.next_sweep {
            self.next_sweep = at.line + STALE_LINES;
            self.complete_stale(at.line, out);
        }
    }

    /// Completes the records whose last chunk is more than [`STALE_LINES`] old.
    fn complete_stale(&mut self, now: u64, out: &mut impl FnMut(LogItem)) {
        let stale: Vec<(String, u32)> = self
            .pieces
            .iter()
            .filter(|(_, p)| p.last + STALE_LINES < now)
            .map(|(key, _)| key.clone())
            .collect();
        let mut done: Vec<Piece> = stale
            .iter()
            .filter_map(|key| self.pieces.remove(key))
            .collect();
        done.sort_by_key(|p| p.start);
        for piece in done {
            self.complete(piece, out);
        }
    }

    fn complete(&self, piece: Piece, out: &mut impl FnMut(LogItem)) {
        let mut lines = piece.text.split('\n');
        let first = lines.next().unwrap_or("");
        let Some(start) = self.prefix.read(first) else {
            let error = PgLogError::PrefixMismatch {
                prefix: self.prefix.source().to_owned(),
            };
            out(LogItem::Diagnostic(Diagnostic::new(
                piece.start,
                error.into(),
                piece.raw.as_bytes(),
            )));
            return;
        };
        match record_of(piece.start, first, start, &self.zones) {
            Ok(mut record) => {
                for line in lines {
                    record.message.push('\n');
                    record
                        .message
                        .push_str(line.strip_prefix('\t').unwrap_or(line));
                }
                record.raw = piece.raw;
                out(LogItem::Record(record));
            }
            Err(error) => out(LogItem::Diagnostic(Diagnostic::new(
                piece.start,
                error.into(),
                piece.raw.as_bytes(),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    #[test]
    fn chunks_are_reassembled() {
        let clock = ClassicClock::new("2026-11-23T00:00:00Z".parse().unwrap(), TimeZone::UTC);
        let mut reader = SyslogReader::new(
            LinePrefix::compile("%m [%p] %q%u@%d "),
            ZoneTable::default(),
            clock,
            "postgres".into(),
        );
        let text = "Nov 22 18:26:15 vm postgres[8271]: [12-1] 2026-11-22 18:26:15.100 UTC [8271] postgres@appdb LOG:  AUDIT: SESSION,4,1,DDL,CREATE TABLE,TABLE,app.t,\"CREATE TABLE app.t (\n\
Nov 22 18:26:15 vm postgres[8300]: [3-1] 2026-11-22 18:26:15.101 UTC [8300] LOG:  checkpoint starting\n\
Nov 22 18:26:15 vm postgres[8271]: [12-2] #011    c1 text, c2\n\
Nov 22 18:26:15 vm postgres[8271]: [12-3]  text);\",<not logged>\n\
Nov 22 18:26:15 vm sshd[1]: unrelated\n\
Nov 22 18:26:16 vm postgres[8271]: [13-1] 2026-11-22 18:26:16.000 UTC [8271] postgres@appdb LOG:  disconnection\n";
        let (mut records, mut diagnostics, mut skipped) = (Vec::new(), Vec::new(), 0);
        let mut out = |item| match item {
            LogItem::Record(r) => records.push(r),
            LogItem::Diagnostic(d) => diagnostics.push(d),
            LogItem::Skipped => skipped += 1,
        };
        for (at, line) in crate::parsed::lines(text.as_bytes()) {
            reader.push_line(at, std::str::from_utf8(line).unwrap(), &mut out);
        }
        reader.finish(&mut out);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(skipped, 1);
        let audit = records
            .iter()
            .find(|r| r.message.starts_with("AUDIT"))
            .unwrap();
        assert_eq!(
            audit.message,
            "AUDIT: SESSION,4,1,DDL,CREATE TABLE,TABLE,app.t,\"CREATE TABLE app.t (\n    c1 text, c2 text);\",<not logged>"
        );
        assert_eq!(audit.raw.lines().count(), 3);
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn control_escapes() {
        assert_eq!(unescape_controls("a#011b#0121#999"), "a\tb\n1#999");
        assert_eq!(unescape_controls("#043"), "#043", "only control characters");
    }
}
