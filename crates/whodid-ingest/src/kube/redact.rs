//! Secret values out of Kubernetes audit events, before the journal.
//!
//! At `Request` level and above the apiserver writes request and response
//! bodies into the audit log, Secrets' values and service-account tokens
//! included (kubernetes/kubernetes#88926, #96319). whodid replaces them,
//! independently of any policy, by a keyed hash ([`RedactionKey`]):
//!
//! - `data` and `stringData` of every `Secret` in a body — the object
//!   itself, the items of a `SecretList`/`List`, the rows of a `Table` —
//!   and its `kubectl.kubernetes.io/last-applied-configuration` annotation,
//!   which repeats them;
//! - for requests on the `secrets` resource, the same keys of a patch body
//!   (merge patches carry no `kind`) and the `value` of JSON-patch
//!   operations under `/data` or `/stringData`;
//! - `status.token` of a `TokenRequest`, `spec.token` of a `TokenReview`;
//! - bearer tokens anywhere in the event: JWTs (`eyJ….eyJ….…`) and the word
//!   after `Bearer ` in any string value, annotations and `requestURI`
//!   included.
//!
//! Each replaced value is named by its JSON path in the returned list (the
//! envelope's `redacted`), and the event carries the annotation
//! [`REDACTED_ANNOTATION`] listing them, so the stored event says itself
//! that it was changed.

use serde_json::{Map, Value};
use whodid_model::k8s::Event;

use crate::redaction_key::{RedactionKey, REDACTED_PREFIX};

/// The annotation that lists what was redacted in an event.
pub const REDACTED_ANNOTATION: &str = "audit.whodid.io/redacted";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether an event's bytes may hold something [`redact_event`] removes:
/// a cheap scan so that most events are never decoded in full.
pub fn may_need_redaction(raw: &[u8], resource: &str) -> bool {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    // Built once: building a finder costs about as much as one search.
    static SIGNS: LazyLock<[Finder<'static>; 4]> =
        LazyLock::new(|| [b"\"Secret" as &[u8], b"eyJ", b"earer ", b"TokenRe"].map(Finder::new));
    matches!(resource, "secrets" | "tokenreviews" | "serviceaccounts")
        || SIGNS.iter().any(|sign| sign.find(raw).is_some())
}

/// Redacts `event` in place; returns the JSON paths of what was replaced.
pub fn redact_event(event: &mut Event, key: &RedactionKey) -> Vec<String> {
    let resource = event
        .object_ref
        .as_ref()
        .map(|o| o.resource.clone())
        .unwrap_or_default();
    let secrets_request = resource == "secrets";
    let mut r = Redactor {
        key,
        paths: Vec::new(),
    };
    if let Some(body) = event.request_object.as_mut() {
        r.body(body, "requestObject", secrets_request);
    }
    if let Some(body) = event.response_object.as_mut() {
        r.body(body, "responseObject", secrets_request);
    }
    if let Some(uri) = r.bearer_in(&event.request_uri) {
        event.request_uri = uri;
        r.paths.push("requestURI".to_owned());
    }
    if let Some(annotations) = event.annotations.as_mut() {
        for (name, value) in annotations.iter_mut() {
            if let Some(clean) = r.bearer_in(value) {
                *value = clean;
                r.paths.push(format!("annotations.{name}"));
            }
        }
    }
    for (name, value) in event.extra.iter_mut() {
        r.walk(value, name);
    }
    if !r.paths.is_empty() {
        event
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REDACTED_ANNOTATION.to_owned(), r.paths.join(","));
    }
    r.paths
}

/// Redacts bytes that are not an audit event (kept as an invalid record):
/// every Secret, token object and bearer token in them if they are JSON,
/// bearer tokens if they are only text. `None` when nothing was replaced.
pub fn redact_unparsed(raw: &[u8], key: &RedactionKey) -> Option<Vec<u8>> {
    if !may_need_redaction(raw, "") {
        return None;
    }
    let mut r = Redactor {
        key,
        paths: Vec::new(),
    };
    if let Ok(mut value) = serde_json::from_slice::<Value>(raw) {
        r.walk(&mut value, "");
        return (!r.paths.is_empty()).then(|| serde_json::to_vec(&value).unwrap_or_default());
    }
    let text = std::str::from_utf8(raw).ok()?;
    r.bearer_in(text).map(String::into_bytes)
}

struct Redactor<'k> {
    key: &'k RedactionKey,
    paths: Vec<String>,
}

