//! Queries that would make the engine blow up are refused with a 400 that
//! names what was too expensive, never a 500 with the engine's text; an
//! export past its time limit ends with a line saying it was cut.

use std::time::Duration;

use serde_json::Value;
use whodid_query::cost::{MAX_QUERY_CHARS, MAX_STARS, MAX_WILDCARDS};
use whodid_query::{SearchError, SearchService, ServiceConfig};

use crate::data::{fixture_dir, fixture_service, ALL_TIME};
use crate::http_api::{check, get_from, serve, spec};

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Queries that each cost too much, and a word the refusal must contain.
fn abusive() -> Vec<(String, &'static str)> {
    vec![
        // tantivy: "Compiled regex exceeds size limit of 1000 states" (a 500 before).
        (format!("*{}*", "é".repeat(250)), "automaton"),
        (vec!["ab"; MAX_STARS + 2].join("*"), "`*`"),
        (
            (0..MAX_WILDCARDS + 1)
                .map(|i| format!("*x{i}*"))
                .collect::<Vec<_>>()
                .join(" or "),
            "wildcard values",
        ),
        (
            (0..1100)
                .map(|i| format!("v{i}"))
                .collect::<Vec<_>>()
                .join(" "),
            "terms",
        ),
        (
            format!("verb:{}", "a".repeat(MAX_QUERY_CHARS)),
            "characters",
        ),
        (format!("*{}*", "a".repeat(300)), "characters"),
    ]
}

#[test]
fn too_expensive_queries_are_refused_with_a_message() {
    let service = fixture_service();
    for (query, word) in abusive() {
        let request = whodid_query::SearchRequest {
            query: query.clone(),
            range: ALL_TIME,
            limit: 10,
            cursor: None,
            count: true,
        };
        match service.search(&request) {
            Err(error @ SearchError::TooExpensive { .. }) => {
                assert!(error.to_string().contains(word), "{error}");
                assert!(error.is_bad_request());
            }
            other => panic!("{}: {other:?}", &query[..40.min(query.len())]),
        }
    }
}

#[test]
fn too_expensive_queries_get_400_over_http() {
    let addr = serve(fixture_service());
    let spec = spec();
    for (query, word) in abusive() {
        for path in ["/search", "/who/alice%40example.com", "/aggregate"] {
            let extra = if path == "/aggregate" {
                "&field=verb"
            } else {
                ""
            };
            let url = format!("{path}?q={}&since=100000d{extra}", encode(&query));
            let (status, _, body) = get_from(addr, &url);
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(status, 400, "{path}: {body}");
            check(&spec, &spec["components"]["schemas"]["Error"], &body, path);
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("too expensive"), "{message}");
            assert!(message.contains(word), "{message}");
            assert!(!message.contains("RegexQueryError"), "{message}");
            assert!(!message.contains("invalid argument"), "{message}");
            assert_eq!(body["error"]["parameter"], "q");
        }
    }
}

#[test]
fn an_export_past_its_time_limit_says_it_was_cut() {
    let service = SearchService::new(
        fixture_dir(),
        ServiceConfig {
            export_budget: Duration::ZERO,
            ..ServiceConfig::default()
        },
    );
    let addr = serve(service);
    let spec = spec();
    let (status, _, body) = get_from(addr, "/search?since=100000d&format=ndjson&limit=5000");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let end: Value = serde_json::from_str(lines.pop().unwrap()).unwrap();
    check(
        &spec,
        &spec["components"]["schemas"]["ExportEnd"],
        &end,
        "end",
    );
    assert!(
        end["export"]["cut"]
            .as_str()
            .unwrap()
            .contains("time limit"),
        "{end}"
    );
    // One internal page went out before the limit was looked at.
    assert_eq!(lines.len(), 1000);
    assert_eq!(end["export"]["records"], 1000);
    let cursor = end["export"]["next_cursor"].as_str().unwrap();
    let (_, _, body) = get_from(
        addr,
        &format!("/search?since=100000d&format=csv&limit=5000&cursor={cursor}"),
    );
    let text = String::from_utf8(body).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("# export cut after 1000 records"),
        "{last}"
    );
    assert!(last.contains("cursor="), "{last}");
}
