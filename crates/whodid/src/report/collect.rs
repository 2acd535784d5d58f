//! Building the shared-account report from authlog records in journal
//! order: each login opens a *use* of an account, keyed by host and client
//! address (the envelope's `source`, which every later record of that SSH
//! connection carries); its session, sudo commands and refusals attach to
//! it until the SSH session closes. Failed logins are *attempts*.
//!
//! An account is shared when two or more known people logged in to it,
//! or one whose name is not the account's (`eve@example.com` into
//! `ubuntu`, while `alice@example.com` into `alice` is a personal
//! account), or when named with `--account`. Only shared accounts are
//! reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use serde::Serialize;
use whodid_model::{ActorKind, Envelope};
use whodid_parse::authlog::AuthEvent;

use super::events::event_of;
use super::window::Window;

/// One login to an account and what was done on it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Use {
    pub(crate) account: String,
    pub(crate) host: String,
    pub(crate) login: Timestamp,
    /// The person (the account itself when the key is unknown).
    pub(crate) person: String,
    /// Whether the key (or certificate, or account) names a known person.
    pub(crate) known: bool,
    /// How the person was identified (`ssh-key SHA256:…`, `unknown-key …`).
    pub(crate) identified_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fingerprint: Option<String>,
    pub(crate) method: String,
    pub(crate) source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_end: Option<Timestamp>,
    pub(crate) sudo: Vec<Command>,
    pub(crate) denied: Vec<Command>,
    /// The login's record in the journal's authlog stream.
    pub(crate) record: u64,
}

/// A sudo command, run or refused.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Command {
    pub(crate) time: Timestamp,
    pub(crate) run_as: String,
    pub(crate) command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    pub(crate) record: u64,
}

/// A failed login to a shared account.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    pub(crate) account: String,
    pub(crate) host: String,
    pub(crate) time: Timestamp,
    pub(crate) person: String,
    pub(crate) known: bool,
    pub(crate) identified_by: String,
    pub(crate) unknown_key: bool,
    pub(crate) source: String,
    pub(crate) record: u64,
}

/// Per shared account: who used it.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct AccountSummary {
    pub(crate) people: BTreeSet<String>,
    pub(crate) logins: usize,
    pub(crate) unknown_key_logins: usize,
    pub(crate) failed_attempts: usize,
    pub(crate) unknown_key_attempts: usize,
    pub(crate) sudo_commands: usize,
    pub(crate) sudo_denied: usize,
    pub(crate) hosts: BTreeSet<String>,
}

/// The finished report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) report: &'static str,
    pub(crate) window: Window,
    /// The authlog records read: `[first, end)`.
    pub(crate) records: (u64, u64),
    pub(crate) accounts: BTreeMap<String, AccountSummary>,
    pub(crate) uses: Vec<Use>,
    pub(crate) attempts: Vec<Attempt>,
    /// Records of `records` that could not be read (damaged journal).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) unreadable_records: Vec<String>,
}

/// The report being built, one record at a time.
#[derive(Debug)]
pub(crate) struct SharedAccountReport {
    window: Window,
    named: BTreeSet<String>,
    uses: Vec<Use>,
    attempts: Vec<Attempt>,
    /// (host, source) → the use its connection is.
    open: HashMap<(String, String), usize>,
}

impl SharedAccountReport {
    pub(crate) fn new(window: Window, named: Vec<String>) -> SharedAccountReport {
        SharedAccountReport {
            window,
            named: named.into_iter().collect(),
            uses: Vec::new(),
            attempts: Vec::new(),
            open: HashMap::new(),
        }
    }

