//! The per-host state the [`super::attribution::Attributor`] keeps: open
//! SSH connections and what hangs off them (child processes, terminals,
//! audit sessions, su and sudo processes, PAM sessions), and the rules that
//! tie a sudo, su or PAM line to one of them.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use whodid_model::Actor;

use super::attribution::Link;
use super::events::{AuthEvent, LogindChange};
use crate::syslog::SyslogLine;

/// How long after a sudo its PAM session line may come.
pub(crate) const SUDO_SESSION_WINDOW: SignedDuration = SignedDuration::from_secs(2);
/// How long after `sudo su` the su line may come.
pub(crate) const SU_WINDOW: SignedDuration = SignedDuration::from_secs(5);
/// Connections remembered per host before the oldest are forgotten (a log
/// rotated in the middle of sessions never closes them).
pub(crate) const MAX_CONNECTIONS: usize = 16_384;

#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) account: String,
    pub(crate) actor: Actor,
    pub(crate) unknown_key: bool,
    pub(crate) source: String,
    pub(crate) login: Timestamp,
    pub(crate) session_open: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RecentSudo {
    pub(crate) monitor: u32,
    pub(crate) account: String,
    pub(crate) run_as: String,
    pub(crate) time: Timestamp,
    pub(crate) runs_su: bool,
}

#[derive(Debug, Default)]
pub(crate) struct HostState {
    /// sshd monitor pid → connection.
    pub(crate) connections: HashMap<u32, Connection>,
    /// sshd user child pid → monitor pid.
    pub(crate) children: HashMap<u32, u32>,
    /// Terminal (`pts/0`) → monitor pid.
    pub(crate) terminals: HashMap<String, u32>,
    /// Audit session → monitor pid (journal).
    pub(crate) audit_sessions: HashMap<u32, u32>,
    /// su/sudo pid → monitor pid.
    pub(crate) processes: HashMap<u32, u32>,
    /// uid → account, learned from PAM lines.
    pub(crate) uids: HashMap<u32, String>,
    pub(crate) last_sudo: Option<RecentSudo>,
    /// Open sudo/su PAM sessions without a pid, innermost last.
    pub(crate) pam_stack: Vec<(String, u32)>,
    /// PAM sessions no connection claimed: (service, pid, who opened it),
    /// innermost last — so their close names the same account.
    pub(crate) unlinked_sessions: Vec<(String, Option<u32>, String)>,
    /// logind session id → (monitor pid, its connection), kept until
    /// logind removes the session (after sshd has closed the connection).
    pub(crate) logind: HashMap<String, (u32, Connection)>,
}

impl HostState {
    pub(crate) fn monitor_of(&self, pid: u32) -> Option<u32> {
        if self.connections.contains_key(&pid) {
            return Some(pid);
        }
        self.children.get(&pid).copied()
    }

    pub(crate) fn forget(&mut self, monitor: u32) {
        self.connections.remove(&monitor);
        self.children.retain(|_, m| *m != monitor);
        self.terminals.retain(|_, m| *m != monitor);
        self.audit_sessions.retain(|_, m| *m != monitor);
        self.processes.retain(|_, m| *m != monitor);
        self.pam_stack.retain(|(_, m)| *m != monitor);
    }

    pub(crate) fn prune(&mut self) {
        if self.connections.len() <= MAX_CONNECTIONS {
            return;
        }
        let mut logins: Vec<(Timestamp, u32)> = self
            .connections
            .iter()
            .map(|(pid, c)| (c.login, *pid))
            .collect();
        logins.sort_unstable();
        for (_, pid) in logins.into_iter().take(MAX_CONNECTIONS / 2) {
            self.forget(pid);
        }
    }

    /// The only open session of `account`, if there is exactly one.
    pub(crate) fn only_open_session(&self, account: &str) -> Option<u32> {
        let mut open = self
            .connections
            .iter()
            .filter(|(_, c)| c.session_open && c.account == account);
        let (pid, _) = open.next()?;
        open.next().is_none().then_some(*pid)
    }
}

pub(crate) fn is_su_command(command: &str) -> bool {
    let program = command.split(' ').next().unwrap_or("");
    program == "su" || program.ends_with("/su")
}

pub(crate) fn terminal(tty: &str) -> &str {
    tty.strip_prefix("/dev/").unwrap_or(tty)
}

