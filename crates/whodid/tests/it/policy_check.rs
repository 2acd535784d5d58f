//! `whodid policy check`: exit codes, located errors, lint output.

use crate::util::{testdata, text, whodid};

#[test]
fn valid_policy_exits_zero_with_findings() {
    let path = testdata("k8s/policies/02-compliance-guide.yaml");
    let out = whodid(&["policy", "check", path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("error L001 secret-bodies rule 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("why:") && stdout.contains("fix:"),
        "{stdout}"
    );
}

#[test]
fn every_invalid_policy_exits_one_naming_the_field() {
    let dir = testdata("k8s/policies/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let out = whodid(
            &["policy", "check", "-o", "json", path.to_str().unwrap()],
            b"",
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", text(&out.stdout)));
        if name == "unknown-field-lenient" {
            assert_eq!(out.status.code(), Some(0), "{name} loads with a warning");
            assert_eq!(report["warnings"][0]["field"], "rules[0].userz");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{name}: {report}");
        assert_eq!(report["valid"], false);
        let first = &report["errors"][0];
        assert!(
            first["line"].as_u64().is_some(),
            "{name}: error has no line: {report}"
        );
        assert!(!first["message"].as_str().unwrap().is_empty());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} invalid policies");
}

#[test]
fn broken_yaml_and_missing_file_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: [Metadata\n",
    )
    .unwrap();
    let out = whodid(&["policy", "check", broken.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("broken.yaml:") && stdout.contains("invalid YAML"),
        "{stdout}"
    );

    let out = whodid(&["policy", "check", "/nonexistent/policy.yaml"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/policy.yaml"));
}

#[test]
fn a_huge_policy_file_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.yaml");
    let mut text = String::from("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n");
    while text.len() < 5 << 20 {
        text.push_str("  - level: Metadata\n    users: [\"someone\"]\n");
    }
    std::fs::write(&huge, text).unwrap();
    let out = whodid(&["policy", "check", huge.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text_of(&out.stdout).contains("more than the limit"),
        "{}",
        text_of(&out.stdout)
    );
}

fn text_of(bytes: &[u8]) -> String {
    crate::util::text(bytes)
}
