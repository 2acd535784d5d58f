//! What sshd, sudo, su and pam_unix say, as typed events.
//!
//! Only audit-relevant messages become events: logins (accepted, failed,
//! invalid user), pre-authentication disconnects, PAM sessions and
//! authentication failures, sudo commands and denials, su, systemd-logind
//! sessions. The rest
//! (`Postponed publickey`, `Accepted key … found at`, pam_limits and
//! pam_systemd noise, …) is skipped and counted by the caller. A message
//! that starts like an audit-relevant one but does not parse (a truncated
//! line) is a [`ShapeError`], not a silent skip. Shapes follow OpenSSH 9.2
//! with `LogLevel VERBOSE`, sudo 1.9 and Linux-PAM 1.5 as recorded in
//! `testdata/ssh`, plus the older shapes its README lists.

use serde::Serialize;
use whodid_model::Outcome;

use super::{logind, pam, sshd, sudo};

/// How a login authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A public key (or a certificate).
    Publickey,
    /// A password.
    Password,
    /// keyboard-interactive (PAM).
    KeyboardInteractive,
    /// Anything else sshd names (`none`, `hostbased`, `gssapi-with-mic`).
    Other(String),
}

impl Method {
    pub(crate) fn parse(word: &str) -> Method {
        match word {
            "publickey" => Method::Publickey,
            "password" => Method::Password,
            "keyboard-interactive/pam" | "keyboard-interactive" => Method::KeyboardInteractive,
            other => Method::Other(other.to_owned()),
        }
    }
}

/// An SSH user certificate used to log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    /// The certificate's key id (`ID carol@example.com`).
    pub id: String,
    /// Its serial.
    pub serial: u64,
    /// The CA key's type and fingerprint (`ED25519 SHA256:…`).
    pub ca: String,
}

/// What systemd-logind said about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogindChange {
    /// `New session N of user U.`
    New,
    /// `Session N logged out. …`
    LoggedOut,
    /// `Removed session N.`
    Removed,
}

/// One audit-relevant auth event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuthEvent {
    /// A successful SSH login.
    Login {
        /// The account logged into.
        user: String,
        /// How.
        method: Method,
        /// Client address.
        address: String,
        /// Client port.
        port: u16,
        /// Key type (`ED25519`, `RSA`, `ECDSA-CERT`, …) for key logins.
        key_type: Option<String>,
        /// `SHA256:…` fingerprint for key logins (the key's, for certificates).
        fingerprint: Option<String>,
        /// The certificate, for certificate logins.
        certificate: Option<Certificate>,
    },
    /// A failed authentication attempt.
    LoginFailed {
        /// The account tried.
        user: String,
        /// How.
        method: Method,
        /// Client address.
        address: String,
        /// Client port.
        port: u16,
        /// Whether the account does not exist.
        invalid_user: bool,
        /// Key type, for key attempts.
        key_type: Option<String>,
        /// Fingerprint, for key attempts.
        fingerprint: Option<String>,
    },
    /// A connection for an account that does not exist.
    InvalidUser {
        /// The name tried.
        user: String,
        /// Client address.
        address: String,
        /// Client port.
        port: u16,
    },
    /// A connection that ended before authentication completed.
    PreauthDisconnect {
        /// The account, when known.
        user: Option<String>,
        /// Client address.
        address: String,
        /// Client port.
        port: u16,
        /// What sshd said (`Too many authentication failures`, …).
        reason: String,
    },
    /// A PAM session opened (sshd, sudo, su, …).
    SessionOpened {
        /// The PAM service (`sshd`, `sudo`, `sudo-i`, `su`, `su-l`).
        service: String,
        /// The user the session is for.
        user: String,
        /// That user's uid.
        uid: Option<u32>,
        /// Who opened it (login name, often empty).
        by: String,
        /// Their uid.
        by_uid: Option<u32>,
    },
    /// A PAM session closed.
    SessionClosed {
        /// The PAM service.
        service: String,
        /// The user the session was for.
        user: String,
    },
    /// A command run through sudo.
    Sudo {
        /// Who ran it.
        user: String,
        /// The terminal, when there was one.
        tty: Option<String>,
        /// Working directory (`sudo -i` logs the target's home).
        pwd: Option<String>,
        /// The user it ran as.
        run_as: Option<String>,
        /// The command line.
        command: String,
    },
    /// A sudo command refused.
    SudoDenied {
        /// Who tried.
        user: String,
        /// sudo's reason (`user NOT in sudoers`, `command not allowed`,
        /// `3 incorrect password attempts`, `a password is required`).
        reason: String,
        /// The terminal.
        tty: Option<String>,
        /// Working directory.
        pwd: Option<String>,
        /// The user it would have run as.
        run_as: Option<String>,
        /// The command line.
        command: String,
    },
    /// A switch of user with su.
    Su {
        /// The user switched to.
        target: String,
        /// Who switched.
        user: String,
        /// The terminal (`none` when there was none).
        tty: String,
        /// False for `FAILED SU`.
        success: bool,
    },
    /// A PAM authentication failure (wrong password to sudo, su, sshd).
    AuthFailure {
        /// The PAM service.
        service: String,
        /// The user whose password was tried (empty for unknown users).
        user: String,
        /// The user asking (`ruser=`), when given.
        ruser: Option<String>,
        /// The terminal (`tty=`; `ssh` for sshd).
        tty: Option<String>,
        /// The remote host, when given.
        rhost: Option<String>,
    },
    /// A systemd-logind session (its id is the audit session).
    LogindSession {
        /// The session id (`3`, `c1`).
        session: String,
        /// The user, on `New session` lines.
        user: Option<String>,
        /// What happened to it.
        change: LogindChange,
    },
}