/// The connection a systemd-logind line is about. `New session N of user
/// U` claims the latest connection of U with an open PAM session and no
/// logind session yet; later lines find it by N.
pub(crate) fn logind_connection(
    host: &mut HostState,
    session: &str,
    user: Option<&str>,
    change: LogindChange,
) -> Option<(u32, Connection)> {
    match change {
        LogindChange::New => {
            let user = user?;
            let (monitor, connection) = host
                .connections
                .iter()
                .filter(|(pid, c)| {
                    c.session_open
                        && c.account == user
                        && !host.logind.values().any(|(m, _)| m == *pid)
                })
                .max_by_key(|(pid, c)| (c.login, **pid))
                .map(|(pid, c)| (*pid, c.clone()))?;
            if let Ok(audit_session) = session.parse::<u32>() {
                host.audit_sessions.insert(audit_session, monitor);
            }
            if host.logind.len() >= MAX_CONNECTIONS {
                host.logind.clear();
            }
            host.logind
                .insert(session.to_owned(), (monitor, connection.clone()));
            Some((monitor, connection))
        }
        LogindChange::LoggedOut => host.logind.get(session).cloned(),
        LogindChange::Removed => host.logind.remove(session),
    }
}

/// sshd's bookkeeping: child processes, terminals, audit sessions.
pub(crate) fn track_sshd(host: &mut HostState, line: &SyslogLine<'_>) {
    let Some(pid) = line.pid else { return };
    if let (Some(session), Some(monitor)) = (line.audit_session, host.monitor_of(pid)) {
        host.audit_sessions.insert(session, monitor);
    }
    let message: &str = &line.message;
    if let Some(child) = message.strip_prefix("User child is on pid ") {
        if let (Ok(child), true) = (
            child.trim().parse::<u32>(),
            host.connections.contains_key(&pid),
        ) {
            host.children.insert(child, pid);
        }
    } else if let Some(rest) = message.strip_prefix("Starting session: ") {
        // "shell on pts/0 for ubuntu from …"; "command for ubuntu …" has none.
        let Some((kind, after_on)) = rest.split_once(" on ") else {
            return;
        };
        if kind.contains(" for ") {
            return;
        }
        if let (Some(tty), Some(monitor)) = (after_on.split(' ').next(), host.monitor_of(pid)) {
            host.terminals.insert(tty.to_owned(), monitor);
        }
    } else if message.starts_with("Close session: ") {
        if let Some(monitor) = host.monitor_of(pid) {
            host.terminals.retain(|_, m| *m != monitor);
        }
    }
}

/// The account that acted: for a sudo or su PAM session the one who
/// opened it (`by (uid=1100)` → `ubuntu`; the close line names only the
/// target, so it takes the opener of the matching open line), else the
/// event's own.
pub(crate) fn acting_account(
    host: &mut HostState,
    line: &SyslogLine<'_>,
    event: &AuthEvent,
) -> String {
    match event {
        AuthEvent::SessionOpened {
            service,
            by,
            by_uid,
            user,
            ..
        } if service != "sshd" => {
            if !by.is_empty() {
                return by.clone();
            }
            match by_uid {
                Some(uid) => host
                    .uids
                    .get(uid)
                    .cloned()
                    .unwrap_or_else(|| format!("uid={uid}")),
                None => user.clone(),
            }
        }
        AuthEvent::SessionClosed { service, user } if service != "sshd" => {
            let at = host
                .unlinked_sessions
                .iter()
                .rposition(|(s, pid, _)| s == service && *pid == line.pid);
            match at {
                Some(at) => host.unlinked_sessions.remove(at).2,
                None => user.clone(),
            }
        }
        _ => event.account().to_owned(),
    }
}

