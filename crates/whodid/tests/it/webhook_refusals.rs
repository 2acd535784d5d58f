//! Every refusal of the webhook reaches the client — status, message and
//! `Retry-After` — over HTTP/2 and HTTP/1.1 alike, also when it is sent
//! before the body is read while the client is still sending it. The
//! apiserver's Go client speaks HTTP/2; a stream reset without a status
//! there is an error the apiserver cannot tell from a crash.
//!
//! Each refusal is asked for with the real `curl` (`--http2`, `--http1.1`)
//! and with the hyper client the load bench uses (h2 and HTTP/1.1).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt;
use whodid_server::client::{ClientConfig, WebhookClient};

use crate::server::{runtime, within, Prod, Server};
use crate::util::text;

const CURL: &str = "/usr/bin/curl";

/// The two protocols, as curl names them.
const PROTOCOLS: [&str; 2] = ["--http2", "--http1.1"];

/// What came back.
#[derive(Debug)]
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: String,
    /// curl's error, if any.
    error: String,
}

/// A body to send.
enum Send<'a> {
    /// From a file: a Content-Length.
    File(&'a Path),
    /// From a pipe: no Content-Length (chunked over HTTP/1.1).
    Stream(&'a Path),
}

/// curl against one server, with the files it needs.
struct Curl<'a> {
    dir: PathBuf,
    addr: &'a str,
    n: AtomicUsize,
}

impl<'a> Curl<'a> {
    fn new(dir: &Path, prod: &Prod, server: &'a Server) -> Curl<'a> {
        let dir = dir.join("curl");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), prod.ca.cert_pem()).unwrap();
        std::fs::write(dir.join("prod.crt"), &prod.id.cert).unwrap();
        std::fs::write(dir.join("prod.key"), &prod.id.key).unwrap();
        Curl {
            dir,
            addr: &server.addr,
            n: AtomicUsize::new(0),
        }
    }

    /// POSTs `body` to `path` over `protocol`, as `prod` when `cert`, with
    /// `extra` arguments.
    fn post(
        &self,
        protocol: &str,
        path: &str,
        cert: bool,
        body: Send<'_>,
        extra: &[&str],
    ) -> Reply {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let headers = self.dir.join(format!("headers-{n}"));
        let out = self.dir.join(format!("body-{n}"));
        let mut command = Command::new(CURL);
        command
            .args(["-sS", protocol, "--cacert"])
            .arg(self.dir.join("ca.crt"))
            .args(["-H", "Content-Type: application/json", "-D"])
            .arg(&headers)
            .arg("-o")
            .arg(&out)
            .args(["-w", "%{http_code}"])
            .args(extra);
        if cert {
            command
                .arg("--cert")
                .arg(self.dir.join("prod.crt"))
                .arg("--key")
                .arg(self.dir.join("prod.key"));
        }
        let piped = match body {
            Send::File(file) => {
                command
                    .arg("--data-binary")
                    .arg(format!("@{}", file.display()));
                command.stdin(Stdio::null());
                None
            }
            Send::Stream(file) => {
                // A pipe, so that curl cannot know the length.
                command.args(["-X", "POST", "-T", "-"]);
                command.stdin(Stdio::piped());
                Some(std::fs::read(file).unwrap())
            }
        };
        let mut child = command
            .arg(format!("https://{}{path}", self.addr))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{CURL} (Debian package curl) does not run: {e}"));
        let writer = piped.map(|bytes| {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = std::io::Write::write_all(&mut stdin, &bytes);
            })
        });
        let output = child.wait_with_output().unwrap();
        if let Some(writer) = writer {
            writer.join().unwrap();
        }
        let headers = std::fs::read_to_string(&headers).unwrap_or_default();
        let retry_after = headers.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("retry-after")
                .then(|| value.trim().to_owned())
        });
        Reply {
            status: text(&output.stdout).trim().parse().unwrap_or(0),
            retry_after,
            body: std::fs::read_to_string(&out).unwrap_or_default(),
            error: text(&output.stderr),
        }
    }
}

/// A refusal to ask for and what it must look like.
struct Case<'a> {
    what: &'a str,
    path: &'a str,
    cert: bool,
    body: &'a Path,
    streamed: bool,
    headers: &'a [&'a str],
    curl_extra: &'a [&'a str],
    status: u16,
    says: &'a str,
    retry_after: Option<&'a str>,
}

impl Default for Case<'_> {
    fn default() -> Self {
        Case {
            what: "",
            path: "/k8s-audit/prod",
            cert: true,
            body: Path::new(""),
            streamed: false,
            headers: &[],
            curl_extra: &[],
            status: 0,
            says: "",
            retry_after: None,
        }
    }
}

