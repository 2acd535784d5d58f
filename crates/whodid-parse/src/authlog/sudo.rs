//! sudo's and su's own lines (their PAM lines are in [`super::pam`]).
//!
//! sudo: `{padded user} : [reason ; ]TTY=… ; PWD=… ; USER=… ; COMMAND=…`.
//! The user is left-padded (journald keeps the padding), `TTY=` is absent
//! without a terminal, newer versions add fields (`ENV=`, `TSID=`), and
//! the command runs to the end of the line — it may itself contain ` ; `.
//! su: `(to {target}) {user} on {tty}`, `FAILED SU (to …) … on …`.

use super::events::{AuthEvent, ShapeError};

fn malformed(program: &'static str, shape: &'static str) -> ShapeError {
    ShapeError { program, shape }
}

struct SudoFields<'a> {
    tty: Option<&'a str>,
    pwd: Option<&'a str>,
    run_as: Option<&'a str>,
    command: Option<&'a str>,
}

/// The `KEY=value ; …` tail; `COMMAND=` takes the rest of the line.
fn sudo_fields(text: &str) -> SudoFields<'_> {
    let (head, command) = match text.find("COMMAND=") {
        Some(at) => (&text[..at], Some(&text[at + "COMMAND=".len()..])),
        None => (text, None),
    };
    let mut fields = SudoFields {
        tty: None,
        pwd: None,
        run_as: None,
        command,
    };
    for field in head.split(';') {
        let field = field.trim();
        if let Some(v) = field.strip_prefix("TTY=") {
            fields.tty = Some(v);
        } else if let Some(v) = field.strip_prefix("PWD=") {
            fields.pwd = Some(v);
        } else if let Some(v) = field.strip_prefix("USER=") {
            fields.run_as = Some(v);
        }
    }
    fields
}

const FIELD_KEYS: [&str; 7] = [
    "TTY=", "PWD=", "USER=", "GROUP=", "ENV=", "TSID=", "COMMAND=",
];

/// Classifies a sudo message; `Ok(None)` for PAM lines and other noise.
pub(crate) fn classify_sudo(message: &str) -> Result<Option<AuthEvent>, ShapeError> {
    let Some((user, rest)) = message.split_once(" : ") else {
        return Ok(None);
    };
    let user = user.trim();
    if user.is_empty() || user.contains(' ') || user.contains('(') {
        return Ok(None);
    }
    // Long commands continue on a second line; it carries nothing new.
    if rest.starts_with("(command continued)") {
        return Ok(None);
    }
    let (reason, fields_text) = if FIELD_KEYS.iter().any(|k| rest.starts_with(k)) {
        (None, rest)
    } else {
        match rest.split_once(" ; ") {
            Some((reason, fields)) => (Some(reason.trim()), fields),
            None => return Err(malformed("sudo", "user : … COMMAND=")),
        }
    };
    let fields = sudo_fields(fields_text);
    let command = fields
        .command
        .ok_or(malformed("sudo", "user : … COMMAND="))?
        .to_owned();
    let owned = |v: Option<&str>| v.map(str::to_owned);
    Ok(Some(match reason {
        None => AuthEvent::Sudo {
            user: user.to_owned(),
            tty: owned(fields.tty),
            pwd: owned(fields.pwd),
            run_as: owned(fields.run_as),
            command,
        },
        Some(reason) => AuthEvent::SudoDenied {
            user: user.to_owned(),
            reason: reason.to_owned(),
            tty: owned(fields.tty),
            pwd: owned(fields.pwd),
            run_as: owned(fields.run_as),
            command,
        },
    }))
}

/// Classifies an su message.
pub(crate) fn classify_su(message: &str) -> Result<Option<AuthEvent>, ShapeError> {
    let (success, rest) = if let Some(rest) = message.strip_prefix("(to ") {
        (true, rest)
    } else if let Some(rest) = message.strip_prefix("FAILED SU (to ") {
        (false, rest)
    } else {
        return Ok(None);
    };
    let (target, rest) = rest
        .split_once(") ")
        .ok_or(malformed("su", "(to …) … on …"))?;
    let (user, tty) = rest
        .rsplit_once(" on ")
        .ok_or(malformed("su", "(to …) … on …"))?;
    Ok(Some(AuthEvent::Su {
        target: target.to_owned(),
        user: user.to_owned(),
        tty: tty.to_owned(),
        success,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_shapes() {
        let run = classify_sudo(
            "  ubuntu : PWD=/home/ubuntu ; USER=root ; COMMAND=/usr/bin/cat /etc/hostname",
        )
        .unwrap()
        .unwrap();
        assert!(
            matches!(run, AuthEvent::Sudo { tty: None, ref command, .. } if command == "/usr/bin/cat /etc/hostname")
        );
        let semicolon = classify_sudo(
            "alice : TTY=pts/0 ; PWD=/ ; USER=root ; ENV=A=1 ; COMMAND=/bin/sh -c a ; b",
        )
        .unwrap()
        .unwrap();
        assert!(
            matches!(semicolon, AuthEvent::Sudo { ref command, .. } if command == "/bin/sh -c a ; b")
        );
        for (line, reason) in [
            ("    dave : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/dave ; USER=root ; COMMAND=/usr/bin/id", "user NOT in sudoers"),
            ("   alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/ls /root", "3 incorrect password attempts"),
            ("     bob : command not allowed ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow", "command not allowed"),
        ] {
            let denied = classify_sudo(line).unwrap().unwrap();
            assert!(matches!(denied, AuthEvent::SudoDenied { reason: ref r, .. } if r == reason), "{line}");
        }
        assert_eq!(
            classify_sudo(
                "pam_unix(sudo:session): session opened for user root(uid=0) by (uid=1100)"
            ),
            Ok(None)
        );
        assert_eq!(classify_sudo("ubuntu : (command continued) more"), Ok(None));
        assert!(
            classify_sudo("  ubuntu : TTY=pts/0 ; PWD=/root ; USER=ro").is_err(),
            "truncated"
        );
    }

    #[test]
    fn su_shapes() {
        let ok = classify_su("(to root) root on pts/1").unwrap().unwrap();
        assert!(matches!(ok, AuthEvent::Su { success: true, ref target, .. } if target == "root"));
        let failed = classify_su("FAILED SU (to root) alice on pts/0")
            .unwrap()
            .unwrap();
        assert!(
            matches!(failed, AuthEvent::Su { success: false, ref user, .. } if user == "alice")
        );
        assert!(classify_su("(to root").is_err());
        assert_eq!(
            classify_su("pam_unix(su:session): session closed for user root"),
            Ok(None)
        );
    }
}
