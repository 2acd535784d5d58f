//! The real PostgreSQL 15 + pgaudit 1.7 logs of `testdata/pgaudit`: one
//! workload written to stderr, csvlog and jsonlog at once. Counts are the
//! fixture README's (produced by its `analyze_audit.py`).

use std::collections::BTreeMap;

use whodid_model::{ActorKind, Outcome};
use whodid_parse::pgaudit::{
    parse_pg_log, Parameters, PgAuditFilter, PgAuditRecord, PgLogConfig, PgLogFormat,
};
use whodid_parse::{Batch, Parsed};

use crate::common::{check_golden, golden_lines, records_of, testdata, testdata_text};

/// The `log_line_prefix` from the cluster's configuration lines.
fn configured_prefix() -> String {
    let conf = testdata_text("pgaudit/postgresql.conf.fixture-lines");
    let line = conf
        .lines()
        .find(|l| l.starts_with("log_line_prefix"))
        .unwrap();
    line.split_once('=')
        .unwrap()
        .1
        .trim()
        .trim_matches('\'')
        .to_owned()
}

pub(crate) fn parse(format: PgLogFormat) -> Batch<PgAuditRecord> {
    let (file, mut config) = match format {
        PgLogFormat::Stderr => ("postgresql.log", PgLogConfig::new(format)),
        PgLogFormat::Csvlog => ("postgresql.csv", PgLogConfig::new(format)),
        PgLogFormat::Jsonlog => ("postgresql.json", PgLogConfig::new(format)),
        PgLogFormat::Syslog => unreachable!("no syslog fixture here"),
    };
    config.log_line_prefix = configured_prefix();
    config.host = "db-1".to_owned();
    parse_pg_log(
        &testdata(&format!("pgaudit/{file}")),
        &config,
        "2026-11-23T00:00:00Z".parse().unwrap(),
    )
    .unwrap()
}

const FORMATS: [PgLogFormat; 3] = [
    PgLogFormat::Stderr,
    PgLogFormat::Csvlog,
    PgLogFormat::Jsonlog,
];

#[test]
fn every_format_holds_271_log_records_and_143_audits() {
    for (format, lines) in FORMATS.into_iter().zip([394, 384, 271]) {
        let batch = parse(format);
        assert!(
            batch.diagnostics.is_empty(),
            "{format:?}: {:?}",
            batch.diagnostics
        );
        assert_eq!(batch.stats.lines, lines, "{format:?}");
        assert_eq!(batch.stats.records, 143, "{format:?}");
        assert_eq!(
            batch.stats.skipped,
            271 - 143,
            "{format:?}: non-AUDIT log records"
        );
    }
}

