//! A live file source: a rotation-aware tailer feeding a line parser, whose
//! records are stored and whose position is saved only once they are
//! durable.
//!
//! Runs on its own thread ([`TailSource::run`]) until told to stop. Order
//! of each round: poll the tailer, parse the lines, store the records (the
//! last one carries the tailer's position in its envelope `origin`), wait
//! until durable, save the position. Losses the tailer reports (a backup
//! deleted unread, a truncation, a line too long to keep) become gap
//! records in the stream. If storing fails, nothing after the saved
//! position was stored: the source starts again from it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use whodid_journal::reader::JournalReader;
use whodid_journal::{Journal, RecordInput};
use whodid_model::{Envelope, Origin};
use whodid_parse::Position;
use whodid_tail::{TailEvent, TailPosition, TailSpec, Tailer};

use crate::gap::{Gap, GapReason};
use crate::kube::prepare::Prepared;
use crate::line_source::{LineParser, Parsed};
use crate::metrics::{IngestMetrics, SourceLabel};
use crate::positions::{resume_position, PositionError, PositionStore, SavedPosition};
use crate::read_ahead::ReadAhead;
use crate::sink::{append_durable, Pending, Sink};

/// Rounds whose records may wait for durability while the next is read.
const MAX_ROUNDS_IN_FLIGHT: usize = 4;

/// Bytes read per round at most.
const ROUND_BYTES: usize = 8 << 20;

/// How a file source behaves.
#[derive(Debug, Clone)]
pub struct TailSourceConfig {
    /// Unique name: its position is saved under it, gap records name it.
    pub name: String,
    /// What to tail.
    pub spec: TailSpec,
    /// The cluster (Kubernetes sources) for gap records.
    pub cluster: String,
    /// The node or server, for gap records.
    pub host: String,
    /// How long to sleep when caught up.
    pub poll_interval: Duration,
    /// A multi-line record still buffered after this much quiet is emitted.
    pub idle_flush: Duration,
    /// Threads that prepare a round's Kubernetes lines (1: the source's own).
    pub prepare_threads: usize,
}

/// A file source ready to run.
#[derive(Debug)]
pub struct TailSource {
    config: TailSourceConfig,
    make_parser: ParserFactory,
    sink: Sink,
    journal: Arc<Journal>,
    positions: PositionStore,
    metrics: Arc<IngestMetrics>,
}

/// Builds a source's parser (again after a failure).
#[derive(Clone)]
pub struct ParserFactory(pub Arc<dyn Fn() -> LineParser + Send + Sync>);

impl std::fmt::Debug for ParserFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParserFactory")
    }
}

/// Where a source resumes: the saved position reconciled with the journal.
pub fn resume(
    positions: &PositionStore,
    reader: &JournalReader,
    stream: whodid_model::Stream,
    name: &str,
) -> Result<Option<TailPosition>, PositionError> {
    Ok(resume_position(positions, reader, stream, name)?
        .and_then(|value| serde_json::from_value(value).ok()))
}

impl TailSource {
    /// A source; `make_parser` builds a fresh parser (again after a failure).
    pub fn new(
        config: TailSourceConfig,
        make_parser: ParserFactory,
        sink: Sink,
        journal: Arc<Journal>,
        positions: PositionStore,
        metrics: Arc<IngestMetrics>,
    ) -> TailSource {
        TailSource {
            config,
            make_parser,
            sink,
            journal,
            positions,
            metrics,
        }
    }

