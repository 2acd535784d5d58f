//! `log_line_prefix`, compiled into a matcher.
//!
//! The prefix is literal text and `%` escapes. Escapes with a grammar
//! (timestamps, numbers) are read by it; free-text escapes (user, database,
//! application, …) end where the rest of the prefix matches again, trying
//! the leftmost end first — so a prefix of `%m [%p] %q%u@%d ` reads
//! `dba_alice@appdb ` and `[unknown]@[unknown] `. `%q` ends the prefix for
//! processes without a session (the postmaster, the checkpointer): such a
//! line is tried with the prefix cut at `%q`. After the prefix comes the
//! severity (`LOG:  `). Padding (`%-10u`, `%5p`) is accepted and trimmed.

use super::time::{parse_epoch, TimeError, ZoneTable};
use jiff::Timestamp;

/// One `%` escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// `%m` (`%t`, `%s` without milliseconds): a timestamp with zone.
    Time,
    /// `%s`: the session start; read and ignored.
    SessionStart,
    /// `%n`: epoch seconds with milliseconds.
    Epoch,
    /// `%p`.
    Pid,
    /// `%l`.
    LineNumber,
    /// `%x`, `%P`, `%Q`: numbers whodid does not keep.
    Number,
    /// `%u`.
    User,
    /// `%d`.
    Database,
    /// `%r`: `host(port)` or `[local]`.
    RemoteHostPort,
    /// `%h`.
    RemoteHost,
    /// `%a`.
    Application,
    /// `%c`.
    SessionId,
    /// `%i`.
    CommandTag,
    /// `%b`.
    BackendType,
    /// `%v`, `%e`, `%L` and unknown escapes: text whodid does not keep.
    Text,
}

impl Escape {
    fn of(c: char) -> Escape {
        match c {
            'm' | 't' => Escape::Time,
            's' => Escape::SessionStart,
            'n' => Escape::Epoch,
            'p' => Escape::Pid,
            'l' => Escape::LineNumber,
            'x' | 'P' | 'Q' => Escape::Number,
            'u' => Escape::User,
            'd' => Escape::Database,
            'r' => Escape::RemoteHostPort,
            'h' => Escape::RemoteHost,
            'a' => Escape::Application,
            'c' => Escape::SessionId,
            'i' => Escape::CommandTag,
            'b' => Escape::BackendType,
            _ => Escape::Text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// An escape; `true` when padded (`%-6p`): read as free text, trimmed.
    Field(Escape, bool),
    Quiet,
}

/// The severities PostgreSQL writes (with `lc_messages = 'C'`).
pub(crate) const SEVERITIES: [&str; 19] = [
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

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePrefix {
    source: String,
    parts: Vec<Part>,
    /// Index of `%q` in `parts`.
    quiet: Option<usize>,
}

/// What the prefix of one line said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrefixFields<'a> {
    pub(crate) time: Option<&'a str>,
    pub(crate) epoch: Option<&'a str>,
    pub(crate) pid: Option<u32>,
    pub(crate) line_number: Option<u64>,
    pub(crate) user: &'a str,
    pub(crate) database: &'a str,
    pub(crate) client: Option<String>,
    pub(crate) application: &'a str,
    pub(crate) session_id: &'a str,
    pub(crate) command_tag: &'a str,
    pub(crate) backend_type: &'a str,
}

impl PrefixFields<'_> {
    /// The line's time: `%m`/`%t` or `%n`.
    pub(crate) fn timestamp(&self, zones: &ZoneTable) -> Result<Option<Timestamp>, TimeError> {
        if let Some(text) = self.time {
            return zones.parse(text).map(Some);
        }
        match self.epoch {
            Some(text) => parse_epoch(text).map(Some).ok_or(TimeError::Malformed),
            None => Ok(None),
        }
    }
}

/// A line that starts a record: prefix fields, severity, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordStart<'a> {
    pub(crate) fields: PrefixFields<'a>,
    pub(crate) severity: &'a str,
    pub(crate) message: &'a str,
}

/// Backtracking budget per line: free-text fields next to each other
/// could otherwise try every split.
const MAX_STEPS: usize = 4096;

impl LinePrefix {
    /// Compiles a `log_line_prefix` value (without the quotes).
    pub fn compile(prefix: &str) -> LinePrefix {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = prefix.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            // Padding: %-10u, %5p.
            let mut padded = false;
            while let Some(&p) = chars.peek() {
                if p == '-' || p.is_ascii_digit() {
                    padded = true;
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.next() {
                Some('%') => literal.push('%'),
                Some(escape) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(if escape == 'q' {
                        Part::Quiet
                    } else {
                        Part::Field(Escape::of(escape), padded)
                    });
                }
                None => literal.push('%'),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let quiet = parts.iter().position(|p| *p == Part::Quiet);
        LinePrefix {
            source: prefix.to_owned(),
            parts,
            quiet,
        }
    }

    /// The prefix as configured.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Reads the start of a record: the full prefix, or the prefix cut at
    /// `%q`, followed by a severity. `None`: not a record start.
    pub(crate) fn read<'a>(&self, line: &'a str) -> Option<RecordStart<'a>> {
        let mut budget = MAX_STEPS;
        let full: Vec<&Part> = self.parts.iter().filter(|p| **p != Part::Quiet).collect();
        if let Some(start) = read_parts(&full, line, &mut budget) {
            return Some(start);
        }
        let quiet = self.quiet?;
        let cut: Vec<&Part> = self.parts[..quiet].iter().collect();
        read_parts(&cut, line, &mut budget)
    }
}

