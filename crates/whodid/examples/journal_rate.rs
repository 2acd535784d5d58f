//! The journal's own append rate for the records of one source log, next
//! to which `bench/sources.sh` puts `whodid ingest` on the same file: the
//! file is parsed first (timed on its own: parse-only lines/s), then its
//! records are appended to a fresh journal exactly as `whodid ingest`
//! stores them — batches of 2,048, each waited for, under the fsync policy
//! of `$FSYNC` (`batch`, the default; `interval:100ms`; `never`) —
//! and that is timed.
//!
//! Usage: [FSYNC=batch] cargo run --release -p whodid --example journal_rate --
//!        <authlog|stderr|csvlog|jsonlog> <file> <fresh data dir> [log_line_prefix]
//! Prints one line of `key=value` figures.

use std::time::{Duration, Instant};

use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{parse_auth_log, AuthLogConfig};
use whodid_parse::pgaudit::{parse_pg_log, PgLogConfig, PgLogFormat};
use whodid_parse::Parsed;

/// `whodid ingest`'s batch (whodid_ingest::import::IMPORT_BATCH).
const BATCH: usize = 2048;

fn records<R>(parsed: Vec<Parsed<R>>) -> Vec<RecordInput> {
    parsed
        .into_iter()
        .map(|p| RecordInput {
            envelope: p.envelope.to_json(),
            raw: p.raw.into_bytes(),
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, file, data, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: journal_rate <authlog|stderr|csvlog|jsonlog> <file> <data dir> [prefix]".into(),
        );
    };
    let input = std::fs::read(file)?;
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    let reference = jiff::Timestamp::now();
    let started = Instant::now();
    let (stream, records) = if format == "authlog" {
        let batch = parse_auth_log(&input, AuthLogConfig::new(reference), KeyRegistry::new());
        (Stream::AuthLog, records(batch.records))
    } else {
        let format: PgLogFormat =
            serde_json::from_value(serde_json::Value::String(format.clone()))?;
        let mut config = PgLogConfig::new(format);
        if let Some(prefix) = rest.first() {
            config.log_line_prefix.clone_from(prefix);
        }
        let batch = parse_pg_log(&input, &config, reference)?;
        (Stream::PgAudit, records(batch.records))
    };
    let parse = started.elapsed();
    let count = records.len();
    let bytes: usize = records.iter().map(|r| r.envelope.len() + r.raw.len()).sum();

    let fsync = match std::env::var("FSYNC").as_deref() {
        Ok("batch") | Err(_) => FsyncPolicy::EveryBatch,
        Ok("never") => FsyncPolicy::Never,
        Ok("interval:100ms") => FsyncPolicy::Interval(Duration::from_millis(100)),
        Ok(other) => return Err(format!("FSYNC={other}: batch, never or interval:100ms").into()),
    };
    let journal = Journal::open(
        std::path::Path::new(data),
        JournalConfig {
            fsync,
            ..JournalConfig::default()
        },
    )?;
    let mut records = records.into_iter();
    let started = Instant::now();
    loop {
        let batch: Vec<RecordInput> = records.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        journal.append_wait(stream, batch)?;
    }
    let append = started.elapsed();
    journal.close()?;
    println!(
        "lines={lines} records={count} record_bytes={bytes} parse_s={:.3} append_s={:.3} parse_lines_per_s={:.0} append_records_per_s={:.0}",
        parse.as_secs_f64(),
        append.as_secs_f64(),
        lines as f64 / parse.as_secs_f64(),
        count as f64 / append.as_secs_f64(),
    );
    Ok(())
}
