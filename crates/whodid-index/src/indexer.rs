//! The index writer: feeds day indexes from the journal, commits, keeps the
//! state, follows retention, and refuses to trust an index that does not
//! add up (it is rebuilt from the journal instead).
//!
//! **Invariant:** for every stream, the day indexes hold exactly the journal
//! records `[first, next)` of the state file, once each. [`Indexer::open`]
//! checks it (every day index opens, the document counts add up) and
//! rebuilds a stream whose index is lost, corrupt or inconsistent.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use tantivy::query::RangeQuery;
use tantivy::Term;
use whodid_journal::format::StoredRecord;
use whodid_journal::reader::{Entry, JournalReader, RecordIter};
use whodid_model::Stream;

use crate::checked::Checked;
use crate::config::IndexConfig;
use crate::day_writer::{open_existing, DayWriter};
use crate::document::prepare;
use crate::error::IndexError;
use crate::layout::{Day, IndexLayout};
use crate::lock::IndexLock;
use crate::schema::IndexSchema;
use crate::state::{IndexState, StreamState, UnreadableRange};

/// How far the index is behind the journal, per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// Journal records not yet searchable.
    pub records: u64,
    /// The next journal index to become searchable.
    pub indexed_next: u64,
    /// The journal's end.
    pub journal_end: u64,
}

/// Progress of a catch-up, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records indexed so far in this run.
    pub done: u64,
    /// Records to index in this run.
    pub total: u64,
}

/// What happened to a stream when the index was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The stream's index was lost, corrupt or inconsistent and is rebuilt.
    Rebuilt {
        /// The stream.
        stream: Stream,
        /// Why.
        reason: String,
    },
    /// Documents past the committed state (a crash between commits) were removed.
    Trimmed {
        /// The stream.
        stream: Stream,
    },
    /// Day indexes that were not whole were rebuilt from the journal (the
    /// stream's other days were kept).
    RebuiltDays {
        /// The stream.
        stream: Stream,
        /// Which days, and why.
        reason: String,
    },
}

/// The state as the day indexes' last commits left it (when `state.json`
/// is lost or damaged); what does not add up is then rebuilt by the checks.
fn recover_state(layout: &IndexLayout, schema: &IndexSchema) -> Result<IndexState, IndexError> {
    let mut state = IndexState::default();
    for (stream, day) in layout.days()? {
        let path = layout.day_dir(stream, day);
        let Ok(index) = open_existing(&path, schema) else {
            continue;
        };
        if let Some(payload) = index.load_metas().ok().and_then(|m| m.payload) {
            state.recover_from_payload(stream, &payload);
        }
    }
    Ok(state)
}

/// The one writer of a data directory's index.
#[derive(Debug)]
pub struct Indexer {
    layout: IndexLayout,
    _lock: IndexLock,
    journal: JournalReader,
    schema: IndexSchema,
    config: IndexConfig,
    /// The state as last committed.
    committed: IndexState,
    /// The state including indexed, uncommitted records.
    pending: IndexState,
    writers: HashMap<(Stream, Day), DayWriter>,
    iters: HashMap<Stream, RecordIter>,
    tick: u64,
    repairs: Vec<Repair>,
}

impl Indexer {
    /// Takes the index writer lock of `data` and checks every stream's index
    /// against the journal (see [`Indexer::repairs`]).
    pub fn open(data: &Path, config: IndexConfig) -> Result<Indexer, IndexError> {
        let journal = JournalReader::open(data)?;
        let layout = IndexLayout::new(data);
        let lock = IndexLock::acquire(&layout.lock_file())?;
        let schema = IndexSchema::build();
        let mut recovered = false;
        let state = match IndexState::load(&layout.state_file()) {
            Ok(state) if state == IndexState::default() && !layout.days()?.is_empty() => {
                tracing::warn!("index state missing: recovering it from the day indexes' commits");
                recovered = true;
                recover_state(&layout, &schema)?
            }
            Ok(state) => state,
            Err(error @ IndexError::StateVersion { .. }) => {
                tracing::warn!(%error, "index of another format version: rebuilding every stream");
                IndexState::default()
            }
            Err(error) => {
                tracing::warn!(%error, "index state unreadable: recovering it from the day indexes' commits");
                recovered = true;
                recover_state(&layout, &schema)?
            }
        };
        let mut indexer = Indexer {
            layout,
            _lock: lock,
            journal,
            schema,
            config,
            committed: state.clone(),
            pending: state,
            writers: HashMap::new(),
            iters: HashMap::new(),
            tick: 0,
            repairs: Vec::new(),
        };
        for stream in Stream::ALL {
            indexer.check_stream(stream)?;
        }
        if recovered {
            indexer.save_state()?;
        }
        Ok(indexer)
    }

