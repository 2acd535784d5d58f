//! The configuration file of `whodid serve` (YAML), its defaults, and the
//! flags and environment variables that override it.
//!
//! Every option and its default is documented in `docs/config.md`; keep the
//! two in step. Unknown fields are errors that name the field, line and
//! column: a typo must never silently switch a protection off.
//!
//! Relative paths in a file are relative to the file's directory (not to
//! wherever `whodid serve` happens to be started), so one file always means
//! one data directory; paths given on the command line stay relative to the
//! working directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use whodid_journal::FsyncPolicy;
use whodid_model::Stream;
use whodid_parse::pgaudit::{PgAuditFilter, PgLogFormat};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// The data directory.
    pub(crate) data: PathBuf,
    /// Where the HTTPS listener binds.
    pub(crate) listen: SocketAddr,
    /// Names (DNS or IP) on the generated server certificate, besides localhost and 127.0.0.1.
    pub(crate) server_names: Vec<String>,
    pub(crate) tls: TlsConfig,
    pub(crate) journal: JournalConfigFile,
    pub(crate) retention: RetentionConfig,
    pub(crate) limits: LimitsConfig,
    pub(crate) dedup: DedupConfigFile,
    /// Kubernetes clusters sending to the webhook (and their log files).
    pub(crate) clusters: Vec<ClusterConfig>,
    /// Other tailed files: auth logs, PostgreSQL logs.
    pub(crate) sources: Vec<SourceConfig>,
    pub(crate) index: IndexConfigFile,
    pub(crate) metrics: MetricsConfig,
    pub(crate) downtime: DowntimeConfig,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MetricsConfig {
    pub(crate) auth: MetricsAuth,
}

/// `/metrics` with a query-API bearer token, or open to anyone who reaches the port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MetricsAuth {
    /// A bearer token of the query API (`whodid token create`).
    #[default]
    Token,
    /// No credential: an explicit choice (it reveals cluster and source names and volumes).
    None,
}

/// whodid's own downtime: when it is reported as a gap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DowntimeConfig {
    /// A stop longer than this (the apiserver's retry budget) is a gap record per cluster.
    #[serde(deserialize_with = "duration")]
    pub(crate) gap_after: Duration,
    /// How often a running server notes that it is alive (`DATA/heartbeat`).
    #[serde(deserialize_with = "duration")]
    pub(crate) heartbeat: Duration,
}

