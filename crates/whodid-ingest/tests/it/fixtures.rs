//! Reading the repository's test data.

pub(crate) use whodid_testkit::testdata::read;

/// The non-empty lines of `testdata/REL`.
pub(crate) fn lines(rel: &str) -> Vec<Vec<u8>> {
    read(rel)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The capture's log lines.
pub(crate) fn capture_lines() -> Vec<Vec<u8>> {
    lines("k8s/capture-audit.log.gz")
}

pub(crate) fn policy(name: &str) -> whodid_policy::evaluate::Evaluator {
    let text = String::from_utf8(read(&format!("k8s/policies/{name}.yaml"))).unwrap();
    let loaded = whodid_policy::load::load_policy(&text, name).unwrap();
    whodid_policy::evaluate::Evaluator::new(&loaded.policy)
}
