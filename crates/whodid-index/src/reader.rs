//! The search side: day indexes opened read-only, beside the writer.
//!
//! [`IndexSet`] lists the day indexes a time range needs, opens each once
//! and reloads it (cheaply: only when its commit changed) before a search,
//! so that `whodid search` works beside a running `whodid serve`. A day
//! index that cannot be opened is reported, not guessed at.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tantivy::{Index, IndexReader, ReloadPolicy, Searcher};
use whodid_model::Stream;

use crate::day_writer::open_existing;
use crate::error::IndexError;
use crate::layout::{Day, IndexLayout, DAY_MICROS};
use crate::schema::IndexSchema;
use crate::state::IndexState;

/// One day index, ready to search.
#[derive(Clone)]
pub struct DayIndex {
    /// The stream.
    pub stream: Stream,
    /// The day.
    pub day: Day,
    /// A searcher on its latest commit.
    pub searcher: Searcher,
}

impl std::fmt::Debug for DayIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DayIndex")
            .field("stream", &self.stream)
            .field("day", &self.day.label())
            .finish_non_exhaustive()
    }
}

struct Opened {
    _index: Index,
    reader: IndexReader,
    reloaded: Instant,
    /// `meta.json`'s modification time and length when last (re)loaded:
    /// a new commit rewrites it.
    meta: Option<(std::time::SystemTime, u64)>,
}

fn meta_stamp(dir: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(dir.join("meta.json")).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The day indexes of a data directory.
pub struct IndexSet {
    layout: IndexLayout,
    schema: IndexSchema,
    opened: Mutex<HashMap<(Stream, Day), Arc<Opened>>>,
    reload_after: Duration,
}

impl std::fmt::Debug for IndexSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexSet")
            .field("root", &self.layout.root())
            .finish_non_exhaustive()
    }
}

/// The day indexes a search uses, and the ones it could not.
#[derive(Debug, Default)]
pub struct Selection {
    /// Newest day first; within a day, in `Stream::ALL` order.
    pub days: Vec<DayIndex>,
    /// Day indexes that exist but could not be opened: (name, why).
    pub unreadable: Vec<(String, String)>,
}

impl IndexSet {
    /// The index of `data` (which may not exist yet: then nothing is found).
    pub fn open(data: &Path) -> IndexSet {
        IndexSet {
            layout: IndexLayout::new(data),
            schema: IndexSchema::build(),
            opened: Mutex::new(HashMap::new()),
            reload_after: Duration::from_millis(100),
        }
    }

    /// The schema handles.
    pub fn schema(&self) -> &IndexSchema {
        &self.schema
    }

    /// The layout.
    pub fn layout(&self) -> &IndexLayout {
        &self.layout
    }

    /// The index state as last committed by the writer.
    pub fn state(&self) -> Result<IndexState, IndexError> {
        IndexState::load(&self.layout.state_file())
    }

    /// The day indexes of `streams` that may hold records in `[from, to)` (microseconds).
    pub fn select(&self, streams: &[Stream], from: i64, to: i64) -> Result<Selection, IndexError> {
        let first_day = Day::of_micros(from);
        let last_day = Day::of_micros(to.saturating_sub(1).max(from));
        let mut wanted: Vec<(Stream, Day)> = self
            .layout
            .days()?
            .into_iter()
            .filter(|(s, d)| streams.contains(s) && *d >= first_day && *d <= last_day)
            .collect();
        // Newest day first, then the fixed stream order.
        wanted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut selection = Selection::default();
        let mut opened = self.opened.lock().map_err(|_| IndexError::BadState {
            path: self.layout.root().to_owned(),
            what: "index cache poisoned".into(),
        })?;
        opened.retain(|key, _| wanted.contains(key) || key.1 < first_day || key.1 > last_day);
        for (stream, day) in wanted {
            let path = self.layout.day_dir(stream, day);
            let entry = match opened.get(&(stream, day)) {
                Some(entry) => Arc::clone(entry),
                None => match open_reader(&path, &self.schema) {
                    Ok(entry) => {
                        let entry = Arc::new(entry);
                        opened.insert((stream, day), Arc::clone(&entry));
                        entry
                    }
                    Err(error) => {
                        selection
                            .unreadable
                            .push((IndexLayout::day_name(stream, day), error.to_string()));
                        continue;
                    }
                },
            };
            let entry = if entry.reloaded.elapsed() >= self.reload_after {
                let stamp = meta_stamp(&path);
                let changed = stamp.is_none() || stamp != entry.meta;
                if changed {
                    if let Err(error) = entry.reader.reload() {
                        selection
                            .unreadable
                            .push((IndexLayout::day_name(stream, day), error.to_string()));
                        opened.remove(&(stream, day));
                        continue;
                    }
                }
                let fresh = Arc::new(Opened {
                    _index: entry._index.clone(),
                    reader: entry.reader.clone(),
                    reloaded: Instant::now(),
                    meta: stamp,
                });
                opened.insert((stream, day), Arc::clone(&fresh));
                fresh
            } else {
                entry
            };
            selection.days.push(DayIndex {
                stream,
                day,
                searcher: entry.reader.searcher(),
            });
        }
        Ok(selection)
    }
}

fn open_reader(path: &Path, schema: &IndexSchema) -> Result<Opened, IndexError> {
    let meta = meta_stamp(path);
    let index = open_existing(path, schema)?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .doc_store_cache_num_blocks(64)
        .try_into()
        .map_err(IndexError::tantivy(path))?;
    Ok(Opened {
        _index: index,
        reader,
        reloaded: Instant::now(),
        meta,
    })
}

/// The first microsecond after day `day`.
pub fn day_end_micros(day: Day) -> i64 {
    day.start_micros().saturating_add(DAY_MICROS)
}
