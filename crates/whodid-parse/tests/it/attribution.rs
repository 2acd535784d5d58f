//! Key → person on the real auth log: logins to the shared `ubuntu`
//! account are the key owners', so are the sudo commands and sessions on
//! their connection; what cannot be tied to a login is left to the
//! account, not guessed; a key nobody registered is flagged.

use whodid_model::ActorKind;
use whodid_parse::authlog::attribution::Link;
use whodid_parse::authlog::keys::{fingerprint, KeyRegistry};
use whodid_parse::authlog::{parse_auth_log, AuthEvent, AuthRecord};
use whodid_parse::Parsed;

use crate::authlog_fixtures::{config, parse};
use crate::common::{testdata, testdata_text};

fn actor(p: &Parsed<AuthRecord>) -> (&str, &str) {
    (
        p.envelope.actor.name.as_str(),
        p.envelope.actor.via.as_str(),
    )
}

#[test]
fn fingerprints_of_authorized_keys_are_what_sshd_logs() {
    let mut registry = KeyRegistry::new();
    let (added, errors) = registry.add_authorized_keys(
        &testdata_text("ssh/authorized_keys/ubuntu.authorized_keys"),
        "ubuntu",
    );
    assert_eq!((added, errors.len()), (4, 0));
    let eve = registry
        .owner("SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU")
        .expect("eve's key");
    assert_eq!(
        (eve.person.as_str(), eve.account.as_deref()),
        ("eve@example.com", Some("ubuntu"))
    );
    let admin2 = registry.owner("SHA256:dZ7FaeaJgwOnCSgVxgK2CsuTxjaPTwx6qgLel5Y4MSY");
    assert_eq!(
        admin2.map(|o| o.person.as_str()),
        Some("admin2@example.com"),
        "a key with from= options"
    );
    // Every key of keys.yaml that has an authorized_keys line agrees.
    let mut yaml = KeyRegistry::new();
    yaml.add_yaml(&testdata_text("ssh/keys.yaml")).unwrap();
    for (file, account) in [("ubuntu", "ubuntu"), ("alice", "alice"), ("bob", "bob")] {
        let text = testdata_text(&format!("ssh/authorized_keys/{file}.authorized_keys"));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let blob = line
                .split_whitespace()
                .find(|w| w.starts_with("AAAA"))
                .unwrap();
            let fp = fingerprint(blob).unwrap();
            let owner = yaml
                .owner(&fp)
                .unwrap_or_else(|| panic!("{fp} of {account} not in keys.yaml"));
            assert_eq!(owner.account.as_deref(), Some(account));
        }
    }
    assert_eq!(fingerprint("not base64!"), None);
}

#[test]
fn shared_account_logins_are_the_key_owners() {
    let batch = parse("auth.log");
    let logins: Vec<&Parsed<AuthRecord>> = batch
        .records
        .iter()
        .filter(|p| matches!(p.record.event, AuthEvent::Login { .. }))
        .collect();
    let count = |person: &str| {
        logins
            .iter()
            .filter(|p| p.envelope.actor.name == person)
            .count()
    };
    assert_eq!(
        [
            count("eve@example.com"),
            count("mallory@example.com"),
            count("admin1@example.com"),
            count("admin2@example.com"),
            count("carol@example.com")
        ],
        [6, 3, 2, 1, 1]
    );
    for login in &logins {
        let AuthEvent::Login { user, method, .. } = &login.record.event else {
            unreachable!()
        };
        if user == "ubuntu" {
            assert_eq!(
                login.envelope.actor.kind,
                ActorKind::Person,
                "{:?}",
                login.record
            );
            assert_eq!(login.envelope.actor.via, "ubuntu");
            assert!(login
                .envelope
                .actor
                .identified_by
                .starts_with("ssh-key SHA256:"));
            assert_eq!(login.envelope.target, "ubuntu");
        }
        if *method == whodid_parse::authlog::Method::Password {
            // dave's password login: an account, not a person we know.
            assert_eq!(actor(login), ("dave", ""));
            assert_eq!(login.envelope.actor.kind, ActorKind::Unknown);
            assert_eq!(login.envelope.actor.identified_by, "password");
        }
    }
}

