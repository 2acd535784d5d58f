//! Bad input gets a clear error with its position, never a panic or a
//! runaway search: unbalanced parentheses, unknown fields, ranges on text,
//! huge pages, reversed or future time ranges, an exhausted time budget.

use std::time::Duration;

use whodid_query::parser::parse;
use whodid_query::{
    AggregateKind, AggregateRequest, SearchError, SearchRequest, SearchService, ServiceConfig,
    TimeRange,
};

use crate::data::{fixture_dir, fixture_service, ALL_TIME};

fn error_of(query: &str) -> (usize, String) {
    let error = parse(query).expect_err(query);
    (error.column, error.message)
}

#[test]
fn syntax_errors_point_at_the_column() {
    let cases: &[(&str, usize, &str)] = &[
        ("(verb:get and user.username:bob", 1, "never closed"),
        ("verb:get)", 9, "no matching '('"),
        ("verb:(get or list", 6, "never closed"),
        ("usr.username:bob", 1, "did you mean user.username"),
        ("verb:get and zzz.zzz:1", 14, "unknown field"),
        ("verb >= get", 1, "verb is a text field"),
        ("user.username < alice", 1, "ranges"),
        ("responseStatus.code:4*", 21, "wildcards do not apply"),
        ("responseStatus.code:abc", 21, "not one"),
        ("responseStatus.code >= ", 21, "needs a value"),
        ("time:2026-11-22", 1, "takes ranges"),
        ("time >= yesterday", 9, "RFC 3339"),
        ("verb:get and", 10, "needs a term"),
        ("or verb:get", 1, "operator"),
        ("verb:\"get", 6, "never closed"),
        ("verb: and x", 7, "needs a value"),
        ("verb=get", 5, "'=' is not an operator"),
        ("()", 1, "empty parentheses"),
        (":get", 1, "field name"),
    ];
    for (query, column, words) in cases {
        let (got_column, message) = error_of(query);
        assert_eq!(got_column, *column, "{query}: {message}");
        assert!(message.contains(words), "{query}: {message}");
    }
}

#[test]
fn errors_render_with_a_caret() {
    let error = parse("verb:get and usr.name:x").unwrap_err();
    let text = error.render("verb:get and usr.name:x");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "verb:get and usr.name:x");
    assert!(lines[1].starts_with("             ^ column 14"), "{text}");
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let query = format!("{}verb:get{}", "(".repeat(10_000), ")".repeat(10_000));
    let (column, message) = error_of(&query);
    assert!(message.contains("nests deeper"), "{message}");
    assert_eq!(column, 65);
    let nots = format!("{}verb:get", "not ".repeat(10_000));
    assert!(error_of(&nots).1.contains("nests deeper"));
}

#[test]
fn garbage_never_panics() {
    for query in [
        "\\",
        "\"\\",
        "((((",
        "))))",
        "a:b:c:d",
        "*:*",
        "not",
        "and or not",
        "::",
        "<>",
        "a >",
        "\u{0}",
        "é:ü",
        "annotations.:x",
    ] {
        let _ = parse(query);
    }
    assert!(parse("annotations.:x").is_err());
}

fn request(query: &str, limit: usize) -> SearchRequest {
    SearchRequest {
        query: query.into(),
        range: ALL_TIME,
        limit,
        cursor: None,
        count: true,
    }
}

#[test]
fn page_sizes_are_bounded() {
    let service = fixture_service();
    for limit in [0, 1001, usize::MAX] {
        match service.search(&request("", limit)) {
            Err(SearchError::Parameter {
                parameter: "limit",
                message,
            }) => {
                assert!(message.contains("1..=1000"), "{message}")
            }
            other => panic!("limit {limit}: {other:?}"),
        }
    }
}

#[test]
fn bad_cursors_and_fields_are_named() {
    let service = fixture_service();
    let mut bad = request("", 10);
    bad.cursor = Some("yesterday".into());
    assert!(matches!(
        service.search(&bad),
        Err(SearchError::Parameter {
            parameter: "cursor",
            ..
        })
    ));
    for (field, words) in [
        ("auditID", "no column"),
        ("time", "histogram"),
        ("nope", "unknown field"),
    ] {
        let result = service.aggregate(&AggregateRequest {
            query: String::new(),
            range: ALL_TIME,
            kind: AggregateKind::Terms {
                field: field.into(),
                size: 10,
            },
        });
        match result {
            Err(SearchError::Parameter {
                parameter: "field",
                message,
            }) => {
                assert!(message.contains(words), "{field}: {message}")
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let too_fine = service.aggregate(&AggregateRequest {
        query: String::new(),
        range: ALL_TIME,
        kind: AggregateKind::Histogram {
            interval_micros: 1_000_000,
        },
    });
    assert!(
        matches!(
            too_fine,
            Err(SearchError::Parameter {
                parameter: "interval",
                ..
            })
        ),
        "{too_fine:?}"
    );
}

#[test]
fn a_spent_budget_stops_the_search_and_says_so() {
    let service = SearchService::new(
        fixture_dir(),
        ServiceConfig {
            budget: Duration::ZERO,
            ..ServiceConfig::default()
        },
    );
    let page = service.search(&request("", 100)).unwrap();
    assert!(page.budget_exceeded);
    let agg = service
        .aggregate(&AggregateRequest {
            query: String::new(),
            range: ALL_TIME,
            kind: AggregateKind::Distinct {
                field: "verb".into(),
            },
        })
        .unwrap();
    assert!(agg.budget_exceeded);
    // With time to spare the same search completes.
    assert!(
        !fixture_service()
            .search(&request("", 100))
            .unwrap()
            .budget_exceeded
    );
}

#[test]
fn reversed_and_future_ranges_are_refused() {
    let now: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let reversed = TimeRange::resolve(
        None,
        Some("2026-11-22T10:00:00Z"),
        Some("2026-11-22T09:00:00Z"),
        now,
        "24h",
    );
    assert!(matches!(
        reversed,
        Err(SearchError::Parameter {
            parameter: "to",
            ..
        })
    ));
    let future = TimeRange::resolve(None, Some("2027-11-22T10:00:00Z"), None, now, "24h");
    assert!(matches!(
        future,
        Err(SearchError::Parameter {
            parameter: "from",
            ..
        })
    ));
    let bad = TimeRange::resolve(Some("a while"), None, None, now, "24h");
    assert!(matches!(
        bad,
        Err(SearchError::Parameter {
            parameter: "since",
            ..
        })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

    /// Any text: a query or an error whose column lies within it, never a panic.
    #[test]
    fn any_text_parses_or_points_inside_it(query in "[a-z.:*()\" \\\\<>=!-]{0,40}|\\PC{0,20}") {
        if let Err(error) = parse(&query) {
            proptest::prop_assert!(error.column >= 1 && error.column <= query.chars().count() + 1, "{}", error.render(&query));
        }
    }
}
