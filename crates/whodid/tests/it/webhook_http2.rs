//! The webhook over HTTP/2 (TLS, ALPN `h2`): the captured bodies posted as
//! concurrent streams of one connection, one of them gzip-encoded, each
//! event stored exactly once; the same again is all deduplicated.

use std::collections::BTreeMap;

use whodid_model::Stream;
use whodid_server::client::{Answer, ClientConfig, WebhookClient};

use crate::server::{identity_of, records, runtime, within, Prod};
use crate::util::{gzip, text};
use crate::webhook_replay::{items, webhook_bodies};

/// Posts every body at once, each on its own stream of `connection`; the
/// last one gzip-encoded.
async fn post_all(connection: &WebhookClient, bodies: &[Vec<u8>]) -> Vec<Answer> {
    let mut streams = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let mut stream = connection
            .stream()
            .expect("an HTTP/2 connection has streams");
        let (body, headers): (Vec<u8>, &[(&str, &str)]) = if i + 1 == bodies.len() {
            (gzip(body), &[("content-encoding", "gzip")])
        } else {
            (body.clone(), &[])
        };
        streams.push(tokio::spawn(async move {
            stream
                .post("/k8s-audit/prod?timeout=30s", body.into(), headers)
                .await
        }));
    }
    let mut answers = Vec::new();
    for stream in streams {
        answers.push(stream.await.unwrap().expect("an answer on the h2 stream"));
    }
    answers
}

#[test]
fn captured_bodies_over_http2_streams_of_one_connection_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let server = prod.serve(dir.path(), "", "");
    let bodies: Vec<Vec<u8>> = webhook_bodies().into_iter().map(|(_, b)| b).collect();
    let mut sent: BTreeMap<(String, String), usize> = BTreeMap::new();
    for body in &bodies {
        for item in items(body) {
            sent.insert(identity_of(&item), 0);
        }
    }
    let rt = runtime();
    let (first, second) = rt.block_on(within(async {
        let config =
            ClientConfig::new(prod.ca.cert_pem(), Some((&prod.id.cert, &prod.id.key))).unwrap();
        let connection = WebhookClient::connect_http2(&config, &server.addr, "localhost", None)
            .await
            .expect("an HTTP/2 connection");
        assert_eq!(connection.protocol(), "h2");
        let first = post_all(&connection, &bodies).await;
        // The apiserver retries what it got no answer for: all again.
        let second = post_all(&connection, &bodies).await;
        (first, second)
    }));
    let mut accepted = 0;
    for (i, answer) in first.iter().enumerate() {
        assert_eq!(answer.status, 200, "body {i}: {}", text(&answer.body));
        let answer: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        accepted += answer["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted as usize, sent.len(), "every event accepted once");
    for (i, answer) in second.iter().enumerate() {
        assert_eq!(answer.status, 200, "retry {i}: {}", text(&answer.body));
        let answer: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(answer["accepted"], 0, "retry {i} stored nothing: {answer}");
        assert_eq!(answer["deduplicated"], answer["received"], "retry {i}");
    }
    server.stop();

    for (_, raw) in records(&prod.data, Stream::KubeAudit) {
        let key = identity_of(&raw);
        *sent
            .get_mut(&key)
            .unwrap_or_else(|| panic!("stored but never sent: {key:?}")) += 1;
    }
    let wrong: Vec<_> = sent.iter().filter(|(_, &n)| n != 1).collect();
    assert!(wrong.is_empty(), "not stored exactly once: {wrong:?}");
}
