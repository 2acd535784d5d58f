//! No Secret value, in any shape a real kube-apiserver writes it, reaches
//! what ingest stores.
//!
//! `testdata/k8s/secret-shapes/leaky.jsonl` is a real kube-apiserver's log
//! (v1.36.2, RequestResponse for Secrets): create, get, list (a
//! `SecretList` whose items carry no `kind`), patch, delete and a
//! TokenRequest, fed here byte for byte as the apiserver wrote them. The
//! shapes of verbs it does not hold are built in [`apiserver`] from these
//! events, as the apiserver produces them. Every check runs through
//! `KubeSource::prepare` (what the webhook and the log tailer run) or
//! `import` into a real journal (what `whodid ingest` runs), and looks for
//! every planted value in every encoding in the stored envelope and raw
//! bytes.

mod apiserver;
mod property;

use whodid_ingest::kube::prepare::{KubeSource, Prepared};
use whodid_ingest::kube::redact::REDACTED_ANNOTATION;
use whodid_ingest::redaction_key::RedactionKey;
use whodid_model::Envelope;

/// The values planted in the fixture's Secrets (its README), and the
/// opaque token of the built TokenReview.
const PLANTED: [&str; 6] = [
    "WDLEAK-charlie-5e2b77aa",
    "WDLEAK-echo-0b9c3319",
    "WDLEAK-golf-3c9a7e10",
    "user=x password=WDLEAK-foxtrot-6d1e0c8b",
    "WDLEAK-foxtrot-6d1e0c8b",
    apiserver::OPAQUE_TOKEN,
];

/// The header of the fixture's TokenRequest JWT (its README).
const JWT_HEADER: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6";

/// The fixture's log lines, as the apiserver wrote them.
pub(crate) fn leaky_lines() -> Vec<Vec<u8>> {
    crate::fixtures::lines("k8s/secret-shapes/leaky.jsonl")
}

/// What the webhook and the tailer run for one cluster, redaction on.
pub(crate) fn source(policy: Option<whodid_policy::evaluate::Evaluator>) -> KubeSource {
    KubeSource {
        cluster: "leaky".into(),
        policy,
        redaction: Some(RedactionKey::from_bytes([3; 32])),
    }
}

/// Standard base64 with padding (what `data` holds).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `value` in every encoding it can be stored in: as is, JSON-escaped once
/// and twice (inside an annotation's JSON string), base64 — and the base64
/// characters it fixes at each of the three alignments, so that it is found
/// also as part of a longer base64 value.
pub(crate) fn encodings(value: &str) -> Vec<String> {
    let escaped = serde_json::to_string(value).unwrap();
    let escaped = escaped[1..escaped.len() - 1].to_owned();
    let twice = serde_json::to_string(&escaped).unwrap();
    let mut all = vec![
        value.to_owned(),
        base64(value.as_bytes()),
        twice[1..twice.len() - 1].to_owned(),
        escaped,
    ];
    for shift in 0..3 {
        let mut shifted = vec![b'x'; shift];
        shifted.extend_from_slice(value.as_bytes());
        let encoded = base64(&shifted);
        // Whole groups of three bytes that lie inside `value`.
        let first = shift.div_ceil(3);
        let last = shifted.len() / 3;
        if last > first {
            all.push(encoded[first * 4..last * 4].to_owned());
        }
    }
    all.sort();
    all.dedup();
    all
}

/// Every string that must never be stored: each planted value (and the
/// `WDLEAK-` all of them begin with, so a value cut short is caught too)
/// in every encoding, and the JWT.
pub(crate) fn forbidden() -> Vec<String> {
    let mut all: Vec<String> = PLANTED
        .iter()
        .chain(&["WDLEAK-"])
        .flat_map(|v| encodings(v))
        .collect();
    all.push(JWT_HEADER.to_owned());
    all
}

/// The forbidden strings found in `bytes`.
pub(crate) fn leaks<'f>(bytes: &[u8], forbidden: &'f [String]) -> Vec<&'f str> {
    forbidden
        .iter()
        .filter(|f| memchr::memmem::find(bytes, f.as_bytes()).is_some())
        .map(String::as_str)
        .collect()
}

/// What the journal is handed for `raw`: envelope and raw bytes, and the
/// envelope's `redacted`.
pub(crate) fn stored(source: &KubeSource, raw: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<String>) {
    let record = match source.prepare(raw) {
        Prepared::Keep { record, .. } | Prepared::Invalid { record, .. } => record,
        Prepared::DroppedByPolicy => return (Vec::new(), Vec::new(), Vec::new()),
    };
    let envelope = Envelope::from_json(&record.envelope).unwrap();
    (record.envelope, record.raw, envelope.redacted)
}

