//! Redaction against its promise, on any body: the fuzzer's bytes as the
//! request or response body of an audit event on `secrets` (the real
//! fixture's list event around it), through `KubeSource::prepare`. Every
//! string that the body holds only as a value of a `data` or `stringData`
//! member (at any depth: a Secret, a list item without kind, a table row,
//! a patch) must be gone from what is stored. The bytes alone are also
//! prepared as a line (invalid records: the tolerant text scan). Nothing
//! may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use whodid_ingest::kube::prepare::{KubeSource, Prepared};
use whodid_ingest::redaction_key::RedactionKey;

const TEMPLATE: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"64faaa68-6369-42ba-a080-c6db6fcba2ca","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/leaky/secrets?limit=500","verb":"list","user":{"username":"alice","uid":"1001","groups":["system:masters","system:authenticated"]},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07","objectRef":{"resource":"secrets","namespace":"leaky","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-12-07T19:19:52.791331Z","stageTimestamp":"2026-12-07T19:19:52.792816Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}"#;

/// String values under `data` / `stringData` members (`inside`), and every
/// other string and member name (`outside`).
fn collect(value: &Value, in_secret: bool, inside: &mut Vec<String>, outside: &mut String) {
    match value {
        Value::String(s) if in_secret => inside.push(s.clone()),
        Value::String(s) => {
            outside.push_str(s);
            outside.push('\u{0}');
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, in_secret, inside, outside)),
        Value::Object(map) => {
            for (name, child) in map {
                outside.push_str(name);
                outside.push('\u{0}');
                let secret = in_secret || name == "data" || name == "stringData";
                collect(child, secret, inside, outside);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let source = KubeSource {
        cluster: "fuzz".into(),
        policy: None,
        redaction: Some(RedactionKey::from_bytes([9; 32])),
    };
    let _ = source.prepare(data);
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let Ok(Value::Object(mut event)) = serde_json::from_str::<Value>(TEMPLATE) else {
        return;
    };
    let side = if first & 1 == 0 { "responseObject" } else { "requestObject" };
    let (mut inside, mut outside) = (Vec::new(), String::from(TEMPLATE));
    collect(&body, false, &mut inside, &mut outside);
    event.insert(side.to_owned(), body);
    let raw = Value::Object(event).to_string();
    let record = match source.prepare(raw.as_bytes()) {
        Prepared::Keep { record, .. } | Prepared::Invalid { record, .. } => record,
        Prepared::DroppedByPolicy => return,
    };
    // What is stored, less the lists of redacted paths (member names).
    let mut stored = String::new();
    for bytes in [&record.envelope, &record.raw] {
        let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
            stored.push_str(&String::from_utf8_lossy(bytes));
            continue;
        };
        if let Some(map) = value.as_object_mut() {
            map.remove("redacted");
            if let Some(Value::Object(notes)) = map.get_mut("annotations") {
                notes.remove("audit.whodid.io/redacted");
            }
        }
        stored.push_str(&value.to_string());
    }
    for value in inside {
        // Only values that appear nowhere else (short ones appear by chance).
        if value.len() < 6
            || outside.contains(value.as_str())
            || value.starts_with("whodid-redacted:")
            || "whodid-redacted:hmac-sha256:".contains(value.as_str())
            || value.bytes().all(|b| b.is_ascii_hexdigit())
        {
            continue;
        }
        let json = serde_json::to_string(&value).unwrap_or_default();
        let json = &json[1..json.len().saturating_sub(1).max(1)];
        assert!(
            !stored.contains(json),
            "a data value survived: {value:?}"
        );
    }
});
