//! The authlog parser a tailer feeds: one line at a time, any of the
//! syslog formats (detected per line) or journal JSON, with attribution
//! state carried from line to line — or sshd's own log file (`sshd -E
//! FILE`), whose lines are bare messages: no time, host, tag or pid, each
//! ended by `\r\n`. Such a file is recognised by its first line (a `\r`
//! ending and no syslog header) unless the format is configured.

use std::borrow::Cow;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use whodid_model::Envelope;

use super::attribution::Attributor;
use super::events::classify;
use super::keys::KeyRegistry;
use super::record::AuthRecord;
use crate::diagnostic::{text_of, Diagnostic, DiagnosticKind};
use crate::parsed::{lines, Batch, Item, Parsed, Position, Stats};
use crate::syslog::{parse_json, parse_text, ClassicClock, SyslogLine};

/// Lines longer than this are reported, not parsed (rsyslog's default
/// maximum message size is 8 KiB; journal entries are larger).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// What kind of file an auth log is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthLogFormat {
    /// Decided by the first non-empty line: sshd's own log when it ends in
    /// `\r` and has no syslog header, else syslog/journal.
    #[default]
    Detect,
    /// Syslog text (classic, RFC 3339, RFC 5424) or journal JSON, per line.
    Syslog,
    /// `sshd -E FILE`: bare sshd messages. They carry no time: each record
    /// gets the reference time (the file's modification time for an
    /// import, now for a tailer), and the configured host.
    SshdLogFile,
}

/// How to read an auth log.
#[derive(Debug, Clone)]
pub struct AuthLogConfig {
    /// When the lines were written at the latest: the file's modification
    /// time for an import, now for a live tailer. Gives classic lines their year.
    pub reference: Timestamp,
    /// The node's time zone, for classic lines (RFC 3339, RFC 5424 and
    /// journal lines carry their own).
    pub time_zone: TimeZone,
    /// Longer lines are diagnostics.
    pub max_line_bytes: usize,
    /// Syslog/journal or sshd's own log file.
    pub format: AuthLogFormat,
    /// The node, for lines that do not name it (sshd's own log file).
    pub host: String,
}

impl AuthLogConfig {
    /// A configuration for lines written before `reference` on a node in UTC.
    pub fn new(reference: Timestamp) -> AuthLogConfig {
        AuthLogConfig {
            reference,
            time_zone: TimeZone::UTC,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            format: AuthLogFormat::Detect,
            host: String::new(),
        }
    }
}

/// Parses auth log lines into records, attributing each to a person.
#[derive(Debug)]
pub struct AuthLogParser {
    clock: ClassicClock,
    attributor: Attributor,
    max_line_bytes: usize,
    format: AuthLogFormat,
    reference: Timestamp,
    host: String,
    stats: Stats,
}

impl AuthLogParser {
    /// A parser with `registry` for key → person.
    pub fn new(config: AuthLogConfig, registry: KeyRegistry) -> AuthLogParser {
        AuthLogParser {
            clock: ClassicClock::new(config.reference, config.time_zone),
            attributor: Attributor::new(registry),
            max_line_bytes: config.max_line_bytes,
            format: config.format,
            reference: config.reference,
            host: config.host,
            stats: Stats::default(),
        }
    }

    /// Moves the reference time (a live tailer: now).
    pub fn set_reference(&mut self, reference: Timestamp) {
        self.clock.set_reference(reference);
        self.reference = reference;
    }

    /// The format: configured, or detected from the first non-empty line.
    pub fn format(&self) -> AuthLogFormat {
        self.format
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Feeds one line (without its `\n`) that starts at `at`.
    pub fn push_line(
        &mut self,
        at: Position,
        line: &[u8],
        emit: &mut impl FnMut(Item<AuthRecord>),
    ) {
        self.stats.lines += 1;
        match self.parse(line) {
            Ok(Some((raw, record, envelope))) => {
                self.stats.records += 1;
                emit(Item::Record(Box::new(Parsed {
                    position: at,
                    raw,
                    record,
                    envelope,
                })));
            }
            Ok(None) => self.stats.skipped += 1,
            Err(kind) => {
                self.stats.diagnostics += 1;
                emit(Item::Diagnostic(Diagnostic::new(at, kind, line)));
            }
        }
    }

    fn parse(
        &mut self,
        line: &[u8],
    ) -> Result<Option<(String, AuthRecord, Envelope)>, DiagnosticKind> {
        if line.len() > self.max_line_bytes {
            return Err(DiagnosticKind::TooLong {
                bytes: line.len(),
                max: self.max_line_bytes,
            });
        }
        let text = text_of(line)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        if self.format == AuthLogFormat::Detect {
            self.format = detect(text, &self.clock);
        }
        let syslog = if self.format == AuthLogFormat::SshdLogFile {
            SyslogLine {
                time: self.reference,
                host: Cow::Borrowed(&self.host),
                program: Cow::Borrowed("sshd"),
                pid: None,
                audit_session: None,
                message: Cow::Borrowed(text.strip_suffix('\r').unwrap_or(text)),
            }
        } else if text.starts_with('{') {
            parse_json(text)?
        } else {
            parse_text(text, &self.clock)?
        };
        let event = classify(&syslog.program, &syslog.message)?;
        let Some(who) = self.attributor.observe(&syslog, event.as_ref()) else {
            return Ok(None);
        };
        let Some(event) = event else {
            return Ok(None);
        };
        let record = AuthRecord::new(&syslog, event, &who);
        let envelope = record.envelope(who);
        let raw = text.strip_suffix('\r').unwrap_or(text).to_owned();
        Ok(Some((raw, record, envelope)))
    }
}

/// sshd's own log file when `first` (the first non-empty line) ends in
/// `\r` (sshd writes `\r\n`) and is not a syslog line or journal entry.
fn detect(first: &str, clock: &ClassicClock) -> AuthLogFormat {
    let is_syslog = first.starts_with('{') || parse_text(first, clock).is_ok();
    if first.ends_with('\r') && !is_syslog {
        AuthLogFormat::SshdLogFile
    } else {
        AuthLogFormat::Syslog
    }
}

/// Parses a whole auth log (a file's bytes).
pub fn parse_auth_log(
    input: &[u8],
    config: AuthLogConfig,
    registry: KeyRegistry,
) -> Batch<AuthRecord> {
    let mut parser = AuthLogParser::new(config, registry);
    let mut batch = Batch::new();
    for (at, line) in lines(input) {
        parser.push_line(at, line, &mut |item| batch.push(item));
    }
    batch.stats = parser.stats();
    batch
}
