//! PostgreSQL logs and the pgaudit records in them.
//!
//! pgaudit writes into the server log, mixed with everything else, in the
//! destination's format: stderr (with the configured `log_line_prefix`,
//! see [`LinePrefix`], and TAB-continued multi-line records), csvlog
//! (records spanning lines inside quotes), jsonlog, or syslog (records cut
//! into chunks). Each reader turns lines into log records;
//! [`PgAuditParser`] keeps the `AUDIT:` ones ([`parse_audit`]: CSV inside
//! the message, parameters CSV inside that), removes passwords
//! ([`redact`]) and makes the envelope. [`PgAuditFilter`] answers the
//! operator's questions of what to keep.

mod audit;
mod csv;
mod csvlog;
mod filter;
mod jsonlog;
mod parser;
mod prefix;
mod record;
pub mod redact;
mod stderr;
mod syslog;
mod time;

pub use audit::{parse_audit, AuditEntry, AuditError, Parameters};
pub use csv::{split_record, CsvError};
pub use filter::{ObjectSelector, PgAuditFilter, Selector};
pub use parser::{
    parse_pg_log, PgAuditParser, PgConfigError, PgLogConfig, PgLogFormat, DEFAULT_LOG_LINE_PREFIX,
    DEFAULT_MAX_RECORD_BYTES,
};
pub use prefix::LinePrefix;
pub use record::{PgAuditRecord, PgLogError, PgLogRecord};
pub use time::ZoneTable;

/// What a reader hands the parser.
#[derive(Debug)]
pub(crate) enum LogItem {
    /// A complete log record.
    Record(PgLogRecord),
    /// A line or record that could not be read.
    Diagnostic(crate::diagnostic::Diagnostic),
    /// An empty line, or a line for another program (syslog).
    Skipped,
}
