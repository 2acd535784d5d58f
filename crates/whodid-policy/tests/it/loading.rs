//! Loading and validation agree with the apiserver's loader on every policy
//! file: the ones it accepts, the one it accepts with a warning, and the ones
//! it refuses — with the same field path and message (`oracle/_load_results.txt`).

use std::collections::BTreeMap;

use whodid_policy::load::load_policy;

use crate::fixtures::{k8s_dir, read};

/// `name → outcome line` from the apiserver's loader.
fn apiserver_results() -> BTreeMap<String, String> {
    let text = String::from_utf8(read(&k8s_dir().join("oracle/_load_results.txt"))).unwrap();
    text.lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(name, outcome)| (name.to_owned(), outcome.to_owned()))
        .collect()
}

fn policy_files() -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for sub in ["", "invalid/"] {
        let dir = k8s_dir().join("policies").join(sub);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                out.push((format!("{sub}{stem}"), path));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_policy_loads_as_the_apiserver_loads_it() {
    let results = apiserver_results();
    let mut checked = 0;
    for (name, path) in policy_files() {
        let Some(expected) = results.get(&name) else {
            panic!("{name}: not in _load_results.txt");
        };
        let text = String::from_utf8(read(&path)).unwrap();
        let outcome = load_policy(&text, &path.display().to_string());
        if expected.starts_with("loaded OK") {
            let loaded =
                outcome.unwrap_or_else(|e| panic!("{name}: apiserver loads it, we refuse: {e}"));
            assert!(
                loaded.warnings.is_empty(),
                "{name}: unexpected warnings {:?}",
                loaded.warnings
            );
        } else if expected.starts_with("LOADED") {
            // Accepted with a warning: the warning names the field.
            let loaded =
                outcome.unwrap_or_else(|e| panic!("{name}: apiserver loads it, we refuse: {e}"));
            let field = expected
                .split("unknown field \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("warning names a field");
            assert!(
                loaded
                    .warnings
                    .iter()
                    .any(|w| w.field.as_deref() == Some(field)),
                "{name}: expected a warning on {field}, got {:?}",
                loaded.warnings
            );
        } else {
            let error = outcome
                .err()
                .unwrap_or_else(|| panic!("{name}: apiserver refuses it, we load it"));
            // The apiserver's message: "POLICY_LOAD_ERROR: <field>: <text>: from file …".
            let message = expected
                .trim_start_matches("POLICY_LOAD_ERROR: ")
                .split(": from file")
                .next()
                .unwrap()
                .trim();
            let ours: Vec<String> = error
                .errors
                .iter()
                .map(|e| match &e.field {
                    Some(field) => format!("{field}: {}", e.problem),
                    None => e.problem.to_string(),
                })
                .collect();
            let matched = ours.iter().any(|o| o == message)
                || (message.contains("no kind \"Policy\" is registered")
                    && ours
                        .iter()
                        .any(|o| o.contains("no kind \"Policy\" is registered")));
            assert!(
                matched,
                "{name}: apiserver says {message:?}, we say {ours:?}"
            );
            // And ours is located.
            assert!(
                error.errors.iter().all(|e| e.position.is_some()),
                "{name}: {error}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} policies checked");
}
