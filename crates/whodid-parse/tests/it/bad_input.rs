//! Bad input is reported with its line and byte offset, and costs nothing
//! else: truncated lines, binary garbage, 1 MB lines, unknown shapes, a
//! csvlog with a broken quote, a log_line_prefix that does not match.

use whodid_parse::authlog::{parse_auth_log, AuthLogConfig};
use whodid_parse::pgaudit::{parse_pg_log, PgLogConfig, PgLogError, PgLogFormat};
use whodid_parse::{DiagnosticKind, Position};

use crate::authlog_fixtures::{config, registry};
use crate::common::testdata;

/// `base` with `insert` put before the lines numbered in `at` (1-based,
/// in the original), and where those bad lines end up.
fn inject(base: &[u8], insert: &[(usize, Vec<u8>)]) -> (Vec<u8>, Vec<u64>) {
    let mut out = Vec::new();
    let mut bad_lines = Vec::new();
    let mut line_no = 0u64;
    for (index, line) in base.split_inclusive(|&b| b == b'\n').enumerate() {
        for (at, bad) in insert {
            if *at == index + 1 {
                out.extend_from_slice(bad);
                out.push(b'\n');
                line_no += 1;
                bad_lines.push(line_no);
            }
        }
        out.extend_from_slice(line);
        line_no += 1;
    }
    (out, bad_lines)
}

/// The first 120 characters of the line at `offset`.
fn excerpt_at(input: &[u8], offset: u64) -> String {
    let start = usize::try_from(offset).unwrap();
    assert!(
        start == 0 || input[start - 1] == b'\n',
        "offset {start} is not a line start"
    );
    let line = input[start..].split(|&b| b == b'\n').next().unwrap();
    String::from_utf8_lossy(&line[..line.len().min(480)])
        .chars()
        .take(120)
        .collect()
}

#[test]
fn auth_log_with_garbage_keeps_every_record() {
    let base = testdata("ssh/auth.log");
    let bad: Vec<(usize, Vec<u8>)> = vec![
        (
            1,
            b"Nov 22 18:24:03 vm sshd[5172]: Accepted publickey for ubuntu from 127.0.0".to_vec(),
        ),
        (3, vec![0xff, 0xfe, 0x00, 0x01, b'x', 0x80]),
        (10, vec![b'A'; 1 << 20]),
        (20, b"Nov 22 18:2".to_vec()),
        (
            30,
            b"Nov 22 18:24:05 vm sudo:   ubuntu : TTY=pts/0 ; PWD=/root ; USER=r".to_vec(),
        ),
        (40, b"{\"__REALTIME_TIMESTAMP\":\"17953718".to_vec()),
        (50, b"<38>1 2026-11-22T18:24:03Z".to_vec()),
    ];
    let (input, bad_lines) = inject(&base, &bad);
    let batch = parse_auth_log(&input, config(), registry());
    assert_eq!(batch.records.len(), 138, "every real record is still there");
    let lines: Vec<u64> = batch.diagnostics.iter().map(|d| d.position.line).collect();
    assert_eq!(lines, bad_lines);
    let kinds: Vec<String> = batch
        .diagnostics
        .iter()
        .map(|d| d.kind.to_string())
        .collect();
    assert_eq!(kinds[0], "malformed sshd message (Accepted)");
    assert!(kinds[1].starts_with("not UTF-8"), "{}", kinds[1]);
    assert_eq!(
        batch.diagnostics[2].kind,
        DiagnosticKind::TooLong {
            bytes: 1 << 20,
            max: 64 * 1024
        }
    );
    assert!(batch.diagnostics[2].excerpt.len() <= 120);
    assert!(kinds[3].starts_with("bad timestamp"), "{}", kinds[3]);
    assert_eq!(kinds[4], "malformed sudo message (user : … COMMAND=)");
    assert!(
        kinds[5].starts_with("journal entry is not JSON"),
        "{}",
        kinds[5]
    );
    assert_eq!(kinds[6], "truncated line: no host");
    // Byte offsets point at the bad lines: the excerpt is their start.
    for d in &batch.diagnostics {
        assert_eq!(d.excerpt, excerpt_at(&input, d.position.offset), "{d}");
    }
    assert_eq!(batch.stats.diagnostics, 7);
    assert_eq!(batch.stats.lines, 437 + 7);
}

