//! The property: for any event whose request or response holds a Secret in
//! any shape the apiserver can produce, no value of its `data` or
//! `stringData` survives in what is stored.
//!
//! Shapes: the Secret itself; a `SecretList` (items without kind); a Table
//! whose rows hold the Secret (with or without kind) or its
//! `PartialObjectMetadata`; a `PartialObjectMetadataList`; a watch event; a
//! merge patch (no kind); a JSON patch; a generic `List` mixing it with a
//! ConfigMap; any of these nested in lists and watch events; the Secret's
//! last-applied annotation (its manifest's values in plain text) on any of
//! them. Random field order, random extra fields, random verb, body on
//! either side, and member names written with JSON escapes (raw patch
//! bodies are logged as the client sent them). The event around it is the
//! fixture's real list event.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{base64, encodings, leaks, leaky_lines, source, stored};

const MARK: &str = "WDPROP-";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Debug, Clone)]
struct Secret {
    name: String,
    data: Vec<(String, String)>,
    string_data: Vec<(String, String)>,
    applied: bool,
    extra: Vec<(String, String)>,
}

impl Secret {
    fn values(&self) -> impl Iterator<Item = &String> {
        self.data.iter().chain(&self.string_data).map(|(_, v)| v)
    }

    /// Its metadata: name, namespace, and the last-applied annotation of
    /// the manifest kubectl applied (stringData in plain text).
    fn metadata(&self, seed: u64) -> Value {
        let mut meta = vec![
            ("name".to_owned(), json!(self.name)),
            ("namespace".to_owned(), json!("leaky")),
            ("resourceVersion".to_owned(), json!("221")),
        ];
        if self.applied {
            let manifest = json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"annotations": {}, "name": self.name, "namespace": "leaky"},
                "data": pairs(&self.data, true), "stringData": pairs(&self.string_data, false),
                "type": "Opaque"});
            meta.push((
                "annotations".to_owned(),
                json!({LAST_APPLIED: format!("{manifest}\n"), "team": "web"}),
            ));
        }
        object(meta, seed)
    }

    /// The object, with or without kind; `data` base64 as the apiserver
    /// returns it, `stringData` as a client sends it.
    fn object(&self, kind: bool, seed: u64) -> Value {
        let mut members = vec![
            ("metadata".to_owned(), self.metadata(seed)),
            ("data".to_owned(), pairs(&self.data, true)),
            ("type".to_owned(), json!("Opaque")),
        ];
        if !self.string_data.is_empty() {
            members.push(("stringData".to_owned(), pairs(&self.string_data, false)));
        }
        if kind {
            members.push(("kind".to_owned(), json!("Secret")));
            members.push(("apiVersion".to_owned(), json!("v1")));
        }
        members.extend(self.extra.iter().map(|(k, v)| (k.clone(), json!(v))));
        object(members, seed.rotate_left(7))
    }

    fn partial(&self, seed: u64) -> Value {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": self.metadata(seed)})
    }
}

/// `entries` as a JSON object, values base64-encoded when `encode`.
fn pairs(entries: &[(String, String)], encode: bool) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(k, v)| {
                let v = if encode {
                    base64(v.as_bytes())
                } else {
                    v.clone()
                };
                (k.clone(), Value::String(v))
            })
            .collect(),
    )
}

/// An object of `members` in an order that `seed` picks.
fn object(mut members: Vec<(String, Value)>, mut seed: u64) -> Value {
    for i in (1..members.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        members.swap(i, (seed >> 33) as usize % (i + 1));
    }
    Value::Object(members.into_iter().collect::<Map<String, Value>>())
}

fn secret() -> impl Strategy<Value = Secret> {
    let value = "[a-z0-9]{6,14}".prop_map(|s| format!("{MARK}{s}"));
    let entry = ("[a-z][a-z0-9._-]{0,8}", value);
    (
        "[a-z]{1,8}",
        proptest::collection::vec(entry.clone(), 1..4),
        proptest::collection::vec(entry, 0..3),
        any::<bool>(),
        proptest::collection::vec(("x[a-z]{1,6}", "[a-z ]{0,12}"), 0..3),
    )
        .prop_map(|(name, data, string_data, applied, extra)| Secret {
            name,
            data,
            string_data,
            applied,
            extra,
        })
}

