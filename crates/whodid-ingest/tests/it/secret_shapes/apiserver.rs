//! The Secret shapes of verbs the fixture does not hold, built from its real
//! events the way the apiserver builds them — fields moved or wrapped as the
//! apiserver does, never a field it does not send (the old test added
//! `kind` to list items, which the apiserver never writes, and so never saw
//! the real shape). Each builder says where its shape comes from.
//!
//! Then every shape goes through `KubeSource::prepare`, through the
//! webhook's body splitting, and through `import` into a real journal.

use std::sync::Arc;

use serde_json::{json, Value};
use whodid_ingest::kube::body::split_event_list;
use whodid_ingest::line_source::LineParser;
use whodid_ingest::sink::Sink;
use whodid_journal::reader::JournalReader;
use whodid_journal::{Journal, JournalConfig};
use whodid_model::Stream;

use super::{assert_no_leak, assert_redacted, forbidden, leaks, leaky_lines, source};
use crate::import::import_bytes;
use crate::store::store_for;

/// A token that is no JWT (a static token file's, a bootstrap token):
/// `spec.token` of a TokenReview must go by its place, not its look.
pub(super) const OPAQUE_TOKEN: &str = "WDLEAK-static-token-4f1d0c2e";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The fixture's events, decoded.
fn events() -> Vec<Value> {
    leaky_lines()
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// The fixture's `ResponseComplete` event of `verb` on `resource`.
fn real(verb: &str, resource: &str) -> Value {
    events()
        .into_iter()
        .find(|e| {
            e["verb"] == verb
                && e["objectRef"]["resource"] == resource
                && e["stage"] == "ResponseComplete"
                && e["responseStatus"]["code"]
                    .as_u64()
                    .is_some_and(|c| c < 300)
        })
        .unwrap_or_else(|| panic!("no {verb} {resource} in the fixture"))
}

/// The items of the real `SecretList` (no `kind`, no `apiVersion`).
fn real_items() -> Vec<Value> {
    let items = real("list", "secrets")["responseObject"]["items"].clone();
    let items = items.as_array().unwrap().clone();
    assert!(items.iter().all(|i| i.get("kind").is_none()));
    items
}

/// What `kubectl apply` (client side) writes into the annotation: the
/// manifest, keys sorted (Go marshals maps sorted), a newline after it
/// (the JSON encoder's). This manifest uses `stringData`, so the value is
/// in it in plain text.
fn last_applied(name: &str, value: &str) -> String {
    let manifest = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"annotations": {}, "name": name, "namespace": "leaky"},
        "stringData": {"password": value}, "type": "Opaque"});
    format!("{manifest}\n")
}

/// The real created Secret as it is once `kubectl apply` made it: the
/// fixture's create, with the annotation that client-side apply adds to
/// the object it sends (kept by the apiserver in the object it returns).
fn applied_secret() -> Value {
    let mut secret = real("create", "secrets")["responseObject"].clone();
    secret["metadata"]["annotations"] =
        json!({LAST_APPLIED: last_applied("leak1", "WDLEAK-charlie-5e2b77aa")});
    secret
}

/// Sets what a different request changes in a real event.
fn with(mut event: Value, verb: &str, uri: &str) -> Value {
    event["verb"] = verb.into();
    event["requestURI"] = uri.into();
    event
}

