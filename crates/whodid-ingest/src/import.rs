//! One-off imports of old log files (`whodid ingest`): read, parse, store
//! in batches, report every unreadable line with its file and line.
//!
//! Lines are read with bounded memory: a line longer than the limit is
//! skipped by streaming past it and reported, never buffered whole.

use std::io::{BufRead, ErrorKind};
use std::path::{Path, PathBuf};

use whodid_parse::{Diagnostic, DiagnosticKind, Position};

use crate::kube::store::StoreError;
use crate::line_source::{LineParser, Parsed};
use crate::sink::{Sink, Stored};

/// How many items one append takes at most.
pub const IMPORT_BATCH: usize = 2048;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Storing failed: what was reported stored before is durable.
    #[error("{path}: storing records read up to line {line}: {source}")]
    Store {
        /// The file.
        path: PathBuf,
        /// The last line read.
        line: u64,
        /// The error.
        #[source]
        source: StoreError,
    },
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// What was stored.
    pub stored: Stored,
    /// Lines that could not be read: file, diagnostic.
    pub diagnostics: Vec<(PathBuf, Diagnostic)>,
}

/// Reads one line of at most `max` bytes into `line` (without `\n`).
/// Returns `None` at end of input, `Some(Err(len))` for a longer line,
/// skipped to its end.
pub fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<Result<usize, usize>>> {
    line.clear();
    let mut total = 0usize;
    let mut too_long = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            if total == 0 {
                return Ok(None);
            }
            break;
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(at) => (&buf[..at], Some(at + 1)),
            None => (buf, None),
        };
        total += chunk.len();
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let consumed = done.unwrap_or(buf.len());
        reader.consume(consumed);
        if done.is_some() {
            total += 1;
            break;
        }
    }
    Ok(Some(if too_long { Err(total) } else { Ok(total) }))
}

/// Imports one input: every line through `parser` into `sink`.
/// `progress` is called with the bytes read so far.
pub async fn import(
    path: &Path,
    mut reader: impl BufRead,
    parser: &mut LineParser,
    sink: &Sink,
    max_line_bytes: usize,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ImportError> {
    let mut line = Vec::new();
    let mut at = Position::START;
    let mut items: Vec<Parsed> = Vec::with_capacity(IMPORT_BATCH);
    let mut batch_bytes = 0usize;
    loop {
        let read = read_bounded_line(&mut reader, &mut line, max_line_bytes).map_err(|source| {
            ImportError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        let Some(read) = read else { break };
        report.lines += 1;
        let len = match read {
            Ok(len) => {
                parser.push_line(at, &line, &mut items);
                len
            }
            Err(len) => {
                let kind = DiagnosticKind::TooLong {
                    bytes: len,
                    max: max_line_bytes,
                };
                items.push(Parsed::Diagnostic(Diagnostic::new(at, kind, b"")));
                len
            }
        };
        report.bytes += len as u64;
        batch_bytes += len;
        at = Position {
            line: at.line + 1,
            offset: at.offset + len as u64,
        };
        if items.len() >= IMPORT_BATCH || batch_bytes >= 8 << 20 {
            flush(path, at.line, &mut items, sink, report).await?;
            batch_bytes = 0;
            progress(report.bytes);
        }
    }
    parser.finish(&mut items);
    flush(path, at.line, &mut items, sink, report).await?;
    progress(report.bytes);
    Ok(())
}

async fn flush(
    path: &Path,
    line: u64,
    items: &mut Vec<Parsed>,
    sink: &Sink,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let mut batch = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        match item {
            Parsed::Diagnostic(d) => report.diagnostics.push((path.to_owned(), d)),
            other => batch.push(other),
        }
    }
    let stored = sink
        .store(batch)
        .await
        .map_err(|source| ImportError::Store {
            path: path.to_owned(),
            line,
            source,
        })?;
    report.stored.records += stored.records;
    report.stored.deduplicated += stored.deduplicated;
    report.stored.dropped += stored.dropped;
    report.stored.redacted += stored.redacted;
    if stored.journal_end.is_some() {
        report.stored.journal_end = stored.journal_end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let input = b"short\nthis one is too long\n\nlast".to_vec();
        let mut reader = std::io::BufReader::with_capacity(4, input.as_slice());
        let mut line = Vec::new();
        let mut got = Vec::new();
        while let Some(r) = read_bounded_line(&mut reader, &mut line, 8).unwrap() {
            got.push((r, String::from_utf8(line.clone()).unwrap()));
        }
        assert_eq!(
            got,
            [
                (Ok(6), "short".to_owned()),
                (Err(21), String::new()),
                (Ok(1), String::new()),
                (Ok(4), "last".to_owned()),
            ]
        );
    }
}
