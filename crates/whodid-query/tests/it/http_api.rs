//! The HTTP API against `docs/openapi.yaml`: every route is documented,
//! every documented path answers with the documented shape (JSON checked
//! against the schema; NDJSON lines against `Hit`; CSV's header), and the
//! documented bad requests answer 400 with the error shape. Served by the
//! real router on 127.0.0.1, on a port the test picks.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use whodid_query::http::{router, ROUTES};
use whodid_query::{SearchService, ServiceConfig};

use crate::data::fixture_dir;

pub(crate) fn spec() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| serve(SearchService::new(fixture_dir(), ServiceConfig::default())))
}

/// Serves `service`'s router on a port of its own.
pub(crate) fn serve(service: SearchService) -> SocketAddr {
    let service = Arc::new(service);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router(service)).await.unwrap();
        });
    });
    addr
}

/// GET `path_and_query` from the fixture server: (status, content type, body).
fn get(path_and_query: &str) -> (u16, String, Vec<u8>) {
    get_from(server(), path_and_query)
}

/// GET `path_and_query` from `addr`: (status, content type, body).
pub(crate) fn get_from(addr: SocketAddr, path_and_query: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut body = response[split + 4..].to_vec();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    if header("transfer-encoding") == "chunked" {
        body = dechunk(&body);
    }
    (status, header("content-type"), body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference}")),
            )
        }
        None => node,
    }
}

/// A small JSON Schema check: type, required, properties, items, enum,
/// additionalProperties, $ref.
pub(crate) fn check(spec: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(spec, schema);
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("schema type {other}"),
        };
        assert!(ok, "{at}: expected {kind}, got {value}");
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        assert!(options.contains(value), "{at}: {value} not in {options:?}");
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required {
            let name = name.as_str().unwrap();
            assert!(value.get(name).is_some(), "{at}: missing {name} in {value}");
        }
    }
    if let (Some(props), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, sub) in props {
            if let Some(v) = object.get(name) {
                check(spec, sub, v, &format!("{at}.{name}"));
            }
        }
    }
    if let (Some(extra), Some(object)) = (schema.get("additionalProperties"), value.as_object()) {
        if extra.is_object() {
            for (name, v) in object {
                check(spec, extra, v, &format!("{at}.{name}"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(spec, items, v, &format!("{at}[{i}]"));
        }
    }
}

/// The URL of an operation from its parameters' examples.
fn example_url(spec: &Value, path: &str, operation: &Value) -> String {
    let mut url = path.to_owned();
    let mut query = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let parameter = resolve(spec, parameter);
        let Some(example) = parameter.get("example") else {
            continue;
        };
        let text = match example {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let name = parameter["name"].as_str().unwrap();
        match parameter["in"].as_str().unwrap() {
            "path" => url = url.replace(&format!("{{{name}}}"), &encode(&text)),
            _ => query.push(format!("{name}={}", encode(&text))),
        }
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_path_exists() {
    let spec = spec();
    let documented: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut routes = ROUTES.to_vec();
    routes.sort_unstable();
    let mut sorted = documented.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, routes);
}

#[test]
fn documented_paths_answer_with_the_documented_shapes() {
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let operation = &item["get"];
        let url = example_url(&spec, path, operation);
        let (status, content_type, body) = get(&url);
        assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
        assert!(
            content_type.starts_with("application/json"),
            "{url}: {content_type}"
        );
        let value: Value = serde_json::from_slice(&body).unwrap();
        check(
            &spec,
            &operation["responses"]["200"]["content"]["application/json"]["schema"],
            &value,
            &url,
        );
        if path == "/search" || path == "/who/{person}" {
            assert!(
                !value["hits"].as_array().unwrap().is_empty(),
                "{url}: no hits: the example should find some"
            );
        }
        if let Some(bad) = operation.get("x-bad-example").and_then(Value::as_str) {
            let url = format!("{}?{bad}", path.replace("{person}", "alice%40example.com"));
            let (status, content_type, body) = get(&url);
            assert_eq!(status, 400, "{url}");
            assert!(content_type.starts_with("application/json"));
            let value: Value = serde_json::from_slice(&body).unwrap();
            check(
                &spec,
                &operation["responses"]["400"]["content"]["application/json"]["schema"],
                &value,
                &url,
            );
        }
    }
}

#[test]
fn query_errors_carry_their_column() {
    let (status, _, body) = get("/search?q=verb%3Aget%20and%20usr.username%3Ax&since=100000d");
    assert_eq!(status, 400);
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["error"]["column"], 14);
    assert_eq!(value["error"]["parameter"], "q");
    assert!(value["error"]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean"));
    let (status, _, body) = get("/search?from=2999-01-01T00:00:00Z");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("future"));
}

#[test]
fn ndjson_streams_every_page_and_csv_has_the_header() {
    let spec = spec();
    let hit_schema = &spec["components"]["schemas"]["Hit"];
    // 2,947 kubeaudit records: three internal pages of 1000.
    let (status, content_type, body) =
        get("/search?q=stream%3Akubeaudit&since=100000d&format=ndjson&limit=2500");
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-ndjson");
    let mut lines: Vec<&[u8]> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // More match than the limit: the last line says so, and where to go on.
    let end: Value = serde_json::from_slice(lines.pop().unwrap()).unwrap();
    check(
        &spec,
        &spec["components"]["schemas"]["ExportEnd"],
        &end,
        "end",
    );
    assert_eq!(end["export"]["records"], 2500);
    assert!(
        end["export"]["cut"]
            .as_str()
            .unwrap()
            .contains("limit of 2500"),
        "{end}"
    );
    assert!(end["export"]["next_cursor"].is_string());
    assert_eq!(lines.len(), 2500);
    let mut seqs = std::collections::BTreeSet::new();
    for line in &lines {
        let hit: Value = serde_json::from_slice(line).unwrap();
        check(&spec, hit_schema, &hit, "ndjson");
        assert!(seqs.insert(hit["seq"].as_u64().unwrap()));
    }
    let (status, content_type, body) = get("/who/eve%40example.com?format=csv");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"));
    let text = String::from_utf8(body).unwrap();
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some("time,stream,seq,actor,via,action,target,namespace,outcome,source,mark")
    );
    assert_eq!(rows.clone().count(), 18);
    assert!(
        rows.all(|r| r.contains(",eve@example.com,ubuntu,") && r.ends_with(",as account ubuntu"))
    );
}

#[test]
fn pages_follow_the_cursor() {
    let (_, _, body) = get("/search?q=verb%3Aget&since=100000d&limit=500");
    let first: Value = serde_json::from_slice(&body).unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, _, body) = get(&format!(
        "/search?q=verb%3Aget&since=100000d&limit=500&cursor={cursor}"
    ));
    let second: Value = serde_json::from_slice(&body).unwrap();
    let total = first["matched"].as_u64().unwrap();
    assert_eq!(second["matched"].as_u64().unwrap(), total - 500);
    let last_of_first = first["hits"][499]["time"].as_str().unwrap().to_owned();
    let first_of_second = second["hits"][0]["time"].as_str().unwrap().to_owned();
    assert!(last_of_first >= first_of_second);
}