    /// Opens `data`'s index after deleting it: everything is reindexed from the journal.
    pub fn open_fresh(data: &Path, config: IndexConfig) -> Result<Indexer, IndexError> {
        let mut indexer = Indexer::open(data, config)?;
        for stream in Stream::ALL {
            indexer.wipe_stream(stream)?;
        }
        Ok(indexer)
    }

    /// What [`Indexer::open`] had to repair.
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    /// The committed state.
    pub fn state(&self) -> &IndexState {
        &self.committed
    }

    /// The layout.
    pub fn layout(&self) -> &IndexLayout {
        &self.layout
    }

    fn day_dirs(&self, stream: Stream) -> Result<Vec<(Day, PathBuf)>, IndexError> {
        Ok(self
            .layout
            .days()?
            .into_iter()
            .filter(|(s, _)| *s == stream)
            .map(|(s, d)| (d, self.layout.day_dir(s, d)))
            .collect())
    }

    /// Live documents of a stream's whole day indexes, and the day indexes
    /// that are not whole (do not open, or files fail their checksums).
    fn count_docs(&self, stream: Stream) -> Result<(u64, Vec<(Day, String)>), IndexError> {
        let mut total = 0;
        let mut bad = Vec::new();
        let mut checked = Checked::load(&self.layout);
        for (day, path) in self.day_dirs(stream)? {
            match checked.count(&path, &self.schema) {
                Ok(count) => total += count,
                Err(reason) => bad.push((day, reason)),
            }
        }
        checked.save(&self.layout);
        Ok((total, bad))
    }

    /// Deletes the day indexes `days` of a stream and indexes their records
    /// again from the journal (only theirs: the other days are kept).
    fn rebuild_days(&mut self, stream: Stream, days: &[(Day, String)]) -> Result<(), IndexError> {
        let wanted: Vec<Day> = days.iter().map(|(d, _)| *d).collect();
        for (day, reason) in days {
            tracing::warn!(%stream, day = %day.label(), %reason, "day index not whole: rebuilding it from the journal");
            self.writers.remove(&(stream, *day));
            let path = self.layout.day_dir(stream, *day);
            std::fs::remove_dir_all(&path).map_err(IndexError::io(&path))?;
        }
        let state = self.committed.get(stream);
        let mut iter = self.journal.iter_from(stream, state.first)?;
        while let Some(entry) = iter.next_entry() {
            let record = match entry? {
                Entry::Record(record) => record,
                Entry::Damaged(damage) => {
                    tracing::error!(%damage, "journal damaged while rebuilding a day index");
                    continue;
                }
            };
            if record.index >= state.next {
                break;
            }
            self.index_record(stream, &record, Some(&wanted))?;
        }
        self.commit()
    }

    fn check_stream(&mut self, stream: Stream) -> Result<(), IndexError> {
        let (first, end) = self.journal.bounds(stream)?;
        let state = self.committed.get(stream);
        let has_days = !self.day_dirs(stream)?.is_empty();
        if state.next > end || state.first > state.next {
            let reason = format!(
                "the index covers records up to {} but the journal ends at {end}",
                state.next
            );
            return self.rebuild(stream, reason);
        }
        if state == StreamState::default() {
            if has_days {
                return self.rebuild(stream, "day indexes without an index state".to_owned());
            }
            return Ok(());
        }
        let expected = self.committed.indexed_records(stream);
        let (mut count, bad) = self.count_docs(stream)?;
        if !bad.is_empty() {
            self.rebuild_days(stream, &bad)?;
            let (now, still) = self.count_docs(stream)?;
            if let Some((day, reason)) = still.first() {
                let reason = format!("{}: {reason}", day.label());
                return self.rebuild(stream, reason);
            }
            let days: Vec<String> = bad
                .iter()
                .map(|(d, why)| format!("{}: {why}", d.label()))
                .collect();
            self.repairs.push(Repair::RebuiltDays {
                stream,
                reason: days.join("; "),
            });
            count = now;
        }
        if count > expected {
            // A crash after a day index committed and before the state did.
            self.delete_range(stream, Bound::Unbounded, Bound::Excluded(state.first), None)?;
            self.delete_range(stream, Bound::Included(state.next), Bound::Unbounded, None)?;
            self.commit()?;
            count = self.count_docs(stream)?.0;
            if count == expected {
                self.repairs.push(Repair::Trimmed { stream });
            }
        }
        if count != expected {
            let reason = format!(
                "{count} documents for the {expected} records [{}, {})",
                state.first, state.next
            );
            return self.rebuild(stream, reason);
        }
        if first > state.first {
            self.follow_retention(stream, first)?;
        }
        Ok(())
    }

