//! Diagnostics: a line or record that could not be read, with where it is
//! and why. Parsing goes on after a diagnostic; the caller counts and
//! reports them (`whodid ingest` prints file and line).

use crate::authlog::ShapeError;
use crate::parsed::Position;
use crate::pgaudit::{AuditError, PgLogError};
use crate::syslog::SyslogError;

/// How much of the offending text a diagnostic keeps.
const EXCERPT_CHARS: usize = 120;

/// A line or record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {} (byte {}): {kind}: {excerpt:?}", position.line, position.offset)]
pub struct Diagnostic {
    /// Where the line (or the record's first line) starts.
    pub position: Position,
    /// What is wrong.
    pub kind: DiagnosticKind,
    /// The start of the offending text (lossy UTF-8, at most 120 characters).
    pub excerpt: String,
}

impl Diagnostic {
    /// A diagnostic for `text` at `position`.
    pub fn new(position: Position, kind: DiagnosticKind, text: &[u8]) -> Diagnostic {
        let cut = &text[..text.len().min(EXCERPT_CHARS * 4)];
        let excerpt: String = String::from_utf8_lossy(cut)
            .chars()
            .take(EXCERPT_CHARS)
            .collect();
        Diagnostic {
            position,
            kind,
            excerpt,
        }
    }
}

/// Why a line or record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// The line is not UTF-8 (binary garbage, a torn write).
    #[error("not UTF-8 text (first bad byte at column {column})")]
    NotUtf8 {
        /// 0-based byte column of the first invalid byte.
        column: usize,
    },
    /// The line (or buffered record) is longer than the configured maximum.
    #[error("{bytes} bytes, longer than the maximum of {max}")]
    TooLong {
        /// Its length so far.
        bytes: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Not a syslog line or journal entry.
    #[error(transparent)]
    Syslog(#[from] SyslogError),
    /// An sshd/sudo/su/PAM message of a known kind, but malformed.
    #[error(transparent)]
    AuthMessage(#[from] ShapeError),
    /// Not a PostgreSQL log record in the configured format.
    #[error(transparent)]
    PgLog(#[from] PgLogError),
    /// An `AUDIT:` message whose payload is broken.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// The text of a line, or the diagnostic kind saying why it is not text.
pub(crate) fn text_of(line: &[u8]) -> Result<&str, DiagnosticKind> {
    std::str::from_utf8(line).map_err(|e| DiagnosticKind::NotUtf8 {
        column: e.valid_up_to(),
    })
}
