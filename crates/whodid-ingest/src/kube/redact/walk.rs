//! The walk over decoded JSON that replaces secret values.
//!
//! What is secret depends on where a value is, and the apiserver does not
//! label every place: the items of a `SecretList` carry no `kind`, a
//! `Table`'s rows hold Secrets or their `PartialObjectMetadata`, a patch
//! body is whatever the client sent. So the walk carries a [`Scope`] down
//! the tree, set by the request (`objectRef`) at a body and by a `kind`
//! on the way, and never cleared below: once inside a Secret (or a body of a
//! request on `secrets`), every `data` / `stringData` member at any depth,
//! every last-applied annotation and every JSON-patch value aimed at them is
//! replaced, whatever wraps it (list, table, watch event, generic `List`).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::tokens::bearer_in;
use crate::redaction_key::{RedactionKey, REDACTED_PREFIX};

/// The annotation in which `kubectl apply` repeats the object it applied,
/// values included, as a JSON string.
pub(super) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The JSON-patch path of [`LAST_APPLIED`] (`/` escaped as `~1`).
const LAST_APPLIED_POINTER: &str =
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration";

/// What the values at a place are known to hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Scope {
    /// Inside a Secret, a list, table or watch event of Secrets, or a body
    /// of a request on `secrets`: `data`, `stringData`, last-applied.
    pub(super) secret: bool,
    /// Inside a `TokenRequest` or `TokenReview` (or a body of a request on
    /// `serviceaccounts/token` or `tokenreviews`): `token`.
    pub(super) token: bool,
}

impl Scope {
    /// The scope of the bodies of a request on `resource`/`subresource`.
    /// `secrets` of any API group: whodid cannot know the schema of a
    /// custom resource named `secrets`, and its name says what it holds.
    pub(super) fn of_request(resource: &str, subresource: &str) -> Scope {
        Scope {
            secret: resource == "secrets",
            token: resource == "tokenreviews"
                || (resource == "serviceaccounts" && subresource == "token"),
        }
    }

    fn of_kind(kind: &str) -> Scope {
        Scope {
            secret: matches!(kind, "Secret" | "SecretList"),
            token: matches!(kind, "TokenRequest" | "TokenReview"),
        }
    }

    fn or(self, other: Scope) -> Scope {
        Scope {
            secret: self.secret || other.secret,
            token: self.token || other.token,
        }
    }
}

/// Replaces secret values and records where (JSON paths).
pub(super) struct Redactor<'k> {
    key: &'k RedactionKey,
    /// The paths of what was replaced.
    pub(super) paths: Vec<String>,
    /// Where the walk is; grown and cut back as it goes, copied only for
    /// what is replaced.
    path: String,
}

impl<'k> Redactor<'k> {
    pub(super) fn new(key: &'k RedactionKey) -> Self {
        Redactor {
            key,
            paths: Vec::new(),
            path: String::new(),
        }
    }

    /// A body (or any top-level value) named `name`, in `scope`.
    pub(super) fn body(&mut self, body: &mut Value, name: &str, scope: Scope) {
        self.path.clear();
        self.path.push_str(name);
        self.scoped(body, scope);
    }

    /// `text` with bearer tokens replaced, recorded under `name`.
    pub(super) fn bearer(&mut self, text: &mut String, name: &str) {
        if let Some(clean) = bearer_in(self.key, text) {
            *text = clean;
            self.paths.push(name.to_owned());
        }
    }

    /// A value whose scope is known; a string where a Secret is expected
    /// (no object the apiserver writes, so nothing to keep) is replaced whole.
    fn scoped(&mut self, value: &mut Value, scope: Scope) {
        match value {
            Value::String(_) if scope.secret => self.replace(value),
            _ => self.walk(value, scope),
        }
    }

