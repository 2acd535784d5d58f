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
//! | 400 | not an `audit.k8s.io/v1` `EventList` (the message says what and where) |
//! | 408 | the body did not arrive in time (slow client, cut-off body) |
//! | 413 | the body is over the limit (also once gunzipped) |
//! | 429 | too many bytes in flight for longer than the queue wait: retry |
//! | 503 | the journal cannot store (disk full, writer failed): retry |

use std::io::Read;
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
use whodid_ingest::kube::body::split_event_list;
use whodid_ingest::kube::store::HashedBatch;
use whodid_ingest::metrics::RejectLabel;
use whodid_model::Stream;

use crate::auth::Identity;
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
    match handle(&state, &cluster, &peer, &headers, body).await {
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
    body: Body,
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
    let limit = state.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
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
    let permit = match tokio::time::timeout(
        state.limits.queue_wait,
        Arc::clone(&state.inflight).acquire_many_owned(permits),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err((
                Reject::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "overloaded",
                    "too many batches in flight: retry",
                )
                .retry(1),
                0,
            ));
        }
    };
    let bytes = read_body(state, cluster, body, declared, limit)
        .await
        .map_err(|r| (r, 0))?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    // The body as received, not copied (a gunzipped one becomes `Bytes`
    // without a copy too).
    let bytes: Bytes = if gzip {
        gunzip(&bytes, limit).map_err(|r| (r, 0))?.into()
    } else {
        bytes
    };
    let source = Arc::clone(&config.source);
    // Parsing, preparing and hashing are CPU work: off the IO threads, on
    // one thread per core.
    let prepared = state
        .cpu
        .run(move || -> Result<HashedBatch, String> {
            let items = split_event_list(&bytes).map_err(|e| e.to_string())?;
            let prepared = items.into_iter().map(|item| source.prepare(item)).collect();
            Ok(HashedBatch::new(prepared, 1))
        })
        .await
        .map_err(|e| {
            (
                Reject::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("preparing the batch: {e}"),
                ),
                0,
            )
        })?
        .map_err(|message| {
            (
                Reject::new(StatusCode::BAD_REQUEST, "malformed", message),
                0,
            )
        })?;
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
    drop(permit);
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

/// Reads the body within the size limit and the body timeout. A body cut
/// off by the sender becomes a gap record: events were on their way.
async fn read_body(
    state: &Arc<ServerState>,
    cluster: &str,
    body: Body,
    declared: Option<usize>,
    limit: usize,
) -> Result<Bytes, Reject> {
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(state.limits.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(Reject::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "body without a Content-Length is over the limit of {limit} bytes (more than {limit} bytes arrived)"
                    ),
                ));
            }
            state.record_cut_off(cluster, declared, &e.to_string());
            Err(Reject::new(
                StatusCode::BAD_REQUEST,
                "cut_off",
                format!("body cut off: {e}"),
            ))
        }
        Err(_) => {
            state.record_cut_off(
                cluster,
                declared,
                "the body did not arrive within the body timeout",
            );
            Err(Reject::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the body did not arrive in time",
            ))
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