/// A message of a known audit-relevant kind that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {program} message ({shape})")]
pub struct ShapeError {
    /// The program (`sshd`, `sudo`, `su`, `pam_unix`).
    pub program: &'static str,
    /// The shape it started like (`Accepted …`, `user : … COMMAND=`).
    pub shape: &'static str,
}

impl AuthEvent {
    /// The envelope's action name (`ssh.login`, `sudo`, …).
    pub fn action(&self) -> &'static str {
        match self {
            AuthEvent::Login { .. } => "ssh.login",
            AuthEvent::LoginFailed { .. } => "ssh.login_failed",
            AuthEvent::InvalidUser { .. } => "ssh.invalid_user",
            AuthEvent::PreauthDisconnect { .. } => "ssh.disconnect",
            AuthEvent::SessionOpened { .. } => "session.open",
            AuthEvent::SessionClosed { .. } => "session.close",
            AuthEvent::Sudo { .. } => "sudo",
            AuthEvent::SudoDenied { .. } => "sudo.denied",
            AuthEvent::Su { .. } => "su",
            AuthEvent::AuthFailure { .. } => "auth.failure",
            AuthEvent::LogindSession { change, .. } => match change {
                LogindChange::New => "logind.new_session",
                LogindChange::LoggedOut => "logind.logged_out",
                LogindChange::Removed => "logind.removed",
            },
        }
    }

    /// Whether it worked.
    pub fn outcome(&self) -> Outcome {
        match self {
            AuthEvent::Login { .. }
            | AuthEvent::SessionOpened { .. }
            | AuthEvent::SessionClosed { .. }
            | AuthEvent::Sudo { .. }
            | AuthEvent::LogindSession { .. } => Outcome::Success,
            AuthEvent::Su { success, .. } => {
                if *success {
                    Outcome::Success
                } else {
                    Outcome::Denied
                }
            }
            AuthEvent::LoginFailed { .. }
            | AuthEvent::InvalidUser { .. }
            | AuthEvent::SudoDenied { .. }
            | AuthEvent::AuthFailure { .. } => Outcome::Denied,
            AuthEvent::PreauthDisconnect { .. } => Outcome::Failure,
        }
    }

    /// What it was done to: the account logged into or tried, the user a
    /// session is for, the user sudo or su ran as.
    pub fn target(&self) -> &str {
        match self {
            AuthEvent::Login { user, .. }
            | AuthEvent::LoginFailed { user, .. }
            | AuthEvent::InvalidUser { user, .. }
            | AuthEvent::SessionOpened { user, .. }
            | AuthEvent::SessionClosed { user, .. }
            | AuthEvent::AuthFailure { user, .. } => user,
            AuthEvent::PreauthDisconnect { user, .. } | AuthEvent::LogindSession { user, .. } => {
                user.as_deref().unwrap_or("")
            }
            AuthEvent::Sudo { run_as, .. } | AuthEvent::SudoDenied { run_as, .. } => {
                run_as.as_deref().unwrap_or("root")
            }
            AuthEvent::Su { target, .. } => target,
        }
    }

    /// The account that acted, as the log names it (before attribution).
    pub fn account(&self) -> &str {
        match self {
            AuthEvent::Login { user, .. }
            | AuthEvent::LoginFailed { user, .. }
            | AuthEvent::InvalidUser { user, .. }
            | AuthEvent::SessionOpened { user, .. }
            | AuthEvent::SessionClosed { user, .. }
            | AuthEvent::Sudo { user, .. }
            | AuthEvent::SudoDenied { user, .. }
            | AuthEvent::Su { user, .. } => user,
            AuthEvent::PreauthDisconnect { user, .. } | AuthEvent::LogindSession { user, .. } => {
                user.as_deref().unwrap_or("")
            }
            AuthEvent::AuthFailure { user, ruser, .. } => {
                ruser.as_deref().filter(|r| !r.is_empty()).unwrap_or(user)
            }
        }
    }

    /// The client address and port, for SSH events.
    pub fn client(&self) -> Option<(&str, u16)> {
        match self {
            AuthEvent::Login { address, port, .. }
            | AuthEvent::LoginFailed { address, port, .. }
            | AuthEvent::InvalidUser { address, port, .. }
            | AuthEvent::PreauthDisconnect { address, port, .. } => Some((address, *port)),
            _ => None,
        }
    }
}

