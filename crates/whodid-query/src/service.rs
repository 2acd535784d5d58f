//! The search service: queries, timelines and aggregations over the day
//! indexes, with page limits and a time budget. The CLI and the HTTP API
//! both call it, so they have the same power.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use whodid_index::catalogue::{lookup, FieldKind, FieldRef, Source};
use whodid_index::reader::{day_end_micros, DayIndex};
use whodid_index::schema::tantivy_name;
use whodid_index::tantivy::collector::Count;
use whodid_index::tantivy::query::{BooleanQuery, Occur, Query};
use whodid_index::tantivy::schema::Value as _;
use whodid_index::tantivy::{DocAddress, TantivyDocument};
use whodid_index::{IndexSet, IndexState};
use whodid_journal::reader::JournalReader;
use whodid_model::Stream;

use crate::ast::{Expr, Pattern};
use crate::collect::{merge_counts, Budget, Counts, Reading, SortKey, TopNewest, ValueCounts};
use crate::cost::parse_checked as parse;
use crate::error::SearchError;
use crate::hit::{decode_cursor, encode_cursor, involvement, stream_rank, Hit};
use crate::plan::{plan, time_range, Plan};
use crate::range::{format_micros, TimeRange};

/// Limits of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long one request may search before it stops and says so.
    pub budget: Duration,
    /// The largest page.
    pub max_page: usize,
    /// The largest number of top values or histogram buckets.
    pub max_buckets: usize,
    /// Records an export (NDJSON, CSV over HTTP) sends unless `limit` says otherwise.
    pub export_default_records: usize,
    /// The most records one export may send.
    pub export_max_records: usize,
    /// How long one export may run in all; past it the export ends with a
    /// line saying it was cut (and where to continue).
    pub export_budget: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            budget: Duration::from_secs(5),
            max_page: 1000,
            max_buckets: 10_000,
            export_default_records: 10_000,
            export_max_records: 1_000_000,
            export_budget: Duration::from_secs(300),
        }
    }
}

/// A search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The query text.
    pub query: String,
    /// The time range.
    pub range: TimeRange,
    /// Hits per page.
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// Whether to count every match (`matched`), not only the page.
    pub count: bool,
}

/// A page of hits.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The hits, newest first.
    pub hits: Vec<Hit>,
    /// Matching records from the start of this page on (when counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<u64>,
    /// The cursor of the next page, when there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The time budget ran out: hits and counts are incomplete.
    pub budget_exceeded: bool,
    /// The range searched.
    pub from: String,
    /// The range searched (exclusive).
    pub to: String,
    /// Day indexes that exist but could not be read (`name: why`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// Journal records of the streams searched that could not be read
    /// (damaged): the answer is from everything else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_records: Vec<UnreadableRecords>,
    /// How long it took, in milliseconds.
    pub took_ms: f64,
}

/// Records of a stream that could not be read from the journal, so no
/// answer includes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableRecords {
    /// The stream.
    pub stream: String,
    /// The first record not read.
    pub first: u64,
    /// One past the last record not read.
    pub end: u64,
    /// The segment file holding the damage.
    pub segment: String,
    /// Byte offset of the damage in the segment.
    pub offset: u64,
    /// What is wrong there.
    pub reason: String,
    /// Written to the journal after this time (RFC 3339), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_after: Option<String>,
    /// Written to the journal before this time (RFC 3339), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_before: Option<String>,
}

impl std::fmt::Display for UnreadableRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records {}..{} ({} record{}) could not be read from the journal (segment {}, byte {}: {})",
            self.stream,
            self.first,
            self.end,
            self.end - self.first,
            if self.end - self.first == 1 { "" } else { "s" },
            self.segment,
            self.offset,
            self.reason
        )
    }
}

/// What to aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregateKind {
    /// The most frequent values of a field.
    Terms {
        /// The field.
        field: String,
        /// How many values.
        size: usize,
    },
    /// How many different values a field has.
    Distinct {
        /// The field.
        field: String,
    },
    /// Counts per time bucket of this width (microseconds).
    Histogram {
        /// Bucket width.
        interval_micros: i64,
    },
}

/// An aggregation request.
#[derive(Debug, Clone)]
pub struct AggregateRequest {
    /// The query text.
    pub query: String,
    /// The time range.
    pub range: TimeRange,
    /// What to compute.
    pub kind: AggregateKind,
}

/// One value (or time bucket) and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// The value, or the bucket's start time.
    pub key: String,
    /// Matching records with it.
    pub count: u64,
}

