//! PostgreSQL's stderr log (and the `log_directory` files the logging
//! collector writes from it) with a configured `log_line_prefix`.
//!
//! A line that matches the prefix and a severity starts a record; a line
//! starting with a TAB continues it (exactly one TAB is removed: the
//! statement may contain tabs of its own); `DETAIL`/`HINT`/`CONTEXT`/
//! `STATEMENT`/`QUERY`/`LOCATION` lines of the same process belong to the
//! record before them (csvlog has them as columns). Anything else is a
//! diagnostic. A record is complete when the next one starts, so the last
//! one waits for [`StderrReader::finish`].

use super::prefix::{LinePrefix, RecordStart};
use super::record::{PgLogError, PgLogRecord};
use super::time::ZoneTable;
use super::LogItem;
use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::parsed::Position;

/// Severities that continue the record before them.
const ATTACHED: [&str; 6] = [
    "STATEMENT",
    "DETAIL",
    "HINT",
    "CONTEXT",
    "QUERY",
    "LOCATION",
];

/// Reads a stderr log line by line.
#[derive(Debug)]
pub(crate) struct StderrReader {
    prefix: LinePrefix,
    zones: ZoneTable,
    max_record_bytes: usize,
    pending: Option<PgLogRecord>,
    /// The pending record grew too long and was dropped: its remaining
    /// TAB lines are dropped too.
    discarding: bool,
    /// The pending record's last line was an attached one (`STATEMENT:`):
    /// TAB lines continue that, not the message.
    in_attached: bool,
}

impl StderrReader {
    pub(crate) fn new(
        prefix: LinePrefix,
        zones: ZoneTable,
        max_record_bytes: usize,
    ) -> StderrReader {
        StderrReader {
            prefix,
            zones,
            max_record_bytes,
            pending: None,
            discarding: false,
            in_attached: false,
        }
    }

    pub(crate) fn pending_since(&self) -> Option<Position> {
        self.pending.as_ref().map(|r| r.position)
    }

    pub(crate) fn finish(&mut self, out: &mut impl FnMut(LogItem)) {
        if let Some(record) = self.pending.take() {
            out(LogItem::Record(record));
        }
    }

    pub(crate) fn push_line(&mut self, at: Position, line: &str, out: &mut impl FnMut(LogItem)) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(continuation) = line.strip_prefix('\t') {
            if self.discarding {
                return;
            }
            match self.pending.as_mut() {
                Some(record) if record.raw.len() + line.len() >= self.max_record_bytes => {
                    let kind = DiagnosticKind::TooLong {
                        bytes: record.raw.len() + line.len() + 1,
                        max: self.max_record_bytes,
                    };
                    out(LogItem::Diagnostic(Diagnostic::new(
                        record.position,
                        kind,
                        record.raw.as_bytes(),
                    )));
                    self.pending = None;
                    self.discarding = true;
                }
                Some(record) => {
                    record.raw.push('\n');
                    record.raw.push_str(line);
                    if !self.in_attached {
                        record.message.push('\n');
                        record.message.push_str(continuation);
                    }
                }
                None => out(LogItem::Diagnostic(Diagnostic::new(
                    at,
                    PgLogError::Orphan.into(),
                    line.as_bytes(),
                ))),
            }
            return;
        }
        if line.is_empty() {
            out(LogItem::Skipped);
            return;
        }
        self.discarding = false;
        let Some(start) = self.prefix.read(line) else {
            let error = PgLogError::PrefixMismatch {
                prefix: self.prefix.source().to_owned(),
            };
            out(LogItem::Diagnostic(Diagnostic::new(
                at,
                error.into(),
                line.as_bytes(),
            )));
            return;
        };
        if ATTACHED.contains(&start.severity) {
            if let Some(record) = self.pending.as_mut().filter(|r| r.pid == start.fields.pid) {
                record.raw.push('\n');
                record.raw.push_str(line);
                self.in_attached = true;
                return;
            }
        }
        self.finish(out);
        self.in_attached = false;
        match record_of(at, line, start, &self.zones) {
            Ok(record) => self.pending = Some(record),
            Err(error) => out(LogItem::Diagnostic(Diagnostic::new(
                at,
                error.into(),
                line.as_bytes(),
            ))),
        }
    }
}

