//! systemd-logind's session lines, on nodes with systemd: `New session 3
//! of user ubuntu.`, `Session 3 logged out. Waiting for processes to
//! exit.`, `Removed session 3.` (systemd 252 wording; older versions say
//! the same). The session number is the kernel's audit session, which the
//! journal stamps on every process of the login (`_AUDIT_SESSION`), so
//! linking it to the SSH connection links sudo in the journal too. Seat
//! and button lines are noise.

use super::events::{AuthEvent, LogindChange, ShapeError};

fn malformed(shape: &'static str) -> ShapeError {
    ShapeError {
        program: "systemd-logind",
        shape,
    }
}

/// A logind session id: digits, or `c1`-style ids of sessions without an
/// audit session (cron, lingering users).
fn session_id(text: &str) -> Option<&str> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(text)
}

/// Classifies a systemd-logind message; `Ok(None)` for anything else.
pub(crate) fn classify(message: &str) -> Result<Option<AuthEvent>, ShapeError> {
    let message = message.trim_end();
    if let Some(rest) = message.strip_prefix("New session ") {
        let (id, user) = rest
            .split_once(" of user ")
            .ok_or(malformed("New session"))?;
        let user = user.strip_suffix('.').unwrap_or(user);
        let id = session_id(id).ok_or(malformed("New session"))?;
        if user.is_empty() {
            return Err(malformed("New session"));
        }
        return Ok(Some(AuthEvent::LogindSession {
            session: id.to_owned(),
            user: Some(user.to_owned()),
            change: LogindChange::New,
        }));
    }
    if let Some(rest) = message.strip_prefix("Removed session ") {
        let id = session_id(rest.strip_suffix('.').unwrap_or(rest))
            .ok_or(malformed("Removed session"))?;
        return Ok(Some(AuthEvent::LogindSession {
            session: id.to_owned(),
            user: None,
            change: LogindChange::Removed,
        }));
    }
    if let Some(rest) = message.strip_prefix("Session ") {
        if let Some((id, _)) = rest.split_once(" logged out.") {
            let id = session_id(id).ok_or(malformed("Session logged out"))?;
            return Ok(Some(AuthEvent::LogindSession {
                session: id.to_owned(),
                user: None,
                change: LogindChange::LoggedOut,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_session_lines() {
        let new = classify("New session 3 of user ubuntu.").unwrap().unwrap();
        assert_eq!(
            new,
            AuthEvent::LogindSession {
                session: "3".into(),
                user: Some("ubuntu".into()),
                change: LogindChange::New
            }
        );
        let out = classify("Session 3 logged out. Waiting for processes to exit.")
            .unwrap()
            .unwrap();
        assert_eq!(out.action(), "logind.logged_out");
        let removed = classify("Removed session c12.").unwrap().unwrap();
        assert_eq!(removed.action(), "logind.removed");
        assert_eq!(classify("New seat seat0."), Ok(None));
        assert_eq!(
            classify("Watching system buttons on /dev/input/event0 (Power Button)"),
            Ok(None)
        );
        assert!(classify("New session 3 of").is_err());
        assert!(classify("Removed session .").is_err());
    }
}