/// Classifies one message of `program`: an event, `Ok(None)` when it is
/// not audit-relevant, or an error when it is a known kind but malformed.
pub fn classify(program: &str, message: &str) -> Result<Option<AuthEvent>, ShapeError> {
    let message = message.trim_end();
    // rsyslog's "message repeated N times: [ …]" folds identical lines.
    let message = unwrap_repeated(message);
    match program {
        "sshd" => match sshd::classify(message)? {
            Some(event) => Ok(Some(event)),
            None => pam::classify(message),
        },
        "sudo" => match sudo::classify_sudo(message)? {
            Some(event) => Ok(Some(event)),
            None => pam::classify(message),
        },
        "su" => match sudo::classify_su(message)? {
            Some(event) => Ok(Some(event)),
            None => pam::classify(message),
        },
        "systemd-logind" => logind::classify(message),
        // PAM modules log under the calling program's name (login, cron,
        // systemd-user, …); only their pam_unix lines matter here.
        _ => pam::classify(message),
    }
}

fn unwrap_repeated(message: &str) -> &str {
    let Some(rest) = message.strip_prefix("message repeated ") else {
        return message;
    };
    match rest.split_once(" times: [") {
        Some((count, inner)) if count.bytes().all(|b| b.is_ascii_digit()) => {
            inner.strip_suffix(']').unwrap_or(inner).trim()
        }
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_messages_are_unwrapped() {
        let e = classify(
            "sshd",
            "message repeated 2 times: [ Failed password for root from 10.0.0.1 port 22 ssh2]",
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.action(), "ssh.login_failed");
    }

    #[test]
    fn unknown_programs_only_count_for_pam_unix() {
        assert_eq!(classify("cron", "garbage"), Ok(None));
        let login = classify(
            "login",
            "pam_unix(login:session): session opened for user root(uid=0) by LOGIN(uid=0)",
        )
        .unwrap()
        .unwrap();
        assert_eq!(login.action(), "session.open");
    }
}
