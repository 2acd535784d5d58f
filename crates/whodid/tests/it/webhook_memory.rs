//! Memory of the real `whodid serve` under adversarial webhook bodies at the
//! body limit: a list of empty items, deep nesting, an event of millions of
//! tiny strings, events of many tiny strings within the limits, many items
//! of tiny strings. Its peak RSS (`VmHWM`) stays under [`BOUND_MB`] with
//! 16 MB bodies — before the parse limits, a 3 MB body of `{}` items alone
//! reached 1 GB (each item became a record of its own) and was answered 200.
//! A real 16 MB batch peaks near 100 MB in the same setup.

use crate::server::{runtime, Prod, Server};
use crate::util::text;

/// The body limit of the test.
const LIMIT: usize = 16_000_000;

/// The peak RSS the server must stay under, in MB.
const BOUND_MB: u64 = 256;

const HEAD: &str = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":["#;
const TAIL: &str = "]}";

/// A body of `item(i)` items, as many as fit in `LIMIT`.
fn fill(item: impl Fn(usize) -> String) -> Vec<u8> {
    let mut body = HEAD.to_owned();
    for i in 0.. {
        let next = item(i);
        if body.len() + next.len() + 1 + TAIL.len() > LIMIT {
            break;
        }
        if i > 0 {
            body.push(',');
        }
        body.push_str(&next);
    }
    body.push_str(TAIL);
    body.into_bytes()
}

/// `n` empty strings, comma-separated.
fn tiny_strings(n: usize) -> String {
    vec![r#""""#; n].join(",")
}

/// A Secret create whose request body holds `n` tiny strings: an event the
/// redaction decodes in full.
fn secret_event(i: usize, n: usize) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"mem-{i}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/a/secrets","verb":"create","user":{{"username":"mallory"}},"stageTimestamp":"2026-11-22T18:26:19.000000Z","requestReceivedTimestamp":"2026-11-22T18:26:19.000000Z","objectRef":{{"resource":"secrets","namespace":"a","name":"s{i}","apiVersion":"v1"}},"requestObject":{{"kind":"Secret","apiVersion":"v1","metadata":{{"name":"s{i}"}},"data":{{"k":"dg=="}},"x":[{}]}}}}"#,
        tiny_strings(n)
    )
}

/// Peak resident memory of `pid`, in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

#[test]
fn adversarial_bodies_at_the_body_limit_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let server: Server = prod.serve(
        dir.path(),
        &format!("limits:\n  max_body_bytes: {LIMIT}\n  max_inflight_bytes: {LIMIT}\n"),
        "",
    );
    let rt = runtime();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "empty items",
            fill(|_| "{}".to_owned()),
            413,
            "limits.max_batch_items",
        ),
        (
            "deep nesting",
            format!(
                "{HEAD}{}{}{TAIL}",
                "[".repeat(LIMIT / 2 - 64),
                "]".repeat(LIMIT / 2 - 64)
            )
            .into_bytes(),
            400,
            "limits.max_json_depth",
        ),
        (
            "one event of millions of tiny strings",
            format!("{HEAD}[{}]{TAIL}", tiny_strings(LIMIT / 3 - 64)).into_bytes(),
            413,
            "limits.max_event_values",
        ),
        (
            "Secret events of 900,000 tiny strings each (decoded in full)",
            fill(|i| secret_event(i, 900_000)),
            200,
            r#""redacted":"#,
        ),
        (
            "9,000 items of tiny strings",
            fill(|_| format!("[{}]", tiny_strings(LIMIT / 9_000 / 3))),
            200,
            r#""invalid":"#,
        ),
    ];
    for (what, body, status, says) in cases {
        assert!(body.len() <= LIMIT, "{what}: {} bytes", body.len());
        let answer = prod.post(&rt, &server, body);
        assert_eq!(answer.status, status, "{what}: {}", text(&answer.body));
        assert!(
            text(&answer.body).contains(says),
            "{what}: {}",
            text(&answer.body)
        );
        let peak = peak_rss_mb(server.pid());
        assert!(
            peak < BOUND_MB,
            "{what}: peak RSS {peak} MB, over the bound of {BOUND_MB} MB"
        );
    }
    // Still well: a real batch is stored.
    let real = prod.post(
        &rt,
        &server,
        crate::util::read("k8s/webhook/batch-00011.json"),
    );
    assert_eq!(real.status, 200, "{}", text(&real.body));
    let peak = peak_rss_mb(server.pid());
    assert!(peak < BOUND_MB, "peak RSS {peak} MB");
    eprintln!("peak RSS of whodid serve: {peak} MB (bound {BOUND_MB} MB)");
    server.stop();
}
