//! Key → person on the real auth log: logins to the shared `ubuntu`
//! account are the key owners', sudo on their terminal too, and a key
//! nobody registered is flagged.

use std::path::Path;

use jiff::tz::Offset;
use whodid_model::ActorKind;
use whodid_parse::authlog::attribution::{Attributed, Attributor};
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::AuthEvent;
use whodid_parse::syslog::{parse_line, ClassicClock};

fn testdata(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/ssh")
            .join(rel),
    )
    .unwrap()
}

fn attribute(registry: KeyRegistry) -> Vec<Attributed> {
    let mut attributor = Attributor::new(registry);
    let mut clock = ClassicClock::new("2026-11-23T00:00:00Z".parse().unwrap(), Offset::UTC);
    testdata("auth.log")
        .lines()
        .filter_map(|line| attributor.observe(&parse_line(line, &mut clock).unwrap()))
        .collect()
}

#[test]
fn fingerprints_from_authorized_keys_match_what_sshd_logs() {
    let mut registry = KeyRegistry::new();
    let added = registry
        .add_authorized_keys(
            &testdata("authorized_keys/ubuntu.authorized_keys"),
            "ubuntu",
        )
        .unwrap();
    assert_eq!(added, 4);
    let eve = registry
        .owner("SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU")
        .expect("eve's key");
    assert_eq!(eve.person, "eve@example.com");
    assert!(
        registry
            .owner("SHA256:dZ7FaeaJgwOnCSgVxgK2CsuTxjaPTwx6qgLel5Y4MSY")
            .is_some(),
        "a key with from= options"
    );
}

#[test]
fn shared_account_logins_and_sudo_are_the_key_owners() {
    let mut registry = KeyRegistry::new();
    registry.add_yaml(&testdata("keys.yaml")).unwrap();
    let events = attribute(registry);
    let logins: Vec<&Attributed> = events
        .iter()
        .filter(|a| matches!(a.event, AuthEvent::Login { .. }))
        .collect();
    let eve = logins
        .iter()
        .filter(|a| a.actor.name == "eve@example.com")
        .count();
    assert_eq!(eve, 6);
    for login in &logins {
        if let AuthEvent::Login { user, .. } = &login.event {
            if user == "ubuntu" {
                assert_eq!(login.actor.kind, ActorKind::Person, "{login:?}");
                assert_eq!(login.actor.via, "ubuntu");
            }
        }
    }
    // Step 2: mallory logs in to ubuntu with a pty and runs `sudo -i`.
    let first_sudo = events
        .iter()
        .find(|a| matches!(&a.event, AuthEvent::Sudo { user, .. } if user == "ubuntu"))
        .expect("a sudo by ubuntu");
    assert_eq!(first_sudo.actor.name, "mallory@example.com");
    assert_eq!(first_sudo.actor.via, "ubuntu");
    // Carol's certificate login is carol's.
    assert!(logins
        .iter()
        .any(|a| a.actor.name == "carol@example.com"
            && a.actor.identified_by.contains("SHA256:pTGD")));
}

#[test]
fn an_unregistered_key_is_flagged() {
    // Only ubuntu's authorized_keys: trudy's key (never authorized) and the
    // keys of alice and bob offered to ubuntu are unknown.
    let mut registry = KeyRegistry::new();
    registry
        .add_authorized_keys(
            &testdata("authorized_keys/ubuntu.authorized_keys"),
            "ubuntu",
        )
        .unwrap();
    let events = attribute(registry);
    let flagged: Vec<&Attributed> = events.iter().filter(|a| a.unknown_key).collect();
    assert!(
        flagged.iter().any(|a| a
            .actor
            .identified_by
            .contains("SHA256:5wqa9GxDq3FMkS0y968vrAPzf91Tj42Zt87HUouzoqE")),
        "trudy's key is flagged"
    );
    assert!(flagged.iter().all(|a| a.actor.kind == ActorKind::Unknown));
}
