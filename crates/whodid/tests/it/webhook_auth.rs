//! A cluster's identity comes from its credential: a certificate for
//! cluster A never writes events attributed to cluster B; no credential, a
//! certificate of another CA, an expired certificate: rejected.

use whodid_model::Stream;
use whodid_server::pki::LocalCa;

use crate::server::{ca, client, post_once, records, runtime, Server};
use crate::util::read;

fn batch() -> Vec<u8> {
    read("k8s/webhook/batch-00011.json")
}

#[test]
fn credentials_decide_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ca = ca(&data);
    let a = ca.issue_client("cluster-a", 30).unwrap();
    let b = ca.issue_client("cluster-b", 30).unwrap();
    let expired = ca.issue_client("cluster-a", -1).unwrap();
    let unknown_cn = ca.issue_client("not-a-cluster", 30).unwrap();
    let other_ca = LocalCa::load_or_create(&dir.path().join("other-ca")).unwrap();
    let foreign = other_ca.issue_client("cluster-a", 30).unwrap();
    let token = dir.path().join("b.token");
    std::fs::write(&token, "token-of-cluster-b-0123456789\n").unwrap();
    let server = Server::start(
        dir.path(),
        &format!(
            "data: {}\nclusters:\n  - name: cluster-a\n  - name: cluster-b\n    bearer_token_files: [{}]\n",
            data.display(),
            token.display()
        ),
    );
    let rt = runtime();
    let post = |identity, path: &str| {
        rt.block_on(post_once(
            ca.cert_pem(),
            identity,
            &server.addr,
            path,
            batch(),
        ))
    };

    assert_eq!(post(Some(&a), "/k8s-audit/cluster-a").unwrap().status, 200);
    let forbidden = post(Some(&a), "/k8s-audit/cluster-b").unwrap();
    assert_eq!(forbidden.status, 403);
    assert!(
        String::from_utf8_lossy(&forbidden.body).contains("cluster-a"),
        "{forbidden:?}"
    );
    assert_eq!(post(None, "/k8s-audit/cluster-a").unwrap().status, 401);
    assert_eq!(
        post(Some(&unknown_cn), "/k8s-audit/cluster-a")
            .unwrap()
            .status,
        401
    );
    assert_eq!(post(Some(&b), "/k8s-audit/cluster-b").unwrap().status, 200);
    // An unknown cluster's endpoint with a valid credential of another one.
    assert_eq!(post(Some(&b), "/k8s-audit/cluster-c").unwrap().status, 403);

    // A certificate of another CA, or an expired one, fails the handshake
    // (or, with TLS 1.3, the first request).
    for (what, identity) in [("foreign CA", &foreign), ("expired", &expired)] {
        let outcome = post(Some(identity), "/k8s-audit/cluster-a");
        assert!(outcome.is_err(), "{what}: accepted: {outcome:?}");
    }

    // A bearer token is cluster-b's, whatever the path says.
    let with_token = |path: &'static str, token: &'static str| {
        rt.block_on(async {
            let mut c = client(ca.cert_pem(), None, &server.addr, Some(token))
                .await
                .unwrap();
            c.post(path, batch().into(), &[]).await.unwrap().status
        })
    };
    assert_eq!(
        with_token("/k8s-audit/cluster-a", "token-of-cluster-b-0123456789"),
        403
    );
    assert_eq!(with_token("/k8s-audit/cluster-b", "wrong-token"), 401);
    server.stop();

    let stored = records(&data, Stream::KubeAudit);
    let per_batch = crate::webhook_replay::items(&batch()).len();
    let of = |c: &str| stored.iter().filter(|(e, _)| e.cluster == c).count();
    assert_eq!(of("cluster-a"), per_batch);
    assert_eq!(of("cluster-b"), per_batch);
    assert_eq!(stored.len(), 2 * per_batch, "nothing else was stored");
}
