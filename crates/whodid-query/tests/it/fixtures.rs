//! Known questions about the real capture have known answers (from
//! `/work/shared/fixtures/k8s/capture/{users,stats}.md` and the scenario),
//! and the timeline follows one person across streams.

use std::collections::BTreeMap;

use whodid_query::{AggregateKind, AggregateRequest, Page, SearchRequest};

use crate::data::{fixture_service, ALL_TIME};

fn search(query: &str, limit: usize) -> Page {
    fixture_service()
        .search(&SearchRequest {
            query: query.into(),
            range: ALL_TIME,
            limit,
            cursor: None,
            count: true,
        })
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn users(page: &Page) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for hit in &page.hits {
        *out.entry(
            hit.raw["user"]["username"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
        .or_default() += 1;
    }
    out
}

#[test]
fn who_bound_someone_to_cluster_admin() {
    let page = search(
        "objectRef.resource:clusterrolebindings and verb:create and stage:ResponseComplete \
         and requestObject.roleRef.name:cluster-admin and not user.username:system:*",
        100,
    );
    assert_eq!(page.matched, Some(1), "{page:#?}");
    let hit = &page.hits[0];
    assert_eq!(hit.envelope["actor"]["name"], "bob@example.com");
    assert_eq!(hit.raw["objectRef"]["name"], "ci-deployer-admin");
    assert_eq!(hit.raw["responseStatus"]["code"], 201);
}

#[test]
fn forbidden_requests_are_the_65_of_stats_md() {
    // stats.md counts response codes of ResponseComplete events: 403 → 65.
    let page = search("responseStatus.code:403 and stage:ResponseComplete", 1000);
    assert_eq!(page.matched, Some(65));
    assert_eq!(page.hits.len(), 65);
    assert!(page.hits.iter().all(|h| h.envelope["outcome"] == "denied"));
    // Two more 403s are ResponseStarted events (watches refused).
    assert_eq!(search("responseStatus.code:403", 1).matched, Some(67));
    // The same answer from the envelope: denied and complete.
    let denied = search(
        "outcome:denied and stage:ResponseComplete and responseStatus.code:403",
        1,
    );
    assert_eq!(denied.matched, Some(65));
}

#[test]
fn who_read_secrets() {
    let read =
        "objectRef.resource:secrets and verb:(get or list or watch) and stage:ResponseComplete";
    let ok = search(&format!("{read} and responseStatus.code:200"), 100);
    assert_eq!(
        users(&ok),
        BTreeMap::from([
            ("bob@example.com".to_owned(), 7),
            ("system:apiserver".to_owned(), 3)
        ])
    );
    let refused = search(&format!("{read} and responseStatus.code:403"), 100);
    let names: Vec<(&str, &str)> = refused
        .hits
        .iter()
        .map(|h| {
            (
                h.envelope["actor"]["name"].as_str().unwrap(),
                h.envelope["actor"]["via"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(refused.matched, Some(3), "{names:?}");
    assert!(names.contains(&("alice@example.com", "")));
}

#[test]
fn top_users_match_stats_md() {
    let agg = fixture_service()
        .aggregate(&AggregateRequest {
            query: "stage:ResponseComplete".into(),
            range: ALL_TIME,
            kind: AggregateKind::Terms {
                field: "user.username".into(),
                size: 3,
            },
        })
        .unwrap();
    let top: Vec<(&str, u64)> = agg
        .buckets
        .iter()
        .map(|b| (b.key.as_str(), b.count))
        .collect();
    // stats.md, users (ResponseComplete).
    assert_eq!(
        top,
        [
            ("system:apiserver", 596),
            ("alice@example.com", 326),
            ("bob@example.com", 190)
        ]
    );
    assert_eq!(agg.matched, 1426);
    // The other five users of stats.md: 163 + 91 + 32 + 14 + 14.
    assert_eq!(agg.other, Some(314));
}

fn timeline(person: &str) -> Page {
    fixture_service()
        .who(
            person,
            "",
            &SearchRequest {
                query: String::new(),
                range: ALL_TIME,
                limit: 1000,
                cursor: None,
                count: true,
            },
        )
        .unwrap()
}

#[test]
fn timeline_follows_a_person_across_streams_newest_first() {
    let page = timeline("alice@example.com");
    let mut per_stream: BTreeMap<&str, usize> = BTreeMap::new();
    for hit in &page.hits {
        *per_stream.entry(hit.stream.as_str()).or_default() += 1;
    }
    // Her Kubernetes requests (every stage) and her SSH key's sessions.
    assert!(per_stream["kubeaudit"] > 326, "{per_stream:?}");
    assert_eq!(per_stream["authlog"], 12, "{per_stream:?}");
    let times: Vec<&str> = page.hits.iter().map(|h| h.time.as_str()).collect();
    let parsed: Vec<jiff::Timestamp> = times.iter().map(|t| t.parse().unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // What bob did as her is hers to see, marked.
    let as_alice: Vec<_> = page
        .hits
        .iter()
        .filter(|h| h.mark.as_deref() == Some("impersonated by bob@example.com"))
        .collect();
    assert!(!as_alice.is_empty());
    assert!(as_alice
        .iter()
        .all(|h| h.raw["impersonatedUser"]["username"] == "alice@example.com"));
    // …and bob sees the same requests marked the other way.
    let bob = timeline("bob@example.com");
    let impersonating = bob
        .hits
        .iter()
        .filter(|h| h.mark.as_deref() == Some("impersonating alice@example.com"))
        .count();
    assert_eq!(impersonating, as_alice.len());
}

#[test]
fn a_shared_account_login_is_the_key_owners() {
    let page = timeline("eve@example.com");
    assert_eq!(page.matched, Some(18));
    assert!(page.hits.iter().all(|h| h.stream == "authlog"));
    assert!(page
        .hits
        .iter()
        .all(|h| h.mark.as_deref() == Some("as account ubuntu")));
    assert!(page
        .hits
        .iter()
        .any(|h| h.envelope["action"].as_str().unwrap().starts_with("ssh.")));
    // The shared account's own timeline shows who used it.
    let ubuntu = timeline("ubuntu");
    assert!(ubuntu
        .hits
        .iter()
        .any(|h| h.mark.as_deref() == Some("account used by eve@example.com")));
}

#[test]
fn database_roles_have_timelines_too() {
    let page = timeline("dba_alice");
    assert_eq!(page.matched, Some(44));
    assert!(page.hits.iter().all(|h| h.stream == "pgaudit"));
}

#[test]
fn cursor_pages_cover_everything_once() {
    let service = fixture_service();
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = service
            .search(&SearchRequest {
                query: "stream:kubeaudit".into(),
                range: ALL_TIME,
                limit: 400,
                cursor,
                count: pages == 0,
            })
            .unwrap();
        pages += 1;
        for hit in &page.hits {
            assert!(seen.insert(hit.seq), "seq {} twice", hit.seq);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2947);
    assert_eq!(pages, 8);
}
