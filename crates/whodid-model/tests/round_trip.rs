//! Decoding then encoding every event of the real kube-apiserver capture, the
//! webhook batches and the synthetic events reproduces each event's content.

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;

use whodid_model::k8s::read_log;

fn testdata(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/k8s")
        .join(rel);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if rel.ends_with(".gz") {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        plain
    } else {
        raw
    }
}

#[test]
fn every_fixture_event_round_trips() {
    let mut checked = 0;
    for file in [
        "capture-audit.log.gz",
        "synthetic.jsonl",
        "webhook/batch-00010.json.gz",
        "webhook/batch-00011.json",
    ] {
        let bytes = testdata(file);
        read_log(
            &bytes,
            |e| {
                let original: serde_json::Value = serde_json::from_slice(e.raw).unwrap();
                let again = serde_json::to_value(&e.event).unwrap();
                assert_eq!(
                    again, original,
                    "{file} {}: content changed in a round trip",
                    e.location
                );
                checked += 1;
            },
            |e| panic!("{file}: {e}"),
        );
    }
    assert!(checked > 2947 + 92, "only {checked} events");
}

#[test]
fn unknown_nested_fields_are_kept() {
    let line = br#"{"level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u","future":1},"objectRef":{"resource":"pods","shardKey":"x"}}"#;
    let event = whodid_model::k8s::decode_event(line).unwrap();
    let again = serde_json::to_value(&event).unwrap();
    assert_eq!(again["user"]["future"], 1);
    assert_eq!(again["objectRef"]["shardKey"], "x");
}
