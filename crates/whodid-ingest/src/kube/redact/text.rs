//! Secret values out of bytes that are not JSON: a line the apiserver was
//! killed while writing, a body cut short. They are stored as invalid
//! records (nothing received is lost), and the part that did arrive can
//! hold a Secret's values as well as a whole event can.
//!
//! Without a document there is no request and no kind to go by, so this
//! errs the other way: a tolerant scan over JSON tokens keeps track of
//! objects, arrays and member names as far as the text goes, and replaces
//! every string inside the value of a member named `data`, `stringData`,
//! `token`, `value` (JSON-patch operations) or the last-applied
//! annotation, whatever object it is in. Member names and everything else
//! stay, so the record still says what it was; bearer tokens go as
//! everywhere.

use super::tokens::bearer_in_bytes;
use super::walk::LAST_APPLIED;
use crate::redaction_key::{RedactionKey, REDACTED_PREFIX};

/// Members whose values are replaced in text that is not JSON.
const SENSITIVE: [&str; 5] = ["data", "stringData", "token", "value", LAST_APPLIED];

enum Frame {
    Object {
        /// Whether the next string is a member name.
        expect_name: bool,
        /// Whether the current member's name is [`SENSITIVE`].
        member_sensitive: bool,
        /// Whether the object itself lies inside a sensitive value.
        inside: bool,
    },
    Array {
        inside: bool,
    },
}

impl Frame {
    /// Whether a value that starts here is to be replaced.
    fn value_sensitive(frame: Option<&Frame>) -> bool {
        match frame {
            Some(Frame::Object {
                member_sensitive,
                inside,
                ..
            }) => *member_sensitive || *inside,
            Some(Frame::Array { inside }) => *inside,
            None => false,
        }
    }
}

/// `raw` (not JSON) with secret-looking values and bearer tokens replaced,
/// and where (`member@byte`); `None` when nothing was.
pub(super) fn redact_text(raw: &[u8], key: &RedactionKey) -> Option<(Vec<u8>, Vec<String>)> {
    let mut out = Vec::with_capacity(raw.len());
    let mut paths = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'"' {
            let (end, closed) = string_end(raw, i);
            let content = &raw[i + 1..if closed { end - 1 } else { end }];
            match stack.last_mut() {
                Some(Frame::Object {
                    expect_name: true,
                    member_sensitive,
                    ..
                }) => {
                    *member_sensitive = is_sensitive(content);
                    out.extend_from_slice(&raw[i..end]);
                }
                top => {
                    if Frame::value_sensitive(top.map(|f| &*f))
                        && !content.is_empty()
                        && !content.starts_with(REDACTED_PREFIX.as_bytes())
                    {
                        out.push(b'"');
                        out.extend_from_slice(key.replacement(content).as_bytes());
                        if closed {
                            out.push(b'"');
                        }
                        paths.push(format!("value@{i}"));
                    } else {
                        out.extend_from_slice(&raw[i..end]);
                    }
                }
            }
            i = end;
            continue;
        }
        match b {
            b'{' => {
                let inside = Frame::value_sensitive(stack.last());
                stack.push(Frame::Object {
                    expect_name: true,
                    member_sensitive: false,
                    inside,
                });
            }
            b'[' => {
                let inside = Frame::value_sensitive(stack.last());
                stack.push(Frame::Array { inside });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { expect_name, .. }) = stack.last_mut() {
                    *expect_name = false;
                }
            }
            b',' => {
                if let Some(Frame::Object {
                    expect_name,
                    member_sensitive,
                    ..
                }) = stack.last_mut()
                {
                    *expect_name = true;
                    *member_sensitive = false;
                }
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    let out = match bearer_in_bytes(key, &out) {
        Some(clean) => {
            paths.push("bearer".to_owned());
            clean
        }
        None => out,
    };
    (!paths.is_empty()).then_some((out, paths))
}

/// The index after the string that starts at `start` (a quote), and
/// whether it was closed before the end of `raw`.
fn string_end(raw: &[u8], start: usize) -> (usize, bool) {
    let mut i = start + 1;
    while i < raw.len() {
        match raw[i] {
            b'\\' => i += 2,
            b'"' => return (i + 1, true),
            _ => i += 1,
        }
    }
    (raw.len(), false)
}

/// Whether the member name `name` (raw JSON string content) is [`SENSITIVE`].
fn is_sensitive(name: &[u8]) -> bool {
    if name.contains(&b'\\') {
        let mut quoted = Vec::with_capacity(name.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(name);
        quoted.push(b'"');
        return serde_json::from_slice::<String>(&quoted)
            .is_ok_and(|decoded| SENSITIVE.contains(&decoded.as_str()));
    }
    SENSITIVE.iter().any(|s| s.as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RedactionKey {
        RedactionKey::from_bytes([5; 32])
    }

    #[test]
    fn a_line_cut_inside_a_secret_keeps_no_value() {
        let line = br#"{"kind":"Event","objectRef":{"resource":"secrets"},"responseObject":{"kind":"SecretList","items":[{"metadata":{"name":"a"},"data":{"k":"djE=","\u006b2":"djI="},"type":"Opaque"},{"data":{"p":"djMtY3V0"#;
        let (out, paths) = redact_text(line, &key()).unwrap();
        let text = String::from_utf8(out).unwrap();
        for value in ["djE=", "djI=", "djMtY3V0"] {
            assert!(!text.contains(value), "{value} in {text}");
        }
        assert_eq!(paths.len(), 3, "{paths:?}");
        // Names and the rest of the text stay.
        for kept in [
            r#""name":"a""#,
            r#""type":"Opaque""#,
            r#""\u006b2":"#,
            r#""k":"#,
        ] {
            assert!(text.contains(kept), "{kept} not in {text}");
        }
    }

    #[test]
    fn annotations_tokens_and_patch_values_in_cut_text() {
        let line = br#"{"requestObject":[{"op":"add","path":"/data/x","value":"c2VjcmV0"}],"a":{"kubectl.kubernetes.io/last-applied-configuration":"{\"stringData\":{\"p\":\"plain-secret\"}}"},"status":{"token":"opaque-token"},"keep":"visible","#;
        let (out, _) = redact_text(line, &key()).unwrap();
        let text = String::from_utf8(out).unwrap();
        for value in ["c2VjcmV0", "plain-secret", "opaque-token"] {
            assert!(!text.contains(value), "{value} in {text}");
        }
        assert!(text.contains(r#""keep":"visible""#), "{text}");
        assert!(text.contains(r#""path":"/data/x""#), "{text}");
    }

    #[test]
    fn text_without_secrets_is_left_alone() {
        assert!(redact_text(br#"{"kind":"Event","verb":"get","#, &key()).is_none());
        assert!(redact_text(b"not json at all", &key()).is_none());
    }
}
