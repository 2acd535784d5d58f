//! `POST /k8s-audit/{cluster}`: the kube-apiserver's webhook backend.
//!
//! The answer is 200 only once every event of the batch is durable in the
//! journal (stored now, or before: retries are deduplicated). Anything else
//! is an error the apiserver retries (10 s backoff, 5 steps), so rejections
//! are kept for what must be refused:
//!
//! | answer | when |
//! |---|---|
//! | 401 | no credential, or one that names no cluster |
//! | 403 | the credential belongs to another cluster than the path names |
//! | 404 | no such cluster is configured |
//! | 400 | not an `audit.k8s.io/v1` `EventList` (the message says what and where), or an event nested deeper than `limits.max_json_depth` |
//! | 408 | the body did not arrive in time (slow client, cut-off body) |
//! | 413 | the body is over the limit (also once gunzipped), or once parsed: more items than `limits.max_batch_items`, an event of more values than `limits.max_event_values` |
//! | 415 | a `Content-Encoding` other than identity and gzip |
//! | 429 | too many bytes in flight for longer than the queue wait: retry |
//! | 503 | the journal cannot store (disk full, writer failed): retry |

use std::io::Read;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http_body_util::BodyExt;
use serde::Serialize;
use whodid_ingest::gap::{Gap, GapReason};
use whodid_ingest::kube::body::{split_event_list_within, BodyError};
use whodid_ingest::kube::store::HashedBatch;
use whodid_ingest::metrics::RejectLabel;
use whodid_model::Stream;

use crate::auth::Identity;
use crate::drain;
use crate::listener::PeerCert;
use crate::state::ServerState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    received: usize,
    accepted: usize,
    deduplicated: usize,
    dropped_by_policy: usize,
    redacted: usize,
    invalid: usize,
}

#[derive(Serialize)]
struct Problem {
    error: String,
}

struct Reject {
    status: StatusCode,
    reason: &'static str,
    message: String,
    retry_after: Option<u32>,
}

