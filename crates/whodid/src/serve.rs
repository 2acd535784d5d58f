//! `whodid serve`: the all-in-one server on the embedded default.
//!
//! In this order: reads and checks the whole configuration and every file
//! it names; binds the listener (a port in use stops the start before the
//! data directory is touched); opens the data directory, which must exist
//! unless `--init` is given (journal with crash recovery, signing key);
//! records whodid's own downtime since its last heartbeat as a gap per
//! cluster; then serves the Kubernetes webhook over TLS (`/k8s-audit/<cluster>`),
//! `/metrics` and health, tails the configured files (apiserver audit logs,
//! auth logs, PostgreSQL logs) from their saved positions, signs
//! checkpoints on schedule and applies retention. On SIGINT/SIGTERM it stops
//! accepting, lets in-flight batches finish, stops the tailers after their
//! current round, and closes the journal with final checkpoints.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use prometheus_client::registry::Registry;
use whodid_ingest::kube::prepare::KubeSource;
use whodid_ingest::kube::store::{DedupConfig, KubeStore};
use whodid_ingest::line_source::LineParser;
use whodid_ingest::positions::PositionStore;
use whodid_ingest::redaction_key::RedactionKey;
use whodid_ingest::sink::Sink;
use whodid_ingest::tail_source::{self, ParserFactory, TailSource, TailSourceConfig};
use whodid_ingest::IngestMetrics;
use whodid_journal::reader::JournalReader;
use whodid_journal::retention::RetentionPolicy;
use whodid_journal::{Journal, JournalConfig};
use whodid_model::Stream;
use whodid_server::cpu_pool::CpuPool;
use whodid_server::pki::LocalCa;
use whodid_server::{Cluster, Limits, ServerState};
use whodid_tail::TailSpec;

use crate::config::{parse_fsync, Config, MetricsAuth};
use crate::data_dir::{self, Found};
use crate::downtime;
use crate::serve_inputs::Inputs;

/// Audit events longer than this in a log file are skipped with a gap
/// record (the apiserver's truncate backend caps events at 100 KiB; without
/// it, the largest seen in practice are a few hundred KB).
const KUBE_MAX_LINE_BYTES: usize = 16 << 20;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file (YAML; every option is in docs/config.md). Without one, the defaults.
    #[arg(long, short = 'c', env = "WHODID_CONFIG")]
    config: Option<PathBuf>,

    /// The data directory (overrides the file's `data`).
    #[arg(long, env = "WHODID_DATA")]
    data: Option<PathBuf>,

    /// Where the HTTPS listener binds, e.g. 127.0.0.1:8443 (overrides `listen`; port 0 picks one).
    #[arg(long, env = "WHODID_LISTEN")]
    listen: Option<SocketAddr>,

    /// `batch` (the default), `interval:100ms` or `never` (overrides `journal.fsync`).
    #[arg(long, env = "WHODID_FSYNC")]
    fsync: Option<String>,

    /// Remove segments whose newest record is older than this (e.g. `400d`); like --audit-log-maxage.
    #[arg(long, value_parser = humantime::parse_duration)]
    max_age: Option<Duration>,

    /// Keep each stream under this many bytes; like --audit-log-maxsize.
    #[arg(long)]
    max_size: Option<u64>,

    /// Keep at most this many segments per stream; like --audit-log-maxbackup.
    #[arg(long)]
    max_segments: Option<usize>,

    /// How often retention runs (overrides `retention.interval`).
    #[arg(long, value_parser = humantime::parse_duration)]
    retention_interval: Option<Duration>,

    /// Create the data directory (journal, signing key) when it is missing or empty; an existing one is opened as it is.
    #[arg(long)]
    init: bool,

    /// Sign a checkpoint after this many new records per stream.
    #[arg(long)]
    checkpoint_records: Option<u64>,

    /// …or after this long.
    #[arg(long, value_parser = humantime::parse_duration)]
    checkpoint_interval: Option<Duration>,
}

