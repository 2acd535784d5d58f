//! What sshd, sudo, su and pam_unix say, as typed events.
//!
//! Only audit-relevant messages become events: logins (accepted, failed,
//! invalid user), pre-authentication disconnects, PAM sessions, sudo
//! commands and denials, su. The rest (`Postponed publickey`, `Accepted key
//! … found at`, container noise from pam_limits/pam_systemd, …) is skipped
//! and counted by the caller. Shapes follow OpenSSH 9.2 with `LogLevel
//! VERBOSE`, sudo 1.9 and Linux-PAM 1.5 as recorded in `testdata/ssh`.

use serde::Serialize;

/// How a login authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A public key.
    Publickey,
    /// A password.
    Password,
    /// keyboard-interactive (PAM).
    KeyboardInteractive,
    /// Anything else sshd names.
    Other(String),
}

impl Method {
    fn parse(word: &str) -> Method {
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
    /// The CA key's type and fingerprint.
    pub ca: String,
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
        /// `SHA256:…` fingerprint for key logins.
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
        /// What sshd said.
        reason: String,
    },
    /// A PAM session opened (sshd, sudo, su, …).
    SessionOpened {
        /// The PAM service (`sshd`, `sudo`, `sudo-i`, `su`).
        service: String,
        /// The user the session is for.
        user: String,
        /// That user's uid.
        uid: Option<u32>,
        /// Who opened it (login name, may be empty).
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
        /// Working directory.
        pwd: Option<String>,
        /// The user it ran as.
        run_as: Option<String>,
        /// The command line.
        command: Option<String>,
    },
    /// A sudo command refused.
    SudoDenied {
        /// Who tried.
        user: String,
        /// sudo's reason (`user NOT in sudoers`, `command not allowed`, …).
        reason: String,
        /// The terminal.
        tty: Option<String>,
        /// Working directory.
        pwd: Option<String>,
        /// The user it would have run as.
        run_as: Option<String>,
        /// The command line.
        command: Option<String>,
    },
    /// A switch of user with su.
    Su {
        /// The user switched to.
        target: String,
        /// Who switched.
        user: String,
        /// The terminal (`none` when there was none).
        tty: String,
    },
    /// A PAM authentication failure (wrong password to sudo, su, sshd).
    AuthFailure {
        /// The PAM service.
        service: String,
        /// The user whose password was tried.
        user: String,
        /// The remote host, when given.
        rhost: Option<String>,
    },
}

impl AuthEvent {
    /// A short action name for the envelope (`ssh.login`, `sudo`, …).
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
        }
    }
}

