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
            LineParser::Kube(source) => push_kube_line(source, line, out),
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

    /// Feeds lines in order, as [`push_line`](Self::push_line) one by one
    /// would. Kubernetes lines do not depend on each other: a large enough
    /// run of them is prepared on up to `threads` threads (the caller's
    /// among them), each taking a contiguous part, joined back in order.
    pub fn push_lines(
        &mut self,
        lines: &[(Position, Vec<u8>)],
        threads: usize,
        out: &mut Vec<Parsed>,
    ) {
        let parts = threads.clamp(1, lines.len().div_ceil(PARALLEL_MIN_LINES).max(1));
        let LineParser::Kube(source) = self else {
            for (at, line) in lines {
                self.push_line(*at, line, out);
            }
            return;
        };
        if parts == 1 {
            for (_, line) in lines {
                push_kube_line(source, line, out);
            }
            return;
        }
        let source: &KubeSource = source;
        let prepare = |part: &[(Position, Vec<u8>)]| {
            let mut prepared = Vec::with_capacity(part.len());
            for (_, line) in part {
                push_kube_line(source, line, &mut prepared);
            }
            prepared
        };
        let mut chunks = lines.chunks(lines.len().div_ceil(parts));
        let first = chunks.next().unwrap_or_default();
        std::thread::scope(|scope| {
            let others: Vec<_> = chunks
                .map(|part| scope.spawn(move || prepare(part)))
                .collect();
            out.extend(prepare(first));
            for handle in others {
                match handle.join() {
                    Ok(prepared) => out.extend(prepared),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
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

/// Lines per thread below which preparing in parallel is not worth a thread.
const PARALLEL_MIN_LINES: usize = 256;

/// One kube-apiserver log line: blank lines are nothing, others an event.
fn push_kube_line(source: &KubeSource, line: &[u8], out: &mut Vec<Parsed>) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    out.push(Parsed::Kube(source.prepare(line)));
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