    /// Takes the record at `index` of the authlog stream.
    pub(crate) fn add(&mut self, index: u64, envelope: &Envelope, raw: &str) {
        if !self.window.contains(envelope.time) {
            return;
        }
        let event = event_of(raw, envelope.time);
        let key = (envelope.host.clone(), envelope.source.clone());
        match envelope.action.as_str() {
            "ssh.login" => {
                let (key_type, fingerprint, method) = match &event {
                    Some(AuthEvent::Login {
                        key_type,
                        fingerprint,
                        method,
                        ..
                    }) => (
                        key_type.clone(),
                        fingerprint.clone(),
                        serde_json::to_value(method)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                    ),
                    _ => (None, None, String::new()),
                };
                self.uses.push(Use {
                    account: envelope.target.clone(),
                    host: envelope.host.clone(),
                    login: envelope.time,
                    person: envelope.actor.name.clone(),
                    known: envelope.actor.kind == ActorKind::Person,
                    identified_by: envelope.actor.identified_by.clone(),
                    key_type,
                    fingerprint,
                    method,
                    source: envelope.source.clone(),
                    session_end: None,
                    sudo: Vec::new(),
                    denied: Vec::new(),
                    record: index,
                });
                if !envelope.source.is_empty() {
                    self.open.insert(key, self.uses.len() - 1);
                }
            }
            "ssh.login_failed" => self.attempts.push(Attempt {
                account: envelope.target.clone(),
                host: envelope.host.clone(),
                time: envelope.time,
                person: envelope.actor.name.clone(),
                known: envelope.actor.kind == ActorKind::Person,
                identified_by: envelope.actor.identified_by.clone(),
                unknown_key: envelope.actor.identified_by.starts_with("unknown-key"),
                source: envelope.source.clone(),
                record: index,
            }),
            action => {
                let Some(&at) = self.open.get(&key) else {
                    return;
                };
                let login = &mut self.uses[at];
                // Only records of the login's own person belong to it.
                if login.person != envelope.actor.name {
                    return;
                }
                let command = |run_as: Option<String>, command, tty, reason| Command {
                    time: envelope.time,
                    run_as: run_as.unwrap_or_else(|| "root".to_owned()),
                    command,
                    tty,
                    reason,
                    record: index,
                };
                match (action, event) {
                    (
                        "sudo",
                        Some(AuthEvent::Sudo {
                            run_as,
                            command: line,
                            tty,
                            ..
                        }),
                    ) => login.sudo.push(command(run_as, line, tty, None)),
                    (
                        "sudo.denied",
                        Some(AuthEvent::SudoDenied {
                            run_as,
                            command: line,
                            tty,
                            reason,
                            ..
                        }),
                    ) => login.denied.push(command(run_as, line, tty, Some(reason))),
                    ("session.close", Some(AuthEvent::SessionClosed { service, user }))
                        if service == "sshd" && user == login.account =>
                    {
                        login.session_end = Some(envelope.time);
                        self.open.remove(&key);
                    }
                    _ => {}
                }
            }
        }
    }

    /// The report on the shared accounts.
    pub(crate) fn finish(self, records: (u64, u64)) -> Report {
        let mut people: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for u in self.uses.iter().filter(|u| u.known) {
            people.entry(&u.account).or_default().insert(&u.person);
        }
        let mut shared = self.named.clone();
        for (account, persons) in people {
            if persons.len() >= 2 || persons.iter().any(|p| !is_personal(account, p)) {
                shared.insert(account.to_owned());
            }
        }
        let uses: Vec<Use> = self
            .uses
            .into_iter()
            .filter(|u| shared.contains(&u.account))
            .collect();
        let attempts: Vec<Attempt> = self
            .attempts
            .into_iter()
            .filter(|a| shared.contains(&a.account))
            .collect();
        let mut accounts: BTreeMap<String, AccountSummary> = shared
            .iter()
            .map(|a| (a.clone(), AccountSummary::default()))
            .collect();
        for u in &uses {
            let s = accounts.entry(u.account.clone()).or_default();
            s.logins += 1;
            s.hosts.insert(u.host.clone());
            if u.known {
                s.people.insert(u.person.clone());
            } else {
                s.unknown_key_logins += 1;
            }
            s.sudo_commands += u.sudo.len();
            s.sudo_denied += u.denied.len();
        }
        for a in &attempts {
            let s = accounts.entry(a.account.clone()).or_default();
            s.failed_attempts += 1;
            s.unknown_key_attempts += usize::from(a.unknown_key);
        }
        Report {
            report: "shared-accounts",
            window: self.window,
            records,
            unreadable_records: Vec::new(),
            accounts,
            uses,
            attempts,
        }
    }
}

/// Whether `person` is the owner of the personal `account`: the account
/// is their name, or their e-mail address's local part.
fn is_personal(account: &str, person: &str) -> bool {
    person == account
        || person
            .split_once('@')
            .is_some_and(|(local, _)| local == account)
}
