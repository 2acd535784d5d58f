//! Following SSH connections to the person behind them.
//!
//! sshd logs the key only on the `Accepted publickey` line of the
//! privileged monitor process. From there the [`Attributor`] follows the
//! connection, per host:
//!
//! - the monitor's own lines (PAM session opened/closed) by its pid;
//! - the user child (`User child is on pid N`) and the terminal it starts
//!   (`Starting session: shell on pts/0 …`);
//! - sudo, which names only the user and the terminal: by the journal's
//!   `_AUDIT_SESSION` when there is one (the kernel's login session — it
//!   survives `su`), else by terminal, else — for a sudo without a terminal
//!   (`ssh host sudo cmd`) — by the *only* open session of that account on
//!   that host; with several open sessions the sudo stays the account's,
//!   unattributed, rather than guessed;
//! - sudo's PAM session (no pid in classic files: the sudo just before it)
//!   and an `su` started by `sudo su` (sudo gives it a new terminal);
//! - processes with a pid (su; sudo in the journal) by that pid;
//! - systemd-logind's `New session N of user U.`: the latest connection of
//!   U whose PAM session just opened (logind registers it from that PAM
//!   stack) — and then its later lines, and the journal's `_AUDIT_SESSION`
//!   N, by that number, even after sshd has closed the connection.
//!
//! So a login to the shared `ubuntu` account with Eve's key is Eve's, via
//! `ubuntu`, and so is the `sudo -i` on its terminal. A key the registry
//! does not know leaves the account as actor, of unknown kind, with
//! `identified_by` naming the unknown key.

use std::collections::HashMap;

use serde::Serialize;
use whodid_model::Actor;

use super::actors::{account_actor, login_actor, unknown_actor};
use super::connections::{
    acting_account, after_linked, after_unlinked, find_connection, logind_connection, track_sshd,
    Connection, HostState,
};
use super::events::AuthEvent;
use super::keys::KeyRegistry;
use crate::syslog::SyslogLine;

/// The SSH connection a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRef {
    /// The node.
    pub host: String,
    /// sshd's monitor process.
    pub pid: u32,
    /// When the login was accepted.
    pub login: jiff::Timestamp,
}

/// How a record was tied to its SSH connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// It is the login itself.
    Login,
    /// By process id (sshd's monitor or child, su, sudo in the journal).
    Pid,
    /// By the journal's audit session.
    AuditSession,
    /// By terminal.
    Terminal,
    /// The only open session of that account on that host.
    OnlyOpenSession,
    /// It follows a sudo of that connection (sudo's PAM session, `sudo su`).
    Sudo,
    /// systemd-logind's session, announced just after the connection's
    /// PAM session (and its later lines by session id).
    Logind,
}

/// Who is behind one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// The actor for the envelope.
    pub actor: Actor,
    /// The connection, when linked to one.
    pub connection: Option<ConnectionRef>,
    /// How it was linked.
    pub link: Option<Link>,
    /// The SSH client (`address:port`) of the connection or attempt.
    pub source: String,
    /// A key the registry does not know was used.
    pub unknown_key: bool,
}

/// Resolves people across the lines of one stream of auth records, in
/// order. Pure and deterministic: state is only what earlier lines said.
#[derive(Debug, Default)]
pub struct Attributor {
    registry: KeyRegistry,
    hosts: HashMap<String, HostState>,
}

