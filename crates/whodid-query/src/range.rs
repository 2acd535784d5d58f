//! Time ranges of searches: `--since 24h` or `--from T --to T`, checked
//! (not reversed, not starting in the future) before anything runs.

use jiff::Timestamp;

use crate::error::SearchError;

/// Clock skew tolerated before a start time counts as "in the future".
const FUTURE_SLACK_MICROS: i64 = 60_000_000;

/// `[from, to)` in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: i64,
    /// Exclusive end.
    pub to: i64,
}

/// Parses `24h`, `30m`, `7d`, `2w`, `90s` into microseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let unit_micros: i64 = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000,
        "h" | "hour" | "hours" => 3_600_000_000,
        "d" | "day" | "days" => 86_400_000_000,
        "w" | "week" | "weeks" => 604_800_000_000,
        _ => return None,
    };
    n.checked_mul(unit_micros).filter(|m| *m > 0)
}

fn timestamp(parameter: &'static str, text: &str) -> Result<i64, SearchError> {
    let stamp: Timestamp = text.trim().parse().map_err(|_| {
        SearchError::parameter(
            parameter,
            format!("{text:?} is not an RFC 3339 time (2026-11-22T10:00:00Z)"),
        )
    })?;
    Ok(stamp.as_microsecond())
}

impl TimeRange {
    /// Resolves the range from the user's words at time `now`:
    /// `since` (a duration back from now), or `from` and optional `to`
    /// (default now), or `default_since` when nothing is given.
    pub fn resolve(
        since: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        now: Timestamp,
        default_since: &str,
    ) -> Result<TimeRange, SearchError> {
        let now = now.as_microsecond();
        let end = match to {
            Some(text) => timestamp("to", text)?,
            None => now.saturating_add(1),
        };
        let start = match (since, from) {
            (Some(_), Some(_)) => {
                return Err(SearchError::parameter(
                    "since",
                    "give either since or from, not both",
                ))
            }
            (Some(text), None) => {
                let back = parse_duration(text).ok_or_else(|| {
                    SearchError::parameter(
                        "since",
                        format!("{text:?} is not a duration such as 15m, 24h, 7d"),
                    )
                })?;
                end.saturating_sub(back)
            }
            (None, Some(text)) => timestamp("from", text)?,
            (None, None) => {
                end.saturating_sub(parse_duration(default_since).unwrap_or(86_400_000_000))
            }
        };
        if start > now.saturating_add(FUTURE_SLACK_MICROS) {
            return Err(SearchError::parameter(
                if from.is_some() { "from" } else { "to" },
                format!(
                    "the range starts in the future ({}); nothing can match",
                    format_micros(start)
                ),
            ));
        }
        if end <= start {
            return Err(SearchError::parameter(
                "to",
                format!(
                    "the range is reversed or empty: from {} to {}",
                    format_micros(start),
                    format_micros(end)
                ),
            ));
        }
        Ok(TimeRange {
            from: start,
            to: end,
        })
    }
}

/// RFC 3339 text of a time in microseconds.
pub fn format_micros(micros: i64) -> String {
    Timestamp::from_microsecond(micros)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| micros.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Some(86_400_000_000));
        assert_eq!(parse_duration("7d"), Some(7 * 86_400_000_000));
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5y"), None);
    }

    #[test]
    fn ranges_are_checked() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let r = TimeRange::resolve(Some("1h"), None, None, now, "24h").unwrap();
        assert_eq!(r.to - r.from, 3_600_000_000);
        let future = TimeRange::resolve(None, Some("2027-01-01T00:00:00Z"), None, now, "24h");
        assert!(matches!(
            future,
            Err(SearchError::Parameter {
                parameter: "from",
                ..
            })
        ));
        let reversed = TimeRange::resolve(
            None,
            Some("2026-11-22T10:00:00Z"),
            Some("2026-11-22T09:00:00Z"),
            now,
            "24h",
        );
        assert!(
            matches!(&reversed, Err(SearchError::Parameter { parameter: "to", message }) if message.contains("reversed")),
            "{reversed:?}"
        );
    }
}