/// Every built shape, named.
pub(super) fn shapes() -> Vec<(&'static str, Value)> {
    let list = real("list", "secrets");
    let mut shapes = Vec::new();

    // deletecollection: the registry's DeleteCollection returns the list of
    // what it deleted — the same SecretList as a list, items without kind —
    // for a request that carries DeleteOptions, as the fixture's delete.
    let mut e = with(
        list.clone(),
        "deletecollection",
        "/api/v1/namespaces/leaky/secrets",
    );
    e["requestObject"] = real_delete_options();
    shapes.push(("deletecollection", e));

    // watch: a watch event frame, {type, object}. The apiserver writes the
    // object's kind in frames and does not log watch bodies at all; the
    // object without kind here is the harder case (nothing added).
    let mut e = with(
        list.clone(),
        "watch",
        "/api/v1/namespaces/leaky/secrets?watch=1",
    );
    e["responseObject"] = json!({"type": "ADDED", "object": real_items()[1]});
    shapes.push(("watch event", e));

    // Table, includeObject=Object: asTable converts each row's object to
    // the request's version (ConvertToVersion sets kind and apiVersion).
    let mut e = with(
        list.clone(),
        "list",
        "/api/v1/namespaces/leaky/secrets?includeObject=Object&limit=500",
    );
    let rows: Vec<Value> = real_items()
        .into_iter()
        .map(|item| {
            let mut object = json!({"kind": "Secret", "apiVersion": "v1"});
            for (k, v) in item.as_object().unwrap() {
                object[k] = v.clone();
            }
            table_row(&item, object)
        })
        .collect();
    e["responseObject"] = table(rows);
    shapes.push(("table of objects", e));

    // Table, includeObject=Metadata (kubectl get's default): each row's
    // object is the Secret's PartialObjectMetadata — no data, but the
    // last-applied annotation with the values in it.
    let mut e = with(
        list.clone(),
        "list",
        "/api/v1/namespaces/leaky/secrets?limit=500",
    );
    let secret = applied_secret();
    let partial = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": secret["metadata"]});
    e["responseObject"] = table(vec![table_row(&secret, partial.clone())]);
    shapes.push(("table of metadata", e));

    // PartialObjectMetadataList (Accept: as=PartialObjectMetadataList):
    // asPartialObjectMetadataList sets kind PartialObjectMetadata on items.
    let mut e = list.clone();
    e["responseObject"] = json!({"kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "221"},
        "items": [partial]});
    shapes.push(("partial metadata list", e));

    // The SecretList of Secrets made by kubectl apply: items without kind,
    // each with the annotation.
    let mut e = list.clone();
    let mut item = applied_secret();
    item.as_object_mut().unwrap().remove("kind");
    item.as_object_mut().unwrap().remove("apiVersion");
    e["responseObject"]["items"] = json!([item]);
    shapes.push(("list of applied secrets", e));

    // create by client-side apply: the object as the apiserver re-encodes
    // it (stringData merged into data by conversion: base64) with the
    // annotation holding the manifest (stringData: plain text).
    let mut e = with(
        real("create", "secrets"),
        "create",
        "/api/v1/namespaces/leaky/secrets?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
    );
    e["requestObject"]["metadata"]["annotations"] =
        applied_secret()["metadata"]["annotations"].clone();
    e["responseObject"] = applied_secret();
    shapes.push(("create by apply", e));

    // apply to an existing Secret: the strategic-merge patch kubectl
    // computes (the raw patch, logged as sent: no kind).
    let mut e = real("patch", "secrets");
    e["requestObject"] = json!({"metadata": {"annotations":
        {LAST_APPLIED: last_applied("leak1", "WDLEAK-echo-0b9c3319")}},
        "stringData": {"password": "WDLEAK-echo-0b9c3319"}});
    shapes.push(("strategic merge patch by apply", e));

    // server-side apply: the apply configuration kubectl sends as JSON.
    let mut e = with(
        real("patch", "secrets"),
        "patch",
        "/api/v1/namespaces/leaky/secrets/leak1?fieldManager=kubectl&fieldValidation=Strict&force=false",
    );
    e["requestObject"] = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "leak1", "namespace": "leaky"},
        "stringData": {"password": "WDLEAK-echo-0b9c3319"}, "type": "Opaque"});
    shapes.push(("server-side apply", e));

    // JSON patch (kubectl patch --type=json): the raw array, every form of
    // operation that carries a value onto a Secret's values.
    let mut e = real("patch", "secrets");
    let value = real("patch", "secrets")["requestObject"]["data"]["password"].clone();
    e["requestObject"] = json!([
        {"op": "test", "path": "/data/password", "value": value},
        {"op": "replace", "path": "/data/password", "value": value},
        {"op": "add", "path": "/stringData", "value": {"more": "WDLEAK-golf-3c9a7e10"}},
        {"op": "add", "path": "/metadata/annotations",
         "value": {LAST_APPLIED: last_applied("leak1", "WDLEAK-charlie-5e2b77aa")}},
        {"op": "replace", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
         "value": last_applied("leak1", "WDLEAK-charlie-5e2b77aa")},
        {"op": "replace", "path": "/metadata/labels/app", "value": "web"},
    ]);
    shapes.push(("json patch", e));

    // update (PUT): the client sends back the object it read, changed; the
    // apiserver re-encodes it (kind set) and returns the stored object.
    let read = real("get", "secrets");
    let mut e = with(
        read.clone(),
        "update",
        "/api/v1/namespaces/leaky/secrets/leak1?fieldManager=kubectl-edit",
    );
    let mut object = read["responseObject"].clone();
    object["data"]["password"] = value.clone();
    e["requestObject"] = object.clone();
    object["metadata"]["resourceVersion"] = "230".into();
    e["responseObject"] = object;
    shapes.push(("update", e));

    // TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews): the
    // token to review in spec.token, a JWT or an opaque token.
    for (name, token) in [
        ("token review of a JWT", jwt()),
        ("token review of an opaque token", OPAQUE_TOKEN.to_owned()),
    ] {
        let mut e = with(
            token_request(),
            "create",
            "/apis/authentication.k8s.io/v1/tokenreviews",
        );
        e["annotations"] =
            json!({"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""});
        e["objectRef"] = json!({"resource": "tokenreviews", "apiGroup": "authentication.k8s.io", "apiVersion": "v1"});
        e["requestObject"] = json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null}, "spec": {"token": token}, "status": {"user": {}}});
        e["responseObject"] = json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null}, "spec": {"token": token},
            "status": {"authenticated": true, "user": {"username": "system:serviceaccount:leaky:tok"},
                       "audiences": ["https://kubernetes.default.svc"]}});
        shapes.push((name, e));
    }
    // Each request has its own auditID (the apiserver's UUID per request).
    for (i, (_, e)) in shapes.iter_mut().enumerate() {
        e["auditID"] = format!("0b5e55ed-0000-4000-8000-{i:012}").into();
    }
    shapes
}

