//! The HTTP API: the same power as the CLI, as JSON, NDJSON (streamed, for
//! large results) or CSV, with cursor pagination. Routes are relative
//! (`/search`, `/who/{person}`, `/aggregate`, `/fields`, `/status`); the
//! server nests them (under `/api/v1`). `docs/openapi.yaml` documents every
//! route and a test holds the server to it.
//!
//! Authentication and roles come later: a layer in front inserts a
//! [`Principal`] into the request extensions; handlers take it (when
//! present) and record it in their tracing span, which is where the access
//! stream and tenant filtering attach.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use whodid_index::catalogue::{FieldKind, Source, FIELDS};

use crate::error::SearchError;
use crate::hit::{cells, csv_line, COLUMNS};
use crate::range::{parse_duration, TimeRange};
use crate::service::{
    AggregateKind, AggregateRequest, Page, SearchRequest, SearchService, ServiceConfig,
    UnreadableRecords,
};

/// Every route, as documented in `docs/openapi.yaml`.
pub const ROUTES: [&str; 5] = [
    "/search",
    "/who/{person}",
    "/aggregate",
    "/fields",
    "/status",
];

/// Who is asking, set by an authentication layer in front of the router.
#[derive(Debug, Clone)]
pub struct Principal(pub String);

/// The search API on `service`.
pub fn router(service: Arc<SearchService>) -> Router {
    Router::new()
        .route("/search", get(search))
        .route("/who/{person}", get(who))
        .route("/aggregate", get(aggregate))
        .route("/fields", get(fields))
        .route("/status", get(status))
        .with_state(service)
}

/// Parameters shared by searches and timelines.
#[derive(Debug, Default, Deserialize)]
struct SearchParams {
    q: Option<String>,
    since: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    format: Option<String>,
    count: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct AggregateParams {
    q: Option<String>,
    since: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    field: Option<String>,
    size: Option<usize>,
    interval: Option<String>,
}

/// An error as JSON: `{"error": {"message", "parameter"?, "column"?}}`.
struct ApiError(StatusCode, serde_json::Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> ApiError {
        match error {
            SearchError::Query(q) => ApiError(
                StatusCode::BAD_REQUEST,
                json!({"message": q.to_string(), "parameter": "q", "column": q.column}),
            ),
            SearchError::Parameter { parameter, message } => ApiError(
                StatusCode::BAD_REQUEST,
                json!({"message": format!("{parameter}: {message}"), "parameter": parameter}),
            ),
            SearchError::TooExpensive { parameter, message } => ApiError(
                StatusCode::BAD_REQUEST,
                json!({"message": format!("{parameter}: too expensive: {message}"), "parameter": parameter}),
            ),
            other => {
                // The engine's text stays in the log: it names files and
                // internals, not what the caller can change.
                tracing::error!(error = %other, "search failed");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "the search failed on the server's side (see its log)"}),
                )
            }
        }
    }
}

fn bad(parameter: &'static str, message: impl Into<String>) -> ApiError {
    SearchError::Parameter {
        parameter,
        message: message.into(),
    }
    .into()
}

fn range(
    since: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    default_since: &str,
) -> Result<TimeRange, ApiError> {
    Ok(TimeRange::resolve(
        since,
        from,
        to,
        jiff::Timestamp::now(),
        default_since,
    )?)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => Ok(result?),
        Err(error) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"message": format!("search task failed: {error}")}),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Ndjson,
    Csv,
}

fn format_of(text: Option<&str>) -> Result<Format, ApiError> {
    match text.unwrap_or("json") {
        "json" => Ok(Format::Json),
        "ndjson" => Ok(Format::Ndjson),
        "csv" => Ok(Format::Csv),
        other => Err(bad(
            "format",
            format!("{other:?}: expected json, ndjson or csv"),
        )),
    }
}

/// One page as JSON, or every page up to `limit` streamed as NDJSON or CSV.
type Fetch = dyn Fn(&SearchRequest) -> Result<Page, SearchError> + Send + Sync;

/// What bounds an export.
#[derive(Debug, Clone, Copy)]
struct ExportLimits {
    default_records: usize,
    max_records: usize,
    budget: std::time::Duration,
    page_budget: std::time::Duration,
}

