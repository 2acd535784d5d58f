//! `whodid ingest`: one-off imports of old log files into a data directory
//! (the server must not be running on it: the journal has one writer).
//!
//! Each file (plain or gzip; `-` is standard input) is read line by line
//! with bounded memory, parsed as its stream's format, and stored in
//! batches that are durable before the next is read. Kubernetes events are
//! deduplicated against what the journal already holds, so importing a file
//! twice stores nothing new. Unreadable lines are reported with file and
//! line; the rest is imported.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use whodid_ingest::import::{import, ImportReport};
use whodid_ingest::kube::prepare::KubeSource;
use whodid_ingest::kube::store::{DedupConfig, KubeStore};
use whodid_ingest::line_source::LineParser;
use whodid_ingest::redaction_key::RedactionKey;
use whodid_ingest::sink::Sink;
use whodid_ingest::IngestMetrics;
use whodid_journal::reader::JournalReader;
use whodid_journal::Journal;
use whodid_model::Stream;
use whodid_parse::authlog::{AuthLogConfig, AuthLogParser};
use whodid_parse::pgaudit::{PgAuditFilter, PgLogFormat};
use whodid_policy::evaluate::Evaluator;

use crate::journal_args::JournalArgs;
use crate::sources;

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    #[command(flatten)]
    journal: JournalArgs,

    /// The stream the files belong to: kubeaudit, authlog or pgaudit.
    #[arg(long)]
    stream: Stream,

    /// The files (plain or .gz); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,

    /// kubeaudit: the cluster the events came from.
    #[arg(long, default_value = "default")]
    cluster: String,

    /// kubeaudit: apply this audit.k8s.io/v1 policy before storing.
    #[arg(long)]
    policy: Option<PathBuf>,

    /// kubeaudit: store secret values as sent (default: keyed hashes).
    #[arg(long)]
    no_redact: bool,

    /// authlog: keys.yaml or authorized_keys files (ACCOUNT=PATH) mapping keys to people.
    #[arg(long)]
    keys: Vec<PathBuf>,

    /// The node or database server the logs are from.
    #[arg(long, default_value = "")]
    host: String,

    /// pgaudit: the log's format.
    #[arg(long, value_parser = parse_pg_format)]
    pg_format: Option<PgLogFormat>,

    /// pgaudit: the server's log_line_prefix (stderr and syslog formats).
    #[arg(long)]
    pg_prefix: Option<String>,

    /// pgaudit: keep rules (YAML: databases, objects, classes, commands, users, audit_types).
    #[arg(long)]
    pg_keep: Option<PathBuf>,

    /// Create the data directory when it is missing or empty (else it must exist: `whodid init`).
    #[arg(long)]
    init: bool,

    /// Lines longer than this are reported and skipped.
    #[arg(long, default_value_t = 64 << 20)]
    max_line_bytes: usize,
}

fn parse_pg_format(text: &str) -> Result<PgLogFormat, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("{text:?}: expected stderr, csvlog, jsonlog or syslog"))
}

