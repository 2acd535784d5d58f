//! The pgaudit parser a tailer feeds: PostgreSQL log lines in, `AUDIT:`
//! records (redacted, with envelopes) out; every other log record is
//! counted and skipped — including `ERROR`/`STATEMENT` records, whose SQL
//! PostgreSQL does not redact.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

use super::audit::parse_audit;
use super::csvlog::CsvlogReader;
use super::jsonlog;
use super::prefix::LinePrefix;
use super::record::{PgAuditRecord, PgLogRecord};
use super::redact::{redact_entry, redact_passwords, scrub};
use super::stderr::StderrReader;
use super::syslog::SyslogReader;
use super::time::{numeric_offset, ZoneTable};
use super::LogItem;
use crate::diagnostic::{text_of, Diagnostic, DiagnosticKind};
use crate::parsed::{lines, Batch, Item, Parsed, Position, Stats};
use crate::syslog::ClassicClock;

/// Debian's default, and PostgreSQL's own since 10 is `%m [%p] `.
pub const DEFAULT_LOG_LINE_PREFIX: &str = "%m [%p] %q%u@%d ";

/// Records (csvlog, multi-line stderr) longer than this are reported, not parsed.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// PostgreSQL's `log_destination`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PgLogFormat {
    /// `stderr` (the logging collector's `.log` files), with `log_line_prefix`.
    Stderr,
    /// `csvlog`.
    Csvlog,
    /// `jsonlog` (PostgreSQL 15+).
    Jsonlog,
    /// `syslog`, as rsyslog writes it to a file (with `log_line_prefix`).
    Syslog,
}

/// How to read one PostgreSQL log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgLogConfig {
    /// The destination's format.
    pub format: PgLogFormat,
    /// The server's `log_line_prefix` (stderr and syslog).
    #[serde(default = "default_prefix")]
    pub log_line_prefix: String,
    /// Offsets of zone abbreviations that are ambiguous or not built in
    /// (`IST: "+05:30"`).
    #[serde(default)]
    pub zones: BTreeMap<String, String>,
    /// The database server's name, for the envelope's `host`.
    #[serde(default)]
    pub host: String,
    /// `syslog_ident` (syslog).
    #[serde(default = "default_ident")]
    pub syslog_ident: String,
    /// Longer records are diagnostics.
    #[serde(default = "default_max")]
    pub max_record_bytes: usize,
}

fn default_prefix() -> String {
    DEFAULT_LOG_LINE_PREFIX.to_owned()
}

fn default_ident() -> String {
    "postgres".to_owned()
}

fn default_max() -> usize {
    DEFAULT_MAX_RECORD_BYTES
}

