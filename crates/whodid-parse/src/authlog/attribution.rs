//! Following SSH connections to the person behind them.
//!
//! sshd logs the key only on the `Accepted publickey` line of the privileged
//! monitor process; the user child announces itself (`User child is on pid
//! N`) and names the terminal (`Starting session: shell on pts/0 …`); sudo
//! names only the user and the terminal. The [`Attributor`] ties these
//! together, per host: a login to the shared `ubuntu` account with Eve's key
//! makes that connection Eve's, and a sudo by `ubuntu` on that terminal is
//! Eve's too, via `ubuntu`. A key the registry does not know is flagged.

use std::collections::HashMap;

use whodid_model::{Actor, ActorKind};

use super::events::{classify, AuthEvent, Method};
use super::keys::KeyRegistry;
use crate::syslog::SyslogRecord;

/// An event with the person resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributed {
    /// The event.
    pub event: AuthEvent,
    /// Who did it.
    pub actor: Actor,
    /// True when a key was used that the registry does not know.
    pub unknown_key: bool,
}

#[derive(Debug, Clone)]
struct Connection {
    account: String,
    actor: Actor,
    unknown_key: bool,
}

/// Resolves people across the lines of one stream of auth records.
#[derive(Debug, Default)]
pub struct Attributor {
    registry: KeyRegistry,
    /// (host, monitor pid) → connection.
    connections: HashMap<(String, u32), Connection>,
    /// (host, child pid) → monitor pid.
    children: HashMap<(String, u32), u32>,
    /// (host, tty) → monitor pid of the connection using it.
    terminals: HashMap<(String, String), u32>,
}

fn person_actor(name: &str, identified_by: String, via: &str) -> Actor {
    Actor {
        name: name.to_owned(),
        kind: ActorKind::Person,
        groups: Vec::new(),
        identified_by,
        via: if via == name {
            String::new()
        } else {
            via.to_owned()
        },
    }
}

fn account_actor(account: &str, identified_by: &str) -> Actor {
    Actor {
        name: account.to_owned(),
        kind: ActorKind::Unknown,
        groups: Vec::new(),
        identified_by: identified_by.to_owned(),
        via: String::new(),
    }
}

impl Attributor {
    /// An attributor using `registry`.
    pub fn new(registry: KeyRegistry) -> Attributor {
        Attributor {
            registry,
            ..Attributor::default()
        }
    }

    /// Takes one record; returns the attributed event if it is audit-relevant.
    pub fn observe(&mut self, record: &SyslogRecord) -> Option<Attributed> {
        let host = record.host.clone();
        if record.program == "sshd" {
            self.track_process(record);
        }
        let event = classify(&record.program, &record.message)?;
        let connection = record
            .pid
            .filter(|_| record.program == "sshd")
            .and_then(|pid| self.monitor_of(&host, pid))
            .and_then(|monitor| self.connections.get(&(host.clone(), monitor)))
            .cloned();
        let attributed = match &event {
            AuthEvent::Login {
                user,
                method,
                fingerprint,
                certificate,
                ..
            } => {
                let (actor, unknown_key) = self.resolve_login(
                    user,
                    method,
                    fingerprint.as_deref(),
                    certificate.as_ref().map(|c| c.id.as_str()),
                );
                if let Some(pid) = record.pid {
                    self.connections.insert(
                        (host.clone(), pid),
                        Connection {
                            account: user.clone(),
                            actor: actor.clone(),
                            unknown_key,
                        },
                    );
                }
                Attributed {
                    event: event.clone(),
                    actor,
                    unknown_key,
                }
            }
            AuthEvent::LoginFailed {
                user, fingerprint, ..
            } => {
                let owner = fingerprint
                    .as_deref()
                    .and_then(|fp| self.registry.owner(fp));
                match (owner, fingerprint) {
                    (Some(owner), Some(fp)) => Attributed {
                        actor: person_actor(&owner.person, format!("ssh-key {fp}"), user),
                        unknown_key: false,
                        event: event.clone(),
                    },
                    (None, Some(fp)) => Attributed {
                        actor: account_actor(user, &format!("unknown key {fp}")),
                        unknown_key: true,
                        event: event.clone(),
                    },
                    _ => Attributed {
                        actor: account_actor(user, "password"),
                        unknown_key: false,
                        event: event.clone(),
                    },
                }
            }
            AuthEvent::Sudo { user, tty, .. } | AuthEvent::SudoDenied { user, tty, .. } => {
                let on_terminal = tty
                    .as_ref()
                    .map(|t| t.trim_start_matches("/dev/").to_owned())
                    .and_then(|t| self.terminals.get(&(host.clone(), t)).copied())
                    .and_then(|monitor| self.connections.get(&(host.clone(), monitor)))
                    .filter(|c| c.account == *user)
                    .cloned();
                match on_terminal {
                    Some(c) => Attributed {
                        event: event.clone(),
                        actor: c.actor,
                        unknown_key: c.unknown_key,
                    },
                    None => Attributed {
                        event: event.clone(),
                        actor: account_actor(user, "unix-user"),
                        unknown_key: false,
                    },
                }
            }
            _ => match connection {
                Some(c) => Attributed {
                    event: event.clone(),
                    actor: c.actor,
                    unknown_key: c.unknown_key,
                },
                None => Attributed {
                    actor: account_actor(event_user(&event), "unix-user"),
                    unknown_key: false,
                    event: event.clone(),
                },
            },
        };
        Some(attributed)
    }