impl Redactor<'_> {
    fn hash(&self, value: &Value) -> Value {
        let bytes = match value {
            Value::String(s) => s.as_bytes().to_vec(),
            other => serde_json::to_vec(other).unwrap_or_default(),
        };
        Value::String(self.key.replacement(&bytes))
    }

    /// A request or response body at `path`.
    fn body(&mut self, body: &mut Value, path: &str, secrets_request: bool) {
        if secrets_request {
            match body {
                // A merge or strategic-merge patch, or an object without kind.
                Value::Object(map) if kind(map).is_none() => self.secret(map, path),
                // A JSON patch.
                Value::Array(ops) => self.json_patch(ops, path),
                _ => {}
            }
        }
        self.walk(body, path);
    }

    /// Every object inside `value`: Secrets, token objects, bearer strings.
    fn walk(&mut self, value: &mut Value, path: &str) {
        match value {
            Value::Object(map) => {
                match kind(map) {
                    Some("Secret") => self.secret(map, path),
                    Some("TokenRequest") => self.field(map, &["status", "token"], path),
                    Some("TokenReview") => self.field(map, &["spec", "token"], path),
                    _ => {}
                }
                for (name, child) in map.iter_mut() {
                    let child_path = format!("{path}.{name}");
                    self.walk(child, &child_path);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.walk(item, &format!("{path}[{i}]"));
                }
            }
            Value::String(s) => {
                if let Some(clean) = self.bearer_in(s) {
                    *s = clean;
                    self.paths.push(path.to_owned());
                }
            }
            _ => {}
        }
    }

    fn secret(&mut self, map: &mut Map<String, Value>, path: &str) {
        for field in ["data", "stringData"] {
            if let Some(values) = map.get_mut(field) {
                match values {
                    Value::Object(entries) => {
                        for (name, value) in entries.iter_mut() {
                            if !is_redacted(value) && !value.is_null() {
                                *value = self.hash(value);
                                self.paths.push(format!("{path}.{field}.{name}"));
                            }
                        }
                    }
                    Value::Null => {}
                    other => {
                        if !is_redacted(other) {
                            *other = self.hash(other);
                            self.paths.push(format!("{path}.{field}"));
                        }
                    }
                }
            }
        }
        let annotation = map
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|m| m.get_mut("annotations"))
            .and_then(Value::as_object_mut)
            .and_then(|a| a.get_mut(LAST_APPLIED));
        if let Some(value) = annotation {
            if !is_redacted(value) {
                *value = self.hash(value);
                self.paths
                    .push(format!("{path}.metadata.annotations.{LAST_APPLIED}"));
            }
        }
    }

    fn field(&mut self, map: &mut Map<String, Value>, at: &[&str; 2], path: &str) {
        let value = map
            .get_mut(at[0])
            .and_then(Value::as_object_mut)
            .and_then(|m| m.get_mut(at[1]));
        if let Some(value) = value {
            if value.as_str().is_some_and(|s| !s.is_empty()) && !is_redacted(value) {
                *value = self.hash(value);
                self.paths.push(format!("{path}.{}.{}", at[0], at[1]));
            }
        }
    }

    fn json_patch(&mut self, ops: &mut [Value], path: &str) {
        for (i, op) in ops.iter_mut().enumerate() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let target = op.get("path").and_then(Value::as_str).unwrap_or_default();
            let secret_path = ["/data", "/stringData"]
                .iter()
                .any(|p| target == *p || target.starts_with(&format!("{p}/")));
            if let Some(value) = op.get_mut("value") {
                if secret_path && !is_redacted(value) {
                    *value = self.hash(value);
                    self.paths.push(format!("{path}[{i}].value"));
                }
            }
        }
    }

    /// `text` with every bearer token replaced, or `None` if it has none.
    fn bearer_in(&self, text: &str) -> Option<String> {
        if !text.contains("eyJ") && !text.contains("earer ") {
            return None;
        }
        let spans = token_spans(text);
        if spans.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            out.push_str(&text[at..start]);
            out.push_str(&self.key.replacement(&text.as_bytes()[start..end]));
            at = end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }
}

fn kind(map: &Map<String, Value>) -> Option<&str> {
    map.get("kind").and_then(Value::as_str)
}

