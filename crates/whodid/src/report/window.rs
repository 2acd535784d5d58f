//! The time window of a report: `--since`, or `--from`/`--to`.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// Records at or after `from` and before `to` (either open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Window {
    pub(crate) from: Option<Timestamp>,
    pub(crate) to: Option<Timestamp>,
}

impl Window {
    pub(crate) fn new(
        since: Option<std::time::Duration>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> anyhow::Result<Window> {
        if let Some(since) = since {
            let span = SignedDuration::try_from(since)
                .map_err(|e| anyhow::anyhow!("--since {since:?}: {e}"))?;
            let from = Timestamp::now()
                .checked_sub(span)
                .map_err(|e| anyhow::anyhow!("--since {since:?}: {e}"))?;
            return Ok(Window {
                from: Some(from),
                to: None,
            });
        }
        if let (Some(from), Some(to)) = (from, to) {
            anyhow::ensure!(from < to, "--from {from} is not before --to {to}");
        }
        Ok(Window { from, to })
    }

    pub(crate) fn contains(&self, time: Timestamp) -> bool {
        self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time < to)
    }
}
