//! pam_unix's lines, whichever program loaded it: sessions opened and
//! closed, and authentication failures.
//!
//! Linux-PAM 1.5 writes `session opened for user root(uid=0) by (uid=1100)`;
//! older versions `session opened for user root by vagrant(uid=1000)`. The
//! failure line lists `key=value` pairs, `user=` last and absent for an
//! unknown user.

use super::events::{AuthEvent, ShapeError};

fn malformed(shape: &'static str) -> ShapeError {
    ShapeError {
        program: "pam_unix",
        shape,
    }
}

/// `pam_unix(sudo-i:session): rest` → (`sudo-i`, `rest`).
fn service(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("pam_unix(")?;
    let (inside, rest) = rest.split_once("): ")?;
    let (service, _kind) = inside.split_once(':')?;
    Some((service, rest))
}

/// `ubuntu(uid=1100)`, `(uid=0)` or `root`.
fn user_uid(text: &str) -> (String, Option<u32>) {
    match text.split_once("(uid=") {
        Some((name, uid)) => (name.to_owned(), uid.trim_end_matches(')').parse().ok()),
        None => (text.to_owned(), None),
    }
}

/// Classifies a pam_unix message; `Ok(None)` for anything else.
pub(crate) fn classify(message: &str) -> Result<Option<AuthEvent>, ShapeError> {
    let Some((service, rest)) = service(message) else {
        return Ok(None);
    };
    if let Some(rest) = rest.strip_prefix("session opened for user ") {
        let (target, by) = rest.split_once(" by ").ok_or(malformed("session opened"))?;
        let (user, uid) = user_uid(target);
        let (by, by_uid) = user_uid(by);
        return Ok(Some(AuthEvent::SessionOpened {
            service: service.to_owned(),
            user,
            uid,
            by,
            by_uid,
        }));
    }
    if let Some(user) = rest.strip_prefix("session closed for user ") {
        return Ok(Some(AuthEvent::SessionClosed {
            service: service.to_owned(),
            user: user.trim().to_owned(),
        }));
    }
    if let Some(rest) = rest.strip_prefix("authentication failure;") {
        let mut user = String::new();
        let (mut ruser, mut tty, mut rhost) = (None, None, None);
        let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        for pair in rest.split_whitespace() {
            if let Some(v) = pair.strip_prefix("user=") {
                user = v.to_owned();
            } else if let Some(v) = pair.strip_prefix("ruser=") {
                ruser = non_empty(v);
            } else if let Some(v) = pair.strip_prefix("tty=") {
                tty = non_empty(v);
            } else if let Some(v) = pair.strip_prefix("rhost=") {
                rhost = non_empty(v);
            }
        }
        return Ok(Some(AuthEvent::AuthFailure {
            service: service.to_owned(),
            user,
            ruser,
            tty,
            rhost,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_old_and_new() {
        let new =
            classify("pam_unix(sudo-i:session): session opened for user root(uid=0) by (uid=1100)")
                .unwrap()
                .unwrap();
        assert_eq!(
            new,
            AuthEvent::SessionOpened {
                service: "sudo-i".into(),
                user: "root".into(),
                uid: Some(0),
                by: String::new(),
                by_uid: Some(1100)
            }
        );
        let old =
            classify("pam_unix(sudo:session): session opened for user root by vagrant(uid=1000)")
                .unwrap()
                .unwrap();
        assert!(
            matches!(old, AuthEvent::SessionOpened { uid: None, ref by, .. } if by == "vagrant")
        );
        assert!(classify("pam_unix(sshd:session): session opened for user x").is_err());
    }

    #[test]
    fn failures() {
        let f = classify("pam_unix(sudo:auth): authentication failure; logname= uid=1101 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice")
            .unwrap()
            .unwrap();
        assert_eq!(
            f,
            AuthEvent::AuthFailure {
                service: "sudo".into(),
                user: "alice".into(),
                ruser: Some("alice".into()),
                tty: Some("/dev/pts/0".into()),
                rhost: None
            }
        );
        assert_eq!(
            classify("pam_unix(sshd:auth): check pass; user unknown"),
            Ok(None)
        );
        assert_eq!(
            classify("pam_limits(sshd:session): Could not set limit"),
            Ok(None)
        );
    }
}
