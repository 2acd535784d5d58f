//! Files only the owner can read: whatever the umask whodid is started
//! with, everything under the data directory is 0600/0700; looser modes
//! found at start are tightened; query-API tokens are stored only hashed;
//! `/metrics` needs a token unless the configuration opens it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server::{client, runtime, Prod, Server};
use crate::util::{read, text, whodid};

/// `whodid ARGS…` run by `sh` under `umask 022`.
fn under_umask_022(args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_whodid"))
        .args(args);
    command
}

/// Every entry under `root` (not following links) and its mode.
fn modes(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        out.push((path.clone(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    out
}

#[test]
fn everything_under_the_data_directory_is_the_owners_only_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = under_umask_022(&["init", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let ca = whodid_server::pki::LocalCa::load_or_create(&data.join("tls")).unwrap();
    let id = ca.issue_client("prod", 1).unwrap();
    let yaml = format!(
        "data: {}\nindex: {{commit_every: 100ms}}\ndowntime: {{heartbeat: 100ms}}\nclusters:\n  - name: prod\n",
        data.display()
    );
    let config = Server::config(dir.path(), &yaml);
    let mut command = under_umask_022(&["serve", "-c", config.to_str().unwrap()]);
    command.env("WHODID_LOG", "info");
    let server = Server::spawn(command);
    let rt = runtime();
    let answer = rt
        .block_on(crate::server::post_once(
            ca.cert_pem(),
            Some(&id),
            &server.addr,
            "/k8s-audit/prod",
            read("k8s/webhook/batch-00011.json"),
        ))
        .unwrap();
    assert_eq!(answer.status, 200);
    // Searchable means the index has written its files.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let answer = rt.block_on(async {
            let mut c = client(ca.cert_pem(), None, &server.addr, Some(&token))
                .await
                .unwrap();
            c.get("/api/v1/search?q=stream:kubeaudit&since=3650d&limit=100")
                .await
                .unwrap()
        });
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        if body["hits"].as_array().map_or(0, Vec::len) == 30 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never searchable: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server.stop();

    let found = modes(&data);
    for kind in [
        "journal/kubeaudit/",
        "keys/journal.key",
        "keys/journal.pub",
        "keys/api-tokens",
        "tls/ca.key",
        "tls/ca.crt",
        "index/",
        "heartbeat",
    ] {
        assert!(
            found.iter().any(|(p, _)| p
                .strip_prefix(&data)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(kind)),
            "nothing like {kind} under {}",
            data.display()
        );
    }
    let open: Vec<_> = found.iter().filter(|(_, mode)| mode & 0o077 != 0).collect();
    assert!(open.is_empty(), "readable by group or others: {open:#?}");
    assert!(found.len() > 20, "{found:#?}");

    // Modes loosened by hand are tightened at the next start, and said so.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in ["tls/ca.crt", "keys/journal.key"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = Server::start_with(dir.path(), &yaml, &[]);
    let log = server.log();
    server.stop();
    assert!(log.contains("3 files or directories"), "{log}");
    assert!(log.contains("consider them exposed"), "{log}");
    assert!(log.contains("keys/journal.key"), "{log}");
    assert!(modes(&data).iter().all(|(_, mode)| mode & 0o077 == 0));
}

#[test]
fn tokens_are_stored_hashed_and_metrics_need_one_unless_opened() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let tokens = prod.data.join("keys/api-tokens");
    // A token of the old, clear form is hashed in place and keeps working.
    let legacy = "legacy-token-0123456789abcdef";
    let mut file = std::fs::read_to_string(&tokens).unwrap();
    file.push_str(&format!("ci {legacy}\n"));
    std::fs::write(&tokens, file).unwrap();
    // `whodid token create` prints a new one and stores only its hash.
    let out = whodid(
        &[
            "token",
            "create",
            "ops",
            "--data",
            prod.data.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ops = text(&out.stdout).trim().to_owned();
    assert!(ops.len() >= 32, "{ops}");
    let hashed = whodid(&["token", "hash"], ops.as_bytes());
    let hash = text(&hashed.stdout).trim().to_owned();
    assert!(hash.starts_with("sha256:") && hash.len() == 71, "{hash}");

    // A cluster's bearer token may be given by its hash only.
    let cluster_token = "token-of-prod-0123456789abcdef";
    let hashed_file = dir.path().join("prod.token.sha256");
    let out = whodid(&["token", "hash"], cluster_token.as_bytes());
    std::fs::write(&hashed_file, &out.stdout).unwrap();
    let server = prod.serve(
        dir.path(),
        "",
        &format!("    bearer_token_files: [{}]\n", hashed_file.display()),
    );
    let stored = std::fs::read_to_string(&tokens).unwrap();
    assert!(
        !stored.contains(legacy) && !stored.contains(&ops) && !stored.contains(&prod.token),
        "{stored}"
    );
    assert!(stored.contains(&format!("ops {hash}")), "{stored}");
    assert!(
        server.log().contains("replaced by their SHA-256"),
        "{}",
        server.log()
    );
    let rt = runtime();
    let get = |token: Option<&str>, path: &str| {
        rt.block_on(async {
            let mut c = client(prod.ca.cert_pem(), None, &server.addr, token)
                .await
                .unwrap();
            c.get(path).await.unwrap().status
        })
    };
    assert_eq!(get(None, "/metrics"), 401);
    assert_eq!(get(Some("not-a-token-of-anyone"), "/metrics"), 401);
    assert_eq!(
        get(Some(&hash), "/metrics"),
        401,
        "the hash is not the token"
    );
    for token in [legacy, ops.as_str(), prod.token.as_str()] {
        assert_eq!(get(Some(token), "/metrics"), 200);
        assert_eq!(get(Some(token), "/api/v1/search?q=verb:get&since=1h"), 200);
    }
    assert_eq!(get(None, "/healthz"), 200);
    let posted = rt.block_on(async {
        let mut c = client(prod.ca.cert_pem(), None, &server.addr, Some(cluster_token))
            .await
            .unwrap();
        c.post(
            "/k8s-audit/prod",
            read("k8s/webhook/batch-00011.json").into(),
            &[],
        )
        .await
        .unwrap()
        .status
    });
    assert_eq!(posted, 200);
    server.stop();

    let server = prod.serve(dir.path(), "metrics: {auth: none}\n", "");
    let status = rt.block_on(async {
        let mut c = client(prod.ca.cert_pem(), None, &server.addr, None)
            .await
            .unwrap();
        c.get("/metrics").await.unwrap().status
    });
    assert_eq!(status, 200);
    assert!(server.log().contains("metrics.auth: none"));
    server.stop();
}