impl Default for DowntimeConfig {
    fn default() -> Self {
        DowntimeConfig {
            // The apiserver's webhook backoff: 10 s, ×1.5, 5 steps ≈ 81 s.
            gap_after: Duration::from_secs(81),
            heartbeat: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct IndexConfigFile {
    /// Keep the search index fed from the journal and serve the query API.
    pub(crate) enabled: bool,
    /// tantivy's memory budget per open day index.
    pub(crate) writer_memory_bytes: usize,
    /// Records are searchable at most this long after they are stored (plus a poll).
    #[serde(deserialize_with = "duration")]
    pub(crate) commit_every: Duration,
    /// Bearer tokens of the query API (`NAME sha256:HEX` lines); default `DATA/keys/api-tokens`, made by `whodid init`.
    pub(crate) api_tokens: Option<PathBuf>,
    /// Most records one API export (NDJSON, CSV) streams before it ends with a cursor.
    pub(crate) export_max_records: usize,
    /// How long one API export may stream before it ends with a cursor.
    #[serde(deserialize_with = "duration")]
    pub(crate) export_budget: Duration,
}

impl Default for IndexConfigFile {
    fn default() -> Self {
        IndexConfigFile {
            enabled: true,
            writer_memory_bytes: 32 << 20,
            commit_every: Duration::from_secs(1),
            api_tokens: None,
            export_max_records: whodid_query::ServiceConfig::default().export_max_records,
            export_budget: whodid_query::ServiceConfig::default().export_budget,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data: PathBuf::from("./whodid-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            server_names: Vec::new(),
            tls: TlsConfig::default(),
            journal: JournalConfigFile::default(),
            retention: RetentionConfig::default(),
            limits: LimitsConfig::default(),
            dedup: DedupConfigFile::default(),
            clusters: Vec::new(),
            sources: Vec::new(),
            index: IndexConfigFile::default(),
            metrics: MetricsConfig::default(),
            downtime: DowntimeConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TlsConfig {
    /// Server certificate chain (PEM); default: issued by the data directory's CA.
    pub(crate) cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub(crate) key: Option<PathBuf>,
    /// CA for client certificates; default: the data directory's CA (`DATA/tls/ca.crt`).
    pub(crate) client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct JournalConfigFile {
    /// `batch`, `interval:<duration>` or `never`.
    pub(crate) fsync: String,
    pub(crate) checkpoint_records: u64,
    #[serde(deserialize_with = "duration")]
    pub(crate) checkpoint_interval: Duration,
    pub(crate) segment_max_bytes: u64,
    /// Refuse new events (503) while the data directory has less free space.
    pub(crate) min_free_bytes: u64,
}

impl Default for JournalConfigFile {
    fn default() -> Self {
        JournalConfigFile {
            fsync: "batch".to_owned(),
            checkpoint_records: 10_000,
            checkpoint_interval: Duration::from_secs(10),
            segment_max_bytes: 64 << 20,
            min_free_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetentionConfig {
    #[serde(deserialize_with = "opt_duration")]
    pub(crate) max_age: Option<Duration>,
    pub(crate) max_size: Option<u64>,
    pub(crate) max_segments: Option<usize>,
    #[serde(deserialize_with = "duration")]
    pub(crate) interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_age: None,
            max_size: None,
            max_segments: None,
            interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsConfig {
    pub(crate) max_body_bytes: usize,
    pub(crate) max_inflight_bytes: usize,
    #[serde(deserialize_with = "duration")]
    pub(crate) queue_wait: Duration,
    #[serde(deserialize_with = "duration")]
    pub(crate) header_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub(crate) body_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub(crate) handshake_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub(crate) shutdown_drain: Duration,
    pub(crate) max_batch_items: usize,
    pub(crate) max_json_depth: usize,
    pub(crate) max_event_values: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_handshakes: usize,
    pub(crate) reserved_fds: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let limits = whodid_server::Limits::default();
        LimitsConfig {
            max_body_bytes: limits.max_body_bytes,
            max_inflight_bytes: limits.max_inflight_bytes,
            queue_wait: limits.queue_wait,
            header_timeout: limits.header_timeout,
            body_timeout: limits.body_timeout,
            handshake_timeout: limits.handshake_timeout,
            shutdown_drain: Duration::from_secs(30),
            max_batch_items: limits.max_batch_items,
            max_json_depth: limits.max_json_depth,
            max_event_values: limits.max_event_values,
            max_connections: limits.max_connections,
            max_handshakes: limits.max_handshakes,
            reserved_fds: limits.reserved_fds,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DedupConfigFile {
    pub(crate) max_keys: usize,
    #[serde(deserialize_with = "duration")]
    pub(crate) window: Duration,
    /// Journal records read at start to recognise retries of earlier batches.
    pub(crate) refill_records: u64,
}

impl Default for DedupConfigFile {
    fn default() -> Self {
        let d = whodid_ingest::kube::store::DedupConfig::default();
        DedupConfigFile {
            max_keys: d.max_keys,
            window: d.max_age,
            refill_records: 500_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterConfig {
    /// The cluster's name: its endpoint is `/k8s-audit/<name>`.
    pub(crate) name: String,
    /// Client certificate subject CNs that are this cluster (default: the name).
    #[serde(default)]
    pub(crate) client_cert_names: Option<Vec<String>>,
    /// Files holding a bearer token each.
    #[serde(default)]
    pub(crate) bearer_token_files: Vec<PathBuf>,
    /// An audit.k8s.io/v1 Policy applied before storage.
    #[serde(default)]
    pub(crate) policy: Option<PathBuf>,
    /// Replace secret values by keyed hashes (default true).
    #[serde(default = "yes")]
    pub(crate) redact: bool,
    /// Gap record after this long without a batch.
    #[serde(default, deserialize_with = "opt_duration")]
    pub(crate) silence_limit: Option<Duration>,
    /// The apiserver's `--audit-log-path` files, tailed through rotation.
    #[serde(default)]
    pub(crate) audit_logs: Vec<PathBuf>,
    /// Where a log never read before starts: `oldest` (its backups still on disk, then the file) or `active` (the active file only).
    #[serde(default)]
    pub(crate) start: StartFrom,
}

/// Where a file source never read before starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StartFrom {
    /// The oldest backup still on disk: nothing written before whodid first
    /// looked is skipped.
    #[default]
    Oldest,
    /// The active file's first byte: backups are history (import them with `whodid ingest`).
    Active,
}

impl StartFrom {
    pub(crate) fn tail(self) -> whodid_tail::StartAt {
        match self {
            StartFrom::Oldest => whodid_tail::StartAt::OldestBackup,
            StartFrom::Active => whodid_tail::StartAt::ActiveFile,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceConfig {
    /// Unique name (positions are saved under it).
    pub(crate) name: String,
    /// `authlog` or `pgaudit`.
    #[serde(deserialize_with = "stream")]
    pub(crate) stream: Stream,
    /// The active file.
    pub(crate) path: PathBuf,
    /// The node or database server, for the envelope.
    #[serde(default)]
    pub(crate) host: String,
    /// authlog: keys.yaml or authorized_keys files mapping keys to people.
    #[serde(default)]
    pub(crate) keys: Vec<PathBuf>,
    /// pgaudit: stderr, csvlog, jsonlog or syslog.
    #[serde(default)]
    pub(crate) format: Option<PgLogFormat>,
    /// pgaudit: the server's log_line_prefix (stderr, syslog).
    #[serde(default)]
    pub(crate) log_line_prefix: Option<String>,
    /// pgaudit: what to keep.
    #[serde(default)]
    pub(crate) keep: Option<PgAuditFilter>,
    /// Longer lines are skipped and reported.
    #[serde(default)]
    pub(crate) max_line_bytes: Option<usize>,
    /// Where a file never read before starts (`oldest` or `active`).
    #[serde(default)]
    pub(crate) start: StartFrom,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| D::Error::custom(format!("{text:?}: {e}")))
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => humantime::parse_duration(&text)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("{text:?}: {e}"))),
    }
}

fn stream<'de, D: Deserializer<'de>>(d: D) -> Result<Stream, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(D::Error::custom)
}

/// Parses `batch`, `interval:<duration>` or `never`.
pub(crate) fn parse_fsync(text: &str) -> anyhow::Result<FsyncPolicy> {
    match text {
        "batch" => Ok(FsyncPolicy::EveryBatch),
        "never" => Ok(FsyncPolicy::Never),
        other => match other.strip_prefix("interval:") {
            Some(d) => Ok(FsyncPolicy::Interval(
                humantime::parse_duration(d)
                    .map_err(|e| anyhow::anyhow!("fsync {other:?}: {e}"))?,
            )),
            None => anyhow::bail!("fsync {other:?}: expected batch, interval:<duration> or never"),
        },
    }
}

impl Config {
    /// Reads a configuration file; errors name the file, line and column.
    /// Relative paths in it are made relative to its directory.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading configuration {}", path.display()))?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let dir = std::path::absolute(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .with_context(|| format!("{}: its directory", path.display()))?;
        config.resolve_paths(&dir);
        Ok(config)
    }

    /// The query API's token file.
    pub(crate) fn api_tokens_path(&self) -> PathBuf {
        self.index
            .api_tokens
            .clone()
            .unwrap_or_else(|| self.data.join("keys").join("api-tokens"))
    }

    /// Makes every relative path of the file relative to `base`.
    fn resolve_paths(&mut self, base: &Path) {
        let at = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        at(&mut self.data);
        for p in [
            &mut self.tls.cert,
            &mut self.tls.key,
            &mut self.tls.client_ca,
            &mut self.index.api_tokens,
        ]
        .into_iter()
        .flatten()
        {
            at(p);
        }
        for cluster in &mut self.clusters {
            cluster.bearer_token_files.iter_mut().for_each(at);
            cluster.policy.iter_mut().for_each(at);
            cluster.audit_logs.iter_mut().for_each(at);
        }
        for source in &mut self.sources {
            at(&mut source.path);
            for spec in &mut source.keys {
                let (account, mut path) = crate::sources::split_key_spec(spec);
                at(&mut path);
                *spec = match account {
                    Some(account) => PathBuf::from(format!("{account}={}", path.display())),
                    None => path,
                };
            }
        }
    }

    pub(crate) fn parse(text: &str, origin: &str) -> anyhow::Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            // The line itself too: a value's error names its mapping, the line names the field.
            Some(at) => match text.lines().nth(at.line().saturating_sub(1)) {
                Some(line) if !line.trim().is_empty() && line.len() <= 200 => anyhow::anyhow!(
                    "{origin}:{}:{}: {e} (in `{}`)",
                    at.line(),
                    at.column(),
                    line.trim()
                ),
                _ => anyhow::anyhow!("{origin}:{}:{}: {e}", at.line(), at.column()),
            },
            None => anyhow::anyhow!("{origin}: {e}"),
        })?;
        config.check(origin)?;
        Ok(config)
    }

    fn check(&self, origin: &str) -> anyhow::Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for cluster in &self.clusters {
            let valid = !cluster.name.is_empty()
                && cluster
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if !valid {
                anyhow::bail!(
                    "{origin}: clusters: name {:?} must be letters, digits, '-', '_' or '.'",
                    cluster.name
                );
            }
            if !names.insert(cluster.name.clone()) {
                anyhow::bail!("{origin}: clusters: {:?} is configured twice", cluster.name);
            }
        }
        let mut sources = std::collections::BTreeSet::new();
        for source in &self.sources {
            if !sources.insert(source.name.clone()) {
                anyhow::bail!("{origin}: sources: {:?} is configured twice", source.name);
            }
            match source.stream {
                Stream::AuthLog => {}
                Stream::PgAudit if source.format.is_some() => {}
                Stream::PgAudit => anyhow::bail!("{origin}: sources: {:?}: a pgaudit source needs `format` (stderr, csvlog, jsonlog or syslog)", source.name),
                other => anyhow::bail!("{origin}: sources: {:?}: stream {other} is not a file source here (Kubernetes log files go under clusters[].audit_logs)", source.name),
            }
        }
        parse_fsync(&self.journal.fsync).with_context(|| format!("{origin}: journal.fsync"))?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            anyhow::bail!("{origin}: tls: give both `cert` and `key`, or neither");
        }
        let positive = [
            (
                "journal.checkpoint_records",
                self.journal.checkpoint_records,
            ),
            ("journal.segment_max_bytes", self.journal.segment_max_bytes),
            ("limits.max_body_bytes", self.limits.max_body_bytes as u64),
            (
                "limits.max_inflight_bytes",
                self.limits.max_inflight_bytes as u64,
            ),
            ("dedup.max_keys", self.dedup.max_keys as u64),
            (
                "index.export_max_records",
                self.index.export_max_records as u64,
            ),
        ];
        for (field, value) in positive {
            if value == 0 {
                anyhow::bail!("{origin}: {field}: must be more than 0");
            }
        }
        let durations = [
            (
                "journal.checkpoint_interval",
                self.journal.checkpoint_interval,
            ),
            ("retention.interval", self.retention.interval),
            ("index.commit_every", self.index.commit_every),
            ("index.export_budget", self.index.export_budget),
            ("downtime.heartbeat", self.downtime.heartbeat),
        ];
        for (field, value) in durations {
            if value.is_zero() {
                anyhow::bail!("{origin}: {field}: must be longer than 0s");
            }
        }
        if self.index.writer_memory_bytes < 15 << 20 {
            anyhow::bail!(
                "{origin}: index.writer_memory_bytes: {} is less than tantivy's minimum of 15 MB (15728640)",
                self.index.writer_memory_bytes
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        let c = Config::parse("", "x.yaml").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.limits.max_body_bytes, 64 << 20);
    }

    #[test]
    fn errors_name_the_place() {
        let err = Config::parse("listen: 127.0.0.1:1\nclustres: []\n", "w.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("w.yaml:2:"), "{err}");
        assert!(err.contains("clustres"), "{err}");
        let err = Config::parse("retention:\n  max_age: forever\n", "w.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("forever"), "{err}");
        let err = Config::parse("clusters: [{name: a}, {name: a}]", "w.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
        let err = Config::parse("sources: [{name: pg, stream: pgaudit, path: /x}]", "w.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `format`"), "{err}");
    }

    #[test]
    fn a_full_file() {
        let text = r#"
data: /var/lib/whodid
listen: 0.0.0.0:9443
clusters:
  - name: prod
    policy: /etc/whodid/prod-policy.yaml
    silence_limit: 10m
    audit_logs: [/var/log/kube-apiserver/audit.log]
sources:
  - name: node-1-auth
    stream: authlog
    path: /var/log/auth.log
    host: node-1
    keys: [/etc/whodid/keys.yaml]
  - name: db
    stream: pgaudit
    path: /var/log/postgresql/postgresql.csv
    format: csvlog
    keep: {objects: {exclude: ["app.emailsSent"]}}
"#;
        let c = Config::parse(text, "f.yaml").unwrap();
        assert_eq!(c.clusters[0].silence_limit, Some(Duration::from_secs(600)));
        assert!(c.clusters[0].redact);
        assert_eq!(c.sources[1].stream, Stream::PgAudit);
    }

    #[test]
    fn export_limits_default_to_the_query_service_and_refuse_zero() {
        let c = Config::parse("", "f.yaml").unwrap();
        assert_eq!(
            c.index.export_max_records,
            whodid_query::ServiceConfig::default().export_max_records
        );
        let c = Config::parse(
            "index: {export_max_records: 500, export_budget: 5s}\n",
            "f.yaml",
        )
        .unwrap();
        assert_eq!(c.index.export_max_records, 500);
        assert_eq!(c.index.export_budget, Duration::from_secs(5));
        for bad in [
            "index: {export_max_records: 0}\n",
            "index: {export_budget: 0s}\n",
        ] {
            let err = Config::parse(bad, "f.yaml").unwrap_err().to_string();
            assert!(err.contains("index.export_"), "{bad}: {err}");
        }
    }

    /// Pieces of configuration files, valid and not, to assemble at random.
    const PIECES: &[&str] = &[
        "data: d\n",
        "listen: 127.0.0.1:0\n",
        "listen: [\n",
        "clusters:\n",
        "  - name: prod\n",
        "    policy: p.yaml\n",
        "    silence_limit: 10x\n",
        "sources:\n",
        "  - {name: a, stream: pgaudit, path: x}\n",
        "journal: {fsync: interval:}\n",
        "metrics: {auth: none}\n",
        "downtime: {gap_after: -1s}\n",
        "limits: {max_body_bytes: -5}\n",
        "{",
        "}",
        "[",
        "]",
        "&a ",
        "*a\n",
        "!!binary x\n",
        ": :\n",
        "\t",
        "- ",
        "\"\\u",
        "'",
        "~\n",
        "dedup: {max_keys: 0}\n",
        "index: {writer_memory_bytes: 1}\n",
    ];

    proptest::proptest! {
        #[test]
        fn no_file_makes_it_panic(picks in proptest::collection::vec(0..PIECES.len(), 0..24), noise in ".{0,40}") {
            let mut text: String = picks.iter().map(|&i| PIECES[i]).collect();
            text.push_str(&noise);
            if let Err(e) = Config::parse(&text, "f.yaml") {
                proptest::prop_assert!(e.to_string().starts_with("f.yaml"), "{e}");
            }
        }
    }
}
