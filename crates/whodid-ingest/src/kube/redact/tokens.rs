//! Bearer tokens in free text: JWTs and the word after `Bearer `.
//!
//! Tokens turn up where no schema says so — annotations, `requestURI`, an
//! error message echoing a header — so every string is scanned for them,
//! whatever the object around it.

use crate::redaction_key::RedactionKey;

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

fn is_jwt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Byte spans of bearer tokens in `bytes`: JWTs (three base64url parts, the
/// first two starting `eyJ`) and whatever follows `Bearer ` / `bearer `.
/// Spans begin and end at ASCII bytes, so they cut UTF-8 text at character
/// boundaries.
pub(crate) fn token_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.len() > 7 && (rest.starts_with(b"Bearer ") || rest.starts_with(b"bearer ")) {
            let start = i + 7;
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|&&b| is_token_char(b))
                    .count();
            if end - start >= 8 {
                spans.push((start, end));
                i = end;
                continue;
            }
        }
        if rest.starts_with(b"eyJ") && (i == 0 || !is_token_char(bytes[i - 1])) {
            let end = i + rest.iter().take_while(|&&b| is_jwt_char(b)).count();
            let candidate = &bytes[i..end];
            let dots = candidate.iter().filter(|&&b| b == b'.').count();
            let second = candidate.split(|&b| b == b'.').nth(1).unwrap_or_default();
            if dots >= 2 && second.starts_with(b"eyJ") {
                spans.push((i, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    spans
}

/// `bytes` with every bearer token replaced, or `None` if it has none.
pub(crate) fn bearer_in_bytes(key: &RedactionKey, bytes: &[u8]) -> Option<Vec<u8>> {
    use memchr::memmem::find;
    if find(bytes, b"eyJ").is_none() && find(bytes, b"earer ").is_none() {
        return None;
    }
    let spans = token_spans(bytes);
    if spans.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for (start, end) in spans {
        out.extend_from_slice(&bytes[at..start]);
        out.extend_from_slice(key.replacement(&bytes[start..end]).as_bytes());
        at = end;
    }
    out.extend_from_slice(&bytes[at..]);
    Some(out)
}

/// `text` with every bearer token replaced, or `None` if it has none.
pub(crate) fn bearer_in(key: &RedactionKey, text: &str) -> Option<String> {
    // Spans cut at ASCII bytes and replacements are ASCII: still UTF-8.
    bearer_in_bytes(key, text.as_bytes()).and_then(|out| String::from_utf8(out).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl";

    #[test]
    fn token_spans_find_jwts_and_bearer_words() {
        let text = format!("x Bearer abcdefgh12345 y {JWT} z eyJnot.a.jwt");
        let spans = token_spans(text.as_bytes());
        let found: Vec<&str> = spans.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(found, ["abcdefgh12345", JWT]);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_scanned_too() {
        let key = RedactionKey::from_bytes([1; 32]);
        let mut bytes = b"\xff\xfe Bearer ".to_vec();
        bytes.extend_from_slice(JWT.as_bytes());
        let out = bearer_in_bytes(&key, &bytes).unwrap();
        assert!(memchr::memmem::find(&out, b"c2lnbmF0dXJl").is_none());
        assert!(out.starts_with(b"\xff\xfe Bearer whodid-redacted:"));
    }
}
