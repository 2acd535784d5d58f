//! A webhook body through everything ingest does before the journal:
//! splitting the EventList, policy, redaction, envelope. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whodid_ingest::kube::body::split_event_list;
use whodid_ingest::kube::prepare::KubeSource;
use whodid_ingest::redaction_key::RedactionKey;

const POLICY: &str = include_str!("../../testdata/k8s/policies/01-kube-up-gce-production.yaml");

fuzz_target!(|data: &[u8]| {
    let policy = whodid_policy::load::load_policy(POLICY, "kube-up").ok().map(|p| whodid_policy::evaluate::Evaluator::new(&p.policy));
    let source = KubeSource {
        cluster: "fuzz".into(),
        policy,
        redaction: Some(RedactionKey::from_bytes([9; 32])),
    };
    // As a body, and as one log line.
    if let Ok(items) = split_event_list(data) {
        for item in items {
            let _ = source.prepare(item);
        }
    }
    let _ = source.prepare(data);
});
