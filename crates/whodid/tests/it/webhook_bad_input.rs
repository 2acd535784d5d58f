//! Bad webhook input gets a clear answer, and the stream is unharmed:
//! malformed JSON, the wrong version, events missing fields, a cut-off
//! body, a slow client, a huge body, gzip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use whodid_model::Stream;

use crate::server::{records, runtime, Prod};
use crate::util::{gzip, read, text};
use crate::webhook_replay::wait_for;

#[test]
fn bad_bodies_are_refused_clearly_and_nothing_accepted_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let server = prod.serve(
        dir.path(),
        "limits:\n  max_body_bytes: 2000000\n  header_timeout: 1s\n  handshake_timeout: 1s\n  body_timeout: 2s\n",
        "",
    );
    let rt = runtime();
    let post = |body: Vec<u8>| prod.post(&rt, &server, body);
    let good = read("k8s/webhook/batch-00011.json");
    assert_eq!(post(good.clone()).status, 200);
    let good_events = crate::webhook_replay::items(&good).len();

    let cut = good[..good.len() / 2].to_vec();
    let answer = post(cut);
    assert_eq!(answer.status, 400);
    let message = text(&answer.body);
    assert!(
        message.contains("line ") && message.contains("column "),
        "{message}"
    );

    let old = String::from_utf8(good.clone()).unwrap().replacen(
        "audit.k8s.io/v1",
        "audit.k8s.io/v1beta1",
        1,
    );
    let answer = post(old.into_bytes());
    assert_eq!(answer.status, 400);
    assert!(String::from_utf8_lossy(&answer.body).contains("v1beta1"));

    assert_eq!(post(b"[1,2,3]".to_vec()).status, 400);
    assert_eq!(post(vec![0xff, 0xfe, 0x00, 0x01]).status, 400);

    // Items that are not events are kept as invalid records, the rest stored.
    let mixed = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x"},{"level":"Metadata","auditID":"ok-1","stage":"ResponseComplete","requestURI":"/version","verb":"get","user":{"username":"alice"},"stageTimestamp":"2026-11-22T18:26:19.000000Z"}]}"#;
    let answer = post(mixed.to_vec());
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let answer: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        (answer["accepted"].as_u64(), answer["invalid"].as_u64()),
        (Some(1), Some(1))
    );

    // gzip, as a sender may offer it.
    let gzipped = gzip(&read("k8s/webhook/batch-00010.json.gz"));
    let answer = prod
        .post_with(&rt, &server, gzipped, &[("content-encoding", "gzip")])
        .unwrap();
    assert_eq!(answer.status, 200, "{}", text(&answer.body));
    let gz_events = crate::webhook_replay::items(&read("k8s/webhook/batch-00010.json.gz")).len();

    // A 1 GB body is refused from its Content-Length, before it is sent.
    let answer = prod.post_with(
        &rt,
        &server,
        Vec::new(),
        &[("content-length", "1073741824")],
    );
    match answer {
        Ok(answer) => assert_eq!(answer.status, 413),
        Err(e) => panic!("no 413 for a 1 GB body: {e}"),
    }
    // A body over the limit: 413 (the client may see only the connection
    // closing while it still writes); the metrics say why.
    if let Ok(answer) = prod.post_with(&rt, &server, vec![b' '; 2_500_000], &[]) {
        assert_eq!(answer.status, 413);
    }
    // A small gzip body that unpacks past the limit.
    let bomb = gzip(&vec![b' '; 3_000_000]);
    let bomb_len = bomb.len();
    let answer = prod
        .post_with(&rt, &server, bomb, &[("content-encoding", "gzip")])
        .unwrap();
    assert_eq!(answer.status, 413, "{}", text(&answer.body));
    let metrics = text(&prod.get(&rt, &server, "/metrics").body);
    assert!(
        metrics.contains(r#"whodid_requests_rejected_total{cluster="prod",reason="too_large"} 3"#),
        "{metrics}"
    );
    // Each 413 is logged with the cluster and the size.
    for size in [
        "body of 1073741824 bytes (Content-Length)".to_owned(),
        "body of 2500000 bytes (Content-Length)".to_owned(),
        format!("body of {bomb_len} bytes gunzips to more than 2000000 bytes"),
    ] {
        wait_for(
            || {
                server.log().lines().any(|l| {
                    l.contains("webhook batch rejected")
                        && l.contains("cluster=prod")
                        && l.contains("status=413")
                        && l.contains(&size)
                })
            },
            &server,
        );
    }

    // A slow-loris client that never finishes its headers is dropped.
    let tls = slow_client_is_dropped(&server.addr);
    assert!(
        tls < Duration::from_secs(5),
        "slow client held the connection for {tls:?}"
    );

    // Still healthy: a good batch is accepted.
    assert_eq!(post(read("k8s/webhook/batch-00012.json.gz")).status, 200);
    let last_events = crate::webhook_replay::items(&read("k8s/webhook/batch-00012.json.gz")).len();
    server.stop();

    let stored = records(&prod.data, Stream::KubeAudit);
    let events = stored
        .iter()
        .filter(|(e, _)| e.action != "whodid.invalid")
        .count();
    assert_eq!(events, good_events + 1 + gz_events + last_events);
    assert_eq!(
        stored
            .iter()
            .filter(|(e, _)| e.action == "whodid.invalid")
            .count(),
        1
    );
}

/// Opens a TCP connection and sends a TLS ClientHello a byte at a time,
/// never finishing: how long until the server hangs up.
fn slow_client_is_dropped(addr: &str) -> Duration {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let start = Instant::now();
    let hello = [0x16u8, 0x03, 0x01, 0x00, 0xff];
    for byte in hello {
        if stream.write_all(&[byte]).is_err() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut buf = [0u8; 16];
    let _ = stream.read(&mut buf);
    start.elapsed()
}