/// An aggregation's result.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregation {
    /// Matching records.
    pub matched: u64,
    /// Top values (most frequent first) or time buckets (oldest first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<Bucket>,
    /// Records whose values are not among the top values (terms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<u64>,
    /// Different values (distinct).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// The time budget ran out: counts are incomplete.
    pub budget_exceeded: bool,
    /// Day indexes that exist but could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// Journal records that could not be read (damaged): not counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_records: Vec<UnreadableRecords>,
    /// How long it took, in milliseconds.
    pub took_ms: f64,
}

/// How far one stream's index has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStatus {
    /// The stream.
    pub stream: Stream,
    /// The first journal index indexed.
    pub first: u64,
    /// The next journal index to index.
    pub next: u64,
    /// The journal's end.
    pub journal_end: u64,
    /// Records not yet searchable.
    pub lag: u64,
}

/// Searches the index of one data directory.
#[derive(Debug)]
pub struct SearchService {
    data: PathBuf,
    set: IndexSet,
    config: ServiceConfig,
}

/// The query restricted to `[from, to)` unless the day lies inside it.
fn bounded(
    query: Box<dyn Query>,
    day: &DayIndex,
    set: &IndexSet,
    from: i64,
    to: i64,
) -> Box<dyn Query> {
    let inside = day.day.start_micros() >= from && day_end_micros(day.day) <= to;
    if inside {
        return query;
    }
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, query),
        (Occur::Must, time_range(set.schema(), from, to)),
    ]))
}

