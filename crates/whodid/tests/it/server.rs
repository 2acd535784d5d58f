//! A real `whodid serve` for tests: started on a port it picks, with a
//! configuration file, stopped by SIGTERM or killed with SIGKILL.
//!
//! How a test starts serve: [`Server::start`] runs `whodid serve --init -c
//! DIR/whodid.yaml` (the data directory is created when missing, opened
//! when it exists); [`Prod::new`] runs `whodid init` first (data directory,
//! its CA, the `admin` token of the query API and `/metrics`) and
//! [`Prod::serve`] starts the server on it. Without `--init` or `whodid
//! init`, serve refuses a missing or empty data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use whodid_journal::reader::JournalReader;
use whodid_model::{Envelope, Stream};
use whodid_server::client::{Answer, ClientConfig, WebhookClient};
use whodid_server::pki::{LocalCa, PemPair};

/// How long a test waits for one answer before it calls the server hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// A running server.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) addr: String,
    pub(crate) log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `whodid serve --init -c <dir>/whodid.yaml` with `yaml` (which
    /// must set `data`; `listen` is added).
    pub(crate) fn start(dir: &Path, yaml: &str) -> Server {
        Server::start_with(dir, yaml, &["--init"])
    }

    /// [`Server::start`] with a descriptor limit (`RLIMIT_NOFILE`, set by
    /// util-linux `prlimit`, which then runs whodid in its own process).
    pub(crate) fn start_with_nofile(dir: &Path, yaml: &str, nofile: Option<u64>) -> Server {
        let Some(n) = nofile else {
            return Server::start(dir, yaml);
        };
        let config = Server::config(dir, yaml);
        let mut command = Command::new("/usr/bin/prlimit");
        command
            .arg(format!("--nofile={n}:{n}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_whodid"))
            .args(["serve", "--init", "-c"])
            .arg(&config);
        Server::spawn(command)
    }

    /// Starts `whodid serve ARGS -c <dir>/whodid.yaml` with `yaml` (which
    /// must set `data`; `listen` is added).
    pub(crate) fn start_with(dir: &Path, yaml: &str, args: &[&str]) -> Server {
        let config = Server::config(dir, yaml);
        let mut command = Command::new(env!("CARGO_BIN_EXE_whodid"));
        command.arg("serve").args(args).arg("-c").arg(&config);
        Server::spawn(command)
    }

    /// Writes `<dir>/whodid.yaml`: `yaml` with `listen: 127.0.0.1:0` first.
    pub(crate) fn config(dir: &Path, yaml: &str) -> PathBuf {
        let config = dir.join("whodid.yaml");
        std::fs::write(&config, format!("listen: 127.0.0.1:0\n{yaml}")).unwrap();
        config
    }

    /// Runs `command` (a `whodid serve` however started) until it prints
    /// where it listens.
    pub(crate) fn spawn(mut command: Command) -> Server {
        let mut child = command
            .env("WHODID_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("whodid serve starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on https://") {
                    if let Some(tx) = tx.take() {
                        let _ =
                            tx.send(line[at + "listening on https://".len()..].trim().to_owned());
                    }
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("whodid serve did not start:\n{}", log.lock().unwrap());
            }
        };
        Server {
            child: Some(child),
            addr,
            log,
        }
    }

    /// SIGTERM, and waits for a clean exit.
    pub(crate) fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "whodid serve exited with {status}:\n{}",
                    self.log.lock().unwrap()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "whodid serve did not stop:\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no goodbye.
    pub(crate) fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `whodid init` on `data`, then its CA (the one `whodid serve` uses).
pub(crate) fn ca(data: &Path) -> LocalCa {
    crate::util::init_data(data);
    LocalCa::load_or_create(&data.join("tls")).unwrap()
}

/// Cluster `prod` on a data directory: its CA and a client certificate,
/// made before a server starts, and the batches posted with them.
pub(crate) struct Prod {
    pub(crate) data: PathBuf,
    pub(crate) ca: LocalCa,
    pub(crate) id: PemPair,
    /// The `admin` token of the query API and `/metrics` (from `whodid init`).
    pub(crate) token: String,
}

