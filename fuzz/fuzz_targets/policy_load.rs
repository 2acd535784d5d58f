//! Arbitrary text as a policy file: load, validate, lint, evaluate. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whodid_policy::evaluate::Evaluator;
use whodid_policy::lint::lint;
use whodid_policy::load::load_policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(loaded) = load_policy(text, "fuzz.yaml") {
        let _ = lint(&loaded);
        let _ = Evaluator::new(&loaded.policy);
    }
});