impl SearchService {
    /// A service on `data`'s index.
    pub fn new(data: &Path, config: ServiceConfig) -> SearchService {
        SearchService {
            data: data.to_owned(),
            set: IndexSet::open(data),
            config,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The limits.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The index's committed state.
    pub fn state(&self) -> Result<IndexState, SearchError> {
        Ok(self.set.state()?)
    }

    /// Per stream: indexed `[first, next)`, the journal's end, and the lag.
    pub fn status(&self) -> Result<Vec<StreamStatus>, SearchError> {
        let state = self.set.state()?;
        let journal = JournalReader::open(&self.data).map_err(whodid_index::IndexError::from)?;
        let mut out = Vec::new();
        for stream in Stream::ALL {
            let (_, end) = journal
                .bounds(stream)
                .map_err(whodid_index::IndexError::from)?;
            let st = state.get(stream);
            out.push(StreamStatus {
                stream,
                first: st.first,
                next: st.next,
                journal_end: end,
                lag: end.saturating_sub(st.next),
            });
        }
        Ok(out)
    }

    fn check_limit(&self, limit: usize) -> Result<(), SearchError> {
        if limit == 0 || limit > self.config.max_page {
            return Err(SearchError::parameter(
                "limit",
                format!(
                    "page size {limit} is outside 1..={}; use the cursor for more",
                    self.config.max_page
                ),
            ));
        }
        Ok(())
    }

    /// Runs a search.
    pub fn search(&self, request: &SearchRequest) -> Result<Page, SearchError> {
        self.check_limit(request.limit)?;
        let expr = parse(&request.query)?;
        self.run(&expr, request, None)
    }

    /// Everything `person` did (and what was done as them), newest first,
    /// across every stream; `filter` narrows it with a query.
    pub fn who(
        &self,
        person: &str,
        filter: &str,
        request: &SearchRequest,
    ) -> Result<Page, SearchError> {
        self.check_limit(request.limit)?;
        let person = person.trim();
        if person.is_empty() {
            return Err(SearchError::parameter("person", "empty person name"));
        }
        let mut items = vec![person_expr(person)];
        let filter = parse(filter)?;
        if filter != Expr::All {
            items.push(filter);
        }
        let expr = if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        };
        self.run(&expr, request, Some(person))
    }

    fn run(
        &self,
        expr: &Expr,
        request: &SearchRequest,
        person: Option<&str>,
    ) -> Result<Page, SearchError> {
        let started = Instant::now();
        let budget = Budget::until(started + self.config.budget);
        let before = request.cursor.as_deref().map(decode_cursor).transpose()?;
        let range = request.range;
        let to = match before {
            Some((time, _, _)) => range.to.min(time.saturating_add(1)),
            None => range.to,
        };
        let selection = self.set.select(&Stream::ALL, range.from, to)?;
        let mut found: Vec<(SortKey, usize, DocAddress)> = Vec::new();
        let mut matched: u64 = 0;
        let mut counted = true;
        let mut last_day = None;
        for (position, day) in selection.days.iter().enumerate() {
            if budget.check() {
                break;
            }
            let full = found.len() >= request.limit;
            if full && last_day != Some(day.day) && !request.count {
                counted = false;
                break;
            }
            let Some(query) = plan(expr, self.set.schema(), day.stream)?.into_query() else {
                continue;
            };
            let query = bounded(query, day, &self.set, range.from, to);
            if full && last_day != Some(day.day) {
                // Older days cannot reach the page any more: only count.
                matched += day.searcher.search(&*query, &Count)? as u64;
                continue;
            }
            last_day = Some(day.day);
            let collector = TopNewest {
                limit: request.limit,
                before,
                rank: stream_rank(day.stream),
                budget: budget.clone(),
            };
            let newest = day.searcher.search(&*query, &collector)?;
            matched += newest.matched;
            found.extend(newest.hits.into_iter().map(|(k, a)| (k, position, a)));
            found.sort_by_key(|h| std::cmp::Reverse(h.0));
            found.truncate(request.limit);
        }
        let mut hits = Vec::with_capacity(found.len());
        for (key, position, address) in &found {
            let day = &selection.days[*position];
            hits.push(self.load_hit(day, *address, key.2, person)?);
        }
        let next_cursor = match found.last() {
            Some((key, _, _))
                if found.len() == request.limit
                    && (matched > found.len() as u64 || !counted || budget.exceeded()) =>
            {
                Some(encode_cursor(*key))
            }
            _ => None,
        };
        Ok(Page {
            hits,
            matched: (counted && request.count).then_some(matched),
            next_cursor,
            budget_exceeded: budget.exceeded(),
            from: format_micros(range.from),
            to: format_micros(range.to),
            unreadable: unreadable(&selection.unreadable),
            unreadable_records: self.unreadable_records(expr)?,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// The damaged journal records of every stream `expr` may match (their
    /// time is not known, so the range does not narrow them).
    fn unreadable_records(&self, expr: &Expr) -> Result<Vec<UnreadableRecords>, SearchError> {
        let state = match self.set.state() {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(%error, "index state unreadable: cannot say which records are damaged");
                return Ok(Vec::new());
            }
        };
        let mut out = Vec::new();
        for (stream, ranges) in &state.unreadable {
            if ranges.is_empty() || matches!(plan(expr, self.set.schema(), *stream)?, Plan::Nothing)
            {
                continue;
            }
            let time = |micros: Option<u64>| {
                micros
                    .and_then(|m| i64::try_from(m).ok())
                    .map(format_micros)
            };
            out.extend(ranges.iter().map(|r| UnreadableRecords {
                stream: stream.as_str().to_owned(),
                first: r.first,
                end: r.end,
                segment: r.segment.clone(),
                offset: r.offset,
                reason: r.reason.clone(),
                written_after: time(r.written_after_micros),
                written_before: time(r.written_before_micros),
            }));
        }
        Ok(out)
    }

    fn load_hit(
        &self,
        day: &DayIndex,
        address: DocAddress,
        seq: u64,
        person: Option<&str>,
    ) -> Result<Hit, SearchError> {
        let doc: TantivyDocument = day.searcher.doc(address)?;
        let schema = self.set.schema();
        let bytes = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_bytes())
                .map(<[u8]>::to_vec)
                .unwrap_or_default()
        };
        let envelope_bytes = bytes(schema.envelope);
        let raw_bytes = bytes(schema.raw);
        let envelope: Value = serde_json::from_slice(&envelope_bytes).unwrap_or(Value::Null);
        let raw = match day.stream {
            Stream::KubeAudit => serde_json::from_slice(&raw_bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&raw_bytes).into_owned())
            }),
            _ => Value::String(String::from_utf8_lossy(&raw_bytes).into_owned()),
        };
        let time = envelope
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mark = person.and_then(|p| involvement(day.stream, &envelope, p));
        Ok(Hit {
            stream: day.stream.as_str().to_owned(),
            seq,
            time,
            mark,
            envelope,
            raw,
        })
    }

    /// Runs an aggregation.
    pub fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregation, SearchError> {
        let started = Instant::now();
        let budget = Budget::until(started + self.config.budget);
        let expr = parse(&request.query)?;
        let range = request.range;
        let reading_for = |stream: Stream| -> Result<Reading, SearchError> {
            Ok(match &request.kind {
                AggregateKind::Terms { field, .. } | AggregateKind::Distinct { field } => {
                    match aggregatable(field)? {
                        FieldRef::Fixed(spec) if spec.source == Source::Stream => {
                            Reading::Constant(stream.as_str().to_owned())
                        }
                        FieldRef::Fixed(spec) if spec.kind == FieldKind::Number => {
                            Reading::Number(tantivy_name(spec))
                        }
                        FieldRef::Fixed(spec) => Reading::Keyword(tantivy_name(spec)),
                        FieldRef::Annotation(_) => Reading::Constant(String::new()),
                    }
                }
                AggregateKind::Histogram { interval_micros } => {
                    Reading::TimeBuckets(0, *interval_micros)
                }
            })
        };
        // Validate before any search.
        reading_for(Stream::KubeAudit)?;
        let (size, buckets_wanted) = match &request.kind {
            AggregateKind::Terms { size, .. } => (*size, *size),
            AggregateKind::Distinct { .. } => (0, 0),
            AggregateKind::Histogram { interval_micros } => {
                if *interval_micros <= 0 {
                    return Err(SearchError::parameter("interval", "must be positive"));
                }
                let n = (range.to - range.from) / interval_micros + 1;
                (0, usize::try_from(n).unwrap_or(usize::MAX))
            }
        };
        if buckets_wanted > self.config.max_buckets
            || matches!(request.kind, AggregateKind::Terms { size: 0, .. })
        {
            return Err(SearchError::parameter(
                if matches!(request.kind, AggregateKind::Histogram { .. }) {
                    "interval"
                } else {
                    "size"
                },
                format!(
                    "{buckets_wanted} buckets: the limit is 1..={}",
                    self.config.max_buckets
                ),
            ));
        }
        let selection = self.set.select(&Stream::ALL, range.from, range.to)?;
        let mut counts = Counts::default();
        for day in &selection.days {
            if budget.check() {
                break;
            }
            let Some(query) = plan(&expr, self.set.schema(), day.stream)?.into_query() else {
                continue;
            };
            let query = bounded(query, day, &self.set, range.from, range.to);
            let collector = ValueCounts {
                reading: reading_for(day.stream)?,
                budget: budget.clone(),
            };
            merge_counts(&mut counts, day.searcher.search(&*query, &collector)?);
        }
        let mut out = Aggregation {
            matched: counts.matched,
            buckets: Vec::new(),
            other: None,
            distinct: None,
            budget_exceeded: budget.exceeded(),
            unreadable: unreadable(&selection.unreadable),
            unreadable_records: self.unreadable_records(&expr)?,
            took_ms: 0.0,
        };
        match &request.kind {
            AggregateKind::Terms { .. } => {
                let mut all: Vec<Bucket> = counts
                    .values
                    .into_iter()
                    .map(|(key, count)| Bucket { key, count })
                    .collect();
                all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
                let rest: u64 = all.iter().skip(size).map(|b| b.count).sum();
                all.truncate(size);
                out.buckets = all;
                out.other = Some(rest);
            }
            AggregateKind::Distinct { .. } => {
                out.distinct = Some(counts.values.len() as u64);
            }
            AggregateKind::Histogram { interval_micros } => {
                let first = range.from.div_euclid(*interval_micros);
                let last = (range.to - 1).div_euclid(*interval_micros);
                out.buckets = (first..=last)
                    .map(|b| Bucket {
                        key: format_micros(b * interval_micros),
                        count: counts.buckets.get(&b).copied().unwrap_or(0),
                    })
                    .collect();
            }
        }
        out.took_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(out)
    }
}