    fn resolve_login(
        &self,
        user: &str,
        method: &Method,
        fingerprint: Option<&str>,
        certificate_id: Option<&str>,
    ) -> (Actor, bool) {
        if let Some(fp) = fingerprint {
            if let Some(owner) = self.registry.owner(fp) {
                return (
                    person_actor(&owner.person, format!("ssh-key {fp}"), user),
                    false,
                );
            }
            if let Some(id) = certificate_id {
                return (
                    person_actor(id, format!("ssh-certificate {id} key {fp}"), user),
                    false,
                );
            }
            return (account_actor(user, &format!("unknown key {fp}")), true);
        }
        let how = match method {
            Method::Password => "password",
            Method::KeyboardInteractive => "keyboard-interactive",
            _ => "ssh",
        };
        (person_actor(user, how.to_owned(), user), false)
    }

    fn monitor_of(&self, host: &str, pid: u32) -> Option<u32> {
        if self.connections.contains_key(&(host.to_owned(), pid)) {
            return Some(pid);
        }
        self.children.get(&(host.to_owned(), pid)).copied()
    }

    fn track_process(&mut self, record: &SyslogRecord) {
        let Some(pid) = record.pid else { return };
        if let Some(child) = record.message.strip_prefix("User child is on pid ") {
            if let Ok(child) = child.trim().parse::<u32>() {
                self.children.insert((record.host.clone(), child), pid);
            }
            return;
        }
        if let Some(rest) = record.message.strip_prefix("Starting session: ") {
            // "shell on pts/0 for ubuntu from …" / "command for ubuntu …"
            if let Some((_, after_on)) = rest.split_once(" on ") {
                let tty = after_on.split(' ').next().unwrap_or("");
                if let Some(monitor) = self.monitor_of(&record.host, pid) {
                    self.terminals
                        .insert((record.host.clone(), tty.to_owned()), monitor);
                }
            }
        }
    }
}

fn event_user(event: &AuthEvent) -> &str {
    match event {
        AuthEvent::Login { user, .. }
        | AuthEvent::LoginFailed { user, .. }
        | AuthEvent::InvalidUser { user, .. }
        | AuthEvent::SessionOpened { user, .. }
        | AuthEvent::SessionClosed { user, .. }
        | AuthEvent::Sudo { user, .. }
        | AuthEvent::SudoDenied { user, .. }
        | AuthEvent::Su { user, .. }
        | AuthEvent::AuthFailure { user, .. } => user,
        AuthEvent::PreauthDisconnect { user, .. } => user.as_deref().unwrap_or(""),
    }
}
