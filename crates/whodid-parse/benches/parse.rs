//! Parse throughput in lines per second for each source format, on the
//! real fixtures of `testdata/` repeated to 4 MiB in memory: sshd/sudo/PAM
//! as classic syslog, RFC 3339 syslog and journal JSON (through
//! classification, attribution and envelopes, as ingest runs them), and
//! PostgreSQL stderr, csvlog and jsonlog (through AUDIT decoding,
//! redaction and envelopes).
//!
//! `bench/parse.sh` runs this beside `grep -c ''` over the same bytes, the
//! floor of what reading the lines costs. Goal (issue 6): ≥ 1 million sshd
//! lines/s per core.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{AuthLogConfig, AuthLogParser};
use whodid_parse::parsed::lines;
use whodid_parse::pgaudit::{PgAuditParser, PgLogConfig, PgLogFormat};

/// Inputs are fixtures repeated to at least this many bytes
/// (`bench/parse.sh` builds the same files for `grep`).
const TARGET_BYTES: usize = 4 << 20;

/// The fixture repeated until it is at least [`TARGET_BYTES`] long.
fn repeated(rel: &str) -> Vec<u8> {
    let once = whodid_testkit::testdata::read(rel);
    let copies = TARGET_BYTES.div_ceil(once.len());
    once.repeat(copies)
}

fn line_count(input: &[u8]) -> u64 {
    lines(input).count() as u64
}

fn bench_authlog(c: &mut Criterion) {
    let reference = "2026-11-23T00:00:00Z".parse().expect("time");
    let mut registry = KeyRegistry::new();
    registry
        .add_yaml(
            &String::from_utf8(whodid_testkit::testdata::read("ssh/keys.yaml")).expect("utf-8"),
        )
        .expect("keys.yaml");
    let mut group = c.benchmark_group("authlog");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (name, file) in [
        ("sshd_classic", "ssh/auth.log"),
        ("sshd_rfc3339", "ssh/auth-hiprec.log"),
        ("sshd_rfc5424", "ssh/auth-rfc5424.log"),
        ("sshd_journald_json", "ssh/journal.jsonl.gz"),
    ] {
        let input = repeated(file);
        group.throughput(Throughput::Elements(line_count(&input)));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut parser =
                    AuthLogParser::new(AuthLogConfig::new(reference), registry.clone());
                let mut records = 0u64;
                for (at, line) in lines(&input) {
                    parser.push_line(at, line, &mut |item| {
                        black_box(item);
                        records += 1;
                    });
                }
                records
            })
        });
    }
    group.finish();
}

fn bench_pgaudit(c: &mut Criterion) {
    let reference = "2026-11-23T00:00:00Z".parse().expect("time");
    let mut group = c.benchmark_group("pgaudit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (name, file, format) in [
        ("pg_stderr", "pgaudit/postgresql.log", PgLogFormat::Stderr),
        ("pg_csvlog", "pgaudit/postgresql.csv", PgLogFormat::Csvlog),
        (
            "pg_jsonlog",
            "pgaudit/postgresql.json",
            PgLogFormat::Jsonlog,
        ),
    ] {
        let input = repeated(file);
        let config = PgLogConfig::new(format);
        group.throughput(Throughput::Elements(line_count(&input)));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut parser = PgAuditParser::new(&config, reference).expect("config");
                let mut records = 0u64;
                let mut emit = |item| {
                    black_box(item);
                    records += 1;
                };
                for (at, line) in lines(&input) {
                    parser.push_line(at, line, &mut emit);
                }
                parser.finish(&mut emit);
                records
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_authlog, bench_pgaudit);
criterion_main!(benches);
