//! The real PostgreSQL 15 + pgaudit 1.7 logs of `testdata/pgaudit`: one
//! workload written to stderr, csvlog and jsonlog at once.

use std::collections::BTreeMap;
use std::path::Path;

use whodid_parse::pgaudit::csvlog::read_csvlog;
use whodid_parse::pgaudit::filter::PgAuditFilter;
use whodid_parse::pgaudit::jsonlog::read_jsonlog;
use whodid_parse::pgaudit::stderr::{read_stderr, LinePrefix};
use whodid_parse::pgaudit::{audit_records, Parameters, PgAuditRecord, PgLogRecord};

fn read(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/pgaudit")
            .join(name),
    )
    .unwrap()
}

/// The `log_line_prefix` from the cluster's configuration lines.
fn configured_prefix() -> LinePrefix {
    let conf = read("postgresql.conf.fixture-lines");
    let line = conf
        .lines()
        .find(|l| l.starts_with("log_line_prefix"))
        .unwrap();
    let value = line.split_once('=').unwrap().1.trim().trim_matches('\'');
    LinePrefix::compile(value)
}

fn logs() -> Vec<(&'static str, Vec<PgLogRecord>)> {
    let (stderr, e1) = read_stderr(&read("postgresql.log"), &configured_prefix());
    let (csv, e2) = read_csvlog(&read("postgresql.csv"));
    let (json, e3) = read_jsonlog(&read("postgresql.json"));
    assert!(
        e1.is_empty() && e2.is_empty() && e3.is_empty(),
        "{e1:?} {e2:?} {e3:?}"
    );
    vec![("stderr", stderr), ("csvlog", csv), ("jsonlog", json)]
}

fn audits(records: Vec<PgLogRecord>) -> Vec<PgAuditRecord> {
    let (audits, errors) = audit_records(records);
    assert!(errors.is_empty(), "{errors:?}");
    audits
}

#[test]
fn all_three_destinations_hold_the_same_271_records_and_143_audits() {
    let mut per_format = Vec::new();
    for (name, records) in logs() {
        assert_eq!(records.len(), 271, "{name}");
        let audits = audits(records);
        assert_eq!(audits.len(), 143, "{name}");
        per_format.push((name, audits));
    }
    let (_, reference) = &per_format[0];
    for (name, audits) in &per_format[1..] {
        for (a, b) in reference.iter().zip(audits) {
            assert_eq!(a.audit, b.audit, "{name} differs from stderr");
            assert_eq!(
                (&a.log.user, &a.log.database, a.log.pid, a.log.time),
                (&b.log.user, &b.log.database, b.log.pid, b.log.time),
                "{name}"
            );
        }
    }
}

#[test]
fn census_matches_the_fixture_readme() {
    let (_, csv) = logs().remove(1);
    let audits = audits(csv);
    let mut by_type: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in &audits {
        *by_type
            .entry((a.log.user.clone(), a.audit.audit_type.clone()))
            .or_default() += 1;
    }
    let expected: BTreeMap<(String, String), usize> = [
        ("app_service", "OBJECT", 7),
        ("dba_alice", "OBJECT", 19),
        ("dba_alice", "SESSION", 25),
        ("dba_bob", "OBJECT", 4),
        ("dba_bob", "SESSION", 12),
        ("migration", "SESSION", 28),
        ("postgres", "OBJECT", 8),
        ("postgres", "SESSION", 40),
    ]
    .into_iter()
    .map(|(u, t, n)| ((u.to_owned(), t.to_owned()), n))
    .collect();
    assert_eq!(by_type, expected);
    let users_table = audits
        .iter()
        .filter(|a| a.audit.object_name == "app.users")
        .count();
    assert_eq!(users_table, 60);
    let emails = audits
        .iter()
        .filter(|a| a.audit.object_name == "app.\"emailsSent\"")
        .count();
    assert_eq!(emails, 12);
}

#[test]
fn nested_csv_parameters_and_multiline_statements_decode() {
    let (_, stderr) = logs().remove(0);
    let audits = audits(stderr);
    let update = audits
        .iter()
        .find(|a| {
            a.audit
                .statement
                .starts_with("UPDATE app.users SET email = 'anon-'")
        })
        .expect("the UPDATE inside app.anonymize_user");
    assert_eq!(
        update.audit.parameters,
        Parameters::Values(vec!["3".into(), String::new()])
    );
    let insert = audits
        .iter()
        .find(|a| a.audit.statement.contains("O''Brien, Pat \"Paddy\""))
        .expect("the multi-line INSERT with quotes");
    assert!(insert
        .audit
        .statement
        .contains("line one, with comma\nline two"));
    assert!(
        insert.audit.statement.contains("a tab\there"),
        "the statement's own tab survives"
    );
}

#[test]
fn persons_on_app_users_not_the_application() {
    let (_, json) = logs().remove(2);
    let audits = audits(json);
    let filter: PgAuditFilter = serde_json::from_value(serde_json::json!({
        "include_objects": ["app.users"],
        "exclude_users": ["app_service"],
        "classes": ["WRITE"]
    }))
    .unwrap();
    let kept: Vec<&PgAuditRecord> = audits.iter().filter(|a| filter.keeps(a)).collect();
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|a| a.log.user != "app_service"
        && a.audit.object_name == "app.users"
        && a.audit.class == "WRITE"));
    assert!(
        audits.iter().any(|a| a.log.user == "app_service"),
        "the application did produce records"
    );
}

#[test]
fn bad_input_is_reported_with_its_line() {
    let prefix = configured_prefix();
    let (records, errors) = read_stderr(
        "garbage\n\u{0}\u{1}binary\n2026-11-22 18:25:45.435 UTC [1] u@d LOG:  AUDIT: SESSION,1\n",
        &prefix,
    );
    assert_eq!(errors.len(), 2);
    let (_, audit_errors) = audit_records(records);
    assert_eq!(audit_errors.len(), 1);
    let (_, csv_errors) = read_csvlog("2026-11-22 18:25:45.435 UTC,\"broken quote\n");
    assert_eq!(csv_errors.len(), 1);
}
