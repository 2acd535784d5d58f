//! sshd's messages: logins, failures, invalid users and the ways a
//! connection ends before authentication.
//!
//! The account names of failed logins come from the network: they may hold
//! spaces (`Invalid user foo bar from …`), so they are cut from the right,
//! where sshd's own text is.

use super::events::{AuthEvent, Certificate, Method, ShapeError};

fn malformed(shape: &'static str) -> ShapeError {
    ShapeError {
        program: "sshd",
        shape,
    }
}

/// `{port}` then what follows (`:11: …`, ` ssh2: …`, ``).
fn port_and_tail(text: &str) -> Option<(u16, &str)> {
    let end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    Some((text[..end].parse().ok()?, &text[end..]))
}

/// `{ip} port {port}{tail}`.
fn ip_port(text: &str) -> Option<(&str, u16, &str)> {
    let (address, rest) = text.split_once(" port ")?;
    if address.is_empty() || address.contains(' ') {
        return None;
    }
    let (port, tail) = port_and_tail(rest)?;
    Some((address, port, tail))
}

/// `{user} {ip} port {port}{tail}`, the user possibly holding spaces.
fn user_ip_port(text: &str) -> Option<(&str, &str, u16, &str)> {
    let at = text.rfind(" port ")?;
    let (port, tail) = port_and_tail(&text[at + 6..])?;
    let (user, address) = text[..at].rsplit_once(' ')?;
    Some((user, address, port, tail))
}

/// What a key login line says about the key: type, fingerprint, certificate.
type KeyDetails = (Option<String>, Option<String>, Option<Certificate>);

