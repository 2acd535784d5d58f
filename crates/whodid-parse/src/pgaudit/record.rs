//! A PostgreSQL log record, whichever destination it came from, and the
//! pgaudit record made from one.

use jiff::Timestamp;
use serde::Serialize;
use whodid_model::{Actor, ActorKind, Envelope, Outcome, Stream, ENVELOPE_VERSION};

use super::audit::AuditEntry;
use super::csv::CsvError;
use super::time::TimeError;
use crate::parsed::Position;
use crate::syslog::SyslogError;

/// One log record: the fields the destinations share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLogRecord {
    /// Where the record starts.
    pub position: Position,
    /// The record's text as written (all its lines).
    pub raw: String,
    /// When it was logged.
    pub time: Timestamp,
    /// Backend process id.
    pub pid: Option<u32>,
    /// Database user, when the record belongs to a session.
    pub user: String,
    /// Database, when the record belongs to a session.
    pub database: String,
    /// Client (`127.0.0.1:59384`, `[local]`), when the format gives it.
    pub client: String,
    /// `application_name`, when the format gives it.
    pub application: String,
    /// Session id (`6b0333a9.1f4c`), when the format gives it.
    pub session_id: String,
    /// `LOG`, `ERROR`, `STATEMENT`, …
    pub severity: String,
    /// The message (multi-line records joined with `\n`).
    pub message: String,
}

/// Why a PostgreSQL log line or record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PgLogError {
    /// The line does not start with the configured `log_line_prefix`
    /// (and is not a TAB continuation line).
    #[error("does not match log_line_prefix {prefix:?}")]
    PrefixMismatch {
        /// The configured prefix.
        prefix: String,
    },
    /// A timestamp PostgreSQL would not write.
    #[error("bad timestamp {text:?}")]
    Timestamp {
        /// The text.
        text: String,
    },
    /// A zone abbreviation that is ambiguous or unknown: configure it.
    #[error("unknown time zone abbreviation {zone:?} (configure its offset)")]
    UnknownZone {
        /// The abbreviation.
        zone: String,
    },
    /// A continuation line with no record before it.
    #[error("continuation line without a record before it")]
    Orphan,
    /// A csvlog record that is not valid CSV.
    #[error("csvlog: {0}")]
    Csv(#[from] CsvError),
    /// A csvlog record with the wrong number of columns.
    #[error("csvlog record has {found} columns, expected 23 to 26 (PostgreSQL 13-17)")]
    CsvColumns {
        /// Columns found.
        found: usize,
    },
    /// A jsonlog line that is not a JSON object with the PostgreSQL keys.
    #[error("jsonlog: {reason}")]
    Json {
        /// serde_json's message.
        reason: String,
    },
    /// A syslog line that is not one (syslog destination).
    #[error(transparent)]
    Syslog(#[from] SyslogError),
    /// A syslog line without PostgreSQL's `[seq-chunk]` marker.
    #[error("syslog line without PostgreSQL's [sequence-chunk] marker")]
    SyslogChunk,
}

impl PgLogError {
    pub(crate) fn from_time(error: TimeError, text: &str) -> PgLogError {
        match error {
            TimeError::UnknownZone(zone) => PgLogError::UnknownZone { zone },
            TimeError::Malformed => PgLogError::Timestamp {
                text: text.chars().take(40).collect(),
            },
        }
    }
}

/// One pgaudit record with the session facts of its log record.
///
/// Its JSON form (golden files, `whodid` output) is flat: the log fields,
/// then the audit fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PgAuditRecord {
    /// When it was logged.
    pub time: Timestamp,
    /// Backend process id.
    pub pid: Option<u32>,
    /// The database role.
    pub user: String,
    /// The database.
    pub database: String,
    /// The client, when the log format gives it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client: String,
    /// `application_name`, when the log format gives it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub application: String,
    /// The session id, when the log format gives it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    /// The audit entry.
    #[serde(flatten)]
    pub audit: AuditEntry,
}

impl PgAuditRecord {
    pub(crate) fn new(log: &PgLogRecord, audit: AuditEntry) -> PgAuditRecord {
        PgAuditRecord {
            time: log.time,
            pid: log.pid,
            user: log.user.clone(),
            database: log.database.clone(),
            client: log.client.clone(),
            application: log.application.clone(),
            session_id: log.session_id.clone(),
            audit,
        }
    }

    /// The normalised envelope: the role as actor, the command as action,
    /// the object as target. Failed statements are not audited by pgaudit,
    /// so every record is a success (of being run; a rolled-back
    /// transaction is still audited).
    pub(crate) fn envelope(&self, host: &str) -> Envelope {
        let action = if self.audit.command.is_empty() {
            self.audit.class.clone()
        } else {
            self.audit.command.clone()
        };
        Envelope {
            v: ENVELOPE_VERSION,
            stream: Stream::PgAudit,
            time: self.time,
            actor: Actor {
                name: self.user.clone(),
                kind: ActorKind::Unknown,
                groups: Vec::new(),
                identified_by: "pg-role".to_owned(),
                via: String::new(),
            },
            action,
            target: self.audit.object_name.clone(),
            namespace: String::new(),
            cluster: String::new(),
            host: host.to_owned(),
            source: self.client.clone(),
            outcome: Outcome::Success,
            redacted: if self.audit.redacted {
                vec!["statement:password".to_owned()]
            } else {
                Vec::new()
            },
            origin: None,
        }
    }
}
