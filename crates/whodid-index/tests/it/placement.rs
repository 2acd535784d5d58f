//! `DATA/index` may be a symlink to another file system (so that index
//! merges do not queue on the journal's disk, see docs/config.md): the
//! index is written there, repairs keep the link, searches find it.

use whodid_index::IndexLayout;

use crate::common::{build, doc_count, index, rebuilt};

#[test]
fn an_index_directory_linked_elsewhere_is_used_and_kept() {
    let data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    build(data.path(), 60);
    std::os::unix::fs::symlink(elsewhere.path(), data.path().join("index")).unwrap();
    assert!(index(data.path()).is_empty());
    assert_eq!(doc_count(data.path()), 60);
    let days: Vec<String> = std::fs::read_dir(elsewhere.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("kubeaudit-"))
        .collect();
    assert_eq!(
        days.len(),
        3,
        "the day indexes live behind the link: {days:?}"
    );

    // A lost day is rebuilt behind the link; the link stays a link.
    let layout = IndexLayout::new(data.path());
    let (stream, day) = layout.days().unwrap()[0];
    std::fs::remove_dir_all(elsewhere.path().join(IndexLayout::day_name(stream, day))).unwrap();
    let repairs = index(data.path());
    assert!(rebuilt(&repairs), "{repairs:?}");
    assert_eq!(doc_count(data.path()), 60);
    assert!(std::fs::symlink_metadata(data.path().join("index"))
        .unwrap()
        .file_type()
        .is_symlink());
}
