//! The server of `whodid serve`: the kube-apiserver webhook receiver over
//! TLS, `/metrics`, health, and a place for the query API.
//!
//! Layout: [`listener`] (TLS accept loop, client certificates, HTTP/1.1 and
//! HTTP/2, graceful shutdown), [`conn_cap`] (connections and handshakes
//! capped below the descriptor limit), [`tls`] (rustls configuration), [`pki`]
//! (the data directory's own CA and certificates), [`auth`] (credential →
//! cluster), [`webhook`] (`POST /k8s-audit/{cluster}`: answers 200 only
//! once durable), `silence` (gap records for quiet clusters), [`state`].
//!
//! **Invariant:** a cluster's identity comes from its credential, never
//! from the request. **Invariant:** a 200 means every event of the batch is
//! durable in the journal.
#![warn(missing_docs)]

pub mod api_auth;
pub mod auth;
pub mod client;
pub mod conn_cap;
pub mod cpu_pool;
mod drain;
pub mod listener;
pub mod pki;
mod silence;
pub mod state;
pub mod tls;
mod webhook;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

pub use state::{Cluster, Limits, ServerState};

/// The routes: webhook, metrics, health, and `api` (the query API, behind
/// bearer tokens) nested under `/api/v1`.
pub fn router(state: Arc<ServerState>, api: Option<(Router, Arc<api_auth::ApiTokens>)>) -> Router {
    let mut router = Router::new()
        .route("/k8s-audit/{cluster}", post(webhook::receive))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }))
        .fallback(not_found)
        .with_state(Arc::clone(&state));
    if let Some((api, tokens)) = api {
        let guarded = api.layer(axum::middleware::from_fn(move |request, next| {
            api_auth::require_reader(Arc::clone(&tokens), request, next)
        }));
        router = router.nest("/api/v1", guarded);
    }
    router
}

/// Starts the silence watch for clusters that have a limit.
pub fn spawn_background(state: &Arc<ServerState>) {
    if state.clusters.values().any(|c| c.silence_limit.is_some()) {
        let every = state
            .clusters
            .values()
            .filter_map(|c| c.silence_limit)
            .min()
            .unwrap_or(Duration::from_secs(60))
            .div_f64(4.0)
            .max(Duration::from_millis(100));
        tokio::spawn(silence::watch(
            Arc::clone(state),
            every,
            (Instant::now(), jiff::Timestamp::now()),
        ));
    }
}

/// 404 with a message, like every other refusal (the body read as after
/// any refusal: see `drain`).
async fn not_found(
    State(state): State<Arc<ServerState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> impl IntoResponse {
    drain::after_refusal(&state.limits, &headers, body);
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": format!("no such endpoint: {method} {}", uri.path())
        })),
    )
}

async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    state.metrics.observe_journal(state.journal.sync_stats());
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