impl PgLogConfig {
    /// Defaults for `format`.
    pub fn new(format: PgLogFormat) -> PgLogConfig {
        PgLogConfig {
            format,
            log_line_prefix: default_prefix(),
            zones: BTreeMap::new(),
            host: String::new(),
            syslog_ident: default_ident(),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PgConfigError {
    /// A zone offset that is not `+HH:MM`/`-HH:MM`.
    #[error("zones.{zone}: {offset:?} is not an offset like \"+05:30\"")]
    ZoneOffset {
        /// The abbreviation.
        zone: String,
        /// The configured value.
        offset: String,
    },
}

#[derive(Debug)]
enum Reader {
    Stderr(StderrReader),
    Csvlog(CsvlogReader),
    Jsonlog(ZoneTable),
    Syslog(SyslogReader),
}

/// Parses PostgreSQL log lines into pgaudit records.
#[derive(Debug)]
pub struct PgAuditParser {
    reader: Reader,
    host: String,
    max_record_bytes: usize,
    stats: Stats,
}

fn zone_table(config: &PgLogConfig) -> Result<ZoneTable, PgConfigError> {
    let mut offsets = BTreeMap::new();
    for (zone, offset) in &config.zones {
        let parsed = numeric_offset(offset.trim()).ok_or_else(|| PgConfigError::ZoneOffset {
            zone: zone.clone(),
            offset: offset.clone(),
        })?;
        offsets.insert(zone.clone(), parsed);
    }
    Ok(ZoneTable::new(offsets))
}

impl PgAuditParser {
    /// A parser for `config`. `reference` gives classic syslog lines their
    /// year (the file's modification time, or now); other formats carry it.
    pub fn new(config: &PgLogConfig, reference: Timestamp) -> Result<PgAuditParser, PgConfigError> {
        let zones = zone_table(config)?;
        let prefix = LinePrefix::compile(&config.log_line_prefix);
        let reader = match config.format {
            PgLogFormat::Stderr => {
                Reader::Stderr(StderrReader::new(prefix, zones, config.max_record_bytes))
            }
            PgLogFormat::Csvlog => {
                Reader::Csvlog(CsvlogReader::new(zones, config.max_record_bytes))
            }
            PgLogFormat::Jsonlog => Reader::Jsonlog(zones),
            PgLogFormat::Syslog => Reader::Syslog(SyslogReader::new(
                prefix,
                zones,
                ClassicClock::new(reference, TimeZone::UTC),
                config.syslog_ident.clone(),
            )),
        };
        Ok(PgAuditParser {
            reader,
            host: config.host.clone(),
            max_record_bytes: config.max_record_bytes,
            stats: Stats::default(),
        })
    }

    /// Moves the reference time of the syslog format (a live tailer: now).
    pub fn set_reference(&mut self, reference: Timestamp) {
        if let Reader::Syslog(reader) = &mut self.reader {
            reader.set_reference(reference);
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Where the oldest record still buffered starts (a multi-line record
    /// waits for the next record to begin): a tailer's checkpoint must not
    /// pass it.
    pub fn pending_since(&self) -> Option<Position> {
        match &self.reader {
            Reader::Stderr(r) => r.pending_since(),
            Reader::Csvlog(r) => r.pending_since(),
            Reader::Jsonlog(_) => None,
            Reader::Syslog(r) => r.pending_since(),
        }
    }

    /// Feeds one line (without its `\n`) that starts at `at`.
    pub fn push_line(
        &mut self,
        at: Position,
        line: &[u8],
        emit: &mut impl FnMut(Item<PgAuditRecord>),
    ) {
        self.stats.lines += 1;
        if line.len() > self.max_record_bytes {
            let kind = DiagnosticKind::TooLong {
                bytes: line.len(),
                max: self.max_record_bytes,
            };
            self.diagnostic(Diagnostic::new(at, kind, line), emit);
            return;
        }
        let text = match text_of(line) {
            Ok(text) => text,
            Err(kind) => {
                self.diagnostic(Diagnostic::new(at, kind, line), emit);
                return;
            }
        };
        let (host, stats) = (&self.host, &mut self.stats);
        let mut out = |item: LogItem| handle(item, host, stats, emit);
        match &mut self.reader {
            Reader::Stderr(r) => r.push_line(at, text, &mut out),
            Reader::Csvlog(r) => r.push_line(at, text, &mut out),
            Reader::Jsonlog(zones) => out(jsonlog::read_line(at, text, zones)),
            Reader::Syslog(r) => r.push_line(at, text, &mut out),
        }
    }

    /// Emits what is still buffered: at the end of a file, or when a
    /// tailer has seen no new line for a while (PostgreSQL writes a record
    /// in one go, so a quiet log has no half-written record).
    pub fn finish(&mut self, emit: &mut impl FnMut(Item<PgAuditRecord>)) {
        let (host, stats) = (&self.host, &mut self.stats);
        let mut out = |item: LogItem| handle(item, host, stats, emit);
        match &mut self.reader {
            Reader::Stderr(r) => r.finish(&mut out),
            Reader::Csvlog(r) => r.finish(&mut out),
            Reader::Jsonlog(_) => {}
            Reader::Syslog(r) => r.finish(&mut out),
        }
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic, emit: &mut impl FnMut(Item<PgAuditRecord>)) {
        self.stats.diagnostics += 1;
        emit(Item::Diagnostic(diagnostic));
    }
}

/// A log record: AUDIT → redacted record with envelope; anything else skipped.
fn handle(
    item: LogItem,
    host: &str,
    stats: &mut Stats,
    emit: &mut impl FnMut(Item<PgAuditRecord>),
) {
    let log = match item {
        LogItem::Record(log) => log,
        LogItem::Skipped => {
            stats.skipped += 1;
            return;
        }
        LogItem::Diagnostic(d) => {
            stats.diagnostics += 1;
            emit(Item::Diagnostic(d));
            return;
        }
    };
    match audit_record(&log, host) {
        None => stats.skipped += 1,
        Some(Ok(parsed)) => {
            stats.records += 1;
            emit(Item::Record(Box::new(parsed)));
        }
        Some(Err(kind)) => {
            stats.diagnostics += 1;
            emit(Item::Diagnostic(Diagnostic::new(
                log.position,
                kind,
                log.raw.as_bytes(),
            )));
        }
    }
}

fn audit_record(
    log: &PgLogRecord,
    host: &str,
) -> Option<Result<Parsed<PgAuditRecord>, DiagnosticKind>> {
    let mut entry = match parse_audit(&log.message)? {
        Ok(entry) => entry,
        Err(e) => return Some(Err(e.into())),
    };
    let secrets = redact_entry(&mut entry);
    let scrubbed = if secrets.is_empty() {
        None
    } else {
        Some(scrub(&log.raw, &secrets))
    };
    let raw_text = scrubbed.as_deref().unwrap_or(&log.raw);
    let raw = match redact_passwords(raw_text) {
        Some(redacted) => {
            entry.redacted = true;
            redacted.text
        }
        None => raw_text.to_owned(),
    };
    let record = PgAuditRecord::new(log, entry);
    let envelope = record.envelope(host);
    Some(Ok(Parsed {
        position: log.position,
        raw,
        record,
        envelope,
    }))
}

/// Parses a whole PostgreSQL log (a file's bytes).
pub fn parse_pg_log(
    input: &[u8],
    config: &PgLogConfig,
    reference: Timestamp,
) -> Result<Batch<PgAuditRecord>, PgConfigError> {
    let mut parser = PgAuditParser::new(config, reference)?;
    let mut batch = Batch::new();
    for (at, line) in lines(input) {
        parser.push_line(at, line, &mut |item| batch.push(item));
    }
    parser.finish(&mut |item| batch.push(item));
    batch.stats = parser.stats();
    Ok(batch)
}