#[test]
fn sudo_and_sessions_follow_the_connection() {
    let batch = parse("auth.log");
    let sudo: Vec<(&str, &str, Option<Link>, &str)> = batch
        .records
        .iter()
        .filter(|p| {
            matches!(
                p.record.event,
                AuthEvent::Sudo { .. } | AuthEvent::SudoDenied { .. }
            )
        })
        .map(|p| {
            (
                p.envelope.actor.name.as_str(),
                p.envelope.actor.via.as_str(),
                p.record.link,
                p.envelope.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        sudo,
        [
            // Step 2: mallory, `sudo -i` on pts/0.
            (
                "mallory@example.com",
                "ubuntu",
                Some(Link::Terminal),
                "127.0.0.1:41172"
            ),
            // Step 3: admin1, `sudo su` and `sudo su -`.
            (
                "admin1@example.com",
                "ubuntu",
                Some(Link::Terminal),
                "127.0.0.1:41184"
            ),
            (
                "admin1@example.com",
                "ubuntu",
                Some(Link::Terminal),
                "127.0.0.1:41184"
            ),
            // Step 4: admin2 from 127.0.0.3, `sudo -n` without a terminal:
            // the only open session of ubuntu.
            (
                "admin2@example.com",
                "ubuntu",
                Some(Link::OnlyOpenSession),
                "127.0.0.3:37489"
            ),
            (
                "admin2@example.com",
                "ubuntu",
                Some(Link::OnlyOpenSession),
                "127.0.0.3:37489"
            ),
            // Step 6: alice, own account, own key: `sudo -i`, then 3 wrong passwords.
            (
                "alice@example.com",
                "alice",
                Some(Link::Terminal),
                "127.0.0.1:49692"
            ),
            (
                "alice@example.com",
                "alice",
                Some(Link::Terminal),
                "127.0.0.1:49692"
            ),
            // Step 7: bob, password required.
            (
                "bob@example.com",
                "bob",
                Some(Link::Terminal),
                "127.0.0.1:34610"
            ),
            // Step 8: dave (password login), not in sudoers.
            ("dave", "", Some(Link::Terminal), "127.0.0.1:34626"),
            // Step 14: four ubuntu sessions open at once, no terminal: not guessed.
            ("ubuntu", "", None, ""),
            // Step 21: bob allowed, then "command not allowed".
            (
                "bob@example.com",
                "bob",
                Some(Link::Terminal),
                "127.0.0.1:33898"
            ),
            (
                "bob@example.com",
                "bob",
                Some(Link::Terminal),
                "127.0.0.1:33898"
            ),
        ]
    );
    // `sudo su` gives su a new terminal (pts/1); it is still admin1's, and
    // so are su's and sudo's PAM sessions.
    let su: Vec<(&str, &str)> = batch
        .records
        .iter()
        .filter(|p| matches!(p.record.event, AuthEvent::Su { .. }))
        .map(actor)
        .collect();
    assert_eq!(
        su,
        [
            ("admin1@example.com", "ubuntu"),
            ("admin1@example.com", "ubuntu"),
            // The pgaudit harness's `su postgres` as root, no SSH involved.
            ("root", ""),
            ("root", ""),
            ("root", ""),
        ]
    );
    let sessions_of = |person: &str| {
        batch
            .records
            .iter()
            .filter(|p| {
                p.envelope.action.starts_with("session.") && p.envelope.actor.name == person
            })
            .map(|p| match &p.record.event {
                AuthEvent::SessionOpened { service, .. }
                | AuthEvent::SessionClosed { service, .. } => service.as_str(),
                _ => unreachable!(),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sessions_of("admin1@example.com"),
        [
            // First login (step 3): sshd, sudo su (sudo, su), sudo su - (sudo, su-l).
            "sshd", "sudo", "su", "su", "sudo", "sudo", "su-l", "su-l", "sudo", "sshd",
            // Second login (step 14, command only).
            "sshd", "sshd"
        ]
    );
    assert_eq!(
        sessions_of("mallory@example.com"),
        ["sshd", "sudo-i", "sudo-i", "sshd", "sshd", "sshd", "sshd", "sshd"]
    );
    // Every record with a connection names the login it belongs to.
    for p in &batch.records {
        if let Some(c) = &p.record.connection {
            assert_eq!(c.host, "vm");
            assert!(c.login <= p.record.time);
        }
    }
}

#[test]
fn an_unregistered_key_is_flagged() {
    // Only the authorized_keys files: trudy's key was never authorized
    // anywhere, so nobody registered it.
    let mut registry = KeyRegistry::new();
    for account in ["ubuntu", "alice", "bob"] {
        registry.add_authorized_keys(
            &testdata_text(&format!("ssh/authorized_keys/{account}.authorized_keys")),
            account,
        );
    }
    let batch = parse_auth_log(&testdata("ssh/auth.log"), config(), registry);
    let flagged: Vec<&Parsed<AuthRecord>> = batch
        .records
        .iter()
        .filter(|p| p.record.unknown_key)
        .collect();
    assert_eq!(flagged.len(), 2, "trudy's two attempts");
    for p in &flagged {
        assert_eq!(p.envelope.actor.kind, ActorKind::Unknown);
        assert_eq!(p.envelope.actor.name, "ubuntu");
        assert_eq!(
            p.envelope.actor.identified_by,
            "unknown-key SHA256:5wqa9GxDq3FMkS0y968vrAPzf91Tj42Zt87HUouzoqE"
        );
    }
    // Carol's certificate is not in any authorized_keys: the certificate
    // names her.
    let carol = batch
        .records
        .iter()
        .find(|p| {
            matches!(
                &p.record.event,
                AuthEvent::Login {
                    certificate: Some(_),
                    ..
                }
            )
        })
        .unwrap();
    assert_eq!(actor(carol), ("carol@example.com", "ubuntu"));
    assert!(carol
        .envelope
        .actor
        .identified_by
        .starts_with("ssh-certificate carol@example.com key SHA256:pTGD"));
}

#[test]
fn a_successful_login_with_an_unknown_key_is_the_accounts_and_flagged() {
    let registry = KeyRegistry::new();
    let batch = parse_auth_log(&testdata("ssh/auth.log"), config(), registry);
    let first = &batch
        .records
        .iter()
        .find(|p| p.envelope.action == "ssh.login")
        .unwrap();
    assert!(first.record.unknown_key);
    assert_eq!(actor(first), ("ubuntu", ""));
    assert_eq!(first.envelope.actor.kind, ActorKind::Unknown);
    // What follows on that connection is flagged too.
    let mallory_sudo = batch
        .records
        .iter()
        .find(|p| p.envelope.action == "sudo")
        .unwrap();
    assert!(mallory_sudo.record.unknown_key);
    assert!(mallory_sudo
        .envelope
        .actor
        .identified_by
        .starts_with("unknown-key SHA256:dchi"));
}

#[test]
fn personal_accounts_can_be_named() {
    let mut registry = KeyRegistry::new();
    registry
        .add_yaml("accounts:\n  dave: dave@example.com\n")
        .unwrap();
    let batch = parse_auth_log(&testdata("ssh/auth.log"), config(), registry);
    let dave = batch
        .records
        .iter()
        .find(|p| matches!(&p.record.event, AuthEvent::SudoDenied { user, .. } if user == "dave"))
        .unwrap();
    assert_eq!(actor(dave), ("dave@example.com", "dave"));
    assert_eq!(dave.envelope.actor.kind, ActorKind::Person);
}