/// `... from {ip} port {port}` → (ip, port, what follows).
fn from_port(text: &str) -> Option<(&str, u16, &str)> {
    let rest = text.strip_prefix("from ").unwrap_or(text);
    let (address, rest) = rest.split_once(" port ")?;
    let (port, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let port = port.trim_end_matches(':').parse().ok()?;
    Some((address, port, tail))
}

/// `{ip} port {port}...` (no "from").
fn ip_port(text: &str) -> Option<(&str, u16, &str)> {
    from_port(text)
}

/// The `; KEY=value ; …` tail of sudo lines.
fn sudo_fields(
    text: &str,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let mut tty = None;
    let mut pwd = None;
    let mut user = None;
    let mut command = None;
    // COMMAND= runs to the end of the line and may itself contain " ; ".
    let (head, command_text) = match text.find("COMMAND=") {
        Some(at) => (&text[..at], Some(text[at + 8..].to_owned())),
        None => (text, None),
    };
    for field in head.split(" ; ") {
        let field = field.trim().trim_end_matches(';').trim();
        if let Some(v) = field.strip_prefix("TTY=") {
            tty = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("PWD=") {
            pwd = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("USER=") {
            user = Some(v.to_owned());
        }
    }
    if command_text.is_some() {
        command = command_text;
    }
    (tty, pwd, user, command)
}

fn pam_service<'a>(message: &'a str, module: &str) -> Option<(&'a str, &'a str)> {
    // "pam_unix(sudo-i:session): rest"
    let rest = message.strip_prefix(module)?.strip_prefix('(')?;
    let (inside, rest) = rest.split_once("): ")?;
    let (service, _kind) = inside.split_once(':')?;
    Some((service, rest))
}

fn user_uid(text: &str) -> (String, Option<u32>) {
    // "ubuntu(uid=1100)" or "(uid=0)"
    match text.split_once("(uid=") {
        Some((name, uid)) => (name.to_owned(), uid.trim_end_matches(')').parse().ok()),
        None => (text.to_owned(), None),
    }
}

/// Classifies one message of `program`. `None`: not audit-relevant.
pub fn classify(program: &str, message: &str) -> Option<AuthEvent> {
    let message = message.trim_end();
    match program {
        "sshd" => classify_sshd(message).or_else(|| classify_pam(message)),
        "sudo" => classify_sudo(message).or_else(|| classify_pam(message)),
        "su" => classify_su(message).or_else(|| classify_pam(message)),
        _ => classify_pam(message),
    }
}

fn classify_pam(message: &str) -> Option<AuthEvent> {
    let (service, rest) = pam_service(message, "pam_unix")?;
    if let Some(rest) = rest.strip_prefix("session opened for user ") {
        let (target, by) = rest.split_once(" by ")?;
        let (user, uid) = user_uid(target);
        let (by, by_uid) = user_uid(by);
        return Some(AuthEvent::SessionOpened {
            service: service.to_owned(),
            user,
            uid,
            by,
            by_uid,
        });
    }
    if let Some(user) = rest.strip_prefix("session closed for user ") {
        return Some(AuthEvent::SessionClosed {
            service: service.to_owned(),
            user: user.to_owned(),
        });
    }
    if let Some(rest) = rest.strip_prefix("authentication failure;") {
        let mut user = String::new();
        let mut rhost = None;
        for pair in rest.split_whitespace() {
            if let Some(v) = pair.strip_prefix("user=") {
                user = v.to_owned();
            } else if let Some(v) = pair.strip_prefix("rhost=") {
                rhost = (!v.is_empty()).then(|| v.to_owned());
            }
        }
        return Some(AuthEvent::AuthFailure {
            service: service.to_owned(),
            user,
            rhost,
        });
    }
    None
}

fn classify_sshd(message: &str) -> Option<AuthEvent> {
    if let Some(rest) = message.strip_prefix("Accepted ") {
        let (method, rest) = rest.split_once(" for ")?;
        if method == "key" || method == "certificate" {
            return None; // "Accepted key … found at", "Accepted certificate ID …": details of the login line
        }
        let (user, rest) = rest.split_once(" from ")?;
        let (address, port, tail) = from_port(rest)?;
        let key = tail.strip_prefix("ssh2: ").unwrap_or("");
        let mut words = key.split(' ');
        let key_type = words.next().filter(|w| !w.is_empty()).map(str::to_owned);
        let fingerprint = words.next().map(str::to_owned);
        let certificate = key.split_once(" ID ").and_then(|(_, cert)| {
            let (id, rest) = cert.split_once(" (serial ")?;
            let (serial, rest) = rest.split_once(')')?;
            Some(Certificate {
                id: id.to_owned(),
                serial: serial.parse().ok()?,
                ca: rest
                    .trim()
                    .strip_prefix("CA ")
                    .unwrap_or(rest.trim())
                    .to_owned(),
            })
        });
        return Some(AuthEvent::Login {
            user: user.to_owned(),
            method: Method::parse(method),
            address: address.to_owned(),
            port,
            key_type,
            fingerprint,
            certificate,
        });
    }
    if let Some(rest) = message.strip_prefix("Failed ") {
        let (method, rest) = rest.split_once(" for ")?;
        let (invalid_user, rest) = match rest.strip_prefix("invalid user ") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (user, rest) = rest.rsplit_once(" from ")?;
        let (address, port, tail) = from_port(rest)?;
        let key = tail.strip_prefix("ssh2: ").unwrap_or("");
        let mut words = key.split(' ');
        return Some(AuthEvent::LoginFailed {
            user: user.to_owned(),
            method: Method::parse(method),
            address: address.to_owned(),
            port,
            invalid_user,
            key_type: words.next().filter(|w| !w.is_empty()).map(str::to_owned),
            fingerprint: words.next().map(str::to_owned),
        });
    }
    if let Some(rest) = message.strip_prefix("Invalid user ") {
        let (user, rest) = rest.rsplit_once(" from ")?;
        let (address, port, _) = from_port(rest)?;
        return Some(AuthEvent::InvalidUser {
            user: user.to_owned(),
            address: address.to_owned(),
            port,
        });
    }
    let preauth = [
        ("Connection closed by authenticating user ", true),
        ("Connection closed by invalid user ", true),
        ("Disconnecting authenticating user ", true),
        ("Disconnecting invalid user ", true),
        ("Connection closed by ", false),
        ("Connection reset by ", false),
    ];
    for (prefix, has_user) in preauth {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        if !message.ends_with("[preauth]") && !prefix.starts_with("Connection reset") {
            continue;
        }
        let (user, rest) = if has_user {
            let (user, rest) = rest.split_once(' ')?;
            (Some(user.to_owned()), rest)
        } else {
            (None, rest)
        };
        let (address, port, tail) = ip_port(rest)?;
        let reason = tail
            .trim_start_matches(':')
            .trim()
            .trim_end_matches("[preauth]")
            .trim();
        return Some(AuthEvent::PreauthDisconnect {
            user,
            address: address.to_owned(),
            port,
            reason: if reason.is_empty() {
                prefix.trim().to_owned()
            } else {
                reason.to_owned()
            },
        });
    }
    None
}

fn classify_sudo(message: &str) -> Option<AuthEvent> {
    // "   ubuntu : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/bin/bash"
    let (user, rest) = message.split_once(" : ")?;
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    let first = rest.split(" ; ").next().unwrap_or("");
    let is_field = ["TTY=", "PWD=", "USER=", "COMMAND="]
        .iter()
        .any(|p| first.starts_with(p));
    let (tty, pwd, run_as, command) = sudo_fields(rest);
    if is_field {
        return Some(AuthEvent::Sudo {
            user: user.to_owned(),
            tty,
            pwd,
            run_as,
            command,
        });
    }
    Some(AuthEvent::SudoDenied {
        user: user.to_owned(),
        reason: first.trim().to_owned(),
        tty,
        pwd,
        run_as,
        command,
    })
}

fn classify_su(message: &str) -> Option<AuthEvent> {
    // "(to root) root on pts/1"
    let rest = message.strip_prefix("(to ")?;
    let (target, rest) = rest.split_once(") ")?;
    let (user, tty) = rest.split_once(" on ")?;
    Some(AuthEvent::Su {
        target: target.to_owned(),
        user: user.to_owned(),
        tty: tty.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_publickey_and_certificate() {
        let e = classify("sshd", "Accepted publickey for ubuntu from 127.0.0.1 port 36666 ssh2: ED25519 SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU").unwrap();
        assert!(
            matches!(e, AuthEvent::Login { ref fingerprint, port: 36666, .. } if fingerprint.as_deref() == Some("SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU"))
        );
        let c = classify("sshd", "Accepted publickey for ubuntu from 127.0.0.1 port 35538 ssh2: ECDSA-CERT SHA256:pTGD ID carol@example.com (serial 4242) CA ED25519 SHA256:JbM4").unwrap();
        let AuthEvent::Login {
            certificate: Some(cert),
            key_type,
            ..
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(
            (cert.id.as_str(), cert.serial, key_type.as_deref()),
            ("carol@example.com", 4242, Some("ECDSA-CERT"))
        );
        assert!(classify(
            "sshd",
            "Accepted key ED25519 SHA256:x found at /home/ubuntu/.ssh/authorized_keys:1"
        )
        .is_none());
    }

    #[test]
    fn sudo_shapes() {
        let run = classify(
            "sudo",
            "  ubuntu : PWD=/home/ubuntu ; USER=root ; COMMAND=/usr/bin/cat /etc/hostname",
        )
        .unwrap();
        assert!(
            matches!(run, AuthEvent::Sudo { tty: None, ref command, .. } if command.as_deref() == Some("/usr/bin/cat /etc/hostname"))
        );
        let denied = classify("sudo", "    dave : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/dave ; USER=root ; COMMAND=/usr/bin/id").unwrap();
        assert!(
            matches!(denied, AuthEvent::SudoDenied { ref reason, .. } if reason == "user NOT in sudoers")
        );
    }

    #[test]
    fn noise_is_skipped() {
        assert!(classify(
            "sshd",
            "Postponed publickey for ubuntu from 127.0.0.1 port 36666 ssh2 [preauth]"
        )
        .is_none());
        assert!(classify(
            "sshd",
            "pam_limits(sshd:session): Could not set limit for 'nofile'"
        )
        .is_none());
        assert!(classify("cron", "garbage").is_none());
    }
}
