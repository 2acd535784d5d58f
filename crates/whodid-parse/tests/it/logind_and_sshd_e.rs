//! Two more shapes of the same logins: systemd-logind's session lines (a
//! node with systemd), which give the journal's audit session of a login,
//! and sshd's own log file (`sshd -E FILE`, from the real sshd of the test
//! harness), whose lines carry no time, host or pid.

use whodid_model::ActorKind;
use whodid_parse::authlog::attribution::Link;
use whodid_parse::authlog::keys::{KeyOwner, KeyRegistry};
use whodid_parse::authlog::{
    parse_auth_log, AuthEvent, AuthLogConfig, AuthLogFormat, AuthLogParser, LogindChange,
};
use whodid_parse::parsed::lines;
use whodid_testkit::sshd::INVALID_USER;
use whodid_testkit::workloads::ssh_scenario;
use whodid_testkit::{Sshd, SshdConfig};

const EVE_FP: &str = "SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU";
const MALLORY_FP: &str = "SHA256:dchiYwNUR/7zernn1ivYKxaRMo308o2bc/XKAtYspmk";

fn registry() -> KeyRegistry {
    let mut registry = KeyRegistry::new();
    for (fp, person) in [
        (EVE_FP, "eve@example.com"),
        (MALLORY_FP, "mallory@example.com"),
    ] {
        registry.add_key(
            fp,
            KeyOwner {
                person: person.to_owned(),
                account: Some("ubuntu".to_owned()),
            },
        );
    }
    registry
}

/// A journal entry as `journalctl -o json` prints it.
fn journal(time_us: u64, identifier: &str, pid: u32, session: u32, message: &str) -> String {
    serde_json::json!({
        "__REALTIME_TIMESTAMP": time_us.to_string(),
        "_HOSTNAME": "node-1",
        "SYSLOG_IDENTIFIER": identifier,
        "_PID": pid.to_string(),
        "_AUDIT_SESSION": session.to_string(),
        "MESSAGE": message,
    })
    .to_string()
}