    fn rebuild(&mut self, stream: Stream, reason: String) -> Result<(), IndexError> {
        tracing::warn!(%stream, %reason, "index not trusted: rebuilding it from the journal");
        self.repairs.push(Repair::Rebuilt { stream, reason });
        self.wipe_stream(stream)
    }

    /// Deletes a stream's day indexes; its records are indexed again from the journal's first.
    fn wipe_stream(&mut self, stream: Stream) -> Result<(), IndexError> {
        self.writers.retain(|(s, _), _| *s != stream);
        self.iters.remove(&stream);
        for (_, path) in self.day_dirs(stream)? {
            std::fs::remove_dir_all(&path).map_err(IndexError::io(&path))?;
        }
        let (first, _) = self.journal.bounds(stream)?;
        let state = StreamState { first, next: first };
        for all in [&mut self.committed, &mut self.pending] {
            all.streams.insert(stream, state);
            all.unreadable.remove(&stream);
        }
        self.save_state()
    }

    fn save_state(&self) -> Result<(), IndexError> {
        std::fs::create_dir_all(self.layout.root()).map_err(IndexError::io(self.layout.root()))?;
        self.committed.save(&self.layout.state_file())
    }

    fn writer(&mut self, stream: Stream, day: Day) -> Result<&mut DayWriter, IndexError> {
        self.tick += 1;
        let tick = self.tick;
        if !self.writers.contains_key(&(stream, day)) {
            self.close_idle_writers()?;
            let path = self.layout.day_dir(stream, day);
            let writer = DayWriter::open(&path, &self.schema, &self.config)?;
            self.writers.insert((stream, day), writer);
        }
        let writer = self
            .writers
            .get_mut(&(stream, day))
            .ok_or_else(|| IndexError::BadState {
                path: PathBuf::new(),
                what: "writer vanished".into(),
            })?;
        writer.last_used = tick;
        Ok(writer)
    }

