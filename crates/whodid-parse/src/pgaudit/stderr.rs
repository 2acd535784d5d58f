//! PostgreSQL's stderr log with a configured `log_line_prefix`.
//!
//! The prefix is compiled into literals and fields; a line that matches it
//! starts a record, a line starting with a TAB continues the previous one
//! (exactly one TAB is removed: statements may contain tabs), anything else
//! is a diagnostic. `%q` ends the prefix for processes without a session.

use super::record::{parse_pg_time, PgLogError, PgLogRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(char),
    Quiet,
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone)]
pub struct LinePrefix {
    source: String,
    parts: Vec<Part>,
}

/// The fields a prefix yielded for one line.
#[derive(Debug, Default, Clone)]
struct Fields {
    time: Option<String>,
    pid: Option<u32>,
    user: String,
    database: String,
    client: String,
    application: String,
}

impl LinePrefix {
    /// Compiles a `log_line_prefix` value (without the quotes).
    pub fn compile(prefix: &str) -> LinePrefix {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = prefix.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => literal.push('%'),
                Some(field) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(if field == 'q' {
                        Part::Quiet
                    } else {
                        Part::Field(field)
                    });
                }
                None => literal.push('%'),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        LinePrefix {
            source: prefix.to_owned(),
            parts,
        }
    }

    /// Matches the prefix at the start of `line`: the full match, and the
    /// match that ends at `%q` (a process without a session), each with the
    /// rest of the line. The caller takes the first that is followed by a
    /// severity.
    fn candidates<'l>(&self, line: &'l str) -> Vec<(Fields, &'l str)> {
        let mut quiet_only = self.clone();
        if let Some(q) = self.parts.iter().position(|p| *p == Part::Quiet) {
            quiet_only.parts.truncate(q);
        }
        let mut out: Vec<(Fields, &'l str)> = self.matches(line).into_iter().collect();
        if quiet_only.parts.len() < self.parts.len() {
            out.extend(quiet_only.matches(line));
        }
        out
    }

    /// Matches the prefix at the start of `line`; returns the fields and the rest.
    fn matches<'l>(&self, line: &'l str) -> Option<(Fields, &'l str)> {
        let mut fields = Fields::default();
        let mut rest = line;
        let mut index = 0;
        // What was known at `%q`: for a process without a session, the
        // prefix ends there.
        let mut quiet_point: Option<(Fields, &'l str)> = None;
        while index < self.parts.len() {
            match &self.parts[index] {
                Part::Literal(text) => match rest.strip_prefix(text.as_str()) {
                    Some(after) => rest = after,
                    None => return quiet_point,
                },
                Part::Quiet => quiet_point = Some((fields.clone(), rest)),
                Part::Field(kind) => {
                    let next_literal = self.parts[index + 1..].iter().find_map(|p| match p {
                        Part::Literal(t) => Some(t.as_str()),
                        _ => None,
                    });
                    let found = match next_literal {
                        Some(lit) => rest.find(lit),
                        None => Some(rest.find(' ').unwrap_or(rest.len())),
                    };
                    let Some(end) = found else {
                        return quiet_point;
                    };
                    let value = &rest[..end];
                    match kind {
                        'm' | 't' | 'n' => fields.time = Some(value.to_owned()),
                        'p' => match value.parse() {
                            Ok(pid) => fields.pid = Some(pid),
                            Err(_) => return quiet_point,
                        },
                        'u' => fields.user = value.to_owned(),
                        'd' => fields.database = value.to_owned(),
                        'r' | 'h' => fields.client = value.to_owned(),
                        'a' => fields.application = value.to_owned(),
                        _ => {}
                    }
                    rest = &rest[end..];
                }
            }
            index += 1;
        }
        Some((fields, rest))
    }
}

const SEVERITIES: [&str; 19] = [
    "LOG",
    "ERROR",
    "FATAL",
    "PANIC",
    "WARNING",
    "NOTICE",
    "INFO",
    "DEBUG",
    "DEBUG1",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "DEBUG5",
    "STATEMENT",
    "DETAIL",
    "HINT",
    "CONTEXT",
    "QUERY",
    "LOCATION",
];

/// Reads a stderr log: complete records and per-line diagnostics.
pub fn read_stderr(text: &str, prefix: &LinePrefix) -> (Vec<PgLogRecord>, Vec<PgLogError>) {
    let mut records: Vec<PgLogRecord> = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some(continuation) = line.strip_prefix('\t') {
            match records.last_mut() {
                Some(last) => match last.context.last_mut() {
                    Some(context) => {
                        context.push('\n');
                        context.push_str(continuation);
                    }
                    None => {
                        last.message.push('\n');
                        last.message.push_str(continuation);
                    }
                },
                None => errors.push(PgLogError::Orphan(number)),
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let parsed = prefix
            .candidates(line)
            .into_iter()
            .find_map(|(fields, rest)| {
                // The prefix's quiet part may have stopped before a trailing
                // literal: tolerate leading spaces before the severity.
                let rest = rest.trim_start();
                let (severity, message) = rest.split_once(":  ")?;
                SEVERITIES
                    .contains(&severity)
                    .then_some((fields, severity, message))
            });
        let Some((fields, severity, message)) = parsed else {
            errors.push(PgLogError::PrefixMismatch {
                line: number,
                prefix: prefix.source.clone(),
            });
            continue;
        };
        // STATEMENT/DETAIL/HINT/CONTEXT/QUERY/LOCATION lines belong to the
        // record before them (csvlog and jsonlog carry them as columns).
        if matches!(
            severity,
            "STATEMENT" | "DETAIL" | "HINT" | "CONTEXT" | "QUERY" | "LOCATION"
        ) {
            if let Some(last) = records.last_mut().filter(|r| r.pid == fields.pid) {
                last.context.push(format!("{severity}: {message}"));
                continue;
            }
        }
        let time_text = fields.time.clone().unwrap_or_default();
        let Some(time) = parse_pg_time(&time_text) else {
            errors.push(PgLogError::Timestamp {
                line: number,
                text: time_text,
            });
            continue;
        };
        records.push(PgLogRecord {
            line: number,
            time,
            pid: fields.pid,
            user: fields.user,
            database: fields.database,
            client: fields.client,
            application: fields.application,
            severity: severity.to_owned(),
            message: message.to_owned(),
            context: Vec::new(),
        });
    }
    (records, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_prefix_session_and_postmaster_lines() {
        let prefix = LinePrefix::compile("%m [%p] %q%u@%d ");
        let text = "2026-11-22 18:25:45.435 UTC [8012] postgres@postgres LOG:  AUDIT: SESSION,1,1,DDL,CREATE DATABASE,,,\"CREATE DATABASE\n\tappdb;\",<none>\n2026-11-22 18:25:42.156 UTC [7991] LOG:  starting PostgreSQL 15\nnot a log line\n";
        let (records, errors) = read_stderr(text, &prefix);
        assert_eq!(records.len(), 2);
        assert_eq!(
            (
                records[0].user.as_str(),
                records[0].database.as_str(),
                records[0].pid
            ),
            ("postgres", "postgres", Some(8012))
        );
        assert!(records[0].message.ends_with("DATABASE\nappdb;\",<none>"));
        assert_eq!(records[1].user, "");
        assert_eq!(
            errors,
            [PgLogError::PrefixMismatch {
                line: 4,
                prefix: "%m [%p] %q%u@%d ".into()
            }]
        );
    }
}
