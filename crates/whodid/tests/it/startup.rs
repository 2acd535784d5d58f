//! Starting safely: the whole configuration is checked before anything is
//! bound or created, relative paths in a file are the file's, a port in use
//! is reported before the data directory is touched, and a data directory
//! is made only when asked (`whodid init`, `--init`).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::server::{Prod, Server};
use crate::util::{text, whodid};

/// Runs `whodid ARGS` in `cwd`.
fn whodid_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whodid"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("whodid runs")
}

#[test]
fn relative_paths_in_a_file_are_relative_to_the_file_and_on_the_command_line_to_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(
        crate::util::testdata("k8s/policies/01-kube-up-gce-production.yaml"),
        etc.join("policy.yaml"),
    )
    .unwrap();
    let config = Server::config(
        &etc,
        "data: data\nclusters:\n  - name: prod\n    policy: policy.yaml\n",
    );
    let config = config.to_str().unwrap();
    let out = whodid_in(&elsewhere, &["init", "-c", config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(etc.join("data/WHODID").try_exists().unwrap());
    assert!(!elsewhere.join("data").try_exists().unwrap());

    // Serve from another directory uses the same data directory and policy.
    let mut command = Command::new(env!("CARGO_BIN_EXE_whodid"));
    command
        .args(["serve", "-c", config])
        .current_dir(&elsewhere);
    let server = Server::spawn(command);
    let log = server.log();
    server.stop();
    let serving = format!("serving data directory {}", etc.join("data").display());
    assert!(log.contains(&serving), "{log}");
    assert!(!elsewhere.join("data").try_exists().unwrap());

    // A path on the command line is the working directory's.
    let out = whodid_in(&elsewhere, &["init", "-c", config, "--data", "cli-data"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(elsewhere.join("cli-data/WHODID").try_exists().unwrap());
}

#[test]
fn a_bad_configuration_is_named_by_file_and_field_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let deep = "[".repeat(10_000);
    let cases: &[(&str, &[u8], &[&str])] = &[
        ("unknown-field", b"clusters:\n  - name: a\n    bogus: 1\n", &["bogus", ":4:"]),
        ("bad-fsync", b"journal:\n  fsync: sometimes\n", &["journal.fsync", "sometimes"]),
        ("bad-listen", b"listen: not-an-address\n", &["listen", "invalid socket address"]),
        ("bad-duration", b"downtime:\n  gap_after: soon\n", &["gap_after", "soon"]),
        ("zero", b"downtime:\n  heartbeat: 0s\n", &["downtime.heartbeat"]),
        ("bad-metrics", b"metrics:\n  auth: maybe\n", &["auth", "maybe"]),
        ("half-tls", b"tls:\n  cert: server.crt\n", &["tls", "`key`"]),
        ("missing-policy", b"clusters:\n  - name: prod\n    policy: nowhere.yaml\n", &["clusters[0] (prod).policy", "nowhere.yaml"]),
        ("missing-token-file", b"clusters:\n  - name: prod\n    bearer_token_files: [nowhere]\n", &["bearer_token_files", "nowhere"]),
        ("missing-keys", b"sources:\n  - {name: node, stream: authlog, path: auth.log, keys: [ubuntu=nowhere.pub]}\n", &["sources[0] (node)", "nowhere.pub"]),
        ("not-yaml", b"\x00\xff\xfe garbage {{{ [[[", &[]),
        ("scalar", b"just words", &[]),
        ("deep", deep.as_bytes(), &[]),
    ];
    for (name, content, needles) in cases {
        let case = dir.path().join(name);
        std::fs::create_dir_all(&case).unwrap();
        let config = case.join("whodid.yaml");
        let mut bytes = b"data: data\n".to_vec();
        bytes.extend_from_slice(content);
        std::fs::write(&config, bytes).unwrap();
        let out = whodid(&["serve", "--init", "-c", config.to_str().unwrap()], b"");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            stderr.contains(config.to_str().unwrap()),
            "{name}: the file is not named: {stderr}"
        );
        for needle in *needles {
            assert!(
                stderr.contains(needle),
                "{name}: {needle:?} missing: {stderr}"
            );
        }
        assert!(
            !case.join("data").try_exists().unwrap(),
            "{name}: a data directory was created"
        );
    }
}

#[test]
fn a_port_in_use_is_reported_before_the_data_directory_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let out = whodid(
        &[
            "serve",
            "--init",
            "--listen",
            &addr,
            "--data",
            data.to_str().unwrap(),
        ],
        b"",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("binding {addr}")), "{stderr}");
    assert!(!stderr.contains("shutting down"), "{stderr}");
    assert!(
        !data.try_exists().unwrap(),
        "the data directory was created: {stderr}"
    );

    // On an existing data directory nothing is opened either: no lock file.
    crate::util::init_data(&data);
    std::fs::remove_file(data.join("LOCK")).unwrap();
    let out = whodid(
        &["serve", "--listen", &addr, "--data", data.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        !data.join("LOCK").try_exists().unwrap(),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn serve_and_ingest_make_no_data_directory_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let log = crate::util::testdata("k8s/webhook/batch-00011.json");
    for data in [&missing, &empty] {
        let d = data.to_str().unwrap();
        for args in [
            vec!["serve", "--listen", "127.0.0.1:0", "--data", d],
            vec![
                "ingest",
                "--stream",
                "kubeaudit",
                "--data",
                d,
                log.to_str().unwrap(),
            ],
        ] {
            let out = whodid(&args, b"");
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("run `whodid init --data {d}`")),
                "{args:?}: {stderr}"
            );
            assert!(stderr.contains("--init"), "{args:?}: {stderr}");
        }
        let out = whodid(
            &[
                "k8s",
                "webhook-config",
                "--cluster",
                "prod",
                "--data",
                d,
                "--out",
                dir.path().join("out").to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    }
    assert!(!missing.try_exists().unwrap());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // --init creates it once; a second init keeps the key and makes no token.
    let out = whodid(
        &[
            "ingest",
            "--init",
            "--stream",
            "kubeaudit",
            "--data",
            missing.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("created data directory"));
    let key = std::fs::read_to_string(missing.join("keys/journal.pub")).unwrap();
    let out = whodid(&["init", "--data", missing.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("already a whodid data directory"));
    assert_eq!(
        std::fs::read_to_string(missing.join("keys/journal.pub")).unwrap(),
        key
    );

    // A directory that belongs to something else is refused even with --init.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let out = whodid(&["init", "--data", other.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
}

#[test]
fn serve_init_on_an_existing_directory_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let key = std::fs::read_to_string(prod.data.join("keys/journal.pub")).unwrap();
    let server = prod.serve(dir.path(), "", "");
    let log = server.log();
    server.stop();
    assert!(!log.contains("created data directory"), "{log}");
    assert!(log.contains(key.trim()), "{log}");
}
