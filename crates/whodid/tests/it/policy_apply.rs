//! `whodid policy apply` filters a stream of events through a policy.

use crate::util::{read, testdata, text, whodid};

#[test]
fn json_lines_in_json_lines_out_with_bodies_stripped() {
    let policy = testdata("k8s/policies/01-kube-up-gce-production.yaml");
    let out = whodid(
        &["policy", "apply", policy.to_str().unwrap()],
        &read("k8s/capture-audit.log.gz"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let oracle = text(&read(
        "k8s/oracle/01-kube-up-gce-production.capture.jsonl.gz",
    ));
    let expected: Vec<serde_json::Value> = oracle
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|d| d["emit"] == true)
        .collect();
    let stdout = text(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), expected.len());
    for (event, decision) in events.iter().zip(&expected) {
        assert_eq!(event["auditID"], decision["auditID"]);
        assert_eq!(event["level"], decision["level"]);
        match event["level"].as_str().unwrap() {
            "Metadata" => assert!(
                event.get("requestObject").is_none() && event.get("responseObject").is_none()
            ),
            "Request" => assert!(event.get("responseObject").is_none()),
            _ => {}
        }
    }
}

#[test]
fn event_list_in_event_list_out_unchanged_when_everything_is_kept() {
    let policy = testdata("k8s/policies/00-master-all-requestresponse.yaml");
    let input = read("k8s/webhook/batch-00011.json");
    let out = whodid(&["policy", "apply", policy.to_str().unwrap()], &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value = serde_json::from_slice(&input).unwrap();
    assert_eq!(got["kind"], "EventList");
    assert_eq!(got["items"], want["items"]);
}

#[test]
fn managed_fields_are_stripped_when_the_policy_says_so() {
    let policy = testdata("k8s/policies/12-omit-managed-fields.yaml");
    let out = whodid(
        &["policy", "apply", policy.to_str().unwrap()],
        &read("k8s/capture-audit.log.gz"),
    );
    assert!(out.status.success());
    let oracle = text(&read("k8s/oracle/12-omit-managed-fields.capture.jsonl.gz"));
    let omit: std::collections::HashSet<(String, String)> = oracle
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|d| d["emit"] == true && d["omitManagedFields"] == true)
        .map(|d| {
            (
                d["auditID"].as_str().unwrap().to_owned(),
                d["stage"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(!omit.is_empty());
    let mut checked = 0;
    for line in text(&out.stdout).lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            event["auditID"].as_str().unwrap().to_owned(),
            event["stage"].as_str().unwrap().to_owned(),
        );
        if omit.contains(&key) {
            assert!(
                !line.contains("\"managedFields\""),
                "{key:?} keeps managedFields"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, omit.len());
}
