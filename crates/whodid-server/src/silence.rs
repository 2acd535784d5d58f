//! Clusters that go quiet: a cluster that sends nothing for longer than its
//! configured limit gets a gap record ("silent since …"), and another when
//! it speaks again (written by the webhook handler), so a reviewer sees the
//! hole. A cluster never heard from counts from the server's start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use whodid_ingest::gap::{Gap, GapReason};
use whodid_model::Stream;

use crate::state::ServerState;

/// Checks every `every` until `stop` resolves.
pub(crate) async fn watch(
    state: Arc<ServerState>,
    every: Duration,
    started: (Instant, jiff::Timestamp),
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        check(&state, started);
    }
}

fn check(state: &ServerState, started: (Instant, jiff::Timestamp)) {
    let now = jiff::Timestamp::now();
    let mut due = Vec::new();
    {
        let Ok(mut seen) = state.last_seen.lock() else {
            return;
        };
        for (name, cluster) in &state.clusters {
            let Some(limit) = cluster.silence_limit else {
                continue;
            };
            let entry = seen
                .clusters
                .entry(name.clone())
                .or_insert((started.0, None, started.1));
            if entry.1.is_none() && entry.0.elapsed() > limit {
                entry.1 = Some(now);
                due.push((name.clone(), entry.2, limit));
            }
        }
    }
    for (cluster, last, limit) in due {
        let gap = Gap {
            reason: GapReason::Silent,
            source: format!("webhook:{cluster}"),
            file: None,
            from: Some(last),
            to: None,
            lost_bytes: None,
            detail: format!(
                "cluster {cluster} has sent nothing since {last}, longer than its limit of {}s",
                limit.as_secs()
            ),
        };
        tracing::warn!(cluster = %cluster, since = %last, "cluster is silent");
        let record = gap.record(Stream::KubeAudit, &cluster, "", now);
        if let Err(e) = state
            .journal
            .append_with(Stream::KubeAudit, vec![record], |_| {})
        {
            tracing::error!(cluster = %cluster, error = %e, "could not record a silence gap");
        }
        state
            .metrics
            .gaps
            .get_or_create(&whodid_ingest::metrics::SourceLabel {
                source: format!("webhook:{cluster}"),
            })
            .inc();
    }
}
