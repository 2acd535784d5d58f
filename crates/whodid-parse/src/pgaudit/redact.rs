//! Passwords in role statements, removed before anything is stored.
//!
//! pgaudit 1.7 already writes `PASSWORD <REDACTED>` (cutting the rest of the
//! statement); older versions, and PostgreSQL's own `STATEMENT:` lines, do
//! not. whodid replaces the literal after `PASSWORD` (`'…'` with `''`
//! escapes, `E'…'` with backslash escapes, `$tag$…$tag$`) by
//! `'<redacted>'`. The same scan works on a statement and on the raw log
//! text around it: CSV and JSON quoting double or escape `"`, never `'` or
//! `$`, so the literal's boundaries are the same in every encoding.

use super::audit::AuditEntry;

/// Redacts an entry's statement in place; returns the secrets removed (to
/// [`scrub`] from the raw text) — empty when there were none.
pub fn redact_entry(entry: &mut AuditEntry) -> Vec<String> {
    match redact_passwords(&entry.statement) {
        Some(redacted) => {
            entry.statement = redacted.text;
            entry.redacted = true;
            redacted.secrets
        }
        None => Vec::new(),
    }
}

/// The result of redacting one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with each password literal replaced by `'<redacted>'`.
    pub text: String,
    /// The literals' contents, to scrub from other encodings of the same
    /// text (see [`scrub`]).
    pub secrets: Vec<String>,
}

/// Removes password literals from role statements (`PASSWORD 'secret'`,
/// `ENCRYPTED PASSWORD E'…'`, `PASSWORD $$…$$`); `None` when there was none.
pub fn redact_passwords(statement: &str) -> Option<Redacted> {
    if !contains_ignore_case(statement, b"password") {
        return None;
    }
    let bytes = statement.as_bytes();
    let mut out = String::with_capacity(statement.len());
    let mut secrets = Vec::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(at) = find_ignore_case(&bytes[search..], b"password").map(|i| search + i) {
        let after = at + "password".len();
        search = after;
        // A word of its own: `PASSWORD`, not `password_hash`.
        let before_ok = at == 0 || !is_word(bytes[at - 1]);
        if !before_ok || bytes.get(after).is_some_and(|b| is_word(*b)) {
            continue;
        }
        let rest = &statement[after..];
        let trimmed = rest.trim_start();
        let literal_start = after + (rest.len() - trimmed.len());
        let Some((literal_len, content)) = literal(trimmed) else {
            continue;
        };
        out.push_str(&statement[copied..literal_start]);
        out.push_str("'<redacted>'");
        if !content.is_empty() {
            secrets.push(content.to_owned());
        }
        copied = literal_start + literal_len;
        search = copied;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&statement[copied..]);
    Some(Redacted { text: out, secrets })
}

/// Replaces `secrets` (found in the decoded statement) in `text`, the raw
/// log text, in their plain, CSV-doubled and JSON-escaped forms. Run it
/// before [`redact_passwords`] on the raw text, which an encoding can
/// mislead (a JSON-escaped `E'…\'…'` seems to end early).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        let csv = secret.replace('"', "\"\"");
        let json = secret.replace('\\', "\\\\").replace('"', "\\\"");
        for form in [secret.as_str(), csv.as_str(), json.as_str()] {
            if !form.is_empty() && out.contains(form) {
                out = out.replace(form, "<redacted>");
            }
        }
    }
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn contains_ignore_case(text: &str, needle: &[u8]) -> bool {
    find_ignore_case(text.as_bytes(), needle).is_some()
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// A string literal at the start of `text`: its length and its content.
/// An unterminated literal runs to the end (redact it all).
fn literal(text: &str) -> Option<(usize, &str)> {
    let bytes = text.as_bytes();
    let (backslashes, skip) = match bytes.first()? {
        b'\'' => (false, 1),
        b'E' | b'e' if bytes.get(1) == Some(&b'\'') => (true, 2),
        b'$' => {
            let end_tag = text[1..].find('$')?;
            let tag = &text[..end_tag + 2];
            if !tag[1..tag.len() - 1].bytes().all(is_word) {
                return None;
            }
            return Some(match text[tag.len()..].find(tag) {
                Some(close) => (
                    tag.len() + close + tag.len(),
                    &text[tag.len()..tag.len() + close],
                ),
                None => (text.len(), &text[tag.len()..]),
            });
        }
        _ => return None,
    };
    let mut i = skip;
    while i < bytes.len() {
        if backslashes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some((i + 1, &text[skip..i]));
        }
        i += 1;
    }
    Some((text.len(), &text[skip..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_passwords(
                "ALTER ROLE bob WITH ENCRYPTED PASSWORD 'it''s secret' VALID UNTIL '2030-01-01'"
            )
            .map(|r| r.text)
            .as_deref(),
            Some("ALTER ROLE bob WITH ENCRYPTED PASSWORD '<redacted>' VALID UNTIL '2030-01-01'")
        );
        assert_eq!(
            redact_passwords("create user x password $p$s3cr3t$p$")
                .map(|r| r.text)
                .as_deref(),
            Some("create user x password '<redacted>'")
        );
        assert_eq!(
            redact_passwords("ALTER USER x PASSWORD E'a\\'b' LOGIN")
                .map(|r| r.text)
                .as_deref(),
            Some("ALTER USER x PASSWORD '<redacted>' LOGIN")
        );
        assert_eq!(
            redact_passwords("CREATE ROLE a LOGIN PASSWORD <REDACTED>"),
            None
        );
        assert_eq!(redact_passwords("SELECT 1"), None);
        assert_eq!(redact_passwords("SELECT password FROM t"), None);
        assert_eq!(redact_passwords("UPDATE t SET password_hash = 'x'"), None);
    }

    #[test]
    fn raw_csv_and_json_text_too() {
        let csv = r#"2026-11-22 18:25:45.1 UTC,"postgres","appdb",1,"[local]",s,1,"ALTER ROLE",x,3/8,0,LOG,00000,"AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,""ALTER ROLE a PASSWORD 'x,""""y'"",<none>",,,,,,,,,"psql","client backend",,0"#;
        let clean = redact_passwords(csv).unwrap().text;
        assert!(!clean.contains("'x,") && !clean.contains("y'"), "{clean}");
        assert!(clean.contains("PASSWORD '<redacted>'\"\","), "{clean}");
    }
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn scrub_catches_what_an_encoding_hid() {
        // JSON-escaped E-string: the scan stops early, scrub finishes.
        let statement = r#"ALTER ROLE a PASSWORD E'p\'w\"d'"#;
        let redacted = redact_passwords(statement).unwrap();
        assert_eq!(redacted.text, "ALTER ROLE a PASSWORD '<redacted>'");
        let raw_json = r#"{"message":"AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,ALTER ROLE a PASSWORD E'p\\'w\\\"d',<none>"}"#;
        let scrubbed = scrub(raw_json, &redacted.secrets);
        let clean = redact_passwords(&scrubbed).map_or(scrubbed, |r| r.text);
        assert!(
            !clean.contains("w\\\"d") && !clean.contains("p\\\\'w"),
            "{clean}"
        );
    }
}