fn source_of(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

impl Attributor {
    /// An attributor using `registry`.
    pub fn new(registry: KeyRegistry) -> Attributor {
        Attributor {
            registry,
            hosts: HashMap::new(),
        }
    }

    /// The key registry.
    pub fn registry(&self) -> &KeyRegistry {
        &self.registry
    }

    /// Takes one line (every line: sshd's bookkeeping lines carry the
    /// links) and, when it is an event, says who is behind it.
    pub fn observe(
        &mut self,
        line: &SyslogLine<'_>,
        event: Option<&AuthEvent>,
    ) -> Option<Attribution> {
        let host_name: &str = &line.host;
        if !self.hosts.contains_key(host_name) {
            if event.is_none() && line.program != "sshd" {
                return None;
            }
            let mut state = HostState::default();
            state.uids.insert(0, "root".to_owned());
            self.hosts.insert(host_name.to_owned(), state);
        }
        let registry = &self.registry;
        let host = self.hosts.get_mut(host_name)?;
        if line.program == "sshd" {
            track_sshd(host, line);
        }
        let event = event?;
        Some(attribute(registry, host, host_name, line, event))
    }
}

fn attribute(
    registry: &KeyRegistry,
    host: &mut HostState,
    host_name: &str,
    line: &SyslogLine<'_>,
    event: &AuthEvent,
) -> Attribution {
    let unlinked = |actor: Actor, source: String, unknown_key: bool| Attribution {
        actor,
        connection: None,
        link: None,
        source,
        unknown_key,
    };
    match event {
        AuthEvent::Login {
            user,
            method,
            address,
            port,
            fingerprint,
            certificate,
            ..
        } => {
            let cert_id = certificate.as_ref().map(|c| c.id.as_str());
            let (actor, unknown_key) = login_actor(
                registry,
                user,
                method,
                fingerprint.as_deref(),
                cert_id,
                true,
            );
            let source = source_of(address, *port);
            let Some(pid) = line.pid else {
                return unlinked(actor, source, unknown_key);
            };
            host.forget(pid);
            host.connections.insert(
                pid,
                Connection {
                    account: user.clone(),
                    actor: actor.clone(),
                    unknown_key,
                    source: source.clone(),
                    login: line.time,
                    session_open: false,
                },
            );
            host.prune();
            Attribution {
                actor,
                connection: Some(ConnectionRef {
                    host: host_name.to_owned(),
                    pid,
                    login: line.time,
                }),
                link: Some(Link::Login),
                source,
                unknown_key,
            }
        }
        AuthEvent::LoginFailed {
            user,
            method,
            address,
            port,
            fingerprint,
            ..
        } => {
            let (actor, unknown_key) =
                login_actor(registry, user, method, fingerprint.as_deref(), None, false);
            unlinked(actor, source_of(address, *port), unknown_key)
        }
        AuthEvent::InvalidUser {
            user,
            address,
            port,
        } => unlinked(
            unknown_actor(user, "invalid-user".to_owned()),
            source_of(address, *port),
            false,
        ),
        AuthEvent::PreauthDisconnect {
            user,
            address,
            port,
            ..
        } => unlinked(
            unknown_actor(user.as_deref().unwrap_or(""), "unauthenticated".to_owned()),
            source_of(address, *port),
            false,
        ),
        AuthEvent::LogindSession {
            session,
            user,
            change,
        } => match logind_connection(host, session, user.as_deref(), *change) {
            Some((monitor, connection)) => Attribution {
                actor: connection.actor.clone(),
                connection: Some(ConnectionRef {
                    host: host_name.to_owned(),
                    pid: monitor,
                    login: connection.login,
                }),
                link: Some(Link::Logind),
                source: connection.source.clone(),
                unknown_key: connection.unknown_key,
            },
            None => unlinked(
                account_actor(registry, user.as_deref().unwrap_or(""), "unix-user"),
                String::new(),
                false,
            ),
        },
        _ => {
            let found = find_connection(host, line, event);
            match found.and_then(|(monitor, link)| {
                host.connections.get(&monitor).map(|c| (monitor, link, c))
            }) {
                Some((monitor, link, connection)) => {
                    // The person, via the account they logged in to.
                    let actor = connection.actor.clone();
                    let attribution = Attribution {
                        actor,
                        connection: Some(ConnectionRef {
                            host: host_name.to_owned(),
                            pid: monitor,
                            login: connection.login,
                        }),
                        link: Some(link),
                        source: connection.source.clone(),
                        unknown_key: connection.unknown_key,
                    };
                    after_linked(host, line, event, monitor);
                    attribution
                }
                None => {
                    let account = acting_account(host, line, event);
                    after_unlinked(host, line, event, &account);
                    let (how, source) = match event {
                        // Before authentication: nobody is known yet.
                        AuthEvent::AuthFailure { service, rhost, .. } if service == "sshd" => {
                            ("unauthenticated", rhost.clone().unwrap_or_default())
                        }
                        _ => ("unix-user", String::new()),
                    };
                    unlinked(account_actor(registry, &account, how), source, false)
                }
            }
        }
    }
}