/// A body holding `secret`, and whether only the request says it is one.
fn body(shape: u8, secret: &Secret, seed: u64) -> (Value, bool) {
    let kind = seed & 1 == 1;
    match shape {
        0 => (secret.object(true, seed), false),
        1 => (
            json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "221"},
                   "items": [secret.object(false, seed)]}),
            false,
        ),
        2 => (
            json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                   "columnDefinitions": [{"name": "Name", "type": "string"}, {"name": "Data", "type": "string"}],
                   "rows": [{"cells": [secret.name, secret.data.len()], "object": secret.object(kind, seed)}]}),
            !kind,
        ),
        3 => (
            json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                   "columnDefinitions": [{"name": "Name", "type": "string"}],
                   "rows": [{"cells": [secret.name], "object": secret.partial(seed)}]}),
            false,
        ),
        4 => (
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {}, "items": [secret.partial(seed)]}),
            false,
        ),
        5 => (
            json!({"type": "ADDED", "object": secret.object(kind, seed)}),
            !kind,
        ),
        6 => {
            // A merge or strategic-merge patch: no kind, what the client sent.
            let mut patch = secret.object(false, seed);
            patch.as_object_mut().unwrap().remove("type");
            (patch, true)
        }
        7 => {
            let mut ops: Vec<Value> = secret
                .data
                .iter()
                .map(|(k, v)| json!({"op": "add", "path": format!("/data/{k}"), "value": base64(v.as_bytes())}))
                .collect();
            ops.push(json!({"op": "replace", "path": "/stringData", "value": pairs(&secret.string_data, false)}));
            ops.push(json!({"op": "add", "path": "/metadata", "value": secret.metadata(seed)}));
            (Value::Array(ops), true)
        }
        8 => (
            json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": [
                {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cm"}, "data": {"k": "plain"}},
                secret.object(true, seed)]}),
            false,
        ),
        _ => (secret.partial(seed), false),
    }
}

/// `body` wrapped `depth` times in a generic List or a watch event.
fn nest(mut body: Value, depth: u8, seed: u64) -> Value {
    for level in 0..depth {
        body = if (seed >> level) & 1 == 0 {
            json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": [{"kind": "ConfigMap"}, body]})
        } else {
            json!({"type": "MODIFIED", "object": body})
        };
    }
    body
}

const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const OTHER_RESOURCES: [&str; 3] = ["configmaps", "pods", "namespaces"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_secret_value_survives_any_shape(
        secret in secret(),
        shape in 0u8..10,
        depth in 0u8..3,
        verb in 0usize..VERBS.len(),
        other in proptest::option::of(0usize..OTHER_RESOURCES.len()),
        in_request in any::<bool>(),
        escape in any::<bool>(),
        seed in any::<u64>(),
        extra in proptest::collection::vec(("x[a-z]{1,6}", "[a-z ]{0,12}"), 0..3),
    ) {
        let (body, by_request_only) = body(shape, &secret, seed);
        let body = nest(body, depth, seed >> 8);
        // A Secret known by its kind (or, for PartialObjectMetadata, by the
        // kind in its last-applied annotation) may come in any request;
        // one known only by the request comes in a request on secrets.
        let needs_annotation = matches!(shape, 3 | 4 | 9);
        let resource = match other {
            Some(i) if !by_request_only && (!needs_annotation || secret.applied) => OTHER_RESOURCES[i],
            _ => "secrets",
        };
        let template: Value = serde_json::from_slice(
            leaky_lines().iter().find(|l| memchr::memmem::find(l, b"\"SecretList\"").is_some()).unwrap(),
        ).unwrap();
        let mut members: Vec<(String, Value)> = template.as_object().unwrap().clone().into_iter()
            .filter(|(k, _)| k != "responseObject")
            .collect();
        for (k, v) in members.iter_mut() {
            match k.as_str() {
                "verb" => *v = json!(VERBS[verb]),
                "objectRef" => v["resource"] = json!(resource),
                _ => {}
            }
        }
        let side = if in_request { "requestObject" } else { "responseObject" };
        members.push((side.to_owned(), body));
        members.extend(extra.into_iter().map(|(k, v)| (k, json!(v))));
        let mut raw = object(members, seed).to_string();
        if escape && resource == "secrets" {
            // Raw patch bodies are logged as sent: names may be escaped.
            raw = raw.replace("\"data\":", "\"\\u0064ata\":").replace("\"stringData\":", "\"string\\u0044ata\":");
        }

        let mut forbidden: Vec<String> = secret.values().flat_map(|v| encodings(v)).collect();
        forbidden.extend(encodings(MARK));
        let source = source(None);
        let (envelope, stored_raw, redacted) = stored(&source, raw.as_bytes());
        prop_assert!(!envelope.is_empty());
        prop_assert_eq!(leaks(&envelope, &forbidden), Vec::<&str>::new());
        prop_assert_eq!(leaks(&stored_raw, &forbidden), Vec::<&str>::new(), "{}", String::from_utf8_lossy(&stored_raw));
        // Shapes 3, 4 and 9 carry the values only in the annotation.
        if !needs_annotation || secret.applied {
            prop_assert!(!redacted.is_empty());
        }
    }
}
