//! A PostgreSQL log record, whichever destination it came from.

use jiff::civil::DateTime;
use jiff::Timestamp;

/// One log record: the fields the three destinations share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLogRecord {
    /// 1-based line where the record starts in its file.
    pub line: usize,
    /// When it was logged.
    pub time: Timestamp,
    /// Backend process id.
    pub pid: Option<u32>,
    /// Database user, when the record belongs to a session.
    pub user: String,
    /// Database, when the record belongs to a session.
    pub database: String,
    /// Client address (`127.0.0.1:59384`, `[local]`), when known.
    pub client: String,
    /// `application_name`, when known.
    pub application: String,
    /// `LOG`, `ERROR`, `STATEMENT`, …
    pub severity: String,
    /// The message (multi-line records joined with `\n`).
    pub message: String,
    /// DETAIL, HINT, CONTEXT, STATEMENT/query that belong to the record
    /// (separate lines in stderr, columns in csvlog, keys in jsonlog), as
    /// `KIND: text`. Treat as sensitive: PostgreSQL does not redact them.
    pub context: Vec<String>,
}

/// Why a PostgreSQL log record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PgLogError {
    /// The line does not start with the configured `log_line_prefix`.
    #[error("line {line}: does not match log_line_prefix {prefix:?}")]
    PrefixMismatch {
        /// 1-based line.
        line: usize,
        /// The configured prefix.
        prefix: String,
    },
    /// A timestamp PostgreSQL would not write.
    #[error("line {line}: bad timestamp {text:?}")]
    Timestamp {
        /// 1-based line.
        line: usize,
        /// The text.
        text: String,
    },
    /// A csvlog row that is not a PostgreSQL 15 row.
    #[error("line {line}: csvlog: {reason}")]
    Csv {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A jsonlog line that is not a JSON object with the PostgreSQL keys.
    #[error("line {line}: jsonlog: {reason}")]
    Json {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A continuation line with no record before it.
    #[error("line {0}: continuation line without a record")]
    Orphan(usize),
}

/// Parses `%m`/`%t` timestamps: `2026-11-22 18:25:45.435 UTC` (zone
/// abbreviation or numeric offset).
pub fn parse_pg_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let (civil, zone) = text.rsplit_once(' ')?;
    let civil: DateTime = civil.replace(' ', "T").parse().ok()?;
    let offset = match zone {
        "UTC" | "GMT" | "Z" | "UCT" => jiff::tz::Offset::UTC,
        numeric => {
            let sign = if numeric.starts_with('-') { -1 } else { 1 };
            let digits = numeric.trim_start_matches(['+', '-']);
            let (h, m) = match digits.split_once(':') {
                Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
                None if digits.len() == 4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
                None => (digits.parse().ok()?, 0),
            };
            jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()?
        }
    };
    offset.to_timestamp(civil).ok()
}