/// `actor:P or actor.via:P`: what P did, as themselves or as someone else,
/// and what was done as P.
pub fn person_expr(person: &str) -> Expr {
    let field = |name: &str| lookup(name);
    Expr::Or(vec![
        Expr::Keyword {
            field: field("actor"),
            pattern: Pattern::Exact(person.to_owned()),
        },
        Expr::Keyword {
            field: field("actor.via"),
            pattern: Pattern::Exact(person.to_owned()),
        },
    ])
}

fn aggregatable(name: &str) -> Result<FieldRef, SearchError> {
    let field = lookup(name)
        .ok_or_else(|| SearchError::parameter("field", format!("unknown field {name:?}")))?;
    match &field {
        FieldRef::Fixed(spec) if spec.aggregatable => Ok(field),
        FieldRef::Fixed(spec) if spec.kind == FieldKind::Date => Err(SearchError::parameter(
            "field",
            format!("{name}: use a histogram for time"),
        )),
        _ => Err(SearchError::parameter(
            "field",
            format!("{name} has no column for aggregations (aggregatable: the envelope fields and Kubernetes fields except auditID, requestURI, annotations)"),
        )),
    }
}

fn unreadable(list: &[(String, String)]) -> Vec<String> {
    list.iter().map(|(n, why)| format!("{n}: {why}")).collect()
}