/// What is stored for `raw` carries no planted value; returns the
/// envelope's `redacted`.
pub(crate) fn assert_no_leak(what: &str, source: &KubeSource, raw: &[u8]) -> Vec<String> {
    let forbidden = forbidden();
    let (envelope, stored_raw, redacted) = stored(source, raw);
    assert_eq!(
        leaks(&envelope, &forbidden),
        Vec::<&str>::new(),
        "{what}: envelope"
    );
    assert_eq!(
        leaks(&stored_raw, &forbidden),
        Vec::<&str>::new(),
        "{what}: {}",
        String::from_utf8_lossy(&stored_raw)
    );
    redacted
}

/// `raw` carries planted values, and what is stored for it carries none and
/// says that it was redacted (the envelope, and the event's annotation when
/// the bytes are an event).
pub(crate) fn assert_redacted(what: &str, source: &KubeSource, raw: &[u8]) -> Vec<String> {
    assert!(
        !leaks(raw, &forbidden()).is_empty(),
        "{what}: the input holds no planted value, so it proves nothing"
    );
    let redacted = assert_no_leak(what, source, raw);
    assert!(
        !redacted.is_empty(),
        "{what}: the envelope does not say redacted"
    );
    let (_, stored_raw, _) = stored(source, raw);
    if let Ok(event) = serde_json::from_slice::<serde_json::Value>(&stored_raw) {
        if event["kind"] == "Event" && event["apiVersion"] == "audit.k8s.io/v1" {
            assert_eq!(
                event["annotations"][REDACTED_ANNOTATION].as_str(),
                Some(redacted.join(",").as_str()),
                "{what}: the event does not say redacted"
            );
        }
    }
    redacted
}

#[test]
fn the_encodings_find_what_they_must() {
    assert_eq!(
        base64(b"WDLEAK-charlie-5e2b77aa"),
        "V0RMRUFLLWNoYXJsaWUtNWUyYjc3YWE="
    );
    let foxtrot = base64(b"user=x password=WDLEAK-foxtrot-6d1e0c8b");
    assert_eq!(
        foxtrot,
        "dXNlcj14IHBhc3N3b3JkPVdETEVBSy1mb3h0cm90LTZkMWUwYzhi"
    );
    // The prefix every value shares is found inside a longer base64 value.
    assert!(!leaks(foxtrot.as_bytes(), &encodings("WDLEAK-")).is_empty());
    let escaped = serde_json::to_string(&serde_json::to_string("a\"b").unwrap()).unwrap();
    assert!(encodings("a\"b")
        .iter()
        .any(|e| escaped.contains(e.as_str())));
}

#[test]
fn every_real_event_is_stored_without_its_secrets() {
    let forbidden = forbidden();
    for policy in [
        None,
        Some(crate::fixtures::policy("01-kube-up-gce-production")),
    ] {
        let with_policy = policy.is_some();
        let source = source(policy);
        let mut with_secrets = 0;
        for (i, line) in leaky_lines().iter().enumerate() {
            if leaks(line, &forbidden).is_empty() {
                // Nothing secret: stored exactly as received (no policy).
                let (_, raw, redacted) = stored(&source, line);
                assert!(redacted.is_empty(), "line {}: {redacted:?}", i + 1);
                if !with_policy {
                    assert_eq!(raw, *line, "line {}", i + 1);
                }
                continue;
            }
            with_secrets += 1;
            let what = format!("line {}", i + 1);
            if with_policy {
                // kube-up's policy records Secrets and tokens at Metadata.
                assert_no_leak(&what, &source, line);
                continue;
            }
            let redacted = assert_redacted(&what, &source, line);
            let event: serde_json::Value = serde_json::from_slice(line).unwrap();
            if event["verb"] == "list" {
                // The real SecretList: items without kind.
                assert!(event["responseObject"]["items"][0].get("kind").is_none());
                for path in [
                    "responseObject.items[0].data.password",
                    "responseObject.items[1].data.cfg",
                    "responseObject.items[1].data.more",
                ] {
                    assert!(redacted.iter().any(|p| p == path), "{path}: {redacted:?}");
                }
            }
        }
        // create ×2, get, patch ×2, list, TokenRequest.
        assert_eq!(with_secrets, 7);
    }
}

#[test]
fn without_redaction_the_values_are_stored() {
    // The check above would see a leak: with redaction off for the
    // cluster, the list's values are stored as received.
    let mut source = source(None);
    source.redaction = None;
    let forbidden = forbidden();
    let leaked: usize = leaky_lines()
        .iter()
        .map(|line| {
            let (envelope, raw, _) = stored(&source, line);
            leaks(&envelope, &forbidden).len() + leaks(&raw, &forbidden).len()
        })
        .sum();
    assert!(leaked > 10, "{leaked}");
}
