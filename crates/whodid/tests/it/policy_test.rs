//! `whodid policy test` simulates a policy on a captured log.

use crate::util::{read, testdata, text, whodid};

fn emitted_in_oracle(policy: &str) -> u64 {
    let oracle = read(&format!("k8s/oracle/{policy}.capture.jsonl.gz"));
    text(&oracle)
        .lines()
        .filter(|l| l.contains("\"emit\":true"))
        .count() as u64
}

#[test]
fn kept_events_equal_what_the_apiserver_emits() {
    for policy in [
        "01-kube-up-gce-production",
        "02-compliance-guide",
        "12-omit-managed-fields",
    ] {
        let path = testdata(&format!("k8s/policies/{policy}.yaml"));
        let log = testdata("k8s/capture-audit.log.gz");
        let out = whodid(
            &[
                "policy",
                "test",
                "-o",
                "json",
                path.to_str().unwrap(),
                log.to_str().unwrap(),
            ],
            b"",
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["events_in"], 2947);
        assert_eq!(
            report["events_kept"].as_u64(),
            Some(emitted_in_oracle(policy)),
            "{policy}"
        );
        let bytes_in = report["bytes_in"].as_u64().unwrap();
        let bytes_kept = report["bytes_kept"].as_u64().unwrap();
        assert!(
            bytes_kept <= bytes_in && bytes_kept > 0,
            "{policy}: {bytes_kept} of {bytes_in}"
        );
        let per_rule: u64 = report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(
            per_rule, bytes_kept,
            "{policy}: rule bytes add up to the total"
        );
        for rule in report["rules"].as_array().unwrap() {
            for key in ["index", "level", "events", "bytes"] {
                assert!(!rule[key].is_null(), "{policy}: rule lacks {key}");
            }
        }
    }
}

#[test]
fn security_events_a_policy_drops_are_named() {
    // The compliance-guide policy records nothing for RBAC changes by people.
    let path = testdata("k8s/policies/02-compliance-guide.yaml");
    let log = testdata("k8s/capture-audit.log.gz");
    let out = whodid(
        &[
            "policy",
            "test",
            "-o",
            "json",
            path.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        b"",
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rbac = report["security"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["category"] == "rbac_changes")
        .unwrap();
    assert!(rbac["requests"].as_u64().unwrap() > 0);
    assert!(rbac["dropped"].as_u64().unwrap() > 0, "{rbac}");
    assert!(!rbac["dropped_examples"].as_array().unwrap().is_empty());
}

#[test]
fn garbage_lines_are_counted_and_the_rest_simulated() {
    let mut log = read("k8s/synthetic.jsonl");
    log.extend_from_slice(
        b"not json at all\n{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1beta1\"}\n",
    );
    let policy = testdata("k8s/policies/01-kube-up-gce-production.yaml");
    let out = whodid(
        &[
            "policy",
            "test",
            "-o",
            "json",
            policy.to_str().unwrap(),
            "-",
        ],
        &log,
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["bad_lines"], 2);
    assert_eq!(report["events_in"], 92);
    assert!(
        text(&out.stderr).contains("line 94"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn human_output_has_the_tables() {
    let path = testdata("k8s/policies/01-kube-up-gce-production.yaml");
    let log = testdata("k8s/capture-audit.log.gz");
    let out = whodid(
        &[
            "policy",
            "test",
            path.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        b"",
    );
    let stdout = text(&out.stdout);
    for heading in [
        "rules",
        "levels",
        "stages",
        "size",
        "security-relevant requests",
    ] {
        assert!(stdout.contains(heading), "missing {heading}: {stdout}");
    }
}