/// A record from its first line (also used for reassembled syslog records).
pub(crate) fn record_of(
    at: Position,
    line: &str,
    start: RecordStart<'_>,
    zones: &ZoneTable,
) -> Result<PgLogRecord, PgLogError> {
    let fields = start.fields;
    let time = match fields.timestamp(zones) {
        Ok(Some(time)) => time,
        Ok(None) => {
            return Err(PgLogError::Timestamp {
                text: String::new(),
            })
        }
        Err(e) => {
            return Err(PgLogError::from_time(
                e,
                fields.time.or(fields.epoch).unwrap_or(""),
            ))
        }
    };
    Ok(PgLogRecord {
        position: at,
        raw: line.to_owned(),
        time,
        pid: fields.pid,
        user: fields.user.to_owned(),
        database: fields.database.to_owned(),
        client: fields.client.unwrap_or_default(),
        application: fields.application.to_owned(),
        session_id: fields.session_id.to_owned(),
        severity: start.severity.to_owned(),
        message: start.message.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<PgLogRecord>, Vec<Diagnostic>) {
        let mut reader = StderrReader::new(
            LinePrefix::compile("%m [%p] %q%u@%d "),
            ZoneTable::default(),
            4096,
        );
        let (mut records, mut diagnostics) = (Vec::new(), Vec::new());
        let mut out = |item| match item {
            LogItem::Record(r) => records.push(r),
            LogItem::Diagnostic(d) => diagnostics.push(d),
            LogItem::Skipped => {}
        };
        for (at, line) in crate::parsed::lines(text.as_bytes()) {
            reader.push_line(at, std::str::from_utf8(line).unwrap(), &mut out);
        }
        reader.finish(&mut out);
        (records, diagnostics)
    }

    #[test]
    fn multi_line_records_and_attached_lines() {
        let text = "2026-11-22 18:25:45.435 UTC [8012] postgres@postgres LOG:  AUDIT: SESSION,1,1,DDL,CREATE DATABASE,,,\"CREATE DATABASE\n\t\tappdb;\",<none>\n2026-11-22 18:25:46.000 UTC [9] a@b ERROR:  permission denied\n2026-11-22 18:25:46.000 UTC [9] a@b STATEMENT:  ALTER ROLE x PASSWORD 'leak'\n\tmore\n2026-11-22 18:25:42.156 UTC [7991] LOG:  starting PostgreSQL 15\nnot a log line\n\torphan?";
        let (records, diagnostics) = read(text);
        assert_eq!(records.len(), 3);
        assert_eq!(
            (records[0].user.as_str(), records[0].pid),
            ("postgres", Some(8012))
        );
        assert!(
            records[0].message.ends_with("DATABASE\n\tappdb;\",<none>"),
            "one TAB removed"
        );
        assert_eq!(records[0].raw.lines().count(), 2);
        assert_eq!(
            records[1].message, "permission denied",
            "STATEMENT is not part of the message"
        );
        assert_eq!(records[1].raw.lines().count(), 3);
        assert_eq!(records[2].user, "");
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].position.line, 7);
        assert!(matches!(
            diagnostics[0].kind,
            crate::DiagnosticKind::PgLog(PgLogError::PrefixMismatch { .. })
        ));
    }

    #[test]
    fn a_record_too_long_is_dropped_whole() {
        let long = format!("2026-11-22 18:25:45.435 UTC [1] a@b LOG:  x\n{}\n2026-11-22 18:25:46.000 UTC [1] a@b LOG:  next", "\tyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n".repeat(200));
        let (records, diagnostics) = read(&long);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message, "next");
        assert_eq!(diagnostics.len(), 1);
        assert!(matches!(
            diagnostics[0].kind,
            DiagnosticKind::TooLong { max: 4096, .. }
        ));
        assert_eq!(diagnostics[0].position.line, 1);
    }

    #[test]
    fn orphan_continuation() {
        let (records, diagnostics) = read("\tstray\n");
        assert!(records.is_empty());
        assert_eq!(diagnostics[0].kind, PgLogError::Orphan.into());
    }
}