impl ServeArgs {
    fn effective(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(data) = &self.data {
            config.data.clone_from(data);
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(fsync) = &self.fsync {
            parse_fsync(fsync).context("--fsync")?;
            config.journal.fsync.clone_from(fsync);
        }
        if self.max_age.is_some() {
            config.retention.max_age = self.max_age;
        }
        if self.max_size.is_some() {
            config.retention.max_size = self.max_size;
        }
        if self.max_segments.is_some() {
            config.retention.max_segments = self.max_segments;
        }
        if let Some(interval) = self.retention_interval {
            config.retention.interval = interval;
        }
        if let Some(n) = self.checkpoint_records {
            config.journal.checkpoint_records = n;
        }
        if let Some(d) = self.checkpoint_interval {
            config.journal.checkpoint_interval = d;
        }
        Ok(config)
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.effective()?;
    let inputs = Inputs::read(&config).with_context(|| match &args.config {
        Some(path) => format!("configuration {}", path.display()),
        None => "configuration (defaults and flags)".to_owned(),
    })?;
    let journal_config = JournalConfig {
        fsync: parse_fsync(&config.journal.fsync)?,
        checkpoint_every_records: config.journal.checkpoint_records,
        checkpoint_every: config.journal.checkpoint_interval,
        segment_max_bytes: config.journal.segment_max_bytes,
        min_free_bytes: config.journal.min_free_bytes,
        ..JournalConfig::default()
    };
    // Before the data directory: a port in use must not cost a journal open.
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("listen: binding {}", config.listen))?;
    listener
        .set_nonblocking(true)
        .context("the listening socket")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
        )
        .enable_all()
        .thread_name("whodid-io")
        .build()
        .context("starting the async runtime")?;
    // Before anything else: a SIGTERM during start-up is a clean stop too.
    let signals = runtime
        .block_on(async { Signals::install() })
        .context("installing signal handlers")?;
    if data_dir::ready(&config.data, args.init)? == Found::Created {
        eprintln!(
            "whodid: created data directory {} (--init): a new journal with a new signing key",
            data_dir::shown(&config.data)
        );
    }
    let last_alive = downtime::last_alive(&config.data);
    let journal = Arc::new(
        Journal::open(&config.data, journal_config)
            .with_context(|| format!("opening data directory {}", data_dir::shown(&config.data)))?,
    );
    eprintln!("whodid: serving data directory {}", display(&config.data));
    eprintln!(
        "whodid: journal public key (give it to auditors): {}",
        journal.verifier().vkey()
    );
    let clusters: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
    downtime::record_gaps(&journal, &clusters, last_alive, &config.downtime);
    let outcome = runtime.block_on(serve(
        &config,
        inputs,
        listener,
        Arc::clone(&journal),
        signals,
    ));
    eprintln!("whodid: shutting down: syncing and signing final checkpoints");
    let closed = journal.close().context("closing the journal");
    if outcome.is_ok() && closed.is_ok() {
        downtime::Heartbeat::new(&config.data).stopped();
    }
    drop(runtime);
    outcome?;
    closed?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    config: &Config,
    inputs: Inputs,
    listener: std::net::TcpListener,
    journal: Arc<Journal>,
    signals: Signals,
) -> anyhow::Result<()> {
    let Inputs {
        mut policies,
        auth,
        tls_pair,
        client_ca,
        parsers,
        tokens,
    } = inputs;
    let mut registry = Registry::default();
    let metrics = Arc::new(IngestMetrics::register(&mut registry));
    let needs_key = config.clusters.iter().any(|c| c.redact);
    let redaction = if needs_key {
        Some(RedactionKey::load_or_create(&journal.keys_dir()).context("redaction key")?)
    } else {
        None
    };
    let mut clusters = HashMap::new();
    for cluster in &config.clusters {
        if !cluster.redact {
            tracing::warn!(cluster = %cluster.name, "redaction is OFF for this cluster: secret values in its events will be stored as sent");
            eprintln!("whodid: WARNING: redaction is off for cluster {}: Secret data and tokens will be stored", cluster.name);
        }
        let source = Arc::new(KubeSource {
            cluster: cluster.name.clone(),
            policy: policies.remove(&cluster.name).flatten(),
            redaction: if cluster.redact {
                redaction.clone()
            } else {
                None
            },
        });
        clusters.insert(
            cluster.name.clone(),
            Cluster {
                source,
                silence_limit: cluster.silence_limit,
            },
        );
    }
    let tls_dir = config.data.join("tls");
    let ca = LocalCa::load_or_create(&tls_dir).context("the data directory's CA")?;
    let (cert, key) = match tls_pair {
        Some(pair) => pair,
        None => {
            let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
            names.extend(config.server_names.iter().cloned());
            let pair = ca.server_pair(&names).context("the server certificate")?;
            (pair.cert, pair.key)
        }
    };
    let client_ca = client_ca.unwrap_or_else(|| ca.cert_pem().to_owned());
    let tls = whodid_server::tls::server_config(&cert, &key, Some(&client_ca))?;

    let store = Arc::new(KubeStore::new(
        Arc::clone(&journal),
        DedupConfig {
            max_keys: config.dedup.max_keys,
            max_age: config.dedup.window,
        },
        Arc::clone(&metrics),
    ));
    let reader = JournalReader::open(&config.data)?;
    let refilled = store
        .refill_from(&reader, config.dedup.refill_records)
        .context("reading recent events for deduplication")?;
    tracing::info!(
        keys = refilled,
        "deduplication window refilled from the journal"
    );

    let limits = Limits {
        max_body_bytes: config.limits.max_body_bytes,
        max_inflight_bytes: config.limits.max_inflight_bytes,
        queue_wait: config.limits.queue_wait,
        header_timeout: config.limits.header_timeout,
        body_timeout: config.limits.body_timeout,
        handshake_timeout: config.limits.handshake_timeout,
        max_batch_items: config.limits.max_batch_items,
        max_json_depth: config.limits.max_json_depth,
        max_event_values: config.limits.max_event_values,
        max_connections: config.limits.max_connections,
        max_handshakes: config.limits.max_handshakes,
        reserved_fds: config.limits.reserved_fds,
    };
    let kube_sources: HashMap<String, Arc<KubeSource>> = clusters
        .iter()
        .map(|(name, c)| (name.clone(), Arc::clone(&c.source)))
        .collect();
    let state = Arc::new(ServerState {
        journal: Arc::clone(&journal),
        store: Arc::clone(&store),
        clusters,
        auth,
        limits,
        metrics: Arc::clone(&metrics),
        registry: Arc::new(registry),
        inflight: ServerState::inflight_for(&limits),
        last_seen: Mutex::new(Default::default()),
        cpu: CpuPool::per_core("whodid-cpu", 2).context("starting the CPU threads")?,
    });

    // File sources, each on its own thread.
    let stop = Arc::new(AtomicBool::new(false));
    let positions = PositionStore::new(&config.data);
    let mut threads = Vec::new();
    let mut tails: Vec<(TailSourceConfig, ParserFactory, Sink, Stream)> = Vec::new();
    for cluster in &config.clusters {
        for (i, path) in cluster.audit_logs.iter().enumerate() {
            let source = Arc::clone(&kube_sources[&cluster.name]);
            let factory = ParserFactory(Arc::new(move || {
                LineParser::Kube(Box::new((*source).clone()))
            }));
            tails.push((
                TailSourceConfig {
                    name: format!("kube-log:{}:{i}", cluster.name),
                    spec: TailSpec::new(path)
                        .with_max_line_bytes(KUBE_MAX_LINE_BYTES)
                        .with_start(cluster.start.tail()),
                    cluster: cluster.name.clone(),
                    host: String::new(),
                    poll_interval: Duration::from_millis(200),
                    idle_flush: Duration::from_secs(1),
                    prepare_threads: kube_prepare_threads(),
                },
                factory,
                Sink::Kube {
                    store: Arc::clone(&store),
                    cluster: cluster.name.clone(),
                },
                Stream::KubeAudit,
            ));
        }
    }
    for (source, factory) in config.sources.iter().zip(parsers) {
        tails.push((
            TailSourceConfig {
                name: source.name.clone(),
                spec: TailSpec::new(&source.path)
                    .with_max_line_bytes(source.max_line_bytes.unwrap_or(1 << 20))
                    .with_start(source.start.tail()),
                cluster: String::new(),
                host: source.host.clone(),
                poll_interval: Duration::from_millis(200),
                idle_flush: Duration::from_secs(1),
                prepare_threads: 1,
            },
            factory,
            Sink::Journal {
                journal: Arc::clone(&journal),
                stream: source.stream,
            },
            source.stream,
        ));
    }
    for (tail_config, factory, sink, stream) in tails {
        let resume = tail_source::resume(&positions, &reader, stream, &tail_config.name)
            .with_context(|| format!("source {}: finding where to resume", tail_config.name))?;
        let name = tail_config.name.clone();
        let source = TailSource::new(
            tail_config,
            factory,
            sink,
            Arc::clone(&journal),
            positions.clone(),
            Arc::clone(&metrics),
        );
        let handle = tokio::runtime::Handle::current();
        let stop = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name(format!("tail-{name}"))
                .spawn(move || source.run(resume, handle, stop))
                .context("starting a file source")?,
        );
    }

    whodid_server::spawn_background(&state);
    spawn_retention(config, Arc::clone(&journal));

    let tokens = Arc::new(tokens);
    let metrics_open = config.metrics.auth == MetricsAuth::None;
    if tokens.is_empty() && (config.index.enabled || !metrics_open) {
        eprintln!(
            "whodid: warning: no API token in {}: the query API and /metrics answer 401 to everyone until `whodid token create NAME` makes one (and whodid restarts)",
            config.api_tokens_path().display()
        );
    }
    let heartbeat = downtime::Heartbeat::new(&config.data);
    heartbeat.alive();
    tokio::spawn(heartbeat.beat(config.downtime.heartbeat));

    // The search index, fed from the journal, and the query API.
    let (follower, api) = if config.index.enabled {
        let index_config = whodid_index::config::IndexConfig {
            writer_memory_bytes: config.index.writer_memory_bytes,
            commit_every: config.index.commit_every,
            ..whodid_index::config::IndexConfig::default()
        };
        let follower = spawn_follower(&config.data, index_config).await?;
        let service = Arc::new(whodid_query::service::SearchService::new(
            &config.data,
            whodid_query::service::ServiceConfig {
                export_max_records: config.index.export_max_records,
                export_budget: config.index.export_budget,
                ..whodid_query::service::ServiceConfig::default()
            },
        ));
        (
            Some(follower),
            Some((whodid_query::http::router(service), Arc::clone(&tokens))),
        )
    } else {
        (None, None)
    };
    let listener = tokio::net::TcpListener::from_std(listener)
        .with_context(|| format!("listening on {}", config.listen))?;
    let local = listener.local_addr()?;
    eprintln!("whodid: listening on https://{local}");
    for cluster in &config.clusters {
        eprintln!(
            "whodid: cluster {} → https://{local}/k8s-audit/{}",
            cluster.name, cluster.name
        );
    }
    if api.is_some() {
        eprintln!("whodid: query API on https://{local}/api/v1 (bearer token required)");
    }
    let mut router = whodid_server::router(Arc::clone(&state), api);
    if metrics_open {
        eprintln!("whodid: /metrics answers without a credential (metrics.auth: none)");
    } else {
        router = whodid_server::api_auth::guard_path(router, "/metrics", tokens);
    }
    whodid_server::listener::serve_tls(
        listener,
        tls,
        router,
        limits,
        signals.wait(),
        config.limits.shutdown_drain,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    if let Some(follower) = follower {
        if let Err(e) = tokio::task::spawn_blocking(move || follower.shutdown())
            .await
            .context("index follower")?
        {
            tracing::error!(error = %e, "the search index did not close cleanly (it is rebuilt from the journal)");
        }
    }
    Ok(())
}