impl Reject {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Reject {
        Reject {
            status,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    fn retry(mut self, seconds: u32) -> Reject {
        self.retry_after = Some(seconds);
        self
    }
}

/// The handler.
pub(crate) async fn receive(
    State(state): State<Arc<ServerState>>,
    Path(cluster): Path<String>,
    Extension(peer): Extension<PeerCert>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut body = Some(body);
    let outcome = handle(&state, &cluster, &peer, &headers, &mut body).await;
    if let Some(rest) = body {
        // Refused before the whole body was read.
        drain::after_refusal(&state.limits, &headers, rest);
    }
    match outcome {
        Ok(accepted) => {
            state
                .metrics
                .batch_seconds
                .get_or_create(&whodid_ingest::IngestMetrics::cluster(&cluster))
                .observe(started.elapsed().as_secs_f64());
            (StatusCode::OK, Json(accepted)).into_response()
        }
        Err((reject, events)) => {
            let label = RejectLabel {
                cluster: if state.clusters.contains_key(&cluster) {
                    cluster.clone()
                } else {
                    String::new()
                },
                reason: reject.reason.to_owned(),
            };
            state.metrics.rejected.get_or_create(&label).inc();
            state
                .metrics
                .rejected_events
                .get_or_create(&label)
                .inc_by(events as u64);
            tracing::warn!(cluster = %cluster, status = reject.status.as_u16(), reason = reject.reason, error = %reject.message, "webhook batch rejected");
            let mut response = (
                reject.status,
                Json(Problem {
                    error: reject.message,
                }),
            )
                .into_response();
            if let Some(seconds) = reject.retry_after {
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            response
        }
    }
}

async fn handle(
    state: &Arc<ServerState>,
    cluster: &str,
    peer: &PeerCert,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<Accepted, (Reject, usize)> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity = state
        .auth
        .identify(peer.common_name.as_deref(), authorization);
    let Identity::Cluster(identified) = identity else {
        return Err((
            Reject::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "no client certificate or bearer token of a configured cluster",
            ),
            0,
        ));
    };
    if identified != cluster {
        return Err((
            Reject::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this credential belongs to cluster {identified:?}, not {cluster:?}"),
            ),
            0,
        ));
    }
    let Some(config) = state.clusters.get(cluster) else {
        return Err((
            Reject::new(
                StatusCode::NOT_FOUND,
                "unknown_cluster",
                format!("no cluster {cluster:?} is configured"),
            ),
            0,
        ));
    };
    let gzip = gzip_encoded(headers).map_err(|r| (r, 0))?;
    let limit = state.limits.max_body_bytes;
    let declared = content_length(headers);
    if declared.is_some_and(|n| n > limit) {
        return Err((
            Reject::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "body of {} bytes (Content-Length) is over the limit of {limit} bytes",
                    declared.unwrap_or(0)
                ),
            ),
            0,
        ));
    }
    // Room for the body before reading it: memory stays bounded.
    // A batch larger than all the room may still go through alone.
    let permits = ServerState::permits_for(declared.unwrap_or(limit))
        .min(ServerState::permits_for(state.limits.max_inflight_bytes));
    let permit = acquire(state, permits).await.map_err(|r| (r, 0))?;
    let bytes = read_body(state, cluster, body, declared, limit)
        .await
        .map_err(|r| (r, 0))?;
    // The body as received, not copied (a gunzipped one becomes `Bytes`
    // without a copy too).
    let bytes: Bytes = if gzip {
        gunzip(&bytes, limit).map_err(|r| (r, 0))?.into()
    } else {
        bytes
    };
    // Parsing, preparing and hashing are CPU work: off the IO threads, on
    // one thread per core. First the items, counted and bounded...
    let parse_limits = state.limits.parse_limits();
    let body = bytes.clone();
    let items = state
        .cpu
        .run(move || -> Result<Vec<Range<usize>>, BodyError> {
            let items = split_event_list_within(&body, &parse_limits)?;
            Ok(items.iter().map(|item| range_in(&body, item)).collect())
        })
        .await
        .map_err(|e| (pool_gone(e), 0))?
        .map_err(|e| {
            let status = if e.is_too_large() {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            } else {
                (StatusCode::BAD_REQUEST, "malformed")
            };
            (Reject::new(status.0, status.1, e.to_string()), 0)
        })?;
    // ...then room for what they become (a record each, the bytes copied;
    // and the gunzipped body), beside the body's: the in-flight budget
    // counts parsed size too.
    let held = permit.num_permits();
    let copies = if gzip { 2 } else { 1 };
    let wanted = ServerState::permits_for(bytes.len() * copies + items.len() * PREPARED_ITEM_BYTES)
        .min(ServerState::permits_for(state.limits.max_inflight_bytes).saturating_sub(held as u32));
    let parsed = acquire(state, wanted).await.map_err(|r| (r, 0))?;
    let source = Arc::clone(&config.source);
    let prepared = state
        .cpu
        .run(move || {
            let prepared = items
                .into_iter()
                .map(|range| source.prepare(&bytes[range]))
                .collect();
            HashedBatch::new(prepared, 1)
        })
        .await
        .map_err(|e| (pool_gone(e), 0))?;
    let events = prepared.len();
    state.note_contact(cluster).await;
    let report = state
        .store
        .store_hashed(cluster, prepared)
        .await
        .map_err(|e| {
            let reject = if e.is_storage_full() {
                Reject::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_full",
                    format!("cannot store: {e}"),
                )
                .retry(10)
            } else {
                Reject::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "journal",
                    format!("cannot store: {e}"),
                )
                .retry(5)
            };
            (reject, events)
        })?;
    drop((permit, parsed));
    if !report.invalid.is_empty() {
        tracing::warn!(cluster = %cluster, invalid = report.invalid.len(), first = %report.invalid[0], "batch items that are not audit events were stored as invalid records");
    }
    Ok(Accepted {
        received: report.received,
        accepted: report.accepted,
        deduplicated: report.deduplicated,
        dropped_by_policy: report.dropped_by_policy,
        redacted: report.redacted,
        invalid: report.invalid.len(),
    })
}

/// The body's length as the client declared it.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// What one prepared item costs beside its bytes (envelope, record,
/// hash), measured: a body of 1,000,000 `{}` items reached 1.1 GB.
const PREPARED_ITEM_BYTES: usize = 1024;

/// `permits` of the in-flight budget, waiting up to `queue_wait`; 429 after.
async fn acquire(
    state: &Arc<ServerState>,
    permits: u32,
) -> Result<tokio::sync::OwnedSemaphorePermit, Reject> {
    match tokio::time::timeout(
        state.limits.queue_wait,
        Arc::clone(&state.inflight).acquire_many_owned(permits),
    )
    .await
    {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(Reject::new(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            "too many batches in flight: retry",
        )
        .retry(1)),
    }
}

/// Where `item`, a slice of `body`, lies in it.
fn range_in(body: &[u8], item: &[u8]) -> Range<usize> {
    let start = (item.as_ptr() as usize).saturating_sub(body.as_ptr() as usize);
    start..start + item.len()
}

fn pool_gone(e: crate::cpu_pool::PoolGone) -> Reject {
    Reject::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("preparing the batch: {e}"),
    )
}

