//! PostgreSQL logs and the pgaudit records in them.
//!
//! pgaudit writes into the server log, mixed with everything else, in the
//! destination's format: [`stderr`] (with the configured `log_line_prefix`
//! and TAB-continued multi-line records), [`csvlog`] and [`jsonlog`]. Each
//! gives [`PgLogRecord`]s; [`audit`] reads the `AUDIT:` payload (CSV inside
//! CSV) and redacts passwords; [`filter`] keeps what the operator chose.

pub mod audit;
pub mod csv;
pub mod csvlog;
pub mod filter;
pub mod jsonlog;
mod record;
pub mod stderr;

pub use audit::{parse_audit, AuditEntry, AuditError, Parameters};
pub use record::{parse_pg_time, PgLogError, PgLogRecord};

/// A log record that carried a pgaudit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgAuditRecord {
    /// The log record (user, database, client, time).
    pub log: PgLogRecord,
    /// The audit entry.
    pub audit: AuditEntry,
}

/// Picks the AUDIT records out of log records; other records are skipped,
/// broken AUDIT payloads are reported with their line.
pub fn audit_records(records: Vec<PgLogRecord>) -> (Vec<PgAuditRecord>, Vec<(usize, AuditError)>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for log in records {
        match parse_audit(&log.message) {
            None => {}
            Some(Ok(audit)) => out.push(PgAuditRecord { log, audit }),
            Some(Err(e)) => errors.push((log.line, e)),
        }
    }
    (out, errors)
}