/// The connection a non-login event belongs to, and how it was found.
pub(crate) fn find_connection(
    host: &mut HostState,
    line: &SyslogLine<'_>,
    event: &AuthEvent,
) -> Option<(u32, Link)> {
    let by_pid = line.pid.and_then(|pid| {
        if line.program == "sshd" {
            host.monitor_of(pid)
        } else {
            host.processes.get(&pid).copied()
        }
    });
    if let Some(monitor) = by_pid {
        return Some((monitor, Link::Pid));
    }
    if line.program == "sshd" {
        return None;
    }
    if let Some(monitor) = line
        .audit_session
        .and_then(|s| host.audit_sessions.get(&s).copied())
    {
        return Some((monitor, Link::AuditSession));
    }
    match event {
        AuthEvent::Sudo { user, tty, .. } | AuthEvent::SudoDenied { user, tty, .. } => match tty {
            Some(tty) => host
                .terminals
                .get(terminal(tty))
                .map(|m| (*m, Link::Terminal)),
            None => host
                .only_open_session(user)
                .map(|m| (m, Link::OnlyOpenSession)),
        },
        AuthEvent::AuthFailure { tty: Some(tty), .. } => host
            .terminals
            .get(terminal(tty))
            .map(|m| (*m, Link::Terminal)),
        AuthEvent::Su { user, tty, .. } => {
            let after_sudo = host.last_sudo.as_ref().filter(|s| {
                s.runs_su && s.run_as == *user && line.time.duration_since(s.time) <= SU_WINDOW
            });
            match after_sudo {
                Some(sudo) => Some((sudo.monitor, Link::Sudo)),
                None => host
                    .terminals
                    .get(terminal(tty))
                    .map(|m| (*m, Link::Terminal)),
            }
        }
        AuthEvent::SessionOpened {
            service, by_uid, ..
        } => {
            let by = by_uid.and_then(|uid| host.uids.get(&uid));
            host.last_sudo
                .as_ref()
                .filter(|s| {
                    service.starts_with("sudo")
                        && line.time.duration_since(s.time) <= SUDO_SESSION_WINDOW
                        && by.is_none_or(|account| *account == s.account)
                })
                .map(|s| (s.monitor, Link::Sudo))
        }
        AuthEvent::SessionClosed { service, .. } => host
            .pam_stack
            .iter()
            .rposition(|(s, _)| s == service)
            .map(|at| (host.pam_stack.remove(at).1, Link::Sudo)),
        _ => None,
    }
}

/// Bookkeeping after an event was linked to `monitor`'s connection.
pub(crate) fn after_linked(
    host: &mut HostState,
    line: &SyslogLine<'_>,
    event: &AuthEvent,
    monitor: u32,
) {
    let sshd = line.program == "sshd";
    match event {
        AuthEvent::SessionOpened {
            service, user, uid, ..
        } => {
            if let Some(uid) = uid {
                host.uids.insert(*uid, user.clone());
            }
            if sshd {
                if let Some(c) = host.connections.get_mut(&monitor) {
                    c.session_open = true;
                }
            } else if let Some(pid) = line.pid {
                host.processes.insert(pid, monitor);
            } else {
                host.pam_stack.push((service.clone(), monitor));
            }
        }
        AuthEvent::SessionClosed { .. } => {
            if sshd {
                host.forget(monitor);
            } else if let Some(pid) = line.pid {
                host.processes.remove(&pid);
            }
        }
        AuthEvent::Sudo {
            user,
            run_as,
            command,
            ..
        } => {
            if let Some(pid) = line.pid {
                host.processes.insert(pid, monitor);
            }
            host.last_sudo = Some(RecentSudo {
                monitor,
                account: user.clone(),
                run_as: run_as.clone().unwrap_or_else(|| "root".to_owned()),
                time: line.time,
                runs_su: is_su_command(command),
            });
        }
        AuthEvent::Su { .. } => {
            if let Some(pid) = line.pid {
                host.processes.insert(pid, monitor);
            }
            host.last_sudo = None;
        }
        _ => {}
    }
}

/// Bookkeeping after an event no connection claimed.
pub(crate) fn after_unlinked(
    host: &mut HostState,
    line: &SyslogLine<'_>,
    event: &AuthEvent,
    account: &str,
) {
    match event {
        AuthEvent::SessionOpened {
            service, user, uid, ..
        } => {
            if let Some(uid) = uid {
                host.uids.insert(*uid, user.clone());
            }
            if service != "sshd" {
                host.unlinked_sessions
                    .push((service.clone(), line.pid, account.to_owned()));
                if host.unlinked_sessions.len() > MAX_CONNECTIONS {
                    host.unlinked_sessions.remove(0);
                }
            }
        }
        // A sudo nobody could link must not lend its connection-less state
        // to the PAM lines after it.
        AuthEvent::Sudo { .. } | AuthEvent::SudoDenied { .. } => host.last_sudo = None,
        _ => {}
    }
}
