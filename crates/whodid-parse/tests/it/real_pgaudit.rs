//! What a real PostgreSQL 15 with pgaudit logs for a person's and the
//! application's sessions, in stderr, csvlog and jsonlog at once: the
//! three give the same records, the keep rules answer the operators'
//! three questions, and no password survives parsing.

use whodid_parse::pgaudit::{parse_pg_log, PgAuditFilter, PgAuditRecord, PgLogConfig, PgLogFormat};
use whodid_parse::Batch;
use whodid_testkit::workloads::{pgaudit_workload, APP_NAME, APP_ROLE, PASSWORDS, PERSON_ROLE};
use whodid_testkit::{PgLog, Postgres};

use crate::common::records_of;

fn parse(pg: &Postgres, log: PgLog) -> Batch<PgAuditRecord> {
    let format = match log {
        PgLog::Stderr => PgLogFormat::Stderr,
        PgLog::Csvlog => PgLogFormat::Csvlog,
        PgLog::Jsonlog => PgLogFormat::Jsonlog,
    };
    let mut config = PgLogConfig::new(format);
    config.log_line_prefix = pg.log_line_prefix().to_owned();
    config.host = "db-test".to_owned();
    parse_pg_log(&pg.log_bytes(log), &config, jiff::Timestamp::now()).unwrap()
}

/// (user, class, command, object) of each record.
fn summary(batch: &Batch<PgAuditRecord>) -> Vec<(String, String, String, String)> {
    batch
        .records
        .iter()
        .map(|p| {
            let a = &p.record.audit;
            (
                p.record.user.clone(),
                a.class.clone(),
                a.command.clone(),
                a.object_name.clone(),
            )
        })
        .collect()
}

fn has(
    rows: &[(String, String, String, String)],
    user: &str,
    class: &str,
    command: &str,
    object: &str,
) -> bool {
    rows.iter()
        .any(|(u, c, m, o)| u == user && c == class && m == command && o == object)
}

#[test]
fn person_and_application_sessions_in_three_formats() {
    let mut pg = Postgres::start();
    pgaudit_workload(&pg);
    pg.stop();
    let [stderr, csv, json] = PgLog::ALL.map(|log| parse(&pg, log));
    for (name, batch) in [("stderr", &stderr), ("csvlog", &csv), ("jsonlog", &json)] {
        assert!(
            batch.diagnostics.is_empty(),
            "{name}: {:?}",
            batch.diagnostics
        );
    }
    let rows = summary(&csv);
    assert_eq!(summary(&stderr), rows);
    assert_eq!(summary(&json), rows);
    // csvlog and jsonlog carry the same columns: the same records.
    assert_eq!(records_of(&csv), records_of(&json));

    // The person's session: object audit of her read, session audit of
    // writes; the application's likewise.
    let expected = [
        (PERSON_ROLE, "READ", "SELECT", "app.users"),
        (PERSON_ROLE, "WRITE", "UPDATE", "app.users"),
        (PERSON_ROLE, "WRITE", "INSERT", "app.\"emailsSent\""),
        (PERSON_ROLE, "ROLE", "ALTER ROLE", ""),
        (APP_ROLE, "READ", "SELECT", "app.users"),
        (APP_ROLE, "WRITE", "DELETE", "app.users"),
        (APP_ROLE, "WRITE", "INSERT", "app.\"emailsSent\""),
    ];
    for (user, class, command, object) in expected {
        assert!(
            has(&rows, user, class, command, object),
            "no {user} {class} {command} {object} in {rows:#?}"
        );
    }
    // application_name and client address in csvlog/jsonlog.
    for p in &csv.records {
        let expected = if p.record.user == APP_ROLE {
            APP_NAME
        } else {
            "psql"
        };
        assert_eq!(p.record.application, expected, "{:?}", p.record);
        assert!(p.record.client.starts_with("127.0.0.1:"), "{:?}", p.record);
        assert_eq!(p.envelope.actor.name, p.record.user);
        assert_eq!(p.envelope.host, "db-test");
    }
    // The prepared INSERT keeps its parameters, quoting and all.
    let executed = csv
        .records
        .iter()
        .find(|p| p.record.user == APP_ROLE && p.record.audit.command == "INSERT")
        .unwrap();
    let params = serde_json::to_string(&executed.record.audit.parameters).unwrap();
    assert!(params.contains("Your, receipt"), "{params}");
    // A double-quoted value inside a statement inside CSV.
    assert!(csv
        .records
        .iter()
        .any(|p| p.record.audit.statement.contains("'Welcome, \"friend\"'")));
}

#[test]
fn keep_rules_and_no_password_survives() {
    let mut pg = Postgres::start();
    pgaudit_workload(&pg);
    pg.stop();
    for log in PgLog::ALL {
        let raw = String::from_utf8_lossy(&pg.log_bytes(log)).into_owned();
        // The server itself logs the password of the failed statement.
        assert!(
            raw.contains(PASSWORDS[4]),
            "{log:?}: the workload did not run as expected"
        );
        let batch = parse(&pg, log);
        let redacted = batch
            .records
            .iter()
            .filter(|p| !p.envelope.redacted.is_empty())
            .count();
        assert!(
            redacted >= 1,
            "{log:?}: the DO block's password was not redacted"
        );
        for p in &batch.records {
            for password in PASSWORDS {
                assert!(
                    !p.raw.contains(password),
                    "{log:?}: {password} in {}",
                    p.raw
                );
                assert!(!p.record.audit.statement.contains(password));
                let envelope = String::from_utf8(p.envelope.to_json()).unwrap();
                assert!(!envelope.contains(password));
            }
        }
    }

    let batch = parse(&pg, PgLog::Csvlog);
    let keep = |yaml: &str| -> Vec<(String, String, String, String)> {
        let filter: PgAuditFilter = serde_yaml_ng::from_str(yaml).unwrap();
        let kept = Batch {
            records: batch
                .records
                .iter()
                .filter(|p| filter.keeps(&p.record))
                .cloned()
                .collect(),
            diagnostics: Vec::new(),
            stats: batch.stats,
        };
        summary(&kept)
    };
    let all = summary(&batch);
    // Tables: app.users but not app.emailsSent.
    let tables = keep("objects: {include: [app.users, app.emailsSent], exclude: [app.emailsSent], unnamed: false}");
    assert!(!tables.is_empty());
    assert!(
        tables.iter().all(|(_, _, _, o)| o == "app.users"),
        "{tables:#?}"
    );
    assert_eq!(
        tables.len(),
        all.iter().filter(|(_, _, _, o)| o == "app.users").count()
    );
    // Operations: writes, not reads.
    let writes = keep("classes: {include: [WRITE]}");
    assert!(!writes.is_empty());
    assert!(writes.iter().all(|(_, c, _, _)| c == "WRITE"));
    assert!(all.iter().any(|(_, c, _, _)| c == "READ"));
    // Users: the person, not the application.
    let people = keep(&format!("users: {{exclude: [{APP_ROLE}]}}"));
    assert!(people.iter().all(|(u, _, _, _)| u != APP_ROLE));
    assert!(people.iter().any(|(u, _, _, _)| u == PERSON_ROLE));
    assert_eq!(
        people.len() + all.iter().filter(|(u, _, _, _)| u == APP_ROLE).count(),
        all.len()
    );
}
