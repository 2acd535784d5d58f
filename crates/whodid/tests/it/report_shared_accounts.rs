//! `whodid report shared-accounts` on journals holding the real auth logs:
//! the fixture's (many people, one shared account, certificates, refused
//! keys) and a real sshd's from the test harness.

use std::collections::BTreeMap;

use serde_json::Value;
use whodid_testkit::sshd::SUDO_DENIED;
use whodid_testkit::workloads::ssh_scenario;
use whodid_testkit::Sshd;

use crate::journal_of::{journal_auth, parse_auth};
use crate::util::{read, text, whodid};

fn run_report(data: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "report",
        "shared-accounts",
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    whodid(&args, b"")
}

fn report_json(data: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    let out = run_report(data, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fixture_journal() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let keys = text(&read("ssh/keys.yaml"));
    let batch = parse_auth(&read("ssh/auth.log"), "2026-11-23T00:00:00Z", &keys);
    journal_auth(dir.path(), &batch);
    dir
}

/// Logins per person to `account` in the report.
fn logins_by_person(report: &Value, account: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for u in report["uses"].as_array().unwrap() {
        if u["account"] == account {
            *counts
                .entry(u["person"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn the_fixture_scenario_as_evidence() {
    let dir = fixture_journal();
    let report = report_json(dir.path(), &[]);
    // Only ubuntu is shared: alice and bob log in to their own accounts.
    let accounts: Vec<&String> = report["accounts"].as_object().unwrap().keys().collect();
    assert_eq!(accounts, ["ubuntu"]);
    // The fixture README's "Accepted publickey per key": eve 6, mallory 3,
    // admin1 2, admin2 1 (only from .3), carol's certificate 1.
    let expected: BTreeMap<String, usize> = [
        ("admin1@example.com", 2),
        ("admin2@example.com", 1),
        ("carol@example.com", 1),
        ("eve@example.com", 6),
        ("mallory@example.com", 3),
    ]
    .into_iter()
    .map(|(p, n)| (p.to_owned(), n))
    .collect();
    assert_eq!(logins_by_person(&report, "ubuntu"), expected);
    let ubuntu = &report["accounts"]["ubuntu"];
    assert_eq!(ubuntu["logins"], 13);
    assert_eq!(ubuntu["unknown_key_logins"], 0);
    // Failed publickey to ubuntu: trudy 2x (in the registry, but not
    // authorized), admin2 2x (wrong source), alice's and bob's keys offered
    // once each. With keys.yaml every one of those keys is known.
    let attempts = report["attempts"].as_array().unwrap();
    let mut tried: BTreeMap<&str, usize> = BTreeMap::new();
    for a in attempts {
        *tried.entry(a["person"].as_str().unwrap()).or_default() += 1;
    }
    let expected_tries: BTreeMap<&str, usize> = [
        ("admin2@example.com", 2),
        ("alice@example.com", 1),
        ("bob@example.com", 1),
        ("trudy@example.com", 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(tried, expected_tries, "{attempts:#?}");
    assert_eq!(ubuntu["unknown_key_attempts"], 0);
    // Every login names its key's fingerprint and source address.
    for u in report["uses"].as_array().unwrap() {
        assert!(
            u["fingerprint"].as_str().unwrap().starts_with("SHA256:"),
            "{u}"
        );
        assert!(u["source"].as_str().unwrap().starts_with("127.0.0."), "{u}");
        assert_eq!(u["known"], true);
    }
    // Mallory's `sudo -i` (step 2) is hers, on her login.
    let mallory_sudo: Vec<&Value> = report["uses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["person"] == "mallory@example.com")
        .flat_map(|u| u["sudo"].as_array().unwrap())
        .collect();
    assert!(
        mallory_sudo.iter().any(|c| c["command"] == "/bin/bash"),
        "{mallory_sudo:#?}"
    );
}

#[test]
fn keys_only_from_the_shared_accounts_authorized_keys() {
    // ubuntu's authorized_keys names eve, mallory, admin1 and admin2:
    // trudy's, alice's and bob's keys are now unknown, carol is known by
    // her certificate.
    let dir = tempfile::tempdir().unwrap();
    let authorized = text(&read("ssh/authorized_keys/ubuntu.authorized_keys"));
    let mut registry = whodid_parse::authlog::keys::KeyRegistry::new();
    let (added, errors) = registry.add_authorized_keys(&authorized, "ubuntu");
    assert_eq!((added, errors.len()), (4, 0));
    let batch = whodid_parse::authlog::parse_auth_log(
        &read("ssh/auth.log"),
        whodid_parse::authlog::AuthLogConfig::new("2026-11-23T00:00:00Z".parse().unwrap()),
        registry,
    );
    journal_auth(dir.path(), &batch);
    let report = report_json(dir.path(), &[]);
    let accounts: Vec<&String> = report["accounts"].as_object().unwrap().keys().collect();
    assert_eq!(
        accounts,
        ["ubuntu"],
        "alice's and bob's own logins are unknown keys to their own accounts"
    );
    let ubuntu = &report["accounts"]["ubuntu"];
    assert_eq!(ubuntu["logins"], 13);
    assert_eq!(ubuntu["unknown_key_attempts"], 4, "trudy 2x, alice, bob");
    assert_eq!(ubuntu["failed_attempts"], 6);
}

#[test]
fn the_window_selects_logins_by_time() {
    let dir = fixture_journal();
    let all = report_json(dir.path(), &[]);
    let uses = all["uses"].as_array().unwrap();
    // The seventh login's time splits the logins in two: --to is
    // exclusive, --from inclusive.
    let split = uses[6]["login"].as_str().unwrap().to_owned();
    let at: jiff::Timestamp = split.parse().unwrap();
    let earlier = uses
        .iter()
        .filter(|u| {
            u["login"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                < at
        })
        .count();
    assert!(earlier > 0 && earlier <= 6);
    let before = report_json(dir.path(), &["--to", &split]);
    let after = report_json(dir.path(), &["--from", &split]);
    assert_eq!(before["uses"].as_array().unwrap().len(), earlier);
    assert_eq!(
        after["uses"].as_array().unwrap().len(),
        uses.len() - earlier,
        "{split}"
    );
    // --since counts back from now: the fixture is from 2026-11-22.
    let recent = report_json(dir.path(), &["--since", "1h"]);
    assert!(recent["accounts"].as_object().unwrap().is_empty());

    let out = run_report(dir.path(), &["--from", &split, "--to", &split]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not before --to"),
        "{}",
        text(&out.stderr)
    );
    let out = run_report(dir.path(), &["--since", "1h", "--from", &split]);
    assert_eq!(out.status.code(), Some(2), "--since with --from is refused");
}

#[test]
fn a_real_sshd_in_table_json_and_csv() {
    let sshd = Sshd::start();
    let scenario = ssh_scenario(&sshd);
    let dir = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().to_string();
    let batch = parse_auth(
        &std::fs::read(sshd.auth_log()).unwrap(),
        &now,
        &sshd.keys_yaml(),
    );
    journal_auth(dir.path(), &batch);

    let report = report_json(dir.path(), &[]);
    let uses = report["uses"].as_array().unwrap();
    assert_eq!(uses.len(), 2, "{uses:#?}");
    let eve = &uses[0];
    let key = sshd.key(&scenario.eve);
    assert_eq!(eve["person"], scenario.eve);
    assert_eq!(eve["account"], "ubuntu");
    assert_eq!(eve["fingerprint"], key.fingerprint.as_str());
    assert_eq!(eve["key_type"], key.key_type.as_str());
    assert!(eve["session_end"].is_string(), "{eve}");
    let commands: Vec<&str> = eve["sudo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, whodid_testkit::sshd::SUDO_ALLOWED);
    let mallory = &uses[1];
    assert_eq!(mallory["person"], scenario.mallory);
    assert_eq!(mallory["denied"][0]["command"], SUDO_DENIED);
    assert_eq!(mallory["denied"][0]["reason"], "command not allowed");
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["unknown_key"], true);
    assert!(attempts[0]["identified_by"]
        .as_str()
        .unwrap()
        .contains(&sshd.unknown_key().fingerprint));

    let table = run_report(dir.path(), &[]);
    assert!(table.status.success());
    let table = text(&table.stdout);
    for needle in [
        scenario.eve.as_str(),
        scenario.mallory.as_str(),
        "UNKNOWN KEY",
        SUDO_DENIED,
        "DENIED (command not allowed)",
    ] {
        assert!(table.contains(needle), "{needle} not in:\n{table}");
    }

    let csv = run_report(dir.path(), &["-o", "csv"]);
    assert!(csv.status.success());
    let csv = text(&csv.stdout);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 2 + 1, "{csv}");
    assert!(rows[0].starts_with("kind,time,host,account,person"));
    assert!(rows[1].starts_with("login,") && rows[1].contains(&scenario.eve));
    assert!(rows[1].contains("/usr/bin/id as root | /usr/bin/cat /etc/hostname as root"));
    assert!(rows[3].starts_with("failed_login,") && rows[3].contains(",false,unknown-key "));
}

#[test]
fn named_accounts_and_a_missing_journal() {
    let dir = fixture_journal();
    // alice logs in to her own account; naming it makes it reported.
    let report = report_json(dir.path(), &["--account", "alice"]);
    assert_eq!(
        logins_by_person(&report, "alice").get("alice@example.com"),
        Some(&2)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = run_report(&empty.path().join("nothing"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("opening the journal"),
        "{}",
        text(&out.stderr)
    );
}
