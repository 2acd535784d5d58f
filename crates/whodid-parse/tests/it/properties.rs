//! Whatever the bytes, the parsers do not panic, and every line is
//! accounted for (a record, a skip or a diagnostic — or, for multi-line
//! formats, part of one).

use proptest::prelude::*;
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{parse_auth_log, AuthLogConfig};
use whodid_parse::kube::envelope;
use whodid_parse::pgaudit::{parse_audit, parse_pg_log, PgLogConfig, PgLogFormat};

use crate::common::testdata;

fn reference() -> jiff::Timestamp {
    "2026-11-23T00:00:00Z".parse().unwrap()
}

fn all_parsers(input: &[u8]) {
    let batch = parse_auth_log(input, AuthLogConfig::new(reference()), KeyRegistry::new());
    let s = batch.stats;
    assert_eq!(s.records + s.skipped + s.diagnostics, s.lines);
    for format in [
        PgLogFormat::Stderr,
        PgLogFormat::Csvlog,
        PgLogFormat::Jsonlog,
        PgLogFormat::Syslog,
    ] {
        let batch = parse_pg_log(input, &PgLogConfig::new(format), reference()).unwrap();
        assert!(batch.stats.records + batch.stats.diagnostics <= batch.stats.lines + 1);
    }
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = parse_audit(text);
        if let Ok(event) = serde_json::from_str(text) {
            let _ = envelope(&event);
        }
    }
}

/// Lines of the real fixtures, to mutate.
fn fixture_lines() -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for file in [
        "ssh/auth.log",
        "ssh/auth-rfc5424.log",
        "pgaudit/postgresql.log",
        "pgaudit/postgresql.csv",
        "pgaudit/postgresql.json",
    ] {
        lines.extend(testdata(file).split(|&b| b == b'\n').map(<[u8]>::to_vec));
    }
    let journal = testdata("ssh/journal.jsonl.gz");
    lines.extend(journal.split(|&b| b == b'\n').take(50).map(<[u8]>::to_vec));
    lines
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_parsers(&input);
    }

    #[test]
    fn arbitrary_text_with_syslog_and_csv_characters(input in "[<>0-9A-Za-z :\\[\\]\"',;{}\t\n.=-]{0,400}") {
        all_parsers(input.as_bytes());
    }

    #[test]
    fn mutated_real_lines(picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..40)) {
        let lines = fixture_lines();
        let mut input = Vec::new();
        for (line, position, byte, how) in picks {
            let mut line = lines[line.index(lines.len())].clone();
            if !line.is_empty() {
                let at = position.index(line.len());
                match how {
                    0 => line.truncate(at),
                    1 => line[at] = byte,
                    _ => line.insert(at, byte),
                }
            }
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
        all_parsers(&input);
    }
}
