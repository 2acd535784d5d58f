//! Lint cases: each `testdata/policy/lint/*.yaml` states in its header which
//! findings must appear (`# expect: CODE[@rule]`) and which must not
//! (`# absent: CODE[@rule]`), including a negative case for every check.

use std::path::Path;

use whodid_policy::lint::{lint, Finding};
use whodid_policy::load::load_policy;

fn matches(finding: &Finding, spec: &str) -> bool {
    match spec.split_once('@') {
        Some((code, rule)) => finding.code == code && finding.rule == rule.parse().ok(),
        None => finding.code == spec,
    }
}

#[test]
fn every_lint_case_finds_what_it_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/policy/lint");
    let mut cases = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = load_policy(&text, &path.display().to_string()).unwrap();
        let findings = lint(&loaded);
        let mut specs = 0;
        for line in text.lines() {
            if let Some(spec) = line.strip_prefix("# expect: ") {
                specs += 1;
                if !findings.iter().any(|f| matches(f, spec.trim())) {
                    failures.push(format!(
                        "{}: expected {spec}, got {findings:#?}",
                        path.display()
                    ));
                }
            } else if let Some(spec) = line.strip_prefix("# absent: ") {
                specs += 1;
                if let Some(f) = findings.iter().find(|f| matches(f, spec.trim())) {
                    failures.push(format!(
                        "{}: {spec} must not be reported, got {f}",
                        path.display()
                    ));
                }
            }
        }
        assert!(specs > 0, "{}: no expectations", path.display());
        cases += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(cases >= 10, "only {cases} lint cases");
}

#[test]
fn findings_carry_rule_lines_and_advice() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n\n  - level: RequestResponse\n    resources:\n      - group: \"\"\n        resources: [\"secrets\"]\n";
    let loaded = load_policy(text, "p.yaml").unwrap();
    let findings = lint(&loaded);
    let shadowed = findings
        .iter()
        .find(|f| f.code == "L004")
        .expect("rule 1 is shadowed");
    assert_eq!((shadowed.rule, shadowed.line), (Some(1), Some(6)));
    assert!(!shadowed.why.is_empty() && !shadowed.fix.is_empty());
}
