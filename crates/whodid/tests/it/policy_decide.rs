//! `whodid policy decide` prints exactly the apiserver's decisions.

use crate::util::{read, testdata, text, whodid};

fn decide(policy: &str, log: &str) -> std::process::Output {
    whodid(
        &[
            "policy",
            "decide",
            testdata(policy).to_str().unwrap(),
            testdata(log).to_str().unwrap(),
        ],
        b"",
    )
}

#[test]
fn decisions_equal_the_oracle_line_for_line() {
    for policy in [
        "01-kube-up-gce-production",
        "03-k8s-docs-example",
        "11-omit-stages",
    ] {
        let out = decide(
            &format!("k8s/policies/{policy}.yaml"),
            "k8s/capture-audit.log.gz",
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let expected = read(&format!("k8s/oracle/{policy}.capture.jsonl.gz"));
        assert!(
            text(&out.stdout) == text(&expected),
            "{policy}: decisions differ from the apiserver's"
        );
    }
}

#[test]
fn webhook_event_list_gzip_is_read() {
    let out = decide(
        "k8s/policies/01-kube-up-gce-production.yaml",
        "k8s/webhook/batch-00010.json.gz",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = text(&out.stdout).lines().count();
    let list: serde_json::Value =
        serde_json::from_slice(&read("k8s/webhook/batch-00010.json.gz")).unwrap();
    assert_eq!(lines, list["items"].as_array().unwrap().len());
}

#[test]
fn bad_lines_are_reported_and_the_rest_decided() {
    let mut log = read("k8s/synthetic.jsonl");
    log.extend_from_slice(b"{\"truncated\": \n\x00\x01binary\n");
    log.extend_from_slice(&read("k8s/synthetic.jsonl")[..]);
    let policy = testdata("k8s/policies/01-kube-up-gce-production.yaml");
    let out = whodid(&["policy", "decide", policy.to_str().unwrap(), "-"], &log);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 2 * 92);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 93") && stderr.contains("line 94"),
        "{stderr}"
    );
}
