//! The real auth logs of `testdata/ssh` (one scenario written by rsyslog in
//! three formats, plus journal JSON): every line parses, the records per
//! kind match the fixture README's census, all four formats yield the same
//! records, and the golden files hold the rest.

use std::collections::BTreeMap;

use whodid_model::Outcome;
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{parse_auth_log, AuthEvent, AuthLogConfig, AuthRecord, Method};
use whodid_parse::{Batch, Parsed};

use crate::common::{check_golden, golden_lines, testdata, testdata_text};

/// The fixture machine's clock read 2026-11-22; the files were written
/// that evening.
pub(crate) fn config() -> AuthLogConfig {
    AuthLogConfig::new("2026-11-23T00:00:00Z".parse().unwrap())
}

pub(crate) fn registry() -> KeyRegistry {
    let mut registry = KeyRegistry::new();
    registry.add_yaml(&testdata_text("ssh/keys.yaml")).unwrap();
    registry
}

pub(crate) fn parse(name: &str) -> Batch<AuthRecord> {
    parse_auth_log(&testdata(&format!("ssh/{name}")), config(), registry())
}

const FORMATS: [&str; 4] = [
    "auth.log",
    "auth-hiprec.log",
    "auth-rfc5424.log",
    "journal.jsonl.gz",
];

#[test]
fn every_line_of_every_format_is_read() {
    for name in FORMATS {
        let batch = parse(name);
        assert!(
            batch.diagnostics.is_empty(),
            "{name}: {:?}",
            batch.diagnostics
        );
        assert_eq!(batch.stats.lines, 437, "{name}");
        assert_eq!(batch.stats.records, 138, "{name}");
        assert_eq!(batch.stats.skipped, 437 - 138, "{name}");
    }
}

