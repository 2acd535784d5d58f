//! One parser interface for every line-oriented source: the kube-apiserver's
//! log backend, auth logs and PostgreSQL logs.
//!
//! A tailer (live files) and an import (`whodid ingest`) feed lines to a
//! [`LineParser`] and get [`Parsed`] items back: Kubernetes events still to
//! be deduplicated, records ready for the journal, or diagnostics naming the
//! line. `pending_since` says where a multi-line record still being
//! collected starts, which is as far as a saved position may go.

use whodid_journal::RecordInput;
use whodid_model::Stream;
use whodid_parse::authlog::{AuthLogConfig, AuthLogParser};
use whodid_parse::pgaudit::{PgAuditFilter, PgAuditParser};
use whodid_parse::{Diagnostic, Item, Position};

use crate::kube::prepare::{KubeSource, Prepared};

/// What a parser hands back for the lines fed to it.
#[derive(Debug)]
pub enum Parsed {
    /// A Kubernetes event (deduplicated by the store).
    Kube(Prepared),
    /// A record for the journal.
    Record(RecordInput),
    /// A line that could not be read.
    Diagnostic(Diagnostic),
    /// A record the source's keep rules drop.
    Dropped,
}

/// A line parser for one source.
#[derive(Debug)]
pub enum LineParser {
    /// kube-apiserver log backend: one JSON event per line.
    Kube(Box<KubeSource>),
    /// sshd, sudo, su, PAM.
    AuthLog(Box<AuthLogParser>),
    /// PostgreSQL + pgaudit, with keep rules.
    PgAudit(Box<PgAuditParser>, Box<PgAuditFilter>),
}

impl LineParser {
    /// An auth-log parser.
    pub fn auth_log(
        config: AuthLogConfig,
        registry: whodid_parse::authlog::keys::KeyRegistry,
    ) -> LineParser {
        LineParser::AuthLog(Box::new(AuthLogParser::new(config, registry)))
    }

    /// The stream its records go to.
    pub fn stream(&self) -> Stream {
        match self {
            LineParser::Kube(_) => Stream::KubeAudit,
            LineParser::AuthLog(_) => Stream::AuthLog,
            LineParser::PgAudit(..) => Stream::PgAudit,
        }
    }

    /// Moves the reference time of parsers that infer years (live: now).
    pub fn set_reference(&mut self, now: jiff::Timestamp) {
        match self {
            LineParser::Kube(_) => {}
            LineParser::AuthLog(p) => p.set_reference(now),
            LineParser::PgAudit(p, _) => p.set_reference(now),
        }
    }

    /// Feeds one line (without `\n`) starting at `at`.
    pub fn push_line(&mut self, at: Position, line: &[u8], out: &mut Vec<Parsed>) {
        match self {
            LineParser::Kube(source) => {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    return;
                }
                out.push(Parsed::Kube(source.prepare(line)));
            }
            LineParser::AuthLog(parser) => parser.push_line(at, line, &mut |item| {
                out.push(match item {
                    Item::Record(parsed) => Parsed::Record(RecordInput {
                        envelope: parsed.envelope.to_json(),
                        raw: parsed.raw.into_bytes(),
                    }),
                    Item::Diagnostic(d) => Parsed::Diagnostic(d),
                });
            }),
            LineParser::PgAudit(parser, filter) => {
                parser.push_line(at, line, &mut |item| out.push(pg_item(item, filter)));
            }
        }
    }

    /// Emits what is buffered (end of file, or the file has been quiet).
    pub fn finish(&mut self, out: &mut Vec<Parsed>) {
        if let LineParser::PgAudit(parser, filter) = self {
            parser.finish(&mut |item| out.push(pg_item(item, filter)));
        }
    }

    /// Where a record still being collected starts.
    pub fn pending_since(&self) -> Option<Position> {
        match self {
            LineParser::PgAudit(parser, _) => parser.pending_since(),
            _ => None,
        }
    }
}

/// An auth-log configuration for lines written up to `reference`.
pub fn auth_log_config(reference: jiff::Timestamp) -> AuthLogConfig {
    AuthLogConfig::new(reference)
}

fn pg_item(item: Item<whodid_parse::pgaudit::PgAuditRecord>, filter: &PgAuditFilter) -> Parsed {
    match item {
        Item::Record(parsed) if filter.keeps(&parsed.record) => Parsed::Record(RecordInput {
            envelope: parsed.envelope.to_json(),
            raw: parsed.raw.into_bytes(),
        }),
        Item::Record(_) => Parsed::Dropped,
        Item::Diagnostic(d) => Parsed::Diagnostic(d),
    }
}