fn check(
    case: &Case<'_>,
    how: &str,
    status: u16,
    body: &str,
    retry_after: Option<&str>,
    detail: &str,
) {
    assert_eq!(
        status, case.status,
        "{} over {how}: status {status}, body {body:?}; {detail}",
        case.what
    );
    assert!(
        body.contains(case.says),
        "{} over {how}: body {body:?} does not say {:?}",
        case.what,
        case.says
    );
    assert_eq!(
        retry_after, case.retry_after,
        "{} over {how}: Retry-After",
        case.what
    );
}

/// Asks for `case` with curl over both protocols.
fn with_curl(curl: &Curl<'_>, case: &Case<'_>) {
    for protocol in PROTOCOLS {
        let body = if case.streamed {
            Send::Stream(case.body)
        } else {
            Send::File(case.body)
        };
        let mut extra: Vec<&str> = case.curl_extra.to_vec();
        for header in case.headers {
            extra.extend(["-H", header]);
        }
        let reply = curl.post(protocol, case.path, case.cert, body, &extra);
        check(
            case,
            &format!("curl {protocol}"),
            reply.status,
            &reply.body,
            reply.retry_after.as_deref(),
            &reply.error,
        );
    }
}

/// Asks for `case` with the hyper client over both protocols (bodies with a
/// Content-Length, at full speed).
fn with_hyper(rt: &tokio::runtime::Runtime, prod: &Prod, server: &Server, case: &Case<'_>) {
    let body = std::fs::read(case.body).unwrap();
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .filter_map(|h| h.split_once(": "))
        .collect();
    for http2 in [true, false] {
        let answer = rt.block_on(within(async {
            let identity = case
                .cert
                .then_some((prod.id.cert.as_str(), prod.id.key.as_str()));
            let config = ClientConfig::new(prod.ca.cert_pem(), identity).unwrap();
            let mut client = if http2 {
                WebhookClient::connect_http2(&config, &server.addr, "localhost", None).await
            } else {
                WebhookClient::connect(&config, &server.addr, "localhost", None).await
            }
            .unwrap();
            client.post(case.path, body.clone().into(), &headers).await
        }));
        let how = if http2 { "hyper h2" } else { "hyper http/1.1" };
        match answer {
            Ok(a) => check(
                case,
                how,
                a.status,
                &text(&a.body),
                a.retry_after.as_deref(),
                "",
            ),
            Err(e) => panic!("{} over {how}: no answer: {e}", case.what),
        }
    }
}

/// `size` bytes of a body that is not JSON the server would get far in.
fn filler(dir: &Path, name: &str, size: usize) -> PathBuf {
    let path = dir.join(name);
    let mut body = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":["#.to_vec();
    body.resize(size, b' ');
    std::fs::write(&path, body).unwrap();
    path
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// An `EventList` of `items` (comma-separated JSON).
fn event_list(items: &str) -> Vec<u8> {
    format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{items}]}}"#)
        .into_bytes()
}