    fn walk(&mut self, value: &mut Value, scope: Scope) {
        match value {
            Value::Object(map) => self.object(map, scope),
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = self.path.len();
                    let _ = write!(self.path, "[{i}]");
                    self.walk(item, scope);
                    self.path.truncate(len);
                }
            }
            Value::String(text) => {
                if let Some(clean) = bearer_in(self.key, text) {
                    *text = clean;
                    self.record();
                }
            }
            _ => {}
        }
    }

    fn object(&mut self, map: &mut Map<String, Value>, scope: Scope) {
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
        let scope = scope.or(Scope::of_kind(kind));
        // An audit event (read as plain JSON: an invalid record, an event
        // inside something): its bodies are in the scope of its request.
        let bodies = map
            .get("objectRef")
            .and_then(Value::as_object)
            .map(|r| Scope::of_request(str_of(r, "resource"), str_of(r, "subresource")));
        let patch_at_values = scope.secret && json_patch_at_values(map);
        for (name, child) in map.iter_mut() {
            let len = self.path.len();
            self.path.push('.');
            self.path.push_str(name);
            match name.as_str() {
                "data" | "stringData" if scope.secret => self.values(child),
                LAST_APPLIED => self.last_applied(child, scope),
                "token" if scope.token && child.as_str().is_some_and(|s| !s.is_empty()) => {
                    self.replace(child);
                }
                "value" if patch_at_values => self.replace(child),
                "requestObject" | "responseObject" => match bodies {
                    Some(request) => self.scoped(child, scope.or(request)),
                    None => self.walk(child, scope),
                },
                _ => self.walk(child, scope),
            }
            self.path.truncate(len);
        }
    }

    /// The value of `data` or `stringData`: each entry, or the whole.
    fn values(&mut self, value: &mut Value) {
        match value {
            Value::Object(entries) => {
                for (name, entry) in entries.iter_mut() {
                    let len = self.path.len();
                    self.path.push('.');
                    self.path.push_str(name);
                    self.replace(entry);
                    self.path.truncate(len);
                }
            }
            other => self.replace(other),
        }
    }

    /// A last-applied annotation. Of a Secret (by scope, or by the `kind`
    /// of the JSON inside), its JSON is redacted as a Secret and written
    /// back, so the names of what was applied stay visible and each value
    /// hashes as it does in `data`; when it is not a JSON object it is
    /// replaced whole. Of anything else, only bearer tokens go.
    fn last_applied(&mut self, value: &mut Value, scope: Scope) {
        let Value::String(text) = &mut *value else {
            return self.scoped(value, scope);
        };
        if text.starts_with(REDACTED_PREFIX) {
            return;
        }
        // The decoded annotation of a Secret says `"kind":"Secret"` (kubectl
        // writes it compact); anything else is not parsed at all.
        if !scope.secret && !text.contains("\"Secret\"") {
            return self.walk(value, scope);
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(mut applied))
                if scope.secret
                    || applied.get("kind").and_then(Value::as_str) == Some("Secret") =>
            {
                let before = self.paths.len();
                self.object(
                    &mut applied,
                    scope.or(Scope {
                        secret: true,
                        token: false,
                    }),
                );
                if self.paths.len() > before {
                    let newline = text.ends_with('\n');
                    let mut json = Value::Object(applied).to_string();
                    if newline {
                        json.push('\n');
                    }
                    *text = json;
                }
            }
            _ if scope.secret => self.replace(value),
            _ => self.walk(value, scope),
        }
    }

    /// Replaces `value` by its keyed hash, unless it is null or already one.
    fn replace(&mut self, value: &mut Value) {
        if value.is_null() || is_redacted(value) {
            return;
        }
        let bytes = match &*value {
            Value::String(s) => s.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        };
        *value = Value::String(self.key.replacement(&bytes));
        self.record();
    }

    fn record(&mut self) {
        self.paths.push(self.path.clone());
    }
}

fn str_of<'m>(map: &'m Map<String, Value>, field: &str) -> &'m str {
    map.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn is_redacted(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.starts_with(REDACTED_PREFIX))
}

/// Whether `map` is a JSON-patch operation (RFC 6902) whose `value` lands
/// on a Secret's values: under `/data` or `/stringData`, or the
/// last-applied annotation. An operation on the whole document (`""`) or
/// on `/metadata` is walked instead, its `value` an object like any other.
fn json_patch_at_values(map: &Map<String, Value>) -> bool {
    if !map.get("op").is_some_and(Value::is_string) {
        return false;
    }
    let Some(path) = map.get("path").and_then(Value::as_str) else {
        return false;
    };
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    under("/data") || under("/stringData") || path == LAST_APPLIED_POINTER
}