/// Starts the index follower; a `whodid search` catching the index up at
/// this moment holds its lock briefly, so a locked index is tried again.
async fn spawn_follower(
    data: &std::path::Path,
    config: whodid_index::config::IndexConfig,
) -> anyhow::Result<whodid_index::follower::FollowerHandle> {
    let mut attempt = 0;
    loop {
        match whodid_index::follower::Follower::spawn(data, config.clone()) {
            Ok(follower) => return Ok(follower),
            Err(whodid_index::IndexError::Locked { .. }) if attempt < 60 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(anyhow::Error::new(e).context("opening the search index")),
        }
    }
}

fn spawn_retention(config: &Config, journal: Arc<Journal>) {
    let policy = RetentionPolicy {
        max_age: config.retention.max_age,
        max_bytes: config.retention.max_size,
        max_segments: config.retention.max_segments,
    };
    if policy == RetentionPolicy::default() {
        return;
    }
    let every = config.retention.interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let journal = Arc::clone(&journal);
            let outcome = tokio::task::spawn_blocking(move || {
                let policies: BTreeMap<Stream, RetentionPolicy> =
                    Stream::ALL.into_iter().map(|s| (s, policy)).collect();
                journal.apply_retention(policies)
            })
            .await;
            match outcome {
                Ok(Ok(outcomes)) => {
                    for (stream, outcome) in outcomes {
                        if let Some((first, end)) = outcome.removed {
                            tracing::info!(stream = %stream, first, end, "retention removed records");
                        }
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
                Err(e) => tracing::error!(error = %e, "retention task failed"),
            }
        }
    });
}

/// SIGTERM and SIGINT, caught from the start.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
        eprintln!("whodid: signal received: finishing in-flight batches");
    }
}

fn display(path: &PathBuf) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.clone())
        .display()
        .to_string()
}

/// Threads preparing a Kubernetes log source's lines: every core, up to 4
/// (beyond that the journal's one writer thread is the limit).
fn kube_prepare_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}
