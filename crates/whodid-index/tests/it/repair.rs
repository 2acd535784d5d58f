//! A lost or corrupt index is rebuilt from the journal, never trusted; a
//! crash between a day's commit and the state's is trimmed back.

use whodid_index::{IndexLayout, IndexState, Repair};
use whodid_model::Stream;

use crate::common::{build, doc_count, index, rebuilt};

#[test]
fn day_indexes_are_named_by_stream_and_day() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60); // hourly from 2026-11-20T00:00Z: three days
    assert!(index(dir.path()).is_empty());
    let names: Vec<String> = IndexLayout::new(dir.path())
        .days()
        .unwrap()
        .into_iter()
        .map(|(s, d)| IndexLayout::day_name(s, d))
        .collect();
    assert_eq!(
        names,
        [
            "kubeaudit-2026.11.20",
            "kubeaudit-2026.11.21",
            "kubeaudit-2026.11.22"
        ]
    );
    assert_eq!(doc_count(dir.path()), 60);
    let state = IndexState::load(&IndexLayout::new(dir.path()).state_file()).unwrap();
    assert_eq!(state.get(Stream::KubeAudit).next, 60);
}

#[test]
fn a_lost_day_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60);
    index(dir.path());
    let layout = IndexLayout::new(dir.path());
    let (stream, day) = layout.days().unwrap()[1];
    std::fs::remove_dir_all(layout.day_dir(stream, day)).unwrap();
    assert_eq!(doc_count(dir.path()), 36);
    let repairs = index(dir.path());
    assert!(rebuilt(&repairs), "{repairs:?}");
    assert_eq!(doc_count(dir.path()), 60);
}

#[test]
fn a_corrupt_day_is_rebuilt_alone() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60);
    index(dir.path());
    let layout = IndexLayout::new(dir.path());
    let (stream, day) = layout.days().unwrap()[0];
    std::fs::write(layout.day_dir(stream, day).join("meta.json"), b"{ not json").unwrap();
    let kept = layout.day_dir(stream, layout.days().unwrap()[1].1);
    let untouched = std::fs::metadata(kept.join("meta.json"))
        .unwrap()
        .modified()
        .unwrap();
    let repairs = index(dir.path());
    assert!(!rebuilt(&repairs), "{repairs:?}");
    assert!(
        matches!(&repairs[..], [Repair::RebuiltDays { stream: Stream::KubeAudit, reason }] if reason.starts_with("2026.11.20")),
        "{repairs:?}"
    );
    assert_eq!(doc_count(dir.path()), 60);
    // The other days were kept as they were.
    let after = std::fs::metadata(kept.join("meta.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(after, untouched);
}

#[test]
fn a_lost_or_bad_state_file_is_recovered_from_the_day_indexes() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 30);
    index(dir.path());
    let state_file = IndexLayout::new(dir.path()).state_file();
    let state = IndexState::load(&state_file).unwrap();
    std::fs::remove_file(&state_file).unwrap();
    let repairs = index(dir.path());
    assert!(repairs.is_empty(), "{repairs:?}");
    assert_eq!(IndexState::load(&state_file).unwrap(), state);
    assert_eq!(doc_count(dir.path()), 30);
    std::fs::write(&state_file, b"garbage").unwrap();
    let repairs = index(dir.path());
    assert!(repairs.is_empty(), "{repairs:?}");
    assert_eq!(IndexState::load(&state_file).unwrap(), state);
    assert_eq!(doc_count(dir.path()), 30);
}

#[test]
fn documents_past_the_state_are_trimmed_not_doubled() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60);
    index(dir.path());
    // As after a crash between the day indexes' commit and the state's.
    let layout = IndexLayout::new(dir.path());
    let mut state = IndexState::load(&layout.state_file()).unwrap();
    state.streams.get_mut(&Stream::KubeAudit).unwrap().next = 45;
    state.save(&layout.state_file()).unwrap();
    let repairs = index(dir.path());
    assert_eq!(
        repairs,
        vec![Repair::Trimmed {
            stream: Stream::KubeAudit
        }]
    );
    assert_eq!(doc_count(dir.path()), 60);
}

#[test]
fn an_index_ahead_of_its_journal_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 20);
    index(dir.path());
    let layout = IndexLayout::new(dir.path());
    let mut state = IndexState::load(&layout.state_file()).unwrap();
    state.streams.get_mut(&Stream::KubeAudit).unwrap().next = 500;
    state.save(&layout.state_file()).unwrap();
    assert!(rebuilt(&index(dir.path())));
    assert_eq!(doc_count(dir.path()), 20);
}
