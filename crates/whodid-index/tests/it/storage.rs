//! How documents are kept: alike records side by side in the doc store (in
//! journal order within a shape), and an index of another format version
//! rebuilt rather than read.

use whodid_index::tantivy::schema::Value as _;
use whodid_index::tantivy::{DocAddress, TantivyDocument};
use whodid_index::IndexLayout;

use crate::common::{build, doc_count, index, rebuilt, selection};

#[test]
fn alike_records_are_stored_side_by_side_in_journal_order() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 24); // one day; verbs alternate get, list
    index(dir.path());
    let selection = selection(dir.path());
    assert_eq!(selection.days.len(), 1);
    let day = &selection.days[0];
    let schema = whodid_index::schema::IndexSchema::build();
    let mut stored = Vec::new();
    for (ordinal, segment) in day.searcher.segment_readers().iter().enumerate() {
        for doc in 0..segment.max_doc() {
            let doc: TantivyDocument = day
                .searcher
                .doc(DocAddress::new(ordinal as u32, doc))
                .unwrap();
            let envelope: serde_json::Value = serde_json::from_slice(
                doc.get_first(schema.envelope)
                    .and_then(|v| v.as_bytes())
                    .unwrap(),
            )
            .unwrap();
            let raw: serde_json::Value = serde_json::from_slice(
                doc.get_first(schema.raw)
                    .and_then(|v| v.as_bytes())
                    .unwrap(),
            )
            .unwrap();
            stored.push((
                envelope["action"].as_str().unwrap().to_owned(),
                raw["auditID"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let actions: Vec<&str> = stored.iter().map(|(a, _)| a.as_str()).collect();
    let mut expected = vec!["get"; 12];
    expected.extend(vec!["list"; 12]);
    assert_eq!(actions, expected, "stored in shape order");
    let ids: Vec<&str> = stored.iter().map(|(_, id)| id.as_str()).collect();
    let journal_order: Vec<String> = (0..24)
        .step_by(2)
        .chain((1..24).step_by(2))
        .map(|n| format!("a-{n}"))
        .collect();
    assert_eq!(ids, journal_order, "journal order within a shape");
}

#[test]
fn an_index_of_another_format_version_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 30);
    index(dir.path());
    let state_file = IndexLayout::new(dir.path()).state_file();
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(state["version"], 2, "{state}");
    state["version"] = 1.into();
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let repairs = index(dir.path());
    assert!(rebuilt(&repairs), "{repairs:?}");
    assert_eq!(doc_count(dir.path()), 30);
}
