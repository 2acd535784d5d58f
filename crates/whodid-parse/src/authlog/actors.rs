//! Who an actor is, from what a login line says: a registered key's owner,
//! a certificate's ID, a personal account's person, or just the account
//! (with how it was identified, and unknown keys flagged).

use whodid_model::{Actor, ActorKind};

use super::events::Method;
use super::keys::KeyRegistry;

/// An actor known only by the account name the log gives.
pub(crate) fn unknown_actor(account: &str, identified_by: String) -> Actor {
    Actor {
        name: account.to_owned(),
        kind: ActorKind::Unknown,
        groups: Vec::new(),
        identified_by,
        via: String::new(),
    }
}

/// The actor of an account nobody linked to a login: its person when the
/// registry names one (a personal account), else the account itself.
pub(crate) fn account_actor(registry: &KeyRegistry, account: &str, how: &str) -> Actor {
    match registry.account_owner(account) {
        Some(person) => Actor {
            name: person.to_owned(),
            kind: ActorKind::Person,
            groups: Vec::new(),
            identified_by: format!("account {account}"),
            via: if person == account {
                String::new()
            } else {
                account.to_owned()
            },
        },
        None => unknown_actor(account, how.to_owned()),
    }
}

pub(crate) fn person(name: &str, identified_by: String, account: &str) -> Actor {
    Actor {
        name: name.to_owned(),
        kind: ActorKind::Person,
        groups: Vec::new(),
        identified_by,
        via: if name == account {
            String::new()
        } else {
            account.to_owned()
        },
    }
}

/// Who logged in (or tried to) with this key or password.
pub(crate) fn login_actor(
    registry: &KeyRegistry,
    account: &str,
    method: &Method,
    fingerprint: Option<&str>,
    certificate_id: Option<&str>,
    proven: bool,
) -> (Actor, bool) {
    if let Some(fp) = fingerprint {
        // A failed publickey line means the key was offered, not proven.
        let how = if proven { "ssh-key" } else { "ssh-key-offered" };
        if let Some(owner) = registry.owner(fp) {
            return (person(&owner.person, format!("{how} {fp}"), account), false);
        }
        if let (Some(id), true) = (certificate_id, proven) {
            return (
                person(id, format!("ssh-certificate {id} key {fp}"), account),
                false,
            );
        }
        return (unknown_actor(account, format!("unknown-key {fp}")), true);
    }
    let how = match method {
        Method::Password => "password",
        Method::KeyboardInteractive => "keyboard-interactive",
        Method::Publickey => "ssh-key",
        Method::Other(other) => other.as_str(),
    };
    (account_actor(registry, account, how), false)
}
