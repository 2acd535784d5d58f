//! tantivy collectors: the newest hits in (time, stream, seq) order with a
//! cursor and a time budget, and exact per-value counts for aggregations.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use whodid_index::tantivy::collector::{Collector, SegmentCollector};
use whodid_index::tantivy::columnar::{Column, StrColumn};
use whodid_index::tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// The sort key of a hit: newest first; at equal times by stream rank, then
/// by journal index, newest first. Larger keys come first.
pub type SortKey = (i64, Reverse<u8>, u64);

/// How often (in documents) a collector looks at the clock.
const CLOCK_EVERY: u32 = 4096;

/// A shared deadline: once passed, collectors stop and say so.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Instant,
    exceeded: Arc<AtomicBool>,
}

impl Budget {
    /// A budget ending at `deadline`.
    pub fn until(deadline: Instant) -> Budget {
        Budget {
            deadline,
            exceeded: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the deadline has passed (and records that it has).
    pub fn check(&self) -> bool {
        if self.exceeded.load(Ordering::Relaxed) {
            return true;
        }
        if Instant::now() >= self.deadline {
            self.exceeded.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Whether any collector ran out of time.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }
}

/// Looks at a [`Budget`] every [`CLOCK_EVERY`] documents.
#[derive(Debug)]
struct Clock {
    budget: Budget,
    since: u32,
    stopped: bool,
}

impl Clock {
    fn new(budget: &Budget) -> Clock {
        Clock {
            budget: budget.clone(),
            since: 0,
            stopped: false,
        }
    }

    /// Counts one document; whether collecting must stop.
    fn stopped(&mut self) -> bool {
        if self.stopped {
            return true;
        }
        self.since += 1;
        if self.since >= CLOCK_EVERY {
            self.since = 0;
            self.stopped = self.budget.check();
        }
        self.stopped
    }
}

/// The `limit` largest keys below `before`, and how many documents matched.
#[derive(Debug)]
pub struct TopNewest {
    /// How many hits to keep.
    pub limit: usize,
    /// Only keys strictly below this (the cursor).
    pub before: Option<SortKey>,
    /// The stream rank of the day index searched.
    pub rank: u8,
    /// The clock.
    pub budget: Budget,
}

/// What [`TopNewest`] found.
#[derive(Debug, Default)]
pub struct Newest {
    /// Hits, largest key first.
    pub hits: Vec<(SortKey, DocAddress)>,
    /// Matching documents (below the cursor), counted until the budget ran out.
    pub matched: u64,
}

/// [`TopNewest`] on one segment.
pub struct TopNewestSegment {
    limit: usize,
    before: Option<SortKey>,
    rank: u8,
    segment: SegmentOrdinal,
    time: Column<i64>,
    seq: Column<u64>,
    heap: BinaryHeap<Reverse<(SortKey, DocId)>>,
    matched: u64,
    clock: Clock,
}

impl std::fmt::Debug for TopNewestSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopNewestSegment")
            .field("matched", &self.matched)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ValueCountsSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueCountsSegment")
            .field("matched", &self.matched)
            .finish_non_exhaustive()
    }
}

impl Collector for TopNewest {
    type Fruit = Newest;
    type Child = TopNewestSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> whodid_index::tantivy::Result<TopNewestSegment> {
        Ok(TopNewestSegment {
            limit: self.limit,
            before: self.before,
            rank: self.rank,
            segment,
            time: reader.fast_fields().i64("time")?,
            seq: reader.fast_fields().u64("seq")?,
            heap: BinaryHeap::new(),
            matched: 0,
            clock: Clock::new(&self.budget),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Newest>) -> whodid_index::tantivy::Result<Newest> {
        let mut all: Vec<(SortKey, DocAddress)> = Vec::new();
        let mut matched = 0;
        for fruit in fruits {
            matched += fruit.matched;
            all.extend(fruit.hits);
        }
        all.sort_by_key(|h| Reverse(h.0));
        all.truncate(self.limit);
        Ok(Newest { hits: all, matched })
    }
}

impl SegmentCollector for TopNewestSegment {
    type Fruit = Newest;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.clock.stopped() {
            return;
        }
        let key: SortKey = (
            self.time.first(doc).unwrap_or(i64::MIN),
            Reverse(self.rank),
            self.seq.first(doc).unwrap_or(0),
        );
        if self.before.is_some_and(|before| key >= before) {
            return;
        }
        self.matched += 1;
        if self.limit == 0 {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(Reverse((key, doc)));
        } else if self
            .heap
            .peek()
            .is_some_and(|Reverse((least, _))| key > *least)
        {
            self.heap.pop();
            self.heap.push(Reverse((key, doc)));
        }
    }

    fn harvest(self) -> Newest {
        let segment = self.segment;
        let mut hits: Vec<(SortKey, DocAddress)> = self
            .heap
            .into_iter()
            .map(|Reverse((key, doc))| (key, DocAddress::new(segment, doc)))
            .collect();
        hits.sort_by_key(|h| Reverse(h.0));
        Newest {
            hits,
            matched: self.matched,
        }
    }
}

/// What an aggregation reads per document.
#[derive(Debug, Clone)]
pub enum Reading {
    /// A keyword column, by its tantivy name.
    Keyword(String),
    /// A number column, by its tantivy name.
    Number(String),
    /// The time column, bucketed: (origin, width) in microseconds.
    TimeBuckets(i64, i64),
    /// Nothing: every matching document counts once under this value (the stream name).
    Constant(String),
}

/// Exact counts of values among the matching documents.
#[derive(Debug)]
pub struct ValueCounts {
    /// What to read.
    pub reading: Reading,
    /// The clock.
    pub budget: Budget,
}

/// Per value: how many matching documents have it; and how many matched.
#[derive(Debug, Default)]
pub struct Counts {
    /// Value → documents.
    pub values: HashMap<String, u64>,
    /// Time bucket → documents (for `TimeBuckets`).
    pub buckets: HashMap<i64, u64>,
    /// Matching documents.
    pub matched: u64,
}

enum SegmentReading {
    Keyword(Option<StrColumn>, Vec<u64>),
    Number(Option<Column<i64>>, HashMap<i64, u64>),
    Time(Column<i64>, i64, i64, HashMap<i64, u64>),
    Constant(String),
}

/// [`ValueCounts`] on one segment.
pub struct ValueCountsSegment {
    reading: SegmentReading,
    matched: u64,
    clock: Clock,
}

impl Collector for ValueCounts {
    type Fruit = Counts;
    type Child = ValueCountsSegment;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> whodid_index::tantivy::Result<ValueCountsSegment> {
        let fast = reader.fast_fields();
        let reading = match &self.reading {
            Reading::Keyword(name) => {
                let column = fast.str(name)?;
                let terms = column.as_ref().map_or(0, |c| c.num_terms());
                SegmentReading::Keyword(column, vec![0; terms])
            }
            Reading::Number(name) => {
                SegmentReading::Number(fast.column_opt::<i64>(name)?, HashMap::new())
            }
            Reading::TimeBuckets(origin, width) => {
                SegmentReading::Time(fast.i64("time")?, *origin, *width, HashMap::new())
            }
            Reading::Constant(value) => SegmentReading::Constant(value.clone()),
        };
        Ok(ValueCountsSegment {
            reading,
            matched: 0,
            clock: Clock::new(&self.budget),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counts>) -> whodid_index::tantivy::Result<Counts> {
        let mut out = Counts::default();
        for fruit in fruits {
            merge_counts(&mut out, fruit);
        }
        Ok(out)
    }
}

/// Adds `more` into `into`.
pub fn merge_counts(into: &mut Counts, more: Counts) {
    into.matched += more.matched;
    for (k, v) in more.values {
        *into.values.entry(k).or_default() += v;
    }
    for (k, v) in more.buckets {
        *into.buckets.entry(k).or_default() += v;
    }
}

impl SegmentCollector for ValueCountsSegment {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.clock.stopped() {
            return;
        }
        self.matched += 1;
        match &mut self.reading {
            SegmentReading::Keyword(Some(column), counts) => {
                let mut last = None;
                for ord in column.term_ords(doc) {
                    // A value twice in one document counts once.
                    if last == Some(ord) {
                        continue;
                    }
                    last = Some(ord);
                    if let Some(slot) = counts.get_mut(ord as usize) {
                        *slot += 1;
                    }
                }
            }
            SegmentReading::Number(Some(column), counts) => {
                if let Some(v) = column.first(doc) {
                    *counts.entry(v).or_default() += 1;
                }
            }
            SegmentReading::Time(column, origin, width, counts) => {
                if let Some(t) = column.first(doc) {
                    *counts.entry((t - *origin).div_euclid(*width)).or_default() += 1;
                }
            }
            SegmentReading::Keyword(None, _)
            | SegmentReading::Number(None, _)
            | SegmentReading::Constant(_) => {}
        }
    }

    fn harvest(self) -> Counts {
        let mut out = Counts {
            matched: self.matched,
            ..Counts::default()
        };
        match self.reading {
            SegmentReading::Keyword(Some(column), counts) => {
                // One pass over the dictionary: looking ords up one by one
                // re-reads a block per value.
                let ords: Vec<u64> = (0..counts.len() as u64)
                    .filter(|o| counts[*o as usize] > 0)
                    .collect();
                let mut at = 0;
                let _ = column.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
                    if let Some(ord) = ords.get(at) {
                        let key = String::from_utf8_lossy(bytes).into_owned();
                        *out.values.entry(key).or_default() += counts[*ord as usize];
                    }
                    at += 1;
                });
            }
            SegmentReading::Number(Some(_), counts) => {
                for (v, count) in counts {
                    *out.values.entry(v.to_string()).or_default() += count;
                }
            }
            SegmentReading::Time(_, _, _, counts) => out.buckets = counts,
            SegmentReading::Constant(value) => {
                if self.matched > 0 {
                    out.values.insert(value, self.matched);
                }
            }
            SegmentReading::Keyword(None, _) | SegmentReading::Number(None, _) => {}
        }
        out
    }
}