fn read_parts<'a>(parts: &[&Part], line: &'a str, budget: &mut usize) -> Option<RecordStart<'a>> {
    let mut fields = PrefixFields::default();
    let end = match_from(parts, line, 0, &mut fields, budget)?;
    let (severity, message) = severity_at(&line[end..])?;
    Some(RecordStart {
        fields,
        severity,
        message,
    })
}

/// `SEVERITY:  message` at the start of `text`.
fn severity_at(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(":  ")?;
    let severity = &text[..colon];
    SEVERITIES
        .contains(&severity)
        .then(|| (severity, &text[colon + 3..]))
}

/// Matches `parts` against `line` from byte `at`; the end of the prefix.
fn match_from<'a>(
    parts: &[&Part],
    line: &'a str,
    at: usize,
    fields: &mut PrefixFields<'a>,
    budget: &mut usize,
) -> Option<usize> {
    *budget = budget.checked_sub(1)?;
    let Some((part, rest_parts)) = parts.split_first() else {
        return severity_at(&line[at..]).map(|_| at);
    };
    let text = &line[at..];
    match part {
        Part::Quiet => match_from(rest_parts, line, at, fields, budget),
        Part::Literal(literal) => {
            if text.starts_with(literal.as_str()) {
                match_from(rest_parts, line, at + literal.len(), fields, budget)
            } else {
                None
            }
        }
        Part::Field(escape, padded) => {
            let grammar = if *padded {
                None
            } else {
                grammar_length(*escape, text)
            };
            if let Some(len) = grammar {
                let saved = fields.clone();
                store(*escape, &text[..len], fields);
                let end = match_from(rest_parts, line, at + len, fields, budget);
                if end.is_none() {
                    *fields = saved;
                }
                return end;
            }
            if has_grammar(*escape) && !*padded {
                return None;
            }
            // Free text: try each place where the rest could start, leftmost first.
            let next = rest_parts.first().copied();
            let mut from = 0;
            while let Some(len) = next_candidate(next, text, from) {
                let saved = fields.clone();
                store(*escape, &text[..len], fields);
                if let Some(end) = match_from(rest_parts, line, at + len, fields, budget) {
                    return Some(end);
                }
                *fields = saved;
                if *budget == 0 {
                    return None;
                }
                from = len + text[len..].chars().next().map_or(1, char::len_utf8);
            }
            None
        }
    }
}

/// The next place at or after `from` where a free-text field may end:
/// before the next literal, before a severity when the prefix ends there,
/// or anywhere when another field follows.
fn next_candidate(next: Option<&Part>, text: &str, from: usize) -> Option<usize> {
    if from > text.len() {
        return None;
    }
    match next {
        Some(Part::Literal(literal)) => text[from..].find(literal.as_str()).map(|i| from + i),
        None => {
            let mut search = from;
            while let Some(found) = text[search..].find(":  ") {
                let colon = search + found;
                let word_start = text[..colon]
                    .rfind(|c: char| !c.is_ascii_alphanumeric())
                    .map_or(0, |i| i + 1);
                if word_start >= from && SEVERITIES.contains(&&text[word_start..colon]) {
                    return Some(word_start);
                }
                search = colon + 1;
            }
            None
        }
        Some(_) => Some(from),
    }
}

fn has_grammar(escape: Escape) -> bool {
    matches!(
        escape,
        Escape::Time
            | Escape::SessionStart
            | Escape::Epoch
            | Escape::Pid
            | Escape::LineNumber
            | Escape::Number
    )
}