fn export_limits(config: &ServiceConfig) -> ExportLimits {
    ExportLimits {
        default_records: config.export_default_records,
        max_records: config.export_max_records,
        budget: config.export_budget,
        page_budget: config.budget,
    }
}

/// One page's hits as NDJSON lines or CSV rows.
fn encode(format: Format, page: &Page) -> Bytes {
    let mut out = String::new();
    for hit in &page.hits {
        match format {
            Format::Csv => out.push_str(&csv_line(&cells(hit))),
            _ => {
                out.push_str(&serde_json::to_string(hit).unwrap_or_default());
                out.push('\n');
            }
        }
    }
    Bytes::from(out)
}

/// The last line of an export that was cut or could not read every
/// record: NDJSON `{"export": {...}}`, CSV lines starting with `#`. A
/// complete export has none.
fn export_end(
    format: Format,
    records: usize,
    cut: Option<(String, Option<String>)>,
    unreadable: &[UnreadableRecords],
) -> Option<Bytes> {
    if cut.is_none() && unreadable.is_empty() {
        return None;
    }
    let (reason, cursor) = match cut {
        Some((reason, cursor)) => (Some(reason), cursor),
        None => (None, None),
    };
    Some(Bytes::from(match format {
        Format::Csv => {
            let mut out = String::new();
            if let Some(reason) = &reason {
                out.push_str(&format!("# export cut after {records} records: {reason}"));
                if let Some(cursor) = &cursor {
                    out.push_str(&format!("; continue with cursor={cursor}"));
                }
                out.push('\n');
            }
            for range in unreadable {
                out.push_str(&format!("# unreadable: {range}\n"));
            }
            out
        }
        _ => {
            let mut end = json!({ "records": records });
            if let Some(reason) = reason {
                end["cut"] = json!(reason);
            }
            if let Some(cursor) = cursor {
                end["next_cursor"] = json!(cursor);
            }
            if !unreadable.is_empty() {
                end["unreadable_records"] = json!(unreadable);
            }
            format!("{}\n", json!({ "export": end }))
        }
    }))
}

