//! PostgreSQL csvlog, record at a time: a record ends at a newline outside
//! quotes, so one may span many lines (statements with newlines).
//!
//! Columns (PostgreSQL 13-17; 12 has 23, 13 adds `backend_type`, 14
//! `leader_pid` and `query_id`): log_time, user_name, database_name,
//! process_id, connection_from, session_id, session_line_num, command_tag,
//! session_start_time, virtual_transaction_id, transaction_id,
//! error_severity, sql_state_code, message, detail, hint, internal_query,
//! internal_query_pos, context, query, query_pos, location,
//! application_name, backend_type, leader_pid, query_id.
//!
//! A broken quote would swallow the rest of the file into one record. So a
//! record still open when a line arrives that starts like a new record
//! (`YYYY-MM-DD HH:MM:SS… ,`) is reported as unterminated and reading goes
//! on from that line; the price is that a statement line which itself
//! starts with such a timestamp and a comma would be mistaken for one.

use super::csv::{ends_inside_quotes, split_record, CsvError};
use super::record::{PgLogError, PgLogRecord};
use super::time::ZoneTable;
use super::LogItem;
use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::parsed::Position;

#[derive(Debug)]
struct Open {
    start: Position,
    text: String,
}

/// Reads csvlog line by line.
#[derive(Debug)]
pub(crate) struct CsvlogReader {
    zones: ZoneTable,
    max_record_bytes: usize,
    open: Option<Open>,
    /// Dropping the lines of a record that was too long, until one that
    /// starts like a record.
    discarding: bool,
}

/// `2026-11-22 18:25:45.435 UTC,` — how every csvlog record starts.
fn looks_like_record_start(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && line
            .get(19..)
            .and_then(|rest| rest.find(',').map(|comma| &rest[..comma]))
            .is_some_and(|zone| !zone.contains('"'))
}

impl CsvlogReader {
    pub(crate) fn new(zones: ZoneTable, max_record_bytes: usize) -> CsvlogReader {
        CsvlogReader {
            zones,
            max_record_bytes,
            open: None,
            discarding: false,
        }
    }

    pub(crate) fn pending_since(&self) -> Option<Position> {
        self.open.as_ref().map(|o| o.start)
    }

    pub(crate) fn finish(&mut self, out: &mut impl FnMut(LogItem)) {
        if let Some(open) = self.open.take() {
            let error = PgLogError::Csv(CsvError::Unterminated(0));
            out(LogItem::Diagnostic(Diagnostic::new(
                open.start,
                error.into(),
                open.text.as_bytes(),
            )));
        }
        self.discarding = false;
    }

    pub(crate) fn push_line(&mut self, at: Position, line: &str, out: &mut impl FnMut(LogItem)) {
        if self.discarding {
            if !looks_like_record_start(line) {
                return;
            }
            self.discarding = false;
        }
        if let Some(mut open) = self.open.take() {
            if looks_like_record_start(line) {
                let error = PgLogError::Csv(CsvError::Unterminated(0));
                out(LogItem::Diagnostic(Diagnostic::new(
                    open.start,
                    error.into(),
                    open.text.as_bytes(),
                )));
            } else {
                // The line's quotes flip the record's open/closed state.
                let closes = ends_inside_quotes(line);
                open.text.push('\n');
                open.text.push_str(line);
                if open.text.len() > self.max_record_bytes {
                    let kind = DiagnosticKind::TooLong {
                        bytes: open.text.len(),
                        max: self.max_record_bytes,
                    };
                    out(LogItem::Diagnostic(Diagnostic::new(
                        open.start,
                        kind,
                        open.text.as_bytes(),
                    )));
                    self.discarding = true;
                    return;
                }
                if closes {
                    out(self.record(open.start, open.text));
                } else {
                    self.open = Some(open);
                }
                return;
            }
        }
        if line.is_empty() {
            out(LogItem::Skipped);
            return;
        }
        if ends_inside_quotes(line) {
            self.open = Some(Open {
                start: at,
                text: line.to_owned(),
            });
            return;
        }
        out(self.record(at, line.to_owned()));
    }

    fn record(&self, at: Position, text: String) -> LogItem {
        match self.columns(at, &text) {
            Ok(mut record) => {
                record.raw = text;
                LogItem::Record(record)
            }
            Err(error) => LogItem::Diagnostic(Diagnostic::new(at, error.into(), text.as_bytes())),
        }
    }

    fn columns(&self, at: Position, text: &str) -> Result<PgLogRecord, PgLogError> {
        let text = text.strip_suffix('\r').unwrap_or(text);
        let mut columns = split_record(text)?;
        if !(23..=26).contains(&columns.len()) {
            return Err(PgLogError::CsvColumns {
                found: columns.len(),
            });
        }
        let time = self
            .zones
            .parse(&columns[0])
            .map_err(|e| PgLogError::from_time(e, &columns[0]))?;
        let mut take = |i: usize| std::mem::take(&mut columns[i]);
        Ok(PgLogRecord {
            position: at,
            raw: String::new(),
            time,
            user: take(1),
            database: take(2),
            pid: take(3).parse().ok(),
            client: take(4),
            session_id: take(5),
            severity: take(11),
            message: take(13),
            application: take(22),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = r#"2026-11-22 18:25:45.435 UTC,"postgres","postgres",8012,"[local]",6b0333a9.1f4c,4,"CREATE DATABASE",2026-11-22 18:25:45 UTC,3/8,724,LOG,00000,"AUDIT: SESSION,1,1,DDL,CREATE DATABASE,,,CREATE DATABASE appdb;,<none>",,,,,,,,,"psql","client backend",,0"#;

    fn read(text: &str) -> (Vec<PgLogRecord>, Vec<Diagnostic>) {
        let mut reader = CsvlogReader::new(ZoneTable::default(), 1 << 20);
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
    fn rows_and_multi_line_rows() {
        let multi = ROW.replace(
            "CREATE DATABASE appdb;",
            "\"\"CREATE\nDATABASE\n\"\"\"\"x\"\"\"\"\"\"",
        );
        let (records, diagnostics) = read(&format!("{ROW}\n{multi}\n{ROW}\n"));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].position.line, 2);
        assert_eq!(records[2].position.line, 5);
        assert!(
            records[1].message.contains("CREATE\nDATABASE"),
            "{}",
            records[1].message
        );
        assert_eq!(
            (records[0].client.as_str(), records[0].application.as_str()),
            ("[local]", "psql")
        );
    }

    #[test]
    fn a_broken_quote_costs_one_record() {
        let broken = ROW.replace("\"psql\"", "\"psql");
        let (records, diagnostics) = read(&format!("{ROW}\n{broken}\n{ROW}\n{ROW}\n"));
        assert_eq!(records.len(), 3);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].position.line, 2);
        let (_, at_end) = read(&format!("{ROW}\n{broken}\n"));
        assert_eq!(at_end.len(), 1, "reported at the end of input");
        let (_, columns) = read("2026-11-22 18:25:45.435 UTC,a,b\n");
        assert_eq!(columns[0].kind, PgLogError::CsvColumns { found: 3 }.into());
    }
}
