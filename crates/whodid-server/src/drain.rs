//! What is left of the body of a request refused before it was read:
//! read and discarded, within bounds, while the answer goes out.
//!
//! Why: an HTTP/2 stream whose body is dropped unread is ended with
//! RST_STREAM right after the answer. RFC 9113 §8.1 allows that (NO_ERROR),
//! and Go's client reads the answer, but clients that are still sending
//! treat the reset as a failure and lose the answer (curl 7.88 prints
//! `000`, "Stream error in the HTTP/2 framing layer"); over HTTP/1.1,
//! closing a connection with unread bytes makes the kernel reset it, which
//! can discard the answer too. Reading the rest costs bandwidth, not
//! memory (nothing is kept), and is bounded by twice `limits.max_body_bytes`
//! and by `limits.body_timeout`; a client that declares or sends more, or
//! takes longer, gets the reset (NO_ERROR) after its answer.

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use http_body_util::BodyExt;

use crate::state::Limits;
use crate::webhook::content_length;

/// Reads the rest of `body` on a task of its own, within the bounds of
/// `limits`; `headers` are the request's.
pub(crate) fn after_refusal(limits: &Limits, headers: &HeaderMap, body: Body) {
    let budget = limits.max_body_bytes.saturating_mul(2);
    if content_length(headers).is_none_or(|n| n <= budget) {
        tokio::spawn(drain(body, budget, limits.body_timeout));
    }
}

/// Reads and discards `body` — at most `bytes` and for at most `time` —
/// and then lets it go.
async fn drain(mut body: Body, mut bytes: usize, time: Duration) {
    let deadline = tokio::time::Instant::now() + time;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        if let Some(data) = frame.data_ref() {
            let Some(left) = bytes.checked_sub(data.len()) else {
                return;
            };
            bytes = left;
        }
    }
}
