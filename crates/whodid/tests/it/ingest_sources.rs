//! The real programs' logs through the real `whodid ingest` into a data
//! directory, read back through the journal reader: sshd/sudo/PAM via a
//! private rsyslogd (and sshd's own `-E` file), and PostgreSQL 15 with
//! pgaudit in stderr, csvlog and jsonlog.

use std::path::Path;

use whodid_journal::reader::JournalReader;
use whodid_model::{ActorKind, Envelope, Outcome, Stream};
use whodid_testkit::sshd::{INVALID_USER, SUDO_ALLOWED, SUDO_DENIED};
use whodid_testkit::workloads::{pgaudit_workload, ssh_scenario, APP_ROLE, PASSWORDS, PERSON_ROLE};
use whodid_testkit::{PgLog, Postgres, Sshd, SshdConfig};

use crate::util::{text, whodid};

/// Every record of `stream`: envelope and raw text.
pub(crate) fn stored(data: &Path, stream: Stream) -> Vec<(Envelope, String)> {
    let reader = JournalReader::open(data).unwrap();
    let (first, _) = reader.bounds(stream).unwrap();
    reader
        .iter_from(stream, first)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (
                Envelope::from_json(&r.envelope).unwrap(),
                String::from_utf8(r.raw).unwrap(),
            )
        })
        .collect()
}

