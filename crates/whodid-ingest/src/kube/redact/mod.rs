//! Secret values out of Kubernetes audit events, before the journal.
//!
//! At `Request` level and above the apiserver writes request and response
//! bodies into the audit log, Secrets' values and service-account tokens
//! included (kubernetes/kubernetes#88926, #96319). whodid replaces them,
//! independently of any policy, by a keyed hash ([`RedactionKey`]), in
//! every shape the apiserver writes them:
//!
//! - by the request: every body of a request on `secrets` (get, list,
//!   watch, create, update, patch, delete, deletecollection) is a Secret, a
//!   `SecretList` whose items carry **no** `kind`, a `Table` whose rows hold
//!   Secrets or their `PartialObjectMetadata`, a `PartialObjectMetadataList`,
//!   a watch event, a `Status`, or a patch (merge, strategic, JSON patch,
//!   apply): in all of them every `data` / `stringData` member at any depth,
//!   every JSON-patch `value` aimed at `/data`, `/stringData` or the
//!   last-applied annotation, and the Secret inside every
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation (whose
//!   JSON repeats the values, `stringData` in plain text);
//! - by the kind, wherever it is: a `Secret` or `SecretList` (and all
//!   inside it) anywhere in any body, and a last-applied annotation whose
//!   JSON is a `Secret`;
//! - `status.token` of a `TokenRequest`, `spec.token` of a `TokenReview`
//!   (by kind, or for requests on `serviceaccounts/token` and
//!   `tokenreviews`);
//! - bearer tokens anywhere in the event: JWTs (`eyJ….eyJ….…`) and the word
//!   after `Bearer ` in any string value, annotations, `requestURI` and
//!   the response status included.
//!
//! Bytes that are not an audit event (an invalid record) are redacted the
//! same way when they are JSON (an audit event inside them is scoped by its
//! own `objectRef`), and by a tolerant token scan when they are not (a line
//! cut short): see [`text`].
//!
//! Each replaced value is named by its JSON path in the returned list (the
//! envelope's `redacted`), and the event carries the annotation
//! [`REDACTED_ANNOTATION`] listing them, so the stored event says itself
//! that it was changed.

mod text;
mod tokens;
mod walk;

use serde_json::Value;
use whodid_model::k8s::Event;

use crate::redaction_key::RedactionKey;
use walk::{Redactor, Scope};

/// The annotation that lists what was redacted in an event.
pub const REDACTED_ANNOTATION: &str = "audit.whodid.io/redacted";

/// Whether an event's bytes may hold something [`redact_event`] removes: a
/// cheap scan so that most events are never decoded in full. `has_body`:
/// whether the event keeps a request or response body (after any policy
/// downgrade). A body of a request on `secrets`, `serviceaccounts` or
/// `tokenreviews` always counts, whatever it looks like; anything else
/// needs a sign in the bytes: a `Secret`/`SecretList` kind (also inside a
/// last-applied annotation, where it reads `\"Secret`), a token object's
/// kind, a JWT, a bearer word.
pub fn may_need_redaction(raw: &[u8], resource: &str, has_body: bool) -> bool {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    // Built once: building a finder costs about as much as one search.
    static SIGNS: LazyLock<[Finder<'static>; 4]> =
        LazyLock::new(|| [b"\"Secret" as &[u8], b"eyJ", b"earer ", b"TokenRe"].map(Finder::new));
    (has_body && matches!(resource, "secrets" | "tokenreviews" | "serviceaccounts"))
        || SIGNS.iter().any(|sign| sign.find(raw).is_some())
}

/// Redacts `event` in place; returns the JSON paths of what was replaced.
pub fn redact_event(event: &mut Event, key: &RedactionKey) -> Vec<String> {
    let scope = event
        .object_ref
        .as_ref()
        .map(|o| Scope::of_request(&o.resource, &o.subresource))
        .unwrap_or_default();
    let mut r = Redactor::new(key);
    if let Some(body) = event.request_object.as_mut() {
        r.body(body, "requestObject", scope);
    }
    if let Some(body) = event.response_object.as_mut() {
        r.body(body, "responseObject", scope);
    }
    r.bearer(&mut event.request_uri, "requestURI");
    // An error message can echo what was sent (an admission webhook's).
    if let Some(status) = event.response_status.as_mut() {
        if let Some(message) = status.message.as_mut() {
            r.bearer(message, "responseStatus.message");
        }
        for (name, value) in status.extra.iter_mut() {
            r.body(value, &format!("responseStatus.{name}"), Scope::default());
        }
    }
    if let Some(annotations) = event.annotations.as_mut() {
        for (name, value) in annotations.iter_mut() {
            r.bearer(value, &format!("annotations.{name}"));
        }
    }
    for (name, value) in event.extra.iter_mut() {
        r.body(value, name, Scope::default());
    }
    let paths = r.paths;
    if !paths.is_empty() {
        event
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REDACTED_ANNOTATION.to_owned(), paths.join(","));
    }
    paths
}

/// Redacts bytes that are not an audit event (kept as an invalid record):
/// as JSON when they are (every Secret, token object and bearer token; an
/// event inside scoped by its request), by [`text::redact_text`] when
/// not. The bytes to store and what was replaced; `None` when nothing was.
pub fn redact_unparsed(raw: &[u8], key: &RedactionKey) -> Option<(Vec<u8>, Vec<String>)> {
    match serde_json::from_slice::<Value>(raw) {
        Ok(mut value) => {
            let mut r = Redactor::new(key);
            r.body(&mut value, "", Scope::default());
            let paths = r.paths;
            (!paths.is_empty()).then(|| (value.to_string().into_bytes(), paths))
        }
        Err(_) => text::redact_text(raw, key),
    }
}

#[cfg(test)]
mod tests {
    use super::walk::LAST_APPLIED;
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
                &format!("requestObject.metadata.annotations.{LAST_APPLIED}.data.password"),
                "requestObject.data.password",
                "requestObject.stringData.user",
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
    fn bearer_tokens_in_an_error_message_go_too() {
        let mut json = base("configmaps");
        json["responseStatus"] = serde_json::json!({"code": 403, "message": format!("denied: token {JWT}"),
            "details": {"causes": [{"message": format!("Bearer {JWT}")}]}});
        let mut e = event(json);
        let paths = redact_event(&mut e, &key());
        assert!(!serde_json::to_string(&e).unwrap().contains("c2lnbmF0dXJl"));
        assert_eq!(
            paths,
            [
                "responseStatus.message",
                "responseStatus.details.causes[0].message"
            ]
        );
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
}