#[test]
fn unknown_programs_and_shapes_are_skipped_not_errors() {
    let text = "Nov 22 18:24:03 vm CRON[1]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n\
                Nov 22 18:24:03 vm kernel: [ 1.0] something\n\
                Nov 22 18:24:03 vm sshd[1]: Some message of a newer sshd\n\
                Nov 22 18:24:03 vm last message repeated 3 times\n\
                \n";
    let batch = parse_auth_log(
        text.as_bytes(),
        AuthLogConfig::new("2026-11-23T00:00:00Z".parse().unwrap()),
        registry(),
    );
    assert!(batch.diagnostics.is_empty(), "{:?}", batch.diagnostics);
    assert_eq!((batch.stats.records, batch.stats.skipped), (1, 4));
}

fn pg(
    format: PgLogFormat,
    input: &[u8],
) -> whodid_parse::Batch<whodid_parse::pgaudit::PgAuditRecord> {
    parse_pg_log(
        input,
        &PgLogConfig::new(format),
        "2026-11-23T00:00:00Z".parse().unwrap(),
    )
    .unwrap()
}

#[test]
fn stderr_with_garbage_and_a_wrong_prefix() {
    let base = testdata("pgaudit/postgresql.log");
    let bad = vec![
        (1, b"\tcontinuation before any record".to_vec()),
        (40, b"garbage in the middle".to_vec()),
        (100, vec![0xc3, 0x28, b'\t', 0xa0]),
        (
            120,
            b"2026-11-22 18:25:45.435 UTC [8012] postgres@postgres LOG:  AUDIT: SESSION,1".to_vec(),
        ),
        (200, vec![b'x'; 1 << 20]),
    ];
    let (input, bad_lines) = inject(&base, &bad);
    let batch = pg(PgLogFormat::Stderr, &input);
    assert_eq!(batch.records.len(), 143);
    let lines: Vec<u64> = batch.diagnostics.iter().map(|d| d.position.line).collect();
    assert_eq!(lines, bad_lines);
    assert_eq!(batch.diagnostics[0].kind, PgLogError::Orphan.into());
    assert!(matches!(
        batch.diagnostics[1].kind,
        DiagnosticKind::PgLog(PgLogError::PrefixMismatch { .. })
    ));
    assert!(matches!(
        batch.diagnostics[2].kind,
        DiagnosticKind::NotUtf8 { column: 0 }
    ));
    assert!(matches!(
        batch.diagnostics[3].kind,
        DiagnosticKind::Audit(_)
    ));
    // A 1 MB line is not a record start; a record may be that long.
    assert!(matches!(
        batch.diagnostics[4].kind,
        DiagnosticKind::PgLog(PgLogError::PrefixMismatch { .. })
    ));
    for d in &batch.diagnostics {
        assert_eq!(d.excerpt, excerpt_at(&input, d.position.offset), "{d}");
    }
    let mut small = PgLogConfig::new(PgLogFormat::Stderr);
    small.max_record_bytes = 64 * 1024;
    let limited = parse_pg_log(&input, &small, "2026-11-23T00:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(limited.records.len(), 143);
    assert_eq!(
        limited.diagnostics[4].kind,
        DiagnosticKind::TooLong {
            bytes: 1 << 20,
            max: 64 * 1024
        }
    );

    // The server's prefix is not the configured one: every line says so.
    let mut config = PgLogConfig::new(PgLogFormat::Stderr);
    config.log_line_prefix = "%t [%p]: [%l-1] user=%u,db=%d ".to_owned();
    let wrong = parse_pg_log(&base, &config, "2026-11-23T00:00:00Z".parse().unwrap()).unwrap();
    assert!(wrong.records.is_empty());
    let mismatches = wrong
        .diagnostics
        .iter()
        .filter(|d| matches!(&d.kind, DiagnosticKind::PgLog(PgLogError::PrefixMismatch { prefix }) if prefix == "%t [%p]: [%l-1] user=%u,db=%d "))
        .count();
    assert_eq!(
        mismatches,
        394 - 113,
        "every line that is not a TAB continuation"
    );
    assert!(
        wrong.diagnostics[0]
            .to_string()
            .starts_with("line 1 (byte 0): does not match log_line_prefix"),
        "{}",
        wrong.diagnostics[0]
    );
}

#[test]
fn csvlog_with_a_broken_quote_loses_one_record() {
    let base = testdata("pgaudit/postgresql.csv");
    let text = String::from_utf8(base).unwrap();
    // Break the closing quote of the first AUDIT message.
    let at = text.find(",<none>\",").unwrap();
    let broken = format!("{}{}", &text[..at + 7], &text[at + 8..]);
    let batch = pg(PgLogFormat::Csvlog, broken.as_bytes());
    assert_eq!(batch.records.len(), 142);
    assert_eq!(batch.diagnostics.len(), 1, "{:?}", batch.diagnostics);
    let d = &batch.diagnostics[0];
    assert!(
        matches!(d.kind, DiagnosticKind::PgLog(PgLogError::Csv(_))),
        "{d}"
    );
    let line_of_break = broken[..at].matches('\n').count() as u64 + 1;
    assert_eq!(
        d.position,
        Position {
            line: line_of_break,
            offset: broken[..at].rfind('\n').map_or(0, |i| i as u64 + 1)
        }
    );
}

#[test]
fn jsonlog_with_garbage() {
    let base = testdata("pgaudit/postgresql.json");
    let bad = vec![(5, b"{\"timestamp\": 1".to_vec()), (50, b"[]".to_vec()), (60, b"{\"timestamp\":\"2026-11-22 18:25:45 XYZT\",\"error_severity\":\"LOG\",\"message\":\"AUDIT: x\"}".to_vec())];
    let (input, bad_lines) = inject(&base, &bad);
    let batch = pg(PgLogFormat::Jsonlog, &input);
    assert_eq!(batch.records.len(), 143);
    assert_eq!(
        batch
            .diagnostics
            .iter()
            .map(|d| d.position.line)
            .collect::<Vec<_>>(),
        bad_lines
    );
    assert_eq!(
        batch.diagnostics[2].kind.to_string(),
        "unknown time zone abbreviation \"XYZT\" (configure its offset)"
    );
}

/// A real AUDIT row of `base` (format `format`) with its AUDIT payload
/// replaced by a shape pgaudit does not write (too few fields).
fn unknown_audit_shape(base: &str, marker: &str) -> Vec<u8> {
    let row = base
        .lines()
        .find(|l| l.contains(marker))
        .expect("an AUDIT row");
    let start = row.find(marker).unwrap();
    let end = start + row[start..].find("\",").unwrap();
    format!("{}AUDIT: SESSION,1,1,READ{}", &row[..start], &row[end..]).into_bytes()
}

/// The first line at or after `line` (1-based) where a record starts: a
/// line beginning with a log timestamp (csvlog) or `{` (jsonlog).
fn record_start(text: &str, line: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(line - 1)
        .find(|(_, l)| l.starts_with("2026-") || l.starts_with('{'))
        .map(|(i, _)| i + 1)
        .unwrap()
}

/// Cuts `text` inside the last AUDIT record (a log read while the server
/// is still writing it): the 1-based line where the cut record starts.
fn torn_at_last_audit(text: &str, inside: &str) -> (Vec<u8>, u64) {
    let at = text.rfind(inside).unwrap() + inside.len() / 2;
    let cut = &text[..at];
    (
        cut.as_bytes().to_vec(),
        cut.matches('\n').count() as u64 + 1,
    )
}

#[test]
fn csvlog_with_binary_huge_unknown_shape_and_a_torn_tail() {
    let text = String::from_utf8(testdata("pgaudit/postgresql.csv")).unwrap();
    let (torn, torn_line) =
        torn_at_last_audit(&text, "DROP TABLE app.audit_demo_long;,<not logged>");
    // Between records: inside a quoted multi-line field, a line is text.
    let bad = vec![
        (
            record_start(&text, 10),
            vec![0xff, 0xfe, 0x00, b',', b'"', 0x80],
        ),
        (record_start(&text, 50), vec![b'x'; 1 << 20]),
        (
            record_start(&text, 100),
            unknown_audit_shape(&text, "AUDIT: "),
        ),
    ];
    let (input, mut bad_lines) = inject(&torn, &bad);
    bad_lines.push(torn_line + 3);
    let batch = pg(PgLogFormat::Csvlog, &input);
    assert_eq!(batch.records.len(), 143 - 1, "only the torn record is lost");
    let lines: Vec<u64> = batch.diagnostics.iter().map(|d| d.position.line).collect();
    assert_eq!(lines, bad_lines, "{:#?}", batch.diagnostics);
    let kinds: Vec<&DiagnosticKind> = batch.diagnostics.iter().map(|d| &d.kind).collect();
    assert!(
        matches!(kinds[0], DiagnosticKind::NotUtf8 { .. }),
        "{kinds:?}"
    );
    assert!(matches!(kinds[1], DiagnosticKind::PgLog(_)), "{kinds:?}");
    assert_eq!(
        kinds[2].to_string(),
        "AUDIT payload has 4 fields, expected 8 or 9"
    );
    assert!(
        matches!(kinds[3], DiagnosticKind::PgLog(PgLogError::Csv(_))),
        "{kinds:?}"
    );
    assert!(batch.diagnostics[1].excerpt.len() <= 120);
    assert_eq!(batch.stats.diagnostics, 4);
}

#[test]
fn jsonlog_with_binary_huge_unknown_shape_and_a_torn_tail() {
    let text = String::from_utf8(testdata("pgaudit/postgresql.json")).unwrap();
    let (torn, torn_line) =
        torn_at_last_audit(&text, "DROP TABLE app.audit_demo_long;,<not logged>");
    let huge_noise = format!(
        "{{\"timestamp\":\"2026-11-22 18:25:45.892 UTC\",\"error_severity\":\"LOG\",\"message\":\"{}\"}}",
        "y".repeat(1 << 20)
    );
    let bad = vec![
        (10, vec![0xff, 0xfe, b'{', 0x80]),
        (50, vec![b'x'; 1 << 20]),
        (100, unknown_audit_shape(&text, "AUDIT: ")),
    ];
    let (mut input, mut bad_lines) = inject(&torn, &bad);
    bad_lines.push(torn_line + 3);
    // A 1 MB record that is valid JSON but no AUDIT: skipped, not an error.
    let (with_noise, _) = inject(&input, &[(200, huge_noise.into_bytes())]);
    input = with_noise;
    let torn_line_after_noise = bad_lines.pop().unwrap() + 1;
    bad_lines.push(torn_line_after_noise);
    let batch = pg(PgLogFormat::Jsonlog, &input);
    assert_eq!(batch.records.len(), 143 - 1, "only the torn record is lost");
    let lines: Vec<u64> = batch.diagnostics.iter().map(|d| d.position.line).collect();
    assert_eq!(lines, bad_lines, "{:#?}", batch.diagnostics);
    assert!(matches!(
        batch.diagnostics[0].kind,
        DiagnosticKind::NotUtf8 { .. }
    ));
    assert_eq!(
        batch.diagnostics[2].kind.to_string(),
        "AUDIT payload has 4 fields, expected 8 or 9"
    );
    assert_eq!(batch.stats.lines, torn_line + 4, "{:?}", batch.stats);
}
