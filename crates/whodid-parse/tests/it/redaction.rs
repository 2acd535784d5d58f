//! Passwords in role statements never leave the parser: not in the record,
//! not in the raw text, and the envelope says what was removed. pgaudit
//! 1.7 redacts its own lines (the real fixtures); these lines are what an
//! older pgaudit writes (SYNTHETIC: the real fixture's lines with the
//! password put back), in each format.

use whodid_parse::pgaudit::{parse_pg_log, PgAuditRecord, PgLogConfig, PgLogFormat};
use whodid_parse::Batch;

const SECRET: &str = "s3cr3t, \"q\" it''s";

fn parse(format: PgLogFormat, text: &str) -> Batch<PgAuditRecord> {
    parse_pg_log(
        text.as_bytes(),
        &PgLogConfig::new(format),
        "2026-11-23T00:00:00Z".parse().unwrap(),
    )
    .unwrap()
}

fn check(batch: &Batch<PgAuditRecord>, format: PgLogFormat) {
    assert!(
        batch.diagnostics.is_empty(),
        "{format:?}: {:?}",
        batch.diagnostics
    );
    assert_eq!(batch.records.len(), 2, "{format:?}");
    for p in &batch.records {
        for needle in ["s3cr3t", "it''s", "Passw0rd"] {
            assert!(!p.raw.contains(needle), "{format:?} raw: {}", p.raw);
            assert!(
                !p.record.audit.statement.contains(needle),
                "{format:?}: {}",
                p.record.audit.statement
            );
        }
        assert!(p.record.audit.redacted);
        assert_eq!(p.envelope.redacted, ["statement:password"]);
        assert!(
            p.record.audit.statement.contains("PASSWORD '<redacted>'"),
            "{}",
            p.record.audit.statement
        );
    }
    assert!(batch.records[0]
        .record
        .audit
        .statement
        .ends_with("VALID UNTIL '2030-01-01'"));
}

#[test]
fn stderr() {
    let text = format!(
        "2026-11-22 18:25:45.502 UTC [8013] postgres@appdb LOG:  AUDIT: SESSION,9,1,ROLE,CREATE ROLE,,,\"CREATE ROLE dba_bob LOGIN PASSWORD '{}' VALID UNTIL '2030-01-01'\",<none>\n\
         2026-11-22 18:25:45.968 UTC [8022] postgres@appdb LOG:  AUDIT: SESSION,3,1,ROLE,ALTER ROLE,,,\"ALTER ROLE dba_bob WITH\n\
         \tENCRYPTED PASSWORD $x$Passw0rd$x$;\",<none>\n",
        SECRET.replace('"', "\"\"")
    );
    check(&parse(PgLogFormat::Stderr, &text), PgLogFormat::Stderr);
}

#[test]
fn csvlog() {
    let audit = |statement: &str| {
        format!(
            "AUDIT: SESSION,9,1,ROLE,CREATE ROLE,,,\"{}\",<none>",
            statement.replace('"', "\"\"")
        )
    };
    let row = |statement: &str| {
        format!(
            "2026-11-22 18:25:45.502 UTC,\"postgres\",\"appdb\",8013,\"[local]\",6b0333a9.1f4d,12,\"CREATE ROLE\",2026-11-22 18:25:45 UTC,4/20,0,LOG,00000,\"{}\",,,,,,,,,\"psql\",\"client backend\",,0",
            audit(statement).replace('"', "\"\"")
        )
    };
    let text = format!(
        "{}\n{}\n",
        row(&format!(
            "CREATE ROLE dba_bob LOGIN PASSWORD '{SECRET}' VALID UNTIL '2030-01-01'"
        )),
        row("ALTER ROLE dba_bob WITH\nENCRYPTED PASSWORD $x$Passw0rd$x$;")
    );
    check(&parse(PgLogFormat::Csvlog, &text), PgLogFormat::Csvlog);
}

#[test]
fn jsonlog() {
    let line = |statement: &str| {
        let message = format!(
            "AUDIT: SESSION,9,1,ROLE,CREATE ROLE,,,\"{}\",<none>",
            statement.replace('"', "\"\"")
        );
        serde_json::json!({"timestamp": "2026-11-22 18:25:45.502 UTC", "user": "postgres", "dbname": "appdb", "pid": 8013, "error_severity": "LOG", "message": message}).to_string()
    };
    let text = format!(
        "{}\n{}\n",
        line(&format!(
            "CREATE ROLE dba_bob LOGIN PASSWORD '{SECRET}' VALID UNTIL '2030-01-01'"
        )),
        line("ALTER ROLE dba_bob WITH\nENCRYPTED PASSWORD E'Passw0rd\\'s';")
    );
    check(&parse(PgLogFormat::Jsonlog, &text), PgLogFormat::Jsonlog);
}

#[test]
fn errors_and_statements_are_never_records() {
    // PostgreSQL's own error lines are not redacted (fixture line 262):
    // they are skipped, never handed out.
    let text = "2026-11-22 18:25:45.980 UTC [8022] postgres@appdb ERROR:  role \"nosuch_role\" does not exist\n\
                2026-11-22 18:25:45.980 UTC [8022] postgres@appdb STATEMENT:  ALTER ROLE nosuch_role PASSWORD 'leaked-in-error?';\n";
    let batch = parse(PgLogFormat::Stderr, text);
    assert!(batch.records.is_empty() && batch.diagnostics.is_empty());
    assert_eq!(batch.stats.skipped, 1);
}