/// The fixture's DeleteOptions (of its delete).
fn real_delete_options() -> Value {
    events()
        .into_iter()
        .find(|e| {
            e["verb"] == "delete"
                && e["objectRef"]["resource"] == "secrets"
                && e["stage"] == "ResponseComplete"
        })
        .unwrap()["requestObject"]
        .clone()
}

/// The fixture's TokenRequest event.
fn token_request() -> Value {
    events()
        .into_iter()
        .find(|e| e["objectRef"]["subresource"] == "token" && e["stage"] == "ResponseComplete")
        .unwrap()
}

/// The fixture's TokenRequest JWT.
fn jwt() -> String {
    token_request()["responseObject"]["status"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A `meta.k8s.io/v1` Table of Secrets with the columns the apiserver's
/// printer gives them (Name, Type, Data, Age).
fn table(rows: Vec<Value>) -> Value {
    let column = |name: &str, format: &str, description: &str| json!({"name": name, "type": "string", "format": format, "description": description, "priority": 0});
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "221"},
        "columnDefinitions": [
            column("Name", "name", "Name must be unique within a namespace."),
            column("Type", "", "Used to facilitate programmatic handling of secret data."),
            column("Data", "", "Data contains the secret data."),
            column("Age", "", "CreationTimestamp is a timestamp representing the server time when this object was created."),
        ],
        "rows": rows})
}

/// A Table row for `secret`: its cells, and `object`.
fn table_row(secret: &Value, object: Value) -> Value {
    let data = secret["data"].as_object().map_or(0, serde_json::Map::len);
    json!({"cells": [secret["metadata"]["name"], secret["type"], data, "2m"], "object": object})
}

/// A line of the real list as a killed apiserver leaves it: cut inside the
/// last value of its last item.
fn torn_list_line() -> Vec<u8> {
    let line = leaky_lines()
        .into_iter()
        .find(|l| memchr::memmem::find(l, b"\"SecretList\"").is_some())
        .unwrap();
    let value = b"V0RMRUFLLWdvbGYtM2M5YTdlMTA=";
    let at = memchr::memmem::rfind(&line, value).unwrap();
    line[..at + 14].to_vec()
}

/// The list event as an `audit.k8s.io/v1beta1` event (an older apiserver's
/// log): stored as an invalid record, and redacted as JSON all the same.
fn v1beta1_list_line() -> Vec<u8> {
    let mut e = real("list", "secrets");
    e["apiVersion"] = "audit.k8s.io/v1beta1".into();
    e["auditID"] = "0b5e55ed-0000-4000-8000-0000000000b1".into();
    serde_json::to_vec(&e).unwrap()
}

/// Every line to test: the fixture's, the built shapes', the torn and the
/// v1beta1 line.
fn all_lines() -> Vec<(String, Vec<u8>)> {
    let mut lines: Vec<(String, Vec<u8>)> = leaky_lines()
        .into_iter()
        .enumerate()
        .map(|(i, l)| (format!("fixture line {}", i + 1), l))
        .collect();
    lines.extend(
        shapes()
            .into_iter()
            .map(|(name, e)| (name.to_owned(), serde_json::to_vec(&e).unwrap())),
    );
    lines.push(("torn list line".to_owned(), torn_list_line()));
    lines.push(("v1beta1 list event".to_owned(), v1beta1_list_line()));
    lines
}