/// Whether the body is gzip-encoded; 415 for any coding but identity and
/// gzip (read as JSON, a `br` body would only be garbage).
fn gzip_encoded(headers: &HeaderMap) -> Result<bool, Reject> {
    let mut gzip = false;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case("identity") {
                continue;
            }
            let is_gzip =
                coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip");
            if !is_gzip || gzip {
                return Err(Reject::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_encoding",
                    format!("Content-Encoding {text:?} is not supported: send the body as is (identity) or gzip-encoded once"),
                ));
            }
            gzip = true;
        }
    }
    Ok(gzip)
}

/// Reads the body within the size limit and the body timeout. A body cut
/// off by the sender becomes a gap record: events were on their way. When
/// the limit or the timeout refuses it, the rest of the body is left in
/// `body`.
async fn read_body(
    state: &Arc<ServerState>,
    cluster: &str,
    body: &mut Option<Body>,
    declared: Option<usize>,
    limit: usize,
) -> Result<Bytes, Reject> {
    let Some(mut incoming) = body.take() else {
        return Ok(Bytes::new());
    };
    let deadline = tokio::time::Instant::now() + state.limits.body_timeout;
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    loop {
        match tokio::time::timeout_at(deadline, incoming.frame()).await {
            Ok(None) => return Ok(bytes.into()),
            Ok(Some(Ok(frame))) => {
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                if bytes.len() + data.len() > limit {
                    *body = Some(incoming);
                    return Err(Reject::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!(
                            "body without a Content-Length is over the limit of {limit} bytes (more than {limit} bytes arrived)"
                        ),
                    ));
                }
                bytes.extend_from_slice(data);
            }
            Ok(Some(Err(e))) => {
                state.record_cut_off(cluster, declared, &e.to_string());
                return Err(Reject::new(
                    StatusCode::BAD_REQUEST,
                    "cut_off",
                    format!("body cut off: {e}"),
                ));
            }
            Err(_) => {
                *body = Some(incoming);
                state.record_cut_off(
                    cluster,
                    declared,
                    "the body did not arrive within the body timeout",
                );
                return Err(Reject::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    "the body did not arrive in time",
                ));
            }
        }
    }
}

fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, Reject> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        Reject::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("gzip body: {e}"),
        )
    })?;
    if out.len() > limit {
        return Err(Reject::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "body of {} bytes gunzips to more than {limit} bytes, over the limit of {limit} bytes",
                bytes.len()
            ),
        ));
    }
    Ok(out)
}

impl ServerState {
    /// A sender stopped mid-batch: a gap record, so the hole is visible
    /// (the apiserver may still retry the batch, which then fills it).
    fn record_cut_off(&self, cluster: &str, declared: Option<usize>, detail: &str) {
        let gap = Gap {
            reason: GapReason::SenderStoppedMidBatch,
            source: format!("webhook:{cluster}"),
            file: None,
            from: None,
            to: None,
            lost_bytes: declared.map(|n| n as u64),
            detail: format!("a batch from cluster {cluster} was cut off: {detail}; unless the apiserver retries it, its events are lost"),
        };
        let record = gap.record(Stream::KubeAudit, cluster, "", jiff::Timestamp::now());
        if let Err(e) = self
            .journal
            .append_with(Stream::KubeAudit, vec![record], |_| {})
        {
            tracing::error!(cluster = %cluster, error = %e, "could not record a gap");
        }
        self.metrics
            .gaps
            .get_or_create(&whodid_ingest::metrics::SourceLabel {
                source: format!("webhook:{cluster}"),
            })
            .inc();
    }

    /// Notes that `cluster` sent a batch; ends a reported silence with a
    /// gap record of its extent.
    async fn note_contact(&self, cluster: &str) {
        let now = jiff::Timestamp::now();
        let ended = {
            let Ok(mut seen) = self.last_seen.lock() else {
                return;
            };
            let entry =
                seen.clusters
                    .entry(cluster.to_owned())
                    .or_insert((Instant::now(), None, now));
            let ended = entry.1.take().map(|since| (since, entry.2));
            *entry = (Instant::now(), None, now);
            ended
        };
        if let Some((_, last)) = ended {
            let gap = Gap {
                reason: GapReason::SilenceEnded,
                source: format!("webhook:{cluster}"),
                file: None,
                from: Some(last),
                to: Some(now),
                lost_bytes: None,
                detail: format!("cluster {cluster} sent nothing from {last} to {now}"),
            };
            let record = gap.record(Stream::KubeAudit, cluster, "", now);
            let _ = self
                .journal
                .append_with(Stream::KubeAudit, vec![record], |_| {});
        }
    }
}
