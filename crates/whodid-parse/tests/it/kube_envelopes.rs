//! Envelopes of the real kube-apiserver capture (`testdata/k8s`): every
//! event has one, outcomes follow the response codes, impersonation keeps
//! the authenticated user.

use std::collections::BTreeMap;

use whodid_model::k8s::read_log;
use whodid_model::{ActorKind, Outcome};
use whodid_parse::kube::envelope;

use crate::common::testdata;

#[test]
fn the_capture() {
    let input = testdata("k8s/capture-audit.log.gz");
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut impersonations = 0;
    let mut events = 0;
    read_log(
        &input,
        |e| {
            events += 1;
            let env = envelope(&e.event).unwrap();
            *outcomes.entry(format!("{:?}", env.outcome)).or_default() += 1;
            assert_eq!(env.actor.name, e.event.user.name());
            assert_eq!(env.action, e.event.verb);
            if let Some(object) = &e.event.object_ref {
                assert!(env.target.starts_with(&object.resource));
                assert!(env.target.ends_with(&object.name));
                assert_eq!(env.namespace, object.namespace);
            }
            if let Some(impersonated) = &e.event.impersonated_user {
                impersonations += 1;
                assert_eq!(env.actor.via, impersonated.name());
            }
            if env.actor.name.starts_with("system:serviceaccount:") {
                assert_eq!(env.actor.kind, ActorKind::Service);
            }
            if env.outcome == Outcome::Unknown {
                assert_eq!(e.event.stage.to_string(), "RequestReceived");
            }
        },
        |e| panic!("{e}"),
    );
    assert_eq!(events, 2947);
    assert_eq!(impersonations, 13);
    // Codes in the capture: none 1426 (RequestReceived); 200 907, 201 266,
    // 304 6, 204 4; 403 67, 401 8; 404 191, 500 38, 400 16, 422 15, 409 2, 405 1.
    assert_eq!(
        outcomes,
        BTreeMap::from([
            ("Unknown".to_owned(), 1426),
            ("Success".to_owned(), 907 + 266 + 6 + 4),
            ("Denied".to_owned(), 67 + 8),
            ("Failure".to_owned(), 191 + 38 + 16 + 15 + 2 + 1),
        ])
    );
}
