//! Syslog lines in the formats nodes actually write, and journal entries.
//!
//! One scenario reaches whodid in several shapes: rsyslog's classic
//! `Nov 22 18:24:03 vm sshd[5172]: …` (no year, no zone — see [`clock`]),
//! RFC 3339 high precision (Debian 12's default `auth.log`), RFC 5424, and
//! `journalctl -o json` or rsyslog's JSON with trusted properties
//! ([`parse_json`]). All become one borrowed [`SyslogLine`].
//! PostgreSQL's syslog destination uses the same lines.

pub mod clock;
mod json;
mod text;

use std::borrow::Cow;

use jiff::Timestamp;

pub use clock::ClassicClock;
pub use json::parse_json;
pub use text::parse_text;

/// An RFC 3339 timestamp (`2026-11-22T18:24:03.054349+00:00`, `…Z`).
pub fn rfc3339_timestamp(text: &str) -> Option<Timestamp> {
    text::rfc3339(text)
}

/// One syslog message with its envelope, borrowing from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogLine<'a> {
    /// When it was logged.
    pub time: Timestamp,
    /// The host that logged it (may be empty: some relays drop it).
    pub host: Cow<'a, str>,
    /// The program (syslog tag / identifier), e.g. `sshd`, `sudo`.
    pub program: Cow<'a, str>,
    /// The process id: from the tag, or from the journal's `_PID` (which
    /// the kernel vouches for) when the tag has none (sudo).
    pub pid: Option<u32>,
    /// The audit (login) session the process belongs to, when the journal
    /// says (`_AUDIT_SESSION`).
    pub audit_session: Option<u32>,
    /// The message text.
    pub message: Cow<'a, str>,
}

/// Why a line is not a syslog line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyslogError {
    /// The timestamp could not be read.
    #[error("bad timestamp {text:?}")]
    Timestamp {
        /// The offending text.
        text: String,
    },
    /// The line ends before the named part.
    #[error("truncated line: no {missing}")]
    Truncated {
        /// What is missing (`host`, `tag`, `message`, …).
        missing: &'static str,
    },
    /// A JSON entry that is not valid JSON.
    #[error("journal entry is not JSON: {reason}")]
    Json {
        /// serde_json's message (with its column).
        reason: String,
    },
    /// A JSON entry without a field whodid needs, or with a bad value.
    #[error("journal entry: {field} {problem}")]
    JournalField {
        /// The field (`__REALTIME_TIMESTAMP`, `MESSAGE`, …).
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}