/// The length of a field that has a grammar, at the start of `text`.
fn grammar_length(escape: Escape, text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let leading_spaces = b.iter().take_while(|c| **c == b' ').count();
    match escape {
        Escape::Time | Escape::SessionStart => {
            // "YYYY-MM-DD HH:MM:SS[.fff] ZONE"
            let s = leading_spaces;
            let digit = |i: usize| b.get(s + i).is_some_and(u8::is_ascii_digit);
            let shape_ok = (0..4).all(digit)
                && b.get(s + 4) == Some(&b'-')
                && b.get(s + 10) == Some(&b' ')
                && b.get(s + 13) == Some(&b':')
                && b.get(s + 16) == Some(&b':');
            if !shape_ok {
                return None;
            }
            let mut i = s + 19;
            if b.get(i) == Some(&b'.') {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            if b.get(i) != Some(&b' ') {
                return None;
            }
            i += 1;
            let zone = b[i..]
                .iter()
                .take_while(|c| !c.is_ascii_whitespace())
                .count();
            (zone > 0).then_some(i + zone)
        }
        Escape::Epoch => {
            let digits = b[leading_spaces..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == b'.')
                .count();
            (digits > 0).then_some(leading_spaces + digits)
        }
        Escape::Pid | Escape::LineNumber | Escape::Number => {
            let s = leading_spaces + usize::from(b.get(leading_spaces) == Some(&b'-'));
            let digits = b[s.min(b.len())..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            (digits > 0).then_some(s + digits)
        }
        _ => None,
    }
}

fn store<'a>(escape: Escape, value: &'a str, fields: &mut PrefixFields<'a>) {
    let value = value.trim();
    match escape {
        Escape::Time => fields.time = Some(value),
        Escape::Epoch => fields.epoch = Some(value),
        Escape::Pid => fields.pid = value.parse().ok(),
        Escape::LineNumber => fields.line_number = value.parse().ok(),
        Escape::User => fields.user = value,
        Escape::Database => fields.database = value,
        Escape::RemoteHostPort => fields.client = Some(client_of(value)),
        Escape::RemoteHost => {
            if fields.client.is_none() {
                fields.client = Some(value.to_owned());
            }
        }
        Escape::Application => fields.application = value,
        Escape::SessionId => fields.session_id = value,
        Escape::CommandTag => fields.command_tag = value,
        Escape::BackendType => fields.backend_type = value,
        Escape::SessionStart | Escape::Number | Escape::Text => {}
    }
}

/// `%r` is `host(port)`; csvlog writes `host:port`. Use csvlog's form.
fn client_of(value: &str) -> String {
    match value.strip_suffix(')').and_then(|v| v.rsplit_once('(')) {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => format!("{host}:{port}"),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(prefix: &str, line: &str) -> Option<(PrefixFields<'static>, String, String)> {
        let line: &'static str = Box::leak(line.to_owned().into_boxed_str());
        LinePrefix::compile(prefix)
            .read(line)
            .map(|s| (s.fields, s.severity.to_owned(), s.message.to_owned()))
    }

    #[test]
    fn debian_default_prefix() {
        let p = "%m [%p] %q%u@%d ";
        let (f, sev, msg) = read(
            p,
            "2026-11-22 18:25:45.435 UTC [8012] postgres@postgres LOG:  AUDIT: x",
        )
        .unwrap();
        assert_eq!(
            (f.time, f.pid, f.user, f.database),
            (
                Some("2026-11-22 18:25:45.435 UTC"),
                Some(8012),
                "postgres",
                "postgres"
            )
        );
        assert_eq!((sev.as_str(), msg.as_str()), ("LOG", "AUDIT: x"));
        let (f, _, _) = read(
            p,
            "2026-11-22 18:25:42.156 UTC [7991] LOG:  starting PostgreSQL 15.20",
        )
        .unwrap();
        assert_eq!((f.pid, f.user), (Some(7991), ""));
        let (f, _, _) = read(p, "2026-11-22 18:25:42.728 UTC [7999] [unknown]@[unknown] LOG:  connection received: host=[local]").unwrap();
        assert_eq!(f.user, "[unknown]");
        assert!(read(
            p,
            "2026-11-22 18:25:45.435 UTC 8012 postgres@postgres LOG:  x"
        )
        .is_none());
        assert!(read(p, "garbage").is_none());
        assert!(read(
            p,
            "2026-11-22 18:25:45.435 UTC [8012] postgres@postgres NOTALEVEL:  x"
        )
        .is_none());
    }

    #[test]
    fn every_escape() {
        let p = "%t %n %p %l %x %u %d %r %h %a|%c %i|%b|%v %e %s %Q %P %L %% ";
        let line = "2026-11-22 18:25:45 UTC 1795371945.435 42 7 0 alice appdb 10.0.0.1(5432) 10.0.0.1 DBeaver 23.1.0 - Main|6b0333a9.1f4c CREATE TABLE|client backend|3/8 00000 2026-11-22 18:25:40 UTC 0 12 127.0.0.1 % ERROR:  boom";
        let (f, sev, msg) = read(p, line).unwrap();
        assert_eq!(f.time, Some("2026-11-22 18:25:45 UTC"));
        assert_eq!(
            (f.pid, f.line_number, f.user, f.database),
            (Some(42), Some(7), "alice", "appdb")
        );
        assert_eq!(f.client.as_deref(), Some("10.0.0.1:5432"));
        assert_eq!(
            (f.application, f.session_id, f.command_tag, f.backend_type),
            (
                "DBeaver 23.1.0 - Main",
                "6b0333a9.1f4c",
                "CREATE TABLE",
                "client backend"
            )
        );
        assert_eq!((sev.as_str(), msg.as_str()), ("ERROR", "boom"));
    }

    #[test]
    fn padding_and_prefix_without_trailing_space() {
        let (f, _, _) = read(
            "%m [%-6p] %u@%d: ",
            "2026-11-22 18:25:45.435 UTC [42    ] a@b: LOG:  x",
        )
        .unwrap();
        assert_eq!((f.pid, f.user, f.database), (Some(42), "a", "b"));
        let (f, sev, _) = read("%u", "alice@x LOG:  y").unwrap();
        assert_eq!((f.user, sev.as_str()), ("alice@x", "LOG"));
    }
}
