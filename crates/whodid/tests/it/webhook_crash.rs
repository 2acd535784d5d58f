//! `kill -9` of whodid while a client posts batches and retries failures
//! like the apiserver does: after each restart, every batch that got a 200
//! is stored exactly once, and so is every batch retried until it got one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use whodid_model::Stream;

use crate::server::{ca, identity_of, records, runtime, Server};
use crate::util::read;

/// Enough that the senders are still busy at the last kill (a faster server
/// finished 80 within the first rounds, leaving later kills nothing to hit).
const BATCHES: usize = 1200;
const PER_BATCH: usize = 40;
const KILLS: usize = 20;

/// Batches of capture events with auditIDs unique to this test.
fn batches() -> Vec<Vec<u8>> {
    let log = read("k8s/capture-audit.log.gz");
    let events: Vec<serde_json::Value> = log
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(PER_BATCH * 4)
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    (0..BATCHES)
        .map(|b| {
            let items: Vec<serde_json::Value> = (0..PER_BATCH)
                .map(|i| {
                    let mut e = events[(b * 7 + i) % events.len()].clone();
                    let map = e.as_object_mut().unwrap();
                    map.remove("kind");
                    map.remove("apiVersion");
                    map.insert("auditID".into(), format!("crash-{b}-{i}").into());
                    e
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})).unwrap()
        })
        .collect()
}

#[test]
fn kill_9_while_posting_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ca = ca(&data);
    let id = ca.issue_client("prod", 30).unwrap();
    let yaml = format!("data: {}\nclusters:\n  - name: prod\n", data.display());
    let bodies = Arc::new(batches());
    let pending: Arc<Mutex<VecDeque<usize>>> = Arc::new(Mutex::new((0..BATCHES).collect()));
    let acked: Arc<Mutex<BTreeMap<usize, u32>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let in_flight: Arc<Mutex<std::collections::BTreeSet<usize>>> = Arc::default();
    let rt = runtime();
    let mut kills_with_acks_in_flight = 0;
    for round in 0..=KILLS {
        let server = Server::start(dir.path(), &yaml);
        let addr = server.addr.clone();
        let before = acked.lock().unwrap().len();
        let work = rt.spawn(post_until_done(
            ca.cert_pem().to_owned(),
            id.clone(),
            addr,
            Arc::clone(&bodies),
            Arc::clone(&pending),
            Arc::clone(&acked),
            Arc::clone(&in_flight),
        ));
        if round < KILLS {
            // Kill at a point that moves with the round: early, mid-batch, late.
            std::thread::sleep(Duration::from_millis(40 + (round as u64 * 37) % 260));
            server.kill9();
            work.abort();
            let _ = rt.block_on(work);
            // Batches whose sender was stopped mid-post are retried too.
            let stranded: Vec<usize> = std::mem::take(&mut *in_flight.lock().unwrap())
                .into_iter()
                .collect();
            pending.lock().unwrap().extend(stranded);
            if acked.lock().unwrap().len() > before {
                kills_with_acks_in_flight += 1;
            }
            // What got a 200 so far is durable: check after every kill.
            let stored = records(&data, Stream::KubeAudit);
            let ids: std::collections::BTreeSet<String> =
                stored.iter().map(|(_, raw)| identity_of(raw).0).collect();
            for batch in acked.lock().unwrap().keys() {
                for i in 0..PER_BATCH {
                    assert!(
                        ids.contains(&format!("crash-{batch}-{i}")),
                        "round {round}: batch {batch} got a 200 but event {i} is missing"
                    );
                }
            }
        } else {
            rt.block_on(work).unwrap();
            server.stop();
        }
    }
    assert!(
        kills_with_acks_in_flight >= 5,
        "kills hit posting only {kills_with_acks_in_flight} times"
    );
    assert_eq!(acked.lock().unwrap().len(), BATCHES);
    let stored = records(&data, Stream::KubeAudit);
    let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (_, raw) in &stored {
        *count.entry(identity_of(raw)).or_default() += 1;
    }
    let doubled: Vec<_> = count.iter().filter(|(_, &n)| n > 1).collect();
    assert!(doubled.is_empty(), "stored twice: {doubled:?}");
    assert_eq!(count.len(), BATCHES * PER_BATCH, "every event stored");
    let verify = crate::util::whodid(&["verify", "--data", data.to_str().unwrap()], b"");
    assert!(
        verify.status.success(),
        "{}",
        crate::util::text(&verify.stdout)
    );
}

/// Four senders take batches from `pending`, post them, and put them back
/// on any failure (the apiserver retries every error).
async fn post_until_done(
    ca_pem: String,
    id: whodid_server::pki::PemPair,
    addr: String,
    bodies: Arc<Vec<Vec<u8>>>,
    pending: Arc<Mutex<VecDeque<usize>>>,
    acked: Arc<Mutex<BTreeMap<usize, u32>>>,
    in_flight: Arc<Mutex<std::collections::BTreeSet<usize>>>,
) {
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (ca_pem, id, addr) = (ca_pem.clone(), id.clone(), addr.clone());
        let (bodies, pending, acked) = (
            Arc::clone(&bodies),
            Arc::clone(&pending),
            Arc::clone(&acked),
        );
        let in_flight = Arc::clone(&in_flight);
        senders.push(tokio::spawn(async move {
            loop {
                let Some(batch) = pending.lock().unwrap().pop_front() else {
                    return;
                };
                in_flight.lock().unwrap().insert(batch);
                let answer = match crate::server::client(&ca_pem, Some(&id), &addr, None).await {
                    Ok(mut c) => c
                        .post("/k8s-audit/prod", bodies[batch].clone().into(), &[])
                        .await
                        .ok(),
                    Err(_) => None,
                };
                // Settle the batch before it leaves `in_flight`: an abort in
                // between leaves it in both places, and it is posted again.
                let ok = matches!(&answer, Some(a) if a.status == 200);
                if ok {
                    *acked.lock().unwrap().entry(batch).or_default() += 1;
                } else {
                    pending.lock().unwrap().push_back(batch);
                }
                in_flight.lock().unwrap().remove(&batch);
                if !ok {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for s in senders {
        let _ = s.await;
    }
}
