//! Unix accounts and sudoers rules the harnesses need, put in place for a
//! test and taken away after it: the shared `ubuntu` account (created
//! only when missing, and then removed again) and a sudoers drop-in.
//!
//! Both live outside the temp dir, so harnesses change them only while
//! holding the `/dev/log` lock ([`crate::syslogd`]), one test at a time.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::programs::{require, run, run_ok};

/// A Unix account's entry in `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
}

/// The `/etc/passwd` entry of `name`, if there is one.
pub fn passwd(name: &str) -> Option<PasswdEntry> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || fields[0] != name {
            return None;
        }
        Some(PasswdEntry {
            name: name.to_owned(),
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
            home: PathBuf::from(fields[5]),
        })
    })
}

/// An account that exists while this lives; removed on drop when it was
/// created for the test.
#[derive(Debug)]
pub struct Account {
    entry: PasswdEntry,
    created: bool,
}

impl Account {
    /// `name`, created (with a home and bash) when missing. Needs root.
    pub fn ensure(name: &str) -> Account {
        if let Some(entry) = passwd(name) {
            return Account {
                entry,
                created: false,
            };
        }
        let useradd = require("/usr/sbin/useradd", "passwd");
        run_ok(
            "useradd",
            Command::new(useradd).args(["--create-home", "--shell", "/bin/bash", name]),
        );
        let entry = passwd(name)
            .unwrap_or_else(|| panic!("useradd {name} succeeded but /etc/passwd has no {name}"));
        Account {
            entry,
            created: true,
        }
    }

    /// Its passwd entry.
    pub fn entry(&self) -> &PasswdEntry {
        &self.entry
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        if self.created {
            let _ = run(
                "userdel",
                Command::new("/usr/sbin/userdel").args(["--remove", &self.entry.name]),
            );
        }
    }
}

/// A file in `/etc/sudoers.d`, removed on drop.
#[derive(Debug)]
pub struct SudoersDropIn {
    path: PathBuf,
}

impl SudoersDropIn {
    /// Writes `rules` to `/etc/sudoers.d/NAME` (mode 0440) after `visudo`
    /// accepted them. `name` must not contain a `.` (sudo skips such files).
    pub fn install(name: &str, rules: &str) -> SudoersDropIn {
        assert!(
            !name.contains('.'),
            "sudo ignores drop-ins named with a dot"
        );
        let visudo = require("/usr/sbin/visudo", "sudo");
        let dir = Path::new("/etc/sudoers.d");
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
        let path = dir.join(name);
        let staged = dir.join(format!(".{name}.staged"));
        std::fs::write(&staged, rules).unwrap_or_else(|e| panic!("cannot write {staged:?}: {e}"));
        let checked = run("visudo", Command::new(visudo).arg("-cf").arg(&staged));
        if !checked.status.success() {
            let _ = std::fs::remove_file(&staged);
            panic!(
                "visudo rejects the sudoers rules {rules:?}: {}",
                String::from_utf8_lossy(&checked.stdout)
            );
        }
        set_mode(&staged, 0o440);
        std::fs::rename(&staged, &path).unwrap_or_else(|e| panic!("cannot install {path:?}: {e}"));
        SudoersDropIn { path }
    }
}

impl Drop for SudoersDropIn {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// chmod, panicking with the path on failure.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {mode:o} {}: {e}", path.display()));
}
