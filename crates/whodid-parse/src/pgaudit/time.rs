//! PostgreSQL's log timestamps: `%m` (`2026-11-22 18:25:45.435 UTC`), `%t`
//! (no milliseconds), `%n` (`1795371945.435`, Unix epoch).
//!
//! The zone is an abbreviation from the tz database (`UTC`, `CEST`, `EDT`)
//! or a numeric offset (`+03`, `-0530`) for zones without one. Some
//! abbreviations mean several offsets (`IST`: India, Israel, Ireland; `CST`:
//! US central, China): those are not built in and must be configured.

use std::collections::BTreeMap;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::Offset;
use jiff::Timestamp;

/// Unambiguous abbreviations and their offsets in minutes.
const ZONES: [(&str, i32); 33] = [
    ("UTC", 0),
    ("GMT", 0),
    ("UCT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 60),
    ("BST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("MET", 60),
    ("MEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("MSK", 180),
    ("SAST", 120),
    ("EST", -300),
    ("EDT", -240),
    ("CDT", -300),
    ("MST", -420),
    ("MDT", -360),
    ("PST", -480),
    ("PDT", -420),
    ("AKST", -540),
    ("AKDT", -480),
    ("HST", -600),
    ("JST", 540),
    ("KST", 540),
    ("HKT", 480),
    ("AWST", 480),
    ("ACST", 570),
    ("ACDT", 630),
    ("AEST", 600),
    ("AEDT", 660),
];

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeError {
    /// Not a timestamp at all.
    Malformed,
    /// A zone abbreviation that is neither built in nor configured.
    UnknownZone(String),
}

/// Zone abbreviations: the built-in table plus the configured ones.
#[derive(Debug, Clone, Default)]
pub struct ZoneTable {
    configured: BTreeMap<String, Offset>,
}

impl ZoneTable {
    /// The built-in table plus `configured` (abbreviation → offset, which
    /// wins over the built-in meaning).
    pub fn new(configured: BTreeMap<String, Offset>) -> ZoneTable {
        ZoneTable { configured }
    }

    fn offset(&self, zone: &str) -> Result<Offset, TimeError> {
        if let Some(offset) = self.configured.get(zone) {
            return Ok(*offset);
        }
        if let Some((_, minutes)) = ZONES.iter().find(|(name, _)| *name == zone) {
            return Offset::from_seconds(minutes * 60).map_err(|_| TimeError::Malformed);
        }
        numeric_offset(zone).ok_or_else(|| TimeError::UnknownZone(zone.to_owned()))
    }

    /// Parses `%m`/`%t`/`%s` text: `YYYY-MM-DD HH:MM:SS[.fff] ZONE`.
    pub(crate) fn parse(&self, text: &str) -> Result<Timestamp, TimeError> {
        let (civil, zone) = text.trim().rsplit_once(' ').ok_or(TimeError::Malformed)?;
        let local = civil_datetime(civil.as_bytes()).ok_or(TimeError::Malformed)?;
        self.offset(zone)?
            .to_timestamp(local)
            .map_err(|_| TimeError::Malformed)
    }
}

/// `+03`, `-0530`, `+05:30`.
pub(crate) fn numeric_offset(zone: &str) -> Option<Offset> {
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = zone[1..].replace(':', "");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes): (i32, i32) = match digits.len() {
        1 | 2 => (digits.parse().ok()?, 0),
        4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        _ => return None,
    };
    Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

fn digits(bytes: &[u8], at: usize, count: usize) -> Option<i32> {
    let slice = bytes.get(at..at + count)?;
    let mut value = 0;
    for &b in slice {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i32::from(b - b'0');
    }
    Some(value)
}

/// `YYYY-MM-DD HH:MM:SS[.f…]`.
fn civil_datetime(b: &[u8]) -> Option<DateTime> {
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date = Date::new(
        i16::try_from(digits(b, 0, 4)?).ok()?,
        i8::try_from(digits(b, 5, 2)?).ok()?,
        i8::try_from(digits(b, 8, 2)?).ok()?,
    )
    .ok()?;
    let mut nanos = 0;
    if b.len() > 19 {
        if b[19] != b'.' || b.len() == 20 || b.len() > 29 {
            return None;
        }
        let fraction = digits(b, 20, b.len() - 20)?;
        nanos = fraction * 10_i32.pow(9 - (b.len() - 20) as u32);
    }
    let time = Time::new(
        i8::try_from(digits(b, 11, 2)?).ok()?,
        i8::try_from(digits(b, 14, 2)?).ok()?,
        i8::try_from(digits(b, 17, 2)?).ok()?,
        nanos,
    )
    .ok()?;
    Some(date.to_datetime(time))
}

/// `%n`: seconds since the epoch with milliseconds.
pub(crate) fn parse_epoch(text: &str) -> Option<Timestamp> {
    let (seconds, millis) = text.split_once('.').unwrap_or((text, "0"));
    if millis.len() > 9 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = seconds.parse().ok()?;
    let nanos: i32 = format!("{millis:0<9}").parse().ok()?;
    Timestamp::new(seconds, nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        match ZoneTable::default().parse(text) {
            Ok(t) => t.to_string(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn zones() {
        assert_eq!(
            utc("2026-11-22 18:25:45.435 UTC"),
            "2026-11-22T18:25:45.435Z"
        );
        assert_eq!(utc("2026-07-01 12:00:00 CEST"), "2026-07-01T10:00:00Z");
        assert_eq!(utc("2026-07-01 12:00:00.5 EDT"), "2026-07-01T16:00:00.5Z");
        assert_eq!(utc("2026-07-01 12:00:00 +03"), "2026-07-01T09:00:00Z");
        assert_eq!(utc("2026-07-01 12:00:00 -0530"), "2026-07-01T17:30:00Z");
        assert_eq!(utc("2026-07-01 12:00:00 IST"), "UnknownZone(\"IST\")");
        assert_eq!(utc("2026-13-01 12:00:00 UTC"), "Malformed");
        assert_eq!(utc("2026-11-22T18:25:45 UTC"), "Malformed");
        let india = ZoneTable::new(BTreeMap::from([(
            "IST".to_owned(),
            Offset::from_seconds(19800).unwrap(),
        )]));
        assert_eq!(
            india.parse("2026-07-01 12:00:00 IST").unwrap().to_string(),
            "2026-07-01T06:30:00Z"
        );
    }

    #[test]
    fn epoch() {
        assert_eq!(
            parse_epoch("1795371945.435").unwrap().to_string(),
            "2026-11-22T18:25:45.435Z"
        );
        assert!(parse_epoch("x.1").is_none());
    }
}