#[test]
fn logind_sessions_link_journal_sudo_to_the_right_login() {
    // Eve and Mallory are both logged in to ubuntu; a sudo without a
    // terminal cannot be told apart by text — only by its audit session,
    // which logind announced for Mallory's login.
    let t = 1_795_400_000_000_000u64; // 2026-11-23T…Z, in µs
    let text = [
        format!("Nov 22 10:00:01 node-1 sshd[100]: Accepted publickey for ubuntu from 10.0.0.5 port 40000 ssh2: ED25519 {EVE_FP}"),
        "Nov 22 10:00:01 node-1 sshd[100]: pam_unix(sshd:session): session opened for user ubuntu(uid=1000) by (uid=0)".to_owned(),
        "Nov 22 10:00:01 node-1 systemd-logind[50]: New session 7 of user ubuntu.".to_owned(),
        format!("Nov 22 10:00:02 node-1 sshd[200]: Accepted publickey for ubuntu from 10.0.0.6 port 40001 ssh2: RSA {MALLORY_FP}"),
        "Nov 22 10:00:02 node-1 sshd[200]: pam_unix(sshd:session): session opened for user ubuntu(uid=1000) by (uid=0)".to_owned(),
        "Nov 22 10:00:02 node-1 systemd-logind[50]: New session 8 of user ubuntu.".to_owned(),
        journal(t, "sudo", 300, 8, "  ubuntu : PWD=/home/ubuntu ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"),
        "Nov 22 10:00:05 node-1 sshd[200]: pam_unix(sshd:session): session closed for user ubuntu".to_owned(),
        "Nov 22 10:00:05 node-1 systemd-logind[50]: Session 8 logged out. Waiting for processes to exit.".to_owned(),
        "Nov 22 10:00:05 node-1 systemd-logind[50]: Removed session 8.".to_owned(),
        "Nov 22 10:00:06 node-1 systemd-logind[50]: Removed session 8.".to_owned(),
        "Nov 22 10:00:06 node-1 systemd-logind[50]: Watching system buttons on /dev/input/event0 (Power Button)".to_owned(),
    ]
    .join("\n");
    let batch = parse_auth_log(
        text.as_bytes(),
        AuthLogConfig::new("2026-11-23T00:00:00Z".parse().unwrap()),
        registry(),
    );
    assert!(batch.diagnostics.is_empty(), "{:?}", batch.diagnostics);
    let logind: Vec<_> = batch
        .records
        .iter()
        .filter(|p| matches!(p.record.event, AuthEvent::LogindSession { .. }))
        .collect();
    let summary: Vec<(&str, &str, Option<Link>)> = logind
        .iter()
        .map(|p| {
            (
                p.envelope.action.as_str(),
                p.envelope.actor.name.as_str(),
                p.record.link,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("logind.new_session", "eve@example.com", Some(Link::Logind)),
            (
                "logind.new_session",
                "mallory@example.com",
                Some(Link::Logind)
            ),
            (
                "logind.logged_out",
                "mallory@example.com",
                Some(Link::Logind)
            ),
            ("logind.removed", "mallory@example.com", Some(Link::Logind)),
            // A second removal of the same session is nobody's.
            ("logind.removed", "", None),
        ]
    );
    assert_eq!(logind[1].envelope.source, "10.0.0.6:40001");
    assert_eq!(logind[1].envelope.actor.via, "ubuntu");
    let sudo = batch
        .records
        .iter()
        .find(|p| p.envelope.action == "sudo")
        .unwrap();
    assert_eq!(sudo.envelope.actor.name, "mallory@example.com");
    assert_eq!(sudo.record.link, Some(Link::AuditSession));
    assert_eq!(sudo.record.pid, Some(300));
    assert_eq!(batch.stats.skipped, 1, "the buttons line");
    assert!(matches!(
        &logind[0].record.event,
        AuthEvent::LogindSession { session, change: LogindChange::New, .. } if session == "7"
    ));
}

#[test]
fn truncated_logind_lines_are_diagnostics() {
    let text = "Nov 22 10:00:01 node-1 systemd-logind[50]: New session 7 of\n\
                Nov 22 10:00:01 node-1 systemd-logind[50]: New session 7 of user ubuntu.\n";
    let batch = parse_auth_log(
        text.as_bytes(),
        AuthLogConfig::new("2026-11-23T00:00:00Z".parse().unwrap()),
        registry(),
    );
    assert_eq!(batch.diagnostics.len(), 1);
    assert_eq!(batch.diagnostics[0].position.line, 1);
    assert_eq!(
        batch.diagnostics[0].kind.to_string(),
        "malformed systemd-logind message (New session)"
    );
    assert_eq!(batch.records.len(), 1, "unlinked, but recorded");
}

#[test]
fn sshd_own_log_file_from_a_real_sshd() {
    let sshd = Sshd::with_config(SshdConfig {
        log_file: true,
        ..SshdConfig::default()
    });
    let scenario = ssh_scenario(&sshd);
    let path = sshd.sshd_log_file().unwrap();
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.ends_with(b"\r\n"), "sshd -E ends lines with CR LF");
    let mut registry = KeyRegistry::new();
    registry.add_yaml(&sshd.keys_yaml()).unwrap();
    let reference: jiff::Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
    let mut config = AuthLogConfig::new(reference);
    config.host = "node-e".to_owned();
    let mut parser = AuthLogParser::new(config, registry);
    let mut records = Vec::new();
    let mut diagnostics = Vec::new();
    for (at, line) in lines(&bytes) {
        parser.push_line(at, line, &mut |item| match item {
            whodid_parse::Item::Record(p) => records.push(*p),
            whodid_parse::Item::Diagnostic(d) => diagnostics.push(d),
        });
    }
    assert_eq!(parser.format(), AuthLogFormat::SshdLogFile, "detected");
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let logins: Vec<_> = records
        .iter()
        .filter(|p| p.envelope.action == "ssh.login")
        .collect();
    let people: Vec<&str> = logins
        .iter()
        .map(|p| p.envelope.actor.name.as_str())
        .collect();
    assert_eq!(people, [&scenario.eve, &scenario.mallory]);
    for login in &logins {
        assert_eq!(login.envelope.actor.kind, ActorKind::Person);
        assert_eq!(login.envelope.actor.via, "ubuntu");
        assert!(!login.raw.ends_with('\r'));
    }
    let failed: Vec<_> = records
        .iter()
        .filter(|p| p.envelope.action == "ssh.login_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].record.unknown_key);
    assert!(records
        .iter()
        .any(|p| p.envelope.action == "ssh.invalid_user" && p.envelope.target == INVALID_USER));
    for p in &records {
        assert_eq!(
            p.record.time, reference,
            "no time in the file: the reference"
        );
        assert_eq!(p.record.host, "node-e");
        assert_eq!(p.record.program, "sshd");
    }
    // The same bytes, told to be syslog: every line is a diagnostic.
    let mut syslog = AuthLogConfig::new(reference);
    syslog.format = AuthLogFormat::Syslog;
    let batch = parse_auth_log(&bytes, syslog, KeyRegistry::new());
    assert!(batch.records.is_empty());
    assert_eq!(batch.stats.diagnostics, batch.stats.lines);
}