    /// Keeps at most `max_open_days - 1` writers open before opening another.
    fn close_idle_writers(&mut self) -> Result<(), IndexError> {
        while self.writers.len() >= self.config.max_open_days.max(1) {
            let Some(key) = self
                .writers
                .iter()
                .min_by_key(|(_, w)| w.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            let dirty = self.writers.get(&key).is_some_and(|w| w.dirty);
            if dirty {
                // Its records must be committed with the state before it goes.
                self.commit()?;
            }
            if let Some(writer) = self.writers.remove(&key) {
                let path = self.layout.day_dir(key.0, key.1);
                writer.close(&path, &self.payload(key.0))?;
            }
        }
        Ok(())
    }

    fn payload(&self, stream: Stream) -> String {
        self.pending.payload(stream)
    }

    fn delete_range(
        &mut self,
        stream: Stream,
        lower: Bound<u64>,
        upper: Bound<u64>,
        only_below: Option<u64>,
    ) -> Result<(), IndexError> {
        let seq = self.schema.seq;
        let term = |b: Bound<u64>| match b {
            Bound::Included(v) => Bound::Included(Term::from_field_u64(seq, v)),
            Bound::Excluded(v) => Bound::Excluded(Term::from_field_u64(seq, v)),
            Bound::Unbounded => Bound::Unbounded,
        };
        for (day, path) in self.day_dirs(stream)? {
            if let Some(limit) = only_below {
                // Only days that hold records below `limit`.
                if !matches!(self.seq_span(&path)?, Some((min, _)) if min < limit) {
                    continue;
                }
            }
            let writer = self.writer(stream, day)?;
            writer.delete(&path, Box::new(RangeQuery::new(term(lower), term(upper))))?;
        }
        Ok(())
    }

    /// The smallest and largest record index in a day index (`None` when empty).
    fn seq_span(&self, path: &Path) -> Result<Option<(u64, u64)>, IndexError> {
        let index = open_existing(path, &self.schema)?;
        let reader = index.reader().map_err(IndexError::tantivy(path))?;
        let searcher = reader.searcher();
        let mut span: Option<(u64, u64)> = None;
        for segment in searcher.segment_readers() {
            if segment.num_docs() == 0 {
                continue;
            }
            let column = segment
                .fast_fields()
                .u64("seq")
                .map_err(IndexError::tantivy(path))?;
            let (lo, hi) = (column.min_value(), column.max_value());
            span = Some(match span {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
        }
        Ok(span)
    }

    /// The journal removed records before `first`: whole days go, the boundary day loses its old records.
    fn follow_retention(&mut self, stream: Stream, first: u64) -> Result<(), IndexError> {
        self.commit()?;
        for (day, path) in self.day_dirs(stream)? {
            match self.seq_span(&path)? {
                Some((_, max)) if max >= first => {}
                _ => {
                    if let Some(writer) = self.writers.remove(&(stream, day)) {
                        writer.close(&path, &self.payload(stream))?;
                    }
                    std::fs::remove_dir_all(&path).map_err(IndexError::io(&path))?;
                    tracing::info!(%stream, day = %day.label(), "index day removed with its journal records");
                }
            }
        }
        self.delete_range(
            stream,
            Bound::Unbounded,
            Bound::Excluded(first),
            Some(first),
        )?;
        for state in [&mut self.pending, &mut self.committed] {
            let st = state.streams.entry(stream).or_default();
            st.first = first;
            st.next = st.next.max(first);
            if let Some(ranges) = state.unreadable.get_mut(&stream) {
                ranges.retain(|r| r.end > first);
                for range in ranges.iter_mut() {
                    range.first = range.first.max(first);
                }
            }
        }
        self.iters.remove(&stream);
        self.commit()
    }

    /// How far each stream's index is behind the journal.
    pub fn lag(&self) -> Result<BTreeMap<Stream, Lag>, IndexError> {
        let mut out = BTreeMap::new();
        for stream in Stream::ALL {
            let (_, end) = self.journal.bounds(stream)?;
            let next = self.committed.get(stream).next;
            out.insert(
                stream,
                Lag {
                    records: end.saturating_sub(next),
                    indexed_next: next,
                    journal_end: end,
                },
            );
        }
        Ok(out)
    }

    /// Indexes up to `max` records of `stream` (uncommitted); returns how many.
    pub fn step(&mut self, stream: Stream, max: usize) -> Result<usize, IndexError> {
        // The first segment's name, not `bounds` (which reads the last segment).
        let first = self
            .journal
            .segments(stream)?
            .first()
            .map_or(0, |(first, _)| *first);
        if first > self.pending.get(stream).first {
            self.follow_retention(stream, first)?;
        }
        let next = self.pending.get(stream).next;
        if !self.iters.contains_key(&stream) {
            let iter = self.journal.iter_from(stream, next)?;
            self.iters.insert(stream, iter);
        }
        let mut done = 0;
        while done < max {
            let Some(iter) = self.iters.get_mut(&stream) else {
                break;
            };
            let Some(entry) = iter.next_entry() else {
                // The journal's current end: the iterator keeps its place
                // and continues with what is appended later.
                break;
            };
            let record = match entry? {
                Entry::Record(record) => record,
                Entry::Damaged(damage) => {
                    self.note_unreadable(stream, &damage);
                    done += 1;
                    continue;
                }
            };
            let expected = self.pending.get(stream).next;
            if record.index != expected {
                self.iters.remove(&stream);
                if record.index < expected {
                    continue;
                }
                return Err(IndexError::BadRecord {
                    stream: stream.to_string(),
                    index: expected,
                    what: format!("position: the journal skipped to {}", record.index),
                });
            }
            self.index_record(stream, &record, None)?;
            self.pending.streams.entry(stream).or_default().next = record.index + 1;
            done += 1;
        }
        Ok(done)
    }

    /// Records the journal could not give: kept in the state (so that they
    /// are neither read again nor forgotten), and indexing goes on after them.
    fn note_unreadable(&mut self, stream: Stream, damage: &whodid_journal::reader::DamagedFrame) {
        tracing::error!(%damage, "journal damaged: these records are not searchable");
        let next = self.pending.get(stream).next;
        if damage.end <= next {
            return;
        }
        let mut range = UnreadableRange::of(damage);
        range.first = range.first.max(next);
        self.pending
            .unreadable
            .entry(stream)
            .or_default()
            .push(range);
        self.pending.streams.entry(stream).or_default().next = damage.end;
    }

    /// Adds a record's document to its day index (only if that day is one
    /// of `only`, when given).
    fn index_record(
        &mut self,
        stream: Stream,
        record: &StoredRecord,
        only: Option<&[Day]>,
    ) -> Result<(), IndexError> {
        let wanted = |day: Day| only.is_none_or(|days| days.contains(&day));
        match prepare(
            &self.schema,
            stream,
            record.index,
            &record.envelope,
            &record.raw,
        ) {
            Ok(prepared) => {
                let day = Day::of_micros(prepared.time_micros);
                if wanted(day) {
                    let path = self.layout.day_dir(stream, day);
                    self.writer(stream, day)?
                        .add(&path, prepared.group, prepared.document)?;
                }
                Ok(())
            }
            // Unindexable records stay in the journal; the count check
            // must still add up, so they are counted as indexed.
            Err(error) => {
                if !wanted(Day(0)) {
                    return Ok(());
                }
                tracing::error!(%error, "record not searchable");
                self.add_placeholder(stream, record.index)
            }
        }
    }

    /// A document with only `seq` and the earliest day, so that counts add up.
    fn add_placeholder(&mut self, stream: Stream, seq: u64) -> Result<(), IndexError> {
        let mut doc = tantivy::TantivyDocument::default();
        doc.add_u64(self.schema.seq, seq);
        doc.add_i64(self.schema.time, 0);
        let path = self.layout.day_dir(stream, Day(0));
        self.writer(stream, Day(0))?.add(&path, String::new(), doc)
    }

    /// Commits every day index with new records, then the state.
    pub fn commit(&mut self) -> Result<(), IndexError> {
        let mut keys: Vec<(Stream, Day)> = self
            .writers
            .iter()
            .filter(|(_, w)| w.dirty)
            .map(|(k, _)| *k)
            .collect();
        keys.sort();
        for key in keys {
            let payload = self.payload(key.0);
            let path = self.layout.day_dir(key.0, key.1);
            if let Some(writer) = self.writers.get_mut(&key) {
                writer.commit(&path, &payload)?;
            }
        }
        if self.committed != self.pending {
            self.committed = self.pending.clone();
            self.save_state()?;
        }
        Ok(())
    }

    /// Records not yet indexed, per stream.
    pub fn backlog(&self) -> Result<u64, IndexError> {
        let mut total = 0;
        for stream in Stream::ALL {
            let (first, end) = self.journal.bounds(stream)?;
            total += end.saturating_sub(self.pending.get(stream).next.max(first));
        }
        Ok(total)
    }

    /// Indexes everything the journal holds now and commits.
    pub fn catch_up(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<u64, IndexError> {
        let total = self.backlog()?;
        let mut report = Progress { done: 0, total };
        let mut since_commit = 0u64;
        progress(report);
        for stream in Stream::ALL {
            loop {
                let n = self.step(stream, self.config.batch_records)? as u64;
                if n == 0 {
                    break;
                }
                report.done += n;
                since_commit += n;
                if since_commit >= self.config.bulk_commit_records {
                    self.commit()?;
                    since_commit = 0;
                }
                report.total = report.total.max(report.done);
                progress(report);
            }
        }
        self.commit()?;
        Ok(report.done)
    }

    /// Commits and closes every writer (waiting for merges).
    pub fn close(mut self) -> Result<(), IndexError> {
        self.commit()?;
        let writers: Vec<_> = self.writers.drain().collect();
        for ((stream, day), writer) in writers {
            let path = self.layout.day_dir(stream, day);
            writer.close(&path, &self.payload(stream))?;
        }
        Ok(())
    }
}