/// `SHA256:` and 43 characters of unpadded base64, or an MD5 fingerprint
/// (`MD5:`, optional, then 16 hex pairs): what sshd prints. Anything else
/// is a line cut short (a torn write), not a key.
fn is_fingerprint(text: &str) -> bool {
    if let Some(b64) = text.strip_prefix("SHA256:") {
        return b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    }
    let hex = text.strip_prefix("MD5:").unwrap_or(text);
    hex.len() == 47
        && hex
            .split(':')
            .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `TYPE SHA256:fp[ ID id (serial n) CA TYPE SHA256:fp]` after `ssh2: `;
/// `Err` when it is there but cut short or garbled.
fn key_details(tail: &str) -> Result<KeyDetails, ()> {
    let Some(key) = tail.trim_start().strip_prefix("ssh2: ") else {
        return Ok((None, None, None));
    };
    let mut words = key.splitn(3, ' ');
    let key_type = words.next().filter(|w| !w.is_empty()).map(str::to_owned);
    let fingerprint = words.next().filter(|fp| is_fingerprint(fp)).ok_or(())?;
    let certificate = match words.next() {
        None => None,
        Some(rest) => Some(certificate(rest).ok_or(())?),
    };
    // A certificate key's line goes on to name the certificate.
    if certificate.is_none() && key_type.as_deref().is_some_and(|t| t.ends_with("-CERT")) {
        return Err(());
    }
    Ok((key_type, Some(fingerprint.to_owned()), certificate))
}

/// `ID carol@example.com (serial 4242) CA ED25519 SHA256:…`.
fn certificate(rest: &str) -> Option<Certificate> {
    let cert = rest.strip_prefix("ID ")?;
    let (id, rest) = cert.rsplit_once(" (serial ")?;
    let (serial, rest) = rest.split_once(')')?;
    let ca = rest.trim();
    let ca = ca.strip_prefix("CA ").unwrap_or(ca);
    let (_, ca_fingerprint) = ca.rsplit_once(' ')?;
    if !is_fingerprint(ca_fingerprint) {
        return None;
    }
    Some(Certificate {
        id: id.to_owned(),
        serial: serial.parse().ok()?,
        ca: ca.to_owned(),
    })
}

fn strip_preauth(message: &str) -> (&str, bool) {
    match message.strip_suffix(" [preauth]") {
        Some(rest) => (rest, true),
        None => (message, false),
    }
}

/// Classifies an sshd message (PAM lines are handled by the caller).
pub(crate) fn classify(message: &str) -> Result<Option<AuthEvent>, ShapeError> {
    let (message, preauth) = strip_preauth(message);
    if let Some(rest) = message.strip_prefix("Accepted ") {
        return accepted(rest);
    }
    if let Some(rest) = message.strip_prefix("Failed ") {
        return failed(rest).map(Some);
    }
    if let Some(rest) = message.strip_prefix("Invalid user ") {
        let (user, rest) = rest
            .rsplit_once(" from ")
            .ok_or(malformed("Invalid user"))?;
        let (address, port, _) = ip_port(rest).ok_or(malformed("Invalid user"))?;
        return Ok(Some(AuthEvent::InvalidUser {
            user: user.to_owned(),
            address: address.to_owned(),
            port,
        }));
    }
    disconnect(message, preauth)
}

fn accepted(rest: &str) -> Result<Option<AuthEvent>, ShapeError> {
    // "Accepted key ED25519 … found at …" and "Accepted certificate ID …"
    // are details of the login line that follows.
    if rest.starts_with("key ") || rest.starts_with("certificate ") {
        return Ok(None);
    }
    let (method, rest) = rest.split_once(" for ").ok_or(malformed("Accepted"))?;
    let (user, rest) = rest.split_once(" from ").ok_or(malformed("Accepted"))?;
    let (address, port, tail) = ip_port(rest).ok_or(malformed("Accepted"))?;
    let (key_type, fingerprint, certificate) =
        key_details(tail).map_err(|()| malformed("Accepted"))?;
    Ok(Some(AuthEvent::Login {
        user: user.to_owned(),
        method: Method::parse(method),
        address: address.to_owned(),
        port,
        key_type,
        fingerprint,
        certificate,
    }))
}

fn failed(rest: &str) -> Result<AuthEvent, ShapeError> {
    let (method, rest) = rest.split_once(" for ").ok_or(malformed("Failed"))?;
    let (invalid_user, rest) = match rest.strip_prefix("invalid user ") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let (user, rest) = rest.rsplit_once(" from ").ok_or(malformed("Failed"))?;
    let (address, port, tail) = ip_port(rest).ok_or(malformed("Failed"))?;
    let (key_type, fingerprint, _) = key_details(tail).map_err(|()| malformed("Failed"))?;
    Ok(AuthEvent::LoginFailed {
        user: user.to_owned(),
        method: Method::parse(method),
        address: address.to_owned(),
        port,
        invalid_user,
        key_type,
        fingerprint,
    })
}

/// What a disconnect line's tail says (`: Too many …`, `:11: bye`).
fn reason_of(tail: &str, default: &str) -> String {
    let tail = tail.trim_start_matches(':');
    // "Received disconnect": "11: disconnected by user".
    let tail = match tail.split_once(": ") {
        Some((code, text)) if code.bytes().all(|b| b.is_ascii_digit()) => text,
        _ => tail,
    };
    let tail = tail.trim();
    if tail.is_empty() {
        default.to_owned()
    } else {
        tail.to_owned()
    }
}

fn preauth_event(user: Option<&str>, address: &str, port: u16, reason: String) -> AuthEvent {
    AuthEvent::PreauthDisconnect {
        user: user.map(str::to_owned),
        address: address.to_owned(),
        port,
        reason,
    }
}

/// Connections that ended before authentication: with a user (`… by
/// authenticating user U IP port N`), without one, and scanners.
fn disconnect(message: &str, preauth: bool) -> Result<Option<AuthEvent>, ShapeError> {
    const WITH_USER: [(&str, &str); 8] = [
        (
            "Connection closed by authenticating user ",
            "connection closed",
        ),
        ("Connection closed by invalid user ", "connection closed"),
        (
            "Connection reset by authenticating user ",
            "connection reset",
        ),
        ("Connection reset by invalid user ", "connection reset"),
        ("Disconnecting authenticating user ", "disconnected"),
        ("Disconnecting invalid user ", "disconnected"),
        ("Disconnected from authenticating user ", "disconnected"),
        ("Disconnected from invalid user ", "disconnected"),
    ];
    for (prefix, default) in WITH_USER {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (user, address, port, tail) =
                user_ip_port(rest).ok_or(malformed("connection closed by user"))?;
            return Ok(Some(preauth_event(
                Some(user),
                address,
                port,
                reason_of(tail, default),
            )));
        }
    }
    // Without a user: only before authentication (after it, sshd says
    // "Disconnected from user U …" and PAM closes the session).
    const WITHOUT_USER: [(&str, &str, bool); 6] = [
        ("Connection closed by ", "connection closed", true),
        ("Connection reset by ", "connection reset", false),
        ("Received disconnect from ", "disconnected", true),
        ("Disconnected from ", "disconnected", true),
        ("Unable to negotiate with ", "no matching algorithm", false),
        (
            "Timeout before authentication for ",
            "login grace time exceeded",
            false,
        ),
    ];
    for (prefix, default, needs_preauth) in WITHOUT_USER {
        if let Some(rest) = message.strip_prefix(prefix) {
            if needs_preauth && !preauth {
                return Ok(None);
            }
            let (address, port, tail) = ip_port(rest).ok_or(malformed("connection closed"))?;
            return Ok(Some(preauth_event(
                None,
                address,
                port,
                reason_of(tail, default),
            )));
        }
    }
    // Scanners: an HTTP request or garbage instead of an SSH banner.
    if let Some(rest) = message.strip_prefix("banner exchange: Connection from ") {
        let (address, port, tail) = ip_port(rest).ok_or(malformed("banner exchange"))?;
        return Ok(Some(preauth_event(
            None,
            address,
            port,
            format!("banner exchange: {}", reason_of(tail, "failed")),
        )));
    }
    if let Some(rest) = message.strip_prefix("Did not receive identification string from ") {
        let (address, port) = match ip_port(rest) {
            Some((address, port, _)) => (address, port),
            None => (rest.trim(), 0),
        };
        return Ok(Some(preauth_event(
            None,
            address,
            port,
            "no identification string".to_owned(),
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> AuthEvent {
        classify(message).unwrap().unwrap()
    }

    #[test]
    fn accepted_publickey_certificate_and_old_shapes() {
        let e = event("Accepted publickey for ubuntu from 127.0.0.1 port 36666 ssh2: ED25519 SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU");
        assert!(
            matches!(e, AuthEvent::Login { ref fingerprint, port: 36666, .. } if fingerprint.as_deref() == Some("SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU"))
        );
        let c = event("Accepted publickey for ubuntu from 127.0.0.1 port 35538 ssh2: ECDSA-CERT SHA256:pTGDMV08RKZSZfVq/45oucngOPQD7NkMMtdkXlYLPPw ID carol@example.com (serial 4242) CA ED25519 SHA256:JbM4FhAFbi8EwSpxl7pCyPoOdA2JuJL5VVFBXdhECLE");
        let AuthEvent::Login {
            certificate: Some(cert),
            key_type,
            fingerprint,
            ..
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(
            (
                cert.id.as_str(),
                cert.serial,
                cert.ca.as_str(),
                key_type.as_deref(),
                fingerprint.as_deref()
            ),
            (
                "carol@example.com",
                4242,
                "ED25519 SHA256:JbM4FhAFbi8EwSpxl7pCyPoOdA2JuJL5VVFBXdhECLE",
                Some("ECDSA-CERT"),
                Some("SHA256:pTGDMV08RKZSZfVq/45oucngOPQD7NkMMtdkXlYLPPw")
            )
        );
        // Ubuntu 12.04: no key on the line.
        let old = event("Accepted publickey for vagrant from 10.0.2.2 port 52059 ssh2");
        assert!(matches!(
            old,
            AuthEvent::Login {
                fingerprint: None,
                ..
            }
        ));
        let pw = event("Accepted keyboard-interactive/pam for dave from ::1 port 4 ssh2");
        assert!(
            matches!(pw, AuthEvent::Login { method: Method::KeyboardInteractive, ref address, .. } if address == "::1")
        );
        assert_eq!(
            classify("Accepted key ED25519 SHA256:x found at /home/u/.ssh/authorized_keys:1"),
            Ok(None)
        );
        assert_eq!(classify("Accepted certificate ID \"c\" (serial 1) signed by ED25519 CA SHA256:x via /etc/ca"), Ok(None));
    }

    #[test]
    fn failures_and_invalid_users_with_spaces() {
        let f = event("Failed password for invalid user foo bar from 10.0.0.1 port 22 ssh2");
        assert!(
            matches!(f, AuthEvent::LoginFailed { ref user, invalid_user: true, .. } if user == "foo bar")
        );
        let i = event("Invalid user  from 10.0.0.1 port 22");
        assert!(matches!(i, AuthEvent::InvalidUser { ref user, .. } if user.is_empty()));
        let k = event(
            "Failed publickey for ubuntu from 127.0.0.2 port 47643 ssh2: ED25519 SHA256:dZ7FaeaJgwOnCSgVxgK2CsuTxjaPTwx6qgLel5Y4MSY",
        );
        assert!(
            matches!(k, AuthEvent::LoginFailed { ref fingerprint, .. } if fingerprint.as_deref() == Some("SHA256:dZ7FaeaJgwOnCSgVxgK2CsuTxjaPTwx6qgLel5Y4MSY"))
        );
        let md5 = event("Accepted publickey for vagrant from 10.0.2.2 port 52059 ssh2: RSA 39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84");
        assert!(matches!(
            md5,
            AuthEvent::Login {
                fingerprint: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn lines_cut_inside_the_key_are_malformed_not_other_keys() {
        let full = "Accepted publickey for ubuntu from 127.0.0.1 port 35538 ssh2: ECDSA-CERT SHA256:pTGDMV08RKZSZfVq/45oucngOPQD7NkMMtdkXlYLPPw ID carol@example.com (serial 4242) CA ED25519 SHA256:JbM4FhAFbi8EwSpxl7pCyPoOdA2JuJL5VVFBXdhECLE";
        assert!(classify(full).is_ok());
        // Every cut after "ssh2: " is either an error or (before it) a login without key.
        let at = full.find("ssh2: ").unwrap() + "ssh2: ".len();
        for end in at..full.len() {
            let cut = &full[..end];
            assert!(classify(cut).is_err(), "{cut:?} parsed");
        }
        let failed = "Failed publickey for ubuntu from 127.0.0.1 port 1 ssh2: ED25519 SHA256:dZ7FaeaJgwOnCSgVxgK2CsuTxjaPTwx6qgLel5Y4M";
        assert!(classify(failed).is_err());
    }

    #[test]
    fn preauth_disconnects() {
        let cases = [
            ("Connection closed by authenticating user ubuntu 127.0.0.2 port 47643 [preauth]", Some("ubuntu"), "connection closed"),
            ("Connection closed by invalid user a b 127.0.0.1 port 54634 [preauth]", Some("a b"), "connection closed"),
            ("Disconnecting authenticating user ubuntu 127.0.0.1 port 60062: Too many authentication failures [preauth]", Some("ubuntu"), "Too many authentication failures"),
            ("Connection closed by 127.0.0.2 port 53565 [preauth]", None, "connection closed"),
            ("Connection reset by 127.0.0.1 port 60090", None, "connection reset"),
            ("banner exchange: Connection from 127.0.0.3 port 55199: invalid format", None, "banner exchange: invalid format"),
            ("Received disconnect from 10.0.0.1 port 22:11: Bye Bye [preauth]", None, "Bye Bye"),
            ("Did not receive identification string from 10.0.0.1", None, "no identification string"),
        ];
        for (line, user, reason) in cases {
            let e = event(line);
            let AuthEvent::PreauthDisconnect {
                user: u, reason: r, ..
            } = &e
            else {
                panic!("{e:?}")
            };
            assert_eq!((u.as_deref(), r.as_str()), (user, reason), "{line}");
        }
        // After authentication these are the session's end, not audit records.
        assert_eq!(
            classify("Received disconnect from 127.0.0.1 port 36666:11: disconnected by user"),
            Ok(None)
        );
        assert_eq!(classify("Connection closed by 127.0.0.1 port 1"), Ok(None));
    }

    #[test]
    fn truncated_known_shapes_are_errors() {
        for line in [
            "Accepted publickey for ubuntu from 127.0.0.1 port",
            "Accepted publickey for ubuntu",
            "Failed password for alice from 127.0.0.1",
            "Invalid user x",
            "Connection closed by authenticating user ubuntu [preauth]",
        ] {
            assert!(classify(line).is_err(), "{line}");
        }
        for noise in [
            "Postponed publickey for ubuntu from 127.0.0.1 port 36666 ssh2 [preauth]",
            "Server listening on 127.0.0.1 port 2222.",
            "User child is on pid 5178",
            "error: kex_exchange_identification: read: Connection reset by peer",
        ] {
            assert_eq!(classify(noise), Ok(None), "{noise}");
        }
    }
}
