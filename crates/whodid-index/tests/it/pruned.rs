//! Reading only the catalogue's paths of an event (`pruned::read_wanted`)
//! finds, on every path, exactly what the whole event holds there.

use proptest::prelude::*;
use serde_json::Value;
use whodid_index::catalogue::{Source, ANNOTATIONS, FIELDS};
use whodid_index::pruned::{read_wanted, KUBE_WANTED};

/// JSON values whose objects use the event's own member names, nested.
fn value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "user",
        "username",
        "groups",
        "objectRef",
        "resource",
        "requestObject",
        "roleRef",
        "name",
        "kind",
        "annotations",
        "verb",
        "responseStatus",
        "code",
        "extra",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-z\"\\\\ ]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..6).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |value, key| value.get(key))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn wanted_paths_hold_what_the_whole_event_holds(event in value()) {
        let text = serde_json::to_vec(&event).unwrap();
        let pruned = read_wanted(&text, &KUBE_WANTED).unwrap();
        for spec in FIELDS {
            let path = match spec.source {
                Source::Kube(path) => path,
                Source::KubeAnnotations => ANNOTATIONS,
                Source::Stream | Source::Envelope(_) => continue,
            };
            // A non-object where a path goes on holds nothing either way.
            let whole = at(&event, path).filter(|v| !v.is_null());
            let read = at(&pruned, path).filter(|v| !v.is_null());
            prop_assert_eq!(read, whole, "{} in {}", path, event);
        }
    }
}