#[test]
fn records_match_the_fixture_census() {
    let batch = parse("auth.log");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &batch.records {
        *counts.entry(p.envelope.action.as_str()).or_default() += 1;
    }
    // From the fixture README's table of shapes: accepted publickey 16 +
    // password 1 + certificate 1; failed publickey 6 + password 4 +
    // invalid-user password 2; invalid user 3; closed by authenticating
    // user 8 + invalid user 3 + too many failures 1 + reset 1 + closed
    // preauth 1 + banner exchange 1; PAM sessions 18 sshd + 8 sudo + 5 su
    // + 1 sshd without pid; sudo 5 + 3 without tty; denials 4 (incorrect
    // password, password required, not in sudoers, command not allowed);
    // su 5; PAM auth failures 1 sudo + 6 + 2 sshd.
    let expected = BTreeMap::from([
        ("ssh.login", 18),
        ("ssh.login_failed", 12),
        ("ssh.invalid_user", 3),
        ("ssh.disconnect", 15),
        ("session.open", 32),
        ("session.close", 32),
        ("sudo", 8),
        ("sudo.denied", 4),
        ("su", 5),
        ("auth.failure", 9),
    ]);
    assert_eq!(counts, expected);

    // Accepted publickey per key, and the sources of accepted logins.
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_source: BTreeMap<String, usize> = BTreeMap::new();
    for p in &batch.records {
        if let AuthEvent::Login {
            method,
            fingerprint,
            address,
            ..
        } = &p.record.event
        {
            if *method == Method::Publickey {
                *per_key
                    .entry(fingerprint.clone().unwrap()[..11].to_owned())
                    .or_default() += 1;
            }
            *per_source.entry(address.clone()).or_default() += 1;
        }
    }
    let expected_keys = BTreeMap::from([
        ("SHA256:KIbj".to_owned(), 6), // eve
        ("SHA256:dchi".to_owned(), 3), // mallory
        ("SHA256:Nc5F".to_owned(), 2), // admin1
        ("SHA256:dZ7F".to_owned(), 1), // admin2, only from 127.0.0.3
        ("SHA256:0oqI".to_owned(), 2), // alice
        ("SHA256:WlIY".to_owned(), 2), // bob
        ("SHA256:pTGD".to_owned(), 1), // carol's certificate
    ]);
    assert_eq!(per_key, expected_keys);
    let expected_sources = BTreeMap::from([
        ("127.0.0.1".to_owned(), 12), // 11 publickey + dave's password
        ("127.0.0.2".to_owned(), 3),
        ("127.0.0.3".to_owned(), 3),
    ]);
    assert_eq!(per_source, expected_sources);

    // Failed publickey: trudy 2x, admin2 2x (wrong source), alice's and
    // bob's keys offered to ubuntu once each.
    let failed_keys: Vec<String> = batch
        .records
        .iter()
        .filter_map(|p| match &p.record.event {
            AuthEvent::LoginFailed {
                fingerprint: Some(fp),
                ..
            } => Some(fp[..11].to_owned()),
            _ => None,
        })
        .collect();
    let count = |prefix: &str| failed_keys.iter().filter(|fp| *fp == prefix).count();
    assert_eq!(
        (
            count("SHA256:5wqa"),
            count("SHA256:dZ7F"),
            count("SHA256:0oqI"),
            count("SHA256:WlIY")
        ),
        (2, 2, 1, 1)
    );

    // Denials and outcomes.
    let denials: Vec<&str> = batch
        .records
        .iter()
        .filter_map(|p| match &p.record.event {
            AuthEvent::SudoDenied { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        denials,
        [
            "3 incorrect password attempts",
            "a password is required",
            "user NOT in sudoers",
            "command not allowed"
        ]
    );
    for p in &batch.records {
        let expected = match p.envelope.action.as_str() {
            "ssh.login" | "session.open" | "session.close" | "sudo" | "su" => Outcome::Success,
            "ssh.disconnect" => Outcome::Failure,
            _ => Outcome::Denied,
        };
        assert_eq!(p.envelope.outcome, expected, "{:?}", p.record);
    }
}

/// The records with times cut to the second and without positions (the
/// classic format has no fractions; journal lines are longer).
pub(crate) fn comparable(batch: &Batch<AuthRecord>) -> Vec<(AuthRecord, whodid_model::Envelope)> {
    batch
        .records
        .iter()
        .map(|p: &Parsed<AuthRecord>| {
            let mut record = p.record.clone();
            let mut envelope = p.envelope.clone();
            let second = |t: jiff::Timestamp| jiff::Timestamp::from_second(t.as_second()).unwrap();
            record.time = second(record.time);
            envelope.time = second(envelope.time);
            if let Some(c) = record.connection.as_mut() {
                c.login = second(c.login);
            }
            (record, envelope)
        })
        .collect()
}

#[test]
fn the_three_syslog_formats_agree() {
    let classic = comparable(&parse("auth.log"));
    for name in ["auth-hiprec.log", "auth-rfc5424.log"] {
        let other = comparable(&parse(name));
        assert_eq!(other.len(), classic.len(), "{name}");
        for (a, b) in classic.iter().zip(&other) {
            assert_eq!(a, b, "{name} differs from auth.log");
        }
    }
}

#[test]
fn the_journal_agrees_on_events_and_people() {
    // The journal knows sudo's pid and the login's audit session, so links
    // and pids differ; events, actors and outcomes do not.
    let classic = comparable(&parse("auth.log"));
    let journal = comparable(&parse("journal.jsonl.gz"));
    assert_eq!(classic.len(), journal.len());
    for ((a, ae), (b, be)) in classic.iter().zip(&journal) {
        assert_eq!((&a.event, a.time, &a.host), (&b.event, b.time, &b.host));
        assert_eq!(ae.actor, be.actor, "{a:?}\n{b:?}");
        assert_eq!(
            (&ae.action, &ae.target, ae.outcome),
            (&be.action, &be.target, be.outcome)
        );
    }
}

#[test]
fn golden() {
    check_golden(
        "ssh/auth.log.expected.jsonl",
        &golden_lines(&parse("auth.log")),
    );
    check_golden(
        "ssh/journal.expected.jsonl",
        &golden_lines(&parse("journal.jsonl.gz")),
    );
}

#[test]
fn a_log_across_new_year_read_in_january() {
    let text = "Dec 31 23:59:58 vm sshd[1]: Accepted password for dave from 10.0.0.1 port 1 ssh2\n\
                Jan  1 00:00:03 vm sshd[1]: pam_unix(sshd:session): session opened for user dave(uid=1103) by (uid=0)\n";
    let batch = parse_auth_log(
        text.as_bytes(),
        AuthLogConfig::new("2027-01-01T09:00:00Z".parse().unwrap()),
        KeyRegistry::new(),
    );
    let times: Vec<String> = batch
        .records
        .iter()
        .map(|p| p.envelope.time.to_string())
        .collect();
    assert_eq!(times, ["2026-12-31T23:59:58Z", "2027-01-01T00:00:03Z"]);
    let session = &batch.records[1].record;
    assert_eq!(
        session.connection.as_ref().map(|c| c.login.to_string()),
        Some("2026-12-31T23:59:58Z".to_owned()),
        "the session belongs to last year's login"
    );
}
