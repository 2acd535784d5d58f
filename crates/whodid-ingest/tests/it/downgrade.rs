//! Cutting the bodies out of the received bytes (`cut_bodies`) against
//! reading the event's members and writing them again (`downgrade`): for
//! any member order, whitespace and body shape, both give the same event.

use proptest::prelude::*;
use whodid_ingest::kube::downgrade::{cut_bodies, downgrade};
use whodid_model::k8s::{EventSummary, Level};

/// JSON whitespace, as a sender may put it between tokens.
fn space() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec![" ", "\n", "\t", "\r\n"]), 0..3)
        .prop_map(|parts| parts.concat())
}

/// A body: an object (with members named like the event's own), an array
/// (a JSON patch) or a string.
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"level":"Metadata","requestObject":{"a":[1,"}"]}}"#.to_owned()),
        Just(r#"[{"op":"add","path":"/data","value":"x"}]"#.to_owned()),
        Just(r#""a \" quoted, string""#.to_owned()),
        Just("{}".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cut_bodies_reads_back_as_the_members_rewrite(
        order in Just((0..9).collect::<Vec<usize>>()).prop_shuffle(),
        spaces in prop::collection::vec(space(), 9 * 4 + 1),
        request in prop::option::of(body()),
        response in prop::option::of(body()),
        captured in prop::sample::select(vec!["Request", "RequestResponse"]),
        to in prop::sample::select(vec![Level::Metadata, Level::Request]),
    ) {
        let members: Vec<(&str, Option<String>)> = vec![
            ("kind", Some(r#""Event""#.to_owned())),
            ("auditID", Some(r#""a-1""#.to_owned())),
            ("stage", Some(r#""ResponseComplete""#.to_owned())),
            ("requestURI", Some(r#""/api/v1/secrets""#.to_owned())),
            ("verb", Some(r#""get""#.to_owned())),
            ("level", Some(format!("\"{captured}\""))),
            ("annotations", Some(r#"{"requestObject":"no"}"#.to_owned())),
            ("requestObject", request),
            ("responseObject", response),
        ];
        let mut text = format!("{}{{", spaces[0]);
        let mut first = true;
        let mut next_space = spaces.iter().skip(1).cycle();
        for &i in &order {
            let (key, Some(value)) = &members[i] else {
                continue;
            };
            if !first {
                text.push(',');
            }
            first = false;
            let mut s = || next_space.next().cloned().unwrap_or_default();
            text.push_str(&format!("{}\"{key}\"{}:{}{value}{}", s(), s(), s(), s()));
        }
        text.push('}');
        let summary = EventSummary::from_json(text.as_bytes()).unwrap();
        let Some(cut) = cut_bodies(text.as_bytes(), &summary, to) else {
            // The one case left to the rewrite: both bodies cut, as the
            // object's first two members.
            let first_two: Vec<&str> = order
                .iter()
                .filter_map(|&i| members[i].1.as_ref().map(|_| members[i].0))
                .take(2)
                .collect();
            prop_assert!(
                to == Level::Metadata && first_two.iter().all(|k| k.ends_with("Object")),
                "not cut: {}", text
            );
            return Ok(());
        };
        let cut: serde_json::Value = serde_json::from_slice(&cut)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&cut)));
        let rewritten: serde_json::Value =
            serde_json::from_slice(&downgrade(text.as_bytes(), to).unwrap()).unwrap();
        prop_assert_eq!(cut, rewritten, "{}", text);
    }
}
