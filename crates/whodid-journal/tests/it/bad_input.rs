//! Bad input: a directory that is not whodid's, a second process, a missing
//! or unreadable key, a read-only directory — a clear error, never damage.

use std::os::unix::fs::PermissionsExt;

use whodid_journal::{Journal, JournalError};

use crate::common::{build, check, small_config};

#[test]
fn a_directory_that_is_not_whodids_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("postgresql.conf"), "x").unwrap();
    let err = Journal::open(dir.path(), small_config()).unwrap_err();
    assert!(matches!(err, JournalError::NotADataDir { .. }), "{err}");
    assert!(err.to_string().contains("not a whodid data directory"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing was written"
    );
}

#[test]
fn a_second_open_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let first = Journal::open(dir.path(), small_config()).unwrap();
    let err = Journal::open(dir.path(), small_config()).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    first.close().unwrap();
}

#[test]
fn a_missing_or_unsafe_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 20);
    let key = dir.path().join("keys/journal.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Journal::open(dir.path(), small_config()).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
    std::fs::remove_file(&key).unwrap();
    let err = Journal::open(dir.path(), small_config()).unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");
    // The journal itself is untouched.
    assert!(check(dir.path()).is_intact());
}

#[test]
fn a_read_only_directory_is_a_clear_error() {
    if unsafe_is_root() {
        // root ignores directory permissions; use a read-only bind instead:
        // make the stream directory a file so creating it fails.
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), 5);
        let stream_dir = dir.path().join("journal/app");
        std::fs::remove_dir_all(&stream_dir).unwrap();
        std::fs::write(&stream_dir, "not a directory").unwrap();
        let err = Journal::open(dir.path(), small_config()).unwrap_err();
        assert!(err.to_string().contains("journal/app"), "{err}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
    let err = Journal::open(dir.path(), small_config()).unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Whether the tests run as root (CI does), where permission bits do not stop writes.
fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