fn is_redacted(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.starts_with(REDACTED_PREFIX))
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Byte spans of bearer tokens in `text`: JWTs (three base64url parts, the
/// first two starting `eyJ`) and whatever follows `Bearer ` / `bearer `.
pub(crate) fn token_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let push = |start: usize, end: usize, spans: &mut Vec<(usize, usize)>| {
        if end > start && spans.last().is_none_or(|&(_, e)| start >= e) {
            spans.push((start, end));
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.len() > 7 && (rest.starts_with(b"Bearer ") || rest.starts_with(b"bearer ")) {
            let start = i + 7;
            let mut end = start;
            while end < bytes.len() && is_token_char(bytes[end]) {
                end += 1;
            }
            if end - start >= 8 {
                push(start, end, &mut spans);
                i = end;
                continue;
            }
        }
        if rest.starts_with(b"eyJ") && (i == 0 || !is_token_char(bytes[i - 1])) {
            let mut end = i;
            let mut dots = 0;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'-' | b'_' | b'.'))
            {
                if bytes[end] == b'.' {
                    dots += 1;
                }
                end += 1;
            }
            let candidate = &text[i..end];
            let second = candidate.split('.').nth(1).unwrap_or_default();
            if dots >= 2 && second.starts_with("eyJ") {
                push(i, end, &mut spans);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl";

    fn key() -> RedactionKey {
        RedactionKey::from_bytes([7; 32])
    }

    fn event(json: serde_json::Value) -> Event {
        serde_json::from_value(json).unwrap()
    }

    fn base(resource: &str) -> serde_json::Value {
        serde_json::json!({
            "level": "RequestResponse", "auditID": "a", "stage": "ResponseComplete",
            "requestURI": format!("/api/v1/namespaces/x/{resource}"), "verb": "create",
            "user": {"username": "alice"},
            "objectRef": {"resource": resource, "namespace": "x", "apiVersion": "v1"},
        })
    }

    #[test]
    fn secret_values_become_keyed_hashes() {
        let mut json = base("secrets");
        json["requestObject"] = serde_json::json!({"kind": "Secret", "apiVersion": "v1",
            "metadata": {"name": "db", "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "admin"}});
        json["responseObject"] =
            serde_json::json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}});
        let mut e = event(json);
        let paths = redact_event(&mut e, &key());
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("aHVudGVyMg=="), "{text}");
        assert!(!text.contains("\"admin\""), "{text}");
        assert_eq!(
            paths,
            [
                "requestObject.data.password",
                "requestObject.stringData.user",
                &format!("requestObject.metadata.annotations.{LAST_APPLIED}"),
                "responseObject.data.password",
            ]
        );
        // The same value gives the same hash: a change is visible.
        let req = &e.request_object.as_ref().unwrap()["data"]["password"];
        let resp = &e.response_object.as_ref().unwrap()["data"]["password"];
        assert_eq!(req, resp);
        assert_eq!(
            e.annotations.as_ref().unwrap()[REDACTED_ANNOTATION],
            paths.join(",")
        );
    }

    #[test]
    fn lists_tables_patches_and_tokens() {
        let mut json = base("secrets");
        json["verb"] = "patch".into();
        json["requestObject"] = serde_json::json!([{"op": "replace", "path": "/data/password", "value": "bmV3"},
                                                   {"op": "replace", "path": "/metadata/labels/x", "value": "keep"}]);
        json["responseObject"] = serde_json::json!({"kind": "SecretList", "items": [
            {"kind": "Secret", "data": {"k": "djE="}}, {"data": {"k": "djI="}, "kind": "Secret"}]});
        let mut e = event(json);
        let paths = redact_event(&mut e, &key());
        let text = serde_json::to_string(&e).unwrap();
        for secret in ["bmV3", "djE=", "djI="] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("keep"));
        assert_eq!(paths.len(), 3, "{paths:?}");

        let mut json = base("serviceaccounts");
        json["objectRef"]["subresource"] = "token".into();
        json["responseObject"] = serde_json::json!({"kind": "TokenRequest", "status": {"token": JWT, "expirationTimestamp": "x"}});
        json["annotations"] = serde_json::json!({"note": format!("Bearer {JWT}")});
        let mut e = event(json);
        let paths = redact_event(&mut e, &key());
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("c2lnbmF0dXJl"), "{text}");
        assert!(paths.contains(&"responseObject.status.token".to_owned()));
        assert!(paths.contains(&"annotations.note".to_owned()));
    }

    #[test]
    fn nothing_to_redact_changes_nothing() {
        let mut json = base("configmaps");
        json["requestObject"] = serde_json::json!({"kind": "ConfigMap", "data": {"a": "b"}});
        let before = event(json);
        let mut after = before.clone();
        assert!(redact_event(&mut after, &key()).is_empty());
        assert_eq!(before, after);
    }

    #[test]
    fn token_spans_find_jwts_and_bearer_words() {
        let text = format!("x Bearer abcdefgh12345 y {JWT} z eyJnot.a.jwt");
        let spans = token_spans(&text);
        let found: Vec<&str> = spans.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(found, ["abcdefgh12345", JWT]);
    }
}