impl Prod {
    /// `whodid init`, the data directory's CA and a certificate for `prod`.
    pub(crate) fn new(data: &Path) -> Prod {
        let token = crate::util::init_data(data);
        let ca = LocalCa::load_or_create(&data.join("tls")).unwrap();
        let id = ca.issue_client("prod", 30).unwrap();
        Prod {
            data: data.to_owned(),
            ca,
            id,
            token,
        }
    }

    /// `whodid serve` (config file in `dir`) with the top-level YAML
    /// `settings` and cluster `prod` last, with `cluster` (more fields of its
    /// item, each line indented by four spaces).
    pub(crate) fn serve(&self, dir: &Path, settings: &str, cluster: &str) -> Server {
        Server::start(
            dir,
            &format!(
                "data: {}
{settings}clusters:
  - name: prod
{cluster}",
                self.data.display()
            ),
        )
    }

    /// POSTs `body` to `/k8s-audit/prod` with extra `headers` on a new
    /// HTTP/1.1 connection; no answer within two minutes fails the test.
    pub(crate) fn post_with(
        &self,
        rt: &tokio::runtime::Runtime,
        server: &Server,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        rt.block_on(within(async {
            let mut c = client(self.ca.cert_pem(), Some(&self.id), &server.addr, None).await?;
            c.post("/k8s-audit/prod", body.into(), headers)
                .await
                .map_err(|e| e.to_string())
        }))
    }

    /// [`Prod::post_with`] without extra headers; a transport error fails the test.
    pub(crate) fn post(
        &self,
        rt: &tokio::runtime::Runtime,
        server: &Server,
        body: Vec<u8>,
    ) -> Answer {
        self.post_with(rt, server, body, &[]).unwrap_or_else(|e| {
            panic!(
                "posting to prod: {e}
{}",
                server.log()
            )
        })
    }

    /// GETs `path` with the `admin` token and no client certificate (`/metrics`, `/healthz`).
    pub(crate) fn get(&self, rt: &tokio::runtime::Runtime, server: &Server, path: &str) -> Answer {
        rt.block_on(within(async {
            let mut c = client(self.ca.cert_pem(), None, &server.addr, Some(&self.token)).await?;
            c.get(path).await.map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|e| {
            panic!(
                "GET {path}: {e}
{}",
                server.log()
            )
        })
    }
}

/// `future`, or a panic saying the server hung.
pub(crate) async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(ANSWER_WITHIN, future)
        .await
        .unwrap_or_else(|_| panic!("no answer within {ANSWER_WITHIN:?}: the server hangs"))
}

/// A client for `addr` presenting `identity`.
pub(crate) async fn client(
    ca_pem: &str,
    identity: Option<&PemPair>,
    addr: &str,
    token: Option<&str>,
) -> Result<WebhookClient, String> {
    let config = ClientConfig::new(ca_pem, identity.map(|p| (p.cert.as_str(), p.key.as_str())))
        .map_err(|e| e.to_string())?;
    WebhookClient::connect(&config, addr, "localhost", token.map(str::to_owned))
        .await
        .map_err(|e| e.to_string())
}

/// POSTs a body on a new connection.
pub(crate) async fn post_once(
    ca_pem: &str,
    identity: Option<&PemPair>,
    addr: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Answer, String> {
    let mut c = client(ca_pem, identity, addr, None).await?;
    c.post(path, body.into(), &[])
        .await
        .map_err(|e| e.to_string())
}

/// A current-thread runtime for test bodies.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every record of a stream: (envelope, raw).
pub(crate) fn records(data: &Path, stream: Stream) -> Vec<(Envelope, Vec<u8>)> {
    let reader = JournalReader::open(data).unwrap();
    reader
        .iter_from(stream, 0)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (Envelope::from_json(&r.envelope).unwrap(), r.raw)
        })
        .collect()
}

/// (auditID, stage) of an event's bytes.
pub(crate) fn identity_of(raw: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(raw).unwrap();
    (
        v["auditID"].as_str().unwrap_or_default().to_owned(),
        v["stage"].as_str().unwrap_or_default().to_owned(),
    )
}

pub(crate) fn fixture(rel: &str) -> PathBuf {
    crate::util::testdata(rel)
}