#[test]
fn every_refusal_reaches_http2_and_http1_clients_with_its_status_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let token = dir.path().join("staging.token");
    std::fs::write(&token, "token-of-staging-0123456789\n").unwrap();
    let server = prod.serve(
        dir.path(),
        "limits:\n  max_body_bytes: 2000000\n  max_batch_items: 100\n  body_timeout: 2s\n",
        &format!(
            "  - name: staging\n    bearer_token_files: [{}]\n",
            token.display()
        ),
    );
    let curl = Curl::new(dir.path(), &prod, &server);
    let rt = runtime();
    let files = dir.path().join("bodies");
    std::fs::create_dir_all(&files).unwrap();
    // Large enough that the client is still sending when a refusal
    // answers before reading (the h2 windows are smaller).
    let big = filler(&files, "big", 1_500_000);
    let over = filler(&files, "over", 2_500_000);
    let deep = file(
        &files,
        "deep",
        &event_list(&format!("{}{}", "[".repeat(150), "]".repeat(150))),
    );
    let many = file(&files, "many", &event_list(&vec!["{}"; 101].join(",")));
    let cases = [
        Case {
            what: "401 without a credential",
            cert: false,
            body: &big,
            status: 401,
            says: "no client certificate or bearer token",
            ..Case::default()
        },
        Case {
            what: "403 for another cluster's endpoint",
            path: "/k8s-audit/staging",
            body: &big,
            status: 403,
            says: r#"belongs to cluster \"prod\""#,
            ..Case::default()
        },
        Case {
            what: "404 for no endpoint",
            path: "/k8s-audit",
            body: &big,
            status: 404,
            says: "no such endpoint",
            ..Case::default()
        },
        Case {
            what: "413 by Content-Length",
            body: &over,
            status: 413,
            says: "(Content-Length) is over the limit of 2000000 bytes",
            ..Case::default()
        },
        Case {
            what: "415 for a Content-Encoding but identity and gzip",
            body: &big,
            headers: &["Content-Encoding: br"],
            status: 415,
            says: r#"Content-Encoding \"br\" is not supported"#,
            ..Case::default()
        },
        Case {
            what: "400 for malformed JSON",
            body: &big,
            status: 400,
            says: "line 1, column",
            ..Case::default()
        },
        Case {
            what: "400 for nesting past the limit",
            body: &deep,
            status: 400,
            says: "limits.max_json_depth",
            ..Case::default()
        },
        Case {
            what: "413 for more items than the limit",
            body: &many,
            status: 413,
            says: "limits.max_batch_items",
            ..Case::default()
        },
    ];
    for case in &cases {
        with_curl(&curl, case);
        with_hyper(&rt, &prod, &server, case);
    }
    // Without a Content-Length (chunked over HTTP/1.1): refused once more
    // than the limit has arrived, while the client still sends.
    with_curl(
        &curl,
        &Case {
            what: "413 without Content-Length",
            body: &over,
            streamed: true,
            status: 413,
            says: "body without a Content-Length is over the limit",
            ..Case::default()
        },
    );
    // A body arriving slower than the body timeout allows (curl sends
    // 100 KB/s; 1.5 MB would take 15 s).
    with_curl(
        &curl,
        &Case {
            what: "408 for a slow body",
            body: &big,
            curl_extra: &["--limit-rate", "100K"],
            status: 408,
            says: "did not arrive in time",
            ..Case::default()
        },
    );
    server.stop();
}

/// 429 while the in-flight budget is held, and 503 while the journal
/// refuses to store: both with `Retry-After`.
#[test]
fn overload_and_storage_refusals_carry_retry_after_over_both_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    // A reserve no disk has: every batch reaches the journal and is refused.
    let server = prod.serve(
        dir.path(),
        "journal:\n  min_free_bytes: 1000000000000000000\nlimits:\n  max_body_bytes: 2000000\n  max_inflight_bytes: 2000000\n  queue_wait: 1s\n  body_timeout: 120s\n",
        "",
    );
    let curl = Curl::new(dir.path(), &prod, &server);
    let rt = runtime();
    let body = file(
        dir.path(),
        "batch",
        &crate::util::read("k8s/webhook/batch-00011.json"),
    );
    let refused = Case {
        what: "503 while the journal cannot store",
        body: &body,
        status: 503,
        says: "journal.min_free_bytes",
        retry_after: Some("10"),
        ..Case::default()
    };
    with_curl(&curl, &refused);
    with_hyper(&rt, &prod, &server, &refused);

    // A sender that declared the whole budget and sends slowly holds it.
    let big = filler(dir.path(), "big", 1_500_000);
    rt.block_on(within(async {
        let config =
            ClientConfig::new(prod.ca.cert_pem(), Some((&prod.id.cert, &prod.id.key))).unwrap();
        let mut holder = config.connect_tls(&server.addr, "localhost").await.unwrap();
        holder
            .write_all(b"POST /k8s-audit/prod HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 2000000\r\n\r\n{\"kind\":")
            .await
            .unwrap();
        holder.flush().await.unwrap();
        let busy = Case {
            what: "429 while the in-flight budget is held",
            body: &big,
            status: 429,
            says: "too many batches in flight",
            retry_after: Some("1"),
            ..Case::default()
        };
        // The holder's permits are taken once its headers are read: the
        // first refusal may come from before, so wait for one 429 first.
        let mut tries = 0;
        loop {
            let reply = tokio::task::block_in_place(|| {
                curl.post("--http1.1", "/k8s-audit/prod", true, Send::File(&big), &[])
            });
            if reply.status == 429 {
                break;
            }
            tries += 1;
            assert!(tries < 100, "no 429 while the budget is held: {reply:?}");
        }
        tokio::task::block_in_place(|| {
            with_curl(&curl, &busy);
            with_hyper_blocking(&prod, &server, &busy);
        });
        drop(holder);
    }));
    server.stop();
}

/// [`with_hyper`] from inside a runtime: on a runtime of its own.
fn with_hyper_blocking(prod: &Prod, server: &Server, case: &Case<'_>) {
    std::thread::scope(|s| {
        s.spawn(|| with_hyper(&runtime(), prod, server, case))
            .join()
            .unwrap();
    });
}
