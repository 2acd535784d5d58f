//! A flood of TLS connections without any credential must not take the
//! descriptors the journal needs: connections are capped below the
//! descriptor limit (`RLIMIT_NOFILE`, here 128 via `prlimit`) less
//! `limits.reserved_fds`, so a credentialed batch posted during the flood —
//! the first of its stream, which creates the segment files — is stored
//! (200), nothing fails with "Too many open files", and the journal verifies
//! after it. Without the cap the flood took every descriptor and the batch
//! got 503.

use whodid_server::client::{ClientConfig, WebhookClient};

use crate::server::{runtime, within, Prod, Server};
use crate::util::{text, whodid};
use crate::webhook_replay::wait_for;

/// whodid's descriptor limit in the test.
const NOFILE: u64 = 128;

/// Connections the flood opens: more than the limit allows.
const FLOOD: usize = 300;

#[test]
fn a_connection_flood_leaves_the_journal_able_to_append_and_sign() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let server = Server::start_with_nofile(
        dir.path(),
        &format!(
            "data: {}\njournal:\n  checkpoint_interval: 1s\nlimits:\n  reserved_fds: 64\n  handshake_timeout: 60s\n  header_timeout: 60s\nclusters:\n  - name: prod\n",
            prod.data.display()
        ),
        Some(NOFILE),
    );
    let rt = runtime();
    let batch = crate::util::read("k8s/webhook/batch-00011.json");
    let answer = rt.block_on(within(async {
        let with_cert =
            ClientConfig::new(prod.ca.cert_pem(), Some((&prod.id.cert, &prod.id.key))).unwrap();
        // The apiserver's kept-alive connection, open before the flood.
        let mut apiserver = WebhookClient::connect(&with_cert, &server.addr, "localhost", None)
            .await
            .unwrap();
        // The flood: connections that finish their TLS handshake (without
        // a certificate) or wait to, and then send nothing.
        let anonymous = ClientConfig::new(prod.ca.cert_pem(), None).unwrap();
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            let (anonymous, addr) = (anonymous.clone(), server.addr.clone());
            flood.push(tokio::spawn(async move {
                let connection = anonymous.connect_tls(&addr, "localhost").await;
                std::future::pending::<()>().await;
                drop(connection);
            }));
        }
        // Every connection slot is taken: the rest wait to be accepted.
        tokio::task::block_in_place(|| {
            wait_for(
                || {
                    server
                        .log()
                        .contains("slots are taken: new connections wait")
                },
                &server,
            )
        });
        let answer = apiserver
            .post("/k8s-audit/prod", batch.clone().into(), &[])
            .await;
        // A checkpoint over it is signed (every second), still in the flood.
        let checkpoints = prod.data.join("journal/kubeaudit/checkpoints");
        tokio::task::block_in_place(|| {
            wait_for(
                || std::fs::read_dir(&checkpoints).is_ok_and(|d| d.count() > 0),
                &server,
            )
        });
        // The flood ends: its connections close.
        for task in &flood {
            task.abort();
        }
        for task in flood {
            let _ = task.await;
        }
        answer
    }));
    let answer = answer.expect("an answer during the flood");
    assert_eq!(
        answer.status,
        200,
        "{}\n{}",
        text(&answer.body),
        server.log()
    );
    let log = server.log();
    assert!(
        !log.contains("Too many open files") && !log.contains("os error 24"),
        "descriptors ran out:\n{log}"
    );
    server.stop();
    let verify = whodid(&["verify", "--data", prod.data.to_str().unwrap()], b"");
    assert!(
        verify.status.success(),
        "{}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
}

/// A connection that finishes its TLS handshake and then sends nothing is
/// closed once the header timeout has passed: neither HTTP/2 nor the
/// protocol detection before it has a deadline of its own, so such
/// connections would otherwise hold their slots for ever.
#[test]
fn a_connection_that_sends_no_request_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let server = prod.serve(dir.path(), "limits:\n  header_timeout: 1s\n", "");
    let rt = runtime();
    let read = rt.block_on(within(async {
        use tokio::io::AsyncReadExt;
        let anonymous = ClientConfig::new(prod.ca.cert_pem(), None).unwrap();
        let mut idle = anonymous
            .connect_tls(&server.addr, "localhost")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        idle.read(&mut buf).await
    }));
    // The server closed it (cleanly or not): no bytes.
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        server
            .log()
            .contains("no request within the header timeout: connection closed"),
        "{}",
        server.log()
    );
    server.stop();
}