    /// Tails until `stop` is set; `runtime` runs the async stores.
    pub fn run(
        self,
        resume: Option<TailPosition>,
        runtime: tokio::runtime::Handle,
        stop: Arc<AtomicBool>,
    ) {
        let label = SourceLabel {
            source: self.config.name.clone(),
        };
        let mut saved = resume;
        let mut journal_end = self
            .positions
            .load(&self.config.name)
            .ok()
            .flatten()
            .map_or(0, |s| s.journal_end);
        'restart: while !stop.load(Ordering::Relaxed) {
            let tailer = Tailer::new(self.config.spec.clone(), saved.clone());
            let mut reader = match ReadAhead::start(tailer, ROUND_BYTES, &self.config.name) {
                Ok(reader) => reader,
                Err(e) => {
                    tracing::error!(source = %self.config.name, error = %e, "file source cannot start its reading thread");
                    sleep_unless(&stop, Duration::from_secs(1));
                    continue 'restart;
                }
            };
            let mut parser = (self.make_parser.0)();
            let mut last_error = String::new();
            let mut last_line = Instant::now();
            let mut lines_since_flush = 0u64;
            // (start of line, position after it) of lines not yet saved, for
            // multi-line records still being collected.
            let mut afters: Vec<(PathBuf, Position, TailPosition)> = Vec::new();
            let mut in_flight: VecDeque<(Option<Pending>, Option<TailPosition>)> = VecDeque::new();
            while !stop.load(Ordering::Relaxed) {
                let Some(round) = reader.next() else {
                    tracing::error!(source = %self.config.name, "file source's reading thread stopped; starting again from the saved position");
                    saved = self.settle_all_and_resume(&mut in_flight, &runtime, saved);
                    sleep_unless(&stop, Duration::from_secs(1));
                    continue 'restart;
                };
                let tail_position = round.position;
                let outcome = match round.outcome {
                    Ok(outcome) => {
                        last_error.clear();
                        outcome
                    }
                    Err(e) => {
                        let text = e.to_string();
                        if text != last_error {
                            tracing::warn!(source = %self.config.name, error = %text, "file source cannot read");
                            last_error = text;
                        }
                        sleep_unless(
                            &stop,
                            self.config.poll_interval.max(Duration::from_millis(500)),
                        );
                        continue;
                    }
                };
                parser.set_reference(jiff::Timestamp::now());
                let mut items: Vec<Parsed> = Vec::new();
                let mut gaps: Vec<RecordInput> = Vec::new();
                let mut lines: Vec<(Position, Vec<u8>)> = Vec::with_capacity(round.events.len());
                let mut line_bytes = 0u64;
                for event in round.events {
                    match event {
                        TailEvent::Line {
                            file,
                            line,
                            offset,
                            text,
                            after,
                        } => {
                            let at = Position { line, offset };
                            line_bytes += text.len() as u64 + 1;
                            lines.push((at, text));
                            afters.push((file, at, after));
                            last_line = Instant::now();
                            lines_since_flush += 1;
                        }
                        TailEvent::LineTooLong {
                            file,
                            line,
                            offset,
                            len,
                            after,
                        } => {
                            tracing::warn!(source = %self.config.name, file = %file.display(), line, len, "line too long: skipped");
                            gaps.push(self.gap(GapReason::LineTooLong, Some(&file), Some(len), None, None,
                                format!("line {line} (byte {offset}) of {} is {len} bytes, over the limit of {}: not stored", file.display(), self.config.spec.max_line_bytes)));
                            afters.push((file, Position { line, offset }, after));
                        }
                        TailEvent::Gap {
                            file,
                            reason,
                            unread_bytes,
                            written_after,
                            written_before,
                            after,
                        } => {
                            let reason = match reason {
                                whodid_tail::GapReason::ResumeFileGone => {
                                    GapReason::ResumeFileMissing
                                }
                                whodid_tail::GapReason::Unseen => GapReason::RotatedFileDeleted,
                                whodid_tail::GapReason::Truncated => GapReason::Truncated,
                                whodid_tail::GapReason::Unreadable => GapReason::Unreadable,
                            };
                            tracing::warn!(source = %self.config.name, file = %file.display(), reason = ?reason, "data lost before it could be read");
                            gaps.push(self.gap(
                                reason,
                                Some(&file),
                                unread_bytes,
                                written_after,
                                written_before,
                                format!(
                                    "{} could not be read to its end ({reason:?})",
                                    file.display()
                                ),
                            ));
                            if let Some(after) = after {
                                afters.push((file, Position { line: 0, offset: 0 }, after));
                            }
                        }
                    }
                }
                self.metrics
                    .lines
                    .get_or_create(&label)
                    .inc_by(lines.len() as u64);
                self.metrics.bytes.get_or_create(&label).inc_by(line_bytes);
                parser.push_lines(&lines, self.config.prepare_threads, &mut items);
                drop(lines);
                let quiet = last_line.elapsed() >= self.config.idle_flush;
                if outcome.caught_up && quiet && parser.pending_since().is_some() {
                    parser.finish(&mut items);
                }
                for item in &items {
                    if let Parsed::Diagnostic(d) = item {
                        self.metrics.diagnostics.get_or_create(&label).inc();
                        tracing::warn!(source = %self.config.name, line = d.position.line, error = %d, "unreadable line");
                    }
                }
                // How far a saved position may go: not into a record still buffered.
                let position = match parser.pending_since() {
                    Some(pending) => afters
                        .iter()
                        .rev()
                        .find(|(_, at, _)| at.offset < pending.offset || at.line < pending.line)
                        .map(|(_, _, a)| a.clone()),
                    // Nothing half-read: the tailer's own position, which is
                    // already in the next file once one is finished.
                    None => tail_position.or_else(|| afters.last().map(|(_, _, a)| a.clone())),
                };
                if !gaps.is_empty() {
                    self.metrics
                        .gaps
                        .get_or_create(&label)
                        .inc_by(gaps.len() as u64);
                    let stream = parser.stream();
                    if let Err(e) = runtime.block_on(append_durable(&self.journal, stream, gaps)) {
                        tracing::error!(source = %self.config.name, error = %e, "could not record a gap; starting again from the saved position");
                        sleep_unless(&stop, Duration::from_secs(1));
                        continue 'restart;
                    }
                }
                if let Some(position) = position.clone() {
                    self.attach_origin(&mut items, &position);
                }
                let has_records = items.iter().any(|i| !matches!(i, Parsed::Diagnostic(_)));
                let pending = if has_records {
                    match self.sink.submit(items) {
                        Ok(pending) => Some(pending),
                        Err(e) => {
                            tracing::error!(source = %self.config.name, error = %e, "could not store; starting again from the last durable position");
                            saved = self.settle_all_and_resume(&mut in_flight, &runtime, saved);
                            sleep_unless(&stop, Duration::from_secs(1));
                            continue 'restart;
                        }
                    }
                } else {
                    None
                };
                if let Some(position) = &position {
                    afters.retain(|(_, _, a)| a != position);
                    if parser.pending_since().is_none() {
                        afters.clear();
                    }
                }
                in_flight.push_back((pending, position));
                // Rounds in flight wait for their fsync while the next is read
                // (all of them once caught up); positions are saved in order,
                // once durable.
                let keep = if outcome.caught_up {
                    0
                } else {
                    MAX_ROUNDS_IN_FLIGHT
                };
                while let Some((pending, position)) = (in_flight.len() > keep)
                    .then(|| in_flight.pop_front())
                    .flatten()
                {
                    if let Some(pending) = pending {
                        match runtime.block_on(pending.wait()) {
                            Ok(stored) => {
                                self.metrics
                                    .records
                                    .get_or_create(&label)
                                    .inc_by(stored.records);
                                if let Some(end) = stored.journal_end {
                                    journal_end = end;
                                }
                            }
                            Err(e) => {
                                tracing::error!(source = %self.config.name, error = %e, "could not store; starting again from the last durable position");
                                saved = self.settle_all_and_resume(&mut in_flight, &runtime, saved);
                                sleep_unless(&stop, Duration::from_secs(1));
                                continue 'restart;
                            }
                        }
                    }
                    if let Some(position) = position {
                        if saved.as_ref() != Some(&position) {
                            self.save_position(&position, journal_end);
                            saved = Some(position);
                        }
                    }
                }
                let lag = if lines_since_flush == 0 {
                    0.0
                } else {
                    last_line.elapsed().as_secs_f64()
                };
                self.metrics
                    .source_lag_seconds
                    .get_or_create(&label)
                    .set(lag);
                if outcome.caught_up {
                    sleep_unless(&stop, self.config.poll_interval);
                }
            }
            // Stopping: what is in flight becomes durable, and its position is saved.
            while let Some((pending, position)) = in_flight.pop_front() {
                if let Some(pending) = pending {
                    match runtime.block_on(pending.wait()) {
                        Ok(stored) => journal_end = stored.journal_end.unwrap_or(journal_end),
                        Err(_) => return,
                    }
                }
                if let Some(position) = position {
                    self.save_position(&position, journal_end);
                }
            }
            return;
        }
    }

    /// Saves `position` (the stream's journal end then: `journal_end`).
    fn save_position(&self, position: &TailPosition, journal_end: u64) {
        let record = SavedPosition {
            version: 1,
            source: self.config.name.clone(),
            position: serde_json::to_value(position).unwrap_or_default(),
            journal_end,
        };
        if let Err(e) = self.positions.save(&record) {
            tracing::error!(source = %self.config.name, error = %e, "could not save the position");
        }
    }

    /// After a failed store: waits for every round still in flight (some
    /// may yet be stored), then takes the position from the journal itself,
    /// so nothing is stored twice.
    fn settle_all_and_resume(
        &self,
        in_flight: &mut VecDeque<(Option<Pending>, Option<TailPosition>)>,
        runtime: &tokio::runtime::Handle,
        saved: Option<TailPosition>,
    ) -> Option<TailPosition> {
        while let Some((pending, _)) = in_flight.pop_front() {
            if let Some(pending) = pending {
                let _ = runtime.block_on(pending.wait());
            }
        }
        let stream = match &self.sink {
            Sink::Kube { .. } => whodid_model::Stream::KubeAudit,
            Sink::Journal { stream, .. } => *stream,
        };
        match JournalReader::open(self.journal.root()) {
            Ok(reader) => match resume(&self.positions, &reader, stream, &self.config.name) {
                Ok(Some(position)) => Some(position),
                Ok(None) => saved,
                Err(e) => {
                    tracing::error!(source = %self.config.name, error = %e, "cannot read where to resume; using the last saved position");
                    saved
                }
            },
            Err(_) => saved,
        }
    }

    fn gap(
        &self,
        reason: GapReason,
        file: Option<&std::path::Path>,
        lost_bytes: Option<u64>,
        from: Option<SystemTime>,
        to: Option<SystemTime>,
        detail: String,
    ) -> RecordInput {
        let stamp = |t: Option<SystemTime>| t.and_then(|t| jiff::Timestamp::try_from(t).ok());
        Gap {
            reason,
            source: self.config.name.clone(),
            file: file.map(|f| f.display().to_string()),
            from: stamp(from),
            to: stamp(to),
            lost_bytes,
            detail,
        }
        .record(
            match &self.sink {
                Sink::Kube { .. } => whodid_model::Stream::KubeAudit,
                Sink::Journal { stream, .. } => *stream,
            },
            &self.config.cluster,
            &self.config.host,
            jiff::Timestamp::now(),
        )
    }

    /// Puts the position into the envelope of the last record to store.
    fn attach_origin(&self, items: &mut [Parsed], position: &TailPosition) {
        let record = items.iter_mut().rev().find_map(|item| match item {
            Parsed::Record(record) => Some(record),
            Parsed::Kube(Prepared::Keep { record, .. })
            | Parsed::Kube(Prepared::Invalid { record, .. }) => Some(record),
            _ => None,
        });
        let Some(record) = record else { return };
        let Ok(mut envelope) = Envelope::from_json(&record.envelope) else {
            return;
        };
        envelope.origin = Some(Origin {
            source: self.config.name.clone(),
            after: serde_json::to_value(position).unwrap_or_default(),
        });
        record.envelope = envelope.to_json();
    }
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(50);
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < total {
        std::thread::sleep(step.min(total));
    }
}