#[test]
fn every_shape_of_every_verb_is_redacted() {
    let source = source(None);
    for (name, event) in shapes() {
        let raw = serde_json::to_vec(&event).unwrap();
        let redacted = assert_redacted(name, &source, &raw);
        // Redaction replaces values, never the rest: the response's own
        // shape is still there.
        let (_, stored, _) = super::stored(&source, &raw);
        let stored: Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(stored["verb"], event["verb"], "{name}");
        assert_eq!(
            stored["responseObject"]["kind"], event["responseObject"]["kind"],
            "{name}"
        );
        if name == "json patch" {
            assert_eq!(
                stored["requestObject"][5]["value"], "web",
                "{name}: {redacted:?}"
            );
            assert_eq!(
                redacted
                    .iter()
                    .filter(|p| p.starts_with("requestObject"))
                    .count(),
                5,
                "{redacted:?}"
            );
        }
        if name == "table of metadata" {
            // The annotation stays JSON of the applied manifest, its value hashed.
            let annotation = stored["responseObject"]["rows"][0]["object"]["metadata"]
                ["annotations"][LAST_APPLIED]
                .as_str()
                .unwrap();
            let applied: Value = serde_json::from_str(annotation).unwrap();
            assert_eq!(applied["metadata"]["name"], "leak1");
            assert!(applied["stringData"]["password"]
                .as_str()
                .unwrap()
                .starts_with("whodid-redacted:"));
        }
    }
}

#[test]
fn lines_that_are_not_v1_events_keep_no_secret_either() {
    let source = source(None);
    for (name, line) in [("torn", torn_list_line()), ("v1beta1", v1beta1_list_line())] {
        assert!(
            matches!(
                source.prepare(&line),
                whodid_ingest::kube::prepare::Prepared::Invalid { .. }
            ),
            "{name}"
        );
        let redacted = assert_redacted(name, &source, &line);
        assert!(!redacted.is_empty());
    }
    // The torn line keeps what is no secret.
    let (_, stored, _) = super::stored(&source, &torn_list_line());
    let stored = String::from_utf8(stored).unwrap();
    assert!(stored.contains(r#""resource":"secrets""#), "{stored}");
    assert!(stored.contains(r#""name":"leak3""#), "{stored}");
}

#[test]
fn a_webhook_body_of_every_shape_keeps_no_secret() {
    let source = source(None);
    let mut body =
        br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["#.to_vec();
    let lines = all_lines();
    let events: Vec<&(String, Vec<u8>)> = lines
        .iter()
        .filter(|(name, _)| !name.starts_with("torn"))
        .collect();
    for (i, (_, line)) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(line);
    }
    body.extend_from_slice(b"]}");
    let items = split_event_list(&body).unwrap();
    assert_eq!(items.len(), events.len());
    for (item, (name, _)) in items.into_iter().zip(events) {
        assert_no_leak(name, &source, item);
    }
}

#[test]
fn whodid_ingest_of_every_shape_stores_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(dir.path(), JournalConfig::default()).unwrap());
    let sink = Sink::Kube {
        store: Arc::new(store_for(&journal)),
        cluster: "leaky".into(),
    };
    let mut parser = LineParser::Kube(Box::new(source(None)));
    let lines = all_lines();
    let mut input = Vec::new();
    for (_, line) in &lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let report = import_bytes(&input, &mut parser, &sink);
    journal.close().unwrap();
    let forbidden = forbidden();
    assert!(!leaks(&input, &forbidden).is_empty());
    // Every line is a record, and no record holds a secret.
    let reader = JournalReader::open(dir.path()).unwrap();
    let (first, end) = reader.bounds(Stream::KubeAudit).unwrap();
    assert_eq!(end - first, lines.len() as u64);
    let mut redacted = 0;
    for record in reader.iter_from(Stream::KubeAudit, first).unwrap() {
        let record = record.unwrap();
        assert_eq!(
            leaks(&record.envelope, &forbidden),
            Vec::<&str>::new(),
            "record {}",
            record.index
        );
        assert_eq!(
            leaks(&record.raw, &forbidden),
            Vec::<&str>::new(),
            "record {}",
            record.index
        );
        redacted += usize::from(memchr::memmem::find(&record.envelope, b"\"redacted\"").is_some());
    }
    let with_secrets = lines
        .iter()
        .filter(|(_, l)| !leaks(l, &forbidden).is_empty())
        .count();
    assert_eq!(redacted, with_secrets);
    // The store counts redacted events; the torn and the v1beta1 line are
    // invalid records (redacted all the same, as their envelopes say).
    assert_eq!(report.stored.redacted, with_secrets as u64 - 2);
}