fn ingest(data: &Path, args: &[&str]) -> String {
    if !data.join("WHODID").try_exists().unwrap() {
        crate::util::init_data(data);
    }
    let mut all = vec!["ingest", "--data", data.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = whodid(&all, b"");
    assert!(
        out.status.success(),
        "whodid {all:?}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// `N records stored` from the summary line.
fn stored_count(summary: &str) -> usize {
    let (before, _) = summary.split_once(" records stored").unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

fn with_action<'a>(records: &'a [(Envelope, String)], action: &str) -> Vec<&'a (Envelope, String)> {
    records.iter().filter(|(e, _)| e.action == action).collect()
}

#[test]
fn a_real_sshd_through_whodid_ingest() {
    let sshd = Sshd::start();
    let scenario = ssh_scenario(&sshd);
    let keys = format!("ubuntu={}", sshd.authorized_keys().display());
    let classic = tempfile::tempdir().unwrap();
    let summary = ingest(
        classic.path(),
        &[
            "--stream",
            "authlog",
            "--keys",
            &keys,
            sshd.auth_log().to_str().unwrap(),
        ],
    );
    let records = stored(classic.path(), Stream::AuthLog);
    assert_eq!(stored_count(&summary), records.len(), "{summary}");
    assert!(summary.ends_with("0 unreadable lines\n"), "{summary}");

    let eve = sshd.key(&scenario.eve);
    let logins = with_action(&records, "ssh.login");
    assert_eq!(logins.len(), 2);
    let (login, raw) = logins[0];
    assert_eq!(login.actor.name, eve.person);
    assert_eq!(login.actor.kind, ActorKind::Person);
    assert_eq!(login.actor.via, "ubuntu");
    assert_eq!(
        login.actor.identified_by,
        format!("ssh-key {}", eve.fingerprint)
    );
    assert!(
        raw.contains(&eve.fingerprint),
        "the raw line is kept: {raw}"
    );
    assert_eq!(logins[1].0.actor.name, scenario.mallory);

    // Eve's root commands are hers, from her connection's address.
    let sudo = with_action(&records, "sudo");
    assert_eq!(sudo.len(), SUDO_ALLOWED.len());
    for ((e, raw), command) in sudo.iter().zip(SUDO_ALLOWED) {
        assert_eq!(e.actor.name, eve.person);
        assert_eq!(e.source, login.source);
        assert!(raw.ends_with(&format!("COMMAND={command}")), "{raw}");
    }
    let denied = with_action(&records, "sudo.denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].0.actor.name, scenario.mallory);
    assert!(denied[0].1.contains(SUDO_DENIED));

    // The unknown key, flagged; the failed attempt and the invalid user.
    let failed = with_action(&records, "ssh.login_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0.outcome, Outcome::Denied);
    assert_eq!(
        failed[0].0.actor.identified_by,
        format!("unknown-key {}", sshd.unknown_key().fingerprint)
    );
    let invalid = with_action(&records, "ssh.invalid_user");
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].0.target, INVALID_USER);

    // The RFC 3339 file, with the keys as keys.yaml, stores the same.
    let rfc3339 = tempfile::tempdir().unwrap();
    let yaml = rfc3339.path().join("keys.yaml");
    std::fs::write(&yaml, sshd.keys_yaml()).unwrap();
    let data = rfc3339.path().join("data");
    ingest(
        &data,
        &[
            "--stream",
            "authlog",
            "--keys",
            yaml.to_str().unwrap(),
            sshd.auth_log_rfc3339().to_str().unwrap(),
        ],
    );
    let second = |t: jiff::Timestamp| t.as_second();
    let summary_of = |records: &[(Envelope, String)]| {
        records
            .iter()
            .map(|(e, _)| {
                (
                    second(e.time),
                    e.actor.clone(),
                    e.action.clone(),
                    e.source.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary_of(&stored(&data, Stream::AuthLog)),
        summary_of(&records)
    );

    // And the report on what was ingested names Eve's commands.
    let out = whodid(
        &[
            "report",
            "shared-accounts",
            "--data",
            classic.path().to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for command in SUDO_ALLOWED {
        assert!(
            table
                .lines()
                .any(|l| l.contains(&eve.person) && l.ends_with(command)),
            "{command} of {} not in\n{table}",
            eve.person
        );
    }

    // `whodid who eve@example.com` shows her root commands (and not
    // Mallory's refused one), once the index is built from the journal.
    let data = classic.path().to_str().unwrap();
    let out = whodid(&["reindex", "--data", data], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = whodid(&["who", &eve.person, "--data", data, "-o", "ndjson"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let timeline = text(&out.stdout);
    for command in SUDO_ALLOWED {
        assert!(
            timeline
                .lines()
                .any(|l| l.contains(&format!("COMMAND={command}")) && l.contains("\"sudo\"")),
            "{command} not in her timeline:\n{timeline}"
        );
    }
    assert!(timeline.contains("ssh.login"), "{timeline}");
    assert!(!timeline.contains(SUDO_DENIED), "{timeline}");
}

#[test]
fn sshd_own_log_file_through_whodid_ingest() {
    let sshd = Sshd::with_config(SshdConfig {
        log_file: true,
        ..SshdConfig::default()
    });
    let scenario = ssh_scenario(&sshd);
    let data = tempfile::tempdir().unwrap();
    let keys = format!("ubuntu={}", sshd.authorized_keys().display());
    let file = sshd.sshd_log_file().unwrap();
    let summary = ingest(
        data.path(),
        &[
            "--stream",
            "authlog",
            "--keys",
            &keys,
            "--host",
            "node-e",
            file.to_str().unwrap(),
        ],
    );
    assert!(summary.ends_with("0 unreadable lines\n"), "{summary}");
    let records = stored(data.path(), Stream::AuthLog);
    let people: Vec<&str> = with_action(&records, "ssh.login")
        .iter()
        .map(|(e, _)| e.actor.name.as_str())
        .collect();
    assert_eq!(people, [&scenario.eve, &scenario.mallory]);
    // No time in the file: the file's modification time; the host given.
    let modified =
        jiff::Timestamp::try_from(std::fs::metadata(file).unwrap().modified().unwrap()).unwrap();
    for (e, _) in &records {
        assert_eq!(e.host, "node-e");
        assert_eq!(e.time, modified);
    }
}

#[test]
fn bad_lines_in_a_real_auth_log_are_reported_with_file_and_line() {
    let sshd = Sshd::start();
    ssh_scenario(&sshd);
    let clean = std::fs::read(sshd.auth_log()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Garbage after the second line, a 1 MB line, and a last line torn
    // inside the key of a login (as a tailer may see a half-written line).
    let mut lines: Vec<Vec<u8>> = clean.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines.pop(); // the empty piece after the final \n
    let torn_from = lines
        .iter()
        .find(|l| l.windows(19).any(|w| w == b"Accepted publickey "))
        .unwrap()
        .clone();
    lines.insert(2, vec![0xff, 0xfe, 0x00, 0x80]);
    lines.insert(5, vec![b'A'; 1 << 20]);
    lines.push(torn_from[..torn_from.len() - 30].to_vec());
    let bad = [3, 6, lines.len()];
    let path = dir.path().join("auth.log");
    std::fs::write(&path, lines.join(&b'\n')).unwrap();
    let data = dir.path().join("data");
    crate::util::init_data(&data);
    let args = [
        "ingest",
        "--data",
        data.to_str().unwrap(),
        "--stream",
        "authlog",
        "--max-line-bytes",
        "65536",
        path.to_str().unwrap(),
    ];
    let out = whodid(&args, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let reported: Vec<&str> = stderr.lines().collect();
    assert_eq!(reported.len(), 3, "{stderr}");
    for (line, n) in reported.iter().zip(bad) {
        assert!(
            line.starts_with(&format!("{}:{n}: ", path.display())),
            "{line} (expected line {n})"
        );
    }
    assert!(text(&out.stdout).ends_with("3 unreadable lines\n"));
    // The rest is all there: as many records as the clean file gives.
    let clean_dir = dir.path().join("clean");
    let clean_path = dir.path().join("clean.log");
    std::fs::write(&clean_path, &clean).unwrap();
    ingest(
        &clean_dir,
        &["--stream", "authlog", clean_path.to_str().unwrap()],
    );
    assert_eq!(
        stored(&data, Stream::AuthLog).len(),
        stored(&clean_dir, Stream::AuthLog).len()
    );
}

fn pg_args<'a>(pg: &'a Postgres, log: PgLog, path: &'a str) -> Vec<&'a str> {
    let format = match log {
        PgLog::Stderr => "stderr",
        PgLog::Csvlog => "csvlog",
        PgLog::Jsonlog => "jsonlog",
    };
    vec![
        "--stream",
        "pgaudit",
        "--pg-format",
        format,
        "--pg-prefix",
        pg.log_line_prefix(),
        "--host",
        "db-1",
        path,
    ]
}

/// (role, pgaudit class, action, target) of each stored pgaudit record;
/// the class is the fourth field of the raw `AUDIT: ` payload.
fn pg_summary(data: &Path) -> Vec<(String, String, String, String)> {
    stored(data, Stream::PgAudit)
        .into_iter()
        .map(|(e, raw)| {
            let (_, payload) = raw.split_once("AUDIT: ").unwrap();
            let class = payload.split(',').nth(3).unwrap().to_owned();
            (e.actor.name, class, e.action, e.target)
        })
        .collect()
}

/// Every byte under `dir`, and every stored record through the reader.
fn assert_no_password(data: &Path) {
    for (e, raw) in stored(data, Stream::PgAudit) {
        let envelope = String::from_utf8(e.to_json()).unwrap();
        for password in PASSWORDS {
            assert!(!raw.contains(password), "{password} stored in {raw}");
            assert!(!envelope.contains(password), "{password} in {envelope}");
        }
    }
    let mut stack = vec![data.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for password in PASSWORDS {
                assert!(
                    !bytes
                        .windows(password.len())
                        .any(|w| w == password.as_bytes()),
                    "{password} in {}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_real_pgaudit_through_whodid_ingest() {
    let mut pg = Postgres::start();
    pgaudit_workload(&pg);
    pg.stop();
    let dir = tempfile::tempdir().unwrap();
    let mut summaries = Vec::new();
    for log in PgLog::ALL {
        let data = dir.path().join(format!("{log:?}"));
        let path = pg.log_path(log);
        let path = path.to_str().unwrap();
        let summary = ingest(&data, &pg_args(&pg, log, path));
        assert!(
            summary.ends_with("0 unreadable lines\n"),
            "{log:?}: {summary}"
        );
        assert!(
            !summary.contains(" 0 redacted"),
            "{log:?}: the DO block's password: {summary}"
        );
        assert_no_password(&data);
        let records = stored(&data, Stream::PgAudit);
        assert_eq!(stored_count(&summary), records.len());
        for (e, _) in &records {
            assert_eq!(e.host, "db-1");
        }
        summaries.push(pg_summary(&data));
    }
    assert_eq!(summaries[0], summaries[1], "stderr and csvlog");
    assert_eq!(summaries[1], summaries[2], "csvlog and jsonlog");
    let all = &summaries[1];
    let by = |role: &str| all.iter().filter(|(r, ..)| r == role).count();
    assert!(by(PERSON_ROLE) >= 5 && by(APP_ROLE) >= 4, "{all:#?}");

    // Keep rules, through --pg-keep: the person's access, not the
    // application's; writes, not reads; app.users, not app.emailsSent.
    let csv = pg.log_path(PgLog::Csvlog);
    let csv = csv.to_str().unwrap();
    let cases = [
        (
            "users: {exclude: [app_service]}",
            all.iter().filter(|(r, ..)| r != APP_ROLE).count(),
        ),
        (
            "classes: {include: [WRITE]}",
            all.iter().filter(|(_, class, ..)| class == "WRITE").count(),
        ),
        (
            "objects: {include: [app.users], unnamed: false}",
            all.iter().filter(|(.., t)| t == "app.users").count(),
        ),
    ];
    for (i, (keep, expected)) in cases.iter().enumerate() {
        let keep_file = dir.path().join(format!("keep-{i}.yaml"));
        std::fs::write(&keep_file, keep).unwrap();
        let data = dir.path().join(format!("keep-{i}"));
        let mut args = pg_args(&pg, PgLog::Csvlog, csv);
        args.extend(["--pg-keep", keep_file.to_str().unwrap()]);
        let summary = ingest(&data, &args);
        let kept = pg_summary(&data);
        assert!(*expected > 0 && *expected < all.len(), "{keep}: {expected}");
        assert_eq!(kept.len(), *expected, "{keep}: {kept:#?}");
        assert!(
            summary.contains(&format!("{} dropped", all.len() - expected)),
            "{keep}: {summary}"
        );
    }
}
