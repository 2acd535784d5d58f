//! `whodid k8s webhook-config` end to end, `whodid ingest` of an old log,
//! backpressure (429 while the room is taken), and gap records for a
//! cluster that goes silent.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use whodid_model::Stream;

use crate::server::{post_once, records, runtime, Prod, Server};
use crate::util::{read, text, whodid};

/// A PEM value out of the kubeconfig's base64 `*-data` field.
fn kubeconfig_field(kubeconfig: &str, field: &str) -> String {
    let line = kubeconfig
        .lines()
        .find(|l| l.trim_start().starts_with(field))
        .unwrap();
    let b64 = line.split_once(':').unwrap().1.trim();
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn webhook_config_gives_a_working_credential_and_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::util::init_data(&data);
    let out = whodid(
        &[
            "k8s",
            "webhook-config",
            "--cluster",
            "prod",
            "--data",
            data.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
            "--server",
            "https://whodid.example:8443",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let flags = text(&out.stdout);
    for flag in [
        "--audit-webhook-config-file=",
        "--audit-webhook-batch-max-size=400",
        "--audit-policy-file=",
        "--audit-webhook-batch-max-wait=",
    ] {
        assert!(flags.contains(flag), "{flag} missing:\n{flags}");
    }
    let kubeconfig = std::fs::read_to_string(dir.path().join("webhook-prod.kubeconfig")).unwrap();
    assert!(
        kubeconfig.contains("server: https://whodid.example:8443/k8s-audit/prod"),
        "{kubeconfig}"
    );
    let ca_pem = kubeconfig_field(&kubeconfig, "certificate-authority-data");
    let identity = whodid_server::pki::PemPair {
        cert: kubeconfig_field(&kubeconfig, "client-certificate-data"),
        key: kubeconfig_field(&kubeconfig, "client-key-data"),
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("webhook-prod.kubeconfig"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the kubeconfig holds a private key");
    let server = Server::start(
        dir.path(),
        &format!("data: {}\nclusters:\n  - name: prod\n", data.display()),
    );
    let rt = runtime();
    let answer = rt
        .block_on(post_once(
            &ca_pem,
            Some(&identity),
            &server.addr,
            "/k8s-audit/prod",
            read("k8s/webhook/batch-00011.json"),
        ))
        .unwrap();
    assert_eq!(answer.status, 200);
    server.stop();
    assert_eq!(records(&data, Stream::KubeAudit).len(), 30);
}

#[test]
fn ingest_imports_an_old_log_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = crate::util::testdata("k8s/capture-audit.log.gz");
    let policy = crate::util::testdata("k8s/policies/01-kube-up-gce-production.yaml");
    let args = [
        "ingest",
        "--init",
        "--data",
        data.to_str().unwrap(),
        "--stream",
        "kubeaudit",
        "--cluster",
        "old",
        "--policy",
        policy.to_str().unwrap(),
        log.to_str().unwrap(),
    ];
    let out = whodid(&args, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1147 records stored"),
        "{}",
        text(&out.stdout)
    );
    let again = whodid(&args, b"");
    assert!(
        text(&again.stdout).contains("0 records stored, 1147 already stored"),
        "{}",
        text(&again.stdout)
    );
    let stored = records(&data, Stream::KubeAudit);
    assert_eq!(stored.len(), 1147);
    assert!(stored.iter().all(|(e, _)| e.cluster == "old"));
    // A directory is not a log file.
    let out = whodid(
        &[
            "ingest",
            "--data",
            data.to_str().unwrap(),
            "--stream",
            "kubeaudit",
            dir.path().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn backpressure_and_silence() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let (data, ca, id) = (&prod.data, &prod.ca, &prod.id);
    let server = prod.serve(
        dir.path(),
        "limits:\n  max_inflight_bytes: 600000\n  queue_wait: 200ms\n  body_timeout: 30s\n",
        "    silence_limit: 1s\n",
    );
    let rt = runtime();
    // Silent for more than a second: a gap record.
    std::thread::sleep(Duration::from_millis(2500));
    let batch = read("k8s/webhook/batch-00001.json.gz");
    rt.block_on(async {
        // A slow sender takes the room: its body trickles in.
        let mut slow = raw_tls(ca, id, &server.addr).await;
        slow.write_all(b"POST /k8s-audit/prod HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 590000\r\n\r\n{").await.unwrap();
        slow.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answer = post_once(ca.cert_pem(), Some(id), &server.addr, "/k8s-audit/prod", batch.clone()).await.unwrap();
        assert_eq!(answer.status, 429, "{}", String::from_utf8_lossy(&answer.body));
        assert!(answer.retry_after.is_some());
        // The slow sender gives up: its batch becomes a gap record; room again.
        drop(slow);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answer = post_once(ca.cert_pem(), Some(id), &server.addr, "/k8s-audit/prod", batch.clone()).await.unwrap();
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    });
    server.stop();
    let stored = records(data, Stream::KubeAudit);
    let gaps: Vec<serde_json::Value> = stored
        .iter()
        .filter(|(e, _)| e.action == "whodid.gap")
        .map(|(_, raw)| serde_json::from_slice(raw).unwrap())
        .collect();
    let reasons: Vec<&str> = gaps.iter().map(|g| g["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"silent"), "{reasons:?}");
    assert!(reasons.contains(&"silence-ended"), "{reasons:?}");
    assert!(reasons.contains(&"sender-stopped-mid-batch"), "{reasons:?}");
    let ended = gaps
        .iter()
        .find(|g| g["reason"] == "silence-ended")
        .unwrap();
    assert!(
        ended["from"].is_string() && ended["to"].is_string(),
        "{ended}"
    );
    assert_eq!(stored.len() - gaps.len(), 400);
}

async fn raw_tls(
    ca: &whodid_server::pki::LocalCa,
    id: &whodid_server::pki::PemPair,
    addr: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    whodid_server::client::ClientConfig::new(ca.cert_pem(), Some((&id.cert, &id.key)))
        .unwrap()
        .connect_tls(addr, "localhost")
        .await
        .unwrap()
}

#[test]
fn the_query_api_needs_a_token_and_finds_what_the_webhook_stored() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let (data, ca) = (&prod.data, &prod.ca);
    let server = prod.serve(dir.path(), "index:\n  commit_every: 200ms\n", "");
    let rt = runtime();
    let token = prod.token.clone();
    let stored = std::fs::read_to_string(data.join("keys/api-tokens")).unwrap();
    assert!(
        !stored.contains(&token),
        "the token is stored in clear:\n{stored}"
    );
    let answer = prod.post(&rt, &server, read("k8s/webhook/batch-00011.json"));
    assert_eq!(answer.status, 200);
    let get = |token: Option<&str>, path: &str| {
        rt.block_on(async {
            let mut c = crate::server::client(ca.cert_pem(), None, &server.addr, token)
                .await
                .unwrap();
            c.get(path).await.unwrap()
        })
    };
    assert_eq!(
        get(None, "/api/v1/search?q=verb:get&since=3650d").status,
        401
    );
    assert_eq!(
        get(
            Some("not-the-token-at-all"),
            "/api/v1/search?q=verb:get&since=3650d"
        )
        .status,
        401
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get(
            Some(&token),
            "/api/v1/search?q=stream:kubeaudit&since=3650d&limit=100",
        );
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        let hits = body["hits"].as_array().map_or(0, Vec::len);
        if hits == 30 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not searchable in time: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server.stop();
}