#[test]
fn the_three_formats_yield_the_same_records() {
    let [stderr, csv, json] = FORMATS.map(parse);
    // csvlog and jsonlog carry the same columns: identical records.
    assert_eq!(records_of(&csv), records_of(&json));
    // The stderr prefix (`%m [%p] %q%u@%d `) has no client, application or
    // session id; everything else is the same.
    for (s, c) in stderr.records.iter().zip(&csv.records) {
        let mut c = c.record.clone();
        c.client.clear();
        c.application.clear();
        c.session_id.clear();
        assert_eq!(s.record, c);
    }
    let envelopes = |b: &Batch<PgAuditRecord>| {
        b.records
            .iter()
            .map(|p| p.envelope.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(envelopes(&csv), envelopes(&json));
}

#[test]
fn census_matches_the_fixture_readme() {
    let batch = parse(PgLogFormat::Csvlog);
    let records: Vec<&PgAuditRecord> = batch.records.iter().map(|p| &p.record).collect();
    let mut by_user_type: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut by_class_command: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    let mut by_object: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in &records {
        *by_user_type
            .entry((&r.user, &r.audit.audit_type))
            .or_default() += 1;
        *by_class_command
            .entry((&r.audit.audit_type, &r.audit.class, &r.audit.command))
            .or_default() += 1;
        *by_object
            .entry((&r.audit.object_type, &r.audit.object_name))
            .or_default() += 1;
    }
    assert_eq!(
        by_user_type,
        BTreeMap::from([
            (("app_service", "OBJECT"), 7),
            (("dba_alice", "OBJECT"), 19),
            (("dba_alice", "SESSION"), 25),
            (("dba_bob", "OBJECT"), 4),
            (("dba_bob", "SESSION"), 12),
            (("migration", "SESSION"), 28),
            (("postgres", "OBJECT"), 8),
            (("postgres", "SESSION"), 40),
        ])
    );
    let expected_commands: BTreeMap<(&str, &str, &str), usize> = [
        ("OBJECT", "READ", "SELECT", 17),
        ("OBJECT", "WRITE", "INSERT", 8),
        ("OBJECT", "WRITE", "UPDATE", 13),
        ("SESSION", "DDL", "ALTER SEQUENCE", 2),
        ("SESSION", "DDL", "ALTER SYSTEM", 1),
        ("SESSION", "DDL", "ALTER TABLE", 4),
        ("SESSION", "DDL", "COMMENT", 1),
        ("SESSION", "DDL", "CREATE DATABASE", 1),
        ("SESSION", "DDL", "CREATE EXTENSION", 1),
        ("SESSION", "DDL", "CREATE FUNCTION", 1),
        ("SESSION", "DDL", "CREATE INDEX", 4),
        ("SESSION", "DDL", "CREATE SCHEMA", 1),
        ("SESSION", "DDL", "CREATE SEQUENCE", 2),
        ("SESSION", "DDL", "CREATE TABLE", 6),
        ("SESSION", "DDL", "CREATE VIEW", 1),
        ("SESSION", "DDL", "DROP TABLE", 4),
        ("SESSION", "DDL", "DROP VIEW", 1),
        ("SESSION", "FUNCTION", "DO", 1),
        ("SESSION", "FUNCTION", "EXECUTE", 1),
        ("SESSION", "MISC", "RESET", 1),
        ("SESSION", "MISC", "SET", 7),
        ("SESSION", "READ", "SELECT", 10),
        ("SESSION", "ROLE", "ALTER ROLE", 7),
        ("SESSION", "ROLE", "CREATE ROLE", 7),
        ("SESSION", "ROLE", "DROP ROLE", 2),
        ("SESSION", "ROLE", "GRANT", 8),
        ("SESSION", "ROLE", "GRANT ROLE", 1),
        ("SESSION", "ROLE", "REVOKE", 1),
        ("SESSION", "ROLE", "REVOKE ROLE", 1),
        ("SESSION", "WRITE", "INSERT", 12),
        ("SESSION", "WRITE", "PREPARE", 2),
        ("SESSION", "WRITE", "TRUNCATE TABLE", 1),
        ("SESSION", "WRITE", "UPDATE", 13),
    ]
    .into_iter()
    .map(|(t, c, m, n)| ((t, c, m), n))
    .collect();
    assert_eq!(by_class_command, expected_commands);
    let expected_objects: BTreeMap<(&str, &str), usize> = [
        ("", "", 38),
        ("FUNCTION", "app.anonymize_user", 1),
        ("FUNCTION", "app.anonymize_user(bigint)", 1),
        ("INDEX", "app.\"emailsSent_pkey\"", 1),
        ("INDEX", "app.emails_sent_user_idx", 1),
        ("INDEX", "app.users_email_key", 1),
        ("INDEX", "app.users_pkey", 1),
        ("SCHEMA", "", 1),
        ("SCHEMA", "app", 1),
        ("SEQUENCE", "", 1),
        ("SEQUENCE", "app.\"emailsSent_id_seq\"", 2),
        ("SEQUENCE", "app.users_id_seq", 2),
        ("TABLE", "", 6),
        ("TABLE", "app.\"emailsSent\"", 12),
        ("TABLE", "app.audit_demo_long", 2),
        ("TABLE", "app.tmp_import", 1),
        ("TABLE", "app.tmp_import_old", 2),
        ("TABLE", "app.users", 60),
        ("TABLE", "pg_catalog.pg_am", 1),
        ("TABLE", "pg_catalog.pg_class", 1),
        ("TABLE", "pg_catalog.pg_namespace", 1),
        ("TABLE", "public.after_extension", 2),
        ("TABLE", "public.before_extension", 1),
        ("VIEW", "app.active_users", 3),
    ]
    .into_iter()
    .map(|(t, n, c)| ((t, n), c))
    .collect();
    assert_eq!(by_object, expected_objects);
    let parameter_kinds = |kind: &Parameters| {
        records
            .iter()
            .filter(|r| std::mem::discriminant(&r.audit.parameters) == std::mem::discriminant(kind))
            .count()
    };
    assert_eq!(
        parameter_kinds(&Parameters::NotLogged),
        6,
        "part 3 runs with log_parameter off"
    );
    assert_eq!(
        parameter_kinds(&Parameters::PreviouslyLogged),
        2,
        "log_statement_once"
    );
    assert!(records
        .iter()
        .all(|r| r.audit.statement != "<previously logged>"
            || r.audit.parameters == Parameters::PreviouslyLogged));
}

#[test]
fn nested_csv_parameters_and_multi_line_statements_decode() {
    let batch = parse(PgLogFormat::Stderr);
    let audits: Vec<&PgAuditRecord> = batch.records.iter().map(|p| &p.record).collect();
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
    let prepared = audits
        .iter()
        .find(|a| a.audit.parameters == Parameters::Values(vec!["4".into(), "+1-555-0199".into()]));
    assert!(
        prepared.is_some(),
        "EXECUTE logged with the PREPARE text and its parameters"
    );
    let quoted_params = audits.iter().find(|a| matches!(&a.audit.parameters, Parameters::Values(v) if v.iter().any(|p| p.contains("\"quoted\""))));
    let Parameters::Values(values) = &quoted_params
        .expect("the parameter with quotes and commas")
        .audit
        .parameters
    else {
        unreachable!()
    };
    assert!(
        values.contains(&"x, \"quoted\", y".to_owned()),
        "{values:?}"
    );
    // Raw text of a multi-line record is every line of it.
    let raw_lines = batch
        .records
        .iter()
        .map(|p| p.raw.lines().count())
        .max()
        .unwrap();
    assert!(raw_lines > 5);
}

#[test]
fn envelopes() {
    let batch = parse(PgLogFormat::Csvlog);
    for p in &batch.records {
        let (r, e) = (&p.record, &p.envelope);
        assert_eq!(e.actor.name, r.user);
        assert_eq!(
            (e.actor.kind, e.actor.identified_by.as_str()),
            (ActorKind::Unknown, "pg-role")
        );
        assert_eq!(e.action, r.audit.command);
        assert_eq!(e.target, r.audit.object_name);
        assert_eq!((e.host.as_str(), e.outcome), ("db-1", Outcome::Success));
        assert_eq!(e.source, r.client);
        assert!(
            e.redacted.is_empty(),
            "pgaudit 1.7 redacted the fixture's passwords itself"
        );
    }
    let tcp = batch
        .records
        .iter()
        .filter(|p| p.envelope.source.starts_with("127.0.0.1:"))
        .count();
    let local = batch
        .records
        .iter()
        .filter(|p| p.envelope.source == "[local]")
        .count();
    assert_eq!(tcp + local, 143);
    assert!(tcp > 0 && local > 0);
}

fn kept(filter: &str, batch: &Batch<PgAuditRecord>) -> Vec<Parsed<PgAuditRecord>> {
    let filter: PgAuditFilter = serde_yaml_ng::from_str(filter).unwrap();
    batch
        .records
        .iter()
        .filter(|p| filter.keeps(&p.record))
        .cloned()
        .collect()
}

#[test]
fn the_operators_three_questions() {
    let batch = parse(PgLogFormat::Jsonlog);
    // Which tables: app.users but not app.emailsSent (written as the DBA
    // would, without the quotes).
    let tables = kept("objects: {include: [app.users, app.emailsSent], exclude: [app.emailsSent], unnamed: false}", &batch);
    assert_eq!(tables.len(), 60);
    // Which operations: writes, not reads.
    let writes = kept("classes: {include: [write]}", &batch);
    assert_eq!(writes.len(), 8 + 13 + 12 + 2 + 1 + 13);
    assert!(writes.iter().all(|p| p.record.audit.class == "WRITE"));
    // Which users: persons, not the application.
    let persons = kept("users: {exclude: [app_service]}", &batch);
    assert_eq!(persons.len(), 143 - 7);
    // All three at once.
    let all = kept("objects: {include: [\"app.users\"], unnamed: false}\nclasses: {include: [WRITE]}\nusers: {include: [dba_*]}", &batch);
    assert!(!all.is_empty());
    assert!(all.iter().all(|p| p.record.audit.object_name == "app.users"
        && p.record.audit.class == "WRITE"
        && p.record.user.starts_with("dba_")));
    // misc_set as in pgaudit.log; commands; databases; audit types.
    assert_eq!(kept("classes: {include: [misc_set]}", &batch).len(), 8);
    assert_eq!(
        kept("commands: {include: [\"create *\"]}", &batch).len(),
        1 + 1 + 1 + 4 + 1 + 2 + 6 + 1 + 7
    );
    assert_eq!(
        kept("databases: {exclude: [appdb]}", &batch).len(),
        1,
        "CREATE DATABASE ran in postgres"
    );
    assert_eq!(kept("audit_types: {include: [object]}", &batch).len(), 38);
    // Unknown keys are refused with their name.
    let e = serde_yaml_ng::from_str::<PgAuditFilter>("tables: [x]").unwrap_err();
    assert!(e.to_string().contains("unknown field `tables`"), "{e}");
}

#[test]
fn golden() {
    check_golden(
        "pgaudit/postgresql.log.expected.jsonl",
        &golden_lines(&parse(PgLogFormat::Stderr)),
    );
    check_golden(
        "pgaudit/postgresql.csv.expected.jsonl",
        &golden_lines(&parse(PgLogFormat::Csvlog)),
    );
}

#[test]
fn the_syslog_destination_reassembles_to_the_same_records() {
    // SYNTHETIC input (testdata/pgaudit/syslog_from_stderr.py): part 3 of
    // the real stderr log as PostgreSQL's write_syslog() cuts it — one
    // chunk per line, a 940-byte line cut at a space, TABs as `#011`.
    let mut config = PgLogConfig::new(PgLogFormat::Syslog);
    config.log_line_prefix = configured_prefix();
    config.host = "db-1".to_owned();
    let syslog = parse_pg_log(
        &testdata("pgaudit/postgresql-syslog.synthetic.log"),
        &config,
        "2026-11-23T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    assert!(syslog.diagnostics.is_empty(), "{:?}", syslog.diagnostics);
    let stderr = parse(PgLogFormat::Stderr);
    let part3: Vec<&Parsed<PgAuditRecord>> = stderr
        .records
        .iter()
        .filter(|p| matches!(p.record.pid, Some(12336 | 12337)))
        .collect();
    assert_eq!(syslog.records.len(), part3.len());
    assert_eq!(syslog.records.len(), 9);
    for (s, e) in syslog.records.iter().zip(&part3) {
        assert_eq!(s.record, e.record);
        assert_eq!(s.envelope, e.envelope);
    }
    let long = syslog
        .records
        .iter()
        .find(|p| {
            p.record.audit.object_name == "app.audit_demo_long"
                && p.record.audit.command == "CREATE TABLE"
        })
        .unwrap();
    assert_eq!(
        long.raw.lines().count(),
        2,
        "one record from two syslog lines"
    );
}
