//! The harnesses' own promises: a missing program names its package, a
//! daemon dies with its handle, the private rsyslogd writes both formats
//! and leaves `/dev/log` as it found it, sudoers rules are checked.

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use whodid_testkit::accounts::SudoersDropIn;
use whodid_testkit::programs::{children_of, require, Daemon};
use whodid_testkit::syslogd::{Syslog, DEV_LOG};

fn panic_text(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).unwrap_err();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_missing_program_names_its_package() {
    let text = panic_text(|| {
        require("/usr/sbin/no-such-daemon", "no-such-package");
    });
    assert!(
        text.contains("/usr/sbin/no-such-daemon is missing"),
        "{text}"
    );
    assert!(text.contains("`no-such-package`"), "{text}");
    assert!(text.contains("scripts/test"), "{text}");
    assert_eq!(require("/bin/sh", "dash"), Path::new("/bin/sh"));
}

#[test]
fn a_daemon_is_killed_and_reaped_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(
        "sleep",
        Command::new("/bin/sleep").arg("60"),
        &dir.path().join("out"),
    );
    let pid = daemon.pid();
    assert!(children_of(std::process::id()).contains(&pid));
    drop(daemon);
    assert!(!children_of(std::process::id()).contains(&pid));
    assert!(!Path::new(&format!("/proc/{pid}")).try_exists().unwrap());
}

#[test]
fn the_private_rsyslogd_writes_both_formats_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let syslog = Syslog::start(dir.path());
    assert!(Path::new(DEV_LOG).try_exists().unwrap());
    syslog.flush("whodid-testkit self-test marker");
    let classic = std::fs::read_to_string(syslog.classic()).unwrap();
    let rfc3339 = std::fs::read_to_string(syslog.rfc3339()).unwrap();
    let line = |text: &str| {
        text.lines()
            .find(|l| l.contains("self-test marker"))
            .unwrap()
            .to_owned()
    };
    // "Dec  1 07:01:02 host whodid-testkit: …" and "2026-12-01T07:01:02.123456+00:00 host …".
    let classic = line(&classic);
    assert!(classic.as_bytes()[0].is_ascii_uppercase(), "{classic}");
    assert!(classic.contains(" whodid-testkit: "), "{classic}");
    let rfc3339 = line(&rfc3339);
    assert!(
        rfc3339.as_bytes()[..4].iter().all(u8::is_ascii_digit),
        "{rfc3339}"
    );
    assert_eq!(&rfc3339[4..5], "-", "{rfc3339}");
    drop(syslog);
    assert!(!Path::new(DEV_LOG).try_exists().unwrap());
}

#[test]
fn sudoers_rules_are_checked_before_they_are_installed() {
    let text = panic_text(|| {
        SudoersDropIn::install("whodid-testkit-selftest", "this is not sudoers syntax (\n");
    });
    assert!(text.contains("visudo rejects"), "{text}");
    assert!(!Path::new("/etc/sudoers.d/whodid-testkit-selftest")
        .try_exists()
        .unwrap());
}
