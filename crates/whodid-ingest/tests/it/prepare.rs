//! Preparing the real capture: what the cluster's policy keeps is exactly
//! what the apiserver's own policy code decides (the oracle), at the level
//! it decides; secrets never survive; everything else keeps its bytes.

use std::collections::BTreeMap;

use whodid_ingest::kube::prepare::{KubeSource, Prepared};
use whodid_ingest::redaction_key::RedactionKey;
use whodid_model::Envelope;

use crate::fixtures::{capture_lines, policy, read};

fn oracle(name: &str) -> BTreeMap<(String, String), serde_json::Value> {
    read(&format!("k8s/oracle/{name}.capture.jsonl.gz"))
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            (
                (
                    v["auditID"].as_str().unwrap().to_owned(),
                    v["stage"].as_str().unwrap().to_owned(),
                ),
                v,
            )
        })
        .collect()
}

fn id(raw: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(raw).unwrap();
    (
        v["auditID"].as_str().unwrap().to_owned(),
        v["stage"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn policy_at_ingest_agrees_with_the_apiserver() {
    for name in [
        "01-kube-up-gce-production",
        "02-compliance-guide",
        "03-k8s-docs-example",
        "11-omit-stages",
        "12-omit-managed-fields",
    ] {
        let source = KubeSource {
            cluster: "c".into(),
            policy: Some(policy(name)),
            redaction: Some(RedactionKey::from_bytes([3; 32])),
        };
        let oracle = oracle(name);
        let mut kept = 0;
        for line in capture_lines() {
            let key = id(&line);
            let decision = &oracle[&key];
            match source.prepare(&line) {
                Prepared::Keep { record, .. } => {
                    assert_eq!(
                        decision["emit"], true,
                        "{name}: kept {key:?}, the apiserver does not"
                    );
                    kept += 1;
                    let event: serde_json::Value = serde_json::from_slice(&record.raw).unwrap();
                    let level = decision["level"].as_str().unwrap();
                    let original: serde_json::Value = serde_json::from_slice(&line).unwrap();
                    // Never raised above what was captured.
                    if original["level"] == "RequestResponse" || level != "RequestResponse" {
                        assert_eq!(event["level"], level, "{name}: {key:?}");
                    }
                    if level == "Metadata" {
                        assert!(
                            event.get("requestObject").is_none()
                                && event.get("responseObject").is_none(),
                            "{name}: {key:?} kept bodies at Metadata"
                        );
                    }
                    if level == "Request" {
                        assert!(event.get("responseObject").is_none(), "{name}: {key:?}");
                    }
                    if decision["omitManagedFields"] == true {
                        let text = String::from_utf8_lossy(&record.raw);
                        assert!(
                            !text.contains("\"managedFields\""),
                            "{name}: {key:?} kept managedFields"
                        );
                    }
                    let envelope = Envelope::from_json(&record.envelope).unwrap();
                    assert_eq!(envelope.cluster, "c");
                }
                Prepared::DroppedByPolicy => assert_eq!(
                    decision["emit"], false,
                    "{name}: dropped {key:?}, the apiserver keeps it"
                ),
                Prepared::Invalid { reason, .. } => panic!("{name}: {key:?} invalid: {reason}"),
            }
        }
        let expected = oracle.values().filter(|d| d["emit"] == true).count();
        assert_eq!(kept, expected, "{name}");
    }
}

#[test]
fn without_policy_every_event_is_kept_byte_for_byte_unless_it_holds_a_secret() {
    let source = KubeSource {
        cluster: "c".into(),
        policy: None,
        redaction: Some(RedactionKey::from_bytes([3; 32])),
    };
    let mut redacted = 0;
    for line in capture_lines() {
        let Prepared::Keep {
            record,
            redacted: r,
            ..
        } = source.prepare(&line)
        else {
            panic!("not kept");
        };
        let envelope = Envelope::from_json(&record.envelope).unwrap();
        if r {
            redacted += 1;
            assert!(!envelope.redacted.is_empty());
            let event: serde_json::Value = serde_json::from_slice(&record.raw).unwrap();
            let resource = event["objectRef"]["resource"].as_str().unwrap_or_default();
            assert!(
                ["secrets", "serviceaccounts", "tokenreviews"].contains(&resource)
                    || !event["objectRef"].is_object(),
                "{resource}"
            );
        } else {
            assert_eq!(record.raw, line, "changed without a redaction");
        }
    }
    assert!(redacted > 0);
    // The same secret value gives the same hash in two events (a change is visible).
    let values: Vec<String> = capture_lines()
        .iter()
        .filter_map(|line| match source.prepare(line) {
            Prepared::Keep {
                record,
                redacted: true,
                ..
            } => Some(String::from_utf8(record.raw).unwrap()),
            _ => None,
        })
        .flat_map(|text| {
            text.match_indices("whodid-redacted:hmac-sha256:")
                .map(|(at, _)| text[at..at + 60].to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = values.iter().collect();
    assert!(
        distinct.len() < values.len(),
        "no value repeated: {} hashes",
        values.len()
    );
}

#[test]
fn invalid_items_are_kept_as_they_came_and_say_why() {
    let source = KubeSource {
        cluster: "c".into(),
        policy: None,
        redaction: Some(RedactionKey::from_bytes([3; 32])),
    };
    for (raw, why) in [
        (&br#"{"auditID":"x","stage":"ResponseComplete"}"#[..], "missing field"),
        (br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","level":"Metadata","auditID":"x","stage":"ResponseComplete","requestURI":"/","verb":"get"}"#, "v1beta1"),
        (br#"{"level":"Metadata","auditID":"x","stage":"ResponseComplete","requestURI":"/","verb":"get"}"#, "stageTimestamp"),
        (b"not json", "not an audit event"),
    ] {
        match source.prepare(raw) {
            Prepared::Invalid { record, reason } => {
                assert!(reason.contains(why), "{reason}");
                assert_eq!(record.raw, raw);
                let envelope = Envelope::from_json(&record.envelope).unwrap();
                assert_eq!(envelope.action, "whodid.invalid");
            }
            other => panic!("{other:?}"),
        }
    }
}
