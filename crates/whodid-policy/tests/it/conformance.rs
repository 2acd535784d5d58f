//! Conformance with the kube-apiserver: for every policy and every event of
//! the real capture, the synthetic events and the replay, whodid's decision
//! must equal the one the apiserver's own policy code made (the oracle files).

use std::collections::HashMap;

use serde::Deserialize;
use whodid_model::k8s::{read_log, Event, Policy, Stage};
use whodid_policy::attributes::RequestAttributes;
use whodid_policy::evaluate::Evaluator;
use whodid_policy::load::load_policy;
use whodid_policy::validate::Problem;

use crate::fixtures::{k8s_dir, policies, read};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OracleLine {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: Stage,
    level: String,
    omit_stages: Vec<String>,
    omit_managed_fields: bool,
    emit: bool,
}

/// Loads a policy the way the apiserver does (lenient after warnings); the
/// empty policy, which the apiserver refuses, is evaluated as empty, as the
/// oracle did.
fn load_lenient(path: &std::path::Path) -> Policy {
    let text = String::from_utf8(read(path)).unwrap();
    match load_policy(&text, &path.display().to_string()) {
        Ok(loaded) => loaded.policy,
        Err(err) if err.errors.iter().all(|e| e.problem == Problem::NoRules) => Policy::default(),
        Err(err) => panic!("{err}"),
    }
}

fn events_of(source: &str) -> Vec<Event> {
    let path = match source {
        "capture" => k8s_dir().join("capture-audit.log.gz"),
        "synthetic" => k8s_dir().join("synthetic.jsonl"),
        "replay" => k8s_dir().join("replay_baseline_requestresponse.jsonl"),
        other => panic!("unknown oracle source {other}"),
    };
    let bytes = read(&path);
    let mut events = Vec::new();
    read_log(
        &bytes,
        |e| events.push(e.event),
        |e| panic!("{}: {e}", path.display()),
    );
    events
}

/// The oracle files for a policy: `<policy>.<source>.jsonl[.gz]`.
fn oracle_files(policy: &str) -> Vec<(String, std::path::PathBuf)> {
    let dir = k8s_dir().join("oracle");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(policy).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let source = rest.split('.').next().unwrap().to_owned();
        found.push((source, path));
    }
    found.sort();
    found
}

fn check(policy_name: &str, policy: &Policy, oracle_name: &str) -> usize {
    let evaluator = Evaluator::new(policy);
    let files = oracle_files(oracle_name);
    assert!(!files.is_empty(), "no oracle files for {oracle_name}");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (source, path) in files {
        let events = events_of(&source);
        let mut by_id: HashMap<&str, Vec<&Event>> = HashMap::new();
        for event in &events {
            by_id
                .entry(event.audit_id.as_str())
                .or_default()
                .push(event);
        }
        let text = String::from_utf8(read(&path)).unwrap();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let expected: OracleLine = serde_json::from_str(line).unwrap();
            let candidates = by_id
                .get(expected.audit_id.as_str())
                .unwrap_or_else(|| panic!("{}: no event {}", path.display(), expected.audit_id));
            let event = candidates
                .iter()
                .find(|e| e.stage == expected.stage)
                .unwrap_or(&candidates[0]);
            let attrs = RequestAttributes::from_event(event);
            let decision = evaluator.decide(&attrs);
            let got_stages = decision.omit_stages.sorted_names();
            let got = (
                decision.level.as_str(),
                got_stages.clone(),
                decision.omit_managed_fields,
                decision.emits(expected.stage),
            );
            let want = (
                expected.level.as_str(),
                expected
                    .omit_stages
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                expected.omit_managed_fields,
                expected.emit,
            );
            if got != want {
                mismatches.push(format!(
                    "{policy_name} {source} {} {}: expected {want:?}, got {got:?} (rule {:?}); attributes {attrs:?}",
                    expected.audit_id, expected.stage, decision.rule
                ));
            }
            compared += 1;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} disagreements with the apiserver, first ones:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
    compared
}

#[test]
fn every_policy_agrees_with_the_apiserver_on_every_event() {
    let mut total = 0;
    for (name, path) in policies() {
        let policy = load_lenient(&path);
        total += check(&name, &policy, &name);
    }
    // Every event of the capture, synthetic and replay sets, for each policy.
    assert!(
        total > 10 * (2947 + 92 + 135),
        "only {total} decisions compared"
    );
}

#[test]
fn lenient_policy_with_unknown_field_agrees() {
    let path = k8s_dir().join("policies/invalid/unknown-field-lenient.yaml");
    let policy = load_lenient(&path);
    let compared = check(
        "invalid/unknown-field-lenient",
        &policy,
        "invalid-unknown-field-lenient",
    );
    assert_eq!(compared, 92);
}
