//! The year and zone of classic syslog timestamps (`Nov 22 18:24:03`).
//!
//! The line has neither. The zone is the node's, passed in as a
//! [`TimeZone`] (the caller reads `/etc/localtime`; this crate does no IO).
//! The year comes from a reference time: the file's modification time for
//! an import, now for a live tailer. A line belongs to the latest year that
//! does not put it more than a day after the reference — so a December
//! line read in January is last year's, a file running from December into
//! January gets both years right, and lines out of order (several hosts
//! relayed into one file) are each placed on their own.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// How far past the reference a line may be before it is taken for last
/// year's (clock skew between the node and the reader).
const SLACK: SignedDuration = SignedDuration::from_hours(24);

/// Turns classic timestamps (no year, no zone) into instants.
#[derive(Debug, Clone)]
pub struct ClassicClock {
    zone: TimeZone,
    /// The reference time in the node's zone, plus [`SLACK`].
    latest: DateTime,
}

impl ClassicClock {
    /// A clock for lines written no later than `reference`, on a node whose
    /// local time is in `zone`.
    pub fn new(reference: Timestamp, zone: TimeZone) -> ClassicClock {
        let latest = zone
            .to_datetime(reference)
            .checked_add(SLACK)
            .unwrap_or(DateTime::MAX);
        ClassicClock { zone, latest }
    }

    /// Moves the reference (a live tailer calls this with "now").
    pub fn set_reference(&mut self, reference: Timestamp) {
        *self = ClassicClock::new(reference, self.zone.clone());
    }

    /// The instant of `month day time` (month 1-12): the latest year that
    /// is not after the reference (plus slack). `None` when the day does
    /// not exist in any recent year (e.g. `Feb 30`).
    pub fn resolve(&self, month: i8, day: i8, time: Time) -> Option<Timestamp> {
        let mut year = self.latest.year();
        // Eight years back finds any Feb 29; anything else resolves at once
        // or one year back.
        for _ in 0..9 {
            if let Ok(date) = Date::new(year, month, day) {
                let local = date.to_datetime(time);
                if local <= self.latest {
                    return self.zone.to_ambiguous_timestamp(local).compatible().ok();
                }
            }
            year = year.checked_sub(1)?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(reference: &str) -> ClassicClock {
        ClassicClock::new(reference.parse().unwrap(), TimeZone::UTC)
    }

    fn resolve(clock: &ClassicClock, month: i8, day: i8, hms: &str) -> String {
        clock
            .resolve(month, day, hms.parse().unwrap())
            .map(|t| t.to_string())
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn december_read_in_january_is_last_year() {
        let clock = at("2027-01-02T10:00:00Z");
        assert_eq!(resolve(&clock, 12, 31, "23:59:58"), "2026-12-31T23:59:58Z");
        assert_eq!(resolve(&clock, 1, 1, "00:00:01"), "2027-01-01T00:00:01Z");
        assert_eq!(resolve(&clock, 1, 2, "09:00:00"), "2027-01-02T09:00:00Z");
    }

    #[test]
    fn a_line_up_to_a_day_after_the_reference_is_not_last_year() {
        // A node whose clock (or zone, relayed) is hours ahead of the reader.
        let clock = at("2026-12-31T22:00:00Z");
        assert_eq!(resolve(&clock, 1, 1, "03:00:00"), "2027-01-01T03:00:00Z");
        assert_eq!(resolve(&clock, 12, 31, "23:30:00"), "2026-12-31T23:30:00Z");
        // More than a day ahead: last year's.
        assert_eq!(resolve(&clock, 1, 2, "03:00:00"), "2026-01-02T03:00:00Z");
    }

    #[test]
    fn out_of_order_lines_around_new_year() {
        let clock = at("2027-01-01T00:10:00Z");
        assert_eq!(resolve(&clock, 1, 1, "00:00:05"), "2027-01-01T00:00:05Z");
        assert_eq!(resolve(&clock, 12, 31, "23:59:59"), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn leap_day_and_impossible_dates() {
        let clock = at("2027-03-01T00:00:00Z");
        assert_eq!(resolve(&clock, 2, 29, "12:00:00"), "2024-02-29T12:00:00Z");
        assert_eq!(resolve(&clock, 2, 30, "12:00:00"), "none");
    }

    #[test]
    fn local_time_of_the_node() {
        let zone = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let clock = ClassicClock::new("2026-11-23T00:00:00Z".parse().unwrap(), zone);
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            clock
                .resolve(11, 22, "18:24:03".parse().unwrap())
                .unwrap()
                .to_string(),
            "2026-11-22T17:24:03Z"
        );
        assert_eq!(
            clock
                .resolve(7, 1, "12:00:00".parse().unwrap())
                .unwrap()
                .to_string(),
            "2026-07-01T10:00:00Z"
        );
    }
}
