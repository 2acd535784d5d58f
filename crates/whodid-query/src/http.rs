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
use crate::service::{AggregateKind, AggregateRequest, Page, SearchRequest, SearchService};

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

/// Exports (ndjson, csv) stop after this many records unless `limit` says otherwise.
const DEFAULT_EXPORT: usize = 10_000;
/// The most an export may ask for.
const MAX_EXPORT: usize = 1_000_000;

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
            other => {
                tracing::error!(error = %other, "search failed");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": other.to_string()}),
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

async fn respond(
    params: SearchParams,
    default_since: &str,
    fetch: Arc<Fetch>,
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
    let total = params.limit.unwrap_or(DEFAULT_EXPORT);
    if total == 0 || total > MAX_EXPORT {
        return Err(bad(
            "limit",
            format!("an export takes 1..={MAX_EXPORT} records"),
        ));
    }
    request.limit = total.min(1000);
    request.count = false;
    // The first page runs before the response starts, so errors are still a 400.
    let first = {
        let fetch = Arc::clone(&fetch);
        let request = request.clone();
        blocking(move || fetch(&request)).await?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let encode = move |page: &Page| -> Bytes {
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
    };
    tokio::task::spawn_blocking(move || {
        if format == Format::Csv && tx.blocking_send(Bytes::from(csv_line(&COLUMNS))).is_err() {
            return;
        }
        let mut left = total;
        let mut page = first;
        loop {
            left = left.saturating_sub(page.hits.len());
            if tx.blocking_send(encode(&page)).is_err() {
                return;
            }
            if page.budget_exceeded {
                tracing::warn!("export stopped: the time budget ran out");
                return;
            }
            match page.next_cursor.take() {
                Some(cursor) if left > 0 && !page.hits.is_empty() => {
                    request.cursor = Some(cursor);
                    request.limit = left.min(1000);
                }
                _ => return,
            }
            page = match fetch(&request) {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, "export stopped");
                    return;
                }
            };
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
    let fetch: Arc<Fetch> = Arc::new(move |request: &SearchRequest| service.search(request));
    respond(params, "24h", fetch).await
}

async fn who(
    State(service): State<Arc<SearchService>>,
    principal: Option<Extension<Principal>>,
    Path(person): Path<String>,
    Query(mut params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    note_principal(&principal, "who");
    let filter = params.q.take().unwrap_or_default();
    let fetch: Arc<Fetch> =
        Arc::new(move |request: &SearchRequest| service.who(&person, &filter, request));
    respond(params, "36500d", fetch).await
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