async fn respond(
    params: SearchParams,
    default_since: &str,
    fetch: Arc<Fetch>,
    fetch_config: ServiceConfig,
) -> Result<Response, ApiError> {
    let format = format_of(params.format.as_deref())?;
    let range = range(
        params.since.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
        default_since,
    )?;
    let mut request = SearchRequest {
        query: params.q.unwrap_or_default(),
        range,
        limit: params.limit.unwrap_or(100),
        cursor: params.cursor,
        count: params.count.unwrap_or(true),
    };
    if format == Format::Json {
        let page = blocking(move || fetch(&request)).await?;
        return Ok(Json(page).into_response());
    }
    let limits = export_limits(&fetch_config);
    let total = params.limit.unwrap_or(limits.default_records);
    if total == 0 || total > limits.max_records {
        return Err(bad(
            "limit",
            format!("an export takes 1..={} records", limits.max_records),
        ));
    }
    request.limit = total.min(1000);
    request.count = false;
    let started = std::time::Instant::now();
    // The first page runs before the response starts, so errors are still a 400.
    let first = {
        let fetch = Arc::clone(&fetch);
        let request = request.clone();
        blocking(move || fetch(&request)).await?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let send = |bytes: Bytes| tx.blocking_send(bytes).is_ok();
        if format == Format::Csv && !send(Bytes::from(csv_line(&COLUMNS))) {
            return;
        }
        let mut sent = 0usize;
        let mut page = first;
        let unreadable = std::mem::take(&mut page.unreadable_records);
        let cut = loop {
            sent += page.hits.len();
            if !send(encode(format, &page)) {
                return;
            }
            let next = match page.next_cursor.take() {
                Some(cursor) if !page.hits.is_empty() => cursor,
                _ => break None,
            };
            let reason = if page.budget_exceeded {
                Some(format!(
                    "the time budget of one page ({:?}) ran out",
                    limits.page_budget
                ))
            } else if sent >= total {
                Some(format!("the limit of {total} records was reached"))
            } else if started.elapsed() >= limits.budget {
                Some(format!(
                    "the export's time limit of {:?} was reached",
                    limits.budget
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                break Some((reason, Some(next)));
            }
            request.cursor = Some(next);
            request.limit = (total - sent).min(1000);
            page = match fetch(&request) {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, "export stopped");
                    let reason = if error.is_bad_request() {
                        error.to_string()
                    } else {
                        "the search failed on the server's side (see its log)".to_owned()
                    };
                    break Some((reason, request.cursor.take()));
                }
            };
        };
        if let Some((reason, _)) = &cut {
            tracing::warn!(%reason, sent, "export cut");
        }
        if let Some(end) = export_end(format, sent, cut, &unreadable) {
            send(end);
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        _ => "application/x-ndjson",
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response())
}

fn service_config(service: &SearchService) -> ServiceConfig {
    service.config().clone()
}

fn note_principal(principal: &Option<Extension<Principal>>, what: &str) {
    if let Some(Extension(Principal(name))) = principal {
        tracing::info!(principal = %name, what, "search request");
    }
}

async fn search(
    State(service): State<Arc<SearchService>>,
    principal: Option<Extension<Principal>>,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    note_principal(&principal, "search");
    let fetch_service = Arc::clone(&service);
    let fetch: Arc<Fetch> = Arc::new(move |request: &SearchRequest| service.search(request));
    let config = service_config(&fetch_service);
    respond(params, "24h", fetch, config).await
}

async fn who(
    State(service): State<Arc<SearchService>>,
    principal: Option<Extension<Principal>>,
    Path(person): Path<String>,
    Query(mut params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    note_principal(&principal, "who");
    let filter = params.q.take().unwrap_or_default();
    let fetch_service = Arc::clone(&service);
    let fetch: Arc<Fetch> =
        Arc::new(move |request: &SearchRequest| service.who(&person, &filter, request));
    let config = service_config(&fetch_service);
    respond(params, "36500d", fetch, config).await
}

async fn aggregate(
    State(service): State<Arc<SearchService>>,
    principal: Option<Extension<Principal>>,
    Query(params): Query<AggregateParams>,
) -> Result<Response, ApiError> {
    note_principal(&principal, "aggregate");
    let range = range(
        params.since.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
        "24h",
    )?;
    let field = || {
        params
            .field
            .clone()
            .ok_or_else(|| bad("field", "required for this type"))
    };
    let kind = match params.kind.as_deref().unwrap_or("terms") {
        "terms" => AggregateKind::Terms {
            field: field()?,
            size: params.size.unwrap_or(10),
        },
        "distinct" => AggregateKind::Distinct { field: field()? },
        "histogram" => {
            let text = params.interval.as_deref().unwrap_or("1h");
            AggregateKind::Histogram {
                interval_micros: parse_duration(text).ok_or_else(|| {
                    bad(
                        "interval",
                        format!("{text:?} is not a duration such as 5m, 1h, 1d"),
                    )
                })?,
            }
        }
        other => {
            return Err(bad(
                "type",
                format!("{other:?}: expected terms, distinct or histogram"),
            ))
        }
    };
    let request = AggregateRequest {
        query: params.q.unwrap_or_default(),
        range,
        kind,
    };
    let result = blocking(move || service.aggregate(&request)).await?;
    Ok(Json(result).into_response())
}

async fn fields() -> Response {
    let list: Vec<serde_json::Value> = FIELDS
        .iter()
        .map(|spec| {
            let kind = match spec.kind {
                FieldKind::Keyword => "keyword",
                FieldKind::Number => "number",
                FieldKind::Date => "time",
            };
            let streams = match spec.source {
                Source::Kube(_) | Source::KubeAnnotations => "kubeaudit",
                _ => "all",
            };
            let name = if spec.source == Source::KubeAnnotations {
                format!("{}.*", spec.name)
            } else {
                spec.name.to_owned()
            };
            json!({"name": name, "kind": kind, "streams": streams, "aggregatable": spec.aggregatable})
        })
        .collect();
    Json(json!({ "fields": list })).into_response()
}

async fn status(State(service): State<Arc<SearchService>>) -> Result<Response, ApiError> {
    let status = blocking(move || service.status()).await?;
    let streams: BTreeMap<&str, serde_json::Value> = status
        .iter()
        .map(|s| {
            (
                s.stream.as_str(),
                json!({"first": s.first, "next": s.next, "journal_end": s.journal_end, "lag": s.lag}),
            )
        })
        .collect();
    Ok(Json(json!({ "streams": streams })).into_response())
}