pub(crate) fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let config = args.journal.config()?;
    let data = args.journal.data.clone();
    if crate::data_dir::ready(&data, args.init)? == crate::data_dir::Found::Created {
        eprintln!(
            "whodid: created data directory {} (--init): a new journal with a new signing key",
            crate::data_dir::shown(&data)
        );
    }
    let journal = Arc::new(
        Journal::open(&data, config)
            .with_context(|| format!("opening data directory {}", data.display()))?,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(ingest_all(&args, &journal));
    let closed = journal.close().context("closing the journal");
    let report = outcome?;
    closed?;
    for (file, diagnostic) in report.diagnostics.iter().take(50) {
        eprintln!(
            "{}:{}: {}",
            file.display(),
            diagnostic.position.line,
            diagnostic
        );
    }
    if report.diagnostics.len() > 50 {
        eprintln!(
            "… and {} more unreadable lines",
            report.diagnostics.len() - 50
        );
    }
    println!(
        "ingested {} lines ({} bytes): {} records stored, {} already stored, {} dropped by policy or keep rules, {} redacted, {} unreadable lines",
        report.lines,
        report.bytes,
        report.stored.records,
        report.stored.deduplicated,
        report.stored.dropped,
        report.stored.redacted,
        report.diagnostics.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn ingest_all(args: &IngestArgs, journal: &Arc<Journal>) -> anyhow::Result<ImportReport> {
    let (mut parser, sink) = parser_and_sink(args, journal)?;
    let total: u64 = args
        .files
        .iter()
        .filter(|f| f.as_os_str() != "-")
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut report = ImportReport::default();
    let mut done_before = 0u64;
    for file in &args.files {
        bar.set_message(file.display().to_string());
        let reader = open(file)?;
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let mut file_report = ImportReport::default();
        let mut progress = |bytes: u64| bar.set_position(done_before + bytes.min(size.max(bytes)));
        let result = import(
            file,
            reader,
            &mut parser,
            &sink,
            args.max_line_bytes,
            &mut file_report,
            &mut progress,
        )
        .await;
        done_before += size;
        report.lines += file_report.lines;
        report.bytes += file_report.bytes;
        report.stored.records += file_report.stored.records;
        report.stored.deduplicated += file_report.stored.deduplicated;
        report.stored.dropped += file_report.stored.dropped;
        report.stored.redacted += file_report.stored.redacted;
        report.diagnostics.extend(file_report.diagnostics);
        result.with_context(|| format!("importing {}", file.display()))?;
    }
    bar.finish_and_clear();
    Ok(report)
}

fn open(path: &PathBuf) -> anyhow::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            anyhow::bail!("{} is a directory, not a log file", path.display());
        }
        Box::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
    };
    let mut buffered = BufReader::with_capacity(1 << 20, raw);
    let gzip = buffered
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    })
}

fn parser_and_sink(
    args: &IngestArgs,
    journal: &Arc<Journal>,
) -> anyhow::Result<(LineParser, Sink)> {
    match args.stream {
        Stream::KubeAudit => {
            let policy = match &args.policy {
                Some(path) => Some(Evaluator::new(&crate::policy::load::load_valid_policy(
                    path,
                )?)),
                None => None,
            };
            let redaction = if args.no_redact {
                eprintln!(
                    "whodid: WARNING: --no-redact: Secret data and tokens will be stored as sent"
                );
                None
            } else {
                Some(RedactionKey::load_or_create(&journal.keys_dir()).context("redaction key")?)
            };
            let source = KubeSource {
                cluster: args.cluster.clone(),
                policy,
                redaction,
            };
            let store = Arc::new(KubeStore::new(
                Arc::clone(journal),
                DedupConfig::default(),
                Arc::new(IngestMetrics::unregistered()),
            ));
            let reader = JournalReader::open(journal.root())?;
            store
                .refill_from(&reader, u64::MAX)
                .context("reading stored events for deduplication")?;
            Ok((
                LineParser::Kube(Box::new(source)),
                Sink::Kube {
                    store,
                    cluster: args.cluster.clone(),
                },
            ))
        }
        Stream::AuthLog => {
            let registry = sources::key_registry(&args.keys)?;
            // Classic syslog lines have no year: the newest file's time gives it.
            let reference = args
                .files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok()?.modified().ok())
                .max()
                .and_then(|t| jiff::Timestamp::try_from(t).ok())
                .unwrap_or_else(jiff::Timestamp::now);
            let mut config = AuthLogConfig::new(reference);
            // For lines that name no host (sshd's own log file, `sshd -E`).
            args.host.clone_into(&mut config.host);
            let parser = AuthLogParser::new(config, registry);
            Ok((
                LineParser::AuthLog(Box::new(parser)),
                journal_sink(journal, Stream::AuthLog),
            ))
        }
        Stream::PgAudit => {
            let format = args
                .pg_format
                .context("--stream pgaudit needs --pg-format stderr|csvlog|jsonlog|syslog")?;
            let config = sources::pg_config(format, args.pg_prefix.as_deref(), &args.host);
            whodid_parse::pgaudit::PgAuditParser::new(&config, jiff::Timestamp::now())?;
            let filter: PgAuditFilter = match &args.pg_keep {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_yaml_ng::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => PgAuditFilter::default(),
            };
            Ok((
                sources::pg_parser(&config, &filter),
                journal_sink(journal, Stream::PgAudit),
            ))
        }
        other => anyhow::bail!(
            "--stream {other}: only kubeaudit, authlog and pgaudit files can be imported"
        ),
    }
}

fn journal_sink(journal: &Arc<Journal>, stream: Stream) -> Sink {
    Sink::Journal {
        journal: Arc::clone(journal),
        stream,
    }
}
