//! Where the index lives in the data directory, and how day indexes are named.
//!
//! ```text
//! <data>/index/state.json              per stream: records [first, next) of the journal are indexed
//! <data>/index/LOCK                    held by the one index writer (whodid serve or reindex)
//! <data>/index/<stream>-YYYY.MM.DD/    one tantivy index per stream and UTC day of the record's time
//! ```

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::Timestamp;
use whodid_model::Stream;

use crate::error::IndexError;

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// A UTC day, as days since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// The day of a time in microseconds.
    pub fn of_micros(micros: i64) -> Day {
        Day(micros.div_euclid(DAY_MICROS))
    }

    /// The first microsecond of the day.
    pub fn start_micros(self) -> i64 {
        self.0.saturating_mul(DAY_MICROS)
    }

    /// `YYYY.MM.DD`.
    pub fn label(self) -> String {
        match Timestamp::from_microsecond(self.start_micros()) {
            Ok(t) => t.strftime("%Y.%m.%d").to_string(),
            Err(_) => format!("day{}", self.0),
        }
    }

    /// Parses `YYYY.MM.DD`.
    pub fn parse(label: &str) -> Option<Day> {
        let mut parts = label.split('.');
        let year: i16 = parts.next()?.parse().ok()?;
        let month: i8 = parts.next()?.parse().ok()?;
        let day: i8 = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        // Validates the date (month lengths, leap years).
        Date::new(year, month, day).ok()?;
        Some(Day(days_from_civil(
            i64::from(year),
            i64::from(month),
            i64::from(day),
        )))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The index directory of a data directory.
#[derive(Debug, Clone)]
pub struct IndexLayout {
    root: PathBuf,
}

impl IndexLayout {
    /// The layout under `data`.
    pub fn new(data: &Path) -> IndexLayout {
        IndexLayout {
            root: data.join("index"),
        }
    }

    /// `<data>/index`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The state file.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The writer lock.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    /// The name of a day index: `kubeaudit-2026.11.22`.
    pub fn day_name(stream: Stream, day: Day) -> String {
        format!("{}-{}", stream.as_str(), day.label())
    }

    /// The directory of a day index.
    pub fn day_dir(&self, stream: Stream, day: Day) -> PathBuf {
        self.root.join(Self::day_name(stream, day))
    }

    /// Every day index on disk, oldest first per stream.
    pub fn days(&self) -> Result<Vec<(Stream, Day)>, IndexError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(IndexError::io(&self.root)(e)),
        };
        let mut days = Vec::new();
        for entry in entries {
            let entry = entry.map_err(IndexError::io(&self.root))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((stream, label)) = name.split_once('-') else {
                continue;
            };
            if let (Ok(stream), Some(day)) = (stream.parse::<Stream>(), Day::parse(label)) {
                days.push((stream, day));
            }
        }
        days.sort();
        Ok(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_labels_round_trip() {
        let t: Timestamp = "2026-11-22T23:59:59.999999Z".parse().unwrap();
        let day = Day::of_micros(t.as_microsecond());
        assert_eq!(day.label(), "2026.11.22");
        assert_eq!(Day::parse("2026.11.22"), Some(day));
        assert_eq!(Day::of_micros(t.as_microsecond() + 1).label(), "2026.11.23");
        assert_eq!(Day::of_micros(-1).label(), "1969.12.31");
        assert_eq!(Day::parse("2026.13.01"), None);
        assert_eq!(
            IndexLayout::day_name(Stream::KubeAudit, day),
            "kubeaudit-2026.11.22"
        );
    }
}
