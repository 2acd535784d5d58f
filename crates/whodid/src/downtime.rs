//! whodid's own downtime is a gap: an apiserver retries a webhook batch for
//! about 81 s and then drops it, so a whodid that was not running for longer
//! may have lost events — as surely as a cluster that went silent.
//!
//! While `serve` runs it notes that it is alive in `DATA/heartbeat` every
//! `downtime.heartbeat` (and, on a clean stop, that it stopped). At the next
//! start, the time from that note to now, when longer than
//! `downtime.gap_after`, becomes one gap record per configured cluster
//! (`reason: whodid-not-running`, `from`, `to`). A kill -9 or a crash leaves
//! the last heartbeat, so the recorded range starts at most one heartbeat
//! before the real stop: it covers the outage, never less. A quiet cluster
//! does not look like downtime, because the heartbeat does not depend on
//! events. A data directory without a heartbeat (written by an older
//! version) falls back to its newest record, the last moment whodid is
//! known to have been alive.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use whodid_ingest::gap::{Gap, GapReason};
use whodid_journal::reader::JournalReader;
use whodid_journal::Journal;
use whodid_model::Stream;

use crate::config::DowntimeConfig;

const FILE: &str = "heartbeat";

/// The heartbeat file's content.
#[derive(Debug, Serialize, Deserialize)]
struct Beat {
    version: u32,
    alive: Timestamp,
    stopped: bool,
    pid: u32,
}

/// Writes `DATA/heartbeat`.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    path: PathBuf,
}

impl Heartbeat {
    pub(crate) fn new(data: &Path) -> Heartbeat {
        Heartbeat {
            path: data.join(FILE),
        }
    }

    /// Notes that whodid is alive now.
    pub(crate) fn alive(&self) {
        self.write(false);
    }

    /// Notes a clean stop now.
    pub(crate) fn stopped(&self) {
        self.write(true);
    }

    /// Notes that whodid is alive every `every`, for ever.
    pub(crate) async fn beat(self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let beat = self.clone();
            let _ = tokio::task::spawn_blocking(move || beat.alive()).await;
        }
    }

    fn write(&self, stopped: bool) {
        let beat = Beat {
            version: 1,
            alive: Timestamp::now(),
            stopped,
            pid: std::process::id(),
        };
        let tmp = self.path.with_extension("tmp");
        let written = serde_json::to_vec(&beat)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            // The next start then counts the downtime from an older note: longer, never shorter.
            tracing::warn!(file = %self.path.display(), error = %e, "could not write the heartbeat");
        }
    }
}

/// When whodid was last known alive, and how that is known.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LastAlive {
    at: Timestamp,
    how: &'static str,
}

/// Reads the last heartbeat (before this start writes one), or else the
/// newest record's time. What cannot be read is logged and counts as
/// unknown: it never stops a start.
pub(crate) fn last_alive(data: &Path) -> Option<LastAlive> {
    let path = data.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Beat>(&bytes) {
            Ok(beat) => {
                return Some(LastAlive {
                    at: beat.alive,
                    how: if beat.stopped {
                        "a clean stop"
                    } else {
                        "its last heartbeat (it did not stop cleanly)"
                    },
                })
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unreadable heartbeat: downtime counts from the newest record");
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "unreadable heartbeat: downtime counts from the newest record");
        }
    }
    match newest_record(data) {
        Ok(newest) => newest.map(|at| LastAlive {
            at,
            how: "its newest record (no heartbeat)",
        }),
        Err(e) => {
            tracing::error!(error = %e, "whodid's downtime since its last run is unknown: no heartbeat and no readable newest record");
            None
        }
    }
}

/// When the newest record of any stream was written.
fn newest_record(data: &Path) -> anyhow::Result<Option<Timestamp>> {
    let reader = JournalReader::open(data)?;
    let mut newest: Option<u64> = None;
    for stream in Stream::ALL {
        let (first, next) = reader.bounds(stream)?;
        if next > first {
            let record = reader.read(stream, next - 1)?;
            newest = newest.max(Some(record.time_micros));
        }
    }
    Ok(newest.and_then(|micros| Timestamp::from_microsecond(i64::try_from(micros).ok()?).ok()))
}

/// Stores one gap record per cluster when whodid was down for longer than
/// `config.gap_after` (durable before the listener serves).
pub(crate) fn record_gaps(
    journal: &Journal,
    clusters: &[&str],
    last: Option<LastAlive>,
    config: &DowntimeConfig,
) {
    let Some(last) = last else { return };
    let now = Timestamp::now();
    let down_micros = now.as_microsecond() - last.at.as_microsecond();
    if down_micros <= 0
        || (down_micros as u128) <= config.gap_after.as_micros()
        || clusters.is_empty()
    {
        return;
    }
    let seconds = down_micros / 1_000_000;
    let records = clusters
        .iter()
        .map(|cluster| {
            Gap {
                reason: GapReason::WhodidNotRunning,
                source: format!("webhook:{cluster}"),
                file: None,
                from: Some(last.at),
                to: Some(now),
                lost_bytes: None,
                detail: format!(
                    "whodid was not running from {} to {now} ({seconds} s; last known alive by {}); \
                     the apiserver retries for about {} s, so it may have dropped events of cluster {cluster}",
                    last.at,
                    last.how,
                    config.gap_after.as_secs()
                ),
            }
            .record(Stream::KubeAudit, cluster, "", now)
        })
        .collect();
    if let Err(e) = journal.append_wait(Stream::KubeAudit, records) {
        // Not a reason to stay down (a full disk refuses appends until
        // space returns): said loudly instead.
        tracing::error!(from = %last.at, to = %now, error = %e, "whodid's downtime could not be recorded as a gap");
        eprintln!(
            "whodid: ERROR: was not running from {} to {now} ({seconds} s), and the gap record could not be stored: {e}",
            last.at
        );
        return;
    }
    tracing::warn!(from = %last.at, to = %now, seconds, "whodid was not running: gap recorded for every cluster");
    eprintln!(
        "whodid: was not running from {} to {now} ({seconds} s): gap recorded for {} clusters",
        last.at,
        clusters.len()
    );
}
