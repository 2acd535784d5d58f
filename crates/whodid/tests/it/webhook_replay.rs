//! The real captured webhook bodies and the real log-backend file through
//! the real TLS path and the real tailer: every event stored exactly once,
//! bytes as received (or, for secrets, redacted and saying so).

use std::collections::{BTreeMap, BTreeSet};

use whodid_model::Stream;

use crate::server::{ca, fixture, identity_of, post_once, records, runtime, Server};
use crate::util::read;

/// Every webhook body of the capture, current instance and the previous
/// instance's shutdown flush.
pub(crate) fn webhook_bodies() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [
        "k8s/webhook",
        "k8s/webhook/previous-instance-shutdown-flush",
    ] {
        let mut names: Vec<String> = std::fs::read_dir(fixture(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("batch-"))
            .collect();
        names.sort();
        for name in names {
            let rel = format!("{dir}/{name}");
            out.push((rel.clone(), read(&rel)));
        }
    }
    out
}

/// The items of an EventList body, as their exact bytes.
pub(crate) fn items(body: &[u8]) -> Vec<Vec<u8>> {
    whodid_ingest::kube::body::split_event_list(body)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Secret values in the capture: the `data` of Secrets in request and response bodies.
fn secret_values(events: &[Vec<u8>]) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for raw in events {
        let v: serde_json::Value = serde_json::from_slice(raw).unwrap();
        for body in ["requestObject", "responseObject"] {
            let mut objects = vec![&v[body]];
            if let Some(items) = v[body]["items"].as_array() {
                objects.extend(items.iter());
            }
            for object in objects {
                if object["kind"] == "Secret" {
                    for field in ["data", "stringData"] {
                        if let Some(map) = object[field].as_object() {
                            values.extend(
                                map.values()
                                    .filter_map(|s| s.as_str())
                                    .filter(|s| s.len() >= 8)
                                    .map(str::to_owned),
                            );
                        }
                    }
                }
            }
        }
    }
    values
}

#[test]
fn captured_webhook_bodies_and_log_file_are_stored_exactly_once_and_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ca = ca(&data);
    let prod = ca.issue_client("prod", 30).unwrap();
    let log_path = dir.path().join("audit.log");
    let log = read("k8s/capture-audit.log.gz");
    std::fs::write(&log_path, &log).unwrap();
    let server = Server::start(
        dir.path(),
        &format!(
            "data: {}\nclusters:\n  - name: prod\n  - name: logs\n    audit_logs: [{}]\n",
            data.display(),
            log_path.display()
        ),
    );
    let bodies = webhook_bodies();
    assert_eq!(bodies.len(), 12);
    let rt = runtime();
    let mut sent: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    for (name, body) in &bodies {
        for item in items(body) {
            sent.insert(identity_of(&item), item);
        }
        let answer = rt
            .block_on(post_once(
                ca.cert_pem(),
                Some(&prod),
                &server.addr,
                "/k8s-audit/prod?timeout=30s",
                body.clone(),
            ))
            .unwrap();
        assert_eq!(
            answer.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    // The apiserver retries a batch it got no answer for: stored once.
    let again = rt
        .block_on(post_once(
            ca.cert_pem(),
            Some(&prod),
            &server.addr,
            "/k8s-audit/prod",
            bodies[0].1.clone(),
        ))
        .unwrap();
    assert_eq!(again.status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(answer["accepted"], 0);
    assert_eq!(answer["deduplicated"], 400);
    // The tailer reads the whole log file.
    let lines: Vec<Vec<u8>> = log
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    wait_for(
        || {
            records(&data, Stream::KubeAudit)
                .iter()
                .filter(|(e, _)| e.cluster == "logs")
                .count()
                >= lines.len()
        },
        &server,
    );
    server.stop();

    let stored = records(&data, Stream::KubeAudit);
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut redacted = 0;
    let secrets = secret_values(&sent.values().cloned().collect::<Vec<_>>());
    assert!(!secrets.is_empty(), "the capture has Secrets with data");
    let by_line: BTreeMap<(String, String), Vec<u8>> =
        lines.iter().map(|l| (identity_of(l), l.clone())).collect();
    for (envelope, raw) in &stored {
        let key = identity_of(raw);
        let text = String::from_utf8_lossy(raw);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret value was stored: {key:?}"
            );
        }
        let original = match envelope.cluster.as_str() {
            "prod" => &sent[&key],
            "logs" => &by_line[&key],
            other => panic!("record of cluster {other:?}"),
        };
        *seen
            .entry((envelope.cluster.clone() + "/" + &key.0, key.1.clone()))
            .or_default() += 1;
        if envelope.redacted.is_empty() {
            assert_eq!(
                raw, original,
                "{key:?}: stored bytes differ from what was received"
            );
        } else {
            redacted += 1;
            let event: serde_json::Value = serde_json::from_slice(raw).unwrap();
            let note = event["annotations"]["audit.whodid.io/redacted"]
                .as_str()
                .unwrap();
            assert_eq!(note, envelope.redacted.join(","));
        }
    }
    assert!(seen.values().all(|&n| n == 1), "an event was stored twice");
    let prod_count = stored.iter().filter(|(e, _)| e.cluster == "prod").count();
    assert_eq!(prod_count, sent.len(), "every webhook event once");
    assert_eq!(
        stored.len() - prod_count,
        lines.len(),
        "every log line once"
    );
    assert!(redacted >= 2, "Secret events were redacted ({redacted})");
}

/// Polls `done` for up to 60 s.
pub(crate) fn wait_for(mut done: impl FnMut() -> bool, server: &Server) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out; server log:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
