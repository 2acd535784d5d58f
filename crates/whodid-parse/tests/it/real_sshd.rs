//! What a real sshd, sudo and PAM log (through a real rsyslogd) when people
//! log in to a shared account with their own keys: parsed, each login and
//! its sudo commands are the key owner's, via the account; the unknown key,
//! the refused sudo and the invalid user are recorded as such.

use whodid_model::{ActorKind, Outcome};
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{parse_auth_log, AuthEvent, AuthLogConfig, AuthRecord};
use whodid_parse::{Batch, Parsed};
use whodid_testkit::sshd::{INVALID_USER, SUDO_ALLOWED, SUDO_DENIED};
use whodid_testkit::workloads::ssh_scenario;
use whodid_testkit::Sshd;

use crate::authlog_fixtures::comparable;

fn now_config() -> AuthLogConfig {
    // Written moments ago: now gives classic lines their year.
    AuthLogConfig::new(jiff::Timestamp::now())
}

fn registry_from_authorized_keys(sshd: &Sshd) -> KeyRegistry {
    let mut registry = KeyRegistry::new();
    let text = std::fs::read_to_string(sshd.authorized_keys()).unwrap();
    let (added, errors) = registry.add_authorized_keys(&text, sshd.account());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(added, sshd.keys().len());
    registry
}

fn parse_file(path: &std::path::Path, registry: KeyRegistry) -> Batch<AuthRecord> {
    let bytes = std::fs::read(path).unwrap();
    parse_auth_log(&bytes, now_config(), registry)
}

fn by_action<'a>(batch: &'a Batch<AuthRecord>, action: &str) -> Vec<&'a Parsed<AuthRecord>> {
    batch
        .records
        .iter()
        .filter(|p| p.envelope.action == action)
        .collect()
}

#[test]
fn shared_account_logins_and_sudo_are_the_key_owners() {
    let sshd = Sshd::start();
    let scenario = ssh_scenario(&sshd);
    let batch = parse_file(sshd.auth_log(), registry_from_authorized_keys(&sshd));
    assert!(batch.diagnostics.is_empty(), "{:?}", batch.diagnostics);
    let eve = sshd.key(&scenario.eve);
    let mallory = sshd.key(&scenario.mallory);

    // Two accepted logins to `ubuntu`, each the key owner's, via ubuntu.
    let logins = by_action(&batch, "ssh.login");
    assert_eq!(logins.len(), 2, "{logins:#?}");
    for (login, key) in logins.iter().zip([eve, mallory]) {
        let actor = &login.envelope.actor;
        assert_eq!(actor.name, key.person);
        assert_eq!(actor.kind, ActorKind::Person);
        assert_eq!(actor.via, "ubuntu");
        assert_eq!(actor.identified_by, format!("ssh-key {}", key.fingerprint));
        assert_eq!(login.envelope.target, "ubuntu");
        assert!(login.envelope.source.starts_with("127.0.0.1:"));
        assert!(!login.record.unknown_key);
        match &login.record.event {
            AuthEvent::Login {
                key_type,
                fingerprint,
                ..
            } => {
                assert_eq!(key_type.as_deref(), Some(key.key_type.as_str()));
                assert_eq!(fingerprint.as_deref(), Some(key.fingerprint.as_str()));
            }
            other => panic!("not a login: {other:?}"),
        }
    }

    // Eve's two sudo commands are hers, on her connection.
    let sudo = by_action(&batch, "sudo");
    let commands: Vec<&str> = sudo
        .iter()
        .map(|p| match &p.record.event {
            AuthEvent::Sudo { command, .. } => command.as_str(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(commands, SUDO_ALLOWED);
    for p in &sudo {
        assert_eq!(p.envelope.actor.name, eve.person);
        assert_eq!(p.envelope.actor.via, "ubuntu");
        assert_eq!(p.envelope.target, "root");
        assert_eq!(p.record.connection, logins[0].record.connection);
        assert_eq!(p.envelope.source, logins[0].envelope.source);
    }

    // Mallory's refused sudo (with a terminal) is hers.
    let denied = by_action(&batch, "sudo.denied");
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0].envelope.actor.name, mallory.person);
    assert_eq!(denied[0].envelope.outcome, Outcome::Denied);
    assert_eq!(denied[0].record.connection, logins[1].record.connection);
    match &denied[0].record.event {
        AuthEvent::SudoDenied {
            command,
            reason,
            tty,
            ..
        } => {
            assert_eq!(command, SUDO_DENIED);
            assert_eq!(reason, "command not allowed");
            assert!(tty.as_deref().is_some_and(|t| t.starts_with("pts/")));
        }
        other => panic!("{other:?}"),
    }

    // Both sessions opened and closed, each the key owner's.
    for action in ["session.open", "session.close"] {
        let ssh_sessions: Vec<_> = by_action(&batch, action)
            .into_iter()
            .filter(|p| p.envelope.target == "ubuntu")
            .collect();
        let people: Vec<&str> = ssh_sessions
            .iter()
            .map(|p| p.envelope.actor.name.as_str())
            .collect();
        assert_eq!(people, [&eve.person, &mallory.person], "{action}");
    }

    // The key nobody authorized is refused and flagged.
    let failed = by_action(&batch, "ssh.login_failed");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let unknown = sshd.unknown_key();
    assert!(failed[0].record.unknown_key);
    assert_eq!(failed[0].envelope.target, "ubuntu");
    assert!(
        failed[0]
            .envelope
            .actor
            .identified_by
            .contains(&unknown.fingerprint),
        "{:?}",
        failed[0].envelope.actor
    );
    assert_ne!(failed[0].envelope.actor.kind, ActorKind::Person);

    // The account that does not exist.
    let invalid = by_action(&batch, "ssh.invalid_user");
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].envelope.target, INVALID_USER);
    assert_eq!(invalid[0].envelope.outcome, Outcome::Denied);
}

#[test]
fn classic_and_rfc3339_files_and_both_registries_agree() {
    let sshd = Sshd::start();
    ssh_scenario(&sshd);
    let classic = parse_file(sshd.auth_log(), registry_from_authorized_keys(&sshd));
    let mut yaml = KeyRegistry::new();
    assert_eq!(yaml.add_yaml(&sshd.keys_yaml()).unwrap(), 2);
    let rfc3339 = parse_file(sshd.auth_log_rfc3339(), yaml);
    assert!(rfc3339.diagnostics.is_empty(), "{:?}", rfc3339.diagnostics);
    assert!(classic.records.len() >= 12, "{:#?}", classic.records);
    assert_eq!(comparable(&classic), comparable(&rfc3339));
    // The RFC 3339 file has sub-second times; the classic one the year of now.
    let year = |t: jiff::Timestamp| jiff::tz::Offset::UTC.to_datetime(t).year();
    let this_year = year(jiff::Timestamp::now());
    for p in &classic.records {
        assert_eq!(year(p.record.time), this_year);
    }
    assert!(rfc3339
        .records
        .iter()
        .any(|p| p.record.time.subsec_nanosecond() != 0));
}
